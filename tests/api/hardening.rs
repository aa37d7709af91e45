//! Issue 16 hardening: citizen sessions bounded by the issue time their cookie carries, drafts
//! deleted with their session, a staff login page that writes nothing.

use crate::helpers::*;
use dichvucong::store::sessions;
use dichvucong::web::security;

const HOUR: i64 = 3600 * 1000;

/// A browser without a cookie jar: the cookie is set by hand.
fn bare_client() -> reqwest::Client {
    dichvucong::files::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn count(app: &TestApp, sql: &'static str, hash: &str) -> i64 {
    let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sql).bind(hash).fetch_one(p).await.expect("count")
    });
    n
}

/// A cookie the portal issued `age_ms` ago, with a live session row last used an hour ago.
async fn old_session(app: &TestApp, age_ms: i64) -> (String, String) {
    let now = dichvucong::now_ms();
    let cookie = security::signed_token_at(&app.state, now - age_ms);
    let csrf = "csrf-cua-phien-cu-0123456789".to_string();
    sessions::create(
        &app.state.db,
        &security::sha256_hex(&cookie),
        &csrf,
        now - HOUR,
        now + HOUR,
    )
    .await
    .expect("session row");
    (cookie, csrf)
}

async fn get_form(c: &reqwest::Client, app: &TestApp, cookie: &str) -> (bool, String) {
    let r = c
        .get(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .header("cookie", format!("dvc_session={cookie}"))
        .send()
        .await
        .expect("GET form");
    let new_cookie = r.headers().contains_key("set-cookie");
    (new_cookie, r.text().await.expect("body"))
}

#[tokio::test]
async fn a_cookie_revived_after_clean_up_is_refused_and_its_draft_is_gone() {
    let app = TestApp::spawn().await;
    let c = bare_client();
    // A citizen's session, opened three hours ago and used an hour ago, with a saved draft.
    let (cookie, csrf) = old_session(&app, 3 * HOUR).await;
    let hash = security::sha256_hex(&cookie);
    let r = c
        .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .header("cookie", format!("dvc_session={cookie}"))
        .multipart(birth_form(&csrf, valid_pdf()))
        .send()
        .await
        .expect("save");
    assert_eq!(r.status().as_u16(), 303);
    let (new_cookie, page) = get_form(&c, &app, &cookie).await;
    assert!(
        !new_cookie && page.contains("Trần Minh An"),
        "the draft is there"
    );

    // Two hours without use: the session expires, and the clean-up runs.
    let now = dichvucong::now_ms();
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
            .bind(now - 1).bind(&hash).execute(p).await.expect("expire");
    });
    sessions::purge_expired(&app.state.db, now, now - 7 * 24 * HOUR)
        .await
        .expect("purge");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM drafts WHERE session_hash = $1",
            &hash
        )
        .await,
        0,
        "the draft went with its session"
    );

    // The old cookie comes back: it is not taken for a session, and nothing of the draft returns.
    let (new_cookie, page) = get_form(&c, &app, &cookie).await;
    assert!(new_cookie, "a new session is issued");
    assert!(!page.contains("Trần Minh An"));
    let r = c
        .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .header("cookie", format!("dvc_session={cookie}"))
        .multipart(form_with(
            &csrf,
            &[("tre_ho_ten", Some("Người khác"))],
            None,
        ))
        .send()
        .await
        .expect("save with the old cookie");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM sessions WHERE id_hash = $1",
            &hash
        )
        .await,
        0,
        "the old session is not written again"
    );
}

#[tokio::test]
async fn a_session_past_its_absolute_lifetime_is_refused_whatever_its_row_says() {
    let app = TestApp::spawn().await;
    let c = bare_client();
    // Used an hour ago, so live by its row, but issued 13 hours ago.
    let (cookie, _) = old_session(&app, 13 * HOUR).await;
    let (new_cookie, _) = get_form(&c, &app, &cookie).await;
    assert!(new_cookie, "refused: a new session is issued");
    // The same row with a cookie issued 11 hours ago is still the citizen's session.
    let (cookie, _) = old_session(&app, 11 * HOUR).await;
    let (new_cookie, _) = get_form(&c, &app, &cookie).await;
    assert!(!new_cookie, "still live");
}

#[tokio::test]
async fn the_staff_login_page_writes_nothing_until_a_login_is_tried() {
    let app = TestApp::spawn().await;
    let sessions_now = || async {
        let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
            sqlx::query_as("SELECT COUNT(*) FROM sessions").fetch_one(p).await.expect("count")
        });
        n
    };
    let before = sessions_now().await;
    for _ in 0..5 {
        let r = client()
            .get(app.url("/can-bo/dang-nhap"))
            .send()
            .await
            .expect("GET login");
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers().contains_key("set-cookie"));
    }
    assert_eq!(sessions_now().await, before, "no row for a page view");
}
