//! The append-only, hash-chained audit log (every transition, every login attempt).
//!
//! Appends happen inside the business transaction ([`crate::audit_append!`]), serialised by
//! `BEGIN IMMEDIATE` on SQLite and a transaction-scoped advisory lock on PostgreSQL, so the chain
//! never forks. `dichvucong audit verify` recomputes the chain.

use super::{Db, StoreResult};
use crate::db_run;
use dvc_domain::audit::{Entry, Stored};

/// Appends `$entry` (a `dvc_domain::audit::Entry` whose `seq` is filled in) inside transaction
/// `$tx`. `$is_pg` selects the PostgreSQL lock. Evaluates to the new sequence number.
#[macro_export]
macro_rules! audit_append {
    ($tx:ident, $is_pg:expr, $entry:expr) => {{
        if $is_pg {
            sqlx::query("SELECT pg_advisory_xact_lock(7301)").execute(&mut *$tx).await?;
        }
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *$tx).await?;
        let (prev_seq, prev_hash) = last.unwrap_or((0, dvc_domain::audit::GENESIS.to_string()));
        let mut entry: dvc_domain::audit::Entry = $entry;
        entry.seq = prev_seq + 1;
        let hash = entry.hash(&prev_hash);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, ip, action, subject, from_state, to_state, reason, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(entry.seq).bind(entry.at).bind(&entry.actor).bind(&entry.ip).bind(&entry.action).bind(&entry.subject)
        .bind(&entry.from_state).bind(&entry.to_state).bind(&entry.reason).bind(&prev_hash).bind(&hash)
        .execute(&mut *$tx).await?;
        entry.seq
    }};
}

/// Appends one entry in its own transaction (e.g. a login attempt).
pub async fn append(db: &Db, entry: Entry) -> StoreResult<i64> {
    let is_pg = matches!(db, Db::Postgres(_));
    let seq = crate::db_tx!(db, tx => {
        let seq = crate::audit_append!(tx, is_pg, entry);
        tx.commit().await?;
        seq
    });
    Ok(seq)
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
}

/// Reads the chain in pages of `page` rows, starting after `after_seq`.
pub async fn page(db: &Db, after_seq: i64, page: i64) -> StoreResult<Vec<Stored>> {
    let rows: Vec<Row> = db_run!(db, p => {
        sqlx::query_as("SELECT seq, at, actor, ip, action, subject, from_state, to_state, reason, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq).bind(page).fetch_all(p).await?
    });
    Ok(rows
        .into_iter()
        .map(|r| Stored {
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
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
        .collect())
}

/// Verifies the whole chain; `Ok(count)` or the first fault.
pub async fn verify(db: &Db) -> anyhow::Result<Result<u64, dvc_domain::audit::ChainError>> {
    let mut prev = dvc_domain::audit::GENESIS.to_string();
    let mut expected = 1i64;
    let mut total = 0u64;
    loop {
        let rows = page(db, expected - 1, 5000).await?;
        if rows.is_empty() {
            return Ok(Ok(total));
        }
        // Verify this page as a continuation of the previous one.
        for s in &rows {
            if s.entry.seq != expected {
                return Ok(Err(dvc_domain::audit::ChainError::Gap {
                    seq: s.entry.seq,
                    expected,
                }));
            }
            if s.prev_hash != prev {
                return Ok(Err(dvc_domain::audit::ChainError::Broken {
                    seq: s.entry.seq,
                }));
            }
            if s.entry.hash(&s.prev_hash) != s.hash {
                return Ok(Err(dvc_domain::audit::ChainError::Tampered {
                    seq: s.entry.seq,
                }));
            }
            prev = s.hash.clone();
            expected += 1;
            total += 1;
        }
    }
}

/// Failed logins for `subject` (an e-mail or an IP) since `since_ms`.
pub async fn count_failures(db: &Db, subject: &str, since_ms: i64) -> StoreResult<i64> {
    let (n,): (i64,) = db_run!(db, p => {
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed' AND subject = $1 AND at > $2")
            .bind(subject).bind(since_ms).fetch_one(p).await?
    });
    Ok(n)
}
