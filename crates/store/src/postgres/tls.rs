//! PostgreSQL: what sekisho knows of other domains' transport (downgrade memory, MTA-STS
//! policies, the last session to each MX address) and the evidence `sekisho partners` reads.
//! Every node reads and writes the same rows, so what one node learnt protects all of them.

use async_trait::async_trait;

use super::PgStore;
use crate::error::StoreError;
use crate::model::{PartnerEvidence, ProbeRecord, StsPolicyRecord, TlsMemory};
use crate::rows;
use crate::store::TlsStore;

/// `sqlite_partners.rs`'s statement in PostgreSQL's dialect: the attempts of the window (by
/// `attempts_at`), without mail from the internet, grouped per domain and evidence.
const PARTNERS: &str = "\
SELECT lower(substr(r.address, strpos(r.address, '@') + 1)) AS domain, a.outcome AS outcome, \
       a.variant AS variant, a.evidence::jsonb ->> 'assurance' AS assurance, \
       a.evidence::jsonb ->> 'failure' AS failure, \
       COALESCE((a.evidence::jsonb ->> 'downgrade_suspected')::boolean, FALSE) AS downgrade, \
       (a.variant = 'link' AND a.variant_reason LIKE '%attachments travel inline from%') AS below_policy, \
       (a.at >= $2) AS late, COUNT(*) AS n, MIN(a.at) AS first_at, MAX(a.at) AS last_at \
FROM attempts a \
JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
JOIN messages m ON m.id = a.message_id \
WHERE a.at >= $1 AND a.evidence IS NOT NULL AND a.host <> '' AND m.origin <> 'mx' \
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";

#[async_trait]
impl TlsStore for PgStore {
    async fn tls_memory(&self) -> Result<Vec<TlsMemory>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tls_memory").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(rows::tls_memory).collect())
    }

    async fn remember_tls(&self, m: &TlsMemory) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tls_memory (domain, host, secure_sessions, last_secure_at, authenticated_sessions, \
             last_authenticated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, host) DO UPDATE SET \
             secure_sessions = excluded.secure_sessions, last_secure_at = excluded.last_secure_at, \
             authenticated_sessions = excluded.authenticated_sessions, \
             last_authenticated_at = excluded.last_authenticated_at",
        )
        .bind(&m.domain)
        .bind(&m.host)
        .bind(m.secure_sessions as i64)
        .bind(m.last_secure_at)
        .bind(m.authenticated_sessions as i64)
        .bind(m.last_authenticated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sts_policies(&self) -> Result<Vec<StsPolicyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM sts_policies").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(rows::sts_policy).collect())
    }

    async fn remember_sts_policy(&self, p: &StsPolicyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sts_policies (domain, policy_id, policy, fetched_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, \
             policy = excluded.policy, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
        )
        .bind(&p.domain)
        .bind(&p.policy_id)
        .bind(&p.policy)
        .bind(p.fetched_at)
        .bind(p.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_probe(&self, p: &ProbeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tls_probes (host, ip, port, at, evidence) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (host, ip, port) DO UPDATE SET at = excluded.at, evidence = excluded.evidence",
        )
        .bind(&p.host)
        .bind(&p.ip)
        .bind(p.port as i64)
        .bind(p.at)
        .bind(&p.evidence)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn probes(&self, host: &str, since: i64) -> Result<Vec<ProbeRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tls_probes WHERE host = $1 AND at >= $2 ORDER BY ip, port")
            .bind(host)
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::probe).collect())
    }

    async fn partner_evidence(&self, since: i64, middle: i64) -> Result<Vec<PartnerEvidence>, StoreError> {
        let rows = sqlx::query(PARTNERS).bind(since).bind(middle).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(rows::partner_evidence).collect())
    }
}
