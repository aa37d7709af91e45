//! Dossiers, their attachments and their timeline (the audit trail of every state change).

use super::{Db, StoreError, StoreResult, is_unique_violation};
use crate::db_run;
use dvc_domain::agency::AgencyCode;
use dvc_domain::audit::{AuditKey, GENESIS, TimelineFields};
use dvc_domain::dossier::{Channel, DossierCode, DossierStatus};
use dvc_domain::form::Answers;
use dvc_domain::outcome::{Delivery, Rating};
use dvc_domain::workflow::{Dossier, Event, EventKind, ResultFile};
use sqlx::{FromRow, Row};

mod save;

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
    /// The version of the procedure's form the answers were checked against.
    pub form_version: i64,
    /// The signed-in citizen filing it (`None`: filed without signing in).
    pub citizen_id: Option<i64>,
    /// The answers taken from the citizen's electronic identity (QĐ 766 indicator 4.3).
    pub reused_fields: Vec<String>,
    /// How the citizen chose to receive the result.
    pub delivery: Delivery,
    /// How the dossier reached the agency.
    pub channel: Channel,
    /// The papers of a dossier handed in at the desk or by post were scanned and attached.
    pub digitised: bool,
    /// A fee is due at filing and payable online: filed as "Chờ thanh toán".
    pub awaiting_payment: bool,
    /// The fee (đồng) and how it was computed (JSON of the quote's lines), if any.
    pub fee_vnd: i64,
    pub fee_quote: Option<String>,
    /// `created` when the fee is to be paid online, else `None`.
    pub payment_status: Option<String>,
    /// Who filed it and from where, for the filing's audit entry (written by the filing itself).
    pub filed_by: FiledBy,
    /// Filed through the partner API with an `Idempotency-Key`: the key and the request's hash,
    /// recorded by the filing itself (`api_idempotency`), so that a retry of the same key with
    /// another request is told apart ([`super::partners::idempotency_hash`]).
    pub api_request: Option<ApiRequest>,
}

/// See [`NewDossier::api_request`].
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub partner_id: i64,
    pub key: String,
    pub hash: String,
}

/// The filing's entry in the audit trail: who (`citizen`, an official's e-mail, `partner:<id>`),
/// from which address, and the action (`file`; `api_file` through the partner API).
#[derive(Debug, Clone)]
pub struct FiledBy {
    pub actor: String,
    pub ip: String,
    pub action: &'static str,
}

/// The session a dossier is filed from: in the filing transaction its draft of the procedure is
/// deleted and the code is added to its data, so that filing costs one commit, not three.
#[derive(Debug, Clone)]
pub struct FiledFrom {
    pub session_hash: String,
    /// Whose draft is deleted: the session's, or a signed-in citizen's ([`super::sessions::Session::draft_key`]).
    pub draft_key: String,
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
    /// A new dossier: its code, and the id of its confirmation e-mail in the outbox (if it has
    /// one), for the mail worker to claim it directly.
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
/// the allocated code and returns the e-mail to enqueue, if any (a dossier handed in at the desk
/// without an e-mail address sends none).
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
    key: &AuditKey,
    seq_db: Option<&Db>,
    new: &NewDossier,
    mail: impl Fn(&str) -> Option<NewMail>,
    from: Option<&FiledFrom>,
    follow: Option<&FollowUp<'_>>,
) -> StoreResult<SubmitOutcome> {
    match submit_once(db, key, seq_db, new, &mail, from, follow).await {
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

/// The parameters of a filing, the same for both dialects: `$1`–`$13` the dossier, `$14` the
/// attachments as JSON (PostgreSQL; SQLite binds each file after [`FIRST_ATTACHMENT_BIND`]),
/// `$15` the note, `$16`–`$20` the e-mail, `$21`–`$23` the session, `$24` the first event's hash
/// (also the dossier's timeline head), `$25` the event's details, `$26` the draft's key, `$27` the
/// signed-in citizen, `$28`–`$29` the answers reused from the identity (count, names), `$30` the
/// delivery, `$31` the channel, `$32` digitised, `$33` whether there is an e-mail to enqueue,
/// `$34`–`$35` the statistics day and month ([`super::statistics::filing_sql`]), `$36`–`$38` the fee, `$39` the form version,
/// `$40`–`$43` the audit entry (actor, address, action, MAC; see [`super::audit`]), `$44`–`$46`
/// the partner API's `Idempotency-Key` record (partner, key, request hash; NULL otherwise).
macro_rules! bind_filing {
    ($q:expr, $f:expr, $new:expr, $answers:expr, $attachments:expr) => {
        $q.bind(&$f.code)
            .bind(&$new.procedure_code)
            .bind($new.agency.as_str())
            .bind($f.status.as_str())
            .bind(&$new.applicant_name)
            .bind(&$new.applicant_email)
            .bind(&$new.applicant_phone)
            .bind(&$new.applicant_id_number)
            .bind(&$answers)
            .bind(&$new.secret_hash)
            .bind(&$new.idempotency_key)
            .bind($new.submitted_at)
            .bind(if $new.awaiting_payment {
                None
            } else {
                $new.expected_at
            })
            .bind($attachments)
            .bind(&$f.note)
            .bind(&$f.mail.kind)
            .bind(&$f.mail.recipient)
            .bind(&$f.mail.subject)
            .bind(&$f.mail.body_text)
            .bind(&$f.message_id)
            .bind(&$f.session_hash)
            .bind(&$f.session_data)
            .bind($f.update_session)
            .bind(&$f.event_hash)
            .bind(&$f.details)
            .bind(&$f.draft_key)
            .bind($new.citizen_id)
            .bind(i64::try_from($new.reused_fields.len()).unwrap_or(0))
            .bind($new.reused_fields.join(","))
            .bind($new.delivery.as_str())
            .bind($new.channel.code())
            .bind(i64::from($new.digitised))
            .bind($f.has_mail)
            .bind($f.stat_day)
            .bind($f.stat_month)
            .bind($new.fee_vnd)
            .bind(&$new.payment_status)
            .bind(&$new.fee_quote)
            .bind($new.form_version)
            .bind(&$new.filed_by.actor)
            .bind(&$new.filed_by.ip)
            .bind($new.filed_by.action)
            .bind(&$f.audit_mac)
            .bind($new.api_request.as_ref().map(|r| r.partner_id))
            .bind($new.api_request.as_ref().map(|r| r.key.as_str()))
            .bind($new.api_request.as_ref().map(|r| r.hash.as_str()))
    };
}

async fn submit_once(
    db: &Db,
    key: &AuditKey,
    seq_db: Option<&Db>,
    new: &NewDossier,
    mail: &impl Fn(&str) -> Option<NewMail>,
    from: Option<&FiledFrom>,
    follow: Option<&FollowUp<'_>>,
) -> StoreResult<SubmitOutcome> {
    let answers =
        serde_json::to_string(&new.answers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let day = new.receipt_date.strftime("%y%m%d").to_string();
    // A key already used makes the dossier INSERT fail on its unique index; [`submit_from`]
    // then answers with the existing dossier.
    match db {
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
            let f = Filing::new(key, new, seq, mail, from)?;
            let Some(follow) = follow else {
                let args = file_pg(FILE_PG.as_str(), &f, new, &answers)?;
                let (mail_id,): (Option<i64>,) =
                    sqlx::query_as_with(sqlx::AssertSqlSafe(FILE_PG.as_str()), args)
                        .fetch_one(pool)
                        .await?;
                return Ok(SubmitOutcome::Created(f.code, mail_id));
            };
            // With a follow-up: the filing (returning the new row) and the decision in one
            // transaction on one held connection.
            let mut held = pool.hold().await?;
            let conn = held.conn()?;
            let r = file_pg_with_follow_up(conn, key, &f, new, &answers, follow).await;
            match r {
                Ok(mail_id) => {
                    held.release();
                    Ok(SubmitOutcome::Created(f.code, mail_id))
                }
                Err(e) => {
                    // Closed rather than reused if even the rollback fails.
                    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok() {
                        held.release();
                    }
                    Err(e)
                }
            }
        }
        Db::Sqlite(pool) => {
            let mut held = pool.hold().await?;
            let r = file_sqlite(held.conn()?, key, new, &day, &answers, mail, from, follow).await;
            let (code, mail_id) = finish_sqlite(held, r).await?;
            Ok(SubmitOutcome::Created(code, mail_id))
        }
    }
}

/// SQLite: a held connection after commands that began a transaction and end it with `COMMIT`
/// when they succeed: handed back; after a failure, rolled back first (or closed if that fails
/// below SQL).
async fn finish_sqlite<T>(
    mut held: super::lean::Held<sqlx::Sqlite>,
    r: StoreResult<T>,
) -> StoreResult<T> {
    if r.is_ok() {
        held.release();
        return r;
    }
    let conn = held.conn()?;
    match sqlx::query("ROLLBACK").execute(&mut *conn).await {
        // "No transaction is active" (the failure came before BEGIN took hold): usable too.
        Ok(_) => held.release(),
        Err(e) if super::lean::leaves_connection_usable(&e) => held.release(),
        Err(_) => {}
    }
    r
}

/// SQLite: the filing on `conn`. One writer at a time, so the day's number is taken inside the
/// transaction (no gaps): `BEGIN IMMEDIATE` and the number in one command; the filing in a second
/// one that also commits (each command is a round trip to the connection's worker thread). With
/// a follow-up, the second command also reads the new row back, and the decision's save commits.
#[allow(clippy::too_many_arguments)]
async fn file_sqlite(
    conn: &mut sqlx::SqliteConnection,
    key: &AuditKey,
    new: &NewDossier,
    day: &str,
    answers: &str,
    mail: &impl Fn(&str) -> Option<NewMail>,
    from: Option<&FiledFrom>,
    follow: Option<&FollowUp<'_>>,
) -> StoreResult<(String, Option<i64>)> {
    static BEGIN_SEQ: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("BEGIN IMMEDIATE;\n{NEXT_SEQ}"));
    let rows = sqlx::query(sqlx::AssertSqlSafe(BEGIN_SEQ.as_str()))
        .bind(new.agency.as_str())
        .bind(day)
        .fetch_all(&mut *conn)
        .await?;
    let seq: i64 = rows
        .last()
        .ok_or_else(|| StoreError::Corrupt("no sequence number".into()))?
        .try_get(0)?;
    let f = Filing::new(key, new, seq, mail, from)?;
    let mut sql = FILE_SQLITE.clone();
    for i in 0..new.attachments.len() {
        let b = FIRST_ATTACHMENT_BIND + 7 * i;
        sql.push_str(&format!(
            "INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, \
             size_bytes, sha256, created_at) VALUES ((SELECT id FROM dossiers WHERE code = $1), ${}, ${}, ${}, ${}, ${}, ${}, ${}, $12);\n",
            b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6
        ));
    }
    if follow.is_some() {
        sql.push_str(&format!(
            "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE code = $1;"
        ));
    } else {
        sql.push_str("COMMIT;");
    }
    let mut q = bind_filing!(sqlx::query(sqlx::AssertSqlSafe(sql)), f, new, answers, "");
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
    let rows = q.fetch_all(&mut *conn).await?;
    // The e-mail's `RETURNING id` (one column), then with a follow-up the new row.
    let mail_id = match rows.first() {
        Some(r) if r.columns().len() == 1 => Some(r.try_get::<i64, _>(0)?),
        _ => None,
    };
    let Some(follow) = follow else {
        return Ok((f.code, mail_id));
    };
    let row = rows
        .iter()
        .find(|r| r.columns().len() > 1)
        .ok_or_else(|| StoreError::Corrupt("the new dossier was not read back".into()))?;
    let row = DossierRow::from_row(row)?;
    match follow(&row) {
        Some(owned) => {
            let decision = owned.view();
            let prepared = prepare(key, &row, &decision)?;
            // Its own e-mail, if any, is the mail worker's to find (a follow-up sends none today).
            save::sqlite(conn, false, key, &row, &decision, &prepared).await?;
        }
        None => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
    }
    Ok((f.code, mail_id))
}

/// PostgreSQL: the filing statement `sql` ([`FILE_PG`] or [`FILE_PG_ROW`]) with its arguments.
fn file_pg(
    sql: &'static str,
    f: &Filing,
    new: &NewDossier,
    answers: &str,
) -> StoreResult<sqlx::postgres::PgArguments> {
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
    let q = bind_filing!(
        sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql)),
        f,
        new,
        answers,
        attachments
    );
    let args = sqlx::Execute::take_arguments(&mut { q })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .unwrap_or_default();
    Ok(args)
}

/// PostgreSQL: the filing and its follow-up decision in one transaction on `conn`.
async fn file_pg_with_follow_up(
    conn: &mut sqlx::PgConnection,
    key: &AuditKey,
    f: &Filing,
    new: &NewDossier,
    answers: &str,
    follow: &FollowUp<'_>,
) -> StoreResult<Option<i64>> {
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    let args = file_pg(FILE_PG_ROW.as_str(), f, new, answers)?;
    let row = sqlx::query_with(sqlx::AssertSqlSafe(FILE_PG_ROW.as_str()), args)
        .fetch_one(&mut *conn)
        .await?;
    let mail_id: Option<i64> = row.try_get("mail_id")?;
    let row = DossierRow::from_row(&row)?;
    if let Some(owned) = follow(&row) {
        let decision = owned.view();
        let prepared = prepare(key, &row, &decision)?;
        save::postgres(conn, key, &row, &decision, &prepared).await?;
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(mail_id)
}

const FIRST_ATTACHMENT_BIND: usize = 47;

/// SQLite: the filing after the number, as one command (binds as in [`bind_filing`]; `$14`
/// unused; one attachments statement per file is appended), counted in the statistics.
static FILE_SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{FILE_SQLITE_BASE}{}", super::statistics::filing_sql(false))
});

const FILE_SQLITE_BASE: &str = "INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, \
    applicant_email, applicant_phone, applicant_id_number, answers, channel, digitised, secret_hash, idempotency_key, submitted_at, \
    expected_at, updated_at, events_head, citizen_id, reused_answers, reused_fields, delivery, fee_vnd, payment_status, fee_quote, form_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $31, $32, $10, $11, $12, $13, $12, $24, $27, $28, $29, $30, $36, $37, $38, $39);
INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note, step, details, hash) \
    VALUES ((SELECT id FROM dossiers WHERE code = $1), $12, 'citizen', 'file', NULL, $4, $15, 0, $25, $24);
INSERT INTO deliveries (webhook_id, dossier_id, event_id, created_at, next_attempt_at) \
    SELECT w.id, e.dossier_id, e.id, $12, $12 FROM dossier_events e, webhooks w \
    WHERE e.dossier_id = (SELECT id FROM dossiers WHERE code = $1) AND w.disabled_at IS NULL AND (w.event_kinds = '*' OR (',' || w.event_kinds || ',') LIKE '%,file,%') \
    AND (w.all_agencies = 1 OR EXISTS (SELECT 1 FROM webhook_agencies a WHERE a.webhook_id = w.id AND a.agency_code = $3));
INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) \
    SELECT $16, (SELECT id FROM dossiers WHERE code = $1), $17, $18, $19, $20, $12, $12 WHERE $33 RETURNING id;
DELETE FROM drafts WHERE session_hash = $26 AND procedure_code = $2;
UPDATE sessions SET data = $22 WHERE id_hash = $21 AND $23;
INSERT INTO audit_pending (at, actor, ip, action, subject, to_state, mac) VALUES ($12, $40, $41, $42, $1, $4, $43);
INSERT INTO api_idempotency (partner_id, idem_key, request_hash, created_at) SELECT $44, $45, $46, $12 WHERE $44 IS NOT NULL \
    ON CONFLICT (partner_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at;
";

/// What a filing writes besides the dossier's own columns: its code, its first event (note,
/// details, hash), its e-mail, and the session update (`session_hash` empty when not filed from
/// a session).
struct Filing {
    code: String,
    status: DossierStatus,
    note: String,
    details: String,
    event_hash: String,
    /// The e-mail's fields (empty when there is none).
    stat_day: i64,
    stat_month: i64,
    mail: NewMail,
    has_mail: bool,
    message_id: String,
    session_hash: String,
    draft_key: String,
    session_data: String,
    update_session: bool,
    /// The MAC of the filing's audit entry ([`dvc_domain::audit::Entry::pending_mac`]).
    audit_mac: String,
}

impl Filing {
    fn new(
        key: &AuditKey,
        new: &NewDossier,
        seq: i64,
        mail: &impl Fn(&str) -> Option<NewMail>,
        from: Option<&FiledFrom>,
    ) -> StoreResult<Filing> {
        let seq = u16::try_from(seq)
            .map_err(|_| StoreError::Conflict("hết số thứ tự hồ sơ trong ngày".into()))?;
        let code = DossierCode::new(new.agency.clone(), new.receipt_date, seq)
            .map_err(|e| StoreError::Conflict(e.to_string()))?
            .to_string();
        let (_, event) = dvc_domain::workflow::file_via(
            new.submitted_at,
            new.expected_at,
            new.awaiting_payment,
            new.channel,
        );
        let note = event.kind.note();
        let details = event_details(&event.kind)?;
        let event_hash = TimelineFields {
            dossier_code: &code,
            at: event.at,
            actor: "citizen",
            action: event.kind.name(),
            from_status: None,
            to_status: event.to.as_str(),
            public_note: Some(&note),
            step: Some(0),
            actor_name: None,
            actor_title: None,
            unit: None,
            details: Some(&details),
        }
        .hash(key, GENESIS);
        let mail = mail(&code);
        let has_mail = mail.is_some();
        let mail = mail.unwrap_or(NewMail {
            kind: String::new(),
            recipient: String::new(),
            subject: String::new(),
            body_text: String::new(),
        });
        let message_id = format!("<{}.{}@dichvucong>", code, mail.kind);
        let (session_hash, draft_key, session_data, update_session) = match from {
            Some(f) => {
                let mut data = f.data.clone();
                let changed = data.remember(&code);
                let json =
                    serde_json::to_string(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                (f.session_hash.clone(), f.draft_key.clone(), json, changed)
            }
            None => (String::new(), String::new(), String::new(), false),
        };
        let stat_day = dvc_domain::statistics::vn_day(new.submitted_at);
        let audit_mac = dvc_domain::audit::Entry {
            seq: 0,
            at: new.submitted_at,
            actor: new.filed_by.actor.clone(),
            ip: new.filed_by.ip.clone(),
            action: new.filed_by.action.to_string(),
            subject: code.clone(),
            from_state: None,
            to_state: Some(event.to.as_str().to_string()),
            reason: None,
            event_id: None,
            event_hash: None,
        }
        .pending_mac(key);
        Ok(Filing {
            audit_mac,
            code,
            status: event.to,
            note,
            details,
            event_hash,
            stat_day,
            stat_month: dvc_domain::statistics::month_of_day(stat_day),
            mail,
            has_mail,
            message_id,
            session_hash,
            draft_key,
            session_data,
            update_session,
        })
    }
}

/// PostgreSQL: the whole filing — dossier, attachments, first event, its webhook deliveries, e-mail, draft deletion,
/// session update, statistics — as one statement (atomic on its own), one round trip instead of
/// eight.
static FILE_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    FILE_PG_BASE.replacen(
        "r AS (DELETE",
        &format!("{}r AS (DELETE", super::statistics::filing_sql(true)),
        1,
    )
});

/// PostgreSQL: [`FILE_PG`] returning the new row too (`mail_id` and [`DOSSIER_COLUMNS`]), for a
/// follow-up decision in the same transaction.
static FILE_PG_ROW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    FILE_PG
        .replacen(
            "RETURNING id), ",
            &format!("RETURNING {DOSSIER_COLUMNS}), "),
            1,
        )
        .replace(
            "SELECT (SELECT id FROM o)",
            "SELECT (SELECT id FROM o) AS mail_id, d.* FROM d",
        )
});

const FILE_PG_BASE: &str = "WITH d AS (INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, \
    applicant_email, applicant_phone, applicant_id_number, answers, channel, digitised, secret_hash, idempotency_key, submitted_at, \
    expected_at, updated_at, events_head, citizen_id, reused_answers, reused_fields, delivery, fee_vnd, payment_status, fee_quote, form_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $31, $32, $10, $11, $12, $13, $12, $24, $27, $28, $29, $30, $36, $37, $38, $39) RETURNING id), \
  a AS (INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, size_bytes, \
    sha256, created_at) SELECT d.id, x.field_name, x.document_id, x.storage_key, x.file_name, x.content_type, x.size_bytes, \
    x.sha256, $12 FROM d, jsonb_to_recordset($14::jsonb) AS x(field_name text, document_id text, storage_key text, \
    file_name text, content_type text, size_bytes bigint, sha256 text)), \
  e AS (INSERT INTO dossier_events (dossier_id, at, actor, action, from_status, to_status, public_note, step, details, hash) \
    SELECT d.id, $12, 'citizen', 'file', NULL, $4, $15, 0, $25, $24 FROM d RETURNING id, dossier_id), \
  wd AS (INSERT INTO deliveries (webhook_id, dossier_id, event_id, created_at, next_attempt_at) \
    SELECT w.id, e.dossier_id, e.id, $12, $12 FROM e, webhooks w WHERE w.disabled_at IS NULL AND (w.event_kinds = '*' OR (',' || w.event_kinds || ',') LIKE '%,file,%') \
    AND (w.all_agencies = 1 OR EXISTS (SELECT 1 FROM webhook_agencies a WHERE a.webhook_id = w.id AND a.agency_code = $3))), \
  o AS (INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) \
    SELECT $16, d.id, $17, $18, $19, $20, $12, $12 FROM d WHERE $33 RETURNING id), \
  r AS (DELETE FROM drafts WHERE session_hash = $26 AND procedure_code = $2), \
  s AS (UPDATE sessions SET data = $22 WHERE id_hash = $21 AND $23), \
  au AS (INSERT INTO audit_pending (at, actor, ip, action, subject, to_state, mac) VALUES ($12, $40, $41, $42, $1, $4, $43)), \
  ik AS (INSERT INTO api_idempotency (partner_id, idem_key, request_hash, created_at) SELECT $44, $45, $46, $12 WHERE $44 IS NOT NULL \
    ON CONFLICT (partner_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at) \
  SELECT (SELECT id FROM o)";

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
    pub version: i64,
    pub original_due_at: Option<i64>,
    pub extension_count: i64,
    /// Working days of lawful extra time granted.
    pub extra_working_days: i64,
    /// Hash of the last timeline event (the head of the dossier's chain).
    pub events_head: Option<String>,
    /// The version of the procedure's form it was filed with.
    pub form_version: i64,
    /// `desk`, `online` or `post`.
    pub delivery: String,
    /// 1 once a digitally signed electronic result was issued.
    pub result_electronic: i64,
    pub postal_tracking: Option<String>,
    /// 1 rất hài lòng, 2 hài lòng, 3 không hài lòng.
    pub rating: Option<i64>,
    /// How it reached the agency ([`Channel::code`]).
    pub channel: i64,
    /// 1 when the papers handed in at the desk or by post were scanned.
    pub digitised: i64,
    /// The fee (đồng), its online payment state and how it was computed (0007, 0008).
    pub fee_vnd: i64,
    pub payment_status: Option<String>,
    pub fee_quote: Option<String>,
}

impl DossierRow {
    /// The stored status; an unknown one is an error, never a default.
    pub fn status(&self) -> StoreResult<DossierStatus> {
        DossierStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "dossier {}: unknown status {:?}",
                self.code, self.status
            ))
        })
    }

    /// How the citizen receives the result; an unknown value is an error, never a default.
    pub fn delivery(&self) -> StoreResult<Delivery> {
        Delivery::parse(&self.delivery).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "dossier {}: unknown delivery {:?}",
                self.code, self.delivery
            ))
        })
    }

    /// The citizen's satisfaction rating, if given.
    pub fn rating(&self) -> StoreResult<Option<Rating>> {
        match self.rating {
            None => Ok(None),
            Some(v) => Rating::from_value(v).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!("dossier {}: unknown rating {v}", self.code))
            }),
        }
    }

    pub fn channel(&self) -> Channel {
        Channel::from_code(self.channel)
    }

    pub fn answers(&self) -> Answers {
        serde_json::from_str(&self.answers).unwrap_or_default()
    }

    /// The dossier as the workflow sees it.
    pub fn to_domain(&self) -> StoreResult<Dossier> {
        let resume_status = match self.resume_status.as_deref() {
            None => None,
            Some(s) => Some(DossierStatus::parse(s).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "dossier {}: unknown resume status {s:?}",
                    self.code
                ))
            })?),
        };
        Ok(Dossier {
            status: self.status()?,
            version: self.version,
            step: usize::try_from(self.step).unwrap_or(0),
            step_started_at: self.step_started_at,
            submitted_at: self.submitted_at,
            received_at: self.received_at,
            expected_at: self.expected_at,
            due_at: self.due_at,
            original_due_at: self.original_due_at,
            extension_count: self.extension_count,
            extra_working_days: self.extra_working_days,
            assignee_id: self.assignee_id,
            unit: self.unit.clone(),
            supplement_count: self.supplement_count,
            paused_at: self.paused_at,
            resume_status,
            finished_at: self.finished_at,
            result: match (&self.result_key, &self.result_name) {
                (Some(key), Some(name)) => Some(ResultFile {
                    key: key.clone(),
                    name: name.clone(),
                }),
                _ => None,
            },
            delivery: self.delivery()?,
            result_signed: self.result_electronic == 1,
            postal_tracking: self.postal_tracking.clone(),
            rating: self.rating()?,
        })
    }

    /// Whether the dossier is (or finished) on time at `now` (QĐ 766: against the appointment
    /// given at reception).
    pub fn on_time(&self, now: i64) -> StoreResult<bool> {
        Ok(dvc_domain::workflow::on_time(&self.to_domain()?, now))
    }

    /// On time, late, or waiting for a supplement (never late while the clock is stopped).
    pub fn progress(&self, now: i64) -> StoreResult<dvc_domain::workflow::Progress> {
        Ok(dvc_domain::workflow::progress(&self.to_domain()?, now))
    }
}

pub(crate) const DOSSIER_COLUMNS: &str = "id, code, procedure_code, agency_code, status, applicant_name, applicant_email, applicant_phone, \
     applicant_id_number, answers, submitted_at, received_at, expected_at, due_at, updated_at, step, step_started_at, assignee_id, unit, \
     supplement_count, paused_at, resume_status, finished_at, result_key, result_name, version, original_due_at, extension_count, extra_working_days, events_head, \
     delivery, result_electronic, postal_tracking, rating, channel, digitised, fee_vnd, payment_status, fee_quote, form_version";

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

pub async fn find_by_id(db: &Db, id: i64) -> StoreResult<Option<DossierRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE id = $1")
    });
    let row = db_run!(db, p => {
        sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(id).fetch_optional(p).await?
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

/// A decision of the workflow to record: the events [`dvc_domain::workflow::decide`] returned,
/// the dossier they lead to, and what goes with them.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub events: &'a [Event],
    pub next: &'a Dossier,
    pub actor: &'a Actor,
    /// An e-mail to the applicant.
    pub mail: Option<NewMail>,
    /// A new secret link to the private page (its SHA-256), sent in that e-mail.
    pub access_link: Option<String>,
    /// Files that come with the action (a citizen's supplement), already in the file store.
    pub attachments: Vec<NewAttachment>,
    /// The payment row written with a payment event (and the dossier's `payment_status`).
    pub payment: Option<super::payments::PaymentWrite>,
}

/// A [`Decision`] that owns what it records (made before the transaction that records it, e.g.
/// by a filing's follow-up).
#[derive(Debug, Clone)]
pub struct OwnedDecision {
    pub events: Vec<Event>,
    pub next: Dossier,
    pub actor: Actor,
    pub mail: Option<NewMail>,
    pub access_link: Option<String>,
    pub attachments: Vec<NewAttachment>,
    pub payment: Option<super::payments::PaymentWrite>,
}

impl OwnedDecision {
    pub fn view(&self) -> Decision<'_> {
        Decision {
            events: &self.events,
            next: &self.next,
            actor: &self.actor,
            mail: self.mail.clone(),
            access_link: self.access_link.clone(),
            attachments: self.attachments.clone(),
            payment: self.payment.clone(),
        }
    }
}

/// A first decision on a dossier just filed, recorded in the filing's own transaction: given the
/// new dossier's row, the decision to record, or `None` for none (e.g. a payment that could not
/// be started: the filing stands alone).
pub type FollowUp<'a> = dyn Fn(&DossierRow) -> Option<OwnedDecision> + Send + Sync + 'a;

const CONFLICT: &str = "Hồ sơ vừa được người khác cập nhật, vui lòng xem lại.";

/// Records `decision` on the dossier `old`, all or nothing: the dossier row (only if its version
/// is still the one read: optimistic concurrency), the timeline events chained under `key`, an
/// audit entry per event, the attachments, the access link and the e-mail. Fails with
/// `Conflict` when someone else changed the dossier since it was read. Returns the outbox id of
/// the e-mail, if any, for the mail worker to claim it directly
/// ([`crate::jobs::mailer::MailQueue::queued`]).
pub async fn save(
    db: &Db,
    key: &AuditKey,
    old: &DossierRow,
    decision: &Decision<'_>,
) -> StoreResult<Option<i64>> {
    let prepared = prepare(key, old, decision)?;
    match db {
        Db::Sqlite(pool) => {
            let mut held = pool.hold().await?;
            let r = save::sqlite(held.conn()?, true, key, old, decision, &prepared).await;
            finish_sqlite(held, r).await
        }
        Db::Postgres(pool) => {
            // No transaction: the save is one statement after the ids are drawn.
            let mut held = pool.hold().await?;
            let r = save::postgres(held.conn()?, key, old, decision, &prepared).await;
            let usable = match &r {
                Err(StoreError::Sqlx(e)) => super::lean::leaves_connection_usable(e),
                _ => true,
            };
            if usable {
                held.release();
            }
            r
        }
    }
}

/// What [`save`] computes before its transaction: the timeline rows (event, details, note,
/// step, hash) chained from the dossier's head, the result, and the dossier's new `updated_at`.
pub struct Prepared<'d> {
    rows: Vec<(&'d Event, String, String, i64, String)>,
    head: String,
    result_key: Option<String>,
    result_name: Option<String>,
    updated_at: i64,
}

fn prepare<'d>(
    key: &AuditKey,
    old: &DossierRow,
    decision: &'d Decision<'_>,
) -> StoreResult<Prepared<'d>> {
    let next = decision.next;
    // The timeline rows and their hashes, computed before the transaction.
    let mut head = old
        .events_head
        .clone()
        .unwrap_or_else(|| GENESIS.to_string());
    let mut rows = Vec::with_capacity(decision.events.len());
    for e in decision.events {
        let details = event_details(&e.kind)?;
        let note = e.kind.note();
        let step = i64::try_from(e.step).unwrap_or(0);
        let fields = TimelineFields {
            dossier_code: &old.code,
            at: e.at,
            actor: &decision.actor.id,
            action: e.kind.name(),
            from_status: e.from.map(DossierStatus::as_str),
            to_status: e.to.as_str(),
            public_note: Some(&note),
            step: Some(step),
            actor_name: decision.actor.name.as_deref(),
            actor_title: decision.actor.title.as_deref(),
            unit: next.unit.as_deref(),
            details: Some(&details),
        };
        head = fields.hash(key, &head);
        rows.push((e, details, note, step, head.clone()));
    }
    let (result_key, result_name) = match &next.result {
        Some(r) => (Some(r.key.clone()), Some(r.name.clone())),
        None => (None, None),
    };
    let updated_at = decision
        .events
        .last()
        .map(|e| e.at)
        .unwrap_or(old.updated_at)
        .max(old.updated_at + 1);
    Ok(Prepared {
        rows,
        head,
        result_key,
        result_name,
        updated_at,
    })
}

/// The stored `details` of an event: its kind's fields as JSON.
pub fn event_details(kind: &EventKind) -> StoreResult<String> {
    let v = serde_json::to_value(kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(v.get("details")
        .map(|d| d.to_string())
        .unwrap_or_else(|| "{}".into()))
}

impl EventRow {
    /// The typed event kind of a stored row; an unknown action is an error, never a default.
    pub fn kind(&self) -> StoreResult<EventKind> {
        let details: serde_json::Value = match self.details.as_deref() {
            None | Some("") => serde_json::json!({}),
            Some(d) => serde_json::from_str(d)
                .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", self.id)))?,
        };
        serde_json::from_value(serde_json::json!({ "action": self.action, "details": details }))
            .map_err(|e| StoreError::Corrupt(format!("event {} ({}): {e}", self.id, self.action)))
    }

    pub fn to_status(&self) -> StoreResult<DossierStatus> {
        DossierStatus::parse(&self.to_status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {}: unknown status {:?}",
                self.id, self.to_status
            ))
        })
    }
}

/// Most rows of one register export.
pub const REGISTER_LIMIT: i64 = 10_000;

/// The dossiers of `agencies` received in `[from_ms, to_ms)`, in order of receipt (the Sổ theo
/// dõi hồ sơ), at most [`REGISTER_LIMIT`].
pub async fn received_between(
    db: &Db,
    agencies: &[String],
    from_ms: i64,
    to_ms: i64,
) -> StoreResult<Vec<DossierRow>> {
    if agencies.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..agencies.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE received_at >= $1 AND received_at < $2 \
         AND agency_code IN ({}) ORDER BY received_at, id LIMIT $3",
        placeholders.join(", ")
    );
    let rows = db_run!(db, p => {
        let mut q = sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(from_ms).bind(to_ms).bind(REGISTER_LIMIT);
        for a in agencies {
            q = q.bind(a);
        }
        q.fetch_all(p).await?
    });
    Ok(rows)
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
