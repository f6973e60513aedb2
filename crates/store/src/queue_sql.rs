//! The queue's SQL that both backends run as it is: generated from the state table
//! ([`crate::state`]) or written in the SQL both SQLite and PostgreSQL speak.

use crate::model::AttemptOutcome;
use crate::state::{self, Move};

/// A message is finished when it is not yet marked done, has recipients, every recipient is
/// delivered, bounced or cancelled, and no notification about it waits to be sent.
pub(crate) const FINISHED: &str = "done_at IS NULL \
     AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id) \
     AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id \
         AND (r.state NOT IN ('delivered','bounced','cancelled') OR r.notice IS NOT NULL))";

/// The final states, as an SQL list.
pub(crate) const FINAL: &str = "'delivered','bounced','cancelled'";

/// `(SET expression, WHERE list)` of move `m` on the column `column`, generated from
/// [`state::next`]: `CASE column WHEN 'from' THEN 'to' ... END` and `'from', ...`.
pub(crate) fn move_sql(column: &str, m: Move) -> (String, String) {
    let pairs = state::moves(m);
    let when: String = pairs.iter().map(|(f, t)| format!(" WHEN '{}' THEN '{}'", f.as_str(), t.as_str())).collect();
    let from: Vec<String> = pairs.iter().map(|(f, _)| format!("'{}'", f.as_str())).collect();
    (format!("CASE {column}{when} ELSE {column} END"), from.join(", "))
}

/// The new state of a recipient after an attempt whose outcome is `v.outcome`, generated
/// from [`state::next`]; a recipient the outcome does not apply to keeps its state.
pub(crate) fn outcome_sql() -> String {
    let mut when = String::new();
    for o in [AttemptOutcome::Delivered, AttemptOutcome::Deferred, AttemptOutcome::Bounced] {
        for (f, t) in state::moves(Move::Outcome(o)) {
            when += &format!(
                " WHEN v.outcome = '{}' AND recipients.state = '{}' THEN '{}'",
                o.as_str(),
                f.as_str(),
                t.as_str()
            );
        }
    }
    format!("CASE{when} ELSE recipients.state END")
}

/// A message with its recipient counts, as `queue list` and the sender console list them; the
/// query goes on with WHERE.
pub(crate) const SUMMARY_SELECT: &str = "SELECT m.id, m.received_at, m.sender, m.size, COUNT(r.idx) AS n, \
     SUM(CASE WHEN r.state IN ('delivered','bounced','cancelled') THEN 0 ELSE 1 END) AS pending \
     FROM messages m LEFT JOIN recipients r ON r.message_id = m.id";

/// The columns of a messages row as [`bind_message!`] binds them, in order.
pub(crate) const MESSAGE_COLUMNS: &str = "id, received_at, sender, size, ret, envid, smtputf8, body_8bit, client_ip, \
     helo, listener, auth_user, tls, origin, findings, required_tls, inspection, rules, sender_record, sender_tls, portal_bytes";

/// The columns of a recipients row as [`bind_recipient!`] binds them, in order.
pub(crate) const RECIPIENT_COLUMNS: &str = "message_id, idx, address, orcpt, notify, state, next_attempt_at";

/// The columns of an attempts row as [`bind_attempt!`] binds them, in order.
pub(crate) const ATTEMPT_COLUMNS: &str =
    "message_id, idx, at, host, ip, port, reply, tls, outcome, evidence, variant, variant_reason, dkim, smime";

/// The columns of an outcome (`v` in the recipients' UPDATE) as [`bind_outcome!`] binds them.
pub(crate) const OUTCOME_COLUMNS: &str =
    "message_id, idx, outcome, next_attempt_at, last_reply, delay_warned, tried, notice, notice_status";

/// The number of columns in a list such as [`ATTEMPT_COLUMNS`] (what one row binds).
pub(crate) const fn column_count(columns: &str) -> usize {
    let bytes = columns.as_bytes();
    let (mut n, mut i) = (1, 0);
    while i < bytes.len() {
        if bytes[i] == b',' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Stored JSON of an optional value.
pub(crate) fn json_text<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

/// Binds a [`crate::model::NewMessage`] as a row of [`MESSAGE_COLUMNS`] (a macro: the two
/// backends' query builders differ in type, the row does not).
macro_rules! bind_message {
    ($b:expr, $m:expr) => {{
        let new: &$crate::model::NewMessage = $m;
        let m = &new.info;
        $b.push_bind(&m.id)
            .push_bind(m.received_at)
            .push_bind(&m.sender)
            .push_bind(m.size as i64)
            .push_bind(&m.ret)
            .push_bind(&m.envid)
            .push_bind(m.smtputf8)
            .push_bind(m.body_8bit)
            .push_bind(&m.client_ip)
            .push_bind(&m.helo)
            .push_bind(&m.listener)
            .push_bind(&m.auth_user)
            .push_bind(&m.tls)
            .push_bind(m.origin.as_str())
            .push_bind($crate::queue_sql::json_text(&m.findings))
            .push_bind(m.required_tls.map(|a| a.as_str()))
            .push_bind($crate::queue_sql::json_text(&m.inspection))
            .push_bind($crate::queue_sql::json_text(&m.rules))
            .push_bind($crate::queue_sql::json_text(&m.sender_record))
            .push_bind(m.sender_tls.map(|t| t.as_str()))
            .push_bind(new.portal_bytes as i64);
    }};
}

/// Binds recipient `idx` of a [`crate::model::NewMessage`] as a row of [`RECIPIENT_COLUMNS`]:
/// held when the message is, due when the message may first be tried.
macro_rules! bind_recipient {
    ($b:expr, $m:expr, $idx:expr) => {{
        let (m, idx): (&$crate::model::NewMessage, usize) = ($m, $idx);
        let r = &m.recipients[idx];
        let state = m.initial_state();
        $b.push_bind(&m.info.id)
            .push_bind(idx as i64)
            .push_bind(&r.address)
            .push_bind(&r.orcpt)
            .push_bind(&r.notify)
            .push_bind(state.as_str())
            .push_bind(m.first_attempt_at());
    }};
}

/// Binds an attempt of a [`crate::model::RecipientUpdate`] as a row of [`ATTEMPT_COLUMNS`].
macro_rules! bind_attempt {
    ($b:expr, $u:expr, $a:expr) => {{
        let (u, a): (&$crate::model::RecipientUpdate, &$crate::model::Attempt) = ($u, $a);
        $b.push_bind(&u.message_id)
            .push_bind(u.idx)
            .push_bind(a.at)
            .push_bind(&a.host)
            .push_bind(&a.ip)
            .push_bind(a.port as i64)
            .push_bind(&a.reply)
            .push_bind(&a.tls)
            .push_bind(a.outcome.as_str())
            .push_bind(a.evidence.as_ref().map(|e| e.to_string()))
            .push_bind(a.variant.as_ref().map(|v| v.kind.as_str()))
            .push_bind(a.variant.as_ref().map(|v| v.reason.clone()))
            .push_bind(&a.dkim)
            .push_bind(&a.smime);
    }};
}

/// Binds a [`crate::model::RecipientUpdate`] as a row of [`OUTCOME_COLUMNS`].
macro_rules! bind_outcome {
    ($b:expr, $u:expr) => {{
        let u: &$crate::model::RecipientUpdate = $u;
        $b.push_bind(&u.message_id)
            .push_bind(u.idx)
            .push_bind(u.outcome.as_str())
            .push_bind(u.next_attempt_at)
            .push_bind(&u.last_reply)
            .push_bind(u.delay_warned)
            .push_bind(u.attempt.is_some() as i64)
            .push_bind(u.notice.as_ref().map(|n| n.kind.as_str()))
            .push_bind(u.notice.as_ref().map(|n| n.status.as_str()));
    }};
}

pub(crate) use {bind_attempt, bind_message, bind_outcome, bind_recipient};
