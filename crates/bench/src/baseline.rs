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
    applicant_phone, applicant_id_number, answers, storage_key, sha256, secret_hash, idempotency_key, submitted_at, updated_at) \
    VALUES ($1, $2, $3, 'submitted', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)";

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
        }
        Pool::Sqlite(p) => {
            sqlx::query(DRAFTS).execute(p).await?;
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
    });
    let app = Router::new()
        .route("/submit", post(submit))
        .route("/j/form", get(journey_form).post(journey_draft))
        .route("/j/review/{id}", get(journey_review))
        .route("/j/send", post(journey_send))
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
    let seq = state.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let code = format!("{}-{seq:06}", state.prefix);
    let now = jiff::Timestamp::now().as_millisecond();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    const SEL: &str = "SELECT answers, storage_key, sha256 FROM drafts WHERE id = $1";
    const DEL: &str = "DELETE FROM drafts WHERE id = $1";
    macro_rules! file_it {
        ($tx:expr) => {{
            let row: Option<(String, String, String)> = sqlx::query_as(SEL)
                .bind(&f.submit_token)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some((answers, key, sha)) = row else {
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
            sqlx::query(INSERT)
                .bind(&code)
                .bind("1.001193")
                .bind(get("agency_code"))
                .bind(get("applicant_full_name"))
                .bind(get("applicant_email"))
                .bind(get("applicant_phone"))
                .bind(get("applicant_id_number"))
                .bind(&answers)
                .bind(&key)
                .bind(&sha)
                .bind(&secret)
                .bind(&f.submit_token)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(DEL)
                .bind(&f.submit_token)
                .execute(&mut *$tx)
                .await?;
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
        Ok(Some(())) => see_other(format!("/ho-so/{code}/da-nop")),
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
    macro_rules! insert {
        ($tx:expr) => {
            sqlx::query(INSERT)
                .bind(&code)
                .bind("1.001193")
                .bind(get("agency_code"))
                .bind(get("applicant_full_name"))
                .bind(get("applicant_email"))
                .bind(get("applicant_phone"))
                .bind(get("applicant_id_number"))
                .bind(&answers)
                .bind(&key)
                .bind(&sha)
                .bind(&secret)
                .bind(&idem)
                .bind(now)
                .execute(&mut *$tx)
                .await
        };
    }
    let result: Result<(), sqlx::Error> = match &state.pool {
        Pool::Sqlite(p) => {
            async {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                insert!(tx)?;
                tx.commit().await
            }
            .await
        }
        Pool::Pg(p) => {
            async {
                let mut tx = p.begin().await?;
                insert!(tx)?;
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
