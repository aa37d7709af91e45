//! `dvc-baseline`: the "physical limit" the portal is measured against. A bare axum server with
//! no middleware, no sessions, no templates beyond a minimal one, doing the same durable work:
//!
//! * `POST /submit` (multipart, the same fields and 100 KB file the portal receives): writes the
//!   file with fsync of the file and its directory, then one `INSERT` of a dossier-sized row in one
//!   transaction (`BEGIN IMMEDIATE` on SQLite, WAL + `synchronous=FULL`, or PostgreSQL), and
//!   answers 303 with the code, as the portal does;
//! * `GET /tra-cuu?ma=` and `GET /api/status/{code}`: the same dossier query by code, rendered by
//!   a minimal minijinja template or as JSON;
//! * `GET /thu-tuc?q=`: the same folded, all-words search over the same 10,000 procedure names,
//!   rendered by a minimal template.

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
<body><h1>Thủ tục hành chính</h1><p>{{ items|length }} thủ tục</p><ul>{% for p in items %}<li><a href="/thu-tuc/{{ p.0 }}">{{ p.1 }}</a></li>{% endfor %}</ul></body></html>"#;

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
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(SCHEMA.replace("BIGSERIAL", "INTEGER")))
            .execute(&p)
            .await?;
        Pool::Sqlite(p)
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
    let mut env = minijinja::Environment::new();
    env.add_template("lookup.html", LOOKUP_HTML)?;
    env.add_template("search.html", SEARCH_HTML)?;
    let state = Arc::new(Inner {
        pool,
        files,
        seq: AtomicU64::new(0),
        prefix: format!("000.01.00.H31-{}", uuid::Uuid::new_v4().simple()),
        procedures,
        env,
    });
    let app = Router::new()
        .route("/submit", post(submit))
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

async fn submit(State(state): State<AppState>, mut mp: Multipart) -> Response {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<axum::body::Bytes> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or_default().to_string();
                if f.file_name().is_some() {
                    match f.bytes().await {
                        Ok(b) => file = Some(b),
                        Err(e) => return err(e),
                    }
                } else {
                    match f.text().await {
                        Ok(t) => fields.push((name, t)),
                        Err(e) => return err(e),
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return err(e),
        }
    }
    let Some(file) = file else {
        return (StatusCode::BAD_REQUEST, "no file").into_response();
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
    let key = uuid::Uuid::new_v4().simple().to_string();
    let path = state.files.join(&key);
    let sha = format!("{:x}", file.len());
    let data = file.clone();
    match tokio::task::spawn_blocking(move || write_durable(&path, &data)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return err(e),
        Err(e) => return err(e),
    }
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
    let items: Vec<(&str, &str)> = state
        .procedures
        .iter()
        .filter(|(_, _, f)| dvc_domain::text::matches_all_words(f, &folded))
        .map(|(c, n, _)| (c.as_str(), n.as_str()))
        .collect();
    let html = state
        .env
        .get_template("search.html")
        .and_then(|t| t.render(minijinja::context! { items => minijinja::Value::from(minijinja::value::Serde(&items)) }));
    match html {
        Ok(h) => Html(h).into_response(),
        Err(e) => err(e),
    }
}
