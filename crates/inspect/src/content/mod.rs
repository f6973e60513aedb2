//! What a message carries, opened all the way down: every attachment and every entry of every
//! archive as a tree of [`Node`]s, each typed by its bytes, with the hazards its content shows
//! (an executable, Office macros, a script, HTML that assembles a file) and, for the leaves,
//! the bytes an antivirus scans. Inbound classification and the portal's classification page
//! read this tree; nothing here decides what is allowed (that is policy) or touches the disk.

use crate::encrypted::{self, Limits};
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
    /// What the bytes are: "PDF document", "ZIP archive", "PE executable", "text".
    pub file_type: String,
    /// What the content shows that policy may forbid.
    pub hazards: Vec<Hazard>,
    /// Whether the inside could be read.
    pub state: State,
    /// The entries inside, for an archive or a document that embeds files.
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
    /// `what` says what is encrypted ("ZipCrypto entries", "7z with encrypted names").
    Encrypted {
        /// What is encrypted, in words.
        what: String,
    },
    /// Could not be read: corrupt, a limit reached, a zip-bomb shape, an unknown method.
    Unreadable {
        /// Why, in words ("more than 10000 entries", "corrupt deflate stream").
        why: String,
    },
}

/// What a file's content shows that policy may count as Danger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hazard {
    /// A native executable: "PE", "ELF", "Mach-O".
    Executable(String),
    /// A script Windows runs on a double click, by its extension: "js", "vbs", "hta", "ps1".
    Script(String),
    /// A shortcut (.lnk) or an internet shortcut (.url).
    Shortcut,
    /// A disk image that Windows mounts on a double click: "iso", "img", "vhd", "vhdx".
    DiskImage(String),
    /// An Office document with a VBA project (or an XLM macro sheet): where it was found.
    Macros(String),
    /// A OneNote document (.one), a compiled help file (.chm), or another container that runs
    /// embedded content: the format.
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
    /// Every file the message carries, in message order.
    pub files: Vec<Node>,
    /// The text of the message's text parts (plain, and HTML with tags removed), for the
    /// passwords a message carries for its own archives.
    pub text: String,
}

/// Opens one file `name` with `bytes`, recursively, within `limits`.
pub fn open_file(name: &str, bytes: &[u8], limits: &Limits) -> Node {
    let report = encrypted::inspect(name, bytes, limits);
    let state = if let Some(f) = report.findings.first() {
        State::Encrypted { what: f.kind.to_string() }
    } else if let Some(o) = report.obstacles.first() {
        State::Unreadable { why: o.to_string() }
    } else {
        State::Open
    };
    Node {
        name: name.to_string(),
        size: bytes.len() as u64,
        file_type: format!("{:?}", report.format),
        hazards: Vec::new(),
        state,
        children: Vec::new(),
        content: Some(bytes.to_vec()),
    }
}

/// Opens every file of the message `raw`.
pub fn open_message(raw: &[u8], limits: &MessageLimits) -> Result<Contents, MimeError> {
    let files = mime::attachments(raw, limits, false)?;
    Ok(Contents {
        files: files.files.iter().map(|f| open_file(&f.name, &f.bytes, &limits.archive)).collect(),
        text: String::new(),
    })
}
