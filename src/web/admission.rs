//! Admission of the request bodies the portal reads whole into memory: a declaration, a
//! supplement or a back-office action with its result file (answers and files) is read
//! completely before anything is stored.
//!
//! Callers check everything that needs no body first (session cookie, private-link token,
//! dossier state, staff login); only then is the body admitted here, so an anonymous connection
//! takes nothing. Once admitted:
//!
//! - **bytes actually received** count against a shared memory budget ([`BUDGET_BYTES`]), chunk
//!   by chunk, and stay counted until the request is done with them; a declared
//!   `Content-Length` reserves nothing (a client announcing 64 MB and sending 1 byte a second
//!   holds one kilobyte). When the budget is spent, bodies wait for it (the client is slowed down
//!   by TCP back-pressure), and the time spent waiting is not held against the client's rate;
//! - each client address (IPv6 grouped by /64, see [`super::security::client_group`]) has at most
//!   [`PER_CLIENT`] bodies in flight; one more waits up to [`CLIENT_QUEUE_WAIT`] for a place
//!   (citizens behind one NAT upload at the same time), then is refused with 429; an
//!   authenticated partner system (the national portal, a ministry's software: many filings at
//!   once from one address) has [`PER_PARTNER`] places of its own instead, checked after its
//!   token ([`admit_partner`]);
//! - a body must arrive at [`MIN_RATE_BYTES_PER_SEC`] on average once [`GRACE`] has passed, or
//!   it is cut (408): a trickling client holds its place for seconds, not for the request timeout.
//!
//! A body refused midway (bad CSRF token, unreadable form, too large) is left unread: hyper
//! closes the connection after the answer, with a lingering close (see
//! [`super::connection`]) so that the client gets the error page rather than a reset.
//!
//! Under a real overload (budget spent by bodies that all still need more) the wait ends with
//! the request timeout; memory stays bounded either way.

use super::AppState;
use crate::error::{AppError, AppResult};
use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Multipart, Request};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes received and held in memory, by all admitted bodies together. One body may be as large
/// as [`super::MAX_DECLARATION_BODY`], plus one network read of slack.
pub const BUDGET_BYTES: usize = super::MAX_DECLARATION_BODY + 1024 * 1024;

/// Bodies in flight at the same time from one client address.
pub const PER_CLIENT: usize = 3;

/// Bodies in flight at once for one authenticated partner system.
pub const PER_PARTNER: usize = 16;

/// Whose places a body takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uploader {
    /// A client address (IPv6 grouped by /64).
    Addr(IpAddr),
    /// A partner system, by id, once its bearer token is verified.
    Partner(i64),
}

/// How long a body waits for one of its client's places before it is refused.
pub const CLIENT_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Slowest average rate accepted once [`GRACE`] has passed.
pub const MIN_RATE_BYTES_PER_SEC: u64 = 10 * 1024;

/// Time a body may take before the minimum rate applies.
pub const GRACE: Duration = Duration::from_secs(5);

pub struct UploadGate {
    budget: Arc<Semaphore>,
    max_kib: u32,
    per_client: usize,
    clients: Arc<Mutex<HashMap<Uploader, Client>>>,
    queue_wait: Duration,
    min_rate: u64,
    grace: Duration,
}

/// One client address's places, and how many requests hold or wait for one (the entry goes when
/// none does, so the map holds only clients with a body in flight).
struct Client {
    places: Arc<Semaphore>,
    capacity: usize,
    users: usize,
}

impl Default for UploadGate {
    fn default() -> Self {
        UploadGate::new(BUDGET_BYTES, PER_CLIENT, MIN_RATE_BYTES_PER_SEC, GRACE)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A request holding or waiting for one of its client's places; dropping it gives the place
/// back (the permit is dropped first) and forgets the client when nobody else uses it.
struct ClientSlot {
    clients: Arc<Mutex<HashMap<Uploader, Client>>>,
    client: Uploader,
    place: Option<OwnedSemaphorePermit>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        drop(self.place.take());
        let mut map = lock(&self.clients);
        if let Some(c) = map.get_mut(&self.client) {
            c.users = c.users.saturating_sub(1);
            if c.users == 0 {
                map.remove(&self.client);
            }
        }
    }
}

/// What an admitted body holds: its client's place and the budget for the bytes received.
struct Held {
    _slot: ClientSlot,
    permits: Mutex<Vec<OwnedSemaphorePermit>>,
    too_slow: AtomicBool,
}

/// Held while a body is read and handled; the budget and the client's place are given back when
/// both this and the body are dropped.
pub struct Admitted(Arc<Held>);

impl Admitted {
    /// True when the body was cut because it arrived too slowly.
    pub fn too_slow(&self) -> bool {
        self.0.too_slow.load(Ordering::Relaxed)
    }

    /// The error to answer when reading the body failed: a clear 408 when it was cut for being
    /// too slow, the reader's own error otherwise.
    pub fn explain(&self, e: AppError) -> AppError {
        if self.too_slow() {
            AppError::RequestTimeout(TOO_SLOW_MESSAGE.into())
        } else {
            e
        }
    }
}

pub const TOO_SLOW_MESSAGE: &str = "Dữ liệu gửi lên đến quá chậm nên Cổng đã dừng nhận. Hãy kiểm tra kết nối mạng (hoặc chuyển sang mạng ổn định hơn) rồi gửi lại; những gì bạn đã lưu trước đó vẫn còn.";

const BUSY_MESSAGE: &str = "Bạn đang gửi nhiều biểu mẫu có tệp đính kèm cùng lúc. Hãy chờ các lần gửi trước hoàn tất (hoặc đóng các thẻ trình duyệt đang gửi) rồi gửi lại.";

#[derive(Debug)]
struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body below the minimum rate")
    }
}
impl std::error::Error for TooSlow {}

#[derive(Debug)]
struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body larger than the whole budget")
    }
}
impl std::error::Error for OverBudget {}

impl UploadGate {
    pub fn new(
        budget_bytes: usize,
        per_client: usize,
        min_rate_bytes_per_sec: u64,
        grace: Duration,
    ) -> UploadGate {
        UploadGate::with_queue_wait(
            budget_bytes,
            per_client,
            CLIENT_QUEUE_WAIT,
            min_rate_bytes_per_sec,
            grace,
        )
    }

    pub fn with_queue_wait(
        budget_bytes: usize,
        per_client: usize,
        queue_wait: Duration,
        min_rate_bytes_per_sec: u64,
        grace: Duration,
    ) -> UploadGate {
        let max_kib = u32::try_from(budget_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX >> 4)
            .max(1);
        UploadGate {
            budget: Arc::new(Semaphore::new(max_kib as usize)),
            max_kib,
            per_client: per_client.max(1),
            clients: Arc::default(),
            queue_wait,
            min_rate: min_rate_bytes_per_sec.max(1),
            grace,
        }
    }

    /// Takes one of `client`'s places and wraps `body` so that it is metered; refuses (429)
    /// when the client's [`PER_CLIENT`] places stay taken for [`CLIENT_QUEUE_WAIT`].
    pub async fn admit_body(&self, client: IpAddr, body: Body) -> AppResult<(Admitted, Body)> {
        self.admit_body_as(Uploader::Addr(client), body).await
    }

    /// [`UploadGate::admit_body`] for any [`Uploader`] (a partner has [`PER_PARTNER`] places).
    pub async fn admit_body_as(&self, client: Uploader, body: Body) -> AppResult<(Admitted, Body)> {
        let capacity = match client {
            Uploader::Addr(_) => self.per_client,
            Uploader::Partner(_) => PER_PARTNER.max(self.per_client),
        };
        let places = {
            let mut map = lock(&self.clients);
            let c = map.entry(client).or_insert_with(|| Client {
                places: Arc::new(Semaphore::new(capacity)),
                capacity,
                users: 0,
            });
            c.users += 1;
            c.places.clone()
        };
        let mut slot = ClientSlot {
            clients: self.clients.clone(),
            client,
            place: None,
        };
        match tokio::time::timeout(self.queue_wait, places.acquire_owned()).await {
            Ok(Ok(p)) => slot.place = Some(p),
            _ => {
                return Err(AppError::TooManyRequests {
                    message: BUSY_MESSAGE.into(),
                    retry_after_secs: 5,
                });
            }
        }
        let held = Arc::new(Held {
            _slot: slot,
            permits: Mutex::new(Vec::new()),
            too_slow: AtomicBool::new(false),
        });
        let meter = Meter {
            held: held.clone(),
            budget: self.budget.clone(),
            max_kib: self.max_kib,
            min_rate: self.min_rate,
            grace: self.grace,
            start: Instant::now(),
            received: 0,
            held_kib: 0,
        };
        Ok((Admitted(held), metered(body, meter)))
    }

    /// Bodies in flight for `client` (for tests and diagnostics).
    pub fn in_flight(&self, client: IpAddr) -> usize {
        self.in_flight_as(Uploader::Addr(client))
    }

    /// Bodies in flight for any [`Uploader`].
    pub fn in_flight_as(&self, client: Uploader) -> usize {
        lock(&self.clients)
            .get(&client)
            .map(|c| c.capacity - c.places.available_permits())
            .unwrap_or(0)
    }

    /// Budget left, in KiB (for tests and diagnostics).
    pub fn available_kib(&self) -> usize {
        self.budget.available_permits()
    }
}

/// Admits the body of `req` (see the module documentation); returns the request with its body
/// metered.
pub async fn admit(state: &AppState, req: Request) -> AppResult<(Admitted, Request)> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client =
        super::security::client_group(super::security::client_ip(state, req.headers(), peer));
    admit_as(state, req, Uploader::Addr(client)).await
}

/// [`admit`] for a partner system whose token was verified: its own [`PER_PARTNER`] places.
pub async fn admit_partner(
    state: &AppState,
    req: Request,
    partner_id: i64,
) -> AppResult<(Admitted, Request)> {
    admit_as(state, req, Uploader::Partner(partner_id)).await
}

async fn admit_as(state: &AppState, req: Request, who: Uploader) -> AppResult<(Admitted, Request)> {
    let (parts, body) = req.into_parts();
    let (admitted, body) = state.uploads.admit_body_as(who, body).await?;
    Ok((admitted, Request::from_parts(parts, body)))
}

/// [`admit`], then the multipart reader over the metered body.
pub async fn admit_multipart(state: &AppState, req: Request) -> AppResult<(Admitted, Multipart)> {
    let (admitted, req) = admit(state, req).await?;
    multipart_of(admitted, req).await
}

/// [`admit_partner`], then the multipart reader over the metered body.
pub async fn admit_partner_multipart(
    state: &AppState,
    req: Request,
    partner_id: i64,
) -> AppResult<(Admitted, Multipart)> {
    let (admitted, req) = admit_partner(state, req, partner_id).await?;
    multipart_of(admitted, req).await
}

async fn multipart_of(admitted: Admitted, req: Request) -> AppResult<(Admitted, Multipart)> {
    let unreadable = || {
        AppError::BadRequest(
            "Dữ liệu biểu mẫu gửi lên không đọc được. Hãy tải lại trang biểu mẫu và gửi lại."
                .into(),
        )
    };
    if !has_multipart_boundary(&req) {
        return Err(unreadable());
    }
    let mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| unreadable())?;
    Ok((admitted, mp))
}

/// Whether the request says `multipart/form-data` with a non-empty boundary (the multipart
/// reader checks the rest).
fn has_multipart_boundary(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("multipart/form-data")
        && parts.any(|p| {
            let mut kv = p.splitn(2, '=');
            let key = kv.next().unwrap_or("").trim();
            let value = kv.next().unwrap_or("").trim().trim_matches('"');
            key.eq_ignore_ascii_case("boundary") && !value.is_empty()
        })
}

struct Meter {
    held: Arc<Held>,
    budget: Arc<Semaphore>,
    max_kib: u32,
    min_rate: u64,
    grace: Duration,
    /// When the body was admitted, moved forward by the time spent waiting for the budget.
    start: Instant,
    received: u64,
    held_kib: u32,
}

impl Meter {
    /// The client is in good standing until this instant: the grace period, or the time its
    /// bytes so far would take at the minimum rate, whichever is later.
    fn deadline(&self) -> Instant {
        let earned = Duration::from_millis(self.received.saturating_mul(1000) / self.min_rate);
        self.start + self.grace.max(earned)
    }

    /// Counts the bytes received so far against the budget, waiting for it if need be.
    async fn reserve(&mut self) -> Result<(), BoxError> {
        let need = u32::try_from(self.received.div_ceil(1024)).unwrap_or(u32::MAX);
        if need > self.max_kib {
            return Err(Box::new(OverBudget));
        }
        let extra = need.saturating_sub(self.held_kib);
        if extra == 0 {
            return Ok(());
        }
        let permit = match self.budget.clone().try_acquire_many_owned(extra) {
            Ok(p) => p,
            Err(_) => {
                let waited = Instant::now();
                let p = self
                    .budget
                    .clone()
                    .acquire_many_owned(extra)
                    .await
                    .map_err(|e| -> BoxError { Box::new(e) })?;
                // Our wait, not the client's slowness.
                self.start += waited.elapsed();
                p
            }
        };
        self.held_kib = need;
        lock(&self.held.permits).push(permit);
        Ok(())
    }
}

fn metered(body: Body, meter: Meter) -> Body {
    let guarded = futures_util::stream::unfold(
        (body.into_data_stream(), meter, false),
        |(mut stream, mut m, done)| async move {
            if done {
                return None;
            }
            let next = match tokio::time::timeout_at(m.deadline(), stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    m.held.too_slow.store(true, Ordering::Relaxed);
                    let e: BoxError = Box::new(TooSlow);
                    return Some((Err(e), (stream, m, true)));
                }
            };
            match next {
                None => None,
                Some(Err(e)) => Some((Err(BoxError::from(e)), (stream, m, true))),
                Some(Ok(chunk)) => {
                    m.received = m.received.saturating_add(chunk.len() as u64);
                    match m.reserve().await {
                        Ok(()) => Some((Ok::<Bytes, BoxError>(chunk), (stream, m, false))),
                        Err(e) => Some((Err(e), (stream, m, true))),
                    }
                }
            }
        },
    );
    Body::from_stream(guarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[tokio::test]
    async fn places_per_client_are_limited_and_given_back() {
        let gate =
            UploadGate::with_queue_wait(1024 * 1024, 2, Duration::from_millis(50), 1024, GRACE);
        let (a, a_body) = gate.admit_body(ip(1), Body::empty()).await.expect("first");
        let (b, b_body) = gate.admit_body(ip(1), Body::empty()).await.expect("second");
        assert!(matches!(
            gate.admit_body(ip(1), Body::empty()).await,
            Err(AppError::TooManyRequests { .. })
        ));
        // Another client is not affected.
        let c = gate
            .admit_body(ip(2), Body::empty())
            .await
            .expect("other client");
        drop(a);
        // Still held by the body.
        assert_eq!(gate.in_flight(ip(1)), 2);
        drop(a_body);
        assert_eq!(gate.in_flight(ip(1)), 1);
        drop((b, b_body));
        assert_eq!(gate.in_flight(ip(1)), 0);
        let _d = gate
            .admit_body(ip(1), Body::empty())
            .await
            .expect("after one is done");
        drop(c);
        assert_eq!(gate.in_flight(ip(2)), 0);
    }

    #[tokio::test]
    async fn the_budget_counts_bytes_received_not_declared() {
        let gate = UploadGate::new(64 * 1024, 4, 1024, GRACE);
        assert_eq!(gate.available_kib(), 64);
        let (admitted, body) = gate
            .admit_body(ip(1), Body::from(vec![0u8; 10 * 1024]))
            .await
            .expect("admit");
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("read");
        assert_eq!(bytes.len(), 10 * 1024);
        assert_eq!(gate.available_kib(), 54);
        drop(admitted);
        assert_eq!(gate.available_kib(), 64);
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_after_the_grace_period() {
        let gate = UploadGate::new(64 * 1024, 4, 1024, Duration::from_millis(300));
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let trickle = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if tx.send(Ok(Bytes::from_static(b"x"))).await.is_err() {
                    break;
                }
            }
        });
        let body = Body::from_stream(tokio_stream_from(rx));
        let (admitted, body) = gate.admit_body(ip(1), body).await.expect("admit");
        let started = Instant::now();
        let r = axum::body::to_bytes(body, usize::MAX).await;
        assert!(r.is_err(), "cut");
        assert!(admitted.too_slow());
        assert!(started.elapsed() >= Duration::from_millis(300));
        trickle.abort();
        // A body at the minimum rate is not cut.
        let (admitted, body) = gate
            .admit_body(ip(1), Body::from(vec![0u8; 4096]))
            .await
            .expect("admit");
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_ok());
        assert!(!admitted.too_slow());
    }

    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
