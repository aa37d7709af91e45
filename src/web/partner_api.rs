//! The partner API: OAuth2 client credentials (`POST /api/v1/oauth/token`, RFC 6749 §4.4),
//! filing (`POST /api/v1/dossiers`), reading (`GET /api/v1/dossiers/{code}`), the change feed
//! (`GET /api/v1/events`) and webhooks (`POST /api/v1/webhooks`).
//!
//! Every call but the token's carries a bearer token ([`PartnerCtx`]): refused with 401 when it
//! is missing, unknown, expired or its partner revoked; limited per partner
//! (`DVC_RATE_API_PER_MINUTE`); written to the audit trail; and confined to the partner's agency
//! and its sub-units (403 outside). Errors are RFC 9457 problem details in Vietnamese
//! (`application/problem+json`); the token endpoint answers RFC 6749 §5.2 errors.

use super::AppState;
use super::extract::Peer;
use super::portal::declaration::AGENCY_FIELD;
use super::rate_limit::Action as Limit;
use super::security::{client_ip, ct_eq, random_token, sha256_hex};
use crate::integrations::{EventItem, check_destination};
use crate::store::audit;
use crate::store::dossiers::{self, NewAttachment, NewDossier, NewMail};
use crate::store::partners;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use dvc_domain::audit::Entry;
use dvc_domain::form::{FieldError, FieldKind, FileKind, RawAnswers};
use dvc_domain::integration::{Scope, format_scopes, parse_scopes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use utoipa::ToSchema;

/// Largest JSON filing (attachments in base64): larger files go as multipart parts.
pub const MAX_JSON_BODY: usize = 10 * 1024 * 1024;

/// Token requests allowed per client address per minute (each costs an Argon2id verification).
const TOKEN_REQUESTS_PER_MINUTE: u32 = 30;

// ---------------------------------------------------------------------------------------------
// Problem details (RFC 9457)

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    /// The field's name (as in `GET /api/v1/procedures/{code}` → `form.fields[].name`).
    pub field: String,
    /// What is wrong and how to fix it, in Vietnamese (the same text as on the web form).
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemCode {
    pub code: String,
    pub message: String,
}

/// An error as RFC 9457 problem details, with one entry per invalid field when the request was
/// checked field by field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Hồ sơ chưa hợp lệ", "status": 422,
    "detail": "Hồ sơ có 1 mục chưa hợp lệ.",
    "error": {"code": "validation", "message": "Hồ sơ có 1 mục chưa hợp lệ."},
    "errors": [{"field": "applicant_id_number", "message": "Số định danh cá nhân gồm đúng 12 chữ số."}]
}))]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub error: ProblemCode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    problem_with(status, code, detail.into(), vec![])
}

fn problem_with(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Vec<FieldProblem>,
) -> Response {
    let title = match status {
        StatusCode::UNAUTHORIZED => "Chưa xác thực",
        StatusCode::FORBIDDEN => "Không có quyền",
        StatusCode::NOT_FOUND => "Không tìm thấy",
        StatusCode::GONE => "Đường dẫn đã hết hạn",
        StatusCode::CONFLICT => "Xung đột dữ liệu",
        StatusCode::UNPROCESSABLE_ENTITY => "Hồ sơ chưa hợp lệ",
        StatusCode::TOO_MANY_REQUESTS => "Quá nhiều yêu cầu",
        StatusCode::PAYLOAD_TOO_LARGE => "Dữ liệu quá lớn",
        StatusCode::SERVICE_UNAVAILABLE => "Hệ thống đang bận",
        StatusCode::INTERNAL_SERVER_ERROR => "Hệ thống đang gặp sự cố",
        _ => "Yêu cầu không hợp lệ",
    };
    let body = ProblemDetails {
        type_: "about:blank".into(),
        title: title.into(),
        status: status.as_u16(),
        detail: detail.clone(),
        error: ProblemCode {
            code: code.into(),
            message: detail,
        },
        errors,
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An [`crate::error::AppError`] as problem details (internal errors logged, shown as a
/// reference only).
fn app_problem(e: crate::error::AppError) -> Response {
    let mut resp = crate::error::ApiError(e).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn internal(e: impl Into<anyhow::Error>) -> Response {
    app_problem(crate::error::AppError::Internal(e.into()))
}

fn unauthorized(error: &str, detail: &str) -> Response {
    let mut resp = problem(StatusCode::UNAUTHORIZED, "unauthorized", detail);
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"dichvucong\", error=\"{error}\""))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn too_many(retry: u64) -> Response {
    let mut resp = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "Hệ thống đối tác đã gửi quá nhiều yêu cầu trong một phút. Hãy chờ theo Retry-After rồi gửi lại.",
    );
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// The partner behind a bearer token

/// The partner making a call, from its bearer token.
pub struct PartnerCtx {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub agency: String,
    /// The token's scopes.
    pub scopes: Vec<Scope>,
    /// The partner's agency and every agency below it.
    pub agencies: Vec<String>,
    pub ip: IpAddr,
}

impl PartnerCtx {
    pub fn require(&self, scope: Scope) -> Result<(), Box<Response>> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            let mut r = problem(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "Mã truy cập không có phạm vi “{}” cần cho thao tác này. Hãy xin cấp phạm vi đó cho hệ thống đối tác rồi lấy mã truy cập mới.",
                    scope.as_str()
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "Bearer realm=\"dichvucong\", error=\"insufficient_scope\", scope=\"{}\"",
                scope.as_str()
            )) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            Err(Box::new(r))
        }
    }

    pub fn check_agency(&self, agency: &str) -> Result<(), Box<Response>> {
        if self.agencies.iter().any(|a| a == agency) {
            Ok(())
        } else {
            tracing::warn!(partner = %self.client_id, agency, "partner call outside its agencies refused (403)");
            Err(Box::new(problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Hồ sơ hoặc cơ quan này không thuộc phạm vi cơ quan của hệ thống đối tác.",
            )))
        }
    }

    fn actor(&self) -> String {
        format!("partner:{}", self.client_id)
    }
}

/// The address a partner's calls are counted under by the rate limiter: one /64 of the IPv6
/// documentation prefix (2001:db8::/32, never a real client) per partner id.
fn partner_bucket(id: i64) -> IpAddr {
    let id = u64::try_from(id).unwrap_or(0);
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001,
        0x0db8,
        ((id >> 16) & 0xffff) as u16,
        (id & 0xffff) as u16,
        0,
        0,
        0,
        0,
    ))
}

/// Appends an entry to the audit trail on the light pool (an API read must not cost a flush to
/// disk; see `store::Db::connect_light`). A failure is logged, never shown.
async fn audit_call(state: &AppState, actor: String, ip: IpAddr, action: &str, subject: String) {
    let entry = Entry {
        seq: 0,
        at: state.clock.now_ms(),
        actor,
        ip: ip.to_string(),
        action: action.into(),
        subject: subject.chars().take(300).collect(),
        from_state: None,
        to_state: None,
        reason: None,
        event_id: None,
        event_hash: None,
    };
    if let Err(e) = audit::append(&state.light, &state.audit_key, entry).await {
        tracing::warn!(error = %e, "partner call not audited");
    }
}

impl FromRequestParts<AppState> for PartnerCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty() && t.len() <= 200);
        let Some(token) = token else {
            return Err(unauthorized(
                "invalid_request",
                "Thiếu mã truy cập: gửi tiêu đề Authorization: Bearer <access_token> lấy từ POST /api/v1/oauth/token.",
            ));
        };
        let now = state.clock.now_ms();
        let found = partners::partner_by_token(&state.db, &sha256_hex(token), now)
            .await
            .map_err(internal)?;
        let Some((p, token_scopes)) = found else {
            return Err(unauthorized(
                "invalid_token",
                "Mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi. Hãy lấy mã truy cập mới tại POST /api/v1/oauth/token.",
            ));
        };
        if let Err(retry) = state
            .limiter
            .hit(
                Limit::Api,
                partner_bucket(p.id),
                state.config.rate_api_per_minute,
                60_000,
                now,
            )
            .await
        {
            return Err(too_many(retry));
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let ip = client_ip(state, &parts.headers, peer);
        let catalog = state.catalog();
        let agencies = match dvc_domain::agency::AgencyCode::parse(&p.agency_code) {
            Ok(code) => dvc_domain::agency::subtree(&catalog.agencies, &code)
                .into_iter()
                .map(|c| c.to_string())
                .collect(),
            Err(_) => vec![],
        };
        let ctx = PartnerCtx {
            id: p.id,
            client_id: p.client_id,
            name: p.name,
            agency: p.agency_code,
            scopes: parse_scopes(&token_scopes).unwrap_or_default(),
            agencies,
            ip,
        };
        // A filing is audited by the handler: a dossier filed has its `api_file` entry in the
        // filing's own statement; any other outcome gets this `api_call` entry there.
        // The path as the partner sent it: under `.nest("/api", …)` `parts.uri` has lost `/api`.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_string(), |u| u.0.path().to_string());
        if !is_filing(&parts.method, &path) {
            let subject = format!("{} {path}", parts.method);
            audit_call(state, ctx.actor(), ip, "api_call", subject).await;
        }
        Ok(ctx)
    }
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/oauth/token

/// A bearer token (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"access_token": "Zk3…", "token_type": "Bearer", "expires_in": 900, "scope": "dossiers:write,dossiers:read"}))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes granted, comma-separated.
    pub scope: String,
}

/// An OAuth2 error (RFC 6749 §5.2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"error": "invalid_client", "error_description": "Mã đối tác hoặc khóa bí mật không đúng."}))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str, basic: bool) -> Response {
    let mut resp = (
        status,
        axum::Json(OAuthError {
            error: error.into(),
            error_description: description.into(),
        }),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(if basic {
                "Basic realm=\"dichvucong\""
            } else {
                "Basic realm=\"dichvucong\", Bearer realm=\"dichvucong\""
            }),
        );
    }
    resp
}

/// The client credentials of a token request: HTTP Basic (RFC 6749 §2.3.1, each part
/// form-urlencoded) or the `client_id` / `client_secret` form fields, never both.
fn client_credentials(
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Result<(String, String, bool), &'static str> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    let in_form = form.contains_key("client_id") || form.contains_key("client_secret");
    match basic {
        Some(b64) => {
            if in_form {
                return Err(
                    "Chỉ dùng một cách xác thực: tiêu đề Authorization: Basic hoặc các trường client_id, client_secret.",
                );
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or("Tiêu đề Authorization: Basic không đọc được.")?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or("Tiêu đề Authorization: Basic phải chứa client_id:client_secret.")?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok((dec(id), dec(secret), true))
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.clone(), secret.clone(), false)),
            _ => Err(
                "Thiếu thông tin xác thực đối tác: dùng tiêu đề Authorization: Basic hoặc các trường client_id và client_secret.",
            ),
        },
    }
}

/// Issues a short-lived bearer token to a partner system (OAuth2 client-credentials grant,
/// RFC 6749 §4.4). Body `application/x-www-form-urlencoded`: `grant_type=client_credentials`,
/// optional `scope` (a subset of the partner's scopes; default all of them); the client
/// authenticates with HTTP Basic or `client_id` + `client_secret` fields.
#[utoipa::path(post, path = "/api/v1/oauth/token", tag = "partners",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        example = "grant_type=client_credentials&scope=dossiers:write%20dossiers:read"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Mã truy cập", body = TokenResponse),
        (status = 400, description = "Yêu cầu sai (invalid_request, unsupported_grant_type, invalid_scope)", body = OAuthError),
        (status = 401, description = "Sai mã đối tác hoặc khóa bí mật, hoặc đối tác đã bị thu hồi (invalid_client)", body = OAuthError),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = client_ip(&state, &headers, peer);
    let now = state.clock.now_ms();
    if let Err(retry) = state
        .limiter
        .hit(Limit::Token, ip, TOKEN_REQUESTS_PER_MINUTE, 60_000, now)
        .await
    {
        return too_many(retry);
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form || body.len() > 8192 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Gửi yêu cầu dạng application/x-www-form-urlencoded với grant_type=client_credentials.",
            false,
        );
    }
    let mut form = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if form.insert(k.into_owned(), v.into_owned()).is_some() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Mỗi tham số chỉ được gửi một lần.",
                false,
            );
        }
    }
    match form.get("grant_type").map(String::as_str) {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Thiếu tham số grant_type=client_credentials.",
                false,
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Chỉ hỗ trợ grant_type=client_credentials.",
                false,
            );
        }
    }
    let (client_id, secret, basic) = match client_credentials(&headers, &form) {
        Ok(c) => c,
        Err(m) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", m, false),
    };
    let partner = match partners::partner_by_client_id(&state.db, &client_id).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let live = partner.filter(|p| p.revoked_at.is_none());
    // Verified even for an unknown client (against a dummy hash): same time either way.
    let ok = crate::password::verify(secret, live.as_ref().map(|p| p.secret_hash.clone())).await;
    let Some(p) = live.filter(|_| ok) else {
        audit_call(
            &state,
            format!("partner:{}", client_id.chars().take(60).collect::<String>()),
            ip,
            "api_token_refused",
            "POST /api/v1/oauth/token".into(),
        )
        .await;
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Mã đối tác (client_id) hoặc khóa bí mật (client_secret) không đúng, hoặc đối tác đã bị thu hồi.",
            basic,
        );
    };
    let allowed = parse_scopes(&p.scopes).unwrap_or_default();
    let granted = match form.get("scope").map(String::as_str) {
        None | Some("") => allowed.clone(),
        Some(s) => match parse_scopes(s) {
            Ok(asked) if asked.iter().all(|a| allowed.contains(a)) => asked,
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "Phạm vi yêu cầu không hợp lệ hoặc vượt quá phạm vi đã cấp cho đối tác.",
                    false,
                );
            }
        },
    };
    let token = random_token(32);
    let ttl = state.config.api_token_ttl_secs.max(1);
    let expires = now.saturating_add(i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX));
    let scope = format_scopes(&granted);
    if let Err(e) =
        partners::insert_token(&state.db, &sha256_hex(&token), p.id, &scope, now, expires).await
    {
        return internal(e);
    }
    audit_call(
        &state,
        format!("partner:{}", p.client_id),
        ip,
        "api_token",
        "POST /api/v1/oauth/token".into(),
    )
    .await;
    let mut resp = axum::Json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        scope,
    })
    .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/dossiers

/// A file in a JSON filing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Base64File {
    pub file_name: String,
    /// The file's bytes in standard base64.
    pub content_base64: String,
}

/// A dossier to file. As JSON (files in `attachments`, base64, at most 10 MB in all), or as
/// `multipart/form-data` with this JSON (without `attachments`) in a part named `dossier` and
/// one part per file, named after its form field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "procedure_code": "1.001193", "agency_code": "000.01.00.H31",
    "answers": {"applicant_full_name": "Nguyễn Thị Hoa", "applicant_id_number": "031192004567", "tre_ho_ten": "Trần Minh An"},
    "attachments": {"tep_giay_chung_sinh": {"file_name": "giay-chung-sinh.pdf", "content_base64": "JVBERi0xLjQK…"}}
}))]
pub struct FilingRequest {
    pub procedure_code: String,
    /// The receiving agency: one that implements the procedure, within the partner's agencies.
    pub agency_code: String,
    /// The form's answers by field name: a string, or a list of strings for multiple choices.
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, serde_json::Value>,
    /// Files by form field name.
    #[serde(default)]
    pub attachments: BTreeMap<String, Base64File>,
    /// The dossier's code on the national public-services portal (`MaHoSo`), when it was filed
    /// there: kept, and used instead of ours in every synchronisation of the dossier. One
    /// dossier per code: the same partner filing again with it gets the dossier already filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "G22.99-261205-0001")]
    pub national_code: Option<String>,
}

/// A national portal dossier code as accepted: 1–100 letters, digits and `.-_/`.
fn valid_national_code(code: &str) -> bool {
    (1..=100).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// The dossier filed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "000.01.00.H31-261205-0001", "status": "submitted", "url": "/api/v1/dossiers/000.01.00.H31-261205-0001"}))]
pub struct Filed {
    pub code: String,
    pub status: String,
    pub url: String,
}

/// A filing as read from either body shape: the request, its files (field, client name, bytes)
/// and the SHA-256 of its content (for the Idempotency-Key check).
struct ReadFiling {
    req: FilingRequest,
    files: Vec<(String, String, SentFile)>,
    hash: String,
    /// The body's place in the upload admission, held while its bytes are in memory.
    _admitted: crate::web::admission::Admitted,
}

fn bad_body(detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "bad_request", detail)
}

/// A file sent with a filing, with its SHA-256 (hex), computed once.
struct SentFile {
    bytes: Bytes,
    sha256: String,
}

impl SentFile {
    fn new(bytes: Bytes) -> SentFile {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        SentFile { bytes, sha256 }
    }
}

async fn read_filing(
    state: &AppState,
    partner_id: i64,
    req: Request,
) -> Result<ReadFiling, Response> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut hasher = Sha256::new();
    if ct.starts_with("application/json") {
        // Through the same admission as uploads (bodies held in memory at once are bounded), with
        // the partner's own places.
        let (admitted, req) = crate::web::admission::admit_partner(state, req, partner_id)
            .await
            .map_err(app_problem)?;
        let body = match axum::body::to_bytes(req.into_body(), MAX_JSON_BODY).await {
            Ok(b) => b,
            Err(_) if admitted.too_slow() => {
                return Err(app_problem(
                    admitted.explain(crate::error::AppError::BadRequest(String::new())),
                ));
            }
            Err(_) => {
                return Err(problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Hồ sơ dạng JSON (kể cả tệp base64) vượt quá 10 MB. Hãy gửi tệp lớn dưới dạng multipart/form-data.",
                ));
            }
        };

        hasher.update(&body);
        let mut req: FilingRequest = serde_json::from_slice(&body).map_err(|e| {
            bad_body(&format!(
                "Nội dung JSON không đúng cấu trúc (procedure_code, agency_code, answers, attachments): {}",
                e.to_string().chars().take(200).collect::<String>()
            ))
        })?;
        let mut files = Vec::new();
        for (field, f) in std::mem::take(&mut req.attachments) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.trim())
                .map_err(|_| {
                    bad_body(&format!(
                        "Tệp của mục “{field}” không phải base64 hợp lệ (content_base64)."
                    ))
                })?;
            files.push((field, f.file_name, SentFile::new(Bytes::from(bytes))));
        }
        Ok(ReadFiling {
            req,
            files,
            hash: hex::encode(hasher.finalize()),
            _admitted: admitted,
        })
    } else if ct.starts_with("multipart/form-data") {
        let (admitted, mp) = crate::web::admission::admit_partner_multipart(state, req, partner_id)
            .await
            .map_err(app_problem)?;
        let mut mp = mp;
        let mut dossier: Option<FilingRequest> = None;
        let mut files = Vec::new();
        let mut parts = 0;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let err = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        crate::error::AppError::PayloadTooLarge(format!(
                            "Tổng dung lượng gửi lên vượt quá {} MB.",
                            crate::web::MAX_DECLARATION_BODY / 1024 / 1024
                        ))
                    } else {
                        crate::error::AppError::BadRequest(
                            "Dữ liệu multipart/form-data không đọc được.".into(),
                        )
                    };
                    return Err(app_problem(admitted.explain(err)));
                }
            };
            parts += 1;
            if parts > 300 {
                return Err(bad_body("Yêu cầu có quá nhiều phần (tối đa 300)."));
            }
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|_| {
                app_problem(admitted.explain(crate::error::AppError::BadRequest(
                    "Dữ liệu multipart/form-data không đọc được.".into(),
                )))
            })?;
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((bytes.len() as u64).to_be_bytes());
            if name == "dossier" {
                hasher.update(&bytes);
                dossier = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    bad_body(&format!(
                        "Phần “dossier” phải là JSON (procedure_code, agency_code, answers): {}",
                        e.to_string().chars().take(200).collect::<String>()
                    ))
                })?);
            } else if !bytes.is_empty() {
                // A file enters the request's hash through its own SHA-256, kept for the
                // attachment: each upload is hashed once.
                let file = SentFile::new(bytes);
                hasher.update(file.sha256.as_bytes());
                files.push((name, file_name.unwrap_or_default(), file));
            } else {
                hasher.update(&bytes);
            }
        }
        let mut req = dossier.ok_or_else(|| {
            bad_body("Thiếu phần “dossier” (JSON: procedure_code, agency_code, answers).")
        })?;
        for (field, f) in std::mem::take(&mut req.attachments) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.trim())
                .map_err(|_| {
                    bad_body(&format!(
                        "Tệp của mục “{field}” không phải base64 hợp lệ (content_base64)."
                    ))
                })?;
            files.push((field, f.file_name, SentFile::new(Bytes::from(bytes))));
        }
        Ok(ReadFiling {
            req,
            files,
            hash: hex::encode(hasher.finalize()),
            _admitted: admitted,
        })
    } else {
        Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Gửi hồ sơ dạng application/json hoặc multipart/form-data.",
        ))
    }
}

/// A JSON answer as the form's raw answers: strings as they are, lists of strings, numbers and
/// booleans as text; anything else is refused.
fn raw_answer(v: &serde_json::Value) -> Option<Vec<String>> {
    use serde_json::Value as V;
    match v {
        V::String(s) => Some(vec![s.clone()]),
        V::Number(n) => Some(vec![n.to_string()]),
        V::Bool(b) => Some(vec![if *b { "co" } else { "" }.to_string()]),
        V::Null => Some(vec![]),
        V::Array(items) => items
            .iter()
            .map(|i| match i {
                V::String(s) => Some(s.clone()),
                V::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        V::Object(_) => None,
    }
}

fn validation_problem(errors: Vec<FieldError>) -> Response {
    let n = errors.len();
    problem_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        format!("Hồ sơ có {n} mục chưa hợp lệ. Xem danh sách errors để sửa từng mục."),
        errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field,
                message: e.message,
            })
            .collect(),
    )
}

/// Files a dossier for a partner: checked exactly as the web form checks it (the same form
/// engine and messages; files through the antivirus scanner and the content inspection), then
/// recorded as the web's filings are (code, first event, confirmation e-mail, webhook
/// deliveries, in one transaction). With `Idempotency-Key`, a retry returns the same dossier
/// (200) and the same key with a different request is refused (422).
#[utoipa::path(post, path = "/api/v1/dossiers", tag = "partners",
    params(("Idempotency-Key" = Option<String>, Header, description = "Khóa chống gửi trùng (tối đa 200 ký tự), mỗi hồ sơ một khóa")),
    request_body(content(
        (FilingRequest = "application/json"),
        (FilingRequest = "multipart/form-data")
    )),
    security(("bearer" = ["dossiers:write"])),
    responses(
        (status = 201, description = "Đã nộp hồ sơ", body = Filed),
        (status = 200, description = "Gửi lại cùng khóa Idempotency-Key, hoặc cùng national_code: hồ sơ đã nộp trước đó", body = Filed),
        (status = 400, description = "Nội dung không đọc được", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Thiếu, sai hoặc hết hạn mã truy cập", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Thiếu phạm vi dossiers:write, hoặc cơ quan ngoài phạm vi của đối tác", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Quá lớn", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "national_code đã gắn với hồ sơ của đối tác khác, hoặc một yêu cầu khác cùng national_code đang được xử lý", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Kiểu nội dung không hỗ trợ", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Hồ sơ chưa hợp lệ (một mục errors cho mỗi trường), hoặc Idempotency-Key đã dùng cho yêu cầu khác", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn file_dossier(
    State(state): State<AppState>,
    partner: PartnerCtx,
    req: Request,
) -> Response {
    let (actor, ip) = (partner.actor(), partner.ip);
    let r = file(state.clone(), partner, req).await;
    if r.status() != StatusCode::CREATED {
        audit_call(&state, actor, ip, "api_call", FILING_CALL.to_string()).await;
    }
    r
}

/// The call that files a dossier ([`file_dossier`] audits it itself).
const FILING_CALL: &str = "POST /api/v1/dossiers";

fn is_filing(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && path == "/api/v1/dossiers"
}

async fn file(state: AppState, partner: PartnerCtx, req: Request) -> Response {
    if let Err(r) = partner.require(Scope::DossiersWrite) {
        return *r;
    }
    let idem = match req.headers().get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= 200 && crate::store::storable_key(k) => {
            Some(k.trim().to_string())
        }
        Some(_) => {
            return bad_body(
                "Tiêu đề Idempotency-Key phải là chuỗi ký tự ASCII không rỗng, tối đa 200 ký tự.",
            );
        }
    };
    let ReadFiling {
        req,
        files,
        hash,
        _admitted,
    } = match read_filing(&state, partner.id, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // A retry of a filed request answers that dossier (the same request) or 422 (another one),
    // before anything is checked again.
    let idempotency_key = match &idem {
        Some(k) => {
            let key = format!("api:{}:{k}", partner.id);
            match dossiers::find_by_idempotency(&state.db, &key).await {
                Ok(Some(code)) => {
                    return match partners::idempotency_hash(&state.db, partner.id, k).await {
                        Ok(Some(h)) if ct_eq(&h, &hash) => filed_response(&code, StatusCode::OK),
                        Ok(_) => key_reused(),
                        Err(e) => internal(e),
                    };
                }
                Ok(None) => {}
                Err(e) => return internal(e),
            }
            key
        }
        None => format!("api:{}:{}", partner.id, random_token(16)),
    };

    let catalog = state.catalog();
    let code = req.procedure_code.trim();
    let Some(p) = catalog
        .procedure(code)
        .filter(|p| p.level.online_submission() && p.form.is_some())
        .filter(|_| !catalog.summary(code).is_some_and(|s| s.retired))
    else {
        return validation_problem(vec![FieldError {
            field: "procedure_code".into(),
            message: "Không có thủ tục hành chính nhận hồ sơ trực tuyến với mã này. Xem danh sách tại GET /api/v1/procedures?truc_tuyen=1.".into(),
        }]);
    };
    let agency_code = req.agency_code.trim().to_string();
    let agency = dvc_domain::agency::AgencyCode::parse(&agency_code)
        .ok()
        .filter(|c| catalog.implements(&p, c))
        .and_then(|c| catalog.agency(c.as_str()).cloned());
    if let Some(a) = &agency
        && let Err(r) = partner.check_agency(a.code.as_str())
    {
        return *r;
    }
    let form_def = p.declaration();
    let mut errors: Vec<FieldError> = Vec::new();
    if agency.is_none() {
        errors.push(FieldError {
            field: AGENCY_FIELD.into(),
            message: "Chọn nơi nộp hồ sơ (cơ quan giải quyết) trong danh sách.".into(),
        });
    }
    let national_code = req
        .national_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    if let Some(c) = &national_code
        && !valid_national_code(c)
    {
        errors.push(FieldError {
            field: "national_code".into(),
            message: "Mã hồ sơ trên Cổng Dịch vụ công quốc gia chỉ gồm chữ cái, chữ số và các dấu . - _ / (tối đa 100 ký tự).".into(),
        });
    }
    let mut raw = RawAnswers::new();
    for (k, v) in &req.answers {
        // A field (`name`, or `name.N` in a repeated section) or the item count of a group.
        let key = form_def.key(k);
        let group = match &key {
            Some(dvc_domain::form::Key::Count(g)) => Some(g.item_label.clone()),
            _ => None,
        };
        let def = match key {
            Some(dvc_domain::form::Key::Field(f)) => Some(Some(f)),
            Some(dvc_domain::form::Key::Count(_)) => Some(None),
            None => None,
        };
        match (def, raw_answer(v)) {
            (Some(Some(f)), _) if f.kind == FieldKind::File => errors.push(FieldError {
                field: k.clone(),
                message: format!("Mục “{}” là tệp: gửi trong attachments (base64) hoặc một phần multipart cùng tên.", f.label),
            }),
            (Some(_), Some(vals)) => {
                raw.insert(
                    k.clone(),
                    vals.into_iter()
                        .map(|s| dvc_domain::text::clean_input(&s).chars().take(10_000).collect())
                        .collect(),
                );
            }
            (Some(f), None) => errors.push(FieldError {
                field: k.clone(),
                message: format!(
                    "Giá trị của mục “{}” phải là chuỗi ký tự hoặc danh sách chuỗi.",
                    f.map(|f| f.label.clone())
                        .or_else(|| group.map(|g| format!("Số {}", g.to_lowercase())))
                        .unwrap_or_default()
                ),
            }),
            (None, _) => errors.push(FieldError {
                field: k.clone(),
                message: "Tờ khai của thủ tục này không có mục này. Xem các mục tại GET /api/v1/procedures/{code} (form.fields).".into(),
            }),
        }
    }
    // Files: the form's file fields only, within their size, through the scanner, by content.
    let mut checked: Vec<(String, String, FileKind, SentFile)> = Vec::new();
    let place = format!("api {} {}", partner.client_id, p.code);
    let actor = partner.actor();
    let who = crate::web::antivirus::Uploader {
        actor: &actor,
        place: &place,
    };
    let mut seen = BTreeSet::new();
    for (field, client_name, file) in files {
        let bytes = &file.bytes;
        let Some(def) = form_def.field(&field).filter(|f| f.kind == FieldKind::File) else {
            errors.push(FieldError {
                field: field.clone(),
                message: "Tờ khai của thủ tục này không có mục tệp này. Xem các mục có type = file tại GET /api/v1/procedures/{code}.".into(),
            });
            continue;
        };
        if !seen.insert(field.clone()) {
            errors.push(FieldError {
                field: field.clone(),
                message: format!("Mục “{}” chỉ nhận một tệp.", def.label),
            });
            continue;
        }
        let limit = def
            .max_size_mb
            .unwrap_or(dvc_domain::form::DEFAULT_MAX_FILE_MB) as usize
            * 1024
            * 1024;
        if bytes.len() > limit {
            errors.push(FieldError {
                field: field.clone(),
                message: format!(
                    "Tệp cho mục “{}” lớn hơn {} MB. Hãy gửi tệp nhỏ hơn (quét ở độ phân giải thấp hơn hoặc nén PDF).",
                    def.label,
                    limit / 1024 / 1024
                ),
            });
            continue;
        }
        match crate::web::antivirus::check(&state, bytes, &client_name, &who).await {
            Ok(None) => {}
            Ok(Some(message)) => {
                errors.push(FieldError { field, message });
                continue;
            }
            Err(e) => return app_problem(e),
        }
        match dvc_domain::upload::inspect(bytes) {
            Ok(kind) => checked.push((field, client_name, kind, file)),
            Err(refusal) => errors.push(FieldError {
                field,
                message: refusal.message(&format!("Tệp đã chọn cho mục “{}”", def.label)),
            }),
        }
    }
    let uploaded: BTreeSet<String> = checked.iter().map(|(f, ..)| f.clone()).collect();
    let answers =
        match dvc_domain::form::validate(&form_def, &raw, &uploaded, state.clock.today_vn()) {
            Ok(a) if errors.is_empty() => a,
            Ok(_) => return validation_problem(errors),
            Err(field_errors) => {
                for fe in field_errors {
                    if !errors.iter().any(|e| e.field == fe.field) {
                        errors.push(fe);
                    }
                }
                return validation_problem(errors);
            }
        };
    let Some(agency) = agency else {
        return validation_problem(errors);
    };
    // A file for a field not shown with these answers (a hidden section's upload) is not kept.
    let shown = form_def.shown_keys(&raw);
    checked.retain(|(f, ..)| shown.contains(f.as_str()));
    // The key is recorded with the request's hash by the filing itself (a refused request does
    // not use up its key); a concurrent request with the same key meets the filing's unique key
    // and is answered below like a retry.
    // The national portal's code is reserved before the filing commits, so that the dossier's
    // first push already uses it; a code already filed by this partner answers that dossier.
    if let Some(nc) = &national_code {
        match partners::claim_national_code(&state.db, &idempotency_key, nc, state.clock.now_ms())
            .await
        {
            Ok(partners::NationalClaim::Reserved) => {}
            Ok(partners::NationalClaim::Filed(code, key))
                if key.starts_with(&format!("api:{}:", partner.id)) =>
            {
                return filed_response(&code, StatusCode::OK);
            }
            Ok(partners::NationalClaim::Filed(..)) => {
                return problem(
                    StatusCode::CONFLICT,
                    "national_code_used",
                    "Mã hồ sơ trên Cổng Dịch vụ công quốc gia này đã gắn với một hồ sơ khác.",
                );
            }
            Ok(partners::NationalClaim::Busy) => {
                return problem(
                    StatusCode::CONFLICT,
                    "national_code_busy",
                    "Một yêu cầu khác với cùng mã hồ sơ trên Cổng Dịch vụ công quốc gia đang được xử lý; hãy gửi lại sau ít phút.",
                );
            }
            Err(e) => return internal(e),
        }
    }
    let now = state.clock.now();
    let now_ms = now.as_millisecond();
    let mut attachments = Vec::new();
    for (field, client_name, kind, SentFile { bytes, sha256: sha }) in checked {
        let key = crate::files::Files::new_key(now);
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        if let Err(e) = state.files.put(&key, bytes).await {
            return app_problem(e.into());
        }
        attachments.push(NewAttachment {
            document_id: form_def.field(&field).and_then(|d| d.document.clone()),
            field_name: field,
            storage_key: key,
            file_name: dvc_domain::form::safe_file_name(&client_name, kind),
            content_type: kind.mime().to_string(),
            size_bytes: size,
            sha256: sha,
        });
    }
    let get = |k: &str| {
        answers
            .get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    use dvc_domain::form::applicant;
    let secret = random_token(32);
    let expected_at = state.deadline_policy(Some(&agency), &p).due(now_ms);
    let answers_for_delivery = answers.clone();
    let quote = p.quote(&answers, state.clock.today_vn());
    let new = NewDossier {
        procedure_code: p.code.clone(),
        agency: agency.code.clone(),
        applicant_name: get(applicant::FULL_NAME),
        applicant_email: get(applicant::EMAIL),
        applicant_phone: get(applicant::PHONE),
        applicant_id_number: get(applicant::ID_NUMBER),
        answers,
        attachments,
        secret_hash: sha256_hex(&secret),
        idempotency_key,
        submitted_at: now_ms,
        receipt_date: now.to_zoned_datetime(dvc_domain::calendar::vn_tz()).date(),
        expected_at: Some(expected_at),
        // The version of the form the answers were checked against (the live one).
        form_version: state
            .catalog()
            .summary(&p.code)
            .map(|s| s.version)
            .unwrap_or(1),
        channel: dvc_domain::dossier::Channel::Online,
        digitised: false,
        citizen_id: None,
        reused_fields: Vec::new(),
        delivery: dvc_domain::outcome::Delivery::from_answers(&answers_for_delivery),
        // A partner's filing is not paid online through the portal: the fee is recorded and
        // collected by the agency.
        awaiting_payment: false,
        fee_vnd: i64::try_from(quote.total_vnd).unwrap_or(i64::MAX),
        fee_quote: (!quote.lines.is_empty())
            .then(|| serde_json::to_string(&quote.lines).ok())
            .flatten(),
        payment_status: None,
        filed_by: dossiers::FiledBy {
            actor: partner.actor(),
            ip: partner.ip.to_string(),
            action: "api_file",
        },
        api_request: idem.as_ref().map(|k| dossiers::ApiRequest {
            partner_id: partner.id,
            key: k.clone(),
            hash: hash.clone(),
        }),
    };
    let base = state.config.base_url();
    let mail = |code: &str| {
        (!new.applicant_email.is_empty()).then(|| NewMail {
            kind: "confirmation".into(),
            recipient: new.applicant_email.clone(),
            subject: format!("Mã hồ sơ {code} — {}", p.name),
            body_text: crate::web::portal::submit::confirmation_text(
                &base,
                code,
                &p,
                &agency,
                &new.applicant_name,
                &secret,
                Some(expected_at),
                &quote,
            ),
        })
    };
    let outcome = match dossiers::submit_from(
        &state.db,
        &state.audit_key,
        Some(&state.light),
        &new,
        mail,
        None,
        None,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return app_problem(e.into()),
    };
    let code = outcome.code().to_string();
    match outcome {
        dossiers::SubmitOutcome::Created(_, mail_id) => {
            tracing::info!(dossier = %code, procedure = %p.code, partner = %partner.client_id, "dossier filed through the API");
            match mail_id {
                Some(id) => state.mail.queued(id),
                None => state.mail.wake(),
            }
            state.deliveries.notify_one();
            filed_response(&code, StatusCode::CREATED)
        }
        // The same key again: the same request answers its dossier, another one 422.
        dossiers::SubmitOutcome::Existing(_) => match &idem {
            Some(k) => match partners::idempotency_hash(&state.db, partner.id, k).await {
                Ok(Some(h)) if ct_eq(&h, &hash) => filed_response(&code, StatusCode::OK),
                Ok(_) => key_reused(),
                Err(e) => internal(e),
            },
            None => filed_response(&code, StatusCode::OK),
        },
    }
}

fn key_reused() -> Response {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác. Mỗi hồ sơ mới cần một khóa mới; khi gửi lại đúng hồ sơ cũ, gửi nguyên nội dung cũ.",
    )
}

fn filed_response(code: &str, status: StatusCode) -> Response {
    let url = format!("/api/v1/dossiers/{code}");
    let mut resp = (
        status,
        axum::Json(Filed {
            code: code.into(),
            status: "submitted".into(),
            url: url.clone(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/dossiers/{code}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub field_name: String,
    pub document_id: Option<String>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineView {
    pub id: i64,
    pub at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub actor_name: Option<String>,
    pub actor_title: Option<String>,
    pub unit: Option<String>,
}

/// A whole dossier, for an authorised partner.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DossierView {
    pub code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub status: String,
    pub status_label: String,
    pub applicant_name: String,
    pub applicant_email: String,
    pub applicant_phone: String,
    pub applicant_id_number: String,
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Vec<String>>,
    pub submitted_at: String,
    pub received_at: Option<String>,
    pub due_at: Option<String>,
    pub finished_at: Option<String>,
    pub result_name: Option<String>,
    /// When the national portal acknowledged the last change (absent: not synchronised).
    pub synced_at: Option<String>,
    /// The dossier's code on the national public-services portal, when it has one (filed
    /// there: the `national_code` it was filed with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_code: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub timeline: Vec<TimelineView>,
}

fn rfc3339(ms: i64) -> String {
    crate::ts(ms)
        .to_zoned_datetime(dvc_domain::calendar::vn_tz())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The whole dossier (answers, applicant, files' metadata, timeline), for a partner whose
/// agencies include the dossier's.
#[utoipa::path(get, path = "/api/v1/dossiers/{code}", tag = "partners",
    params(("code" = String, Path, description = "Mã hồ sơ")),
    security(("bearer" = ["dossiers:read"])),
    responses(
        (status = 200, description = "Hồ sơ", body = DossierView),
        (status = 401, description = "Thiếu, sai hoặc hết hạn mã truy cập", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Thiếu phạm vi dossiers:read, hoặc hồ sơ ngoài phạm vi cơ quan của đối tác", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Không có hồ sơ này", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn get_dossier(
    State(state): State<AppState>,
    partner: PartnerCtx,
    Path(code): Path<String>,
) -> Response {
    if let Err(r) = partner.require(Scope::DossiersRead) {
        return *r;
    }
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "Không có hồ sơ với mã này.",
        )
    };
    if code.len() > 64 || !crate::store::storable_key(&code) {
        return not_found();
    }
    let row = match dossiers::find_by_code(&state.db, &code).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return internal(e),
    };
    if let Err(r) = partner.check_agency(&row.agency_code) {
        return *r;
    }
    let (events, files, sync, national_code) = match futures_util::try_join!(
        dossiers::events(&state.db, row.id),
        dossiers::attachments(&state.db, row.id),
        partners::sync_state(&state.db, row.id),
        partners::national_code(&state.db, row.id)
    ) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let status_label = dvc_domain::dossier::DossierStatus::parse(&row.status)
        .map(|s| s.label().to_string())
        .unwrap_or_default();
    let view = DossierView {
        answers: row.answers(),
        code: row.code,
        procedure_code: row.procedure_code,
        agency_code: row.agency_code,
        status: row.status,
        status_label,
        applicant_name: row.applicant_name,
        applicant_email: row.applicant_email,
        applicant_phone: row.applicant_phone,
        applicant_id_number: row.applicant_id_number,
        submitted_at: rfc3339(row.submitted_at),
        received_at: row.received_at.map(rfc3339),
        due_at: row.due_at.map(rfc3339),
        finished_at: row.finished_at.map(rfc3339),
        result_name: row.result_name,
        synced_at: sync.0.map(rfc3339),
        national_code,
        attachments: files
            .into_iter()
            .map(|a| AttachmentView {
                id: a.id,
                field_name: a.field_name,
                document_id: a.document_id,
                file_name: a.file_name,
                content_type: a.content_type,
                size_bytes: a.size_bytes,
            })
            .collect(),
        timeline: events
            .into_iter()
            .map(|e| TimelineView {
                id: e.id,
                at: rfc3339(e.at),
                kind: e.action,
                from_status: e.from_status,
                to_status: e.to_status,
                note: e.public_note,
                actor_name: e.actor_name,
                actor_title: e.actor_title,
                unit: e.unit,
            })
            .collect(),
    };
    let mut resp = axum::Json(view).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/events

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FeedParams {
    /// `next_cursor` of the previous page (absent: from the beginning).
    after: Option<String>,
    /// Events per page, 1–500 (default 100).
    limit: Option<String>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventItem>,
    /// Pass as `after` for the next page (the last event's id, or the `after` given when the
    /// page is empty): keep it to resume after a restart.
    pub next_cursor: String,
}

/// On PostgreSQL, events younger than this are not listed yet: transactions commit in any
/// order, so an event with a smaller id may still be committing; the feed waits for it rather
/// than skip it. SQLite has one writer at a time and lists everything committed.
pub const FEED_SETTLE_MS: i64 = 3_000;

/// Every event of the dossiers of the partner's agencies, in order, from a cursor: resumable.
#[utoipa::path(get, path = "/api/v1/events", tag = "partners", params(FeedParams),
    security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "Một trang sự kiện", body = EventPage),
        (status = 400, description = "Tham số after hoặc limit không hợp lệ", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Thiếu, sai hoặc hết hạn mã truy cập", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Thiếu phạm vi events:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn events(
    State(state): State<AppState>,
    partner: PartnerCtx,
    super::extract::LenientQuery(q): super::extract::LenientQuery<FeedParams>,
) -> Response {
    if let Err(r) = partner.require(Scope::EventsRead) {
        return *r;
    }
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(a) => match a.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return bad_body(
                    "Tham số after không hợp lệ: dùng đúng giá trị next_cursor của trang trước.",
                );
            }
        },
    };
    let limit = match q.limit.as_deref().map(str::trim) {
        None | Some("") => 100,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return bad_body("Tham số limit phải là một số nguyên từ 1 đến 500."),
        },
    };
    let until = match state.db {
        crate::store::Db::Postgres(_) => state.clock.now_ms() - FEED_SETTLE_MS,
        crate::store::Db::Sqlite(_) => i64::MAX,
    };
    let rows = match partners::feed(&state.db, &partner.agencies, after, limit, until).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let next_cursor = rows.last().map_or(after, |r| r.id).to_string();
    let items = rows.iter().map(EventItem::from).collect();
    axum::Json(EventPage { items, next_cursor }).into_response()
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/webhooks

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://he-thong.example.vn/dvc/webhook", "events": ["file", "receive", "return_result"]}))]
pub struct WebhookRequest {
    /// https, to a public address.
    pub url: String,
    /// Event types (`file`, `receive`, …); absent or empty: every event.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 3, "url": "https://he-thong.example.vn/dvc/webhook", "events": ["*"], "secret": "whsec_9f…"}))]
pub struct WebhookCreated {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret, shown only now. Each delivery carries
    /// `DVC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under this secret>`.
    pub secret: String,
}

/// Registers a webhook: each event of the partner's agencies' dossiers (of the kinds asked) is
/// POSTed to `url` as JSON ([`EventItem`]) with `DVC-Event-Id` and `DVC-Signature`; retried with
/// exponential backoff for three days, in order per dossier, at least once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "partners",
    request_body = WebhookRequest,
    security(("bearer" = ["webhooks"])),
    responses(
        (status = 201, description = "Đã đăng ký; khóa bí mật chỉ hiển thị một lần", body = WebhookCreated),
        (status = 400, description = "Nội dung không đọc được", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Thiếu, sai hoặc hết hạn mã truy cập", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Thiếu phạm vi webhooks", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "URL hoặc loại sự kiện không hợp lệ (https, địa chỉ công khai)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn create_webhook(
    State(state): State<AppState>,
    partner: PartnerCtx,
    body: Result<axum::Json<WebhookRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = partner.require(Scope::Webhooks) {
        return *r;
    }
    let Ok(axum::Json(req)) = body else {
        return bad_body(
            "Gửi JSON {\"url\": \"https://…\", \"events\": [\"file\", \"receive\", …]} với Content-Type: application/json.",
        );
    };
    let mut errors = Vec::new();
    let known = dvc_domain::integration::event_kinds();
    let mut kinds: Vec<String> = Vec::new();
    for k in &req.events {
        let k = k.trim();
        if k == "*" {
            kinds = vec![];
            break;
        }
        if known.contains(&k) {
            if !kinds.iter().any(|x| x == k) {
                kinds.push(k.to_string());
            }
        } else {
            errors.push(FieldProblem {
                field: "events".into(),
                message: format!(
                    "Loại sự kiện “{}” không có; dùng: {}.",
                    k.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            });
        }
    }
    if req.url.len() > 2000 {
        errors.push(FieldProblem {
            field: "url".into(),
            message: "Địa chỉ webhook dài quá 2000 ký tự.".into(),
        });
    } else if let Err(e) = check_destination(&req.url, state.config.webhook_allow_insecure).await {
        errors.push(FieldProblem {
            field: "url".into(),
            message: e.to_string(),
        });
    }
    if !errors.is_empty() {
        let n = errors.len();
        return problem_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("Đăng ký webhook có {n} mục chưa hợp lệ."),
            errors,
        );
    }
    let event_kinds = if kinds.is_empty() {
        "*".to_string()
    } else {
        kinds.join(",")
    };
    let salt = random_token(24);
    let url = req.url.trim().to_string();
    let id = match partners::create_webhook(
        &state.db,
        partner.id,
        &url,
        &event_kinds,
        &salt,
        &partner.agencies,
        state.clock.now_ms(),
    )
    .await
    {
        Ok(id) => id,
        Err(e) => return internal(e),
    };
    audit_call(
        &state,
        partner.actor(),
        partner.ip,
        "api_webhook",
        format!("webhook {id}"),
    )
    .await;
    let mut resp = (
        StatusCode::CREATED,
        axum::Json(WebhookCreated {
            id,
            url,
            events: if kinds.is_empty() {
                vec!["*".into()]
            } else {
                kinds
            },
            secret: crate::integrations::webhook_secret(&state.audit_key, &salt),
        }),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/national/attachments/{id}

/// The signed, expiring link an attached file is sent to the national portal with
/// (`TaiLieuNop[].DuongDanTaiTepTin`, see `jobs::deliveries`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AttachmentLinkParams {
    /// Until when the link is valid (Unix seconds).
    expires: i64,
    /// Hex HMAC-SHA256 over dossier, attachment and expiry, under a key derived from the
    /// server's audit key.
    signature: String,
}

#[utoipa::path(get, path = "/api/v1/national/attachments/{id}", tag = "partners",
    params(("id" = i64, Path, description = "Số của tệp đính kèm"), AttachmentLinkParams),
    security(()),
    responses(
        (status = 200, description = "Tệp đính kèm của hồ sơ (tải về, không hiển thị trong trình duyệt)", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 403, description = "Đường dẫn không hợp lệ (chữ ký sai hoặc đường dẫn bị sửa)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Tệp không còn được lưu", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Đường dẫn đã hết hạn", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Quá nhiều yêu cầu", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn national_attachment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    use dvc_domain::integration::{LinkCheck, check_attachment_link};
    // Counted like lookups per client address: a leaked link cannot be hammered.
    let ip = client_ip(&state, &headers, peer);
    if let Err(retry) = state
        .limiter
        .hit(
            Limit::Lookup,
            ip,
            state.config.rate_lookup_per_minute,
            60_000,
            state.clock.now_ms(),
        )
        .await
    {
        return too_many(retry);
    }
    let invalid = || {
        problem(
            StatusCode::FORBIDDEN,
            "invalid_link",
            "Đường dẫn tải tệp không hợp lệ: hãy dùng đúng đường dẫn mà Cổng Dịch vụ công đã gửi, không sửa đổi.",
        )
    };
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let (Ok(id), Some(Ok(expires)), Some(signature)) = (
        id.parse::<i64>(),
        params.get("expires").map(|e| e.parse::<i64>()),
        params.get("signature"),
    ) else {
        return invalid();
    };
    let a = match partners::linked_attachment(&state.db, id).await {
        Ok(Some(a)) => a,
        Ok(None) => return invalid(),
        Err(e) => return internal(e),
    };
    let key = crate::integrations::attachment_link_key(&state.audit_key);
    let now = state.clock.now_ms().div_euclid(1000);
    match check_attachment_link(key.as_bytes(), a.dossier_id, id, expires, signature, now) {
        LinkCheck::Valid => {}
        LinkCheck::Expired => {
            return problem(
                StatusCode::GONE,
                "link_expired",
                "Đường dẫn tải tệp đã hết hạn. Lần đồng bộ sau của hồ sơ sẽ gửi đường dẫn mới.",
            );
        }
        LinkCheck::Invalid => return invalid(),
    }
    match state.files.get(&a.storage_key).await {
        Ok(bytes) => {
            tracing::info!(
                attachment = id,
                dossier = a.dossier_id,
                "attachment fetched through a signed link"
            );
            // Who fetched which file, in the audit trail (the link carries no identity: the
            // address is what there is).
            audit_call(
                &state,
                "signed_link".into(),
                ip,
                "attachment_fetched",
                format!("attachment:{id} dossier:{}", a.dossier_id),
            )
            .await;
            let mut resp = super::portal::lookup::download(bytes, &a.content_type, &a.file_name);
            resp.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, attachment = id, "linked attachment unreadable");
            problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "Tệp này không còn được lưu trên Cổng Dịch vụ công.",
            )
        }
    }
}
