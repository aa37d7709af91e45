//! Officials (cán bộ) and their login sessions.

use super::{Db, StoreError, StoreResult, is_unique_violation};
use crate::db_run;
use dvc_domain::staff::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub title: String,
    pub role: String,
    pub agency_code: String,
    pub password_hash: String,
    pub active: i64,
}

impl StaffRow {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }
}

pub struct NewStaff<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub role: Role,
    pub agency_code: &'a str,
    pub password_hash: &'a str,
}

const COLS: &str = "id, email, name, title, role, agency_code, password_hash, active";

/// An e-mail address as stored and compared: trimmed and lower-cased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn create(db: &Db, s: &NewStaff<'_>, now: i64) -> StoreResult<i64> {
    let email = normalise_email(s.email);
    let r: Result<(i64,), sqlx::Error> = db_run!(db, p => {
        sqlx::query_as("INSERT INTO staff (email, name, title, role, agency_code, password_hash, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) RETURNING id")
            .bind(&email).bind(s.name).bind(s.title).bind(s.role.as_str()).bind(s.agency_code).bind(s.password_hash).bind(now)
            .fetch_one(p).await
    });
    match r {
        Ok((id,)) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
            "Địa chỉ thư điện tử này đã có tài khoản.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn find_by_email(db: &Db, email: &str) -> StoreResult<Option<StaffRow>> {
    let email = normalise_email(email);
    if !super::storable_key(&email) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {COLS} FROM staff WHERE email = $1"));
    Ok(
        db_run!(db, p => { sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(&email).fetch_optional(p).await? }),
    )
}

pub async fn find(db: &Db, id: i64) -> StoreResult<Option<StaffRow>> {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {COLS} FROM staff WHERE id = $1"));
    Ok(
        db_run!(db, p => { sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(id).fetch_optional(p).await? }),
    )
}

/// Staff of the given agencies, by name.
pub async fn list(db: &Db, agencies: &[String]) -> StoreResult<Vec<StaffRow>> {
    let all: Vec<StaffRow> = db_run!(db, p => {
        sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff ORDER BY name"))).fetch_all(p).await?
    });
    Ok(all
        .into_iter()
        .filter(|s| agencies.contains(&s.agency_code))
        .collect())
}

/// Activates or deactivates an account; deactivating ends all its sessions.
pub async fn set_active(db: &Db, id: i64, active: bool) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE staff SET active = $2 WHERE id = $1").bind(id).bind(i64::from(active)).execute(p).await?;
        if !active {
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1").bind(id).execute(p).await?;
        }
    });
    Ok(())
}

pub async fn set_password(db: &Db, id: i64, hash: &str) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE staff SET password_hash = $2 WHERE id = $1").bind(id).bind(hash).execute(p).await?;
    });
    Ok(())
}

/// Creates a logged-in session (the caller has deleted the pre-login one: session rotation).
pub async fn create_session(
    db: &Db,
    id_hash: &str,
    csrf: &str,
    staff_id: i64,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("INSERT INTO sessions (id_hash, csrf_token, data, created_at, last_seen_at, expires_at, staff_id) VALUES ($1, $2, '{}', $3, $3, $4, $5)")
            .bind(id_hash).bind(csrf).bind(now).bind(expires_at).bind(staff_id).execute(p).await?;
    });
    Ok(())
}

pub async fn session_staff(
    db: &Db,
    id_hash: &str,
    now: i64,
) -> StoreResult<Option<(String, StaffRow)>> {
    #[derive(sqlx::FromRow)]
    struct SessionStaff {
        csrf_token: String,
        staff_id: Option<i64>,
    }
    let r: Option<SessionStaff> = db_run!(db, p => {
        sqlx::query_as("SELECT csrf_token, staff_id FROM sessions WHERE id_hash = $1 AND expires_at > $2").bind(id_hash).bind(now).fetch_optional(p).await?
    });
    let Some(SessionStaff {
        csrf_token,
        staff_id: Some(id),
    }) = r
    else {
        return Ok(None);
    };
    Ok(find(db, id)
        .await?
        .filter(|s| s.active == 1)
        .map(|s| (csrf_token, s)))
}

pub async fn delete_session(db: &Db, id_hash: &str) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(p).await?;
    });
    Ok(())
}
