//! The back office (`/can-bo`): officials log in, see their queues, and move dossiers through
//! the workflow. Every handler starts with [`require_staff`]; every action checks the role
//! (`Role::may`), the agency scope and the state machine, on the server.

pub mod admin;
pub mod documents;
pub mod dossier;
pub mod intake;
pub mod integrations;
pub mod login;
pub mod procedures;
pub mod queues;
pub mod register;
pub mod statistics;

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
        .route("/can-bo/so-theo-doi", get(register::page))
        .route("/can-bo/thong-ke", get(statistics::page))
        .route(
            "/can-bo/tiep-nhan-truc-tiep",
            get(intake::page)
                .post(intake::submit)
                .layer(axum::extract::DefaultBodyLimit::max(
                    super::MAX_DECLARATION_BODY,
                )),
        )
        .route(
            "/can-bo/quan-tri/can-bo",
            get(admin::page).post(admin::create),
        )
        .route(
            "/can-bo/quan-tri/can-bo/{id}/trang-thai",
            post(admin::toggle),
        )
        .route("/can-bo/quan-tri/thu-tuc", get(procedures::list))
        .route(
            "/can-bo/quan-tri/thu-tuc/moi",
            get(procedures::new_form).post(procedures::create),
        )
        .route("/can-bo/quan-tri/thu-tuc/nhap", post(procedures::import))
        .route("/can-bo/quan-tri/thu-tuc/{code}", get(procedures::show))
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/sua",
            get(procedures::edit_form).post(procedures::save),
        )
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/xuat-ban",
            post(procedures::publish),
        )
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/huy-nhap",
            post(procedures::discard),
        )
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/ngung-ap-dung",
            post(procedures::retire),
        )
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/phien-ban/{version}",
            get(procedures::version),
        )
        .route(
            "/can-bo/quan-tri/thu-tuc/{code}/toml",
            get(procedures::export),
        )
        .route("/can-bo/quan-tri/tich-hop", get(integrations::page))
        .route(
            "/can-bo/quan-tri/tich-hop/{id}/gui-lai",
            post(integrations::resend),
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

    /// Refuses the administrator role any dossier (its page, attachments, result, documents):
    /// administrators manage accounts, they do not open citizens' files.
    pub fn check_opens_dossiers(&self) -> AppResult<()> {
        if self.role == Role::Admin {
            return Err(AppError::Forbidden(
                "Tài khoản quản trị hệ thống không mở hồ sơ, tệp đính kèm hay văn bản của hồ sơ. Hãy đăng nhập bằng tài khoản cán bộ xử lý hồ sơ.".into(),
            ));
        }
        Ok(())
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
    let Some((csrf, staff)) = staff::session_staff(&state.db, &hash, state.clock.now_ms()).await?
    else {
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

/// A back-office POST, checked once for every handler: the origin, the official's session
/// (before any body is read), the posted fields (URL-encoded, or multipart with at most one
/// file, `result_file`) and the CSRF token, compared in constant time.
pub struct StaffForm {
    pub ctx: StaffCtx,
    pub peer: Option<std::net::SocketAddr>,
    pub headers: HeaderMap,
    fields: Vec<(String, String)>,
    /// An uploaded file: (client file name, bytes).
    pub file: Option<(String, axum::body::Bytes)>,
}

impl StaffForm {
    /// A trimmed, non-empty field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The client's address, for the audit trail.
    pub fn ip(&self, state: &AppState) -> String {
        super::security::client_ip(state, &self.headers, self.peer).to_string()
    }
}

/// Largest file an official uploads (a result document).
const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

impl axum::extract::FromRequest<AppState> for StaffForm {
    type Rejection = AppError;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::Multipart;
        let headers = req.headers().clone();
        super::security::check_origin(state, &headers)?;
        let ctx = require_staff(state, &headers).await?;
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let bad = || {
            AppError::BadRequest(
                "Dữ liệu gửi lên không đọc được. Hãy tải lại trang rồi thực hiện lại.".into(),
            )
        };
        let is_multipart = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        let mut form = StaffForm {
            ctx,
            peer,
            headers,
            fields: vec![],
            file: None,
        };
        if is_multipart {
            let (_admitted, req) = super::admission::admit(state, req).await?;
            let mut mp = Multipart::from_request(req, state)
                .await
                .map_err(|_| bad())?;
            while let Some(mut field) = mp.next_field().await.map_err(|_| bad())? {
                let name = field.name().unwrap_or("").to_string();
                if name == "result_file" {
                    let file_name = field.file_name().unwrap_or("").to_string();
                    let mut buf = Vec::new();
                    while let Some(chunk) = field.chunk().await.map_err(|_| bad())? {
                        if buf.len() + chunk.len() > MAX_FILE_BYTES {
                            return Err(AppError::PayloadTooLarge(
                                "Tệp lớn hơn 20 MB. Hãy nén hoặc quét lại ở độ phân giải thấp hơn."
                                    .into(),
                            ));
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    if !buf.is_empty() {
                        form.file = Some((file_name, axum::body::Bytes::from(buf)));
                    }
                } else {
                    let text = field.text().await.map_err(|_| bad())?;
                    form.fields.push((name, text.chars().take(5000).collect()));
                }
            }
        } else {
            let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(|_| bad())?;
            form.fields = fields;
        }
        // Control characters (NUL above all) never reach the timeline, the audit log or a PDF.
        for (_, v) in &mut form.fields {
            *v = dvc_domain::text::clean_input(v);
        }
        let token = form.get("csrf").unwrap_or("");
        if token.is_empty() || !super::security::ct_eq(token, &form.ctx.csrf) {
            return Err(AppError::Forbidden(
                "Phiên làm việc đã hết hạn. Hãy tải lại trang rồi thực hiện lại.".into(),
            ));
        }
        Ok(form)
    }
}
