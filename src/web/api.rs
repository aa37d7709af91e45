//! The JSON API (read-only for now), documented by the OpenAPI document at `/api/openapi.json`.
//! Errors are JSON `{"error": {"code", "message"}}` with a Vietnamese message; bad list
//! parameters (`limit`, `cursor`) are RFC 9457 problem details carrying the same `error` member.

use super::AppState;
use super::extract::{LenientQuery, Peer};
use super::partner_api;
use super::portal::catalog::Params;
use super::portal::lookup::{
    Handler, LookupError, PaymentView, PublicStatus, TimelineEntry, find_public, public_status,
    rate_limit_lookup,
};
use super::progress::StepView;
use crate::catalog::Cursor;
use crate::error::{ApiError, AppError};
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dichvucong API",
        version = "1",
        description = "Cổng dịch vụ công trực tuyến — API: danh mục thủ tục hành chính, trạng thái hồ sơ (công khai), số liệu thống kê và chỉ số QĐ 766/QĐ-TTg, và API cho hệ thống đối tác (OAuth2 client credentials): nộp hồ sơ, đọc hồ sơ, nguồn sự kiện, webhook. Lỗi theo RFC 9457 (application/problem+json), thông điệp tiếng Việt."
    ),
    paths(
        openapi,
        list_procedures,
        get_procedure,
        dossier_status,
        partner_api::token,
        partner_api::file_dossier,
        partner_api::get_dossier,
        partner_api::events,
        partner_api::create_webhook,
        partner_api::national_attachment,
        super::statistics::api
    ),
    components(schemas(
        ProcedureSummary,
        ProcedurePage,
        Problem,
        PublicStatus,
        PaymentView,
        TimelineEntry,
        Handler,
        StepView,
        ErrorBody,
        ErrorDetail,
        super::statistics::StatisticsDoc,
        super::statistics::AgencyRef,
        partner_api::ProblemDetails,
        partner_api::FieldProblem,
        partner_api::ProblemCode,
        partner_api::TokenResponse,
        partner_api::OAuthError,
        partner_api::FilingRequest,
        partner_api::Base64File,
        partner_api::Filed,
        partner_api::DossierView,
        partner_api::AttachmentView,
        partner_api::TimelineView,
        partner_api::EventPage,
        crate::integrations::EventItem,
        partner_api::WebhookRequest,
        partner_api::WebhookCreated
    )),
    modifiers(&SecuritySchemes),
    tags((name = "partners", description = "Hệ thống đối tác: lấy mã truy cập bằng client_id/client_secret (dichvucong partner create), gửi kèm Authorization: Bearer. Mỗi đối tác chỉ thấy hồ sơ của cơ quan mình và các đơn vị trực thuộc."))
)]
pub struct ApiDoc;

/// The security schemes the partner API declares: the bearer token, how to get it (OAuth2
/// client credentials), and HTTP Basic for the token endpoint itself.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Mã truy cập ngắn hạn từ POST /api/v1/oauth/token (grant_type=client_credentials).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("client_id:client_secret (RFC 6749 §2.3.1)."))
                    .build(),
            ),
        );
        let scopes = Scopes::from_iter(
            dvc_domain::integration::Scope::ALL
                .iter()
                .map(|s| (s.as_str(), s.as_str())),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
                ClientCredentials::new("/api/v1/oauth/token", scopes),
            )])),
        );
    }
}

/// Declares the API's routes once: the router is built from this list, and [`ROUTES`] lists
/// them (method, path as in the OpenAPI document) so that a test fails when one is missing
/// from the document.
macro_rules! api_routes {
    ($($method:literal $path:literal => $handler:expr,)*) => {
        /// Every route of the API: (method, full path as in the OpenAPI document).
        pub const ROUTES: &[(&str, &str)] = &[$(($method, $path)),*];

        fn routes() -> Router<AppState> {
            Router::new()$(.route(&$path["/api".len()..], $handler))*
        }
    };
}

api_routes! {
    "get" "/api/openapi.json" => get(openapi),
    "get" "/api/v1/procedures" => get(list_procedures),
    "get" "/api/v1/procedures/{code}" => get(get_procedure),
    "get" "/api/v1/dossiers/{code}/status" => get(dossier_status),
    "post" "/api/v1/oauth/token" => post(partner_api::token),
    "post" "/api/v1/dossiers" => post(partner_api::file_dossier)
        .layer(DefaultBodyLimit::max(super::MAX_DECLARATION_BODY)),
    "get" "/api/v1/dossiers/{code}" => get(partner_api::get_dossier),
    "get" "/api/v1/events" => get(partner_api::events),
    "post" "/api/v1/webhooks" => post(partner_api::create_webhook),
    "get" "/api/v1/national/attachments/{id}" => get(partner_api::national_attachment),
    "get" "/api/v1/statistics" => get(super::statistics::api),
}

pub fn router() -> Router<AppState> {
    routes().fallback(api_not_found)
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "Tài liệu OpenAPI 3.1 của API", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn api_not_found() -> ApiError {
    ApiError(AppError::NotFound(
        "Không có địa chỉ API này. Xem danh sách tại /api/openapi.json.".into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ProcedureSummary {
    pub code: String,
    pub name: String,
    pub field: String,
    /// Online service level 1–4 (TT 32/2017/TT-BTTTT).
    pub level: u8,
    /// `toan_trinh`, `mot_phan` or `none` (NĐ 42/2022/NĐ-CP).
    pub online_class: String,
    pub implementing_agency: String,
    pub url: String,
}

/// One page of procedures, and where the next one starts.
#[derive(Serialize, ToSchema)]
pub struct ProcedurePage {
    pub items: Vec<ProcedureSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page. Opaque and stable: a page
    /// continues after the last item of the previous one even if the catalogue changed.
    pub next_cursor: Option<String>,
}

/// An error as RFC 9457 problem details (`application/problem+json`), with the same
/// `error` member as the other API errors.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, in Vietnamese.
    pub detail: String,
    pub error: ErrorDetail,
}

pub fn bad_request_problem(detail: String) -> Response {
    let body = Problem {
        type_: "about:blank".into(),
        title: "Yêu cầu không hợp lệ".into(),
        status: 400,
        detail: detail.clone(),
        error: ErrorDetail {
            code: "bad_request".into(),
            message: detail,
        },
    };
    let mut resp = (StatusCode::BAD_REQUEST, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// Procedures per page of `GET /api/v1/procedures` when `limit` is absent, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

#[derive(Default, serde::Deserialize, IntoParams)]
pub struct ListParams {
    /// Words to search, with or without diacritics (the last one may be unfinished).
    q: Option<String>,
    /// Agency code.
    co_quan: Option<String>,
    /// Field (lĩnh vực).
    linh_vuc: Option<String>,
    /// Level 1–4.
    muc_do: Option<String>,
    /// `1`: only services that can be done online.
    truc_tuyen: Option<String>,
    /// `toan_trinh` or `mot_phan`.
    hinh_thuc: Option<String>,
    /// Procedures per page, 1–200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The procedures matching the filters, ranked when searching (code, then name, then other
/// fields), otherwise by field then name; a page at a time, continued with `next_cursor`.
#[utoipa::path(get, path = "/api/v1/procedures", params(ListParams),
    responses((status = 200, description = "Một trang thủ tục phù hợp", body = ProcedurePage),
        (status = 400, description = "Tham số limit hoặc cursor không hợp lệ", body = Problem, content_type = "application/problem+json")))]
pub async fn list_procedures(
    State(state): State<AppState>,
    LenientQuery(lp): LenientQuery<ListParams>,
) -> Response {
    let limit = match lp.limit.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return bad_request_problem(format!(
                    "Tham số limit phải là một số nguyên từ 1 đến {MAX_LIMIT}."
                ));
            }
        },
    };
    let cursor = match lp.cursor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => match Cursor::decode(c) {
            Some(c) => Some(c),
            None => {
                return bad_request_problem(
                    "Tham số cursor không hợp lệ: hãy dùng đúng giá trị next_cursor của trang trước."
                        .into(),
                );
            }
        },
    };
    let params = Params {
        q: lp.q,
        co_quan: lp.co_quan,
        linh_vuc: lp.linh_vuc,
        muc_do: lp.muc_do,
        truc_tuyen: lp.truc_tuyen,
        hinh_thuc: lp.hinh_thuc,
        trang: None,
    };
    let catalog = state.catalog();
    let base = state.config.base_url();
    let hits = catalog.search(&params.to_query());
    let offset = cursor.as_ref().map_or(0, |c| hits.offset_after(c));
    let items: Vec<ProcedureSummary> = hits
        .page(offset, limit)
        .into_iter()
        .map(|p| ProcedureSummary {
            code: p.code.clone(),
            name: p.name.clone(),
            field: p.field.clone(),
            level: p.level.number(),
            online_class: p.online_class.slug().into(),
            implementing_agency: p.implementing_agency.clone(),
            url: format!("{base}/thu-tuc/{}", p.code),
        })
        .collect();
    let end = offset + items.len();
    let next_cursor = if end < hits.len() {
        end.checked_sub(1)
            .and_then(|i| hits.cursor_after(i))
            .map(|c| c.encode())
    } else {
        None
    };
    Json(ProcedurePage { items, next_cursor }).into_response()
}

/// Everything on the procedure page, plus the form definition with a flat `form.fields[]`
/// (`name, label, type, required, options`), the applicant block included.
#[utoipa::path(get, path = "/api/v1/procedures/{code}", params(("code" = String, Path, description = "Mã thủ tục, ví dụ 1.001193")),
    responses((status = 200, description = "Thủ tục", body = Object), (status = 404, description = "Không tìm thấy", body = ErrorBody)))]
pub async fn get_procedure(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // A retired procedure is answered like the page: 404, "đã ngừng áp dụng".
    let (catalog, p) = super::portal::procedure_or_404(&state, &code)?;
    let mut v = serde_json::to_value(&*p).map_err(|e| AppError::Internal(e.into()))?;
    let agencies: Vec<serde_json::Value> = p
        .implementing_agencies(&catalog.agencies)
        .iter()
        .map(|a| serde_json::json!({ "code": a.code.as_str(), "name": a.name }))
        .collect();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("level_label".into(), p.level.label().into());
        obj.insert("online_class_label".into(), p.online_class.label().into());
        obj.insert("agencies".into(), agencies.into());
        if let Some(form) = &p.form {
            let full = form.with_applicant();
            let fields: Vec<serde_json::Value> = full
                .fields()
                .map(|f| serde_json::to_value(f).unwrap_or_default())
                .collect();
            obj.insert("form".into(), serde_json::json!({ "title": full.title, "sections": full.sections, "fields": fields }));
        }
    }
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/dossiers/{code}/status", params(("code" = String, Path, description = "Mã hồ sơ")),
    responses((status = 200, description = "Trạng thái công khai (không có dữ liệu cá nhân)", body = PublicStatus),
        (status = 400, description = "Mã không đúng định dạng", body = ErrorBody),
        (status = 404, description = "Không tìm thấy", body = ErrorBody),
        (status = 429, description = "Quá nhiều yêu cầu", body = ErrorBody)))]
pub async fn dossier_status(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<Json<PublicStatus>, ApiError> {
    rate_limit_lookup(&state, &headers, peer).await?;
    match find_public(&state, &code).await? {
        Ok(d) => Ok(Json(public_status(&state, &d).map_err(AppError::from)?)),
        Err(LookupError::Invalid(m)) => Err(AppError::BadRequest(m).into()),
        Err(LookupError::Unknown(m)) => Err(AppError::NotFound(m).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is in the OpenAPI document, with its method and responses;
    /// the partner calls declare their security and their 401.
    #[test]
    fn every_route_is_documented() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("openapi as JSON");
        for (method, path) in ROUTES {
            let op = &doc["paths"][path][method];
            assert!(
                op.is_object(),
                "{method} {path} is missing from /api/openapi.json"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
        }
        for scheme in ["bearer", "client_basic", "oauth2"] {
            assert!(
                doc["components"]["securitySchemes"][scheme].is_object(),
                "security scheme {scheme} missing"
            );
        }
        for (method, path) in [
            ("post", "/api/v1/dossiers"),
            ("get", "/api/v1/dossiers/{code}"),
            ("get", "/api/v1/events"),
            ("post", "/api/v1/webhooks"),
        ] {
            let op = &doc["paths"][path][method];
            assert!(
                op["security"].to_string().contains("bearer"),
                "{method} {path} declares no bearer security"
            );
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
        }
    }
}
