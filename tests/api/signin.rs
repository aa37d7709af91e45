//! Citizen sign-in with OpenID Connect against a real provider (npm `oidc-provider`, see
//! [`crate::oidc`]): the flow, the session rotation, the refusals (wrong state, replayed code,
//! missing PKCE, ID token for another audience or expired), the details filled in from the
//! identity, "Hồ sơ của tôi" and its authorization (IDs swapped), drafts, DVC_LOGIN=required,
//! and sign-out with RP-initiated logout.

use crate::helpers::{PROC, TestApp, extract, form_with, location, valid_pdf};
use crate::oidc::{
    app_with, app_with_provider, provider_browser, sign_in, signed_in, start_sign_in,
    through_provider,
};
use dichvucong::config::LoginMode;

const FORM: &str = "/thu-tuc/1.001193/nop-ho-so";

async fn one_i64(app: &TestApp, sql: &'static str, code: &str) -> i64 {
    let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).bind(code).fetch_one(p).await.expect("query")
    });
    n
}

async fn one_text(app: &TestApp, sql: &'static str, code: &str) -> String {
    let (s,): (String,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).bind(code).fetch_one(p).await.expect("query")
    });
    s
}

/// Files the khai sinh declaration from `app`'s browser (signed in or not), with `overrides`.
async fn file(app: &TestApp, overrides: &[(&str, Option<&str>)]) -> String {
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(
            PROC,
            form_with(&csrf, overrides, Some((valid_pdf(), "giay-chung-sinh.pdf"))),
        )
        .await;
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
    crate::helpers::code_from_confirmation(&location(&r))
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("dvc_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

#[tokio::test]
async fn sign_in_fills_the_applicant_block_and_files_a_dossier_of_ones_own() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, None).await;
    // The declaration before signing in: an invitation, nothing filled in.
    let (status, body) = app.get_text(FORM).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Đăng nhập bằng tài khoản định danh điện tử"),
        "{body}"
    );
    let before = session_cookie(&app.get(FORM).await);

    let r = sign_in(&app, "an", FORM).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(location(&r), FORM, "back where the citizen was going");
    let after = session_cookie(&r).expect("a new session cookie at sign-in");
    assert_ne!(
        Some(after.clone()),
        before,
        "the session id rotates at sign-in"
    );

    let (status, body) = app.get_text(FORM).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Đã đăng nhập: <strong>Nguyễn Văn An</strong>"),
        "{body}"
    );
    assert!(body.contains("value=\"Nguyễn Văn An\""), "name prefilled");
    assert!(
        body.contains("value=\"001090000001\""),
        "identification number prefilled"
    );
    assert!(
        body.contains("value=\"12/05/1990\""),
        "birth date prefilled"
    );
    assert!(body.contains("Lấy từ tài khoản định danh điện tử"));
    assert!(body.contains("readonly"), "level-2 fields are read-only");

    // Posting other values for the read-only fields changes nothing: the identity's stay.
    let code = file(
        &app,
        &[
            ("applicant_full_name", Some("Người Khác")),
            ("applicant_id_number", Some("031192004567")),
            ("applicant_birth_date", Some("1992-05-14")),
            ("applicant_phone", Some("0912345678")),
            ("applicant_email", Some("an@example.vn")),
        ],
    )
    .await;
    let name = one_text(
        &app,
        "SELECT applicant_name FROM dossiers WHERE code = $1",
        &code,
    )
    .await;
    assert_eq!(name, "Nguyễn Văn An");
    let id = one_text(
        &app,
        "SELECT applicant_id_number FROM dossiers WHERE code = $1",
        &code,
    )
    .await;
    assert_eq!(id, "001090000001");
    let reused = one_i64(
        &app,
        "SELECT reused_answers FROM dossiers WHERE code = $1",
        &code,
    )
    .await;
    assert_eq!(
        reused, 5,
        "name, birth date, id number, phone and e-mail came from the identity"
    );
    let fields = one_text(
        &app,
        "SELECT reused_fields FROM dossiers WHERE code = $1",
        &code,
    )
    .await;
    assert!(
        fields.contains("applicant_id_number") && fields.contains("applicant_full_name"),
        "{fields}"
    );
    let by = one_i64(
        &app,
        "SELECT COUNT(*) FROM dossiers WHERE code = $1 AND citizen_id IS NOT NULL",
        &code,
    )
    .await;
    assert_eq!(by, 1);

    // Hồ sơ của tôi lists it, and opens its private page without the e-mail.
    let (status, mine) = app.get_text("/ho-so-cua-toi").await;
    assert_eq!(status, 200);
    assert!(mine.contains(&code), "{mine}");
    assert!(mine.contains("Đã nộp trực tuyến, chờ tiếp nhận"));
    let csrf = extract(&mine, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .client
        .post(app.url(&format!("/ho-so-cua-toi/{code}/mo")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("open");
    assert_eq!(r.status().as_u16(), 303);
    let private = location(&r);
    assert!(private.starts_with("/ho-so/xem/"), "{private}");
    let (status, page) = app.get_text(&private).await;
    assert_eq!(status, 200);
    assert!(page.contains(&code));
    assert!(
        page.contains("rut-ho-so"),
        "the withdraw action is offered: {page}"
    );
}

#[tokio::test]
async fn another_citizens_dossiers_and_drafts_are_never_reachable() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, None).await;
    let an = app.shallow_clone();
    signed_in(&an, "an", "/ho-so-cua-toi").await;
    let an_code = file(&an, &[]).await;
    // A's draft of the same procedure, saved.
    let csrf = an.open_form(PROC).await;
    let mut form = form_with(&csrf, &[("tre_ho_ten", Some("Bản nháp của An"))], None);
    form = form.text("luu-nhap", "1");
    let r = an.post_declaration(PROC, form).await;
    assert_eq!(r.status().as_u16(), 200);

    // Filed without signing in, in Bình's name (her identification number typed by someone).
    let kiosk = app.shallow_clone();
    let kiosk_code = file(&kiosk, &[("applicant_id_number", Some("001185000002"))]).await;

    let binh = app.shallow_clone();
    signed_in(&binh, "binh", "/ho-so-cua-toi").await;
    let (status, mine) = binh.get_text("/ho-so-cua-toi").await;
    assert_eq!(status, 200);
    assert!(
        !mine.contains(&an_code),
        "another citizen's dossier is not listed"
    );
    assert!(!mine.contains("Bản nháp của An"));
    assert!(
        mine.contains(&kiosk_code),
        "a dossier in the verified identification number's name is listed"
    );
    let csrf = extract(&mine, "name=\"csrf\" value=\"").expect("csrf");
    // IDs swapped: Bình asks for An's dossier.
    let r = binh
        .client
        .post(binh.url(&format!("/ho-so-cua-toi/{an_code}/mo")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("open");
    assert_eq!(r.status().as_u16(), 404);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("Không tìm thấy hồ sơ này"), "{body}");
    // Bình cannot delete An's draft, and does not get it on her form.
    let r = binh
        .client
        .post(binh.url(&format!("/ho-so-cua-toi/nhap/{PROC}/xoa")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 303);
    let (_, form) = binh.get_text(FORM).await;
    assert!(!form.contains("Bản nháp của An"));
    assert!(form.contains("value=\"Trần Thị Bình\""));
    let (_, mine) = an.get_text("/ho-so-cua-toi").await;
    assert!(
        mine.contains("Tiếp tục khai hồ sơ"),
        "An's draft is still there: {mine}"
    );
    assert!(
        !mine.contains(&kiosk_code),
        "An does not see Bình's dossier"
    );

    // The anonymous browser has no "Hồ sơ của tôi"; a staff route does not take a citizen.
    let r = kiosk.get("/ho-so-cua-toi").await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(location(&r).starts_with("/dang-nhap"));
    let r = binh.get("/can-bo").await;
    assert_ne!(
        r.status().as_u16(),
        200,
        "a citizen session is not an official's"
    );
    // Someone else's CSRF token does not work either.
    let r = kiosk
        .client
        .post(kiosk.url(&format!("/ho-so-cua-toi/{kiosk_code}/mo")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("open");
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn wrong_state_replayed_code_and_missing_pkce_are_refused_clearly() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, None).await;
    // A state the portal never issued.
    let (status, body) = app
        .get_text("/dang-nhap/xac-thuc?code=abc&state=gia-mao")
        .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("mã chống giả mạo “state” không khớp"),
        "{body}"
    );

    // A state issued to another browser.
    let other = app.shallow_clone();
    let auth = start_sign_in(&other, "/ho-so-cua-toi").await;
    let callback = through_provider(&provider_browser(), &auth, &app.base, "an").await;
    let (status, body) = app.get_text(callback.trim_start_matches(&app.base)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("không khớp"));

    // The same callback twice: the second is refused (state used once).
    let auth = start_sign_in(&app, "/ho-so-cua-toi").await;
    let callback = through_provider(&provider_browser(), &auth, &app.base, "an").await;
    let path = callback.trim_start_matches(&app.base).to_string();
    let r = app.get(&path).await;
    assert_eq!(r.status().as_u16(), 303);
    let (status, body) = app.get_text(&path).await;
    assert_eq!(status, 400);
    assert!(body.contains("không khớp"), "{body}");

    // The used code with a fresh state: the provider refuses it, and the citizen is told.
    let code = reqwest::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let auth = start_sign_in(&app, "/ho-so-cua-toi").await;
    let state = reqwest::Url::parse(&auth)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .expect("state");
    let (status, body) = app
        .get_text(&format!(
            "/dang-nhap/xac-thuc?code={}&state={}",
            crate::oidc::urlencode(&code),
            crate::oidc::urlencode(&state)
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("đã được dùng hoặc đã hết hạn"), "{body}");

    // An authorization request without PKCE: the provider refuses it and the portal says why.
    let auth = start_sign_in(&app, "/ho-so-cua-toi").await;
    let mut url = reqwest::Url::parse(&auth).expect("url");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let callback = through_provider(&provider_browser(), url.as_str(), &app.base, "an").await;
    assert!(callback.contains("error="), "{callback}");
    let (status, body) = app.get_text(callback.trim_start_matches(&app.base)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("PKCE"), "{body}");

    // None of the refused attempts signed the other browser in.
    let r = other.get("/ho-so-cua-toi").await;
    assert_eq!(r.status().as_u16(), 303);
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, Some("audience")).await;
    let r = sign_in(&app, "an", "/ho-so-cua-toi").await;
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap_or_default();
    assert!(
        body.contains("không cấp cho Cổng Dịch vụ công này"),
        "{body}"
    );
    assert_eq!(app.get("/ho-so-cua-toi").await.status().as_u16(), 303);
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, Some("expired")).await;
    let r = sign_in(&app, "an", "/ho-so-cua-toi").await;
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap_or_default();
    assert!(
        body.contains("đã hết hạn nên không được chấp nhận"),
        "{body}"
    );
}

#[tokio::test]
async fn the_return_path_is_local_only() {
    let (app, _provider) = app_with_provider(LoginMode::Optional, None).await;
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let r = sign_in(&app, "an", evil).await;
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(location(&r), "/ho-so-cua-toi", "{evil} is not followed");
    }
}

#[tokio::test]
async fn required_login_guards_filing_but_not_the_public_lookup() {
    let (app, _provider) = app_with_provider(LoginMode::Required, None).await;
    let kiosk = app.shallow_clone();
    let r = kiosk.get(FORM).await;
    assert_eq!(r.status().as_u16(), 303);
    let to = location(&r);
    let tiep = reqwest::Url::parse(&format!("http://x{to}"))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "tiep")
        .map(|(_, v)| v.to_string());
    assert!(to.starts_with("/dang-nhap?"), "{to}");
    assert_eq!(
        tiep.as_deref(),
        Some(FORM),
        "back to the form after signing in"
    );
    let (status, _) = kiosk
        .get_text("/tra-cuu?ma=000.00.02.H31-261204-0001")
        .await;
    assert!(
        status == 200 || status == 404,
        "the lookup stays public: {status}"
    );

    signed_in(&app, "chi", FORM).await;
    let code = file(&app, &[("applicant_full_name", Some("Lê Minh Chí"))]).await;
    let reused = one_i64(
        &app,
        "SELECT reused_answers FROM dossiers WHERE code = $1",
        &code,
    )
    .await;
    assert!(
        reused >= 1,
        "level 1: suggested answers count once kept ({reused})"
    );
    let (_, body) = app.get_text(FORM).await;
    assert!(
        !body.contains("readonly"),
        "a level-1 identity is not read-only"
    );
}

#[tokio::test]
async fn drafts_are_resumed_on_another_device_and_deleted_after_a_reminder() {
    let start = jiff::Timestamp::now();
    let (app, _provider) = app_with(
        TestApp::builder().manual_clock(start),
        LoginMode::Optional,
        None,
    )
    .await;
    let phone = app.shallow_clone();
    signed_in(&phone, "an", FORM).await;
    let csrf = phone.open_form(PROC).await;
    let form = form_with(
        &csrf,
        &[("tre_ho_ten", Some("Trần Minh Khôi")), ("cam_doan", None)],
        Some((valid_pdf(), "giay-chung-sinh.pdf")),
    )
    .text("luu-nhap", "1");
    let r = phone.post_declaration(PROC, form).await;
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("Đã lưu nháp"), "{body}");

    // Another device, the same citizen: the draft is listed and resumes with its file.
    let laptop = app.shallow_clone();
    signed_in(&laptop, "an", "/ho-so-cua-toi").await;
    let (_, mine) = laptop.get_text("/ho-so-cua-toi").await;
    assert!(mine.contains("Tiếp tục khai hồ sơ"), "{mine}");
    let (_, form) = laptop.get_text(FORM).await;
    assert!(form.contains("value=\"Trần Minh Khôi\""), "{form}");
    assert!(
        form.contains("giay-chung-sinh.pdf"),
        "the uploaded file is kept"
    );

    // A sign-in started and never finished.
    let _ = start_sign_in(&app.shallow_clone(), "/ho-so-cua-toi").await;
    // 27 days later: the reminder e-mail; 30 days after the last change: deleted, with its file.
    let key = "citizen:%";
    app.clock()
        .advance(std::time::Duration::from_secs(27 * 86_400 + 3600));
    dichvucong::jobs::housekeeping_round(&app.state).await;
    let mail = app
        .mailbox
        .wait_for("tự động bị xóa", 10)
        .await
        .expect("a reminder e-mail");
    assert!(mail.contains("an@example.vn"), "{mail}");
    let drafts = one_i64(
        &app,
        "SELECT COUNT(*) FROM drafts WHERE session_hash LIKE $1",
        key,
    )
    .await;
    assert_eq!(drafts, 1, "still there after the reminder");
    app.clock()
        .advance(std::time::Duration::from_secs(3 * 86_400));
    let done = dichvucong::jobs::housekeeping_round(&app.state).await;
    let drafts = one_i64(
        &app,
        "SELECT COUNT(*) FROM drafts WHERE session_hash LIKE $1",
        key,
    )
    .await;
    assert_eq!(drafts, 0, "deleted after 30 days");
    assert_eq!(done.files_deleted.len(), 1, "with its file");
}

#[tokio::test]
async fn sign_out_ends_our_session_and_the_providers() {
    let (app, provider) = app_with_provider(LoginMode::Optional, None).await;
    signed_in(&app, "an", "/ho-so-cua-toi").await;
    let r = app.get("/dang-xuat").await;
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains(&format!("form-action 'self' {}", provider.issuer)),
        "the sign-out form may lead to the provider's end-session endpoint: {csp}"
    );
    let (status, page) = app.get_text("/dang-xuat").await;
    assert_eq!(status, 200);
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .client
        .post(app.url("/dang-xuat"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status().as_u16(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("{}/session/end", provider.issuer)),
        "{to}"
    );
    assert!(to.contains("id_token_hint="), "{to}");
    assert!(to.contains("post_logout_redirect_uri="), "{to}");
    let r = app.get("/ho-so-cua-toi").await;
    assert_eq!(r.status().as_u16(), 303, "our session has ended");
}

#[tokio::test]
async fn without_an_issuer_sign_in_is_off_and_the_kiosk_path_works() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_text("/dang-nhap").await;
    assert_eq!(status, 404);
    assert!(body.contains("chưa bật đăng nhập"), "{body}");
    let (_, form) = app.get_text(FORM).await;
    assert!(!form.contains("tài khoản định danh điện tử"));
    let code = file(&app, &[]).await;
    assert!(!code.is_empty());
}

#[tokio::test]
async fn an_unreachable_provider_is_explained_and_filing_without_sign_in_still_works() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = TestApp::builder()
        .oidc(
            crate::oidc::ClientSettings {
                mode: LoginMode::Optional,
                issuer: format!("http://127.0.0.1:{port}"),
                client_id: crate::oidc::CLIENT_ID.into(),
                client_secret: crate::oidc::CLIENT_SECRET.into(),
            },
            listener,
        )
        .spawn()
        .await;
    let (status, body) = app.get_text("/dang-nhap").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("không kết nối được với hệ thống định danh"),
        "{body}"
    );
    let code = file(&app, &[]).await;
    assert!(
        !code.is_empty(),
        "the kiosk path works while the provider is down"
    );
}
