//! SMTP TLS Reporting (RFC 8460): what one delivery session counts as in a report
//! (`session`), where a domain wants its reports (`record`), and the aggregate report built
//! from a day's counts (`report`). All pure: delivery counts, the report sender does the I/O.

pub mod post;
pub mod record;
pub mod report;
pub mod session;

pub use post::post_report;
pub use record::{RecordError, Rua, parse_record};
pub use report::{ReportMeta, build_report};
pub use session::{classify, skipped};
