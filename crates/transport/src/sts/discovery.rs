//! Policy discovery (RFC 8461 §3 and §5.1): the `_mta-sts` TXT record says which policy is
//! current; a cached policy with that id is used as is, a new id is fetched, and a fetch that
//! fails leaves a cached, unexpired policy in force. Policies are kept in the store, so they
//! survive restarts. Concurrent deliveries to one domain fetch once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sekisho_dns::{Dns, DnsError};
use sekisho_store::{StsPolicyRecord, TlsStore};
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
    /// No lookup made: `[mta_sts] enabled = false`.
    pub fn disabled() -> StsLookup {
        StsLookup {
            active: None,
            discovery: StsDiscovery {
                policy_id: None,
                mode: None,
                mx: Vec::new(),
                source: "disabled".into(),
                failure: None,
                detail: None,
            },
        }
    }

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
    /// Unix seconds and reason of the last failed TXT lookup: not asked again for a while.
    txt_failed: Option<(i64, String)>,
}

/// Seconds a failed `_mta-sts` TXT lookup is remembered (so deliveries do not queue up behind
/// a slow DNS answer).
const TXT_RETRY: i64 = 60;

/// Age after which a cached policy is fetched again even though its id is unchanged, so it is
/// renewed well before it expires and a policy host blocked at that moment cannot make it lapse.
fn refresh_after(max_age: u64) -> i64 {
    (max_age as i64 / 2).clamp(60, 86_400)
}

/// Policies of every domain mail went to; shared by all deliveries.
pub struct StsPolicies {
    settings: FetchSettings,
    retry_after_failure: i64,
    store: Option<Arc<dyn TlsStore>>,
    domains: Mutex<HashMap<String, Arc<tokio::sync::Mutex<DomainState>>>>,
}

impl StsPolicies {
    /// Discovery with `settings`; policies are kept in `store` when given (the checker runs
    /// without one).
    pub fn new(settings: FetchSettings, retry_after_failure: i64, store: Option<Arc<dyn TlsStore>>) -> Self {
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
        if let Some((at, why)) = &state.txt_failed
            && now - at < TXT_RETRY
        {
            return answer(cached, "cache", Some(("sts-policy-fetch-error", why.clone())));
        }
        let announced = match dns.txt(&format!("_mta-sts.{domain}")).await {
            Ok(records) => policy_id(&records),
            Err(DnsError::NoSuchDomain(_) | DnsError::NoRecords(..)) => Err(RecordError::Missing),
            Err(e) => {
                // The record could not be read now: a cached policy stays in force.
                state.txt_failed = Some((now, e.to_string()));
                return answer(cached, "cache", Some(("sts-policy-fetch-error", e.to_string())));
            }
        };
        state.txt_failed = None;
        let id = match announced {
            Ok(id) => id,
            // No (valid) record: a cached policy stays in force until it expires (§5.1).
            Err(RecordError::Missing) => return answer(cached, "cache", None),
            Err(e) => return answer(cached, "cache", Some(("sts-policy-invalid", format!("_mta-sts.{domain}: {e}")))),
        };
        if let Some(c) = cached.as_ref().filter(|c| c.id == id && now - c.fetched_at < refresh_after(c.policy.max_age))
        {
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use sekisho_dns::{MxAnswer, Secured, Tlsa};

    use super::*;

    /// DNS with one `_mta-sts` answer and no addresses (so every fetch fails).
    struct Txt {
        answer: Result<Vec<String>, DnsError>,
        queries: AtomicUsize,
    }

    #[async_trait]
    impl Dns for Txt {
        async fn mx(&self, _: &str) -> Result<MxAnswer, DnsError> {
            Ok(MxAnswer::Implicit)
        }
        async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
            Err(DnsError::NoRecords(host.into(), "A/AAAA"))
        }
        async fn txt(&self, _: &str) -> Result<Vec<String>, DnsError> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            self.answer.clone()
        }
        async fn mx_secured(&self, _: &str) -> Result<Secured<MxAnswer>, DnsError> {
            Ok(Secured::insecure(MxAnswer::Implicit))
        }
        async fn tlsa(&self, _: &str) -> Result<Secured<Vec<Tlsa>>, DnsError> {
            Ok(Secured::insecure(Vec::new()))
        }
    }

    fn policies() -> StsPolicies {
        let settings =
            FetchSettings { port: 443, timeout: std::time::Duration::from_secs(2), reach: Default::default() };
        StsPolicies::new(settings, 300, None)
    }

    async fn seed(p: &StsPolicies, id: &str, fetched_at: i64, max_age: u64) {
        let text = format!("version: STSv1\nmode: enforce\nmx: mx.example.jp\nmax_age: {max_age}\n");
        let policy = Policy::parse(&text).unwrap();
        p.state("example.jp").lock().await.cached =
            Some(ActivePolicy { id: id.into(), policy, fetched_at, expires_at: fetched_at + max_age as i64 });
    }

    fn dns(answer: Result<Vec<String>, DnsError>) -> Txt {
        Txt { answer, queries: AtomicUsize::new(0) }
    }

    #[tokio::test]
    async fn a_fresh_cached_policy_with_the_announced_id_is_used_without_a_fetch() {
        let (p, tls) = (policies(), TlsClient::new(&[]).unwrap());
        seed(&p, "a1", 1000, 86_400).await;
        let l = p.lookup(&dns(Ok(vec!["v=STSv1; id=a1;".into()])), &tls, "example.jp", 2000).await;
        assert_eq!((l.discovery.source.as_str(), l.discovery.failure.as_deref()), ("cache", None));
    }

    #[tokio::test]
    async fn an_old_policy_is_fetched_again_before_it_expires_and_kept_when_that_fails() {
        let (p, tls) = (policies(), TlsClient::new(&[]).unwrap());
        seed(&p, "a1", 0, 86_400).await;
        // Past half its max_age: renewed even with the same id; the fetch fails (no address),
        // and the policy stays in force.
        let l = p.lookup(&dns(Ok(vec!["v=STSv1; id=a1;".into()])), &tls, "example.jp", 50_000).await;
        assert_eq!(l.discovery.policy_id.as_deref(), Some("a1"));
        assert_eq!(l.discovery.failure.as_deref(), Some("sts-policy-fetch-error"), "{:?}", l.discovery);
        assert!(l.policy().is_some(), "still enforced");
        // Expired: gone.
        let l = p.lookup(&dns(Ok(vec!["v=STSv1; id=a1;".into()])), &tls, "example.jp", 90_000).await;
        assert!(l.active.is_none());
    }

    #[tokio::test]
    async fn a_failed_txt_lookup_is_remembered_for_a_while() {
        let (p, tls) = (policies(), TlsClient::new(&[]).unwrap());
        seed(&p, "a1", 1000, 86_400).await;
        let slow = dns(Err(DnsError::Temporary("_mta-sts.example.jp".into(), "timeout".into())));
        for now in [2000, 2010, 2059] {
            let l = p.lookup(&slow, &tls, "example.jp", now).await;
            assert_eq!(l.discovery.policy_id.as_deref(), Some("a1"), "the cached policy stays in force");
        }
        assert_eq!(slow.queries.load(Ordering::SeqCst), 1, "asked once within a minute");
        p.lookup(&slow, &tls, "example.jp", 2061).await;
        assert_eq!(slow.queries.load(Ordering::SeqCst), 2);
    }
}
