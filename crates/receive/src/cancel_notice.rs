//! `[outbound] hold_cancel_mail`: the mail to the sender of a held message with a single-use
//! link that cancels it, working until the message leaves its hold. The link's token is
//! random (only its hash is stored); the portal's `/sent/cancel/{token}` shows a button, and
//! only its form cancels. The text is made by a pure function.

use sekisho_config::Config;
use sekisho_store::links::random_token;
use sekisho_store::{Queue, QueueId};

/// The subject and text of the mail about message `id` to `recipients`, held until `due`,
/// whose cancel link is `url`: pure.
pub fn cancel_mail(config: &Config, id: &str, recipients: &[String], due: i64, url: &str) -> (String, String) {
    let due = config.time_zone.format(due, "%Y-%m-%d %H:%M");
    let subject = "sekisho: your message is held before sending".to_string();
    let text = format!(
        "Your message is held before it is sent.\n\nTo: {to}\nQueue ID: {id}\nLeaves at: {due}\n\n\
         To cancel it, open this link before then (it works once):\n{url}\n\n\
         If the message is right, do nothing: it leaves at {due}.\n",
        to = recipients.join(", "),
    );
    (subject, text)
}

/// Stores a cancel link for message `id` (held until `due`) and mails it to `sender`; a
/// failure is logged, the message stays held.
pub(crate) async fn send(queue: &Queue, config: &Config, id: &str, sender: &str, recipients: &[String], due: i64) {
    let token = random_token(32);
    if let Err(e) = queue.control().put_cancel_link(&token, id, due).await {
        tracing::error!(queue_id = %id, error = %e, "cannot store the cancel link");
        return;
    }
    let url = format!("{}/sent/cancel/{token}", config.portal.url.trim_end_matches('/'));
    let (subject, text) = cancel_mail(config, id, recipients, due, &url);
    let mail_id = QueueId::generate();
    let date = chrono::Local::now().to_rfc2822();
    let mail =
        sekisho_rewrite::own_mail::plain_mail(&config.hostname, sender, &subject, &text, &date, mail_id.as_str());
    match queue.inject(&mail_id, &config.hostname, sender, &mail).await {
        Ok(()) => queue.wake(),
        Err(e) => tracing::error!(queue_id = %mail_id, to = %sender, error = %e, "cannot queue the cancel-link mail"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sender_is_told_when_the_message_leaves_and_how_to_cancel_it() {
        let config =
            sekisho_config::Config::parse("time_zone = \"Asia/Tokyo\"\n", std::path::Path::new("t.toml")).unwrap();
        let (subject, text) = super::cancel_mail(
            &config,
            "MID1",
            &["bob@customer.example".into()],
            300,
            "https://p.example/sent/cancel/T",
        );
        assert_eq!(subject, "sekisho: your message is held before sending");
        assert!(text.contains("To: bob@customer.example\nQueue ID: MID1\nLeaves at: 1970-01-01 09:05\n"), "{text}");
        assert!(text.contains("(it works once):\nhttps://p.example/sent/cancel/T\n"), "{text}");
    }
}
