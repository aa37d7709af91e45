//! Every upload (declaration, supplement, staff result) goes through the antivirus scanner
//! ([`crate::scan`]) where its bytes are received, before the content checks and before anything
//! is stored:
//!
//! - clean: the upload goes on to the content checks ([`dvc_domain::upload::inspect`]);
//! - infected: refused with a message naming the file, never stored, and an `upload_infected`
//!   entry in the audit log (the file name and the signature's name, nothing else about the
//!   person);
//! - no verdict (daemon unreachable, too slow, or answering with an error): the request fails
//!   closed with 503 and `Retry-After`, nothing of it stored (a declaration stays a draft);
//!   `/healthz` reports the scanner as degraded while it does not answer.
//!
//! Without `DVC_CLAMD_URL` nothing is scanned, and the portal says so loudly at start.

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::scan::Verdict;
use crate::store::audit;

/// The audit action of a refused, infected upload.
pub const AUDIT_ACTION: &str = "upload_infected";

/// Who uploaded, for the audit log: `citizen`, or the official's e-mail.
pub struct Uploader<'a> {
    pub actor: &'a str,
    /// Where the file came from, for the log line (e.g. `declaration 1.001193`).
    pub place: &'a str,
}

/// Scans one upload. `Ok(None)`: clean, or no scanner configured. `Ok(Some(message))`: infected,
/// refused and audited; the message names the file. `Err`: no verdict, the request fails closed.
pub async fn check(
    state: &AppState,
    bytes: &[u8],
    client_name: &str,
    who: &Uploader<'_>,
) -> AppResult<Option<String>> {
    let Some(scanner) = &state.scanner else {
        return Ok(None);
    };
    match scanner.scan(bytes).await {
        Ok(Verdict::Clean) => Ok(None),
        Ok(Verdict::Infected(signature)) => {
            let file = dvc_domain::form::shown_file_name(client_name);
            tracing::warn!(place = who.place, signature = %signature, file = %file, "infected upload refused");
            audit::append(
                &state.db,
                &state.audit_key,
                dvc_domain::audit::Entry {
                    seq: 0,
                    at: state.clock.now_ms(),
                    actor: who.actor.to_string(),
                    ip: String::new(),
                    action: AUDIT_ACTION.into(),
                    subject: file,
                    from_state: None,
                    to_state: None,
                    reason: Some(signature),
                    event_id: None,
                    event_hash: None,
                },
            )
            .await?;
            Ok(Some(dvc_domain::upload::infected_message(client_name)))
        }
        Err(e) => {
            tracing::error!(error = %e, place = who.place, "antivirus scan failed: upload refused for now (fail closed)");
            Err(unavailable())
        }
    }
}

/// The answer when the scanner gives no verdict.
pub fn unavailable() -> AppError {
    AppError::ServiceUnavailable(dvc_domain::upload::SCANNER_UNAVAILABLE.into())
}

/// The scanner's state for `/healthz`: `None` when none is configured, else whether it answers.
pub async fn healthy(state: &AppState) -> Option<bool> {
    let scanner = state.scanner.as_ref()?;
    match scanner.ping().await {
        Ok(()) => Some(true),
        Err(e) => {
            tracing::warn!(error = %e, "health check: antivirus scanner not answering");
            Some(false)
        }
    }
}
