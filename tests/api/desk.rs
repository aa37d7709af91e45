//! Desk and postal intake (issue 17): a reception officer registers a dossier handed in at the
//! Bộ phận Một cửa or sent by post, which is received at once and gets its receipt (Mẫu 01).

use crate::back_office::Official;
use crate::helpers::*;
use crate::one_stop::{forward, status_of};
use dvc_domain::staff::Role;
use reqwest::multipart;

#[allow(dead_code)]
#[path = "../../crates/pdf/tests/pdf_text/mod.rs"]
mod pdf_text;

const PAGE: &str = "/can-bo/tiep-nhan-truc-tiep";

/// Opens the intake page of `procedure`: (CSRF token, the page's submit token).
async fn open(app: &TestApp, who: &Official, procedure: &str) -> (String, String) {
    let (s, page) = who.get(app, &format!("{PAGE}?thu-tuc={procedure}")).await;
    assert_eq!(s, 200, "{page}");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let token = extract(&page, "name=\"submit_token\" value=\"").expect("submit token");
    (csrf, token)
}

/// The khai sinh declaration as the officer types it: the citizen's answers without e-mail and
/// phone unless given, the channel, and the scanned birth certificate when `scan`.
fn desk_form(
    csrf: &str,
    token: &str,
    channel: Option<&str>,
    email: Option<&str>,
    scan: bool,
) -> multipart::Form {
    let mut overrides = vec![
        ("applicant_email", email),
        ("applicant_phone", email.map(|_| "0912345678")),
        ("submit_token", Some(token)),
    ];
    if let Some(c) = channel {
        overrides.push(("kenh", Some(c)));
    }
    let file = scan.then(|| (valid_pdf(), "giay-chung-sinh-scan.pdf"));
    form_with(csrf, &overrides, file)
}

async fn post(app: &TestApp, who: &Official, form: multipart::Form) -> reqwest::Response {
    who.client
        .post(app.url(&format!("{PAGE}?thu-tuc={PROC}")))
        .multipart(form)
        .send()
        .await
        .expect("POST intake")
}

async fn column(app: &TestApp, sql: &'static str, code: &str) -> i64 {
    let (v,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).bind(code).fetch_one(p).await.expect("query")
    });
    v
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    let (v,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).fetch_one(p).await.expect("query")
    });
    v
}

#[tokio::test]
async fn desk_intake_files_receives_and_prints_the_receipt_then_the_dossier_runs_to_its_result() {
    let app = TestApp::spawn().await;
    let r = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let cv = app
        .official("cv@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    let leader = app
        .official("ld@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;

    // The reception officer picks the procedure; others may not open the page nor post to it.
    let (s, picker) = r.get(&app, PAGE).await;
    assert_eq!(s, 200);
    assert!(picker.contains(&format!("value=\"{PROC}\"")), "{picker}");
    let (s, _) = cv.get(&app, PAGE).await;
    assert_eq!(s, 403);
    let (s, _) = leader.get(&app, &format!("{PAGE}?thu-tuc={PROC}")).await;
    assert_eq!(s, 403);
    let (csrf, token) = open(&app, &r, PROC).await;
    let by_specialist = post(
        &app,
        &cv,
        desk_form(&cv.csrf, &token, Some("truc-tiep"), None, true),
    )
    .await;
    assert_eq!(by_specialist.status().as_u16(), 403);
    let forged = post(
        &app,
        &r,
        desk_form("sai", &token, Some("truc-tiep"), None, true),
    )
    .await;
    assert_eq!(forged.status().as_u16(), 403);

    // The shared validation: no channel and no scan, each said in Vietnamese; what was typed
    // stays on the page; nothing is filed.
    let bad = post(&app, &r, desk_form(&csrf, &token, None, None, false)).await;
    assert_eq!(bad.status().as_u16(), 422);
    let page = bad.text().await.expect("body");
    assert!(page.contains("bưu chính công ích"), "{page}");
    assert!(page.contains("Chọn tệp cho mục"), "{page}");
    assert!(page.contains("Trần Minh An"), "answers kept");
    assert!(
        !page.contains("Nhập thư điện tử"),
        "e-mail is optional at the desk"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM dossiers").await, 0);

    // Valid, without e-mail: filed, coded, received at once; the receipt is offered.
    let ok = post(
        &app,
        &r,
        desk_form(&csrf, &token, Some("truc-tiep"), None, true),
    )
    .await;
    assert_eq!(ok.status().as_u16(), 303);
    let loc = location(&ok);
    let code = loc
        .strip_prefix("/can-bo/ho-so/")
        .and_then(|s| s.strip_suffix("?da=tiep-nhan-truc-tiep"))
        .unwrap_or_else(|| panic!("{loc}"))
        .to_string();
    assert!(code.starts_with(&format!("{AGENCY}-")), "{code}");
    let (s, landing) = r.get(&app, &loc).await;
    assert_eq!(s, 200);
    assert!(
        landing.contains(&format!("/can-bo/ho-so/{code}/giay-to/mau-01")),
        "{landing}"
    );
    assert!(landing.contains("Trực tiếp"), "the channel is shown");
    // A resent POST (double click) files nothing new.
    let again = post(
        &app,
        &r,
        desk_form(&csrf, &token, Some("truc-tiep"), None, true),
    )
    .await;
    assert_eq!(location(&again), loc);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM dossiers").await, 1);

    let st = status_of(&app, &code).await;
    assert_eq!(st["status"], "received", "{st}");
    let text = st.to_string();
    assert!(
        text.contains("Hồ sơ đã được nộp trực tiếp tại Bộ phận Một cửa"),
        "{text}"
    );
    assert!(!text.contains("Nguyễn Thị Hoa") && !text.contains("031192004567"));
    let channel = "SELECT channel FROM dossiers WHERE code = $1";
    let digitised = "SELECT digitised FROM dossiers WHERE code = $1";
    assert_eq!(column(&app, channel, &code).await, 1, "trực tiếp");
    assert_eq!(
        column(&app, digitised, &code).await,
        1,
        "the papers were scanned"
    );
    assert_eq!(
        column(
            &app,
            "SELECT COUNT(*) FROM attachments a JOIN dossiers d ON d.id = a.dossier_id WHERE d.code = $1",
            &code
        )
        .await,
        1
    );
    // No e-mail address, no e-mail; the receipt is audited like any reception.
    app.seal_audit().await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(
        column(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE subject = $1 AND action = 'receive'",
            &code
        )
        .await,
        1
    );

    // Mẫu 01, ready to print, with the dossier, the applicant and the appointment.
    let pdf = r
        .client
        .get(app.url(&format!("/can-bo/ho-so/{code}/giay-to/mau-01")))
        .send()
        .await
        .expect("receipt");
    assert_eq!(pdf.status().as_u16(), 200);
    let bytes = pdf.bytes().await.expect("pdf").to_vec();
    let receipt = pdf_text::parse(&bytes).text().replace('\n', " ");
    for expected in [
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        code.as_str(),
        "Nguyễn Thị Hoa",
        "031192004567",
        "Đăng ký khai sinh",
        "Thời gian trả kết quả",
        "motcua",
    ] {
        assert!(
            receipt.contains(expected),
            "Mẫu 01 lacks {expected}: {receipt}"
        );
    }

    // Then the usual path to the result.
    forward(&app, &r, &code, "cv@hongbang.gov.vn").await;
    assert_eq!(
        cv.act(&app, &code, "trinh-phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        leader
            .act(&app, &code, "phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let part = multipart::Part::bytes(result_pdf())
        .file_name("giay-khai-sinh.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    let form = multipart::Form::new()
        .text("csrf", r.csrf.clone())
        .part("result_file", part);
    let done = r
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
        .multipart(form)
        .send()
        .await
        .expect("return");
    assert_eq!(done.status().as_u16(), 303);
    let st = status_of(&app, &code).await;
    assert_eq!(st["status"], "done");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, 0);

    // By post, with an e-mail address: the receipt e-mail goes out with the private link.
    let (csrf, token) = open(&app, &r, PROC).await;
    let ok = post(
        &app,
        &r,
        desk_form(
            &csrf,
            &token,
            Some("buu-chinh"),
            Some("hoa.nguyen@example.vn"),
            true,
        ),
    )
    .await;
    assert_eq!(ok.status().as_u16(), 303);
    let loc = location(&ok);
    let posted = loc
        .strip_prefix("/can-bo/ho-so/")
        .and_then(|s| s.split('?').next())
        .expect("code")
        .to_string();
    assert_ne!(posted, code);
    assert_eq!(
        column(&app, channel, &posted).await,
        3,
        "bưu chính công ích"
    );
    let mail = app
        .mailbox
        .wait_for(&format!("Hồ sơ {posted} ({}", "Đăng ký khai sinh"), 10)
        .await
        .expect("receipt e-mail");
    assert!(mail.contains("/ho-so/xem/"), "{mail}");
    let st = status_of(&app, &posted).await.to_string();
    assert!(st.contains("bưu chính công ích"), "{st}");
}
