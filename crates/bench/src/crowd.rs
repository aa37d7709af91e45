//! The crowd phase: many citizens keep a connection open and each sends one request every
//! ~10 s (pages and lookups mixed), as a province's morning does. Measures latency percentiles,
//! errors and the server's peak resident memory while every connection is open.
//!
//! Raw HTTP/1.1 over tokio sockets (not reqwest): 10,000 clients of a pooled HTTP library would
//! cost the load generator more memory and CPU than the server it measures.

use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the crowd phase measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrowdStats {
    /// Connections asked for, and those open when the measurement started.
    pub connections: usize,
    pub connected: usize,
    pub interval_s: f64,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
    /// The server's resident memory before the crowd came, and its highest sample while every
    /// connection was open (VmRSS every 100 ms).
    pub rss_before_kb: u64,
    pub rss_peak_kb: u64,
}

/// The most file descriptors this process may open (soft limit), from /proc/self/limits.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One response read off a kept-alive connection: the status code (the body is read and
/// dropped: Content-Length or chunked).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let mut body: Vec<u8> = buf[head_end..].to_vec();
    if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("body cut short".into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        // Walk the chunks: size line, data, CRLF … until the zero-size chunk and its CRLF.
        let mut pos = 0;
        loop {
            let line_end = loop {
                if let Some(i) = find(&body[pos..], b"\r\n") {
                    break pos + i;
                }
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("chunked body cut short".into());
                }
                body.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&body[pos..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let need = line_end + 2 + size + 2;
            while body.len() < need {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("chunk cut short".into());
                }
                body.extend_from_slice(&chunk[..n]);
            }
            pos = need;
            if size == 0 {
                break;
            }
        }
    }
    Ok(status)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Opens `connections` kept-alive connections to `addr` (ramping up at ~2,000 a second), each
/// sending a GET of one of `paths` (in turn, from a different start) every `interval`, first at
/// a random offset; measures for `duration` once all are open, sampling `server_pid`'s memory.
pub async fn crowd(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    connections: usize,
    interval: Duration,
    duration: Duration,
    server_pid: u32,
) -> CrowdStats {
    let mut stats = CrowdStats {
        connections,
        interval_s: interval.as_secs_f64(),
        rss_before_kb: crate::proc_status_kb(server_pid, "VmRSS:"),
        ..Default::default()
    };
    let mut connections = connections;
    if let Some(limit) = open_files_limit() {
        // Ours plus the server's (same machine, same limit when started by us), and some spare.
        if limit < connections + 200 {
            let fit = limit.saturating_sub(200);
            eprintln!(
                "  crowd: only {limit} open files allowed (ulimit -n); {fit} connections instead of {connections} — raise it (scripts/bench.sh does)"
            );
            connections = fit;
        }
    }
    let host = addr.to_string();
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let first_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let latencies: Arc<std::sync::Mutex<Vec<f32>>> = Arc::default();
    // Measurement window: from when the last connection is opened, for `duration`.
    let ramp = Duration::from_secs_f64(connections as f64 / 2000.0);
    let t0 = Instant::now();
    let measure_from = t0 + ramp + Duration::from_secs(1);
    let stop_at = measure_from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let (paths, host) = (paths.clone(), host.clone());
        let (ok, errors, connected) = (ok.clone(), errors.clone(), connected.clone());
        let (first_error, latencies) = (first_error.clone(), latencies.clone());
        let start = t0 + Duration::from_secs_f64(i as f64 / 2000.0);
        tasks.spawn(async move {
            let fail = |e: String| {
                errors.fetch_add(1, Ordering::Relaxed);
                let mut f = first_error.lock().unwrap_or_else(|p| p.into_inner());
                if f.is_none() {
                    *f = Some(e);
                }
            };
            tokio::time::sleep_until(start.into()).await;
            let mut s = match TcpStream::connect(addr).await {
                Ok(s) => s,
                Err(e) => return fail(format!("connect: {e}")),
            };
            let _ = s.set_nodelay(true);
            connected.fetch_add(1, Ordering::Relaxed);
            // First request at a pseudo-random offset within the interval, then every interval.
            let offset = (i as u64).wrapping_mul(2_654_435_761) % 10_000;
            let mut next = start + interval.mul_f64(offset as f64 / 10_000.0);
            let mut buf = Vec::with_capacity(1024);
            let mut k = i;
            let mut mine = Vec::new();
            while next < stop_at {
                tokio::time::sleep_until(next.into()).await;
                let path = &paths[k % paths.len()];
                k += 7;
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dvc-bench-crowd\r\n\r\n"
                );
                let sent = Instant::now();
                let r = match s.write_all(req.as_bytes()).await {
                    Ok(()) => read_response(&mut s, &mut buf).await,
                    Err(e) => Err(e.to_string()),
                };
                let counted = sent >= measure_from;
                match r {
                    Ok(200) => {
                        if counted {
                            ok.fetch_add(1, Ordering::Relaxed);
                            mine.push(sent.elapsed().as_secs_f32() * 1000.0);
                        }
                    }
                    Ok(code) => {
                        if counted {
                            fail(format!("GET {path}: HTTP {code}"));
                        }
                    }
                    Err(e) => {
                        fail(format!("GET {path}: {e}"));
                        return;
                    }
                }
                next += interval;
            }
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(mine);
            // Hold the connection open until the end, then close it.
            tokio::time::sleep_until(stop_at.into()).await;
        });
    }
    // Memory samples while the crowd is there.
    let mut peak = 0;
    while Instant::now() < stop_at {
        peak = peak.max(crate::proc_status_kb(server_pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Instant::now() >= measure_from && stats.connected == 0 {
            stats.connected = connected.load(Ordering::Relaxed) as usize;
        }
    }
    while tasks.join_next().await.is_some() {}
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_by(f32::total_cmp);
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize] as f64
        }
    };
    stats.seconds = duration.as_secs_f64();
    stats.ok = ok.load(Ordering::Relaxed);
    stats.errors = errors.load(Ordering::Relaxed);
    stats.p50_ms = pct(0.50);
    stats.p99_ms = pct(0.99);
    stats.max_ms = pct(1.0);
    stats.first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    stats.rss_peak_kb = peak;
    stats
}
