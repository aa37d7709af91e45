//! PostgreSQL connections: single statements on [`Lean`] connections, transactions on sqlx's
//! pool.
//!
//! Why not sqlx's pool for everything: it pings every connection as it goes back to the pool
//! (`return_to_pool`: a Sync message, then a wait for ReadyForQuery), one more round trip to the
//! database for every statement — a wake-up of the server process and of ours. On the benchmark's
//! submission journey (seven statements) the pings cost ~0.14 ms of CPU each, portal and
//! database together, about a sixth of a submission's CPU. For a single statement the ping adds
//! nothing: sqlx's PostgreSQL connection starts every statement by sending whatever is still
//! buffered and reading up to the last ReadyForQuery it is owed (`wait_until_ready`), so a
//! statement cut short by a dropped request is finished off by the connection's next user.
//! A connection that failed below SQL (I/O, protocol) is closed instead of going back.
//!
//! Lean: `execute`, `fetch_one`, `fetch_optional`, `fetch_all`. On sqlx's pool: transactions
//! ([`PgDb::begin`]; its `Transaction` owns its connection and rolls back on drop) and row streams
//! (`fetch`, `fetch_many`: a stream must own its connection; the catalogue is read at start as a
//! stream so that 10,000 procedures are never all in memory at once — collecting them had raised
//! the portal's peak memory at start from 57 MB to 144 MB).

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult, PgRow, PgStatement};
use sqlx::postgres::{PgPool, PgTypeInfo, Postgres};
use sqlx::{ConnectOptions, Connection, Either, Error, Execute, Executor, SqlSafeStr, SqlStr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The PostgreSQL side of [`super::Db`]. `&PgDb` is an [`Executor`]: a single statement run on it
/// takes a [`Lean`] connection; a row stream, one of sqlx's pool.
#[derive(Clone, Debug)]
pub struct PgDb {
    lean: Lean,
    /// For transactions, migrations and anything that needs a connection of its own.
    pub pool: PgPool,
}

impl PgDb {
    pub fn new(opts: PgConnectOptions, max: usize, pool: PgPool) -> PgDb {
        PgDb {
            lean: Lean::new(opts, max, Duration::from_secs(10)),
            pool,
        }
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
        self.pool.begin().await
    }

    pub async fn begin_with(
        &self,
        statement: impl SqlSafeStr,
    ) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
        self.pool.begin_with(statement).await
    }

    pub async fn close(&self) {
        self.lean.close().await;
        self.pool.close().await;
    }
}

/// At most `max` connections, opened on demand and kept open; handed back without a ping.
#[derive(Clone)]
pub struct Lean(Arc<Inner>);

struct Inner {
    opts: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Lean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lean")
            .field("idle", &self.idle().len())
            .field("available", &self.0.permits.available_permits())
            .finish()
    }
}

impl Lean {
    pub fn new(opts: PgConnectOptions, max: usize, acquire_timeout: Duration) -> Lean {
        Lean(Arc::new(Inner {
            opts,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1))),
            acquire_timeout,
        }))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<PgConnection>> {
        match self.0.idle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn lease(&self) -> Result<Lease, Error> {
        let permit = tokio::time::timeout(
            self.0.acquire_timeout,
            self.0.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Error::PoolTimedOut)?
        .map_err(|_| Error::PoolClosed)?;
        let idle = self.idle().pop();
        let conn = match idle {
            Some(c) => c,
            None => self.0.opts.connect().await?,
        };
        Ok(Lease {
            lean: self.clone(),
            conn: Some(conn),
            keep: true,
            _permit: permit,
        })
    }

    /// Closes the idle connections; connections in use close when they come back.
    pub async fn close(&self) {
        self.0.permits.close();
        let idle = std::mem::take(&mut *self.idle());
        for c in idle {
            let _ = c.close().await;
        }
    }
}

/// A connection taken from [`Lean`]; goes back on drop unless it failed below SQL.
struct Lease {
    lean: Lean,
    conn: Option<PgConnection>,
    keep: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn conn(&mut self) -> Result<&mut PgConnection, Error> {
        self.conn.as_mut().ok_or(Error::PoolClosed)
    }

    /// Notes an error: the connection stays usable after an error the server reported or one
    /// in decoding rows; anything else (I/O, protocol) may have left it broken.
    fn saw<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &r
            && !leaves_connection_usable(e)
        {
            self.keep = false;
        }
        r
    }
}

/// Errors after which the connection is still in step with the server: one the server reported
/// (except those that end the session: SQLSTATE class 08, or 57P01–57P03 when the server is shut
/// down or the backend terminated), or one in encoding arguments or decoding rows. Anything else
/// (I/O, protocol) may have broken it.
fn leaves_connection_usable(e: &Error) -> bool {
    if let Error::Database(d) = e {
        return !d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P"));
    }
    matches!(
        e,
        Error::RowNotFound
            | Error::ColumnNotFound(_)
            | Error::ColumnIndexOutOfBounds { .. }
            | Error::ColumnDecode { .. }
            | Error::Decode(_)
            | Error::Encode(_)
            | Error::TypeNotFound { .. }
    )
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && self.keep
            && !self.lean.0.permits.is_closed()
        {
            self.lean.idle().push(c);
        }
    }
}

impl<'c> Executor<'c> for &'_ PgDb {
    type Database = Postgres;

    /// Rows as a stream (e.g. the catalogue read at start, 10,000 procedures, unpacked one by
    /// one): sqlx's pool, which can hand out a stream that owns its connection.
    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Executor::fetch_many(&self.pool, query)
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<PgQueryResult, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let lean = self.lean.clone();
        Box::pin(async move {
            let mut lease = lean.lease().await?;
            let r = lease.conn()?.execute(query).await;
            lease.saw(r)
        })
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let lean = self.lean.clone();
        Box::pin(async move {
            let mut lease = lean.lease().await?;
            let r = lease.conn()?.fetch_all(query).await;
            lease.saw(r)
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let lean = self.lean.clone();
        Box::pin(async move {
            let mut lease = lean.lease().await?;
            let r = lease.conn()?.fetch_optional(query).await;
            lease.saw(r)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        let lean = self.lean.clone();
        Box::pin(async move {
            let mut lease = lean.lease().await?;
            let r = lease.conn()?.prepare_with(sql, parameters).await;
            lease.saw(r)
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        let pool = self.pool.clone();
        Box::pin(async move { pool.describe(sql).await })
    }
}
