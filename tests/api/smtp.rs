//! A real SMTP listener for tests: speaks enough of RFC 5321 for lettre and keeps every message.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct Mailbox {
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl Mailbox {
    pub fn all(&self) -> Vec<String> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits up to `secs` seconds for a message containing `needle`.
    pub async fn wait_for(&self, needle: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(m) = self.all().into_iter().find(|m| decode(m).contains(needle)) {
                return Some(decode(&m));
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Undoes quoted-printable / base64 body encoding well enough to search the text.
pub fn decode(raw: &str) -> String {
    let (headers, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let lower = headers.to_ascii_lowercase();
    let body = if lower.contains("content-transfer-encoding: base64") {
        use base64::Engine;
        let joined: String = body.lines().map(str::trim).collect();
        base64::engine::general_purpose::STANDARD
            .decode(joined)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    } else if lower.contains("content-transfer-encoding: quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let bytes = soft.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&soft[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    };
    format!("{headers}\r\n\r\n{body}")
}

/// Starts the listener on a free port; returns its address and mailbox.
pub async fn start() -> (String, Mailbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let addr = listener.local_addr().expect("addr");
    let mailbox = Mailbox::default();
    let mb = mailbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let mb = mb.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 test-smtp ready\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-test-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                    } else if cmd.starts_with("HELO")
                        || cmd.starts_with("MAIL")
                        || cmd.starts_with("RCPT")
                        || cmd.starts_with("RSET")
                        || cmd.starts_with("NOOP")
                    {
                        b"250 OK\r\n"
                    } else if cmd.starts_with("DATA") {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if l == ".\r\n" || l == ".\n" {
                                break;
                            }
                            data.push_str(
                                l.strip_prefix('.')
                                    .filter(|_| l.starts_with(".."))
                                    .unwrap_or(&l),
                            );
                        }
                        if let Ok(mut m) = mb.messages.lock() {
                            m.push(data);
                        }
                        b"250 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"502 not implemented\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("smtp://{addr}"), mailbox)
}
