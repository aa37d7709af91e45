//! Structured logs (tracing), with the request id on every request span.

use crate::config::LogFormat;
use axum::http::Request;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DVC_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Span for one request: method, path (without the query, which may hold codes) and request id.
pub fn make_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let path = redact_path(req.uri().path());
    tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
}

/// The path as logged: the secret of a private link (`/ho-so/xem/<token>/…`) is a bearer
/// credential and never reaches the logs.
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    const PRIVATE: &str = "/ho-so/xem/";
    match path.strip_prefix(PRIVATE) {
        Some(rest) => {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            format!("{PRIVATE}***{tail}").into()
        }
        None => path.into(),
    }
}
