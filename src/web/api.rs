//! The JSON API (read-only for now), documented by the OpenAPI document at `/api/openapi.json`.
//! Errors are JSON `{"error": {"code", "message"}}` with a Vietnamese message.

use super::AppState;
use super::extract::{LenientQuery, Peer};
use super::portal::catalog::Params;
use super::portal::lookup::{
    Handler, LookupError, PublicStatus, TimelineEntry, find_public, public_status,
    rate_limit_lookup,
};
use super::progress::StepView;
use crate::error::{ApiError, AppError};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dichvucong API",
        version = "1",
        description = "Cổng dịch vụ công trực tuyến — API chỉ đọc: danh mục thủ tục hành chính và trạng thái hồ sơ."
    ),
    paths(list_procedures, get_procedure, dossier_status),
    components(schemas(
        ProcedureSummary,
        PublicStatus,
        TimelineEntry,
        Handler,
        StepView,
        ErrorBody,
        ErrorDetail
    ))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/procedures", get(list_procedures))
        .route("/v1/procedures/{code}", get(get_procedure))
        .route("/v1/dossiers/{code}/status", get(dossier_status))
        .fallback(api_not_found)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
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

#[derive(serde::Deserialize, IntoParams)]
#[allow(dead_code)]
pub struct ListParams {
    /// Words to search, with or without diacritics.
    q: Option<String>,
    /// Agency code.
    co_quan: Option<String>,
    /// Field (lĩnh vực).
    linh_vuc: Option<String>,
    /// Level 1–4.
    muc_do: Option<String>,
    /// `1`: only services that can be done online.
    truc_tuyen: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/procedures", params(ListParams),
    responses((status = 200, description = "Thủ tục phù hợp", body = [ProcedureSummary])))]
pub async fn list_procedures(
    State(state): State<AppState>,
    LenientQuery(params): LenientQuery<Params>,
) -> Json<Vec<ProcedureSummary>> {
    let catalog = state.catalog();
    let base = state.config.base_url();
    Json(
        catalog
            .search(&params.to_query())
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
            .collect(),
    )
}

/// Everything on the procedure page, plus the form definition with a flat `form.fields[]`
/// (`name, label, type, required, options`), the applicant block included.
#[utoipa::path(get, path = "/api/v1/procedures/{code}", params(("code" = String, Path, description = "Mã thủ tục, ví dụ 1.001193")),
    responses((status = 200, description = "Thủ tục", body = Object), (status = 404, description = "Không tìm thấy", body = ErrorBody)))]
pub async fn get_procedure(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let catalog = state.catalog();
    let p = catalog.procedure(&code).ok_or_else(|| {
        AppError::NotFound(format!(
            "Không tìm thấy thủ tục có mã “{}”.",
            code.chars().take(40).collect::<String>()
        ))
    })?;
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
