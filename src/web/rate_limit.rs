//! Rate limits on public forms and lookups: fixed windows per client IP and action.
//!
//! On PostgreSQL (several web nodes) the counters are shared through the database
//! (`rate_limits`), so that a limit holds whichever node a request reaches. Writing every hit
//! would cost a database statement per lookup and two per submission, so each node counts in
//! memory while a client is well under its limit and adds its counts to the database in one
//! statement every second ([`RateLimiter::flush`]). Once a client's known count reaches half of
//! the limit, every further hit is added at once and decided on the database's total: the limit
//! itself is exact; only the early, harmless half is counted with up to a second of delay across
//! nodes. Housekeeping deletes finished windows.
//! On SQLite there is one node by construction (the database is a file of that node), so the
//! counters live in the process only.
//!
//! Clients are counted by [`crate::web::security::client_group`] (an IPv6 address by its /64).
//! The in-memory counters are bounded: at most [`MAX_TRACKED`] entries, the least recently seen
//! forgotten first (an LRU list), O(1) per request whatever the number of clients. An evicted
//! entry starts again from zero when its client comes back; on PostgreSQL it loses at most the
//! early, not yet shared half of a limit.

use crate::store::{Db, StoreResult, rate_limits};
use hashlink::linked_hash_map::Entry;
use std::collections::hash_map::RandomState;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    Lookup,
    Upload,
    SignIn,
    /// A partner's API calls (counted per partner, see `web::partner_api`).
    Api,
    /// OAuth2 token requests, per client address.
    Token,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Lookup => "lookup",
            Action::Upload => "upload",
            Action::SignIn => "signin",
            Action::Api => "api",
            Action::Token => "token",
        }
    }
}

/// The longest window in use (submissions and uploads: one hour); older windows can go.
pub const LONGEST_WINDOW_MS: i64 = 3_600_000;

/// How often a node adds its in-memory counts to the shared counters.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Most entries kept in memory (clients × actions, or windows).
pub const MAX_TRACKED: usize = 100_000;

/// A bounded map, least recently used entry evicted first; SipHash with a random key, so that
/// chosen addresses cannot make the table slow.
type Lru<K, V> = hashlink::LruCache<K, V, RandomState>;

fn lru<K: Eq + Hash, V>(capacity: usize) -> Lru<K, V> {
    Lru::with_hasher(capacity.max(1), RandomState::new())
}

/// The entry for `key`, marked as just used (created with `init` if missing, evicting the least
/// recently used entry when full).
fn slot<K: Eq + Hash, V>(map: &mut Lru<K, V>, key: K, init: impl FnOnce() -> V) -> &mut V {
    // (The entry API alone lets the map grow one past its capacity.)
    if map.len() >= map.capacity() && !map.contains_key(&key) {
        map.remove_lru();
    }
    match map.entry(key) {
        Entry::Occupied(mut o) => {
            o.to_back();
            o.into_mut()
        }
        Entry::Vacant(v) => v.insert(init()),
    }
}

/// In-process counters: (action, client) → (window start, count).
type Counters = Arc<Mutex<Lru<(Action, IpAddr), (i64, i64)>>>;

/// One window of one client as this node knows it.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// The window's total in the database (every node) when this node last added to it.
    known: i64,
    /// Hits counted here and not yet added to the database.
    pending: i64,
}

/// (action, ip, window start) → tally.
type Window = (Action, IpAddr, i64);

#[derive(Debug)]
pub struct SharedCounters {
    db: Db,
    clock: crate::clock::Clock,
    tallies: Mutex<Lru<Window, Tally>>,
}

impl SharedCounters {
    fn lock(&self) -> MutexGuard<'_, Lru<Window, Tally>> {
        match self.tallies.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }
}

fn key(action: Action, ip: IpAddr) -> String {
    format!("{}:{ip}", action.as_str())
}

#[derive(Clone, Debug)]
pub enum RateLimiter {
    /// Shared by every node through the database.
    Shared(Arc<SharedCounters>),
    /// This process only (the single node of an SQLite installation).
    Local(Counters),
}

impl RateLimiter {
    /// The right limiter for the database: in-process for SQLite, shared for PostgreSQL.
    pub fn for_db(db: Db, clock: crate::clock::Clock) -> RateLimiter {
        match db {
            Db::Sqlite(_) => RateLimiter::local(MAX_TRACKED),
            Db::Postgres(_) => RateLimiter::shared_with(db, clock),
        }
    }

    /// Counters in the database, whatever the backend, on the system clock.
    pub fn shared(db: Db) -> RateLimiter {
        RateLimiter::shared_with(db, crate::clock::Clock::system())
    }

    /// Counters in the database, with the node's clock (which dates the windows [`Self::flush`]
    /// forgets).
    pub fn shared_with(db: Db, clock: crate::clock::Clock) -> RateLimiter {
        RateLimiter::Shared(Arc::new(SharedCounters {
            db,
            clock,
            tallies: Mutex::new(lru(MAX_TRACKED)),
        }))
    }

    /// Counters in this process, at most `capacity` of them.
    pub fn local(capacity: usize) -> RateLimiter {
        RateLimiter::Local(Arc::new(Mutex::new(lru(capacity))))
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
        let ip = crate::web::security::client_group(ip);
        let window_ms = window_ms.max(1);
        let start = now - now.rem_euclid(window_ms);
        let count = match self {
            RateLimiter::Shared(shared) => {
                let window = (action, ip, start);
                // Well under the limit: count here; the next flush adds it to the database.
                let delta = {
                    let mut map = shared.lock();
                    let t = slot(&mut map, window, Tally::default);
                    if (t.known + t.pending + 1).saturating_mul(2) <= i64::from(limit) {
                        t.pending += 1;
                        return Ok(());
                    }
                    std::mem::take(&mut t.pending) + 1
                };
                // Near or over the limit: decide on the shared total.
                match rate_limits::add(&shared.db, &key(action, ip), start, delta).await {
                    Ok(count) => {
                        let mut map = shared.lock();
                        let t = slot(&mut map, window, Tally::default);
                        t.known = t.known.max(count);
                        count
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limit not counted: database error");
                        slot(&mut shared.lock(), window, Tally::default).pending += delta;
                        return Ok(());
                    }
                }
            }
            RateLimiter::Local(counters) => {
                let mut map = match counters.lock() {
                    Ok(m) => m,
                    Err(p) => p.into_inner(),
                };
                let entry = slot(&mut map, (action, ip), || (start, 0));
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

    /// Adds the hits counted in memory to the shared counters, in one statement, and learns the
    /// totals (other nodes' hits included). Nothing to do for in-process counters.
    pub async fn flush(&self) -> StoreResult<()> {
        let RateLimiter::Shared(shared) = self else {
            return Ok(());
        };
        let batch: Vec<(Window, i64)> = {
            let mut map = shared.lock();
            let batch = map
                .iter_mut()
                .filter(|(_, t)| t.pending > 0)
                .map(|(w, t)| (*w, std::mem::take(&mut t.pending)))
                .collect();
            let now = shared.clock.now_ms();
            map.retain(|w, t| t.pending > 0 || w.2 + LONGEST_WINDOW_MS > now);
            batch
        };
        if batch.is_empty() {
            return Ok(());
        }
        let hits: Vec<(String, i64, i64)> = batch
            .iter()
            .map(|((a, ip, start), d)| (key(*a, *ip), *start, *d))
            .collect();
        match rate_limits::add_many(&shared.db, &hits).await {
            Ok(counts) => {
                let mut map = shared.lock();
                for ((w, _), count) in batch.iter().zip(counts) {
                    let t = slot(&mut map, *w, Tally::default);
                    t.known = t.known.max(count);
                }
                Ok(())
            }
            Err(e) => {
                // Counted again at the next flush.
                let mut map = shared.lock();
                for (w, d) in batch {
                    slot(&mut map, w, Tally::default).pending += d;
                }
                Err(e)
            }
        }
    }

    /// Flushes every [`FLUSH_EVERY`], for as long as the node runs.
    pub async fn flush_forever(self) {
        if matches!(self, RateLimiter::Local(_)) {
            return;
        }
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "rate-limit counts not shared yet: database error");
            }
        }
    }

    /// Deletes finished windows (called by housekeeping); returns how many went.
    pub async fn purge(&self, now: i64) -> crate::store::StoreResult<u64> {
        match self {
            RateLimiter::Shared(shared) => {
                shared
                    .lock()
                    .retain(|w, t| t.pending > 0 || w.2 >= now - LONGEST_WINDOW_MS);
                rate_limits::purge(&shared.db, now - LONGEST_WINDOW_MS).await
            }
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
        let r = RateLimiter::local(MAX_TRACKED);
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
    async fn counters_are_bounded_least_recently_seen_first() {
        let r = RateLimiter::local(3);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        assert!(r.hit(Action::Lookup, ip(1), 1, 60_000, 1_000).await.is_ok());
        assert!(r.hit(Action::Lookup, ip(2), 1, 60_000, 1_000).await.is_ok());
        assert!(r.hit(Action::Lookup, ip(3), 1, 60_000, 1_000).await.is_ok());
        // Seen again (refused): now the most recent.
        assert!(
            r.hit(Action::Lookup, ip(1), 1, 60_000, 1_000)
                .await
                .is_err()
        );
        // A fourth client evicts the least recently seen (2), not 1.
        assert!(r.hit(Action::Lookup, ip(4), 1, 60_000, 1_000).await.is_ok());
        let RateLimiter::Local(c) = &r else {
            panic!("local")
        };
        assert_eq!(c.lock().map(|m| m.len()).unwrap_or(0), 3);
        assert!(
            r.hit(Action::Lookup, ip(1), 1, 60_000, 1_000)
                .await
                .is_err()
        );
        assert!(r.hit(Action::Lookup, ip(2), 1, 60_000, 1_000).await.is_ok());
    }

    #[tokio::test]
    async fn ipv6_clients_share_their_64() {
        let r = RateLimiter::local(MAX_TRACKED);
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::ffff:1".parse().expect("ip");
        let c: IpAddr = "2001:db8:0:1::1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        let v4: IpAddr = [10, 0, 0, 1].into();
        assert!(r.hit(Action::Lookup, a, 1, 60_000, 1_000).await.is_ok());
        assert!(r.hit(Action::Lookup, b, 1, 60_000, 1_000).await.is_err());
        assert!(r.hit(Action::Lookup, c, 1, 60_000, 1_000).await.is_ok());
        assert!(r.hit(Action::Lookup, v4, 1, 60_000, 1_000).await.is_ok());
        assert!(
            r.hit(Action::Lookup, mapped, 1, 60_000, 1_000)
                .await
                .is_err()
        );
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
        // Under half of the limit: counted in memory, shared at the next flush.
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 1_000).await.is_ok());
        assert!(
            other
                .hit(Action::Lookup, ip, 2, 60_000, 2_000)
                .await
                .is_ok()
        );
        r.flush().await.expect("flush");
        other.flush().await.expect("flush");
        // From half of the limit on, every hit is decided on the shared total.
        assert_eq!(r.hit(Action::Lookup, ip, 2, 60_000, 3_000).await, Err(58));
        assert_eq!(
            other.hit(Action::Lookup, ip, 2, 60_000, 4_000).await,
            Err(57)
        );
        assert!(r.hit(Action::Submit, ip, 2, 60_000, 3_000).await.is_ok());
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 61_000).await.is_ok());
        r.flush().await.expect("flush");
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
