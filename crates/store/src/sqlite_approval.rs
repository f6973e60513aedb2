//! SQLite: approvals (table `approvals`). The request is inserted with its message, in the
//! same transaction (`insert_messages`); a decision is one transaction that records it and
//! moves the recipients (released: due at once; rejected: cancelled, the message finished),
//! only while the decision is pending and the recipients are still held.

use crate::approval::{Approval, Decided};
use crate::error::StoreError;
use crate::rules_record::ApprovalRequest;
use crate::sqlite::{SqliteStore, move_sql};
use crate::sqlite_hold::cancel_in;
use crate::state::Move;

/// Within the message's insert: its approval request, as one more statement of `q`.
pub(crate) fn push_request(q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>, id: &str, a: &ApprovalRequest) {
    q.push("INSERT INTO approvals (message_id, rule, approvers, deadline, release_on_timeout) VALUES (");
    let mut values = q.separated(", ");
    values.push_bind(id.to_string());
    values.push_bind(a.rule.clone());
    values.push_bind(serde_json::to_string(&a.approvers).unwrap_or_else(|_| "[]".into()));
    values.push_bind(a.deadline);
    values.push_bind(a.release_on_timeout);
    q.push(")");
}

/// Pending approvals whose deadline is at or before `?1`. `+m.done_at`: driven by the pending
/// approvals' index, never by every unfinished message (the delivery scan runs this whenever
/// it finds nothing due).
fn expired_sql() -> String {
    format!("{SELECT} WHERE a.approved IS NULL AND a.deadline <= ?1 AND +m.done_at IS NULL ORDER BY a.deadline, m.id")
}

const SELECT: &str = "SELECT a.*, m.sender, m.received_at, \
     (SELECT group_concat(r.address, ' ') FROM recipients r WHERE r.message_id = a.message_id) AS rcpts \
     FROM approvals a JOIN messages m ON m.id = a.message_id";

fn approval(r: &sqlx::sqlite::SqliteRow) -> Approval {
    crate::rows::approval(r)
}

impl SqliteStore {
    /// Pending approvals of unfinished messages (of one sender, any case, when given), oldest
    /// first.
    pub(crate) async fn pending_approvals(&self, sender: Option<&str>) -> Result<Vec<Approval>, StoreError> {
        // One sender's: through the index of unfinished messages by sender; all: through the
        // pending approvals' index (`+m.done_at` keeps SQLite off every unfinished message).
        let which = if sender.is_some() {
            "m.done_at IS NULL AND m.sender = ?1 COLLATE NOCASE"
        } else {
            "+m.done_at IS NULL AND ?1 IS NULL"
        };
        let rows = sqlx::query(&format!("{SELECT} WHERE a.approved IS NULL AND {which} ORDER BY m.received_at, m.id"))
            .bind(sender)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(approval).collect())
    }

    /// Pending approvals of unfinished messages that `approver` (any case) may decide, oldest
    /// first: only pending approvals are read (the partial index `approvals_pending`).
    pub(crate) async fn pending_approvals_of(&self, approver: &str) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE a.approved IS NULL AND +m.done_at IS NULL \
             AND EXISTS (SELECT 1 FROM json_each(a.approvers) j WHERE j.value = ?1 COLLATE NOCASE) \
             ORDER BY m.received_at, m.id"
        ))
        .bind(approver)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(approval).collect())
    }

    /// Message `id`'s approval, if one was asked for.
    pub(crate) async fn approval_of(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let row =
            sqlx::query(&format!("{SELECT} WHERE a.message_id = ?")).bind(id).fetch_optional(&self.reader).await?;
        Ok(row.as_ref().map(approval))
    }

    /// Pending approvals of unfinished messages whose deadline is at or before `now`.
    pub(crate) async fn expired_approvals(&self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(&expired_sql()).bind(now).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(approval).collect())
    }

    /// Records `d` on message `id` and acts on it, in one transaction; false (nothing written)
    /// when no decision was pending or the recipients were no longer held.
    pub(crate) async fn record_approval(&self, id: &str, d: &Decided) -> Result<bool, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let recorded = sqlx::query(
            "UPDATE approvals SET approved = ?, by = ?, at = ?, comment = ? WHERE message_id = ? AND approved IS NULL",
        )
        .bind(d.approved)
        .bind(&d.by)
        .bind(d.at)
        .bind(&d.comment)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let acted = recorded == 1
            && if d.approved {
                let (set, from) = move_sql("state", Move::Release);
                sqlx::query(&format!(
                    "UPDATE recipients SET state = {set}, next_attempt_at = ? WHERE message_id = ? AND state IN ({from})"
                ))
                .bind(d.at)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            } else {
                cancel_in(&mut tx, id, &d.by, d.at).await?
            };
        if !acted {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::SqliteStore;

    #[tokio::test]
    async fn the_timeout_sweep_reads_pending_approvals_only_never_every_unfinished_message() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let p = s.query_plan(&super::expired_sql()).await;
        assert!(p.iter().any(|d| d.starts_with("SEARCH a USING INDEX approvals_pending")), "{p:?}");
        assert!(!p.iter().any(|d| d.contains("messages_pending")), "{p:?}");
    }
}
