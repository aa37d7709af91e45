//! Level 4 results (issue 18): the digitally signed electronic result checked by independent
//! validators (pyHanko and poppler's pdfsig), delivery by post with its tracking number, and the
//! citizen's satisfaction rating, once per dossier.

use crate::back_office::Official;
use crate::helpers::*;
use dvc_domain::staff::Role;
use std::process::Command;

/// Files a khai sinh dossier with `extra` answers (the delivery choice) and takes it to "Đã có
/// kết quả, chờ trả"; returns the code and the reception official who returns the result.
async fn ready_for_result(app: &TestApp, extra: &[(&str, Option<&str>)]) -> (String, Official) {
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(
            PROC,
            form_with(&csrf, extra, Some((valid_pdf(), "giay-chung-sinh.pdf"))),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf, token, _, review) = app.review(PROC).await;
    assert!(review.contains("Hình thức nhận kết quả"), "{review}");
    // The postal address is asked, and shown, only for delivery by post.
    let by_post = extra.contains(&("delivery", Some("post")));
    assert_eq!(
        review.contains("Địa chỉ nhận kết quả qua bưu chính"),
        by_post,
        "{review}"
    );
    let r = app
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let code = code_from_confirmation(&location(&r));
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let specialist = app
        .official("chuyenvien@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    let leader = app
        .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;
    let (specialist_id,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT id FROM staff WHERE email = 'chuyenvien@hongbang.gov.vn'").fetch_one(p).await.expect("id")
    });
    let specialist_id = specialist_id.to_string();
    for (who, action, fields) in [
        (&reception, "tiep-nhan", vec![]),
        (
            &reception,
            "chuyen-xu-ly",
            vec![("assignee_id", specialist_id.as_str())],
        ),
        (&specialist, "trinh-phe-duyet", vec![]),
        (&leader, "phe-duyet", vec![]),
    ] {
        let r = who.act(app, &code, action, &fields).await;
        assert_eq!(r.status().as_u16(), 303, "{action}");
    }
    (code, reception)
}

/// "Trả kết quả" with an optional result file and postal tracking number.
async fn return_result(
    app: &TestApp,
    official: &Official,
    code: &str,
    file: Option<Vec<u8>>,
    tracking: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().text("csrf", official.csrf.clone());
    if let Some(t) = tracking {
        form = form.text("postal_tracking", t.to_string());
    }
    if let Some(bytes) = file {
        form = form.part(
            "result_file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("giay-khai-sinh.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    }
    official
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
        .multipart(form)
        .send()
        .await
        .expect("return result")
}

fn private_link(mail: &str, base: &str) -> String {
    mail.lines()
        .find(|l| l.contains("/ho-so/xem/") && !l.contains("/danh-gia"))
        .expect("private link")
        .trim()
        .trim_start_matches(base)
        .to_string()
}

/// The result e-mail (one dossier reaches its result per test).
async fn result_mail(app: &TestApp, code: &str) -> String {
    let mail = app
        .mailbox
        .wait_for("đã có kết quả", 10)
        .await
        .expect("result e-mail");
    assert!(mail.contains(code), "{mail}");
    mail
}

// ---- The independent validators -------------------------------------------------------------

/// Whether the PDF validators are required (CI: scripts/test.sh installs them and sets this):
/// then a missing one fails the test instead of skipping it.
fn validators_required() -> bool {
    std::env::var("DVC_TEST_REQUIRE_PDF_VALIDATORS").is_ok_and(|v| v == "1")
}

fn missing(what: &str, install: &str) {
    assert!(
        !validators_required(),
        "{what} is needed by the signature tests: {install}"
    );
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPED: {what} is not installed, so the signature was NOT checked by it.\n\
         !!! Install it: {install} (scripts/test.sh does).\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

const PYHANKO_CHECK: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
with open(sys.argv[1], "rb") as f:
    sigs = PdfFileReader(f, strict=False).embedded_signatures
    if not sigs:
        print("NO-SIGNATURE")
    for s in sigs:
        # The demonstration certificate is self-signed: it is its own trust root here.
        vc = ValidationContext(trust_roots=[s.signer_cert])
        st = validate_pdf_signature(s, vc)
        print("intact=%s valid=%s trusted=%s coverage=%s subfilter=%s md=%s" % (
            st.intact, st.valid, st.trusted, st.coverage.name,
            s.sig_object["/SubFilter"], st.md_algorithm))
"#;

fn python() -> String {
    std::env::var("DVC_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// pyHanko's verdict on `path`, or `None` when pyHanko is not installed.
fn pyhanko(path: &std::path::Path) -> Option<String> {
    let probe = Command::new(python())
        .args(["-c", "import pyhanko, pyhanko_certvalidator"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        missing(
            "pyHanko",
            "pip install pyhanko pyhanko-certvalidator (or set DVC_TEST_PYTHON to a Python that has it)",
        );
        return None;
    }
    let out = Command::new(python())
        .arg("-c")
        .arg(PYHANKO_CHECK)
        .arg(path)
        .output()
        .expect("run pyHanko");
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// poppler's pdfsig output for `path`, or `None` when it is not installed.
fn pdfsig(path: &std::path::Path) -> Option<String> {
    match Command::new("pdfsig").arg(path).output() {
        Ok(out) => Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(_) => {
            missing("poppler's pdfsig", "apt-get install -y poppler-utils");
            None
        }
    }
}

#[tokio::test]
async fn a_signed_electronic_result_validates_and_fails_once_one_byte_changes() {
    let app = TestApp::spawn().await;
    let (code, reception) = ready_for_result(&app, &[("delivery", Some("online"))]).await;

    // Online delivery needs the electronic result; an image cannot be signed as a PDF.
    let r = return_result(&app, &reception, &code, None, None).await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("tải lên bản điện tử của kết quả")
    );
    let png = {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
        v.extend_from_slice(&[0; 64]);
        v
    };
    let r = return_result(&app, &reception, &code, Some(png), None).await;
    assert_eq!(r.status().as_u16(), 422);
    // A PDF that cannot be read is refused with a clear message, nothing recorded.
    let r = return_result(&app, &reception, &code, Some(valid_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Không ký số được tệp kết quả"),
        "unreadable PDF"
    );

    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 303);
    let mail = result_mail(&app, &code).await;
    assert!(mail.contains("có chữ ký số"), "{mail}");
    assert!(mail.contains("đã sẵn sàng"), "{mail}");
    let link = private_link(&mail, &app.base);
    let (s, page) = app.get_text(&link).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("có chữ ký số của cơ quan giải quyết"),
        "{page}"
    );
    let r = app.get(&format!("{link}/ket-qua")).await;
    assert_eq!(r.status().as_u16(), 200);
    let signed = r.bytes().await.expect("bytes").to_vec();
    assert!(signed.starts_with(&result_pdf()), "an incremental update");
    assert!(String::from_utf8_lossy(&signed).contains("ETSI.CAdES.detached"));
    let (_, staff_page) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        staff_page.contains("có chữ ký số của cơ quan"),
        "{staff_page}"
    );
    // Statistics see the signed electronic result.
    let (electronic,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT result_electronic FROM dossiers WHERE code = $1").bind(&code).fetch_one(p).await.expect("row")
    });
    assert_eq!(electronic, 1);

    // One byte of the signed range changed: inside the page's text, so the file still parses.
    let at = signed
        .windows(b"KHAI SINH".len())
        .position(|w| w == b"KHAI SINH")
        .expect("text in the signed range");
    let mut tampered = signed.clone();
    tampered[at] = b'X';
    let dir = std::env::temp_dir().join(format!("dvc-signed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join(format!("{code}.pdf"));
    let bad = dir.join(format!("{code}-tampered.pdf"));
    std::fs::write(&good, &signed).expect("write");
    std::fs::write(&bad, &tampered).expect("write");

    if let Some(out) = pyhanko(&good) {
        assert!(
            out.contains("intact=True valid=True trusted=True coverage=ENTIRE_FILE subfilter=/ETSI.CAdES.detached md=sha256"),
            "pyHanko on the signed result: {out}"
        );
        let out = pyhanko(&bad).expect("pyHanko");
        assert!(
            out.contains("intact=False"),
            "pyHanko on the tampered result: {out}"
        );
    }
    if let Some(out) = pdfsig(&good) {
        assert!(out.contains("ETSI.CAdES.detached"), "{out}");
        assert!(out.contains("Total document signed"), "{out}");
        assert!(
            out.contains("Signature is Valid"),
            "pdfsig on the signed result: {out}"
        );
        let out = pdfsig(&bad).expect("pdfsig");
        assert!(
            !out.contains("Signature is Valid"),
            "pdfsig on the tampered result: {out}"
        );
        assert!(out.contains("Digest Mismatch"), "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn postal_delivery_needs_an_address_and_records_the_tracking_number() {
    let app = TestApp::spawn().await;
    // The form engine asks for the address only with delivery by post.
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(
            PROC,
            form_with(
                &csrf,
                &[("delivery", Some("post"))],
                Some((valid_pdf(), "giay-chung-sinh.pdf")),
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("Nhập địa chỉ nhận kết quả qua bưu chính."),
        "{body}"
    );
    let r = app
        .post_declaration(
            PROC,
            form_with(
                &csrf,
                &[("delivery", Some("bo-cau"))],
                Some((valid_pdf(), "giay-chung-sinh.pdf")),
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Hình thức nhận kết quả")
    );

    let address = "Số 8 ngõ 3 phố Lạch Tray, phường Ngô Quyền, Hải Phòng";
    let (code, reception) = ready_for_result(
        &app,
        &[
            ("delivery", Some("post")),
            ("delivery_address", Some(address)),
        ],
    )
    .await;
    let (_, staff_page) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        staff_page.contains(address),
        "the official sees where to post it"
    );
    assert!(staff_page.contains("name=\"postal_tracking\""));
    // The tracking number is required, and checked.
    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.expect("body").contains("số hiệu bưu gửi"));
    let r = return_result(
        &app,
        &reception,
        &code,
        Some(result_pdf()),
        Some("<b>1</b>"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 422);
    let r = return_result(
        &app,
        &reception,
        &code,
        Some(result_pdf()),
        Some("eb 123 456 789 vn"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);

    let mail = result_mail(&app, &code).await;
    assert!(mail.contains("Số hiệu bưu gửi: EB123456789VN"), "{mail}");
    assert!(mail.contains("bưu chính công ích"), "{mail}");
    let link = private_link(&mail, &app.base);
    let (_, page) = app.get_text(&link).await;
    assert!(
        page.contains("EB123456789VN"),
        "shown on the status page: {page}"
    );
    let (_, staff_page) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(staff_page.contains("EB123456789VN"));
    let (delivery, tracking): (String, Option<String>) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT delivery, postal_tracking FROM dossiers WHERE code = $1").bind(&code).fetch_one(p).await.expect("row")
    });
    assert_eq!(delivery, "post");
    assert_eq!(tracking.as_deref(), Some("EB123456789VN"));
}

/// The rating form's CSRF token, from its page.
async fn rating_csrf(app: &TestApp, link: &str) -> (u16, String) {
    let (s, page) = app.get_text(&format!("{link}/danh-gia")).await;
    (
        s,
        extract(&page, "name=\"csrf\" value=\"").unwrap_or_default(),
    )
}

async fn rate(app: &TestApp, link: &str, csrf: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    app.client
        .post(app.url(&format!("{link}/danh-gia")))
        .form(&all)
        .send()
        .await
        .expect("rate")
}

#[tokio::test]
async fn the_citizen_rates_once_after_the_result_and_officials_see_it() {
    let app = TestApp::spawn().await;
    let (code, reception) = ready_for_result(&app, &[]).await;
    // Before the result: no rating.
    let confirmation = app
        .mailbox
        .wait_for(&code, 10)
        .await
        .expect("confirmation e-mail");
    let early = private_link(&confirmation, &app.base);
    let (_, page) = app.get_text(&early).await;
    assert!(
        !page.contains("/danh-gia"),
        "no rating offered before the result"
    );
    // The session's anti-forgery token, from any citizen form.
    let csrf = app.open_form(PROC).await;
    let r = rate(&app, &early, &csrf, &[("rating", "1")]).await;
    assert_eq!(r.status().as_u16(), 409, "not before the result");

    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 303);
    let mail = result_mail(&app, &code).await;
    assert!(mail.contains("đánh giá mức độ hài lòng"), "{mail}");
    let link = private_link(&mail, &app.base);
    assert!(mail.contains(&format!("{link}/danh-gia")), "{mail}");
    let (_, page) = app.get_text(&link).await;
    assert!(
        page.contains(&format!("{link}/danh-gia")),
        "offered on the private page"
    );

    let (s, csrf) = rating_csrf(&app, &link).await;
    assert_eq!(s, 200);
    // No choice, or a value outside the scale: a clear message, nothing recorded.
    for bad in [vec![], vec![("rating", "7")]] {
        let r = rate(&app, &link, &csrf, &bad).await;
        assert_eq!(r.status().as_u16(), 422);
        assert!(
            r.text()
                .await
                .expect("body")
                .contains("Chọn một mức đánh giá")
        );
    }
    // Without the anti-forgery token: refused.
    let r = rate(&app, &link, "sai", &[("rating", "2")]).await;
    assert_eq!(r.status().as_u16(), 403);

    let r = rate(
        &app,
        &link,
        &csrf,
        &[("rating", "2"), ("comment", "Cán bộ hướng dẫn tận tình.")],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.get_text(&link).await;
    assert!(page.contains("Ông/Bà đã đánh giá: Hài lòng"), "{page}");
    assert!(!page.contains(&format!("{link}/danh-gia\"")));

    // Once: a second attempt gets a clear message and changes nothing.
    let r = rate(&app, &link, &csrf, &[("rating", "3")]).await;
    assert_eq!(r.status().as_u16(), 409);
    let body = r.text().await.expect("body");
    assert!(body.contains("chỉ được đánh giá một lần"), "{body}");
    let (s, page) = app.get_text(&format!("{link}/danh-gia")).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Ông/Bà đã đánh giá hồ sơ này: Hài lòng"),
        "{page}"
    );

    // Statistics read the column; the workflow recorded one event and one audit entry.
    let (rating,): (Option<i64>,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT rating FROM dossiers WHERE code = $1").bind(&code).fetch_one(p).await.expect("row")
    });
    assert_eq!(rating, Some(2));
    app.seal_audit().await;
    let (events, audits): (i64, i64) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE d.code = $1 AND e.action = 'rate'), \
                        (SELECT COUNT(*) FROM audit_log WHERE subject = $1 AND action = 'rate')")
            .bind(&code).fetch_one(p).await.expect("counts")
    });
    assert_eq!((events, audits), (1, 1));
    // Officials see it on the dossier page, with the comment; the public lookup only that a
    // rating was given.
    let (_, staff_page) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        staff_page.contains("Đánh giá của người nộp"),
        "{staff_page}"
    );
    assert!(staff_page.contains("Hài lòng. Góp ý: Cán bộ hướng dẫn tận tình."));
    let (_, lookup) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert!(lookup.contains("Người nộp đã đánh giá mức độ hài lòng"));
    assert!(!lookup.contains("tận tình"));
}

#[tokio::test]
async fn an_agency_with_a_certificate_of_its_own_signs_its_results_with_it() {
    let dir = std::env::temp_dir().join(format!("dvc-p12-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let name = "UBND phường Hồng Bàng (chứng thư thử nghiệm)";
    let p12 = dvc_sign::generate_demo_pkcs12(
        name,
        "UBND phường Hồng Bàng",
        (2026, 1, 1),
        5,
        "mật khẩu p12",
    )
    .expect("p12");
    std::fs::write(dir.join(format!("{AGENCY}.p12")), p12).expect("write");
    let app = TestApp::builder()
        .signing_dir(&dir, "mật khẩu p12")
        .spawn()
        .await;
    let (code, reception) = ready_for_result(&app, &[]).await;
    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        page.contains(name),
        "the timeline names the agency's certificate: {page}"
    );
    let signed = reception
        .client
        .get(app.url(&format!("/can-bo/ho-so/{code}/ket-qua")))
        .send()
        .await
        .expect("result")
        .bytes()
        .await
        .expect("bytes");
    let path = dir.join("ket-qua.pdf");
    std::fs::write(&path, &signed).expect("write");
    if let Some(out) = pdfsig(&path) {
        assert!(out.contains(&format!("Common Name: {name}")), "{out}");
        assert!(out.contains("Signature is Valid"), "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- A fee due at the result ----------------------------------------------------------------

async fn status_of(app: &TestApp, code: &str) -> serde_json::Value {
    let r = app.get(&format!("/api/v1/dossiers/{code}/status")).await;
    r.json().await.expect("json")
}

#[tokio::test]
async fn a_fee_due_at_the_result_collected_at_the_desk_is_recorded_before_the_result_is_returned() {
    // No online payment (DVC_PAYMENT off): khai sinh registered late owes 8.000 đồng at the
    // result, collected at the one-stop desk.
    let app = TestApp::spawn().await;
    let (code, reception) = ready_for_result(&app, &[("tre_ngay_sinh", Some("2025-06-01"))]).await;
    // The citizen's private page says what is owed, and where to pay it.
    let mail = app.mailbox.wait_for(&code, 10).await.expect("mail");
    let link = private_link(&mail, &app.base);
    let (_, page) = app.get_text(&link).await;
    assert!(
        page.contains("Ông/Bà cần nộp 8.000 đồng phí, lệ phí trước khi nhận kết quả")
            && page.contains("nộp tại Bộ phận Một cửa"),
        "{page}"
    );
    // The official sees it owed, and "Trả kết quả" is refused while it is.
    let (_, detail) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        detail.contains("chưa nộp: thu 8.000 đồng trước khi trả kết quả")
            && detail.contains("/thao-tac/da-thu-phi"),
        "{detail}"
    );
    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 409);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("Chưa trả kết quả được: công dân chưa nộp 8.000 đồng phí, lệ phí")
            && body.contains("Đã thu phí tại Bộ phận Một cửa"),
        "{body}"
    );
    assert_eq!(status_of(&app, &code).await["status"], "result_ready");
    // Recorded without a receipt number: refused; by a specialist: refused.
    let r = reception
        .act(&app, &code, "da-thu-phi", &[("receipt_number", " ")])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.expect("body").contains("số biên lai"));
    let specialist = app
        .login("chuyenvien@hongbang.gov.vn", "mật khẩu đủ dài 123")
        .await
        .1;
    let r = specialist
        .act(&app, &code, "da-thu-phi", &[("receipt_number", "BL-1")])
        .await;
    assert_eq!(r.status().as_u16(), 403);
    // "Đã thu phí tại Bộ phận Một cửa" with the receipt number: audited, on the timeline.
    let r = reception
        .act(
            &app,
            &code,
            "da-thu-phi",
            &[("receipt_number", "BL-2026/000123")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let s = status_of(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("result_ready"), Some("collected"))
    );
    assert_eq!(s["payment"]["amount_vnd"], 8000);
    assert!(
        s.to_string()
            .contains("Đã thu phí, lệ phí tại Bộ phận Một cửa")
            && !s.to_string().contains("000123"),
        "the public timeline names no receipt: {s}"
    );
    let (_, detail) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        detail.contains(
            "Đã thu phí, lệ phí 8.000 đồng tại Bộ phận Một cửa, biên lai số BL-2026/000123"
        ) && detail.contains("Đã thu tại Bộ phận Một cửa")
            && !detail.contains("/thao-tac/da-thu-phi"),
        "{detail}"
    );
    app.seal_audit().await;
    let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'collect_fee' AND subject = $1")
            .bind(&code).fetch_one(p).await.expect("audit")
    });
    assert_eq!(n, 1, "audited");
    // Once only.
    let r = reception
        .act(
            &app,
            &code,
            "da-thu-phi",
            &[("receipt_number", "BL-2026/000124")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    // Now the result is returned.
    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(status_of(&app, &code).await["status"], "done");
    // Nothing was paid online: no receipt of an online payment.
    assert_eq!(
        app.get(&format!("{link}/bien-lai")).await.status().as_u16(),
        404
    );
}

#[tokio::test]
async fn a_result_without_a_fee_due_is_returned_at_once() {
    // Registered on time: exempt, nothing to collect, no "Đã thu phí" action.
    let app = TestApp::spawn().await;
    let birth = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date()
        .checked_sub(jiff::Span::new().days(5))
        .expect("date")
        .to_string();
    let (code, reception) = ready_for_result(&app, &[("tre_ngay_sinh", Some(&birth))]).await;
    let (_, detail) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(!detail.contains("/thao-tac/da-thu-phi"), "{detail}");
    let r = reception
        .act(&app, &code, "da-thu-phi", &[("receipt_number", "BL-1")])
        .await;
    assert_eq!(r.status().as_u16(), 409);
    let r = return_result(&app, &reception, &code, Some(result_pdf()), None).await;
    assert_eq!(r.status().as_u16(), 303);
}
