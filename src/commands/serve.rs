//! `sekisho serve`: run the gateway until SIGINT or SIGTERM.

use std::sync::Arc;

use sekisho_config::{Config, Role};
use sekisho_deliver::Deliverer;
use sekisho_receive::Server;
use sekisho_store::Queue;

use crate::Failure;

pub(crate) async fn run(config: Config) -> Result<(), Failure> {
    crate::logging::init(&config.log);
    let (queue, report) = Queue::open_with(&config.store.path, config.store.group_commit_max, config.store.group_sync)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    tracing::info!(
        messages = report.messages,
        claims_released = report.claims_released,
        temp_removed = report.temp_removed,
        orphans_swept = report.orphans_swept,
        quarantined = report.quarantined.len(),
        "queue opened"
    );
    let server = Server::bind(config.clone(), queue.clone()).await.map_err(|e| Failure::Failed(e.to_string()))?;
    let dns = sekisho_dns::Resolver::new(&config.dns).map_err(|e| Failure::Failed(e.to_string()))?;
    let deliverer = Deliverer::new(config.clone(), queue, Arc::new(dns)).map_err(Failure::Usage)?;
    // Handlers are in place before anything is printed: a signal right after start is a clean stop.
    let shutdown = shutdown_signal().map_err(|e| Failure::Failed(format!("cannot handle signals: {e}")))?;
    for (addr, role) in server.local_addrs() {
        let role = match role {
            Role::Submission => "submission",
            Role::Mx => "mx",
        };
        println!("sekisho listening on {addr} ({role})");
    }
    println!("data directory: {}", config.store.path.display());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let delivering = tokio::spawn(deliverer.run(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }));
    server.run(shutdown).await;
    let _ = stop.send(true);
    let _ = delivering.await;
    tracing::info!("stopped");
    Ok(())
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
