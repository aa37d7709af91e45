//! The back office (`/can-bo`): officials log in, see their queues, and move dossiers through
//! the workflow. Every handler starts with [`require_staff`]; every action checks the role
//! (`Role::may`), the agency scope and the state machine, on the server.

pub mod admin;
pub mod documents;
pub mod dossier;
pub mod login;
pub mod queues;

use super::AppState;
use super::security::{cookie_name, sha256_hex};
use crate::error::{AppError, AppResult};
use crate::store::staff::{self, StaffRow};
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use dvc_domain::agency::AgencyCode;
use dvc_domain::staff::{Role, visible_agencies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/can-bo", get(queues::page))
        .route("/can-bo/dang-nhap", get(login::form).post(login::submit))
        .route("/can-bo/dang-xuat", post(login::logout))
        .route("/can-bo/ho-so/{code}", get(dossier::page))
        .route(
            "/can-bo/ho-so/{code}/thao-tac/{action}",
            post(dossier::act).layer(axum::extract::DefaultBodyLimit::max(
                super::MAX_DECLARATION_BODY,
            )),
        )
        .route("/can-bo/ho-so/{code}/tep/{id}", get(dossier::attachment))
        .route("/can-bo/ho-so/{code}/ket-qua", get(dossier::result_file))
        .route(
            "/can-bo/ho-so/{code}/giay-to/{kind}",
            get(documents::staff_document),
        )
        .route(
            "/can-bo/quan-tri/can-bo",
            get(admin::page).post(admin::create),
        )
        .route(
            "/can-bo/quan-tri/can-bo/{id}/trang-thai",
            post(admin::toggle),
        )
}

/// The logged-in official for this request.
pub struct StaffCtx {
    pub staff: StaffRow,
    pub role: Role,
    pub csrf: String,
    pub session_hash: String,
    /// Agency codes whose dossiers this official may see.
    pub visible: Vec<String>,
}

impl StaffCtx {
    pub fn agency(&self) -> Option<AgencyCode> {
        AgencyCode::parse(&self.staff.agency_code).ok()
    }

    /// Refuses a dossier outside this official's agencies.
    pub fn check_scope(&self, agency_code: &str) -> AppResult<()> {
        if self.visible.iter().any(|a| a == agency_code) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "Hồ sơ này không thuộc đơn vị của bạn, nên bạn không xem hoặc xử lý được.".into(),
            ))
        }
    }
}

pub async fn require_staff(state: &AppState, headers: &HeaderMap) -> AppResult<StaffCtx> {
    let raw = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == cookie_name(state))
        .map(|(_, v)| v.to_string());
    let Some(raw) = raw.filter(|r| r.len() <= 100) else {
        return Err(AppError::LoginRequired);
    };
    let hash = sha256_hex(&raw);
    let Some((csrf, staff)) = staff::session_staff(&state.db, &hash, crate::now_ms()).await? else {
        return Err(AppError::LoginRequired);
    };
    let role = staff.role().ok_or(AppError::LoginRequired)?;
    let catalog = state.catalog();
    let visible = match AgencyCode::parse(&staff.agency_code) {
        Ok(code) => visible_agencies(role, &code, &catalog.agencies)
            .into_iter()
            .map(|c| c.to_string())
            .collect(),
        Err(_) => vec![],
    };
    Ok(StaffCtx {
        staff,
        role,
        csrf,
        session_hash: hash,
        visible,
    })
}
