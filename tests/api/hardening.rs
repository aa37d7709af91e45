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
    sessions::purge_expired(
        &app.state.db,
        now,
        now - 7 * 24 * HOUR,
        now - 30 * 24 * HOUR,
    )
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

const PASSWORD: &str = "mật khẩu đủ dài 123";

/// Logs in from the local address `from`; returns the status.
async fn login_from(app: &TestApp, from: std::net::Ipv4Addr, email: &str, password: &str) -> u16 {
    let c = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(from))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let body = c
        .get(app.url("/can-bo/dang-nhap"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let csrf = extract(&body, "name=\"csrf\" value=\"").expect("csrf");
    c.post(app.url("/can-bo/dang-nhap"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn failures_from_elsewhere_do_not_lock_the_official_out() {
    let app = TestApp::spawn().await;
    app.create_staff(
        "motcua@hongbang.gov.vn",
        "Một Cửa",
        dvc_domain::staff::Role::Reception,
        AGENCY,
    )
    .await;
    let attacker = std::net::Ipv4Addr::new(127, 0, 6, 1);
    let official = std::net::Ipv4Addr::new(127, 0, 6, 2);
    for i in 0..5 {
        let s = login_from(&app, attacker, "motcua@hongbang.gov.vn", "đoán mò {i}").await;
        assert_eq!(s, 401, "attempt {i}");
    }
    // The attacker's address now waits, even with the right password…
    for _ in 0..3 {
        let s = login_from(&app, attacker, "motcua@hongbang.gov.vn", "đoán tiếp").await;
        assert_eq!(s, 429);
    }
    assert_eq!(
        login_from(&app, attacker, "motcua@hongbang.gov.vn", PASSWORD).await,
        429
    );
    // …but the official, at their own desk, logs in.
    assert_eq!(
        login_from(&app, official, "motcua@hongbang.gov.vn", PASSWORD).await,
        303
    );
}

#[tokio::test]
async fn e_mail_addresses_are_compared_whatever_their_case() {
    let app = TestApp::spawn().await;
    app.create_staff(
        "Lan.Nguyen@HongBang.gov.vn",
        "Nguyễn Thị Lan",
        dvc_domain::staff::Role::Leader,
        AGENCY,
    )
    .await;
    let from = std::net::Ipv4Addr::new(127, 0, 7, 1);
    for email in [
        "lan.nguyen@hongbang.gov.vn",
        "LAN.NGUYEN@HONGBANG.GOV.VN",
        "Lan.Nguyen@HongBang.gov.vn",
    ] {
        assert_eq!(
            login_from(&app, from, email, PASSWORD).await,
            303,
            "{email}"
        );
    }
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64_bit_prefix() {
    let app = TestApp::builder()
        .rate_limits(1000, 3)
        .trust_proxy(true)
        .spawn()
        .await;
    let lookup = |from: &'static str| {
        app.client
            .get(app.url("/tra-cuu?ma=000.00.02.H31-260101-0001"))
            .header("x-forwarded-for", from)
            .send()
    };
    // Three addresses of one /64 share one limit…
    for from in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
    ] {
        assert_eq!(
            lookup(from).await.expect("get").status().as_u16(),
            404,
            "{from}"
        );
    }
    let r = lookup("2001:db8:1:2:ffff::9").await.expect("get");
    assert_eq!(r.status().as_u16(), 429, "a fourth address of the same /64");
    // …another /64 has its own, and so has an IPv4 client.
    assert_eq!(
        lookup("2001:db8:1:3::1")
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        lookup("203.0.113.7").await.expect("get").status().as_u16(),
        404
    );
}
