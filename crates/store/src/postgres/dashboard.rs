//! PostgreSQL: what the administrator's dashboard reads (`crate::dashboard`), the same
//! statements as `sqlite_dashboard.rs` in PostgreSQL's dialect, bounded by the same indexes
//! (`attempts_at`, `messages_pending`, `links_expires`, `portal_events_event`).

use sqlx::Row;

use super::PgStore;
use crate::dashboard::{AssuranceCount, LinkCounts, RecentDelivery};
use crate::error::StoreError;
use crate::links::LinkEvent;

const RECENT: &str = "\
SELECT a.message_id AS message_id, a.at AS at, lower(substr(r.address, strpos(r.address, '@') + 1)) AS domain, \
       m.origin AS origin, (a.evidence::jsonb)->>'assurance' AS assurance, a.tls AS tls, a.outcome AS outcome \
FROM attempts a \
JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
JOIN messages m ON m.id = a.message_id \
WHERE a.at <= $1 \
ORDER BY a.at DESC, a.seq DESC LIMIT $2";

const BY_ASSURANCE: &str = "\
SELECT (a.at - $1) / $3 AS bucket, (a.evidence::jsonb)->>'assurance' AS assurance, COUNT(*)::BIGINT AS n \
FROM attempts a \
JOIN messages m ON m.id = a.message_id \
WHERE a.at >= $1 AND a.at < $2 AND a.outcome = 'delivered' AND m.origin != 'mx' \
GROUP BY 1, 2";

const OLDEST_QUEUED: &str = "\
SELECT m.received_at AS oldest FROM messages m \
WHERE m.done_at IS NULL AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id \
AND r.state IN ('queued', 'active')) \
ORDER BY m.received_at LIMIT 1";

const LINKS: &str = "\
SELECT COALESCE(SUM(CASE WHEN NOT l.revoked AND l.expires_at > $1 THEN 1 ELSE 0 END), 0)::BIGINT AS active, \
       COALESCE(SUM(CASE WHEN NOT l.revoked AND l.expires_at <= $1 THEN 1 ELSE 0 END), 0)::BIGINT AS expired, \
       COALESCE(SUM(CASE WHEN l.revoked THEN 1 ELSE 0 END), 0)::BIGINT AS revoked, \
       COALESCE(SUM((SELECT SUM(d.count) FROM link_downloads d \
                     WHERE d.message_id = l.message_id AND d.idx = l.idx)), 0)::BIGINT AS downloads \
FROM links l WHERE l.expires_at >= $2";

const EVENTS: &str = "SELECT COUNT(*)::BIGINT AS n FROM portal_events WHERE event = $1 AND at >= $2";

impl PgStore {
    pub(crate) async fn recent_deliveries_of(&self, now: i64, limit: u32) -> Result<Vec<RecentDelivery>, StoreError> {
        let rows = sqlx::query(RECENT).bind(now).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(crate::dashboard::recent_delivery).collect())
    }

    pub(crate) async fn delivered_by_assurance_of(
        &self,
        since: i64,
        until: i64,
        width: i64,
    ) -> Result<Vec<AssuranceCount>, StoreError> {
        let rows = sqlx::query(BY_ASSURANCE).bind(since).bind(until).bind(width.max(1)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(crate::dashboard::assurance_count).collect())
    }

    pub(crate) async fn oldest_queued_of(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(OLDEST_QUEUED).fetch_optional(&self.pool).await?)
    }

    pub(crate) async fn link_counts_of(&self, now: i64, since: i64) -> Result<LinkCounts, StoreError> {
        let r = sqlx::query(LINKS).bind(now).bind(since).fetch_one(&self.pool).await?;
        Ok(crate::dashboard::link_counts(&r))
    }

    pub(crate) async fn count_events_of(&self, event: LinkEvent, since: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(EVENTS).bind(event.as_str()).bind(since).fetch_one(&self.pool).await?.get("n");
        Ok(n.max(0) as u64)
    }
}
