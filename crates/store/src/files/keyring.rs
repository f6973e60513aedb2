//! The store key: 32 random bytes kept outside the data directory (`[store] key_file`,
//! `SEKISHO_STORE_KEY`, a systemd credential) that wraps every file's key. The database holds
//! each file key only wrapped (AES-256-GCM, bound to the file's id) and tagged with the id of
//! the store key that wrapped it, so a copy of the data directory alone opens no file, a wrong
//! key is told apart from damage, and the store key can be rotated by rewrapping (see
//! [`super::rewrap`]).
//!
//! Pure: no I/O here (the key file is read in [`super::keyfile`]).

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::sealed::{FileKey, hex};

/// The prefix of a wrapped file key as stored: `v1:<key id>:<base64url(nonce, sealed key)>`.
const WRAPPED_V1: &str = "v1";
/// Associated data of every wrap, followed by the file's id: a wrapped key moved to another
/// row does not open.
const AAD_PREFIX: &[u8] = b"sekisho file key v1\0";
const KEY_ID_LABEL: &[u8] = b"sekisho store key id\0";

/// A store key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreKey({})", self.id())
    }
}

/// Why bytes are not a store key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    /// Neither 32 raw bytes nor 64 hex digits nor the base64 of 32 bytes.
    #[error(
        "is {len} bytes, not a store key: it must be 32 random bytes (as `sekisho key generate` or \
         `head -c 32 /dev/urandom` write them), 64 hex digits, or their base64"
    )]
    Length {
        /// What was found.
        len: usize,
    },
}

impl StoreKey {
    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> StoreKey {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut key);
        StoreKey(key)
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        StoreKey(bytes)
    }

    /// The raw bytes (to write a key file).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses key material: exactly 32 bytes are the raw key; anything else is read as text
    /// (surrounding white space ignored): 64 hex digits, or standard or URL-safe base64 (with
    /// or without padding) of 32 bytes.
    pub fn from_material(bytes: &[u8]) -> Result<StoreKey, KeyMaterialError> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(StoreKey(raw));
        }
        let text = bytes.trim_ascii();
        let err = KeyMaterialError::Length { len: bytes.len() };
        if text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit) {
            let text = std::str::from_utf8(text).map_err(|_| err.clone())?;
            return FileKey::from_hex(text).map(|k| StoreKey(k.0)).ok_or(err);
        }
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            if let Ok(decoded) = engine.decode(text)
                && let Ok(raw) = <[u8; 32]>::try_from(decoded.as_slice())
            {
                return Ok(StoreKey(raw));
            }
        }
        Err(err)
    }

    /// The key's id: 16 hex digits of a SHA-256 over the key, safe to log and to store beside
    /// what it wrapped (it names the key without revealing it).
    pub fn id(&self) -> String {
        let mut input = KEY_ID_LABEL.to_vec();
        input.extend_from_slice(&self.0);
        hex(&ring::digest::digest(&ring::digest::SHA256, &input).as_ref()[..8])
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }
}

/// Why a stored file key gives no file key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file store was opened without a store key.
    #[error("no store key: the file store was opened without one, so no file can be opened or stored")]
    NoStoreKey,
    /// Wrapped by a store key that is not configured (a copy of the data directory opened
    /// without its key, or a wrong key).
    #[error("the file key is wrapped with store key {key_id}, not with the configured one ({configured})")]
    UnknownStoreKey {
        /// The id stored with the wrapped key.
        key_id: String,
        /// The id of the configured store key.
        configured: String,
    },
    /// The key id matches but the wrapped key does not open: it was altered or moved.
    #[error("the file key of file {file_id} does not open with store key {key_id}: altered")]
    Altered {
        /// The file's id.
        file_id: String,
        /// The store key's id.
        key_id: String,
    },
    /// Not a stored key at all.
    #[error("the file key of file {file_id} is not in a known form")]
    Malformed {
        /// The file's id.
        file_id: String,
    },
}

/// A file key as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKey<'a> {
    /// 64 hex digits: a key from before wrapping (data directories of earlier versions).
    Plain(FileKey),
    /// Wrapped by the store key `key_id`.
    Wrapped {
        /// The wrapping store key's id.
        key_id: &'a str,
        /// Nonce and sealed key, base64url.
        sealed: &'a str,
    },
}

impl<'a> StoredKey<'a> {
    /// Reads the stored form; `None` when it is neither.
    pub fn parse(stored: &'a str) -> Option<StoredKey<'a>> {
        if let Some(key) = FileKey::from_hex(stored) {
            return Some(StoredKey::Plain(key));
        }
        let mut parts = stored.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(WRAPPED_V1), Some(key_id), Some(sealed)) if !key_id.is_empty() => {
                Some(StoredKey::Wrapped { key_id, sealed })
            }
            _ => None,
        }
    }
}

/// The configured store key, and earlier ones whose wrapped keys are still read (rotation).
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: StoreKey,
    previous: Vec<StoreKey>,
}

impl KeyRing {
    /// A ring of one key: it wraps new file keys and opens the ones it wrapped.
    pub fn new(current: StoreKey) -> KeyRing {
        KeyRing { current, previous: Vec::new() }
    }

    /// Also opens file keys wrapped by `old` (to rewrap them under the current key).
    pub fn with_previous(mut self, old: StoreKey) -> KeyRing {
        if old != self.current && !self.previous.contains(&old) {
            self.previous.push(old);
        }
        self
    }

    /// The current key's id.
    pub fn current_id(&self) -> String {
        self.current.id()
    }

    /// Whether `key_id` is the current key's.
    pub fn is_current(&self, key_id: &str) -> bool {
        self.current.id() == key_id
    }

    /// `key` wrapped by the current store key, bound to `file_id`, in its stored form.
    pub fn wrap(&self, file_id: &str, key: &FileKey) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce);
        let mut buf = key.0.to_vec();
        self.current
            .aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(file_id), &mut buf)
            .expect("sealing 32 bytes cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&buf);
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob);
        format!("{WRAPPED_V1}:{}:{sealed}", self.current.id())
    }

    /// The file key of `file_id` from its stored form: unwrapped with the ring's key of the
    /// stored id, or as is for a key from before wrapping.
    pub fn unwrap(&self, file_id: &str, stored: &str) -> Result<FileKey, KeyError> {
        let malformed = || KeyError::Malformed { file_id: file_id.to_string() };
        let (key_id, sealed) = match StoredKey::parse(stored).ok_or_else(malformed)? {
            StoredKey::Plain(key) => return Ok(key),
            StoredKey::Wrapped { key_id, sealed } => (key_id, sealed),
        };
        let store_key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == key_id)
            .ok_or_else(|| KeyError::UnknownStoreKey { key_id: key_id.to_string(), configured: self.current.id() })?;
        let blob = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed).map_err(|_| malformed())?;
        if blob.len() != NONCE_LEN + 32 + AES_256_GCM.tag_len() {
            return Err(malformed());
        }
        let (nonce, rest) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| malformed())?;
        let mut buf = rest.to_vec();
        let plain = store_key
            .aead()
            .open_in_place(nonce, aad(file_id), &mut buf)
            .map_err(|_| KeyError::Altered { file_id: file_id.to_string(), key_id: key_id.to_string() })?;
        let raw = <[u8; 32]>::try_from(&*plain).map_err(|_| malformed())?;
        Ok(FileKey(raw))
    }

    /// The stored form under the current key, when `stored` is under an earlier key or from
    /// before wrapping; `None` when it is already under the current key.
    pub fn rewrap(&self, file_id: &str, stored: &str) -> Result<Option<String>, KeyError> {
        if let Some(StoredKey::Wrapped { key_id, .. }) = StoredKey::parse(stored)
            && self.is_current(key_id)
        {
            // Checked all the same: a key that does not open is reported now, not at download.
            self.unwrap(file_id, stored)?;
            return Ok(None);
        }
        let key = self.unwrap(file_id, stored)?;
        Ok(Some(self.wrap(file_id, &key)))
    }
}

fn aad(file_id: &str) -> Aad<Vec<u8>> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend_from_slice(file_id.as_bytes());
    Aad::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_raw_hex_or_base64_of_32_bytes() {
        let key = StoreKey::generate();
        assert_eq!(StoreKey::from_material(key.as_bytes()), Ok(key.clone()));
        let hex_form = format!("{}\n", hex(key.as_bytes()));
        assert_eq!(StoreKey::from_material(hex_form.as_bytes()), Ok(key.clone()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
        assert_eq!(StoreKey::from_material(format!("  {b64}\n").as_bytes()), Ok(key.clone()));
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());
        assert_eq!(StoreKey::from_material(b64url.as_bytes()), Ok(key.clone()));
        assert_eq!(StoreKey::from_material(&[7u8; 31]), Err(KeyMaterialError::Length { len: 31 }));
        assert_eq!(StoreKey::from_material(&[7u8; 33]), Err(KeyMaterialError::Length { len: 33 }));
        assert_eq!(StoreKey::from_material(b""), Err(KeyMaterialError::Length { len: 0 }));
        assert!(!format!("{key:?}").contains(&hex(key.as_bytes())), "never printed");
    }

    #[test]
    fn wrapped_keys_open_only_with_their_store_key_and_file() {
        let (one, two) = (StoreKey::generate(), StoreKey::generate());
        let ring = KeyRing::new(one.clone());
        let file_key = FileKey::generate();
        let stored = ring.wrap("f1", &file_key);
        assert!(stored.starts_with(&format!("v1:{}:", one.id())), "{stored}");
        assert!(!stored.contains(&file_key.to_hex()));
        assert_eq!(ring.unwrap("f1", &stored), Ok(file_key.clone()));
        assert_eq!(
            KeyRing::new(two.clone()).unwrap("f1", &stored),
            Err(KeyError::UnknownStoreKey { key_id: one.id(), configured: two.id() })
        );
        assert!(matches!(ring.unwrap("f2", &stored), Err(KeyError::Altered { .. })), "bound to its file");
        let mut altered = stored.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(ring.unwrap("f1", &altered), Err(KeyError::Altered { .. } | KeyError::Malformed { .. })));
        assert_eq!(ring.unwrap("f1", "v1:"), Err(KeyError::Malformed { file_id: "f1".into() }));
    }

    #[test]
    fn rewrap_moves_plain_and_earlier_keys_under_the_current_one() {
        let (old, new) = (StoreKey::generate(), StoreKey::generate());
        let file_key = FileKey::generate();
        let plain = file_key.to_hex();
        let under_old = KeyRing::new(old.clone()).wrap("f", &file_key);
        let ring = KeyRing::new(new.clone()).with_previous(old.clone());
        for stored in [plain.as_str(), under_old.as_str()] {
            let moved = ring.rewrap("f", stored).unwrap().expect("rewrapped");
            assert!(KeyRing::new(new.clone()).is_current(match StoredKey::parse(&moved) {
                Some(StoredKey::Wrapped { key_id, .. }) => key_id,
                other => panic!("{other:?}"),
            }));
            assert_eq!(KeyRing::new(new.clone()).unwrap("f", &moved), Ok(file_key.clone()));
            assert!(KeyRing::new(old.clone()).unwrap("f", &moved).is_err(), "the old key no longer opens it");
        }
        let current = ring.wrap("f", &file_key);
        assert_eq!(ring.rewrap("f", &current), Ok(None));
    }
}
