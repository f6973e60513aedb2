//! A spooled message read without holding it whole: its long base64 bodies (attachments of
//! megabytes) decoded, a buffer at a time, into unnamed private files in its directory
//! (`O_TMPFILE`, 0600: nothing is left behind, whatever happens) and mapped read-only; the
//! rest of the message (its skeleton) read into memory. [`sekisho_inspect::mime::inspect_cut`]
//! and [`sekisho_inspect::mime::attachments_cut`] walk the skeleton with the decoded bodies in
//! place of the cut ones: the archive inspection reads a mapped file where it needs random
//! access (a ZIP's directory at its end), a file that is no container costs the pages of its
//! head and tail, not its size, and sealing reads the decoded file a segment at a time.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sekisho_inspect::mime::{Base64, Cut, LongBodies, Span};

/// Base64 bodies at least this long (encoded; 6 MiB decoded) are decoded to a file; shorter
/// ones stay in the skeleton and are inspected in memory, as they always were.
pub const CUT_AT: u64 = 8 << 20;

/// Whether a spooled message of `size` bytes can hold a body that [`Spooled::open`] would cut
/// at `cut_at`: a shorter one cannot, and is read whole without opening it first (no file
/// opened, no thread hop for it).
pub fn may_cut(size: u64, cut_at: u64) -> bool {
    size >= cut_at
}

/// Bytes read from the spool file at a time.
const BUFFER: usize = 256 << 10;

/// A spooled message with its long bodies decoded to mapped files.
pub struct Spooled {
    path: PathBuf,
    skeleton: Vec<u8>,
    /// Each cut body: where it was in the skeleton, its encoded length, its decoded file and
    /// bytes.
    bodies: Vec<(usize, usize, File, Mapped)>,
}

impl Spooled {
    /// Reads the message at `path` twice: once to find its long bodies, once to copy the rest
    /// and decode those. Memory: the skeleton and one buffer. A message without long bodies is
    /// read once and not kept (not [`Spooled::is_cut`]); a message shorter than `cut_at` cannot
    /// hold a long body and is not read at all.
    pub fn open(path: &Path, cut_at: u64) -> io::Result<Spooled> {
        let mut file = File::open(path)?;
        if !may_cut(file.metadata()?.len(), cut_at) {
            return Ok(Spooled { path: path.to_path_buf(), skeleton: Vec::new(), bodies: Vec::new() });
        }
        let mut buf = vec![0u8; BUFFER];
        let mut finder = LongBodies::new(cut_at);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            finder.feed(&buf[..n]);
        }
        let spans = finder.finish();
        let mut spooled = Spooled { path: path.to_path_buf(), skeleton: Vec::new(), bodies: Vec::new() };
        if spans.is_empty() {
            // Nothing to cut: the message is to be read whole ([`Spooled::is_cut`]).
            return Ok(spooled);
        }
        file.rewind()?;
        let mut pos = 0u64;
        let mut spans = spans.into_iter().peekable();
        let mut body: Option<(Span, Base64, io::BufWriter<File>)> = None;
        let mut decoded = Vec::with_capacity(BUFFER);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let mut chunk = &buf[..n];
            while !chunk.is_empty() {
                if let Some((span, decoder, out)) = &mut body {
                    let take = ((span.end - pos) as usize).min(chunk.len());
                    decoder.feed(&chunk[..take], &mut decoded);
                    out.write_all(&decoded)?;
                    decoded.clear();
                    (pos, chunk) = (pos + take as u64, &chunk[take..]);
                    if pos == span.end {
                        let (span, _, out) = body.take().expect("a body being decoded");
                        spooled.close(span, out)?;
                    }
                    continue;
                }
                let next = spans.peek().map_or(u64::MAX, |s| s.start);
                let take = (next.saturating_sub(pos)).min(chunk.len() as u64) as usize;
                spooled.skeleton.extend_from_slice(&chunk[..take]);
                (pos, chunk) = (pos + take as u64, &chunk[take..]);
                if pos == next
                    && let Some(span) = spans.next()
                {
                    let out = io::BufWriter::with_capacity(BUFFER, private_file(path)?);
                    body = Some((span, Base64::default(), out));
                }
            }
        }
        if body.is_some() || spans.next().is_some() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the spooled message changed while read"));
        }
        Ok(spooled)
    }

    /// The body `span` was decoded into `out`: mapped, and noted where it was cut.
    fn close(&mut self, span: Span, out: io::BufWriter<File>) -> io::Result<()> {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        let len = file.metadata()?.len() as usize;
        let mapped = Mapped::new(&file, len)?;
        self.bodies.push((self.skeleton.len(), (span.end - span.start) as usize, file, mapped));
        Ok(())
    }

    /// Bytes of the message held in memory (the skeleton).
    pub fn in_memory(&self) -> u64 {
        self.skeleton.len() as u64
    }

    /// Bytes of decoded bodies that are containers (an archive's entries are expanded in
    /// memory when inspected), judged by their first bytes.
    pub fn containers(&self) -> u64 {
        use sekisho_inspect::encrypted::{Format, sniff};
        self.bodies
            .iter()
            .map(|(_, _, _, m)| m.bytes())
            .filter(|b| sniff(&b[..b.len().min(64 << 10)]) != Format::Other)
            .map(|b| b.len() as u64)
            .sum()
    }

    /// The message without its cut bodies.
    pub fn skeleton(&self) -> &[u8] {
        &self.skeleton
    }

    /// The cut bodies, decoded, for [`sekisho_inspect::mime::inspect_cut`].
    pub fn cuts(&self) -> Vec<Cut<'_>> {
        self.bodies.iter().map(|(at, len, _, m)| Cut { at: *at, len: *len, decoded: m.bytes() }).collect()
    }

    /// Cut body `n` decoded, as mapped bytes.
    pub fn decoded(&self, n: usize) -> Option<&[u8]> {
        self.bodies.get(n).map(|(_, _, _, m)| m.bytes())
    }

    /// Takes the skeleton out (to be held elsewhere), leaving the cut bodies.
    pub fn take_skeleton(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.skeleton)
    }

    /// Whether any body was cut out.
    pub fn is_cut(&self) -> bool {
        !self.bodies.is_empty()
    }

    /// Cut body `n` decoded, read a buffer at a time from its file.
    pub fn reader(&self, n: usize) -> Option<impl Read + '_> {
        self.bodies.get(n).map(|(_, _, file, _)| AtOffset { file, pos: 0 })
    }

    /// The spooled message.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a file from its start without moving its shared offset.
struct AtOffset<'f> {
    file: &'f File,
    pos: u64,
}

impl Read for AtOffset<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A new file in `message`'s directory that has no name (it goes when closed) and only
/// sekisho's user could open; where `O_TMPFILE` is not supported, a named one unlinked at once.
fn private_file(message: &Path) -> io::Result<File> {
    let dir = message.parent().unwrap_or(Path::new("."));
    let open = || std::fs::OpenOptions::new().read(true).write(true).mode(0o600).clone();
    match open().custom_flags(libc::O_TMPFILE).open(dir) {
        Ok(file) => Ok(file),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)) => {
            let mut name = message.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".part{}", rand::random::<u64>()));
            let path = message.with_file_name(name);
            let file = open().create_new(true).open(&path)?;
            std::fs::remove_file(&path)?;
            Ok(file)
        }
        Err(e) => Err(e),
    }
}

/// A file mapped read-only (its pages are read when touched, and can be dropped by the kernel
/// again: they are not the process's own memory).
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; the file behind it is private to
// sekisho (unlinked, 0600) and never written once mapped.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    fn new(file: &File, len: usize) -> io::Result<Mapped> {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return Ok(Mapped { ptr: std::ptr::null_mut(), len });
        }
        // SAFETY: a fresh read-only private mapping of `len` bytes of an open file.
        let ptr =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the mapping made in `new`, once.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sekisho_inspect::mime::{MessageLimits, inspect_cut};

    fn attachment(len: usize) -> Vec<u8> {
        let mut seed = 11u32;
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect()
    }

    fn message(file: &[u8], name: &str) -> Vec<u8> {
        let text = base64::engine::general_purpose::STANDARD.encode(file);
        let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
        let mut m = b"From: a@example.jp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
                      --B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
            .to_vec();
        m.extend_from_slice(
            format!(
                "Content-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            .as_bytes(),
        );
        m.extend_from_slice(&lines.join(&b"\r\n"[..]));
        m.extend_from_slice(b"\r\n--B--\r\n");
        m
    }

    #[test]
    fn a_long_body_is_decoded_to_a_private_file_and_inspected_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = attachment(300_000);
        let raw = message(&file, "big.bin");
        let path = dir.path().join("Q1");
        std::fs::write(&path, &raw).unwrap();
        let spooled = Spooled::open(&path, 64 << 10).unwrap();
        assert_eq!(spooled.bodies.len(), 1);
        assert_eq!(spooled.bodies[0].3.bytes(), file.as_slice(), "decoded as a whole");
        let mut read = Vec::new();
        spooled.reader(0).unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, file, "and read back from its file");
        assert!(spooled.in_memory() < 1000, "{}", spooled.in_memory());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["Q1"], "the decoded file is no file in the spool");
        let limits = MessageLimits::default();
        let cut = inspect_cut(spooled.skeleton(), &spooled.cuts(), &limits).expect("the cut is a part's body").unwrap();
        let whole = sekisho_inspect::mime::inspect_message(&raw, &MessageLimits::default()).unwrap();
        assert_eq!(format!("{cut:?}"), format!("{whole:?}"), "the same reports, spans included");
        assert_eq!(cut[1].size, file.len());
    }

    #[test]
    fn a_long_run_that_is_no_part_body_leaves_the_message_to_be_inspected_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Q2");
        let run = "QUJD".repeat(40_000);
        let raw = format!("Content-Type: multipart/mixed; boundary=B\r\n\r\n{run}\r\n--B\r\n\r\nx\r\n--B--\r\n");
        std::fs::write(&path, raw).unwrap();
        let spooled = Spooled::open(&path, 64 << 10).unwrap();
        assert_eq!(spooled.bodies.len(), 1, "the preamble was cut");
        assert!(inspect_cut(spooled.skeleton(), &spooled.cuts(), &MessageLimits::default()).is_none());
    }
}
