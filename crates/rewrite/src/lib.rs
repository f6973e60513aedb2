//! The rewrite stage: the *link variant* of a message, in which every attachment part is
//! replaced by one download notice (text and HTML, Japanese and English), and the *ZIP
//! variant*, in which they are replaced by one plain ZIP; every other byte — headers, text
//! bodies, the MIME structure around them — stays as it was. Pure functions over bytes: the
//! parts to replace come from the inspect stage's MIME walk.

#![warn(missing_docs)]

mod attachment;
pub mod authres;
pub mod banner;
mod failure_report;
pub mod inbound;
mod inbound_notice;
mod notice;
pub mod own_mail;
pub mod quarantine_digest;
mod replace;
mod report_mail;
pub mod sender_banner;
mod splice;
pub mod undisclosed;
mod zip;

pub use attachment::{Base64Lines, attachment_header, encoded_words};
pub use failure_report::{FailureReport, failure_report_mail};
pub use inbound_notice::{InboundNotice, class_words, inbound_notice_part};
pub use notice::{Notice, NoticeFile, NoticeTemplates, PLACEHOLDERS, human_size, notice_part};
pub use replace::{PartEdit, edit_parts, file_part, text_part};
pub use report_mail::{MailedReport, ReportMail, report_mail};
pub use splice::{RewriteError, link_variant};
pub use zip::{ZipBuilder, ZipEntry, zip_archive, zip_part};
