//! `sekisho serve`: run the gateway until SIGINT or SIGTERM.

use sekisho_config::{Config, Role};
use sekisho_receive::Server;
use sekisho_store::Queue;

use crate::Failure;

pub(crate) async fn run(config: Config) -> Result<(), Failure> {
    crate::logging::init(&config.log);
    let (queue, report) = Queue::open(&config.store.path, config.store.group_commit_max)
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
    let server = Server::bind(config.clone(), queue).await.map_err(|e| Failure::Failed(e.to_string()))?;
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
    server.run(shutdown).await;
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
