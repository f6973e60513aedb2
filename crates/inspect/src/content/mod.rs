//! What a message carries, opened all the way down: every attachment and every entry of every
//! archive as a tree of [`Node`]s, each typed by its bytes, with the hazards its content shows
//! (an executable, Office macros, a script, HTML that assembles a file) and, for the leaves,
//! the bytes an antivirus scans. Inbound classification and the portal's classification page
//! read this tree; nothing here decides what is allowed (that is policy) or touches the disk.
//!
//! The tree is built by the one recursion that also answers the encrypted-file question
//! ([`crate::encrypted::inspect`] is a view of the same walk): what the submission check
//! refuses and what inbound classification sees cannot drift apart.

pub(crate) mod binhex;
pub(crate) mod compressed;
pub(crate) mod data_uri;
mod describe;
mod hazards;
pub(crate) mod message;
pub(crate) mod ole_native;
pub(crate) mod pdf_files;
mod smuggling;
pub(crate) mod tar;
mod text;
pub(crate) mod tnef;
mod types;

pub(crate) use describe::{describe, keep_embedded};
pub use text::html_text;
pub(crate) use text::push_decoded;

/// True when `bytes` are a native executable (PE, ELF, Mach-O).
pub(crate) fn is_executable(bytes: &[u8]) -> bool {
    types::executable(bytes).is_some()
}

use crate::encrypted::Limits;
use crate::encrypted::walker::Walker;
use crate::mime::{self, MessageLimits, MimeError};

/// One file: an attachment, or an entry inside an archive or document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The file's name as the message or the archive gives it (an entry's name within its
    /// archive, not its whole path).
    pub name: String,
    /// Size in bytes, decoded and decompressed (as declared by the archive for an entry that
    /// could not be read).
    pub size: u64,
    /// What the bytes are, in words: "PDF document", "ZIP archive", "Windows executable (PE)",
    /// "Word document with macros", "text"; "unknown (not read)" for an entry whose bytes
    /// could not be read.
    pub file_type: String,
    /// What the content shows that policy may forbid.
    pub hazards: Vec<Hazard>,
    /// Whether the inside could be read.
    pub state: State,
    /// The entries inside, for an archive or a document that embeds files. For documents
    /// (OOXML, OpenDocument, compound files), only the parts that are files of their own
    /// (embedded objects, attachments of an Outlook message, anything encrypted, unreadable or
    /// hazardous), not every XML part or stream.
    pub children: Vec<Node>,
    /// The bytes to scan: present for every node whose bytes could be read (containers too:
    /// an antivirus may know the container itself). Absent for an entry that could not be read.
    pub content: Option<Vec<u8>>,
}

/// Whether a node's inside could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Read completely (children, if any, are every entry).
    Open,
    /// Encrypted: the content (or, for an archive, some entries or its names) needs a password.
    /// `what` says what is encrypted ("password-protected ZIP entry (ZipCrypto)").
    Encrypted {
        /// What is encrypted, in words.
        what: String,
    },
    /// Could not be read: corrupt, a limit reached, a zip-bomb shape, an unknown method.
    Unreadable {
        /// Why, in words ("more than 10000 archive entries", "entries overlap (a zip bomb shape)").
        why: String,
    },
}

/// What a file's content shows that policy may count as Danger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hazard {
    /// A native executable: "PE", "ELF", "Mach-O"; or a Windows Installer package ("MSI",
    /// by its compound file's class id).
    Executable(String),
    /// A script Windows runs on a double click, by its extension: "js", "vbs", "hta", "ps1",
    /// "bat", "cmd", "scr", "pif", "com", "cpl", "msi", "wsf", "wsh", "jse", "vbe".
    Script(String),
    /// A shortcut (.lnk, by its bytes or name) or an internet shortcut (.url).
    Shortcut,
    /// A disk image that Windows mounts on a double click: "iso", "img", "vhd", "vhdx".
    DiskImage(String),
    /// An Office document with a VBA project (or an XLM macro sheet): where it was found
    /// ("VBA storage", "vbaProject.bin", "XLM macro sheet", "macro-enabled format").
    Macros(String),
    /// A OneNote document (.one), a compiled help file (.chm), or another container that runs
    /// embedded content: the format ("OneNote", "CHM").
    ActiveContent(String),
    /// An HTML file whose script assembles a file in the browser (HTML smuggling).
    HtmlSmuggling,
    /// The name claims one type and the bytes are another (the claimed extension, the found
    /// type): "invoice.pdf" holding a PE executable.
    NameMismatch {
        /// The extension in the name.
        claimed: String,
        /// The type the bytes are.
        actual: String,
    },
}

/// A whole message opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contents {
    /// Every file the message carries, in message order: attachments, attached messages (their
    /// files as children), files uuencoded or BinHex-encoded in text parts, and files in a
    /// multipart's preamble or epilogue.
    pub files: Vec<Node>,
    /// The text of the message's own text parts (plain, and HTML with tags removed), at most
    /// [`MAX_TEXT`] bytes, for the passwords a message carries for its own archives.
    pub text: String,
}

/// Most bytes of [`Contents::text`].
pub const MAX_TEXT: usize = 64 * 1024;

impl Node {
    /// A node whose bytes are being read.
    pub(crate) fn opened(name: String, size: u64) -> Node {
        Node {
            name,
            size,
            file_type: String::new(),
            hazards: Vec::new(),
            state: State::Open,
            children: Vec::new(),
            content: None,
        }
    }

    /// An entry listed by its container but not read.
    pub(crate) fn listed(name: String, size: u64) -> Node {
        Node { file_type: "unknown (not read)".into(), ..Node::opened(name, size) }
    }

    /// Marks the node encrypted (encrypted beats unreadable).
    pub(crate) fn encrypted(&mut self, what: &str) {
        if !matches!(self.state, State::Encrypted { .. }) {
            self.state = State::Encrypted { what: what.to_string() };
        }
    }

    /// Marks the node unreadable, unless it is already encrypted or unreadable.
    pub(crate) fn unreadable(&mut self, why: &str) {
        if self.state == State::Open {
            self.state = State::Unreadable { why: why.to_string() };
        }
    }

    /// This node and every node below it, depth first, parents before children.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut pending = vec![self];
        while let Some(node) = pending.pop() {
            out.push(node);
            pending.extend(node.children.iter().rev());
        }
        out
    }
}

/// Opens one file `name` with `bytes`, recursively, within `limits`.
pub fn open_file(name: &str, bytes: &[u8], limits: &Limits) -> Node {
    let mut walker = Walker::new(limits, bytes.len() as u64, true);
    walker.inspect(&[name.to_owned()], bytes);
    walker.root.unwrap_or_else(|| Node::listed(name.to_owned(), bytes.len() as u64))
}

/// [`open_file`] for bytes the caller gives away: the root node keeps them without a copy.
pub fn open_owned(name: &str, bytes: Vec<u8>, limits: &Limits) -> Node {
    let size = bytes.len() as u64;
    let mut walker = Walker::new(limits, size, true);
    walker.inspect_owned(&[name.to_owned()], bytes);
    walker.root.unwrap_or_else(|| Node::listed(name.to_owned(), size))
}

/// Opens every file of the message `raw`, each within `limits.archive`, and gathers its text.
/// An attached message (`message/rfc822`) is a node whose children are its files.
pub fn open_message(raw: &[u8], limits: &MessageLimits) -> Result<Contents, MimeError> {
    let carried = mime::carried(raw, limits, MAX_TEXT)?;
    let files = carried
        .files
        .into_iter()
        .map(|f| {
            if message::is_message_type(&f.content_type) {
                let size = f.bytes.len() as u64;
                let mut walker = Walker::new(&limits.archive, size, true);
                walker.inspect_owned_as(std::slice::from_ref(&f.name), f.bytes, crate::encrypted::Format::Message);
                walker.root.unwrap_or_else(|| Node::listed(f.name, size))
            } else {
                open_owned(&f.name, f.bytes, &limits.archive)
            }
        })
        .collect();
    Ok(Contents { files, text: carried.text })
}

#[cfg(test)]
pub(crate) mod tests;
