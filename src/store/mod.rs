//! Storage: SQL repositories over SQLite (the default, embedded) or PostgreSQL (several web nodes).
//!
//! The backend is chosen at run time from the database URL. SQL is written once with `$N`
//! placeholders, which both engines bind by number; [`db_run!`] expands one body for each pool
//! type. Backend-specific SQL (e.g. `FOR UPDATE SKIP LOCKED`) is fenced with an explicit `match`.
//! Integers are BIGINT (i64) on both engines; times are BIGINT milliseconds since the epoch (UTC).

pub mod audit;
pub mod catalog;
pub mod citizens;
pub mod dossiers;
pub mod lean;
pub mod login_throttle;
pub mod outbox;
pub mod partners;
pub mod payments;
pub mod procedures;
pub mod rate_limits;
pub mod sandbox;
pub mod sessions;
pub mod signing;
pub mod staff;
pub mod statistics;
pub mod tables;

#[cfg(test)]
mod lockstep;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// Store-level errors; the web layer maps them to [`crate::error::AppError`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("không tìm thấy")]
    NotFound,
    #[error("xung đột dữ liệu: {0}")]
    Conflict(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("dữ liệu lưu trữ không đọc được: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// False for a lookup key that no row can hold: PostgreSQL text cannot contain NUL and refuses
/// the whole query, so a key from the outside with NUL in it is answered "not found" up front
/// (on both backends) instead of failing.
pub fn storable_key(key: &str) -> bool {
    !key.contains('\0')
}

/// The pools do not ping a connection before handing it out (`test_before_acquire(false)`): a
/// connection that broke meanwhile (a restarted PostgreSQL) fails its next statement, which the
/// request reports as an error, and is then dropped. Saves one round trip per statement. Single
/// statements do not pay sqlx's ping on release either ([`lean`]).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(lean::LeanDb<sqlx::Sqlite>),
    Postgres(lean::LeanDb<sqlx::Postgres>),
}

/// Runs the same body against whichever pool backs `$db`, binding the pool to `$pool`.
#[macro_export]
macro_rules! db_run {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock up front, so two
/// writers never deadlock on a lock upgrade), a plain `BEGIN` on PostgreSQL.
#[macro_export]
macro_rules! db_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
            $crate::store::Db::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                $body
            }
        }
    };
}

impl Db {
    /// The durable pool: every commit is flushed to disk (SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on`). Creates the SQLite file if needed.
    pub async fn connect(url: &str) -> StoreResult<Db> {
        Db::open(url, true).await
    }

    /// A second pool on the same database for writes that may be lost in a power cut (never in a
    /// process crash) without harm: sessions, declaration drafts, verification codes, rate-limit
    /// counters and the outbox's delivery marks (at worst an e-mail goes twice). SQLite commits
    /// them with `synchronous=NORMAL` (WAL: no fsync per commit, never corruption; the next
    /// durable commit or checkpoint makes them durable too), PostgreSQL with
    /// `synchronous_commit=off`. Everything a citizen or an official is told has been saved —
    /// dossiers, their attachments and e-mails, state changes, the audit trail, accounts — goes
    /// through the durable pool ([`Db::connect`]: `synchronous=FULL`).
    pub async fn connect_light(url: &str) -> StoreResult<Db> {
        Db::open(url, false).await
    }

    async fn open(url: &str, durable: bool) -> StoreResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = PgConnectOptions::from_str(url)?;
            if !durable {
                opts = opts.options([("synchronous_commit", "off")]);
            }
            // Single statements (nearly all) run on lean connections; transactions on sqlx's
            // pool (see [`lean`]).
            let pool = PgPoolOptions::new()
                .test_before_acquire(false)
                .max_connections(if durable { 8 } else { 2 })
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts.clone())
                .await?;
            Ok(Db::Postgres(lean::LeanDb::new(
                opts,
                if durable { 16 } else { 8 },
                pool,
            )))
        } else {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(durable)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if durable {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(if durable { 4 } else { 2 })
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts.clone())
                .await?;
            Ok(Db::Sqlite(lean::LeanDb::new(
                opts,
                if durable { 8 } else { 4 },
                pool,
            )))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(&p.pool).await,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(&p.pool).await,
        }
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        db_run!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    pub async fn close(&self) {
        db_run!(self, p => p.close().await)
    }
}

/// True when `e` is a unique-constraint violation (both engines).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.is_unique_violation(),
        _ => false,
    }
}
