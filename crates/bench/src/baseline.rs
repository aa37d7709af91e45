//! `dvc-baseline`: the "physical limit" the portal is measured against. A bare axum server with
//! no middleware, no sessions, no templates beyond a minimal one, doing the same durable work:
//!
//! * the citizen journey in five requests, as the portal serves it, with nothing but the durable
//!   work and the pages: `GET /j/form` (a minimal form page, a random token) → `POST /j/form`
//!   (multipart: the file written with fsync of file and directory, the answers saved as a draft
//!   row with the portal's relaxed draft durability) → `GET /j/review/{id}` (the draft read back and shown) → `POST /j/send`
//!   (one transaction: the dossier row made from the draft, the draft deleted, committed) →
//!   `GET /ho-so/{code}/da-nop` (the dossier read back and shown);
//! * `POST /submit` (multipart, the same fields and 100 KB file the portal receives): writes the
//!   file with fsync of the file and its directory, then one `INSERT` of a dossier-sized row in one
//!   transaction (`BEGIN IMMEDIATE` on SQLite, WAL + `synchronous=FULL`, or PostgreSQL), and
//!   answers 303 with the code, as the portal does;
//! * the paid journey (`/j/send-paid`, `/j/ipn`, `/j/return`: the dossier and its payment row
//!   filed together, then the verified IPN updating both) and, for the targets of the paid journey
//!   and the partner API, the same with the records the portal writes in the same transactions
//!   (`/j/send-paid-all`, `/j/ipn-all`, `/submit-all`; see [`RECORDS`]);
//! * `GET /tra-cuu?ma=` and `GET /api/status/{code}`: the same dossier query by code, rendered by
//!   a minimal minijinja template or as JSON;
//! * `GET /thu-tuc?q=`: the same folded, all-words search over the same 10,000 procedure names
//!   (a scan, no index), the count and the first page of 20 rendered by a minimal template.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use dvc_domain::audit::{AuditKey, Entry, GENESIS, TimelineFields};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "dvc-baseline",
    about = "Bare axum baseline for the portal benchmark"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// `sqlite:///abs/path.db` or `postgres://user@host/db`.
    #[arg(long)]
    database_url: String,
    /// Where uploaded files are written (`<dir>/files`).
    #[arg(long)]
    data_dir: PathBuf,
    /// Procedure names to search, one `code<TAB>name` a line.
    #[arg(long)]
    names: Option<PathBuf>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

struct Inner {
    pool: Pool,
    /// The same database with relaxed commit durability, for drafts, as the portal does
    /// (SQLite `synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`).
    light: Pool,
    files: PathBuf,
    seq: AtomicU64,
    prefix: String,
    /// (code, name, folded name)
    procedures: Vec<(String, String, String)>,
    env: minijinja::Environment<'static>,
    /// The key of the timeline hashes and audit MACs of the `-all` routes.
    key: AuditKey,
}

type AppState = Arc<Inner>;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS dossiers (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    procedure_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    status TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_email TEXT NOT NULL,
    applicant_phone TEXT NOT NULL,
    applicant_id_number TEXT NOT NULL,
    answers TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    submitted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    events_head TEXT
)";

/// What the portal writes with each change of a dossier besides the dossier and payment rows,
/// in the same transaction as the change: the routes ending in `-all` write them too, so that
/// the paid journey and the API filing are measured against the same durable writes (primary
/// keys only: the baseline's indexes are the floor). Each change is a timeline event whose hash
/// is chained on the dossier's previous one, an audit entry naming the event under its MAC
/// (both HMAC-SHA-256 with the portal's own functions), and, when the citizen is told, an
/// e-mail in the outbox; a filing adds its attachment row, and a filing that a webhook
/// subscribes to (the API phase registers one) its delivery row. Not written, although the
/// portal writes them: the statistics queue, the session's update, the access link of a
/// "paid" e-mail.
const RECORDS: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS attachments (id BIGSERIAL PRIMARY KEY, dossier_code TEXT NOT NULL, \
     storage_key TEXT NOT NULL, sha256 TEXT NOT NULL, size_bytes BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, dossier_code TEXT NOT NULL, at BIGINT NOT NULL, \
     actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, \
     action TEXT NOT NULL, subject TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, event_id BIGINT NOT NULL, \
     event_hash TEXT NOT NULL, mac TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox (id BIGSERIAL PRIMARY KEY, dossier_code TEXT NOT NULL, recipient TEXT NOT NULL, \
     subject TEXT NOT NULL, body_text TEXT NOT NULL, created_at BIGINT NOT NULL, sent_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS deliveries (id BIGSERIAL PRIMARY KEY, event_id BIGINT NOT NULL, \
     created_at BIGINT NOT NULL, delivered_at BIGINT)",
];

/// The paid journey's payments (one per dossier).
const PAYMENTS: &str = "CREATE TABLE IF NOT EXISTS payments (
    txn_ref TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    status TEXT NOT NULL,
    transaction_no TEXT,
    updated_at BIGINT NOT NULL
)";

const DRAFTS: &str = "CREATE TABLE IF NOT EXISTS drafts (
    id TEXT PRIMARY KEY,
    answers TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    updated_at BIGINT NOT NULL
)";

const FORM_HTML: &str = r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Tờ khai</title></head>
<body><h1>Tờ khai</h1><form method="post" enctype="multipart/form-data"><input type="hidden" name="csrf" value="{{ token }}">
{% for f in fields %}<label for="{{ f }}">{{ f }}</label><input id="{{ f }}" name="{{ f }}">{% endfor %}
<input type="file" name="tep_giay_chung_sinh"><button>Tiếp tục</button></form></body></html>"#;

const REVIEW_HTML: &str = r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Kiểm tra thông tin</title></head>
<body><h1>Kiểm tra thông tin</h1><dl>{% for a in answers %}<dt>{{ a.0 }}</dt><dd>{{ a.1 }}</dd>{% endfor %}</dl>
<form method="post" action="/j/send"><input type="hidden" name="csrf" value="{{ id }}"><input type="hidden" name="submit_token" value="{{ id }}">
<button>Gửi thông tin</button></form></body></html>"#;

const INSERT: &str = "INSERT INTO dossiers (code, procedure_code, agency_code, status, applicant_name, applicant_email, \
    applicant_phone, applicant_id_number, answers, storage_key, sha256, secret_hash, idempotency_key, submitted_at, updated_at, \
    events_head) VALUES ($1, $2, $3, $15, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)";

const SELECT: &str = "SELECT code, procedure_code, agency_code, status, applicant_name, submitted_at, updated_at \
    FROM dossiers WHERE code = $1";

#[derive(Debug, Serialize, sqlx::FromRow)]
struct StatusRow {
    code: String,
    procedure_code: String,
    agency_code: String,
    status: String,
    applicant_name: String,
    submitted_at: i64,
    updated_at: i64,
}

const LOOKUP_HTML: &str = r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Tra cứu hồ sơ {{ s.code }}</title></head>
<body><h1>Tra cứu hồ sơ</h1>{% if s %}<dl><dt>Mã hồ sơ</dt><dd>{{ s.code }}</dd><dt>Thủ tục</dt><dd>{{ s.procedure_code }}</dd>
<dt>Cơ quan</dt><dd>{{ s.agency_code }}</dd><dt>Tình trạng</dt><dd>{{ s.status }}</dd><dt>Người nộp</dt><dd>{{ s.applicant_name }}</dd>
<dt>Ngày nộp</dt><dd>{{ s.submitted_at }}</dd></dl>{% else %}<p>Không tìm thấy hồ sơ.</p>{% endif %}</body></html>"#;

const SEARCH_HTML: &str = r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Thủ tục hành chính</title></head>
<body><h1>Thủ tục hành chính</h1><p>{{ total }} thủ tục</p><ul>{% for p in items %}<li><a href="/thu-tuc/{{ p.0 }}">{{ p.1 }}</a></li>{% endfor %}</ul></body></html>"#;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let pool = if args.database_url.starts_with("postgres") {
        let p = PgPoolOptions::new()
            .test_before_acquire(false)
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&args.database_url)
            .await?;
        sqlx::query(SCHEMA).execute(&p).await?;
        Pool::Pg(p)
    } else {
        let opts = SqliteConnectOptions::from_str(&args.database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let p = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(SCHEMA.replace("BIGSERIAL", "INTEGER")))
            .execute(&p)
            .await?;
        Pool::Sqlite(p)
    };
    let light = if args.database_url.starts_with("postgres") {
        let opts = sqlx::postgres::PgConnectOptions::from_str(&args.database_url)?
            .options([("synchronous_commit", "off")]);
        Pool::Pg(
            PgPoolOptions::new()
                .test_before_acquire(false)
                .max_connections(8)
                .connect_with(opts)
                .await?,
        )
    } else {
        let opts = SqliteConnectOptions::from_str(&args.database_url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        Pool::Sqlite(
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(4)
                .connect_with(opts)
                .await?,
        )
    };
    let files = args.data_dir.join("files");
    std::fs::create_dir_all(&files)?;
    let procedures = match &args.names {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(c, n)| (c.to_string(), n.to_string(), dvc_domain::text::fold(n)))
            .collect(),
        None => Vec::new(),
    };
    match &pool {
        Pool::Pg(p) => {
            sqlx::query(DRAFTS).execute(p).await?;
            sqlx::query(PAYMENTS).execute(p).await?;
            for t in RECORDS {
                sqlx::query(t).execute(p).await?;
            }
        }
        Pool::Sqlite(p) => {
            sqlx::query(DRAFTS).execute(p).await?;
            sqlx::query(PAYMENTS).execute(p).await?;
            for t in RECORDS {
                sqlx::query(sqlx::AssertSqlSafe(
                    t.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY"),
                ))
                .execute(p)
                .await?;
            }
        }
    }
    let mut env = minijinja::Environment::new();
    env.add_template("lookup.html", LOOKUP_HTML)?;
    env.add_template("form.html", FORM_HTML)?;
    env.add_template("review.html", REVIEW_HTML)?;
    env.add_template("search.html", SEARCH_HTML)?;
    let state = Arc::new(Inner {
        pool,
        light,
        files,
        seq: AtomicU64::new(0),
        prefix: format!("000.00.02.H31-{}", uuid::Uuid::new_v4().simple()),
        procedures,
        env,
        key: AuditKey::new(b"dvc-baseline: the key of its timeline hashes and audit MACs".to_vec())
            .map_err(|_| anyhow::anyhow!("weak audit key"))?,
    });
    let app = Router::new()
        .route("/submit", post(submit))
        .route("/submit-all", post(submit_all))
        .route("/j/form", get(journey_form).post(journey_draft))
        .route("/j/review/{id}", get(journey_review))
        .route("/j/send", post(journey_send))
        .route("/j/send-paid", post(journey_send_paid))
        .route("/j/send-paid-all", post(journey_send_paid_all))
        .route("/j/ipn", get(journey_ipn))
        .route("/j/ipn-all", get(journey_ipn_all))
        .route("/j/return", get(journey_return))
        .route("/ho-so/{code}/da-nop", get(journey_done))
        .route("/tra-cuu", get(lookup_page))
        .route("/api/status/{code}", get(lookup_api))
        .route("/thu-tuc", get(search))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// Writes `data` to `path` and makes it durable: fsync of the file, then of its directory.
fn write_durable(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The text fields and the file of a multipart body.
async fn read_multipart(
    mut mp: Multipart,
) -> Result<(Vec<(String, String)>, axum::body::Bytes), Response> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<axum::body::Bytes> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or_default().to_string();
                if f.file_name().is_some() {
                    file = Some(f.bytes().await.map_err(err)?);
                } else {
                    fields.push((name, f.text().await.map_err(err)?));
                }
            }
            Ok(None) => break,
            Err(e) => return Err(err(e)),
        }
    }
    match file {
        Some(f) => Ok((fields, f)),
        None => Err((StatusCode::BAD_REQUEST, "no file").into_response()),
    }
}

/// Writes an uploaded file durably under a fresh key; returns (key, digest stand-in).
async fn store_file(state: &Inner, file: axum::body::Bytes) -> Result<(String, String), Response> {
    let key = uuid::Uuid::new_v4().simple().to_string();
    let path = state.files.join(&key);
    let sha = format!("{:x}", file.len());
    match tokio::task::spawn_blocking(move || write_durable(&path, &file)).await {
        Ok(Ok(())) => Ok((key, sha)),
        Ok(Err(e)) => Err(err(e)),
        Err(e) => Err(err(e)),
    }
}

fn render(state: &Inner, name: &str, ctx: minijinja::Value) -> Response {
    match state.env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(h) => Html(h).into_response(),
        Err(e) => err(e),
    }
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn journey_form(State(state): State<AppState>) -> Response {
    let fields: Vec<&str> = [
        "agency_code",
        "applicant_full_name",
        "applicant_birth_date",
        "applicant_id_number",
        "applicant_phone",
        "applicant_email",
        "applicant_address",
        "tre_ho_ten",
        "tre_gioi_tinh",
        "tre_ngay_sinh",
        "tre_noi_sinh",
        "yeu_to_nuoc_ngoai",
        "tre_dan_toc",
        "tre_quoc_tich",
        "tre_que_quan",
        "me_ho_ten",
        "me_so_dinh_danh",
        "me_ngay_sinh",
        "me_dan_toc",
        "me_quoc_tich",
        "me_noi_cu_tru",
        "cha_ho_ten",
        "cha_so_dinh_danh",
        "quan_he",
        "cam_doan",
    ]
    .to_vec();
    let token = uuid::Uuid::new_v4().simple().to_string();
    render(&state, "form.html", minijinja::context! { token, fields })
}

/// `POST /j/form`: the answers and the file, saved durably as a draft (one commit).
async fn journey_draft(State(state): State<AppState>, mp: Multipart) -> Response {
    let (fields, file) = match read_multipart(mp).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let answers = match serde_json::to_string(&fields) {
        Ok(a) => a,
        Err(e) => return err(e),
    };
    let (key, sha) = match store_file(&state, file).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = jiff::Timestamp::now().as_millisecond();
    const Q: &str = "INSERT INTO drafts (id, answers, storage_key, sha256, updated_at) VALUES ($1, $2, $3, $4, $5)";
    let result: Result<(), sqlx::Error> = match &state.light {
        Pool::Sqlite(p) => {
            async {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(Q)
                    .bind(&id)
                    .bind(&answers)
                    .bind(&key)
                    .bind(&sha)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        }
        Pool::Pg(p) => {
            async {
                let mut tx = p.begin().await?;
                sqlx::query(Q)
                    .bind(&id)
                    .bind(&answers)
                    .bind(&key)
                    .bind(&sha)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        }
    };
    match result {
        Ok(()) => see_other(format!("/j/review/{id}")),
        Err(e) => err(e),
    }
}

async fn journey_review(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    const Q: &str = "SELECT answers FROM drafts WHERE id = $1";
    let row: Result<Option<(String,)>, sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => sqlx::query_as(Q).bind(&id).fetch_optional(p).await,
        Pool::Pg(p) => sqlx::query_as(Q).bind(&id).fetch_optional(p).await,
    };
    let answers: Vec<(String, String)> = match row {
        Ok(Some((a,))) => serde_json::from_str(&a).unwrap_or_default(),
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return err(e),
    };
    render(&state, "review.html", minijinja::context! { id, answers })
}

#[derive(Deserialize)]
struct SendForm {
    submit_token: String,
}

/// `POST /j/send`: the dossier made from the draft, the draft deleted, in one transaction.
async fn journey_send(
    State(state): State<AppState>,
    axum::extract::Form(f): axum::extract::Form<SendForm>,
) -> Response {
    send(state, f, false, false).await
}

/// `POST /j/send-paid`: the same with a fee due at filing: the payment row in the same
/// transaction, and a 303 to the signed VNPay pay URL.
async fn journey_send_paid(
    State(state): State<AppState>,
    axum::extract::Form(f): axum::extract::Form<SendForm>,
) -> Response {
    send(state, f, true, false).await
}

/// `POST /j/send-paid-all`: [`journey_send_paid`] with the portal's records (see [`RECORDS`]):
/// the attachment, the filing's and the payment attempt's events and audit entries, the
/// filing's e-mail.
async fn journey_send_paid_all(
    State(state): State<AppState>,
    axum::extract::Form(f): axum::extract::Form<SendForm>,
) -> Response {
    send(state, f, true, true).await
}

/// One change of a dossier as the portal records it (see [`RECORDS`]): its timeline event's
/// fields and hash, and the e-mail that tells the applicant, if any.
struct Change<'a> {
    code: &'a str,
    at: i64,
    actor: &'a str,
    action: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    hash: String,
    /// (recipient, subject, body)
    mail: Option<(String, String, String)>,
}

impl<'a> Change<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: &AuditKey,
        code: &'a str,
        at: i64,
        actor: &'a str,
        action: &'a str,
        from: Option<&'a str>,
        to: &'a str,
        prev: &str,
        mail: Option<(String, String, String)>,
    ) -> Change<'a> {
        let hash = TimelineFields {
            dossier_code: code,
            at,
            actor,
            action,
            from_status: from,
            to_status: to,
            public_note: None,
            step: Some(0),
            actor_name: None,
            actor_title: None,
            unit: None,
            details: None,
        }
        .hash(key, prev);
        Change {
            code,
            at,
            actor,
            action,
            from,
            to,
            hash,
            mail,
        }
    }
}

/// The e-mail that tells the applicant `what` about dossier `code`.
fn mail_to(recipient: &str, code: &str, what: &str) -> Option<(String, String, String)> {
    Some((
        recipient.to_string(),
        format!("Hồ sơ {code}: {what}"),
        format!(
            "Kính gửi Ông/Bà,\n\nHồ sơ {code}: {what}.\nTra cứu tại http://127.0.0.1/tra-cuu?ma={code}\n"
        ),
    ))
}

/// Writes `$c` ([`Change`]) in the transaction `$tx`: the event, the audit entry naming it (its
/// MAC computed with the event's id), the e-mail; evaluates to the event's id.
macro_rules! write_change {
    ($tx:expr, $key:expr, $c:expr) => {{
        let c: &Change = $c;
        let (event_id,): (i64,) = sqlx::query_as(
            "INSERT INTO events (dossier_code, at, actor, action, from_status, to_status, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(c.code)
        .bind(c.at)
        .bind(c.actor)
        .bind(c.action)
        .bind(c.from)
        .bind(c.to)
        .bind(&c.hash)
        .fetch_one(&mut *$tx)
        .await?;
        let mac = Entry {
            seq: 0,
            at: c.at,
            actor: c.actor.to_string(),
            ip: "127.0.0.1".into(),
            action: c.action.to_string(),
            subject: c.code.to_string(),
            from_state: c.from.map(str::to_string),
            to_state: Some(c.to.to_string()),
            reason: None,
            event_id: Some(event_id),
            event_hash: Some(c.hash.clone()),
        }
        .pending_mac($key);
        sqlx::query(
            "INSERT INTO audit (at, actor, action, subject, from_state, to_state, event_id, event_hash, mac) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(c.at)
        .bind(c.actor)
        .bind(c.action)
        .bind(c.code)
        .bind(c.from)
        .bind(c.to)
        .bind(event_id)
        .bind(&c.hash)
        .bind(&mac)
        .execute(&mut *$tx)
        .await?;
        if let Some((to, subject, body)) = &c.mail {
            sqlx::query(
                "INSERT INTO outbox (dossier_code, recipient, subject, body_text, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(c.code)
            .bind(to)
            .bind(subject)
            .bind(body)
            .bind(c.at)
            .execute(&mut *$tx)
            .await?;
        }
        event_id
    }};
}

/// Writes the attachment row of a filing in `$tx`.
macro_rules! write_attachment {
    ($tx:expr, $code:expr, $key:expr, $sha:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO attachments (dossier_code, storage_key, sha256, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($code)
        .bind($key)
        .bind($sha)
        .bind(PDF_BYTES)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}

/// The size recorded for an attachment (the benchmark's PDF is ~100 KB).
const PDF_BYTES: i64 = 100 * 1024;

async fn send(state: AppState, f: SendForm, paid: bool, all: bool) -> Response {
    let txn_ref = uuid::Uuid::new_v4().simple().to_string()[..20].to_uppercase();
    let seq = state.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let code = format!("{}-{seq:06}", state.prefix);
    let now = jiff::Timestamp::now().as_millisecond();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let key = &state.key;
    const SEL: &str = "SELECT answers, storage_key, sha256 FROM drafts WHERE id = $1";
    const DEL: &str = "DELETE FROM drafts WHERE id = $1";
    macro_rules! file_it {
        ($tx:expr) => {{
            let row: Option<(String, String, String)> = sqlx::query_as(SEL)
                .bind(&f.submit_token)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some((answers, storage_key, sha)) = row else {
                return Ok(None);
            };
            let fields: Vec<(String, String)> = serde_json::from_str(&answers).unwrap_or_default();
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let email = get("applicant_email");
            // With the records: the filing's event (and the payment attempt's, chained on it).
            let status = if paid && all { "awaiting_payment" } else { "submitted" };
            let filed = all.then(|| {
                Change::new(key, &code, now, "citizen", "file", None, status, GENESIS,
                    mail_to(&email, &code, "đã tiếp nhận trực tuyến"))
            });
            let started = match (&filed, paid) {
                (Some(c), true) => Some(Change::new(key, &code, now, "citizen", "payment", Some(status),
                    status, &c.hash, None)),
                _ => None,
            };
            let head = started.as_ref().or(filed.as_ref()).map(|c| c.hash.clone());
            sqlx::query(INSERT)
                .bind(&code)
                .bind("1.001193")
                .bind(get("agency_code"))
                .bind(get("applicant_full_name"))
                .bind(&email)
                .bind(get("applicant_phone"))
                .bind(get("applicant_id_number"))
                .bind(&answers)
                .bind(&storage_key)
                .bind(&sha)
                .bind(&secret)
                .bind(&f.submit_token)
                .bind(now)
                .bind(head)
                .bind(status)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(DEL)
                .bind(&f.submit_token)
                .execute(&mut *$tx)
                .await?;
            if paid {
                sqlx::query("INSERT INTO payments (txn_ref, code, amount_vnd, status, updated_at) VALUES ($1, $2, $3, 'pending', $4)")
                    .bind(&txn_ref)
                    .bind(&code)
                    .bind(PAID_AMOUNT_VND)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
            }
            if let Some(c) = &filed {
                write_attachment!($tx, &code, &storage_key, &sha, now);
                write_change!($tx, key, c);
            }
            if let Some(c) = &started {
                write_change!($tx, key, c);
            }
            Some(())
        }};
    }
    let result: Result<Option<()>, sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => {
            async {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let r = file_it!(tx);
                tx.commit().await?;
                Ok(r)
            }
            .await
        }
        Pool::Pg(p) => {
            async {
                let mut tx = p.begin().await?;
                let r = file_it!(tx);
                tx.commit().await?;
                Ok(r)
            }
            .await
        }
    };
    match result {
        Ok(Some(())) if paid => {
            let req = dvc_domain::payment::vnpay::PayRequest {
                tmn_code: dvc_bench_keys::TMN_CODE.into(),
                amount_vnd: PAID_AMOUNT_VND as u64,
                txn_ref,
                order_info: format!("Thanh toan phi le phi ho so {code}"),
                return_url: "http://127.0.0.1/j/return".into(),
                ip_addr: "127.0.0.1".into(),
                created_at_ms: now,
                expire_at_ms: now + 900_000,
            };
            see_other(req.url("/pay", dvc_bench_keys::HASH_SECRET.as_bytes()))
        }
        Ok(Some(())) => see_other(format!("/ho-so/{code}/da-nop")),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => err(e),
    }
}

/// The fee of the paid journey (2 copies × 10.000 đồng, as the portal charges XNTTHN).
const PAID_AMOUNT_VND: i64 = 20_000;

/// The merchant pair the benchmark gives both servers.
mod dvc_bench_keys {
    pub const TMN_CODE: &str = "DVCBENCH";
    pub const HASH_SECRET: &str = "DVCBENCHSECRETKHONGDUNGTHATXXXXXXXXXXXXXX";
}

fn query_map(raw: Option<String>) -> std::collections::BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `GET /j/ipn`: the signature checked, then the payment and the dossier updated in one durable
/// transaction (pending → paid), answered with VNPay's JSON.
async fn journey_ipn(
    State(state): State<AppState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    ipn(state, raw, false).await
}

/// `GET /j/ipn-all`: [`journey_ipn`] with the portal's records (see [`RECORDS`]): the dossier
/// leaves "awaiting payment", its event chained on the dossier's last one, the audit entry, the
/// "paid" e-mail.
async fn journey_ipn_all(
    State(state): State<AppState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    ipn(state, raw, true).await
}

async fn ipn(state: AppState, raw: Option<String>, all: bool) -> Response {
    use dvc_domain::payment::vnpay::{IpnAnswer, Report};
    let p = query_map(raw);
    let answer =
        |a: IpnAnswer| ([(header::CONTENT_TYPE, "application/json")], a.json()).into_response();
    if !dvc_domain::payment::vnpay::verify(dvc_bench_keys::HASH_SECRET.as_bytes(), &p) {
        return answer(IpnAnswer::InvalidSignature);
    }
    let Some(r) = Report::from_params(&p) else {
        return answer(IpnAnswer::Unknown);
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let key = &state.key;
    const SEL: &str = "SELECT p.code, p.amount_vnd, p.status, COALESCE(d.events_head, ''), d.applicant_email \
        FROM payments p JOIN dossiers d ON d.code = p.code WHERE p.txn_ref = $1";
    macro_rules! confirm {
        ($tx:expr) => {{
            let row: Option<(String, i64, String, String, String)> = sqlx::query_as(SEL)
                .bind(&r.txn_ref)
                .fetch_optional(&mut *$tx)
                .await?;
            match row {
                None => IpnAnswer::OrderNotFound,
                Some((_, amount, _, _, _)) if Some(r.amount_x100) != u64::try_from(amount).ok().map(|a| a * 100) => IpnAnswer::InvalidAmount,
                Some((_, _, status, _, _)) if status != "pending" => IpnAnswer::AlreadyConfirmed,
                Some((code, _, _, head, email)) => {
                    sqlx::query("UPDATE payments SET status = 'paid', transaction_no = $2, updated_at = $3 WHERE txn_ref = $1")
                        .bind(&r.txn_ref)
                        .bind(&r.transaction_no)
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?;
                    if all {
                        let c = Change::new(key, &code, now, "gateway:vnpay:ipn", "payment",
                            Some("awaiting_payment"), "submitted", &head,
                            mail_to(&email, &code, "đã thanh toán phí, lệ phí"));
                        sqlx::query("UPDATE dossiers SET status = 'submitted', updated_at = $2, events_head = $3 WHERE code = $1")
                            .bind(&code)
                            .bind(now)
                            .bind(&c.hash)
                            .execute(&mut *$tx)
                            .await?;
                        write_change!($tx, key, &c);
                    } else {
                        sqlx::query("UPDATE dossiers SET updated_at = $2 WHERE code = $1")
                            .bind(&code)
                            .bind(now)
                            .execute(&mut *$tx)
                            .await?;
                    }
                    IpnAnswer::Confirmed
                }
            }
        }};
    }
    let result: Result<IpnAnswer, sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => {
            async {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let a = confirm!(tx);
                tx.commit().await?;
                Ok(a)
            }
            .await
        }
        Pool::Pg(p) => {
            async {
                let mut tx = p.begin().await?;
                let a = confirm!(tx);
                tx.commit().await?;
                Ok(a)
            }
            .await
        }
    };
    answer(result.unwrap_or(IpnAnswer::Unknown))
}

/// `GET /j/return`: the signature checked, the payment read, a page.
async fn journey_return(
    State(state): State<AppState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let p = query_map(raw);
    if !dvc_domain::payment::vnpay::verify(dvc_bench_keys::HASH_SECRET.as_bytes(), &p) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let txn_ref = p.get("vnp_TxnRef").cloned().unwrap_or_default();
    const Q: &str = "SELECT code, status FROM payments WHERE txn_ref = $1";
    let row: Result<Option<(String, String)>, sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => sqlx::query_as(Q).bind(&txn_ref).fetch_optional(p).await,
        Pool::Pg(p) => sqlx::query_as(Q).bind(&txn_ref).fetch_optional(p).await,
    };
    match row {
        Ok(Some((code, status))) => Html(format!(
            "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Kết quả thanh toán</title></head><body><h1>Kết quả thanh toán</h1><p>{code}: {status}</p></body></html>"
        ))
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => err(e),
    }
}

async fn journey_done(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match find(&state, &code).await {
        Ok(Some(row)) => render(
            &state,
            "lookup.html",
            minijinja::context! { s => minijinja::Value::from(minijinja::value::Serde(&row)) },
        ),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => err(e),
    }
}

async fn submit(State(state): State<AppState>, mp: Multipart) -> Response {
    submit_inner(state, mp, false).await
}

/// `POST /submit-all`: [`submit`] with the portal's records of a filing through the partner API
/// (see [`RECORDS`]): the attachment, the filing's event, audit entry and e-mail, and the
/// delivery of the event to the webhook the API phase registers.
async fn submit_all(State(state): State<AppState>, mp: Multipart) -> Response {
    submit_inner(state, mp, true).await
}

async fn submit_inner(state: AppState, mp: Multipart, all: bool) -> Response {
    let (fields, file) = match read_multipart(mp).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let answers = match serde_json::to_string(&fields) {
        Ok(a) => a,
        Err(e) => return err(e),
    };
    let (key, sha) = match store_file(&state, file).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let seq = state.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let code = format!("{}-{seq:06}", state.prefix);
    let now = jiff::Timestamp::now().as_millisecond();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let idem = uuid::Uuid::new_v4().simple().to_string();
    let email = get("applicant_email");
    let filed = all.then(|| {
        Change::new(
            &state.key,
            &code,
            now,
            "partner:1",
            "file",
            None,
            "submitted",
            GENESIS,
            mail_to(&email, &code, "đã tiếp nhận trực tuyến"),
        )
    });
    macro_rules! insert {
        ($tx:expr) => {{
            sqlx::query(INSERT)
                .bind(&code)
                .bind("1.001193")
                .bind(get("agency_code"))
                .bind(get("applicant_full_name"))
                .bind(&email)
                .bind(get("applicant_phone"))
                .bind(get("applicant_id_number"))
                .bind(&answers)
                .bind(&key)
                .bind(&sha)
                .bind(&secret)
                .bind(&idem)
                .bind(now)
                .bind(filed.as_ref().map(|c| c.hash.as_str()))
                .bind("submitted")
                .execute(&mut *$tx)
                .await?;
            if let Some(c) = &filed {
                write_attachment!($tx, &code, &key, &sha, now);
                let event_id = write_change!($tx, &state.key, c);
                sqlx::query("INSERT INTO deliveries (event_id, created_at) VALUES ($1, $2)")
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
            }
        }};
    }
    let result: Result<(), sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => {
            async {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                insert!(tx);
                tx.commit().await
            }
            .await
        }
        Pool::Pg(p) => {
            async {
                let mut tx = p.begin().await?;
                insert!(tx);
                tx.commit().await
            }
            .await
        }
    };
    if let Err(e) = result {
        return err(e);
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/ho-so/{code}/da-nop"))],
    )
        .into_response()
}

async fn find(state: &Inner, code: &str) -> Result<Option<StatusRow>, sqlx::Error> {
    match &state.pool {
        Pool::Sqlite(p) => {
            sqlx::query_as::<_, StatusRow>(SELECT)
                .bind(code)
                .fetch_optional(p)
                .await
        }
        Pool::Pg(p) => {
            sqlx::query_as::<_, StatusRow>(SELECT)
                .bind(code)
                .fetch_optional(p)
                .await
        }
    }
}

#[derive(Deserialize)]
struct LookupParams {
    ma: Option<String>,
}

async fn lookup_page(State(state): State<AppState>, Query(q): Query<LookupParams>) -> Response {
    let code = q.ma.unwrap_or_default();
    let row = match find(&state, code.trim()).await {
        Ok(r) => r,
        Err(e) => return err(e),
    };
    let status = if row.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let html = state.env.get_template("lookup.html").and_then(|t| {
        t.render(minijinja::context! { s => minijinja::Value::from(minijinja::value::Serde(&row)) })
    });
    match html {
        Ok(h) => (status, Html(h)).into_response(),
        Err(e) => err(e),
    }
}

async fn lookup_api(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match find(&state, &code).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => err(e),
    }
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
}

async fn search(State(state): State<AppState>, Query(q): Query<SearchParams>) -> Response {
    let folded = dvc_domain::text::fold(q.q.as_deref().unwrap_or_default());
    let all: Vec<(&str, &str)> = state
        .procedures
        .iter()
        .filter(|(_, _, f)| dvc_domain::text::matches_all_words(f, &folded))
        .map(|(c, n, _)| (c.as_str(), n.as_str()))
        .collect();
    // The count and the first page of 20, as the portal shows them.
    let total = all.len();
    let items = &all[..total.min(20)];
    let html = state
        .env
        .get_template("search.html")
        .and_then(|t| t.render(minijinja::context! { total, items => minijinja::Value::from(minijinja::value::Serde(&items)) }));
    match html {
        Ok(h) => Html(h).into_response(),
        Err(e) => err(e),
    }
}
