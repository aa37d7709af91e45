//! The time as the portal reads it: one [`Clock`] per running node, in [`crate::web::AppState`]
//! and handed to the background jobs. Every handler, job and store call that needs "now" asks
//! it; the domain crate takes `now` as an argument and never reads a clock itself.
//!
//! A production node always runs on the system clock. A manual clock — one that only moves when
//! told to — exists for the black-box tests, which check rules at their exact boundaries (the
//! last millisecond of a session, midnight in Vietnam, the first request of a new rate-limit
//! window) without sleeping and without depending on today's date.
//!
//! Why a manual clock cannot be switched on in production: it is made only by
//! [`Clock::manual`], and reaches a server only through [`crate::web::launch_with_clock`]. No
//! setting, environment variable or command-line option leads there: `dichvucong serve` calls
//! [`crate::web::launch`], which always takes [`Clock::system`], and the configuration
//! ([`crate::config::Config`]) has no clock field. (A test-only environment variable would have
//! needed a build flag that the release binary could be built with by mistake; a Rust
//! constructor that the binary never calls cannot be reached from outside the process.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Where the time comes from. Cloning shares the same time (a manual clock moved through one
/// clone moves for all of them).
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    /// Milliseconds since the Unix epoch, moved only by [`Clock::set`] / [`Clock::advance`].
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The system clock: the only clock of `dichvucong serve`.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock standing still at `start` until it is set or advanced. For tests only (see the
    /// module documentation): nothing in the binaries calls this.
    pub fn manual(start: jiff::Timestamp) -> Clock {
        Clock(Source::Manual(Arc::new(AtomicI64::new(
            start.as_millisecond(),
        ))))
    }

    /// True for a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }

    /// Now, in milliseconds since the Unix epoch (the unit of every stored time).
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Source::System => crate::now_ms(),
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Now, as a timestamp.
    pub fn now(&self) -> jiff::Timestamp {
        crate::ts(self.now_ms())
    }

    /// Today's date in Vietnam (where every date the portal shows or checks is dated).
    pub fn today_vn(&self) -> jiff::civil::Date {
        self.now()
            .to_zoned_datetime(dvc_domain::calendar::vn_tz())
            .date()
    }

    /// Moves a manual clock to `at`; does nothing to the system clock.
    pub fn set(&self, at: jiff::Timestamp) {
        if let Source::Manual(ms) = &self.0 {
            ms.store(at.as_millisecond(), Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward by `by`; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(ms) = &self.0 {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            ms.fetch_add(by, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = jiff::Timestamp::from_millisecond(1_000).expect("ts");
        let c = Clock::manual(start);
        let other = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(500));
        assert_eq!(other.now_ms(), 1_500);
        other.set(jiff::Timestamp::from_millisecond(42).expect("ts"));
        assert_eq!(c.now_ms(), 42);
        let system = Clock::system();
        system.set(start);
        assert!(system.now_ms() > 1_000_000_000_000);
        assert!(!system.is_manual() && c.is_manual());
    }
}
