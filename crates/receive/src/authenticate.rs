//! Who really sent an MX message: SPF, DKIM, ARC and DMARC (`sekisho_auth`) on the fsynced
//! body before the 250, beside the inbound inspection. The DMARC result is acted on here:
//! `reject` is a 550 5.7.1 now, `quarantine` commits every recipient `held`. The results and
//! the findings go into the message's `SenderRecord`; the Authentication-Results field is added
//! at delivery (`sekisho_deliver`'s inbound path). A message whose From domain asks for DMARC
//! aggregate reports is counted in its report's row (`crate::dmarc_rows`), refused or not; one
//! that fails DMARC where the record asks for failure reports is considered for one
//! (`crate::failure_reports`), and what became of it is kept in its trace.

use std::path::Path;

use sekisho_auth::policy::{self, DmarcAction, Local};
use sekisho_auth::{Arrival as AuthArrival, aggregate, results};
use sekisho_policy::sender::SenderRecord;
use sekisho_smtp::{Reply, Transaction};

use crate::message::Arrival;
use crate::server::Ctx;

/// What authentication decided for one message.
pub(crate) struct Authenticated {
    /// The 550 when the domain's `p=reject` is enforced.
    pub refusal: Option<Reply>,
    /// Kept with the message: the results and the findings.
    pub record: SenderRecord,
    /// DMARC asks for the quarantine.
    pub quarantine: bool,
}

/// Runs the checks on the spooled message at `path` when `[authentication] enabled`; `None`
/// when they do not run.
pub(crate) async fn check(
    ctx: &Ctx,
    path: &Path,
    tx: &Transaction,
    arrival: &Arrival<'_>,
    queue_id: &str,
) -> Result<Option<Authenticated>, std::io::Error> {
    let Some(verifier) = &ctx.verifier else { return Ok(None) };
    let settings = &ctx.config.authentication;
    let raw = tokio::fs::read(path).await?;
    let checked = AuthArrival {
        raw: &raw,
        client_ip: arrival.client_ip,
        helo: arrival.helo,
        mail_from: &tx.mail.address,
        hostname: &ctx.config.hostname,
        authserv_id: settings.authserv_id(&ctx.config.hostname),
    };
    let verified = verifier.verify(&checked, settings.time_budget.0).await;
    let local = Local {
        mode: settings.dmarc_policy,
        trusted_forwarder: settings.trusted_forwarder(arrival.client_ip, arrival.helo),
        trusted_sealers: &settings.trusted_arc_sealers,
        roll: policy::pct_roll(&message_id(&raw)),
    };
    let (action, why) = policy::decide_why(&verified.dmarc, &local);
    let message = aggregate::Message {
        at: ctx.queue.now(),
        client_ip: arrival.client_ip,
        mail_from: &tx.mail.address,
        helo: arrival.helo,
    };
    if let Some(row) = aggregate::row(&verified, &action, why, &message) {
        ctx.dmarc_rows.add(row);
    }
    let mut auth = verified.record;
    if let (true, Some(failure)) = (verified.dmarc.failed, &verified.failure) {
        let domain = verified.dmarc.domain.trim_end_matches('.').to_ascii_lowercase();
        let failed = crate::failure_reports::Failed {
            queue_id,
            domain: &domain,
            failure,
            action: &action,
            raw: &raw,
            results_field: &auth.results_field,
            client_ip: arrival.client_ip,
            mail_from: &tx.mail.address,
            rcpt_to: tx.recipients.iter().map(|r| r.address.as_str()).collect(),
            at: message.at,
        };
        let outcome = ctx.failure_reports.consider(&ctx.config, &failed);
        tracing::info!(%queue_id, %domain, %outcome, "DMARC failure report");
        auth.dmarc_failure_report = outcome;
    }
    let findings = results::findings(auth.spf.as_ref(), &auth.dkim, auth.dmarc.as_ref(), arrival.client_ip);
    let (refusal, quarantine) = match &action {
        DmarcAction::Deliver { note: None } => (None, false),
        DmarcAction::Deliver { note: Some(note) } => {
            auth.dmarc_action = format!("deliver: {note}");
            (None, false)
        }
        DmarcAction::Quarantine { reason } => {
            auth.dmarc_action = format!("quarantine: {reason}");
            (None, true)
        }
        DmarcAction::Reject { reason } => (Some(refusal(reason)), false),
    };
    Ok(Some(Authenticated {
        refusal,
        record: SenderRecord { authentication: Some(auth), findings, reputation: None },
        quarantine,
    }))
}

/// The 550 for a DMARC `p=reject` enforced (RFC 7489 §10.3).
fn refusal(reason: &str) -> Reply {
    Reply::new(550, "5.7.1", format!("Message refused: {reason}"))
}

/// The header's Message-ID (empty when there is none), read from the header block only.
fn message_id(raw: &[u8]) -> String {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..end]);
    let mut lines = header.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("message-id")
        {
            let mut value = value.to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next);
                lines.next();
            }
            return value.trim().to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::{message_id, refusal};

    #[test]
    fn the_message_id_is_read_from_the_header_only() {
        let raw = b"Received: x\r\nMessage-ID:\r\n <a@b.example>\r\nSubject: s\r\n\r\nMessage-ID: <body@x>\r\n";
        assert_eq!(message_id(raw), "<a@b.example>");
        assert_eq!(message_id(b"Subject: s\r\n\r\nMessage-ID: <body@x>\r\n"), "");
    }

    #[test]
    fn an_enforced_reject_is_a_550_with_the_reason() {
        let r = refusal("the sender's domain example.com publishes DMARC p=reject and this message fails it");
        assert_eq!((r.code, r.status), (550, Some("5.7.1")));
        assert!(r.lines[0].contains("example.com"), "{:?}", r.lines);
    }
}
