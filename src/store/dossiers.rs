//! Dossiers, their attachments and their timeline (the audit trail of every state change).

use super::{Db, StoreError, StoreResult, is_unique_violation};
use crate::{db_run, db_tx};
use dvc_domain::agency::AgencyCode;
use dvc_domain::dossier::{DossierCode, DossierStatus};
use dvc_domain::form::Answers;

/// Everything needed to file a new dossier, already validated.
#[derive(Debug, Clone)]
pub struct NewDossier {
    pub procedure_code: String,
    pub agency: AgencyCode,
    pub applicant_name: String,
    pub applicant_email: String,
    pub applicant_phone: String,
    pub applicant_id_number: String,
    pub answers: Answers,
    pub attachments: Vec<NewAttachment>,
    /// SHA-256 (hex) of the secret access token sent by e-mail.
    pub secret_hash: String,
    pub idempotency_key: String,
    pub submitted_at: i64,
    /// Local date of receipt (Asia/Ho_Chi_Minh), for the code.
    pub receipt_date: jiff::civil::Date,
    pub expected_at: Option<i64>,
}

/// The session a dossier is filed from: in the filing transaction its draft of the procedure is
/// deleted and the code is added to its data, so that filing costs one commit, not three.
#[derive(Debug, Clone)]
pub struct FiledFrom {
    pub session_hash: String,
    pub data: super::sessions::SessionData,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub field_name: String,
    pub document_id: Option<String>,
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
}

/// An e-mail to enqueue in the same transaction as the business write.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// A new dossier: its code, and the id of its confirmation e-mail in the outbox where the
    /// backend reports it (PostgreSQL), for the mail worker to claim it directly.
    Created(String, Option<i64>),
    /// The same idempotency key was already used: the existing dossier's code.
    Existing(String),
}

impl SubmitOutcome {
    pub fn code(&self) -> &str {
        match self {
            SubmitOutcome::Created(c, _) | SubmitOutcome::Existing(c) => c,
        }
    }
}

/// Files a dossier: allocates the next code of the agency for the day, stores the dossier, its
/// attachments, the first timeline event and the confirmation e-mail, and (with `from`) clears
/// the session's draft and remembers the code in the session, all atomically. `mail` receives
/// the allocated code and returns the e-mail to enqueue.
///
/// With `seq_db` (the light pool) on PostgreSQL, the day's sequence number is taken in its own
/// short statement before the filing transaction, instead of inside it: the sequence row is then
/// locked for microseconds rather than until the filing commits (an fsync), so concurrent filings
/// commit together instead of one after another. Numbers stay unique and increasing; a filing
/// that fails after taking its number leaves that number unused. (A number whose increment was
/// lost in a database crash was never used by a durable dossier: the dossier's own commit flushes
/// the increment before it.) SQLite has one writer at a time anyway and keeps it in the
/// transaction.
pub async fn submit_from(
    db: &Db,
    seq_db: Option<&Db>,
    new: &NewDossier,
    mail: impl Fn(&str) -> NewMail,
    from: Option<&FiledFrom>,
) -> StoreResult<SubmitOutcome> {
    match submit_once(db, seq_db, new, &mail, from).await {
        Err(StoreError::Sqlx(e)) if is_unique_violation(&e) => {
            // A concurrent request with the same idempotency key won the race.
            match find_code_by_idempotency(db, &new.idempotency_key).await? {
                Some(code) => Ok(SubmitOutcome::Existing(code)),
                None => Err(StoreError::Sqlx(e)),
            }
        }
        other => other,
    }
}

async fn find_code_by_idempotency(db: &Db, key: &str) -> StoreResult<Option<String>> {
    if !super::storable_key(key) {
        return Ok(None);
    }
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT code FROM dossiers WHERE idempotency_key = $1").bind(key).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

const NEXT_SEQ: &str = "INSERT INTO dossier_sequences (agency_code, day, last_seq) VALUES ($1, $2, 1) \
     ON CONFLICT (agency_code, day) DO UPDATE SET last_seq = dossier_sequences.last_seq + 1 RETURNING last_seq";

async fn submit_once(
    db: &Db,
    seq_db: Option<&Db>,
    new: &NewDossier,
    mail: &impl Fn(&str) -> NewMail,
    from: Option<&FiledFrom>,
) -> StoreResult<SubmitOutcome> {
    let answers =
        serde_json::to_string(&new.answers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let day = new.receipt_date.strftime("%y%m%d").to_string();
    let status = DossierStatus::Submitted.as_str();
    // A key already used makes the dossier INSERT fail on its unique index; [`submit_from`]
    // then answers with the existing dossier.
    let pool = match db {
        Db::Postgres(pool) => {
            let seq_pool = match seq_db {
                Some(Db::Postgres(light)) => light,
                _ => pool,
            };
            let (seq,): (i64,) = sqlx::query_as(NEXT_SEQ)
                .bind(new.agency.as_str())
                .bind(&day)
                .fetch_one(seq_pool)
                .await?;
            return file_pg(pool, new, seq, &answers, mail, from).await;
        }
        Db::Sqlite(pool) => pool,
    };
    // SQLite: one writer at a time, so the number is taken inside the filing transaction (no
    // gaps). Everything after it goes to SQLite as one multi-statement command: each command is
    // a round trip to the connection's worker thread.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (seq,): (i64,) = sqlx::query_as(NEXT_SEQ)
        .bind(new.agency.as_str())
        .bind(&day)
        .fetch_one(&mut *tx)
        .await?;
    let f = Filing::new(new, seq, mail, from)?;
    let mut sql = String::from(FILE_SQLITE);
    for i in 0..new.attachments.len() {
        let b = 24 + 7 * i;
        sql.push_str(&format!(
            "INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, \
             size_bytes, sha256, created_at) VALUES ((SELECT id FROM dossiers WHERE code = $1), ${}, ${}, ${}, ${}, ${}, ${}, ${}, $12);\n",
            b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6
        ));
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&f.code)
        .bind(&new.procedure_code)
        .bind(new.agency.as_str())
        .bind(status)
        .bind(&new.applicant_name)
        .bind(&new.applicant_email)
        .bind(&new.applicant_phone)
        .bind(&new.applicant_id_number)
        .bind(&answers)
        .bind(&new.secret_hash)
        .bind(&new.idempotency_key)
        .bind(new.submitted_at)
        .bind(new.expected_at)
        .bind("")
        .bind(SUBMIT_NOTE)
        .bind(&f.mail.kind)
        .bind(&f.mail.recipient)
        .bind(&f.mail.subject)
        .bind(&f.mail.body_text)
        .bind(&f.message_id)
        .bind(&f.session_hash)
        .bind(&f.session_data)
        .bind(f.update_session);
    for a in &new.attachments {
        q = q
            .bind(&a.field_name)
            .bind(&a.document_id)
            .bind(&a.storage_key)
            .bind(&a.file_name)
            .bind(&a.content_type)
            .bind(a.size_bytes)
            .bind(&a.sha256);
    }
    q.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(SubmitOutcome::Created(f.code, None))
}

const SUBMIT_NOTE: &str = "Công dân nộp hồ sơ trực tuyến.";

/// SQLite: the filing after the number, as one command (binds as in [`FILE_PG`]; `$14` unused;
/// one attachments statement per file is appended).
const FILE_SQLITE: &str = "INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, \
    applicant_email, applicant_phone, applicant_id_number, answers, channel, secret_hash, idempotency_key, submitted_at, \
    expected_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 2, $10, $11, $12, $13, $12);
INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note, step) \
    VALUES ((SELECT id FROM dossiers WHERE code = $1), $12, 'citizen', 'submit', NULL, $4, $15, 0);
INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) \
    VALUES ($16, (SELECT id FROM dossiers WHERE code = $1), $17, $18, $19, $20, $12, $12);
DELETE FROM drafts WHERE session_hash = $21 AND procedure_code = $2;
UPDATE sessions SET data = $22 WHERE id_hash = $21 AND $23;
";

/// What a filing writes besides the dossier's own columns: its code, its e-mail, and the
/// session update (`session_hash` empty when not filed from a session).
struct Filing {
    code: String,
    mail: NewMail,
    message_id: String,
    session_hash: String,
    session_data: String,
    update_session: bool,
}

impl Filing {
    fn new(
        new: &NewDossier,
        seq: i64,
        mail: &impl Fn(&str) -> NewMail,
        from: Option<&FiledFrom>,
    ) -> StoreResult<Filing> {
        let seq = u16::try_from(seq)
            .map_err(|_| StoreError::Conflict("hết số thứ tự hồ sơ trong ngày".into()))?;
        let code = DossierCode::new(new.agency.clone(), new.receipt_date, seq)
            .map_err(|e| StoreError::Conflict(e.to_string()))?
            .to_string();
        let mail = mail(&code);
        let message_id = format!("<{}.{}@dichvucong>", code, mail.kind);
        let (session_hash, session_data, update_session) = match from {
            Some(f) => {
                let mut data = f.data.clone();
                let changed = data.remember(&code);
                let json =
                    serde_json::to_string(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                (f.session_hash.clone(), json, changed)
            }
            None => (String::new(), String::new(), false),
        };
        Ok(Filing {
            code,
            mail,
            message_id,
            session_hash,
            session_data,
            update_session,
        })
    }
}

/// PostgreSQL: the whole filing — dossier, attachments, first event, e-mail, draft deletion,
/// session update — as one statement (atomic on its own), one round trip instead of eight.
const FILE_PG: &str = "WITH d AS (INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, \
    applicant_email, applicant_phone, applicant_id_number, answers, channel, secret_hash, idempotency_key, submitted_at, \
    expected_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 2, $10, $11, $12, $13, $12) RETURNING id), \
  a AS (INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, size_bytes, \
    sha256, created_at) SELECT d.id, x.field_name, x.document_id, x.storage_key, x.file_name, x.content_type, x.size_bytes, \
    x.sha256, $12 FROM d, jsonb_to_recordset($14::jsonb) AS x(field_name text, document_id text, storage_key text, \
    file_name text, content_type text, size_bytes bigint, sha256 text)), \
  e AS (INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note, step) \
    SELECT d.id, $12, 'citizen', 'submit', NULL, $4, $15, 0 FROM d), \
  o AS (INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) \
    SELECT $16, d.id, $17, $18, $19, $20, $12, $12 FROM d RETURNING id), \
  r AS (DELETE FROM drafts WHERE session_hash = $21 AND procedure_code = $2), \
  s AS (UPDATE sessions SET data = $22 WHERE id_hash = $21 AND $23) \
  SELECT id FROM o";

async fn file_pg(
    pool: &super::lean::LeanDb<sqlx::Postgres>,
    new: &NewDossier,
    seq: i64,
    answers: &str,
    mail: &impl Fn(&str) -> NewMail,
    from: Option<&FiledFrom>,
) -> StoreResult<SubmitOutcome> {
    let f = Filing::new(new, seq, mail, from)?;
    let attachments: Vec<serde_json::Value> = new
        .attachments
        .iter()
        .map(|a| {
            serde_json::json!({
                "field_name": a.field_name, "document_id": a.document_id, "storage_key": a.storage_key,
                "file_name": a.file_name, "content_type": a.content_type, "size_bytes": a.size_bytes,
                "sha256": a.sha256,
            })
        })
        .collect();
    let attachments =
        serde_json::to_string(&attachments).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let status = DossierStatus::Submitted.as_str();
    let (mail_id,): (i64,) = sqlx::query_as(FILE_PG)
        .bind(&f.code)
        .bind(&new.procedure_code)
        .bind(new.agency.as_str())
        .bind(status)
        .bind(&new.applicant_name)
        .bind(&new.applicant_email)
        .bind(&new.applicant_phone)
        .bind(&new.applicant_id_number)
        .bind(answers)
        .bind(&new.secret_hash)
        .bind(&new.idempotency_key)
        .bind(new.submitted_at)
        .bind(new.expected_at)
        .bind(attachments)
        .bind(SUBMIT_NOTE)
        .bind(&f.mail.kind)
        .bind(&f.mail.recipient)
        .bind(&f.mail.subject)
        .bind(&f.mail.body_text)
        .bind(&f.message_id)
        .bind(&f.session_hash)
        .bind(&f.session_data)
        .bind(f.update_session)
        .fetch_one(pool)
        .await?;
    Ok(SubmitOutcome::Created(f.code, Some(mail_id)))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DossierRow {
    pub id: i64,
    pub code: String,
    pub procedure_code: String,
    pub agency_code: String,
    pub status: String,
    pub applicant_name: String,
    pub applicant_email: String,
    pub applicant_phone: String,
    pub applicant_id_number: String,
    pub answers: String,
    pub submitted_at: i64,
    pub received_at: Option<i64>,
    pub expected_at: Option<i64>,
    pub due_at: Option<i64>,
    pub updated_at: i64,
    pub step: i64,
    pub step_started_at: Option<i64>,
    pub assignee_id: Option<i64>,
    pub unit: Option<String>,
    pub supplement_count: i64,
    pub paused_at: Option<i64>,
    pub resume_status: Option<String>,
    pub finished_at: Option<i64>,
    pub result_key: Option<String>,
    pub result_name: Option<String>,
}

impl DossierRow {
    pub fn status(&self) -> DossierStatus {
        DossierStatus::parse(&self.status).unwrap_or(DossierStatus::Submitted)
    }
    pub fn answers(&self) -> Answers {
        serde_json::from_str(&self.answers).unwrap_or_default()
    }
}

const DOSSIER_COLUMNS: &str = "id, code, procedure_code, agency_code, status, applicant_name, applicant_email, applicant_phone, \
     applicant_id_number, answers, submitted_at, received_at, expected_at, due_at, updated_at, step, step_started_at, assignee_id, unit, \
     supplement_count, paused_at, resume_status, finished_at, result_key, result_name";

pub async fn find_by_code(db: &Db, code: &str) -> StoreResult<Option<DossierRow>> {
    if !super::storable_key(code) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE code = $1")
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(code).fetch_optional(p).await?
    });
    Ok(row)
}

/// A dossier as the public lookup shows it: the row, its events and the name and title of the
/// official handling it, read in one statement (one round trip to the database instead of
/// three: a lookup is the most frequent request the portal answers).
#[derive(Debug, Clone)]
pub struct PublicDossier {
    pub row: DossierRow,
    pub events: Vec<EventRow>,
    /// (name, title) of the assignee, if any.
    pub handler: Option<(String, String)>,
}

#[derive(sqlx::FromRow)]
struct PublicDossierRow {
    #[sqlx(flatten)]
    row: DossierRow,
    events_json: String,
    handler_name: Option<String>,
    handler_title: Option<String>,
}

pub async fn find_public(db: &Db, code: &str) -> StoreResult<Option<PublicDossier>> {
    if !super::storable_key(code) {
        return Ok(None);
    }
    const EVENT: &str = "id, at, actor, action, from_status, to_status, public_note, step, actor_name, actor_title, unit, details";
    // Only the events' aggregate differs between the two dialects.
    fn sql(events: &str) -> String {
        format!(
            "SELECT {DOSSIER_COLUMNS}, {events} AS events_json, \
             (SELECT name FROM staff s WHERE s.id = d.assignee_id) AS handler_name, \
             (SELECT title FROM staff s WHERE s.id = d.assignee_id) AS handler_title \
             FROM dossiers d WHERE code = $1"
        )
    }
    static SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        sql(&format!(
            "(SELECT json_group_array(json_array({EVENT}) ORDER BY id) FROM dossier_events e WHERE e.dossier_id = d.id)"
        ))
    });
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        sql(&format!(
            "COALESCE((SELECT json_agg(json_build_array({EVENT}) ORDER BY id) FROM dossier_events e WHERE e.dossier_id = d.id), '[]')::text"
        ))
    });
    let sql = match db {
        Db::Sqlite(_) => SQLITE.as_str(),
        Db::Postgres(_) => POSTGRES.as_str(),
    };
    let found = db_run!(db, p => {
        sqlx::query_as::<_, PublicDossierRow>(sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(p).await?
    });
    let Some(found) = found else {
        return Ok(None);
    };
    // Arrays in `EventRow`'s field order: serde reads a struct from a sequence.
    let events: Vec<EventRow> = serde_json::from_str(&found.events_json)
        .map_err(|e| StoreError::Corrupt(format!("dossier_events: {e}")))?;
    let handler = found
        .handler_name
        .map(|n| (n, found.handler_title.unwrap_or_default()));
    Ok(Some(PublicDossier {
        row: found.row,
        events,
        handler,
    }))
}

pub async fn find_by_secret(db: &Db, secret_hash: &str) -> StoreResult<Option<DossierRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE secret_hash = $1 OR id = (SELECT dossier_id FROM access_links WHERE token_hash = $1)"
        )
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(secret_hash).fetch_optional(p).await?
    });
    Ok(row)
}

/// Also read from a JSON array in this field order (`find_public`'s aggregate).
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub public_note: Option<String>,
    pub step: Option<i64>,
    pub actor_name: Option<String>,
    pub actor_title: Option<String>,
    pub unit: Option<String>,
    pub details: Option<String>,
}

pub async fn events(db: &Db, dossier_id: i64) -> StoreResult<Vec<EventRow>> {
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, EventRow>("SELECT id, at, actor, action, from_status, to_status, public_note, step, actor_name, actor_title, unit, details FROM dossier_events WHERE dossier_id = $1 ORDER BY id")
            .bind(dossier_id).fetch_all(p).await?
    });
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub field_name: String,
    pub document_id: Option<String>,
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
}

pub async fn attachments(db: &Db, dossier_id: i64) -> StoreResult<Vec<AttachmentRow>> {
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, AttachmentRow>(
            "SELECT id, field_name, document_id, storage_key, file_name, content_type, size_bytes FROM attachments WHERE dossier_id = $1 ORDER BY id",
        )
        .bind(dossier_id).fetch_all(p).await?
    });
    Ok(rows)
}

pub async fn count(db: &Db) -> StoreResult<i64> {
    let (n,): (i64,) =
        db_run!(db, p => { sqlx::query_as("SELECT COUNT(*) FROM dossiers").fetch_one(p).await? });
    Ok(n)
}

/// The code of the dossier filed with this idempotency key, if any.
pub async fn find_by_idempotency(db: &Db, key: &str) -> StoreResult<Option<String>> {
    find_code_by_idempotency(db, key).await
}

/// Who did something, for the timeline and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// E-mail of an official, or `citizen`.
    pub id: String,
    pub name: Option<String>,
    pub title: Option<String>,
    pub ip: String,
}

/// A state change: the dossier as it was (for the optimistic check), as it will be, and what to
/// record with it. Applied in one transaction with its timeline event, audit entry and e-mail.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: &'static str,
    pub actor: Actor,
    pub at: i64,
    pub public_note: Option<String>,
    /// Reason recorded in the audit log.
    pub reason: Option<String>,
    /// Structured details of the event (JSON), e.g. the missing documents or the new due date.
    pub details: Option<serde_json::Value>,
    pub mail: Option<NewMail>,
}

/// Applies `change`, moving `old` to `new`. Fails with `Conflict` when someone else changed the
/// dossier since it was read. Returns the new event's id.
pub async fn apply(
    db: &Db,
    old: &DossierRow,
    new: &DossierRow,
    change: &Change,
) -> StoreResult<i64> {
    let is_pg = matches!(db, Db::Postgres(_));
    let details = change.details.as_ref().map(|d| d.to_string());
    let event_id = db_tx!(db, tx => {
        let r = sqlx::query(
            "UPDATE dossiers SET status = $3, step = $4, step_started_at = $5, assignee_id = $6, unit = $7, supplement_count = $8, \
             paused_at = $9, resume_status = $10, received_at = $11, due_at = $12, finished_at = $13, result_key = $14, result_name = $15, \
             updated_at = $16 WHERE id = $1 AND updated_at = $2 AND status = $17",
        )
        .bind(old.id).bind(old.updated_at).bind(&new.status).bind(new.step).bind(new.step_started_at).bind(new.assignee_id)
        .bind(&new.unit).bind(new.supplement_count).bind(new.paused_at).bind(&new.resume_status).bind(new.received_at)
        .bind(new.due_at).bind(new.finished_at).bind(&new.result_key).bind(&new.result_name).bind(change.at.max(old.updated_at + 1))
        .bind(&old.status)
        .execute(&mut *tx).await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::Conflict("Hồ sơ vừa được người khác cập nhật. Hãy tải lại trang và thực hiện lại.".into()));
        }
        let (event_id,): (i64,) = sqlx::query_as(
            "INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note, step, actor_name, actor_title, unit, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(old.id).bind(change.at).bind(&change.actor.id).bind(change.action).bind(&old.status).bind(&new.status)
        .bind(&change.public_note).bind(new.step).bind(&change.actor.name).bind(&change.actor.title).bind(&new.unit).bind(&details)
        .fetch_one(&mut *tx).await?;
        crate::audit_append!(tx, is_pg, dvc_domain::audit::Entry {
            seq: 0,
            at: change.at,
            actor: change.actor.id.clone(),
            ip: change.actor.ip.clone(),
            action: change.action.to_string(),
            subject: old.code.clone(),
            from_state: Some(old.status.clone()),
            to_state: Some(new.status.clone()),
            reason: change.reason.clone(),
        });
        if let Some(m) = &change.mail {
            let message_id = format!("<{}.{}.{}@dichvucong>", old.code, m.kind, event_id);
            sqlx::query(
                "INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&m.kind).bind(old.id).bind(&m.recipient).bind(&m.subject).bind(&m.body_text).bind(&message_id).bind(change.at)
            .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        event_id
    });
    Ok(event_id)
}

/// A page of a back-office queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Filed online, not yet received.
    ToReceive,
    /// Assigned to this official.
    Mine(i64),
    /// Open, due within `hours`.
    DueSoon,
    /// Open and past due.
    Late,
    /// Waiting for the citizen.
    AwaitingSupplement,
    /// Every open dossier.
    AllOpen,
}

/// Open dossiers of `agencies` in `queue`, soonest due first; `search` matches the code, the
/// applicant's name (folded) or ID number.
pub async fn queue(
    db: &Db,
    agencies: &[String],
    queue: Queue,
    search: Option<&str>,
    now: i64,
    limit: usize,
) -> StoreResult<Vec<DossierRow>> {
    if agencies.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..agencies.len()).map(|i| format!("${}", i + 1)).collect();
    let open = "status NOT IN ('done', 'refused', 'stopped', 'withdrawn')";
    let cond = match queue {
        Queue::ToReceive => "status = 'submitted'".to_string(),
        Queue::Mine(_) => format!("{open} AND assignee_id = ${}", agencies.len() + 1),
        Queue::DueSoon => format!(
            "{open} AND status <> 'awaiting_supplement' AND due_at IS NOT NULL AND due_at >= ${} AND due_at < ${}",
            agencies.len() + 1,
            agencies.len() + 2
        ),
        Queue::Late => format!(
            "{open} AND status <> 'awaiting_supplement' AND due_at IS NOT NULL AND due_at < ${}",
            agencies.len() + 1
        ),
        Queue::AwaitingSupplement => "status = 'awaiting_supplement'".to_string(),
        Queue::AllOpen => open.to_string(),
    };
    let sql = format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE agency_code IN ({}) AND {cond} ORDER BY COALESCE(due_at, expected_at, submitted_at), id LIMIT 2000",
        placeholders.join(", ")
    );
    let rows: Vec<DossierRow> = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(sql.clone()));
        for a in agencies {
            q = q.bind(a);
        }
        q = match queue {
            Queue::Mine(id) => q.bind(id),
            Queue::DueSoon => q.bind(now).bind(now + 2 * 86_400_000),
            Queue::Late => q.bind(now),
            _ => q,
        };
        q.fetch_all(p).await?
    });
    let needle = search.map(dvc_domain::text::fold).filter(|s| !s.is_empty());
    Ok(rows
        .into_iter()
        .filter(|r| match &needle {
            None => true,
            Some(n) => {
                dvc_domain::text::fold(&r.code).contains(n.as_str())
                    || dvc_domain::text::matches_all_words(
                        &dvc_domain::text::fold(&r.applicant_name),
                        n,
                    )
                    || r.applicant_id_number.contains(n.as_str())
            }
        })
        .take(limit)
        .collect())
}

/// Stores the result document of a dossier (before the "return result" transition).
pub async fn attachment_by_id(
    db: &Db,
    dossier_id: i64,
    id: i64,
) -> StoreResult<Option<AttachmentRow>> {
    Ok(attachments(db, dossier_id)
        .await?
        .into_iter()
        .find(|a| a.id == id))
}

/// Adds attachments (a citizen's supplement) in one transaction.
pub async fn add_attachments(
    db: &Db,
    dossier_id: i64,
    files: &[NewAttachment],
    now: i64,
) -> StoreResult<()> {
    db_tx!(db, tx => {
        for a in files {
            sqlx::query(
                "INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(dossier_id).bind(&a.field_name).bind(&a.document_id).bind(&a.storage_key).bind(&a.file_name)
            .bind(&a.content_type).bind(a.size_bytes).bind(&a.sha256).bind(now)
            .execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Adds a secret link to a dossier's private page (its SHA-256 only).
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
