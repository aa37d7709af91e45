//! Integrations with other systems: the events partners receive (change feed and webhooks),
//! webhook destinations checked against SSRF, webhook secrets, and the national portal's
//! adapter ([`national`]). The rules themselves are in `dvc_domain::integration`; the delivery
//! worker is `jobs::deliveries`; the partner API is `web::partner_api`.

pub mod national;

use crate::store::partners::FeedRow;
use dvc_domain::audit::AuditKey;
use dvc_domain::integration::{UrlRefusal, is_public_address};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

/// One workflow event, as the change feed lists it and a webhook receives it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "42", "type": "receive", "at": "2026-12-05T09:30:00+07:00[Asia/Ho_Chi_Minh]",
    "dossier_code": "000.01.00.H31-261205-0001", "procedure_code": "1.001193",
    "agency_code": "000.01.00.H31", "from_status": "submitted", "to_status": "received",
    "note": "Đã tiếp nhận hồ sơ"
}))]
pub struct EventItem {
    /// The event's id: also the feed cursor after it, and the `DVC-Event-Id` of its webhook
    /// deliveries (the same on every retry: receivers drop duplicates by it).
    pub id: String,
    /// `file` or a workflow action (`receive`, `request_supplement`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339, Vietnam time).
    pub at: String,
    pub dossier_code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub from_status: Option<String>,
    pub to_status: String,
    /// The public note of the timeline (never a personal detail).
    pub note: Option<String>,
}

impl From<&FeedRow> for EventItem {
    fn from(r: &FeedRow) -> Self {
        EventItem {
            id: r.id.to_string(),
            kind: r.action.clone(),
            at: crate::ts(r.at)
                .to_zoned_datetime(dvc_domain::calendar::vn_tz())
                .to_string(),
            dossier_code: r.dossier_code.clone(),
            procedure_code: r.procedure_code.clone(),
            agency_code: r.agency_code.clone(),
            from_status: r.from_status.clone(),
            to_status: r.to_status.clone(),
            note: r.public_note.clone(),
        }
    }
}

/// The signing secret of a webhook: derived from its stored salt with the server's audit key,
/// so that the database alone does not reveal it.
pub fn webhook_secret(key: &AuditKey, salt: &str) -> String {
    format!(
        "whsec_{}",
        key.mac([Some("dvc-webhook-secret-v1"), Some(salt)])
    )
}

/// The key of the links to attached files the national portal downloads
/// (`TaiLieuNop[].DuongDanTaiTepTin`): derived from the server's audit key, never stored.
pub fn attachment_link_key(key: &AuditKey) -> String {
    key.mac([Some("dvc-dvcqg-attachment-link-v1")])
}

/// The path (under the portal's base URL) of the link to attachment `attachment_id` of
/// dossier `dossier_id`, valid until `expires` (Unix seconds). The ids alone open nothing: the
/// signature covers dossier, attachment and expiry.
pub fn attachment_link_path(
    key: &AuditKey,
    dossier_id: i64,
    attachment_id: i64,
    expires: i64,
) -> String {
    let sig = dvc_domain::integration::attachment_link_signature(
        attachment_link_key(key).as_bytes(),
        dossier_id,
        attachment_id,
        expires,
    );
    format!("{ATTACHMENT_LINK_PREFIX}{attachment_id}?expires={expires}&signature={sig}")
}

/// Where the attachment links are served (`web::partner_api::national_attachment`).
pub const ATTACHMENT_LINK_PREFIX: &str = "/api/v1/national/attachments/";

/// A webhook destination that passed the checks: the URL and the addresses its host resolved
/// to (the delivery connects to these, so that a DNS answer changed after the check cannot
/// redirect it).
#[derive(Debug, Clone)]
pub struct Destination {
    pub url: url::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Checks a webhook URL: https, no credentials, and every address its host resolves to public
/// (`dvc_domain::integration::is_public_address`) — unless `allow_insecure`
/// (`DVC_WEBHOOK_ALLOW_INSECURE=true`), which allows http and any address.
pub async fn check_destination(raw: &str, allow_insecure: bool) -> Result<Destination, UrlRefusal> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlRefusal::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err(UrlRefusal::NotHttps),
        _ => return Err(UrlRefusal::Invalid),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(UrlRefusal::Invalid)?
        .to_string();
    let port = url.port_or_known_default().ok_or(UrlRefusal::Invalid)?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((bare.as_str(), port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        _ => return Err(UrlRefusal::Invalid),
    };
    if addrs.is_empty() {
        return Err(UrlRefusal::Invalid);
    }
    if !allow_insecure && let Some(bad) = addrs.iter().find(|a| !is_public_address(a.ip())) {
        return Err(UrlRefusal::PrivateAddress(bad.ip().to_string()));
    }
    Ok(Destination {
        url,
        host: bare,
        addrs,
    })
}
