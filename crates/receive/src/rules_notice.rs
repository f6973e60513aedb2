//! The rules' `notify` action: a copy of the decision, mailed by sekisho to the sender or to
//! the addresses a rule names. The text is made by a pure function; the mails are queued with
//! `Queue::inject` like sekisho's other own mail.

use sekisho_config::RuleDecision;
use sekisho_store::{Queue, QueueId};

/// Who a notice goes to: "sender" is the envelope sender (none for the null sender).
pub fn notice_recipients(d: &RuleDecision, sender: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in &d.notify {
        let to = if n == "sender" { sender } else { n.as_str() };
        if !to.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(to)) {
            out.push(to.to_string());
        }
    }
    out
}

/// The notice's subject and text for a message from `sender` to `recipients`, queued as
/// `queued` (None: refused): pure.
pub fn notice(d: &RuleDecision, sender: &str, recipients: &[String], queued: Option<&str>) -> (String, String) {
    let outcome = match (&d.reject, d.hold_minutes, &d.approval) {
        (Some(r), _, _) => format!("refused at submission (550 5.7.1 {})", r.sentence),
        (None, _, Some(a)) => format!(
            "awaiting approval by {} (rule {}; {} after {} minute(s) without a decision)",
            a.approvers.join(", "),
            a.rule,
            if a.on_timeout == sekisho_config::OnTimeout::Release { "released" } else { "rejected" },
            a.timeout_minutes
        ),
        (None, Some(m), None) => format!("held {m} minute(s) before its first delivery attempt"),
        (None, None, None) => "sent as usual".to_string(),
    };
    let mut text = format!(
        "A mis-send rule applied to a message.\n\nFrom: <{sender}>\nTo: {}\n{}\n\nWhat happens: {outcome}\n",
        recipients.join(", "),
        match queued {
            Some(id) => format!("Queue ID: {id}"),
            None => "It was not queued.".to_string(),
        },
    );
    if let Some(rule) = &d.force_link {
        text.push_str(&format!("Attachments travel as download links whatever the TLS (rule {rule}).\n"));
    }
    if let Some(rule) = &d.bcc_external {
        text.push_str(&format!("Each external recipient gets a copy naming only them (rule {rule}).\n"));
    }
    text.push_str("\nRules that matched:\n");
    for c in d.checked.iter().filter(|c| c.matched) {
        text.push_str(&format!("- {}: {}\n", c.rule, c.reasons.join("; ")));
    }
    if d.default_applied {
        text.push_str("- none: the default applied\n");
    }
    let first = d.checked.iter().find(|c| c.matched).map_or("default", |c| c.rule.as_str());
    (format!("sekisho rule {first}: {outcome}"), text)
}

/// Queues the notices the decision asks for; a failure is logged, never refuses the message.
pub(crate) async fn send(
    queue: &Queue,
    hostname: &str,
    d: &RuleDecision,
    sender: &str,
    recipients: &[String],
    queued: Option<&str>,
) {
    let to = notice_recipients(d, sender);
    if to.is_empty() {
        return;
    }
    let (subject, text) = notice(d, sender, recipients, queued);
    let date = chrono::Local::now().to_rfc2822();
    for addr in to {
        let id = QueueId::generate();
        let mail = sekisho_rewrite::own_mail::plain_mail(hostname, &addr, &subject, &text, &date, id.as_str());
        if let Err(e) = queue.inject(&id, hostname, &addr, &mail).await {
            tracing::error!(queue_id = %id, to = %addr, error = %e, "cannot queue the rules' notice");
        }
    }
}

#[cfg(test)]
mod tests {
    use sekisho_config::{ApprovalNeeded, OnTimeout, RuleDecision};

    #[test]
    fn the_notice_of_a_message_awaiting_approval_names_the_approvers_and_what_the_timeout_does() {
        let d = RuleDecision {
            approval: Some(ApprovalNeeded {
                rule: "contract-approval".into(),
                approvers: vec!["boss@example.jp".into(), "deputy@example.jp".into()],
                timeout_minutes: 120,
                on_timeout: OnTimeout::Reject,
            }),
            hold_minutes: Some(5),
            ..Default::default()
        };
        let (subject, text) = super::notice(&d, "alice@example.jp", &["bob@customer.example".into()], Some("MID"));
        let outcome = "awaiting approval by boss@example.jp, deputy@example.jp \
                       (rule contract-approval; rejected after 120 minute(s) without a decision)";
        assert_eq!(subject, format!("sekisho rule default: {outcome}"));
        assert!(text.contains(&format!("What happens: {outcome}\n")), "{text}");
        let record = crate::rules::record(&d, 1000);
        let a = record.approval.unwrap();
        assert_eq!((a.deadline, a.release_on_timeout), (1000 + 120 * 60, false));
    }
}
