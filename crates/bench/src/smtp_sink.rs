//! The portal's mail relay during the benchmark: a local SMTP listener that accepts every
//! message and keeps only a count, so that the portal sends its e-mails as in production
//! (`DVC_SMTP_URL`, lettre's pooled SMTP client) instead of writing one `.eml` file per e-mail,
//! the development fallback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

static URL: OnceLock<String> = OnceLock::new();
static TO_FILES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--mail-to-files`: the portal writes `.eml` files instead (for comparisons).
pub fn set_to_files(yes: bool) {
    TO_FILES.store(yes, Ordering::Relaxed);
}

pub fn to_files() -> bool {
    TO_FILES.load(Ordering::Relaxed)
}
static RECEIVED: AtomicU64 = AtomicU64::new(0);
/// The count when each portal (by data directory) was started.
static STARTS: Mutex<BTreeMap<PathBuf, u64>> = Mutex::new(BTreeMap::new());

/// The relay's `smtp://` URL (started on first use, in the calling runtime).
pub async fn url() -> anyhow::Result<String> {
    if let Some(u) = URL.get() {
        return Ok(u.clone());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(session(sock));
        }
    });
    let u = format!("smtp://{addr}");
    Ok(URL.get_or_init(|| u).clone())
}

/// Messages accepted so far.
pub fn received() -> u64 {
    RECEIVED.load(Ordering::Relaxed)
}

/// Notes that the portal with data directory `data` starts now.
pub fn portal_started(data: &Path) {
    if let Ok(mut m) = STARTS.lock() {
        m.insert(data.to_path_buf(), received());
    }
}

/// Messages received since the portal with data directory `data` started.
pub fn received_from(data: &Path) -> u64 {
    let start = STARTS
        .lock()
        .ok()
        .and_then(|m| m.get(data).copied())
        .unwrap_or(0);
    received().saturating_sub(start)
}

async fn session(sock: tokio::net::TcpStream) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    if w.write_all(b"220 bench-relay ready\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line
            .get(..4)
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        let reply: &[u8] = match cmd.as_slice() {
            b"EHLO" => b"250-bench-relay\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            b"DATA" => {
                if w.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                RECEIVED.fetch_add(1, Ordering::Relaxed);
                b"250 queued\r\n"
            }
            b"QUIT" => {
                let _ = w.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if w.write_all(reply).await.is_err() {
            return;
        }
    }
}
