//! The TLS checker: what delivery would do with mail to a domain now — the route it takes, each
//! host's TLS measured with the same session code that delivers mail, planned by the same
//! destination-policy step (so `sekisho check` and delivery cannot disagree by construction),
//! and the outcome the attachments policy gives. A library call for the CLI, the portal and
//! the probe-based decision for mail through a smart host.

mod host;
mod report;

use sekisho_config::Config;
use sekisho_dns::{Dns, MxAnswer, order_mx};
use sekisho_store::Origin;

pub use report::{
    AddressReport, Checked, DomainReport, MxReport, Outcome, Prediction, Problem, RecipientMx, Via, predict,
    recipient_mx, weakest,
};

use crate::client::session::{Target, Timeouts};
use crate::destination::{DomainPolicy, PolicyHold, PolicySources};
use crate::public::Reach;
use crate::resolve::resolve;
use crate::route::{Destination, route};
use crate::sts::{FetchSettings, StsLookup, StsPolicies};
use crate::tls::plan::DnssecHealth;
use crate::tls::{Assurance, TlsClient};

/// MX hosts checked per domain (as many as delivery would try).
const HOSTS_PER_DOMAIN: usize = crate::resolve::MAX_TARGETS;

/// The delivery timeouts, each capped at 30 s: a probe need not wait as long as a delivery.
pub fn probe_timeouts(delivery: &sekisho_config::DeliveryConfig) -> Timeouts {
    let cap = std::time::Duration::from_secs(30);
    let mut timeouts = crate::timeouts(delivery);
    for v in [
        &mut timeouts.connect,
        &mut timeouts.greeting,
        &mut timeouts.mail,
        &mut timeouts.rcpt,
        &mut timeouts.data_init,
        &mut timeouts.block,
        &mut timeouts.done,
    ] {
        *v = (*v).min(cap);
    }
    timeouts
}

/// A checker built once from the configuration and shared by every check: what the CLI and
/// the portal's checker page use.
pub struct CheckService {
    config: Config,
    dns: sekisho_dns::Resolver,
    tls: TlsClient,
    sts: StsPolicies,
    dnssec: DnssecHealth,
    helo: String,
    timeouts: Timeouts,
    /// The store and the cache TTL, when answers may come from the probe cache.
    cache: Option<(std::sync::Arc<dyn sekisho_store::TlsStore>, i64)>,
    /// Which addresses checks may contact.
    reach: Reach,
}

impl CheckService {
    /// From `config`; with `cache`, fresh evidence of delivery sessions answers instead of new
    /// connections (`[outbound] probe_cache_ttl`). Fails on an unusable resolver or root set.
    pub fn new(
        config: &Config,
        cache: Option<std::sync::Arc<dyn sekisho_store::TlsStore>>,
    ) -> Result<CheckService, crate::SetupError> {
        Ok(CheckService {
            config: config.clone(),
            dns: sekisho_dns::Resolver::new(&config.dns)?,
            tls: TlsClient::new(&config.tls.extra_roots)?,
            sts: StsPolicies::new(crate::sts_settings(&config.mta_sts), 0, None),
            dnssec: DnssecHealth::new(config.dns.dnssec),
            helo: config.delivery.helo_name.clone().unwrap_or_else(|| config.hostname.clone()),
            timeouts: probe_timeouts(&config.delivery),
            cache: cache.map(|store| (store, config.outbound.probe_cache_ttl.0.as_secs() as i64)),
            reach: Reach::Any,
        })
    }

    /// The same checker contacting only addresses `reach` allows: mail servers and MTA-STS
    /// policy hosts at other addresses are reported as "not a public address", never
    /// connected to. The portal's checker uses `Reach::PublicOnly`.
    pub fn with_reach(mut self, reach: Reach) -> CheckService {
        self.reach = reach;
        let settings = FetchSettings { reach, ..crate::sts_settings(&self.config.mta_sts) };
        self.sts = StsPolicies::new(settings, 0, None);
        self
    }

    /// What delivery would do with submitted mail to `domain`, route included.
    pub async fn check(&self, domain: &str) -> DomainReport {
        let checker = Checker {
            dns: &self.dns,
            tls: &self.tls,
            sts: &self.sts,
            dnssec: &self.dnssec,
            helo: &self.helo,
            port: self.config.delivery.port,
            sts_enabled: self.config.mta_sts.enabled,
            timeouts: self.timeouts,
            cache: self.cache.as_ref().map(|(store, ttl)| (store.as_ref(), *ttl)),
            reach: self.reach,
        };
        checker.check_as_routed(&self.config, domain).await
    }
}

/// Settings the checker shares with delivery.
pub struct Checker<'a> {
    pub dns: &'a dyn Dns,
    pub tls: &'a TlsClient,
    /// MTA-STS discovery (without a store: every check fetches afresh, once per domain).
    pub sts: &'a StsPolicies,
    /// Whether DNSSEC validation works here (DANE is checked only then).
    pub dnssec: &'a DnssecHealth,
    /// The probe cache and its TTL in seconds: fresh evidence of delivery sessions is used
    /// instead of connecting.
    pub cache: Option<(&'a dyn sekisho_store::TlsStore, i64)>,
    pub helo: &'a str,
    /// The port of the domains' MX hosts (`[delivery] port`).
    pub port: u16,
    /// `[mta_sts] enabled`: without it, delivery applies no MTA-STS policy, and the check
    /// reports none.
    pub sts_enabled: bool,
    pub timeouts: Timeouts,
    /// Which addresses may be contacted; others are reported as "not a public address".
    pub reach: Reach,
}

/// The domain's MX hosts as checked, or why none could be.
pub struct MxCheck {
    pub hosts: Vec<MxReport>,
    pub problem: Option<Problem>,
    pub mta_sts_record: Option<String>,
    pub tls_rpt_record: Option<String>,
    pub sts: StsLookup,
}

impl Default for MxCheck {
    /// Not checked: mail does not go to the domain's MX hosts.
    fn default() -> MxCheck {
        MxCheck {
            hosts: Vec::new(),
            problem: None,
            mta_sts_record: None,
            tls_rpt_record: None,
            sts: StsLookup::disabled(),
        }
    }
}

impl Checker<'_> {
    /// What delivery under `config` would do with submitted mail to `domain`.
    pub async fn check_as_routed(&self, config: &Config, domain: &str) -> DomainReport {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let dest = route(config, Origin::Submission, &format!("postmaster@{domain}"));
        let required = config.outbound.required_for(&domain);
        let inline_min = config.attachments_for(&domain).inline_min;
        let mode = config.outbound.smart_host_attachments;
        let (via, hop, hop_problem) = match &dest {
            Destination::Host { relay, .. } => {
                let (hosts, problem) = self.check_route(&dest, required).await;
                let name = dest.to_string();
                let via = if *relay { Via::SmartHost { hop: name, mode } } else { Via::Route { hop: name } };
                (via, hosts, problem)
            }
            _ => (Via::Mx, Vec::new(), None),
        };
        // The domain's own MX hosts matter when mail goes to them, or when the smart host
        // carries it and the decision is probe-based.
        let wants_mx = match &via {
            Via::Mx => true,
            Via::Route { .. } => false,
            Via::SmartHost { mode, .. } => *mode == sekisho_config::SmartHostAttachments::Probe,
        };
        let mx_required = if via == Via::Mx { required } else { Assurance::None };
        let mx = match wants_mx {
            true => self.check_mx(&domain, mx_required).await,
            false => MxCheck::default(),
        };
        let hop_checked = hop_problem.as_ref().map_or(Ok(hop.as_slice()), Err);
        let mx_checked = mx.problem.as_ref().map_or(Ok(mx.hosts.as_slice()), Err);
        let p = predict(&domain, mx_checked, hop_checked, &via, inline_min);
        let mut warnings = Vec::new();
        if self.dnssec.broken(self.dns).await {
            warnings.push(crate::tls::plan::DNSSEC_BROKEN.to_string());
        }
        DomainReport {
            warnings,
            error: hop_problem.or(mx.problem).map(|p| p.text),
            domain,
            mx: mx.hosts,
            route: (via != Via::Mx).then(|| dest.to_string()),
            hop,
            mta_sts_record: mx.mta_sts_record,
            tls_rpt_record: mx.tls_rpt_record,
            mta_sts: mx.sts.discovery,
            assurance: p.assurance,
            outcome: p.outcome,
            verdict: p.verdict,
        }
    }

    /// Checks every MX host of `domain` (for mail that must reach `required`), planned by the
    /// destination-policy step delivery takes before it connects.
    pub async fn check_mx(&self, domain: &str, required: Assurance) -> MxCheck {
        let txt = |name: String| async move {
            self.dns
                .txt(&name)
                .await
                .ok()
                .and_then(|v| v.into_iter().find(|t| t.to_ascii_lowercase().starts_with("v=")))
        };
        let mta_sts_record = txt(format!("_mta-sts.{domain}")).await;
        let tls_rpt_record = txt(format!("_smtp._tls.{domain}")).await;
        let now = chrono::Utc::now().timestamp();
        let src = PolicySources {
            dns: self.dns,
            dnssec: self.dnssec,
            sts: self.sts,
            tls: self.tls,
            sts_enabled: self.sts_enabled,
        };
        let mut policy = DomainPolicy::lookup(&src, domain, now).await;
        let sts = policy.sts.clone().unwrap_or_else(StsLookup::disabled);
        let mut out = MxCheck { hosts: Vec::new(), problem: None, mta_sts_record, tls_rpt_record, sts };
        let waits = |text: String| Some(Problem { text, waits: true });
        out.problem = match &policy.hold {
            Some(PolicyHold::Bogus(why)) => waits(format!("DNSSEC validation of the MX records failed ({why})")),
            Some(PolicyHold::Failed(e)) => waits(format!("the DNSSEC-validated MX lookup failed ({e})")),
            None => None,
        };
        if out.problem.is_some() {
            return out;
        }
        let hosts: Vec<(String, Option<u16>)> = match self.dns.mx(domain).await {
            Ok(MxAnswer::Mx(mx)) => {
                order_mx(mx).into_iter().take(HOSTS_PER_DOMAIN).map(|m| (m.exchange, Some(m.preference))).collect()
            }
            Ok(MxAnswer::Implicit) => vec![(domain.to_string(), None)],
            Ok(MxAnswer::NullMx) => {
                out.problem = Some(Problem { text: "the domain accepts no mail (null MX)".into(), waits: false });
                return out;
            }
            Err(e) => {
                let f = crate::resolve::failure(&e, &format!("MX lookup for {domain}"));
                out.problem = Some(Problem { text: f.reason, waits: f.temporary });
                return out;
            }
        };
        for (host, preference) in hosts {
            let report = self.check_host(&host, preference, self.port, &mut policy, required, None).await;
            out.hosts.push(report);
        }
        out
    }

    /// Checks the hosts of a configured route (`[routes]` or the smart host): no MX policy
    /// applies to them, as in delivery.
    async fn check_route(&self, dest: &Destination, required: Assurance) -> (Vec<MxReport>, Option<Problem>) {
        let targets = match resolve(self.dns, dest).await {
            Ok(t) => t,
            Err(f) => return (Vec::new(), Some(Problem { text: f.reason, waits: f.temporary })),
        };
        let mut policy = DomainPolicy::default();
        let mut hosts: Vec<(String, u16, Vec<std::net::IpAddr>)> = Vec::new();
        for Target { host, ip, port } in targets {
            match hosts.iter_mut().find(|(h, p, _)| *h == host && *p == port) {
                Some((_, _, ips)) => ips.push(ip),
                None => hosts.push((host, port, vec![ip])),
            }
        }
        let mut reports = Vec::with_capacity(hosts.len());
        for (host, port, ips) in hosts {
            reports.push(self.check_host(&host, None, port, &mut policy, required, Some(ips)).await);
        }
        (reports, None)
    }
}
