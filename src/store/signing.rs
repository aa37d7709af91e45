//! The generated signing identity (`signing_identities`): a PKCS#12 file kept in the database so
//! that every node signs with the same demonstration certificate.

use super::{Db, StoreResult};
use crate::db_run;

/// A stored identity: the PKCS#12 file (base64) and its certificate's subject.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredIdentity {
    pub pkcs12_base64: String,
    pub subject: String,
}

pub async fn find(db: &Db, name: &str) -> StoreResult<Option<StoredIdentity>> {
    let row = db_run!(db, p => {
        sqlx::query_as::<_, StoredIdentity>("SELECT pkcs12_base64, subject FROM signing_identities WHERE name = $1")
            .bind(name).fetch_optional(p).await?
    });
    Ok(row)
}

/// Stores `identity` under `name` unless one is already there (another node may have been
/// first); returns whether this one was stored.
pub async fn insert(
    db: &Db,
    name: &str,
    identity: &StoredIdentity,
    now_ms: i64,
) -> StoreResult<bool> {
    let n = db_run!(db, p => {
        sqlx::query("INSERT INTO signing_identities (name, pkcs12_base64, subject, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING")
            .bind(name).bind(&identity.pkcs12_base64).bind(&identity.subject).bind(now_ms).execute(p).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Replaces the identity stored under `name` (one that can no longer be opened).
pub async fn replace(
    db: &Db,
    name: &str,
    identity: &StoredIdentity,
    now_ms: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE signing_identities SET pkcs12_base64 = $2, subject = $3, created_at = $4 WHERE name = $1")
            .bind(name).bind(&identity.pkcs12_base64).bind(&identity.subject).bind(now_ms).execute(p).await?.rows_affected()
    });
    Ok(())
}
