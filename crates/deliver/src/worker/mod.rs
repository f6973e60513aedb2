//! The delivery worker: claims due recipients, delivers each message once per destination,
//! records every attempt, schedules retries, and sends delivery status notifications.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_links::LinkMaker;
use sekisho_store::{Handed, MessageDetail, Queue, RecipientRecord};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::client::session::Timeouts;
use crate::outcome::{RcptResult, Verdict};
use crate::pool::Pool;
use crate::route::{Destination, route};
use crate::sts::StsPolicies;
use crate::tls::TlsClient;
use crate::tls::plan::DnssecHealth;
use crate::tls::probe_cache::ProbeCache;
use crate::variants::Files;
use crate::{sts_settings, timeouts};

/// Recipients per SMTP transaction (Postfix's smtp_destination_recipient_limit); more go in
/// further transactions, so servers that take 100 recipients at most are never overrun.
const RECIPIENTS_PER_TRANSACTION: usize = 50;

/// Why the deliverer could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The transport: extra roots, the certificate verifier.
    #[error(transparent)]
    Setup(#[from] crate::SetupError),
    /// The file store for link files.
    #[error(transparent)]
    Store(#[from] sekisho_store::StoreError),
    /// The notice templates.
    #[error(transparent)]
    Links(#[from] sekisho_links::LinkError),
}

/// Delivers queued mail until shut down.
#[derive(Clone)]
pub struct Deliverer {
    /// What the next delivery works with; a reload replaces it, and a delivery under way keeps
    /// the one it started with.
    current: Arc<watch::Sender<Arc<Inner>>>,
}

/// One configuration's delivery context. What delivery learns and holds (connections, the
/// pool, the TLS knowledge, session counts) is shared by every `Inner` a reload makes.
pub(crate) struct Inner {
    config: Config,
    queue: Queue,
    dns: Arc<dyn Dns>,
    tls: TlsClient,
    pool: Arc<Pool>,
    connections: Arc<Semaphore>,
    per_destination: Arc<Mutex<HashMap<Destination, Arc<Semaphore>>>>,
    timeouts: Timeouts,
    helo: String,
    downgrades: Arc<crate::tls::DowngradeMemory>,
    sts: Arc<StsPolicies>,
    dnssec: Arc<DnssecHealth>,
    probes: Arc<ProbeCache>,
    /// Recent probes of recipient domains for mail through the smart host: (when, found).
    smart_probes: Arc<Mutex<HashMap<String, (i64, crate::decide::RecipientMx)>>>,
    links: LinkMaker,
    /// TLS sessions to recipient domains not yet counted in the store (TLS-RPT).
    sessions: Arc<crate::session_counts::SessionCounts>,
    /// DKIM keys, and the signatures of spooled bodies already signed.
    dkim: Arc<crate::sign::Dkim>,
    /// The sealed file store, for the link maker of a reloaded configuration.
    files: sekisho_store::files::FileStore,
    /// What is counted for `/metrics`.
    metrics: sekisho_metrics::Metrics,
    /// S/MIME signers (`[[smime.sign]]`).
    smime: Arc<crate::smime_sign::Smime>,
}

/// The recipients' domains, lower case, each once.
/// Why recipients wait when their message's body is missing or not whole: the administrator
/// must look (`sekisho queue show`, the quarantine); it is never delivered truncated.
const DAMAGED: &str = "the spooled message is missing or damaged; the administrator must look at it";

/// What the claimed recipients of message `id` become when its body cannot be had
/// (`Queue::local_body`): deferred, for the administrator when no store holds it whole, or
/// until the shared store answers again.
fn body_unavailable(id: &str, e: &sekisho_store::StoreError) -> Verdict {
    if let sekisho_store::StoreError::BodyUnavailable { .. } = e {
        tracing::error!(queue_id = id, error = %e, "body missing or damaged; not delivering it");
        return Verdict::deferred("4.3.0", DAMAGED.into());
    }
    tracing::warn!(queue_id = id, error = %e, "cannot fetch the body from the shared store; deferred");
    Verdict::deferred("4.3.0", format!("the message's body cannot be fetched now: {e}"))
}

fn domains_of(rcpts: &[&RecipientRecord]) -> Vec<String> {
    let mut domains: Vec<String> =
        rcpts.iter().map(|r| r.address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase()).collect();
    domains.sort();
    domains.dedup();
    domains
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Deliverer {
    /// A deliverer for `queue`, resolving with `dns`, sealing link files into `files` (opened
    /// with the store key). Fails when `[tls] extra_roots` cannot be read.
    pub fn new(
        config: Config,
        queue: Queue,
        dns: Arc<dyn Dns>,
        files: sekisho_store::files::FileStore,
    ) -> Result<Deliverer, DeliverError> {
        let d = &config.delivery;
        let o = &config.outbound;
        let downgrades =
            crate::tls::DowngradeMemory::new(o.downgrade_window.0.as_secs() as i64, o.downgrade_min_sessions, []);
        let sts = StsPolicies::new(
            sts_settings(&config.mta_sts),
            config.mta_sts.retry_after_failure.0.as_secs() as i64,
            Some(queue.stores().tls.clone()),
        );
        let shared = Inner {
            connections: Arc::new(Semaphore::new(d.max_connections)),
            per_destination: Arc::default(),
            pool: Arc::default(),
            tls: TlsClient::new(&config.tls.extra_roots)?,
            downgrades: Arc::new(downgrades),
            sts: Arc::new(sts),
            dnssec: Arc::new(DnssecHealth::new(config.dns.dnssec)),
            probes: Arc::new(ProbeCache::new(o.probe_cache_ttl.0.as_secs() as i64, queue.stores().tls.clone())),
            smart_probes: Arc::default(),
            links: LinkMaker::new(&config, queue.clone(), files.clone())?,
            sessions: Default::default(),
            dkim: Arc::new(crate::sign::Dkim::load(&config)),
            smime: Arc::new(crate::smime_sign::Smime::load(&config)),
            timeouts: timeouts(d),
            helo: d.helo_name.clone().unwrap_or_else(|| config.hostname.clone()),
            dns,
            queue,
            files,
            metrics: sekisho_metrics::Metrics::default(),
            config,
        };
        Ok(Deliverer { current: Arc::new(watch::channel(Arc::new(shared)).0) })
    }

    /// Counts deliveries in `metrics`.
    pub fn with_metrics(self, metrics: sekisho_metrics::Metrics) -> Deliverer {
        let old = self.current.borrow().clone();
        let inner = old.reloaded(old.config.clone(), metrics).expect("the same configuration loads again");
        self.current.send_replace(Arc::new(inner));
        self
    }

    /// Delivers with `config` from the next delivery on (routes, policies, DKIM keys, notice
    /// templates, retry schedule); deliveries under way finish with the configuration they
    /// started with. On error nothing changes. Sizes fixed at start stay: `max_connections`,
    /// the downgrade memory's window, the MTA-STS and probe caches' settings, `[dns]`.
    pub fn reload(&self, config: Config) -> Result<(), DeliverError> {
        let old = self.current.borrow().clone();
        let inner = old.reloaded(config, old.metrics.clone())?;
        self.current.send_replace(Arc::new(inner));
        Ok(())
    }

    /// Runs until `shutdown` completes. Recipients being delivered at that moment stay
    /// claimed; the next start makes them due again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut inner = self.current.borrow().clone();
        let max_inflight = inner.config.delivery.max_connections * 2;
        let mut tasks: JoinSet<Found> = JoinSet::new();
        tokio::pin!(shutdown);
        inner.load_memory().await;
        // Notifications recorded before a crash (or whose queuing failed) but not yet queued.
        inner.sweep_notices().await;
        let mut chores = Chores::default();
        // Messages the queue claims for this delivery as it commits them: no scan finds them.
        let mut handed = inner.queue.hand_off(max_inflight);
        let mut want = Scan::default();
        loop {
            // The configuration of the moment: each delivery keeps the one it started with.
            inner = self.current.borrow().clone();
            while let Some(ended) = tasks.try_join_next() {
                want.after(ended.unwrap_or(Found::ByScan));
            }
            while tasks.len() < max_inflight {
                let Ok(message) = handed.try_recv() else { break };
                spawn_handed(&mut tasks, &inner, message);
            }
            let room = max_inflight.saturating_sub(tasks.len());
            let mut claimed = 0;
            if room > 0 && want.now(inner.config.delivery.scan_interval.0) {
                claimed = claim_and_start(&mut tasks, &inner, room, &mut want).await;
            }
            chores.every_round(&inner, claimed == 0, tasks.is_empty()).await;
            if want.pending && tasks.len() < max_inflight {
                tokio::task::yield_now().await;
                continue;
            }
            let room = tasks.len() < max_inflight;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = inner.queue.new_mail() => want.pending = true,
                _ = tokio::time::sleep_until(want.next_due(inner.config.delivery.scan_interval.0)) => {}
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => want.after(ended.unwrap_or(Found::ByScan)),
                // With the configuration of this moment (a reload may have come while waiting).
                Some(message) = handed.recv(), if room => spawn_handed(&mut tasks, &self.current.borrow().clone(), message),
            }
        }
        // Deliveries under way get a moment to finish, so a restart does not repeat them.
        let grace = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
        if grace.await.is_err() {
            tasks.abort_all();
        }
        inner.queue.remove_finished_bodies().await;
        inner.write_session_counts().await;
        for conn in inner.pool.drain() {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
        }
    }
}

mod approvals;
mod beyond;
mod carry;
mod chores;
mod connect;
mod group;
mod notices;
mod prepare;
mod renew;
mod reports;
mod scan;
mod settle;

use chores::Chores;
use scan::{Found, Scan, claim_and_start, spawn_handed};

impl Inner {
    /// A context for `config` sharing everything delivery learned and holds with this one.
    fn reloaded(&self, config: Config, metrics: sekisho_metrics::Metrics) -> Result<Inner, DeliverError> {
        let d = &config.delivery;
        Ok(Inner {
            connections: self.connections.clone(),
            per_destination: self.per_destination.clone(),
            pool: self.pool.clone(),
            tls: TlsClient::new(&config.tls.extra_roots)?,
            downgrades: self.downgrades.clone(),
            sts: self.sts.clone(),
            dnssec: self.dnssec.clone(),
            probes: self.probes.clone(),
            smart_probes: self.smart_probes.clone(),
            links: LinkMaker::new(&config, self.queue.clone(), self.files.clone())?,
            sessions: self.sessions.clone(),
            dkim: Arc::new(crate::sign::Dkim::load(&config)),
            smime: Arc::new(crate::smime_sign::Smime::load(&config)),
            timeouts: timeouts(d),
            helo: d.helo_name.clone().unwrap_or_else(|| config.hostname.clone()),
            dns: self.dns.clone(),
            queue: self.queue.clone(),
            files: self.files.clone(),
            metrics,
            config,
        })
    }

    /// What earlier runs learned about domains' TLS: the downgrade memory and the MTA-STS cache.
    async fn load_memory(&self) {
        match self.queue.stores().tls.tls_memory().await {
            Ok(rows) => self.downgrades.load(rows.into_iter().map(|m| {
                let memory = crate::tls::DomainMemory {
                    secure_sessions: m.secure_sessions,
                    last_secure_at: m.last_secure_at,
                    authenticated_sessions: m.authenticated_sessions,
                    last_authenticated_at: m.last_authenticated_at,
                };
                ((m.domain, m.host), memory)
            })),
            Err(e) => tracing::error!(error = %e, "cannot read the downgrade memory"),
        }
        self.sts.load().await;
    }

    /// Delivers message `id`'s claimed recipients `idxs`, keeping the claims while it lasts.
    async fn deliver_message(&self, id: &str, idxs: &[i64]) {
        renew::renewing(&self.queue, id, idxs, |held| async move {
            match self.queue.stores().messages.message_without_history(id).await {
                Ok(Some(detail)) => self.deliver_claimed(&detail, None, idxs, held).await,
                Ok(None) => {}
                Err(e) => tracing::error!(queue_id = id, error = %e, "cannot read message"),
            }
        })
        .await
    }

    /// Delivers a message the queue handed over as it committed it, every recipient claimed.
    async fn deliver_handed(&self, handed: Handed) {
        let Handed { detail, body } = handed;
        let idxs: Vec<i64> = detail.recipients.iter().map(|r| r.idx).collect();
        let id = detail.info.id.as_str();
        renew::renewing(&self.queue, id, &idxs, |held| self.deliver_claimed(&detail, body, &idxs, held)).await
    }

    /// Delivers the claimed recipients `idxs` of message `detail` (its body `kept` in memory
    /// when the queue kept it), one transaction per destination and
    /// [`RECIPIENTS_PER_TRANSACTION`]; a transaction starts only with the recipients whose
    /// claim is still `held`.
    async fn deliver_claimed(
        &self,
        detail: &MessageDetail,
        kept: Option<Arc<sekisho_store::KeptBody>>,
        idxs: &[i64],
        held: renew::Held,
    ) {
        let id = detail.info.id.as_str();
        let mut groups: BTreeMap<Destination, Vec<&RecipientRecord>> = BTreeMap::new();
        for r in detail.recipients.iter().filter(|r| idxs.contains(&r.idx)) {
            groups.entry(route(&self.config, detail.info.origin, &r.address)).or_default().push(r);
        }
        let body = match self.queue.local_body(id).await {
            Ok(path) => path,
            Err(e) => {
                let verdict = body_unavailable(id, &e);
                let claimed = groups.values().flatten();
                let results = claimed.map(|r| RcptResult::new(r.idx, verdict.clone(), None, None)).collect();
                self.settle(detail, results).await;
                return;
            }
        };
        let files = Files::new(&self.config, &detail.info, body, kept);
        let chunks: Vec<_> = groups
            .iter()
            .flat_map(|(dest, rcpts)| rcpts.chunks(RECIPIENTS_PER_TRANSACTION).map(move |c| (dest, c)))
            .collect();
        let mut results = Vec::new();
        for (n, (dest, chunk)) in chunks.iter().enumerate() {
            if n + 1 == chunks.len() {
                files.mark_last();
            }
            // Asked once per recipient: the renewal may drop a claim at any moment.
            let (still, lost): (Vec<&RecipientRecord>, Vec<&RecipientRecord>) =
                chunk.iter().copied().partition(|r| held.holds(r.idx));
            if !lost.is_empty() {
                let lost: Vec<i64> = lost.iter().map(|r| r.idx).collect();
                tracing::warn!(
                    queue_id = id,
                    destination = %dest,
                    recipients = ?lost,
                    "claims lost during the delivery: not sent from this node; the node that took them over delivers them"
                );
                self.metrics.claims_lost(lost.len() as u64);
            }
            if still.is_empty() {
                continue;
            }
            results.extend(self.deliver_group(&detail.info, &files, dest, &still).await);
        }
        self.settle(detail, results).await;
    }

    pub(super) fn destination_slots(&self, dest: &Destination) -> Arc<Semaphore> {
        let mut map = self.per_destination.lock().expect("destination lock");
        map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() == 0);
        map.entry(dest.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.delivery.max_connections_per_destination)))
            .clone()
    }

    /// Credentials for the smart host, only when `dest` is the smart host.
    pub(super) fn relay_auth(&self, dest: &Destination) -> Option<(&str, &str)> {
        let d = &self.config.delivery;
        dest.is_relay().then_some(())?;
        Some((d.relay_user.as_deref()?, d.relay_password.as_deref()?))
    }
}
