//! Background jobs: the e-mail outbox worker and housekeeping.

pub mod deliveries;
pub mod drafts;
pub mod mailer;

use crate::files::Files;
use crate::store::{Db, sessions};
use std::time::Duration;

/// How long a draft may go unchanged before housekeeping deletes it, whatever its session.
pub const DRAFT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// What one round of housekeeping removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Housekept {
    /// Storage keys of the abandoned drafts' files deleted from the file store.
    pub files_deleted: Vec<String>,
    /// Finished rate-limit windows forgotten.
    pub windows_purged: u64,
}

/// Runs housekeeping every hour, for as long as the node runs ([`housekeeping_round`]).
pub async fn housekeeping(state: crate::web::AppState) {
    loop {
        housekeeping_round(&state).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// One round of housekeeping at the node's current time: deletes expired sessions,
/// verification-code challenges, abandoned drafts (a draft of an expired or deleted session, or
/// unchanged for [`DRAFT_RETENTION_MS`]; a signed-in citizen's draft ("Lưu nháp") unchanged for
/// `DVC_DRAFT_RETENTION_DAYS`, reminded by e-mail before: [`drafts`]) with their uploaded
/// files, and finished rate-limit
/// windows. Failures are logged and the rest goes on. Public so that the tests can run a round
/// at a time they choose.
pub async fn housekeeping_round(state: &crate::web::AppState) -> Housekept {
    let now = state.clock.now_ms();
    let retention = i64::from(state.config.draft_retention_days) * 86_400_000;
    drafts::remind(state, now).await;
    purge(
        &state.db,
        &state.files,
        &state.limiter,
        now,
        now - retention,
    )
    .await
}

async fn purge(
    db: &Db,
    files: &Files,
    limiter: &crate::web::rate_limit::RateLimiter,
    now: i64,
    citizen_cutoff: i64,
) -> Housekept {
    let mut done = Housekept::default();
    match sessions::purge_expired(db, now, now - DRAFT_RETENTION_MS, citizen_cutoff).await {
        Ok(keys) => {
            for k in keys {
                match files.delete(&k).await {
                    Ok(()) => done.files_deleted.push(k),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not delete an abandoned draft file")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
    }
    let day_ago = now - crate::web::staff::login::FORGET_MS;
    if let Err(e) = crate::store::login_throttle::purge(db, day_ago).await {
        tracing::warn!(error = %e, "housekeeping: old login failures not purged");
    }
    if let Err(e) = crate::store::partners::purge_tokens(db, now).await {
        tracing::warn!(error = %e, "housekeeping: expired partner tokens not purged");
    }
    match limiter.purge(now).await {
        Ok(n) => done.windows_purged = n,
        Err(e) => tracing::warn!(error = %e, "housekeeping: rate-limit windows not purged"),
    }
    done
}

/// How often a node checks whether another node changed the catalogue.
pub const CATALOG_POLL: Duration = Duration::from_secs(5);

/// Follows catalogue changes made elsewhere (a procedure published or retired in the editor on
/// another node, an import): when the stored catalogue version differs from the one in memory,
/// the catalogue and its search index are reloaded. One small query per [`CATALOG_POLL`].
pub async fn follow_catalog(state: crate::web::AppState) {
    loop {
        tokio::time::sleep(CATALOG_POLL).await;
        match crate::store::catalog::version(&state.db).await {
            Ok(v) if v != state.catalog().version => {
                if let Err(e) = state.reload_catalog().await {
                    tracing::warn!(error = %e, "the changed catalogue could not be reloaded");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "catalogue version not read"),
        }
    }
}

/// Logs the audit trail's head (`SEQ HASH`, as `dichvucong audit head` prints it) at start and
/// daily, so that operators can copy it out of the machine and later check with
/// `dichvucong audit verify --expect-head SEQ:HASH` that nothing was cut or rewritten.
pub async fn log_audit_head(db: Db, key: dvc_domain::audit::AuditKey) {
    loop {
        if let Err(e) = crate::store::audit::seal(&db, &key).await {
            tracing::warn!(error = %e, "audit entries not chained");
        }
        match crate::store::audit::head(&db).await {
            Ok((seq, hash)) => {
                tracing::info!(audit_head = %format!("{seq}:{hash}"), "audit trail head")
            }
            Err(e) => tracing::warn!(error = %e, "audit trail head not read"),
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}

/// How often each node chains the audit entries waiting in `audit_pending` (see
/// [`crate::store::audit`]): the window in which a waiting entry is not yet in the chain.
pub const AUDIT_SEAL_EVERY: Duration = Duration::from_millis(200);

/// Chains the waiting audit entries every [`AUDIT_SEAL_EVERY`] (one small read when none waits;
/// every node runs it, the chain's lock keeps one sealer at a time).
pub async fn seal_audit(db: Db, key: dvc_domain::audit::AuditKey) {
    loop {
        tokio::time::sleep(AUDIT_SEAL_EVERY).await;
        if let Err(e) = crate::store::audit::seal(&db, &key).await {
            tracing::warn!(error = %e, "audit entries not chained; retrying");
        }
    }
}

/// How often the statistics job folds the appended deltas and counts new dossiers (changed
/// ones: every second).
const STATISTICS_EVERY: Duration = Duration::from_secs(10);

/// Keeps the statistics sums compact and complete ([`crate::store::statistics`]): every
/// [`STATISTICS_EVERY`], folds the deltas into the daily and monthly sums and counts any dossier
/// that was never counted (one written by a path that does not count it, or copied by
/// `migrate-data`). The first round looks at every dossier, later ones at the newest.
pub async fn statistics(db: Db) {
    let mut after = 0;
    loop {
        match crate::store::statistics::catch_up(&db, after, 500).await {
            Ok((n, max)) => {
                if n > 0 {
                    tracing::info!(dossiers = n, "statistics: dossiers counted");
                }
                // Ids are taken before commit: look again a little behind the largest seen.
                after = (max - 10_000).max(0);
            }
            Err(e) => tracing::warn!(error = %e, "statistics: catch-up failed"),
        }
        if let Err(e) = crate::store::statistics::fold(&db).await {
            tracing::warn!(error = %e, "statistics: fold failed");
        }
        // Changed dossiers every second; the rest every STATISTICS_EVERY.
        for _ in 0..STATISTICS_EVERY.as_secs() {
            loop {
                match crate::store::statistics::count_changed(
                    &db,
                    crate::store::statistics::COUNT_BATCH,
                )
                .await
                {
                    Ok(n) if n == crate::store::statistics::COUNT_BATCH as u64 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "statistics: changed dossiers not counted");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
