//! Rate limits on public forms and lookups: fixed windows per client IP and action.
//!
//! Kept in memory on each node (limits apply per node); sharing them through the database for
//! several nodes is part of the PostgreSQL multi-node work.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    Lookup,
    Upload,
}

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(Action, IpAddr), (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one hit; `Err(retry_after_secs)` when over `limit` within the current window.
    pub fn hit(
        &self,
        action: Action,
        ip: IpAddr,
        limit: u32,
        window_ms: i64,
        now: i64,
    ) -> Result<(), u64> {
        let mut map = match self.windows.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now - *start < window_ms);
        }
        let start = now - now.rem_euclid(window_ms);
        let entry = map.entry((action, ip)).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        if entry.1 >= limit {
            let retry_ms = start + window_ms - now;
            return Err(u64::try_from(retry_ms / 1000 + 1).unwrap_or(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_resets() {
        let r = RateLimiter::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 1_000).is_ok());
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 2_000).is_ok());
        assert_eq!(r.hit(Action::Lookup, ip, 2, 60_000, 3_000), Err(58));
        assert!(r.hit(Action::Submit, ip, 2, 60_000, 3_000).is_ok());
        assert!(r.hit(Action::Lookup, ip, 2, 60_000, 61_000).is_ok());
    }
}
