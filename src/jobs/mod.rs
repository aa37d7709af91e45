//! Background jobs: the e-mail outbox worker and housekeeping.

pub mod mailer;

use crate::files::Files;
use crate::store::{Db, sessions};
use std::time::Duration;

/// Deletes expired sessions, challenges, abandoned drafts (with their uploaded files) and
/// finished rate-limit windows, hourly.
pub async fn housekeeping(db: Db, files: Files, limiter: crate::web::rate_limit::RateLimiter) {
    loop {
        let now = crate::now_ms();
        match sessions::purge_expired(&db, now, now - 7 * 24 * 3600 * 1000).await {
            Ok(keys) => {
                for k in keys {
                    if let Err(e) = files.delete(&k).await {
                        tracing::warn!(error = %e, "could not delete an abandoned draft file");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        if let Err(e) = limiter.purge(now).await {
            tracing::warn!(error = %e, "housekeeping: rate-limit windows not purged");
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Logs the audit trail's head (`SEQ HASH`, as `dichvucong audit head` prints it) at start and
/// daily, so that operators can copy it out of the machine and later check with
/// `dichvucong audit verify --expect-head SEQ:HASH` that nothing was cut or rewritten.
pub async fn log_audit_head(db: Db) {
    loop {
        match crate::store::audit::head(&db).await {
            Ok((seq, hash)) => {
                tracing::info!(audit_head = %format!("{seq}:{hash}"), "audit trail head")
            }
            Err(e) => tracing::warn!(error = %e, "audit trail head not read"),
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}
