//! Two `dichvucong serve` processes on one PostgreSQL database behave as one system: sessions,
//! CSRF tokens and verification codes work whichever node answers; rate limits are shared;
//! dossier codes stay distinct and sequential; each e-mail goes out once though both nodes run
//! an outbox worker. PostgreSQL only (`DVC_TEST_BACKEND=postgres`).

use crate::helpers::*;
use crate::nodes::*;
use std::time::Duration;

#[tokio::test]
async fn two_nodes_on_one_postgres_behave_as_one_system() {
    if !backend_is_pg() {
        eprintln!("note: the two-node test runs only with DVC_TEST_BACKEND=postgres; skipped");
        return;
    }
    let started = std::time::Instant::now();
    let pg = PgDb::create().await;
    let (smtp_url, mailbox) = crate::smtp::start().await;
    let root = TempDir(temp_dir("two-nodes"));
    let shared_files = root.0.join("shared-files");
    let (port_a, port_b) = (free_port(), free_port());
    // Behind a reverse proxy both nodes have the same public URL; here it is node A's.
    let base_url = format!("http://127.0.0.1:{port_a}");
    let files = shared_files.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("DVC_DATABASE_URL", pg.url.as_str()),
        ("DVC_STORAGE_URL", files.as_str()),
        ("DVC_SMTP_URL", smtp_url.as_str()),
        ("DVC_BASE_URL", base_url.as_str()),
        ("DVC_CAPTCHA", "image"),
        ("DVC_TRUST_PROXY", "true"),
        ("DVC_RATE_LOOKUP_PER_MINUTE", "20"),
        ("DVC_RATE_SUBMIT_PER_HOUR", "1000"),
        // Every node of one deployment has the same audit key (it also opens the stored
        // demonstration signing certificate, which the first node to start generates).
        (
            "DVC_AUDIT_KEY",
            "6d756c74696e6f64652d746573742d61756469742d6b65792d30303030303030",
        ),
    ];
    // Both start at once on the empty database (migrations and the sample catalogue race).
    let (dir_a, dir_b) = (root.0.join("a"), root.0.join("b"));
    let (a, b) = tokio::join!(
        Node::start(port_a, &dir_a, &env),
        Node::start(port_b, &dir_b, &env)
    );
    eprintln!("two nodes up in {:?}", started.elapsed());

    // A session and its CSRF token made on A are accepted by B; the verification code shown by
    // A (its text alternative) is answered on B.
    let c = client();
    let code1 = journey(&c, &a.base, &a.base, &b.base, true).await;
    assert_eq!(seq(&code1), 1);
    // The session remembers the submission made on B when A shows the confirmation.
    let r = c
        .get(a.url(&format!("/ho-so/{code1}/da-nop")))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("body").contains(&code1));
    // The attachment was uploaded to B and is served by A (shared storage).
    let mail = mailbox
        .wait_for(&code1, 15)
        .await
        .expect("confirmation e-mail");
    let private = private_path(&mail);
    assert_eq!(
        download_attachment(&c, &a.base, &private).await,
        valid_pdf()
    );

    // A double click whose two POSTs reach different nodes at once: one dossier, and both
    // answers lead to its confirmation (the form was filled on B, reviewed on A).
    let c2 = client();
    let fields = prepare(&c2, &b.base, &a.base, true).await;
    let (x, y) = tokio::join!(send(&c2, &a.base, &fields), send(&c2, &b.base, &fields));
    assert_eq!(x, y, "one dossier for a double click across nodes");
    assert_follows(&code1, &x);

    // Concurrent citizens spread over both nodes: each fills the form on one node and sends it
    // to the other.
    let n = 8;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (x, y) = if i % 2 == 0 {
            (a.base.clone(), b.base.clone())
        } else {
            (b.base.clone(), a.base.clone())
        };
        tasks.push(tokio::spawn(async move {
            journey(&client(), &x, &x, &y, true).await
        }));
    }
    let mut codes = vec![code1.clone(), x.clone()];
    for t in tasks {
        codes.push(t.await.expect("citizen task"));
    }
    assert_eq!(codes.len(), n + 2);
    // 1, 2, 3… without a gap or a repeat (per day, should the run cross midnight in Vietnam).
    assert_numbered_per_day(&codes);
    assert!(codes.iter().all(|c| c.starts_with(AGENCY)), "{codes:?}");

    // Each confirmation goes out exactly once, though both nodes run a worker.
    for code in &codes {
        mailbox
            .wait_for(code, 20)
            .await
            .expect("e-mail for every dossier");
    }
    // Once nothing is pending (every queued copy, a duplicate included, is sent by then),
    // count what arrived.
    let db = dichvucong::store::Db::connect(&pg.url).await.expect("db");
    assert!(
        wait_until(20, || {
            let db = db.clone();
            async move { matches!(dichvucong::store::outbox::counts(&db).await, Ok((0, _))) }
        })
        .await,
        "the outbox was never emptied"
    );
    let all: Vec<String> = mailbox
        .all()
        .iter()
        .map(|m| crate::smtp::decode(m))
        .collect();
    assert_eq!(all.len(), codes.len(), "one e-mail per dossier");
    for code in &codes {
        let message_id = format!("<{code}.confirmation@dichvucong>");
        let copies = all.iter().filter(|m| m.contains(&message_id)).count();
        assert_eq!(copies, 1, "{code} was mailed {copies} times");
    }
    assert_eq!(
        dichvucong::store::outbox::counts(&db)
            .await
            .expect("counts"),
        (0, i64::try_from(codes.len()).expect("n"))
    );
    db.close().await;

    // Rate limits are shared: 20 lookups a minute from one client, whichever node counts them.
    let ms = dichvucong::now_ms().rem_euclid(60_000);
    if ms > 45_000 {
        // Do not straddle a window boundary.
        tokio::time::sleep(Duration::from_millis(
            u64::try_from(60_100 - ms).expect("ms"),
        ))
        .await;
    }
    let probe = client();
    let lookup = |base: &str| {
        probe
            .get(format!("{base}/tra-cuu?ma={code1}"))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
    };
    for i in 0..20 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let r = lookup(base).await.expect("lookup");
        assert_eq!(r.status().as_u16(), 200, "lookup {i}");
    }
    // Each node counted its half in memory; within a second both know the shared total.
    tokio::time::sleep(dichvucong::web::rate_limit::FLUSH_EVERY + Duration::from_millis(500)).await;
    for base in [&a.base, &b.base] {
        let r = lookup(base).await.expect("lookup");
        assert_eq!(r.status().as_u16(), 429, "limit shared by both nodes");
        assert!(r.headers().contains_key("retry-after"));
    }
    // Another client address is not affected.
    let r = probe
        .get(b.url(&format!("/tra-cuu?ma={code1}")))
        .header("x-forwarded-for", "203.0.113.8")
        .send()
        .await
        .expect("lookup");
    assert_eq!(r.status().as_u16(), 200);
    eprintln!("two-node test took {:?}", started.elapsed());
}
