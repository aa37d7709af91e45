//! `/can-bo/dang-nhap`: Argon2id passwords, a new session at login (the pre-login one is
//! discarded), throttling after repeated failures, and the same answer for an unknown account
//! and a wrong password.

use crate::error::{AppError, AppResult};
use crate::store::{audit, login_throttle, staff};
use crate::web::AppState;
use crate::web::extract::Peer;
use crate::web::security::{
    self, SESSION_IDLE_MS, check_origin, cookie_name, no_store, sha256_hex,
};
use crate::web::templates::render_status;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::audit::Entry;
use minijinja::context;
use serde::Deserialize;

/// Failures allowed per (account, client address) before the delays start.
pub const FREE_FAILURES: i64 = 5;
/// Failures allowed per client address across accounts in [`WINDOW_MS`].
pub const MAX_FAILURES_IP: i64 = 30;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures of an (account, address) pair are forgotten a day after the last one.
pub const FORGET_MS: i64 = 24 * 3600 * 1000;

/// The wait after `failures` failures of one account from one client address: none for the
/// first [`FREE_FAILURES`], then 1 minute, doubling with each failure up to 15 minutes. Only
/// that address waits: an attacker elsewhere never locks the real official out.
pub fn delay_ms(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(10) as u32;
    (60_000i64 << doublings).min(WINDOW_MS)
}

fn page(csrf: &str, email: &str, error: Option<&str>, status: StatusCode) -> AppResult<Response> {
    Ok(no_store(render_status(
        status,
        "staff_login.html",
        context! { csrf, email, error },
    )?))
}

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    // Nothing is written until a login is attempted.
    let (session, cookie) = security::ensure_session_lazy(&state, &headers).await?;
    Ok(security::with_cookie(
        page(&session.csrf_token, "", None, StatusCode::OK)?,
        cookie,
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let session = security::session_or_unwritten(&state, &headers).await?;
    let form = form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest("Dữ liệu đăng nhập không đọc được. Hãy tải lại trang.".into())
    })?;
    security::check_csrf(session.as_ref(), form.csrf.as_deref())?;
    let Some(session) = session else {
        return Err(AppError::Forbidden("Phiên làm việc đã hết hạn.".into()));
    };
    // Control characters (NUL above all) never reach the audit log or a query.
    let email = dvc_domain::text::clean_input(&form.email.unwrap_or_default()).to_lowercase();
    let password = form.password.unwrap_or_default();
    let client = security::client_ip(&state, &headers, peer);
    let ip = client.to_string();
    let group = security::client_group(client);
    let now = state.clock.now_ms();

    let since = now - WINDOW_MS;
    let ip_failures = audit::count_failures(&state.db, &format!("ip:{group}"), since).await?;
    // Failures of this account from this address only.
    let pair = format!("{email} {group}");
    let wait_ms = match login_throttle::get(&state.db, &pair, now - FORGET_MS).await? {
        Some((failures, last)) => (last + delay_ms(failures) - now).max(0),
        None => 0,
    };
    if ip_failures >= MAX_FAILURES_IP || wait_ms > 0 {
        audit::append(
            &state.db,
            &state.audit_key,
            entry(now, &email, &ip, "login_throttled", &email),
        )
        .await?;
        let wait_ms = if ip_failures >= MAX_FAILURES_IP {
            WINDOW_MS
        } else {
            wait_ms
        };
        let minutes = (wait_ms + 59_999) / 60_000;
        return Err(AppError::TooManyRequests {
            message: format!(
                "Đăng nhập sai quá nhiều lần. Hãy chờ {minutes} phút rồi thử lại, hoặc liên hệ quản trị hệ thống để đặt lại mật khẩu."
            ),
            retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1),
        });
    }
    let account = if email.is_empty() {
        None
    } else {
        staff::find_by_email(&state.db, &email).await?
    };
    let stored = account
        .as_ref()
        .filter(|a| a.active == 1)
        .map(|a| a.password_hash.clone());
    let ok = crate::password::verify(password, stored).await;
    let Some(account) = account.filter(|_| ok) else {
        audit::append(
            &state.db,
            &state.audit_key,
            entry(now, &email, &ip, "login_failed", &email),
        )
        .await?;
        audit::append(
            &state.db,
            &state.audit_key,
            entry(now, &email, &ip, "login_failed", &format!("ip:{group}")),
        )
        .await?;
        login_throttle::fail(&state.db, &pair, now, now - FORGET_MS).await?;
        return page(
            &session.csrf_token,
            &email,
            Some("Thư điện tử hoặc mật khẩu không đúng. Kiểm tra lại rồi thử lại."),
            StatusCode::UNAUTHORIZED,
        );
    };
    audit::append(
        &state.db,
        &state.audit_key,
        entry(now, &account.email, &ip, "login", &account.email),
    )
    .await?;
    login_throttle::clear(&state.db, &pair).await?;
    // Session rotation: the pre-login session is deleted and a new one issued.
    staff::delete_session(&state.db, &session.id_hash).await?;
    let raw = security::random_token(32);
    let csrf = security::random_token(32);
    staff::create_session(
        &state.db,
        &sha256_hex(&raw),
        &csrf,
        account.id,
        now,
        now + SESSION_IDLE_MS,
    )
    .await?;
    let secure = if state.config.https() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={raw}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(&state)
    );
    let mut resp = Redirect::to("/can-bo").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

fn entry(at: i64, actor: &str, ip: &str, action: &str, subject: &str) -> Entry {
    Entry {
        seq: 0,
        at,
        actor: actor.chars().take(200).collect(),
        ip: ip.to_string(),
        action: action.into(),
        subject: subject.chars().take(200).collect(),
        from_state: None,
        to_state: None,
        reason: None,
        event_id: None,
        event_hash: None,
    }
}

pub async fn logout(State(state): State<AppState>, form: super::StaffForm) -> AppResult<Response> {
    let ctx = &form.ctx;
    staff::delete_session(&state.db, &ctx.session_hash).await?;
    let ip = form.ip(&state);
    audit::append(
        &state.db,
        &state.audit_key,
        entry(
            state.clock.now_ms(),
            &ctx.staff.email,
            &ip,
            "logout",
            &ctx.staff.email,
        ),
    )
    .await?;
    let mut resp = Redirect::to("/can-bo/dang-nhap").into_response();
    // Browsers ignore a `__Host-` cookie without `Secure`: the expiry must carry it too.
    let secure = if state.config.https() { "; Secure" } else { "" };
    let expire = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        cookie_name(&state)
    );
    if let Ok(v) = HeaderValue::from_str(&expire) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        assert_eq!(delay_ms(0), 0);
        assert_eq!(delay_ms(FREE_FAILURES - 1), 0);
        assert_eq!(delay_ms(FREE_FAILURES), 60_000);
        assert_eq!(delay_ms(FREE_FAILURES + 1), 120_000);
        assert_eq!(delay_ms(FREE_FAILURES + 3), 480_000);
        assert_eq!(delay_ms(FREE_FAILURES + 4), WINDOW_MS);
        assert_eq!(delay_ms(i64::MAX), WINDOW_MS);
    }
}
