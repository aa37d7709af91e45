//! The one dossier workflow seen from outside: concurrent officials, stale forms, and the
//! tamper-evident trail (`audit verify`) over the audit log and the citizens' timeline.

use crate::helpers::*;
use dichvucong::db_run;
use dvc_domain::staff::Role;

async fn audit_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"));
    cmd.arg("audit")
        .args(args)
        .env("DVC_DATABASE_URL", app.database_url())
        .env("DVC_DATA_DIR", &app.dir)
        .env_remove("DVC_AUDIT_KEY")
        .env_remove("DVC_AUDIT_KEY_FILE");
    run_cli(cmd).await
}

async fn set_note(app: &TestApp, event_id: i64, note: &str) {
    db_run!(&app.state.db, p => {
        sqlx::query("UPDATE dossier_events SET public_note = $2 WHERE id = $1")
            .bind(event_id).bind(note).execute(p).await.expect("update");
    });
}

/// A birth registration filed and received by a reception official: (code, that official).
async fn filed_and_received(app: &TestApp) -> (String, crate::back_office::Official) {
    let code = app.submit_birth_registration().await;
    let r = app
        .official("r@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        r.act(app, &code, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    (code, r)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn events_of(app: &TestApp, code: &str) -> Vec<(i64, String)> {
    db_run!(&app.state.db, p => {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT e.id, e.action FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE d.code = $1 ORDER BY e.id",
        )
        .bind(code).fetch_all(p).await.expect("events")
    })
}

#[tokio::test]
async fn two_officials_at_once_one_action_is_recorded_the_other_is_told() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let a = app
        .official("a@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let b = app
        .official("b@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    // Both press a button on the same page at the same moment: receive and refuse.
    let (ra, rb) = tokio::join!(
        a.act(&app, &code, "tiep-nhan", &[("version", "0")]),
        b.act(
            &app,
            &code,
            "tu-choi",
            &[
                ("version", "0"),
                ("reason", "Hồ sơ không thuộc thẩm quyền.")
            ]
        ),
    );
    let statuses = [ra.status().as_u16(), rb.status().as_u16()];
    assert!(
        statuses.contains(&303) && statuses.contains(&409),
        "one succeeds, the other is refused: {statuses:?}"
    );
    let loser = if ra.status().as_u16() == 409 { ra } else { rb };
    let body = loser.text().await.expect("body");
    assert!(
        body.contains("Hồ sơ vừa được người khác cập nhật, vui lòng xem lại"),
        "{body}"
    );
    let events = events_of(&app, &code).await;
    assert_eq!(events.len(), 2, "filing + exactly one action: {events:?}");
    assert!(matches!(events[1].1.as_str(), "receive" | "refuse"));

    // A form read before that change (stale version) writes nothing.
    let stale = a
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[("version", "0"), ("reason", "Thiếu"), ("other", "Tờ khai")],
        )
        .await;
    assert_eq!(stale.status().as_u16(), 409);
    assert_eq!(events_of(&app, &code).await.len(), 2);
    // The whole trail still verifies.
    let v = dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
        .await
        .expect("verify")
        .expect("intact");
    assert_eq!(v.events, 2);
}

#[tokio::test]
async fn events_name_the_domain_actions_and_a_closed_dossier_accepts_nothing() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let r = app
        .official("r@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let resp = r
        .act(
            &app,
            &code,
            "tu-choi",
            &[("reason", "Không thuộc thẩm quyền.")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let actions: Vec<String> = events_of(&app, &code)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(actions, ["file", "refuse"]);
    for (slug, fields) in [
        ("tiep-nhan", vec![]),
        ("tu-choi", vec![("reason", "Lần nữa")]),
        ("yeu-cau-bo-sung", vec![("reason", "x"), ("other", "y")]),
    ] {
        let resp = r.act(&app, &code, slug, &fields).await;
        assert_eq!(resp.status().as_u16(), 409, "{slug} on a closed dossier");
    }
    assert_eq!(events_of(&app, &code).await.len(), 2);
}

#[tokio::test]
async fn audit_verify_catches_timeline_edits_a_cut_tail_and_a_chain_rehashed_without_the_key() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let other = app.submit_birth_registration().await;
    let r = app
        .official("r@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    for c in [&code, &other] {
        assert_eq!(
            r.act(&app, c, "tiep-nhan", &[]).await.status().as_u16(),
            303
        );
    }
    let ok = audit_cli(&app, &["verify"]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let head = audit_cli(&app, &["head"]).await;
    assert!(head.status.success());
    let head = String::from_utf8_lossy(&head.stdout)
        .trim()
        .replace(' ', ":");
    let (seq, hash) = head.split_once(':').expect("SEQ HASH");
    assert!(
        seq.parse::<i64>().expect("seq") >= 3 && hash.len() == 64,
        "{head}"
    );
    let with_head = audit_cli(&app, &["verify", "--expect-head", &head]).await;
    assert!(with_head.status.success(), "{}", stderr(&with_head));

    let db = &app.state.db;
    // 1. A timeline row changed behind the application's back (the public note of a receipt).
    let events = events_of(&app, &code).await;
    let (original,): (String,) = db_run!(db, p => {
        sqlx::query_as("SELECT public_note FROM dossier_events WHERE id = $1")
            .bind(events[1].0).fetch_one(p).await.expect("note")
    });
    set_note(
        &app,
        events[1].0,
        "Hồ sơ được tiếp nhận; hẹn trả kết quả sau.",
    )
    .await;
    let bad = audit_cli(&app, &["verify"]).await;
    assert!(!bad.status.success(), "a changed timeline row must fail");
    assert!(stderr(&bad).contains(&code), "{}", stderr(&bad));
    // Put back, it verifies again: the check is exact, not a latch.
    set_note(&app, events[1].0, &original).await;
    let again = audit_cli(&app, &["verify"]).await;
    assert!(again.status.success(), "{}", stderr(&again));

    // 2. The last timeline row of the other dossier deleted, its head rewound to the one
    //    before: the audit entry of that receipt names the missing event.
    let events_other = events_of(&app, &other).await;
    db_run!(db, p => {
        sqlx::query("DELETE FROM dossier_events WHERE id = $1").bind(events_other[1].0).execute(p).await.expect("delete");
        sqlx::query("UPDATE dossiers SET events_head = (SELECT hash FROM dossier_events WHERE id = $1) WHERE code = $2")
            .bind(events_other[0].0).bind(&other).execute(p).await.expect("rewind");
    });
    let bad = audit_cli(&app, &["verify"]).await;
    assert!(!bad.status.success(), "a deleted timeline row must fail");
    assert!(stderr(&bad).contains(&other), "{}", stderr(&bad));
}

#[tokio::test]
async fn a_cut_tail_fails_with_the_recorded_head_and_a_rehash_without_the_key_fails() {
    let app = TestApp::spawn().await;
    filed_and_received(&app).await;
    let out = audit_cli(&app, &["head"]).await;
    let head = String::from_utf8_lossy(&out.stdout)
        .trim()
        .replace(' ', ":");
    let (seq, _) = head.split_once(':').expect("head");
    let seq: i64 = seq.parse().expect("seq");
    // Logins and the receipt are in the chain; drop the last entry (a receipt) with its event
    // link, as someone covering their tracks would: the chain alone still verifies…
    let db = &app.state.db;
    db_run!(db, p => {
        sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(seq).execute(p).await.expect("cut");
    });
    // …but not against the head recorded before.
    let cut = audit_cli(&app, &["verify", "--expect-head", &head]).await;
    assert!(
        !cut.status.success(),
        "a cut tail must fail with --expect-head"
    );
    assert!(stderr(&cut).contains(&seq.to_string()), "{}", stderr(&cut));
    // A malformed head is refused with guidance.
    let bad_arg = audit_cli(&app, &["verify", "--expect-head", "abc"]).await;
    assert!(!bad_arg.status.success());
    assert!(
        stderr(&bad_arg).contains("SỐ:MÃBĂM"),
        "{}",
        stderr(&bad_arg)
    );

    // Rehash the whole remaining chain as an attacker without the key would (another key).
    let forged_key = dvc_domain::audit::AuditKey::new(vec![42u8; 32]).expect("key");
    let rows = dichvucong::store::audit::page(db, 0, 10_000)
        .await
        .expect("page");
    let mut prev = dvc_domain::audit::GENESIS.to_string();
    for s in &rows {
        let hash = s.entry.hash(&forged_key, &prev);
        db_run!(db, p => {
            sqlx::query("UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE seq = $1")
                .bind(s.entry.seq).bind(&prev).bind(&hash).execute(p).await.expect("rehash");
        });
        prev = hash;
    }
    let forged = audit_cli(&app, &["verify"]).await;
    assert!(
        !forged.status.success(),
        "a chain rehashed without the key must fail"
    );
    assert!(stderr(&forged).contains("số 1"), "{}", stderr(&forged));
    // The server's key file is private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.dir.join("audit.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_supplement_that_fails_midway_leaves_none_of_it() {
    let app = TestApp::spawn().await;
    let (code, _, link) = crate::hostile_uploads::to_supplement(&app).await;
    let count = |sql: &'static str| {
        let db = app.state.db.clone();
        let code = code.clone();
        async move {
            let (n,): (i64,) = db_run!(&db, p => {
                sqlx::query_as(sql).bind(&code).fetch_one(p).await.expect("count")
            });
            n
        }
    };
    const FILES: &str = "SELECT COUNT(*) FROM attachments a JOIN dossiers d ON d.id = a.dossier_id WHERE d.code = $1";
    const EVENTS: &str = "SELECT COUNT(*) FROM dossier_events e JOIN dossiers d ON d.id = e.dossier_id WHERE d.code = $1";
    let (files, events) = (count(FILES).await, count(EVENTS).await);
    // The database fails the supplement's timeline event, after the dossier row was updated in
    // the same transaction: as a crash between the two writes would.
    db_run!(&app.state.db, p => {
        if backend_is_pg() {
            sqlx::query("CREATE FUNCTION fail_supplement() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql")
                .execute(p).await.expect("function");
            sqlx::query("CREATE TRIGGER fail_supplement BEFORE INSERT ON dossier_events FOR EACH ROW WHEN (NEW.action = 'supplement') EXECUTE FUNCTION fail_supplement()")
                .execute(p).await.expect("trigger");
        } else {
            sqlx::query("CREATE TRIGGER fail_supplement BEFORE INSERT ON dossier_events WHEN NEW.action = 'supplement' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
                .execute(p).await.expect("trigger");
        }
    });
    let failed = app
        .send_supplement(&link, valid_pdf(), "giay-chung-sinh.pdf", None)
        .await;
    assert_eq!(failed.status().as_u16(), 500);
    assert_eq!(
        count(FILES).await,
        files,
        "no attachment of the failed supplement"
    );
    assert_eq!(
        count(EVENTS).await,
        events,
        "no event of the failed supplement"
    );
    let st: serde_json::Value = app
        .get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(st["status"], "awaiting_supplement");
    // Without the fault the same supplement goes through whole.
    let drop = if backend_is_pg() {
        "DROP TRIGGER fail_supplement ON dossier_events"
    } else {
        "DROP TRIGGER fail_supplement"
    };
    db_run!(&app.state.db, p => {
        sqlx::query(drop).execute(p).await.expect("drop trigger");
    });
    let ok = app
        .send_supplement(&link, valid_pdf(), "giay-chung-sinh.pdf", None)
        .await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(count(FILES).await, files + 1);
    assert_eq!(count(EVENTS).await, events + 1);
    dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
        .await
        .expect("verify")
        .expect("intact");
}

/// Entries are recorded in the business transaction and chained moments later: a receipt's entry
/// reaches the chain without anyone asking; an entry forged or changed while it waits is never
/// chained — it holds back those after it, `audit verify` names it — and once it is gone the
/// waiting entries are chained and the trail verifies again.
#[tokio::test]
async fn waiting_audit_entries_are_chained_and_a_forged_one_is_caught() {
    let app = TestApp::spawn().await;
    let (code, r) = filed_and_received(&app).await;
    let db = &app.state.db;
    let chained = |action: &'static str| {
        let code = code.clone();
        async move {
            let (n,): (i64,) = db_run!(db, p => {
                sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE subject = $1 AND action = $2")
                    .bind(&code).bind(action).fetch_one(p).await.expect("count")
            });
            n
        }
    };
    // The portal's own sealer chains the receipt (every 0.2 s); no test hook involved.
    let mut waited = 0;
    while chained("receive").await == 0 {
        assert!(waited < 100, "the receipt's entry was never chained");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    // The filing wrote its own entry, in the filing's statement.
    assert_eq!(chained("file").await, 1);
    // Somebody with write access to the database slips in an entry (a MAC made without the key).
    db_run!(db, p => {
        sqlx::query(
            "INSERT INTO audit_pending (at, actor, ip, action, subject, mac) VALUES (1, 'ai-do', '10.0.0.1', 'receive', 'H-GIA', $1)",
        )
        .bind("ab".repeat(32)).execute(p).await.expect("forge");
    });
    // A real transition after it waits behind it; nothing forged reaches the chain.
    assert_eq!(
        r.act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[("reason", "Thiếu"), ("other", "Tờ khai")]
        )
        .await
        .status()
        .as_u16(),
        303
    );
    app.seal_audit().await;
    assert_eq!(chained("request_supplement").await, 0);
    let (forged,): (i64,) = db_run!(db, p => {
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE subject = 'H-GIA'").fetch_one(p).await.expect("count")
    });
    assert_eq!(forged, 0);
    let bad = audit_cli(&app, &["verify"]).await;
    assert!(!bad.status.success(), "a forged waiting entry must fail");
    assert!(
        stderr(&bad).contains("đang chờ nối chuỗi"),
        "{}",
        stderr(&bad)
    );
    // The forged row removed, the real one is chained and everything verifies.
    db_run!(db, p => {
        sqlx::query("DELETE FROM audit_pending WHERE subject = 'H-GIA'").execute(p).await.expect("remove");
    });
    let ok = audit_cli(&app, &["verify"]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(chained("request_supplement").await, 1);
}
