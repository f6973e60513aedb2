//! DKIM keys: made (`sekisho dkim keygen`), written 0600, read back, and compared with the
//! TXT record a domain publishes. The key file is PEM: `RSA PRIVATE KEY` (PKCS#1, 2048 bits)
//! or `PRIVATE KEY` (PKCS#8; Ed25519, or an RSA key made elsewhere).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::dkim::generate::DkimKeyPair;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Bits of the RSA keys `keygen` makes.
pub const RSA_BITS: usize = 2048;

/// A DKIM signing algorithm sekisho makes keys for and signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DkimAlgorithm {
    /// `rsa-sha256` (RSA 2048).
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The name in `a=` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// From its name; None for anything else.
    pub fn parse(name: &str) -> Option<DkimAlgorithm> {
        match name {
            "rsa-sha256" => Some(DkimAlgorithm::RsaSha256),
            "ed25519-sha256" => Some(DkimAlgorithm::Ed25519Sha256),
            _ => None,
        }
    }

    /// The `k=` tag of the key record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

impl std::fmt::Display for DkimAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key could not be made, written, read or compared.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    /// The key file could not be read.
    #[error("cannot read the DKIM key {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The key file could not be written (it may exist already: keys are never overwritten).
    #[error("cannot write the DKIM key {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    /// The key file is readable by others than its owner.
    #[error("the DKIM key {path} is readable by others (mode {mode:o}); make it 0600")]
    Exposed { path: PathBuf, mode: u32 },
    /// The file holds no key sekisho can sign with.
    #[error("{path} holds no RSA or Ed25519 private key: {reason}")]
    Unusable { path: PathBuf, reason: String },
    /// The key could not be made.
    #[error("cannot make a {algorithm} key: {reason}")]
    Generate { algorithm: DkimAlgorithm, reason: String },
}

/// A private key read from its file, ready to sign, with its public half.
pub struct LoadedKey {
    /// The algorithm the key signs with.
    pub algorithm: DkimAlgorithm,
    /// The signing key.
    pub key: DkimKey,
    /// The public key as the record's `p=` carries it (RSA: SubjectPublicKeyInfo DER;
    /// Ed25519: the 32 raw bytes).
    pub public: Vec<u8>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl LoadedKey {
    /// The TXT record value to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm.key_type(), B64.encode(&self.public))
    }
}

/// A key just made: its PEM text (to be written with [`write_key`]) and the key itself.
pub struct NewKey {
    /// The PEM text of the private key.
    pub pem: String,
    /// The key, read back from that text.
    pub key: LoadedKey,
}

/// Makes a new key for `algorithm`.
pub fn generate(algorithm: DkimAlgorithm) -> Result<NewKey, DkimKeyError> {
    let failed = |e: mail_auth::Error| DkimKeyError::Generate { algorithm, reason: e.to_string() };
    let (label, der) = match algorithm {
        DkimAlgorithm::RsaSha256 => ("RSA PRIVATE KEY", DkimKeyPair::generate_rsa(RSA_BITS).map_err(failed)?),
        DkimAlgorithm::Ed25519Sha256 => ("PRIVATE KEY", DkimKeyPair::generate_ed25519().map_err(failed)?),
    };
    let pem = pem_text(label, der.private_key());
    let key = parse_key(pem.as_bytes(), Path::new("(new key)"))?;
    Ok(NewKey { pem, key })
}

/// PEM armour around `der`, 64 characters a line.
fn pem_text(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes `pem` to a new file at `path` with mode 0600 (its directory made 0700 if it is new).
/// An existing file is never overwritten.
pub fn write_key(path: &Path, pem: &str) -> Result<(), DkimKeyError> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let failed = |source| DkimKeyError::Write { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(failed)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    file.write_all(pem.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}

/// Reads the key at `path`, refusing a file that others may read.
pub fn read_key(path: &Path) -> Result<LoadedKey, DkimKeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let failed = |source| DkimKeyError::Read { path: path.to_path_buf(), source };
    let mode = std::fs::metadata(path).map_err(failed)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DkimKeyError::Exposed { path: path.to_path_buf(), mode });
    }
    let text = std::fs::read(path).map_err(failed)?;
    parse_key(&text, path)
}

/// Reads a PEM private key (pure).
pub fn parse_key(pem: &[u8], path: &Path) -> Result<LoadedKey, DkimKeyError> {
    let unusable = |reason: String| DkimKeyError::Unusable { path: path.to_path_buf(), reason };
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| unusable(e.to_string()))?;
    match der {
        PrivateKeyDer::Pkcs1(pkcs1) => rsa(PrivateKeyDer::Pkcs1(pkcs1)).map_err(unusable),
        PrivateKeyDer::Pkcs8(pkcs8) => {
            let bytes = pkcs8.secret_pkcs8_der().to_vec();
            match Ed25519Key::from_pkcs8_maybe_unchecked_der(&bytes) {
                Ok(key) => {
                    let public = key.public_key();
                    Ok(LoadedKey { algorithm: DkimAlgorithm::Ed25519Sha256, key: DkimKey::Ed25519(key), public })
                }
                Err(_) => rsa(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bytes))).map_err(unusable),
            }
        }
        _ => Err(unusable("a SEC1 (EC) key; DKIM signs with RSA or Ed25519".into())),
    }
}

fn rsa(der: PrivateKeyDer<'_>) -> Result<LoadedKey, String> {
    let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| e.to_string())?;
    let public = rsa_spki(&key.public_key());
    Ok(LoadedKey { algorithm: DkimAlgorithm::RsaSha256, key: DkimKey::Rsa(key), public })
}

/// The DER AlgorithmIdentifier of rsaEncryption (OID 1.2.840.113549.1.1.1, NULL parameters).
const RSA_ALGORITHM_ID: &[u8] =
    &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// Wraps a PKCS#1 RSAPublicKey into the SubjectPublicKeyInfo RFC 6376 §3.6.1 asks for.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(RSA_ALGORITHM_ID.len() + bits.len(), &mut out);
    out.extend_from_slice(RSA_ALGORITHM_ID);
    out.extend_from_slice(&bits);
    out
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

/// How a published key record compares with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordMatch {
    /// The record publishes this key.
    Matches,
    /// The record has an empty `p=`: the key was revoked.
    Revoked,
    /// The record publishes another key, or another key type.
    Differs(String),
    /// The record is not a DKIM key record.
    Unreadable(String),
}

/// Compares the TXT record `text` with `key` (pure). An RSA `p=` may be SubjectPublicKeyInfo
/// or a bare RSAPublicKey; both are accepted.
pub fn compare_record(text: &str, key: &LoadedKey) -> RecordMatch {
    let mut k = "rsa".to_string();
    let mut p = None;
    for tag in text.split(';') {
        let Some((name, value)) = tag.split_once('=') else {
            if tag.trim().is_empty() {
                continue;
            }
            return RecordMatch::Unreadable(format!("`{}` is not a tag=value pair", tag.trim()));
        };
        let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        match name.trim() {
            "v" if value != "DKIM1" => return RecordMatch::Unreadable(format!("v={value} is not DKIM1")),
            "k" => k = value,
            "p" => p = Some(value),
            _ => {}
        }
    }
    let Some(p) = p else { return RecordMatch::Unreadable("the record has no p= tag".into()) };
    if p.is_empty() {
        return RecordMatch::Revoked;
    }
    if k != key.algorithm.key_type() {
        return RecordMatch::Differs(format!("the record is for k={k}, the key is {}", key.algorithm.key_type()));
    }
    let Ok(published) = B64.decode(p.as_bytes()) else {
        return RecordMatch::Unreadable("p= is not base64".into());
    };
    let bare = (key.algorithm == DkimAlgorithm::RsaSha256).then(|| rsa_bare(&key.public)).flatten();
    if published == key.public || bare == Some(published.as_slice()) {
        RecordMatch::Matches
    } else {
        RecordMatch::Differs("the record publishes another public key".into())
    }
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo made by [`rsa_spki`].
fn rsa_bare(spki: &[u8]) -> Option<&[u8]> {
    let at = spki.windows(RSA_ALGORITHM_ID.len()).position(|w| w == RSA_ALGORITHM_ID)? + RSA_ALGORITHM_ID.len();
    let rest = spki.get(at..)?;
    let header = match rest.get(1)? {
        0x81 => 3,
        0x82 => 4,
        _ => 2,
    };
    rest.get(header + 1..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_written_0600_read_back_and_matches_its_own_record_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        for algorithm in [DkimAlgorithm::Ed25519Sha256, DkimAlgorithm::RsaSha256] {
            let new = generate(algorithm).unwrap();
            let path = dir.path().join("keys").join(format!("{algorithm}.key"));
            write_key(&path, &new.pem).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert!(write_key(&path, &new.pem).is_err(), "an existing key is never overwritten");
            let read = read_key(&path).unwrap();
            assert_eq!(read.algorithm, algorithm);
            assert_eq!(compare_record(&new.key.record(), &read), RecordMatch::Matches);
            let other = generate(algorithm).unwrap();
            assert!(matches!(compare_record(&other.key.record(), &read), RecordMatch::Differs(_)));
            let k = algorithm.key_type();
            assert_eq!(compare_record(&format!("v=DKIM1; k={k}; p="), &read), RecordMatch::Revoked);
        }
    }

    #[test]
    fn an_rsa_record_with_a_bare_rsa_public_key_matches_too() {
        let new = generate(DkimAlgorithm::RsaSha256).unwrap();
        let bare = rsa_bare(&new.key.public).unwrap();
        let record = format!("v=DKIM1; k=rsa; p={}", B64.encode(bare));
        assert_eq!(compare_record(&record, &new.key), RecordMatch::Matches);
        let ed = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
        assert!(matches!(compare_record(&ed.key.record(), &new.key), RecordMatch::Differs(_)));
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_key(&path, &generate(DkimAlgorithm::Ed25519Sha256).unwrap().pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_key(&path), Err(DkimKeyError::Exposed { .. })));
    }
}
