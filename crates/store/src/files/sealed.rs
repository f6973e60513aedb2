//! Files sealed at rest: AES-256-GCM in segments of 64 KiB, each with its own nonce (a random
//! prefix and the segment number) and the last one marked in its associated data, so a file
//! can be read as a stream and any change, reordering or truncation is detected.

use std::io::{self, Read, Write};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 << 10;
const TAG: usize = 16;
const MAGIC: &[u8; 8] = b"SKSF1\0\0\0";
/// Magic and nonce prefix.
pub const HEADER: usize = 16;

/// A file's key: 256 random bits, kept in the database, never next to the file.
#[derive(Clone, PartialEq, Eq)]
pub struct FileKey(pub [u8; 32]);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    /// A new random key.
    pub fn generate() -> FileKey {
        FileKey(rand::random())
    }

    /// Hex, for the database.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// From hex.
    pub fn from_hex(hex: &str) -> Option<FileKey> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(FileKey(key))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes` in lower-case hexadecimal, as records and pages show files.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn nonce(prefix: &[u8; 8], segment: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&segment.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(last: bool) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[..8].copy_from_slice(MAGIC);
    a[8] = u8::from(last);
    a
}

/// Seals `plain` into `out` under `key`.
pub fn seal(key: &FileKey, plain: &[u8], out: &mut impl Write) -> io::Result<()> {
    seal_from(key, plain, out).map(|_| ())
}

/// [`seal`] for a plaintext read a segment at a time from `plain` (a file of any size is held
/// one segment at a time); answers its size and SHA-256 (hex).
pub fn seal_from(key: &FileKey, mut plain: impl Read, out: &mut impl Write) -> io::Result<(u64, String)> {
    let prefix: [u8; 8] = rand::random();
    out.write_all(MAGIC)?;
    out.write_all(&prefix)?;
    let aead = key.aead();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut size = 0u64;
    let mut buf = Vec::with_capacity(SEGMENT + TAG);
    // Always a last segment, shorter than SEGMENT (empty when the size is a multiple of it):
    // full segments are never last, which is how a reader tells a truncation.
    for i in 0u32.. {
        buf.clear();
        (&mut plain).take(SEGMENT as u64).read_to_end(&mut buf)?;
        digest.update(&buf);
        size += buf.len() as u64;
        let last = buf.len() < SEGMENT;
        if i == u32::MAX && !last {
            return Err(io::Error::other("file too large to seal"));
        }
        aead.seal_in_place_append_tag(nonce(&prefix, i), Aad::from(aad(last)), &mut buf)
            .map_err(|_| io::Error::other("sealing failed"))?;
        out.write_all(&buf)?;
        if last {
            break;
        }
    }
    Ok((size, hex(digest.finish().as_ref())))
}

/// Reads a sealed file as its plaintext, segment by segment; any damage is an error
/// (`InvalidData`), never wrong bytes.
pub struct Unsealer<R: Read> {
    inner: R,
    aead: LessSafeKey,
    prefix: [u8; 8],
    segment: u32,
    plain: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read> Unsealer<R> {
    /// Checks the header of `inner`.
    pub fn new(mut inner: R, key: &FileKey) -> io::Result<Unsealer<R>> {
        let mut header = [0u8; HEADER];
        inner.read_exact(&mut header).map_err(|_| damaged("no header"))?;
        if &header[..8] != MAGIC {
            return Err(damaged("not a sealed file"));
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&header[8..]);
        Ok(Unsealer { inner, aead: key.aead(), prefix, segment: 0, plain: Vec::new(), at: 0, done: false })
    }

    fn next_segment(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; SEGMENT + TAG];
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        let last = filled < buf.len();
        if filled < TAG {
            return Err(damaged("truncated"));
        }
        buf.truncate(filled);
        let plain = self
            .aead
            .open_in_place(nonce(&self.prefix, self.segment), Aad::from(aad(last)), &mut buf)
            .map_err(|_| damaged(if last { "truncated or altered" } else { "altered" }))?;
        let len = plain.len();
        buf.truncate(len);
        self.plain = buf;
        self.at = 0;
        self.segment = self.segment.checked_add(1).ok_or_else(|| damaged("too many segments"))?;
        self.done = last;
        Ok(())
    }
}

fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sealed file damaged: {why}"))
}

impl<R: Read> Read for Unsealer<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(key: &FileKey, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal(key, plain, &mut out).unwrap();
        out
    }

    fn open(key: &FileKey, sealed: &[u8]) -> io::Result<Vec<u8>> {
        let mut plain = Vec::new();
        Unsealer::new(sealed, key)?.read_to_end(&mut plain)?;
        Ok(plain)
    }

    #[test]
    fn round_trips_at_every_segment_boundary() {
        let key = FileKey::generate();
        for len in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let s = sealed(&key, &plain);
            assert_eq!(open(&key, &s).unwrap(), plain, "length {len}");
            if len >= 16 {
                assert!(!s.windows(16).any(|w| w == &plain[..16]), "no plaintext at rest");
            }
        }
    }

    #[test]
    fn damage_is_detected_never_returned() {
        let key = FileKey::generate();
        let plain = vec![42u8; 2 * SEGMENT + 10];
        let s = sealed(&key, &plain);
        let mut flipped = s.clone();
        flipped[HEADER + 5] ^= 1;
        assert_eq!(open(&key, &flipped).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Cut after whole segments: the last one is missing, which the flag shows.
        let cut = &s[..HEADER + 2 * (SEGMENT + TAG)];
        assert_eq!(open(&key, cut).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Segments swapped.
        let mut swapped = s[..HEADER].to_vec();
        swapped.extend_from_slice(&s[HEADER + SEGMENT + TAG..HEADER + 2 * (SEGMENT + TAG)]);
        swapped.extend_from_slice(&s[HEADER..HEADER + SEGMENT + TAG]);
        swapped.extend_from_slice(&s[HEADER + 2 * (SEGMENT + TAG)..]);
        assert!(open(&key, &swapped).is_err());
        assert!(open(&FileKey::generate(), &s).is_err(), "another key");
    }

    #[test]
    fn keys_round_trip_through_hex_and_never_print() {
        let key = FileKey::generate();
        assert_eq!(FileKey::from_hex(&key.to_hex()), Some(key.clone()));
        assert_eq!(FileKey::from_hex("zz"), None);
        assert_eq!(FileKey::from_hex(&format!("+f{}", &key.to_hex()[2..])), None, "no signs");
        assert_eq!(format!("{key:?}"), "FileKey(..)");
    }
}
