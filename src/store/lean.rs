//! Database connections: single statements on [`Lean`] connections, transactions and row
//! streams on sqlx's pool. Both backends.
//!
//! Why not sqlx's pool for everything: it pings every connection as it goes back to the pool
//! (`return_to_pool`), one more round trip for every statement: on PostgreSQL a Sync message and
//! a wait for ReadyForQuery, a wake-up of the server process and of ours; on SQLite a message to
//! the connection's worker thread and back, two thread hand-offs. On the benchmark's
//! submission journey (seven statements) the pings cost ~0.14 ms of CPU each, portal and
//! database together, about a sixth of a submission's CPU. For a single statement the ping adds
//! nothing: sqlx's PostgreSQL connection starts every statement by sending whatever is still
//! buffered and reading up to the last ReadyForQuery it is owed (`wait_until_ready`), so a
//! statement cut short by a dropped request is finished off by the connection's next user;
//! sqlx's SQLite worker runs commands in order and stops a statement whose caller is gone.
//! A connection that failed below SQL (I/O, protocol, a crashed worker) is closed instead of
//! going back.
//!
//! Lean: `execute`, `fetch_one`, `fetch_optional`, `fetch_all`. On sqlx's pool: transactions
//! ([`LeanDb::begin`]; its `Transaction` owns its connection and rolls back on drop) and row streams
//! (`fetch`, `fetch_many`: a stream must own its connection; the catalogue is read at start as a
//! stream so that 10,000 procedures are never all in memory at once — collecting them had raised
//! the portal's peak memory at start from 57 MB to 144 MB).

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::{
    ConnectOptions, Connection, Database, Either, Error, Execute, Executor, Pool, SqlSafeStr,
    SqlStr,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Options<DB> = <<DB as Database>::Connection as Connection>::Options;

/// What [`super::Db`] holds for either backend. `&LeanDb` is an [`Executor`]: a single statement
/// run on it takes a [`Lean`] connection; a row stream, one of sqlx's pool.
#[derive(Debug)]
pub struct LeanDb<DB: Database> {
    lean: Lean<DB>,
    /// For transactions, migrations and anything that needs a connection of its own.
    pub pool: Pool<DB>,
}

impl<DB: Database> Clone for LeanDb<DB> {
    fn clone(&self) -> Self {
        LeanDb {
            lean: self.lean.clone(),
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> LeanDb<DB> {
    pub fn new(opts: Options<DB>, max: usize, pool: Pool<DB>) -> LeanDb<DB> {
        LeanDb {
            lean: Lean::new(opts, max, Duration::from_secs(10)),
            pool,
        }
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, DB>, Error> {
        self.pool.begin().await
    }

    pub async fn begin_with(
        &self,
        statement: impl SqlSafeStr,
    ) -> Result<sqlx::Transaction<'static, DB>, Error> {
        self.pool.begin_with(statement).await
    }

    pub async fn close(&self) {
        self.lean.close().await;
        self.pool.close().await;
    }

    /// A lean connection held for several statements (a transaction begun and ended by the
    /// statements themselves, e.g. `BEGIN IMMEDIATE; …` and `…; COMMIT`): handed back by
    /// [`Held::release`] once the caller left it outside any transaction, and closed if dropped
    /// otherwise (the server then rolls back whatever was left open).
    pub async fn hold(&self) -> Result<Held<DB>, Error> {
        let mut lease = self.lean.lease().await?;
        lease.keep = false;
        Ok(Held(lease))
    }
}

/// See [`LeanDb::hold`].
pub struct Held<DB: Database>(Lease<DB>);

impl<DB: Database> Held<DB> {
    pub fn conn(&mut self) -> Result<&mut DB::Connection, Error> {
        self.0.conn()
    }

    /// Hands the connection back for reuse: only once no transaction is left open on it.
    pub fn release(mut self) {
        self.0.keep = true;
    }
}

/// At most `max` connections, opened on demand and kept open; handed back without a ping.
pub struct Lean<DB: Database>(Arc<Inner<DB>>);

impl<DB: Database> Clone for Lean<DB> {
    fn clone(&self) -> Self {
        Lean(self.0.clone())
    }
}

struct Inner<DB: Database> {
    opts: Options<DB>,
    idle: Mutex<Vec<DB::Connection>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl<DB: Database> std::fmt::Debug for Lean<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lean")
            .field("idle", &self.idle().len())
            .field("available", &self.0.permits.available_permits())
            .finish()
    }
}

impl<DB: Database> Lean<DB> {
    pub fn new(opts: Options<DB>, max: usize, acquire_timeout: Duration) -> Lean<DB> {
        Lean(Arc::new(Inner {
            opts,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1))),
            acquire_timeout,
        }))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<DB::Connection>> {
        match self.0.idle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn lease(&self) -> Result<Lease<DB>, Error> {
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
struct Lease<DB: Database> {
    lean: Lean<DB>,
    conn: Option<DB::Connection>,
    keep: bool,
    _permit: OwnedSemaphorePermit,
}

impl<DB: Database> Lease<DB> {
    fn conn(&mut self) -> Result<&mut DB::Connection, Error> {
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
pub(crate) fn leaves_connection_usable(e: &Error) -> bool {
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

impl<DB: Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && self.keep
            && !self.lean.0.permits.is_closed()
        {
            self.lean.idle().push(c);
        }
    }
}

/// Runs one call on a leased connection and notes how it ended ([`Lease::saw`]).
macro_rules! on_lease {
    ($lean:expr, $c:ident => $call:expr) => {{
        let lean = $lean.clone();
        Box::pin(async move {
            let mut lease = lean.lease().await?;
            let r = {
                let $c = lease.conn()?;
                $call.await
            };
            lease.saw(r)
        })
    }};
}

impl<'c, DB: Database> Executor<'c> for &'_ LeanDb<DB>
where
    for<'x> &'x mut DB::Connection: Executor<'x, Database = DB>,
{
    type Database = DB;

    /// Rows as a stream (e.g. the catalogue read at start, 10,000 procedures, unpacked one by
    /// one): sqlx's pool, which can hand out a stream that owns its connection.
    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        Executor::fetch_many(&self.pool, query)
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<DB::QueryResult, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        on_lease!(self.lean, c => c.execute(query))
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<DB::Row>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        on_lease!(self.lean, c => c.fetch_all(query))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        on_lease!(self.lean, c => c.fetch_optional(query))
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'c: 'e,
    {
        on_lease!(self.lean, c => c.prepare_with(sql, parameters))
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, Error>>
    where
        'c: 'e,
    {
        let pool = self.pool.clone();
        Box::pin(async move { pool.describe(sql).await })
    }
}
