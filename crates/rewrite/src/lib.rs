//! The rewrite stage: the *link variant* of a message, in which every attachment part is
//! replaced by one download notice (text and HTML, Japanese and English) while every other byte
//! — headers, text bodies, the MIME structure around them — stays as it was. Pure functions
//! over bytes: the parts to replace come from the inspect stage's MIME walk.

#![warn(missing_docs)]

mod notice;
mod splice;

pub use notice::{Notice, NoticeFile, notice_part};
pub use splice::{RewriteError, link_variant};
