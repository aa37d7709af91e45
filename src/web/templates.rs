//! Page templates (minijinja, embedded in the binary) and static assets with fingerprinted names.

use crate::error::AppResult;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// Every template, by name. `tests` render each of them.
macro_rules! templates {
    ($($name:literal),* $(,)?) => { &[$(($name, include_str!(concat!("../../templates/", $name)))),*] };
}

pub const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "home.html",
    "catalog.html",
    "procedure.html",
    "blank_form.html",
    "declaration.html",
    "review.html",
    "confirmation.html",
    "lookup.html",
    "dossier_private.html",
    "error.html",
    "status_block.html",
    "supplement.html",
    "withdraw.html",
    "signin_error.html",
    "signout.html",
    "my_dossiers.html",
    "rating.html",
    "statistics.html",
    "statistics_report.html",
    "statistics_filters.html",
    "staff_statistics.html",
    "payment_result.html",
    "sandbox_vnpay.html",
    "staff_base.html",
    "staff_login.html",
    "staff_queues.html",
    "staff_dossier.html",
    "staff_admin.html",
    "staff_procedures.html",
    "staff_procedure.html",
    "staff_procedure_edit.html",
    "staff_procedure_version.html",
    "staff_intake.html",
    "staff_integrations.html",
    "email_confirmation.txt",
    "email_update.txt",
];

pub struct Asset {
    pub name: &'static str,
    pub body: &'static [u8],
    pub content_type: &'static str,
    pub fingerprinted: String,
}

fn asset(name: &'static str, body: &'static [u8], content_type: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..5]);
    let fingerprinted = match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    };
    Asset {
        name,
        body,
        content_type,
        fingerprinted,
    }
}

pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "app.css",
            include_bytes!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        asset(
            "print.css",
            include_bytes!("../../static/print.css"),
            "text/css; charset=utf-8",
        ),
        asset(
            "form.js",
            include_bytes!("../../static/form.js"),
            "text/javascript; charset=utf-8",
        ),
        asset(
            "copy.js",
            include_bytes!("../../static/copy.js"),
            "text/javascript; charset=utf-8",
        ),
    ]
});

/// URL of a static asset, with its fingerprint.
pub fn asset_url(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("/static/{}", a.fingerprinted))
        .unwrap_or_default()
}

pub async fn static_file(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.fingerprinted == file) {
        Some(a) => {
            let mut r = a.body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            r
        }
        None => crate::error::AppError::not_found().into_response(),
    }
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in TEMPLATES {
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env.add_global("css_url", asset_url("app.css"));
    env.add_global("print_css_url", asset_url("print.css"));
    env.add_global("form_js_url", asset_url("form.js"));
    env.add_global("copy_js_url", asset_url("copy.js"));
    env.add_filter("vnd", vnd);
    env.add_filter("datetime", datetime);
    env.add_filter("date", date);
    env.add_filter("vidate", vidate);
    env.add_filter("isodatetime", isodatetime);
    env.add_filter("code_parts", code_parts);
    env
});

/// "8.000 đ" — đồng with dots as thousands separators.
pub fn format_vnd(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    format!("{out} đồng")
}

fn vnd(n: u64) -> String {
    if n == 0 {
        "Miễn phí".into()
    } else {
        format_vnd(n)
    }
}

fn vn_zoned(ms: i64) -> jiff::ZonedDateTime {
    crate::ts(ms).to_zoned_datetime(dvc_domain::calendar::vn_tz())
}

/// Milliseconds → "14:05, 28/11/2026" in Asia/Ho_Chi_Minh.
pub fn format_datetime(ms: i64) -> String {
    vn_zoned(ms).strftime("%H:%M, %d/%m/%Y").to_string()
}

fn datetime(ms: Option<i64>) -> String {
    ms.map(format_datetime).unwrap_or_default()
}

fn date(ms: Option<i64>) -> String {
    ms.map(|m| vn_zoned(m).strftime("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// A dossier code split at its hyphens ("000.00.02.H31", "261205", "0001"): pages set each
/// part unbreakable, so that on a narrow phone the code wraps only between its parts.
/// The parts of a dossier code between its hyphens, each cut after its dots:
/// "000.00.02.H31-261205-0001" → [["000.", "01.", "00.", "H31"], ["261205"], ["0001"]]. The page
/// lets the code wrap only there, never inside a part's digits.
fn code_parts(code: String) -> Vec<Vec<String>> {
    code.split('-')
        .map(|part| part.split_inclusive('.').map(str::to_string).collect())
        .collect()
}

/// RFC 3339 timestamp → "14:05, 28/11/2026" in Asia/Ho_Chi_Minh.
fn isodatetime(s: String) -> String {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => format_datetime(t.as_millisecond()),
        Err(_) => s,
    }
}

/// "2026-03-27" → "27/03/2026" (answers are stored in ISO form).
fn vidate(s: String) -> String {
    match dvc_domain::form::parse_date(&s) {
        Some(d) => d.strftime("%d/%m/%Y").to_string(),
        None => s,
    }
}

/// A serde value for a template context.
pub fn ser<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

pub fn render(name: &str, ctx: Value) -> AppResult<Html<String>> {
    let t = ENV.get_template(name)?;
    Ok(Html(t.render(ctx)?))
}

/// Renders with a status code.
pub fn render_status(status: StatusCode, name: &str, ctx: Value) -> AppResult<Response> {
    Ok((status, render(name, ctx)?).into_response())
}

/// Pages that are the same for every visitor but for one token, rendered once with [`SLOT`] in
/// its place (e.g. a procedure's declaration page before anything is typed, where only the CSRF
/// token differs). A few dozen recent pages, least recently used dropped first; emptied when the
/// catalogue is reloaded.
#[derive(Debug, Default)]
pub struct PageCache {
    pages: std::sync::Mutex<Vec<(String, std::sync::Arc<str>)>>,
}

/// Stands for the per-visitor token in a cached page (survives HTML escaping unchanged).
pub const SLOT: &str = "dvc-slot-3f9c1e7a";

const PAGE_CACHE_SIZE: usize = 64;

impl PageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, std::sync::Arc<str>)>> {
        match self.pages.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The page under `key` with `token` in the slot, rendering it with `render` (given [`SLOT`]
    /// as the token) the first time.
    pub fn page(
        &self,
        key: &str,
        token: &str,
        render: impl FnOnce(&str) -> AppResult<String>,
    ) -> AppResult<String> {
        let cached = {
            let mut pages = self.lock();
            pages.iter().position(|(k, _)| k == key).map(|i| {
                let hit = pages.remove(i);
                let html = hit.1.clone();
                pages.push(hit);
                html
            })
        };
        let html = match cached {
            Some(h) => h,
            None => {
                let h: std::sync::Arc<str> = render(SLOT)?.into();
                let mut pages = self.lock();
                if !pages.iter().any(|(k, _)| k == key) {
                    if pages.len() >= PAGE_CACHE_SIZE {
                        pages.remove(0);
                    }
                    pages.push((key.to_string(), h.clone()));
                }
                h
            }
        };
        Ok(html.replace(SLOT, token))
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The error page; falls back to plain text if the template itself fails.
pub fn render_error(title: &str, message: &str, status: u16) -> String {
    ENV.get_template("error.html")
        .and_then(|t| t.render(context! { title, message, status }))
        .unwrap_or_else(|_| format!("<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>{status}</title><p>{status}</p></html>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn money() {
        assert_eq!(format_vnd(8000), "8.000 đồng");
        assert_eq!(format_vnd(200000), "200.000 đồng");
        assert_eq!(format_vnd(5), "5 đồng");
    }
}
