//! The application error type and the error policy.
//!
//! Policy:
//! - The domain crate returns precise `thiserror` errors whose messages are Vietnamese and say how
//!   to fix the input; handlers turn them into [`AppError`] variants or into form errors.
//! - Storage returns [`crate::store::StoreError`]; jobs and the CLI use `anyhow`.
//! - Handlers return `Result<_, AppError>`. An `AppError` renders as a Vietnamese HTML page, or as
//!   JSON `{"error": {"code", "message"}}` for `/api` routes ([`ApiError`]). Internal errors are
//!   logged with their detail and shown only as a reference id: never a stack trace or SQL.

use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Retry-After` of a [`AppError::ServiceUnavailable`] answer.
pub const SERVICE_RETRY_AFTER_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    /// The request body arrived too slowly (see [`crate::web::admission`]).
    #[error("{0}")]
    RequestTimeout(String),
    /// The node is serving as many requests as it may at once (see `web::shed_load`).
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
    /// A service the request needs (the antivirus scanner) gave no answer: try again shortly.
    /// Answered with `Retry-After`.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Back office: not logged in; answered with a redirect to the login page.
    #[error("Cần đăng nhập.")]
    LoginRequired,
    #[error("lỗi hệ thống")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("Không tìm thấy dữ liệu yêu cầu.".into()),
            StoreError::Conflict(m) => AppError::Conflict(m),
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::files::FilesError> for AppError {
    fn from(e: crate::files::FilesError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

impl From<minijinja::Error> for AppError {
    fn from(e: minijinja::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e:#}"))
    }
}

impl AppError {
    pub fn not_found() -> Self {
        AppError::NotFound(
            "Không tìm thấy trang bạn yêu cầu. Kiểm tra lại địa chỉ hoặc quay về trang chủ.".into(),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::LoginRequired => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::NotFound(_) => "not_found",
            AppError::BadRequest(_) => "bad_request",
            AppError::Forbidden(_) => "forbidden",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::Conflict(_) => "conflict",
            AppError::RequestTimeout(_) => "request_timeout",
            AppError::Overloaded { .. } => "overloaded",
            AppError::ServiceUnavailable(_) => "service_unavailable",
            AppError::LoginRequired => "login_required",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message safe to show; internal errors are logged and replaced by a reference id.
    fn public_message(&self) -> String {
        match self {
            AppError::Internal(e) => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();
                tracing::error!(error = %format!("{e:#}"), reference = %reference, "internal error");
                format!(
                    "Hệ thống đang gặp sự cố, dữ liệu bạn đã lưu không bị mất. Vui lòng thử lại sau ít phút. Mã tham chiếu: {reference}."
                )
            }
            AppError::Forbidden(m) => {
                // Failed authorization and anti-forgery checks are security events (ASVS 16.3).
                tracing::warn!(reason = %m, "request refused (403)");
                m.clone()
            }
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests {
                retry_after_secs, ..
            }
            | AppError::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            AppError::ServiceUnavailable(_) => Some(SERVICE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::LoginRequired = self {
            return axum::response::Redirect::to("/can-bo/dang-nhap").into_response();
        }
        let status = self.status();
        let message = self.public_message();
        let title = match status {
            _ if matches!(self, AppError::Overloaded { .. }) => "Cổng đang quá tải",
            StatusCode::NOT_FOUND => "Không tìm thấy trang",
            StatusCode::FORBIDDEN => "Yêu cầu bị từ chối",
            StatusCode::PAYLOAD_TOO_LARGE => "Tệp quá lớn",
            StatusCode::TOO_MANY_REQUESTS => "Quá nhiều yêu cầu",
            StatusCode::CONFLICT => "Không thực hiện được thao tác",
            StatusCode::REQUEST_TIMEOUT => "Hết thời gian chờ",
            StatusCode::SERVICE_UNAVAILABLE => "Hệ thống đang bận",
            StatusCode::INTERNAL_SERVER_ERROR => "Hệ thống đang gặp sự cố",
            _ => "Yêu cầu chưa hợp lệ",
        };
        let html = crate::web::templates::render_error(title, &message, status.as_u16());
        let mut resp = (status, axum::response::Html(html)).into_response();
        if let Some(secs) = self.retry_after()
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// The same error, rendered as JSON for the API.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let retry = self.0.retry_after();
        let body = serde_json::json!({ "error": { "code": self.0.code(), "message": self.0.public_message() } });
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
