//! Inbound mail to a `[reports] receive` address: the TLS or DMARC report it carries is read
//! and kept (`sekisho reports`), and the recipient counts as delivered with what was done. A
//! message that is no report is dropped with the reason — never bounced, as reports come from
//! machines and a bounce would go to whoever the envelope names.

use sekisho_store::MessageInfo;

use super::{Inner, now};
use crate::outcome::Verdict;

static PARSING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Why a report's mail is not trusted (`[reports] require_dkim` and authentication found no
/// verified DKIM signature), if it is not. Pure.
fn unsigned(config: &sekisho_config::Config, info: &MessageInfo) -> Option<&'static str> {
    let auth = info.sender_record.as_ref()?.authentication.as_ref()?;
    (config.reports.require_dkim && !auth.dkim.iter().any(|d| d.result == "pass"))
        .then_some("no DKIM signature of the report's mail verified ([reports] require_dkim, RFC 8460 §3)")
}

impl Inner {
    /// Reads the spooled message `info` (its body at `body`, from `Queue::local_body`) as a
    /// report and keeps it; the recipients' verdict.
    pub(super) async fn keep_report(&self, info: &MessageInfo, body: &std::path::Path) -> Verdict {
        if let Some(why) = unsigned(&self.config, info) {
            tracing::warn!(queue_id = %info.id, sender = %info.sender, %why, "report dropped");
            return Verdict::Delivered { reply: format!("dropped: {why}") };
        }
        let max = self.config.reports.max_report_size.0 as usize;
        // One report read at a time: a flood of large reports cannot take the memory.
        let _one = PARSING.acquire().await.expect("semaphore open");
        let body = match tokio::fs::read(body).await {
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

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::{AuthenticationRecord, MethodResult, SenderRecord};

    use super::*;

    #[test]
    fn a_report_is_kept_only_when_a_dkim_signature_verified_or_nothing_was_checked() {
        let config = sekisho_config::Config::embedded();
        let mut info = crate::outcome::tests::info("reports@sender.example", sekisho_store::Origin::Mx);
        assert_eq!(unsigned(&config, &info), None, "authentication did not run");
        let dkim = |result: &str| MethodResult { result: result.into(), ..Default::default() };
        let record = |results: Vec<MethodResult>| SenderRecord {
            authentication: Some(AuthenticationRecord { dkim: results, ..Default::default() }),
            findings: vec![],
            reputation: None,
        };
        info.sender_record = Some(record(vec![]));
        assert!(unsigned(&config, &info).is_some(), "no signature");
        info.sender_record = Some(record(vec![dkim("fail"), dkim("neutral")]));
        assert!(unsigned(&config, &info).is_some(), "no signature verified");
        info.sender_record = Some(record(vec![dkim("fail"), dkim("pass")]));
        assert_eq!(unsigned(&config, &info), None);
        let mut lax = config.clone();
        lax.reports.require_dkim = false;
        info.sender_record = Some(record(vec![]));
        assert_eq!(unsigned(&lax, &info), None);
    }
}
