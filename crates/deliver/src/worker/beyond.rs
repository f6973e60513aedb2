//! Before mail leaves through the smart host: what sekisho's own probe knows of each recipient
//! domain's MX hosts — fresh sessions from the probe cache, else a new probe, whose sessions
//! then go into the cache — for the probe-based inline-or-link decision. Taken before the
//! connection to the smart host, never while it is held.

use std::collections::BTreeMap;

use sekisho_config::SmartHostAttachments;
use sekisho_store::{MessageInfo, RecipientRecord};

use super::{Inner, domains_of, now};
use crate::check::{Checker, probe_timeouts, recipient_mx};
use crate::client::session::Target;
use crate::decide::RecipientMx;
use crate::route::Destination;
use crate::tls::Assurance;
use crate::variants::{Files, SmartHost};

/// How long the probe of one recipient domain may hold a delivery through the smart host.
const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// How long a probe's answer is reused for the next messages to the same domain.
const PROBE_REUSE: std::time::Duration = std::time::Duration::from_secs(300);

impl Inner {
    /// The smart-host decision's inputs for `rcpts` (routed to `dest`); None when `dest` is not
    /// the smart host or the message carries no files.
    pub(super) async fn smart_host(
        &self,
        info: &MessageInfo,
        dest: &Destination,
        files: &Files,
        rcpts: &[&RecipientRecord],
    ) -> Option<SmartHost> {
        let mode = self.config.outbound.smart_host_attachments;
        if !dest.is_relay() || !files.may_have() {
            return None;
        }
        let mut probes = BTreeMap::new();
        if mode == SmartHostAttachments::Probe {
            let mut domains = domains_of(rcpts);
            domains.retain(|d| !self.config.is_local(d));
            let store = self.queue.stores().tls.clone();
            let checker = Checker {
                dns: self.dns.as_ref(),
                tls: &self.tls,
                sts: &self.sts,
                dnssec: &self.dnssec,
                cache: Some((store.as_ref(), self.config.outbound.probe_cache_ttl.0.as_secs() as i64)),
                helo: &self.helo,
                port: self.config.delivery.port,
                sts_enabled: self.config.mta_sts.enabled,
                timeouts: probe_timeouts(&self.config.delivery),
                // Delivery goes wherever the MX records say.
                reach: sekisho_transport::public::Reach::Any,
            };
            for domain in domains {
                if let Some(known) = self.recent_probe(&domain) {
                    probes.insert(domain, known);
                    continue;
                }
                // A gateway that may not reach port 25 itself (common behind a smart host) must
                // not hold every delivery for connection timeouts: the probe has a budget, and
                // its answer, good or bad, is reused for a while.
                let Ok(check) = tokio::time::timeout(PROBE_BUDGET, checker.check_mx(&domain, Assurance::None)).await
                else {
                    let why =
                        format!("sekisho could not probe the recipient's MX hosts within {} s", PROBE_BUDGET.as_secs());
                    let found = RecipientMx { assurance: Assurance::None, why: Some(why) };
                    self.remember_probe(&domain, &found);
                    probes.insert(domain, found);
                    continue;
                };
                // New probe sessions keep the cache fresh for the next message and for `check`.
                for host in &check.hosts {
                    for a in host.addresses.iter().filter(|a| a.cached_at.is_none()) {
                        if let (Some(evidence), Ok(ip)) = (&a.evidence, a.ip.parse()) {
                            let target = Target { host: host.host.clone(), ip, port: a.port };
                            self.probes.observe(&target, evidence, now());
                        }
                    }
                }
                let found = recipient_mx(check.problem.as_ref().map_or(Ok(check.hosts.as_slice()), Err));
                tracing::info!(
                    queue_id = %info.id,
                    domain = %domain,
                    assurance = found.assurance.as_str(),
                    why = found.why.as_deref().unwrap_or(""),
                    "recipient MX hosts probed for mail through the smart host"
                );
                self.remember_probe(&domain, &found);
                probes.insert(domain, found);
            }
        }
        Some(SmartHost { mode, probes })
    }

    /// What a probe of `domain` found within `PROBE_REUSE`, if one did.
    fn recent_probe(&self, domain: &str) -> Option<RecipientMx> {
        let map = self.smart_probes.lock().expect("smart-host probes");
        map.get(domain).filter(|(at, _)| now() - at < PROBE_REUSE.as_secs() as i64).map(|(_, found)| found.clone())
    }

    fn remember_probe(&self, domain: &str, found: &RecipientMx) {
        let mut map = self.smart_probes.lock().expect("smart-host probes");
        let t = now();
        map.retain(|_, (at, _)| t - *at < PROBE_REUSE.as_secs() as i64);
        map.insert(domain.to_string(), (t, found.clone()));
    }
}
