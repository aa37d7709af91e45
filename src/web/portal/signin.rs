//! Citizen sign-in with OpenID Connect ([`crate::oidc`]): `/dang-nhap` starts it (remembering
//! where the citizen was going: a local path only), `/dang-nhap/xac-thuc` is the provider's
//! callback, `/dang-xuat` ends our session and, when the provider supports it, the provider's
//! (RP-initiated logout).
//!
//! The state, nonce and PKCE verifier stay server-side, bound to the browser session that
//! started the sign-in, and are taken once. At sign-in the session rotates: a new cookie and a
//! new CSRF token. A citizen session is never an official's (separate rows, separate checks).

use crate::config::LoginMode;
use crate::error::{AppError, AppResult};
use crate::oidc::Oidc;
use crate::store::citizens::{self, Citizen, PendingLogin};
use crate::store::sessions::{Session, SessionData};
use crate::web::AppState;
use crate::web::extract::{CitizenPost, LenientQuery, Peer};
use crate::web::rate_limit::Action as Limit;
use crate::web::security::{self, no_store, with_cookie};
use crate::web::templates::render_status;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use std::sync::Arc;

/// How long the citizen has at the provider before the sign-in must start again.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// Where a citizen goes after signing in when they came from nowhere in particular.
pub const HOME: &str = "/ho-so-cua-toi";

/// The path of the callback at the provider.
pub const CALLBACK: &str = "/dang-nhap/xac-thuc";

/// A path of this portal to come back to: starts with one `/` (never `//` or `/\`, which
/// browsers read as another host), no control characters, not the sign-in pages themselves.
pub fn local_path(s: &str) -> Option<String> {
    let ok = s.starts_with('/')
        && !s.starts_with("//")
        && !s.starts_with("/\\")
        && s.len() <= 300
        && !s.chars().any(|c| c.is_control() || c == '\\')
        && !s.starts_with("/dang-nhap")
        && !s.starts_with("/dang-xuat");
    ok.then(|| s.to_string())
}

/// The sign-in path that comes back to `to`.
pub fn sign_in_link(to: &str) -> String {
    format!(
        "/dang-nhap?tiep={}",
        crate::web::portal::submit::urlencode(to)
    )
}

fn oidc(state: &AppState) -> AppResult<&Arc<Oidc>> {
    state.oidc.as_ref().ok_or_else(|| {
        AppError::NotFound(
            "Cổng này chưa bật đăng nhập bằng tài khoản định danh điện tử. Ông/Bà vẫn nộp hồ sơ và tra cứu hồ sơ được mà không cần đăng nhập."
                .into(),
        )
    })
}

/// The signed-in citizen of this request, with their session.
pub async fn citizen(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<Option<(Session, Citizen)>> {
    if state.oidc.is_none() {
        return Ok(None);
    }
    let Some(session) = security::session(state, headers).await? else {
        return Ok(None);
    };
    citizen_of(state, session).await
}

/// The citizen of a session already read, if it is a signed-in one.
pub async fn citizen_of(
    state: &AppState,
    session: Session,
) -> AppResult<Option<(Session, Citizen)>> {
    let Some(id) = session.citizen_id.filter(|_| state.oidc.is_some()) else {
        return Ok(None);
    };
    Ok(citizens::get(&state.db, id).await?.map(|c| (session, c)))
}

#[derive(Debug, Deserialize, Default)]
pub struct StartParams {
    pub tiep: Option<String>,
}

/// `/dang-nhap`: sends the browser to the provider.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(peer): Peer,
    LenientQuery(params): LenientQuery<StartParams>,
) -> AppResult<Response> {
    let oidc = oidc(&state)?.clone();
    let ip = security::client_ip(&state, &headers, peer);
    if let Err(retry) = state
        .limiter
        .hit(
            Limit::SignIn,
            ip,
            state.config.rate_lookup_per_minute,
            60_000,
            state.clock.now_ms(),
        )
        .await
    {
        return Err(AppError::TooManyRequests {
            message: "Có quá nhiều lượt đăng nhập từ địa chỉ mạng này. Ông/Bà hãy chờ một lát rồi thử lại.".into(),
            retry_after_secs: retry,
        });
    }
    let return_to = params
        .tiep
        .as_deref()
        .and_then(local_path)
        .unwrap_or_else(|| HOME.to_string());
    let (session, cookie) = security::ensure_session_lazy(&state, &headers).await?;
    let callback = format!("{}{CALLBACK}", state.config.base_url());
    let started = oidc.start(&callback).await.map_err(|e| {
        tracing::warn!(error = %e, "sign-in could not start");
        AppError::ServiceUnavailable(e.message())
    })?;
    citizens::save_login(
        &state.light,
        &security::sha256_hex(&started.state),
        &PendingLogin {
            session_hash: session.id_hash.clone(),
            nonce: started.nonce,
            pkce_verifier: started.pkce_verifier,
            return_to,
        },
        state.clock.now_ms() + LOGIN_TTL_MS,
    )
    .await?;
    let mut resp = Redirect::to(&started.url).into_response();
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(no_store(with_cookie(resp, cookie)))
}

#[derive(Debug, Deserialize, Default)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of the response, when the provider sends it (mix-up defence).
    pub iss: Option<String>,
}

fn refused(status: StatusCode, message: &str) -> AppResult<Response> {
    Ok(no_store(render_status(
        status,
        "signin_error.html",
        context! { message },
    )?))
}

const WRONG_STATE: &str = "Yêu cầu đăng nhập không hợp lệ hoặc đã hết hạn (mã chống giả mạo “state” không khớp với phiên của trình duyệt này, hoặc đã được dùng). Ông/Bà hãy bấm “Đăng nhập” trên Cổng để đăng nhập lại.";

/// `/dang-nhap/xac-thuc`: the provider sends the browser back here with a code (or an error).
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<CallbackParams>,
) -> AppResult<Response> {
    let oidc = oidc(&state)?.clone();
    let now = state.clock.now_ms();
    let Some(given_state) = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 200)
    else {
        return refused(StatusCode::BAD_REQUEST, WRONG_STATE);
    };
    let Some(session) = security::session_or_unwritten(&state, &headers).await? else {
        return refused(StatusCode::BAD_REQUEST, WRONG_STATE);
    };
    // Taken whatever happens next: a state is used once.
    let pending =
        citizens::take_login(&state.light, &security::sha256_hex(given_state), now).await?;
    let Some(pending) = pending.filter(|p| security::ct_eq(&p.session_hash, &session.id_hash))
    else {
        tracing::warn!("sign-in callback with an unknown, used, expired or foreign state");
        return refused(StatusCode::BAD_REQUEST, WRONG_STATE);
    };
    if let Some(iss) = params.iss.as_deref()
        && iss.trim_end_matches('/') != oidc.settings().issuer.trim_end_matches('/')
    {
        tracing::warn!("sign-in callback from another issuer");
        return refused(
            StatusCode::BAD_REQUEST,
            &crate::oidc::OidcError::Invalid("iss".into()).message(),
        );
    }
    if let Some(error) = params.error.as_deref() {
        let e = crate::oidc::OidcError::Refused {
            error: error.chars().take(100).collect(),
            description: params
                .error_description
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect(),
        };
        tracing::info!(error = %e, "the identity provider refused the sign-in");
        return refused(StatusCode::BAD_REQUEST, &e.message());
    }
    let Some(code) = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2000)
    else {
        return refused(StatusCode::BAD_REQUEST, WRONG_STATE);
    };
    let callback = format!("{}{CALLBACK}", state.config.base_url());
    let identity = match oidc
        .finish(&callback, code, &pending.pkce_verifier, &pending.nonce)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in refused");
            let status = match e {
                crate::oidc::OidcError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            return refused(status, &e.message());
        }
    };
    let citizen_id = citizens::upsert(&state.db, &identity, now).await?;
    // Session rotation: a new cookie and CSRF token; the old session (and its row) ends.
    let raw = security::signed_token_at(&state, now);
    let new_hash = security::sha256_hex(&raw);
    let csrf = security::csrf_token_for(&state, &raw);
    let data = SessionData {
        submitted: session.data.submitted.clone(),
        id_token_hint: Some(identity.id_token.clone()),
    };
    citizens::sign_in(
        &state.db,
        &session.id_hash,
        &new_hash,
        &csrf,
        citizen_id,
        &data,
        now,
        now + security::SESSION_IDLE_MS,
    )
    .await?;
    tracing::info!(
        citizen = citizen_id,
        level = identity.level,
        "citizen signed in"
    );
    let resp = Redirect::to(&pending.return_to).into_response();
    Ok(no_store(with_cookie(
        resp,
        Some(security::session_cookie_for(&state, &raw)?),
    )))
}

/// `GET /dang-xuat`: a button (signing out changes state, so it is a POST with a CSRF token).
pub async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let Some((session, c)) = citizen(&state, &headers).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let mut resp = render_status(
        StatusCode::OK,
        "signout.html",
        context! { csrf => session.csrf_token, name => c.full_name },
    )?;
    // The form's answer redirects to the provider's end-session endpoint (RP-initiated logout):
    // browsers apply `form-action` to that redirect, so this page allows the provider's origin.
    if let Some(origin) = oidc(&state)?.end_session_origin().await
        && let Ok(v) = HeaderValue::from_str(&security::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ))
    {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(no_store(resp))
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    pub csrf: Option<String>,
}

/// `POST /dang-xuat`: ends our session, then the provider's when it has an end-session endpoint.
pub async fn logout(
    State(state): State<AppState>,
    citizen: CitizenPost,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    let form = form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy tải lại trang rồi thử lại.".into(),
        )
    })?;
    citizen.check_csrf(form.csrf.as_deref())?;
    let session = citizen.session;
    citizens::end_session(&state.db, &session.id_hash).await?;
    let after = format!("{}/", state.config.base_url());
    let to = match (&state.oidc, session.citizen_id) {
        (Some(oidc), Some(_)) => oidc
            .logout_url(session.data.id_token_hint.as_deref(), &after)
            .await
            .unwrap_or_else(|| "/".into()),
        _ => "/".into(),
    };
    let mut resp = Redirect::to(&to).into_response();
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(no_store(resp))
}

/// Whether filing procedure `p` needs a signed-in citizen (and at which level) under `mode`.
pub fn required_level(mode: LoginMode, p: &dvc_domain::catalog::Procedure) -> Option<i64> {
    match mode {
        LoginMode::Required => Some(if p.identity_level >= 2 { 2 } else { 1 }),
        LoginMode::Off | LoginMode::Optional => None,
    }
}

/// What stands between the citizen and filing `p`: `None` when they may go on; otherwise the
/// response to give (the sign-in, or a page saying level 2 is needed).
pub fn gate(
    state: &AppState,
    p: &dvc_domain::catalog::Procedure,
    citizen: Option<&Citizen>,
) -> AppResult<Option<Response>> {
    let Some(level) = required_level(state.config.login_mode(), p) else {
        return Ok(None);
    };
    match citizen {
        None => Ok(Some(
            Redirect::to(&sign_in_link(&format!("/thu-tuc/{}/nop-ho-so", p.code))).into_response(),
        )),
        Some(c) if c.level < level => Ok(Some(no_store(render_status(
            StatusCode::FORBIDDEN,
            "signin_error.html",
            context! { message => "Thủ tục này yêu cầu tài khoản định danh điện tử mức độ 2. Tài khoản Ông/Bà vừa dùng mới ở mức độ 1: hãy nâng cấp tài khoản lên mức độ 2 (tại cơ quan Công an nơi cư trú hoặc trên ứng dụng định danh) rồi đăng nhập lại." },
        )?))),
        Some(_) => Ok(None),
    }
}
