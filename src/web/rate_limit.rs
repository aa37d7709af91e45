//! Rate limits on public forms and lookups: fixed windows per client IP and action.
//!
//! The counters live in the database (`rate_limits`), so every web node of a deployment counts
//! in the same place and a limit holds whichever node a request reaches. One statement per hit
//! (an upsert returning the count); housekeeping deletes finished windows.

use crate::store::{Db, rate_limits};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    Lookup,
    Upload,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Lookup => "lookup",
            Action::Upload => "upload",
        }
    }
}

/// The longest window in use (submissions and uploads: one hour); older windows can go.
pub const LONGEST_WINDOW_MS: i64 = 3_600_000;

#[derive(Clone, Debug)]
pub struct RateLimiter {
    db: Db,
}

impl RateLimiter {
    pub fn new(db: Db) -> RateLimiter {
        RateLimiter { db }
    }

    /// Counts one hit; `Err(retry_after_secs)` when over `limit` within the current window.
    ///
    /// If the database cannot be reached the hit is let through (and logged): the request
    /// itself will then fail on its own database work with a proper error page.
    pub async fn hit(
        &self,
        action: Action,
        ip: IpAddr,
        limit: u32,
        window_ms: i64,
        now: i64,
    ) -> Result<(), u64> {
        let window_ms = window_ms.max(1);
        let start = now - now.rem_euclid(window_ms);
        let key = format!("{}:{ip}", action.as_str());
        match rate_limits::hit(&self.db, &key, start).await {
            Ok(count) if count > i64::from(limit) => {
                let retry_ms = start + window_ms - now;
                Err(u64::try_from(retry_ms / 1000 + 1).unwrap_or(1))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not counted: database error");
                Ok(())
            }
        }
    }

    /// Deletes finished windows (called by housekeeping).
    pub async fn purge(&self, now: i64) -> crate::store::StoreResult<u64> {
        rate_limits::purge(&self.db, now - LONGEST_WINDOW_MS).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_and_resets_in_the_database() {
        let path =
            std::env::temp_dir().join(format!("dvc-rl-{}.db", uuid::Uuid::new_v4().simple()));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("db");
        db.migrate().await.expect("migrate");
        let r = RateLimiter::new(db.clone());
        // A second limiter on the same database stands for a second web node.
        let other = RateLimiter::new(db.clone());
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 1_000).await.is_ok());
        assert!(
            other
                .hit(Action::Lookup, ip, 2, 60_000, 2_000)
                .await
                .is_ok()
        );
        assert_eq!(r.hit(Action::Lookup, ip, 2, 60_000, 3_000).await, Err(58));
        assert_eq!(
            other.hit(Action::Lookup, ip, 2, 60_000, 4_000).await,
            Err(57)
        );
        assert!(r.hit(Action::Submit, ip, 2, 60_000, 3_000).await.is_ok());
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 61_000).await.is_ok());
        // Housekeeping keeps the current windows and drops the old ones.
        assert_eq!(r.purge(60_000 + LONGEST_WINDOW_MS).await.expect("purge"), 2);
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 62_000).await.is_ok());
        assert_eq!(r.hit(Action::Lookup, ip, 2, 60_000, 63_000).await, Err(58));
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
