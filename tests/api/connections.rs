//! Connections (issue 16): a refused upload the client is still sending gets its answer, not a
//! reset (the lingering close); kept-alive connections, given up by hyper between requests,
//! still serve spaced, pipelined and split requests in order and are closed after the idle
//! timeout (`DVC_IDLE_TIMEOUT_SECS`, 5 s in the tests).

use crate::helpers::*;
use crate::hostile::{is_portal_error_page, raw_session, stored_files};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// The status and body of an answer (`Connection: close` or the end of the stream).
fn parse(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).to_string();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A client sends the headers and the start of a 6 MB declaration with a wrong CSRF token, then
/// keeps sending the rest: the server refuses it after the first part, the rest is still taken
/// in (no reset while sending), and the client, reading once it has sent everything (as simple
/// clients do), reads the refusal. (Without the lingering close, about one round in three was
/// reset while sending.)
#[tokio::test]
async fn a_refused_upload_still_being_sent_gets_its_answer_not_a_reset() {
    let app = TestApp::spawn().await;
    let (cookie, _csrf) = raw_session(&app).await;
    let b = "LingerBoundary";
    let start = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nnot-the-token\r\n--{b}\r\nContent-Disposition: form-data; name=\"tep_giay_chung_sinh\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    );
    let end = format!("\r\n--{b}--\r\n");
    let filler = 6 * 1024 * 1024;
    let len = start.len() + filler + end.len();
    let head = format!(
        "POST /thu-tuc/{PROC}/nop-ho-so HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: {len}\r\n\r\n"
    );
    for round in 0..8 {
        let s = connect(&app).await;
        let (mut r, mut w) = s.into_split();
        let sender = {
            let (head, start, end) = (head.clone(), start.clone(), end.clone());
            tokio::spawn(async move {
                w.write_all(head.as_bytes()).await?;
                w.write_all(start.as_bytes()).await?;
                // Give the server time to refuse the request before most of the body is there.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0;
                while sent < filler {
                    let n = chunk.len().min(filler - sent);
                    w.write_all(&chunk[..n]).await?;
                    sent += n;
                }
                w.write_all(end.as_bytes()).await?;
                Ok::<_, std::io::Error>(w)
            })
        };
        let sent = tokio::time::timeout(Duration::from_secs(20), sender)
            .await
            .expect("the body was sent within 20 s")
            .expect("sender task");
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut raw))
            .await
            .expect("the server answered and closed within 20 s");
        // Neither the rest of the body nor the answer meets a reset (a browser or an HTTP
        // library still sending when the connection is reset reports an error instead of the
        // page).
        assert!(
            sent.is_ok() && read.is_ok(),
            "round {round}: reset (sending: {:?}, reading: {read:?})",
            sent.as_ref().err()
        );
        let (status, head, body) = parse(&raw);
        assert!(
            (400..500).contains(&status),
            "round {round}: {status} {head}"
        );
        assert!(
            is_portal_error_page(
                head.lines()
                    .find_map(|l| l.strip_prefix("content-type: "))
                    .unwrap_or(""),
                &body
            ),
            "round {round}: not the portal's page: {head}"
        );
    }
    assert!(stored_files(&app).is_empty(), "nothing was stored");
    let (s, _) = app.get_text("/healthz").await;
    assert_eq!(s, 200);
}

/// Reads one answer of a kept-alive connection (`Content-Length` framed) off `buf`/`s`.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String) {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let (status, head, _) = parse(&buf[..i + 4]);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if buf.len() >= i + 4 + len {
                let body = String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).to_string();
                buf.drain(..i + 4 + len);
                return (status, body);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(n > 0, "closed before the answer");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn kept_alive_connections_serve_spaced_pipelined_and_split_requests_then_close_when_idle() {
    let app = TestApp::spawn().await;
    let mut s = connect(&app).await;
    let mut buf = Vec::new();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    // Spaced: hyper gives the connection up between them.
    for _ in 0..3 {
        s.write_all(get("/healthz").as_bytes())
            .await
            .expect("write");
        let (status, body) = read_answer(&mut s, &mut buf).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Pipelined, the third split in two with a pause: answered in order.
    let pipelined = format!(
        "{}{}{}",
        get("/healthz"),
        get("/khong-co-trang-nay"),
        get("/healthz")
    );
    let cut = pipelined.len() - 10;
    s.write_all(&pipelined.as_bytes()[..cut])
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&pipelined.as_bytes()[cut..])
        .await
        .expect("write");
    let statuses = [
        read_answer(&mut s, &mut buf).await.0,
        read_answer(&mut s, &mut buf).await.0,
        read_answer(&mut s, &mut buf).await.0,
    ];
    assert_eq!(statuses, [200, 404, 200]);
    // A request whose headers arrive in pieces, with pauses, within the timeout.
    let split = get("/healthz");
    for piece in split.as_bytes().chunks(7) {
        s.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(read_answer(&mut s, &mut buf).await.0, 200);
    // Then idle: closed after the idle timeout (5 s), not before, not much later.
    let idle = Instant::now();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut rest))
        .await
        .expect("closed within 15 s")
        .expect("closed cleanly");
    assert_eq!(n, 0, "nothing more was sent");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(4500) && waited < Duration::from_secs(8),
        "closed after {waited:?}"
    );
}
