//! Real `dichvucong` processes for tests that need several nodes or the command line:
//! the binary Cargo built for this package, each node with its own data directory and port.

use crate::helpers::*;
use reqwest::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dichvucong");

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dvc-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The binary with a clean environment: no `DVC_*` or `AWS_*` from the caller, then `envs`.
pub fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("DVC_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("DVC_LOG", "info");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// A running `dichvucong serve`; killed when dropped.
pub struct Node {
    pub base: String,
    log: PathBuf,
    child: Child,
}

impl Node {
    /// Starts `serve` on `port` with data in `dir` and waits until `/healthz` answers.
    pub async fn start(port: u16, dir: &Path, envs: &[(&str, &str)]) -> Node {
        std::fs::create_dir_all(dir).expect("node dir");
        let log = dir.join(format!("node-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let listen = format!("127.0.0.1:{port}");
        let data_dir = dir.display().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("DVC_LISTEN", listen.as_str()),
            ("DVC_DATA_DIR", data_dir.as_str()),
        ];
        all.extend_from_slice(envs);
        let child = command(&all)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start dichvucong serve");
        let mut node = Node {
            base: format!("http://{listen}"),
            log,
            child,
        };
        node.wait_healthy().await;
        node
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let c = client();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node exited ({status}) before answering:\n{}", self.log());
            }
            if let Ok(r) = c.get(format!("{}/healthz", self.base)).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("node did not answer /healthz in time:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes a directory when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn text(c: &Client, url: &str) -> String {
    let r = c.get(url).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 200, "GET {url}");
    r.text().await.expect("body").replace("&#x2f;", "/")
}

/// The digits of a verification code from its text alternative ("một, hai, …").
pub fn spelled_digits(page: &str) -> String {
    let words = extract(page, "nhập 12): <strong>").expect("spelled-out code");
    let words = words.split("</strong>").next().expect("words");
    words
        .split(", ")
        .map(|w| {
            [
                "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
            ]
            .iter()
            .position(|x| *x == w)
            .expect("digit word")
        })
        .map(|d| char::from(b'0' + d as u8))
        .collect()
}

/// The khai sinh declaration saved on `form_base` and reviewed on `review_base` (with the
/// verification code's text alternative when `captcha`): the fields of the final POST.
pub async fn prepare(
    c: &Client,
    form_base: &str,
    review_base: &str,
    captcha: bool,
) -> Vec<(&'static str, String)> {
    let form = text(c, &format!("{form_base}/thu-tuc/{PROC}/nop-ho-so")).await;
    let csrf = extract(&form, "name=\"csrf\" value=\"").expect("csrf");
    let r = c
        .post(format!("{form_base}/thu-tuc/{PROC}/nop-ho-so"))
        .multipart(birth_form(&csrf, valid_pdf()))
        .send()
        .await
        .expect("POST declaration");
    assert_eq!(r.status().as_u16(), 303, "declaration saved");
    let suffix = if captcha { "?ma-xac-nhan=chu" } else { "" };
    let review = text(
        c,
        &format!("{review_base}/thu-tuc/{PROC}/nop-ho-so/kiem-tra{suffix}"),
    )
    .await;
    let csrf = extract(&review, "name=\"csrf\" value=\"").expect("csrf");
    let token = extract(&review, "name=\"submit_token\" value=\"").expect("token");
    let mut fields = vec![("csrf", csrf), ("submit_token", token)];
    if captcha {
        let id = extract(&review, "name=\"captcha_id\" value=\"").expect("captcha id");
        fields.push(("captcha_id", id));
        fields.push(("captcha_answer", spelled_digits(&review)));
    }
    fields
}

/// Sends the final POST to `send_base`; returns the dossier code from the redirect.
pub async fn send(c: &Client, send_base: &str, fields: &[(&'static str, String)]) -> String {
    let r = c
        .post(format!("{send_base}/thu-tuc/{PROC}/nop-ho-so/gui"))
        .form(fields)
        .send()
        .await
        .expect("POST send");
    let status = r.status().as_u16();
    let loc = location(&r);
    assert_eq!(
        status,
        303,
        "submission: {}",
        r.text().await.unwrap_or_default()
    );
    code_from_confirmation(&loc)
}

/// The whole khai sinh journey through HTTP (see [`prepare`]), sent to `send_base`.
pub async fn journey(
    c: &Client,
    form_base: &str,
    review_base: &str,
    send_base: &str,
    captcha: bool,
) -> String {
    let fields = prepare(c, form_base, review_base, captcha).await;
    send(c, send_base, &fields).await
}

/// The private link (path only) from a confirmation e-mail.
pub fn private_path(mail: &str) -> String {
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link in the e-mail")
        .trim();
    let at = link.find("/ho-so/xem/").expect("path");
    link[at..].to_string()
}

/// The sequence number at the end of a dossier code.
pub fn seq(code: &str) -> u32 {
    code.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a dossier code: {code}"))
}

/// Opens the private page at `base` and downloads its first attachment.
pub async fn download_attachment(c: &Client, base: &str, private: &str) -> Vec<u8> {
    let page = text(c, &format!("{base}{private}")).await;
    let href = extract(&page, "href=\"/ho-so/xem/").expect("attachment link");
    let r = c
        .get(format!("{base}/ho-so/xem/{href}"))
        .send()
        .await
        .expect("GET attachment");
    assert_eq!(r.status().as_u16(), 200);
    r.bytes().await.expect("bytes").to_vec()
}
