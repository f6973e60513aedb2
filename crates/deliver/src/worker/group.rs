//! One delivery of a group of recipients to one destination, in the order it happens:
//! the destination's policy → for each target, a checked connection (plan, connect, pool
//! retry, downgrade check, assurance gate) → the variants planned for that session → the
//! transactions carried over it. When no target takes the mail, the hosts' failures fold into
//! one verdict (`crate::outcome::fold_failures`).

use std::collections::VecDeque;

use sekisho_config::DowngradeAction;
use sekisho_store::{MessageInfo, RecipientRecord};

use super::carry::Carried;
use super::{DAMAGED, Inner, now};
use crate::client::session::{Checks, Connection, SessionError, Target};
use crate::destination::{DomainPolicy, PolicySources, below_required, record_dane};
use crate::outcome::{HostFailure, RcptResult, Verdict, fold_failures, status_of};
use crate::requiretls;
use crate::resolve::resolve;
use crate::route::Destination;
use crate::tls::plan::{HostDane, HostPlan};
use crate::tls::{Assurance, TlsEvidence};
use crate::tlsrpt;
use crate::variants::Files;

/// A connection that passed every check for the recipients at hand.
pub(super) struct Checked {
    pub conn: Connection,
    /// Taken from the pool (it may have been closed by the server meanwhile).
    pub reused: bool,
}

/// Why a target gave no usable connection.
enum NoConnection {
    /// This host failed; the next one is tried.
    Failed(Box<HostFailure>),
    /// A pooled connection does not fit: a fresh one to the same target is tried.
    Fresh,
}

impl Inner {
    /// Delivers message `info` to `rcpts`, all routed to `dest`, and says what became of each.
    pub(super) async fn deliver_group(
        &self,
        info: &MessageInfo,
        files: &Files,
        dest: &Destination,
        rcpts: &[&RecipientRecord],
    ) -> Vec<RcptResult> {
        let all = |verdict: Verdict, at: Option<(Target, Option<String>)>, evidence: Option<&_>| {
            rcpts.iter().map(|r| RcptResult::new(r.idx, verdict.clone(), at.clone(), evidence.cloned())).collect()
        };
        let body = files.spooled();
        if let Err(verdict) = self.body_intact(info, files) {
            return all(verdict, None, None);
        }
        if *dest == Destination::Reports {
            return all(self.keep_report(info, body).await, None, None);
        }
        let targets = match resolve(self.dns.as_ref(), dest).await {
            Ok(t) => t,
            Err(f) if f.temporary => {
                self.metrics.dns_error();
                return all(Verdict::deferred(f.status, f.reason), None, None);
            }
            Err(f) => return all(Verdict::Bounced { status: f.status.into(), reason: f.reason }, None, None),
        };
        let slots = self.destination_slots(dest);
        // Waiting long for a busy destination would hold this claim while mail for others
        // waits behind it: after `destination_wait` the recipients go back to the queue.
        let _dest_slot = match tokio::time::timeout(self.config.delivery.destination_wait.0, slots.acquire()).await {
            Ok(permit) => permit.expect("semaphore open"),
            Err(_) => return all(Verdict::Busy, None, None),
        };
        // Policies are looked up holding the destination slot, so a slow policy host or DNS
        // answer holds up only this destination.
        let mut policy = match self.domain_policy(dest).await {
            Ok(p) => p,
            Err(verdict) => return all(verdict, None, None),
        };
        let smart_host = self.smart_host(info, dest, files, rcpts).await;
        self.prepare(info, files, rcpts, &targets, smart_host.as_ref()).await;
        let required = self.required(info, rcpts);
        let mut failures: Vec<HostFailure> = Vec::new();
        // (target, fresh connection only): a pooled connection found closed is replaced by a
        // fresh one that goes through every check again.
        let mut todo: VecDeque<(&Target, bool)> = targets.iter().map(|t| (t, false)).collect();
        while let Some((target, fresh_only)) = todo.pop_front() {
            let checked =
                match self.checked_connection(info, rcpts, dest, target, fresh_only, required, &mut policy).await {
                    Ok(c) => c,
                    Err(NoConnection::Failed(f)) => {
                        failures.push(*f);
                        continue;
                    }
                    Err(NoConnection::Fresh) => {
                        todo.push_front((target, true));
                        continue;
                    }
                };
            match self.carry(info, files, smart_host.as_ref(), rcpts, target, checked).await {
                Carried::Done(results) => return results,
                Carried::RetryFresh => todo.push_front((target, true)),
                Carried::HostFailed(f) => failures.push(*f),
            }
        }
        if failures.is_empty() {
            failures.push(HostFailure::temporary("4.4.1", "no host could be reached".into(), &targets[0], None, None));
        }
        let (verdict, last) = fold_failures(&failures).expect("at least one failure");
        all(verdict, Some((last.target.clone(), last.tls.clone())), last.evidence.as_ref())
    }

    /// The body (`Queue::local_body`) is there with its recorded size, or the recipients wait
    /// for the administrator.
    fn body_intact(&self, info: &MessageInfo, files: &Files) -> Result<(), Verdict> {
        if files.body_in_memory() {
            return Ok(());
        }
        match std::fs::metadata(files.spooled()) {
            Ok(m) if m.len() == info.size => Ok(()),
            _ => {
                tracing::error!(queue_id = %info.id, "spooled body missing or damaged; not delivering it");
                Err(Verdict::deferred("4.3.0", DAMAGED.into()))
            }
        }
    }

    /// One transaction carries every recipient of the group: it needs the strongest assurance
    /// any of their domains requires, and at least what the message itself requires (a code
    /// mail under `[portal] code_min_assurance`).
    /// What the sender asked (RFC 8689, `crate::requiretls::required`) raises it to
    /// `authenticated` (REQUIRETLS) or waives the configured part (`TLS-Required: No`).
    fn required(&self, info: &MessageInfo, rcpts: &[&RecipientRecord]) -> Assurance {
        requiretls::required(info.sender_tls, self.configured(rcpts), info.required_tls)
    }

    /// The strongest `[[outbound.tls]]` level among the recipients' domains.
    fn configured(&self, rcpts: &[&RecipientRecord]) -> Assurance {
        rcpts
            .iter()
            .map(|r| self.config.outbound.required_for(r.address.rsplit_once('@').map_or("", |(_, d)| d)))
            .max()
            .unwrap_or(Assurance::None)
    }

    /// The destination's policies: MTA-STS and DANE apply to mail routed by the recipient
    /// domain's MX records; other routes have none.
    async fn domain_policy(&self, dest: &Destination) -> Result<DomainPolicy, Verdict> {
        let Destination::Mx { domain, .. } = dest else { return Ok(DomainPolicy::default()) };
        let src = PolicySources {
            dns: self.dns.as_ref(),
            dnssec: &self.dnssec,
            sts: &self.sts,
            tls: &self.tls,
            sts_enabled: self.config.mta_sts.enabled,
        };
        let policy = DomainPolicy::lookup(&src, domain, now()).await;
        match &policy.hold {
            Some(hold) => Err(Verdict::deferred(hold.status(), hold.reason(domain))),
            None => Ok(policy),
        }
    }

    /// A connection to `target` that reached what this host must prove for `rcpts`: planned
    /// from the domain's policy, taken from the pool or opened, checked for a downgrade, and
    /// gated on the required assurance. Not a byte of the message goes to a host that fails.
    #[allow(clippy::too_many_arguments)]
    async fn checked_connection(
        &self,
        info: &MessageInfo,
        rcpts: &[&RecipientRecord],
        dest: &Destination,
        target: &Target,
        fresh_only: bool,
        required: Assurance,
        policy: &mut DomainPolicy,
    ) -> Result<Checked, NoConnection> {
        let waive = requiretls::waives_policy(info.sender_tls);
        let planned = match policy.host(self.dns.as_ref(), &target.host, target.port, required).await {
            // `TLS-Required: No`: opportunistic TLS whatever the domain's policy asks of the host.
            (dane, _) if waive => (dane, HostPlan::Try { required, checks: Checks::default() }),
            planned => planned,
        };
        let (host_dane, required, checks) = match planned {
            (dane, HostPlan::Skip { reason }) => {
                tracing::warn!(queue_id = %info.id, host = %target.host, %reason, "MX host not used");
                let dane_failure = match &dane {
                    HostDane::Unusable { failure, .. } => Some(*failure),
                    _ => None,
                };
                self.count_session(dest, target, tlsrpt::skipped(policy.sts.as_ref(), dane_failure, &reason));
                return Err(NoConnection::Failed(Box::new(HostFailure::temporary(
                    "4.7.5", reason, target, None, None,
                ))));
            }
            (dane, HostPlan::Try { required, checks }) => (dane, required, checks),
        };
        let _slot = self.connections.acquire().await.expect("semaphore open");
        let got = if fresh_only {
            self.open(target, dest, required, &checks).await.map(|c| (c, false))
        } else {
            self.connection(target, dest, required, &checks).await
        };
        let (mut conn, reused) = match got {
            Ok(c) => c,
            Err(e) => {
                return Err(NoConnection::Failed(Box::new(
                    self.connect_failure(info, dest, target, required, policy, e),
                )));
            }
        };
        if waive {
            // What DNS published, not held against a session that was not asked to meet it.
            conn.evidence.set_dane(host_dane.evidence());
        } else {
            record_dane(&mut conn.evidence, &host_dane);
        }
        conn.evidence.apply_sts(policy.sts.as_ref(), &target.host);
        if waive {
            let domain = match dest {
                Destination::Mx { domain, .. } if policy.enforced().is_some() => Some(domain.as_str()),
                _ => None,
            };
            let dane = matches!(host_dane, HostDane::Applies(_) | HostDane::NoneUsable(_));
            conn.evidence.waived = Some(requiretls::waived(self.configured(rcpts), domain, dane, &conn.evidence));
        } else {
            // A pooled connection may have carried a `TLS-Required: No` message before.
            conn.evidence.waived = None;
        }
        if !reused {
            self.probes.observe(target, &conn.evidence, now());
        }
        if reused && conn.evidence.assurance < required {
            // Opened for other mail with other checks: a fresh connection goes through these.
            tokio::spawn(conn.quit());
            return Err(NoConnection::Fresh);
        }
        // Once per session and recipient domain: a pooled session first used for another
        // domain counts for this one now, under this domain's policy.
        if let Destination::Mx { domain, .. } = dest
            && !conn.reported_for.iter().any(|d| d.eq_ignore_ascii_case(domain))
        {
            conn.reported_for.push(domain.clone());
            self.count_session(dest, target, tlsrpt::classify(policy.sts.as_ref(), &conn.evidence));
        }
        if requiretls::requires_tls(info.sender_tls)
            && let Err(reason) = requiretls::gate(target, &conn.evidence, conn.caps.requiretls)
        {
            tracing::warn!(queue_id = %info.id, host = %target.host, ip = %target.ip, %reason, "REQUIRETLS not met");
            let failure = HostFailure {
                permanent: true,
                status: requiretls::STATUS.into(),
                reason,
                target: target.clone(),
                tls: conn.tls_summary(),
                evidence: Some(conn.evidence.clone()),
            };
            tokio::spawn(conn.quit());
            return Err(NoConnection::Failed(Box::new(failure)));
        }
        let downgrade = self.observe_transport(info, rcpts, target, &mut conn.evidence);
        if downgrade && !waive && self.config.outbound.downgrade_action == DowngradeAction::Defer {
            let reason = format!(
                "{}[{}]: STARTTLS downgrade suspected: the domain reached TLS in recent deliveries, this session \
                 reached {}; the mail waits",
                target.host,
                target.ip,
                conn.evidence.assurance.as_str()
            );
            let failure = HostFailure::temporary("4.7.5", reason, target, None, Some(conn.evidence.clone()));
            tokio::spawn(conn.quit());
            return Err(NoConnection::Failed(Box::new(failure)));
        }
        if let Some(reason) = below_required(target, required, &conn.evidence) {
            // Below the required assurance: not a byte of the message goes to this host.
            tracing::warn!(queue_id = %info.id, host = %target.host, ip = %target.ip, %reason, "TLS policy not met");
            let failure =
                HostFailure::temporary("4.7.5", reason, target, conn.tls_summary(), Some(conn.evidence.clone()));
            tokio::spawn(conn.quit());
            return Err(NoConnection::Failed(Box::new(failure)));
        }
        Ok(Checked { conn, reused })
    }

    /// How a failed connection attempt counts: a certificate the policy refused is a TLS
    /// failure with its evidence kept; a permanent greeting refusal is permanent; anything else
    /// is a temporary failure of this host.
    fn connect_failure(
        &self,
        info: &MessageInfo,
        dest: &Destination,
        target: &Target,
        required: Assurance,
        policy: &DomainPolicy,
        e: SessionError,
    ) -> HostFailure {
        match e {
            SessionError::CertificateRefused(mut evidence) => {
                evidence.apply_sts(policy.sts.as_ref(), &target.host);
                self.probes.observe(target, &evidence, now());
                self.count_session(dest, target, tlsrpt::classify(policy.sts.as_ref(), &evidence));
                let reason = format!(
                    "{}[{}]: TLS required: {}; {}",
                    target.host,
                    target.ip,
                    required.as_str(),
                    SessionError::CertificateRefused(evidence.clone())
                );
                tracing::warn!(queue_id = %info.id, host = %target.host, ip = %target.ip, %reason, "TLS policy not met");
                if requiretls::requires_tls(info.sender_tls) {
                    // The certificate does not prove the host's name: REQUIRETLS fails here.
                    let reason = format!("REQUIRETLS: {reason}");
                    return HostFailure {
                        permanent: true,
                        status: requiretls::STATUS.into(),
                        reason,
                        target: target.clone(),
                        tls: None,
                        evidence: Some(*evidence),
                    };
                }
                HostFailure::temporary("4.7.5", reason, target, None, Some(*evidence))
            }
            e => {
                // A failed TLS handshake where TLS is required: a failed session of the
                // domain's policy (opportunistic TLS fell back to plaintext and was counted).
                if let SessionError::Tls(detail) = &e {
                    let evidence = TlsEvidence::plaintext(true, Some(("validation-failure", detail.clone())));
                    self.count_session(dest, target, tlsrpt::classify(policy.sts.as_ref(), &evidence));
                } else if matches!(e, SessionError::Timeout("in the TLS handshake")) {
                    let why = "the TLS handshake timed out".to_string();
                    let evidence = TlsEvidence::plaintext(true, Some(("validation-failure", why)));
                    self.count_session(dest, target, tlsrpt::classify(policy.sts.as_ref(), &evidence));
                }
                let permanent = e.permanent_reply().is_some();
                let status = e.permanent_reply().map_or("4.4.1".to_string(), status_of);
                tracing::info!(queue_id = %info.id, host = %target.host, ip = %target.ip, error = %e, "connection failed");
                let reason = format!("{}[{}]: {e}", target.host, target.ip);
                HostFailure { permanent, status, reason, target: target.clone(), tls: None, evidence: None }
            }
        }
    }
}
