//! Connections to one target: from the pool or new, the plaintext fallback opportunistic TLS
//! allows, the downgrade memory each session updates, and the pool a clean one goes back to.

use sekisho_store::{MessageInfo, RecipientRecord};

use super::{Inner, domains_of, now};
use crate::client::session::{Checks, Connection, SessionError, Target};
use crate::route::Destination;
use crate::tls::{Assurance, TlsEvidence};

impl Inner {
    /// Updates the downgrade memory of the group's domains with this session, flags the
    /// evidence when it looks like a downgrade, and returns whether it does.
    pub(super) fn observe_transport(
        &self,
        info: &MessageInfo,
        rcpts: &[&RecipientRecord],
        target: &Target,
        evidence: &mut TlsEvidence,
    ) -> bool {
        let t = now();
        let domains = domains_of(rcpts);
        let mut flagged = false;
        for domain in domains {
            let (suspected, changed) = self.downgrades.observe(&domain, &target.host, evidence.assurance, t);
            flagged |= suspected;
            if let Some(m) = changed {
                let store = self.queue.stores().tls.clone();
                let row = sekisho_store::TlsMemory {
                    domain,
                    host: target.host.to_ascii_lowercase(),
                    secure_sessions: m.secure_sessions,
                    last_secure_at: m.last_secure_at,
                    authenticated_sessions: m.authenticated_sessions,
                    last_authenticated_at: m.last_authenticated_at,
                };
                tokio::spawn(async move {
                    if let Err(e) = store.remember_tls(&row).await {
                        tracing::error!(error = %e, "cannot store the downgrade memory");
                    }
                });
            }
        }
        // The evidence may belong to a pooled connection used before for other domains.
        evidence.downgrade_suspected = flagged;
        if flagged {
            self.metrics.downgrade_alarm();
            tracing::warn!(
                queue_id = %info.id,
                host = %target.host,
                ip = %target.ip,
                assurance = evidence.assurance.as_str(),
                failure = evidence.failure.as_deref().unwrap_or(""),
                "STARTTLS downgrade suspected: this domain reached TLS before"
            );
        }
        flagged
    }

    /// Counts one TLS session (or a host the policy ruled out) for the domain's TLS-RPT
    /// report; only mail routed by the domain's own MX records counts.
    pub(super) fn count_session(
        &self,
        dest: &Destination,
        target: &Target,
        (policy, failure): (sekisho_store::ReportedPolicy, Option<(String, String)>),
    ) {
        let Destination::Mx { domain, .. } = dest else { return };
        let full = self.sessions.add(now(), domain, &target.host, &target.ip.to_string(), policy, failure);
        if full {
            let rows = self.sessions.take();
            let store = self.queue.stores().reports.clone();
            let again = self.sessions.clone();
            tokio::spawn(async move {
                if let Err(e) = store.count_tls_sessions(&rows).await {
                    tracing::error!(error = %e, "cannot store the TLS session counts");
                    again.restore(rows);
                }
            });
        }
    }

    /// Writes the counted sessions to the store; on failure they stay for the next time.
    pub(super) async fn write_session_counts(&self) {
        let rows = self.sessions.take();
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.queue.stores().reports.count_tls_sessions(&rows).await {
            tracing::error!(error = %e, "cannot store the TLS session counts; keeping them for the next try");
            self.sessions.restore(rows);
        }
    }

    /// A pooled connection to `target` (a clean one: its last transaction ended), or a new one.
    pub(super) async fn connection(
        &self,
        target: &Target,
        dest: &Destination,
        required: Assurance,
        checks: &Checks,
    ) -> Result<(Connection, bool), SessionError> {
        if let Some(c) = self.pool.take(target, self.config.delivery.connection_reuse_time.0) {
            return Ok((c, true));
        }
        self.open(target, dest, required, checks).await.map(|c| (c, false))
    }

    /// Opens a connection. When authentication is required, a certificate that does not prove
    /// the host name aborts the handshake; when any TLS is required there is no plaintext
    /// fallback after a failed handshake.
    pub(super) async fn open(
        &self,
        target: &Target,
        dest: &Destination,
        required: Assurance,
        checks: &Checks,
    ) -> Result<Connection, SessionError> {
        let auth = self.relay_auth(dest);
        let opened = Connection::open(target, &self.helo, Some(&self.tls), auth, self.timeouts, checks).await;
        if let Err(SessionError::Tls(_)) = &opened {
            self.metrics.tls_failure(sekisho_metrics::Direction::Outbound);
        }
        match opened {
            // A failed handshake: opportunistic TLS falls back to plaintext on a new connection.
            Err(SessionError::Tls(e)) if auth.is_none() && required == Assurance::None => {
                tracing::info!(host = %target.host, ip = %target.ip, error = %e, "STARTTLS failed; retrying without TLS");
                let mut c = Connection::open(target, &self.helo, None, None, self.timeouts, &Checks::default()).await?;
                c.evidence =
                    TlsEvidence::plaintext(true, Some(("validation-failure", format!("STARTTLS failed: {e}"))));
                Ok(c)
            }
            other => other,
        }
    }

    pub(super) fn release(&self, conn: Connection) {
        if conn.reusable() && conn.transactions < self.config.delivery.max_messages_per_connection {
            self.pool.put(conn);
        } else {
            tokio::spawn(conn.quit());
        }
    }
}
