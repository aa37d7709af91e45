//! Crash test: the real binary is killed with SIGKILL again and again while citizens submit.
//! After each kill and restart, every dossier whose code reached a citizen is still there, with
//! its attachments (the files exist and hash to the recorded SHA-256), its confirmation e-mail
//! goes out (to a real SMTP listener that outlives the server), and the SQLite integrity check
//! passes. Every committed dossier — acknowledged or not — must point only at files that exist.
//!
//! Size: `DVC_CRASH_KILLS` (default 3) kills, `DVC_CRASH_CLIENTS` (default 4) concurrent
//! citizens. `scripts/crash.sh` runs a longer one on the release build.

use crate::helpers::{self, PROC, backend_is_pg, birth_form, extract};
use crate::smtp::{self, Mailbox};
use dichvucong::store::Db;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A 100 KB PDF.
fn pdf() -> Vec<u8> {
    let mut v = helpers::valid_pdf();
    let tail = v.split_off(v.len() - 7);
    v.resize(100 * 1024 - tail.len(), b'x');
    v.extend(tail);
    v
}

struct Setup {
    dir: PathBuf,
    database_url: String,
    smtp_url: String,
    pg_db: Option<String>,
}

/// The server process; killed (SIGKILL) when dropped, so a failed assertion leaves nothing behind.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(s: &Setup) -> (Node, String) {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.join("server.log"))
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_dichvucong"))
        .arg("serve")
        .env("DVC_LISTEN", format!("127.0.0.1:{port}"))
        .env("DVC_DATA_DIR", &s.dir)
        .env("DVC_DATABASE_URL", &s.database_url)
        .env("DVC_SMTP_URL", &s.smtp_url)
        .env("DVC_CAPTCHA", "off")
        .env("DVC_RATE_SUBMIT_PER_HOUR", "1000000")
        .env("DVC_RATE_LOOKUP_PER_MINUTE", "1000000")
        .env("DVC_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start dichvucong serve");
    (Node(child), format!("http://127.0.0.1:{port}"))
}

async fn wait_healthy(base: &str, child: &mut Child, dir: &Path) {
    let c = helpers::client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = c.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("server exited ({st}) on restart:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "server did not come up at {base}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One citizen's journey; `Ok(code)` only when the confirmation redirect reached the client.
async fn journey(base: &str, pdf: Vec<u8>) -> Result<String, String> {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let e = |e: reqwest::Error| e.to_string();
    let url = |p: &str| format!("{base}{p}");
    let body = c
        .get(url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .send()
        .await
        .map_err(e)?
        .text()
        .await
        .map_err(e)?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").ok_or("no csrf")?;
    let r = c
        .post(url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .multipart(birth_form(&csrf, pdf))
        .send()
        .await
        .map_err(e)?;
    if r.status().as_u16() != 303 {
        return Err(format!("declaration: {}", r.status()));
    }
    let body = c
        .get(url(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra")))
        .send()
        .await
        .map_err(e)?
        .text()
        .await
        .map_err(e)?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").ok_or("no csrf in review")?;
    let token = extract(&body, "name=\"submit_token\" value=\"").ok_or("no submit token")?;
    let r = c
        .post(url(&format!("/thu-tuc/{PROC}/nop-ho-so/gui")))
        .form(&[("csrf", csrf.as_str()), ("submit_token", token.as_str())])
        .send()
        .await
        .map_err(e)?;
    if r.status().as_u16() != 303 {
        return Err(format!("send: {}", r.status()));
    }
    let loc = helpers::location(&r);
    loc.strip_prefix("/ho-so/")
        .and_then(|s| s.strip_suffix("/da-nop"))
        .map(str::to_string)
        .ok_or_else(|| format!("not a confirmation: {loc}"))
}

/// Integrity check (SQLite), then: every acknowledged code is a dossier with an attachment and a
/// confirmation e-mail queued or sent; every attachment of every dossier exists with its hash.
async fn verify_store(s: &Setup, acked: &BTreeSet<String>) -> usize {
    let db = Db::connect(&s.database_url).await.expect("open database");
    if let Db::Sqlite(p) = &db {
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(p)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok", "SQLite integrity check after kill -9");
    }
    let rows: Vec<(String, Option<String>, Option<String>)> = dichvucong::db_run!(&db, p => {
        sqlx::query_as(
            "SELECT d.code, a.storage_key, a.sha256 FROM dossiers d LEFT JOIN attachments a ON a.dossier_id = d.id",
        )
        .fetch_all(p)
        .await
        .expect("dossiers")
    });
    let mails: Vec<(String,)> = dichvucong::db_run!(&db, p => {
        sqlx::query_as("SELECT d.code FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE o.kind = 'confirmation'")
            .fetch_all(p)
            .await
            .expect("outbox")
    });
    // A message the killed process had claimed keeps its lease for 120 s before another worker
    // may retry it; fast-forward that wait instead of sleeping through it.
    dichvucong::db_run!(&db, p => {
        sqlx::query("UPDATE outbox SET locked_until = NULL WHERE sent_at IS NULL")
            .execute(p)
            .await
            .expect("expire leases");
    });
    db.close().await;
    let mails: BTreeSet<String> = mails.into_iter().map(|m| m.0).collect();
    let mut with_file = BTreeSet::new();
    for (code, key, sha) in &rows {
        let (Some(key), Some(sha)) = (key, sha) else {
            continue;
        };
        let path = s.dir.join("files").join(key);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("dossier {code}: attachment {} missing: {e}", path.display())
        });
        assert_eq!(
            &hex::encode(Sha256::digest(&bytes)),
            sha,
            "dossier {code}: attachment {} has the wrong SHA-256",
            path.display()
        );
        with_file.insert(code.clone());
    }
    for code in acked {
        assert!(
            with_file.contains(code),
            "acknowledged dossier {code} lost (or without its attachment) after kill -9"
        );
        assert!(
            mails.contains(code),
            "acknowledged dossier {code} has no confirmation e-mail in the outbox"
        );
    }
    rows.len()
}

/// A fresh data directory and database (SQLite, or PostgreSQL with `DVC_TEST_BACKEND=postgres`)
/// and a real SMTP listener that outlives the server.
async fn new_setup() -> (Setup, Mailbox) {
    let dir = std::env::temp_dir().join(format!("dvc-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (database_url, pg_db) = if backend_is_pg() {
        let (url, name) = helpers::create_pg_database().await;
        (url, Some(name))
    } else {
        (format!("sqlite://{}", dir.join("crash.db").display()), None)
    };
    let (smtp_url, mailbox) = smtp::start().await;
    let setup = Setup {
        dir: dir.clone(),
        database_url,
        smtp_url,
        pg_db,
    };
    (setup, mailbox)
}

/// Waits until the SMTP listener has received the confirmation of every acknowledged dossier.
async fn wait_for_mails(mailbox: &Mailbox, acked: &BTreeSet<String>, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let all = mailbox.all();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|c| {
                let id = format!("<{c}.confirmation@dichvucong>");
                !all.iter().any(|m| m.contains(&id))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} confirmation e-mails never went out, e.g. {:?}",
            missing.len(),
            missing.iter().take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_dossiers_survive_kill_9() {
    let kills = env_usize("DVC_CRASH_KILLS", 3);
    let clients = env_usize("DVC_CRASH_CLIENTS", 4);
    let (setup, mailbox) = new_setup().await;
    let dir = setup.dir.clone();
    let pdf = pdf();
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();

    for round in 0..=kills {
        let (mut child, base) = start(&setup);
        wait_healthy(&base, &mut child.0, &dir).await;
        // What was acknowledged before this restart must be there, and its e-mail must go out.
        let before = acked.lock().map(|a| a.clone()).unwrap_or_default();
        wait_for_mails(&mailbox, &before, 60).await;

        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (stop, acked, failures, base, pdf) = (
                stop.clone(),
                acked.clone(),
                failures.clone(),
                base.clone(),
                pdf.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match journey(&base, pdf.clone()).await {
                        Ok(code) => {
                            if let Ok(mut a) = acked.lock() {
                                a.insert(code);
                            }
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        // Let some submissions through, then kill at a moment that is not aligned to anything.
        let target = before.len() + 3;
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.lock().map(|a| a.len()).unwrap_or(0) < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let jitter = rand::random_range(0..700u64);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        if round < kills {
            child.0.kill().expect("kill -9"); // SIGKILL
            let _ = child.0.wait();
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            let acked_now = acked.lock().map(|a| a.clone()).unwrap_or_default();
            let n = verify_store(&setup, &acked_now).await;
            eprintln!(
                "crash round {}/{kills}: killed after {jitter} ms of jitter; {} acknowledged, {n} dossier rows, all present",
                round + 1,
                acked_now.len()
            );
        } else {
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            let acked_now = acked.lock().map(|a| a.clone()).unwrap_or_default();
            // Through the running server too: the public status of every acknowledged dossier.
            let c = helpers::client();
            for code in &acked_now {
                let r = c
                    .get(format!("{base}/api/v1/dossiers/{code}/status"))
                    .send()
                    .await
                    .expect("status");
                assert_eq!(r.status().as_u16(), 200, "status of {code}");
            }
            wait_for_mails(&mailbox, &acked_now, 60).await;
            drop(child);
            verify_store(&setup, &acked_now).await;
            eprintln!(
                "crash test: {kills} kills, {} dossiers acknowledged and all present with files and e-mails; {} interrupted journeys; {:.1} s",
                acked_now.len(),
                failures.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
            assert!(acked_now.len() > kills, "too few submissions went through");
        }
    }
    if let Some(name) = setup.pg_db.clone() {
        helpers::drop_pg_database(name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Logs an official in through the real pages; returns the client and the back office's CSRF.
async fn staff_login(base: &str, email: &str, password: &str) -> (reqwest::Client, String) {
    let c = helpers::client();
    let page = c
        .get(format!("{base}/can-bo/dang-nhap"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let r = c
        .post(format!("{base}/can-bo/dang-nhap"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 303, "login");
    let page = c
        .get(format!("{base}/can-bo"))
        .send()
        .await
        .expect("queue")
        .text()
        .await
        .expect("text");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    (c, csrf)
}

/// kill -9 while citizens send supplements: after the restart each dossier has either the whole
/// supplement (state resumed, the file attached and on disk, the event) or none of it (still
/// waiting, no file row, no event), and the keyed trail verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplement_is_all_or_nothing_across_kill_9() {
    let rounds = env_usize("DVC_CRASH_KILLS", 3);
    let per_round = 4;
    let (setup, mailbox) = new_setup().await;
    let (mut child, mut base) = start(&setup);
    wait_healthy(&base, &mut child.0, &setup.dir).await;
    // A reception officer, created as the CLI does, then logged in through the pages.
    {
        let db = Db::connect(&setup.database_url).await.expect("db");
        let hash = dichvucong::password::hash("mật khẩu đủ dài 123".into())
            .await
            .expect("hash");
        let new = dichvucong::store::staff::NewStaff {
            email: "motcua@hongbang.gov.vn",
            name: "Cán bộ Một cửa",
            title: "Công chức Bộ phận Một cửa",
            role: dvc_domain::staff::Role::Reception,
            agency_code: helpers::AGENCY,
            password_hash: &hash,
        };
        dichvucong::store::staff::create(&db, &new, dichvucong::now_ms())
            .await
            .expect("staff");
        db.close().await;
    }
    let small = helpers::valid_pdf();
    let mut checked = 0;
    let mut supplements_so_far = 0i64;
    for round in 0..rounds {
        // Dossiers waiting for a supplement, with their private links.
        let (staff, csrf) =
            staff_login(&base, "motcua@hongbang.gov.vn", "mật khẩu đủ dài 123").await;
        let mut waiting = Vec::new();
        for _ in 0..per_round {
            let code = journey(&base, small.clone()).await.expect("filed");
            let mail = mailbox.wait_for(&code, 15).await.expect("confirmation");
            let link = mail
                .lines()
                .find(|l| l.contains("/ho-so/xem/"))
                .and_then(|l| l.split("/ho-so/xem/").nth(1))
                .map(|t| format!("/ho-so/xem/{}", t.trim()))
                .expect("private link");
            for (slug, fields) in [
                ("tiep-nhan", vec![]),
                (
                    "yeu-cau-bo-sung",
                    vec![("reason", "Bản chụp mờ."), ("missing", "giay_chung_sinh")],
                ),
            ] {
                let mut form = vec![("csrf", csrf.as_str())];
                form.extend(fields);
                let r = staff
                    .post(format!("{base}/can-bo/ho-so/{code}/thao-tac/{slug}"))
                    .form(&form)
                    .send()
                    .await
                    .expect("act");
                assert_eq!(r.status().as_u16(), 303, "{slug} {code}");
            }
            waiting.push((code, link));
        }
        // Every citizen sends a supplement at once; the server is killed in the middle.
        let round_start_supplements = supplements_so_far;
        let big = pdf();
        let mut tasks = Vec::new();
        for (_, link) in &waiting {
            let (base, link, big) = (base.clone(), link.clone(), big.clone());
            tasks.push(tokio::spawn(async move {
                let c = helpers::client();
                let page = c
                    .get(format!("{base}{link}/bo-sung"))
                    .send()
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                let csrf = extract(&page, "name=\"csrf\" value=\"")?;
                let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
                    "tep_1",
                    reqwest::multipart::Part::bytes(big).file_name("bo-sung.pdf"),
                );
                let r = c
                    .post(format!("{base}{link}/bo-sung"))
                    .multipart(form)
                    .send()
                    .await
                    .ok()?;
                Some(r.status().as_u16())
            }));
        }
        // Kill once the first supplement has committed (others are then in flight), plus a
        // little jitter, so that the kill lands in the middle of the round.
        let probe = Db::connect(&setup.database_url).await.expect("db");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (n,): (i64,) = dichvucong::db_run!(&probe, p => {
                sqlx::query_as("SELECT COUNT(*) FROM dossier_events WHERE action = 'supplement'")
                    .fetch_one(p).await.expect("count")
            });
            if n > round_start_supplements || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        probe.close().await;
        let jitter = rand::random_range(0..20u64);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        child.0.kill().expect("kill -9");
        let _ = child.0.wait();
        let mut acked = 0i64;
        for t in tasks {
            if let Ok(Some(303)) = t.await {
                acked += 1;
            }
        }
        // Each dossier: all of the supplement or none of it.
        let db = Db::connect(&setup.database_url).await.expect("db");
        let mut whole = 0i64;
        for (code, _) in &waiting {
            let (status, files, events): (String, i64, i64) = dichvucong::db_run!(&db, p => {
                sqlx::query_as(
                    "SELECT d.status, \
                     (SELECT COUNT(*) FROM attachments a WHERE a.dossier_id = d.id AND a.field_name LIKE 'bo_sung_%'), \
                     (SELECT COUNT(*) FROM dossier_events e WHERE e.dossier_id = d.id AND e.action = 'supplement') \
                     FROM dossiers d WHERE d.code = $1",
                )
                .bind(code).fetch_one(p).await.expect("dossier")
            });
            match (status.as_str(), files, events) {
                ("awaiting_supplement", 0, 0) => {}
                ("received", 1, 1) => whole += 1,
                other => panic!("{code}: half a supplement after kill -9: {other:?}"),
            }
            checked += 1;
        }
        let keys: Vec<(String,)> = dichvucong::db_run!(&db, p => {
            sqlx::query_as("SELECT storage_key FROM attachments").fetch_all(p).await.expect("keys")
        });
        db.close().await;
        for (key,) in &keys {
            assert!(
                setup.dir.join("files").join(key).exists(),
                "attachment {key} recorded but not on disk"
            );
        }
        assert!(
            whole >= acked,
            "an acknowledged supplement was lost ({whole} < {acked})"
        );
        supplements_so_far += whole;
        eprintln!(
            "supplement crash round {}/{rounds}: killed after {jitter} ms; {whole} of {per_round} supplements whole, {acked} acknowledged, none half",
            round + 1
        );
        let (c, b) = start(&setup);
        child = c;
        base = b;
        wait_healthy(&base, &mut child.0, &setup.dir).await;
    }
    drop(child);
    // The keyed trail (audit log and every timeline) verifies after all the kills.
    let out = Command::new(env!("CARGO_BIN_EXE_dichvucong"))
        .args(["audit", "verify"])
        .env("DVC_DATABASE_URL", &setup.database_url)
        .env("DVC_DATA_DIR", &setup.dir)
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(checked, rounds * per_round);
    if let Some(name) = setup.pg_db.clone() {
        helpers::drop_pg_database(name);
    }
    let _ = std::fs::remove_dir_all(&setup.dir);
}
