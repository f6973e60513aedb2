//! Messages the portal's send page wrote (`sekisho_store::Submitter`): they take the path a
//! message from the submission listener takes after DATA (`accept.rs`), with the signed-in
//! person as the authenticated user, under the configuration of the moment.

use std::sync::Arc;

use async_trait::async_trait;
use sekisho_smtp::command::{MailParams, RcptParams};
use sekisho_smtp::{Reply, Transaction};
use sekisho_store::{QueueId, SubmitReply, Submitted, Submitter};
use tokio::sync::watch;

use crate::message::Arrival;
use crate::server::Ctx;

/// The receive stage's side of the send page.
pub(crate) struct PortalSubmitter {
    pub(crate) current: Arc<watch::Sender<Arc<Ctx>>>,
}

/// A reply as the portal shows it.
fn answer(reply: &Reply, queued: Option<&QueueId>) -> SubmitReply {
    SubmitReply {
        code: reply.code,
        status: reply.status.unwrap_or("").to_string(),
        text: reply.lines.join(" "),
        queued: queued.filter(|_| reply.code == 250).map(|id| id.as_str().to_string()),
    }
}

/// The address `user` sends as, from the name, the account's bound addresses and the
/// `[senders] patterns`. Pure.
pub(crate) fn own_address(user: &str, bound: &[String], patterns: &[String]) -> Option<String> {
    if user.contains('@') {
        return Some(user.to_string());
    }
    bound.first().cloned().or_else(|| patterns.iter().map(|p| p.replace("{user}", user)).find(|a| a.contains('@')))
}

#[async_trait]
impl Submitter for PortalSubmitter {
    async fn sender_of(&self, user: &str) -> Result<String, SubmitReply> {
        let ctx = self.current.borrow().clone();
        let bound = if user.contains('@') {
            Vec::new()
        } else {
            match crate::senders::bound_addresses(&ctx, user).await {
                Some(bound) => bound,
                None => {
                    let reply = Reply::new(451, "4.3.0", "Sender addresses cannot be checked now; try again later");
                    return Err(answer(&reply, None));
                }
            }
        };
        own_address(user, &bound, &ctx.config.senders.patterns).ok_or_else(|| {
            let text = format!("Account {user} has no address to send as; ask the administrator to bind one");
            answer(&Reply::new(550, "5.7.1", text), None)
        })
    }

    async fn submit(&self, message: Submitted) -> SubmitReply {
        let ctx = self.current.borrow().clone();
        let Submitted { body, sender, recipients, user, header_from, client_ip, listener } = message;
        // MAIL FROM: the envelope sender as the session checks it.
        let verdict = crate::senders::check(&ctx, Some(&user), &sender).await;
        if let Some(reply) = verdict.refusal(&sender) {
            body.discard();
            tracing::info!(from = %sender, user = %user, reply = %reply.lines[0], "message from the portal refused");
            return answer(&reply, None);
        }
        let id = body.id().clone();
        let smtputf8 = !sender.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        let tx = Transaction {
            mail: MailParams { address: sender, smtputf8, ..Default::default() },
            recipients: recipients.into_iter().map(|address| RcptParams { address, ..Default::default() }).collect(),
        };
        let arrival = Arrival {
            helo: "portal",
            esmtp: true,
            client_ip,
            listener: &listener,
            submission: true,
            max_message_size: body.size(),
            tls: None,
            user: Some(&user),
            reputation: None,
        };
        let seen = crate::accept::Seen {
            header_from,
            header: Vec::new(),
            tls_required_no: false,
            body_8bit: false,
            data_end: std::time::Instant::now(),
        };
        let reply = crate::accept::accept(&ctx, &id, body, &tx, &arrival, seen).await;
        if reply.code == 250 {
            ctx.queue.wake();
        }
        answer(&reply, Some(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_sends_as_its_name_its_bound_address_or_its_pattern() {
        let patterns = vec!["{user}@corp.test".to_string()];
        assert_eq!(own_address("bob@corp.test", &[], &patterns).as_deref(), Some("bob@corp.test"));
        assert_eq!(own_address("alice", &["sales@corp.test".into()], &patterns).as_deref(), Some("sales@corp.test"));
        assert_eq!(own_address("alice", &[], &patterns).as_deref(), Some("alice@corp.test"));
        assert_eq!(own_address("alice", &[], &[]), None);
    }
}
