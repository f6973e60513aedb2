//! Stored rows of the portal's tables → the store's models, written once for both backends: a
//! row of either driver is read through [`crate::rows::Cols`], and what the store keeps as text (keywords, JSON lists, address
//! lists) is parsed here.

use sekisho_policy::LinkEvent;

use crate::dmarc_rows::{DmarcCount, DmarcRow};
use crate::error::StoreError;
use crate::links::{Access, ConsoleSession, LinkFile, LinkRecord, PortalEvent, PortalSession};
use crate::originals::WithheldOriginal;
use crate::reports::{ReceivedKind, ReceivedReport, ReportedPolicy, SentReport, TlsSessionCount};
use crate::rows::Cols;

/// The columns [`link_record`] reads.
pub(crate) const LINK_COLUMNS: &str = "message_id, idx, recipient, access, created_at, expires_at, revoked, \
                                       failures, max_downloads, secret_hash, hint";

/// A row of `links` ([`LINK_COLUMNS`]).
pub(crate) fn link_record(r: &impl Cols) -> Result<LinkRecord, StoreError> {
    let access = r.text("access");
    Ok(LinkRecord {
        message_id: r.text("message_id"),
        idx: r.int("idx"),
        recipient: r.text("recipient"),
        access: Access::parse(&access).ok_or_else(|| StoreError::Damaged(format!("link access `{access}`")))?,
        created_at: r.int("created_at"),
        expires_at: r.int("expires_at"),
        revoked: r.flag("revoked"),
        failures: r.int("failures") as u32,
        max_downloads: r.int("max_downloads") as u32,
        secret_hash: r.opt_text("secret_hash"),
        hint: r.opt_text("hint"),
    })
}

/// A row of `link_files`.
pub(crate) fn link_file(f: &impl Cols) -> LinkFile {
    LinkFile {
        idx: f.int("idx"),
        file_id: f.text("file_id"),
        key: f.text("key"),
        name: f.text("name"),
        content_type: f.text("content_type"),
        size: f.int("size") as u64,
        sha256: f.text("sha256"),
        purged: f.flag("purged"),
    }
}

/// A message's `link_files` rows in index order: (its files, the kept original if any).
pub(crate) fn split_original(rows: &[impl Cols]) -> (Vec<LinkFile>, Option<LinkFile>) {
    let (originals, files): (Vec<LinkFile>, Vec<LinkFile>) =
        rows.iter().map(link_file).partition(|f| f.idx == crate::links::ORIGINAL_IDX);
    (files, originals.into_iter().next())
}

/// A row of `portal_events`.
pub(crate) fn portal_event(r: &impl Cols) -> Result<PortalEvent, StoreError> {
    let event = r.text("event");
    Ok(PortalEvent {
        at: r.int("at"),
        message_id: r.text("message_id"),
        idx: r.opt_int("idx"),
        event: LinkEvent::parse(&event).ok_or_else(|| StoreError::Damaged(format!("portal event `{event}`")))?,
        client: r.text("client"),
        user_agent: r.text("user_agent"),
        detail: r.text("detail"),
    })
}

/// A row of `portal_sessions`.
pub(crate) fn portal_session(r: &impl Cols) -> PortalSession {
    PortalSession {
        message_id: r.text("message_id"),
        idx: r.int("idx"),
        csrf: r.text("csrf"),
        verified: r.flag("verified"),
        expires_at: r.int("expires_at"),
    }
}

/// A row of `console_sessions`.
pub(crate) fn console_session(r: &impl Cols) -> ConsoleSession {
    ConsoleSession {
        sender: r.text("sender"),
        account: r.flag("account"),
        csrf: r.text("csrf"),
        expires_at: r.int("expires_at"),
    }
}

/// `text` for a LIKE pattern with `ESCAPE '\'`, between `%`s: its `%`, `_` and `\` match
/// themselves.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A withheld original's recipients as stored: one address a line.
pub(crate) fn address_lines(addresses: &[String]) -> String {
    addresses.join("\n")
}

/// A row of `withheld_originals`.
pub(crate) fn withheld_original(r: &impl Cols) -> WithheldOriginal {
    WithheldOriginal {
        message_id: r.text("message_id"),
        idx: r.int("idx"),
        file_id: r.text("file_id"),
        key: r.text("key"),
        name: r.text("name"),
        content_type: r.text("content_type"),
        size: r.int("size") as u64,
        sha256: r.text("sha256"),
        reason: r.text("reason"),
        copy_name: r.text("copy_name"),
        copy_sha256: r.text("copy_sha256"),
        sender: r.text("sender"),
        header_from: r.text("header_from"),
        subject: r.text("subject"),
        recipients: r.text("recipients").split('\n').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
        received_at: r.int("received_at"),
        kept_at: r.int("kept_at"),
    }
}

/// A list of strings as stored: JSON.
pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// A stored JSON list of `table.col`.
fn parse_list(r: &impl Cols, table: &str, col: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&r.text(col)).map_err(|e| StoreError::Damaged(format!("{table}.{col}: {e}")))
}

/// A row of `tls_sessions`; an empty `failure` is a successful session.
pub(crate) fn tls_session(r: &impl Cols) -> Result<TlsSessionCount, StoreError> {
    let failure = r.text("failure");
    Ok(TlsSessionCount {
        day: r.text("day"),
        domain: r.text("domain"),
        policy: ReportedPolicy {
            kind: r.text("policy_type"),
            strings: parse_list(r, "tls_sessions", "policy_strings")?,
            mx_patterns: parse_list(r, "tls_sessions", "mx_patterns")?,
        },
        mx_host: r.text("mx_host"),
        receiving_ip: r.text("receiving_ip"),
        failure: (!failure.is_empty()).then_some(failure),
        detail: r.opt_text("detail"),
        count: r.int("count") as u64,
    })
}

/// Sorts counts by their stored key, so that two nodes adding like batches at once lock the
/// rows in one order.
pub(crate) fn tls_in_key_order(counts: &[TlsSessionCount]) -> Vec<&TlsSessionCount> {
    let mut sorted: Vec<&TlsSessionCount> = counts.iter().collect();
    sorted.sort_by_key(|&c| {
        let p = &c.policy;
        (&c.day, &c.domain, &p.kind, &p.strings, &p.mx_patterns, &c.mx_host, &c.receiving_ip, &c.failure)
    });
    sorted
}

/// A DMARC row as stored: JSON.
pub(crate) fn dmarc_row_json(row: &DmarcRow) -> Result<String, StoreError> {
    serde_json::to_string(row).map_err(|e| StoreError::Damaged(format!("dmarc row: {e}")))
}

/// A row of `dmarc_rows` (`row`, `count`).
pub(crate) fn dmarc_count(r: &impl Cols) -> Result<DmarcCount, StoreError> {
    let row: DmarcRow =
        serde_json::from_str(&r.text("row")).map_err(|e| StoreError::Damaged(format!("dmarc_rows.row: {e}")))?;
    Ok(DmarcCount { row, count: r.int("count") as u64 })
}

/// A row of `sent_reports` of `kind`.
pub(crate) fn sent_report(kind: crate::reports::ReportKind, r: &impl Cols) -> SentReport {
    SentReport {
        kind,
        domain: r.text("domain"),
        day: r.text("day"),
        destination: r.text("destination"),
        report_id: r.text("report_id"),
        at: r.int("at"),
        status: r.text("status"),
    }
}

/// The columns of `received_reports` [`received_report`] reads; the whole report only
/// `with_report` (else an empty `report`).
pub(crate) fn received_columns(with_report: bool) -> String {
    let report = if with_report { "report" } else { "'' AS report" };
    format!(
        "kind, organization, report_id, domain, begin_at, end_at, good, bad, failures, {report}, received_at, \
         sender, message_id"
    )
}

/// A row of `received_reports`.
pub(crate) fn received_report(r: &impl Cols) -> Result<ReceivedReport, StoreError> {
    let kind = match r.text("kind").as_str() {
        "tls" => ReceivedKind::Tls,
        "dmarc" => ReceivedKind::Dmarc,
        other => return Err(StoreError::Damaged(format!("received_reports.kind `{other}`"))),
    };
    Ok(ReceivedReport {
        kind,
        organization: r.text("organization"),
        report_id: r.text("report_id"),
        domain: r.text("domain"),
        begin: r.int("begin_at"),
        end: r.int("end_at"),
        good: r.int("good") as u64,
        bad: r.int("bad") as u64,
        failures: parse_list(r, "received_reports", "failures")?,
        report: r.text("report"),
        received_at: r.int("received_at"),
        sender: r.text("sender"),
        message_id: r.text("message_id"),
    })
}

/// A count as stored (an SQL integer is signed).
pub(crate) fn stored_count(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// A row of a file-key listing (`message_id, idx, file_id, key, original`).
pub(crate) fn file_key_row(r: &impl Cols) -> crate::files::FileKeyRow {
    crate::files::FileKeyRow {
        message_id: r.text("message_id"),
        idx: r.int("idx"),
        file_id: r.text("file_id"),
        key: r.text("key"),
        original: r.int("original") != 0,
    }
}

/// The error when a stored file key changed while it was rewrapped.
pub(crate) fn key_changed(c: &crate::files::FileKeyChange) -> StoreError {
    StoreError::Damaged(format!(
        "file key of {} file {}: changed while it was rewrapped; nothing was replaced",
        c.message_id, c.idx
    ))
}
