//! Inbound mail to a `[reports] receive` address: the TLS or DMARC report it carries is read
//! and kept (`sekisho reports`), and the recipient counts as delivered with what was done. A
//! message that is no report is dropped with the reason — never bounced, as reports come from
//! machines and a bounce would go to whoever the envelope names.

use sekisho_store::MessageInfo;

use super::{Inner, now};
use crate::outcome::Verdict;

impl Inner {
    /// Reads the spooled message `info` as a report and keeps it; the recipients' verdict.
    pub(super) async fn keep_report(&self, info: &MessageInfo) -> Verdict {
        let max = self.config.reports.max_report_size.0 as usize;
        let body = match tokio::fs::read(self.queue.body_path(&info.id)).await {
            Ok(b) => b,
            Err(e) => return Verdict::deferred("4.3.0", format!("cannot read the spooled report: {e}")),
        };
        let parsed = tokio::task::spawn_blocking(move || sekisho_auth::received::parse_received(&body, max)).await;
        let mut report = match parsed {
            Ok(Ok(r)) => r,
            Ok(Err(why)) => {
                tracing::warn!(queue_id = %info.id, sender = %info.sender, %why, "mail to a report address is no report; dropped");
                return Verdict::Delivered { reply: format!("dropped: {why}") };
            }
            Err(e) => return Verdict::deferred("4.3.0", format!("reading the report failed: {e}")),
        };
        report.received_at = now();
        report.sender = info.sender.clone();
        report.message_id = info.id.clone();
        match self.queue.stores().reports.keep_received_report(&report).await {
            Ok(new) => {
                let what = if new { "kept" } else { "kept before" };
                tracing::info!(
                    queue_id = %info.id, kind = report.kind.as_str(), organization = %report.organization,
                    domain = %report.domain, good = report.good, bad = report.bad, "report received"
                );
                Verdict::Delivered {
                    reply: format!(
                        "{what}: {} report {} from {} about {}",
                        report.kind.as_str(),
                        report.report_id,
                        report.organization,
                        report.domain
                    ),
                }
            }
            Err(e) => Verdict::deferred("4.3.0", format!("cannot keep the report: {e}")),
        }
    }
}
