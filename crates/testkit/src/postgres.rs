//! A private PostgreSQL server (Debian's `postgresql`) for one test: a fresh cluster made with
//! `initdb` in the test's directory, listening on a loopback port with `trust` authentication,
//! a database `sekisho`; stopped when dropped. PostgreSQL refuses to run as root, so when the
//! tests run as root the cluster belongs to the `postgres` user the package creates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Where Debian puts the server's programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running PostgreSQL server.
pub struct Postgres {
    child: Option<Child>,
    dir: PathBuf,
    /// `127.0.0.1`-style address it listens on.
    pub ip: String,
    /// Its port.
    pub port: u16,
}

fn bin(name: &str) -> PathBuf {
    let debian = Path::new(BIN).join(name);
    if debian.exists() { debian } else { PathBuf::from(name) }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as the cluster's owner: `postgres` when the tests run as root.
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Makes a cluster in `dir` (created if missing) and starts it on `ip`, with a database
    /// named `sekisho`.
    pub fn start(dir: &Path, ip: &str) -> Postgres {
        let data = dir.join("pgdata");
        std::fs::create_dir_all(dir).expect("postgres directory");
        if is_root() {
            // The cluster's owner must be able to reach and write its directory.
            let status = Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir).status();
            assert!(status.expect("chown").success());
            let mut d = dir.to_path_buf();
            while let Some(parent) = d.parent() {
                // tempdirs are 0700: let the owner traverse them (search only, not read).
                let _ = Command::new("chmod").arg("o+x").arg(parent).status();
                d = parent.to_path_buf();
            }
        }
        let made = as_owner(bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
            .stdout(std::process::Stdio::null())
            .status();
        assert!(made.expect("initdb (Debian: postgresql; scripts/test installs it)").success(), "initdb failed");
        let port = std::net::TcpListener::bind((ip, 0)).expect("a free port").local_addr().expect("addr").port();
        let child = as_owner(bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", ip, "-p", &port.to_string(), "-k"])
            .arg(dir)
            .args(["-c", "fsync=on", "-c", "max_connections=200"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("postgres.log")).expect("postgres.log"))
            .spawn()
            .expect("postgres (Debian: postgresql)");
        let mut pg = Postgres { child: Some(child), dir: dir.to_path_buf(), ip: ip.to_string(), port };
        for _ in 0..200 {
            let ready = Command::new(bin("pg_isready"))
                .args(["-h", ip, "-p", &port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                let created = Command::new(bin("createdb"))
                    .args(["-h", ip, "-p", &port.to_string(), "-U", "postgres", "sekisho"])
                    .status();
                assert!(created.expect("createdb").success(), "createdb failed");
                return pg;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        pg.stop();
        panic!("postgres did not start on {ip}:{port}: see {}", dir.join("postgres.log").display());
    }

    /// The URL of the `sekisho` database, as `[store] url` takes it.
    pub fn url(&self) -> String {
        self.url_of("sekisho")
    }

    /// The URL of another database on the same server.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@{}:{}/{database}", self.ip, self.port)
    }

    /// Makes another empty database (one per test that shares a server).
    pub fn create_database(&self, name: &str) -> String {
        let created = Command::new(bin("createdb"))
            .args(["-h", &self.ip, "-p", &self.port.to_string(), "-U", "postgres", name])
            .status();
        assert!(created.expect("createdb").success(), "createdb {name} failed");
        self.url_of(name)
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The postmaster itself (its PID heads postmaster.pid): `runuser`, the child when
            // the tests run as root, does not pass SIGINT on, and waiting for it would hang.
            let postmaster = std::fs::read_to_string(self.dir.join("pgdata").join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().map(str::to_owned))
                .unwrap_or_else(|| child.id().to_string());
            let _ = Command::new("kill").arg("-INT").arg(postmaster).status();
            let _ = child.wait();
        }
    }

    /// The directory the cluster lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
