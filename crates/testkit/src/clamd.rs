//! A real clamd on loopback for one test, with a signature database built in its temporary
//! directory (there is no internet for freshclam):
//! - `Eicar-Test-Signature`: the EICAR test string ([`EICAR`]) anywhere in a file;
//! - `Sekisho.Test.Pattern`: [`CLAM_TEST_PATTERN`] anywhere in a file;
//! - `ClamAV-Test-File`: the MD5 of `/usr/share/clamav-testfiles/clam.exe` (Debian's
//!   clamav-testfiles), made with `sigtool --md5`. clamd unpacks the package's other files
//!   (ZIP, 7z, tar.gz, cab, packed executables, mail, OLE2, PDF, ...) down to that same
//!   executable, so every one of them is found.
//!
//! The patterns are hex-encoded with `sigtool --hex-dump` into a `.ndb` file. clamd adds
//! `.UNOFFICIAL` to the name of every signature that does not come from a database signed by
//! Cisco, so it answers e.g. `stream: Eicar-Test-Signature.UNOFFICIAL FOUND`.
//!
//! Its clamd.conf has `AlertExceedsMax yes`, as sekisho's README asks of every clamd: a file
//! clamd stops scanning at a limit is then reported, not answered `stream: OK`.
//!
//! clamd runs in the foreground as the user running the tests (no `User` line: clamd only
//! switches users when started as root, and then needs none to read its own temporary
//! directory); its sockets, database, temporary files and log stay in the temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sekisho_antivirus::ClamdAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The EICAR anti-virus test file (68 bytes).
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A string the kit's database detects as `Sekisho.Test.Pattern` wherever it appears.
pub const CLAM_TEST_PATTERN: &str = "SEKISHO-CLAMD-TEST-PATTERN-5b1e0c9a";

/// The name clamd reports for [`EICAR`].
pub const EICAR_SIGNATURE: &str = "Eicar-Test-Signature.UNOFFICIAL";
/// The name clamd reports for [`CLAM_TEST_PATTERN`].
pub const PATTERN_SIGNATURE: &str = "Sekisho.Test.Pattern.UNOFFICIAL";
/// The name clamd reports for the files of [`CLAMAV_TEST_FILES`].
pub const TEST_FILE_SIGNATURE: &str = "ClamAV-Test-File.UNOFFICIAL";

/// Debian's clamav-testfiles: `clam.exe` and the same file packed, archived and mailed.
pub const CLAMAV_TEST_FILES: &str = "/usr/share/clamav-testfiles";

const CLAMD: &str = "/usr/sbin/clamd";

/// What the kit's clamd.conf may change.
#[derive(Debug, Clone)]
pub struct ClamdOptions {
    /// `StreamMaxLength`, in bytes.
    pub stream_max_length: u64,
    /// `ReadTimeout`, in seconds: clamd closes a session that sends no command for this long.
    /// Unset: clamd's default (120).
    pub read_timeout: Option<u64>,
    /// `MaxFileSize` and `MaxScanSize`, in bytes. Unset: clamd's defaults (100 MiB, 400 MiB).
    pub max_file_size: Option<u64>,
}

impl Default for ClamdOptions {
    fn default() -> Self {
        ClamdOptions { stream_max_length: 25 << 20, read_timeout: None, max_file_size: None }
    }
}

/// A running clamd, killed when dropped.
pub struct Clamd {
    child: Option<Child>,
    socket: PathBuf,
    tcp: SocketAddr,
    started_in: Duration,
    dir: tempfile::TempDir,
}

impl Clamd {
    /// Starts clamd with the default options and waits until it answers PING.
    pub async fn start() -> Clamd {
        Clamd::start_with(ClamdOptions::default()).await
    }

    /// Starts clamd with `options` and waits until it answers PING.
    pub async fn start_with(options: ClamdOptions) -> Clamd {
        let dir = tempfile::tempdir().expect("temporary directory for clamd");
        build_database(&dir.path().join("db"));
        std::fs::create_dir(dir.path().join("tmp")).expect("clamd's temporary directory");
        // The port is free when chosen; if another process takes it before clamd binds it,
        // clamd exits and the kit tries another.
        for _ in 0..5 {
            let tcp = free_port();
            let conf = write_conf(dir.path(), tcp, &options);
            let began = Instant::now();
            let mut child = Command::new(CLAMD)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.path().join("clamd.out")).expect("clamd.out"))
                .stderr(std::fs::File::create(dir.path().join("clamd.err")).expect("clamd.err"))
                .spawn()
                .unwrap_or_else(|e| panic!("start {CLAMD} (Debian package clamav-daemon): {e}"));
            if wait_for_pong(&mut child, &dir.path().join("clamd.sock"), dir.path()).await {
                let socket = dir.path().join("clamd.sock");
                return Clamd { child: Some(child), socket, tcp, started_in: began.elapsed(), dir };
            }
            let log = read_log(dir.path());
            if !log.to_lowercase().contains("bind") {
                panic!("clamd did not start:\n{log}");
            }
        }
        panic!("clamd found no free port on 127.0.0.1");
    }

    /// Its Unix-domain socket.
    pub fn unix_address(&self) -> ClamdAddress {
        ClamdAddress::Unix(self.socket.clone())
    }

    /// Its TCP socket on 127.0.0.1.
    pub fn tcp_address(&self) -> ClamdAddress {
        ClamdAddress::Tcp(self.tcp)
    }

    /// How long clamd took from being started to answering PING.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Kills clamd (SIGKILL) and waits for it to end; its socket file stays, refusing
    /// connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// clamd's log and its output so far, for a failing test's message.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_log(dir: &Path) -> String {
    ["clamd.log", "clamd.out", "clamd.err"]
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits up to 30 s for PONG on the Unix socket; false when clamd exited instead.
async fn wait_for_pong(child: &mut Child, socket: &Path, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().expect("clamd's status").is_some() {
            return false;
        }
        if ping(socket).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("clamd did not answer PING within 30 s:\n{}", read_log(dir));
}

async fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = tokio::net::UnixStream::connect(socket).await else { return false };
    if stream.write_all(b"zPING\0").await.is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    matches!(read, Ok(Ok(_))) && reply == b"PONG\0"
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

/// Writes `sekisho.hdb` and `sekisho.ndb` into `db`, made with sigtool.
fn build_database(db: &Path) {
    std::fs::create_dir(db).expect("database directory");
    let clam_exe = Path::new(CLAMAV_TEST_FILES).join("clam.exe");
    // "MD5:SIZE:clam.exe", named after the file: renamed to the signature's name.
    let md5 = sigtool(&["--md5", clam_exe.to_str().expect("UTF-8 path")], b"");
    let hash = md5.trim().strip_suffix(":clam.exe").unwrap_or_else(|| panic!("sigtool --md5 wrote `{md5}`"));
    std::fs::write(db.join("sekisho.hdb"), format!("{hash}:ClamAV-Test-File\n")).expect("write sekisho.hdb");
    let mut ndb = String::new();
    for (name, pattern) in [("Eicar-Test-Signature", EICAR), ("Sekisho.Test.Pattern", CLAM_TEST_PATTERN.as_bytes())] {
        let hex = sigtool(&["--hex-dump"], pattern);
        // Type 0 (any file), any offset.
        ndb.push_str(&format!("{name}:0:*:{}\n", hex.trim()));
    }
    std::fs::write(db.join("sekisho.ndb"), ndb).expect("write sekisho.ndb");
}

fn sigtool(args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sigtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run sigtool (Debian package clamav): {e}"));
    child.stdin.take().expect("stdin").write_all(input).expect("sigtool's input");
    let out = child.wait_with_output().expect("sigtool");
    assert!(out.status.success(), "sigtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("sigtool writes text")
}

fn write_conf(dir: &Path, tcp: SocketAddr, options: &ClamdOptions) -> PathBuf {
    let d = dir.display();
    let mut conf = format!(
        "Foreground yes\n\
         LocalSocket {d}/clamd.sock\n\
         TCPSocket {port}\n\
         TCPAddr {ip}\n\
         DatabaseDirectory {d}/db\n\
         TemporaryDirectory {d}/tmp\n\
         LogFile {d}/clamd.log\n\
         LogTime yes\n\
         LogSyslog no\n\
         StreamMaxLength {max}\n\
         AlertExceedsMax yes\n",
        port = tcp.port(),
        ip = tcp.ip(),
        max = options.stream_max_length,
    );
    if let Some(secs) = options.read_timeout {
        conf.push_str(&format!("ReadTimeout {secs}\n"));
    }
    if let Some(bytes) = options.max_file_size {
        conf.push_str(&format!("MaxFileSize {bytes}\nMaxScanSize {bytes}\n"));
    }
    let path = dir.join("clamd.conf");
    std::fs::write(&path, conf).expect("write clamd.conf");
    path
}
