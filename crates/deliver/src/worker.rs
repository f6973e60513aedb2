//! The delivery worker: claims due recipients, delivers each message once per destination,
//! records every attempt, schedules retries, and sends delivery status notifications.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_store::{
    Attempt, AttemptOutcome, MessageDetail, MessageInfo, Notice, NoticeKind, Origin, Queue, QueueId, RecipientRecord,
    RecipientState, RecipientUpdate, Variant,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::envelope::Envelope;
use crate::client::reply::ServerReply;
use crate::client::session::{Body, Checks, Connection, RcptSpec, Target, Timeouts, Transaction};
use crate::dsn::{self, Dsn, DsnKind, DsnRecipient};
use crate::links::LinkMaker;
use crate::pool::Pool;
use crate::resolve::resolve;
use crate::route::{Destination, route};
use crate::schedule;
use crate::sts::{FetchSettings, StsLookup, StsPolicies};
use crate::tls::plan::{DnssecHealth, HostDane, HostPlan, MxDnssec, lookup_dane, plan_host};
use crate::tls::probe_cache::ProbeCache;
use crate::tls::{Assurance, TlsClient, TlsEvidence};
use crate::variants::{self, Files};

/// What became of one recipient in one attempt.
#[derive(Debug, Clone)]
enum Verdict {
    Delivered {
        reply: String,
    },
    Bounced {
        status: String,
        reason: String,
    },
    Deferred {
        status: String,
        reason: String,
    },
    /// The destination's connections were all busy: not an attempt; tried again soon.
    Busy,
}

#[derive(Debug, Clone)]
struct RcptResult {
    idx: i64,
    verdict: Verdict,
    /// Where the attempt went, if a host was reached or tried, and over what TLS.
    attempt_at: Option<(Target, Option<String>)>,
    /// What the session proved about its transport.
    evidence: Option<TlsEvidence>,
    /// The next hop accepted DSN parameters (so it reports success itself).
    next_hop_dsn: bool,
    /// Which variant of the message the recipient was sent, and why.
    variant: Option<Variant>,
}

/// Recipients per SMTP transaction (Postfix's smtp_destination_recipient_limit); more go in
/// further transactions, so servers that take 100 recipients at most are never overrun.
const RECIPIENTS_PER_TRANSACTION: usize = 50;

/// Seconds after which recipients put back for a busy destination are due again.
const BUSY_RETRY: i64 = 5;

/// How often pending notifications whose queuing failed are tried again.
const NOTICE_SWEEP: Duration = Duration::from_secs(60);

/// Bodies up to this size are returned whole in a failure notice when RET is not given.
const RETURN_FULL_UP_TO: u64 = 50_000;

/// How the last host tried failed; with every host tried, it decides the recipients' fate.
struct HostFailure {
    permanent: bool,
    status: String,
    reason: String,
    target: Target,
    tls: Option<String>,
    /// What that host's session proved, when one was had.
    evidence: Option<TlsEvidence>,
}

impl HostFailure {
    fn temporary(
        status: &str,
        reason: String,
        target: &Target,
        tls: Option<String>,
        evidence: Option<TlsEvidence>,
    ) -> HostFailure {
        HostFailure { permanent: false, status: status.to_string(), reason, target: target.clone(), tls, evidence }
    }
}

/// Delivers queued mail until shut down.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    queue: Queue,
    dns: Arc<dyn Dns>,
    tls: TlsClient,
    pool: Pool,
    connections: Semaphore,
    per_destination: Mutex<HashMap<Destination, Arc<Semaphore>>>,
    timeouts: Timeouts,
    helo: String,
    downgrades: crate::tls::DowngradeMemory,
    sts: StsPolicies,
    dnssec: DnssecHealth,
    probes: ProbeCache,
    links: LinkMaker,
}

/// Where and how long MTA-STS policies are fetched, from `[mta_sts]`.
pub fn sts_settings(c: &sekisho_config::MtaStsConfig) -> FetchSettings {
    FetchSettings { port: c.port, timeout: c.timeout.0 }
}

/// The RFC 5321 §4.5.3.2 timeouts configured in `[delivery]`.
pub fn timeouts(d: &sekisho_config::DeliveryConfig) -> Timeouts {
    Timeouts {
        connect: d.connect_timeout.0,
        greeting: d.greeting_timeout.0,
        mail: d.mail_timeout.0,
        rcpt: d.rcpt_timeout.0,
        data_init: d.data_timeout.0,
        block: d.block_timeout.0,
        done: d.done_timeout.0,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One recipient's result of an attempt.
fn result(
    r: &RecipientRecord,
    verdict: Verdict,
    at: &Option<(Target, Option<String>)>,
    evidence: &TlsEvidence,
) -> RcptResult {
    RcptResult {
        idx: r.idx,
        verdict,
        attempt_at: at.clone(),
        evidence: Some(evidence.clone()),
        next_hop_dsn: false,
        variant: None,
    }
}

/// A recipient's verdict from its RCPT reply and the reply after the data.
fn transaction_verdict(data: Option<&ServerReply>, rcpt: ServerReply) -> Verdict {
    match (data, rcpt) {
        (_, rr) if rr.is_permanent() => Verdict::Bounced { status: status_of(&rr), reason: rr.one_line() },
        (_, rr) if !rr.is_positive() => Verdict::Deferred { status: status_of(&rr), reason: rr.one_line() },
        (Some(d), _) if d.is_positive() => Verdict::Delivered { reply: d.one_line() },
        (Some(d), _) if d.is_permanent() => Verdict::Bounced { status: status_of(d), reason: d.one_line() },
        (Some(d), _) => Verdict::Deferred { status: status_of(d), reason: d.one_line() },
        (None, _) => Verdict::Deferred { status: "4.4.2".into(), reason: "no reply after the message data".into() },
    }
}

fn status_of(r: &ServerReply) -> String {
    r.enhanced().map(str::to_string).unwrap_or_else(|| {
        if r.is_permanent() {
            "5.0.0".into()
        } else if r.is_transient() {
            "4.0.0".into()
        } else {
            "2.0.0".into()
        }
    })
}

impl Deliverer {
    /// A deliverer for `queue`, resolving with `dns`. Fails when `[tls] extra_roots` cannot
    /// be read or the file store cannot be created.
    pub fn new(config: Config, queue: Queue, dns: Arc<dyn Dns>) -> Result<Deliverer, String> {
        let d = &config.delivery;
        let timeouts = timeouts(d);
        let helo = d.helo_name.clone().unwrap_or_else(|| config.hostname.clone());
        let tls = TlsClient::new(&config.tls.extra_roots)?;
        let files = sekisho_store::files::FileStore::open(&config.store.path).map_err(|e| e.to_string())?;
        let o = &config.outbound;
        let downgrades =
            crate::tls::DowngradeMemory::new(o.downgrade_window.0.as_secs() as i64, o.downgrade_min_sessions, []);
        let sts = StsPolicies::new(
            sts_settings(&config.mta_sts),
            config.mta_sts.retry_after_failure.0.as_secs() as i64,
            Some(queue.store().clone()),
        );
        Ok(Deliverer {
            inner: Arc::new(Inner {
                connections: Semaphore::new(d.max_connections),
                per_destination: Mutex::new(HashMap::new()),
                pool: Pool::default(),
                tls,
                downgrades,
                sts,
                dnssec: DnssecHealth::new(config.dns.dnssec),
                probes: ProbeCache::new(o.probe_cache_ttl.0.as_secs() as i64, queue.store().clone()),
                links: LinkMaker::new(&config, queue.clone(), files)?,
                timeouts,
                helo,
                dns,
                queue,
                config,
            }),
        })
    }

    /// Runs until `shutdown` completes. Recipients being delivered at that moment stay
    /// claimed; the next start makes them due again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let inner = self.inner;
        let max_inflight = inner.config.delivery.max_connections * 2;
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        // What earlier runs learned about domains' TLS.
        match inner.queue.store().tls_memory().await {
            Ok(rows) => inner.downgrades.load(rows.into_iter().map(|m| {
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
        inner.sts.load().await;
        // Notifications recorded before a crash (or whose queuing failed) but not yet queued.
        inner.sweep_notices().await;
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            while tasks.try_join_next().is_some() {}
            let room = max_inflight.saturating_sub(tasks.len());
            let mut claimed = 0;
            if room > 0 {
                match inner.queue.store().claim_due(now(), (room * 4) as u32).await {
                    Ok(claims) => {
                        claimed = claims.len();
                        let mut by_message: Vec<(String, Vec<i64>)> = Vec::new();
                        for c in claims {
                            match by_message.iter_mut().find(|(id, _)| *id == c.message_id) {
                                Some((_, idxs)) => idxs.push(c.idx),
                                None => by_message.push((c.message_id, vec![c.idx])),
                            }
                        }
                        for (id, idxs) in by_message {
                            let inner = inner.clone();
                            tasks.spawn(async move { inner.deliver_message(&id, &idxs).await });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the queue"),
                }
            }
            for conn in inner.pool.expire(inner.config.delivery.connection_reuse_time.0) {
                tokio::spawn(conn.quit());
            }
            if claimed == 0 {
                inner.queue.remove_finished_bodies().await;
                if last_sweep.elapsed() >= NOTICE_SWEEP {
                    inner.sweep_notices().await;
                    last_sweep = tokio::time::Instant::now();
                }
            }
            if claimed > 0 && tasks.len() < max_inflight {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = inner.queue.new_mail() => {}
                _ = tokio::time::sleep(inner.config.delivery.scan_interval.0) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Deliveries under way get a moment to finish, so a restart does not repeat them.
        let grace = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
        if grace.await.is_err() {
            tasks.abort_all();
        }
        inner.queue.remove_finished_bodies().await;
        for conn in inner.pool.drain() {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
        }
    }
}

impl Inner {
    async fn deliver_message(&self, id: &str, idxs: &[i64]) {
        let detail = match self.queue.store().message_without_history(id).await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(queue_id = id, error = %e, "cannot read message");
                return;
            }
        };
        let mut groups: BTreeMap<Destination, Vec<&RecipientRecord>> = BTreeMap::new();
        for r in detail.recipients.iter().filter(|r| idxs.contains(&r.idx)) {
            groups.entry(route(&self.config, detail.info.origin, &r.address)).or_default().push(r);
        }
        let files = Files::new(&self.config, &detail.info, self.queue.body_path(&detail.info.id));
        let mut results = Vec::new();
        for (dest, rcpts) in &groups {
            for chunk in rcpts.chunks(RECIPIENTS_PER_TRANSACTION) {
                results.extend(self.deliver_group(&detail.info, &files, dest, chunk).await);
            }
        }
        self.settle(&detail, results).await;
    }

    fn destination_slots(&self, dest: &Destination) -> Arc<Semaphore> {
        let mut map = self.per_destination.lock().expect("destination lock");
        map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() == 0);
        map.entry(dest.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.delivery.max_connections_per_destination)))
            .clone()
    }

    /// Credentials for the smart host, only when `dest` is the smart host.
    fn relay_auth(&self, dest: &Destination) -> Option<(&str, &str)> {
        let d = &self.config.delivery;
        let relay = crate::route::next_hop(d.relay_host.as_deref()?, d.port);
        (relay == *dest).then_some(())?;
        Some((d.relay_user.as_deref()?, d.relay_password.as_deref()?))
    }

    async fn deliver_group(
        &self,
        info: &MessageInfo,
        files: &Files,
        dest: &Destination,
        rcpts: &[&RecipientRecord],
    ) -> Vec<RcptResult> {
        let all = |verdict: Verdict, at: Option<(Target, Option<String>)>, evidence: Option<&TlsEvidence>| {
            rcpts
                .iter()
                .map(|r| RcptResult {
                    idx: r.idx,
                    verdict: verdict.clone(),
                    attempt_at: at.clone(),
                    evidence: evidence.cloned(),
                    next_hop_dsn: false,
                    variant: None,
                })
                .collect::<Vec<RcptResult>>()
        };
        // One transaction carries every recipient of the group: it needs the strongest
        // assurance any of their domains requires.
        let required = rcpts
            .iter()
            .map(|r| {
                let domain = r.address.rsplit_once('@').map_or("", |(_, d)| d);
                Assurance::parse(self.config.outbound.required_for(domain)).unwrap_or(Assurance::None)
            })
            .max()
            .unwrap_or(Assurance::None);
        let body = self.queue.body_path(&info.id);
        match std::fs::metadata(&body) {
            Ok(m) if m.len() == info.size => {}
            _ => {
                tracing::error!(queue_id = %info.id, "spooled body missing or damaged; not delivering it");
                return all(
                    Verdict::Deferred {
                        status: "4.3.0".into(),
                        reason: "the spooled message is missing or damaged; the administrator must look at it".into(),
                    },
                    None,
                    None,
                );
            }
        }
        let targets = match resolve(self.dns.as_ref(), dest).await {
            Ok(t) => t,
            Err(f) => {
                let verdict = if f.temporary {
                    Verdict::Deferred { status: f.status.into(), reason: f.reason }
                } else {
                    Verdict::Bounced { status: f.status.into(), reason: f.reason }
                };
                return all(verdict, None, None);
            }
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
        // MTA-STS applies to mail routed by the recipient domain's MX records.
        let sts = match dest {
            Destination::Mx { domain, .. } if self.config.mta_sts.enabled => {
                Some(self.sts.lookup(self.dns.as_ref(), &self.tls, domain, now()).await)
            }
            _ => None,
        };
        let enforced = sts.as_ref().and_then(StsLookup::policy).filter(|p| p.mode == crate::sts::Mode::Enforce);
        // DANE (RFC 7672) applies to MX-routed mail whose MX answer is DNSSEC-secure; a bogus
        // answer keeps the mail for now.
        let mx_secure = match dest {
            Destination::Mx { domain, .. } => match self.dnssec.mx_status(self.dns.as_ref(), domain).await {
                MxDnssec::Secure => true,
                MxDnssec::Insecure => false,
                MxDnssec::Bogus(why) => {
                    let reason = format!("MX lookup for {domain}: DNSSEC validation failed ({why}) (dnssec-invalid)");
                    return all(Verdict::Deferred { status: "4.7.5".into(), reason }, None, None);
                }
                // Without the validated lookup DANE cannot be ruled out: the mail waits rather
                // than going without it.
                MxDnssec::Failed(e) => {
                    let reason = format!("DNSSEC-validated MX lookup for {domain} failed: {e}");
                    return all(Verdict::Deferred { status: "4.4.3".into(), reason }, None, None);
                }
            },
            _ => false,
        };
        let mut dane_by_host: HashMap<String, HostDane> = HashMap::new();
        let env = Envelope {
            sender: &info.sender,
            size: info.size,
            body_8bit: info.body_8bit,
            smtputf8: info.smtputf8,
            ret: info.ret.as_deref(),
            envid: info.envid.as_deref(),
        };
        let mut last: Option<HostFailure> = None;
        let mut any_temporary = false;
        // (target, fresh connection only): a pooled connection found closed is replaced by a
        // fresh one that goes through every check again.
        let mut todo: std::collections::VecDeque<(&Target, bool)> = targets.iter().map(|t| (t, false)).collect();
        'hosts: while let Some((target, fresh_only)) = todo.pop_front() {
            if last.as_ref().is_some_and(|l| !l.permanent) {
                any_temporary = true;
            }
            if !dane_by_host.contains_key(&target.host) {
                let dane = lookup_dane(self.dns.as_ref(), mx_secure, &target.host, target.port).await;
                dane_by_host.insert(target.host.clone(), dane);
            }
            let (required, checks, dane_note) =
                match plan_host(&target.host, required, enforced, &dane_by_host[&target.host]) {
                    HostPlan::Skip { reason } => {
                        tracing::warn!(queue_id = %info.id, host = %target.host, %reason, "MX host not used");
                        last = Some(HostFailure::temporary("4.7.5", reason, target, None, None));
                        continue;
                    }
                    HostPlan::Try { required, checks, dane_note } => (required, checks, dane_note),
                };
            let _slot = self.connections.acquire().await.expect("semaphore open");
            let got = if fresh_only {
                self.open(target, dest, required, &checks).await.map(|c| (c, false))
            } else {
                self.connection(target, dest, required, &checks).await
            };
            let (conn, reused) = match got {
                Ok(c) => c,
                Err(crate::client::session::SessionError::CertificateRefused(mut evidence)) => {
                    evidence.apply_sts(sts.as_ref(), &target.host);
                    self.probes.observe(target, &evidence, now());
                    let reason = format!(
                        "{}[{}]: TLS required: {}; {}",
                        target.host,
                        target.ip,
                        required.as_str(),
                        crate::client::session::SessionError::CertificateRefused(evidence.clone())
                    );
                    tracing::warn!(queue_id = %info.id, host = %target.host, ip = %target.ip, %reason, "TLS policy not met");
                    last = Some(HostFailure::temporary("4.7.5", reason, target, None, Some(*evidence)));
                    continue;
                }
                Err(e) => {
                    let permanent = e.permanent_reply().is_some();
                    let status = e.permanent_reply().map_or("4.4.1".to_string(), status_of);
                    tracing::info!(queue_id = %info.id, host = %target.host, ip = %target.ip, error = %e, "connection failed");
                    let reason = format!("{}[{}]: {e}", target.host, target.ip);
                    last = Some(HostFailure {
                        permanent,
                        status,
                        reason,
                        target: target.clone(),
                        tls: None,
                        evidence: None,
                    });
                    continue;
                }
            };
            let mut conn = conn;
            if checks.tlsa.is_empty() {
                conn.evidence.set_dane(dane_note);
            }
            conn.evidence.apply_sts(sts.as_ref(), &target.host);
            if !reused {
                self.probes.observe(target, &conn.evidence, now());
            }
            if reused && conn.evidence.assurance < required {
                // Opened for other mail with other checks: a fresh connection goes through these.
                tokio::spawn(conn.quit());
                todo.push_front((target, true));
                continue;
            }
            let downgrade = self.observe_transport(info, rcpts, target, &mut conn.evidence);
            if downgrade && self.config.outbound.downgrade_action == "defer" {
                let reason = format!(
                    "{}[{}]: STARTTLS downgrade suspected: the domain reached TLS in recent deliveries, this \
                     session reached {}; the mail waits",
                    target.host,
                    target.ip,
                    conn.evidence.assurance.as_str()
                );
                last = Some(HostFailure::temporary("4.7.5", reason, target, None, Some(conn.evidence.clone())));
                tokio::spawn(conn.quit());
                continue;
            }
            if conn.evidence.assurance < required {
                // Below the required assurance: not a byte of the message goes to this host.
                let reached = &conn.evidence;
                let why = reached.failure.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
                let reason = format!(
                    "{}[{}]: TLS required: {}; the session reached {}{why}",
                    target.host,
                    target.ip,
                    required.as_str(),
                    reached.assurance.as_str()
                );
                tracing::warn!(queue_id = %info.id, host = %target.host, ip = %target.ip, %reason, "TLS policy not met");
                let tls = conn.tls_summary();
                last = Some(HostFailure::temporary("4.7.5", reason, target, tls, Some(conn.evidence.clone())));
                tokio::spawn(conn.quit());
                continue;
            }
            let tls = conn.tls_summary();
            let at = Some((target.clone(), tls.clone()));
            let evidence = conn.evidence.clone();
            let (batches, held) =
                variants::plan(&self.config, &self.links, info, files, rcpts, &target.host, &evidence).await;
            let mut results: Vec<RcptResult> = held
                .into_iter()
                .map(|h| RcptResult {
                    variant: Some(h.variant),
                    ..result(h.rcpt, Verdict::Deferred { status: "4.3.0".into(), reason: h.reason }, &at, &evidence)
                })
                .collect();
            // The first transaction that fails in a way the next host might not ends the
            // session; recipients of later transactions wait for the next attempt.
            let mut stop: Option<(Verdict, bool)> = None;
            for (n, batch) in batches.iter().enumerate() {
                let with_variant = |r: RcptResult| RcptResult { variant: batch.variant.clone(), ..r };
                if let Some((verdict, _)) = &stop {
                    results
                        .extend(batch.rcpts.iter().map(|r| with_variant(result(r, verdict.clone(), &at, &evidence))));
                    continue;
                }
                let specs: Vec<RcptSpec<'_>> = batch
                    .rcpts
                    .iter()
                    .map(|r| RcptSpec { address: &r.address, notify: r.notify.as_deref(), orcpt: r.orcpt.as_deref() })
                    .collect();
                let env = Envelope { size: batch.body.as_ref().map_or(info.size, |b| b.len() as u64), ..env };
                let data = batch.body.as_deref().map_or(Body::File(&body), Body::Bytes);
                let sent = conn.send(&env, &specs, data).await;
                let first = n == 0;
                if first && reused && sent.is_err() && !conn.data_started() {
                    // The server closed the idle connection before the data: once more on a
                    // fresh one (after the data started, the server may have the message: no
                    // resend).
                    todo.push_front((target, true));
                    continue 'hosts;
                }
                match sent {
                    Err(e) => {
                        let reason = format!("{}[{}]: {e}", target.host, target.ip);
                        let verdict = Verdict::Deferred { status: "4.4.2".into(), reason };
                        results.extend(
                            batch.rcpts.iter().map(|r| with_variant(result(r, verdict.clone(), &at, &evidence))),
                        );
                        stop = Some((verdict, false));
                    }
                    Ok(Transaction::Unsendable(u)) if first => {
                        last = Some(HostFailure {
                            permanent: true,
                            status: u.status.into(),
                            reason: format!("{}: {}", target.host, u.reason),
                            target: target.clone(),
                            tls,
                            evidence: Some(evidence),
                        });
                        self.release(conn);
                        continue 'hosts;
                    }
                    Ok(Transaction::MailRefused(r)) if first && !r.is_permanent() => {
                        let reason = format!("{}: {}", target.host, r.one_line());
                        last = Some(HostFailure::temporary(&status_of(&r), reason, target, tls, Some(evidence)));
                        self.release(conn);
                        continue 'hosts;
                    }
                    Ok(Transaction::Unsendable(u)) => {
                        let reason = format!("{}: {}", target.host, u.reason);
                        let verdict = Verdict::Deferred { status: format!("4{}", &u.status[1..]), reason };
                        results.extend(
                            batch.rcpts.iter().map(|r| with_variant(result(r, verdict.clone(), &at, &evidence))),
                        );
                        stop = Some((verdict, true));
                    }
                    Ok(Transaction::MailRefused(r)) => {
                        let verdict = if r.is_permanent() {
                            Verdict::Bounced { status: status_of(&r), reason: r.one_line() }
                        } else {
                            Verdict::Deferred { status: status_of(&r), reason: r.one_line() }
                        };
                        results.extend(
                            batch.rcpts.iter().map(|r| with_variant(result(r, verdict.clone(), &at, &evidence))),
                        );
                    }
                    Ok(Transaction::Done { rcpts: replies, data }) => {
                        let dsn = conn.caps.dsn;
                        if !data.as_ref().is_some_and(ServerReply::is_positive) && !conn.reusable() {
                            stop = Some((
                                Verdict::Deferred {
                                    status: "4.4.2".into(),
                                    reason: format!("{}[{}]: the session ended early", target.host, target.ip),
                                },
                                true,
                            ));
                        }
                        results.extend(batch.rcpts.iter().zip(replies).map(|(r, reply)| {
                            let verdict = transaction_verdict(data.as_ref(), reply);
                            with_variant(RcptResult { next_hop_dsn: dsn, ..result(r, verdict, &at, &evidence) })
                        }));
                    }
                }
            }
            // A connection whose last transaction went wrong is not used again.
            match stop {
                Some((_, true)) | None => self.release(conn),
                Some((_, false)) => drop(conn),
            }
            return results;
        }
        let HostFailure { permanent, status, reason, target, tls, evidence } = last.unwrap_or_else(|| {
            HostFailure::temporary("4.4.1", "no host could be reached".into(), &targets[0], None, None)
        });
        // Bounce only when every host failed for good: one that might take the mail later
        // makes the recipients wait.
        let (permanent, status) =
            if permanent && any_temporary { (false, format!("4{}", &status[1..])) } else { (permanent, status) };
        let verdict =
            if permanent { Verdict::Bounced { status, reason } } else { Verdict::Deferred { status, reason } };
        all(verdict, Some((target, tls)), evidence.as_ref())
    }

    /// Updates the downgrade memory of the group's domains with this session, flags the
    /// evidence when it looks like a downgrade, and returns whether it does.
    fn observe_transport(
        &self,
        info: &MessageInfo,
        rcpts: &[&RecipientRecord],
        target: &Target,
        evidence: &mut TlsEvidence,
    ) -> bool {
        let t = now();
        let mut domains: Vec<String> =
            rcpts.iter().map(|r| r.address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase()).collect();
        domains.sort();
        domains.dedup();
        let mut flagged = false;
        for domain in domains {
            let (suspected, changed) = self.downgrades.observe(&domain, &target.host, evidence.assurance, t);
            flagged |= suspected;
            if let Some(m) = changed {
                let store = self.queue.store().clone();
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

    /// A pooled connection to `target` (a clean one: its last transaction ended), or a new one.
    async fn connection(
        &self,
        target: &Target,
        dest: &Destination,
        required: Assurance,
        checks: &Checks,
    ) -> Result<(Connection, bool), crate::client::session::SessionError> {
        if let Some(c) = self.pool.take(target, self.config.delivery.connection_reuse_time.0) {
            return Ok((c, true));
        }
        self.open(target, dest, required, checks).await.map(|c| (c, false))
    }

    /// Opens a connection. When authentication is required, a certificate that does not prove
    /// the host name aborts the handshake; when any TLS is required there is no plaintext
    /// fallback after a failed handshake.
    async fn open(
        &self,
        target: &Target,
        dest: &Destination,
        required: Assurance,
        checks: &Checks,
    ) -> Result<Connection, crate::client::session::SessionError> {
        let auth = self.relay_auth(dest);
        match Connection::open(target, &self.helo, Some(&self.tls), auth, self.timeouts, checks).await {
            // A failed handshake: opportunistic TLS falls back to plaintext on a new connection.
            Err(crate::client::session::SessionError::Tls(e)) if auth.is_none() && required == Assurance::None => {
                tracing::info!(host = %target.host, ip = %target.ip, error = %e, "STARTTLS failed; retrying without TLS");
                let mut c = Connection::open(target, &self.helo, None, None, self.timeouts, &Checks::default()).await?;
                c.evidence =
                    TlsEvidence::plaintext(true, Some(("validation-failure", format!("STARTTLS failed: {e}"))));
                Ok(c)
            }
            other => other,
        }
    }

    fn release(&self, conn: Connection) {
        if conn.reusable() && conn.transactions < self.config.delivery.max_messages_per_connection {
            self.pool.put(conn);
        } else {
            tokio::spawn(conn.quit());
        }
    }

    async fn settle(&self, detail: &MessageDetail, results: Vec<RcptResult>) {
        let info = &detail.info;
        let t = now();
        let d = &self.config.delivery;
        let schedule: Vec<u64> = d.retry_schedule.iter().map(|x| x.0.as_secs().max(1)).collect();
        // Never a notification about a notification, nor to the null sender.
        let may_notify = !info.sender.is_empty() && info.origin != Origin::Local;
        let mut updates = Vec::with_capacity(results.len());
        for r in results {
            let Some(rec) = detail.recipients.iter().find(|x| x.idx == r.idx) else { continue };
            let notify = rec.notify.as_deref().unwrap_or("");
            let never = notify.contains("NEVER") || !may_notify;
            let wants_failure = !never && (notify.is_empty() || notify.contains("FAILURE"));
            let wants_delay = !never && (notify.is_empty() || notify.contains("DELAY"));
            let wants_success = !never && notify.contains("SUCCESS");
            let (target, tls) = r.attempt_at.clone().map_or((None, None), |(t, tls)| (Some(t), tls));
            let mut warned = rec.delay_warned;
            let notice = |kind: NoticeKind, status: &str, wanted: bool| {
                wanted.then(|| Notice { kind, status: status.to_string() })
            };
            let (state, next, reply, outcome, report, notice) = match r.verdict {
                Verdict::Busy => {
                    updates.push(RecipientUpdate {
                        message_id: info.id.clone(),
                        idx: rec.idx,
                        state: RecipientState::Queued,
                        next_attempt_at: t + BUSY_RETRY,
                        last_reply: rec.last_reply.clone(),
                        delay_warned: rec.delay_warned,
                        attempt: None,
                        notice: None,
                    });
                    continue;
                }
                Verdict::Delivered { reply } => {
                    let n = notice(NoticeKind::Relayed, "2.0.0", wants_success && !r.next_hop_dsn);
                    (RecipientState::Delivered, t, reply, AttemptOutcome::Delivered, "sent", n)
                }
                Verdict::Bounced { status, reason } => {
                    let n = notice(NoticeKind::Failed, &status, wants_failure);
                    (RecipientState::Bounced, t, reason, AttemptOutcome::Bounced, "bounced", n)
                }
                Verdict::Deferred { status, reason } => {
                    let lifetime = d.max_lifetime.0.as_secs();
                    match schedule::next_attempt(info.received_at, rec.attempts + 1, t, &schedule, lifetime) {
                        Some(at) => {
                            let due =
                                schedule::delay_warning_due(info.received_at, t, d.delay_warning.0.as_secs(), warned);
                            let n = notice(NoticeKind::Delayed, &status, wants_delay && due);
                            warned |= n.is_some();
                            (RecipientState::Queued, at, reason, AttemptOutcome::Deferred, "deferred", n)
                        }
                        None => {
                            let reason = format!("delivery time expired; last error: {reason}");
                            let n = notice(NoticeKind::Failed, "4.4.7", wants_failure);
                            (RecipientState::Bounced, t, reason, AttemptOutcome::Bounced, "expired", n)
                        }
                    }
                }
            };
            tracing::info!(
                queue_id = %info.id,
                to = %rec.address,
                relay = %target.as_ref().map_or("none".to_string(), |t| format!("{}[{}]:{}", t.host, t.ip, t.port)),
                tls = tls.as_deref().unwrap_or("none"),
                delay = t - info.received_at,
                status = report,
                reply = %reply,
                "delivery"
            );
            updates.push(RecipientUpdate {
                message_id: info.id.clone(),
                idx: rec.idx,
                state,
                next_attempt_at: next,
                last_reply: Some(reply.clone()),
                delay_warned: warned,
                attempt: Some(Attempt {
                    at: t,
                    host: target.as_ref().map_or(String::new(), |t| t.host.clone()),
                    ip: target.as_ref().map_or(String::new(), |t| t.ip.to_string()),
                    port: target.as_ref().map_or(0, |t| t.port),
                    reply,
                    tls,
                    outcome,
                    evidence: r.evidence.as_ref().and_then(|e| serde_json::to_value(e).ok()),
                    variant: r.variant,
                }),
                notice,
            });
        }
        // Outcomes and the notifications they call for are recorded together: a crash after
        // this point re-sends a notification at worst, never loses one.
        let notices = updates.iter().any(|u| u.notice.is_some());
        match self.queue.record_outcomes(updates, t).await {
            Ok(finished) => {
                if finished.contains(&info.id) {
                    self.queue.remove_body(&info.id);
                }
            }
            Err(e) => {
                tracing::error!(queue_id = %info.id, error = %e, "cannot record delivery outcomes");
                return;
            }
        }
        if notices {
            self.send_notices(&info.id).await;
        }
    }

    async fn sweep_notices(&self) {
        match self.queue.store().messages_with_notices().await {
            Ok(ids) => {
                for id in ids {
                    self.send_notices(&id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read pending notifications"),
        }
    }

    /// Queues the notifications a message's recipients wait for, then marks the message done
    /// when nothing is left to do for it.
    async fn send_notices(&self, id: &str) {
        let detail = match self.queue.store().message(id).await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(queue_id = id, error = %e, "cannot read message");
                return;
            }
        };
        for kind in [NoticeKind::Failed, NoticeKind::Delayed, NoticeKind::Relayed] {
            let due: Vec<&RecipientRecord> =
                detail.recipients.iter().filter(|r| r.notice.as_ref().is_some_and(|n| n.kind == kind)).collect();
            let idxs: Vec<i64> = due.iter().map(|r| r.idx).collect();
            let list: Vec<DsnRecipient> = due
                .iter()
                .map(|r| DsnRecipient {
                    address: r.address.clone(),
                    orcpt: r.orcpt.clone(),
                    status: r.notice.as_ref().map_or(String::new(), |n| n.status.clone()),
                    diagnostic: r.last_reply.clone(),
                    remote_mta: detail
                        .attempts
                        .iter()
                        .rev()
                        .find(|a| a.recipient == r.address && !a.attempt.host.is_empty())
                        .map(|a| a.attempt.host.clone()),
                })
                .collect();
            if list.is_empty() {
                continue;
            }
            match self.notify_sender(&detail.info, kind, list).await {
                Ok(()) => {
                    if let Err(e) = self.queue.store().clear_notices(id, kind, &idxs).await {
                        tracing::error!(queue_id = id, error = %e, "cannot clear sent notifications");
                    }
                }
                Err(e) => tracing::error!(queue_id = id, error = %e, "cannot queue the delivery status notification"),
            }
        }
        match self.queue.store().finish_if_done(id, now()).await {
            Ok(true) => self.queue.remove_body(id),
            Ok(false) => {}
            Err(e) => tracing::error!(queue_id = id, error = %e, "cannot mark message done"),
        }
    }

    async fn notify_sender(
        &self,
        info: &MessageInfo,
        kind: NoticeKind,
        recipients: Vec<DsnRecipient>,
    ) -> Result<(), sekisho_store::StoreError> {
        let original = tokio::fs::read(self.queue.body_path(&info.id)).await.unwrap_or_default();
        let kind = match kind {
            NoticeKind::Failed => DsnKind::Failed,
            NoticeKind::Delayed => DsnKind::Delayed,
            NoticeKind::Relayed => DsnKind::Relayed,
        };
        let full = kind == DsnKind::Failed
            && match info.ret.as_deref() {
                Some("FULL") => true,
                Some(_) => false,
                None => info.size <= RETURN_FULL_UP_TO,
            };
        let id = QueueId::generate();
        let date = chrono::Local::now().to_rfc2822();
        let local_time =
            |unix: i64| chrono::DateTime::from_timestamp(unix, 0).map(|t| t.with_timezone(&chrono::Local).to_rfc2822());
        let arrival = local_time(info.received_at).unwrap_or_else(|| date.clone());
        let until = (kind == DsnKind::Delayed)
            .then(|| local_time(info.received_at + self.config.delivery.max_lifetime.0.as_secs() as i64))
            .flatten();
        let message_id = format!("<{id}@{}>", self.config.hostname);
        let bytes = dsn::build(&Dsn {
            kind,
            hostname: &self.config.hostname,
            to: &info.sender,
            queue_id: &info.id,
            envid: info.envid.as_deref(),
            arrival_date: &arrival,
            date: &date,
            will_retry_until: until.as_deref(),
            recipients,
            original: &original,
            full,
            message_id: &message_id,
        });
        self.queue.inject(&id, &self.config.hostname, &info.sender, &bytes).await?;
        tracing::info!(queue_id = %info.id, dsn = %id, kind = ?kind, to = %info.sender, "notification queued");
        Ok(())
    }
}
