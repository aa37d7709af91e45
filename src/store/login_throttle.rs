//! Failed logins per key (an account and a client address), shared by every web node.

use super::{Db, StoreResult};
use crate::db_run;

/// The failures counted for `key` since `since` (older ones are forgotten): (count, last one).
pub async fn get(db: &Db, key: &str, since: i64) -> StoreResult<Option<(i64, i64)>> {
    if !super::storable_key(key) {
        return Ok(None);
    }
    let row: Option<(i64, i64)> = db_run!(db, p => {
        sqlx::query_as("SELECT failures, last_at FROM login_throttle WHERE key = $1 AND last_at >= $2")
            .bind(key).bind(since).fetch_optional(p).await?
    });
    Ok(row)
}

/// Counts one more failure for `key` at `now` (starting afresh when the last one is older than
/// `since`); returns the count.
pub async fn fail(db: &Db, key: &str, now: i64, since: i64) -> StoreResult<i64> {
    if !super::storable_key(key) {
        return Ok(0);
    }
    let (n,): (i64,) = db_run!(db, p => {
        sqlx::query_as(
            "INSERT INTO login_throttle (key, failures, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.last_at < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
             last_at = excluded.last_at RETURNING failures",
        )
        .bind(key).bind(now).bind(since).fetch_one(p).await?
    });
    Ok(n)
}

/// Forgets the failures of `key` (after a successful login).
pub async fn clear(db: &Db, key: &str) -> StoreResult<()> {
    if !super::storable_key(key) {
        return Ok(());
    }
    db_run!(db, p => {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(p).await?;
    });
    Ok(())
}

/// Deletes entries whose last failure is older than `before` (housekeeping).
pub async fn purge(db: &Db, before: i64) -> StoreResult<u64> {
    let n = db_run!(db, p => {
        sqlx::query("DELETE FROM login_throttle WHERE last_at < $1").bind(before).execute(p).await?.rows_affected()
    });
    Ok(n)
}
