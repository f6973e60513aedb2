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
