//! The SMTP server: listeners, shared context, accept loops.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use sekisho_config::{Config, ListenerConfig, Role};
use sekisho_smtp::session::SessionLimits;
use sekisho_smtp::{BareLineEndings, DataLimits, ListenerRole, Reply, SessionConfig};
use sekisho_store::Queue;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::error::ReceiveError;
use crate::limits::{ConnectionLimiter, Refusal};
use crate::tls::TlsManager;

/// State shared by every connection.
pub(crate) struct Ctx {
    pub config: Config,
    pub queue: Queue,
    pub tls: TlsManager,
    pub auth: Arc<Authenticator>,
    pub data_limits: DataLimits,
    /// Scans inbound files (`[antivirus]`).
    pub antivirus: Arc<dyn sekisho_inbound::Antivirus>,
    /// Recipient verification at RCPT on the MX listeners (`[recipients]`).
    pub recipients: crate::recipients::Recipients,
    /// The directory (`[ldap]`), when configured.
    pub directory: Option<Arc<sekisho_directory::Directory>>,
    /// SPF, DKIM, ARC and DMARC for MX mail (`[authentication] enabled`).
    pub verifier: Option<Arc<sekisho_auth::Verifier>>,
    /// What the sender findings keep between messages (`[findings]`).
    pub sender_checks: crate::sender_findings::SenderChecks,
    /// The resolver the DNS blocklists are asked through (`[reputation]`, MX listeners), when
    /// a list is configured.
    pub blocklists: Option<Arc<sekisho_dns::Blocklists>>,
    /// The DMARC aggregate reports' rows counted so far (`[dmarc]`), kept across reloads.
    pub dmarc_rows: Arc<crate::dmarc_rows::DmarcRows>,
    /// The DMARC failure reports waiting and their rate limits (`[dmarc] failure_reports`),
    /// kept across reloads.
    pub failure_reports: Arc<crate::failure_reports::FailureReports>,
    /// S/MIME verification of MX mail (`[smime] roots`).
    pub smime: Option<crate::smime::SmimeCheck>,
    local_domains: Arc<[String]>,
    /// What is counted for `/metrics`.
    pub metrics: sekisho_metrics::Metrics,
}

/// One listener's settings.
pub(crate) struct ListenerCtx {
    pub config: ListenerConfig,
    /// "127.0.0.1:2525 submission", as recorded with each message.
    pub label: String,
    /// This listener's open connections.
    pub limiter: Arc<ConnectionLimiter>,
}

impl ListenerCtx {
    pub(crate) fn is_submission(&self) -> bool {
        self.config.role == Role::Submission
    }

    /// The session settings for a client at `ip`.
    pub(crate) fn session_config(&self, ctx: &Ctx, ip: IpAddr) -> SessionConfig {
        let s = &ctx.config.smtp;
        SessionConfig {
            hostname: ctx.config.hostname.clone(),
            role: if self.is_submission() { ListenerRole::Submission } else { ListenerRole::Mx },
            local_domains: ctx.local_domains.clone(),
            limits: SessionLimits {
                max_message_size: self.config.max_message_size(s),
                max_recipients: s.max_recipients,
                max_errors: s.max_errors,
                max_junk_commands: s.max_junk_commands,
                max_auth_failures: s.max_auth_failures,
                max_unknown_recipients: ctx.config.recipients.max_unknown,
            },
            tls_available: true,
            plaintext_auth_allowed: self.config.plaintext_auth_on_loopback && ip.is_loopback(),
            client_trusted: self.config.trusts(ip),
            bare_line_endings: ctx.data_limits.bare_line_endings,
            verify_recipients: !self.is_submission() && ctx.recipients.active(),
            verify_senders: self.is_submission()
                && (ctx.config.senders.bind_to_accounts || !ctx.config.senders.trusted_domains.is_empty()),
            requiretls: self.config.offers_requiretls(),
        }
    }
}

/// A bound SMTP server, ready to run.
pub struct Server {
    /// The context new connections take; a reload replaces it, and a session keeps the one it
    /// started with.
    current: Arc<watch::Sender<Arc<Ctx>>>,
    listeners: Vec<(TcpListener, Arc<ListenerCtx>)>,
    /// The resolver the DMARC failure reports' authorisations are looked up with.
    dns: Arc<dyn sekisho_dns::Dns>,
}

/// Replaces the configuration new connections get (`Server::reloader`).
#[derive(Clone)]
pub struct Reloader {
    current: Arc<watch::Sender<Arc<Ctx>>>,
}

impl Reloader {
    /// Builds the context of `config` (its certificate read again, its policies, rules and
    /// recipients) and hands it to the connections accepted from now on. On error nothing
    /// changes. What is bound at start (the listeners' addresses and roles, each listener's
    /// settings, the store) and the sign-in failure counters stay as they are.
    pub fn reload(&self, config: Config) -> Result<(), ReceiveError> {
        let old = self.current.borrow().clone();
        let kept = Kept { dmarc_rows: old.dmarc_rows.clone(), failure_reports: old.failure_reports.clone() };
        let ctx = Ctx::build(config, old.queue.clone(), old.metrics.clone(), Some(old.auth.clone()), kept)?;
        self.current.send_replace(Arc::new(ctx));
        Ok(())
    }
}

/// What a reload keeps of the running context besides the sign-in failure counters.
struct Kept {
    /// The DMARC report rows counted so far.
    dmarc_rows: Arc<crate::dmarc_rows::DmarcRows>,
    /// The DMARC failure reports waiting and their rate limits.
    failure_reports: Arc<crate::failure_reports::FailureReports>,
}

impl Ctx {
    /// The context of `config`; `auth` keeps the sign-in failure counters of an earlier one,
    /// `kept` the DMARC state.
    fn build(
        config: Config,
        queue: Queue,
        metrics: sekisho_metrics::Metrics,
        auth: Option<Arc<Authenticator>>,
        kept: Kept,
    ) -> Result<Ctx, ReceiveError> {
        let Kept { dmarc_rows, failure_reports } = kept;
        let (cert, key, self_signed) = config.tls_paths();
        let tls = TlsManager::load(&cert, &key, self_signed, &config.hostname)?;
        let s = &config.smtp;
        let auth = auth.unwrap_or_else(|| {
            Arc::new(Authenticator::new(
                queue.stores().accounts.clone(),
                s.auth_failure_delay.0,
                s.client_auth_failure_limit,
                s.client_auth_failure_window.0,
            ))
        });
        let data_limits = DataLimits {
            max_line: s.max_text_line,
            max_header: s.max_header_size,
            max_message: usize::try_from(s.max_message_size).unwrap_or(usize::MAX),
            bare_line_endings: match s.bare_line_endings {
                sekisho_config::BareLineEndings::Reject => BareLineEndings::Reject,
                sekisho_config::BareLineEndings::Normalize => BareLineEndings::Normalize,
            },
        };
        let antivirus = sekisho_inbound::configured(&config.antivirus);
        let has_mx = config.listeners.iter().any(|l| l.role == Role::Mx);
        if has_mx && config.inbound.inspect && config.antivirus.clamd.is_none() {
            tracing::warn!(
                "[antivirus] clamd is not set: inbound files are classified Error (not scanned) and handled by [inbound] error"
            );
        }
        let directory = sekisho_directory::configured(&config)?.map(Arc::new);
        let verifier = if has_mx && config.authentication.enabled {
            Some(Arc::new(sekisho_auth::Verifier::new(&config.dns)?))
        } else {
            None
        };
        let blocklists = if has_mx && config.reputation.enabled() {
            Some(Arc::new(sekisho_dns::Blocklists::new(&config.dns)?))
        } else {
            None
        };
        Ok(Ctx {
            verifier,
            blocklists,
            dmarc_rows,
            failure_reports,
            recipients: crate::recipients::Recipients::new(&config, directory.clone()),
            directory,
            sender_checks: crate::sender_findings::SenderChecks::new(&config)?,
            smime: if has_mx { crate::smime::SmimeCheck::new(&config)? } else { None },
            local_domains: config.local_domains.clone().into(),
            config,
            queue,
            tls,
            auth,
            data_limits,
            antivirus,
            metrics,
        })
    }
}

impl Server {
    /// Loads the certificate and binds every listener of `config`.
    pub async fn bind(config: Config, queue: Queue) -> Result<Server, ReceiveError> {
        Self::bind_with(config, queue, sekisho_metrics::Metrics::default()).await
    }

    /// Like `bind`, counting what it receives in `metrics`.
    pub async fn bind_with(
        config: Config,
        queue: Queue,
        metrics: sekisho_metrics::Metrics,
    ) -> Result<Server, ReceiveError> {
        let s = &config.smtp;
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let socket = TcpListener::bind(l.address)
                .await
                .map_err(|source| ReceiveError::Bind { address: l.address, source })?;
            let local = socket.local_addr().map_err(|source| ReceiveError::Bind { address: l.address, source })?;
            let role = if l.role == Role::Submission { "submission" } else { "mx" };
            let mut lc = l.clone();
            lc.address = local;
            let (max_total, max_per_client) = l.connection_limits(s);
            let limiter = ConnectionLimiter::new(max_total, max_per_client, s.stress_threshold);
            listeners.push((socket, Arc::new(ListenerCtx { config: lc, label: format!("{local} {role}"), limiter })));
        }
        let dmarc_rows = Arc::new(crate::dmarc_rows::DmarcRows::new(queue.stores().reports.clone()));
        let failure_reports = Arc::new(crate::failure_reports::FailureReports::new());
        let dns: Arc<dyn sekisho_dns::Dns> =
            Arc::new(sekisho_dns::Resolver::new(&config.dns).map_err(ReceiveError::Resolver)?);
        let ctx = Ctx::build(config, queue, metrics, None, Kept { dmarc_rows, failure_reports })?;
        Ok(Server { current: Arc::new(watch::channel(Arc::new(ctx)).0), listeners, dns })
    }

    /// The handle that replaces the configuration of the connections to come.
    pub fn reloader(&self) -> Reloader {
        Reloader { current: self.current.clone() }
    }

    /// What the portal's send page hands its messages to: the path a submitted message takes
    /// after DATA, under the configuration of the moment.
    pub fn submitter(&self) -> Arc<dyn sekisho_store::Submitter> {
        Arc::new(crate::submitter::PortalSubmitter { current: self.current.clone() })
    }

    /// The bound addresses with their roles (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(SocketAddr, Role)> {
        self.listeners.iter().map(|(_, l)| (l.config.address, l.config.role)).collect()
    }

    /// Accepts connections until `shutdown` completes; the DMARC report rows counted so far
    /// are written then. DMARC failure reports are queued meanwhile.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (socket, listener) in self.listeners {
            tasks.spawn(accept_loop(self.current.subscribe(), socket, listener));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rows = self.current.borrow().dmarc_rows.clone();
        let writing = tokio::spawn(async move {
            rows.run(async move {
                let _ = stopped.await;
            })
            .await
        });
        let (current, dns) = (self.current.borrow().clone(), self.dns.clone());
        let (stop_reports, reports_stopped) = tokio::sync::oneshot::channel::<()>();
        let reporting = tokio::spawn(async move {
            let (reports, queue) = (current.failure_reports.clone(), current.queue.clone());
            drop(current);
            reports
                .run(queue, dns, async move {
                    let _ = reports_stopped.await;
                })
                .await
        });
        shutdown.await;
        tasks.abort_all();
        let _ = stop.send(());
        let _ = stop_reports.send(());
        let _ = writing.await;
        let _ = reporting.await;
    }
}

async fn accept_loop(current: watch::Receiver<Arc<Ctx>>, socket: TcpListener, listener: Arc<ListenerCtx>) {
    loop {
        let (mut tcp, mut peer) = match socket.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        // An IPv4 client on a dual-stack listener is judged by its IPv4 address.
        peer.set_ip(peer.ip().to_canonical());
        let slot = match listener.limiter.acquire(peer.ip(), listener.config.trusts(peer.ip())) {
            Ok(slot) => slot,
            Err(refusal) => {
                let text = match refusal {
                    Refusal::Total(n) => format!("Too many connections ({n}); try again later"),
                    Refusal::PerClient(n) => {
                        format!("Too many connections from your address ({n}); try again later")
                    }
                };
                tracing::info!(client = %peer, listener = %listener.label, reason = %text, "connection refused");
                tokio::spawn(tokio::time::timeout(std::time::Duration::from_secs(10), async move {
                    let _ = tcp.write_all(Reply::new(421, "4.7.0", text).to_wire().as_bytes()).await;
                    let _ = tcp.shutdown().await;
                }));
                continue;
            }
        };
        tracing::info!(client = %peer, listener = %listener.label, open = listener.limiter.open(), "connect");
        // The configuration of the moment: the session keeps it to its end.
        let (ctx, listener) = (current.borrow().clone(), listener.clone());
        tokio::spawn(crate::connection::serve(ctx, listener, tcp, peer, slot));
    }
}

/// A server on the embedded default's two listeners (submission trusting loopback, then MX for
/// `example.jp`), both on port 0, with its data in `dir`.
#[cfg(test)]
pub(crate) async fn test_server(dir: &std::path::Path) -> (Arc<Ctx>, Vec<Arc<ListenerCtx>>) {
    let mut config = Config::embedded();
    config.hostname = "gw.sekisho.test".into();
    config.local_domains = vec!["example.jp".into()];
    config.store.path = dir.join("data");
    config.store.min_free_space = 0;
    for l in &mut config.listeners {
        l.address.set_port(0);
    }
    let (queue, _) = Queue::open_with(&config.store.path, 1, false).await.expect("open queue");
    let server = Server::bind(config, queue).await.expect("bind");
    let ctx = server.current.borrow().clone();
    (ctx, server.listeners.into_iter().map(|(_, l)| l).collect())
}
