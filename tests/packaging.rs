//! The Debian package and its systemd unit, as an administrator installs them.
//!
//! Scenario: the package is built from the binary under test with `scripts/build-deb`, its unit
//! passes `systemd-analyze verify` with every hardening setting it claims, and — where the test
//! runs as root on a machine without sekisho installed — `dpkg -i` creates the `sekisho` user,
//! a 0700 data directory and a configuration only that user's group reads; the installed
//! binary, started as the unit starts it (user `sekisho`, only CAP_NET_BIND_SERVICE), listens
//! on port 25 and writes its data as `sekisho`; without the capability it refuses port 25 with
//! a sentence; `dpkg --purge` removes the package and keeps the data directory (it may hold
//! accepted mail).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (where `scripts/` and `packaging/` are).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command and returns (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds the package from the binary under test into `out` and returns its path.
fn build_package(out: &Path) -> PathBuf {
    let (ok, stdout, stderr) =
        run(Command::new(repo().join("scripts/build-deb")).args(["--binary", support::bin(), "--out"]).arg(out));
    assert!(ok, "build-deb failed: {stderr}");
    let deb = PathBuf::from(stdout.trim());
    assert!(deb.is_file(), "build-deb printed {stdout:?}");
    deb
}

/// The unit's `Key=value` settings, in order (a key may repeat).
fn unit_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `systemd-analyze verify` on `unit`: it must pass with no warning (an unknown or misspelt
/// key is only a warning to systemd, and would silently drop a hardening setting).
fn verify_unit(unit: &Path) {
    let (ok, stdout, stderr) = run(Command::new("systemd-analyze").arg("verify").arg(unit));
    assert!(ok, "systemd-analyze verify {} failed:\n{stdout}{stderr}", unit.display());
    let warnings: Vec<&str> =
        stderr.lines().filter(|l| l.contains(&*unit.file_name().unwrap().to_string_lossy())).collect();
    assert!(warnings.is_empty(), "systemd-analyze warned about the unit: {warnings:?}");
}

#[test]
fn the_service_unit_verifies_and_runs_the_gateway_unprivileged_and_hardened() {
    let text = std::fs::read_to_string(repo().join("packaging/sekisho.service")).unwrap();
    let settings = unit_settings(&text);
    let get = |key: &str| -> Vec<&str> { settings.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect() };
    for (key, value) in [
        ("User", "sekisho"),
        ("Group", "sekisho"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/sekisho"),
        ("LogsDirectory", "sekisho"),
        ("StateDirectoryMode", "0700"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("UMask", "0077"),
    ] {
        assert_eq!(get(key), [value], "{key} in the unit");
    }
    assert_eq!(get("ExecStart"), ["/usr/bin/sekisho --config /etc/sekisho/sekisho.toml serve"]);
    // A reload checks the file before signalling: a broken file is reported by systemctl and
    // the running gateway is not touched.
    let reload = get("ExecReload");
    assert_eq!(reload.len(), 2, "{reload:?}");
    assert!(reload[0].ends_with("config check") && reload[1].contains("-HUP"), "{reload:?}");

    // systemd-analyze needs the executable the unit names: the binary under test stands in.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("sekisho.service");
    std::fs::write(&unit, text.replace("/usr/bin/sekisho", support::bin())).unwrap();
    verify_unit(&unit);

    // The same check catches a unit that is wrong, so a passing verify means something.
    let broken = dir.path().join("broken.service");
    std::fs::write(&broken, text.replace("/usr/bin/sekisho", "/nonexistent/sekisho")).unwrap();
    let (ok, _, _) = run(Command::new("systemd-analyze").arg("verify").arg(&broken));
    assert!(!ok, "systemd-analyze accepts a unit whose program does not exist");
}

#[test]
fn the_packaged_configuration_is_valid_and_listens_where_a_mail_server_does() {
    let path = repo().join("packaging/sekisho.toml");
    let (code, stdout, stderr) = support::run(Some(&path), &["config", "check"], "");
    assert_eq!(code, 0, "config check on the packaged configuration: {stdout}{stderr}");
    assert!(stdout.contains("data in /var/lib/sekisho"), "{stdout}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("address = \"0.0.0.0:25\"") && text.contains("role = \"mx\""), "{text}");
    assert!(text.contains("address = \"0.0.0.0:587\"") && text.contains("role = \"submission\""), "{text}");
}

#[test]
fn the_package_holds_the_binary_unit_configuration_and_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let (ok, fields, stderr) = run(Command::new("dpkg-deb").arg("-f").arg(&deb));
    assert!(ok, "{stderr}");
    assert!(fields.contains("Package: sekisho\n"), "{fields}");
    assert!(fields.contains(&format!("Version: {}\n", env!("CARGO_PKG_VERSION"))), "{fields}");
    assert!(fields.contains("Depends: adduser"), "{fields}");
    let (ok, contents, stderr) = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(ok, "{stderr}");
    for (path, mode) in [
        ("./usr/bin/sekisho", "-rwxr-xr-x"),
        ("./lib/systemd/system/sekisho.service", "-rw-r--r--"),
        ("./etc/sekisho/sekisho.toml", "-rw-r-----"),
        ("./usr/share/doc/sekisho/README.md", "-rw-r--r--"),
        ("./usr/share/doc/sekisho/configuration.md", "-rw-r--r--"),
        ("./usr/share/doc/sekisho/examples/logrotate", "-rw-r--r--"),
    ] {
        let line = contents
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} missing from the package:\n{contents}"));
        assert!(line.starts_with(mode) && line.contains("root/root"), "{line}");
    }
    let extracted = dir.path().join("control");
    let (ok, _, stderr) = run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&extracted));
    assert!(ok, "{stderr}");
    assert_eq!(std::fs::read_to_string(extracted.join("conffiles")).unwrap(), "/etc/sekisho/sekisho.toml\n");
    for script in ["postinst", "prerm", "postrm"] {
        let mode = std::fs::metadata(extracted.join(script)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
        let (ok, _, stderr) = run(Command::new("sh").arg("-n").arg(extracted.join(script)));
        assert!(ok, "{script} is not valid sh: {stderr}");
    }
}

/// Why the install test cannot run here, if it cannot.
fn cannot_install_here() -> Option<&'static str> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("installing a package needs root");
    }
    if Command::new("dpkg")
        .arg("-s")
        .arg("sekisho")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Some("a sekisho package is installed on this machine already; the test leaves it alone");
    }
    if Path::new("/var/lib/sekisho").exists() || Path::new("/etc/sekisho").exists() {
        return Some("/var/lib/sekisho or /etc/sekisho exists on this machine; the test leaves them alone");
    }
    if Command::new("getent").args(["passwd", "sekisho"]).stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        return Some("a user `sekisho` exists on this machine already; the test leaves it alone");
    }
    None
}

/// Removes what the install test made, whatever happened to it.
struct Uninstall;

impl Drop for Uninstall {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "sekisho"]).output();
        let _ = std::fs::remove_dir_all("/var/lib/sekisho");
        let _ = std::fs::remove_dir_all("/etc/sekisho");
        let _ = Command::new("deluser").args(["--system", "--quiet", "sekisho"]).output();
        let _ = Command::new("delgroup").args(["--system", "--quiet", "sekisho"]).output();
    }
}

/// The numeric id of user `sekisho` (and its group).
fn sekisho_ids() -> (u32, u32, String) {
    let (ok, line, _) = run(Command::new("getent").args(["passwd", "sekisho"]));
    assert!(ok, "dpkg -i created no user sekisho");
    let fields: Vec<&str> = line.trim().split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap(), line.trim().to_string())
}

/// Starts the installed binary as the unit does: user and group `sekisho`, the store key as a
/// systemd credential in `credentials`; with `capability`, CAP_NET_BIND_SERVICE inherited and
/// ambient (nothing else).
fn start_as_service_user(config: &Path, credentials: &Path, capability: bool) -> std::process::Child {
    let mut cmd = Command::new("setpriv");
    cmd.env("CREDENTIALS_DIRECTORY", credentials);
    cmd.args(["--reuid=sekisho", "--regid=sekisho", "--init-groups", "--no-new-privs"]);
    if capability {
        cmd.args([
            "--inh-caps=+net_bind_service",
            "--ambient-caps=+net_bind_service",
            "--bounding-set=-all,+net_bind_service",
        ]);
    } else {
        cmd.args(["--inh-caps=-all", "--bounding-set=-all"]);
    }
    cmd.arg("/usr/bin/sekisho").arg("--config").arg(config).arg("serve");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start setpriv")
}

#[test]
fn dpkg_installs_a_service_that_runs_as_its_own_user_and_purge_keeps_the_mail() {
    if let Some(why) = cannot_install_here() {
        eprintln!("SKIPPED dpkg install: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let _cleanup = Uninstall;
    let (ok, stdout, stderr) = run(Command::new("dpkg").arg("-i").arg(&deb).env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(ok, "dpkg -i failed:\n{stdout}{stderr}");

    let (uid, gid, passwd) = sekisho_ids();
    assert!(uid != 0 && gid != 0, "{passwd}");
    assert!(passwd.ends_with(":/var/lib/sekisho:/usr/sbin/nologin"), "{passwd}");
    let data = std::fs::metadata("/var/lib/sekisho").unwrap();
    assert_eq!((data.uid(), data.mode() & 0o7777), (uid, 0o700), "the data directory is sekisho's alone");
    let conf = std::fs::metadata("/etc/sekisho/sekisho.toml").unwrap();
    assert_eq!((conf.uid(), conf.gid(), conf.mode() & 0o777), (0, gid, 0o640), "the configuration");
    verify_unit(Path::new("/lib/systemd/system/sekisho.service"));

    // The service user reads its configuration and passes the check the unit runs first.
    let (ok, stdout, stderr) = run(Command::new("setpriv")
        .args(["--reuid=sekisho", "--regid=sekisho", "--init-groups"])
        .args(["/usr/bin/sekisho", "--config", "/etc/sekisho/sekisho.toml", "config", "check"]));
    assert!(ok, "config check as sekisho: {stdout}{stderr}");

    // Run it on loopback port 25 the way the unit does. The configuration is the packaged one
    // with its listeners moved to an address of this test's own.
    let ip = support::own_address(25).ip();
    let test_conf = Path::new("/etc/sekisho/test.toml");
    let packaged = std::fs::read_to_string("/etc/sekisho/sekisho.toml").unwrap();
    let text = packaged
        .replace("0.0.0.0:25", &format!("{ip}:25"))
        .replace("0.0.0.0:587", &format!("{ip}:587"))
        .replace("127.0.0.1:8025", &format!("{ip}:8025"))
        .replacen(
            "[store]",
            "hostname = \"gw.sekisho.test\"\n[delivery]\nrelay_host = \"[127.0.0.1]:9\"\n\n[store]\nmin_free_space = 0",
            1,
        );
    std::fs::write(test_conf, text).unwrap();
    std::fs::set_permissions(test_conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = std::fs::metadata("/etc/sekisho/store.key").unwrap();
    assert_eq!((key.uid(), key.mode() & 0o777, key.len()), (0, 0o600, 32), "the store key made by postinst");
    // What systemd's LoadCredential does: a copy the service user alone reads.
    let credentials = tempfile::tempdir().unwrap();
    std::fs::set_permissions(credentials.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let credential = credentials.path().join("sekisho-store-key");
    std::fs::copy("/etc/sekisho/store.key", &credential).unwrap();
    std::os::unix::fs::chown(&credential, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o400)).unwrap();

    // Without CAP_NET_BIND_SERVICE: refused with a sentence naming the address, exit 1.
    let child = start_as_service_user(test_conf, credentials.path(), false);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {ip}:")) && err.contains("Permission denied"), "{err}");

    let mut child = start_as_service_user(test_conf, credentials.path(), true);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.starts_with("data directory")) {
        match lines.next() {
            Some(Ok(l)) => printed.push(l),
            _ => {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the installed gateway did not start: {printed:?} {err}");
            }
        }
        assert!(Instant::now() < deadline, "the installed gateway did not start in time");
    }
    assert!(printed.iter().any(|l| l == &format!("sekisho listening on {ip}:25 (mx)")), "{printed:?}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uids.split_whitespace().skip(1).all(|u| u == uid.to_string()), "runs as sekisho: {uids}");
    let caps = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert_eq!(caps.split_whitespace().nth(1), Some("0000000000000400"), "only CAP_NET_BIND_SERVICE: {caps}");

    let mut smtp = std::net::TcpStream::connect((ip, 25)).unwrap();
    smtp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut banner = [0u8; 256];
    let n = smtp.read(&mut banner).unwrap();
    assert!(banner[..n].starts_with(b"220 "), "{}", String::from_utf8_lossy(&banner[..n]));
    drop(smtp);

    let created: Vec<_> = std::fs::read_dir("/var/lib/sekisho").unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!created.is_empty(), "the gateway wrote nothing into its data directory");
    for path in &created {
        assert_eq!(std::fs::metadata(path).unwrap().uid(), uid, "{} belongs to sekisho", path.display());
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success(), "SIGTERM is a clean stop");
    std::fs::remove_file(test_conf).unwrap();

    let (ok, _, stderr) = run(Command::new("dpkg").args(["--purge", "sekisho"]));
    assert!(ok, "dpkg --purge: {stderr}");
    assert!(
        stderr.contains("/var/lib/sekisho and /etc/sekisho/store.key were kept"),
        "purge says what it kept: {stderr}"
    );
    assert!(!Path::new("/usr/bin/sekisho").exists() && !Path::new("/lib/systemd/system/sekisho.service").exists());
    assert!(!Path::new("/etc/sekisho/sekisho.toml").exists(), "purge removes the configuration");
    assert!(Path::new("/var/lib/sekisho").is_dir(), "purge keeps the data directory");
    assert!(Path::new("/etc/sekisho/store.key").is_file(), "purge keeps the store key");
}
