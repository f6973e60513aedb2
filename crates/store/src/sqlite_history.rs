//! SQLite: what the organisation's delivered history says about other domains (the mis-send
//! rules' "first-time external domain").

use std::collections::BTreeSet;

use sqlx::Row;

use crate::error::StoreError;
use crate::sqlite::SqliteStore;

/// The recipient's domain, lower case, as SQL (the expression the `recipients_domain` index is
/// built on: a query must write it the same way to use the index).
pub(crate) const DOMAIN_OF: &str = "lower(substr(address, instr(address, '@') + 1))";

impl SqliteStore {
    /// Which of `domains` (lower case) a submitted message has been delivered to: one indexed
    /// lookup per domain, whatever the size of the history. Messages removed by the retention
    /// purge no longer count.
    pub(crate) async fn written_domains_of(&self, domains: &[String]) -> Result<BTreeSet<String>, StoreError> {
        let mut found = BTreeSet::new();
        for domain in domains {
            let domain = domain.to_ascii_lowercase();
            let row = sqlx::query(&format!(
                "SELECT EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
                 WHERE {DOMAIN_OF} = ? AND r.state = 'delivered' AND m.origin = 'submission') AS seen"
            ))
            .bind(&domain)
            .fetch_one(&self.reader)
            .await?;
            if row.get::<bool, _>("seen") {
                found.insert(domain);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Origin, sample_message};
    use crate::queue_id::QueueId;
    use crate::sqlite::SqliteStore;
    use crate::store::{MessageStore, QueueWrites};

    #[tokio::test]
    async fn only_delivered_submitted_mail_makes_a_domain_known() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let mut sent = sample_message(&QueueId::generate(), 10, 1);
        sent.recipients[0].address = "a@Customer.Example".into();
        let mut queued = sample_message(&QueueId::generate(), 10, 1);
        queued.recipients[0].address = "b@waiting.example".into();
        let mut inbound = sample_message(&QueueId::generate(), 10, 1);
        inbound.info.origin = Origin::Mx;
        inbound.recipients[0].address = "c@inbound.example".into();
        s.insert_messages(&[sent.clone(), queued, inbound.clone()]).await.unwrap();
        for id in [&sent.info.id, &inbound.info.id] {
            sqlx::query("UPDATE recipients SET state = 'delivered' WHERE message_id = ?")
                .bind(id)
                .execute(&s.writer)
                .await
                .unwrap();
        }
        let asked: Vec<String> =
            ["customer.example", "waiting.example", "inbound.example", "new.example"].map(String::from).into();
        let known = s.written_domains(&asked).await.unwrap();
        assert_eq!(known.into_iter().collect::<Vec<_>>(), ["customer.example"]);
        let plan: Vec<String> = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN SELECT 1 FROM recipients WHERE {} = 'x' AND state = 'delivered'",
            super::DOMAIN_OF
        ))
        .fetch_all(&s.reader)
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
        .collect();
        assert!(plan.iter().any(|p| p.contains("recipients_domain")), "the lookup uses the index: {plan:?}");
    }
}
