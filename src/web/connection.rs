//! One client connection, from accept to close (HTTP/1.1 over hyper).
//!
//! **An idle connection holds no HTTP state.** hyper's per-connection state (a read buffer and a
//! header buffer of 8 KB each, the dispatcher, a header timer) is built only when bytes arrive,
//! and given up again once every response is written and nothing more has come: between two
//! requests a kept-alive connection is its socket and a small task waiting for it to become
//! readable. The next request builds a fresh hyper connection. A request the client had
//! already started sending (pipelining) is handed to the next one (hyper's read buffer), and a
//! connection is handed back only when hyper is idle (the latest request had no body, its
//! response is written out, nothing read since); otherwise hyper keeps it as before.
//!
//! **Timeouts are unchanged.** A connection waiting for a request (new, or kept alive after a
//! response) has `idle` (`DVC_IDLE_TIMEOUT_SECS`) in all to send the request's line and headers,
//! counted from the end of the previous response as hyper's header read timeout was; after that
//! it is closed, as before.
//!
//! **Lingering close.** When a connection on which a response was written is closed (the
//! server answered a request before reading its whole body — a bad CSRF token, an unreadable
//! form, an upload too large —, the client asked to close, hyper's own 400 for a malformed
//! request, shutdown), closing a socket with unread data would make the kernel reset it, and
//! the client may then lose the answer it has not read yet. So the write half is shut first
//! (the client sees the end of the answer), then whatever the client still sends is read and
//! dropped until it closes its side, for at most [`LINGER_TIME`] and [`LINGER_BYTES`] (as
//! nginx's `lingering_close`). A connection closed without having answered anything (the idle
//! timeout, headers too slow) is closed at once, as before.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

/// The longest a closed connection keeps reading (and dropping) what the client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// The most bytes read (and dropped) while lingering: the largest body the portal accepts, so
/// that a browser still sending a refused upload gets the answer; [`LINGER_TIME`] is the bound
/// that matters.
pub const LINGER_BYTES: usize = super::MAX_DECLARATION_BODY;

/// Serves one accepted connection until it is closed (by the client, a timeout, an error, or
/// `close` at shutdown).
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    idle: Duration,
    mut close: watch::Receiver<()>,
) {
    let track = Arc::new(Track::default());
    let mut leftover = Bytes::new();
    // hyper's header read timeout ran from here (a new connection, or the end of a response).
    let mut idle_since = Instant::now();
    loop {
        let deadline = idle_since + idle;
        if leftover.is_empty() {
            // Nothing of hyper's is held while the connection waits for its next request. (A
            // peek, not `readable()`: a socket just accepted is reported readable before
            // anything has come.)
            let mut first = [0u8; 1];
            tokio::select! {
                peeked = tokio::time::timeout_at(deadline, stream.peek(&mut first)) => {
                    if !matches!(peeked, Ok(Ok(n)) if n > 0) {
                        // The idle timeout (nothing to linger over: nothing was sent), the
                        // client closed, or a socket error.
                        return;
                    }
                }
                _ = close.changed() => return,
            }
        }
        match burst(
            &mut stream,
            std::mem::take(&mut leftover),
            peer,
            &app,
            &track,
            (idle, deadline),
            &mut close,
        )
        .await
        {
            Burst::Idle(rest) => {
                leftover = rest;
                idle_since = Instant::now();
            }
            Burst::Closed => {
                if track.wrote.load(Ordering::Relaxed) {
                    linger(stream).await;
                }
                return;
            }
        }
    }
}

/// How a hyper connection over the socket ended.
enum Burst {
    /// hyper was idle and gave the socket back, with the start of a next request if any.
    Idle(Bytes),
    /// hyper closed the connection (the client closed or asked to, an error, a timeout, a body
    /// left unread, shutdown).
    Closed,
}

/// Runs one hyper connection over `stream` until it closes or goes idle. The first request's
/// line and headers must be in by `deadline`; later ones (after a request hyper did not give the
/// connection back for) have `idle` each, from the end of the previous response.
async fn burst(
    stream: &mut TcpStream,
    leftover: Bytes,
    peer: SocketAddr,
    app: &Router,
    track: &Arc<Track>,
    (idle, deadline): (Duration, Instant),
    close: &mut watch::Receiver<()>,
) -> Burst {
    track.reset();
    let service = {
        let app = app.clone();
        let track = track.clone();
        hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
            let guard = Exchange::begin(&track, !req.body().is_end_stream());
            req.extensions_mut().insert(ConnectInfo(peer));
            let body_track = track.clone();
            let req = req.map(|inner| {
                Body::new(RequestBody {
                    inner,
                    track: body_track,
                })
            });
            let answer = app.clone().oneshot(req);
            let track = track.clone();
            let fut: Pin<Box<dyn Future<Output = Result<_, Infallible>> + Send>> =
                Box::pin(async move {
                    let mut res = answer.await?;
                    if track.body.load(Ordering::Relaxed) {
                        // Answered before the whole body was read: the connection ends with
                        // this answer, and the client is told so (it must not send another
                        // request on it).
                        res.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                    }
                    Ok::<_, Infallible>(res.map(|inner| Tracked {
                        inner,
                        _exchange: guard,
                    }))
                });
            fut
        })
    };
    let io = Io {
        stream,
        leftover,
        track,
    };
    // Boxed: an idle connection's task does not carry hyper's state in its own size.
    let mut conn = {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(idle);
        Box::new(builder.serve_connection(TokioIo::new(io), service))
    };
    let mut first_head = Box::pin(tokio::time::sleep_until(deadline));
    let mut closing = false;
    let mut went_idle = false;
    let changed = close.changed();
    tokio::pin!(changed);
    let ended = std::future::poll_fn(|cx| {
        loop {
            match conn.poll_without_shutdown(cx) {
                Poll::Ready(r) => return Poll::Ready(Some(r)),
                Poll::Pending if went_idle => {
                    // Asked to stop while idle but still working: it was not idle after all;
                    // let it finish and close.
                    went_idle = false;
                    closing = true;
                    return Poll::Pending;
                }
                Poll::Pending => {}
            }
            if !track.started() && first_head.as_mut().poll(cx).is_ready() {
                // The idle timeout: no request line and headers in time.
                return Poll::Ready(None);
            }
            if !closing && changed.as_mut().poll(cx).is_ready() {
                closing = true;
                Pin::new(&mut *conn).graceful_shutdown();
                continue;
            }
            if !closing && track.is_idle() {
                // Keep-alive, nothing in progress: a graceful shutdown ends it at once.
                went_idle = true;
                Pin::new(&mut *conn).graceful_shutdown();
                continue;
            }
            return Poll::Pending;
        }
    })
    .await;
    match ended {
        Some(Ok(())) if went_idle => {
            let parts = conn.into_parts();
            // Copied: the rest of hyper's read buffer is not kept alive by a few bytes.
            Burst::Idle(Bytes::copy_from_slice(&parts.read_buf))
        }
        Some(Ok(())) | None => Burst::Closed,
        Some(Err(e)) => {
            tracing::trace!(error = %e, "connection ended");
            Burst::Closed
        }
    }
}

/// Shuts the write half (the client sees the end of the answer), then reads and drops what the
/// client still sends until it closes, for at most [`LINGER_TIME`] and [`LINGER_BYTES`].
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut left = LINGER_BYTES;
    loop {
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        let mut sink = [0u8; 4096];
        match stream.try_read(&mut sink) {
            Ok(0) => return,
            Ok(n) => {
                left = left.saturating_sub(n);
                if left == 0 {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// What the connection task knows of hyper's progress, from its reads and writes and from the
/// requests and responses passing through (all in the connection's own task).
#[derive(Default)]
struct Track {
    /// Requests whose response hyper has not finished with.
    pending: AtomicUsize,
    /// The latest request came with a body not read to its end yet.
    body: AtomicBool,
    /// A response was completed in this hyper connection.
    answered: AtomicBool,
    /// Every completed response is written out (the socket flushed with nothing pending).
    flushed: AtomicBool,
    /// hyper's latest read found nothing to read.
    starved: AtomicBool,
    /// Bytes were read since the latest response was completed.
    read_since: AtomicBool,
    /// Bytes were written in this hyper connection.
    wrote: AtomicBool,
}

impl Track {
    fn reset(&self) {
        for flag in [
            &self.body,
            &self.answered,
            &self.flushed,
            &self.starved,
            &self.read_since,
            &self.wrote,
        ] {
            flag.store(false, Ordering::Relaxed);
        }
        self.pending.store(0, Ordering::Relaxed);
    }

    /// A request was received in this hyper connection.
    fn started(&self) -> bool {
        self.answered.load(Ordering::Relaxed) || self.pending.load(Ordering::Relaxed) > 0
    }

    /// hyper waits for a next request with nothing in progress: every response written out,
    /// no request body being read, nothing received since.
    fn is_idle(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
            && self.pending.load(Ordering::Relaxed) == 0
            && !self.body.load(Ordering::Relaxed)
            && self.flushed.load(Ordering::Relaxed)
            && self.starved.load(Ordering::Relaxed)
            && !self.read_since.load(Ordering::Relaxed)
    }
}

/// One request and its response: held until hyper has finished with the response's body.
struct Exchange(Arc<Track>);

impl Exchange {
    fn begin(track: &Arc<Track>, has_body: bool) -> Exchange {
        track.pending.fetch_add(1, Ordering::Relaxed);
        track.body.store(has_body, Ordering::Relaxed);
        Exchange(track.clone())
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let t = &self.0;
        if t.pending.fetch_sub(1, Ordering::Relaxed) == 1 {
            t.answered.store(true, Ordering::Relaxed);
            t.flushed.store(false, Ordering::Relaxed);
            t.read_since.store(false, Ordering::Relaxed);
        }
    }
}

/// A request body that notes in [`Track`] when it has been read to its end.
struct RequestBody {
    inner: Incoming,
    track: Arc<Track>,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) || (r.is_ready() && self.inner.is_end_stream()) {
            self.track.body.store(false, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its [`Exchange`] when hyper drops it (written out or abandoned).
struct Tracked {
    inner: Body,
    _exchange: Exchange,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket as hyper sees it: what an earlier hyper connection had read ahead first, and
/// the reads and writes noted in [`Track`].
struct Io<'a> {
    stream: &'a mut TcpStream,
    leftover: Bytes,
    track: &'a Track,
}

impl AsyncRead for Io<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = this.leftover.len().min(buf.remaining());
            buf.put_slice(&this.leftover.split_to(n));
            this.track.starved.store(false, Ordering::Relaxed);
            this.track.read_since.store(true, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut *this.stream).poll_read(cx, buf);
        match &r {
            Poll::Pending => this.track.starved.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                this.track.starved.store(false, Ordering::Relaxed);
                if buf.filled().len() > before {
                    this.track.read_since.store(true, Ordering::Relaxed);
                }
            }
        }
        r
    }
}

impl Io<'_> {
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            self.track.wrote.store(true, Ordering::Relaxed);
        }
    }
}

impl AsyncWrite for Io<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.stream).poll_write(cx, buf);
        this.wrote(&r);
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.stream).poll_write_vectored(cx, bufs);
        this.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// hyper flushes once its own buffer is written out: with no response in progress, every
    /// response is then on its way.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.stream).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) && this.track.pending.load(Ordering::Relaxed) == 0 {
            this.track.flushed.store(true, Ordering::Relaxed);
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}
