//! Signed-in citizens: their identities (keyed by the provider's issuer and subject, never by an
//! e-mail address), sign-ins in progress, the sign-in itself (a new session, rotated), their
//! dossiers and their drafts.

use super::sessions::{SessionData, citizen_draft_key};
use super::{Db, StoreError, StoreResult};
use crate::oidc::Identity;
use crate::{db_run, db_tx};

/// A citizen as the provider described them at the last sign-in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Citizen {
    pub id: i64,
    pub issuer: String,
    pub subject: String,
    /// Personal identification number vouched for by the provider; empty when it gave none.
    pub id_number: String,
    pub full_name: String,
    /// `YYYY-MM-DD` or empty.
    pub birth_date: String,
    pub phone: String,
    pub email: String,
    /// 1 or 2 (Nghị định 69/2024/NĐ-CP).
    pub level: i64,
}

/// Creates or updates the citizen with this issuer and subject; returns their id.
pub async fn upsert(db: &Db, i: &Identity, now: i64) -> StoreResult<i64> {
    let (id,): (i64,) = db_run!(db, p => {
        sqlx::query_as(
            "INSERT INTO citizens (issuer, subject, id_number, full_name, birth_date, phone, email, level, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (issuer, subject) DO UPDATE SET id_number = excluded.id_number, full_name = excluded.full_name, \
             birth_date = excluded.birth_date, phone = excluded.phone, email = excluded.email, level = excluded.level, \
             last_login_at = excluded.last_login_at RETURNING id",
        )
        .bind(&i.issuer).bind(&i.subject).bind(&i.id_number).bind(&i.full_name).bind(&i.birth_date)
        .bind(&i.phone).bind(&i.email).bind(i.level).bind(now)
        .fetch_one(p).await?
    });
    Ok(id)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<Citizen>> {
    let row: Option<Citizen> = db_run!(db, p => {
        sqlx::query_as("SELECT id, issuer, subject, id_number, full_name, birth_date, phone, email, level FROM citizens WHERE id = $1")
            .bind(id).fetch_optional(p).await?
    });
    Ok(row)
}

/// A sign-in in progress, as the callback takes it back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingLogin {
    pub session_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
}

pub async fn save_login(
    db: &Db,
    state_hash: &str,
    login: &PendingLogin,
    expires_at: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO oidc_logins (state_hash, session_hash, nonce, pkce_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(state_hash).bind(&login.session_hash).bind(&login.nonce).bind(&login.pkce_verifier)
            .bind(&login.return_to).bind(expires_at).execute(p).await?;
    });
    Ok(())
}

/// Takes (deletes and returns) a live sign-in in progress: each state is usable once.
pub async fn take_login(db: &Db, state_hash: &str, now: i64) -> StoreResult<Option<PendingLogin>> {
    if !super::storable_key(state_hash) {
        return Ok(None);
    }
    let row: Option<PendingLogin> = db_run!(db, p => {
        sqlx::query_as("DELETE FROM oidc_logins WHERE state_hash = $1 AND expires_at > $2 RETURNING session_hash, nonce, pkce_verifier, return_to")
            .bind(state_hash).bind(now).fetch_optional(p).await?
    });
    Ok(row)
}

/// The sign-in: a new session (new cookie, new CSRF token) for the citizen replaces the one
/// the sign-in started from, whose drafts become the citizen's (unless the citizen already has
/// a draft of that procedure), in one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in(
    db: &Db,
    old_session_hash: &str,
    new_session_hash: &str,
    csrf: &str,
    citizen_id: i64,
    data: &SessionData,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let key = citizen_draft_key(citizen_id);
    db_tx!(db, tx => {
        sqlx::query("INSERT INTO sessions (id_hash, csrf_token, data, created_at, last_seen_at, expires_at, citizen_id) VALUES ($1, $2, $3, $4, $4, $5, $6)")
            .bind(new_session_hash).bind(csrf).bind(&json).bind(now).bind(expires_at).bind(citizen_id)
            .execute(&mut *tx).await?;
        sqlx::query("UPDATE drafts SET session_hash = $2, updated_at = $3 WHERE session_hash = $1 AND NOT EXISTS \
             (SELECT 1 FROM drafts c WHERE c.session_hash = $2 AND c.procedure_code = drafts.procedure_code)")
            .bind(old_session_hash).bind(&key).bind(now).execute(&mut *tx).await?;
        // A session is never both: an official's session the sign-in started from ends too.
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old_session_hash).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Ends a session (sign-out). The citizen's drafts stay theirs.
pub async fn end_session(db: &Db, session_hash: &str) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(session_hash).execute(p).await?;
    });
    Ok(())
}

/// A dossier in "Hồ sơ của tôi".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MyDossier {
    pub id: i64,
    pub code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub status: String,
    pub submitted_at: i64,
    pub expected_at: Option<i64>,
    pub payment_status: Option<String>,
    pub rating: Option<i64>,
}

/// Whose dossiers a citizen sees: those they filed signed in, and those filed in the name of the
/// identification number the provider vouched for (never a number typed by anyone).
const MINE: &str = "(citizen_id = $1 OR ($2 <> '' AND applicant_id_number = $2))";

/// The citizen's dossiers, newest first (at most 200).
pub async fn dossiers(db: &Db, c: &Citizen) -> StoreResult<Vec<MyDossier>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT id, code, procedure_code, agency_code, status, submitted_at, expected_at, payment_status, rating \
             FROM dossiers WHERE {MINE} ORDER BY submitted_at DESC, id DESC LIMIT 200"
        )
    });
    let rows: Vec<MyDossier> = db_run!(db, p => {
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str())).bind(c.id).bind(&c.id_number).fetch_all(p).await?
    });
    Ok(rows)
}

/// The id of dossier `code` when it is the citizen's; `None` otherwise (also for a code that
/// does not exist: the two are not told apart).
pub async fn own_dossier(db: &Db, c: &Citizen, code: &str) -> StoreResult<Option<i64>> {
    if !super::storable_key(code) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT id FROM dossiers WHERE code = $3 AND {MINE}"));
    let row: Option<(i64,)> = db_run!(db, p => {
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str())).bind(c.id).bind(&c.id_number).bind(code).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

/// A new private link to a dossier (only the SHA-256 of its token is kept), for its owner who
/// opens it from "Hồ sơ của tôi" without the e-mail.
pub async fn add_access_link(
    db: &Db,
    dossier_id: i64,
    token_hash: &str,
    now: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO access_links (token_hash, dossier_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash).bind(dossier_id).bind(now).execute(p).await?;
    });
    Ok(())
}

/// A saved draft of the citizen: (procedure code, last change).
pub async fn drafts(db: &Db, citizen_id: i64) -> StoreResult<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = db_run!(db, p => {
        sqlx::query_as("SELECT procedure_code, updated_at FROM drafts WHERE session_hash = $1 ORDER BY updated_at DESC")
            .bind(citizen_draft_key(citizen_id)).fetch_all(p).await?
    });
    Ok(rows)
}

/// Deletes a citizen's draft; returns the storage keys of its files.
pub async fn delete_draft(db: &Db, citizen_id: i64, procedure: &str) -> StoreResult<Vec<String>> {
    if !super::storable_key(procedure) {
        return Ok(vec![]);
    }
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("DELETE FROM drafts WHERE session_hash = $1 AND procedure_code = $2 RETURNING files")
            .bind(citizen_draft_key(citizen_id)).bind(procedure).fetch_optional(p).await?
    });
    Ok(row
        .and_then(|(files,)| {
            serde_json::from_str::<std::collections::BTreeMap<String, super::sessions::DraftFile>>(
                &files,
            )
            .ok()
        })
        .map(|m| m.into_values().map(|f| f.storage_key).collect())
        .unwrap_or_default())
}

/// A citizen's draft due for its reminder e-mail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueReminder {
    pub session_hash: String,
    pub procedure_code: String,
    pub updated_at: i64,
    pub email: String,
    pub full_name: String,
}

/// Citizens' drafts unchanged since before `cutoff`, not reminded since their last change, whose
/// citizen has an e-mail address.
pub async fn due_reminders(db: &Db, cutoff: i64) -> StoreResult<Vec<DueReminder>> {
    let rows: Vec<DueReminder> = db_run!(db, p => {
        sqlx::query_as(
            "SELECT d.session_hash, d.procedure_code, d.updated_at, c.email, c.full_name FROM drafts d \
             JOIN citizens c ON d.session_hash = 'citizen:' || c.id \
             WHERE d.session_hash LIKE 'citizen:%' AND d.updated_at < $1 \
             AND (d.reminded_at IS NULL OR d.reminded_at < d.updated_at) AND c.email <> '' LIMIT 500",
        )
        .bind(cutoff).fetch_all(p).await?
    });
    Ok(rows)
}

/// Queues the reminder e-mail of a draft and marks it reminded, in one transaction (the draft
/// must still be unchanged since `updated_at`).
pub async fn queue_reminder(
    db: &Db,
    r: &DueReminder,
    subject: &str,
    body: &str,
    now: i64,
) -> StoreResult<bool> {
    let done = db_tx!(db, tx => {
        let marked = sqlx::query("UPDATE drafts SET reminded_at = $4 WHERE session_hash = $1 AND procedure_code = $2 AND updated_at = $3")
            .bind(&r.session_hash).bind(&r.procedure_code).bind(r.updated_at).bind(now)
            .execute(&mut *tx).await?.rows_affected();
        if marked == 1 {
            sqlx::query("INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) \
                 VALUES ('draft_reminder', NULL, $1, $2, $3, $4, $5, $5)")
                .bind(&r.email).bind(subject).bind(body)
                .bind(format!("<draft.{}.{}.{}@dichvucong>", r.session_hash.replace(':', "-"), r.procedure_code, now))
                .bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        marked == 1
    });
    Ok(done)
}
