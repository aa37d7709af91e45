//! Partner systems, their bearer tokens and idempotency keys, webhooks, and the deliveries
//! outbox (webhooks and the national portal's synchronisation).
//!
//! Deliveries are written in the transaction that records the event ([`enqueue_sql`], used by
//! [`super::dossiers`]); the worker (`jobs::deliveries`) claims them with a lease, one at a time
//! per (webhook, dossier) and in order, like the e-mail outbox.

use super::{Db, StoreError, StoreResult};
use crate::{db_run, db_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub agency_code: String,
    pub scopes: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const PARTNER_COLS: &str =
    "id, client_id, name, agency_code, scopes, secret_hash, created_at, revoked_at";

pub async fn create_partner(
    db: &Db,
    client_id: &str,
    name: &str,
    agency_code: &str,
    scopes: &str,
    secret_hash: &str,
    now: i64,
) -> StoreResult<i64> {
    let (id,): (i64,) = db_run!(db, p => {
        sqlx::query_as("INSERT INTO partners (client_id, name, agency_code, scopes, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(client_id).bind(name).bind(agency_code).bind(scopes).bind(secret_hash).bind(now)
            .fetch_one(p).await?
    });
    Ok(id)
}

/// Revokes a partner: its tokens stop working at once and its webhooks stop receiving.
/// False when there is no such partner (or it was already revoked).
pub async fn revoke_partner(db: &Db, id: i64, now: i64) -> StoreResult<bool> {
    let done = db_tx!(db, tx => {
        let r = sqlx::query("UPDATE partners SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id).bind(now).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM partner_tokens WHERE partner_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("UPDATE webhooks SET disabled_at = $2 WHERE partner_id = $1 AND disabled_at IS NULL")
            .bind(id).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        r.rows_affected() == 1
    });
    Ok(done)
}

pub async fn partner_by_client_id(db: &Db, client_id: &str) -> StoreResult<Option<PartnerRow>> {
    if !super::storable_key(client_id) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {PARTNER_COLS} FROM partners WHERE client_id = $1")
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, PartnerRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(client_id).fetch_optional(p).await?
    });
    Ok(row)
}

pub async fn insert_token(
    db: &Db,
    token_hash: &str,
    partner_id: i64,
    scopes: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO partner_tokens (token_hash, partner_id, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash).bind(partner_id).bind(scopes).bind(now).bind(expires_at).execute(p).await?;
    });
    Ok(())
}

/// The partner holding a live token (not expired, partner not revoked) and the token's scopes.
pub async fn partner_by_token(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> StoreResult<Option<(PartnerRow, String)>> {
    if !super::storable_key(token_hash) {
        return Ok(None);
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        partner: PartnerRow,
        token_scopes: String,
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let cols: Vec<String> = PARTNER_COLS.split(", ").map(|c| format!("p.{c}")).collect();
        format!(
            "SELECT {}, t.scopes AS token_scopes FROM partner_tokens t JOIN partners p ON p.id = t.partner_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND p.revoked_at IS NULL",
            cols.join(", ")
        )
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(SQL.as_str())).bind(token_hash).bind(now).fetch_optional(p).await?
    });
    Ok(row.map(|r| (r.partner, r.token_scopes)))
}

/// Forgets expired tokens (housekeeping).
pub async fn purge_tokens(db: &Db, now: i64) -> StoreResult<u64> {
    let n = db_run!(db, p => {
        sqlx::query("DELETE FROM partner_tokens WHERE expires_at <= $1").bind(now).execute(p).await?.rows_affected()
    });
    Ok(n)
}

/// The SHA-256 of the request `partner` first sent with `key`, if any.
pub async fn idempotency_hash(db: &Db, partner_id: i64, key: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT request_hash FROM api_idempotency WHERE partner_id = $1 AND idem_key = $2")
            .bind(partner_id).bind(key).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

/// One event of the change feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub public_note: Option<String>,
    pub dossier_code: String,
    pub procedure_code: String,
    pub agency_code: String,
}

const FEED_COLS: &str = "e.id, e.at, e.action, e.from_status, e.to_status, e.public_note, \
    d.code AS dossier_code, d.procedure_code, d.agency_code";

/// The events of dossiers of `agencies` after event `after`, in order, at most `limit`, and
/// only those recorded at or before `until` (see `web::partner_api::events` on why).
pub async fn feed(
    db: &Db,
    agencies: &[String],
    after: i64,
    limit: i64,
    until: i64,
) -> StoreResult<Vec<FeedRow>> {
    if agencies.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..agencies.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT {FEED_COLS} FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id \
         WHERE e.id > $1 AND e.at <= $3 AND d.agency_code IN ({}) ORDER BY e.id LIMIT $2",
        placeholders.join(", ")
    );
    let rows = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(sql.clone())).bind(after).bind(limit).bind(until);
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_all(p).await?
    });
    Ok(rows)
}

/// Events by id (for the bodies of the deliveries claimed together), in no particular order.
pub async fn feed_events(db: &Db, event_ids: &[i64]) -> StoreResult<Vec<FeedRow>> {
    if event_ids.is_empty() {
        return Ok(vec![]);
    }
    let json = serde_json::to_string(event_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = match db {
        Db::Sqlite(p) => {
            sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {FEED_COLS} FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE e.id IN (SELECT value FROM json_each($1))"
            )))
            .bind(json)
            .fetch_all(p)
            .await?
        }
        Db::Postgres(p) => {
            sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {FEED_COLS} FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE e.id = ANY($1)"
            )))
            .bind(event_ids)
            // Planned for each call: a plan kept from when the tables were small scans them.
            .persistent(false)
            .fetch_all(p)
            .await?
        }
    };
    Ok(rows)
}

/// Registers a webhook of `partner_id` for the events of `agencies`.
pub async fn create_webhook(
    db: &Db,
    partner_id: i64,
    url: &str,
    event_kinds: &str,
    secret_salt: &str,
    agencies: &[String],
    now: i64,
) -> StoreResult<i64> {
    let id = db_tx!(db, tx => {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhooks (partner_id, target, url, event_kinds, secret_salt, all_agencies, created_at) VALUES ($1, 'webhook', $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(partner_id).bind(url).bind(event_kinds).bind(secret_salt).bind(now)
        .fetch_one(&mut *tx).await?;
        for a in agencies {
            sqlx::query("INSERT INTO webhook_agencies (webhook_id, agency_code) VALUES ($1, $2)")
                .bind(id).bind(a).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        id
    });
    Ok(id)
}

/// Makes the national portal's subscription (target `dvcqg`, every agency, every event) match
/// the configuration: enabled with `url`, or disabled when `url` is `None`. Idempotent, safe
/// on several nodes at once (at worst a second row is disabled at the next start).
pub async fn ensure_national(db: &Db, url: Option<&str>, now: i64) -> StoreResult<Option<i64>> {
    let existing: Vec<(i64, String, Option<i64>)> = db_run!(db, p => {
        sqlx::query_as("SELECT id, url, disabled_at FROM webhooks WHERE target = 'dvcqg' ORDER BY id")
            .fetch_all(p).await?
    });
    match url {
        None => {
            db_run!(db, p => {
                sqlx::query("UPDATE webhooks SET disabled_at = $1 WHERE target = 'dvcqg' AND disabled_at IS NULL")
                    .bind(now).execute(p).await?;
            });
            Ok(None)
        }
        Some(url) => {
            if let Some((id, _, _)) = existing.first() {
                db_run!(db, p => {
                    sqlx::query("UPDATE webhooks SET url = $2, disabled_at = NULL WHERE id = $1").bind(id).bind(url).execute(p).await?;
                    sqlx::query("UPDATE webhooks SET disabled_at = $2 WHERE target = 'dvcqg' AND id <> $1").bind(id).bind(now).execute(p).await?;
                });
                return Ok(Some(*id));
            }
            let (id,): (i64,) = db_run!(db, p => {
                sqlx::query_as("INSERT INTO webhooks (partner_id, target, url, event_kinds, secret_salt, all_agencies, created_at) VALUES (NULL, 'dvcqg', $1, '*', '', 1, $2) RETURNING id")
                    .bind(url).bind(now).fetch_one(p).await?
            });
            Ok(Some(id))
        }
    }
}

/// The statement that queues one event for every webhook that wants it, inside the
/// transaction recording the event: `$1` dossier id, `$2` event id, `$3` now, `$4` event kind,
/// `$5` the dossier's agency.
pub const ENQUEUE_SQL: &str = "INSERT INTO deliveries (webhook_id, dossier_id, event_id, created_at, next_attempt_at) \
    SELECT w.id, $1, $2, $3, $3 FROM webhooks w WHERE w.disabled_at IS NULL \
    AND (w.event_kinds = '*' OR (',' || w.event_kinds || ',') LIKE ('%,' || CAST($4 AS TEXT) || ',%')) \
    AND (w.all_agencies = 1 OR EXISTS (SELECT 1 FROM webhook_agencies a WHERE a.webhook_id = w.id AND a.agency_code = CAST($5 AS TEXT)))";

/// A claimed delivery, with what is needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryJob {
    pub id: i64,
    pub webhook_id: i64,
    pub dossier_id: i64,
    pub event_id: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub target: String,
    pub url: String,
    pub secret_salt: String,
}

/// The deliveries that may go now: due, not leased, and the oldest pending one of their
/// (webhook, dossier) — so a dossier's events reach a receiver in order, one at a time.
const DUE: &str = "SELECT d.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
    WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $2 \
    AND (d.locked_until IS NULL OR d.locked_until < $2) AND w.disabled_at IS NULL \
    AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.webhook_id = d.webhook_id AND p.dossier_id = d.dossier_id \
      AND p.id < d.id AND p.delivered_at IS NULL AND p.failed_at IS NULL) \
    AND d.id > $4 ORDER BY d.id LIMIT $3";

/// Claims up to `limit` deliveries with an id above `after` for `lease_ms`, with what is needed
/// to send them (one statement; PostgreSQL skips rows another node holds). `after` lets a busy
/// worker start past the deliveries it already handled: on PostgreSQL a scan from the start
/// passes over every delivered row version autovacuum has not removed yet (measured: ~1,600
/// buffers a claim).
pub async fn claim_deliveries(
    db: &Db,
    now: i64,
    lease_ms: i64,
    limit: i64,
    after: i64,
) -> StoreResult<Vec<DeliveryJob>> {
    // SQLite's RETURNING may not name a table of an `UPDATE … FROM`: the webhook's columns by
    // subqueries (rowid lookups).
    static SQL_SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let hook = |c: &str| {
            format!("(SELECT {c} FROM webhooks WHERE webhooks.id = deliveries.webhook_id) AS {c}")
        };
        format!(
            "UPDATE deliveries SET locked_until = $1, attempts = attempts + 1 WHERE id IN ({DUE}) \
             RETURNING id, webhook_id, dossier_id, event_id, attempts, created_at, {}, {}, {}",
            hook("target"),
            hook("url"),
            hook("secret_salt")
        )
    });
    static SQL_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE deliveries x SET locked_until = $1, attempts = x.attempts + 1 FROM webhooks wh \
             WHERE wh.id = x.webhook_id AND x.id IN ({DUE} FOR UPDATE OF d SKIP LOCKED) \
             RETURNING x.id, x.webhook_id, x.dossier_id, x.event_id, x.attempts, x.created_at, wh.target, wh.url, wh.secret_salt"
        )
    });
    let mut rows: Vec<DeliveryJob> = match db {
        Db::Sqlite(p) => {
            sqlx::query_as(sqlx::AssertSqlSafe(SQL_SQLITE.as_str()))
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .bind(after)
                .fetch_all(p)
                .await?
        }
        Db::Postgres(p) => {
            // Planned for each call: a plan kept from when the table was a few rows checks the
            // older pending deliveries of each one by scanning them all (quadratic in a backlog).
            sqlx::query_as(sqlx::AssertSqlSafe(SQL_PG.as_str()))
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .bind(after)
                .persistent(false)
                .fetch_all(p)
                .await?
        }
    };
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Records deliveries that went through, `(id, HTTP status)` each, in one statement per status.
pub async fn mark_delivered(db: &Db, done: &[(i64, i64)], now: i64) -> StoreResult<()> {
    let mut statuses: Vec<i64> = done.iter().map(|d| d.1).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let ids: Vec<i64> = done.iter().filter(|d| d.1 == status).map(|d| d.0).collect();
        let json = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match db {
            Db::Sqlite(p) => {
                sqlx::query("UPDATE deliveries SET delivered_at = $2, locked_until = NULL, last_status = $3, last_error = NULL WHERE id IN (SELECT value FROM json_each($1))")
                    .bind(json).bind(now).bind(status).execute(p).await?;
            }
            Db::Postgres(p) => {
                sqlx::query("UPDATE deliveries SET delivered_at = $2, locked_until = NULL, last_status = $3, last_error = NULL WHERE id = ANY($1)")
                    .bind(&ids).bind(now).bind(status).persistent(false).execute(p).await?;
            }
        }
    }
    Ok(())
}

/// Records a failed attempt: retried at `next_attempt_at`, or given up (`give_up`) until an
/// administrator sends it again.
pub async fn mark_failed(
    db: &Db,
    id: i64,
    next_attempt_at: i64,
    status: Option<i64>,
    error: &str,
    give_up: bool,
    now: i64,
) -> StoreResult<()> {
    let error: String = error.chars().take(500).collect();
    let failed_at = give_up.then_some(now);
    db_run!(db, p => {
        sqlx::query("UPDATE deliveries SET locked_until = NULL, next_attempt_at = $2, last_status = $3, last_error = $4, failed_at = $5 WHERE id = $1")
            .bind(id).bind(next_attempt_at).bind(status).bind(error).bind(failed_at).execute(p).await?;
    });
    Ok(())
}

/// A delivery that has not gone through yet after at least one attempt, for administrators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedDelivery {
    pub id: i64,
    pub target: String,
    pub url: String,
    pub partner_name: Option<String>,
    pub dossier_code: String,
    pub action: String,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub failed_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// Undelivered deliveries that failed at least once, of dossiers of `agencies` (most recent
/// first, at most 200).
pub async fn failures(db: &Db, agencies: &[String]) -> StoreResult<Vec<FailedDelivery>> {
    if agencies.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..agencies.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT d.id, w.target, w.url, p.name AS partner_name, o.code AS dossier_code, e.action, d.attempts, d.created_at, \
         d.next_attempt_at, d.failed_at, d.last_status, d.last_error FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         LEFT JOIN partners p ON p.id = w.partner_id JOIN dossiers o ON o.id = d.dossier_id JOIN dossier_events e ON e.id = d.event_id \
         WHERE d.delivered_at IS NULL AND d.last_error IS NOT NULL AND o.agency_code IN ({}) ORDER BY d.id DESC LIMIT 200",
        placeholders.join(", ")
    );
    let rows = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, FailedDelivery>(sqlx::AssertSqlSafe(sql.clone()));
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_all(p).await?
    });
    Ok(rows)
}

/// "Gửi lại": the delivery is due again now (and no longer given up). Returns the dossier's
/// agency and code for the caller's scope check and audit, `None` when unknown.
pub async fn delivery_dossier(db: &Db, id: i64) -> StoreResult<Option<(String, String)>> {
    let row = db_run!(db, p => {
        sqlx::query_as("SELECT o.agency_code, o.code FROM deliveries d JOIN dossiers o ON o.id = d.dossier_id WHERE d.id = $1")
            .bind(id).fetch_optional(p).await?
    });
    Ok(row)
}

pub async fn resend(db: &Db, id: i64, now: i64) -> StoreResult<bool> {
    let n = db_run!(db, p => {
        sqlx::query("UPDATE deliveries SET failed_at = NULL, next_attempt_at = $2, locked_until = NULL WHERE id = $1 AND delivered_at IS NULL")
            .bind(id).bind(now).execute(p).await?.rows_affected()
    });
    Ok(n == 1)
}

/// The national portal acknowledged the dossier's latest change; the statistics (indicator
/// 3.3's sync rate) count it next ([`super::statistics::count_changed`]).
pub async fn set_synced(db: &Db, dossier_id: i64, now: i64) -> StoreResult<()> {
    crate::db_tx!(db, tx => {
        sqlx::query("UPDATE dossiers SET synced_at = $2 WHERE id = $1")
            .bind(dossier_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(super::statistics::QUEUE_SQL).bind(dossier_id).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Whether the dossier waits for the national portal: (synced_at, pending deliveries to it).
pub async fn sync_state(db: &Db, dossier_id: i64) -> StoreResult<(Option<i64>, i64)> {
    let row: (Option<i64>, i64) = db_run!(db, p => {
        sqlx::query_as("SELECT d.synced_at, (SELECT COUNT(*) FROM deliveries x JOIN webhooks w ON w.id = x.webhook_id \
            WHERE x.dossier_id = d.id AND w.target = 'dvcqg' AND x.delivered_at IS NULL) FROM dossiers d WHERE d.id = $1")
            .bind(dossier_id).fetch_one(p).await?
    });
    Ok(row)
}

/// (deliveries pending, delivered) to one webhook, for tests and health.
pub async fn delivery_counts(db: &Db, webhook_id: i64) -> StoreResult<(i64, i64)> {
    let row: (i64, i64) = db_run!(db, p => {
        sqlx::query_as("SELECT COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END), 0) FROM deliveries WHERE webhook_id = $1")
            .bind(webhook_id).fetch_one(p).await?
    });
    Ok(row)
}

/// How the dossier came in (`dossiers.channel`: 1 at the desk, 2 online, 3 by post).
pub async fn channel(db: &Db, dossier_id: i64) -> StoreResult<i64> {
    let (c,): (i64,) = db_run!(db, p => {
        sqlx::query_as("SELECT channel FROM dossiers WHERE id = $1").bind(dossier_id).fetch_one(p).await?
    });
    Ok(c)
}

/// The code of the dossier with this id.
pub async fn dossier_code(db: &Db, dossier_id: i64) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT code FROM dossiers WHERE id = $1").bind(dossier_id).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

/// QĐ 766 indicator 1.4 ("tỷ lệ đồng bộ"): (dossiers of `agencies` whose last change the
/// national portal acknowledged, all dossiers of `agencies`).
pub async fn sync_rate(db: &Db, agencies: &[String]) -> StoreResult<(i64, i64)> {
    if agencies.is_empty() {
        return Ok((0, 0));
    }
    let placeholders: Vec<String> = (0..agencies.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN d.synced_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries x JOIN webhooks w ON w.id = x.webhook_id \
         WHERE x.dossier_id = d.id AND w.target = 'dvcqg' AND x.delivered_at IS NULL) THEN 1 ELSE 0 END), 0), COUNT(*) \
         FROM dossiers d WHERE d.agency_code IN ({})",
        placeholders.join(", ")
    );
    let row: (i64, i64) = db_run!(db, p => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_one(p).await?
    });
    Ok(row)
}

/// The national portal's own code of a dossier (0016), when it has one: given when the dossier
/// was filed on the national portal and taken in through the API, or read from the portal's
/// answer to a push.
pub async fn national_code(db: &Db, dossier_id: i64) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT n.national_code FROM national_codes n JOIN dossiers d ON d.idempotency_key = n.idempotency_key WHERE d.id = $1")
            .bind(dossier_id).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

/// Where a national code stands when a partner files a dossier with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NationalClaim {
    /// Reserved for this filing (written before the filing, so its first push uses it).
    Reserved,
    /// A dossier was already filed with it: (its code, its idempotency key).
    Filed(String, String),
    /// Another filing with it is under way (reserved less than [`CLAIM_HOLD_MS`] ago).
    Busy,
}

/// How long a reservation without a dossier is held for the filing that made it (longer than a
/// request may take); after that, a filing that failed is assumed and another may take the code.
pub const CLAIM_HOLD_MS: i64 = 120_000;

/// Reserves `national_code` for the filing whose dossier will carry `idempotency_key`.
pub async fn claim_national_code(
    db: &Db,
    idempotency_key: &str,
    national_code: &str,
    now: i64,
) -> StoreResult<NationalClaim> {
    let claim = db_tx!(db, tx => {
        let held: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT n.idempotency_key, d.code, n.created_at FROM national_codes n \
             LEFT JOIN dossiers d ON d.idempotency_key = n.idempotency_key WHERE n.national_code = $1",
        )
        .bind(national_code).fetch_optional(&mut *tx).await?;
        let c = match held {
            Some((key, Some(code), _)) => NationalClaim::Filed(code, key),
            Some((key, None, at)) if key != idempotency_key && at > now - CLAIM_HOLD_MS => {
                NationalClaim::Busy
            }
            _ => {
                // A reservation of a filing that never committed (this code, or this key).
                sqlx::query(
                    "DELETE FROM national_codes WHERE (national_code = $1 OR idempotency_key = $2) \
                     AND NOT EXISTS (SELECT 1 FROM dossiers d WHERE d.idempotency_key = national_codes.idempotency_key)",
                )
                .bind(national_code).bind(idempotency_key).execute(&mut *tx).await?;
                let r = sqlx::query(
                    "INSERT INTO national_codes (idempotency_key, national_code, source, created_at) \
                     VALUES ($1, $2, 'filed', $3) ON CONFLICT DO NOTHING",
                )
                .bind(idempotency_key).bind(national_code).bind(now).execute(&mut *tx).await?;
                if r.rows_affected() == 1 { NationalClaim::Reserved } else { NationalClaim::Busy }
            }
        };
        tx.commit().await?;
        c
    });
    Ok(claim)
}

/// Records the code the national portal answered a push of `dossier_id` with (unless the dossier
/// has one already, or another dossier holds that code).
pub async fn record_national_code(
    db: &Db,
    dossier_id: i64,
    national_code: &str,
    now: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query(
            "INSERT INTO national_codes (idempotency_key, national_code, source, created_at) \
             SELECT d.idempotency_key, $2, 'answer', $3 FROM dossiers d WHERE d.id = $1 ON CONFLICT DO NOTHING",
        )
        .bind(dossier_id).bind(national_code).bind(now).execute(p).await?;
    });
    Ok(())
}

/// An attached file as a signed link serves it: (dossier id, storage key, file name, type).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkedAttachment {
    pub dossier_id: i64,
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
}

pub async fn linked_attachment(db: &Db, id: i64) -> StoreResult<Option<LinkedAttachment>> {
    let row = db_run!(db, p => {
        sqlx::query_as::<_, LinkedAttachment>(
            "SELECT dossier_id, storage_key, file_name, content_type FROM attachments WHERE id = $1",
        )
        .bind(id).fetch_optional(p).await?
    });
    Ok(row)
}
