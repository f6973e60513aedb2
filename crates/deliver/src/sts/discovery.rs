//! Policy discovery (RFC 8461 §3 and §5.1): the `_mta-sts` TXT record says which policy is
//! current; a cached policy with that id is used as is, a new id is fetched, and a fetch that
//! fails leaves a cached, unexpired policy in force. Policies are kept in the store, so they
//! survive restarts. Concurrent deliveries to one domain fetch once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sekisho_dns::{Dns, DnsError};
use sekisho_store::{QueueStore, StsPolicyRecord};
use serde::{Deserialize, Serialize};

use super::fetch::{FetchError, FetchSettings, fetch};
use super::policy::{Mode, Policy};
use super::record::{RecordError, policy_id};
use crate::tls::TlsClient;

/// A policy in force for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePolicy {
    pub id: String,
    pub policy: Policy,
    pub fetched_at: i64,
    pub expires_at: i64,
}

/// What discovery found for a domain, as recorded with each delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsDiscovery {
    /// The policy in force, if any.
    pub policy_id: Option<String>,
    pub mode: Option<Mode>,
    pub mx: Vec<String>,
    /// `fetched`, `cache`, or `none`.
    pub source: String,
    /// RFC 8460 result type of a discovery failure (a cached policy may still be in force).
    pub failure: Option<String>,
    pub detail: Option<String>,
}

/// Discovery's answer: the policy to apply and the account of how it was found.
#[derive(Debug, Clone)]
pub struct StsLookup {
    pub active: Option<ActivePolicy>,
    pub discovery: StsDiscovery,
}

impl StsLookup {
    /// The policy, when it binds or reports (mode `none` does neither).
    pub fn policy(&self) -> Option<&Policy> {
        self.active.as_ref().map(|a| &a.policy).filter(|p| p.mode != Mode::None)
    }
}

#[derive(Default)]
struct DomainState {
    cached: Option<ActivePolicy>,
    /// (TXT id, unix seconds) of the last failed fetch: not fetched again for a while.
    failed: Option<(String, i64, FetchError)>,
}

/// Policies of every domain mail went to; shared by all deliveries.
pub struct StsPolicies {
    settings: FetchSettings,
    retry_after_failure: i64,
    store: Option<Arc<dyn QueueStore>>,
    domains: Mutex<HashMap<String, Arc<tokio::sync::Mutex<DomainState>>>>,
}

impl StsPolicies {
    /// Discovery with `settings`; policies are kept in `store` when given (the checker runs
    /// without one).
    pub fn new(settings: FetchSettings, retry_after_failure: i64, store: Option<Arc<dyn QueueStore>>) -> Self {
        StsPolicies { settings, retry_after_failure, store, domains: Mutex::new(HashMap::new()) }
    }

    /// Adds the policies the store kept from earlier runs.
    pub async fn load(&self) {
        let Some(store) = &self.store else { return };
        match store.sts_policies().await {
            Ok(rows) => {
                for row in rows {
                    let Ok(policy) = Policy::parse(&row.policy) else { continue };
                    let state = self.state(&row.domain);
                    state.lock().await.cached = Some(ActivePolicy {
                        id: row.policy_id,
                        policy,
                        fetched_at: row.fetched_at,
                        expires_at: row.expires_at,
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the cached MTA-STS policies"),
        }
    }

    fn state(&self, domain: &str) -> Arc<tokio::sync::Mutex<DomainState>> {
        self.domains.lock().expect("sts domains").entry(domain.to_string()).or_default().clone()
    }

    /// The policy in force for `domain` at `now`.
    pub async fn lookup(&self, dns: &dyn Dns, tls: &TlsClient, domain: &str, now: i64) -> StsLookup {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let state = self.state(&domain);
        let mut state = state.lock().await;
        let cached = state.cached.clone().filter(|c| c.expires_at > now);
        let announced = match dns.txt(&format!("_mta-sts.{domain}")).await {
            Ok(records) => policy_id(&records),
            Err(DnsError::NoSuchDomain(_) | DnsError::NoRecords(..)) => Err(RecordError::Missing),
            Err(e) => {
                // The record could not be read now: a cached policy stays in force.
                return answer(cached, "cache", Some(("sts-policy-fetch-error", e.to_string())));
            }
        };
        let id = match announced {
            Ok(id) => id,
            // No (valid) record: a cached policy stays in force until it expires (§5.1).
            Err(RecordError::Missing) => return answer(cached, "cache", None),
            Err(e) => return answer(cached, "cache", Some(("sts-policy-invalid", format!("_mta-sts.{domain}: {e}")))),
        };
        if let Some(c) = cached.as_ref().filter(|c| c.id == id) {
            return answer(Some(c.clone()), "cache", None);
        }
        if let Some((failed_id, at, e)) = &state.failed
            && *failed_id == id
            && now - at < self.retry_after_failure
        {
            return answer(cached, "cache", Some((e.kind, e.detail.clone())));
        }
        match fetch(dns, tls, &domain, self.settings).await {
            Ok((policy, text)) => {
                let active =
                    ActivePolicy { id: id.clone(), expires_at: now + policy.max_age as i64, policy, fetched_at: now };
                state.cached = Some(active.clone());
                state.failed = None;
                if let Some(store) = &self.store {
                    let row = StsPolicyRecord {
                        domain: domain.clone(),
                        policy_id: id,
                        policy: text,
                        fetched_at: now,
                        expires_at: active.expires_at,
                    };
                    if let Err(e) = store.remember_sts_policy(&row).await {
                        tracing::error!(domain = %domain, error = %e, "cannot store the MTA-STS policy");
                    }
                }
                tracing::info!(domain = %domain, id = %active.id, mode = active.policy.mode.as_str(), "MTA-STS policy fetched");
                answer(Some(active), "fetched", None)
            }
            Err(e) => {
                tracing::warn!(domain = %domain, error = %e, "MTA-STS policy fetch failed");
                let failure = (e.kind, e.detail.clone());
                state.failed = Some((id, now, e));
                answer(cached, "cache", Some(failure))
            }
        }
    }
}

fn answer(active: Option<ActivePolicy>, source: &'static str, failure: Option<(&str, String)>) -> StsLookup {
    let (failure, detail) = failure.map_or((None, None), |(k, d)| (Some(k.to_string()), Some(d)));
    let discovery = StsDiscovery {
        policy_id: active.as_ref().map(|a| a.id.clone()),
        mode: active.as_ref().map(|a| a.policy.mode),
        mx: active.as_ref().map(|a| a.policy.mx.clone()).unwrap_or_default(),
        source: if active.is_some() { source } else { "none" }.to_string(),
        failure,
        detail,
    };
    StsLookup { active, discovery }
}
