//! A `clamd` of the test's own: ClamAV's scanning daemon on a free loopback port, whose
//! signature database is one hash signature for the EICAR test file and nothing else.
//!
//! The database is written here (no `freshclam`, no network), so `clamd` loads it and answers
//! in a fraction of a second. The daemon runs as whoever runs the tests: its configuration
//! has no `User` line, because a root `clamd` told to become `clamav` could not read the
//! temporary directory (mode 0700) it is given. It needs nothing under `/etc/clamav`,
//! `/var/run/clamav` or `/var/lib/clamav`: configuration, database, log and pid file are all in
//! that directory, and it listens on TCP only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The EICAR anti-virus test file: 68 printable bytes that scanners report as a virus by
/// convention. [`OwnClamd`] reports exactly this stream as
/// `stream: Eicar-Test-Signature.UNOFFICIAL FOUND`, and nothing else: its signature is a hash
/// of the whole stream, so EICAR followed by a newline, or inside a larger file, is clean to
/// it.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

const _: () = assert!(EICAR.len() == 68);

/// The whole signature database, in ClamAV's `.hdb` format `md5:size:name` (what
/// `sigtool --md5` prints for [`EICAR`]). `clamd` appends `.UNOFFICIAL` to the name, as it
/// does for every signature that is not ClamAV's own.
const EICAR_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";

/// How long `clamd` may take to answer after it is started; with this database it takes
/// about 0.15 s.
const READY: Duration = Duration::from_secs(60);

/// A `clamd` on a free loopback port, with its configuration, database and log in a temporary
/// directory. Killed when dropped.
pub struct OwnClamd {
    port: u16,
    binary: PathBuf,
    child: Option<tokio::process::Child>,
    dir: tempfile::TempDir,
}

impl OwnClamd {
    /// Starts `clamd` and waits until it answers. `None` (said in the output) when `clamd` is
    /// not installed; in CI that fails.
    pub async fn start() -> Option<Self> {
        let Some(binary) = clamd() else {
            assert!(
                std::env::var("CI").is_err(),
                "clamd is not installed (neither /usr/sbin/clamd nor clamd on PATH), and CI must \
                 run this test"
            );
            eprintln!(
                "skipped: clamd is not installed (neither /usr/sbin/clamd nor clamd on PATH); \
                 install Debian's `clamav-daemon` to run this test"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("a directory for clamd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir(dir.path().join("db")).expect("clamd's database directory");
        std::fs::write(dir.path().join("db").join("eicar.hdb"), EICAR_HDB)
            .expect("clamd's signature");
        std::fs::write(dir.path().join("clamd.conf"), config(dir.path(), port))
            .expect("clamd's configuration");
        let mut clamd = Self {
            port,
            binary,
            child: None,
            dir,
        };
        clamd.run().await;
        Some(clamd)
    }

    /// Where it listens, as the scanner setting takes it: `tcp://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Starts `clamd` (again, on the same port) and waits until it answers `PING`.
    pub async fn run(&mut self) {
        assert!(self.child.is_none(), "clamd is already running");
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("clamd.out"))
            .expect("clamd's output file");
        let errors = output.try_clone().expect("clamd's output file");
        let mut child = tokio::process::Command::new(&self.binary)
            .arg("--config-file")
            .arg(self.dir.path().join("clamd.conf"))
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            if pong(self.port).await {
                self.child = Some(child);
                return;
            }
            if let Some(status) = child.try_wait().expect("clamd's exit status") {
                panic!(
                    "clamd exited ({status}) before it answered PING\n{}",
                    logs(self.dir.path())
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "clamd did not answer PING within {} s\n{}",
                READY.as_secs(),
                logs(self.dir.path())
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills `clamd` and waits until it is gone: a scan then fails to connect.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill clamd");
        }
    }
}

/// Where `clamd` is: `/usr/sbin/clamd` (Debian's `clamav-daemon`, and not on a non-root
/// user's `PATH` there), or `clamd` on the `PATH`.
fn clamd() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/sbin/clamd");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("clamd"))
        .find(|path| path.is_file())
}

/// `clamd.conf` for a daemon that stays in the foreground (so the test owns the process), as
/// the user who started it (no `User`), on `127.0.0.1:port` only, and takes streams of up to
/// 100 MiB: `StreamMaxLength` ends a longer `INSTREAM` with `INSTREAM size limit exceeded`,
/// and a stream over `MaxFileSize` would be passed as clean unscanned.
fn config(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        "# Written by tests/e2e/clamd.rs\n\
         Foreground yes\n\
         TCPSocket {port}\n\
         TCPAddr 127.0.0.1\n\
         DatabaseDirectory {dir}/db\n\
         TemporaryDirectory {dir}\n\
         LogFile {dir}/clamd.log\n\
         LogTime yes\n\
         PidFile {dir}/clamd.pid\n\
         SelfCheck 0\n\
         StreamMaxLength 100M\n\
         MaxFileSize 100M\n\
         MaxScanSize 400M\n"
    )
}

/// Whether a `clamd` answers `PING` on `port`, in its NUL-terminated (`z`) command form.
async fn pong(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream.write_all(b"zPING\0").await.ok()?;
        let mut answer = [0u8; 5];
        stream.read_exact(&mut answer).await.ok()?;
        Some(&answer == b"PONG\0")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Some(true))
    )
}

/// What `clamd` wrote, for a failure message: its output, then its log file.
fn logs(dir: &Path) -> String {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_or_else(
            |e| format!("({e})\n"),
            |bytes| String::from_utf8_lossy(&bytes).into_owned(),
        )
    };
    format!(
        "--- clamd's output:\n{}--- clamd.log:\n{}",
        read("clamd.out"),
        read("clamd.log")
    )
}
