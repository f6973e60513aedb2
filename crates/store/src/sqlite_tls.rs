//! SQLite: what sekisho knows of other domains' transport (downgrade memory, MTA-STS, probes).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{ProbeRecord, StsPolicyRecord, TlsMemory};
use crate::rows;
use crate::sqlite::SqliteStore;
use crate::store::TlsStore;

#[async_trait]
impl TlsStore for SqliteStore {
    async fn tls_memory(&self) -> Result<Vec<TlsMemory>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tls_memory").fetch_all(&self.reader).await?;
        Ok(rows.iter().map(rows::tls_memory).collect())
    }

    async fn remember_tls(&self, m: &TlsMemory) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tls_memory (domain, host, secure_sessions, last_secure_at, authenticated_sessions, \
             last_authenticated_at) VALUES (?,?,?,?,?,?) ON CONFLICT(domain, host) DO UPDATE SET \
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
        .execute(&mut *self.write_conn(false).await?)
        .await?;
        Ok(())
    }

    async fn sts_policies(&self) -> Result<Vec<StsPolicyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM sts_policies").fetch_all(&self.reader).await?;
        Ok(rows.iter().map(rows::sts_policy).collect())
    }

    async fn remember_sts_policy(&self, p: &StsPolicyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sts_policies (domain, policy_id, policy, fetched_at, expires_at) VALUES (?,?,?,?,?) \
             ON CONFLICT(domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy, \
             fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
        )
        .bind(&p.domain)
        .bind(&p.policy_id)
        .bind(&p.policy)
        .bind(p.fetched_at)
        .bind(p.expires_at)
        .execute(&mut *self.write_conn(false).await?)
        .await?;
        Ok(())
    }

    async fn record_probe(&self, p: &ProbeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tls_probes (host, ip, port, at, evidence) VALUES (?,?,?,?,?) \
             ON CONFLICT(host, ip, port) DO UPDATE SET at = excluded.at, evidence = excluded.evidence",
        )
        .bind(&p.host)
        .bind(&p.ip)
        .bind(p.port as i64)
        .bind(p.at)
        .bind(&p.evidence)
        .execute(&mut *self.write_conn(false).await?)
        .await?;
        Ok(())
    }

    async fn probes(&self, host: &str, since: i64) -> Result<Vec<ProbeRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tls_probes WHERE host = ? AND at >= ? ORDER BY ip, port")
            .bind(host)
            .bind(since)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(rows::probe).collect())
    }

    async fn partner_evidence(&self, since: i64, middle: i64) -> Result<Vec<crate::PartnerEvidence>, StoreError> {
        crate::sqlite_partners::partner_evidence(self, since, middle).await
    }
}
