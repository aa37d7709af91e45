//! Antivirus scanning of every upload by ClamAV's daemon (`clamd`), over its INSTREAM protocol.
//!
//! `DVC_CLAMD_URL` is `tcp://host:3310` or `unix:///path/to/clamd.ctl`. A scan opens one
//! connection, sends `zINSTREAM\0`, the bytes in chunks (`<u32 big-endian length><bytes>`), a
//! zero-length chunk, and reads one NUL-terminated reply: `stream: OK`, `stream: <name> FOUND`,
//! or `<reason> ERROR`. Everything (connect, send, reply) must finish within the timeout.
//!
//! The portal fails closed: a daemon that cannot be reached, does not answer in time, or answers
//! with an error is a [`ScanError`], and the upload is refused for now (nothing is stored).
//! clamd's `StreamMaxLength` (default 25 MB) must be at least the largest upload the portal
//! takes, or large files are refused with an error.

use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes sent per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;
/// Longest a `PING` may take (for `/healthz`, whose callers wait a few seconds at most).
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest reply read from the daemon (a reply is one short line).
const MAX_REPLY: usize = 4096;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port`.
    Tcp(String),
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses `tcp://host:port` or `unix:///abs/path`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("tcp://") {
            let hostport = rest.trim_end_matches('/');
            let valid = hostport
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !valid {
                return Err(format!(
                    "DVC_CLAMD_URL “{url}”: cần dạng tcp://máy:cổng, ví dụ tcp://127.0.0.1:3310"
                ));
            }
            Ok(Endpoint::Tcp(hostport.to_string()))
        } else if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "DVC_CLAMD_URL “{url}”: cần đường dẫn tuyệt đối, ví dụ unix:///run/clamav/clamd.ctl"
                ));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else {
            Err(format!(
                "DVC_CLAMD_URL “{url}”: chỉ nhận tcp://máy:cổng hoặc unix:///đường/dẫn"
            ))
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(h) => write!(f, "tcp://{h}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// What the daemon found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The name of the matching signature.
    Infected(String),
}

/// The scan did not give a verdict: the upload must be refused for now (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("antivirus daemon unreachable at {0}: {1}")]
    Unreachable(String, std::io::Error),
    #[error("antivirus daemon at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("antivirus daemon at {0} answered with an error: {1}")]
    Daemon(String, String),
}

/// A client of one clamd.
#[derive(Debug, Clone)]
pub struct Scanner {
    endpoint: Endpoint,
    timeout: Duration,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Scanner {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Scanner {
        Scanner { endpoint, timeout }
    }

    /// The scanner of `DVC_CLAMD_URL`.
    pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<Scanner> {
        let endpoint = Endpoint::parse(url).map_err(anyhow::Error::msg)?;
        Ok(Scanner::new(endpoint, timeout))
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Scans `bytes` (INSTREAM).
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let reply = self
            .exchange(Request::Instream(bytes), self.timeout)
            .await?;
        parse_reply(&reply).map_err(|e| ScanError::Daemon(self.endpoint.to_string(), e))
    }

    /// Checks that the daemon answers `PING` with `PONG`, within 2 s at most.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self
            .exchange(Request::Ping, self.timeout.min(PING_TIMEOUT))
            .await?;
        if reply.trim() == "PONG" {
            Ok(())
        } else {
            Err(ScanError::Daemon(
                self.endpoint.to_string(),
                clip(&reply).to_string(),
            ))
        }
    }

    async fn exchange(&self, request: Request<'_>, timeout: Duration) -> Result<String, ScanError> {
        let at = self.endpoint.to_string();
        match tokio::time::timeout(timeout, self.exchange_inner(request)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(ScanError::Daemon(at, e.to_string()))
            }
            Ok(Err(e)) => Err(ScanError::Unreachable(at, e)),
            Err(_) => Err(ScanError::Timeout(at, timeout)),
        }
    }

    async fn exchange_inner(&self, request: Request<'_>) -> std::io::Result<String> {
        let mut stream: Box<dyn Stream> = match &self.endpoint {
            Endpoint::Tcp(hostport) => {
                let s = tokio::net::TcpStream::connect(hostport.as_str()).await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "unix sockets are not available on this system",
                ));
            }
        };
        let sent = send(&mut stream, &request).await;
        // The daemon may answer and close before everything was sent (a stream over its
        // `StreamMaxLength`): its reply says why, so read it even when sending failed.
        let reply = read_reply(&mut stream).await;
        match (sent, reply) {
            (_, Ok(reply)) if !reply.is_empty() => Ok(reply),
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection without an answer",
            )),
        }
    }
}

enum Request<'a> {
    Ping,
    Instream(&'a [u8]),
}

async fn send(stream: &mut Box<dyn Stream>, request: &Request<'_>) -> std::io::Result<()> {
    match request {
        Request::Ping => stream.write_all(b"zPING\0").await?,
        Request::Instream(bytes) => {
            stream.write_all(b"zINSTREAM\0").await?;
            for chunk in bytes.chunks(CHUNK) {
                let len = u32::try_from(chunk.len()).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk too large")
                })?;
                stream.write_all(&len.to_be_bytes()).await?;
                stream.write_all(chunk).await?;
            }
            stream.write_all(&0u32.to_be_bytes()).await?;
        }
    }
    stream.flush().await
}

/// Reads up to the terminating NUL (or the end of the connection).
async fn read_reply(stream: &mut Box<dyn Stream>) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if let Some(end) = reply.iter().position(|b| *b == 0) {
            reply.truncate(end);
            break;
        }
        if reply.len() > MAX_REPLY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "reply too long",
            ));
        }
    }
    Ok(String::from_utf8_lossy(&reply).trim().to_string())
}

/// Reads an INSTREAM reply: `stream: OK`, `stream: <name> FOUND`, anything else is an error.
pub fn parse_reply(reply: &str) -> Result<Verdict, String> {
    let reply = reply.trim_end_matches('\0').trim();
    // A session-less reply may carry a request id prefix ("1: stream: OK"); none is asked for.
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Ok(Verdict::Clean),
        Some(b) if b.ends_with(" FOUND") => {
            let name = b.trim_end_matches(" FOUND").trim();
            let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
            if name.is_empty() {
                Err(clip(reply).to_string())
            } else {
                Ok(Verdict::Infected(name))
            }
        }
        _ => Err(clip(reply).to_string()),
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:3310"),
            Ok(Endpoint::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:///run/clamav/clamd.ctl"),
            Ok(Endpoint::Unix("/run/clamav/clamd.ctl".into()))
        );
        for bad in [
            "127.0.0.1:3310",
            "tcp://127.0.0.1",
            "tcp://:3310",
            "tcp://h:0",
            "unix://relative",
            "http://x:1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply("stream: OK"), Ok(Verdict::Clean));
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature FOUND\0"),
            Ok(Verdict::Infected("Eicar-Test-Signature".into()))
        );
        assert!(parse_reply("INSTREAM size limit exceeded. ERROR").is_err());
        assert!(parse_reply("stream:  FOUND").is_err());
        assert!(parse_reply("").is_err());
        assert!(parse_reply("stream: OK trailing").is_err());
    }

    /// A fake daemon that reads one INSTREAM request, checks its framing, and answers `reply`
    /// when the stream holds `needle`, `stream: OK` otherwise.
    async fn fake_daemon(needle: &'static [u8], reply: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut cmd = [0u8; 10];
                if s.read_exact(&mut cmd).await.is_err() || &cmd != b"zINSTREAM\0" {
                    continue;
                }
                let mut data = Vec::new();
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).await.is_err() {
                        break;
                    }
                    let len = u32::from_be_bytes(len) as usize;
                    if len == 0 {
                        break;
                    }
                    assert!(len <= CHUNK);
                    let mut chunk = vec![0u8; len];
                    if s.read_exact(&mut chunk).await.is_err() {
                        break;
                    }
                    data.extend_from_slice(&chunk);
                }
                let found = data.windows(needle.len()).any(|w| w == needle);
                let answer = if found { reply } else { "stream: OK" };
                let _ = s.write_all(format!("{answer}\0").as_bytes()).await;
            }
        });
        format!("tcp://{addr}")
    }

    /// Turns a hang (a broken timeout or framing) into a failure.
    async fn bounded<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("the scan neither answered nor timed out")
    }

    #[tokio::test]
    async fn instream_framing_over_several_chunks() {
        let url = fake_daemon(b"MARKER", "stream: Test.Marker FOUND").await;
        let scanner = Scanner::from_url(&url, Duration::from_secs(10)).expect("url");
        // The marker straddles the first chunk boundary.
        let mut bytes = vec![b'a'; CHUNK - 3];
        bytes.extend_from_slice(b"MARKER");
        bytes.extend(std::iter::repeat_n(b'b', CHUNK * 2));
        assert_eq!(
            bounded(scanner.scan(&bytes)).await.expect("scan"),
            Verdict::Infected("Test.Marker".into())
        );
        assert_eq!(
            bounded(scanner.scan(b"harmless")).await.expect("scan"),
            Verdict::Clean
        );
    }

    #[tokio::test]
    async fn a_silent_daemon_is_a_timeout_and_a_closed_port_is_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accepts, reads everything, never answers.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let scanner =
            Scanner::from_url(&format!("tcp://{addr}"), Duration::from_millis(300)).expect("url");
        let e = bounded(scanner.scan(b"x")).await.expect_err("no answer");
        assert!(matches!(e, ScanError::Timeout(..)), "{e}");
        let e = bounded(scanner.ping()).await.expect_err("no pong");
        assert!(matches!(e, ScanError::Timeout(..)), "{e}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let scanner =
            Scanner::from_url(&format!("tcp://127.0.0.1:{port}"), Duration::from_secs(10))
                .expect("url");
        let e = scanner.scan(b"x").await.expect_err("closed port");
        assert!(matches!(e, ScanError::Unreachable(..)), "{e}");
        assert!(scanner.ping().await.is_err());
    }
}
