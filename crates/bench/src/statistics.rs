//! Phase `statistics`: a province with 100 generated communes and N dossiers (default 1,000,000)
//! spread over two years with realistic outcomes, written with bulk INSERTs straight into the
//! database (the sums of migration 0011 computed with the same domain rules the portal uses);
//! then the portal is started on it and `/thong-ke` for the whole province and a full year is
//! measured (target: p99 ≤ 100 ms), with the JSON export and one commune for comparison.
//!
//! Output: a table on stdout and `<out>/statistics.md` / `statistics.json`.

use super::{Args, journey, pg_db_url, pg_exec, spawn_portal_with};
use anyhow::{Context, bail};
use dvc_domain::dossier::DossierStatus;
use dvc_domain::statistics::{self as st, Channel, Counts, Facts, Rating};
use dvc_domain::workflow::{Dossier, ResultFile};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const ROOT: &str = "000.00.00.H31";
const COMMUNES: usize = 100;
const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// A small deterministic generator (xorshift), so that every run writes the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One generated dossier.
struct Gen {
    code: String,
    procedure: String,
    agency: String,
    facts: Facts,
    payment_status: Option<&'static str>,
    rating: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub requests: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendStats {
    pub backend: String,
    pub dossiers: usize,
    pub generate_seconds: f64,
    pub daily_rows: usize,
    pub monthly_rows: usize,
    pub page_province_year: Latency,
    pub page_province_year_concurrent4: Latency,
    pub api_province_year: Latency,
    pub page_commune_year: Latency,
}

fn agencies() -> Vec<(String, String)> {
    (1..=COMMUNES)
        .map(|i| {
            (
                format!("000.{:02}.{:02}.H31", 10 + i / 100, i % 100),
                format!("Ủy ban nhân dân xã Mẫu {i} (sinh cho đo hiệu năng)"),
            )
        })
        .collect()
}

fn agency_json(code: &str, name: &str) -> anyhow::Result<String> {
    let a = dvc_domain::agency::Agency {
        code: dvc_domain::agency::AgencyCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?,
        name: name.to_string(),
        parent: Some(
            dvc_domain::agency::AgencyCode::parse(ROOT).map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        kind: "xa".into(),
        address: None,
        phone: None,
        email: None,
        office_hours: None,
        working_weekdays: vec![],
        sample: true,
        former_codes: vec![],
    };
    Ok(serde_json::to_string(&a)?)
}

/// What dossiers are generated in: a period, communes, procedures.
struct World<'a> {
    start: i64,
    now: i64,
    communes: &'a [(String, String)],
    procedures: &'a [String],
}

/// Generates dossier `n` of `total`, filed between `w.start` and `w.now`.
fn generate(
    rng: &mut Rng,
    n: usize,
    total: usize,
    w: &World<'_>,
    seqs: &mut HashMap<(usize, i64), u32>,
) -> Gen {
    let (start, now, communes, procedures) = (w.start, w.now, w.communes, w.procedures);
    // Filing times grow with n (about the same number a day), in office hours mostly.
    let span = now - start;
    let base = start + (span as f64 * n as f64 / total as f64) as i64;
    let day_start = st::day_start_ms(st::vn_day(base));
    let submitted = day_start + 7 * H + rng.below(10 * H as u64) as i64;
    // A few big communes, many small ones (Zipf-like).
    let ai = ((rng.f().powf(2.0)) * communes.len() as f64) as usize % communes.len();
    let agency = communes[ai].0.clone();
    // Birth registration and certified copies dominate.
    let pi = ((rng.f().powf(1.8)) * procedures.len() as f64) as usize % procedures.len();
    let procedure = procedures[pi].clone();
    let channel = match rng.f() {
        x if x < 0.55 => Channel::Online,
        x if x < 0.95 => Channel::Direct,
        _ => Channel::Post,
    };
    let day = st::vn_day(submitted);
    let seq = seqs.entry((ai, day)).or_insert(0);
    *seq += 1;
    let date = st::date_of(day);
    let code = format!("{agency}-{}-{:04}", date.strftime("%y%m%d"), *seq);
    let age = now - submitted;
    let limit = [1, 1, 3, 5, 10][(rng.below(5)) as usize] * DAY;
    let mut d = Dossier {
        status: DossierStatus::Submitted,
        version: 1,
        step: 0,
        step_started_at: None,
        submitted_at: submitted,
        received_at: None,
        expected_at: Some(submitted + limit),
        due_at: None,
        original_due_at: None,
        extension_count: 0,
        extra_working_days: 0,
        assignee_id: None,
        unit: None,
        supplement_count: 0,
        paused_at: None,
        resume_status: None,
        finished_at: None,
        result: None,
        delivery: Default::default(),
        result_signed: false,
        postal_tracking: None,
        rating: None,
    };
    let roll = rng.f();
    let received = submitted + rng.below(4 * H as u64) as i64;
    if roll < 0.03 {
        // Refused at the desk.
        d.status = DossierStatus::Refused;
        d.finished_at = Some(submitted + rng.below(8 * H as u64) as i64);
    } else if roll < 0.045 {
        // Withdrawn before reception.
        d.status = DossierStatus::Withdrawn;
        d.finished_at = Some(submitted + rng.below(DAY as u64) as i64);
    } else {
        d.status = DossierStatus::Received;
        d.received_at = Some(received);
        d.due_at = Some(received + limit);
        d.original_due_at = d.due_at;
        if rng.f() < 0.10 {
            d.supplement_count = if rng.f() < 0.2 { 2 } else { 1 };
        }
        // How long it takes: mostly early, some on the last day, some late.
        let took = match rng.f() {
            x if x < 0.70 => (limit as f64 * rng.f() * 0.8) as i64,
            x if x < 0.92 => limit - rng.below(6 * H as u64) as i64,
            _ => limit + rng.below(5 * DAY as u64) as i64,
        };
        let finish = received + took.max(H / 2);
        if finish < now && age > 0 {
            let r = rng.f();
            if r < 0.02 {
                d.status = DossierStatus::Stopped;
            } else if r < 0.035 {
                d.status = DossierStatus::Withdrawn;
            } else {
                d.status = DossierStatus::Done;
                if rng.f() < 0.6 {
                    d.result = Some(ResultFile {
                        key: format!("bench/{n}.pdf"),
                        name: "ket-qua.pdf".into(),
                    });
                }
            }
            d.finished_at = Some(finish);
            if took > limit && rng.f() < 0.5 {
                d.extension_count = 1;
                d.due_at = Some(finish + DAY);
            }
        } else if rng.f() < 0.15 {
            d.status = DossierStatus::AwaitingSupplement;
            d.supplement_count = d.supplement_count.max(1);
            d.paused_at = Some(received + H);
        } else {
            d.status = DossierStatus::Processing;
        }
    }
    let fee = if rng.f() < 0.4 { 8_000 } else { 0 };
    let paid = fee > 0 && rng.f() < 0.5;
    let rating = if d.status == DossierStatus::Done && rng.f() < 0.3 {
        Some(match rng.f() {
            x if x < 0.7 => 1,
            x if x < 0.95 => 2,
            _ => 3,
        })
    } else {
        None
    };
    let result_electronic = d.result.is_some() && rng.f() < 0.5;
    let facts = Facts {
        dossier: d,
        channel,
        fee_vnd: fee,
        paid_online: paid,
        result_electronic,
        rating: rating.and_then(Rating::from_code),
        reused: rng.f() < 0.2,
        digitised: channel != Channel::Online && rng.f() < 0.5,
        synced: false,
    };
    Gen {
        code,
        procedure,
        agency,
        facts,
        payment_status: if paid {
            Some("paid")
        } else if fee > 0 {
            Some("pending")
        } else {
            None
        },
        rating,
    }
}

const DOSSIER_COLUMNS: &str = "code, procedure_code, agency_code, status, applicant_name, applicant_email, applicant_phone, \
    applicant_id_number, answers, channel, secret_hash, idempotency_key, submitted_at, received_at, expected_at, due_at, \
    original_due_at, finished_at, paused_at, supplement_count, extension_count, result_key, result_name, updated_at, fee_vnd, \
    payment_status, result_electronic, rating, reused_answers, digitised, events_head";

macro_rules! push_dossier {
    ($b:expr, $g:expr, $n:expr) => {{
        let g: &Gen = $g;
        let d = &g.facts.dossier;
        $b.push_bind(g.code.clone())
            .push_bind(g.procedure.clone())
            .push_bind(g.agency.clone())
            .push_bind(d.status.as_str())
            .push_bind("Nguyễn Văn Mẫu")
            .push_bind("mau@example.vn")
            .push_bind("0900000000")
            .push_bind("001090000000")
            .push_bind("{}")
            .push_bind(match g.facts.channel {
                Channel::Direct => 1i64,
                Channel::Online => 2,
                Channel::Post => 3,
            })
            .push_bind(format!("bench-secret-{}", $n))
            .push_bind(format!("bench-key-{}", $n))
            .push_bind(d.submitted_at)
            .push_bind(d.received_at)
            .push_bind(d.expected_at)
            .push_bind(d.due_at)
            .push_bind(d.original_due_at)
            .push_bind(d.finished_at)
            .push_bind(d.paused_at)
            .push_bind(d.supplement_count)
            .push_bind(d.extension_count)
            .push_bind(d.result.as_ref().map(|r| r.key.clone()))
            .push_bind(d.result.as_ref().map(|r| r.name.clone()))
            .push_bind(d.finished_at.unwrap_or(d.submitted_at))
            .push_bind(g.facts.fee_vnd)
            .push_bind(g.payment_status)
            .push_bind(i64::from(g.facts.result_electronic))
            .push_bind(g.rating)
            .push_bind(i64::from(g.facts.reused))
            .push_bind(i64::from(g.facts.digitised))
            // No timeline is generated: a head that is not NULL, or the portal would try to
            // chain a million timelines at its start (audit::seal_legacy).
            .push_bind("bench");
    }};
}

/// The sums of every generated dossier, as the portal keeps them.
#[derive(Default)]
struct Sums {
    daily: HashMap<(String, i64), Counts>,
    monthly: HashMap<(String, i64), Counts>,
}

macro_rules! fill {
    ($pool:expr, $db:ty, $total:expr, $start:expr, $now:expr, $communes:expr, $procedures:expr) => {{
        let pool = $pool;
        // The communes under the province.
        let mut tx = pool.begin().await?;
        for (code, name) in $communes.iter() {
            sqlx::query("INSERT INTO agencies (code, parent_code, name, kind, data, content_hash, updated_at) VALUES ($1, $2, $3, 'xa', $4, $1, 0) ON CONFLICT (code) DO NOTHING")
                .bind(code).bind(ROOT).bind(name).bind(agency_json(code, name)?).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let (first_id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM dossiers").fetch_one(pool).await?;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let world = World { start: $start, now: $now, communes: &$communes, procedures: &$procedures };
        let mut seqs = HashMap::new();
        let mut sums = Sums::default();
        const CHUNK: usize = 900;
        let mut n = 0usize;
        while n < $total {
            let count = CHUNK.min($total - n);
            let batch: Vec<Gen> = (n..n + count)
                .map(|i| generate(&mut rng, i, $total, &world, &mut seqs))
                .collect();
            let mut tx = pool.begin().await?;
            let mut b = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO dossiers ({DOSSIER_COLUMNS}) "));
            let mut i = n;
            b.push_values(batch.iter(), |mut row, g| {
                push_dossier!(row, g, i);
                i += 1;
            });
            b.build().execute(&mut *tx).await?;
            let mut s = sqlx::QueryBuilder::<$db>::new("INSERT INTO stat_dossier (dossier_id, agency_code, procedure_code, day, mask) ");
            let mut id = first_id + n as i64;
            s.push_values(batch.iter(), |mut row, g| {
                let day = st::cohort_day(&g.facts);
                let mask = st::metrics(&g.facts);
                row.push_bind(id).push_bind(g.agency.clone()).push_bind(g.procedure.clone()).push_bind(day).push_bind(mask.0);
                id += 1;
            });
            s.build().execute(&mut *tx).await?;
            tx.commit().await?;
            for g in &batch {
                let day = st::cohort_day(&g.facts);
                let c = Counts::of(st::metrics(&g.facts), 1);
                sums.daily.entry((g.agency.clone(), day)).or_default().add(&c);
                sums.monthly.entry((g.agency.clone(), st::month_of_day(day))).or_default().add(&c);
            }
            n += count;
            if n % 100_000 < CHUNK {
                eprintln!("  {n} dossiers written");
            }
        }
        let (last,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM dossiers").fetch_one(pool).await?;
        if last != first_id + $total as i64 - 1 {
            bail!("dossier ids are not consecutive ({first_id}..{last}): stat_dossier would not match");
        }
        let cols: Vec<&str> = st::Metric::ALL.iter().map(|m| m.column()).collect();
        let rows: Vec<(&(String, i64), &Counts)> = sums.daily.iter().collect();
        for chunk in rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO stat_daily (agency_code, day, month, {}) ", cols.join(", ")));
            q.push_values(chunk.iter(), |mut row, ((agency, day), counts)| {
                row.push_bind(agency.clone()).push_bind(*day).push_bind(st::month_of_day(*day));
                for v in counts.0 {
                    row.push_bind(v);
                }
            });
            q.build().execute(pool).await?;
        }
        let rows: Vec<(&(String, i64), &Counts)> = sums.monthly.iter().collect();
        for chunk in rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO stat_monthly (agency_code, month, {}) ", cols.join(", ")));
            q.push_values(chunk.iter(), |mut row, ((agency, month), counts)| {
                row.push_bind(agency.clone()).push_bind(*month);
                for v in counts.0 {
                    row.push_bind(v);
                }
            });
            q.build().execute(pool).await?;
        }
        (sums.daily.len(), sums.monthly.len())
    }};
}

async fn latency(url: &str, requests: usize, concurrency: usize) -> anyhow::Result<Latency> {
    let c = journey::shared_client()?;
    // Warm up (connections, caches).
    for _ in 0..5 {
        journey::get_ok(&c, url.to_string()).await?;
    }
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let c = c.clone();
        let url = url.to_string();
        let share = requests / concurrency + usize::from(w < requests % concurrency);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(share);
            let mut bytes = 0;
            for _ in 0..share {
                let t = Instant::now();
                let r = c.get(&url).send().await?;
                if !r.status().is_success() {
                    bail!("GET {url}: {}", r.status());
                }
                bytes = r.bytes().await?.len();
                out.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok((out, bytes))
        }));
    }
    let mut all = Vec::new();
    let mut bytes = 0;
    for t in tasks {
        let (v, b) = t.await??;
        all.extend(v);
        bytes = b;
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1];
    Ok(Latency {
        requests: all.len(),
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p99_ms: q(0.99),
        max_ms: all.last().copied().unwrap_or(0.0),
        bytes,
    })
}

async fn one_backend(
    args: &Args,
    portal_bin: &Path,
    work: &Path,
    backend: &str,
) -> anyhow::Result<BackendStats> {
    let data = work.join(format!("stat-{backend}"));
    std::fs::create_dir_all(&data)?;
    let (db_url, pg_name) = match backend {
        "sqlite" => (
            format!("sqlite://{}", data.join("dichvucong.db").display()),
            None,
        ),
        "postgres" => {
            let name = format!(
                "dvcbench_s_{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            );
            pg_exec(&args.pg_url, format!("CREATE DATABASE {name}")).await?;
            (pg_db_url(&args.pg_url, &name), Some(name))
        }
        other => bail!("unknown backend {other} (sqlite, postgres)"),
    };
    let result = async {
        // First start: migrations and the sample catalogue.
        let portal = spawn_portal_with(portal_bin, &data, &db_url, true).await?;
        portal.stop().await;
        let now = jiff::Timestamp::now().as_millisecond();
        let start = now - 700 * DAY;
        let communes = agencies();
        let total = args.dossiers;
        let t = Instant::now();
        let (daily_rows, monthly_rows) = if backend == "sqlite" {
            let opts = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db_url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
            let procedures: Vec<String> = sqlx::query_scalar("SELECT code FROM procedures ORDER BY code").fetch_all(&pool).await?;
            let r = fill!(&pool, sqlx::Sqlite, total, start, now, communes, procedures);
            sqlx::query("ANALYZE").execute(&pool).await?;
            pool.close().await;
            r
        } else {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db_url).await?;
            sqlx::query("SET synchronous_commit = off").execute(&pool).await?;
            let procedures: Vec<String> = sqlx::query_scalar("SELECT code FROM procedures ORDER BY code").fetch_all(&pool).await?;
            let r = fill!(&pool, sqlx::Postgres, total, start, now, communes, procedures);
            sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
            pool.close().await;
            r
        };
        let generate_seconds = t.elapsed().as_secs_f64();
        eprintln!("{backend}: {total} dossiers in {generate_seconds:.1} s ({daily_rows} daily rows, {monthly_rows} monthly rows)");
        let portal = spawn_portal_with(portal_bin, &data, &db_url, true).await?;
        let year = st::date_of(st::vn_day(now)).year();
        let page = format!("{}/thong-ke?co_quan={ROOT}&nam={year}&ky=ca-nam", portal.base);
        let api = format!(
            "{}/api/v1/statistics?agency={ROOT}&from={year}-01-01&to={year}-12-31",
            portal.base
        );
        let commune = format!(
            "{}/thong-ke?co_quan={}&nam={year}&ky=ca-nam",
            portal.base, communes[0].0
        );
        // The first request also waits for the statistics job's first round.
        let r = async {
            let n = args.stat_requests;
            let stats = BackendStats {
                backend: backend.to_string(),
                dossiers: total,
                generate_seconds,
                daily_rows,
                monthly_rows,
                page_province_year: latency(&page, n, 1).await?,
                page_province_year_concurrent4: latency(&page, n, 4).await?,
                api_province_year: latency(&api, n, 1).await?,
                page_commune_year: latency(&commune, n, 1).await?,
            };
            anyhow::Ok(stats)
        }
        .await;
        portal.stop().await;
        r
    }
    .await;
    if let Some(name) = pg_name
        && let Err(e) = pg_exec(
            &args.pg_url,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await
    {
        eprintln!("could not drop {name}: {e:#}");
    }
    result
}

fn row(name: &str, l: &Latency) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | **{:.1}** | {:.1} | {:.1} KB |\n",
        l.requests,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.max_ms,
        l.bytes as f64 / 1024.0
    )
}

pub async fn run(args: &Args, portal_bin: &Path, work: &Path) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for backend in args
        .backends
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        eprintln!(
            "== statistics, {backend}: generating {} dossiers ==",
            args.dossiers
        );
        results.push(
            one_backend(args, portal_bin, work, backend)
                .await
                .with_context(|| format!("statistics phase on {backend}"))?,
        );
    }
    let mut md = format!(
        "# Statistics: `/thong-ke` over {} dossiers\n\nCommand: `{}`, commit {}, {}. One province, {COMMUNES} communes, two years of \
         dossiers (bulk INSERT, sums of migration 0011 computed with the portal's rules); requests one after another \
         (and 4 at once), after 5 warm-up requests. Target: province-wide year p99 ≤ 100 ms.\n\n",
        args.dossiers,
        args.command,
        super::git_commit(),
        jiff::Timestamp::now()
    );
    for r in &results {
        md.push_str(&format!(
            "## {}\n\n{} dossiers written in {:.1} s; {} daily and {} monthly sum rows.\n\n\
             | request | n | p50 ms | p90 ms | p99 ms | max ms | body |\n|---|--:|--:|--:|--:|--:|--:|\n",
            r.backend, r.dossiers, r.generate_seconds, r.daily_rows, r.monthly_rows
        ));
        md.push_str(&row("`/thong-ke`, province, year", &r.page_province_year));
        md.push_str(&row(
            "`/thong-ke`, province, year, 4 clients",
            &r.page_province_year_concurrent4,
        ));
        md.push_str(&row(
            "`/api/v1/statistics` JSON, province, year",
            &r.api_province_year,
        ));
        md.push_str(&row("`/thong-ke`, one commune, year", &r.page_commune_year));
        md.push_str(&format!(
            "\nTarget p99 ≤ 100 ms (province, year): **{}**\n\n",
            if r.page_province_year.p99_ms <= 100.0 {
                "met"
            } else {
                "NOT met"
            }
        ));
    }
    println!("{md}");
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("statistics.md"), &md)?;
    std::fs::write(
        args.out.join("statistics.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    eprintln!("written: {}", args.out.join("statistics.md").display());
    let _ = Duration::ZERO;
    Ok(())
}
