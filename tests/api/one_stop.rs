//! The one-stop office as the rules run it (issue 17): what the public status shows and hides,
//! the citizen's withdrawal, supplements and the clock, who may act, lawful extra time.

use crate::back_office::Official;
use crate::helpers::*;
use dvc_domain::staff::Role;
use serde_json::Value;

/// The private link in an e-mail, as a path.
pub fn link_in(mail: &str, base: &str) -> String {
    mail.lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(base)
        .to_string()
}

pub async fn status_of(app: &TestApp, code: &str) -> Value {
    app.get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json")
}

/// A received birth registration and its reception officer.
async fn received(app: &TestApp, who: &str) -> (String, Official) {
    let code = app.submit_birth_registration().await;
    let r = app
        .official(&format!("{who}@hongbang.gov.vn"), Role::Reception, AGENCY)
        .await;
    assert_eq!(
        r.act(app, &code, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    (code, r)
}

const REASON: &str = "Giấy chứng sinh của bà Trần Thị Mận, CCCD 031190004567, bị mờ.";
const DIAGNOSIS_FILE: &str = "ket-qua-chan-doan-viem-gan-B.pdf";

#[tokio::test]
async fn public_status_shows_fixed_texts_and_no_reason_or_file_name_which_the_private_page_shows() {
    let app = TestApp::spawn().await;
    let (code, r) = received(&app, "motcua").await;
    let resp = r
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[("reason", REASON), ("missing", "giay_chung_sinh")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    assert!(mail.contains(REASON), "the e-mail carries the reason");
    let link = link_in(&mail, &app.base);
    let ok = app
        .send_supplement(&link, valid_pdf(), DIAGNOSIS_FILE, None)
        .await;
    assert_eq!(ok.status().as_u16(), 303);

    let secrets = ["Trần Thị Mận", "031190004567", "chan-doan-viem-gan"];
    let api = status_of(&app, &code).await.to_string();
    let (s, page) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert_eq!(s, 200);
    for secret in secrets {
        assert!(!api.contains(secret), "public API shows {secret}: {api}");
        assert!(!page.contains(secret), "public page shows {secret}");
    }
    for fixed in [
        "Hồ sơ đã được tiếp nhận",
        "Cơ quan yêu cầu bổ sung hồ sơ; chi tiết đã gửi tới người nộp",
        "Người nộp đã bổ sung hồ sơ",
    ] {
        assert!(api.contains(fixed), "API lacks {fixed}: {api}");
        assert!(page.contains(fixed), "page lacks {fixed}");
    }
    // The private page shows the officer's reason and the file's name.
    let (s, private) = app.get_text(&link).await;
    assert_eq!(s, 200);
    for secret in secrets {
        assert!(private.contains(secret), "private page lacks {secret}");
    }
}

#[tokio::test]
async fn the_applicant_withdraws_through_the_private_link_and_officials_can_no_longer_act() {
    let app = TestApp::spawn().await;
    let (code, r) = received(&app, "motcua").await;
    let mail = app
        .mailbox
        .wait_for("(Mẫu số 01)", 10)
        .await
        .expect("receipt mail");
    let link = link_in(&mail, &app.base);
    let (s, page) = app.get_text(&link).await;
    assert_eq!(s, 200);
    assert!(page.contains(&format!("{link}/rut-ho-so")), "{page}");

    // The confirmation step, then a POST that needs its CSRF token.
    let (s, confirm) = app.get_text(&format!("{link}/rut-ho-so")).await;
    assert_eq!(s, 200);
    assert!(confirm.contains("Xác nhận rút hồ sơ"));
    let csrf = extract(&confirm, "name=\"csrf\" value=\"").expect("csrf");
    let post = |fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url(&format!("{link}/rut-ho-so")))
            .form(&fields)
            .send()
    };
    let forged = post(vec![("csrf", "sai".into()), ("reason", "x".into())])
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    assert_eq!(status_of(&app, &code).await["status"], "received");
    let reason = "Gia đình đã chuyển nơi cư trú sang tỉnh khác.";
    let done = post(vec![("csrf", csrf.clone()), ("reason", reason.into())])
        .await
        .expect("post");
    assert_eq!(done.status().as_u16(), 303);

    // Public: withdrawn, with the fixed text and not the reason.
    let st = status_of(&app, &code).await;
    assert_eq!(st["status"], "withdrawn");
    let text = st.to_string();
    assert!(
        text.contains("Đã rút hồ sơ theo yêu cầu của người nộp"),
        "{text}"
    );
    assert!(!text.contains(reason), "{text}");
    // The applicant is told by e-mail.
    let bye = app
        .mailbox
        .wait_for("Lý do Ông/Bà nêu", 10)
        .await
        .expect("withdrawal mail");
    assert!(bye.contains(&code) && bye.contains(reason), "{bye}");
    // Officials can no longer act; neither can the applicant withdraw twice.
    for (slug, fields) in [
        ("yeu-cau-bo-sung", vec![("reason", "x"), ("other", "y")]),
        (
            "xin-loi-gia-han",
            vec![("reason", "x"), ("new_due", "2099-01-01")],
        ),
    ] {
        assert_eq!(
            r.act(&app, &code, slug, &fields).await.status().as_u16(),
            409,
            "{slug} on a withdrawn dossier"
        );
    }
    let again = post(vec![("csrf", csrf), ("reason", String::new())])
        .await
        .expect("post");
    assert_eq!(again.status().as_u16(), 409);
    let (_, page) = app.get_text(&link).await;
    assert!(
        !page.contains("/rut-ho-so"),
        "no withdrawal offered any more"
    );
    assert!(page.contains(reason), "the private page shows the reason");
    let events: Vec<String> = st["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(events, ["submitted", "received", "withdrawn"]);
}

/// The row of `code` in a back-office queue page.
fn queue_row<'a>(page: &'a str, code: &str) -> &'a str {
    let start = page.find(code).expect("dossier in the queue");
    let end = page[start..]
        .find("</tr>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

#[tokio::test]
async fn while_paused_the_dossier_reads_awaiting_supplement_never_late_and_a_second_request_marks_it_late()
 {
    let app = TestApp::spawn().await;
    let (code, r) = received(&app, "motcua").await;
    let ask = |reason: &'static str| {
        let (app, code, r) = (&app, code.clone(), &r);
        async move {
            r.act(
                app,
                &code,
                "yeu-cau-bo-sung",
                &[("reason", reason), ("missing", "giay_chung_sinh")],
            )
            .await
        }
    };
    assert_eq!(ask("Giấy chứng sinh bị mờ.").await.status().as_u16(), 303);
    // The appointment passes while the clock is stopped (as weeks of waiting would).
    let now = dichvucong::now_ms();
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE dossiers SET paused_at = $2, due_at = $3, original_due_at = $3 WHERE code = $1")
            .bind(&code).bind(now - 7_200_000).bind(now - 3_600_000).execute(p).await.expect("update");
    });
    let st = status_of(&app, &code).await;
    assert_eq!(st["on_time"], true, "{st}");
    assert_eq!(st["progress"], "awaiting_supplement");
    assert_eq!(st["progress_label"], "Chờ bổ sung");
    let (_, page) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert!(page.contains("Chờ bổ sung"));
    assert!(!page.contains("Quá hạn"), "the public page says late");
    let (_, dossier) = r.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        !dossier.contains("class=\"late\""),
        "the back office says late"
    );
    let (_, late) = r.get(&app, "/can-bo?hang-doi=qua-han").await;
    assert!(!late.contains(&code), "in the late queue while paused");
    let (_, all) = r.get(&app, "/can-bo?hang-doi=tat-ca").await;
    let row = queue_row(&all, &code);
    assert!(
        row.contains("Chờ bổ sung") && !row.contains("Quá hạn"),
        "{row}"
    );

    // Supplemented, then asked again: allowed, and late by QĐ 766 from then on.
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    let link = link_in(&mail, &app.base);
    let sent = app
        .send_supplement(&link, valid_pdf(), "giay-chung-sinh.pdf", None)
        .await;
    assert_eq!(sent.status().as_u16(), 303);
    assert_eq!(ask("Vẫn còn mờ.").await.status().as_u16(), 303);
    let st = status_of(&app, &code).await;
    assert_eq!(st["status"], "awaiting_supplement");
    assert_eq!(
        st["on_time"], false,
        "a second request counts as late: {st}"
    );
    assert_eq!(st["progress_label"], "Chờ bổ sung");
    let (_, dossier) = r.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(dossier.contains("QĐ 766"), "the second request is marked");
}

/// The id of the official with this e-mail.
pub async fn staff_id(app: &TestApp, email: &str) -> String {
    dichvucong::store::staff::find_by_email(&app.state.db, email)
        .await
        .expect("find")
        .expect("official")
        .id
        .to_string()
}

/// `by` forwards `code` to the official with e-mail `to` (303 expected).
pub async fn forward(app: &TestApp, by: &Official, code: &str, to: &str) {
    let id = staff_id(app, to).await;
    let r = by
        .act(app, code, "chuyen-xu-ly", &[("assignee_id", id.as_str())])
        .await;
    assert_eq!(r.status().as_u16(), 303, "forward {code} to {to}");
}

#[tokio::test]
async fn only_the_assignee_or_a_leader_submits_or_stops_and_the_admin_opens_no_dossier() {
    let app = TestApp::spawn().await;
    let r = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let held = app
        .official("cv1@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    let other = app
        .official("cv2@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    let leader = app
        .official("ld@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;
    let admin = app
        .official("qt@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let stop = [(
        "reason",
        "Căn cứ khoản 2 Điều 9, theo yêu cầu của cơ quan có thẩm quyền.",
    )];
    let mut codes = Vec::new();
    for _ in 0..3 {
        let code = app.submit_birth_registration_again().await;
        assert_eq!(
            r.act(&app, &code, "tiep-nhan", &[]).await.status().as_u16(),
            303
        );
        codes.push(code);
    }
    // Received, nobody holds it: no specialist submits or stops it.
    for who in [&held, &other] {
        for (slug, fields) in [("trinh-phe-duyet", &[][..]), ("dung-xu-ly", &stop[..])] {
            let resp = who.act(&app, &codes[0], slug, fields).await;
            assert_eq!(resp.status().as_u16(), 403, "{slug} by a non-assignee");
            let body = resp.text().await.expect("body");
            assert!(body.contains("người đang được giao xử lý"), "{body}");
        }
    }
    // Forwarding goes only to specialists or leaders.
    let to_reception = staff_id(&app, "motcua@hongbang.gov.vn").await;
    let resp = r
        .act(
            &app,
            &codes[0],
            "chuyen-xu-ly",
            &[("assignee_id", to_reception.as_str())],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    for code in &codes {
        forward(&app, &r, code, "cv1@hongbang.gov.vn").await;
    }
    // Held by cv1: cv2 may neither submit nor stop, and is not offered the buttons.
    let (_, page) = other
        .get(&app, &format!("/can-bo/ho-so/{}", codes[0]))
        .await;
    assert!(!page.contains("thao-tac/trinh-phe-duyet") && !page.contains("thao-tac/dung-xu-ly"));
    let (_, page) = held.get(&app, &format!("/can-bo/ho-so/{}", codes[0])).await;
    assert!(page.contains("thao-tac/trinh-phe-duyet") && page.contains("thao-tac/dung-xu-ly"));
    for (slug, fields) in [("trinh-phe-duyet", &[][..]), ("dung-xu-ly", &stop[..])] {
        let resp = other.act(&app, &codes[0], slug, fields).await;
        assert_eq!(resp.status().as_u16(), 403, "{slug} by another specialist");
    }
    assert_eq!(status_of(&app, &codes[0]).await["status"], "processing");
    // The assignee submits one and stops another; a leader stops the third.
    let id = staff_id(&app, "ld@hongbang.gov.vn").await;
    let ok = |resp: reqwest::Response| resp.status().as_u16();
    assert_eq!(
        ok(held
            .act(
                &app,
                &codes[0],
                "trinh-phe-duyet",
                &[("assignee_id", id.as_str())]
            )
            .await),
        303
    );
    assert_eq!(
        ok(held.act(&app, &codes[1], "dung-xu-ly", &stop).await),
        303
    );
    assert_eq!(
        ok(leader.act(&app, &codes[2], "dung-xu-ly", &stop).await),
        303
    );
    // Sent back without naming anyone, the dossier returns to who submitted it.
    assert_eq!(
        ok(leader
            .act(
                &app,
                &codes[0],
                "tra-lai",
                &[("reason", "Kiểm tra lại nơi sinh.")]
            )
            .await),
        303
    );
    assert_eq!(status_of(&app, &codes[0]).await["handler"]["name"], "cv1");
    assert_eq!(
        ok(held.act(&app, &codes[0], "trinh-phe-duyet", &[]).await),
        303
    );

    // Forwarding stays within the dossier's agency and its sub-units, even for a leader of the
    // city who sees every ward.
    let city = app
        .official("ld@haiphong.gov.vn", Role::Leader, "000.00.00.H31")
        .await;
    app.official(
        "cv3@thanhdong.gov.vn",
        Role::Specialist,
        crate::back_office::OTHER_AGENCY,
    )
    .await;
    let d = app.submit_birth_registration_again().await;
    assert_eq!(
        r.act(&app, &d, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    let elsewhere = staff_id(&app, "cv3@thanhdong.gov.vn").await;
    let resp = city
        .act(
            &app,
            &d,
            "chuyen-xu-ly",
            &[("assignee_id", elsewhere.as_str())],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422, "forwarded to another ward");
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("đơn vị trực thuộc")
    );
    forward(&app, &city, &d, "cv1@hongbang.gov.vn").await;

    // The administrator opens no dossier, attachment, result or document.
    for path in [
        format!("/can-bo/ho-so/{}", codes[0]),
        format!("/can-bo/ho-so/{}/tep/1", codes[0]),
        format!("/can-bo/ho-so/{}/ket-qua", codes[0]),
        format!("/can-bo/ho-so/{}/giay-to/mau-01", codes[0]),
        format!("/can-bo/ho-so/{}/giay-to/mau-06", codes[0]),
    ] {
        let (s, body) = admin.get(&app, &path).await;
        assert_eq!(s, 403, "admin GET {path}");
        assert!(
            !body.contains("Nguyễn"),
            "admin sees the applicant on {path}"
        );
    }
    // The others of the agency do.
    let (s, _) = leader
        .get(&app, &format!("/can-bo/ho-so/{}", codes[0]))
        .await;
    assert_eq!(s, 200);
}

/// Gives the test procedure (đăng ký khai sinh) a lawful variant of its time limit, as the
/// catalogue does for kết hôn: 5 more working days when verification is needed.
pub async fn with_lawful_extra_time(app: &TestApp) {
    let mut p = (*app.state.catalog().procedure(PROC).expect("procedure")).clone();
    p.processing_time.extra = vec![dvc_domain::catalog::ExtraTime {
        working_days: 5,
        reason: "Cần xác minh thông tin khai sinh".into(),
    }];
    dichvucong::store::catalog::import(&app.state.db, &[], &[p], dichvucong::now_ms())
        .await
        .expect("import");
    app.state.reload_catalog().await.expect("reload");
}

async fn column(app: &TestApp, sql: &'static str, code: &str) -> i64 {
    let (v,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).bind(code).fetch_one(p).await.expect("query")
    });
    v
}

#[tokio::test]
async fn lawful_extra_time_moves_both_appointments_and_stays_on_time_unlike_an_apology() {
    let app = TestApp::spawn().await;
    with_lawful_extra_time(&app).await;
    let r = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let cv = app
        .official("cv@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    // A: extra time chosen at reception. B: received, then an apology with a later date.
    let a = app.submit_birth_registration_again().await;
    let b = app.submit_birth_registration_again().await;
    let (_, page) = r.get(&app, &format!("/can-bo/ho-so/{a}")).await;
    assert!(
        page.contains("Cần xác minh thông tin khai sinh"),
        "the choice is offered"
    );
    assert_eq!(
        r.act(&app, &a, "tiep-nhan", &[("extra", "0")])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        r.act(&app, &b, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    let apology = r
        .act(
            &app,
            &b,
            "xin-loi-gia-han",
            &[("reason", "Chậm do quá tải."), ("new_due", "2099-12-31")],
        )
        .await;
    assert_eq!(apology.status().as_u16(), 303);

    const DUE: &str = "SELECT due_at FROM dossiers WHERE code = $1";
    const ORIGINAL: &str = "SELECT original_due_at FROM dossiers WHERE code = $1";
    const RECEIPT_DUE: &str =
        "SELECT due_at FROM dossiers WHERE code = $1 AND extra_working_days = 5";
    let (a_due, a_original) = (
        column(&app, DUE, &a).await,
        column(&app, ORIGINAL, &a).await,
    );
    assert_eq!(
        a_due, a_original,
        "lawful extra time moves the appointment on-time is judged against"
    );
    assert_eq!(column(&app, RECEIPT_DUE, &a).await, a_due);
    let b_original = column(&app, ORIGINAL, &b).await;
    assert!(
        column(&app, DUE, &b).await > b_original,
        "an apology keeps the first appointment"
    );
    assert!(
        a_due >= b_original + 5 * 86_400_000,
        "five working days more"
    );
    // The receipt e-mail gives the extended appointment.
    let due_text = dvc_domain::calendar::format_vn_datetime(a_due);
    app.mailbox
        .wait_for(&format!("Ngày hẹn trả kết quả: {due_text}"), 10)
        .await
        .expect("receipt mail with the extended appointment");
    let st = status_of(&app, &a).await.to_string();
    assert!(
        st.contains("Thời hạn giải quyết được kéo dài theo quy định"),
        "{st}"
    );
    assert!(
        !st.contains("Cần xác minh thông tin khai sinh"),
        "no reason in public: {st}"
    );

    // The first appointment passes (both dossiers moved back in time by the same span).
    let now = dichvucong::now_ms();
    let span = b_original - (now - 3_600_000);
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE dossiers SET due_at = due_at - $2, original_due_at = original_due_at - $2 WHERE code IN ($1, $3)")
            .bind(&a).bind(span).bind(&b).execute(p).await.expect("shift");
    });
    assert_eq!(
        status_of(&app, &a).await["on_time"],
        true,
        "lawful extra time is not lateness"
    );
    assert_eq!(
        status_of(&app, &b).await["on_time"],
        false,
        "an apology does not excuse lateness"
    );

    // While processing, the specialist may grant it; never beyond what the procedure allows.
    let c = app.submit_birth_registration_again().await;
    assert_eq!(
        r.act(&app, &c, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    forward(&app, &r, &c, "cv@hongbang.gov.vn").await;
    let grant = |fields: Vec<(&'static str, &'static str)>| {
        let (app, c, cv) = (&app, c.clone(), &cv);
        async move {
            cv.act(app, &c, "gia-han-theo-quy-dinh", &fields)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(grant(vec![]).await, 422, "a variant must be chosen");
    assert_eq!(grant(vec![("extra", "3")]).await, 422, "an unknown variant");
    assert_eq!(
        grant(vec![("extra", "0"), ("note", "Chờ xác minh nơi sinh.")]).await,
        303
    );
    assert_eq!(
        grant(vec![("extra", "0")]).await,
        422,
        "over the most allowed"
    );
    assert_eq!(
        column(
            &app,
            "SELECT extra_working_days FROM dossiers WHERE code = $1",
            &c
        )
        .await,
        5
    );
    app.mailbox
        .wait_for(
            "được kéo dài thời hạn giải quyết theo quy định của thủ tục",
            10,
        )
        .await
        .expect("extra time mail");
}

/// 2026-12-`day` at `h`:`m` in Vietnam, as UTC milliseconds.
fn vn(day: i8, h: i8, m: i8) -> i64 {
    jiff::civil::Date::new(2026, 12, day)
        .expect("date")
        .to_datetime(jiff::civil::Time::new(h, m, 0, 0).expect("time"))
        .to_zoned_datetime(dvc_domain::calendar::vn_tz())
        .expect("zoned")
        .timestamp()
        .as_millisecond()
}

#[tokio::test]
async fn the_control_slip_rates_each_hand_over_early_on_time_or_late() {
    let app = TestApp::spawn().await;
    // Three working days, so that a step can end a day early.
    let mut p = (*app.state.catalog().procedure(PROC).expect("procedure")).clone();
    p.processing_time.working_days = 3;
    dichvucong::store::catalog::import(&app.state.db, &[], &[p], dichvucong::now_ms())
        .await
        .expect("import");
    app.state.reload_catalog().await.expect("reload");
    let (code, r) = received(&app, "motcua").await;
    let cv = app
        .official("cv@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    forward(&app, &r, &code, "cv@hongbang.gov.vn").await;
    assert_eq!(
        cv.act(&app, &code, "trinh-phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    // The timeline as it happened in office time (Tuesday 1 to Thursday 3 December 2026):
    // Tiếp nhận has 2 h 15, Thụ lý 13 h 30 of the 3 × 7 h 30 budget.
    let db = &app.state.db;
    let row = dichvucong::store::dossiers::find_by_code(db, &code)
        .await
        .expect("find")
        .expect("dossier");
    let ids: Vec<i64> = dichvucong::store::dossiers::events(db, row.id)
        .await
        .expect("events")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 4, "file, receive, forward, submit");
    let times = [vn(1, 8, 0), vn(1, 8, 10), vn(1, 9, 0), vn(3, 16, 0)];
    for (id, at) in ids.iter().zip(times) {
        dichvucong::db_run!(db, p => {
            sqlx::query("UPDATE dossier_events SET at = $2 WHERE id = $1")
                .bind(id).bind(at).execute(p).await.expect("update");
        });
    }
    let events = dichvucong::store::dossiers::events(db, row.id)
        .await
        .expect("events");
    let p = app.state.catalog().procedure(PROC).expect("procedure");
    let doc =
        dichvucong::web::staff::documents::build(&app.state, &row, &p, &events, "mau-06", None)
            .expect("Mẫu 06");
    let dvc_pdf::Document::ControlSlip { handovers, .. } = doc else {
        panic!("not a control slip");
    };
    let results: Vec<&str> = handovers.iter().map(|h| h.result.as_str()).collect();
    // Received 10 minutes in, with the rest of the step's time within that day: on time.
    // Forwarded with most of Thụ lý's 13 h 30 left, more than the day holds: early.
    // Submitted after about 20 h 50 of Thụ lý: late.
    assert_eq!(results, ["Đúng hạn", "Trước hạn", "Quá hạn"]);
}

/// Today in Vietnam as YYYY-MM-DD, and the day before.
fn vn_days() -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(dvc_domain::calendar::vn_tz())
        .date();
    let yesterday = today.yesterday().expect("yesterday");
    (today.to_string(), yesterday.to_string())
}

#[tokio::test]
async fn the_register_lists_the_agencys_dossiers_of_the_period_as_csv_and_pdf() {
    let app = TestApp::spawn().await;
    let (a, r) = received(&app, "motcua").await;
    let b = app.submit_birth_registration_again().await;
    assert_eq!(
        r.act(&app, &b, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    app.official("cv@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    forward(&app, &r, &b, "cv@hongbang.gov.vn").await;
    let not_received = app.submit_birth_registration_again().await;
    let (today, yesterday) = vn_days();
    let fetch = |who: &Official, query: String| {
        let c = who.client.clone();
        let url = app.url(&format!("/can-bo/so-theo-doi?{query}"));
        async move {
            let resp = c.get(url).send().await.expect("get");
            let status = resp.status().as_u16();
            let ty = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, ty, resp.bytes().await.expect("body").to_vec())
        }
    };
    let (s, ty, csv) = fetch(&r, format!("tu={today}&den={today}")).await;
    assert_eq!(s, 200);
    assert!(ty.starts_with("text/csv"), "{ty}");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 byte-order mark");
    let text = String::from_utf8(csv).expect("utf-8");
    assert!(text.contains("Mã hồ sơ") && text.contains("Ngày hẹn trả kết quả"));
    // The columns of the TT 01/2018 register (Mẫu 06, now Mẫu 07 of TT 03/2025).
    for column in [
        "Số lượng hồ sơ (bộ)",
        "Tên cá nhân, tổ chức",
        "Địa chỉ, số điện thoại",
        "Cơ quan chủ trì giải quyết",
        "Chuyển hồ sơ đến cơ quan giải quyết",
        "Nhận kết quả từ cơ quan giải quyết",
        "Trả kết quả cho tổ chức, cá nhân",
    ] {
        assert!(
            text.lines().next().is_some_and(|h| h.contains(column)),
            "{column}"
        );
    }
    assert!(
        text.contains("Số 12 phố Điện Biên Phủ") && text.contains("0912345678"),
        "the applicant's address and phone: {text}"
    );
    assert!(text.contains("Ủy ban nhân dân phường Hồng Bàng"), "{text}");
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    assert!(!text.contains(&not_received), "only received dossiers");
    assert!(text.contains("Nguyễn Thị Hoa"), "the applicant");
    let line_b = text.lines().find(|l| l.contains(&b)).expect("row of b");
    let line_a = text.lines().find(|l| l.contains(&a)).expect("row of a");
    assert!(
        line_b.matches(", ").count() > line_a.matches(", ").count(),
        "b's forwarding date is recorded: {line_b} / {line_a}"
    );
    assert_eq!(text.lines().count(), 3, "header and two rows");
    // Another period has none of them; the PDF is the same register.
    let (_, _, before) = fetch(&r, format!("tu={yesterday}&den={yesterday}")).await;
    assert!(!String::from_utf8_lossy(&before).contains(&a));
    let (s, ty, pdf) = fetch(&r, format!("tu={yesterday}&den={today}&dinh-dang=pdf")).await;
    assert_eq!(s, 200);
    assert_eq!(ty, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    // Wrong or missing dates say how to fix them.
    for q in [
        format!("tu={today}&den={yesterday}"),
        "tu=01/12/2026&den=2026-12-31".to_string(),
        format!("tu={today}"),
        "tu=2025-01-01&den=2026-12-31".to_string(),
    ] {
        let (s, _, body) = fetch(&r, q.clone()).await;
        assert_eq!(s, 422, "{q}");
        assert!(String::from_utf8_lossy(&body).contains("ngày"), "{q}");
    }
    // Another agency's official sees none of them; the administrator none at all.
    let other = app
        .official(
            "khac@thanhdong.gov.vn",
            Role::Reception,
            crate::back_office::OTHER_AGENCY,
        )
        .await;
    let (s, _, theirs) = fetch(&other, format!("tu={today}&den={today}")).await;
    assert_eq!(s, 200);
    assert!(!String::from_utf8_lossy(&theirs).contains(&a));
    let admin = app
        .official("qt@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let (s, _, _) = fetch(&admin, format!("tu={today}&den={today}")).await;
    assert_eq!(s, 403);
    // A leader of the province sees its sub-units' dossiers in the register.
    let province = app
        .official("ld@haiphong.gov.vn", Role::Leader, "000.00.00.H31")
        .await;
    let (s, _, all) = fetch(&province, format!("tu={today}&den={today}")).await;
    assert_eq!(s, 200);
    let all = String::from_utf8_lossy(&all);
    assert!(all.contains(&a) && all.contains(&b), "{all}");
}

#[tokio::test]
async fn the_public_status_and_api_carry_no_applicant_name_id_number_reason_note_or_file_name() {
    let app = TestApp::spawn().await;
    let (code, r) = received(&app, "motcua").await;
    let asked = r
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[("reason", REASON), ("missing", "giay_chung_sinh")],
        )
        .await;
    assert_eq!(asked.status().as_u16(), 303);
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    let link = link_in(&mail, &app.base);
    let sent = app
        .send_supplement(
            &link,
            valid_pdf(),
            DIAGNOSIS_FILE,
            Some("Ghi chú riêng của Nguyễn Thị Hoa"),
        )
        .await;
    assert_eq!(sent.status().as_u16(), 303);
    let leader = app
        .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;
    let stop_reason = "Theo đề nghị của ông Lê Văn Tám, CCCD 031088001122.";
    let stopped = leader
        .act(&app, &code, "dung-xu-ly", &[("reason", stop_reason)])
        .await;
    assert_eq!(stopped.status().as_u16(), 303);

    let st = status_of(&app, &code).await;
    assert_eq!(st["status"], "stopped");
    assert!(st.get("applicant_masked").is_none(), "{st}");
    let api = st.to_string();
    let (s, page) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert_eq!(s, 200);
    for secret in [
        // The applicant, whole or masked, and how to reach them.
        "Nguyễn Thị Hoa",
        "N***** T** H**",
        "031192004567",
        "0912345678",
        "hoa.nguyen@example.vn",
        // The child of the declaration.
        "Trần Minh An",
        // Officials' reasons, the citizen's note and file name.
        "Trần Thị Mận",
        "031190004567",
        "Lê Văn Tám",
        "031088001122",
        "Ghi chú riêng",
        "viem-gan",
    ] {
        assert!(!api.contains(secret), "public API shows {secret}: {api}");
        assert!(!page.contains(secret), "public page shows {secret}");
    }
    assert!(
        api.contains("Cơ quan dừng giải quyết hồ sơ; căn cứ, lý do đã gửi tới người nộp"),
        "{api}"
    );
}
