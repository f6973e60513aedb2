//! Values stored in and read from the queue.

use serde::Serialize;

/// A recipient as accepted by the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// Forward path as received.
    pub address: String,
    /// DSN ORCPT.
    pub orcpt: Option<String>,
    /// DSN NOTIFY keywords.
    pub notify: Option<String>,
}

/// A message's envelope and how it arrived: what the queue records once per message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    pub id: String,
    /// Unix seconds.
    pub received_at: i64,
    /// Reverse path; empty for the null sender.
    pub sender: String,
    /// Bytes of the spooled body.
    pub size: u64,
    /// DSN RET.
    pub ret: Option<String>,
    /// DSN ENVID.
    pub envid: Option<String>,
    pub smtputf8: bool,
    /// BODY=8BITMIME was declared or 8-bit content was seen.
    pub body_8bit: bool,
    pub client_ip: String,
    pub helo: String,
    /// Listener address and role, e.g. "127.0.0.1:2525 submission".
    pub listener: String,
    pub auth_user: Option<String>,
    /// TLS protocol and cipher of the receiving session.
    pub tls: Option<String>,
}

/// A message to enter the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub info: MessageInfo,
    pub recipients: Vec<NewRecipient>,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Waiting for its next attempt.
    Queued,
    /// Claimed by a delivery worker.
    Active,
    /// Delivered.
    Delivered,
    /// Failed permanently; bounced.
    Bounced,
    /// Held by an administrator.
    Held,
}

impl RecipientState {
    /// The stored keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Queued => "queued",
            RecipientState::Active => "active",
            RecipientState::Delivered => "delivered",
            RecipientState::Bounced => "bounced",
            RecipientState::Held => "held",
        }
    }

    /// Reads a stored keyword.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => RecipientState::Queued,
            "active" => RecipientState::Active,
            "delivered" => RecipientState::Delivered,
            "bounced" => RecipientState::Bounced,
            "held" => RecipientState::Held,
            _ => return None,
        })
    }
}

/// One line of `sekisho queue list`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    pub id: String,
    pub received_at: i64,
    pub sender: String,
    pub size: u64,
    pub recipients: u64,
    /// Recipients not yet delivered or bounced.
    pub pending: u64,
}

/// One recipient of `sekisho queue show`.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientRecord {
    pub address: String,
    pub orcpt: Option<String>,
    pub notify: Option<String>,
    pub state: RecipientState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_reply: Option<String>,
}

/// `sekisho queue show ID`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub info: MessageInfo,
    pub recipients: Vec<RecipientRecord>,
}

/// A submission account.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub name: String,
    pub created_at: i64,
}

/// A message with `recipients` recipients, for tests.
#[cfg(test)]
pub(crate) fn sample_message(id: &crate::QueueId, size: u64, recipients: usize) -> NewMessage {
    NewMessage {
        info: MessageInfo {
            id: id.to_string(),
            received_at: 1000,
            sender: "a@example.com".into(),
            size,
            ret: Some("HDRS".into()),
            envid: Some("env".into()),
            smtputf8: false,
            body_8bit: false,
            client_ip: "127.0.0.1".into(),
            helo: "client".into(),
            listener: "127.0.0.1:2525 submission".into(),
            auth_user: None,
            tls: None,
        },
        recipients: (0..recipients)
            .map(|i| NewRecipient { address: format!("r{i}@example.jp"), orcpt: None, notify: Some("FAILURE".into()) })
            .collect(),
    }
}
