//! A private OpenLDAP slapd (Debian's `slapd`) for one test: a `dc=example,dc=jp` database
//! with `ou=people` and the test's own entries, listening on a loopback port (and, with a test
//! certificate, on an `ldaps://` port too), `cn=admin,dc=example,dc=jp` / `secret` as its root;
//! stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The root DN and password of every test slapd.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=jp";
pub const ADMIN_PASSWORD: &str = "secret";

/// The entries every test directory has.
const BASE: &str = "dn: dc=example,dc=jp
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=jp
objectClass: organizationalUnit
ou: people

";

/// A running slapd.
pub struct Slapd {
    dir: PathBuf,
    /// `ldap://IP:PORT`.
    pub url: String,
    /// `ldaps://IP:PORT`, when started with a certificate.
    pub ldaps_url: Option<String>,
}

/// A free port on `ip`.
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).expect("a free port").local_addr().expect("addr").port()
}

impl Slapd {
    /// Starts slapd in `dir` on `ip` with `dc=example,dc=jp`, `ou=people,dc=example,dc=jp` and
    /// the entries of `ldif` under them.
    pub fn start(dir: &Path, ip: &str, ldif: &str) -> Slapd {
        Self::start_full(dir, ip, ldif, None)
    }

    /// Like `start`, with TLS: `pki`'s server certificate on an `ldaps://` port and for
    /// StartTLS on the `ldap://` one, and every operation but StartTLS refused without TLS
    /// (`security tls=1`), so a client that binds in plain text is turned away.
    pub fn start_tls(dir: &Path, ip: &str, ldif: &str, pki: &crate::TestPki) -> Slapd {
        Self::start_full(dir, ip, ldif, Some(pki))
    }

    fn start_full(dir: &Path, ip: &str, ldif: &str, pki: Option<&crate::TestPki>) -> Slapd {
        let port = free_port(ip);
        std::fs::create_dir_all(dir.join("db")).expect("slapd directory");
        let tls = pki
            .map(|p| {
                format!(
                    "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\nsecurity tls=1\n",
                    p.ca_path.display(),
                    p.cert_path.display(),
                    p.key_path.display()
                )
            })
            .unwrap_or_default();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {d}/slapd.pid\n{tls}database mdb\nsuffix \"dc=example,dc=jp\"\n\
             rootdn \"{ADMIN_DN}\"\nrootpw {ADMIN_PASSWORD}\ndirectory {d}/db\n",
            d = dir.display()
        );
        std::fs::write(dir.join("slapd.conf"), conf).expect("slapd.conf");
        std::fs::write(dir.join("data.ldif"), format!("{BASE}{ldif}")).expect("data.ldif");
        let conf = dir.join("slapd.conf");
        let loaded = Command::new("slapadd").arg("-f").arg(&conf).arg("-l").arg(dir.join("data.ldif")).status();
        assert!(loaded.expect("slapadd (Debian: slapd; scripts/test installs it)").success());
        let url = format!("ldap://{ip}:{port}");
        let ldaps_url = pki.map(|_| format!("ldaps://{ip}:{}", free_port(ip)));
        let listen = match &ldaps_url {
            Some(ldaps) => format!("{url}/ {ldaps}/"),
            None => format!("{url}/"),
        };
        let started = Command::new("slapd").arg("-f").arg(&conf).arg("-h").arg(listen).status();
        assert!(started.expect("slapd (Debian: slapd)").success());
        for _ in 0..100 {
            if std::net::TcpStream::connect((ip, port)).is_ok() {
                return Slapd { dir: dir.to_path_buf(), url, ldaps_url };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("slapd did not start listening on {url}");
    }

    /// Stops it (the directory then does not answer).
    pub fn stop(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("slapd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            for _ in 0..100 {
                if !self.dir.join("slapd.pid").exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
