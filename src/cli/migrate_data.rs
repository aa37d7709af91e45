//! `dichvucong migrate-data --from URL --to URL`: moves a whole installation from one database
//! to another (typically a commune's SQLite to a province's PostgreSQL), and optionally its
//! attachments from one storage to another.
//!
//! - Both databases are migrated to this binary's schema first; the target must be empty.
//! - Table-driven: [`crate::store::tables::COPIED`] lists the tables, in foreign-key order.
//!   Columns are discovered from both catalogues and must match.
//! - The source is read in one snapshot (a read transaction); the target is written in one
//!   transaction, so a failed copy leaves it empty. Ids are copied as they are, then PostgreSQL
//!   sequences are moved past the largest id (`setval`).
//! - Afterwards each table is read back from the target and compared with the source: row count
//!   and an order-independent digest of every row's content. Then [`verify_chains`] runs.

use crate::files::Files;
use crate::store::Db;
use crate::store::tables::{COPIED, Table};
use anyhow::{Context, bail};
use dvc_domain::audit::AuditKey;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{Column, Postgres, Row, Sqlite, Transaction, TypeInfo, ValueRef};

/// Rows per INSERT (bounded again by PostgreSQL's 65 535 bind parameters).
const BATCH_ROWS: usize = 500;

/// One stored value, engine-neutral.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// What the target column holds; source values are converted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
    Blob,
    Bool,
}

impl Kind {
    fn of_postgres(data_type: &str) -> anyhow::Result<Kind> {
        Ok(match data_type {
            "bigint" | "integer" | "smallint" => Kind::Int,
            "text" | "character varying" | "character" => Kind::Text,
            "double precision" | "real" => Kind::Real,
            "bytea" => Kind::Blob,
            "boolean" => Kind::Bool,
            other => bail!("kiểu cột PostgreSQL chưa hỗ trợ khi chuyển dữ liệu: {other}"),
        })
    }

    /// SQLite's type-affinity rules (section 3.1 of its datatype documentation).
    fn of_sqlite(declared: &str) -> Kind {
        let d = declared.to_ascii_uppercase();
        if d.contains("INT") || d.contains("BOOL") {
            Kind::Int
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            Kind::Text
        } else if d.contains("BLOB") || d.is_empty() {
            Kind::Blob
        } else {
            Kind::Real
        }
    }
}

fn coerce(v: Value, kind: Kind, table: &str, column: &str) -> anyhow::Result<Value> {
    let bad = |v: &Value| {
        anyhow::anyhow!("bảng {table}, cột {column}: giá trị {v:?} không chuyển được sang {kind:?}")
    };
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (Kind::Int, Value::Int(i)) => Value::Int(i),
        (Kind::Int, Value::Bool(b)) => Value::Int(i64::from(b)),
        (Kind::Int, Value::Text(s)) => {
            Value::Int(s.trim().parse().map_err(|_| bad(&Value::Text(s.clone())))?)
        }
        (Kind::Real, Value::Real(f)) => Value::Real(f),
        #[allow(clippy::cast_precision_loss)]
        (Kind::Real, Value::Int(i)) => Value::Real(i as f64),
        (Kind::Text, Value::Text(s)) => Value::Text(s),
        (Kind::Text, Value::Int(i)) => Value::Text(i.to_string()),
        (Kind::Text, Value::Blob(b)) => {
            Value::Text(String::from_utf8(b).map_err(|e| bad(&Value::Blob(e.into_bytes())))?)
        }
        (Kind::Blob, Value::Blob(b)) => Value::Blob(b),
        (Kind::Blob, Value::Text(s)) => Value::Blob(s.into_bytes()),
        (Kind::Bool, Value::Bool(b)) => Value::Bool(b),
        (Kind::Bool, Value::Int(i)) => Value::Bool(i != 0),
        (_, v) => return Err(bad(&v)),
    })
}

/// A transaction on either engine: the source snapshot, the target write, or a verification read.
enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    async fn write(db: &Db) -> anyhow::Result<Tx> {
        Ok(match db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A consistent snapshot for reading.
    async fn snapshot(db: &Db) -> anyhow::Result<Tx> {
        Ok(match db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    async fn commit(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Column names and declared kinds of a table, in table order.
async fn columns(db: &Db, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    Ok(match db {
        Db::Sqlite(p) => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(p)
                    .await?;
            rows.into_iter()
                .map(|(n, t)| (n, Kind::of_sqlite(&t)))
                .collect()
        }
        Db::Postgres(p) => {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|(n, t)| Kind::of_postgres(&t).map(|k| (n, k)))
                .collect::<anyhow::Result<_>>()?
        }
    })
}

async fn count(db: &Db, table: &str) -> anyhow::Result<i64> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", quote(table)));
    let (n,): (i64,) = crate::db_run!(db, p => sqlx::query_as(sql).fetch_one(p).await?);
    Ok(n)
}

/// How one table is copied: its columns (the target's order) and their kinds on the target.
struct Plan {
    table: Table,
    columns: Vec<String>,
    kinds: Vec<Kind>,
}

impl Plan {
    fn select_sql(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let order = if self.table.serial_id {
            " ORDER BY \"id\"".to_string()
        } else {
            String::new()
        };
        format!(
            "SELECT {} FROM {}{order}",
            cols.join(", "),
            quote(self.table.name)
        )
    }

    fn insert_sql(&self, rows: usize) -> String {
        let n = self.columns.len();
        let cols: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let tuples: Vec<String> = (0..rows)
            .map(|r| {
                let ps: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES {}",
            quote(self.table.name),
            cols.join(", "),
            tuples.join(", ")
        )
    }

    fn batch_rows(&self) -> usize {
        (60_000 / self.columns.len().max(1)).clamp(1, BATCH_ROWS)
    }
}

/// Row count and an order-independent digest of a table's content.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    rows: i64,
    digest: u128,
}

impl Tally {
    fn add(&mut self, row: &[Value]) {
        let mut h = Sha256::new();
        for v in row {
            match v {
                Value::Null => h.update([0u8]),
                Value::Int(i) => {
                    h.update([1u8]);
                    h.update(i.to_le_bytes());
                }
                Value::Real(f) => {
                    h.update([2u8]);
                    h.update(f.to_bits().to_le_bytes());
                }
                Value::Text(s) => {
                    h.update([3u8]);
                    h.update((s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                Value::Blob(b) => {
                    h.update([4u8]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                Value::Bool(b) => h.update([5u8, u8::from(*b)]),
            }
        }
        let d = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        self.rows += 1;
        self.digest = self.digest.wrapping_add(u128::from_le_bytes(first));
    }
}

fn sqlite_values(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let (null, ty) = {
            let raw = row.try_get_raw(i)?;
            (raw.is_null(), raw.type_info().name().to_string())
        };
        out.push(if null {
            Value::Null
        } else {
            match ty.as_str() {
                "INTEGER" => Value::Int(row.try_get_unchecked::<i64, _>(i)?),
                "REAL" => Value::Real(row.try_get_unchecked::<f64, _>(i)?),
                "TEXT" => Value::Text(row.try_get_unchecked::<String, _>(i)?),
                "BLOB" => Value::Blob(row.try_get_unchecked::<Vec<u8>, _>(i)?),
                other => bail!("kiểu giá trị SQLite không đọc được: {other}"),
            }
        });
    }
    Ok(out)
}

fn postgres_values(row: &sqlx::postgres::PgRow) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match col.type_info().name() {
            "INT8" => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)?
                .map(|x| Value::Int(x.into())),
            "INT2" => row
                .try_get::<Option<i16>, _>(i)?
                .map(|x| Value::Int(x.into())),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                row.try_get::<Option<String>, _>(i)?.map(Value::Text)
            }
            "FLOAT8" => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
            "FLOAT4" => row
                .try_get::<Option<f32>, _>(i)?
                .map(|x| Value::Real(x.into())),
            "BYTEA" => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
            "BOOL" => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            other => bail!("kiểu cột PostgreSQL chưa hỗ trợ khi chuyển dữ liệu: {other}"),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// Where the rows read go: always tallied; inserted into `target` when there is one.
struct Sink<'a> {
    plan: &'a Plan,
    target: Option<&'a mut Tx>,
    batch: Vec<Vec<Value>>,
    tally: Tally,
}

impl Sink<'_> {
    async fn push(&mut self, raw: Vec<Value>) -> anyhow::Result<()> {
        let row = raw
            .into_iter()
            .zip(&self.plan.kinds)
            .zip(&self.plan.columns)
            .map(|((v, k), c)| coerce(v, *k, self.plan.table.name, c))
            .collect::<anyhow::Result<Vec<Value>>>()?;
        self.tally.add(&row);
        if self.target.is_some() {
            self.batch.push(row);
            if self.batch.len() >= self.plan.batch_rows() {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let Some(target) = self.target.as_deref_mut() else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.batch);
        let sql = self.plan.insert_sql(rows.len());
        match target {
            Tx::Sqlite(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in rows.into_iter().flatten() {
                    q = match v {
                        Value::Null => q.bind(Option::<i64>::None),
                        Value::Int(i) => q.bind(i),
                        Value::Real(f) => q.bind(f),
                        Value::Text(s) => q.bind(s),
                        Value::Blob(b) => q.bind(b),
                        Value::Bool(b) => q.bind(i64::from(b)),
                    };
                }
                q.execute(&mut **tx).await?;
            }
            Tx::Postgres(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (i, v) in rows.into_iter().flatten().enumerate() {
                    let kind = self.plan.kinds[i % self.plan.kinds.len()];
                    q = match (v, kind) {
                        (Value::Null, Kind::Int) => q.bind(Option::<i64>::None),
                        (Value::Null, Kind::Real) => q.bind(Option::<f64>::None),
                        (Value::Null, Kind::Text) => q.bind(Option::<String>::None),
                        (Value::Null, Kind::Blob) => q.bind(Option::<Vec<u8>>::None),
                        (Value::Null, Kind::Bool) => q.bind(Option::<bool>::None),
                        (Value::Int(i), _) => q.bind(i),
                        (Value::Real(f), _) => q.bind(f),
                        (Value::Text(s), _) => q.bind(s),
                        (Value::Blob(b), _) => q.bind(b),
                        (Value::Bool(b), _) => q.bind(b),
                    };
                }
                q.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

/// Reads every row of `plan`'s table through `source` into `sink`.
async fn pump(source: &mut Tx, sink: &mut Sink<'_>) -> anyhow::Result<()> {
    let sql = sink.plan.select_sql();
    match source {
        Tx::Sqlite(tx) => {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut **tx);
            while let Some(row) = rows.try_next().await? {
                sink.push(sqlite_values(&row)?).await?;
            }
        }
        Tx::Postgres(tx) => {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut **tx);
            while let Some(row) = rows.try_next().await? {
                sink.push(postgres_values(&row)?).await?;
            }
        }
    }
    sink.flush().await
}

/// Moves PostgreSQL's sequence of `table.id` past the largest copied id.
async fn reset_sequence(target: &mut Tx, table: &str) -> anyhow::Result<()> {
    if let Tx::Postgres(tx) = target {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT MAX(id) FROM {}), 0) + 1, false)",
            quote(table)
        ));
        sqlx::query(sql).bind(table).execute(&mut **tx).await?;
    }
    // SQLite: AUTOINCREMENT follows explicit ids by itself (sqlite_sequence).
    Ok(())
}

/// Integrity checks that understand the data, run on the target after the copy; each returns a
/// line for the report. The audit log's hash chain must verify on the target, or the migration fails.
async fn verify_chains(target: &Db, key: &AuditKey) -> anyhow::Result<Vec<String>> {
    // Entries copied while still waiting are chained on the target, after its copied chain.
    crate::store::audit::seal(target, key).await?;
    match crate::store::audit::verify(target, key, None).await? {
        Ok(v) => Ok(vec![format!(
            "Nhật ký kiểm tra: {} mục, {} sự kiện của {} hồ sơ; chuỗi băm khớp.",
            v.entries, v.events, v.dossiers
        )]),
        Err(e) => bail!("Nhật ký kiểm tra trên cơ sở dữ liệu đích không toàn vẹn: {e}"),
    }
}

/// Copies the objects named by `attachments.storage_key` from one storage to another, checking
/// each one's SHA-256 against the database. Returns how many were copied.
async fn copy_files(target: &Db, from: &Files, to: &Files) -> anyhow::Result<usize> {
    let rows: Vec<(String, String)> = crate::db_run!(target, p => {
        sqlx::query_as("SELECT storage_key, sha256 FROM attachments ORDER BY id").fetch_all(p).await?
    });
    for (key, sha) in &rows {
        let bytes = from
            .get(key)
            .await
            .with_context(|| format!("không đọc được tệp {key} ở {}", from.location()))?;
        if hex::encode(Sha256::digest(&bytes)) != *sha {
            bail!(
                "tệp {key} ở {} không khớp mã băm SHA-256 đã lưu",
                from.location()
            );
        }
        to.put(key, bytes)
            .await
            .with_context(|| format!("không ghi được tệp {key} vào {}", to.location()))?;
    }
    Ok(rows.len())
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `dichvucong migrate-data`.
pub async fn run(
    from: &str,
    to: &str,
    files_from: Option<&str>,
    files_to: Option<&str>,
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    let data_dir = config.data_dir.as_path();
    // The chains are keyed: the target is verified with this deployment's key.
    let key = config.load_audit_key(false)?;
    if from.trim() == to.trim() {
        bail!("--from và --to phải là hai cơ sở dữ liệu khác nhau");
    }
    if files_from.is_some() != files_to.is_some() {
        bail!("--files-from và --files-to phải đi cùng nhau");
    }
    let files = match (files_from, files_to) {
        (Some(a), Some(b)) => Some((
            Files::open(Some(a), data_dir).await?,
            Files::open(Some(b), data_dir).await?,
        )),
        _ => None,
    };
    let src = Db::connect(from)
        .await
        .with_context(|| format!("không kết nối được cơ sở dữ liệu nguồn {}", redact(from)))?;
    let dst = Db::connect(to)
        .await
        .with_context(|| format!("không kết nối được cơ sở dữ liệu đích {}", redact(to)))?;
    src.migrate()
        .await
        .context("không cập nhật được cấu trúc cơ sở dữ liệu nguồn")?;
    dst.migrate()
        .await
        .context("không cập nhật được cấu trúc cơ sở dữ liệu đích")?;
    println!(
        "Chuyển dữ liệu: {} ({}) → {} ({})",
        redact(from),
        src.backend(),
        redact(to),
        dst.backend()
    );

    // The target must be empty: nothing is merged or overwritten.
    for t in COPIED {
        let n = count(&dst, t.name).await?;
        if n > 0 {
            bail!(
                "cơ sở dữ liệu đích đã có dữ liệu (bảng {} có {n} dòng); chỉ chuyển vào một cơ sở dữ liệu trống, mới tạo",
                t.name
            );
        }
    }

    let mut plans = Vec::new();
    for t in COPIED {
        let s = columns(&src, t.name).await?;
        let d = columns(&dst, t.name).await?;
        let mut sn: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        let mut dn: Vec<&str> = d.iter().map(|(n, _)| n.as_str()).collect();
        sn.sort_unstable();
        dn.sort_unstable();
        if sn != dn || dn.is_empty() {
            bail!(
                "bảng {}: cột ở nguồn ({}) khác cột ở đích ({})",
                t.name,
                sn.join(", "),
                dn.join(", ")
            );
        }
        plans.push(Plan {
            table: *t,
            columns: d.iter().map(|(n, _)| n.clone()).collect(),
            kinds: d.iter().map(|(_, k)| *k).collect(),
        });
    }

    // Copy: one snapshot of the source, one transaction on the target.
    let started = std::time::Instant::now();
    let mut source = Tx::snapshot(&src).await?;
    let mut target = Tx::write(&dst).await?;
    let mut copied = Vec::new();
    for plan in &plans {
        let mut sink = Sink {
            plan,
            target: Some(&mut target),
            batch: Vec::new(),
            tally: Tally::default(),
        };
        pump(&mut source, &mut sink)
            .await
            .with_context(|| format!("không chép được bảng {}", plan.table.name))?;
        let tally = sink.tally;
        if plan.table.serial_id {
            reset_sequence(&mut target, plan.table.name).await?;
        }
        copied.push(tally);
    }
    target
        .commit()
        .await
        .context("không ghi được dữ liệu vào đích")?;
    source.commit().await?;

    // Verify: read every table back from the target and compare with what was read.
    println!("{:<22} {:>10}  Đối chiếu", "Bảng", "Số dòng");
    let mut check = Tx::snapshot(&dst).await?;
    let mut total = 0i64;
    let mut bad = Vec::new();
    for (plan, expected) in plans.iter().zip(&copied) {
        let mut sink = Sink {
            plan,
            target: None,
            batch: Vec::new(),
            tally: Tally::default(),
        };
        pump(&mut check, &mut sink).await?;
        let counted = count(&dst, plan.table.name).await?;
        let ok = sink.tally == *expected && counted == expected.rows;
        println!(
            "{:<22} {:>10}  {}",
            plan.table.name,
            expected.rows,
            if ok { "khớp" } else { "KHÔNG KHỚP" }
        );
        if !ok {
            bad.push(plan.table.name);
        }
        total += expected.rows;
    }
    check.commit().await?;
    if !bad.is_empty() {
        bail!(
            "dữ liệu ở đích không khớp với nguồn ở các bảng: {}",
            bad.join(", ")
        );
    }
    for line in verify_chains(&dst, &key).await? {
        println!("{line}");
    }
    if let Some((a, b)) = files {
        let n = copy_files(&dst, &a, &b).await?;
        println!(
            "Đã chép {n} tệp đính kèm từ {} sang {} (mã băm SHA-256 khớp).",
            a.location(),
            b.location()
        );
    }
    println!(
        "Đã chuyển xong {} bảng, {total} dòng trong {:.1} giây; số dòng và nội dung từng bảng khớp với nguồn.",
        plans.len(),
        started.elapsed().as_secs_f64()
    );
    src.close().await;
    dst.close().await;
    Ok(())
}
