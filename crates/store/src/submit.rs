//! The seam between a surface that writes a message itself (the portal's send page) and the
//! receive stage: the message is handed over as if it had arrived on a submission listener
//! after DATA, so the same checks (sender binding, attachments, quotas, rules, hold and
//! approval) and the same commit apply. The receive stage implements [`Submitter`]; `serve`
//! hands it to the portal.

use std::net::IpAddr;

use async_trait::async_trait;

use crate::spool::FinishedBody;

/// A message written into the spool's temporary file, waiting for the submission checks.
#[derive(Debug)]
pub struct Submitted {
    /// The body, fsynced: the header block (trace fields first) and the content.
    pub body: FinishedBody,
    /// The envelope sender (the account's own address, from [`Submitter::sender_of`]).
    pub sender: String,
    /// The envelope recipients, in order, without duplicates.
    pub recipients: Vec<String>,
    /// The signed-in person, as an authenticated SMTP client would be.
    pub user: String,
    /// The addresses of the header From.
    pub header_from: Vec<String>,
    /// Where the person's browser connected from.
    pub client_ip: IpAddr,
    /// "portal", recorded as the message's listener.
    pub listener: String,
}

/// The answer an SMTP client would have received after the final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitReply {
    /// The reply code (250, 451, 550, ...).
    pub code: u16,
    /// The enhanced status code ("2.0.0", "5.7.1", ...).
    pub status: String,
    /// The sentence, without code and status.
    pub text: String,
    /// The queue ID, when the message was queued.
    pub queued: Option<String>,
}

impl SubmitReply {
    /// The reply as an SMTP client reads it: "550 5.7.1 text".
    pub fn line(&self) -> String {
        format!("{} {} {}", self.code, self.status, self.text)
    }
}

/// Takes a message a person wrote outside SMTP through the submission path.
#[async_trait]
pub trait Submitter: Send + Sync {
    /// The envelope sender a signed-in `user` sends as: the name when it is an address, else
    /// the first address bound to the account, else the first `[senders] patterns` address.
    /// `Err`: the reply that refuses (no address, the store not readable).
    async fn sender_of(&self, user: &str) -> Result<String, SubmitReply>;

    /// Runs the submission checks on `message` and queues it, or refuses it (its body removed).
    async fn submit(&self, message: Submitted) -> SubmitReply;
}
