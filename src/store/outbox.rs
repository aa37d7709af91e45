//! The e-mail outbox: rows written in the business transaction, claimed and sent by the worker.
//!
//! Claiming sets a lease (`locked_until`); a worker that dies mid-send loses its lease and the
//! message is retried. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers on several
//! nodes never take the same row; SQLite has a single writer, so the `UPDATE … RETURNING` is atomic.

use super::{Db, StoreResult};
use crate::db_run;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub message_id: String,
    pub attempts: i64,
}

const CLAIM_BATCH_SQLITE: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
    ORDER BY id LIMIT $3) RETURNING id, recipient, subject, body_text, message_id, attempts";
const CLAIM_BATCH_PG: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, recipient, subject, body_text, message_id, attempts";

/// Claims up to `limit` due messages for `lease_ms`, oldest first (one statement: a busy queue
/// costs one claim and one "sent" update per batch, not per message).
pub async fn claim_batch(
    db: &Db,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> StoreResult<Vec<OutboxMessage>> {
    let mut rows = match db {
        Db::Sqlite(p) => {
            sqlx::query_as::<_, OutboxMessage>(CLAIM_BATCH_SQLITE)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(p)
                .await?
        }
        Db::Postgres(p) => {
            sqlx::query_as::<_, OutboxMessage>(CLAIM_BATCH_PG)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(p)
                .await?
        }
    };
    rows.sort_by_key(|m| m.id);
    Ok(rows)
}

const CLAIM_IDS_SQLITE: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
    WHERE id IN (SELECT value FROM json_each($3)) AND sent_at IS NULL AND next_attempt_at <= $2 \
    AND (locked_until IS NULL OR locked_until < $2) RETURNING id, recipient, subject, body_text, message_id, attempts";
const CLAIM_IDS_PG: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
    WHERE id = ANY($3) AND sent_at IS NULL AND next_attempt_at <= $2 \
    AND (locked_until IS NULL OR locked_until < $2) RETURNING id, recipient, subject, body_text, message_id, attempts";

/// Claims the messages with these ids that are still due and not leased (primary-key lookups;
/// used for messages this node has just queued, see `jobs::mailer::MailQueue`).
pub async fn claim_ids(
    db: &Db,
    ids: &[i64],
    now: i64,
    lease_ms: i64,
) -> StoreResult<Vec<OutboxMessage>> {
    let mut rows = match db {
        Db::Sqlite(p) => {
            sqlx::query_as::<_, OutboxMessage>(CLAIM_IDS_SQLITE)
                .bind(now + lease_ms)
                .bind(now)
                .bind(json_ids(ids)?)
                .fetch_all(p)
                .await?
        }
        Db::Postgres(p) => {
            // Row locks and READ COMMITTED's re-check of the WHERE clause on the locked row make
            // a message claimed by two nodes at once go to one of them.
            sqlx::query_as::<_, OutboxMessage>(CLAIM_IDS_PG)
                .bind(now + lease_ms)
                .bind(now)
                .bind(ids)
                .persistent(false)
                .fetch_all(p)
                .await?
        }
    };
    rows.sort_by_key(|m| m.id);
    Ok(rows)
}

/// Marks these messages sent (one statement).
///
/// PostgreSQL gets the ids as an array (`id = ANY($2)`: primary-key lookups). An `IN (SELECT
/// jsonb_array_elements…)` made the planner hash the set-returning function's guessed 100 rows
/// and scan the whole outbox — every sent message ever — on each batch. The statement is not
/// kept prepared (`persistent(false)`): a generic plan made while the outbox was still a few rows
/// (a new installation) is a sequential scan, and a prepared statement would keep it as the
/// table grows. Planned afresh, once per batch, it stays an index lookup.
pub async fn mark_sent_many(db: &Db, ids: &[i64], now: i64) -> StoreResult<()> {
    match db {
        Db::Sqlite(p) => {
            let ids = json_ids(ids)?;
            sqlx::query("UPDATE outbox SET sent_at = $1, locked_until = NULL, last_error = NULL WHERE id IN (SELECT value FROM json_each($2))")
                .bind(now).bind(ids).execute(p).await?;
        }
        Db::Postgres(p) => {
            sqlx::query("UPDATE outbox SET sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = ANY($2)")
                .bind(now).bind(ids).persistent(false).execute(p).await?;
        }
    }
    Ok(())
}

/// SQLite has no array type: the ids as a JSON array for `json_each` (rowid lookups).
fn json_ids(ids: &[i64]) -> StoreResult<String> {
    serde_json::to_string(ids).map_err(|e| super::StoreError::Corrupt(e.to_string()))
}

/// Gives back claimed messages that were not tried (the attempt is not counted).
pub async fn release(db: &Db, ids: &[i64]) -> StoreResult<()> {
    match db {
        Db::Sqlite(p) => {
            let ids = json_ids(ids)?;
            sqlx::query("UPDATE outbox SET locked_until = NULL, attempts = attempts - 1 WHERE id IN (SELECT value FROM json_each($1))")
                .bind(ids).execute(p).await?;
        }
        Db::Postgres(p) => {
            sqlx::query(
                "UPDATE outbox SET locked_until = NULL, attempts = attempts - 1 WHERE id = ANY($1)",
            )
            .bind(ids)
            .persistent(false)
            .execute(p)
            .await?;
        }
    }
    Ok(())
}

pub async fn mark_failed(db: &Db, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
    let error: String = error.chars().take(500).collect();
    db_run!(db, p => {
        sqlx::query("UPDATE outbox SET locked_until = NULL, next_attempt_at = $2, last_error = $3 WHERE id = $1")
            .bind(id).bind(next_attempt_at).bind(error).execute(p).await?;
    });
    Ok(())
}

/// (pending, sent) counts, for health and tests.
pub async fn counts(db: &Db) -> StoreResult<(i64, i64)> {
    let (pending, sent): (i64, i64) = db_run!(db, p => {
        sqlx::query_as("SELECT COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END), 0) FROM outbox")
            .fetch_one(p).await?
    });
    Ok((pending, sent))
}
