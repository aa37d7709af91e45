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
    Created(String),
    /// The same idempotency key was already used: the existing dossier's code.
    Existing(String),
}

impl SubmitOutcome {
    pub fn code(&self) -> &str {
        match self {
            SubmitOutcome::Created(c) | SubmitOutcome::Existing(c) => c,
        }
    }
}

/// Files a dossier: allocates the next code of the agency for the day, stores the dossier, its
/// attachments, the first timeline event and the confirmation e-mail, all in one transaction.
/// `mail` receives the allocated code and returns the e-mail to enqueue.
pub async fn submit(
    db: &Db,
    new: &NewDossier,
    mail: impl Fn(&str) -> NewMail,
) -> StoreResult<SubmitOutcome> {
    match submit_once(db, new, &mail).await {
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
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT code FROM dossiers WHERE idempotency_key = $1").bind(key).fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}

async fn submit_once(
    db: &Db,
    new: &NewDossier,
    mail: &impl Fn(&str) -> NewMail,
) -> StoreResult<SubmitOutcome> {
    let answers =
        serde_json::to_string(&new.answers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let day = new.receipt_date.strftime("%y%m%d").to_string();
    let status = DossierStatus::Submitted.as_str();
    db_tx!(db, tx => {
        let existing: Option<(String,)> = sqlx::query_as("SELECT code FROM dossiers WHERE idempotency_key = $1")
            .bind(&new.idempotency_key).fetch_optional(&mut *tx).await?;
        if let Some((code,)) = existing {
            tx.commit().await?;
            return Ok(SubmitOutcome::Existing(code));
        }
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO dossier_sequences (agency_code, day, last_seq) VALUES ($1, $2, 1) \
             ON CONFLICT (agency_code, day) DO UPDATE SET last_seq = dossier_sequences.last_seq + 1 RETURNING last_seq",
        )
        .bind(new.agency.as_str()).bind(&day).fetch_one(&mut *tx).await?;
        let seq = u16::try_from(seq).map_err(|_| StoreError::Conflict("hết số thứ tự hồ sơ trong ngày".into()))?;
        let code = DossierCode::new(new.agency.clone(), new.receipt_date, seq)
            .map_err(|e| StoreError::Conflict(e.to_string()))?
            .to_string();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, applicant_email, applicant_phone, \
             applicant_id_number, answers, channel, secret_hash, idempotency_key, submitted_at, expected_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 2, $10, $11, $12, $13, $12) RETURNING id",
        )
        .bind(&code).bind(&new.procedure_code).bind(new.agency.as_str()).bind(status)
        .bind(&new.applicant_name).bind(&new.applicant_email).bind(&new.applicant_phone).bind(&new.applicant_id_number)
        .bind(&answers).bind(&new.secret_hash).bind(&new.idempotency_key).bind(new.submitted_at).bind(new.expected_at)
        .fetch_one(&mut *tx).await?;
        for a in &new.attachments {
            sqlx::query(
                "INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id).bind(&a.field_name).bind(&a.document_id).bind(&a.storage_key).bind(&a.file_name)
            .bind(&a.content_type).bind(a.size_bytes).bind(&a.sha256).bind(new.submitted_at)
            .execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note) VALUES ($1, $2, 'citizen', 'submit', NULL, $3, $4)",
        )
        .bind(id).bind(new.submitted_at).bind(status).bind("Công dân nộp hồ sơ trực tuyến.")
        .execute(&mut *tx).await?;
        let m = mail(&code);
        let message_id = format!("<{}.{}@dichvucong>", code, m.kind);
        sqlx::query(
            "INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&m.kind).bind(id).bind(&m.recipient).bind(&m.subject).bind(&m.body_text).bind(&message_id).bind(new.submitted_at)
        .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(SubmitOutcome::Created(code))
    })
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
     applicant_id_number, answers, submitted_at, received_at, expected_at, due_at, updated_at";

pub async fn find_by_code(db: &Db, code: &str) -> StoreResult<Option<DossierRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE code = $1")
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(code).fetch_optional(p).await?
    });
    Ok(row)
}

pub async fn find_by_secret(db: &Db, secret_hash: &str) -> StoreResult<Option<DossierRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE secret_hash = $1")
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(secret_hash).fetch_optional(p).await?
    });
    Ok(row)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub public_note: Option<String>,
}

pub async fn events(db: &Db, dossier_id: i64) -> StoreResult<Vec<EventRow>> {
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, EventRow>("SELECT at, actor, action, from_status, to_status, public_note FROM dossier_events WHERE dossier_id = $1 ORDER BY id")
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
