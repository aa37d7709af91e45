//! Versions of procedures edited in the browser (`/can-bo/quan-tri/thu-tuc`): at most one draft
//! per procedure; "Xuất bản" makes it the live version (the row of `procedures`, which the
//! catalogue loads), earlier versions stay readable, and a dossier keeps the number of the one
//! it was filed with. Imports of TOML files publish a version too ([`super::catalog::import`]).

use super::{Db, StoreError, StoreResult};
use crate::{db_run, db_tx};
use dvc_domain::catalog::Procedure;
use sha2::{Digest, Sha256};

/// One version, without its content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionMeta {
    pub code: String,
    pub version: i64,
    /// `draft` or `published`.
    pub status: String,
    pub created_at: i64,
    pub created_by: String,
    pub published_at: Option<i64>,
    pub published_by: Option<String>,
}

fn parse(json: &str) -> StoreResult<Procedure> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("procedure version: {e}")))
}

fn to_json(p: &Procedure) -> StoreResult<String> {
    serde_json::to_string(p).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Every version of a procedure, newest first.
pub async fn versions(db: &Db, code: &str) -> StoreResult<Vec<VersionMeta>> {
    if !super::storable_key(code) {
        return Ok(vec![]);
    }
    Ok(db_run!(db, p => {
        sqlx::query_as::<_, VersionMeta>("SELECT code, version, status, created_at, created_by, published_at, published_by \
            FROM procedure_versions WHERE code = $1 ORDER BY version DESC")
            .bind(code).fetch_all(p).await?
    }))
}

/// One version's content.
pub async fn get(db: &Db, code: &str, version: i64) -> StoreResult<Option<Procedure>> {
    if !super::storable_key(code) {
        return Ok(None);
    }
    let row: Option<(String,)> = db_run!(db, p => {
        sqlx::query_as("SELECT data FROM procedure_versions WHERE code = $1 AND version = $2")
            .bind(code).bind(version).fetch_optional(p).await?
    });
    row.map(|(d,)| parse(&d)).transpose()
}

/// The draft of a procedure, if one is open: (version, content).
pub async fn draft(db: &Db, code: &str) -> StoreResult<Option<(i64, Procedure)>> {
    if !super::storable_key(code) {
        return Ok(None);
    }
    let row: Option<(i64, String)> = db_run!(db, p => {
        sqlx::query_as("SELECT version, data FROM procedure_versions WHERE code = $1 AND status = 'draft'")
            .bind(code).fetch_optional(p).await?
    });
    row.map(|(v, d)| Ok((v, parse(&d)?))).transpose()
}

/// Codes of the procedures with an open draft (a new procedure has only that).
pub async fn drafts(db: &Db) -> StoreResult<Vec<(String, i64, String)>> {
    let rows: Vec<(String, i64, String)> = db_run!(db, p => {
        sqlx::query_as("SELECT code, version, data FROM procedure_versions WHERE status = 'draft' ORDER BY code")
            .fetch_all(p).await?
    });
    Ok(rows)
}

/// Whether a procedure with this code exists, live or as a version.
pub async fn exists(db: &Db, code: &str) -> StoreResult<bool> {
    if !super::storable_key(code) {
        return Ok(false);
    }
    let (n,): (i64,) = db_run!(db, p => {
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM procedures WHERE code = $1) + (SELECT COUNT(*) FROM procedure_versions WHERE code = $1)")
            .bind(code).fetch_one(p).await?
    });
    Ok(n > 0)
}

/// Saves `p` as the procedure's draft (replacing the open draft, or opening one numbered after
/// the last version). Returns its version number.
pub async fn save_draft(db: &Db, p: &Procedure, by: &str, now: i64) -> StoreResult<i64> {
    let json = to_json(p)?;
    let version = db_tx!(db, tx => {
        let open: Option<(i64,)> = sqlx::query_as("SELECT version FROM procedure_versions WHERE code = $1 AND status = 'draft'")
            .bind(&p.code).fetch_optional(&mut *tx).await?;
        let v = match open {
            Some((v,)) => {
                sqlx::query("UPDATE procedure_versions SET data = $3, created_at = $4, created_by = $5 WHERE code = $1 AND version = $2")
                    .bind(&p.code).bind(v).bind(&json).bind(now).bind(by).execute(&mut *tx).await?;
                v
            }
            None => {
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM procedure_versions WHERE code = $1")
                    .bind(&p.code).fetch_one(&mut *tx).await?;
                let v = max.unwrap_or(0) + 1;
                sqlx::query("INSERT INTO procedure_versions (code, version, status, data, created_at, created_by) VALUES ($1, $2, 'draft', $3, $4, $5)")
                    .bind(&p.code).bind(v).bind(&json).bind(now).bind(by).execute(&mut *tx).await?;
                v
            }
        };
        tx.commit().await?;
        v
    });
    Ok(version)
}

/// Drops the open draft of a procedure; false when there was none.
pub async fn discard_draft(db: &Db, code: &str) -> StoreResult<bool> {
    let n = db_run!(db, p => {
        sqlx::query("DELETE FROM procedure_versions WHERE code = $1 AND status = 'draft'")
            .bind(code).execute(p).await?.rows_affected()
    });
    Ok(n > 0)
}

/// Makes the open draft the live version: marks it published and writes it to `procedures` (the
/// catalogue), in one transaction. Returns the draft's content and number, `None` without one.
pub async fn publish(
    db: &Db,
    code: &str,
    by: &str,
    now: i64,
) -> StoreResult<Option<(i64, Procedure)>> {
    let out = db_tx!(db, tx => {
        let open: Option<(i64, String)> = sqlx::query_as("SELECT version, data FROM procedure_versions WHERE code = $1 AND status = 'draft'")
            .bind(code).fetch_optional(&mut *tx).await?;
        let Some((v, json)) = open else {
            return Ok(None);
        };
        let p = parse(&json)?;
        sqlx::query("UPDATE procedure_versions SET status = 'published', published_at = $3, published_by = $4 WHERE code = $1 AND version = $2")
            .bind(code).bind(v).bind(now).bind(by).execute(&mut *tx).await?;
        let hash = hex::encode(Sha256::digest(json.as_bytes()));
        let level = i64::from(p.level.number());
        let updated = sqlx::query("UPDATE procedures SET name = $2, field = $3, level = $4, online_class = $5, data = $6, content_hash = $7, updated_at = $8, version = $9 WHERE code = $1")
            .bind(code).bind(&p.name).bind(&p.field).bind(level).bind(p.online_class.slug())
            .bind(&json).bind(&hash).bind(now).bind(v).execute(&mut *tx).await?.rows_affected();
        if updated == 0 {
            sqlx::query("INSERT INTO procedures (code, name, field, level, online_class, data, content_hash, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(code).bind(&p.name).bind(&p.field).bind(level).bind(p.online_class.slug())
                .bind(&json).bind(&hash).bind(now).bind(v).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('catalog_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(now.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Some((v, p))
    });
    Ok(out)
}

/// Retires a live procedure (no longer listed nor offered; its dossiers keep it) or brings it
/// back. False when there is no live procedure with this code.
pub async fn set_retired(db: &Db, code: &str, retired: bool, now: i64) -> StoreResult<bool> {
    let at = retired.then_some(now);
    let n = db_tx!(db, tx => {
        let n = sqlx::query("UPDATE procedures SET retired_at = $2 WHERE code = $1")
            .bind(code).bind(at).execute(&mut *tx).await?.rows_affected();
        sqlx::query("INSERT INTO meta (key, value) VALUES ('catalog_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(now.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        n
    });
    Ok(n > 0)
}

/// The citizens' drafts of a procedure that passed validation (they may be sent as they are):
/// their answers and the keys of their uploaded files.
pub async fn checked_drafts(
    db: &Db,
    code: &str,
) -> StoreResult<
    Vec<(
        dvc_domain::form::Answers,
        std::collections::BTreeSet<String>,
    )>,
> {
    let rows: Vec<(String, String)> = db_run!(db, p => {
        sqlx::query_as("SELECT answers, files FROM drafts WHERE procedure_code = $1 AND validated = 1")
            .bind(code).fetch_all(p).await?
    });
    Ok(rows
        .into_iter()
        .map(|(a, f)| {
            let answers = serde_json::from_str(&a).unwrap_or_default();
            let files: std::collections::BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&f).unwrap_or_default();
            (answers, files.into_keys().collect())
        })
        .collect())
}
