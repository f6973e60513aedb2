//! SQLite: what the administrator's dashboard reads (`crate::dashboard`). Every statement is
//! bounded: the recent attempts and the delivered ones of a window by the `attempts_at` index,
//! the oldest queued message in arrival order through `messages_pending`, the links by `links_expires`
//! and the audit log's events by `portal_events_event`.

use sqlx::Row;

use crate::dashboard::{AssuranceCount, LinkCounts, RecentDelivery};
use crate::error::StoreError;
use crate::links::LinkEvent;
use crate::sqlite::SqliteStore;

/// The newest attempts, their recipient (primary key) and message (primary key).
const RECENT: &str = "\
SELECT a.message_id AS message_id, a.at AS at, lower(substr(r.address, instr(r.address, '@') + 1)) AS domain, \
       m.origin AS origin, json_extract(a.evidence, '$.assurance') AS assurance, a.tls AS tls, a.outcome AS outcome \
FROM attempts a INDEXED BY attempts_at \
JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
JOIN messages m ON m.id = a.message_id \
WHERE a.at <= ?1 \
ORDER BY a.at DESC, a.rowid DESC LIMIT ?2";

/// Delivered attempts of outbound and sekisho's own mail in [since, until), counted per bucket
/// of `width` seconds and level, in SQLite: a window of 100,000 attempts comes back as at most
/// buckets × levels rows.
const BY_ASSURANCE: &str = "\
SELECT (a.at - ?1) / ?3 AS bucket, json_extract(a.evidence, '$.assurance') AS assurance, COUNT(*) AS n \
FROM attempts a INDEXED BY attempts_at \
JOIN messages m ON m.id = a.message_id \
WHERE a.at >= ?1 AND a.at < ?2 AND a.outcome = 'delivered' AND m.origin != 'mx' \
GROUP BY 1, 2";

/// The oldest message with a recipient waiting for or in delivery (held ones aside).
const OLDEST_QUEUED: &str = "\
SELECT m.received_at AS oldest FROM messages m \
WHERE m.done_at IS NULL AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id \
AND r.state IN ('queued', 'active')) \
ORDER BY m.received_at LIMIT 1";

/// Links working at `now` or ended since `since`, and their downloads.
const LINKS: &str = "\
SELECT COALESCE(SUM(CASE WHEN l.revoked = 0 AND l.expires_at > ?1 THEN 1 ELSE 0 END), 0) AS active, \
       COALESCE(SUM(CASE WHEN l.revoked = 0 AND l.expires_at <= ?1 THEN 1 ELSE 0 END), 0) AS expired, \
       COALESCE(SUM(CASE WHEN l.revoked != 0 THEN 1 ELSE 0 END), 0) AS revoked, \
       COALESCE(SUM((SELECT SUM(d.count) FROM link_downloads d \
                     WHERE d.message_id = l.message_id AND d.idx = l.idx)), 0) AS downloads \
FROM links l INDEXED BY links_expires WHERE l.expires_at >= ?2";

/// Audit log events of one kind since a time.
const EVENTS: &str = "SELECT COUNT(*) AS n FROM portal_events WHERE event = ?1 AND at >= ?2";

impl SqliteStore {
    pub(crate) async fn recent_deliveries_of(&self, now: i64, limit: u32) -> Result<Vec<RecentDelivery>, StoreError> {
        let rows = sqlx::query(RECENT).bind(now).bind(i64::from(limit)).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(crate::dashboard::recent_delivery).collect())
    }

    pub(crate) async fn delivered_by_assurance_of(
        &self,
        since: i64,
        until: i64,
        width: i64,
    ) -> Result<Vec<AssuranceCount>, StoreError> {
        let rows = sqlx::query(BY_ASSURANCE).bind(since).bind(until).bind(width.max(1)).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(crate::dashboard::assurance_count).collect())
    }

    pub(crate) async fn oldest_queued_of(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(OLDEST_QUEUED).fetch_optional(&self.reader).await?)
    }

    pub(crate) async fn link_counts_of(&self, now: i64, since: i64) -> Result<LinkCounts, StoreError> {
        let r = sqlx::query(LINKS).bind(now).bind(since).fetch_one(&self.reader).await?;
        Ok(crate::dashboard::link_counts(&r))
    }

    pub(crate) async fn count_events_of(&self, event: LinkEvent, since: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(EVENTS).bind(event.as_str()).bind(since).fetch_one(&self.reader).await?.get("n");
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{LinkFile, LinkMessage, LinkStore, NewLink, PortalEvent};
    use crate::model::{Attempt, AttemptOutcome, RecipientUpdate, sample_message};
    use crate::store::{MessageStore, QueueWrites};
    use crate::{Origin, QueueId};
    use sekisho_policy::Access;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        (dir, s)
    }

    fn attempt(at: i64, assurance: Option<&str>, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            at,
            host: "mx.partner.example".into(),
            ip: "192.0.2.1".into(),
            port: 25,
            reply: "250 ok".into(),
            tls: assurance.filter(|a| *a != "none").map(|_| "TLSv1.3 TLS13_AES_128_GCM_SHA256".into()),
            outcome,
            evidence: assurance.map(|a| serde_json::json!({ "assurance": a })),
            variant: None,
            dkim: None,
            smime: None,
        }
    }

    fn update(id: &str, idx: i64, a: Attempt) -> RecipientUpdate {
        RecipientUpdate {
            message_id: id.to_string(),
            idx,
            outcome: a.outcome,
            next_attempt_at: a.at + 600,
            last_reply: None,
            delay_warned: false,
            attempt: Some(a),
            notice: None,
        }
    }

    #[tokio::test]
    async fn delivered_recipients_are_counted_per_bucket_and_level_by_the_time_index_without_inbound_mail() {
        let (_d, s) = store().await;
        let out = sample_message(&QueueId::generate(), 10, 4);
        let mut inbound = sample_message(&QueueId::generate(), 10, 1);
        inbound.info.origin = Origin::Mx;
        s.insert_messages(&[out.clone(), inbound.clone()]).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 5);
        let (o, i) = (out.info.id.as_str(), inbound.info.id.as_str());
        s.record_outcomes(
            &[
                update(o, 0, attempt(1000, Some("authenticated"), AttemptOutcome::Delivered)),
                update(o, 1, attempt(1010, Some("authenticated"), AttemptOutcome::Delivered)),
                update(o, 2, attempt(1100, Some("none"), AttemptOutcome::Delivered)),
                update(o, 3, attempt(1020, Some("encrypted"), AttemptOutcome::Deferred)),
                update(i, 0, attempt(1030, Some("none"), AttemptOutcome::Delivered)),
            ],
            1200,
        )
        .await
        .unwrap();
        let mut rows = s.delivered_by_assurance(1000, 1200, 100).await.unwrap();
        rows.sort_by(|a, b| (a.bucket, &a.assurance).cmp(&(b.bucket, &b.assurance)));
        let got: Vec<_> = rows.iter().map(|r| (r.bucket, r.assurance.as_deref(), r.delivered)).collect();
        assert_eq!(
            got,
            [(0, Some("authenticated"), 2), (1, Some("none"), 1)],
            "deferred and inbound attempts are not counted"
        );
        assert!(s.delivered_by_assurance(1001, 1100, 100).await.unwrap().iter().all(|r| r.delivered == 1));
        let plan = s.query_plan(BY_ASSURANCE).await;
        assert!(plan.iter().any(|p| p.contains("attempts_at")), "the window is read by the index: {plan:?}");

        let recent = s.recent_deliveries(i64::MAX, 3).await.unwrap();
        let got: Vec<_> = recent.iter().map(|r| (r.at, r.outcome.as_str(), r.origin.as_str())).collect();
        assert_eq!(
            got,
            [(1100, "delivered", "submission"), (1030, "delivered", "mx"), (1020, "deferred", "submission")]
        );
        assert_eq!(
            (recent[0].domain.as_str(), recent[0].assurance.as_deref(), recent[0].tls.as_deref()),
            ("example.jp", Some("none"), None)
        );
        assert_eq!(recent[2].tls.as_deref(), Some("TLSv1.3 TLS13_AES_128_GCM_SHA256"));
        assert_eq!(s.recent_deliveries(1015, 10).await.unwrap().len(), 2, "none later than `now`");
    }

    #[tokio::test]
    async fn the_oldest_queued_message_is_the_oldest_with_a_recipient_waiting_or_in_delivery() {
        let (_d, s) = store().await;
        assert_eq!(s.oldest_queued().await.unwrap(), None, "an empty queue");
        let plan = s.query_plan(OLDEST_QUEUED).await;
        assert!(plan.iter().any(|p| p.contains("messages_pending")), "read in arrival order: {plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN r")), "no scan of the recipients: {plan:?}");
        let mut old = sample_message(&QueueId::generate(), 10, 1);
        old.info.received_at = 500;
        old.held = true;
        let mut newer = sample_message(&QueueId::generate(), 10, 1);
        newer.info.received_at = 700;
        let mut newest = sample_message(&QueueId::generate(), 10, 1);
        newest.info.received_at = 900;
        s.insert_messages(&[old, newer.clone(), newest]).await.unwrap();
        assert_eq!(s.oldest_queued().await.unwrap(), Some(700), "a held message is not waiting");
        s.claim_due(i64::MAX, 1).await.unwrap();
        assert_eq!(s.oldest_queued().await.unwrap(), Some(700), "one in delivery still counts");
        s.record_outcomes(&[update(&newer.info.id, 0, attempt(800, None, AttemptOutcome::Delivered))], 800)
            .await
            .unwrap();
        assert_eq!(s.oldest_queued().await.unwrap(), Some(900));
    }

    fn link(idx: i64, expires_at: i64) -> NewLink {
        NewLink {
            message_id: "M1".into(),
            idx,
            recipient: format!("r{idx}@example.com"),
            token_hash: format!("t{idx}"),
            access: Access::Otp,
            created_at: 100,
            expires_at,
            max_downloads: 5,
            secret_hash: None,
            hint: None,
        }
    }

    #[tokio::test]
    async fn links_are_counted_active_expired_and_revoked_with_their_downloads_within_the_window() {
        let (_d, s) = store().await;
        let file = LinkFile {
            idx: 0,
            file_id: "ab".repeat(16),
            key: "00".repeat(32),
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            sha256: "cd".repeat(32),
            purged: false,
        };
        let m = LinkMessage {
            message_id: "M1".into(),
            sender: "alice@example.jp".into(),
            subject: "s".into(),
            header_from: String::new(),
            created_at: 100,
            files: vec![file],
            original: None,
            password_hash: None,
        };
        s.put_link_message(&m).await.unwrap();
        for (idx, expires) in [(0, 5000), (1, 4000), (2, 1500), (3, 200), (4, 6000)] {
            s.put_link(&link(idx, expires)).await.unwrap();
        }
        s.revoke_links("M1", Some(4)).await.unwrap();
        for idx in [0, 0, 2, 3] {
            assert!(s.count_download("M1", idx, 0, 5).await.unwrap());
        }
        let c = s.link_counts(2000, 1000).await.unwrap();
        assert_eq!(
            c,
            LinkCounts { active: 2, expired: 1, revoked: 1, downloads: 3 },
            "link 3 ended before the window and its download is not counted"
        );
        let plan = s.query_plan(LINKS).await;
        assert!(plan.iter().any(|p| p.contains("links_expires")), "{plan:?}");

        let event = |at, event| PortalEvent {
            at,
            message_id: "Q1".into(),
            idx: None,
            event,
            client: "local".into(),
            user_agent: "test".into(),
            detail: String::new(),
        };
        s.record_event(&event(100, LinkEvent::QuarantineReleased)).await.unwrap();
        s.record_event(&event(300, LinkEvent::QuarantineReleased)).await.unwrap();
        s.record_event(&event(300, LinkEvent::QuarantineDeleted)).await.unwrap();
        assert_eq!(s.count_events(LinkEvent::QuarantineReleased, 200).await.unwrap(), 1);
        assert_eq!(s.count_events(LinkEvent::QuarantineDeleted, 0).await.unwrap(), 1);
        let plan = s.query_plan(EVENTS).await;
        assert!(plan.iter().any(|p| p.contains("portal_events_event")), "{plan:?}");
    }
}
