//! Test certificates made with the `openssl` binary (Debian's): a root, an intermediate and
//! user certificates with e-mail addresses, and helpers that sign and verify with
//! `openssl smime`. Tests only (feature `test-pki`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory of test certificates.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// Runs openssl with `args` in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs openssl with `args` and `stdin`; (success, stdout, stderr).
pub fn openssl_with(dir: &Path, args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    let out = child.wait_with_output().expect("openssl output");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

impl Pki {
    /// A root "Test Root" and an intermediate "Test Intermediate" under it.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
        )
        .expect("ext");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-subj",
                "/CN=Test Root",
                "-days",
                "30",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "inter.key",
                "-out",
                "inter.csr",
                "-subj",
                "/CN=Test Intermediate",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "inter.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "ca.ext",
                "-out",
                "inter.pem",
            ],
        );
        Pki { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Reads a file of the directory.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read pki file")
    }

    /// A user certificate `NAME.pem` (key `NAME.key`, chain `NAME.chain.pem` = user +
    /// intermediate) for `email`, issued by the intermediate, valid for `days` (-1: expired
    /// yesterday).
    pub fn user(&self, name: &str, email: &str, days: i32) -> PathBuf {
        let d = self.dir();
        std::fs::write(
            d.join(format!("{name}.ext")),
            format!("subjectAltName=email:{email}\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n"),
        )
        .expect("ext");
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "inter.pem",
                "-CAkey",
                "inter.key",
                "-CAcreateserial",
                "-days",
                &days.to_string(),
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
        let mut chain = self.read(&format!("{name}.pem"));
        chain.extend(self.read("inter.pem"));
        std::fs::write(d.join(format!("{name}.chain.pem")), chain).expect("chain");
        d.join(format!("{name}.pem"))
    }

    /// `message` signed by user `name` with `openssl smime -sign` and `extra` options
    /// (`-nodetach`, `-nocerts`, `-certfile inter.pem`).
    pub fn openssl_sign(&self, name: &str, message: &[u8], extra: &[&str]) -> Vec<u8> {
        let signer = format!("{name}.pem");
        let key = format!("{name}.key");
        let mut args = vec!["smime", "-sign", "-signer", &signer, "-inkey", &key, "-md", "sha256"];
        args.extend_from_slice(extra);
        let (ok, out, err) = openssl_with(self.dir(), &args, message);
        assert!(ok, "openssl smime -sign: {err}");
        out
    }

    /// Whether `openssl smime -verify` (roots: `root.pem`) accepts `message`; its stderr.
    pub fn openssl_verify(&self, message: &[u8]) -> (bool, String) {
        let (ok, _, err) =
            openssl_with(self.dir(), &["smime", "-verify", "-CAfile", "root.pem", "-purpose", "smimesign"], message);
        (ok, err)
    }

    /// Whether `openssl cms -verify` accepts `message`.
    pub fn openssl_cms_verify(&self, message: &[u8]) -> (bool, String) {
        let (ok, _, err) = openssl_with(self.dir(), &["cms", "-verify", "-CAfile", "root.pem"], message);
        (ok, err)
    }

    /// A PKCS#12 file of user `name`'s key and chain, with `password`.
    pub fn pkcs12(&self, name: &str, password: &str) -> PathBuf {
        let out = format!("{name}.p12");
        let pass = format!("pass:{password}");
        openssl(
            self.dir(),
            &[
                "pkcs12",
                "-export",
                "-inkey",
                &format!("{name}.key"),
                "-in",
                &format!("{name}.pem"),
                "-certfile",
                "inter.pem",
                "-passout",
                &pass,
                "-out",
                &out,
            ],
        );
        self.path(&out)
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}
