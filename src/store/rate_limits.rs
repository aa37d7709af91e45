//! Rate-limit counters shared by every web node: one row per key and fixed window.

use super::{Db, StoreResult};
use crate::db_run;

/// Counts one hit in the window starting at `window_start` and returns the window's count so far
/// (this hit included). One atomic statement: concurrent hits on any node never lose a count.
pub async fn hit(db: &Db, key: &str, window_start: i64) -> StoreResult<i64> {
    let (count,): (i64,) = db_run!(db, p => {
        sqlx::query_as(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count",
        )
        .bind(key).bind(window_start).fetch_one(p).await?
    });
    Ok(count)
}

/// Deletes windows that started before `cutoff`; returns how many rows went.
pub async fn purge(db: &Db, cutoff: i64) -> StoreResult<u64> {
    let n = db_run!(db, p => {
        sqlx::query("DELETE FROM rate_limits WHERE window_start < $1").bind(cutoff).execute(p).await?.rows_affected()
    });
    Ok(n)
}
