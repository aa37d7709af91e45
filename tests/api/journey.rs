//! The seed's seven steps, end to end.

use crate::helpers::*;
use dichvucong::config::CaptchaMode;

#[tokio::test]
async fn citizen_journey_with_attachment_email_and_lookup() {
    let app = TestApp::spawn().await;

    // 1–2. Home page → the list of services that can be done online → the procedure.
    let (s, home) = app.get_text("/").await;
    assert_eq!(s, 200);
    assert!(home.contains("Các dịch vụ công có thể thực hiện trực tuyến"));
    assert!(home.contains("lang=\"vi\""));
    let (s, list) = app.get_text("/thu-tuc?truc_tuyen=1").await;
    assert_eq!(s, 200);
    assert!(list.contains("Đăng ký khai sinh"));
    assert!(
        !list.contains("Chứng thực chữ ký"),
        "a level-2 service is not listed as online"
    );
    let (s, page) = app.get_text(&format!("/thu-tuc/{PROC}")).await;
    assert_eq!(s, 200);
    for needed in [
        "Trình tự thực hiện",
        "Cách thức thực hiện",
        "Thành phần hồ sơ",
        "Thời hạn giải quyết",
        "Đối tượng thực hiện",
        "Cơ quan thực hiện",
        "Kết quả thực hiện",
        "Phí, lệ phí",
        "Căn cứ pháp lý",
        "Mức độ 4",
        "Nộp hồ sơ trực tuyến",
        "dự kiến",
    ] {
        assert!(page.contains(needed), "procedure page lacks {needed}");
    }

    // 3. The declaration with an attachment; 4. "Tiếp tục" → review.
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra"));
    let (csrf, token, captcha, review) = app.review(PROC).await;
    let born = birth_date_shown();
    for shown in [
        "Trần Minh An",
        "giay-chung-sinh.pdf",
        born.as_str(),
        "Nam",
        "Ủy ban nhân dân phường Hồng Bàng",
    ] {
        assert!(
            review.contains(shown),
            "review page lacks {shown}: {review}"
        );
    }
    assert!(review.contains("Sửa"));
    assert!(review.contains("Hồ sơ: <strong>Đăng ký khai sinh</strong>"));
    assert!(captcha.is_none(), "captcha is off in this test");

    // 5. "Gửi thông tin" → 6. confirmation with the dossier code, dated the day it was filed
    // in Vietnam (the day before or after the request, should it cross midnight there).
    let before = vietnam_today();
    let r = app
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let after = vietnam_today();
    let code = code_from_confirmation(&location(&r));
    assert!(
        [&before, &after]
            .iter()
            .any(|d| code == format!("{AGENCY}-{d}-0001")),
        "{code}: not {AGENCY}-{before}-0001 (or {after})"
    );
    let (s, conf) = app.get_text(&format!("/ho-so/{code}/da-nop")).await;
    assert_eq!(s, 200);
    assert!(conf.contains(&code) && conf.contains("Các bước tiếp theo"));
    // Toàn trình: the result is electronic, nothing to bring to the desk.
    assert!(
        !conf.contains("cần mang theo"),
        "a full-online procedure asks for no originals"
    );
    assert!(conf.contains("hoa.nguyen@example.vn"));
    assert!(conf.contains(&format!("Đăng ký khai sinh (mã {PROC})")));

    // 7. The same by e-mail, with the secret link.
    let mail = app
        .mailbox
        .wait_for(&code, 10)
        .await
        .expect("confirmation e-mail");
    assert!(mail.contains("Đăng ký khai sinh"));
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .to_string();
    let token_part = link.rsplit('/').next().expect("token");
    assert!(token_part.len() >= 43, "≥ 256-bit token");

    // Public lookup: status, no personal data.
    let (s, lookup) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert_eq!(s, 200);
    assert!(lookup.contains("Đã nộp trực tuyến, chờ tiếp nhận"));
    assert!(!lookup.contains("N***** T** H**"), "not even a masked name");
    for private in [
        "Nguyễn Thị Hoa",
        "031192004567",
        "0912345678",
        "hoa.nguyen@example.vn",
        "Trần Minh An",
    ] {
        assert!(!lookup.contains(private), "public lookup leaks {private}");
    }
    // Lower-case code works too.
    let (s, _) = app
        .get_text(&format!("/tra-cuu?ma={}", code.to_lowercase()))
        .await;
    assert_eq!(s, 200);

    // Secret link: full details and the attachment, as a download.
    let path = link.trim_start_matches(&app.base).to_string();
    let (s, private) = app.get_text(&path).await;
    assert_eq!(s, 200);
    assert!(private.contains("Nguyễn Thị Hoa") && private.contains("Trần Minh An"));
    let file_href = extract(&private, "href=\"/ho-so/xem/").expect("attachment link");
    let r = app.get(&format!("/ho-so/xem/{file_href}")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .starts_with("attachment")
    );
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), valid_pdf());

    // A stranger's session cannot open the confirmation page: it redirects to the public lookup.
    let stranger = client();
    let r = stranger
        .get(app.url(&format!("/ho-so/{code}/da-nop")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
    assert!(location(&r).starts_with("/tra-cuu?ma="));
}

#[tokio::test]
async fn double_submit_makes_one_dossier() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (csrf, token, _, _) = app.review(PROC).await;
    let fields = [("csrf", csrf.as_str()), ("submit_token", token.as_str())];
    // A double click: both POSTs at once; then a refresh later.
    let (a, b) = tokio::join!(app.send(PROC, &fields), app.send(PROC, &fields));
    let c = app.send(PROC, &fields).await;
    let codes: Vec<String> = [a, b, c]
        .iter()
        .map(|r| {
            assert_eq!(r.status().as_u16(), 303);
            code_from_confirmation(&location(r))
        })
        .collect();
    assert_eq!(codes[0], codes[1]);
    assert_eq!(codes[1], codes[2]);
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );
    // And only one e-mail: once the outbox holds nothing pending (a duplicate, queued or
    // resent, would be sent by then), exactly one message was queued and delivered.
    app.mailbox.wait_for(&codes[0], 10).await.expect("mail");
    let db = app.state.db.clone();
    assert!(
        wait_until(15, || {
            let db = db.clone();
            async move { matches!(dichvucong::store::outbox::counts(&db).await, Ok((0, _))) }
        })
        .await,
        "the outbox was never emptied"
    );
    assert_eq!(
        dichvucong::store::outbox::counts(&app.state.db)
            .await
            .expect("counts"),
        (0, 1)
    );
    assert_eq!(app.mailbox.all().len(), 1);
}

#[tokio::test]
async fn concurrent_submissions_get_distinct_sequential_codes() {
    let app = TestApp::spawn().await;
    let n = 8;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            // Each citizen has their own browser session.
            let c = client();
            let body = c
                .get(format!("{base}/thu-tuc/{PROC}/nop-ho-so"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text");
            let csrf = extract(&body, "name=\"csrf\" value=\"").expect("csrf");
            let r = c
                .post(format!("{base}/thu-tuc/{PROC}/nop-ho-so"))
                .multipart(birth_form(&csrf, valid_pdf()))
                .send()
                .await
                .expect("post");
            assert_eq!(r.status().as_u16(), 303);
            let review = c
                .get(format!("{base}/thu-tuc/{PROC}/nop-ho-so/kiem-tra"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text");
            let csrf = extract(&review, "name=\"csrf\" value=\"").expect("csrf");
            let token = extract(&review, "name=\"submit_token\" value=\"").expect("token");
            let r = c
                .post(format!("{base}/thu-tuc/{PROC}/nop-ho-so/gui"))
                .form(&[("csrf", csrf), ("submit_token", token)])
                .send()
                .await
                .expect("send");
            assert_eq!(r.status().as_u16(), 303);
            code_from_confirmation(&location(&r))
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.expect("task"));
    }
    assert_eq!(codes.len(), n);
    // 1..=n within the day (per day, should the run cross midnight in Vietnam).
    assert_numbered_per_day(&codes);
}

#[tokio::test]
async fn verification_code_with_the_text_alternative() {
    let app = TestApp::builder().captcha(CaptchaMode::Image).spawn().await;
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);

    // The picture is served to this session only.
    let (csrf, token, captcha, _) = app.review(PROC).await;
    let captcha = captcha.expect("captcha id");
    let img = app.get(&format!("/ma-xac-nhan/{captcha}.png")).await;
    assert_eq!(img.status().as_u16(), 200);
    assert_eq!(img.headers()["content-type"], "image/png");
    assert_eq!(
        client()
            .get(app.url(&format!("/ma-xac-nhan/{captcha}.png")))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );

    // A wrong code: the review page again, with an error and a fresh code.
    let r = app
        .send(
            PROC,
            &[
                ("csrf", &csrf),
                ("submit_token", &token),
                ("captcha_id", &captcha),
                ("captcha_answer", "000000x"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("Mã xác nhận chưa đúng"));

    // The accessible alternative: the digits spelled out in Vietnamese.
    let (s, alt) = app
        .get_text(&format!(
            "/thu-tuc/{PROC}/nop-ho-so/kiem-tra?ma-xac-nhan=chu"
        ))
        .await;
    assert_eq!(s, 200);
    let words = extract(&alt, "nhập 12): <strong>").expect("words");
    let words = words.split("</strong>").next().expect("words");
    let digits: String = words
        .split(", ")
        .map(|w| {
            [
                "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
            ]
            .iter()
            .position(|x| *x == w)
            .expect("digit word")
        })
        .map(|d| char::from(b'0' + d as u8))
        .collect();
    let id = extract(&alt, "name=\"captcha_id\" value=\"").expect("id");
    let csrf = extract(&alt, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .send(
            PROC,
            &[
                ("csrf", &csrf),
                ("submit_token", &token),
                ("captcha_id", &id),
                ("captcha_answer", &digits),
            ],
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert!(location(&r).starts_with("/ho-so/"));

    // A code is used once: the same id and answer, replayed on the next submission of the same
    // session, are refused and nothing is filed.
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (csrf2, token2, _, _) = app.review(PROC).await;
    let r = app
        .send(
            PROC,
            &[
                ("csrf", &csrf2),
                ("submit_token", &token2),
                ("captcha_id", &id),
                ("captcha_answer", &digits),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "a used code was accepted again");
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Mã xác nhận chưa đúng")
    );
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );

    // A code expires (ten minutes): the stored expiry is moved into the past rather than
    // waiting; the right answer is then refused.
    let (_, alt) = app
        .get_text(&format!(
            "/thu-tuc/{PROC}/nop-ho-so/kiem-tra?ma-xac-nhan=chu"
        ))
        .await;
    let words = extract(&alt, "nhập 12): <strong>").expect("words");
    let digits = spelled_digits(words.split("</strong>").next().expect("words"));
    let id = extract(&alt, "name=\"captcha_id\" value=\"").expect("id");
    let csrf = extract(&alt, "name=\"csrf\" value=\"").expect("csrf");
    let token = extract(&alt, "name=\"submit_token\" value=\"").expect("token");
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE captchas SET expires_at = 1").execute(p).await.expect("expire");
    });
    let r = app
        .send(
            PROC,
            &[
                ("csrf", &csrf),
                ("submit_token", &token),
                ("captcha_id", &id),
                ("captcha_answer", &digits),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "an expired code was accepted");
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );
}

/// "bốn, bảy, hai" → "472".
fn spelled_digits(words: &str) -> String {
    words
        .split(", ")
        .map(|w| {
            [
                "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
            ]
            .iter()
            .position(|x| *x == w)
            .expect("digit word")
        })
        .map(|d| char::from(b'0' + d as u8))
        .collect()
}

#[tokio::test]
async fn validation_errors_are_listed_linked_and_answers_kept() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    let form = form_with(
        &csrf,
        &[
            ("applicant_full_name", Some("")),
            ("applicant_id_number", Some("12345")),
            ("applicant_phone", Some("0212345678")),
            ("tre_noi_sinh", Some("<script>alert(1)</script>")),
        ],
        None,
    );
    let r = app.post_declaration(PROC, form).await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("class=\"error-summary\""));
    assert!(body.contains("href=\"#f-applicant_full_name\">Nhập họ, chữ đệm và tên"));
    assert!(body.contains("href=\"#f-applicant_id_number\""));
    assert!(body.contains("12 chữ số"));
    assert!(body.contains("href=\"#f-applicant_phone\""));
    assert!(
        body.contains("href=\"#f-tep_giay_chung_sinh\""),
        "missing required file"
    );
    // Answers are kept, and a typed script is shown as text, never run.
    assert!(body.contains("value=\"Trần Minh An\""));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;"));
    assert!(!body.contains("<script>alert(1)</script>"));
    // The review page is not reachable with invalid answers.
    let r = app
        .get(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra"))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // Reloading the form shows what was typed.
    let (_, again) = app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(again.contains("value=\"12345\""));

    // Fixing the errors, with a file, goes through.
    let csrf = extract(&again, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
}

/// Two attachments in one dossier: both kept, each with its own name, size and SHA-256 (the
/// filing writes them in the same statement as the dossier, on both backends).
#[tokio::test]
async fn every_attachment_is_filed_with_its_hash() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    let first = valid_pdf();
    let mut second = b"%PDF-1.7\n2 0 obj << /Type /Catalog >> endobj\n".to_vec();
    second.extend(std::iter::repeat_n(b'y', 5000));
    second.extend_from_slice(b"\n%%EOF\n");
    let part = reqwest::multipart::Part::bytes(second.clone())
        .file_name("giay-uy-quyen.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    let form = birth_form(&csrf, first.clone()).part("tep_uy_quyen", part);
    let r = app.post_declaration(PROC, form).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf, token, _, _) = app.review(PROC).await;
    let r = app
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let code = code_from_confirmation(&location(&r));

    let rows: Vec<(String, String, i64, String)> = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(
            "SELECT a.field_name, a.file_name, a.size_bytes, a.sha256 FROM attachments a \
             JOIN dossiers d ON d.id = a.dossier_id WHERE d.code = $1 ORDER BY a.field_name",
        )
        .bind(&code)
        .fetch_all(p)
        .await
        .expect("attachments")
    });
    let hex = |b: &[u8]| hex::encode(Sha256::digest(b));
    assert_eq!(
        rows,
        vec![
            (
                "tep_giay_chung_sinh".to_string(),
                "giay-chung-sinh.pdf".to_string(),
                first.len() as i64,
                hex(&first)
            ),
            (
                "tep_uy_quyen".to_string(),
                "giay-uy-quyen.pdf".to_string(),
                second.len() as i64,
                hex(&second)
            ),
        ]
    );
    // The first event and the confirmation e-mail belong to the same dossier.
    let (events, mails): (i64, i64) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE d.code = $1), \
             (SELECT COUNT(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE d.code = $1)",
        )
        .bind(&code)
        .fetch_one(p)
        .await
        .expect("counts")
    });
    assert_eq!((events, mails), (1, 1));
}
