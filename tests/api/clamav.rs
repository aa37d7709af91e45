//! A real ClamAV daemon for the antivirus tests: Debian's `clamav-daemon` (`/usr/sbin/clamd`),
//! started once for the whole test process with a signature database written here, since
//! signature downloads are not reachable: the EICAR test file (by its SHA-256, `.hsb`) and a
//! marker string anywhere in a file (`.ndb` body signature), so that a well-formed PDF carrying
//! it passes the content checks and only the scanner stops it.
//!
//! clamd listens on a Unix socket and on 127.0.0.1 (a free port). It runs under a small shell
//! watchdog that reads this process' end of a pipe: when the test process exits, however it
//! exits, the pipe closes and the watchdog stops clamd and removes its folder.
//!
//! Without clamd the antivirus tests FAIL, saying how to install it (scripts/test.sh does, as
//! root): they never skip silently.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The EICAR anti-virus test file (68 bytes): harmless, detected by every scanner.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The signatures' names as the daemon reports them: clamd appends `.UNOFFICIAL` to every
/// signature that is not from its own signed databases.
pub const EICAR_SIGNATURE: &str = "Dvc.Test.Eicar.UNOFFICIAL";
/// A string the second signature finds anywhere in a file.
pub const MARKER: &[u8] = b"DVC-TEST-MALWARE-MARKER-1f0c";
pub const MARKER_SIGNATURE: &str = "Dvc.Test.Marker.UNOFFICIAL";

/// A signature's name in the database written here.
fn in_database(reported: &str) -> &str {
    reported.trim_end_matches(".UNOFFICIAL")
}

/// A well-formed PDF (it passes `inspect`) carrying [`MARKER`].
pub fn pdf_with_marker() -> Vec<u8> {
    let mut v = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ".to_vec();
    v.extend_from_slice(MARKER);
    v.push(b'\n');
    v.extend(std::iter::repeat_n(b'x', 2000));
    v.extend_from_slice(b"\n%%EOF\n");
    v
}

pub struct Clamd {
    /// `tcp://127.0.0.1:<port>`.
    pub tcp_url: String,
    /// `unix:///…/clamd.sock`.
    pub unix_url: String,
    pub port: u16,
    /// The watchdog: its stdin is the pipe whose closing stops clamd.
    _watchdog: Child,
}

static CLAMD: OnceLock<Result<Clamd, String>> = OnceLock::new();

/// The shared daemon, started on first use; panics with a clear message when it cannot be.
pub fn clamd() -> &'static Clamd {
    match CLAMD.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn clamd_binary() -> Result<PathBuf, String> {
    let candidates = match std::env::var("DVC_TEST_CLAMD") {
        Ok(p) => vec![p],
        Err(_) => ["/usr/sbin/clamd", "/usr/local/sbin/clamd", "/usr/bin/clamd"]
            .map(String::from)
            .to_vec(),
    };
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "ClamAV's daemon (clamd) is not installed (looked at {}), and the antivirus tests \
                 need it. Install it with `apt-get install -y clamav-daemon` (Debian/Ubuntu; \
                 scripts/test.sh does this when run as root), or point DVC_TEST_CLAMD at a clamd \
                 binary.",
                candidates.join(", ")
            )
        })
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn start() -> Result<Clamd, String> {
    let bin = clamd_binary()?;
    let dir = std::env::temp_dir().join(format!("dvc-clamd-{}", uuid::Uuid::new_v4().simple()));
    let db = dir.join("db");
    std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let write = |p: PathBuf, text: String| {
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(
        db.join("dvc-test.hsb"),
        format!(
            "{}:{}:{}\n",
            hex::encode(Sha256::digest(EICAR)),
            EICAR.len(),
            in_database(EICAR_SIGNATURE)
        ),
    )?;
    write(
        db.join("dvc-test.ndb"),
        format!(
            "{}:0:*:{}\n",
            in_database(MARKER_SIGNATURE),
            hex::encode(MARKER)
        ),
    )?;
    let port = free_port()?;
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    write(
        conf.clone(),
        format!(
            "Foreground yes\n\
             LocalSocket {socket}\n\
             TCPSocket {port}\n\
             TCPAddr 127.0.0.1\n\
             DatabaseDirectory {db}\n\
             TemporaryDirectory {dir}\n\
             LogFile {dir}/clamd.log\n\
             StreamMaxLength 100M\n\
             MaxFileSize 100M\n\
             Bytecode no\n\
             SelfCheck 0\n",
            socket = socket.display(),
            db = db.display(),
            dir = dir.display(),
        ),
    )?;
    // The watchdog: clamd in the background, then wait for stdin to close (this process gone).
    let script = r#"
        "$1" -c "$2" </dev/null >"$3/clamd.out" 2>&1 &
        pid=$!
        cat >/dev/null
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$3"
    "#;
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&bin)
        .arg(&conf)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
    // clamd loads its (tiny) database, then listens.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if ping(&socket) {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("clamd.out")).unwrap_or_default();
            return Err(format!(
                "clamd ({}) did not answer PING within 120 s. Its output:\n{log}",
                bin.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Clamd {
        tcp_url: format!("tcp://127.0.0.1:{port}"),
        unix_url: format!("unix://{}", socket.display()),
        port,
        _watchdog: watchdog,
    })
}

fn ping(socket: &Path) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply.starts_with(b"PONG")
}

/// A TCP relay in front of the shared daemon that the test can cut: the scanner "goes down"
/// (the port refuses connections) and comes back on the same port.
pub struct Relay {
    pub url: String,
    addr: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    pub async fn start() -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let mut r = Relay {
            url: format!("tcp://{addr}"),
            addr,
            task: None,
        };
        r.task = Some(tokio::spawn(relay(listener, clamd().port)));
        r
    }

    /// Closes the port: every scan now fails to connect.
    pub async fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Opens the port again.
    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("re-bind relay");
        self.task = Some(tokio::spawn(relay(listener, clamd().port)));
    }
}

async fn relay(listener: tokio::net::TcpListener, port: u16) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
