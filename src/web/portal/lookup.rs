//! `/tra-cuu`: status lookup by dossier code (public: no personal data, not even a masked name),
//! and `/ho-so/xem/{token}`: the full view through the secret link sent by e-mail.

use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, DossierRow, PublicDossier};
use crate::web::AppState;
use crate::web::extract::{LenientQuery, Peer};
use crate::web::rate_limit::Action as Limit;
use crate::web::security::{self, no_store};
use crate::web::templates::{render, render_status, ser};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dvc_domain::dossier::{DossierCode, DossierStatus};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Deserialize, Default)]
pub struct LookupParams {
    pub ma: Option<String>,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339, UTC.
    pub at: String,
    pub status: String,
    pub status_label: String,
    /// A fixed text per kind of event: never a reason, a note or a file name.
    pub note: Option<String>,
    /// The full note (reasons, documents asked for, file names): only on the private page,
    /// never in the public lookup or API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The public status of a dossier: no personal data at all (not the applicant's name, even
/// masked: a code is not a secret, and a masked name with the procedure and the dates still
/// points at a person).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicStatus {
    pub code: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub agency_code: String,
    pub agency_name: String,
    pub status: String,
    pub status_label: String,
    pub submitted_at: String,
    pub received_at: Option<String>,
    /// Expected result time given when filed (RFC 3339).
    pub expected_at: Option<String>,
    /// Legal due time once received (RFC 3339).
    pub due_at: Option<String>,
    /// False once the due time has passed while the dossier is still open (or it was finished
    /// late), or when supplements were requested more than once (QĐ 766).
    pub on_time: bool,
    /// `on_time`, `late` or `awaiting_supplement` (the clock is stopped: never late meanwhile).
    pub progress: String,
    /// "Trong hạn", "Quá hạn" or "Chờ bổ sung".
    pub progress_label: String,
    /// The workflow step the dossier is in now ("where it is"), if still open.
    pub current_step: Option<String>,
    /// The unit holding the dossier.
    pub unit: Option<String>,
    /// The official handling it: name and title.
    pub handler: Option<Handler>,
    /// Time used in each step against its allotment ("where it is stuck").
    pub steps: Vec<crate::web::progress::StepView>,
    pub timeline: Vec<TimelineEntry>,
    /// The fee payable online and its state; `null` when nothing is paid online.
    pub payment: Option<PaymentView>,
}

/// The online payment of a dossier's fee, as the public status shows it (no personal data).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// `created`, `pending`, `paid`, `failed`, `cancelled`, `expired`, `refunded`, or `collected`
    /// (a fee due at the result collected at the one-stop desk).
    pub status: String,
    pub amount_vnd: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Handler {
    pub name: String,
    pub title: String,
}

fn rfc3339(ms: i64) -> String {
    crate::ts(ms).to_string()
}

/// The public status of a dossier read by [`find_public`]: no I/O, and nothing an official or
/// the citizen wrote (reasons, notes, file names).
pub fn public_status(
    state: &AppState,
    d: &PublicDossier,
) -> crate::store::StoreResult<PublicStatus> {
    status_view(state, d, false)
}

/// The status with the full notes of the timeline, for the holder of the private link only.
fn private_status(state: &AppState, d: &PublicDossier) -> crate::store::StoreResult<PublicStatus> {
    status_view(state, d, true)
}

fn status_view(
    state: &AppState,
    d: &PublicDossier,
    private: bool,
) -> crate::store::StoreResult<PublicStatus> {
    let (row, events) = (&d.row, &d.events);
    let catalog = state.catalog();
    let status = row.status()?;
    let now = state.clock.now_ms();
    let on_time = row.on_time(now)?;
    let progress = row.progress(now)?;
    let steps = match catalog.procedure(&row.procedure_code) {
        Some(p) => crate::web::progress::steps(state, row, &p, events, now)?,
        None => vec![],
    };
    let current_step = steps
        .iter()
        .find(|s| s.state == "current")
        .map(|s| s.name.clone());
    let handler = d
        .handler
        .clone()
        .map(|(name, title)| Handler { name, title });
    Ok(PublicStatus {
        code: row.code.clone(),
        procedure_code: row.procedure_code.clone(),
        procedure_name: catalog
            .procedure(&row.procedure_code)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        agency_code: row.agency_code.clone(),
        agency_name: catalog
            .agency(&row.agency_code)
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        status: status.as_str().into(),
        status_label: status.label().into(),
        submitted_at: rfc3339(row.submitted_at),
        received_at: row.received_at.map(rfc3339),
        expected_at: row.expected_at.map(rfc3339),
        due_at: row.due_at.map(rfc3339),
        on_time,
        progress: progress.as_str().into(),
        progress_label: progress.label().into(),
        current_step,
        unit: row.unit.clone().filter(|_| !status.is_closed()),
        handler: handler.filter(|_| !status.is_closed()),
        steps,
        timeline: events
            .iter()
            .map(|e| {
                let st = e.to_status()?;
                Ok(TimelineEntry {
                    at: rfc3339(e.at),
                    status: st.as_str().into(),
                    status_label: st.label().into(),
                    note: Some(e.kind()?.public_text().to_string()),
                    detail: e.public_note.clone().filter(|_| private),
                })
            })
            .collect::<crate::store::StoreResult<_>>()?,
        payment: row.payment_status.clone().map(|status| PaymentView {
            status,
            amount_vnd: row.fee_vnd,
        }),
    })
}

/// The events and the handler of a dossier already read (the private view, which finds the
/// dossier by its secret link rather than by its code).
async fn with_events(state: &AppState, row: DossierRow) -> AppResult<PublicDossier> {
    let events = dossiers::events(&state.db, row.id).await?;
    let handler = match row.assignee_id {
        Some(id) => crate::store::staff::find(&state.db, id)
            .await?
            .map(|s| (s.name, s.title)),
        None => None,
    };
    Ok(PublicDossier {
        row,
        events,
        handler,
    })
}

/// Why a code cannot be looked up, in words for the citizen.
pub enum LookupError {
    Invalid(String),
    Unknown(String),
}

pub async fn find_public(
    state: &AppState,
    raw: &str,
) -> AppResult<Result<PublicDossier, LookupError>> {
    let code = match DossierCode::parse(raw) {
        Ok(c) => c,
        Err(e) => return Ok(Err(LookupError::Invalid(e.to_string()))),
    };
    match dossiers::find_public(&state.db, &code.to_string()).await? {
        Some(d) => Ok(Ok(d)),
        None => Ok(Err(LookupError::Unknown(format!(
            "Không tìm thấy hồ sơ có mã {code}. Kiểm tra lại mã trên giấy tiếp nhận hoặc trong thư điện tử đã nhận."
        )))),
    }
}

pub async fn rate_limit_lookup(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> AppResult<()> {
    let ip = security::client_ip(state, headers, peer);
    state
        .limiter
        .hit(
            Limit::Lookup,
            ip,
            state.config.rate_lookup_per_minute,
            60_000,
            state.clock.now_ms(),
        )
        .await
        .map_err(|retry| AppError::TooManyRequests {
            message: "Bạn tra cứu quá nhiều lần trong một phút. Hãy chờ một lát rồi thử lại."
                .into(),
            retry_after_secs: retry,
        })
}

pub async fn page(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<LookupParams>,
) -> AppResult<Response> {
    let raw = params
        .ma
        .map(|s| s.trim().chars().take(60).collect::<String>())
        .unwrap_or_default();
    if raw.is_empty() {
        return Ok(render("lookup.html", context! {})?.into_response());
    }
    rate_limit_lookup(&state, &headers, peer).await?;
    match find_public(&state, &raw).await? {
        Ok(d) => {
            let status = public_status(&state, &d)?;
            Ok(render(
                "lookup.html",
                context! { ma => raw, status => ser(&status) },
            )?
            .into_response())
        }
        Err(LookupError::Invalid(msg)) => render_status(
            StatusCode::BAD_REQUEST,
            "lookup.html",
            context! { ma => raw, error => msg },
        ),
        Err(LookupError::Unknown(msg)) => render_status(
            StatusCode::NOT_FOUND,
            "lookup.html",
            context! { ma => raw, error => msg },
        ),
    }
}

/// The dossier of the secret link in the path (`{token}`), read after the lookup rate limit:
/// the opening of every handler under `/ho-so/xem/{token}` that only reads.
pub struct PrivateLink {
    pub token: String,
    pub row: DossierRow,
}

impl axum::extract::FromRequestParts<AppState> for PrivateLink {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| private_not_found())?;
        let token = params
            .iter()
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_string())
            .ok_or_else(private_not_found)?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        rate_limit_lookup(state, &parts.headers, peer).await?;
        let row = by_token(state, &token).await?;
        Ok(PrivateLink { token, row })
    }
}

pub async fn by_token(state: &AppState, token: &str) -> AppResult<DossierRow> {
    if token.len() < 20 || token.len() > 100 {
        return Err(private_not_found());
    }
    dossiers::find_by_secret(&state.db, &security::sha256_hex(token))
        .await?
        .ok_or_else(private_not_found)
}

fn private_not_found() -> AppError {
    AppError::NotFound("Đường dẫn theo dõi hồ sơ không đúng hoặc đã bị thay đổi. Hãy mở lại đường dẫn trong thư điện tử, hoặc tra cứu công khai bằng mã hồ sơ.".into())
}

pub async fn private(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    PrivateLink { token, row }: PrivateLink,
) -> AppResult<Response> {
    let d = with_events(&state, row).await?;
    let status = private_status(&state, &d)?;
    let row = &d.row;
    let attachments = dossiers::attachments(&state.db, row.id).await?;
    let files: Vec<(String, String)> = attachments
        .iter()
        .map(|a| (a.field_name.clone(), a.file_name.clone()))
        .collect();
    let as_filed = super::as_filed(&state, &row.procedure_code, row.form_version).await?;
    let sections = match &as_filed {
        Some(p) => super::submit::display_answers(p.form.as_ref(), &row.answers(), &files),
        None => vec![],
    };
    // The result is ready and a fee due at the result is still owed.
    let fee_due = match &as_filed {
        Some(p) if row.status()? == DossierStatus::ResultReady => {
            dvc_domain::workflow::fee_due_at_result(&crate::web::staff::dossier::fee_of(row, p))
        }
        _ => None,
    };
    let attachment_links: Vec<Value> = attachments
        .iter()
        .map(|a| context! { id => a.id, name => a.file_name.clone(), size_kb => a.size_bytes.saturating_add(1023) / 1024 })
        .collect();
    let documents: Vec<Value> = d
        .events
        .iter()
        .filter_map(|e| {
            crate::web::staff::documents::kind_for_action(&e.action)
                .map(|k| context! { kind => k, id => e.id, at => e.at })
        })
        .collect();
    let payment = if row.fee_quote.is_some() || row.payment_status.is_some() {
        Some(super::payment::view(&state, row.into()).await?)
    } else {
        None
    };
    // The "Thanh toán" button posts with the session's CSRF token.
    let may_pay = payment
        .as_ref()
        .and_then(|p| p.get_attr("may_pay").ok())
        .is_some_and(|v| v.is_true());
    let (csrf, cookie) = if may_pay {
        let (session, cookie) = crate::web::security::ensure_session(&state, &headers).await?;
        (Some(session.csrf_token), cookie)
    } else {
        (None, None)
    };
    let resp = render(
        "dossier_private.html",
        context! {
            status => ser(&status), sections, token, attachments => attachment_links, applicant_name => row.applicant_name.clone(),
            documents, has_result => row.result_key.is_some(), result_name => row.result_name.clone(),
            awaiting_supplement => row.status()? == DossierStatus::AwaitingSupplement,
            signed_result => row.result_electronic == 1, postal_tracking => row.postal_tracking.clone(),
            delivery_label => row.delivery()?.label(),
            may_rate => row.status()? == DossierStatus::Done && row.rating.is_none(),
            rated => row.rating()?.map(|r| r.label()),
            may_withdraw => dvc_domain::dossier::transition(row.status()?, dvc_domain::dossier::Action::Withdraw).is_ok(),
            payment, csrf, fee_due => fee_due.map(dvc_domain::fees::format_vnd),
        },
    )?
    .into_response();
    let mut resp = crate::web::security::with_cookie(resp, cookie);
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(no_store(resp))
}

pub async fn attachment(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    PrivateLink { row, .. }: PrivateLink,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::not_found())?;
    let a = dossiers::attachments(&state.db, row.id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(AppError::not_found)?;
    let bytes = state.files.get(&a.storage_key).await?;
    Ok(download(bytes, &a.content_type, &a.file_name))
}

/// A file download that the browser never renders inline in the portal's origin.
pub fn download(bytes: bytes::Bytes, content_type: &str, file_name: &str) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = super::submit::urlencode(file_name);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub async fn result(
    State(state): State<AppState>,
    PrivateLink { row, .. }: PrivateLink,
) -> AppResult<Response> {
    crate::web::staff::dossier::serve_result(&state, &row).await
}

#[derive(Debug, Deserialize, Default)]
pub struct DocParams {
    pub su_kien: Option<i64>,
}

/// An official document of the dossier (Mẫu 01–05), for the citizen holding the secret link.
pub async fn document(
    State(state): State<AppState>,
    Path((_, kind)): Path<(String, String)>,
    LenientQuery(params): LenientQuery<DocParams>,
    PrivateLink { row, .. }: PrivateLink,
) -> AppResult<Response> {
    let kind = kind.trim_end_matches(".pdf");
    if kind == "mau-06" {
        return Err(AppError::not_found());
    }
    let mut r =
        crate::web::staff::documents::render_pdf(&state, &row, kind, params.su_kien).await?;
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(r)
}
