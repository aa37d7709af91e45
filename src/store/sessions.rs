//! Server-side sessions, declaration drafts and verification-code challenges.
//!
//! All three live in the database so that any web node can answer the next request.
//! Sessions are keyed by the SHA-256 of the cookie value: a copy of the database does not
//! reveal usable session cookies.

use super::{Db, StoreError, StoreResult};
use crate::db_run;
use dvc_domain::form::{Answers, FileKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionData {
    /// Dossier codes submitted from this session (their confirmation pages may be shown again).
    #[serde(default)]
    pub submitted: Vec<String>,
    /// The ID token of a signed-in citizen: the hint sent with RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_hint: Option<String>,
}

impl SessionData {
    /// Remembers a dossier code filed from this session (the last 20); false if already there.
    pub fn remember(&mut self, code: &str) -> bool {
        if self.submitted.iter().any(|c| c == code) {
            return false;
        }
        self.submitted.push(code.to_string());
        if self.submitted.len() > 20 {
            self.submitted.remove(0);
        }
        true
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub csrf_token: String,
    pub data: SessionData,
    pub expires_at: i64,
    /// False for a session the portal issued a cookie for but has not written yet: a visitor
    /// who only opened a form costs no database write; the row comes with the first draft.
    pub stored: bool,
    /// The signed-in citizen (`store::citizens`); `None` for an anonymous session.
    pub citizen_id: Option<i64>,
}

impl Session {
    /// The key of this session's drafts: a signed-in citizen's drafts belong to the citizen
    /// (kept across sessions and devices), an anonymous visitor's to the session.
    pub fn draft_key(&self) -> String {
        match self.citizen_id {
            Some(id) => citizen_draft_key(id),
            None => self.id_hash.clone(),
        }
    }
}

/// The draft key of a signed-in citizen.
pub fn citizen_draft_key(citizen_id: i64) -> String {
    format!("citizen:{citizen_id}")
}

/// The draft key in SQL, for a session row `s`.
const DRAFT_KEY_SQL: &str =
    "CASE WHEN s.citizen_id IS NULL THEN s.id_hash ELSE 'citizen:' || s.citizen_id END";

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    csrf_token: String,
    data: String,
    expires_at: i64,
    citizen_id: Option<i64>,
}

pub async fn create(
    db: &Db,
    id_hash: &str,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO sessions (id_hash, csrf_token, data, created_at, last_seen_at, expires_at) VALUES ($1, $2, '{}', $3, $3, $4)")
            .bind(id_hash).bind(csrf).bind(now).bind(expires_at).execute(p).await?;
    });
    Ok(())
}

pub async fn find(db: &Db, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = db_run!(db, p => {
        sqlx::query_as("SELECT id_hash, csrf_token, data, expires_at, citizen_id FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash).bind(now).fetch_optional(p).await?
    });
    Ok(row.map(|r| session_of(r.id_hash, r.csrf_token, &r.data, r.expires_at, r.citizen_id)))
}

/// True when a row exists for this session, live or expired.
pub async fn exists(db: &Db, id_hash: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = db_run!(db, p => {
        sqlx::query_as("SELECT 1 FROM sessions WHERE id_hash = $1").bind(id_hash).fetch_optional(p).await?
    });
    Ok(row.is_some())
}

fn session_of(
    id_hash: String,
    csrf_token: String,
    data: &str,
    expires_at: i64,
    citizen_id: Option<i64>,
) -> Session {
    Session {
        id_hash,
        csrf_token,
        data: serde_json::from_str(data).unwrap_or_default(),
        expires_at,
        stored: true,
        citizen_id,
    }
}

#[derive(sqlx::FromRow)]
struct SessionDraftRow {
    id_hash: String,
    csrf_token: String,
    data: String,
    expires_at: i64,
    citizen_id: Option<i64>,
    answers: Option<String>,
    files: Option<String>,
    validated: Option<i64>,
    submit_token: Option<String>,
}

/// The session and its draft for `procedure`, in one query (the declaration pages need both on
/// every request). Expired sessions are returned too (`expires_at` tells): a cookie whose
/// session expired must not be taken for one never written.
pub async fn find_with_draft(
    db: &Db,
    id_hash: &str,
    procedure: &str,
) -> StoreResult<Option<(Session, Option<Draft>)>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT s.id_hash, s.csrf_token, s.data, s.expires_at, s.citizen_id, d.answers, d.files, d.validated, d.submit_token \
             FROM sessions s LEFT JOIN drafts d ON d.session_hash = ({DRAFT_KEY_SQL}) AND d.procedure_code = $2 \
             WHERE s.id_hash = $1"
        )
    });
    let row: Option<SessionDraftRow> = db_run!(db, p => {
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
        .bind(id_hash).bind(procedure).fetch_optional(p).await?
    });
    Ok(row.map(|r| {
        let draft = match (r.answers, r.files, r.validated, r.submit_token) {
            (Some(answers), Some(files), Some(validated), Some(submit_token)) => Some(Draft {
                answers: serde_json::from_str(&answers).unwrap_or_default(),
                files: serde_json::from_str(&files).unwrap_or_default(),
                validated: validated != 0,
                submit_token,
            }),
            _ => None,
        };
        (
            session_of(r.id_hash, r.csrf_token, &r.data, r.expires_at, r.citizen_id),
            draft,
        )
    }))
}

/// What the confirmation page shows of a dossier just filed.
#[derive(Debug, Clone)]
pub struct Filed {
    pub code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub applicant_email: String,
    pub submitted_at: i64,
    pub expected_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SessionFiledRow {
    id_hash: String,
    csrf_token: String,
    data: String,
    expires_at: i64,
    citizen_id: Option<i64>,
    code: Option<String>,
    procedure_code: Option<String>,
    agency_code: Option<String>,
    applicant_email: Option<String>,
    submitted_at: Option<i64>,
    expected_at: Option<i64>,
}

/// A live session and the dossier `code`, in one query (for the confirmation page, shown only to
/// the session that filed the dossier: the caller checks [`SessionData::submitted`]).
pub async fn find_with_filed(
    db: &Db,
    id_hash: &str,
    now: i64,
    code: &str,
) -> StoreResult<Option<(Session, Option<Filed>)>> {
    let row: Option<SessionFiledRow> = db_run!(db, p => {
        sqlx::query_as(
            "SELECT s.id_hash, s.csrf_token, s.data, s.expires_at, s.citizen_id, d.code, d.procedure_code, d.agency_code,              d.applicant_email, d.submitted_at, d.expected_at              FROM sessions s LEFT JOIN dossiers d ON d.code = $3              WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash).bind(now).bind(code).fetch_optional(p).await?
    });
    Ok(row.map(|r| {
        let filed = match (
            r.code,
            r.procedure_code,
            r.agency_code,
            r.applicant_email,
            r.submitted_at,
        ) {
            (
                Some(code),
                Some(procedure_code),
                Some(agency_code),
                Some(applicant_email),
                Some(submitted_at),
            ) => Some(Filed {
                code,
                procedure_code,
                agency_code,
                applicant_email,
                submitted_at,
                expected_at: r.expected_at,
            }),
            _ => None,
        };
        (
            session_of(r.id_hash, r.csrf_token, &r.data, r.expires_at, r.citizen_id),
            filed,
        )
    }))
}

/// Slides the idle expiry forward (citizen sessions only: a back-office session keeps the fixed
/// end set at login, even when the official browses the citizen pages with it).
pub async fn touch(db: &Db, id_hash: &str, now: i64, expires_at: i64) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1 AND staff_id IS NULL")
            .bind(id_hash).bind(now).bind(expires_at).execute(p).await?;
    });
    Ok(())
}

pub async fn save_data(db: &Db, id_hash: &str, data: &SessionData) -> StoreResult<()> {
    let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    db_run!(db, p => {
        sqlx::query("UPDATE sessions SET data = $2 WHERE id_hash = $1").bind(id_hash).bind(json).execute(p).await?;
    });
    Ok(())
}

/// Deletes expired sessions with their drafts, drafts older than `draft_cutoff`, signed-in
/// citizens' drafts older than `citizen_cutoff`, expired captchas and abandoned sign-ins. Returns the storage keys
/// of files left behind by deleted drafts.
pub async fn purge_expired(
    db: &Db,
    now: i64,
    draft_cutoff: i64,
    citizen_cutoff: i64,
) -> StoreResult<Vec<String>> {
    // A draft goes with its session: once the session is expired (or gone), so is the draft. A
    // signed-in citizen's draft ('citizen:<id>') is the citizen's: it goes after its own time.
    const WHERE: &str = "(session_hash NOT LIKE 'citizen:%' AND (updated_at < $1 OR NOT EXISTS \
         (SELECT 1 FROM sessions s WHERE s.id_hash = drafts.session_hash AND s.expires_at >= $2))) \
         OR (session_hash LIKE 'citizen:%' AND updated_at < $3)";
    static SELECT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT files FROM drafts WHERE {WHERE}"));
    static DELETE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("DELETE FROM drafts WHERE {WHERE}"));
    let drafts: Vec<(String,)> = db_run!(db, p => {
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(SELECT.as_str()))
            .bind(draft_cutoff).bind(now).bind(citizen_cutoff).fetch_all(p).await?;
        sqlx::query(sqlx::AssertSqlSafe(DELETE.as_str()))
            .bind(draft_cutoff).bind(now).bind(citizen_cutoff).execute(p).await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(p).await?;
        sqlx::query("DELETE FROM captchas WHERE expires_at < $1").bind(now).execute(p).await?;
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1").bind(now).execute(p).await?;
        rows
    });
    let mut keys = Vec::new();
    for (files,) in drafts {
        if let Ok(map) = serde_json::from_str::<BTreeMap<String, DraftFile>>(&files) {
            keys.extend(map.into_values().map(|f| f.storage_key));
        }
    }
    Ok(keys)
}

/// A file uploaded while filling the declaration, already stored under a generated key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftFile {
    pub storage_key: String,
    pub file_name: String,
    pub kind: FileKind,
    pub size_bytes: i64,
    pub sha256: String,
}

/// The citizen's declaration in progress, bound to their session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Draft {
    /// Raw answers as typed (kept even when invalid, so nothing typed is lost).
    pub answers: Answers,
    /// File field name → stored file.
    pub files: BTreeMap<String, DraftFile>,
    /// True once every answer passed validation (the review page may be shown).
    pub validated: bool,
    /// Idempotency key of the final submission; a resent POST with it never makes a second dossier.
    pub submit_token: String,
}

const UPSERT_DRAFT: &str = "INSERT INTO drafts (session_hash, procedure_code, answers, files, validated, submit_token, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (session_hash, procedure_code) DO UPDATE SET answers = excluded.answers, files = excluded.files, \
     validated = excluded.validated, submit_token = excluded.submit_token, updated_at = excluded.updated_at";

/// The session row of a session not yet written ($1 its hash, $8 its CSRF token, $7 now, $9 its
/// expiry); never overwrites a row (an expired session keeps its end).
const CREATE_SESSION: &str = "INSERT INTO sessions (id_hash, csrf_token, data, created_at, last_seen_at, expires_at) \
     VALUES ($1, $8, '{}', $7, $7, $9) ON CONFLICT (id_hash) DO NOTHING";

/// Saves the draft of `session`; a session not written yet ([`Session::stored`]) is written with
/// it, atomically (PostgreSQL: one statement; SQLite: one command).
pub async fn save_draft(
    db: &Db,
    session: &Session,
    procedure: &str,
    draft: &Draft,
    now: i64,
) -> StoreResult<()> {
    static WITH_SESSION_PG: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("WITH s AS ({CREATE_SESSION}) {UPSERT_DRAFT}"));
    static WITH_SESSION_SQLITE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{CREATE_SESSION};\n{UPSERT_DRAFT};"));
    let answers =
        serde_json::to_string(&draft.answers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let files =
        serde_json::to_string(&draft.files).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql: &str = match (session.stored, db) {
        (true, _) => UPSERT_DRAFT,
        (false, Db::Postgres(_)) => WITH_SESSION_PG.as_str(),
        (false, Db::Sqlite(_)) => WITH_SESSION_SQLITE.as_str(),
    };
    db_run!(db, p => {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session.draft_key()).bind(procedure).bind(answers).bind(files).bind(i64::from(draft.validated))
            .bind(&draft.submit_token).bind(now);
        let q = if session.stored { q } else { q.bind(&session.csrf_token).bind(session.expires_at) };
        q.execute(p).await?;
    });
    Ok(())
}

/// The portal's secret for signing session cookies and deriving CSRF tokens: made once, kept in
/// the database so that every node and every restart uses the same one.
pub async fn server_key(db: &Db, fresh: &str) -> StoreResult<String> {
    let (key,): (String,) = db_run!(db, p => {
        sqlx::query("INSERT INTO meta (key, value) VALUES ('session_key', $1) ON CONFLICT (key) DO NOTHING")
            .bind(fresh).execute(p).await?;
        sqlx::query_as("SELECT value FROM meta WHERE key = 'session_key'").fetch_one(p).await?
    });
    Ok(key)
}

/// A verification-code challenge, bound to one session and usable once.
pub async fn create_captcha(
    db: &Db,
    id: &str,
    session_hash: &str,
    answer: &str,
    kind: &str,
    expires_at: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO captchas (id, session_hash, answer, kind, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id).bind(session_hash).bind(answer).bind(kind).bind(expires_at).execute(p).await?;
    });
    Ok(())
}

/// The answer of a live challenge of this session, for drawing its picture.
pub async fn captcha_answer(
    db: &Db,
    id: &str,
    session_hash: &str,
    now: i64,
) -> StoreResult<Option<(String, String)>> {
    if !super::storable_key(id) {
        return Ok(None);
    }
    let row: Option<(String, String)> = db_run!(db, p => {
        sqlx::query_as("SELECT answer, kind FROM captchas WHERE id = $1 AND session_hash = $2 AND expires_at > $3")
            .bind(id).bind(session_hash).bind(now).fetch_optional(p).await?
    });
    Ok(row)
}

/// Consumes a challenge (whatever the answer): returns its expected answer if it was live.
pub async fn take_captcha(
    db: &Db,
    id: &str,
    session_hash: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    if !super::storable_key(id) {
        return Ok(None);
    }
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("DELETE FROM captchas WHERE id = $1 AND session_hash = $2 AND expires_at > $3 RETURNING answer")
            .bind(id).bind(session_hash).bind(now).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

pub async fn delete_draft(db: &Db, session_hash: &str, procedure: &str) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("DELETE FROM drafts WHERE session_hash = $1 AND procedure_code = $2").bind(session_hash).bind(procedure).execute(p).await?;
    });
    Ok(())
}
