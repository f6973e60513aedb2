//! Sanitised copies (メール無害化): harmless forms of what a message carries, made in memory.
//! [`remove_macros`] rewrites an Office Open XML document without its VBA project (the parts,
//! their content types and the relationships pointing at them) under the macro-free name
//! (.xlsm → .xlsx); [`html_to_text`] turns an HTML body into plain text with its links shown.
//! Pure functions over bytes, bounded by [`SanitiseLimits`]; nothing here decides whether a
//! copy is safe: the caller inspects the copy again.

mod html;
mod ooxml;
mod xml;

pub use html::html_to_text;
pub use ooxml::{Sanitised, remove_macros};

/// Bounds on what a sanitisation reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SanitiseLimits {
    /// Largest document taken, in bytes.
    pub max_size: u64,
    /// Most ZIP entries in a document.
    pub max_entries: usize,
    /// Largest XML part (content types, relationships) read and rewritten, decompressed.
    pub max_part: u64,
    /// Most bytes of XML parts read from one document, all together.
    pub max_xml_total: u64,
}

impl Default for SanitiseLimits {
    fn default() -> Self {
        SanitiseLimits { max_size: 64 << 20, max_entries: 10_000, max_part: 4 << 20, max_xml_total: 32 << 20 }
    }
}

/// Why no sanitised copy was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SanitiseError {
    /// The document is larger than [`SanitiseLimits::max_size`].
    #[error("the document is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// More entries than [`SanitiseLimits::max_entries`].
    #[error("the document has more than {max} parts")]
    TooManyParts {
        /// The limit.
        max: usize,
    },
    /// An XML part to rewrite is larger than [`SanitiseLimits::max_part`] decompressed.
    #[error("its part {name} is larger than {max} bytes")]
    PartTooLarge {
        /// The part.
        name: String,
        /// The limit.
        max: u64,
    },
    /// Its XML parts together are larger than [`SanitiseLimits::max_xml_total`].
    #[error("its XML parts together are larger than {max} bytes")]
    XmlTooLarge {
        /// The limit.
        max: u64,
    },
    /// A legacy (OLE compound file) document: its macros live inside the document's streams
    /// and cannot be cut out.
    #[error("legacy Office format (.doc/.xls/.ppt): its macros cannot be removed")]
    Legacy,
    /// Not an Office Open XML document (no ZIP, or no `[Content_Types].xml`).
    #[error("not an Office Open XML document")]
    NotOoxml,
    /// The ZIP or one of its XML parts cannot be read.
    #[error("the document is damaged: {0}")]
    Damaged(String),
    /// A part is encrypted.
    #[error("the document has encrypted parts")]
    Encrypted,
    /// Macros that live in the document's own content, not in a VBA project part (an Excel 4.0
    /// macro sheet): removing them would remove content.
    #[error("{0} cannot be removed without removing content")]
    Unremovable(&'static str),
    /// A macro-enabled kind with no macro-free counterpart (an add-in).
    #[error("a macro-enabled {0} has no macro-free form")]
    NoMacroFreeForm(&'static str),
    /// Nothing to remove: no VBA project and no macro-enabled content type.
    #[error("the document has no VBA project")]
    NoMacros,
}

#[cfg(test)]
mod tests;
