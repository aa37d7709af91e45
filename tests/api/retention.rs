//! Retention: one round of the clean-up job ([`dichvucong::jobs::housekeeping_round`]) on a manual
//! clock. What must go goes — from the database and from the file store on disk — and what must
//! stay stays.

use crate::clock::{monday_morning, review_with_code, save_draft, send_fields};
use crate::helpers::*;
use dichvucong::config::CaptchaMode;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// Every file in the file store, as paths relative to its root (= storage keys).
fn stored_files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = dir.join("files");
    let mut out = BTreeSet::new();
    walk(&root, &root, &mut out);
    out
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let (n,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(p).await.expect("count")
    });
    n
}

#[tokio::test]
async fn housekeeping_removes_what_expired_from_the_database_and_the_disk_and_keeps_the_rest() {
    let t0 = monday_morning();
    let app = TestApp::builder()
        .captcha(CaptchaMode::Image)
        .manual_clock(t0)
        .spawn()
        .await;
    let before = stored_files(&app.dir);

    // t0: a visitor saves a draft with an ID document and opens the review page (a challenge
    // that expires at t0 + 10 min), then leaves.
    let abandoned = app.shallow_clone();
    save_draft(&abandoned).await;
    let _ = review_with_code(&abandoned).await;
    let abandoned_files: BTreeSet<String> = stored_files(&app.dir)
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(abandoned_files.len(), 1, "{abandoned_files:?}");

    // t0: another visitor files a dossier; its session is never used again.
    let filer = app.shallow_clone();
    let seen = stored_files(&app.dir);
    save_draft(&filer).await;
    let fields = review_with_code(&filer).await;
    assert_eq!(send_fields(&filer, &fields).await, 303);
    let filed_files: BTreeSet<String> = stored_files(&app.dir).difference(&seen).cloned().collect();
    assert_eq!(filed_files.len(), 1, "{filed_files:?}");

    // t0 + 1 h 55 min: a third visitor is at work (a challenge until t0 + 2 h 05 min).
    app.clock().set(t0 + Duration::from_secs(3600 + 55 * 60));
    let live = app.shallow_clone();
    let seen = stored_files(&app.dir);
    save_draft(&live).await;
    let _ = review_with_code(&live).await;
    let live_files: BTreeSet<String> = stored_files(&app.dir).difference(&seen).cloned().collect();
    assert_eq!(live_files.len(), 1, "{live_files:?}");
    assert_eq!(count(&app, "sessions").await, 3);
    assert_eq!(count(&app, "drafts").await, 2);
    assert_eq!(count(&app, "captchas").await, 2);

    // t0 + 2 h − 1 ms: the abandoned session lives its last millisecond, so do its draft and
    // file; only its challenge (expired at t0 + 10 min) goes.
    app.clock().set(t0 + (Duration::from_secs(2 * 3600) - MS));
    let done = dichvucong::jobs::housekeeping_round(&app.state).await;
    assert!(done.files_deleted.is_empty(), "{done:?}");
    assert_eq!(count(&app, "captchas").await, 1);
    assert_eq!(count(&app, "drafts").await, 2);
    assert_eq!(count(&app, "sessions").await, 3);
    assert!(stored_files(&app.dir).is_superset(&abandoned_files));

    // t0 + 2 h + 1 ms: the abandoned and the filer's sessions have expired.
    app.clock().set(t0 + Duration::from_secs(2 * 3600) + MS);
    let done = dichvucong::jobs::housekeeping_round(&app.state).await;
    // Gone: both expired sessions, the abandoned draft and its uploaded document, on disk too.
    assert_eq!(
        done.files_deleted.iter().cloned().collect::<BTreeSet<_>>(),
        abandoned_files
    );
    assert_eq!(count(&app, "sessions").await, 1);
    assert_eq!(count(&app, "drafts").await, 1);
    let on_disk = stored_files(&app.dir);
    assert!(
        on_disk.is_disjoint(&abandoned_files),
        "the abandoned draft's file is still on disk"
    );
    // Kept: the live session's draft, challenge and file; the filed dossier's attachment.
    assert_eq!(count(&app, "captchas").await, 1);
    assert!(on_disk.is_superset(&live_files), "a live draft's file went");
    assert!(
        on_disk.is_superset(&filed_files),
        "a filed dossier's attachment went"
    );
    assert_eq!(count(&app, "attachments").await, 1);
    assert_eq!(crate::clock::review_status(&live).await, 200);
    // The abandoned visitor comes back to an empty form.
    assert_eq!(crate::clock::review_status(&abandoned).await, 303);
}
