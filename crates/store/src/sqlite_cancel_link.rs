//! SQLite: the single-use cancel links mailed to the senders of held messages (table
//! `cancel_links`, the token's hash only). Using one is one transaction: the link is checked
//! (known, unused, not expired), the message cancelled as `hold cancel` does, and the link used
//! up; when the cancel loses the race with delivery, nothing is written.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::sqlite::SqliteStore;
use crate::sqlite_hold::cancel_in;

/// What using a cancel link did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ByLink {
    /// The message was cancelled: it will never be delivered.
    Cancelled(String),
    /// Its delivery has begun (or it finished, or was cancelled another way): too late.
    TooLate(String),
    /// The link was used already.
    Used,
    /// No such link, or it expired (the message left its hold).
    Unknown,
}

impl SqliteStore {
    pub(crate) async fn insert_cancel_link(
        &self,
        token_hash: &str,
        id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO cancel_links (token_hash, message_id, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(id)
            .bind(expires_at)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }

    pub(crate) async fn use_cancel_link(&self, token_hash: &str, now: i64) -> Result<ByLink, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let row = sqlx::query(
            "SELECT c.message_id, c.expires_at, c.used_at, m.sender FROM cancel_links c \
             JOIN messages m ON m.id = c.message_id WHERE c.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(ByLink::Unknown) };
        let (id, sender): (String, String) = (row.get("message_id"), row.get("sender"));
        if row.get::<Option<i64>, _>("used_at").is_some() {
            return Ok(ByLink::Used);
        }
        if row.get::<i64, _>("expires_at") <= now {
            return Ok(ByLink::Unknown);
        }
        if !cancel_in(&mut tx, &id, &format!("link:{sender}"), now).await? {
            tx.rollback().await?;
            return Ok(ByLink::TooLate(id));
        }
        sqlx::query("UPDATE cancel_links SET used_at = ? WHERE token_hash = ?")
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ByLink::Cancelled(id))
    }
}

#[cfg(test)]
mod tests {
    use super::ByLink;
    use crate::RulesRecord;
    use crate::model::{RecipientState, sample_message};
    use crate::queue_id::QueueId;
    use crate::sqlite::SqliteStore;
    use crate::store::{MessageStore, QueueWrites};

    #[tokio::test]
    async fn a_cancel_link_cancels_once_until_the_message_leaves_and_never_after_delivery_began() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let held = || {
            let mut m = sample_message(&QueueId::generate(), 10, 1);
            m.info.rules = Some(RulesRecord { hold_minutes: Some(5), ..Default::default() });
            m.not_before = Some(1300);
            m
        };
        let (a, b, c) = (held(), held(), held());
        s.insert_messages(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
        for (token, m) in [("ta", &a), ("tb", &b), ("tc", &c)] {
            s.put_cancel_link(token, &m.info.id, 1300).await.unwrap();
        }
        assert_eq!(s.cancel_by_link("nope", 1100).await.unwrap(), ByLink::Unknown);
        assert_eq!(s.cancel_by_link("ta", 1100).await.unwrap(), ByLink::Cancelled(a.info.id.clone()));
        assert_eq!(s.cancel_by_link("ta", 1101).await.unwrap(), ByLink::Used, "single use");
        let d = s.message(&a.info.id).await.unwrap().unwrap();
        assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
        assert_eq!(d.cancelled.unwrap().by, "link:a@example.com");

        assert_eq!(s.cancel_by_link("tb", 1300).await.unwrap(), ByLink::Unknown, "expired when it leaves");
        assert_eq!(s.claim_due(1300, 10).await.unwrap().len(), 2, "b and c leave");
        assert_eq!(s.cancel_by_link("tc", 1299).await.unwrap(), ByLink::TooLate(c.info.id.clone()));
        assert_eq!(s.message(&c.info.id).await.unwrap().unwrap().recipients[0].state, RecipientState::Active);
    }
}
