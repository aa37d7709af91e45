//! Security plumbing: response headers, sessions and their cookie, CSRF, client IP.
//!
//! - Every response carries a CSP (`object-src 'none'`, `frame-ancestors 'none'`), `nosniff`,
//!   `Referrer-Policy`, and HSTS when the portal is served over https.
//! - Sessions are server-side; the cookie holds 256 random bits, the database only their SHA-256.
//!   The cookie is HttpOnly, SameSite=Lax, and `Secure` with the `__Host-` prefix under https.
//! - Every POST needs the session's CSRF token (compared in constant time) and, when the browser
//!   sends one, an `Origin` equal to the portal's own.

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::store::sessions::{self, Draft, Session};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use subtle::ConstantTimeEq;

/// Idle lifetime of a citizen session.
pub const SESSION_IDLE_MS: i64 = 2 * 3600 * 1000;

/// Absolute lifetime of a citizen session, counted from the issue time its cookie carries,
/// whatever the activity and whatever the database holds.
pub const SESSION_ABSOLUTE_MS: i64 = 12 * 3600 * 1000;

pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response<Body> {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    if resp.status().is_client_error() && is_framework_rejection(&resp) {
        resp = rejection_page(resp, is_api);
    }
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(if is_api {
            "default-src 'none'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
        } else {
            CSP
        }));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.config.https() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    resp
}

/// A 4xx made by the framework rather than by a handler (an extractor's rejection: a path that is
/// not UTF-8, a body that is not the expected form, a wrong method): plain text or no body.
fn is_framework_rejection(resp: &Response<Body>) -> bool {
    match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct.as_bytes().starts_with(b"text/plain"),
    }
}

/// Replaces a framework rejection (English text that may describe internals, e.g. the field a
/// deserializer expected) with the portal's own Vietnamese error page, or JSON under `/api/`.
/// The status and the `Allow` / `Retry-After` headers are kept.
fn rejection_page(old: Response<Body>, is_api: bool) -> Response<Body> {
    let status = old.status();
    let (title, message, code) = match status {
        StatusCode::NOT_FOUND => (
            "Không tìm thấy trang",
            "Không tìm thấy trang bạn yêu cầu. Kiểm tra lại địa chỉ hoặc quay về trang chủ.",
            "not_found",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Yêu cầu chưa hợp lệ",
            "Trang này không nhận kiểu yêu cầu vừa gửi. Hãy mở trang từ các đường dẫn trên Cổng.",
            "method_not_allowed",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "Hết thời gian chờ",
            "Yêu cầu mất quá nhiều thời gian nên đã dừng. Hãy kiểm tra kết nối mạng rồi thử lại; những gì bạn đã lưu vẫn còn.",
            "request_timeout",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Tệp quá lớn",
            "Dữ liệu gửi lên quá lớn. Hãy gửi các tệp nhỏ hơn (quét ở độ phân giải thấp hơn hoặc nén PDF).",
            "payload_too_large",
        ),
        _ => (
            "Yêu cầu chưa hợp lệ",
            "Địa chỉ hoặc dữ liệu gửi lên không đọc được. Hãy kiểm tra lại địa chỉ, hoặc tải lại trang biểu mẫu rồi gửi lại.",
            "bad_request",
        ),
    };
    let mut resp = if is_api {
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        (status, axum::Json(body)).into_response()
    } else {
        let html = super::templates::render_error(title, message, status.as_u16());
        (status, axum::response::Html(html)).into_response()
    };
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = old.headers().get(&name) {
            resp.headers_mut().insert(name, v.clone());
        }
    }
    resp
}

pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    let html = super::templates::render_error(
        "Hệ thống đang gặp sự cố",
        "Hệ thống đang gặp sự cố, dữ liệu bạn đã lưu không bị mất. Vui lòng thử lại sau ít phút.",
        500,
    );
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The client's IP: the socket peer, or the last `X-Forwarded-For` hop behind a trusted proxy.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    if state.config.trust_proxy
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.map(|c| c.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The address a client is counted under for every limit: an IPv4 address as is (an
/// IPv4-mapped IPv6 address as its IPv4 address), an IPv6 address grouped by its /64 (one
/// subscriber's network: its holder can use any of its 2^64 addresses).
pub fn client_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.https() {
        "__Host-dvc_session"
    } else {
        "dvc_session"
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session cookie the request carries, if it can be one of ours.
fn cookie_raw<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie_value(headers, cookie_name(state)).filter(|raw| raw.len() <= 100)
}

type HmacSha256 = hmac::Hmac<sha2_11::Sha256>;

fn mac(key: &[u8], label: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    // HMAC accepts keys of any length: this cannot fail.
    let mut m = match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(label);
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

const SIGNED_RANDOM: usize = 32;
const SIGNED_ISSUED: usize = 8;
const SIGNED_MAC: usize = 16;
/// Length of a citizen cookie of the earlier format (random bytes and MAC, no issue time).
const UNDATED_LEN: usize = SIGNED_RANDOM + SIGNED_MAC;

/// A new session cookie value, issued at `issued_ms`, that the portal can later recognise as its
/// own without a database row: 32 random bytes, the issue time (milliseconds, big-endian) and a
/// 16-byte HMAC of both, base64url. (The black-box tests also use it to stand for an old cookie.)
pub fn signed_token_at(state: &AppState, issued_ms: i64) -> String {
    let mut buf = vec![0u8; SIGNED_RANDOM];
    rand::rng().fill_bytes(&mut buf);
    buf.extend_from_slice(&issued_ms.to_be_bytes());
    let tag = mac(&state.session_key, b"session:", &buf);
    buf.extend_from_slice(&tag[..SIGNED_MAC.min(tag.len())]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// What the cookie value says about itself.
enum Cookie {
    /// Issued by [`signed_token_at`] at this time (milliseconds).
    Signed(i64),
    /// A citizen cookie of the earlier, undated format: no longer accepted.
    Undated,
    /// Anything else (a back-office session's random token, or garbage): only a row decides.
    Other,
}

fn parse_cookie(state: &AppState, raw: &str) -> Cookie {
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw) else {
        return Cookie::Other;
    };
    if bytes.len() == UNDATED_LEN {
        return Cookie::Undated;
    }
    if bytes.len() != SIGNED_RANDOM + SIGNED_ISSUED + SIGNED_MAC {
        return Cookie::Other;
    }
    let (signed, tag) = bytes.split_at(SIGNED_RANDOM + SIGNED_ISSUED);
    let expected = mac(&state.session_key, b"session:", signed);
    if expected.len() < SIGNED_MAC || !bool::from(expected[..SIGNED_MAC].ct_eq(tag)) {
        return Cookie::Other;
    }
    let mut issued = [0u8; SIGNED_ISSUED];
    issued.copy_from_slice(&signed[SIGNED_RANDOM..]);
    Cookie::Signed(i64::from_be_bytes(issued))
}

/// How far the cookie itself lets a session live, before any row is looked at.
enum Standing {
    /// Refused whatever the database holds (past its absolute lifetime, forged, or undated).
    Refused,
    /// A signed cookie: a missing row means a session not written yet while it is within its idle
    /// lifetime from issue (no use of it can have been recorded later); after that, one whose
    /// row is gone (expired and cleaned up), so refused.
    Signed { issued: i64 },
    /// Not a citizen cookie: the row alone decides.
    RowOnly,
}

fn standing(state: &AppState, raw: &str, now: i64) -> Standing {
    match parse_cookie(state, raw) {
        Cookie::Signed(issued) if issued <= now + 60_000 && now < issued + SESSION_ABSOLUTE_MS => {
            Standing::Signed { issued }
        }
        Cookie::Signed(_) | Cookie::Undated => Standing::Refused,
        Cookie::Other => Standing::RowOnly,
    }
}

/// True when a signed cookie without a row stands for a session not written yet.
fn unwritten_allowed(issued: i64, now: i64) -> bool {
    now < issued + SESSION_IDLE_MS
}

/// The CSRF token of the session whose cookie is `raw`: an HMAC of it under the portal's key, so
/// that a page can carry it before the session is written.
fn csrf_for(state: &AppState, raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(
        &state.session_key,
        b"csrf:",
        raw.as_bytes(),
    ))
}

/// A session the portal issued a cookie for (at `issued`) and has not written yet.
fn unwritten(state: &AppState, raw: &str, issued: i64) -> Session {
    let now = state.clock.now_ms();
    Session {
        id_hash: sha256_hex(raw),
        csrf_token: csrf_for(state, raw),
        data: Default::default(),
        expires_at: (now + SESSION_IDLE_MS).min(issued + SESSION_ABSOLUTE_MS),
        stored: false,
        citizen_id: None,
    }
}

/// The CSRF token of a session issued with cookie value `raw` (a rotated session at sign-in).
pub fn csrf_token_for(state: &AppState, raw: &str) -> String {
    csrf_for(state, raw)
}

/// The `Set-Cookie` value of a session cookie `raw` (see [`signed_token_at`]).
pub fn session_cookie_for(state: &AppState, raw: &str) -> AppResult<HeaderValue> {
    session_cookie(state, raw)
}

fn session_cookie(state: &AppState, raw: &str) -> AppResult<HeaderValue> {
    let secure = if state.config.https() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={raw}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(state)
    );
    HeaderValue::from_str(&cookie).map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))
}

/// Slides the expiry of a live session forward, at most once a minute.
async fn slide(state: &AppState, s: &Session, now: i64) -> AppResult<()> {
    if s.expires_at - now < SESSION_IDLE_MS - 60_000 {
        sessions::touch(&state.light, &s.id_hash, now, now + SESSION_IDLE_MS).await?;
    }
    Ok(())
}

/// The current session, if the request carries a live one (written in the database).
pub async fn session(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Session>> {
    let Some(raw) = cookie_raw(state, headers) else {
        return Ok(None);
    };
    let hash = sha256_hex(raw);
    let now = state.clock.now_ms();
    if let Standing::Refused = standing(state, raw, now) {
        return Ok(None);
    }
    let found = sessions::find(&state.db, &hash, now).await?;
    if let Some(s) = &found {
        slide(state, s, now).await?;
    }
    Ok(found)
}

/// The current session and its draft of `procedure`, read together. A cookie the portal issued
/// whose session was never written (the visitor only opened a form) gives that session, not
/// written yet ([`Session::stored`] false) and without a draft; an expired session gives `None`.
pub async fn session_with_draft(
    state: &AppState,
    headers: &HeaderMap,
    procedure: &str,
) -> AppResult<Option<(Session, Option<Draft>)>> {
    let Some(raw) = cookie_raw(state, headers) else {
        return Ok(None);
    };
    let now = state.clock.now_ms();
    let standing = standing(state, raw, now);
    if let Standing::Refused = standing {
        return Ok(None);
    }
    match sessions::find_with_draft(&state.db, &sha256_hex(raw), procedure).await? {
        Some((s, d)) if s.expires_at > now => {
            slide(state, &s, now).await?;
            Ok(Some((s, d)))
        }
        Some(_) => Ok(None),
        None => match standing {
            Standing::Signed { issued } if unwritten_allowed(issued, now) => {
                Ok(Some((unwritten(state, raw, issued), None)))
            }
            _ => Ok(None),
        },
    }
}

/// The current session, written or not yet written (see [`session_with_draft`]), without a draft.
pub async fn session_or_unwritten(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<Option<Session>> {
    if let Some(s) = session(state, headers).await? {
        return Ok(Some(s));
    }
    let Some(raw) = cookie_raw(state, headers) else {
        return Ok(None);
    };
    let now = state.clock.now_ms();
    match standing(state, raw, now) {
        Standing::Signed { issued }
            if unwritten_allowed(issued, now)
                && !sessions::exists(&state.db, &sha256_hex(raw)).await? =>
        {
            Ok(Some(unwritten(state, raw, issued)))
        }
        _ => Ok(None),
    }
}

/// The current session (written or not), or a new one not written yet with the `Set-Cookie`
/// header to send: a page that only shows a form costs no database write.
pub async fn ensure_session_lazy(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<(Session, Option<HeaderValue>)> {
    if let Some(s) = session_or_unwritten(state, headers).await? {
        return Ok((s, None));
    }
    let now = state.clock.now_ms();
    let raw = signed_token_at(state, now);
    Ok((
        unwritten(state, &raw, now),
        Some(session_cookie(state, &raw)?),
    ))
}

/// The current session and the dossier `code` (if it exists), read together.
pub async fn session_with_filed(
    state: &AppState,
    headers: &HeaderMap,
    code: &str,
) -> AppResult<Option<(Session, Option<sessions::Filed>)>> {
    let Some(raw) = cookie_raw(state, headers) else {
        return Ok(None);
    };
    let hash = sha256_hex(raw);
    let now = state.clock.now_ms();
    if let Standing::Refused = standing(state, raw, now) {
        return Ok(None);
    }
    let found = sessions::find_with_filed(&state.db, &hash, now, code).await?;
    if let Some((s, _)) = &found {
        slide(state, s, now).await?;
    }
    Ok(found)
}

/// The current session, or a new one with the `Set-Cookie` header to send.
pub async fn ensure_session(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<(Session, Option<HeaderValue>)> {
    if let Some(s) = session(state, headers).await? {
        return Ok((s, None));
    }
    new_session(state).await
}

/// The current session with its draft of `procedure` (empty for a new session), or a new one
/// with the `Set-Cookie` header to send.
pub async fn ensure_session_with_draft(
    state: &AppState,
    headers: &HeaderMap,
    procedure: &str,
) -> AppResult<(Session, Draft, Option<HeaderValue>)> {
    if let Some((s, d)) = session_with_draft(state, headers, procedure).await? {
        return Ok((s, d.unwrap_or_default(), None));
    }
    // Not written: opening a form costs no database write (the first draft writes the session).
    let now = state.clock.now_ms();
    let raw = signed_token_at(state, now);
    Ok((
        unwritten(state, &raw, now),
        Draft::default(),
        Some(session_cookie(state, &raw)?),
    ))
}

async fn new_session(state: &AppState) -> AppResult<(Session, Option<HeaderValue>)> {
    let now = state.clock.now_ms();
    let raw = signed_token_at(state, now);
    let mut session = unwritten(state, &raw, now);
    sessions::create(
        &state.light,
        &session.id_hash,
        &session.csrf_token,
        now,
        session.expires_at,
    )
    .await?;
    session.stored = true;
    Ok((session, Some(session_cookie(state, &raw)?)))
}

const CSRF_MESSAGE: &str = "Phiên làm việc đã hết hạn hoặc yêu cầu không xuất phát từ trang của Cổng. Hãy tải lại trang biểu mẫu rồi gửi lại; những gì bạn đã lưu vẫn còn.";

/// Refuses cross-site POSTs: `Origin` (when sent) must be the portal's own origin, and
/// `Sec-Fetch-Site` (when sent) must not be `cross-site`.
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let base = state.config.base_url();
        let host_origin = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                format!(
                    "{}://{h}",
                    if state.config.https() {
                        "https"
                    } else {
                        "http"
                    }
                )
            });
        let ok = origin == base || host_origin.as_deref() == Some(origin);
        if !ok {
            return Err(AppError::Forbidden(CSRF_MESSAGE.into()));
        }
    }
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(AppError::Forbidden(CSRF_MESSAGE.into()));
    }
    Ok(())
}

/// Compares two secrets (tokens, codes) in constant time.
pub fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Compares the submitted CSRF token with the session's, in constant time.
pub fn check_csrf(session: Option<&Session>, submitted: Option<&str>) -> AppResult<()> {
    match (session, submitted) {
        (Some(s), Some(t)) if !t.is_empty() && ct_eq(t, &s.csrf_token) => Ok(()),
        _ => Err(AppError::Forbidden(CSRF_MESSAGE.into())),
    }
}

/// Adds a `Set-Cookie` header when a session was just created.
pub fn with_cookie(
    mut resp: axum::response::Response,
    cookie: Option<HeaderValue>,
) -> axum::response::Response {
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Marks a response as private and never cached (pages with personal data or forms).
pub fn no_store(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
