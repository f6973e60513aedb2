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

    /// Whether submitted mail was delivered to `address`, and to its domain: one statement
    /// over the `recipients_domain` index (the address is compared among its domain's rows).
    pub(crate) async fn written_to_of(&self, address: &str) -> Result<WrittenTo, StoreError> {
        let address = address.trim().to_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else { return Ok(WrittenTo::default()) };
        let row = sqlx::query(&format!(
            "SELECT EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE {DOMAIN_OF} = ?1 AND r.state = 'delivered' AND m.origin = 'submission') AS domain, \
             EXISTS (SELECT 1 FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE {DOMAIN_OF} = ?1 AND r.state = 'delivered' AND lower(r.address) = ?2 \
             AND m.origin = 'submission') AS address"
        ))
        .bind(domain)
        .bind(&address)
        .fetch_one(&self.reader)
        .await?;
        Ok(WrittenTo { address: row.get("address"), domain: row.get("domain") })
    }

    /// Every domain submitted mail was delivered to, lower case, read from the
    /// `recipients_domain` index.
    pub(crate) async fn all_written_domains_of(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT {DOMAIN_OF} AS domain FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE r.state = 'delivered' AND m.origin = 'submission'"
        ))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>("domain")).collect())
    }
}

/// What the history says about one address: mail was delivered to it, to its domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrittenTo {
    /// Submitted mail was delivered to this very address.
    pub address: bool,
    /// Submitted mail was delivered to some address of its domain.
    pub domain: bool,
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
                .execute(&mut *s.writer.lock().await.unwrap())
                .await
                .unwrap();
        }
        let asked: Vec<String> =
            ["customer.example", "waiting.example", "inbound.example", "new.example"].map(String::from).into();
        let known = s.written_domains(&asked).await.unwrap();
        assert_eq!(known.into_iter().collect::<Vec<_>>(), ["customer.example"]);
        let plan = s
            .query_plan(&format!("SELECT 1 FROM recipients WHERE {} = 'x' AND state = 'delivered'", super::DOMAIN_OF))
            .await;
        assert!(plan.iter().any(|p| p.contains("recipients_domain")), "the lookup uses the index: {plan:?}");
    }

    #[tokio::test]
    async fn the_first_contact_lookup_knows_addresses_and_domains_written_to() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let mut sent = sample_message(&QueueId::generate(), 10, 1);
        sent.recipients[0].address = "Taro@Customer.Example".into();
        let mut inbound = sample_message(&QueueId::generate(), 10, 1);
        inbound.info.origin = Origin::Mx;
        inbound.recipients[0].address = "c@inbound.example".into();
        s.insert_messages(&[sent.clone(), inbound.clone()]).await.unwrap();
        sqlx::query("UPDATE recipients SET state = 'delivered'")
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        let w = |address: bool, domain: bool| super::WrittenTo { address, domain };
        assert_eq!(s.written_to("taro@customer.example").await.unwrap(), w(true, true));
        assert_eq!(s.written_to("hanako@CUSTOMER.example").await.unwrap(), w(false, true));
        assert_eq!(s.written_to("c@inbound.example").await.unwrap(), w(false, false), "inbound mail is no contact");
        assert_eq!(s.written_to("no-at-sign").await.unwrap(), w(false, false));
        assert_eq!(s.all_written_domains().await.unwrap(), ["customer.example"]);
        let plan = s
            .query_plan(&format!(
                "SELECT 1 FROM recipients WHERE {} = 'x' AND state = 'delivered' AND lower(address) = 'a@x'",
                super::DOMAIN_OF
            ))
            .await;
        assert!(plan.iter().any(|p| p.contains("recipients_domain")), "the lookup uses the index: {plan:?}");
    }

    /// Measurement, not a check: `cargo test -p sekisho-store --release written_to_at_scale --
    /// --ignored --nocapture` on 100 000 delivered submitted recipients in 20 000 domains.
    #[tokio::test]
    #[ignore]
    async fn written_to_at_scale() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let batch: Vec<_> = (0..100_000)
            .map(|i| {
                let mut m = sample_message(&QueueId::generate(), 10, 1);
                m.recipients[0].address = format!("user{i}@domain{}.example", i % 20_000);
                m
            })
            .collect();
        s.insert_messages(&batch).await.unwrap();
        sqlx::query("UPDATE recipients SET state = 'delivered'")
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        for i in 0..1000 {
            let w = s.written_to(&format!("user{i}@domain{}.example", i * 7 % 40_000)).await.unwrap();
            assert_eq!(w.domain, i * 7 % 40_000 < 20_000);
        }
        let per = started.elapsed() / 1000;
        let started = std::time::Instant::now();
        let all = s.all_written_domains().await.unwrap();
        let whole = started.elapsed();
        assert_eq!(all.len(), 20_000);
        println!("written_to: {per:?} per lookup; all_written_domains: {whole:?} for {} domains", all.len());
    }
}
