//! Stored rows to model values, written once for both backends: each backend's row type reads
//! its columns through [`Cols`], and everything above that (keywords, stored JSON, what a
//! damaged row reads as) is here.

use crate::approval::{Approval, Decided};
use crate::error::StoreError;
use crate::model::{
    Attempt, AttemptOutcome, MessageInfo, MessageSummary, Notice, NoticeKind, Origin, ProbeRecord, RecipientRecord,
    RecipientState, StsPolicyRecord, TlsMemory, Variant,
};

/// The columns of one row, by name, as the model needs them (integers as i64, flags as bool).
pub(crate) trait Cols {
    fn text(&self, c: &str) -> String;
    fn opt_text(&self, c: &str) -> Option<String>;
    fn int(&self, c: &str) -> i64;
    fn opt_int(&self, c: &str) -> Option<i64>;
    fn flag(&self, c: &str) -> bool;
    fn opt_flag(&self, c: &str) -> Option<bool>;
}

macro_rules! cols {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, c: &str) -> String {
                sqlx::Row::get(self, c)
            }
            fn opt_text(&self, c: &str) -> Option<String> {
                sqlx::Row::get(self, c)
            }
            fn int(&self, c: &str) -> i64 {
                sqlx::Row::get(self, c)
            }
            fn opt_int(&self, c: &str) -> Option<i64> {
                sqlx::Row::get(self, c)
            }
            fn flag(&self, c: &str) -> bool {
                sqlx::Row::get(self, c)
            }
            fn opt_flag(&self, c: &str) -> Option<bool> {
                sqlx::Row::get(self, c)
            }
        }
    };
}

cols!(sqlx::sqlite::SqliteRow);
cols!(sqlx::postgres::PgRow);

// The portal's rows live beside these; one path for both.
pub(crate) use crate::rows_portal::*;

/// Stored JSON; unreadable JSON (a row damaged on disk) reads as absent.
fn json<T: serde::de::DeserializeOwned>(r: &impl Cols, c: &str) -> Option<T> {
    r.opt_text(c).and_then(|j| serde_json::from_str(&j).ok())
}

/// A row of the messages table.
pub(crate) fn message_info(m: &impl Cols) -> Result<MessageInfo, StoreError> {
    let id = m.text("id");
    let origin = m.text("origin");
    Ok(MessageInfo {
        received_at: m.int("received_at"),
        sender: m.text("sender"),
        size: m.int("size") as u64,
        ret: m.opt_text("ret"),
        envid: m.opt_text("envid"),
        smtputf8: m.flag("smtputf8"),
        body_8bit: m.flag("body_8bit"),
        client_ip: m.text("client_ip"),
        helo: m.text("helo"),
        listener: m.text("listener"),
        auth_user: m.opt_text("auth_user"),
        tls: m.opt_text("tls"),
        origin: Origin::parse(&origin).ok_or_else(|| StoreError::Damaged(format!("{id}: origin")))?,
        findings: json(m, "findings"),
        required_tls: match m.opt_text("required_tls") {
            Some(level) => Some(
                sekisho_policy::Assurance::parse(&level)
                    .ok_or_else(|| StoreError::Damaged(format!("{id}: required_tls `{level}`")))?,
            ),
            None => None,
        },
        sender_tls: match m.opt_text("sender_tls") {
            Some(kw) => Some(
                sekisho_policy::SenderTls::parse(&kw)
                    .ok_or_else(|| StoreError::Damaged(format!("{id}: sender_tls `{kw}`")))?,
            ),
            None => None,
        },
        inspection: json(m, "inspection"),
        rules: json(m, "rules"),
        sender_record: json(m, "sender_record"),
        id,
    })
}

/// A row of the recipients table (of message `id`, for the error).
pub(crate) fn recipient(r: &impl Cols, id: &str) -> Result<RecipientRecord, StoreError> {
    let state = r.text("state");
    Ok(RecipientRecord {
        idx: r.int("idx"),
        address: r.text("address"),
        orcpt: r.opt_text("orcpt"),
        notify: r.opt_text("notify"),
        state: RecipientState::parse(&state)
            .ok_or_else(|| StoreError::Damaged(format!("{id}: recipient state `{state}`")))?,
        attempts: r.int("attempts") as u32,
        next_attempt_at: r.int("next_attempt_at"),
        last_reply: r.opt_text("last_reply"),
        delay_warned: r.flag("delay_warned"),
        notice: match (r.opt_text("notice"), r.opt_text("notice_status")) {
            (Some(kind), Some(status)) => NoticeKind::parse(&kind).map(|kind| Notice { kind, status }),
            _ => None,
        },
    })
}

/// A row of the attempts table.
pub(crate) fn attempt(r: &impl Cols) -> Attempt {
    Attempt {
        at: r.int("at"),
        host: r.text("host"),
        ip: r.text("ip"),
        port: r.int("port") as u16,
        reply: r.text("reply"),
        tls: r.opt_text("tls"),
        outcome: match r.text("outcome").as_str() {
            "delivered" => AttemptOutcome::Delivered,
            "bounced" => AttemptOutcome::Bounced,
            _ => AttemptOutcome::Deferred,
        },
        evidence: json(r, "evidence"),
        variant: match (r.opt_text("variant"), r.opt_text("variant_reason")) {
            (Some(kind), Some(reason)) => Variant::parse(&kind, reason),
            _ => None,
        },
        dkim: r.opt_text("dkim"),
        smime: r.opt_text("smime"),
    }
}

/// A row of a summary query (`id, received_at, sender, size, n, pending`).
pub(crate) fn summary(r: &impl Cols) -> MessageSummary {
    MessageSummary {
        id: r.text("id"),
        received_at: r.int("received_at"),
        sender: r.text("sender"),
        size: r.int("size") as u64,
        recipients: r.int("n") as u64,
        pending: r.opt_int("pending").unwrap_or(0) as u64,
    }
}

/// Recipients listed in one column, separated by spaces.
pub(crate) fn addresses(list: Option<String>) -> Vec<String> {
    list.map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default()
}

/// A row of the approvals table with its message's `sender`, `received_at` and `rcpts`.
pub(crate) fn approval(r: &impl Cols) -> Approval {
    Approval {
        message_id: r.text("message_id"),
        sender: r.text("sender"),
        received_at: r.int("received_at"),
        recipients: addresses(r.opt_text("rcpts")),
        rule: r.text("rule"),
        approvers: serde_json::from_str(&r.text("approvers")).unwrap_or_default(),
        deadline: r.int("deadline"),
        release_on_timeout: r.flag("release_on_timeout"),
        decision: r.opt_flag("approved").map(|approved| Decided {
            approved,
            by: r.opt_text("by").unwrap_or_default(),
            at: r.opt_int("at").unwrap_or_default(),
            comment: r.opt_text("comment").unwrap_or_default(),
        }),
    }
}

/// A row of the held list (`id, sender, received_at, rules, due, rcpts`).
pub(crate) fn held(r: &impl Cols) -> crate::model::HeldMessage {
    let rules: Option<crate::RulesRecord> = json(r, "rules");
    crate::model::HeldMessage {
        id: r.text("id"),
        sender: r.text("sender"),
        received_at: r.int("received_at"),
        due_at: r.int("due"),
        recipients: addresses(r.opt_text("rcpts")),
        rules: rules.map(|x| x.fired.into_iter().map(|f| f.rule).collect()).unwrap_or_default(),
    }
}

/// A row of the tls_memory table.
pub(crate) fn tls_memory(r: &impl Cols) -> TlsMemory {
    TlsMemory {
        domain: r.text("domain"),
        host: r.text("host"),
        secure_sessions: r.int("secure_sessions") as u32,
        last_secure_at: r.int("last_secure_at"),
        authenticated_sessions: r.int("authenticated_sessions") as u32,
        last_authenticated_at: r.int("last_authenticated_at"),
    }
}

/// A row of the sts_policies table.
pub(crate) fn sts_policy(r: &impl Cols) -> StsPolicyRecord {
    StsPolicyRecord {
        domain: r.text("domain"),
        policy_id: r.text("policy_id"),
        policy: r.text("policy"),
        fetched_at: r.int("fetched_at"),
        expires_at: r.int("expires_at"),
    }
}

/// A row of the tls_probes table.
pub(crate) fn probe(r: &impl Cols) -> ProbeRecord {
    ProbeRecord {
        host: r.text("host"),
        ip: r.text("ip"),
        port: r.int("port") as u16,
        at: r.int("at"),
        evidence: r.text("evidence"),
    }
}

/// A row of the partner evidence query.
pub(crate) fn partner_evidence(r: &impl Cols) -> crate::model::PartnerEvidence {
    crate::model::PartnerEvidence {
        domain: r.text("domain"),
        outcome: r.text("outcome"),
        variant: r.opt_text("variant").and_then(|v| sekisho_policy::Carriage::parse(&v)),
        assurance: r.opt_text("assurance"),
        failure: r.opt_text("failure"),
        downgrade: r.opt_flag("downgrade").unwrap_or(false),
        below_policy: r.opt_flag("below_policy").unwrap_or(false),
        late: r.flag("late"),
        attempts: r.int("n") as u64,
        first_at: r.int("first_at"),
        last_at: r.int("last_at"),
    }
}
