//! Statistics: the sums the public figures and the QĐ 766 indicators are read from.
//!
//! How it works (migrations 0011, 0018): `stat_dossier` remembers what each dossier counts in
//! (its [`MetricSet`], from [`dvc_domain::statistics::metrics`]); a new filing counts itself in
//! its own statements ([`filing_sql`]); any later change queues the dossier (`stat_queue`, in the
//! statement that records its event) and [`count_changed`] (the statistics job, every second,
//! and any reader of the sums first, [`settle`]) recounts the queued dossiers hundreds per
//! transaction,
//! appending their differences to `stat_delta` (append only, so concurrent writers never wait
//! on one sums row). [`fold`] (the statistics job,
//! every few seconds) moves the deltas into `stat_daily` (agency, day) and `stat_monthly`
//! (agency, month). [`figures`] reads whole months from `stat_monthly`, the partial months at the
//! ends of the period from `stat_daily`, plus the deltas not folded yet: a transition shows at
//! once, and a province-wide year is about a thousand rows. Open dossiers overdue depend on the
//! time, so they are counted from `dossiers` (partial index on the open ones) when read.
//!
//! A feature that changes a fact statistics count outside `dossiers::save` queues the dossier
//! too ([`refresh`], [`QUEUE_SQL`]); the job
//! also counts every dossier that has no `stat_dossier` row yet ([`catch_up`]), and
//! `dichvucong statistics rebuild` recomputes everything.

use super::{Db, StoreResult};
use crate::db_run;
use dvc_domain::dossier::DossierStatus;
use dvc_domain::statistics::{
    self as st, Channel, Counts, Facts, Metric, MetricSet, Period, Rating,
};
use dvc_domain::workflow::{Dossier, ResultFile};
use sqlx::Row;
use std::sync::LazyLock;

/// A dossier's facts, and what it was counted as so far (`s_*`, NULL if never).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FactRow {
    pub id: i64,
    pub agency_code: String,
    pub procedure_code: String,
    pub status: String,
    pub submitted_at: i64,
    pub received_at: Option<i64>,
    pub expected_at: Option<i64>,
    pub due_at: Option<i64>,
    pub original_due_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub supplement_count: i64,
    pub extension_count: i64,
    pub result_key: Option<String>,
    pub channel: i64,
    pub fee_vnd: i64,
    pub payment_status: Option<String>,
    pub result_electronic: i64,
    pub rating: Option<i64>,
    pub reused_answers: i64,
    pub digitised: i64,
    pub synced_at: Option<i64>,
    pub s_agency: Option<String>,
    pub s_day: Option<i64>,
    pub s_mask: Option<i64>,
}

const FACT_COLUMNS: &str = "d.id, d.agency_code, d.procedure_code, d.status, d.submitted_at, d.received_at, d.expected_at, \
    d.due_at, d.original_due_at, d.finished_at, d.paused_at, d.supplement_count, d.extension_count, d.result_key, d.channel, \
    d.fee_vnd, d.payment_status, d.result_electronic, d.rating, d.reused_answers, d.digitised, d.synced_at, \
    s.agency_code AS s_agency, s.day AS s_day, s.mask AS s_mask";

/// The facts of one dossier by id (`$1`).
pub static FACT_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {FACT_COLUMNS} FROM dossiers d LEFT JOIN stat_dossier s ON s.dossier_id = d.id WHERE d.id = $1"
    )
});

/// The facts of one dossier by code (`$1`).
pub static FACT_BY_CODE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {FACT_COLUMNS} FROM dossiers d LEFT JOIN stat_dossier s ON s.dossier_id = d.id WHERE d.code = $1"
    )
});

/// Dossiers not counted yet, by id after `$1`, at most `$2`.
static UNCOUNTED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {FACT_COLUMNS} FROM dossiers d LEFT JOIN stat_dossier s ON s.dossier_id = d.id \
         WHERE d.id > $1 AND s.dossier_id IS NULL ORDER BY d.id LIMIT $2"
    )
});

fn columns() -> Vec<&'static str> {
    Metric::ALL.iter().map(|m| m.column()).collect()
}

/// Appends one delta: `$1` agency, `$2` day, `$3` month, then one value per metric.
pub static DELTA_INSERT: LazyLock<String> = LazyLock::new(|| {
    let cols = columns();
    let binds: Vec<String> = (0..cols.len()).map(|i| format!("${}", i + 4)).collect();
    format!(
        "INSERT INTO stat_delta (agency_code, day, month, {}) VALUES ($1, $2, $3, {})",
        cols.join(", "),
        binds.join(", ")
    )
});

/// Records what a dossier counts in now: `$1` id, `$2` agency, `$3` procedure, `$4` day, `$5`
/// mask.
pub const SNAPSHOT_UPSERT: &str = "INSERT INTO stat_dossier (dossier_id, agency_code, procedure_code, day, mask) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dossier_id) DO UPDATE SET agency_code = excluded.agency_code, \
    procedure_code = excluded.procedure_code, day = excluded.day, mask = excluded.mask";

/// One row to append to `stat_delta`.
#[derive(Debug, Clone)]
pub struct DeltaRow {
    pub agency: String,
    pub day: i64,
    pub month: i64,
    pub counts: Counts,
}

/// What to write for one dossier: the deltas, and its new snapshot if it changed.
#[derive(Debug, Clone)]
pub struct Change {
    pub deltas: Vec<DeltaRow>,
    pub changed: bool,
    pub day: i64,
    pub mask: i64,
}

impl FactRow {
    /// The dossier as the workflow's on-time rule sees it.
    pub fn dossier(&self) -> StoreResult<Dossier> {
        let status = DossierStatus::parse(&self.status).ok_or_else(|| {
            super::StoreError::Corrupt(format!(
                "dossier {}: unknown status {:?}",
                self.id, self.status
            ))
        })?;
        Ok(Dossier {
            status,
            version: 0,
            step: 0,
            step_started_at: None,
            submitted_at: self.submitted_at,
            received_at: self.received_at,
            expected_at: self.expected_at,
            due_at: self.due_at,
            original_due_at: self.original_due_at,
            extension_count: self.extension_count,
            extra_working_days: 0,
            assignee_id: None,
            unit: None,
            supplement_count: self.supplement_count,
            paused_at: self.paused_at,
            resume_status: None,
            finished_at: self.finished_at,
            result: self.result_key.as_ref().map(|k| ResultFile {
                key: k.clone(),
                name: String::new(),
            }),
            // Not read by the on-time rule; the counted facts come from the row's own columns.
            delivery: Default::default(),
            result_signed: self.result_electronic == 1,
            postal_tracking: None,
            rating: None,
        })
    }

    pub fn facts(&self) -> StoreResult<Facts> {
        Ok(Facts {
            dossier: self.dossier()?,
            channel: Channel::from_code(self.channel),
            fee_vnd: self.fee_vnd,
            paid_online: self.payment_status.as_deref() == Some("paid"),
            result_electronic: self.result_electronic == 1,
            rating: self.rating.and_then(Rating::from_code),
            reused: self.reused_answers > 0,
            digitised: self.digitised == 1,
            synced: self.synced_at.is_some(),
        })
    }

    /// What changes in the sums since this dossier was last counted.
    pub fn change(&self) -> StoreResult<Change> {
        let facts = self.facts()?;
        let day = st::cohort_day(&facts);
        let mask = st::metrics(&facts);
        let old = match (&self.s_agency, self.s_day, self.s_mask) {
            (Some(a), Some(d), Some(m)) => Some(((a.clone(), d), MetricSet(m))),
            _ => None,
        };
        let changed = old
            .as_ref()
            .is_none_or(|((a, d), m)| *a != self.agency_code || *d != day || *m != mask);
        let deltas = st::delta(old, ((self.agency_code.clone(), day), mask))
            .into_iter()
            .map(|((agency, day), counts)| DeltaRow {
                agency,
                day,
                month: st::month_of_day(day),
                counts,
            })
            .collect();
        Ok(Change {
            deltas,
            changed,
            day,
            mask: mask.0,
        })
    }
}

/// Inside a transaction `$tx` (either backend): recounts the dossier found by `$sql`
/// ([`FACT_BY_ID`] or [`FACT_BY_CODE`]) with `$key`, appending the difference to `stat_delta`.
#[macro_export]
macro_rules! stat_refresh {
    ($tx:ident, $sql:expr, $key:expr) => {{
        let row: Option<$crate::store::statistics::FactRow> =
            sqlx::query_as(sqlx::AssertSqlSafe($sql.as_str()))
                .bind($key)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some(row) = row {
            let change = row.change()?;
            for d in &change.deltas {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(
                    $crate::store::statistics::DELTA_INSERT.as_str(),
                ))
                .bind(&d.agency)
                .bind(d.day)
                .bind(d.month);
                for v in d.counts.0 {
                    q = q.bind(v);
                }
                q.execute(&mut *$tx).await?;
            }
            if change.changed {
                sqlx::query($crate::store::statistics::SNAPSHOT_UPSERT)
                    .bind(row.id)
                    .bind(&row.agency_code)
                    .bind(&row.procedure_code)
                    .bind(change.day)
                    .bind(change.mask)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}

/// Queues one dossier for recounting: `$1` its id.
pub const QUEUE_SQL: &str =
    "INSERT INTO stat_queue (dossier_id) VALUES ($1) ON CONFLICT DO NOTHING";

/// Queues one dossier for recounting (for features that change a counted fact outside
/// `dossiers::save`, which queues it with the event); [`count_changed`] recounts it.
pub async fn refresh(db: &Db, dossier_id: i64) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query(QUEUE_SQL).bind(dossier_id).execute(p).await?;
    });
    Ok(())
}

/// Takes up to `$1` queued dossiers off the queue, oldest first. PostgreSQL skips the entries
/// another node is taking: the entry stays locked until that node commits, so a change queued
/// meanwhile waits for it and is recounted next time, and no two nodes count one change twice.
const TAKE_SQLITE: &str = "DELETE FROM stat_queue WHERE dossier_id IN \
    (SELECT dossier_id FROM stat_queue ORDER BY dossier_id LIMIT $1) RETURNING dossier_id";
const TAKE_PG: &str = "DELETE FROM stat_queue WHERE dossier_id IN \
    (SELECT dossier_id FROM stat_queue ORDER BY dossier_id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING dossier_id";

/// Recounts up to `batch` queued dossiers in one transaction: their differences summed per
/// (agency, day) into few `stat_delta` rows, their snapshots in one statement. Returns how many
/// were taken off the queue (fewer than `batch`: none is left, as far as this node sees).
pub async fn count_changed(db: &Db, batch: i64) -> StoreResult<u64> {
    crate::db_tx!(db, tx => {
        let take = if matches!(db, Db::Postgres(_)) { TAKE_PG } else { TAKE_SQLITE };
        let ids: Vec<(i64,)> = sqlx::query_as(take).bind(batch).fetch_all(&mut *tx).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut b = sqlx::QueryBuilder::new(format!(
            "SELECT {FACT_COLUMNS} FROM dossiers d LEFT JOIN stat_dossier s ON s.dossier_id = d.id WHERE d.id IN ("
        ));
        let mut list = b.separated(", ");
        for (id,) in &ids {
            list.push_bind(*id);
        }
        b.push(")");
        let rows: Vec<FactRow> = b.build_query_as().fetch_all(&mut *tx).await?;
        let mut sums: std::collections::BTreeMap<(String, i64), (i64, Counts)> = Default::default();
        let mut snapshots = Vec::new();
        for row in &rows {
            let change = row.change()?;
            for d in change.deltas {
                let e = sums.entry((d.agency, d.day)).or_insert((d.month, Counts::default()));
                e.1.add(&d.counts);
            }
            if change.changed {
                snapshots.push((row.id, row.agency_code.clone(), row.procedure_code.clone(), change.day, change.mask));
            }
        }
        for ((agency, day), (month, counts)) in &sums {
            if counts.is_zero() {
                continue;
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(DELTA_INSERT.as_str())).bind(agency).bind(day).bind(month);
            for v in counts.0 {
                q = q.bind(v);
            }
            q.execute(&mut *tx).await?;
        }
        if !snapshots.is_empty() {
            let mut b = sqlx::QueryBuilder::new("INSERT INTO stat_dossier (dossier_id, agency_code, procedure_code, day, mask) ");
            b.push_values(&snapshots, |mut r, (id, agency, procedure, day, mask)| {
                r.push_bind(*id).push_bind(agency).push_bind(procedure).push_bind(*day).push_bind(*mask);
            });
            b.push(" ON CONFLICT (dossier_id) DO UPDATE SET agency_code = excluded.agency_code, \
                     procedure_code = excluded.procedure_code, day = excluded.day, mask = excluded.mask");
            b.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    })
}

/// Recounts every dossier queued so far (a reader of the sums calls it first, so that a change
/// shows at once); at most [`SETTLE_MAX`] dossiers, the job does the rest.
pub async fn settle(db: &Db) -> StoreResult<()> {
    // Usually none: one look at a small table, no transaction.
    let (any,): (bool,) = db_run!(db, p => {
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM stat_queue)").fetch_one(p).await?
    });
    if !any {
        return Ok(());
    }
    let mut done = 0;
    while done < SETTLE_MAX {
        let n = count_changed(db, COUNT_BATCH).await?;
        done += n;
        if n < COUNT_BATCH as u64 {
            break;
        }
    }
    Ok(())
}

/// Dossiers recounted per transaction.
pub const COUNT_BATCH: i64 = 500;
const SETTLE_MAX: u64 = 20_000;

/// What a new online filing appends, as extra statements of the filing (both dialects):
/// `$1` code, `$2` procedure, `$3` agency, `$34` day, `$35` month. SQLite: statements;
/// PostgreSQL: CTE parts after `d` (the inserted dossier).
pub fn filing_sql(postgres: bool) -> String {
    let mask = st::new_online_filing();
    let counts = Counts::of(mask, 1);
    let cols: Vec<&str> = columns();
    let values: Vec<String> = counts.0.iter().map(|v| v.to_string()).collect();
    if postgres {
        format!(
            "sd AS (INSERT INTO stat_dossier (dossier_id, agency_code, procedure_code, day, mask) SELECT d.id, $3, $2, $34, {m} FROM d), \
             sx AS (INSERT INTO stat_delta (agency_code, day, month, {c}) SELECT $3, $34, $35, {v} FROM d), ",
            m = mask.0,
            c = cols.join(", "),
            v = values.join(", ")
        )
    } else {
        format!(
            "INSERT INTO stat_dossier (dossier_id, agency_code, procedure_code, day, mask) VALUES ((SELECT id FROM dossiers WHERE code = $1), $3, $2, $34, {m});\n\
             INSERT INTO stat_delta (agency_code, day, month, {c}) VALUES ($3, $34, $35, {v});\n",
            m = mask.0,
            c = cols.join(", "),
            v = values.join(", ")
        )
    }
}

/// Moves the appended deltas into the daily and monthly sums. Returns the deltas folded.
pub async fn fold(db: &Db) -> StoreResult<u64> {
    let cols = columns();
    let sums: Vec<String> = cols
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let set: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} = {{t}}.{c} + excluded.{c}"))
        .collect();
    let daily_set = set.join(", ").replace("{t}", "stat_daily");
    let monthly_set = set.join(", ").replace("{t}", "stat_monthly");
    let c = cols.join(", ");
    let s = sums.join(", ");
    let n = match db {
        Db::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM stat_delta")
                .fetch_one(&mut *tx)
                .await?;
            let Some(max) = max else {
                return Ok(0);
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO stat_daily (agency_code, day, month, {c}) SELECT agency_code, day, MIN(month), {s} FROM stat_delta \
                 WHERE id <= $1 GROUP BY agency_code, day ON CONFLICT (day, agency_code) DO UPDATE SET {daily_set}"
            )))
            .bind(max)
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO stat_monthly (agency_code, month, {c}) SELECT agency_code, month, {s} FROM stat_delta \
                 WHERE id <= $1 GROUP BY agency_code, month ON CONFLICT (month, agency_code) DO UPDATE SET {monthly_set}"
            )))
            .bind(max)
            .execute(&mut *tx)
            .await?;
            let r = sqlx::query("DELETE FROM stat_delta WHERE id <= $1")
                .bind(max)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            r.rows_affected()
        }
        Db::Postgres(p) => {
            // One statement, one snapshot: a delta committed meanwhile is neither summed nor
            // deleted; the lock keeps two nodes from folding the same deltas at once.
            let mut tx = p.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(7311)")
                .execute(&mut *tx)
                .await?;
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "WITH moved AS (DELETE FROM stat_delta RETURNING *), \
                 daily AS (INSERT INTO stat_daily (agency_code, day, month, {c}) SELECT agency_code, day, MIN(month), {s} FROM moved \
                   GROUP BY agency_code, day ON CONFLICT (day, agency_code) DO UPDATE SET {daily_set}), \
                 monthly AS (INSERT INTO stat_monthly (agency_code, month, {c}) SELECT agency_code, month, {s} FROM moved \
                   GROUP BY agency_code, month ON CONFLICT (month, agency_code) DO UPDATE SET {monthly_set}) \
                 SELECT COUNT(*) FROM moved"
            )))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            u64::try_from(n).unwrap_or(0)
        }
    };
    Ok(n)
}

/// Counts the dossiers (id after `after`) that have never been counted, `batch` per
/// transaction, until none is left. Returns how many, and the largest id seen.
pub async fn catch_up(db: &Db, after: i64, batch: i64) -> StoreResult<(u64, i64)> {
    let mut last = after;
    let mut total = 0u64;
    loop {
        let rows: Vec<FactRow> = db_run!(db, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(UNCOUNTED.as_str())).bind(last).bind(batch).fetch_all(p).await?
        });
        if rows.is_empty() {
            break;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        crate::db_tx!(db, tx => {
            for id in &ids {
                crate::stat_refresh!(tx, FACT_BY_ID, *id);
            }
            tx.commit().await?;
        });
        total += ids.len() as u64;
        last = ids.iter().copied().max().unwrap_or(last);
        if (ids.len() as i64) < batch {
            break;
        }
    }
    let (max,): (Option<i64>,) =
        db_run!(db, p => { sqlx::query_as("SELECT MAX(id) FROM dossiers").fetch_one(p).await? });
    Ok((total, max.unwrap_or(0).max(last)))
}

/// Forgets every sum and counts every dossier again (`dichvucong statistics rebuild`).
pub async fn rebuild(db: &Db) -> StoreResult<u64> {
    crate::db_tx!(db, tx => {
        for t in ["stat_dossier", "stat_delta", "stat_daily", "stat_monthly"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t}"))).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    let (n, _) = catch_up(db, 0, 2_000).await?;
    fold(db).await?;
    Ok(n)
}

/// The sums of one agency for one month of the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub agency: String,
    /// Month number ([`st::month_of_day`]).
    pub month: i64,
    pub counts: Counts,
}

/// Open dossiers found overdue, per agency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenLate {
    pub agency: String,
    pub in_progress: i64,
    pub awaiting: i64,
}

/// Everything the figures of a period need: sums per agency and month, and the open overdue
/// dossiers per agency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub cells: Vec<Cell>,
    pub open_late: Vec<OpenLate>,
}

/// `agency_code IN ($n, …)` for `agencies` (numbered from `first`), or nothing for all.
fn agency_filter(agencies: Option<&[String]>, first: usize) -> String {
    match agencies {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(list) => {
            let p: Vec<String> = (0..list.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND agency_code IN ({})", p.join(", "))
        }
    }
}

/// The sums for `period` of `agencies` (`None`: every agency), and the open dossiers of the
/// period overdue at the earlier of `now` and the period's end.
pub async fn table(
    db: &Db,
    agencies: Option<&[String]>,
    period: &Period,
    now: i64,
) -> StoreResult<Table> {
    let (from, to) = (period.from_day(), period.to_day());
    let months = period.months();
    // Whole months come from stat_monthly; the clipped ones at either end from stat_daily.
    let whole: Vec<i64> = months
        .iter()
        .filter(|(_, _, a, b)| {
            let last = st::date_of(*b);
            st::date_of(*a).day() == 1 && last == last.last_of_month()
        })
        .map(|(_, _, a, _)| st::month_of_day(*a))
        .collect();
    let (wm_from, wm_to) = match (whole.first(), whole.last()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (1, 0),
    };
    // The days outside the whole months: before the first one and after the last one (whole
    // months are contiguous: only the first and the last month of a period can be clipped).
    let ((e1a, e1b), (e2a, e2b)) = match months
        .iter()
        .filter(|m| whole.contains(&st::month_of_day(m.2)))
        .map(|m| (m.2, m.3))
        .fold(None, |acc: Option<(i64, i64)>, (a, b)| match acc {
            None => Some((a, b)),
            Some((x, _)) => Some((x, b)),
        }) {
        None => ((from, to), (1, 0)),
        Some((first, last)) => ((from, first - 1), (last + 1, to)),
    };
    let cols = columns();
    let c = cols.join(", ");
    let sums: Vec<String> = cols
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let filter = agency_filter(agencies, 9);
    // $1,$2 whole months (stat_monthly); $3–$6 the days before and after them (stat_daily);
    // $7,$8 the period's days (the deltas not folded yet).
    let sql = format!(
        "SELECT agency_code, month, {s} FROM ( \
           SELECT agency_code, month, {c} FROM stat_monthly WHERE month >= $1 AND month <= $2{filter} \
           UNION ALL SELECT agency_code, month, {c} FROM stat_daily WHERE day >= $3 AND day <= $4{filter} \
           UNION ALL SELECT agency_code, month, {c} FROM stat_daily WHERE day >= $5 AND day <= $6{filter} \
           UNION ALL SELECT agency_code, month, {c} FROM stat_delta WHERE day >= $7 AND day <= $8{filter} \
         ) t GROUP BY agency_code, month",
        s = sums.join(", ")
    );
    let n = cols.len();
    let cells: Vec<Cell> = db_run!(db, p => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(wm_from).bind(wm_to).bind(e1a).bind(e1b).bind(e2a).bind(e2b).bind(from).bind(to);
        for a in agencies.unwrap_or(&[]) {
            q = q.bind(a);
        }
        let rows = q.fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut counts = Counts::default();
            for i in 0..n {
                counts.0[i] = r.try_get::<Option<i64>, _>(i + 2)?.unwrap_or(0);
            }
            out.push(Cell { agency: r.try_get(0)?, month: r.try_get(1)?, counts });
        }
        out
    });
    let at = now.min(period.end_ms() - 1);
    let filter = agency_filter(agencies, 4);
    let sql = format!(
        "SELECT agency_code, \
           CAST(SUM(CASE WHEN status <> 'awaiting_supplement' THEN 1 ELSE 0 END) AS BIGINT), \
           CAST(SUM(CASE WHEN status = 'awaiting_supplement' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM dossiers WHERE finished_at IS NULL AND submitted_at >= $1 AND submitted_at < $2{filter} \
           AND (supplement_count > 1 OR (CASE WHEN paused_at IS NOT NULL THEN paused_at \
                WHEN status = 'awaiting_supplement' THEN NULL ELSE $3 END) > COALESCE(original_due_at, due_at, expected_at)) \
         GROUP BY agency_code"
    );
    let open_late: Vec<OpenLate> = db_run!(db, p => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(st::day_start_ms(from)).bind(period.end_ms()).bind(at);
        for a in agencies.unwrap_or(&[]) {
            q = q.bind(a);
        }
        let rows = q.fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(OpenLate {
                agency: r.try_get(0)?,
                in_progress: r.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
                awaiting: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
            });
        }
        out
    });
    Ok(Table { cells, open_late })
}

/// The sums' version: the id of the last delta appended (SQLite's AUTOINCREMENT and PostgreSQL's
/// sequence never go back, and folding moves deltas without changing any sum). Every change of a
/// counted fact appends a delta, so the same version means the same sums.
pub async fn version(db: &Db) -> StoreResult<i64> {
    let (v,): (i64,) =
        match db {
            Db::Sqlite(p) => sqlx::query_as(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'stat_delta'), 0)",
            )
            .fetch_one(p)
            .await?,
            Db::Postgres(p) => {
                sqlx::query_as("SELECT last_value FROM stat_delta_id_seq")
                    .fetch_one(p)
                    .await?
            }
        };
    Ok(v)
}

/// What a [`Table`] was read for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    agencies: Option<Vec<String>>,
    from: i64,
    to: i64,
    version: i64,
    /// The minute of the time open dossiers were judged at.
    minute: i64,
}

/// Recent tables, reused while the sums' [`version`] and the minute are the same: a popular
/// page read again and again costs one tiny query. A table may lag by less than a minute (on
/// PostgreSQL a sequence value is visible before its transaction commits).
#[derive(Debug, Default)]
pub struct Cache {
    entries: std::sync::Mutex<Vec<(CacheKey, std::sync::Arc<Table>)>>,
}

const CACHE_ENTRIES: usize = 32;

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(CacheKey, std::sync::Arc<Table>)>> {
        match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// [`table`], from the cache when nothing changed since it was read.
    pub async fn table(
        &self,
        db: &Db,
        agencies: Option<&[String]>,
        period: &Period,
        now: i64,
    ) -> StoreResult<std::sync::Arc<Table>> {
        // Changes not counted yet first: the sums' version then tells whether anything changed.
        settle(db).await?;
        let key = CacheKey {
            agencies: agencies.map(<[String]>::to_vec),
            from: period.from_day(),
            to: period.to_day(),
            version: version(db).await?,
            minute: now.min(period.end_ms() - 1).div_euclid(60_000),
        };
        if let Some(hit) = self
            .lock()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t.clone())
        {
            return Ok(hit);
        }
        let fresh = std::sync::Arc::new(table(db, agencies, period, now).await?);
        let mut entries = self.lock();
        entries.retain(|(k, _)| k.version == key.version && k.minute == key.minute);
        if entries.len() >= CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push((key, fresh.clone()));
        Ok(fresh)
    }
}

/// A dossier that makes an indicator fall (late), for the back office.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LateDossier {
    pub code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub status: String,
    pub submitted_at: i64,
    pub due_at: Option<i64>,
    pub original_due_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub supplement_count: i64,
    pub extension_count: i64,
    pub handler: Option<String>,
}

/// The late dossiers (finished late, or open and overdue at `at`) of the period, latest first,
/// at most `limit`.
pub async fn late_dossiers(
    db: &Db,
    agencies: &[String],
    period: &Period,
    at: i64,
    limit: i64,
) -> StoreResult<Vec<LateDossier>> {
    let finished_late = 1i64 << Metric::FinishedLate as u32;
    let filter = agency_filter(Some(agencies), 6).replace("agency_code", "d.agency_code");
    let sql = format!(
        "SELECT d.code, d.procedure_code, d.agency_code, d.status, d.submitted_at, d.due_at, d.original_due_at, d.finished_at, \
           d.supplement_count, d.extension_count, (SELECT name FROM staff WHERE staff.id = d.assignee_id) AS handler \
         FROM dossiers d JOIN stat_dossier s ON s.dossier_id = d.id \
         WHERE s.day >= $1 AND s.day <= $2{filter} AND ( (s.mask & $3) <> 0 OR (d.finished_at IS NULL AND (d.supplement_count > 1 OR \
           (CASE WHEN d.paused_at IS NOT NULL THEN d.paused_at WHEN d.status = 'awaiting_supplement' THEN NULL ELSE $4 END) \
           > COALESCE(d.original_due_at, d.due_at, d.expected_at)))) \
         ORDER BY d.submitted_at DESC LIMIT $5"
    );
    let rows = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, LateDossier>(sqlx::AssertSqlSafe(sql))
            .bind(period.from_day()).bind(period.to_day()).bind(finished_late).bind(at).bind(limit);
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_all(p).await?
    });
    Ok(rows)
}

/// Sums per procedure of the period for `agencies`: (procedure code, counts).
pub async fn by_procedure(
    db: &Db,
    agencies: &[String],
    period: &Period,
) -> StoreResult<Vec<(String, Counts)>> {
    let cols: Vec<String> = Metric::ALL
        .iter()
        .map(|m| format!("CAST(SUM((mask >> {}) & 1) AS BIGINT)", *m as usize))
        .collect();
    settle(db).await?;
    let filter = agency_filter(Some(agencies), 3);
    let sql = format!(
        "SELECT procedure_code, {} FROM stat_dossier WHERE day >= $1 AND day <= $2{filter} GROUP BY procedure_code ORDER BY procedure_code",
        cols.join(", ")
    );
    let n = Metric::ALL.len();
    let out = db_run!(db, p => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(period.from_day()).bind(period.to_day());
        for a in agencies {
            q = q.bind(a);
        }
        let rows = q.fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut counts = Counts::default();
            for i in 0..n {
                counts.0[i] = r.try_get::<Option<i64>, _>(i + 1)?.unwrap_or(0);
            }
            out.push((r.try_get::<String, _>(0)?, counts));
        }
        out
    });
    Ok(out)
}

/// Per official, over the dossiers of the period: the actions they recorded, the results they
/// returned, and the overdue dossiers they hold now.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OfficialRow {
    pub name: String,
    pub title: String,
    pub actions: i64,
    pub returned: i64,
    pub held_late: i64,
}

pub async fn by_official(
    db: &Db,
    agencies: &[String],
    period: &Period,
    at: i64,
) -> StoreResult<Vec<OfficialRow>> {
    let staff_filter = agency_filter(Some(agencies), 4).replace("agency_code", "st.agency_code");
    let sql = format!(
        "SELECT st.name, st.title, \
           (SELECT COUNT(*) FROM dossier_events e WHERE e.actor = st.email AND e.at >= $1 AND e.at < $2) AS actions, \
           (SELECT COUNT(*) FROM dossier_events e WHERE e.actor = st.email AND e.action = 'return_result' AND e.at >= $1 AND e.at < $2) AS returned, \
           (SELECT COUNT(*) FROM dossiers d WHERE d.assignee_id = st.id AND d.finished_at IS NULL AND d.status <> 'awaiting_supplement' \
              AND (d.supplement_count > 1 OR $3 > COALESCE(d.original_due_at, d.due_at, d.expected_at))) AS held_late \
         FROM staff st WHERE st.role <> 'admin'{staff_filter} ORDER BY st.name"
    );
    let rows = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, OfficialRow>(sqlx::AssertSqlSafe(sql))
            .bind(st::day_start_ms(period.from_day())).bind(period.end_ms()).bind(at);
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_all(p).await?
    });
    Ok(rows)
}
