//! Statistics and the QĐ 766 indicators: a scripted set of dossiers through every outcome the
//! workflow has (early, on time, late, apologised, supplemented once and twice, refused,
//! withdrawn before and after reception, stopped, in progress on time and overdue), on a manual
//! clock, gives exactly the expected counts and indicator values — read at once (deltas), after
//! the fold into daily and monthly sums, and after a full rebuild; the page, the dashboard, the
//! CSV and the errors.

use crate::back_office::Official;
use crate::clock::monday_morning;
use crate::helpers::*;
use crate::one_stop::link_in;
use dvc_domain::staff::Role;
use serde_json::Value;
use std::time::Duration;

const PROVINCE: &str = "000.00.00.H31";
const OTHER_WARD: &str = "000.00.03.H31";

struct Desk {
    reception: Official,
    specialist: Official,
    leader: Official,
    specialist_id: String,
}

impl Desk {
    async fn act(
        &self,
        app: &TestApp,
        who: &Official,
        code: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) {
        let r = who.act(app, code, action, fields).await;
        let status = r.status().as_u16();
        assert!(
            !location(&r).contains("dang-nhap"),
            "{action} on {code}: session expired"
        );
        assert_eq!(
            status,
            303,
            "{action} on {code}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn receive(&self, app: &TestApp, code: &str) {
        self.act(app, &self.reception, code, "tiep-nhan", &[]).await;
    }

    /// Forward → submit for approval → approve → return with the electronic result.
    async fn finish(&self, app: &TestApp, code: &str) {
        self.act(
            app,
            &self.reception,
            code,
            "chuyen-xu-ly",
            &[("assignee_id", &self.specialist_id)],
        )
        .await;
        self.act(app, &self.specialist, code, "trinh-phe-duyet", &[])
            .await;
        self.act(app, &self.leader, code, "phe-duyet", &[]).await;
        let part = reqwest::multipart::Part::bytes(result_pdf())
            .file_name("ket-qua.pdf")
            .mime_str("application/pdf")
            .expect("mime");
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.reception.csrf.clone())
            .part("result_file", part);
        let r = self
            .reception
            .client
            .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
            .multipart(form)
            .send()
            .await
            .expect("return");
        assert_eq!(r.status().as_u16(), 303, "return {code}");
        let st: Value = app
            .get(&format!("/api/v1/dossiers/{code}/status"))
            .await
            .json()
            .await
            .expect("status");
        assert_eq!(st["status"], "done", "{code}: {st}");
    }

    async fn request_supplement(&self, app: &TestApp, code: &str) {
        self.act(
            app,
            &self.reception,
            code,
            "yeu-cau-bo-sung",
            &[
                ("reason", "Giấy chứng sinh bị mờ."),
                ("missing", "giay_chung_sinh"),
            ],
        )
        .await;
    }
}

const PASSWORD: &str = "mật khẩu đủ dài 123";

/// The officials signed in again (sessions end after a while on the manual clock too).
async fn sign_in(app: &TestApp, specialist_id: String) -> Desk {
    let log = |email: &'static str| async move {
        let (s, o) = app.login(email, PASSWORD).await;
        assert_eq!(s, 303, "login {email}");
        o
    };
    Desk {
        reception: log("motcua@hongbang.gov.vn").await,
        specialist: log("chuyenvien@hongbang.gov.vn").await,
        leader: log("lanhdao@hongbang.gov.vn").await,
        specialist_id,
    }
}

/// The private link of a dossier (from its confirmation e-mail).
async fn link_of(app: &TestApp, code: &str) -> String {
    let mail = app
        .mailbox
        .wait_for(code, 10)
        .await
        .expect("confirmation mail");
    link_in(&mail, &app.base)
}

async fn supplement(app: &TestApp, code: &str) {
    let link = link_of(app, code).await;
    let r = app
        .send_supplement(&link, valid_pdf(), "giay-chung-sinh.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 303, "supplement {code}");
}

async fn withdraw(app: &TestApp, code: &str) {
    let link = link_of(app, code).await;
    let (s, page) = app.get_text(&format!("{link}/rut-ho-so")).await;
    assert_eq!(s, 200, "{page}");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .client
        .post(app.url(&format!("{link}/rut-ho-so")))
        .form(&[("csrf", csrf.as_str()), ("reason", "Không còn nhu cầu.")])
        .send()
        .await
        .expect("withdraw");
    assert_eq!(r.status().as_u16(), 303, "withdraw {code}");
}

/// The fields of one CSV line (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = out.last_mut() {
                    f.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => {
                if let Some(f) = out.last_mut() {
                    f.push(c)
                }
            }
        }
    }
    out
}

async fn stats(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/statistics?{query}")).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

fn indicator<'a>(doc: &'a Value, code: &str) -> &'a Value {
    doc["indicators"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["code"] == code))
        .unwrap_or_else(|| panic!("indicator {code} in {doc}"))
}

/// Every expected figure of the scripted set.
fn assert_expected(doc: &Value, what: &str) {
    let c = &doc["counts"];
    for (key, n) in [
        ("received", 12),
        ("received_online", 12),
        ("received_direct", 0),
        ("received_post", 0),
        ("counted", 11),
        ("done_early", 2),
        ("done_on_time", 1),
        ("done_late", 2),
        ("in_progress_on_time", 1),
        ("in_progress_late", 1),
        ("awaiting", 1),
        ("awaiting_late", 1),
        ("refused", 1),
        ("stopped", 1),
        ("withdrawn", 2),
        ("finished_late", 2),
        ("late", 4),
        ("on_time", 7),
        ("extended", 1),
        ("supplemented", 2),
        ("e_result", 5),
        ("digitised", 12),
        ("digitised_result", 5),
        ("fee_due", 0),
        ("paid_online", 0),
        ("reused", 0),
        ("rating_bad", 0),
    ] {
        assert_eq!(c[key], n, "{what}: {key} in {c}");
    }
    let rate = |code: &str| indicator(doc, code)["value"]["percent"].as_f64();
    let points = |code: &str| indicator(doc, code)["points"].as_f64();
    assert_eq!(rate("2.1"), Some(63.64), "{what}: 7 of 11");
    assert_eq!(points("2.1"), Some(12.73));
    assert_eq!(rate("3.3"), Some(100.0));
    assert_eq!(points("3.3"), Some(6.0));
    assert_eq!(indicator(doc, "3.6")["value"]["state"], "not_applicable");
    assert_eq!(indicator(doc, "3.6")["points"], Value::Null);
    assert_eq!(rate("4.1"), Some(100.0));
    assert_eq!(rate("4.2"), Some(45.45), "{what}: 5 of 11");
    assert_eq!(points("4.2"), Some(3.41));
    assert_eq!(rate("4.3"), Some(0.0));
    assert_eq!(rate("5.4"), Some(63.64));
    assert_eq!(points("5.4"), Some(4.24));
    let group = |g: &str| {
        doc["groups"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["group"] == g))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(group("progress")["points"], 12.73);
    assert_eq!(group("progress")["group_max"], 20.0);
    assert_eq!(group("digitisation")["points"], 7.41);
    assert_eq!(group("digitisation")["computed_max"], 14.0);
    assert_eq!(group("online_payment")["computed_max"], 0.0);
}

#[tokio::test]
async fn every_outcome_is_counted_exactly_and_the_indicators_follow() {
    let t0 = monday_morning(); // Monday 11/01/2027, 09:00 in Vietnam
    let at = |h: i64, m: i64| t0 + Duration::from_secs(((h - 9) * 3600 + m * 60) as u64);
    let app = TestApp::builder().manual_clock(t0).spawn().await;
    let desk = Desk {
        reception: app
            .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
            .await,
        specialist: app
            .official("chuyenvien@hongbang.gov.vn", Role::Specialist, AGENCY)
            .await,
        leader: app
            .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
            .await,
        specialist_id: {
            let (id,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
                sqlx::query_as("SELECT id FROM staff WHERE email = 'chuyenvien@hongbang.gov.vn'").fetch_one(p).await.expect("id")
            });
            id.to_string()
        },
    };

    // Monday 09:00: twelve dossiers filed online (khai sinh: result the same working day, the
    // next one when received after 15:00).
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(app.submit_birth_registration_again().await);
    }
    let [a, b, c, d, e, f, g, h, i, j, k, l] = <[String; 12]>::try_from(codes).expect("12");
    for x in [&b, &c, &d, &e, &f, &i, &k, &l] {
        desk.receive(&app, x).await;
    }
    // A transition shows at once.
    let early = stats(
        &app,
        &format!("agency={AGENCY}&from=2027-01-11&to=2027-01-11"),
    )
    .await;
    assert_eq!(early["counts"]["received"], 12, "{early}");
    assert_eq!(early["counts"]["in_progress_on_time"], 12);

    app.clock().set(at(9, 30));
    desk.act(
        &app,
        &desk.reception,
        &g,
        "tu-choi",
        &[("reason", "Không thuộc thẩm quyền.")],
    )
    .await;
    desk.request_supplement(&app, &e).await;
    desk.request_supplement(&app, &f).await;
    app.clock().set(at(9, 45));
    withdraw(&app, &h).await; // before reception: not counted in the rates
    withdraw(&app, &l).await; // after reception: counted, on time
    app.clock().set(at(10, 0));
    supplement(&app, &e).await;
    supplement(&app, &f).await;
    desk.finish(&app, &b).await; // on time
    desk.act(
        &app,
        &desk.leader,
        &i,
        "dung-xu-ly",
        &[("reason", "Điều 11 Luật Hộ tịch.")],
    )
    .await;
    app.clock().set(at(10, 15));
    desk.request_supplement(&app, &f).await; // the second request: late (QĐ 766)
    app.clock().set(at(10, 30));
    // Supplemented once, finished on Monday: its appointment moved by the paused half hour of
    // office time, from Monday 17:00 into Tuesday morning, so it finished the day before: early.
    desk.finish(&app, &e).await;
    desk.act(
        &app,
        &desk.reception,
        &d,
        "xin-loi-gia-han",
        &[("reason", "Cần xác minh thêm."), ("new_due", "2027-01-13")],
    )
    .await;
    app.clock().set(at(16, 0)); // after 15:00: due the next working day
    let desk = sign_in(&app, desk.specialist_id).await;
    desk.receive(&app, &a).await;
    desk.receive(&app, &j).await;
    app.clock().set(at(16, 30));
    desk.finish(&app, &a).await; // the day before its appointment: early
    app.clock().set(at(24 + 10, 0)); // Tuesday 10:00
    let desk = sign_in(&app, desk.specialist_id).await;
    desk.finish(&app, &c).await; // late
    desk.finish(&app, &d).await; // late: an apology does not move the appointment judged

    // Read at once (the deltas not folded yet), for the day, the month and the year, for the
    // ward and for the province (sub-units included).
    let day = format!("agency={AGENCY}&from=2027-01-11&to=2027-01-11");
    for q in [
        day.clone(),
        format!("agency={AGENCY}&from=2027-01-01&to=2027-01-31"),
        format!("agency={PROVINCE}&from=2027-01-01&to=2027-12-31"),
        "from=2027-01-11&to=2027-01-12".to_string(),
    ] {
        assert_expected(&stats(&app, &q).await, &format!("deltas, {q}"));
    }
    // The changes were queued and the readers counted them first: nothing is left queued.
    assert_eq!(
        dichvucong::store::statistics::count_changed(&app.state.db, 500)
            .await
            .expect("count queued changes"),
        0,
        "a reader of the sums counts the queued changes first"
    );
    let other = stats(
        &app,
        &format!("agency={OTHER_WARD}&from=2027-01-01&to=2027-12-31"),
    )
    .await;
    assert_eq!(other["counts"]["received"], 0);
    assert_eq!(indicator(&other, "2.1")["value"]["state"], "not_applicable");
    let next_day = stats(
        &app,
        &format!("agency={AGENCY}&from=2027-01-12&to=2027-01-31"),
    )
    .await;
    assert_eq!(
        next_day["counts"]["received"], 0,
        "counted on the day filed"
    );

    // Folded into the daily and monthly sums: the same figures.
    dichvucong::store::statistics::fold(&app.state.db)
        .await
        .expect("fold");
    for q in [
        day.clone(),
        format!("agency={AGENCY}&from=2027-01-01&to=2027-01-31"),
        format!("agency={PROVINCE}&from=2026-12-15&to=2027-02-10"),
    ] {
        assert_expected(&stats(&app, &q).await, &format!("folded, {q}"));
    }
    // Recounted from scratch: the incremental sums were exact.
    let n = dichvucong::store::statistics::rebuild(&app.state.db)
        .await
        .expect("rebuild");
    assert_eq!(n, 12);
    assert_expected(&stats(&app, &day).await, "rebuilt");

    // The per-unit breakdown of the province: the ward carries everything.
    let doc = stats(
        &app,
        &format!("agency={PROVINCE}&from=2027-01-01&to=2027-12-31"),
    )
    .await;
    let ward = doc["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["code"] == AGENCY))
        .cloned()
        .expect("ward row");
    assert_eq!(ward["received"], 12);
    assert_eq!(ward["on_time_percent"], 63.64);
    let january = &doc["months"][0];
    assert_eq!(
        (january["month"].as_str(), january["received"].as_i64()),
        (Some("2027-01"), Some(12))
    );
    assert_eq!(doc["months"].as_array().map(Vec::len), Some(12));

    // CSV: UTF-8 with BOM, the columns, the figures.
    let r = app
        .get(&format!("/api/v1/statistics?{day}&format=csv"))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let body = r.bytes().await.expect("csv").to_vec();
    assert!(body.starts_with(&[0xEF, 0xBB, 0xBF]), "BOM");
    let text = String::from_utf8(body[3..].to_vec()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let header = csv_fields(lines[0]);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    assert_eq!(
        &header[..5],
        [
            "Mã cơ quan",
            "Tên cơ quan",
            "Phạm vi",
            "Từ ngày",
            "Đến ngày"
        ]
    );
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let total = csv_fields(lines[1]);
    let total: Vec<&str> = total.iter().map(String::as_str).collect();
    assert_eq!(total[0], AGENCY);
    assert_eq!(total[col("Tổng số hồ sơ tiếp nhận")], "12");
    assert_eq!(total[col("Đã trả kết quả trước hạn")], "2");
    assert_eq!(total[col("Đang xử lý quá hạn")], "1");
    assert_eq!(total[col("Công dân rút hồ sơ")], "2");
    assert_eq!(total[col("Chỉ số 2.1 (%)")], "63.64");
    assert_eq!(total[col("Chỉ số 3.6 (%)")], "", "not applicable");
    assert_eq!(header.len(), total.len());

    // The public page: the figures, each linked to its definition, the charts as accessible SVG.
    let (s, page) = app
        .get_text(&format!("/thong-ke?co_quan={AGENCY}&nam=2027&ky=thang-1"))
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains(r##"href="#dn-done_early""##) && page.contains(r#"id="dn-done_early""#));
    assert!(page.contains(r##"href="#chi-so-2-1""##) && page.contains(r#"id="chi-so-2-1""#));
    assert!(page.contains(r#"data-key="done_late">2<"#), "{page}");
    assert!(page.contains(r#"data-indicator="2.1">63.64%"#));
    assert_eq!(page.matches(r#"role="img""#).count(), 3);
    assert!(page.contains(r#"<title id="bieu-do-kenh-t">"#));
    assert!(!page.contains("<script"));
    let (s, _) = app.get_text("/thong-ke").await;
    assert_eq!(s, 200);
    let (s, page) = app.get_text("/").await;
    assert_eq!(s, 200);
    assert!(
        page.contains(r#"href="/thong-ke""#),
        "linked from every page's footer"
    );

    // The leader's dashboard: the late dossiers that make 2.1 fall, per procedure, per official.
    let (s, dash) = desk
        .leader
        .get(&app, "/can-bo/thong-ke?nam=2027&ky=thang-1")
        .await;
    assert_eq!(s, 200, "{dash}");
    for late in [&c, &d, &f, &k] {
        assert!(
            dash.contains(&format!("/can-bo/ho-so/{late}")),
            "{late} listed as late"
        );
    }
    for fine in [&a, &b, &e, &j] {
        assert!(
            !dash.contains(&format!("/can-bo/ho-so/{fine}\"")),
            "{fine} is not late"
        );
    }
    assert!(dash.contains("Đăng ký khai sinh"));
    assert!(dash.contains("chuyenvien"));
    // Another ward's official sees only their ward.
    let outsider = app
        .official("lanhdao@thanhdong.gov.vn", Role::Leader, OTHER_WARD)
        .await;
    let (s, theirs) = outsider
        .get(&app, &format!("/can-bo/thong-ke?co_quan={AGENCY}"))
        .await;
    assert_eq!(s, 400, "outside their units");
    assert!(theirs.contains("không thuộc phạm vi"));
    let (s, theirs) = outsider.get(&app, "/can-bo/thong-ke?nam=2027").await;
    assert_eq!(s, 200);
    assert!(!theirs.contains(&c));
    // Without a login: to the login page.
    let r = client()
        .get(app.url("/can-bo/thong-ke"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
}

#[tokio::test]
async fn bad_parameters_are_explained_in_vietnamese() {
    let app = TestApp::spawn().await;
    for (query, needle) in [
        ("from=2027-13-01&to=2027-12-31", "from"),
        ("from=2027-01-01", "to"),
        ("from=2027-02-01&to=2027-01-01", "trước hoặc bằng"),
        ("from=2001-01-01&to=2027-01-01", "10 năm"),
        ("agency=KHONG-CO", "Không có cơ quan"),
        ("format=xml", "json hoặc csv"),
    ] {
        let r = app.get(&format!("/api/v1/statistics?{query}")).await;
        assert_eq!(r.status().as_u16(), 400, "{query}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap_or(""),
            "application/problem+json",
            "{query}"
        );
        let p: Value = r.json().await.expect("json");
        assert_eq!(p["status"], 400);
        let detail = p["detail"].as_str().unwrap_or("");
        assert!(detail.contains(needle), "{query}: {detail}");
    }
    for (query, needle) in [
        ("nam=1999", "Năm phải"),
        ("ky=thang-13", "Tháng phải"),
        ("tu=2027-01-01", "Đến ngày"),
        ("co_quan=khong-co", "Không có cơ quan"),
    ] {
        let (s, page) = app.get_text(&format!("/thong-ke?{query}")).await;
        assert_eq!(s, 400, "{query}");
        assert!(
            page.contains(needle) && page.contains("error-summary"),
            "{query}"
        );
        assert!(
            page.contains(r#"action="/thong-ke""#),
            "the form is still there"
        );
    }
    // Documented in the OpenAPI the router emits.
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let op = &doc["paths"]["/api/v1/statistics"]["get"];
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(params, ["agency", "from", "to", "format"], "{op}");
    assert!(op["responses"]["400"].is_object());
    assert!(doc["components"]["schemas"]["StatisticsDoc"].is_object());
}
