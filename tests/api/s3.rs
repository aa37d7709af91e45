//! Attachments on S3-compatible object storage, against a real S3 server on this machine
//! (moto's server by default; `DVC_TEST_S3_SERVER` names another `moto_server`-like command).
//! Skipped with a note when no server is installed, except in CI (`CI` set), where it fails.

use crate::helpers::*;
use crate::nodes::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct S3Server {
    endpoint: String,
    child: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_command() -> Option<String> {
    if let Ok(cmd) = std::env::var("DVC_TEST_S3_SERVER") {
        return Some(cmd);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl S3Server {
    async fn start(log_dir: &std::path::Path) -> Option<S3Server> {
        let Some(cmd) = server_command() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no S3 server: install one with `pip install 'moto[server]'` (scripts/test.sh does)"
            );
            eprintln!(
                "note: no S3-compatible server (moto_server) found; the S3 storage test is skipped"
            );
            return None;
        };
        let port = free_port();
        let log = std::fs::File::create(log_dir.join("s3.log")).expect("log");
        let child = Command::new(&cmd)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd}: {e}"));
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let c = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = c.get(format!("{}/", server.endpoint)).send().await
                && r.status().is_success()
            {
                return Some(server);
            }
            assert!(Instant::now() < deadline, "the S3 server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn attachments_on_s3_compatible_storage() {
    let root = TempDir(temp_dir("s3"));
    let Some(s3) = S3Server::start(&root.0).await else {
        return;
    };
    let c = client();
    let r = c
        .put(format!("{}/dvc-test", s3.endpoint))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());

    let pg = if backend_is_pg() {
        Some(PgDb::create().await)
    } else {
        None
    };
    let dir = root.0.join("node");
    let sqlite_url = format!("sqlite://{}", dir.join("dichvucong.db").display());
    let db_url = pg.as_ref().map_or(sqlite_url, |p| p.url.clone());
    let (smtp_url, mailbox) = crate::smtp::start().await;
    let node = Node::start(
        free_port(),
        &dir,
        &[
            ("DVC_DATABASE_URL", db_url.as_str()),
            ("DVC_SMTP_URL", smtp_url.as_str()),
            ("DVC_CAPTCHA", "off"),
            ("DVC_STORAGE_URL", "s3://dvc-test/portal"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .await;
    assert!(
        node.log().contains("s3://dvc-test/portal"),
        "{}",
        node.log()
    );

    let code = journey(&c, &node.base, &node.base, &node.base, false).await;
    let mail = mailbox.wait_for(&code, 15).await.expect("e-mail");
    assert_eq!(
        download_attachment(&c, &node.base, &private_path(&mail)).await,
        valid_pdf()
    );

    // The file is in the bucket under the prefix, not on the node's disk; the start-up probe
    // object is gone.
    let listing = c
        .get(format!(
            "{}/dvc-test?list-type=2&prefix=portal/",
            s3.endpoint
        ))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("body");
    assert!(listing.contains("<Key>portal/attachments/"), "{listing}");
    assert!(!listing.contains("portal/probe/"), "{listing}");
    let local = dir.join("files").join("attachments");
    assert!(!local.exists(), "attachments written to local disk");
    drop(node);
}
