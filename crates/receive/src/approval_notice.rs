//! The mail to each approver of a message a `require_approval` rule holds: who sent it to
//! whom, the rule, the deadline and what happens then, and the link to the console's approval
//! page. The text is made by a pure function; the mails are queued with `Queue::inject` like
//! sekisho's other own mail, once the message itself is committed.

use sekisho_config::{Config, OnTimeout, RuleDecision};
use sekisho_store::{Queue, QueueId};

/// The subject and text of the mail to `approver` about message `id` from `sender` to
/// `recipients`, received at `received_at`: pure.
pub fn approval_mail(
    config: &Config,
    d: &RuleDecision,
    approver: &str,
    (id, sender, recipients, received_at): (&str, &str, &[String], i64),
) -> Option<(String, String)> {
    let a = d.approval.as_ref()?;
    let deadline = config.time_zone.format(received_at + i64::from(a.timeout_minutes) * 60, "%Y-%m-%d %H:%M");
    let then = match a.on_timeout {
        OnTimeout::Reject => "it is rejected and never delivered",
        OnTimeout::Release => "it is sent as if approved",
    };
    let url = format!("{}/sent/approvals/{id}", config.portal.url.trim_end_matches('/'));
    let subject = format!("sekisho: a message from <{sender}> awaits your approval");
    let text = format!(
        "A message awaits your approval (rule {rule}).\n\n\
         From: <{sender}>\nTo: {to}\nQueue ID: {id}\n\n\
         See it and approve or reject it (with a comment) at:\n{url}\n\n\
         Sign in as to the sekisho console: with your account's password, or with a sign-in \
         link mailed to {approver}.\n\n\
         Without a decision by {deadline}, {then}.\n",
        rule = a.rule,
        to = recipients.join(", "),
    );
    Some((subject, text))
}

/// Queues the mail to each approver; a failure is logged, the message stays held.
pub(crate) async fn send(queue: &Queue, config: &Config, d: &RuleDecision, message: (&str, &str, &[String], i64)) {
    let Some(a) = &d.approval else { return };
    let date = chrono::Local::now().to_rfc2822();
    for approver in &a.approvers {
        let Some((subject, text)) = approval_mail(config, d, approver, message) else { return };
        let id = QueueId::generate();
        let mail =
            sekisho_rewrite::own_mail::plain_mail(&config.hostname, approver, &subject, &text, &date, id.as_str());
        match queue.inject(&id, &config.hostname, approver, &mail).await {
            Ok(()) => queue.wake(),
            Err(e) => tracing::error!(queue_id = %id, to = %approver, error = %e, "cannot queue the approval mail"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_approver_is_told_what_awaits_them_where_to_decide_and_until_when() {
        let config = Config::parse(
            "hostname = \"mx.example.jp\"\ntime_zone = \"Asia/Tokyo\"\n[portal]\nurl = \"https://mail.example.jp/\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let d = RuleDecision {
            approval: Some(sekisho_config::ApprovalNeeded {
                rule: "contract".into(),
                approvers: vec!["boss@example.jp".into()],
                timeout_minutes: 60,
                on_timeout: OnTimeout::Reject,
            }),
            ..Default::default()
        };
        let rcpts = ["bob@customer.example".to_string()];
        let (subject, text) =
            approval_mail(&config, &d, "boss@example.jp", ("MID1", "alice@example.jp", &rcpts, 0)).unwrap();
        assert_eq!(subject, "sekisho: a message from <alice@example.jp> awaits your approval");
        assert!(text.contains("From: <alice@example.jp>\nTo: bob@customer.example\nQueue ID: MID1\n"), "{text}");
        assert!(text.contains("\nhttps://mail.example.jp/sent/approvals/MID1\n"), "{text}");
        assert!(text.contains("Without a decision by 1970-01-01 10:00, it is rejected and never delivered."), "{text}");
        assert_eq!(approval_mail(&config, &RuleDecision::default(), "boss@example.jp", ("M", "a", &rcpts, 0)), None);
    }
}
