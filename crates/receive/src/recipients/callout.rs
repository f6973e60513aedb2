//! The verification callout (Postfix's `reject_unverified_recipient`): an SMTP probe of the
//! internal server, MAIL FROM:<> and RCPT TO, with its answers remembered (known addresses
//! for `callout_positive_ttl`, unknown ones for `callout_negative_ttl`). Only a refusal that
//! says the mailbox does not exist makes an address unknown; anything else the server says,
//! or its silence, is a temporary answer, never a false 550.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sekisho_config::{NextHop, RecipientsConfig};
use sekisho_smtp::RecipientVerdict;
use sekisho_transport::client::probe::ProbeReply;
use sekisho_transport::client::reply::ServerReply;
use sekisho_transport::client::session::{Checks, Connection, SessionError, Target, Timeouts};

use super::cache::VerdictCache;

/// Why a probe got no reply to its RCPT.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unanswered {
    /// The server could not be reached (no address, connection refused, connect timeout).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The dialogue broke off before RCPT was answered, or took too long.
    #[error("no answer: {0}")]
    Broken(String),
}

/// The verdict a probe's outcome gives. Pure.
pub(crate) fn judge(outcome: &Result<ProbeReply, Unanswered>) -> RecipientVerdict {
    match outcome {
        Ok(ProbeReply::Rcpt(r)) if r.is_positive() => RecipientVerdict::Known,
        Ok(ProbeReply::Rcpt(r)) if says_no_such_mailbox(r) => RecipientVerdict::Unknown,
        Ok(_) | Err(Unanswered::Broken(_)) => RecipientVerdict::Unverified,
        Err(Unanswered::Unreachable(_)) => RecipientVerdict::Unreachable,
    }
}

/// A 5xx that speaks of the address itself: 550/551/553, or an enhanced status 5.1.x. A 554
/// 5.7.1 "relay access denied" means the server is not set up for the domain, not that the
/// user is missing.
fn says_no_such_mailbox(r: &ServerReply) -> bool {
    match r.enhanced() {
        Some(status) => status.starts_with("5.1."),
        None => matches!(r.code, 550 | 551 | 553),
    }
}

/// One callout target with its memory.
#[derive(Debug)]
pub(crate) struct Callout {
    host: String,
    port: u16,
    helo: String,
    limit: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: Mutex<VerdictCache>,
}

impl Callout {
    /// A callout to `hop` (bracketed: one host), on `default_port` when it names none.
    pub(crate) fn new(hop: &NextHop, default_port: u16, helo: &str, c: &RecipientsConfig) -> Callout {
        Callout {
            host: hop.host.clone(),
            port: hop.port.unwrap_or(default_port),
            helo: helo.to_string(),
            limit: c.callout_timeout.0,
            positive_ttl: c.callout_positive_ttl.0,
            negative_ttl: c.callout_negative_ttl.0,
            cache: Mutex::new(VerdictCache::default()),
        }
    }

    /// The verdict on `address`: remembered, or asked now.
    pub(crate) async fn verify(&self, address: &str) -> RecipientVerdict {
        if let Some(known) = self.cache().get(address, Instant::now()) {
            return if known { RecipientVerdict::Known } else { RecipientVerdict::Unknown };
        }
        let outcome = match tokio::time::timeout(self.limit, self.probe(address)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Unanswered::Broken(format!("no answer within {:?}", self.limit))),
        };
        let verdict = judge(&outcome);
        match &outcome {
            Ok(ProbeReply::Rcpt(r)) => {
                tracing::info!(address = %address, target = %self.host, reply = %r.one_line(), verdict = ?verdict, "recipient callout")
            }
            Ok(ProbeReply::MailRefused(r)) => {
                tracing::warn!(address = %address, target = %self.host, reply = %r.one_line(), "recipient callout: the null sender was refused")
            }
            Err(e) => tracing::warn!(address = %address, target = %self.host, failure = %e, "recipient callout failed"),
        }
        let now = Instant::now();
        match verdict {
            RecipientVerdict::Known => self.cache().put(address, true, self.positive_ttl, now),
            RecipientVerdict::Unknown => self.cache().put(address, false, self.negative_ttl, now),
            RecipientVerdict::Unverified | RecipientVerdict::Unreachable | RecipientVerdict::Throttled => {}
        }
        verdict
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VerdictCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn probe(&self, address: &str) -> Result<ProbeReply, Unanswered> {
        let ip = match self.host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip())
                .ok_or_else(|| Unanswered::Unreachable(format!("{} has no address", self.host)))?,
        };
        let target = Target { host: self.host.clone(), ip, port: self.port };
        let t = Timeouts {
            connect: self.limit,
            greeting: self.limit,
            mail: self.limit,
            rcpt: self.limit,
            data_init: self.limit,
            block: self.limit,
            done: self.limit,
        };
        let mut conn =
            Connection::open(&target, &self.helo, None, None, t, &Checks::default()).await.map_err(|e| match e {
                SessionError::Connect(..) | SessionError::Timeout("connecting") => {
                    Unanswered::Unreachable(e.to_string())
                }
                e => Unanswered::Broken(e.to_string()),
            })?;
        let reply = conn.probe_recipient(address).await.map_err(|e| Unanswered::Broken(e.to_string()));
        // The QUIT is not waited for: the client's RCPT has its answer.
        tokio::spawn(conn.quit());
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(code: u16, text: &str) -> Result<ProbeReply, Unanswered> {
        Ok(ProbeReply::Rcpt(ServerReply { code, lines: vec![text.into()] }))
    }

    #[test]
    fn only_a_refusal_of_the_mailbox_is_unknown() {
        assert_eq!(judge(&rcpt(250, "2.1.5 Ok")), RecipientVerdict::Known);
        assert_eq!(
            judge(&rcpt(550, "5.1.1 <x@corp.test>: Recipient address rejected: User unknown")),
            RecipientVerdict::Unknown
        );
        assert_eq!(judge(&rcpt(550, "No such user")), RecipientVerdict::Unknown);
        assert_eq!(judge(&rcpt(554, "5.7.1 Relay access denied")), RecipientVerdict::Unverified);
        assert_eq!(judge(&rcpt(450, "4.1.1 try later")), RecipientVerdict::Unverified);
        assert_eq!(judge(&rcpt(452, "4.5.3 too many")), RecipientVerdict::Unverified);
        let refused =
            Ok(ProbeReply::MailRefused(ServerReply { code: 550, lines: vec!["5.1.8 no null sender".into()] }));
        assert_eq!(judge(&refused), RecipientVerdict::Unverified, "a refused null sender says nothing of the user");
        assert_eq!(judge(&Err(Unanswered::Broken("lost".into()))), RecipientVerdict::Unverified);
        assert_eq!(judge(&Err(Unanswered::Unreachable("refused".into()))), RecipientVerdict::Unreachable);
    }
}
