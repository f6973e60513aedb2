//! Running the `sekisho` binary as a separate process, for tests that kill, restart or measure
//! it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod cluster;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sekisho")
}

/// A loopback address of its own for this test run: 127.A.B.C on `port`.
pub fn own_address(port: u16) -> SocketAddr {
    let n: u32 = rand::random::<u32>() % (250 * 250) + std::process::id() % 250;
    format!("127.{}.{}.{}:{port}", 100 + (n % 100), (n / 100) % 250 + 1, (n / 7) % 250 + 1).parse().unwrap()
}

/// Writes a configuration for a server with one trusted submission listener at `addr`.
pub fn write_config(dir: &Path, addr: SocketAddr, extra: &str) -> PathBuf {
    write_node_config(dir, addr, "gw.sekisho.test", "", extra)
}

/// Like [`write_config`], for a server named `hostname` with `store` (lines such as
/// `backend = "postgres"`) added to its `[store]` table.
pub fn write_node_config(dir: &Path, addr: SocketAddr, hostname: &str, store: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("sekisho.toml");
    // Without a delivery setup of its own, a test server sends everything to a closed port on
    // loopback: no DNS query and no connection ever leaves the machine.
    let extra = if extra.is_empty() { "[delivery]\nrelay_host = \"[127.0.0.1]:9\"\n" } else { extra };
    let text = format!(
        "hostname = \"{hostname}\"\nlocal_domains = [\"example.jp\"]\n{extra}\n\n[store]\npath = \"{}\"\nmin_free_space = 0\n{store}\n\n\
         [log]\nlevel = \"warn\"\n\n[portal]\naddress = \"{ip}:8025\"\nurl = \"http://{ip}:8025\"\n\n\
         [[listener]]\naddress = \"{addr}\"\nrole = \"submission\"\ntrusted_networks = [\"127.0.0.0/8\"]\n",
        dir.join("data").display(),
        ip = addr.ip(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a configuration into `dir` and starts a server on it (from async tests).
pub async fn serve(dir: &Path) -> (SocketAddr, PathBuf, Running) {
    let addr = own_address(2525);
    let config = write_config(dir, addr, "");
    let c = config.clone();
    let server = tokio::task::spawn_blocking(move || Running::start(&c)).await.unwrap();
    (addr, config, server)
}

/// A running `sekisho serve`.
pub struct Running {
    pub child: Child,
}

impl Running {
    /// Starts `sekisho --config CONFIG serve` and waits until it listens.
    pub fn start(config: &Path) -> Running {
        Self::start_in(None, Some(config)).0
    }

    /// Starts `sekisho [--config CONFIG] serve` in `cwd` and waits for the lines it prints
    /// about its listeners and data directory, which it returns.
    pub fn start_in(cwd: Option<&Path>, config: Option<&Path>) -> (Running, Vec<String>) {
        let (running, printed, _) = Self::spawn(cwd, config, false);
        (running, printed)
    }

    /// Starts `sekisho --config CONFIG serve` with its log (standard error) read line by line
    /// into the returned channel.
    pub fn start_logged(config: &Path) -> (Running, std::sync::mpsc::Receiver<String>) {
        let (running, _, log) = Self::spawn(None, Some(config), true);
        (running, log.expect("log captured"))
    }

    fn spawn(
        cwd: Option<&Path>,
        config: Option<&Path>,
        log: bool,
    ) -> (Running, Vec<String>, Option<std::sync::mpsc::Receiver<String>>) {
        let mut cmd = Command::new(bin());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let stderr = if log { Stdio::piped() } else { Stdio::null() };
        let mut child = cmd.arg("serve").stdout(Stdio::piped()).stderr(stderr).spawn().expect("start sekisho");
        let log = child.stderr.take().map(|stderr| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match lines.next() {
                Some(Ok(l)) => {
                    let done = l.starts_with("data directory");
                    printed.push(l);
                    if done {
                        break;
                    }
                }
                _ => panic!("sekisho did not start: {printed:?}"),
            }
            assert!(Instant::now() < deadline, "sekisho did not start in time");
        }
        std::thread::spawn(move || for _ in lines {});
        (Running { child }, printed, log)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Running {
    /// A failing test never leaves a server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `sekisho --config CONFIG ARGS...` with `stdin`, returning (exit code, stdout, stderr).
pub fn run(config: Option<&Path>, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(bin());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh data directory for a test configuration, opened for seeding.
pub async fn data_store(config: &std::path::Path) -> (std::path::PathBuf, sekisho_store::SqliteStore) {
    let data = config.parent().unwrap().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = sekisho_store::SqliteStore::open(&data.join("queue.db")).await.unwrap();
    (data, store)
}

/// A submitted message as the receiving side records it, received at `received_at`.
pub fn submitted(id: &str, received_at: i64, recipients: &[&str]) -> sekisho_store::NewMessage {
    use sekisho_store::{MessageInfo, NewMessage, NewRecipient, Origin};
    let info = MessageInfo {
        id: id.into(),
        received_at,
        sender: "alice@example.jp".into(),
        size: 100,
        ret: None,
        envid: None,
        smtputf8: false,
        body_8bit: false,
        client_ip: "127.0.0.1".into(),
        helo: "client.test".into(),
        listener: "127.0.0.1:2525 submission".into(),
        auth_user: None,
        tls: None,
        origin: Origin::Submission,
        findings: None,
        required_tls: None,
        sender_tls: None,
        inspection: None,
        rules: None,
        sender_record: None,
    };
    let recipients = recipients.iter().map(|a| NewRecipient { address: (*a).into(), orcpt: None, notify: None });
    NewMessage {
        info,
        recipients: recipients.collect(),
        not_before: None,
        held: false,
        portal_bytes: 0,
        claimed: false,
    }
}

/// Verifies every DKIM-Signature of `message` with dkimpy (Debian's python3-dkim), the key
/// records being `records` (name → TXT value); one line per signature: the values of `tags`
/// (e.g. `["d", "s"]`), then `True` or `False`.
pub fn dkimpy(
    message: &[u8],
    records: &std::collections::BTreeMap<String, String>,
    dir: &Path,
    tags: &[&str],
) -> Vec<String> {
    let script = r#"
import json, sys, dkim
records = json.load(open(sys.argv[1]))
msg = open(sys.argv[2], 'rb').read()
shown = sys.argv[3].split(',')
def dnsfunc(name, timeout=5):
    return records.get(name.decode().rstrip('.'), '').encode()
d = dkim.DKIM(msg)
sigs = [v for (k, v) in d.headers if k.lower() == b'dkim-signature']
for i, v in enumerate(sigs):
    tags = dict(t.strip().split('=', 1) for t in v.decode().replace('\r\n', '').split(';') if '=' in t)
    ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
    print(*[tags[t].strip() for t in shown], ok)
"#;
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let (rec, msg, py) = (dir.join(format!("r{n}.json")), dir.join(format!("m{n}.eml")), dir.join("verify.py"));
    std::fs::write(&rec, serde_json::to_vec(records).unwrap()).unwrap();
    std::fs::write(&msg, message).unwrap();
    std::fs::write(&py, script).unwrap();
    let out =
        Command::new("/usr/bin/python3").arg(&py).arg(&rec).arg(&msg).arg(tags.join(",")).output().expect("dkimpy");
    assert!(out.status.success(), "dkimpy: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}
