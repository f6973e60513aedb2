//! `sekisho serve`: run the gateway until SIGINT or SIGTERM. SIGHUP reopens `[log] file` and
//! reloads the configuration (`crate::hangup`); `[admin] listen` serves metrics and health
//! checks (`crate::admin`).

use std::sync::Arc;

use sekisho_config::{Config, Role};
use sekisho_deliver::Deliverer;
use sekisho_portal::Portal;
use sekisho_receive::Server;
use sekisho_store::{Queue, QueueControl};

use crate::Failure;
use crate::config_file::ConfigSource;

pub(crate) async fn run(config: Config, source: &ConfigSource) -> Result<(), Failure> {
    crate::material::check(&config).map_err(|e| Failure::Usage(e.to_string()))?;
    let (_log, log_file) = crate::logging::init(&config.log).map_err(|e| Failure::Usage(e.to_string()))?;
    let metrics = sekisho_metrics::Metrics::new();
    let database = crate::object_storage::database(&config, true).await?;
    let (queue, report) =
        Queue::open_on(&config.store.path, &database, config.store.group_commit_max, config.store.group_sync)
            .await
            .map_err(|e| match e {
                // Two nodes sharing a name: sekisho.toml must change, as for any configuration error.
                e @ sekisho_store::StoreError::NodeNameInUse(_) => Failure::Usage(e.to_string()),
                e => Failure::Failed(e.to_string()),
            })?;
    tracing::info!(
        messages = report.messages,
        claims_released = report.claims_released,
        temp_removed = report.temp_removed,
        orphans_swept = report.orphans_swept,
        shared_orphans_swept = report.shared_orphans_swept,
        shared_restored = report.shared_restored,
        quarantined = report.quarantined.len(),
        unreachable = report.unreachable.len(),
        "queue opened"
    );
    let files = crate::store_key::open_files(&config, queue.stores()).await?;
    tokio::spawn(share_kept(files.clone(), queue.stores().links.clone()));
    let server = Server::bind_with(config.clone(), queue.clone(), metrics.clone())
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let dns: Arc<dyn sekisho_dns::Dns> =
        Arc::new(sekisho_dns::Resolver::new(&config.dns).map_err(|e| Failure::Failed(e.to_string()))?);
    let deliverer = Deliverer::new(config.clone(), queue.clone(), dns.clone(), files.clone())
        .map_err(|e| Failure::Usage(e.to_string()))?
        .with_metrics(metrics.clone());
    let report_queue = queue.clone();
    let tls_reports = sekisho_deliver::tls_reports::TlsReports::new(
        config.clone(),
        queue.stores().clone(),
        queue.control().clone(),
        dns.clone(),
        Arc::new(move || report_queue.wake()),
    )
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let report_queue = queue.clone();
    let dmarc_reports = sekisho_deliver::dmarc_reports::DmarcReports::new(
        config.clone(),
        queue.stores().clone(),
        queue.control().clone(),
        dns,
        Arc::new(move || report_queue.wake()),
    );
    let retention = Retention { control: queue.control().clone(), keep: config.store.retention.0 };
    let (digest_stores, digest_control, digest_queue) =
        (queue.stores().clone(), queue.control().clone(), queue.clone());
    let admin = crate::admin::bind(&config, metrics.clone(), queue.clone()).await?;
    let portal = Portal::new_with(config.clone(), queue, files, metrics).map_err(|e| Failure::Failed(e.to_string()))?;
    // The send page's messages take the submission path.
    portal.set_submitter(server.submitter());
    let portal_listener = tokio::net::TcpListener::bind(config.portal.address)
        .await
        .map_err(|e| Failure::Failed(format!("cannot listen on {} (portal): {e}", config.portal.address)))?;
    // Handlers are in place before anything is printed: a signal right after start is a clean stop.
    let shutdown = shutdown_signal().map_err(|e| Failure::Failed(format!("cannot handle signals: {e}")))?;
    let reloadable = crate::hangup::Reloadable {
        source: source.clone(),
        started: config.clone(),
        running: config.clone(),
        server: server.reloader(),
        deliverer: deliverer.clone(),
        log: log_file,
    };
    let hangups =
        crate::hangup::handle(reloadable).map_err(|e| Failure::Failed(format!("cannot handle SIGHUP: {e}")))?;
    for (addr, role) in server.local_addrs() {
        let role = match role {
            Role::Submission => "submission",
            Role::Mx => "mx",
        };
        crate::output::announce(format_args!("sekisho listening on {addr} ({role})"));
    }
    if let Ok(addr) = portal_listener.local_addr() {
        crate::output::announce(format_args!(
            "sekisho listening on {addr} (portal, links at {}/d/...)",
            config.portal.url.trim_end_matches('/')
        ));
    }
    if let Some(addr) = admin.as_ref().and_then(|(l, _)| l.local_addr().ok()) {
        crate::output::announce(format_args!("sekisho listening on {addr} (admin: /metrics, /healthz, /readyz)"));
    }
    crate::output::announce(format_args!("configuration: {source}"));
    crate::output::announce(format_args!("data directory: {}", config.store.path.display()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let delivering = tokio::spawn(deliverer.run(until_stopped()));
    let serving = tokio::spawn(portal.clone().run(portal_listener, until_stopped()));
    let purging = tokio::spawn(purge_every(portal, retention, PURGE_INTERVAL, until_stopped()));
    let digesting = tokio::spawn(sekisho_portal::digest::run_daily(
        config.clone(),
        digest_stores,
        digest_control,
        move || digest_queue.wake(),
        until_stopped(),
    ));
    let reporting = tokio::spawn(tls_reports.run(until_stopped()));
    let administering = admin.map(|(listener, admin)| tokio::spawn(admin.run(listener, until_stopped())));
    let dmarc_reporting = tokio::spawn(dmarc_reports.run(until_stopped()));
    server.run(shutdown).await;
    let _ = stop.send(true);
    let _ = delivering.await;
    match serving.await {
        Ok(Err(e)) => tracing::error!(error = %e, "portal failed"),
        Err(e) => tracing::error!(error = %e, "portal failed"),
        Ok(Ok(())) => {}
    }
    let _ = purging.await;
    let _ = digesting.await;
    let _ = reporting.await;
    if let Some(task) = administering {
        let _ = task.await;
    }
    let _ = dmarc_reporting.await;
    hangups.abort();
    tracing::info!("stopped");
    Ok(())
}

/// How often files whose links all expired or were revoked are removed, and what is older than
/// `[store] retention`.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// `[store] retention` as the hourly purge applies it.
struct Retention {
    control: QueueControl,
    /// Zero: keep forever.
    keep: std::time::Duration,
}

impl Retention {
    /// Removes the bodies no queued message needs (PostgreSQL: shared and cached copies of
    /// messages finished on any node) and the shared files nothing names, then finished
    /// messages, links' records and audit rows older than `keep`.
    async fn purge(&self) {
        match self.control.sweep_bodies().await {
            Ok((0, 0)) => {}
            Ok((local, shared)) => tracing::info!(local, shared, "bodies no queued message needs removed"),
            Err(e) => tracing::error!(error = %e, "cannot sweep the bodies no queued message needs"),
        }
        match self.control.sweep_unnamed_files().await {
            Ok(0) => {}
            Ok(files) => tracing::info!(files, "shared copies of files no link or original names removed"),
            Err(e) => tracing::error!(error = %e, "cannot sweep the shared files no link or original names"),
        }
        if self.keep.is_zero() {
            return;
        }
        let before = chrono::Utc::now().timestamp().saturating_sub(self.keep.as_secs() as i64);
        match self.control.purge(before).await {
            Ok(c) if c == sekisho_store::PurgeCounts::default() => {}
            Ok(c) => tracing::info!(
                messages = c.messages,
                recipients = c.recipients,
                attempts = c.attempts,
                bodies = c.bodies,
                link_messages = c.link_messages,
                links = c.links,
                audit_events = c.audit_events,
                originals = c.originals,
                before,
                "records older than the retention purged"
            ),
            Err(e) => tracing::error!(error = %e, "cannot purge records older than the retention"),
        }
    }
}

/// On PostgreSQL, stores in the database the kept files only this node has (kept before files
/// were shared), so that every node serves their links.
async fn share_kept(files: sekisho_store::files::FileStore, links: Arc<dyn sekisho_store::LinkStore>) {
    match files.share_kept(links.as_ref()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "kept files of this node now stored in the database for every node"),
        Err(e) => tracing::error!(error = %e, "cannot store this node's kept files in the database"),
    }
}

/// Purges expired files, then what is older than the retention, at start and every `interval`
/// until `stop`.
async fn purge_every(
    portal: Portal,
    retention: Retention,
    interval: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        match portal.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "expired download files purged"),
            Err(e) => tracing::error!(error = %e, "cannot purge expired download files"),
        }
        retention.purge().await;
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Completes on SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
