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
        let day_ago = now - crate::web::staff::login::FORGET_MS;
        if let Err(e) = crate::store::login_throttle::purge(&db, day_ago).await {
            tracing::warn!(error = %e, "housekeeping: old login failures not purged");
        }
        if let Err(e) = limiter.purge(now).await {
            tracing::warn!(error = %e, "housekeeping: rate-limit windows not purged");
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
