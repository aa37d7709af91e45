//! The append-only, keyed hash chain of the audit log (every transition, every login attempt),
//! and the verification of the whole trail: the audit chain, each dossier's timeline chain, and
//! the link from each transition's audit entry to its timeline event (see
//! `dvc_domain::audit`).
//!
//! An entry is recorded in two steps. Inside the business transaction ([`crate::audit_append!`],
//! [`append`]) it goes to `audit_pending` with its own MAC under the audit key: a plain insert,
//! so concurrent transactions never wait for one another (a single chain would make every
//! audited commit wait for the previous one's flush to disk). The sealer ([`seal`], run by
//! every node a few times a second, and by `audit head`/`audit verify`) then moves the waiting
//! entries in order into `audit_log`'s hash chain, hundreds per commit, serialised by
//! `BEGIN IMMEDIATE` on SQLite and a transaction-scoped advisory lock on PostgreSQL, so the
//! chain never forks. A waiting entry changed before it is chained is refused by the sealer and
//! reported by `audit verify`; one deleted while waiting (a fraction of a second) is the window
//! this design accepts. `dichvucong audit verify` recomputes everything.

use super::{Db, StoreResult};
use crate::db_run;
use dvc_domain::audit::{AuditKey, ChainError, Entry, GENESIS, Stored, TimelineFields};

/// The insert of a waiting entry: `$1`–`$10` its fields, `$11` its MAC.
pub const PENDING_SQL: &str = "INSERT INTO audit_pending (at, actor, ip, action, subject, from_state, to_state, reason, event_id, event_hash, mac) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Records `$entry` (a `dvc_domain::audit::Entry`; its `seq` is ignored), keyed under `$key`,
/// for the sealer to chain ([`seal`]), on `$exec`: `&mut *tx` inside a business transaction.
#[macro_export]
macro_rules! audit_append {
    ($exec:expr, $key:expr, $entry:expr) => {{
        let entry: dvc_domain::audit::Entry = $entry;
        let mac = entry.pending_mac($key);
        sqlx::query($crate::store::audit::PENDING_SQL)
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.ip)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(&entry.from_state)
            .bind(&entry.to_state)
            .bind(&entry.reason)
            .bind(entry.event_id)
            .bind(&entry.event_hash)
            .bind(&mac)
            .execute($exec)
            .await?;
    }};
}

/// Records one entry on its own (e.g. a login attempt): one insert, chained moments later.
pub async fn append(db: &Db, key: &AuditKey, entry: Entry) -> StoreResult<()> {
    db_run!(db, p => {
        crate::audit_append!(p, key, entry);
    });
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: i64,
    at: i64,
    actor: String,
    ip: String,
    action: String,
    subject: String,
    from_state: Option<String>,
    to_state: Option<String>,
    reason: Option<String>,
    event_id: Option<i64>,
    event_hash: Option<String>,
    mac: String,
}

impl PendingRow {
    fn entry(&self) -> Entry {
        Entry {
            seq: 0,
            at: self.at,
            actor: self.actor.clone(),
            ip: self.ip.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            from_state: self.from_state.clone(),
            to_state: self.to_state.clone(),
            reason: self.reason.clone(),
            event_id: self.event_id,
            event_hash: self.event_hash.clone(),
        }
    }
}

const PENDING_COLUMNS: &str =
    "id, at, actor, ip, action, subject, from_state, to_state, reason, event_id, event_hash, mac";

/// How many waiting entries one sealing commit chains at most.
const SEAL_BATCH: i64 = 500;

/// Chains every waiting entry into the audit log, in order, a batch per commit. Returns how many
/// were chained. Stops (with an error in the log) before a waiting entry whose MAC no longer
/// matches: it stays waiting, and `audit verify` names it.
pub async fn seal(db: &Db, key: &AuditKey) -> StoreResult<u64> {
    let mut total = 0u64;
    loop {
        let (waiting,): (bool,) = db_run!(db, p => {
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM audit_pending)").fetch_one(p).await?
        });
        if !waiting {
            return Ok(total);
        }
        let (sealed, stuck) = seal_batch(db, key).await?;
        total += sealed;
        if stuck {
            return Ok(total);
        }
    }
}

/// One sealing transaction: (entries chained, whether a changed waiting entry stopped it).
async fn seal_batch(db: &Db, key: &AuditKey) -> StoreResult<(u64, bool)> {
    static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {PENDING_COLUMNS} FROM audit_pending ORDER BY id LIMIT {SEAL_BATCH}")
    });
    let is_pg = matches!(db, Db::Postgres(_));
    let outcome = crate::db_tx!(db, tx => {
        if is_pg {
            sqlx::query("SELECT pg_advisory_xact_lock(7301)").execute(&mut *tx).await?;
        }
        // Read after the lock: another node's sealing, committed meanwhile, is seen.
        let rows: Vec<PendingRow> = sqlx::query_as(sqlx::AssertSqlSafe(SELECT.as_str())).fetch_all(&mut *tx).await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
        let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_string()));
        let mut done: Vec<i64> = Vec::with_capacity(rows.len());
        let mut sealed: Vec<(Entry, String, String)> = Vec::with_capacity(rows.len());
        let mut stuck = false;
        for r in &rows {
            let mut entry = r.entry();
            if !same(&entry.pending_mac(key), &r.mac) {
                tracing::error!(pending_id = r.id, "audit: a waiting entry was changed; it is not chained (run `dichvucong audit verify`)");
                stuck = true;
                break;
            }
            seq += 1;
            entry.seq = seq;
            let hash = entry.hash(key, &prev);
            sealed.push((entry, std::mem::replace(&mut prev, hash.clone()), hash));
            done.push(r.id);
        }
        // The batch in one statement (13 parameters a row: well under both dialects' limits).
        if !sealed.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (seq, at, actor, ip, action, subject, from_state, to_state, reason, prev_hash, hash, event_id, event_hash, keyed) ",
            );
            q.push_values(&sealed, |mut b, (e, prev, hash)| {
                b.push_bind(e.seq).push_bind(e.at).push_bind(&e.actor).push_bind(&e.ip).push_bind(&e.action)
                    .push_bind(&e.subject).push_bind(&e.from_state).push_bind(&e.to_state).push_bind(&e.reason)
                    .push_bind(prev).push_bind(hash).push_bind(e.event_id).push_bind(&e.event_hash).push("1");
            });
            q.build().execute(&mut *tx).await?;
        }
        if !done.is_empty() {
            // Exactly the rows chained (never a range: on PostgreSQL a lower id may commit later).
            let ids = done.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let sql = format!("DELETE FROM audit_pending WHERE id IN ({ids})");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        (done.len() as u64, stuck)
    });
    Ok(outcome)
}

fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The first waiting entry whose MAC no longer matches its fields, if any.
async fn tampered_pending(db: &Db, key: &AuditKey) -> StoreResult<Option<i64>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {PENDING_COLUMNS} FROM audit_pending WHERE id > $1 ORDER BY id LIMIT 1000")
    });
    let mut after = 0i64;
    loop {
        let rows: Vec<PendingRow> = db_run!(db, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str())).bind(after).fetch_all(p).await?
        });
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        after = last.id;
        if let Some(r) = rows
            .iter()
            .find(|r| !same(&r.entry().pending_mac(key), &r.mac))
        {
            return Ok(Some(r.id));
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    at: i64,
    actor: String,
    ip: String,
    action: String,
    subject: String,
    from_state: Option<String>,
    to_state: Option<String>,
    reason: Option<String>,
    prev_hash: String,
    hash: String,
    event_id: Option<i64>,
    event_hash: Option<String>,
}

const COLUMNS: &str = "seq, at, actor, ip, action, subject, from_state, to_state, reason, prev_hash, hash, event_id, event_hash";

/// Reads the chain in pages of `page` rows, starting after `after_seq`.
pub async fn page(db: &Db, after_seq: i64, page: i64) -> StoreResult<Vec<Stored>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
    });
    let rows: Vec<Row> = db_run!(db, p => {
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str())).bind(after_seq).bind(page).fetch_all(p).await?
    });
    Ok(rows.into_iter().map(stored).collect())
}

fn stored(r: Row) -> Stored {
    Stored {
        entry: Entry {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            ip: r.ip,
            action: r.action,
            subject: r.subject,
            from_state: r.from_state,
            to_state: r.to_state,
            reason: r.reason,
            event_id: r.event_id,
            event_hash: r.event_hash,
        },
        prev_hash: r.prev_hash,
        hash: r.hash,
    }
}

/// The last entry's sequence number and hash (`0` and the genesis hash for an empty log).
pub async fn head(db: &Db) -> StoreResult<(i64, String)> {
    let last: Option<(i64, String)> = db_run!(db, p => {
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(p).await?
    });
    Ok(last.unwrap_or((0, GENESIS.to_string())))
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub events: u64,
    pub dossiers: u64,
}

/// Verifies the whole trail: the audit chain (and, with `expect_head`, that the entry recorded
/// earlier as that head is still there, unchanged), every transition's timeline event, and every
/// dossier's timeline chain up to its head. `Ok(Err(fault))` names the first fault found.
pub async fn verify(
    db: &Db,
    key: &AuditKey,
    expect_head: Option<(i64, &str)>,
) -> anyhow::Result<Result<Verified, ChainError>> {
    if let Some(id) = tampered_pending(db, key).await? {
        return Ok(Err(ChainError::PendingTampered { id }));
    }
    let mut prev = GENESIS.to_string();
    let mut next_seq = 1i64;
    let mut entries = 0u64;
    let mut head_seen = false;
    loop {
        let rows = page(db, next_seq - 1, 5000).await?;
        if rows.is_empty() {
            break;
        }
        prev = match dvc_domain::audit::verify_run(key, prev, next_seq, &rows) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        if let Some((seq, hash)) = expect_head
            && let Some(s) = rows.iter().find(|s| s.entry.seq == seq)
        {
            if s.hash != hash {
                return Ok(Err(ChainError::HeadMismatch {
                    seq,
                    hash: hash.to_string(),
                }));
            }
            head_seen = true;
        }
        next_seq += rows.len() as i64;
        entries += rows.len() as u64;
    }
    if let Some((seq, hash)) = expect_head
        && !head_seen
        && seq > 0
    {
        return Ok(Err(ChainError::HeadMismatch {
            seq,
            hash: hash.to_string(),
        }));
    }
    // Every transition's event is still there, with the hash the audit entry covers.
    let missing: Option<(i64, i64, String)> = db_run!(db, p => {
        sqlx::query_as(
            "SELECT a.seq, a.event_id, a.subject FROM audit_log a LEFT JOIN dossier_events e ON e.id = a.event_id \
             WHERE a.event_id IS NOT NULL AND (e.hash IS NULL OR e.hash <> a.event_hash) ORDER BY a.seq LIMIT 1",
        )
        .fetch_optional(p).await?
    });
    if let Some((seq, event_id, subject)) = missing {
        return Ok(Err(ChainError::EventMissing {
            seq,
            event_id,
            subject,
        }));
    }
    let (events, dossiers) = match verify_timelines(db, key).await? {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Verified {
        entries,
        events,
        dossiers,
    }))
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    dossier_id: i64,
    code: String,
    events_head: Option<String>,
    id: Option<i64>,
    at: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    from_status: Option<String>,
    to_status: Option<String>,
    public_note: Option<String>,
    step: Option<i64>,
    actor_name: Option<String>,
    actor_title: Option<String>,
    unit: Option<String>,
    details: Option<String>,
    hash: Option<String>,
}

/// Recomputes each dossier's timeline chain, dossier by dossier (pages of dossiers, so memory
/// stays bounded), and compares its end with the dossier's head.
async fn verify_timelines(
    db: &Db,
    key: &AuditKey,
) -> anyhow::Result<Result<(u64, u64), ChainError>> {
    const PAGE: i64 = 500;
    let (mut events, mut dossiers) = (0u64, 0u64);
    let mut after = 0i64;
    loop {
        let rows: Vec<TimelineRow> = db_run!(db, p => {
            sqlx::query_as(
                "SELECT d.id AS dossier_id, d.code, d.events_head, e.id, e.at, e.actor, e.action, e.from_status, e.to_status, \
                 e.public_note, e.step, e.actor_name, e.actor_title, e.unit, e.details, e.hash \
                 FROM (SELECT id, code, events_head FROM dossiers WHERE id > $1 ORDER BY id LIMIT $2) d \
                 LEFT JOIN dossier_events e ON e.dossier_id = d.id ORDER BY d.id, e.id",
            )
            .bind(after).bind(PAGE).fetch_all(p).await?
        });
        let Some(last) = rows.last() else {
            return Ok(Ok((events, dossiers)));
        };
        after = last.dossier_id;
        let mut i = 0;
        while i < rows.len() {
            let d = &rows[i];
            let mut chain = GENESIS.to_string();
            let mut j = i;
            while j < rows.len() && rows[j].dossier_id == d.dossier_id {
                let r = &rows[j];
                if let Some(id) = r.id {
                    let computed = TimelineFields {
                        dossier_code: &d.code,
                        at: r.at.unwrap_or_default(),
                        actor: r.actor.as_deref().unwrap_or_default(),
                        action: r.action.as_deref().unwrap_or_default(),
                        from_status: r.from_status.as_deref(),
                        to_status: r.to_status.as_deref().unwrap_or_default(),
                        public_note: r.public_note.as_deref(),
                        step: r.step,
                        actor_name: r.actor_name.as_deref(),
                        actor_title: r.actor_title.as_deref(),
                        unit: r.unit.as_deref(),
                        details: r.details.as_deref(),
                    }
                    .hash(key, &chain);
                    if r.hash.as_deref() != Some(computed.as_str()) {
                        return Ok(Err(ChainError::Timeline {
                            code: d.code.clone(),
                            event_id: id,
                        }));
                    }
                    chain = computed;
                    events += 1;
                }
                j += 1;
            }
            // Every dossier has at least its filing event, and its head is the last one's hash.
            if chain == GENESIS || d.events_head.as_deref() != Some(chain.as_str()) {
                return Ok(Err(ChainError::TimelineHead {
                    code: d.code.clone(),
                }));
            }
            dossiers += 1;
            i = j;
        }
    }
}

/// Brings a database written before the chains were keyed under `key`, once, at the first start
/// of this version: the audit entries are re-chained (only when none is keyed yet), and the
/// timelines of dossiers without a head are chained. Returns (entries, dossiers) sealed.
pub async fn seal_legacy(db: &Db, key: &AuditKey) -> anyhow::Result<(u64, u64)> {
    let is_pg = matches!(db, Db::Postgres(_));
    let (legacy, keyed): (i64, i64) = db_run!(db, p => {
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM audit_log WHERE keyed = 0), (SELECT COUNT(*) FROM audit_log WHERE keyed <> 0)")
            .fetch_one(p).await?
    });
    let mut entries = 0u64;
    if legacy > 0 && keyed == 0 {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let rows = page(db, after, 5000).await?;
            let Some(last) = rows.last() else { break };
            after = last.entry.seq;
            all.extend(rows);
        }
        crate::db_tx!(db, tx => {
            if is_pg {
                sqlx::query("SELECT pg_advisory_xact_lock(7301)").execute(&mut *tx).await?;
            }
            let mut prev = GENESIS.to_string();
            for s in &all {
                let hash = s.entry.hash(key, &prev);
                sqlx::query("UPDATE audit_log SET prev_hash = $2, hash = $3, keyed = 1 WHERE seq = $1")
                    .bind(s.entry.seq).bind(&prev).bind(&hash).execute(&mut *tx).await?;
                prev = hash;
            }
            tx.commit().await?;
        });
        entries = all.len() as u64;
    }
    let mut sealed = 0u64;
    loop {
        let ids: Vec<(i64, String)> = db_run!(db, p => {
            sqlx::query_as("SELECT id, code FROM dossiers WHERE events_head IS NULL ORDER BY id LIMIT 500").fetch_all(p).await?
        });
        if ids.is_empty() {
            break;
        }
        for (id, code) in ids {
            let events = super::dossiers::events(db, id).await?;
            crate::db_tx!(db, tx => {
                let mut chain = GENESIS.to_string();
                for e in &events {
                    chain = TimelineFields {
                        dossier_code: &code,
                        at: e.at,
                        actor: &e.actor,
                        action: &e.action,
                        from_status: e.from_status.as_deref(),
                        to_status: &e.to_status,
                        public_note: e.public_note.as_deref(),
                        step: e.step,
                        actor_name: e.actor_name.as_deref(),
                        actor_title: e.actor_title.as_deref(),
                        unit: e.unit.as_deref(),
                        details: e.details.as_deref(),
                    }
                    .hash(key, &chain);
                    sqlx::query("UPDATE dossier_events SET hash = $2 WHERE id = $1")
                        .bind(e.id).bind(&chain).execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE dossiers SET events_head = $2 WHERE id = $1")
                    .bind(id).bind(&chain).execute(&mut *tx).await?;
                tx.commit().await?;
            });
            sealed += 1;
        }
    }
    Ok((entries, sealed))
}

/// Failed logins for `subject` (an e-mail or an IP) since `since_ms`, chained or still waiting.
pub async fn count_failures(db: &Db, subject: &str, since_ms: i64) -> StoreResult<i64> {
    let (n,): (i64,) = db_run!(db, p => {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed' AND subject = $1 AND at > $2) \
             + (SELECT COUNT(*) FROM audit_pending WHERE action = 'login_failed' AND subject = $1 AND at > $2)",
        )
        .bind(subject).bind(since_ms).fetch_one(p).await?
    });
    Ok(n)
}
