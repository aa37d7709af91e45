//! CSRF, headers, cookies, rate limits, error pages.

use crate::helpers::*;

#[tokio::test]
async fn post_without_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let _ = app.open_form(PROC).await;
    let r = app
        .post_declaration(
            PROC,
            form_with("wrong-token", &[], Some((valid_pdf(), "a.pdf"))),
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.expect("body").contains("Phiên làm việc"));
    // No session at all.
    let r = client()
        .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so/gui")))
        .form(&[("submit_token", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    // A foreign Origin, even with the right token.
    let csrf = app.open_form(PROC).await;
    let r = app
        .client
        .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .header("origin", "https://evil.example")
        .multipart(birth_form(&csrf, valid_pdf()))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn each_visitor_gets_their_own_token_on_the_cached_blank_form() {
    let app = TestApp::spawn().await;
    let other = app.shallow_clone();
    // The blank page is rendered once and cached; the token in it is each session's own.
    let mine = app.open_form(PROC).await;
    let theirs = other.open_form(PROC).await;
    assert_ne!(mine, theirs);
    let slot = dichvucong::web::templates::SLOT;
    assert!(!mine.contains(slot) && !theirs.contains(slot));
    // A token works only with its own session.
    let r = app
        .post_declaration(PROC, birth_form(&theirs, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .post_declaration(PROC, birth_form(&mine, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // With answers in the draft, the page is rendered for the visitor (not from the cache).
    let (_, body) = app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(body.contains(&format!("name=\"csrf\" value=\"{mine}\"")));
    assert!(body.contains("Nguyễn Thị Hoa"));
    let (_, body) = other.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(body.contains(&format!("name=\"csrf\" value=\"{theirs}\"")));
    assert!(!body.contains("Nguyễn Thị Hoa"));
}

#[tokio::test]
async fn opening_a_form_writes_no_session_until_the_first_draft() {
    let app = TestApp::spawn().await;
    let sessions = || async {
        let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
            sqlx::query_as("SELECT COUNT(*) FROM sessions").fetch_one(p).await.expect("count")
        });
        n
    };
    // Two tabs of the same browser before anything is saved: one session, one token.
    let first = app.open_form(PROC).await;
    let second = app.open_form(PROC).await;
    assert_eq!(first, second);
    assert_eq!(sessions().await, 0);
    let r = app
        .post_declaration(PROC, birth_form(&first, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(sessions().await, 1);
    // The token stays the same once the session is written.
    assert_eq!(app.open_form(PROC).await, first);

    // A cookie value the portal did not issue is never adopted: a new one is issued.
    let r = client()
        .get(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .header("cookie", "dvc_session=gia-tri-do-ke-tan-cong-chon")
        .send()
        .await
        .expect("get");
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(!set.contains("gia-tri-do-ke-tan-cong-chon"), "{set}");

    // An expired session is not revived: its cookie gets a new session, its old token is refused.
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE sessions SET expires_at = 1").execute(p).await.expect("expire");
    });
    let r = app
        .post_declaration(PROC, birth_form(&first, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = app.get(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(r.headers().contains_key("set-cookie"), "a new session");
}

#[tokio::test]
async fn security_headers_and_cookie_flags() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/thu-tuc",
        "/tra-cuu",
        "/khong-co",
        "/api/v1/procedures",
    ] {
        let r = app.get(path).await;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("object-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        assert!(
            h["content-type"]
                .to_str()
                .expect("ct")
                .contains("charset=utf-8")
                || path.starts_with("/api"),
            "{path}"
        );
        assert!(!h.contains_key("server"));
    }
    let r = client()
        .get(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .send()
        .await
        .expect("get");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn lookup_and_submission_are_rate_limited() {
    let app = TestApp::builder().rate_limits(1, 3).spawn().await;
    // The limits count in fixed windows (a minute for lookups, an hour for submissions): a try
    // that straddles a window boundary proves nothing, so it is repeated from another client
    // address (fresh counters) in the next window.
    let mut attempt = 0u8;
    loop {
        attempt += 1;
        assert!(attempt <= 3, "three tries each straddled a window boundary");
        let visitor = app.at_address(10 + attempt);
        let started = dichvucong::now_ms();
        let mut lookups = Vec::new();
        for _ in 0..4 {
            let r = visitor.get("/tra-cuu?ma=000.00.02.H31-260101-0001").await;
            let status = r.status().as_u16();
            let retry = r.headers().contains_key("retry-after");
            lookups.push((status, retry, r.text().await.expect("body")));
        }
        if window_of(started, 60_000) != window_of(dichvucong::now_ms(), 60_000) {
            continue;
        }
        for (status, _, _) in &lookups[..3] {
            assert_eq!(*status, 404);
        }
        let (status, retry, body) = &lookups[3];
        assert_eq!(*status, 429);
        assert!(*retry);
        assert!(body.contains("quá nhiều lần"));
        break;
    }

    let mut attempt = 0u8;
    loop {
        attempt += 1;
        assert!(attempt <= 3, "three tries each straddled a window boundary");
        let visitor = app.at_address(20 + attempt);
        let started = dichvucong::now_ms();
        let _ = visitor.submit_birth_registration().await;
        let csrf = visitor.open_form(PROC).await;
        assert_eq!(
            visitor
                .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
                .await
                .status()
                .as_u16(),
            303
        );
        let (csrf, token, _, _) = visitor.review(PROC).await;
        let r = visitor
            .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
            .await;
        if window_of(started, 3_600_000) != window_of(dichvucong::now_ms(), 3_600_000) {
            continue;
        }
        assert_eq!(r.status().as_u16(), 429);
        assert!(r.headers().contains_key("retry-after"));
        break;
    }
}

#[tokio::test]
async fn bad_input_in_urls_gives_clear_errors_without_internals() {
    let app = TestApp::spawn().await;
    let (s, body) = app.get_text("/tra-cuu?ma=%3Cscript%3E").await;
    assert_eq!(s, 400);
    assert!(body.contains("Mã hồ sơ có dạng") && !body.contains("<script>"));
    let (s, body) = app
        .get_text("/ho-so/xem/not-a-real-token-at-all-xxxxxxxxx")
        .await;
    assert_eq!(s, 404);
    assert!(body.contains("Đường dẫn theo dõi hồ sơ không đúng"));
    let (s, body) = app.get_text("/thu-tuc/%FF%FE").await;
    assert!(s == 404 || s == 400, "{s}");
    assert!(!body.to_lowercase().contains("sqlx") && !body.contains("panicked"));
    let (s, _) = app.get_text("/healthz").await;
    assert_eq!(s, 200);
    let (s, _) = app.get_text("/.git/HEAD").await;
    assert_eq!(s, 404);
}
