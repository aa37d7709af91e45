//! Single statements run on connections handed back without sqlx's ping (`store::lean`). A
//! statement cut short (its request dropped) leaves its connection usable for the next one (both
//! backends); a PostgreSQL connection the server killed is dropped after one failed statement and
//! a new one is opened (with `DVC_TEST_BACKEND=postgres`).

use crate::helpers::*;
use crate::nodes::{TempDir, temp_dir};
use dichvucong::store::Db;
use std::time::Duration;

async fn backend_pid(db: &Db) -> Result<i32, sqlx::Error> {
    let Db::Postgres(p) = db else {
        panic!("PostgreSQL expected");
    };
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(p)
        .await?;
    Ok(pid)
}

#[tokio::test]
async fn a_statement_cut_short_or_a_killed_connection_does_not_poison_the_next_ones() {
    if !backend_is_pg() {
        eprintln!("note: the connection test runs only with DVC_TEST_BACKEND=postgres; skipped");
        return;
    }
    let pg = PgDb::create().await;
    let db = Db::connect(&pg.url).await.expect("connect");
    let Db::Postgres(p) = &db else {
        panic!("PostgreSQL expected");
    };
    let first = backend_pid(&db).await.expect("pid");
    // One statement at a time: the same connection comes back each time.
    assert_eq!(backend_pid(&db).await.expect("pid"), first);

    // Cut short while the server is still working on it.
    let slow = sqlx::query("SELECT pg_sleep(0.4)").execute(p);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), slow)
            .await
            .is_err(),
        "the statement should still be running"
    );
    // The same connection answers the next statement once the cut one is over.
    assert_eq!(backend_pid(&db).await.expect("pid after a cut"), first);
    let (n,): (i64,) = sqlx::query_as("SELECT 41::bigint + 1")
        .fetch_one(p)
        .await
        .expect("statement after a cut");
    assert_eq!(n, 42);
    // An error the server reports keeps the connection.
    assert!(
        sqlx::query("SELECT * FROM no_such_table")
            .execute(p)
            .await
            .is_err()
    );
    assert_eq!(backend_pid(&db).await.expect("pid after an error"), first);

    // The server kills the connection: at most one statement fails, then a new one is used.
    let admin = sqlx::PgPool::connect(&pg_admin_url()).await.expect("admin");
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(first)
        .execute(&admin)
        .await
        .expect("terminate");
    admin.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = match backend_pid(&db).await {
        Ok(pid) => pid,
        Err(_) => backend_pid(&db)
            .await
            .expect("a new connection after a kill"),
    };
    assert_ne!(after, first);
    assert_eq!(backend_pid(&db).await.expect("pid"), after);
    db.close().await;
}

/// SQLite: the same without a server — a long statement cut short leaves its connection (the
/// only one opened, so the one the next statements get) usable.
#[tokio::test]
async fn sqlite_a_statement_cut_short_does_not_poison_the_next_ones() {
    let dir = TempDir(temp_dir("lean-sqlite"));
    let url = format!("sqlite://{}", dir.0.join("t.db").display());
    let db = Db::connect(&url).await.expect("connect");
    let Db::Sqlite(p) = &db else {
        panic!("SQLite expected");
    };
    let slow = sqlx::query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
         SELECT COUNT(*) FROM c",
    )
    .execute(p);
    assert!(
        tokio::time::timeout(Duration::from_millis(20), slow)
            .await
            .is_err(),
        "the statement should still be running"
    );
    for i in 0..3i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT $1 + 1")
            .bind(i)
            .fetch_one(p)
            .await
            .expect("statement after a cut");
        assert_eq!(n, i + 1);
    }
    assert!(
        sqlx::query("SELECT * FROM no_such_table")
            .execute(p)
            .await
            .is_err()
    );
    let (n,): (i64,) = sqlx::query_as("SELECT 42")
        .fetch_one(p)
        .await
        .expect("statement after an error");
    assert_eq!(n, 42);
    db.close().await;
}
