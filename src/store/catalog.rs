//! Catalogue tables: agencies and procedures, stored as JSON documents with a few indexed columns.

use super::{Db, StoreError, StoreResult};
use crate::db_tx;
use dvc_domain::agency::Agency;
use dvc_domain::catalog::Procedure;
use sha2::{Digest, Sha256};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn hash(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Upserts agencies and procedures in one transaction. Rows whose content did not change are
/// left untouched, so importing the same catalogue twice changes nothing.
pub async fn import(
    db: &Db,
    agencies: &[Agency],
    procedures: &[Procedure],
    now: i64,
) -> StoreResult<ImportReport> {
    let mut report = ImportReport::default();
    db_tx!(db, tx => {
        for a in agencies {
            let json = to_json(a)?;
            let h = hash(&json);
            let old: Option<(String,)> = sqlx::query_as("SELECT content_hash FROM agencies WHERE code = $1")
                .bind(a.code.as_str()).fetch_optional(&mut *tx).await?;
            match old {
                Some((oh,)) if oh == h => report.unchanged += 1,
                Some(_) => {
                    sqlx::query("UPDATE agencies SET parent_code = $2, name = $3, kind = $4, data = $5, content_hash = $6, updated_at = $7 WHERE code = $1")
                        .bind(a.code.as_str()).bind(a.parent.as_ref().map(|p| p.as_str())).bind(&a.name).bind(&a.kind)
                        .bind(&json).bind(&h).bind(now).execute(&mut *tx).await?;
                    report.updated += 1;
                }
                None => {
                    sqlx::query("INSERT INTO agencies (code, parent_code, name, kind, data, content_hash, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(a.code.as_str()).bind(a.parent.as_ref().map(|p| p.as_str())).bind(&a.name).bind(&a.kind)
                        .bind(&json).bind(&h).bind(now).execute(&mut *tx).await?;
                    report.added += 1;
                }
            }
        }
        // (last version, last published version) of every procedure that has versions: one
        // query, not two per procedure (an import of 10,000 procedures stays quick).
        let rows: Vec<(String, i64, i64)> = sqlx::query_as("SELECT code, MAX(version), COALESCE(MAX(CASE WHEN status = 'published' THEN version END), 0) FROM procedure_versions GROUP BY code")
            .fetch_all(&mut *tx).await?;
        let mut known: std::collections::HashMap<String, (i64, i64)> =
            rows.into_iter().map(|(c, top, published)| (c, (top, published))).collect();
        for p in procedures {
            let json = to_json(p)?;
            let h = hash(&json);
            let old: Option<(String,)> = sqlx::query_as("SELECT content_hash FROM procedures WHERE code = $1")
                .bind(&p.code).fetch_optional(&mut *tx).await?;
            let level = i64::from(p.level.number());
            match &old {
                Some((oh,)) if *oh == h => report.unchanged += 1,
                Some(_) | None => {
                    // Each change is a published version (after any earlier one; an open draft
                    // moves after it).
                    let (top, published) = known.get(&p.code).copied().unwrap_or((0, 0));
                    let v = published + 1;
                    if top >= v {
                        sqlx::query("UPDATE procedure_versions SET version = $2 WHERE code = $1 AND status = 'draft'")
                            .bind(&p.code).bind(top + 1).execute(&mut *tx).await?;
                    }
                    known.insert(p.code.clone(), (top.max(v) + i64::from(top >= v), v));
                    sqlx::query("INSERT INTO procedure_versions (code, version, status, data, created_at, created_by, published_at, published_by) VALUES ($1, $2, 'published', $3, $4, 'import', $4, 'import')")
                        .bind(&p.code).bind(v).bind(&json).bind(now).execute(&mut *tx).await?;
                    if old.is_some() {
                        sqlx::query("UPDATE procedures SET name = $2, field = $3, level = $4, online_class = $5, data = $6, content_hash = $7, updated_at = $8, version = $9 WHERE code = $1")
                            .bind(&p.code).bind(&p.name).bind(&p.field).bind(level).bind(p.online_class.slug())
                            .bind(&json).bind(&h).bind(now).bind(v).execute(&mut *tx).await?;
                        report.updated += 1;
                    } else {
                        sqlx::query("INSERT INTO procedures (code, name, field, level, online_class, data, content_hash, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                            .bind(&p.code).bind(&p.name).bind(&p.field).bind(level).bind(p.online_class.slug())
                            .bind(&json).bind(&h).bind(now).bind(v).execute(&mut *tx).await?;
                        report.added += 1;
                    }
                }
            }
        }
        if report.added + report.updated > 0 {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('catalog_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(now.to_string()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(report)
}

/// The agencies of the catalogue, in code order (without reading any procedure).
pub async fn load_agencies(db: &Db) -> StoreResult<Vec<Agency>> {
    let rows: Vec<(String,)> = crate::db_run!(db, p => {
        sqlx::query_as("SELECT data FROM agencies ORDER BY code").fetch_all(p).await?
    });
    rows.into_iter()
        .map(|(d,)| {
            serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("agency: {e}")))
        })
        .collect()
}

/// Builds the in-memory catalogue straight from the stored rows, one procedure at a time.
pub async fn load_catalog(db: &Db) -> StoreResult<crate::catalog::Catalog> {
    use futures_util::TryStreamExt;
    let agencies = load_agencies(db).await?;
    // Rows are parsed and packed as they arrive: the JSON text of the whole catalogue (tens of MB
    // for 10,000 procedures) is never held in memory at once.
    let builder = crate::db_run!(db, p => {
        let mut builder = crate::catalog::Builder::default();
        let mut rows = sqlx::query_as::<_, (String, i64, Option<i64>)>("SELECT data, version, retired_at FROM procedures ORDER BY code").fetch(p);
        while let Some((d, version, retired_at)) = rows.try_next().await? {
            builder.add_stored(&d, version, retired_at.is_some()).map_err(|e| StoreError::Corrupt(format!("procedure: {e}")))?;
        }
        builder
    });
    let version = version(db).await?;
    Ok(builder.build(agencies, version))
}

/// Whether any agency is loaded (cheap: does not read the catalogue).
pub async fn has_agencies(db: &Db) -> StoreResult<bool> {
    let (n,): (i64,) = crate::db_run!(db, p => {
        sqlx::query_as("SELECT COUNT(*) FROM agencies").fetch_one(p).await?
    });
    Ok(n > 0)
}

/// The catalogue version (changes on every import that changed something).
pub async fn version(db: &Db) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = crate::db_run!(db, p => {
        sqlx::query_as("SELECT value FROM meta WHERE key = 'catalog_version'").fetch_optional(p).await?
    });
    Ok(row.map(|r| r.0))
}
