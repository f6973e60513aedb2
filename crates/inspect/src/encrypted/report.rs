//! What an inspection found: findings, the places it could not look into, and the verdict.

use std::fmt;

use super::sniff::Format;

/// How a ZIP entry is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipMethod {
    /// Traditional PKWARE encryption (general purpose flag bit 0), what `zip -P` writes.
    ZipCrypto,
    /// WinZip AES (method 99, extra field 0x9901), what 7-Zip writes with `-mem=AES256`.
    Aes {
        /// 128, 192 or 256; `None` when the extra field is missing or names no known strength.
        bits: Option<u16>,
    },
    /// PKWARE strong encryption (general purpose flag bit 6).
    Strong,
}

/// Which encryption an encrypted OOXML document (EncryptionInfo in CFB) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OoxmlScheme {
    /// Agile encryption (version 4.4), what current Office and msoffcrypto-tool write.
    Agile,
    /// Standard encryption (version 2.2, 3.2 or 4.2), Office 2007.
    Standard,
    /// Extensible encryption (version 3.3 or 4.3).
    Extensible,
    /// Any other EncryptionInfo version.
    Other {
        /// EncryptionInfo's major version.
        major: u16,
        /// EncryptionInfo's minor version.
        minor: u16,
    },
}

/// A legacy binary Office format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// Word 97-2003 (.doc): FIB flag fEncrypted.
    Doc,
    /// Excel 97-2003 (.xls): a FILEPASS record in the workbook globals.
    Xls,
    /// PowerPoint 97-2003 (.ppt): the encrypted CurrentUser token or EncryptedSummary stream.
    Ppt,
}

/// What is encrypted, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An encrypted ZIP entry.
    Zip(ZipMethod),
    /// A 7z archive with AES-encrypted content or headers.
    SevenZip {
        /// The header is encrypted (`-mhe=on`): not even the file names can be read.
        headers_encrypted: bool,
    },
    /// A RAR archive with encrypted files or headers.
    Rar {
        /// 4 (RAR 1.5 to 4.x format) or 5.
        version: u8,
        /// The headers are encrypted: not even the file names can be read.
        headers_encrypted: bool,
    },
    /// A password-protected OOXML document (.docx, .xlsx, .pptx): CFB with EncryptionInfo
    /// and EncryptedPackage.
    OfficeOoxml {
        /// The EncryptionInfo version.
        scheme: OoxmlScheme,
    },
    /// A password-protected legacy Office document.
    OfficeLegacy {
        /// Which of Word, Excel, PowerPoint.
        format: LegacyFormat,
    },
    /// A password-protected OpenDocument file (encryption-data in META-INF/manifest.xml).
    OpenDocument,
    /// A PDF with an /Encrypt entry in a trailer or cross-reference stream dictionary; owner
    /// password-only (permission-restricted) PDFs included.
    Pdf,
}

/// One encrypted thing and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The attachment's name, then each entry name down to the encrypted item, e.g.
    /// `["outer.zip", "inner/secret.docx"]`. Names are reported as written in the archive.
    pub path: Vec<String>,
    /// What is encrypted, and how.
    pub kind: Kind,
}

/// Why part of an attachment could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// A container nested deeper than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("nested deeper than {max_depth} levels")]
    TooDeep {
        /// The limit.
        max_depth: u32,
    },
    /// More entries than [`Limits::max_entries`](super::Limits::max_entries), all levels.
    #[error("more than {max} archive entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// An entry declares or decompresses to more than
    /// [`Limits::max_entry_size`](super::Limits::max_entry_size).
    #[error("an entry over the {max}-byte limit per entry")]
    EntryTooLarge {
        /// The limit.
        max: u64,
    },
    /// More bytes than [`Limits::max_total_uncompressed`](super::Limits::max_total_uncompressed)
    /// decompressed, all levels together.
    #[error("more than {max} bytes decompressed in total")]
    TotalTooLarge {
        /// The limit.
        max: u64,
    },
    /// More bytes decompressed than [`Limits::max_ratio`](super::Limits::max_ratio) times the
    /// attachment's size, all levels together: the shape of a decompression bomb.
    #[error("expands more than {max_ratio} times its size (a decompression bomb shape)")]
    RatioTooHigh {
        /// The limit.
        max_ratio: u64,
    },
    /// ZIP entries share bytes: the shape of non-recursive zip bombs.
    #[error("entries overlap (a zip bomb shape)")]
    OverlappingEntries,
    /// Two ZIP central directory entries with one name: extractors disagree on which wins.
    #[error("the central directory names the same file twice")]
    DuplicateNames,
    /// A ZIP local entry that the central directory does not list: streaming readers see a
    /// file that directory readers do not.
    #[error("a local entry at byte {offset} is missing from the central directory")]
    HiddenLocalEntry {
        /// Where its local header starts.
        offset: u64,
    },
    /// One volume of a multi-volume archive: the rest is elsewhere.
    #[error("one part of a multi-volume archive")]
    MultiVolume,
    /// A ZIP compression method without a decoder here (Implode, Shrink, Reduce...): not
    /// corrupt, only old or rare.
    #[error("compressed with a method sekisho cannot open ({})", zip_method_label(*method))]
    UnsupportedMethod {
        /// The method number of the ZIP entry.
        method: u16,
    },
    /// Bytes that are not what their format says.
    #[error("corrupt {format:?}: {detail}")]
    Corrupt {
        /// The format being read.
        format: Format,
        /// What was wrong.
        detail: String,
    },
}

impl Reason {
    /// True when nothing more of the container is read after this (a budget spent): the
    /// container itself is then incompletely read.
    pub fn stops_the_walk(&self) -> bool {
        matches!(self, Reason::TooManyEntries { .. } | Reason::TotalTooLarge { .. } | Reason::RatioTooHigh { .. })
    }

    /// What the sender can do about it, in a sentence to end a refusal with.
    pub fn advice(&self) -> &'static str {
        match self {
            Reason::TooDeep { .. }
            | Reason::TooManyEntries { .. }
            | Reason::EntryTooLarge { .. }
            | Reason::TotalTooLarge { .. }
            | Reason::RatioTooHigh { .. } => "send the files unpacked, or in smaller archives",
            Reason::OverlappingEntries | Reason::DuplicateNames | Reason::HiddenLocalEntry { .. } => {
                "make the archive again with a standard tool, or send the files unpacked"
            }
            Reason::MultiVolume => "send the whole archive in one volume, or the files unpacked",
            Reason::UnsupportedMethod { .. } => "send it as a standard ZIP (Deflate), or the files unpacked",
            Reason::Corrupt { .. } => "send an intact copy, or the files unpacked",
        }
    }
}

/// The name and number of a ZIP compression method (APPNOTE.TXT 4.4.5), e.g. "Implode, method 6".
fn zip_method_label(method: u16) -> String {
    let name = match method {
        1 => "Shrink",
        2..=5 => "Reduce",
        6 => "Implode",
        7 => "Tokenize",
        10 => "PKWARE DCL Implode",
        16 => "IBM z/OS CMPSC",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        20 | 93 => "Zstandard",
        94 => "MP3",
        96 => "JPEG",
        97 => "WavPack",
        _ => return format!("method {method}"),
    };
    format!("{name}, method {method}")
}

/// A place the inspection could not look into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obstacle {
    /// Where, as in [`Finding::path`].
    pub path: Vec<String>,
    /// Why.
    pub reason: Reason,
}

/// Something worth knowing that is neither a finding nor an obstacle, e.g. content that was
/// not opened because no decoder for it is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where, as in [`Finding::path`].
    pub path: Vec<String>,
    /// What, in a sentence.
    pub text: String,
}

/// Everything one inspection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The attachment's format, by content.
    pub format: Format,
    /// Every encrypted thing found, at any depth.
    pub findings: Vec<Finding>,
    /// Every place that could not be inspected.
    pub obstacles: Vec<Obstacle>,
    /// Remarks, such as compressed RAR entries left unopened.
    pub notes: Vec<Note>,
}

/// The decision an inspection supports: encrypted beats uninspectable beats clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing encrypted, and everything was opened.
    Clean,
    /// Something is encrypted (obstacles elsewhere are in the report).
    Encrypted(Vec<Finding>),
    /// Nothing encrypted was seen, but some part could not be opened.
    Uninspectable(Vec<Obstacle>),
}

impl Report {
    /// The verdict: [`Verdict::Encrypted`] when anything is encrypted, else
    /// [`Verdict::Uninspectable`] when anything could not be opened, else [`Verdict::Clean`].
    pub fn verdict(&self) -> Verdict {
        if !self.findings.is_empty() {
            Verdict::Encrypted(self.findings.clone())
        } else if !self.obstacles.is_empty() {
            Verdict::Uninspectable(self.obstacles.clone())
        } else {
            Verdict::Clean
        }
    }
}

/// Writes a path as `a > b > c`, control characters escaped.
struct DisplayPath<'a>(&'a [String]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            for c in part.chars() {
                if c.is_control() { write!(f, "{}", c.escape_default())? } else { write!(f, "{c}")? }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Zip(ZipMethod::ZipCrypto) => f.write_str("password-protected ZIP entry (ZipCrypto)"),
            Kind::Zip(ZipMethod::Aes { bits: Some(bits) }) => {
                write!(f, "password-protected ZIP entry (AES-{bits})")
            }
            Kind::Zip(ZipMethod::Aes { bits: None }) => f.write_str("password-protected ZIP entry (AES)"),
            Kind::Zip(ZipMethod::Strong) => f.write_str("password-protected ZIP entry (PKWARE strong encryption)"),
            Kind::SevenZip { headers_encrypted: true } => f.write_str("password-protected 7z archive (names hidden)"),
            Kind::SevenZip { headers_encrypted: false } => f.write_str("password-protected 7z archive"),
            Kind::Rar { version, headers_encrypted: true } => {
                write!(f, "password-protected RAR{version} archive (names hidden)")
            }
            Kind::Rar { version, headers_encrypted: false } => write!(f, "password-protected RAR{version} archive"),
            Kind::OfficeOoxml { .. } => f.write_str("password-protected Office document"),
            Kind::OfficeLegacy { format } => write!(f, "password-protected Office 97-2003 document ({format:?})"),
            Kind::OpenDocument => f.write_str("password-protected OpenDocument file"),
            Kind::Pdf => f.write_str("encrypted PDF"),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", DisplayPath(&self.path), self.kind)
    }
}

impl fmt::Display for Obstacle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: cannot inspect: {}", DisplayPath(&self.path), self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: usize, obstacles: usize) -> Report {
        Report {
            format: Format::Zip,
            findings: (0..findings)
                .map(|_| Finding { path: vec!["a.zip".into(), "x\n".into()], kind: Kind::Zip(ZipMethod::ZipCrypto) })
                .collect(),
            obstacles: (0..obstacles)
                .map(|_| Obstacle { path: vec!["a.zip".into()], reason: Reason::OverlappingEntries })
                .collect(),
            notes: vec![],
        }
    }

    #[test]
    fn encrypted_beats_uninspectable_beats_clean() {
        assert!(matches!(report(1, 1).verdict(), Verdict::Encrypted(f) if f.len() == 1));
        assert!(matches!(report(0, 1).verdict(), Verdict::Uninspectable(o) if o.len() == 1));
        assert_eq!(report(0, 0).verdict(), Verdict::Clean);
    }

    #[test]
    fn display_escapes_control_characters() {
        let r = report(1, 1);
        assert_eq!(r.findings[0].to_string(), "a.zip > x\\n: password-protected ZIP entry (ZipCrypto)");
        assert_eq!(r.obstacles[0].to_string(), "a.zip: cannot inspect: entries overlap (a zip bomb shape)");
    }
}
