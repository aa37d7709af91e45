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

const CLAIM_SQLITE: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id = (\
    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
    ORDER BY id LIMIT 1) RETURNING id, recipient, subject, body_text, message_id, attempts";
const CLAIM_PG: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id = (\
    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, recipient, subject, body_text, message_id, attempts";

/// Claims the next due message for `lease_ms`.
pub async fn claim(db: &Db, now: i64, lease_ms: i64) -> StoreResult<Option<OutboxMessage>> {
    let row = match db {
        Db::Sqlite(p) => {
            sqlx::query_as::<_, OutboxMessage>(CLAIM_SQLITE)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(p)
                .await?
        }
        Db::Postgres(p) => {
            sqlx::query_as::<_, OutboxMessage>(CLAIM_PG)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(p)
                .await?
        }
    };
    Ok(row)
}

/// PostgreSQL: marks `$3` sent and claims the next due message in one statement.
const MARK_AND_CLAIM_PG: &str = "WITH sent AS (\
    UPDATE outbox SET sent_at = $2, locked_until = NULL, last_error = NULL WHERE id = $3) \
    UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id = (\
    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
    AND id <> $3 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, recipient, subject, body_text, message_id, attempts";

/// Marks message `sent_id` sent and claims the next due one for `lease_ms`, in one commit (one
/// statement on PostgreSQL): while the queue is busy, one commit per message instead of two.
pub async fn mark_sent_and_claim(
    db: &Db,
    sent_id: i64,
    now: i64,
    lease_ms: i64,
) -> StoreResult<Option<OutboxMessage>> {
    const MARK: &str =
        "UPDATE outbox SET sent_at = $2, locked_until = NULL, last_error = NULL WHERE id = $1";
    let row = match db {
        Db::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(MARK)
                .bind(sent_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query_as::<_, OutboxMessage>(CLAIM_SQLITE)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        }
        Db::Postgres(p) => {
            sqlx::query_as::<_, OutboxMessage>(MARK_AND_CLAIM_PG)
                .bind(now + lease_ms)
                .bind(now)
                .bind(sent_id)
                .fetch_optional(p)
                .await?
        }
    };
    Ok(row)
}

pub async fn mark_sent(db: &Db, id: i64, now: i64) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE outbox SET sent_at = $2, locked_until = NULL, last_error = NULL WHERE id = $1").bind(id).bind(now).execute(p).await?;
    });
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
