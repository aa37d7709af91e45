//! `dvc-bench`: measures the portal against a bare axum baseline (`dvc-baseline`), on SQLite
//! (WAL, `synchronous=FULL`) and PostgreSQL, in one run. See `scripts/bench.sh` and the README
//! section "Hiệu năng / Performance".
//!
//! For each backend: imports a generated catalogue of N procedures (`dichvucong import-catalog`),
//! starts the portal (`dichvucong serve`, release build) and the baseline on fresh databases,
//! then measures complete citizen submissions (closed loop for the maximum rate, open loop at 50%
//! and 80% of it), status lookups (page and API) and catalogue search, and the servers' peak
//! memory (VmHWM). Writes `<out>/latest.md` and `<out>/latest.json`.

mod catalog;
mod crowd;
mod journey;
mod load;
mod report;
mod smtp_sink;
mod statistics;

use anyhow::{Context, bail};
use clap::Parser;
use journey::Codes;
use load::{Stats, closed_loop, open_loop};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
#[command(name = "dvc-bench", about = "Portal vs bare-axum baseline benchmark")]
pub struct Args {
    /// A ~1-minute smoke run (short phases, 2,000 procedures).
    #[arg(long)]
    quick: bool,
    /// Backends to measure, comma-separated: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres")]
    backends: String,
    /// PostgreSQL server (an admin connection; a fresh database is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// Where results are written (latest.md, latest.json).
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Sample catalogue to generate procedures from.
    #[arg(long, default_value = "catalog")]
    catalog: PathBuf,
    /// Procedures in the generated catalogue (default 10,000; 2,000 with --quick).
    #[arg(long)]
    procedures: Option<usize>,
    /// Concurrent citizens in the closed-loop submission run.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Concurrent connections in the closed-loop lookup and search runs.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Most requests sent at once (over as many keep-alive connections) in the open-loop lookup
    /// and search runs; later ones wait in the generator, their wait counted (wrk2's model, and
    /// a reverse proxy's upstream pool). 0: no limit, a new connection for every request beyond
    /// the idle ones.
    #[arg(long, default_value_t = 64)]
    open_connections: usize,
    /// Seconds per measured phase (default 10; 2 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Directory holding the `dichvucong` and `dvc-baseline` binaries (default: this binary's).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Phases to run, comma-separated: submit, paid (the journey with a fee paid at filing:
    /// filing, redirect, IPN, return page), api (filings through the partner API against
    /// the baseline's durable insert, and webhook deliveries to a local receiver), lookup-page, lookup-api, search, catalogue (the
    /// portal's search against its own unfiltered first page, side by side), memory (resident
    /// set with an empty catalogue and with N procedures), crowd (10,000 kept-alive connections,
    /// one request each every ~10 s: latency, errors and the portal's peak memory).
    #[arg(
        long,
        default_value = "submit,paid,api,lookup-page,lookup-api,search,catalogue,memory,statistics,crowd"
    )]
    phases: String,
    /// Connections in the crowd phase (default 10,000; 1,000 with --quick), each kept open and
    /// sending one request every --crowd-interval seconds.
    #[arg(long)]
    crowd: Option<usize>,
    /// Seconds between two requests on one crowd connection.
    #[arg(long, default_value_t = 10.0)]
    crowd_interval: f64,
    /// Seconds the crowd is measured once every connection is open (default 30; 12 with --quick).
    #[arg(long)]
    crowd_seconds: Option<f64>,
    /// Dossiers generated for the `statistics` phase (`/thong-ke` over a province and a year).
    #[arg(long, default_value_t = 1_000_000)]
    dossiers: usize,
    /// Requests per measurement in the `statistics` phase.
    #[arg(long, default_value_t = 300)]
    stat_requests: usize,
    /// The portal writes its e-mails as `.eml` files (the development fallback) instead of
    /// sending them to the load generator's SMTP relay (for comparisons).
    #[arg(long)]
    mail_to_files: bool,
    /// Command that produced the run, recorded in the report.
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
}

/// One measured quantity for the portal and the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub portal: Stats,
    pub baseline: Stats,
    /// Interleaved rounds the figures are the median of.
    pub rounds: usize,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct BackendResult {
    pub backend: String,
    pub import_seconds: f64,
    pub submit_max: Option<Pair>,
    pub submit_50: Option<Pair>,
    pub submit_80: Option<Pair>,
    /// The baseline's single durable POST (no pages), maximum rate: a reference floor.
    pub insert_only_max: Option<Stats>,
    /// Filings through the partner API (portal) against the baseline's same durable writes (one
    /// multipart POST: the file, the dossier and the records the portal writes with a filing),
    /// max, closed loop.
    pub api_submit_max: Option<Pair>,
    /// The baseline's durable insert alone (the file and the dossier row), one round: a
    /// reference for the API filings.
    pub api_minimal_max: Option<Stats>,
    /// Webhook deliveries to a local receiver of the events of the API filings.
    pub webhooks: Option<WebhookRun>,
    /// The paid journey (fee at filing): form, declaration, review, send (303 to the gateway),
    /// the gateway's IPN, the return page; maximum rate, closed loop.
    pub paid_max: Option<Pair>,
    /// The baseline's paid journey writing only the dossier and payment rows, one round: a
    /// reference.
    pub paid_minimal_max: Option<Stats>,
    /// E-mails of the paid journeys received by the SMTP relay, of those expected (two each).
    pub paid_mails: Option<(u64, u64)>,
    pub lookup_page_max: Option<Pair>,
    pub lookup_page_lat: Option<Pair>,
    pub lookup_api_max: Option<Pair>,
    pub lookup_api_lat: Option<Pair>,
    pub search_max: Option<Pair>,
    pub search_lat: Option<Pair>,
    /// The portal alone: search (`portal`) against the unfiltered first catalogue page
    /// (`baseline`), at one rate, interleaved rounds.
    pub search_vs_first_page: Option<Pair>,
    /// Resident set of an idle portal (started, a few catalogue pages served) with an empty
    /// catalogue, and with the N procedures.
    pub portal_idle_empty_rss_kb: u64,
    pub portal_idle_rss_kb: u64,
    pub portal_vmhwm_kb: u64,
    /// Peak resident set of the portal once started, before any load (catalogue loaded).
    pub portal_start_vmhwm_kb: u64,
    /// Resident set of the portal at the end of the run.
    pub portal_end_rss_kb: u64,
    pub baseline_vmhwm_kb: u64,
    pub dossiers_in_portal: usize,
    /// One citizen alone: mean ms of each request of the journey (form, declaration with the
    /// PDF, review, send, confirmation).
    pub journey_steps_ms: Vec<f64>,
    /// The crowd phase on the portal (see [`crowd::crowd`]).
    pub crowd: Option<crowd::CrowdStats>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct WebhookRun {
    /// Events to deliver (the API filings) and deliveries received (with at-least-once repeats).
    pub events: usize,
    pub received: usize,
    /// Received while the filings ran, per second of filing.
    pub during_per_s: f64,
    /// Backlog at the end of the filings, and the rate at which it drained afterwards.
    pub backlog: usize,
    pub drain_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub loadavg_before: String,
    pub loadavg_after: String,
    pub other_compilers_before: usize,
    pub other_compilers_after: usize,
    /// Microseconds to create a small file in the run's directory once settled, and how long
    /// the run waited for that (see [`settle_file_system`]).
    pub file_create_us: f64,
    pub settle_wait_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub started: String,
    pub command: String,
    pub quick: bool,
    pub procedures: usize,
    pub seconds_per_phase: f64,
    pub users: usize,
    pub connections: usize,
    pub open_connections: usize,
    pub git_commit: String,
    pub machine: Machine,
    pub backends: Vec<BackendResult>,
    pub wall_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    smtp_sink::set_to_files(args.mail_to_files);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Compiler processes of other people's builds running now (rustc, cc1, ld).
fn compilers() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|c| matches!(c.trim(), "rustc" | "cc1" | "cc1plus" | "ld" | "cc"))
        .count()
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Peak resident set size of a process, from /proc/<pid>/status.
pub fn vm_hwm_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}

/// A `kB` field of /proc/<pid>/status (VmHWM: peak resident set, VmRSS: resident now).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

struct Server {
    child: std::process::Child,
    pid: u32,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    async fn stop(mut self) {
        // SIGTERM first (graceful), then make sure.
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn wait_healthy(
    base: &str,
    child: &mut std::process::Child,
    log: &Path,
) -> anyhow::Result<()> {
    let c = journey::shared_client()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = c.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            bail!("server exited ({status}) before answering: {tail}");
        }
        if Instant::now() > deadline {
            bail!("server at {base} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn spawn_portal(bin: &Path, data: &Path, db: &str) -> anyhow::Result<Server> {
    spawn_portal_with(bin, data, db, true).await
}

/// Pages an idle portal has served once (so that both memory figures include what the first
/// requests allocate), then its resident set after a moment of rest.
async fn idle_rss_kb(server: &Server) -> anyhow::Result<u64> {
    let c = journey::shared_client()?;
    for path in [
        "/",
        "/thu-tuc",
        "/thu-tuc?truc_tuyen=1",
        "/thu-tuc?q=giay+phep",
        "/thu-tuc?trang=3",
        "/api/v1/procedures",
    ] {
        for _ in 0..5 {
            journey::get_ok(&c, format!("{}{path}", server.base))
                .await
                .with_context(|| format!("GET {path} on the idle portal"))?;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(proc_status_kb(server.pid, "VmRSS:"))
}

/// The portal; `sample_catalog: false` starts it with an empty catalogue on a fresh database.
async fn spawn_portal_with(
    bin: &Path,
    data: &Path,
    db: &str,
    sample_catalog: bool,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let log = data.join("portal.log");
    std::fs::create_dir_all(data)?;
    // E-mails go to a relay, as in production (not to one `.eml` file each).
    let smtp = if smtp_sink::to_files() {
        None
    } else {
        Some(smtp_sink::url().await?)
    };
    smtp_sink::portal_started(data);
    let out = std::fs::File::create(&log)?;
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("serve")
        .env("DVC_LISTEN", format!("127.0.0.1:{port}"))
        .env("DVC_DATA_DIR", data)
        .env("DVC_DATABASE_URL", db)
        .env_remove("DVC_SMTP_URL")
        .env("DVC_CAPTCHA", "off")
        .env("DVC_RATE_SUBMIT_PER_HOUR", "1000000000")
        .env("DVC_RATE_LOOKUP_PER_MINUTE", "1000000000")
        .env("DVC_RATE_API_PER_MINUTE", "1000000000")
        .env("DVC_WEBHOOK_ALLOW_INSECURE", "true")
        // Each simulated browser is a citizen with an address of its own (journey::browser),
        // passed on as a deployment's reverse proxy does.
        .env("DVC_TRUST_PROXY", "true")
        .env("DVC_LOG", "warn")
        .env("DVC_SAMPLE_CATALOG", sample_catalog.to_string())
        // The paid journey: the stand-in gateway with the benchmark's merchant pair (the
        // load generator plays the gateway and signs the IPN with it).
        .env("DVC_PAYMENT", "sandbox")
        .env("DVC_VNPAY_TMN_CODE", journey::PAY_TMN_CODE)
        .env("DVC_VNPAY_HASH_SECRET", journey::PAY_HASH_SECRET)
        .stdout(Stdio::null())
        .stderr(out);
    if let Some(url) = &smtp {
        cmd.env("DVC_SMTP_URL", url);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, &mut child, &log).await?;
    let pid = child.id();
    Ok(Server { child, pid, base })
}

async fn spawn_baseline(bin: &Path, data: &Path, db: &str, names: &Path) -> anyhow::Result<Server> {
    let port = free_port()?;
    std::fs::create_dir_all(data)?;
    let log = data.join("baseline.log");
    let out = std::fs::File::create(&log)?;
    let mut child = std::process::Command::new(bin)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(db)
        .arg("--data-dir")
        .arg(data)
        .arg("--names")
        .arg(names)
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, &mut child, &log).await?;
    let pid = child.id();
    Ok(Server { child, pid, base })
}

async fn pg_exec(admin: &str, sql: String) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(admin)
        .await
        .context("connect to PostgreSQL (--pg-url)")?;
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

fn pg_db_url(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

fn print_phase(name: &str, s: &Stats) {
    eprintln!(
        "  {name:<34} {:>9.1}/s  p50 {:>8.2} ms  p99 {:>8.2} ms  ok {:>6}  err {:>4}{}",
        s.rate,
        s.p50_ms,
        s.p99_ms,
        s.ok,
        s.errors,
        s.first_error
            .as_deref()
            .map(|e| format!("  ({})", e.chars().take(160).collect::<String>()))
            .unwrap_or_default()
    );
    if let Some(c) = &s.cpu {
        eprintln!(
            "  {:<34} CPU ms per operation: server {:.2}, database {:.2}, load generator {:.2}",
            "", c.server_ms, c.database_ms, c.client_ms
        );
    }
}

struct Ctx {
    args: Args,
    portal_bin: PathBuf,
    baseline_bin: PathBuf,
    work: PathBuf,
    catalog_dir: PathBuf,
    names: PathBuf,
    procedures: usize,
    dur: Duration,
    pdf: &'static [u8],
}

async fn run(args: Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let started = jiff::Timestamp::now().to_string();
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary directory")?
            .to_path_buf(),
    };
    let portal_bin = bin_dir.join("dichvucong");
    let baseline_bin = bin_dir.join("dvc-baseline");
    for b in [&portal_bin, &baseline_bin] {
        if !b.exists() {
            bail!(
                "{} not found: build with `cargo build --release` first",
                b.display()
            );
        }
    }
    let phases: Vec<&str> = args.phases.split(',').map(str::trim).collect();
    if phases.iter().all(|p| *p == "statistics") {
        let work =
            std::env::temp_dir().join(format!("dvc-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&work)?;
        let r = statistics::run(&args, &portal_bin, &work).await;
        let _ = std::fs::remove_dir_all(&work);
        return r;
    }
    let procedures = args
        .procedures
        .unwrap_or(if args.quick { 2_000 } else { 10_000 });
    let seconds = args.seconds.unwrap_or(if args.quick { 2.0 } else { 10.0 });
    let work = std::env::temp_dir().join(format!("dvc-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work)?;
    let catalog_dir = work.join("catalog");
    let names = work.join("names.tsv");
    let n = catalog::generate(&args.catalog, &catalog_dir, &names, procedures)?;
    eprintln!(
        "catalogue: {n} procedures generated in {}",
        catalog_dir.display()
    );

    let (file_create_us, settle_wait_s) = settle_file_system(&work).await?;
    let machine_before = (loadavg(), compilers());
    let ctx = Ctx {
        args: args.clone(),
        portal_bin,
        baseline_bin,
        work: work.clone(),
        catalog_dir,
        names,
        procedures: n,
        dur: Duration::from_secs_f64(seconds),
        pdf: journey::pdf_100k(),
    };
    let mut results = Vec::new();
    for backend in args
        .backends
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        eprintln!("== {backend} ==");
        let r = match backend {
            "sqlite" => run_backend(&ctx, backend, None).await,
            "postgres" => {
                let tag = uuid::Uuid::new_v4().simple().to_string();
                let dbs = [
                    format!("dvcbench_p_{}", &tag[..12]),
                    format!("dvcbench_b_{}", &tag[..12]),
                ];
                for d in &dbs {
                    pg_exec(&args.pg_url, format!("CREATE DATABASE {d}")).await?;
                }
                let r = run_backend(&ctx, backend, Some((&dbs[0], &dbs[1]))).await;
                for d in &dbs {
                    if let Err(e) = pg_exec(
                        &args.pg_url,
                        format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"),
                    )
                    .await
                    {
                        eprintln!("could not drop {d}: {e:#}");
                    }
                }
                r
            }
            other => bail!("unknown backend {other} (sqlite, postgres)"),
        };
        match r {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("{backend}: FAILED: {e:#}");
                return Err(e);
            }
        }
    }
    let run = Run {
        started,
        command: args.command.clone(),
        quick: args.quick,
        procedures: n,
        seconds_per_phase: seconds,
        users: args.users,
        connections: args.connections,
        open_connections: args.open_connections,
        git_commit: git_commit(),
        machine: Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            loadavg_before: machine_before.0,
            loadavg_after: loadavg(),
            other_compilers_before: machine_before.1,
            other_compilers_after: compilers(),
            file_create_us,
            settle_wait_s,
        },
        backends: results,
        wall_seconds: t0.elapsed().as_secs_f64(),
    };
    let md = report::markdown(&run);
    println!("{md}");
    std::fs::create_dir_all(&args.out)?;
    let (md_name, json_name) = if args.quick {
        ("quick.md", "quick.json")
    } else {
        ("latest.md", "latest.json")
    };
    std::fs::write(args.out.join(md_name), &md)?;
    std::fs::write(
        args.out.join(json_name),
        serde_json::to_string_pretty(&run)?,
    )?;
    eprintln!(
        "written: {} and {}",
        args.out.join(md_name).display(),
        args.out.join(json_name).display()
    );
    if phases.contains(&"statistics") {
        statistics::run(&args, &ctx.portal_bin, &work).await?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Mean microseconds to create (and write 4 KB to) each of 300 new files in a new directory
/// under `dir`. The files are kept (removed with the run's directory).
fn file_create_cost(dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let d = dir.join(format!("fs-probe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d)?;
    let block = [0u8; 4096];
    let t = Instant::now();
    for i in 0..300 {
        std::fs::File::create_new(d.join(i.to_string()))?.write_all(&block)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / 300.0)
}

/// Waits (at most two minutes) until creating a file in the run's directory is cheap again.
/// On ext4 without a journal (this machine's root file system) the inode allocator passes over
/// every inode freed in the last 30–60 s, reading each one's inode block: right after tens of
/// thousands of files were removed (the previous run's clean-up, a test run) each new file
/// costs up to ~1 ms of kernel time instead of ~25 µs, which weighs on whichever server creates
/// more files and made runs differ by 30 %.
/// Returns the last probe's cost and the seconds waited.
async fn settle_file_system(work: &Path) -> anyhow::Result<(f64, f64)> {
    const SETTLED_US: f64 = 100.0;
    let t = Instant::now();
    loop {
        let cost = file_create_cost(work)?;
        let waited = t.elapsed().as_secs_f64();
        if cost <= SETTLED_US || waited >= 120.0 {
            eprintln!(
                "file system: {cost:.0} µs to create a file (waited {waited:.0} s for inodes freed just before the run to settle)"
            );
            return Ok((cost, waited));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Several rounds of the same measurement merged: medians of the rates and percentiles, sums
/// of the counts.
fn merge(rounds: Vec<Stats>) -> Stats {
    let Some(first) = rounds.first().cloned() else {
        return Stats::default();
    };
    Stats {
        ok: rounds.iter().map(|r| r.ok).sum(),
        errors: rounds.iter().map(|r| r.errors).sum(),
        seconds: rounds.iter().map(|r| r.seconds).sum(),
        rate: median(rounds.iter().map(|r| r.rate).collect()),
        p50_ms: median(rounds.iter().map(|r| r.p50_ms).collect()),
        p90_ms: median(rounds.iter().map(|r| r.p90_ms).collect()),
        p99_ms: median(rounds.iter().map(|r| r.p99_ms).collect()),
        max_ms: rounds.iter().map(|r| r.max_ms).fold(f64::NAN, f64::max),
        first_error: rounds.iter().find_map(|r| r.first_error.clone()),
        cpu: {
            let cpus: Vec<&load::CpuPerOp> = rounds.iter().filter_map(|r| r.cpu.as_ref()).collect();
            (!cpus.is_empty()).then(|| load::CpuPerOp {
                server_ms: median(cpus.iter().map(|c| c.server_ms).collect()),
                database_ms: median(cpus.iter().map(|c| c.database_ms).collect()),
                client_ms: median(cpus.iter().map(|c| c.client_ms).collect()),
            })
        },
        ..first
    }
}

/// The machine's CPU time counters (`/proc/stat`, first line), in clock ticks.
#[derive(Debug, Clone, Copy)]
struct MachineCpu {
    total: u64,
    idle: u64,
    steal: u64,
}

impl MachineCpu {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal …
        Some(Self {
            total: v.iter().take(8).sum(),
            idle: v.get(3)? + v.get(4)?,
            steal: *v.get(7)?,
        })
    }
    fn since(&self, before: &Self) -> Self {
        Self {
            total: self.total.saturating_sub(before.total),
            idle: self.idle.saturating_sub(before.idle),
            steal: self.steal.saturating_sub(before.steal),
        }
    }
    /// Share of all cores doing work (stolen time excluded).
    fn busy_pct(&self) -> f64 {
        let t = self.total.max(1) as f64;
        100.0 * (t - self.idle as f64 - self.steal as f64) / t
    }
    fn steal_pct(&self) -> f64 {
        100.0 * self.steal as f64 / self.total.max(1) as f64
    }
}

/// Interleaved rounds (portal, baseline, baseline, portal, portal, baseline, …) so that a
/// passing disturbance of the shared machine hits both alike; reports the median of each.
async fn pair_rounds<F1, F2, Fut1, Fut2>(
    name: &str,
    rounds: usize,
    portal: F1,
    baseline: F2,
) -> Pair
where
    F1: Fn() -> Fut1,
    F2: Fn() -> Fut2,
    Fut1: std::future::Future<Output = Stats>,
    Fut2: std::future::Future<Output = Stats>,
{
    pair_rounds_labelled(name, ("portal", "baseline"), rounds, portal, baseline).await
}

/// [`pair_rounds`] with other names for the two sides.
async fn pair_rounds_labelled<F1, F2, Fut1, Fut2>(
    name: &str,
    labels: (&str, &str),
    rounds: usize,
    portal: F1,
    baseline: F2,
) -> Pair
where
    F1: Fn() -> Fut1,
    F2: Fn() -> Fut2,
    Fut1: std::future::Future<Output = Stats>,
    Fut2: std::future::Future<Output = Stats>,
{
    let (mut ps, mut bs) = (Vec::new(), Vec::new());
    // How busy the whole machine was during each round (servers, database, load generator).
    let (mut pbusy, mut bbusy) = (Vec::new(), Vec::new());
    async fn busy<Fut: std::future::Future<Output = Stats>>(
        run: Fut,
        stats: &mut Vec<Stats>,
        busy: &mut Vec<Option<MachineCpu>>,
    ) {
        let before = MachineCpu::read();
        stats.push(run.await);
        busy.push(before.zip(MachineCpu::read()).map(|(b, a)| a.since(&b)));
    }
    for r in 0..rounds {
        if r % 2 == 0 {
            busy(portal(), &mut ps, &mut pbusy).await;
            busy(baseline(), &mut bs, &mut bbusy).await;
        } else {
            busy(baseline(), &mut bs, &mut bbusy).await;
            busy(portal(), &mut ps, &mut pbusy).await;
        }
    }
    if rounds > 1 {
        // The rounds one by one: a tail that only one round shows is a disturbance; with the
        // machine's busy share beside it, one can tell a saturated machine from a stolen one.
        let show = |v: &[Stats], b: &[Option<MachineCpu>]| {
            v.iter()
                .zip(b)
                .map(|(s, b)| match b {
                    Some(b) => format!(
                        "{:.2} ({:.0}%{})",
                        s.p99_ms,
                        b.busy_pct(),
                        match b.steal_pct() {
                            x if x >= 1.0 => format!(", steal {x:.0}%"),
                            _ => String::new(),
                        }
                    ),
                    None => format!("{:.2}", s.p99_ms),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!(
            "  {name}: p99 of each round, ms (machine busy): {} {} | {} {}",
            labels.0,
            show(&ps, &pbusy),
            labels.1,
            show(&bs, &bbusy)
        );
    }
    let (p, b) = (merge(ps), merge(bs));
    print_phase(&format!("{name} {} (median of {rounds})", labels.0), &p);
    print_phase(&format!("{name} {} (median of {rounds})", labels.1), &b);
    Pair {
        portal: p,
        baseline: b,
        rounds,
    }
}

/// Waits until the portal has sent an e-mail for every dossier filed so far (its outbox is
/// empty), so that the next phase, on either server, does not share the cores with the backlog.
async fn drain_mail(data: &Path, filed: usize) {
    let t = Instant::now();
    loop {
        let n = if smtp_sink::to_files() {
            std::fs::read_dir(data.join("mail"))
                .map(|d| d.count())
                .unwrap_or(0)
        } else {
            usize::try_from(smtp_sink::received_from(data)).unwrap_or(usize::MAX)
        };
        if n >= filed || t.elapsed() > Duration::from_secs(180) {
            eprintln!(
                "  portal e-mail backlog: {n}/{filed} sent, waited {:.1} s",
                t.elapsed().as_secs_f64()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs one phase on the portal, then the same on the baseline.
async fn pair<F1, F2, Fut1, Fut2>(name: &str, portal: F1, baseline: F2) -> Pair
where
    F1: FnOnce() -> Fut1,
    F2: FnOnce() -> Fut2,
    Fut1: std::future::Future<Output = Stats>,
    Fut2: std::future::Future<Output = Stats>,
{
    let p = portal().await;
    print_phase(&format!("{name} portal"), &p);
    let b = baseline().await;
    print_phase(&format!("{name} baseline"), &b);
    Pair {
        portal: p,
        baseline: b,
        rounds: 1,
    }
}

async fn run_backend(
    ctx: &Ctx,
    backend: &str,
    pg: Option<(&str, &str)>,
) -> anyhow::Result<BackendResult> {
    let dir = ctx.work.join(backend);
    let pdata = dir.join("portal");
    let bdata = dir.join("baseline");
    std::fs::create_dir_all(&pdata)?;
    std::fs::create_dir_all(&bdata)?;
    let (pdb, bdb) = match pg {
        Some((p, b)) => (
            pg_db_url(&ctx.args.pg_url, p),
            pg_db_url(&ctx.args.pg_url, b),
        ),
        None => (
            format!("sqlite://{}", pdata.join("dichvucong.db").display()),
            format!("sqlite://{}", bdata.join("baseline.db").display()),
        ),
    };
    let mut res = BackendResult {
        backend: backend.into(),
        ..Default::default()
    };

    // The same portal with an empty catalogue first (the reference for the catalogue's memory).
    let want_memory = ctx.args.phases.contains("memory");
    if want_memory {
        let empty = spawn_portal_with(&ctx.portal_bin, &pdata, &pdb, false).await?;
        res.portal_idle_empty_rss_kb = idle_rss_kb(&empty).await?;
        empty.stop().await;
    }

    // The catalogue, through the real command.
    let t = Instant::now();
    let out = std::process::Command::new(&ctx.portal_bin)
        .arg("import-catalog")
        .arg(&ctx.catalog_dir)
        .env("DVC_DATA_DIR", &pdata)
        .env("DVC_DATABASE_URL", &pdb)
        .env("DVC_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!(
            "import-catalog failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    res.import_seconds = t.elapsed().as_secs_f64();
    eprintln!("  import-catalog: {:.1} s", res.import_seconds);

    let portal = spawn_portal(&ctx.portal_bin, &pdata, &pdb).await?;
    let baseline = spawn_baseline(&ctx.baseline_bin, &bdata, &bdb, &ctx.names).await?;
    res.portal_start_vmhwm_kb = vm_hwm_kb(portal.pid);
    eprintln!(
        "  portal started: peak memory so far {:.1} MB",
        res.portal_start_vmhwm_kb as f64 / 1024.0
    );
    if want_memory {
        res.portal_idle_rss_kb = idle_rss_kb(&portal).await?;
        eprintln!(
            "  portal idle resident set (VmRSS): empty catalogue {:.1} MB, {} procedures {:.1} MB: +{:.1} MB for the catalogue (target ≤ 30 MB)",
            res.portal_idle_empty_rss_kb as f64 / 1024.0,
            ctx.procedures,
            res.portal_idle_rss_kb as f64 / 1024.0,
            (res.portal_idle_rss_kb as f64 - res.portal_idle_empty_rss_kb as f64) / 1024.0
        );
    }
    let pbase: Arc<str> = portal.base.clone().into();
    let bbase: Arc<str> = baseline.base.clone().into();
    let pdf = ctx.pdf;
    let shared = journey::shared_client()?;

    // Warm up both (connections, caches, first-use allocations).
    let pcodes = Codes::default();
    let bcodes = Codes::default();
    let want_submit = ctx.args.phases.contains("submit");
    for _ in 0..(if want_submit { 5 } else { 50 }) {
        pcodes.push(
            journey::portal_journey(&pbase, pdf)
                .await
                .context("warm-up journey on the portal")?,
        );
        bcodes.push(
            journey::baseline_journey(&bbase, pdf)
                .await
                .context("warm-up journey on the baseline")?,
        );
        bcodes.push(
            journey::baseline_submit(&shared, &bbase, pdf, false)
                .await
                .context("warm-up on the baseline")?,
        );
    }

    // Where a journey's time goes, one citizen alone (5 requests).
    let mut sums = [0.0f64; 5];
    let n_timed = 20;
    for _ in 0..n_timed {
        let mut steps = Some(Vec::new());
        pcodes.push(journey::portal_journey_timed(&pbase, pdf, &mut steps).await?);
        for (s, d) in sums.iter_mut().zip(steps.unwrap_or_default()) {
            *s += d.as_secs_f64() * 1000.0 / f64::from(n_timed);
        }
    }
    res.journey_steps_ms = sums.to_vec();
    eprintln!(
        "  one citizen alone, ms per step (form, declaration+PDF, review, send, confirmation): {:.2} {:.2} {:.2} {:.2} {:.2}",
        sums[0], sums[1], sums[2], sums[3], sums[4]
    );

    // Submissions: maximum with N concurrent citizens (closed loop), then open loop at 50% / 80%.
    let users = ctx.args.users;
    let dur = ctx.dur;
    if want_submit {
        // The headline figure: interleaved rounds, medians (one disturbance of the shared
        // machine during one side's only round swung the ratio by ±0.15 before).
        let rounds = if ctx.args.quick { 1 } else { 3 };
        let submit_max = pair_rounds(
            "submit max (closed)",
            rounds,
            || {
                let (b, codes) = (pbase.clone(), pcodes.clone());
                let (dir, filed) = (pdata.clone(), pcodes.clone());
                // The CPU per journey includes writing its e-mail (the backlog drained here).
                load::measured(portal.pid, async move {
                    let s = closed_loop(users, dur, move |_| {
                        let (b, codes) = (b.clone(), codes.clone());
                        async move {
                            codes.push(journey::portal_journey(&b, pdf).await?);
                            Ok(())
                        }
                    })
                    .await;
                    drain_mail(&dir, filed.count()).await;
                    s
                })
            },
            || {
                let (b, codes) = (bbase.clone(), bcodes.clone());
                load::measured(
                    baseline.pid,
                    closed_loop(users, dur, move |_| {
                        let (b, codes) = (b.clone(), codes.clone());
                        async move {
                            codes.push(journey::baseline_journey(&b, pdf).await?);
                            Ok(())
                        }
                    }),
                )
            },
        )
        .await;
        for (label, frac) in [("submit @50% (open)", 0.5), ("submit @80% (open)", 0.8)] {
            let (pr, br) = (
                submit_max.portal.rate * frac,
                submit_max.baseline.rate * frac,
            );
            let p = pair(
                label,
                || {
                    let (b, codes) = (pbase.clone(), pcodes.clone());
                    let (dir, filed) = (pdata.clone(), pcodes.clone());
                    async move {
                        let s = open_loop(pr, dur, 1000, None, move |_| {
                            let (b, codes) = (b.clone(), codes.clone());
                            async move {
                                codes.push(journey::portal_journey(&b, pdf).await?);
                                Ok(())
                            }
                        })
                        .await;
                        drain_mail(&dir, filed.count()).await;
                        s
                    }
                },
                || {
                    let (b, codes) = (bbase.clone(), bcodes.clone());
                    open_loop(br, dur, 1000, None, move |_| {
                        let (b, codes) = (b.clone(), codes.clone());
                        async move {
                            codes.push(journey::baseline_journey(&b, pdf).await?);
                            Ok(())
                        }
                    })
                },
            )
            .await;
            if frac < 0.6 {
                res.submit_50 = Some(p);
            } else {
                res.submit_80 = Some(p);
            }
        }
        res.submit_max = Some(submit_max);
        // For reference: the durable insert alone (one multipart POST: the file with fsync, one
        // committed row), the floor under any submission.
        let (b, codes, c) = (bbase.clone(), bcodes.clone(), shared.clone());
        let s = closed_loop(users, dur, move |_| {
            let (b, codes, c) = (b.clone(), codes.clone(), c.clone());
            async move {
                codes.push(journey::baseline_submit(&c, &b, pdf, false).await?);
                Ok(())
            }
        })
        .await;
        print_phase("durable insert alone, baseline (closed)", &s);
        res.insert_only_max = Some(s);
    }
    if ctx.args.phases.contains("api") {
        let (pair, hooks, minimal) =
            api_phase(ctx, &pdata, &pdb, &pbase, &bbase, &pcodes, &bcodes).await?;
        res.api_submit_max = Some(pair);
        res.api_minimal_max = Some(minimal);
        res.webhooks = Some(hooks);
    }
    if ctx.args.phases.contains("paid") {
        let mails_before = smtp_sink::received();
        let journeys = Arc::new(std::sync::atomic::AtomicU64::new(5));
        for _ in 0..5 {
            journey::portal_paid_journey(&pbase, pdf)
                .await
                .context("warm-up paid journey on the portal")?;
            for all in [true, false] {
                journey::baseline_paid_journey(&bbase, pdf, all)
                    .await
                    .context("warm-up paid journey on the baseline")?;
            }
        }
        let rounds = if ctx.args.quick { 1 } else { 3 };
        let paid = pair_rounds(
            "paid journey max (closed)",
            rounds,
            || {
                let b = pbase.clone();
                let journeys = journeys.clone();
                load::measured(
                    portal.pid,
                    closed_loop(users, dur, move |_| {
                        let b = b.clone();
                        let journeys = journeys.clone();
                        async move {
                            journey::portal_paid_journey(&b, pdf).await?;
                            journeys.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            Ok(())
                        }
                    }),
                )
            },
            || {
                let b = bbase.clone();
                load::measured(
                    baseline.pid,
                    closed_loop(users, dur, move |_| {
                        let b = b.clone();
                        async move { journey::baseline_paid_journey(&b, pdf, true).await }
                    }),
                )
            },
        )
        .await;
        res.paid_max = Some(paid);
        // For reference: the baseline writing only the dossier and payment rows (no events,
        // audit entries or e-mails), one round.
        let b = bbase.clone();
        let s = closed_loop(users, dur, move |_| {
            let b = b.clone();
            async move { journey::baseline_paid_journey(&b, pdf, false).await }
        })
        .await;
        print_phase("paid journey, baseline without the records (closed)", &s);
        res.paid_minimal_max = Some(s);
        // Two e-mails a paid journey (filed, paid): all must reach the relay, not wait queued.
        let expected = 2 * journeys.load(std::sync::atomic::Ordering::Relaxed);
        let waited = Instant::now();
        while !smtp_sink::to_files()
            && smtp_sink::received() - mails_before < expected
            && waited.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = smtp_sink::received() - mails_before;
        if !smtp_sink::to_files() {
            println!(
                "  e-mails of the paid journeys: {got} of {expected} received by the relay, the last {:.1} s after the phase",
                waited.elapsed().as_secs_f64()
            );
        }
        if !smtp_sink::to_files() {
            res.paid_mails = Some((got, expected));
        }
    }
    let pcodes: Arc<Vec<String>> = Arc::new(pcodes.all());
    let bcodes: Arc<Vec<String>> = Arc::new(bcodes.all());
    res.dossiers_in_portal = pcodes.len();
    if pcodes.is_empty() || bcodes.is_empty() {
        bail!("no dossier was filed: nothing to look up");
    }

    // Lookups and search: maximum (closed loop), then latency at one common rate for both
    // (half the lower of the two maxima), open loop.
    let conns = ctx.args.connections;
    type UrlFn = Arc<dyn Fn(&str, u64) -> String + Send + Sync>;
    let queries = catalog::QUERIES;
    let kinds: [(&str, UrlFn, UrlFn); 3] = [
        (
            "lookup page",
            {
                let codes = pcodes.clone();
                Arc::new(move |b: &str, i: u64| {
                    format!("{b}/tra-cuu?ma={}", codes[i as usize % codes.len()])
                })
            },
            {
                let codes = bcodes.clone();
                Arc::new(move |b: &str, i: u64| {
                    format!("{b}/tra-cuu?ma={}", codes[i as usize % codes.len()])
                })
            },
        ),
        (
            "lookup API",
            {
                let codes = pcodes.clone();
                Arc::new(move |b: &str, i: u64| {
                    format!(
                        "{b}/api/v1/dossiers/{}/status",
                        codes[i as usize % codes.len()]
                    )
                })
            },
            {
                let codes = bcodes.clone();
                Arc::new(move |b: &str, i: u64| {
                    format!("{b}/api/status/{}", codes[i as usize % codes.len()])
                })
            },
        ),
        (
            "search",
            Arc::new(move |b: &str, i: u64| {
                format!("{b}/thu-tuc?q={}", queries[i as usize % queries.len()])
            }),
            Arc::new(move |b: &str, i: u64| {
                format!("{b}/thu-tuc?q={}", queries[i as usize % queries.len()])
            }),
        ),
    ];
    for (name, purl, burl) in kinds {
        if !ctx
            .args
            .phases
            .contains(&name.replace(' ', "-").to_lowercase())
        {
            continue;
        }
        let get = |base: Arc<str>, url: UrlFn, c: reqwest::Client| {
            move |i: u64| {
                let (u, c) = (url(&base, i), c.clone());
                async move { journey::get_ok(&c, u).await }
            }
        };
        let max = pair(
            &format!("{name} max (closed)"),
            || closed_loop(conns, dur, get(pbase.clone(), purl.clone(), shared.clone())),
            || closed_loop(conns, dur, get(bbase.clone(), burl.clone(), shared.clone())),
        )
        .await;
        let rate = 0.5 * max.portal.rate.min(max.baseline.rate);
        // Tails are what a shared machine disturbs most: interleaved rounds, medians.
        // An odd number of rounds, so that the median is one round's figure and two disturbed
        // rounds out of five cannot move it; the same 20 s per server in all.
        let rounds = if ctx.args.quick { 1 } else { 5 };
        let round_dur = dur.mul_f64(if ctx.args.quick { 1.0 } else { 0.4 });
        let lat = pair_rounds(
            &format!("{name} @{rate:.0}/s (open)"),
            rounds,
            || {
                open_loop(
                    rate,
                    round_dur,
                    4000,
                    (ctx.args.open_connections > 0).then_some(ctx.args.open_connections),
                    get(pbase.clone(), purl.clone(), shared.clone()),
                )
            },
            || {
                open_loop(
                    rate,
                    round_dur,
                    4000,
                    (ctx.args.open_connections > 0).then_some(ctx.args.open_connections),
                    get(bbase.clone(), burl.clone(), shared.clone()),
                )
            },
        )
        .await;
        match name {
            "lookup page" => {
                res.lookup_page_max = Some(max);
                res.lookup_page_lat = Some(lat);
            }
            "lookup API" => {
                res.lookup_api_max = Some(max);
                res.lookup_api_lat = Some(lat);
            }
            _ => {
                res.search_max = Some(max);
                res.search_lat = Some(lat);
            }
        }
    }
    if ctx.args.phases.contains("catalogue") {
        // The portal alone: a search costs no more than twice the plain first page. Both at one
        // rate (half the lower of their maxima), interleaved rounds, medians.
        let search_url: UrlFn = Arc::new(move |b: &str, i: u64| {
            format!("{b}/thu-tuc?q={}", queries[i as usize % queries.len()])
        });
        let page_url: UrlFn = Arc::new(|b: &str, _| format!("{b}/thu-tuc"));
        let get = |url: UrlFn| {
            let (base, c) = (pbase.clone(), shared.clone());
            move |i: u64| {
                let (u, c) = (url(&base, i), c.clone());
                async move { journey::get_ok(&c, u).await }
            }
        };
        let max = pair_rounds_labelled(
            "catalogue max (closed)",
            ("search", "first page"),
            1,
            || closed_loop(conns, dur, get(search_url.clone())),
            || closed_loop(conns, dur, get(page_url.clone())),
        )
        .await;
        let rate = 0.5 * max.portal.rate.min(max.baseline.rate);
        let rounds = if ctx.args.quick { 1 } else { 5 };
        let round_dur = dur.mul_f64(if ctx.args.quick { 1.0 } else { 0.4 });
        let open = |url: UrlFn| {
            open_loop(
                rate,
                round_dur,
                4000,
                (ctx.args.open_connections > 0).then_some(ctx.args.open_connections),
                get(url),
            )
        };
        let lat = pair_rounds_labelled(
            &format!("catalogue @{rate:.0}/s (open)"),
            ("search", "first page"),
            rounds,
            || open(search_url.clone()),
            || open(page_url.clone()),
        )
        .await;
        let r = lat.portal.p99_ms / lat.baseline.p99_ms.max(1e-9);
        eprintln!(
            "  search p99 {:.2} ms vs unfiltered first page p99 {:.2} ms: {r:.2}× (target ≤ 2×)",
            lat.portal.p99_ms, lat.baseline.p99_ms
        );
        res.search_vs_first_page = Some(lat);
    }
    res.portal_vmhwm_kb = vm_hwm_kb(portal.pid);
    res.baseline_vmhwm_kb = vm_hwm_kb(baseline.pid);
    res.portal_end_rss_kb = proc_status_kb(portal.pid, "VmRSS:");
    eprintln!(
        "  peak memory (VmHWM): portal {:.1} MB (resident at the end {:.1} MB), baseline {:.1} MB",
        res.portal_vmhwm_kb as f64 / 1024.0,
        res.portal_end_rss_kb as f64 / 1024.0,
        res.baseline_vmhwm_kb as f64 / 1024.0
    );
    baseline.stop().await;
    if ctx.args.phases.contains("crowd") {
        let connections = ctx
            .args
            .crowd
            .unwrap_or(if ctx.args.quick { 1_000 } else { 10_000 });
        let seconds = ctx
            .args
            .crowd_seconds
            .unwrap_or(if ctx.args.quick { 12.0 } else { 30.0 });
        let addr: std::net::SocketAddr = portal
            .base
            .trim_start_matches("http://")
            .parse()
            .context("portal address")?;
        // Pages and lookups mixed, as citizens arrive: home, catalogue pages, a search, the
        // status page and the status API of dossiers filed earlier in the run.
        let mut paths: Vec<String> = ["/", "/thu-tuc", "/thu-tuc?trang=2", "/thu-tuc?q=khai+sinh"]
            .iter()
            .map(|p| p.to_string())
            .collect();
        for code in pcodes.iter().take(20) {
            paths.push(format!("/tra-cuu?ma={code}"));
            paths.push(format!("/api/v1/dossiers/{code}/status"));
        }
        eprintln!(
            "  crowd: {connections} kept-alive connections, one request each every {:.0} s, measured {seconds:.0} s",
            ctx.args.crowd_interval
        );
        let c = crowd::crowd(
            addr,
            Arc::new(paths),
            connections,
            Duration::from_secs_f64(ctx.args.crowd_interval),
            Duration::from_secs_f64(seconds),
            portal.pid,
        )
        .await;
        eprintln!(
            "  crowd: {} of {} connected, {} ok, {} errors{}, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; portal resident memory {:.1} MB before, peak {:.1} MB",
            c.connected,
            c.connections,
            c.ok,
            c.errors,
            c.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            c.p50_ms,
            c.p99_ms,
            c.max_ms,
            c.rss_before_kb as f64 / 1024.0,
            c.rss_peak_kb as f64 / 1024.0
        );
        res.crowd = Some(c);
    }
    portal.stop().await;
    Ok(res)
}

/// A webhook receiver for the benchmark: counts the deliveries, answers 204.
async fn webhook_receiver() -> anyhow::Result<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let c = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, count))
}

/// Filings through the partner API against the baseline's same durable write, interleaved
/// rounds; and the webhook deliveries of those filings' events to a local receiver.
async fn api_phase(
    ctx: &Ctx,
    pdata: &Path,
    pdb: &str,
    pbase: &Arc<str>,
    bbase: &Arc<str>,
    pcodes: &Codes,
    bcodes: &Codes,
) -> anyhow::Result<(Pair, WebhookRun, Stats)> {
    use std::sync::atomic::Ordering;
    // A partner of the province (every commune the filings rotate over), through the real command.
    let out = std::process::Command::new(&ctx.portal_bin)
        .args([
            "partner",
            "create",
            "--name",
            "Hệ thống đo tải",
            "--agency",
            "000.00.00.H31",
        ])
        .env("DVC_DATA_DIR", pdata)
        .env("DVC_DATABASE_URL", pdb)
        .env("DVC_LOG", "warn")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "partner create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let field = |p: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(p))
            .map(str::to_string)
            .with_context(|| format!("no {p} in: {stdout}"))
    };
    let (id, secret) = (field("client_id=")?, field("client_secret=")?);
    let c = journey::shared_client()?;
    let r = c
        .post(format!("{pbase}/api/v1/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let v: serde_json::Value = r.json().await?;
    let token: Arc<str> = v["access_token"]
        .as_str()
        .context("no access token")?
        .into();
    let (hook_url, received) = webhook_receiver().await?;
    let r = c
        .post(format!("{pbase}/api/v1/webhooks"))
        .bearer_auth(&*token)
        .json(&serde_json::json!({ "url": hook_url, "events": ["file"] }))
        .send()
        .await?;
    if r.status().as_u16() != 201 {
        bail!("webhook registration: HTTP {}", r.status());
    }
    let pdf = ctx.pdf;
    for _ in 0..5 {
        pcodes.push(journey::api_submit(&c, pbase, &token, pdf).await?);
    }
    let filed = Codes::default();
    let start = Instant::now();
    let rounds = if ctx.args.quick { 1 } else { 3 };
    let users = ctx.args.users;
    let dur = ctx.dur;
    let pair = pair_rounds(
        "API filings max (closed) vs the baseline's same durable writes",
        rounds,
        || {
            let (b, codes, filed, t, c) = (
                pbase.clone(),
                pcodes.clone(),
                filed.clone(),
                token.clone(),
                c.clone(),
            );
            closed_loop(users, dur, move |_| {
                let (b, codes, filed, t, c) = (
                    b.clone(),
                    codes.clone(),
                    filed.clone(),
                    t.clone(),
                    c.clone(),
                );
                async move {
                    let code = journey::api_submit(&c, &b, &t, pdf).await?;
                    filed.push(code.clone());
                    codes.push(code);
                    Ok(())
                }
            })
        },
        || {
            let (b, codes, c) = (bbase.clone(), bcodes.clone(), c.clone());
            closed_loop(users, dur, move |_| {
                let (b, codes, c) = (b.clone(), codes.clone(), c.clone());
                async move {
                    codes.push(journey::baseline_submit(&c, &b, pdf, true).await?);
                    Ok(())
                }
            })
        },
    )
    .await;
    let filing_secs = start.elapsed().as_secs_f64();
    // Every filing's event (and the 5 warm-up ones) goes to the receiver.
    let events = filed.count() + 5;
    let at_end = received.load(Ordering::Relaxed);
    let t = Instant::now();
    while received.load(Ordering::Relaxed) < events && t.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = received.load(Ordering::Relaxed);
    let drain_secs = t.elapsed().as_secs_f64().max(0.001);
    let run = WebhookRun {
        events,
        received: drained,
        during_per_s: at_end as f64 / filing_secs,
        backlog: events.saturating_sub(at_end),
        drain_per_s: if events > at_end {
            (drained.saturating_sub(at_end)) as f64 / drain_secs
        } else {
            0.0
        },
    };
    eprintln!(
        "  webhooks: {} of {} events delivered; {:.1}/s during the filings (which include the baseline's rounds), backlog {} drained at {:.1}/s",
        run.received, run.events, run.during_per_s, run.backlog, run.drain_per_s
    );
    // For reference: the baseline's durable insert alone (no records), one round.
    let (b, codes, c2) = (bbase.clone(), bcodes.clone(), c.clone());
    let minimal = closed_loop(users, dur, move |_| {
        let (b, codes, c) = (b.clone(), codes.clone(), c2.clone());
        async move {
            codes.push(journey::baseline_submit(&c, &b, pdf, false).await?);
            Ok(())
        }
    })
    .await;
    print_phase(
        "API filings, baseline's durable insert alone (closed)",
        &minimal,
    );
    drain_mail(pdata, pcodes.count()).await;
    Ok((pair, run, minimal))
}
