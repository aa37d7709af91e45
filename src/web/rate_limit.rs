//! Rate limits on public forms and lookups: fixed windows per client IP and action.
//!
//! On PostgreSQL (several web nodes) the counters live in the database (`rate_limits`), so every
//! node counts in the same place and a limit holds whichever node a request reaches: one
//! statement per hit (an upsert returning the count); housekeeping deletes finished windows.
//! On SQLite there is one node by construction (the database is a file of that node), so the
//! counters live in the process: the same limits, without a database write on every lookup.

use crate::store::{Db, rate_limits};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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

/// In-process counters: (action, ip) → (window start, count).
type Counters = Arc<Mutex<HashMap<(Action, IpAddr), (i64, i64)>>>;

#[derive(Clone, Debug)]
pub enum RateLimiter {
    /// Shared by every node through the database.
    Shared(Db),
    /// This process only (the single node of an SQLite installation).
    Local(Counters),
}

impl RateLimiter {
    /// The right limiter for the database: in-process for SQLite, shared for PostgreSQL.
    pub fn for_db(db: Db) -> RateLimiter {
        match db {
            Db::Sqlite(_) => RateLimiter::Local(Counters::default()),
            Db::Postgres(_) => RateLimiter::Shared(db),
        }
    }

    /// Counters in the database, whatever the backend.
    pub fn shared(db: Db) -> RateLimiter {
        RateLimiter::Shared(db)
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
        let count = match self {
            RateLimiter::Shared(db) => {
                let key = format!("{}:{ip}", action.as_str());
                match rate_limits::hit(db, &key, start).await {
                    Ok(count) => count,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limit not counted: database error");
                        return Ok(());
                    }
                }
            }
            RateLimiter::Local(counters) => {
                let mut map = match counters.lock() {
                    Ok(m) => m,
                    Err(p) => p.into_inner(),
                };
                if map.len() > 100_000 {
                    // Many addresses: drop the finished windows before adding one more.
                    map.retain(|_, (s, _)| *s + LONGEST_WINDOW_MS > now);
                }
                let entry = map.entry((action, ip)).or_insert((start, 0));
                if entry.0 != start {
                    *entry = (start, 0);
                }
                entry.1 += 1;
                entry.1
            }
        };
        if count > i64::from(limit) {
            let retry_ms = start + window_ms - now;
            Err(u64::try_from(retry_ms / 1000 + 1).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    /// Deletes finished windows (called by housekeeping); returns how many went.
    pub async fn purge(&self, now: i64) -> crate::store::StoreResult<u64> {
        match self {
            RateLimiter::Shared(db) => rate_limits::purge(db, now - LONGEST_WINDOW_MS).await,
            RateLimiter::Local(counters) => {
                let mut map = match counters.lock() {
                    Ok(m) => m,
                    Err(p) => p.into_inner(),
                };
                let before = map.len();
                map.retain(|_, (s, _)| *s >= now - LONGEST_WINDOW_MS);
                Ok(u64::try_from(before - map.len()).unwrap_or(0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_counters_limit_reset_and_purge() {
        let r = RateLimiter::Local(Counters::default());
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 1_000).await.is_ok());
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 2_000).await.is_ok());
        assert_eq!(r.hit(Action::Lookup, ip, 2, 60_000, 3_000).await, Err(58));
        // Another address and another action count apart.
        assert!(r.hit(Action::Lookup, other, 2, 60_000, 3_000).await.is_ok());
        assert!(r.hit(Action::Submit, ip, 2, 60_000, 3_000).await.is_ok());
        // A new window starts afresh.
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 61_000).await.is_ok());
        assert_eq!(r.purge(60_000 + LONGEST_WINDOW_MS).await.expect("purge"), 2);
        assert_eq!(r.purge(60_000 + LONGEST_WINDOW_MS).await.expect("purge"), 0);
    }

    #[tokio::test]
    async fn limits_and_resets_in_the_database() {
        let path =
            std::env::temp_dir().join(format!("dvc-rl-{}.db", uuid::Uuid::new_v4().simple()));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("db");
        db.migrate().await.expect("migrate");
        let r = RateLimiter::shared(db.clone());
        // A second limiter on the same database stands for a second web node.
        let other = RateLimiter::shared(db.clone());
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
