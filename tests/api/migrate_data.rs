//! `dichvucong migrate-data`: a commune's SQLite installation moves to PostgreSQL and goes on
//! serving the same dossiers. PostgreSQL only (`DVC_TEST_BACKEND=postgres`).

use crate::helpers::*;
use crate::nodes::*;

#[tokio::test]
async fn sqlite_installation_moves_to_postgres() {
    if !backend_is_pg() {
        eprintln!("note: the migrate-data test runs only with DVC_TEST_BACKEND=postgres; skipped");
        return;
    }
    let root = TempDir(temp_dir("migrate-data"));
    let dir = root.0.join("node");
    let sqlite_url = format!("sqlite://{}", dir.join("dichvucong.db").display());

    // A commune on SQLite (the default): one dossier with an attachment, its e-mail sent.
    let (smtp_url, mailbox) = crate::smtp::start().await;
    let c = client();
    let (code, private) = {
        let node = Node::start(
            free_port(),
            &dir,
            &[("DVC_SMTP_URL", smtp_url.as_str()), ("DVC_CAPTCHA", "off")],
        )
        .await;
        let code = journey(&c, &node.base, &node.base, &node.base, false).await;
        let mail = mailbox.wait_for(&code, 15).await.expect("e-mail");
        (code, private_path(&mail))
    }; // the node stops here

    // Move it to a fresh PostgreSQL database.
    let pg = PgDb::create().await;
    // Run where the portal ran: the audit key is in its data directory.
    let out = command(&[])
        .env("DVC_DATA_DIR", &dir)
        .args(["migrate-data", "--from", &sqlite_url, "--to", &pg.url])
        .output()
        .expect("run migrate-data");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "migrate-data failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("dossiers") && stdout.contains("khớp"),
        "{stdout}"
    );
    assert!(!stdout.contains("KHÔNG KHỚP"), "{stdout}");

    // A second run refuses: the target is no longer empty.
    let again = command(&[])
        .env("DVC_DATA_DIR", &dir)
        .args(["migrate-data", "--from", &sqlite_url, "--to", &pg.url])
        .output()
        .expect("run migrate-data");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("đã có dữ liệu"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The same data directory (attachments) on PostgreSQL: the dossier is there.
    let (smtp_url, mailbox) = crate::smtp::start().await;
    let node = Node::start(
        free_port(),
        &dir,
        &[
            ("DVC_DATABASE_URL", pg.url.as_str()),
            ("DVC_SMTP_URL", smtp_url.as_str()),
            ("DVC_CAPTCHA", "off"),
        ],
    )
    .await;
    let r = c
        .get(node.url(&format!("/tra-cuu?ma={code}")))
        .send()
        .await
        .expect("lookup");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains(&code) && body.contains("Đã nộp trực tuyến"));
    assert_eq!(
        download_attachment(&c, &node.base, &private).await,
        valid_pdf()
    );
    let api = c
        .get(node.url(&format!("/api/v1/dossiers/{code}/status")))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status().as_u16(), 200);

    // New dossiers continue the day's numbering and the id sequences (setval), and the e-mail
    // already sent from SQLite is not sent again.
    let next = journey(&client(), &node.base, &node.base, &node.base, false).await;
    assert_follows(&code, &next);
    mailbox.wait_for(&next, 15).await.expect("new e-mail");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let all = mailbox.all();
    assert_eq!(all.len(), 1, "only the new dossier's e-mail");
    drop(node);

    // And back: PostgreSQL → a new SQLite file, with the attachments copied to another
    // directory (each checked against its stored SHA-256).
    let back = root.0.join("back");
    std::fs::create_dir_all(&back).expect("dir");
    let back_url = format!("sqlite://{}", back.join("dichvucong.db").display());
    let moved = back.join("moved-files").display().to_string();
    let files = dir.join("files").display().to_string();
    let out = command(&[])
        .env("DVC_DATA_DIR", &dir)
        .args(["migrate-data", "--from", &pg.url, "--to", &back_url])
        .args(["--files-from", &files, "--files-to", &moved])
        .output()
        .expect("run migrate-data");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Đã chép 2 tệp"), "{stdout}");
    eprintln!("{stdout}");
    let node = Node::start(
        free_port(),
        &back,
        &[
            ("DVC_STORAGE_URL", moved.as_str()),
            ("DVC_SMTP_URL", smtp_url.as_str()),
            ("DVC_CAPTCHA", "off"),
        ],
    )
    .await;
    assert_eq!(
        download_attachment(&c, &node.base, &private).await,
        valid_pdf()
    );
    let r = c
        .get(node.url(&format!("/tra-cuu?ma={next}")))
        .send()
        .await
        .expect("lookup");
    assert_eq!(r.status().as_u16(), 200);
    drop(node);
}
