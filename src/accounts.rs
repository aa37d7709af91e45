//! Officials' accounts: the one way an account is created, shared by `dichvucong staff create`
//! and the administrators' page: the password policy, the Argon2id hash, the row and its audit
//! entry.

use crate::store::{Db, StoreError, audit, staff};
use dvc_domain::audit::{AuditKey, Entry};
use dvc_domain::staff::Role;

/// A new official, already checked by the caller for its own rules (e-mail shape, scope).
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub role: Role,
    pub agency_code: &'a str,
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The password breaks the policy (the message says how to fix it).
    #[error("{0}")]
    WeakPassword(&'static str),
    /// An account with this e-mail exists.
    #[error("{0}")]
    Taken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Creates the account and records who created it (`by`, from `ip`) in the audit trail.
pub async fn create(
    db: &Db,
    key: &AuditKey,
    new: NewAccount<'_>,
    by: &str,
    ip: &str,
    now: i64,
) -> Result<i64, AccountError> {
    dvc_domain::staff::check_password(&new.password).map_err(AccountError::WeakPassword)?;
    let hash = crate::password::hash(new.password).await?;
    let row = staff::NewStaff {
        email: new.email,
        name: new.name,
        title: new.title,
        role: new.role,
        agency_code: new.agency_code,
        password_hash: &hash,
    };
    let id = match staff::create(db, &row, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(m)) => return Err(AccountError::Taken(m)),
        Err(e) => return Err(e.into()),
    };
    audit::append(
        db,
        key,
        Entry {
            seq: 0,
            at: now,
            actor: by.chars().take(200).collect(),
            ip: ip.to_string(),
            action: "staff_create".into(),
            subject: new.email.to_string(),
            from_state: None,
            to_state: Some(new.role.as_str().into()),
            reason: None,
            event_id: None,
            event_hash: None,
        },
    )
    .await?;
    Ok(id)
}
