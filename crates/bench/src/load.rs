//! Load generation: a closed loop (N users, each starting its next request when the last one
//! ends: maximum throughput) and an open loop (requests scheduled at fixed intervals whatever
//! happens to earlier ones; latency measured from the *scheduled* start, so a server stall counts
//! fully against every request it delays — coordinated omission corrected).

use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// "closed" or "open".
    pub mode: String,
    /// Concurrent users (closed loop) or the target rate per second (open loop).
    pub concurrency: usize,
    pub target_rate: f64,
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Completed successfully per second.
    pub rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
    /// CPU time per completed operation, where measured (see [`Cpu`]).
    pub cpu: Option<CpuPerOp>,
}

/// CPU milliseconds (user + system) per completed operation: of the server process, of the
/// database server's processes (PostgreSQL; SQLite runs inside the server) and of the load
/// generator. On a CPU-bound machine these explain the rates and vary less than they do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CpuPerOp {
    pub server_ms: f64,
    pub database_ms: f64,
    pub client_ms: f64,
}

/// CPU time used so far: (server pid, every `postgres` process, this process), in ms.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    server: f64,
    database: f64,
    client: f64,
}

/// utime + stime of a process from /proc/<pid>/stat, in ms (USER_HZ is 100 on Linux).
fn proc_cpu_ms(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

fn comm(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

impl Cpu {
    pub fn now(server_pid: u32) -> Cpu {
        let read = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let server = read(&server_pid.to_string())
            .and_then(|s| proc_cpu_ms(&s))
            .unwrap_or(0.0);
        let client = read("self").and_then(|s| proc_cpu_ms(&s)).unwrap_or(0.0);
        let mut database = 0.0;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if let Some(s) = read(pid)
                    && comm(&s) == Some("postgres")
                {
                    database += proc_cpu_ms(&s).unwrap_or(0.0);
                }
            }
        }
        Cpu {
            server,
            database,
            client,
        }
    }

    /// Per completed operation since `self`.
    pub fn per_op(self, later: Cpu, ops: u64) -> CpuPerOp {
        let n = ops.max(1) as f64;
        CpuPerOp {
            server_ms: (later.server - self.server) / n,
            database_ms: (later.database - self.database) / n,
            client_ms: (later.client - self.client) / n,
        }
    }
}

/// Runs `f` and records the CPU it cost per completed operation.
pub async fn measured<Fut>(server_pid: u32, f: Fut) -> Stats
where
    Fut: Future<Output = Stats>,
{
    let before = Cpu::now(server_pid);
    let mut s = f.await;
    s.cpu = Some(before.per_op(Cpu::now(server_pid), s.ok));
    s
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn summarise(
    mode: &str,
    concurrency: usize,
    target_rate: f64,
    mut lat_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
) -> Stats {
    lat_us.sort_unstable();
    let ok = lat_us.len() as u64;
    Stats {
        mode: mode.into(),
        concurrency,
        target_rate,
        ok,
        errors,
        seconds,
        rate: ok as f64 / seconds.max(1e-9),
        p50_ms: percentile(&lat_us, 50.0),
        p90_ms: percentile(&lat_us, 90.0),
        p99_ms: percentile(&lat_us, 99.0),
        max_ms: lat_us
            .last()
            .map(|v| *v as f64 / 1000.0)
            .unwrap_or(f64::NAN),
        first_error,
        cpu: None,
    }
}

/// `users` tasks call `f(i)` back to back for `duration`.
pub async fn closed_loop<F, Fut>(users: usize, duration: Duration, f: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let deadline = start + duration;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..users {
        let f = f.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                match f(i).await {
                    Ok(()) => lat.push(t0.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!("{e:#}"));
                        }
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        if let Ok((l, e, fe)) = t.await {
            lat.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = fe;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    summarise("closed", users, 0.0, lat, errors, first_error, secs)
}

/// Starts `f(i)` at `start + i / rate` for `duration`, whatever happened to earlier requests;
/// latency is measured from the scheduled start. At most `max_in_flight` requests are pending at
/// once: beyond that a scheduled request is counted as an error (the server is hopelessly
/// behind). With `connections`, at most that many are sent at once (over as many keep-alive
/// connections, as wrk2 does, or as a reverse proxy's upstream pool would); the others wait in
/// the generator, and their wait counts in their latency.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    connections: Option<usize>,
    f: F,
) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let rate = rate.max(0.1);
    let f = Arc::new(f);
    let n = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let start = tokio::time::Instant::now() + Duration::from_millis(5);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let sending = connections.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    let mut set = tokio::task::JoinSet::new();
    let mut dropped = 0u64;
    for i in 0..n {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            dropped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let f = f.clone();
        let in_flight = in_flight.clone();
        let sending = sending.clone();
        set.spawn(async move {
            let permit = match &sending {
                Some(s) => Some(s.clone().acquire_owned().await),
                None => None,
            };
            let r = f(i).await;
            drop(permit);
            let lat = scheduled.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            r.map(|()| lat).map_err(|e| format!("{e:#}"))
        });
    }
    let mut lat = Vec::new();
    let mut errors = dropped;
    let mut first_error = (dropped > 0)
        .then(|| format!("{dropped} requests not sent: more than {max_in_flight} in flight"));
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(l)) => lat.push(l),
            Ok(Err(e)) => {
                errors += 1;
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                errors += 1;
                if first_error.is_none() {
                    first_error = Some(e.to_string());
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    summarise("open", 0, rate, lat, errors, first_error, secs)
}
