//! Rate-limit counters shared by every web node: one row per key and fixed window.

use super::{Db, StoreResult};
use crate::db_run;

/// Adds `delta` hits to the window starting at `window_start` and returns the window's count so
/// far (these hits included). One atomic statement: concurrent hits on any node never lose a count.
pub async fn add(db: &Db, key: &str, window_start: i64, delta: i64) -> StoreResult<i64> {
    let (count,): (i64,) = db_run!(db, p => {
        sqlx::query_as(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + excluded.count RETURNING count",
        )
        .bind(key).bind(window_start).bind(delta).fetch_one(p).await?
    });
    Ok(count)
}

/// [`add`] for many windows at once — (key, window start, delta) — returning each count in the
/// same order. PostgreSQL: one statement; SQLite: one transaction.
pub async fn add_many(db: &Db, hits: &[(String, i64, i64)]) -> StoreResult<Vec<i64>> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    match db {
        Db::Postgres(p) => {
            let keys: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
            let starts: Vec<i64> = hits.iter().map(|h| h.1).collect();
            let deltas: Vec<i64> = hits.iter().map(|h| h.2).collect();
            // Returned rows come back in any order: matched on (key, window start).
            let rows: std::collections::HashMap<(String, i64), i64> = sqlx::query_as::<_, (String, i64, i64)>(
                "INSERT INTO rate_limits (key, window_start, count) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) \
                 ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + excluded.count \
                 RETURNING key, window_start, count",
            )
            .bind(keys)
            .bind(starts)
            .bind(deltas)
            .fetch_all(p)
            .await?
            .into_iter()
            .map(|(k, s, c)| ((k, s), c))
            .collect();
            Ok(hits
                .iter()
                .map(|(k, s, d)| rows.get(&(k.clone(), *s)).copied().unwrap_or(*d))
                .collect())
        }
        Db::Sqlite(p) => {
            let mut tx = p.begin().await?;
            let mut counts = Vec::with_capacity(hits.len());
            for (key, start, delta) in hits {
                let (count,): (i64,) = sqlx::query_as(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3) \
                     ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + excluded.count RETURNING count",
                )
                .bind(key)
                .bind(start)
                .bind(delta)
                .fetch_one(&mut *tx)
                .await?;
                counts.push(count);
            }
            tx.commit().await?;
            Ok(counts)
        }
    }
}

/// Deletes windows that started before `cutoff`; returns how many rows went.
pub async fn purge(db: &Db, cutoff: i64) -> StoreResult<u64> {
    let n = db_run!(db, p => {
        sqlx::query("DELETE FROM rate_limits WHERE window_start < $1").bind(cutoff).execute(p).await?.rows_affected()
    });
    Ok(n)
}
