//! Admission of the request bodies the portal reads whole into memory: a declaration or a
//! supplement (answers and files) is read completely before anything is stored.
//!
//! Without a bound, memory grows with the number of uploads in flight: under overload (more
//! citizens sending than the cores serve, measured: ~0.15 MB per journey in flight, 183 MB at
//! ~1 s of queueing in an open-loop benchmark phase) or under a handful of hostile 64 MB bodies.
//! So at most [`AT_ONCE`] bodies, and at most [`BUDGET_BYTES`] of declared body length, are read
//! at a time; the others wait, unread, in the kernel's socket buffers, in arrival order (the
//! request timeout still applies).

use crate::error::{AppError, AppResult};
use axum::http::{HeaderMap, header};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Bodies read at the same time.
pub const AT_ONCE: usize = 32;

/// Declared body length (`Content-Length`) admitted at the same time; a body without one counts
/// as the largest allowed. At least [`super::MAX_DECLARATION_BODY`], so any allowed body fits.
pub const BUDGET_BYTES: usize = super::MAX_DECLARATION_BODY;

pub struct UploadGate {
    bodies: Semaphore,
    kib: Semaphore,
    max_kib: u32,
}

/// Held while a body is read and handled; dropping it admits the next one.
pub struct Admitted<'a> {
    _body: SemaphorePermit<'a>,
    _kib: SemaphorePermit<'a>,
}

impl Default for UploadGate {
    fn default() -> Self {
        UploadGate::new(AT_ONCE, BUDGET_BYTES)
    }
}

impl UploadGate {
    pub fn new(at_once: usize, budget_bytes: usize) -> UploadGate {
        let max_kib = u32::try_from(budget_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        UploadGate {
            bodies: Semaphore::new(at_once.max(1)),
            kib: Semaphore::new(max_kib as usize),
            max_kib,
        }
    }

    /// Waits until the request's body may be read.
    pub async fn admit(&self, headers: &HeaderMap) -> AppResult<Admitted<'_>> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let kib = declared
            .map(|n| u32::try_from(n.div_ceil(1024)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_kib)
            .clamp(1, self.max_kib);
        let closed = |_| AppError::Internal(anyhow::anyhow!("upload gate closed"));
        let body = self.bodies.acquire().await.map_err(closed)?;
        let kib = self.kib.acquire_many(kib).await.map_err(closed)?;
        Ok(Admitted {
            _body: body,
            _kib: kib,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::time::Duration;

    fn with_length(n: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        h
    }

    async fn admitted_soon<'a>(gate: &'a UploadGate, h: &HeaderMap) -> Option<Admitted<'a>> {
        tokio::time::timeout(Duration::from_millis(50), gate.admit(h))
            .await
            .ok()
            .and_then(Result::ok)
    }

    #[tokio::test]
    async fn bodies_wait_for_a_place_and_for_their_bytes() {
        let gate = UploadGate::new(2, 1024 * 1024);
        let small = with_length(100 * 1024);
        let a = admitted_soon(&gate, &small).await.expect("first");
        let b = admitted_soon(&gate, &small).await.expect("second");
        // Two bodies at once: the third waits until one is done.
        assert!(admitted_soon(&gate, &small).await.is_none());
        drop(a);
        let c = admitted_soon(&gate, &small)
            .await
            .expect("after one is done");
        drop((b, c));
        // A body larger than the budget is counted as the budget, so it is admitted alone…
        let huge = admitted_soon(&gate, &with_length(u64::MAX))
            .await
            .expect("a huge declared length is capped");
        // …and nothing else meanwhile, nor a body that declares no length.
        assert!(admitted_soon(&gate, &small).await.is_none());
        drop(huge);
        let unknown = admitted_soon(&gate, &HeaderMap::new())
            .await
            .expect("no Content-Length: the whole budget");
        assert!(admitted_soon(&gate, &small).await.is_none());
        drop(unknown);
        assert!(admitted_soon(&gate, &small).await.is_some());
    }
}
