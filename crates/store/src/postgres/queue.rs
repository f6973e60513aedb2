//! PostgreSQL: reading the queue (messages, recipients, attempt history, holds, approvals,
//! the delivered history the mis-send rules consult, the queue's depth).

use std::collections::BTreeSet;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::WrittenTo;
use crate::approval::Approval;
use crate::error::StoreError;
use crate::model::{AttemptRecord, Cancellation, HeldMessage, MessageDetail, MessageSummary, RecipientState};
use crate::queue_sql::SUMMARY_SELECT;
use crate::rows;
use crate::store::{MessageStore, QueueDepth};

/// The recipient's domain, lower case (the expression the `recipients_domain` index is built
/// on: a query must write it the same way to use the index).
const DOMAIN_OF: &str = "lower(substr(address, strpos(address, '@') + 1))";

/// An approval with its message's sender, arrival and recipients; the query goes on with WHERE.
pub(super) const APPROVAL_SELECT: &str = "SELECT a.*, m.sender, m.received_at, \
     (SELECT string_agg(r.address, ' ' ORDER BY r.idx) FROM recipients r WHERE r.message_id = a.message_id) AS rcpts \
     FROM approvals a JOIN messages m ON m.id = a.message_id";

/// The unfinished states counted, over the `recipients_due` index (state first).
const DEPTH: &str =
    "SELECT state, COUNT(*) AS n FROM recipients WHERE state IN ('queued', 'active', 'held') GROUP BY state";

/// The held list's query: `$1` is now, `$2` the sender (any case) when `by_sender`. One
/// sender's list reads that sender's unfinished messages only (`messages_pending_sender`).
fn held_sql(by_sender: bool) -> String {
    let sender = if by_sender { "AND lower(m.sender) = lower($2)" } else { "AND $2::text IS NULL" };
    format!(
        "SELECT m.id, m.sender, m.received_at, m.rules, MIN(r.next_attempt_at) AS due, \
         string_agg(r.address, ' ' ORDER BY r.idx) AS rcpts \
         FROM messages m JOIN recipients r ON r.message_id = m.id \
         WHERE m.done_at IS NULL AND m.origin = 'submission' AND m.rules IS NOT NULL \
         AND (m.rules::jsonb ->> 'hold_minutes') IS NOT NULL {sender} \
         GROUP BY m.id \
         HAVING SUM(CASE WHEN r.state = 'queued' AND r.attempts = 0 THEN 0 ELSE 1 END) = 0 \
         AND MIN(r.next_attempt_at) > $1 \
         ORDER BY due, m.id"
    )
}

impl PgStore {
    async fn approvals_where(&self, condition: &str, bind: Option<&str>) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(&format!("{APPROVAL_SELECT} WHERE {condition} ORDER BY m.received_at, m.id"))
            .bind(bind)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::approval).collect())
    }

    async fn cancellation_of(&self, id: &str) -> Result<Option<Cancellation>, StoreError> {
        let row = sqlx::query(r#"SELECT "by", "at" FROM cancellations WHERE message_id = $1"#)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Cancellation { by: r.get("by"), at: r.get("at") }))
    }
}

#[async_trait]
impl MessageStore for PgStore {
    async fn oldest_queued(&self) -> Result<Option<i64>, StoreError> {
        self.oldest_queued_of().await
    }

    async fn recent_deliveries(&self, now: i64, limit: u32) -> Result<Vec<crate::RecentDelivery>, StoreError> {
        self.recent_deliveries_of(now, limit).await
    }

    async fn delivered_by_assurance(
        &self,
        since: i64,
        until: i64,
        width: i64,
    ) -> Result<Vec<crate::AssuranceCount>, StoreError> {
        self.delivered_by_assurance_of(since, until, width).await
    }

    async fn list_messages(&self, include_done: bool) -> Result<Vec<MessageSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SUMMARY_SELECT} WHERE $1 OR m.done_at IS NULL GROUP BY m.id ORDER BY m.received_at, m.id"
        ))
        .bind(include_done)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::summary).collect())
    }

    async fn message(&self, id: &str) -> Result<Option<MessageDetail>, StoreError> {
        let Some(mut detail) = self.message_without_history(id).await? else { return Ok(None) };
        detail.cancelled = self.cancellation_of(id).await?;
        detail.approval = self.approval(id).await?;
        let rows = sqlx::query(
            "SELECT a.*, r.address FROM attempts a JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
             WHERE a.message_id = $1 ORDER BY a.seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        detail.attempts =
            rows.iter().map(|r| AttemptRecord { recipient: r.get("address"), attempt: rows::attempt(r) }).collect();
        Ok(Some(detail))
    }

    async fn message_without_history(&self, id: &str) -> Result<Option<MessageDetail>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.*, r.idx, r.address, r.orcpt, r.notify, r.state, r.attempts, r.next_attempt_at, \
             r.last_reply, r.delay_warned, r.notice, r.notice_status \
             FROM messages m LEFT JOIN recipients r ON r.message_id = m.id WHERE m.id = $1 ORDER BY r.idx",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let Some(m) = rows.first() else { return Ok(None) };
        let recipients = rows
            .iter()
            .filter(|r| r.get::<Option<i64>, _>("idx").is_some())
            .map(|r: &PgRow| rows::recipient(r, id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(MessageDetail {
            info: rows::message_info(m)?,
            done_at: m.get("done_at"),
            recipients,
            attempts: Vec::new(),
            cancelled: None,
            approval: None,
        }))
    }

    async fn messages_with_notices(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT message_id FROM recipients WHERE notice IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get("message_id")).collect())
    }

    async fn message_sizes(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.size, (SELECT COUNT(*) FROM recipients r WHERE r.message_id = m.id) AS n \
             FROM messages m WHERE m.done_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("id"), r.get::<i64, _>("size").max(0) as u64, r.get::<i64, _>("n").max(0) as u64))
            .collect())
    }

    async fn quarantined(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id FROM messages m WHERE m.done_at IS NULL \
             AND ((m.inspection::jsonb ->> 'action') = 'quarantined' \
                  OR (m.sender_record::jsonb #>> '{authentication,dmarc_action}') LIKE 'quarantine:%') \
             AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state = 'held') \
             ORDER BY m.received_at, m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    async fn written_domains(&self, domains: &[String]) -> Result<BTreeSet<String>, StoreError> {
        let mut found = BTreeSet::new();
        for domain in domains {
            let domain = domain.to_ascii_lowercase();
            let seen: bool = sqlx::query_scalar(&format!(
                "SELECT EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
                 WHERE {DOMAIN_OF} = $1 AND r.state = 'delivered' AND m.origin = 'submission')"
            ))
            .bind(&domain)
            .fetch_one(&self.pool)
            .await?;
            if seen {
                found.insert(domain);
            }
        }
        Ok(found)
    }

    async fn written_to(&self, address: &str) -> Result<WrittenTo, StoreError> {
        let address = address.trim().to_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else { return Ok(WrittenTo::default()) };
        let row = sqlx::query(&format!(
            "SELECT EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE {DOMAIN_OF} = $1 AND r.state = 'delivered' AND m.origin = 'submission') AS domain, \
             EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE {DOMAIN_OF} = $1 AND r.state = 'delivered' AND lower(r.address) = $2 \
             AND m.origin = 'submission') AS address"
        ))
        .bind(domain)
        .bind(&address)
        .fetch_one(&self.pool)
        .await?;
        Ok(WrittenTo { address: row.get("address"), domain: row.get("domain") })
    }

    async fn all_written_domains(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT {DOMAIN_OF} AS domain FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE r.state = 'delivered' AND m.origin = 'submission'"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>("domain")).collect())
    }

    async fn held(&self, now: i64, sender: Option<&str>) -> Result<Vec<HeldMessage>, StoreError> {
        let rows = sqlx::query(&held_sql(sender.is_some())).bind(now).bind(sender).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(rows::held).collect())
    }

    async fn awaiting_approval(&self, sender: Option<&str>) -> Result<Vec<Approval>, StoreError> {
        self.approvals_where(
            if sender.is_some() {
                "a.approved IS NULL AND m.done_at IS NULL AND lower(m.sender) = lower($1)"
            } else {
                "a.approved IS NULL AND m.done_at IS NULL AND $1::text IS NULL"
            },
            sender,
        )
        .await
    }

    async fn awaiting_approval_of(&self, approver: &str) -> Result<Vec<Approval>, StoreError> {
        self.approvals_where(
            "a.approved IS NULL AND m.done_at IS NULL AND EXISTS (SELECT 1 FROM \
             jsonb_array_elements_text(a.approvers::jsonb) j(v) WHERE lower(j.v) = lower($1))",
            Some(approver),
        )
        .await
    }

    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(&format!("{APPROVAL_SELECT} WHERE a.message_id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::approval))
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let mut depth = QueueDepth::default();
        for row in sqlx::query(DEPTH).fetch_all(&self.pool).await? {
            let n = row.get::<i64, _>("n").max(0) as u64;
            match RecipientState::parse(row.get("state")) {
                Some(RecipientState::Queued) => depth.queued = n,
                Some(RecipientState::Active) => depth.active = n,
                _ => depth.held = n,
            }
        }
        Ok(depth)
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        // A transaction ID is assigned only where writes are possible: a standby or a
        // read-only server refuses it.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT txid_current()").execute(&mut *tx).await?;
        tx.rollback().await?;
        Ok(())
    }
}
