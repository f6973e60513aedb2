//! The administrators' listener (`[admin] listen`): `GET /metrics` (Prometheus), `/healthz`
//! (the process runs) and `/readyz` (the store takes writes and, under `[antivirus]`, clamd
//! answers). Plain HTTP on its own socket, apart from the public portal; every other path is
//! 404, other methods 405, a request with a body over [`MAX_BODY`] 413, and at most
//! [`MAX_REQUESTS`] requests are handled at once (503 beyond), each within [`REQUEST_TIME`].

mod ready;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sekisho_metrics::{Metrics, QueueDepth};
use sekisho_store::Queue;
use tokio::sync::Semaphore;

/// The largest request body taken (the listener serves only GETs).
pub(crate) const MAX_BODY: u64 = 1024;
/// Requests handled at once.
pub(crate) const MAX_REQUESTS: usize = 16;
/// The longest a request may take, readiness checks included.
pub(crate) const REQUEST_TIME: Duration = Duration::from_secs(10);
/// The longest clamd may take to answer PING before `/readyz` says it does not.
const PING_TIME: Duration = Duration::from_secs(3);

/// What the listener reads.
#[derive(Clone)]
pub(crate) struct Admin {
    metrics: Metrics,
    queue: Queue,
    clamd: Option<Arc<sekisho_antivirus::Clamd>>,
    slots: Arc<Semaphore>,
}

impl Admin {
    /// The listener's state: `metrics` to encode, `queue` to ask, and clamd when `[antivirus]`
    /// names one.
    pub(crate) fn new(metrics: Metrics, queue: Queue, antivirus: &sekisho_config::AntivirusConfig) -> Admin {
        let clamd = antivirus.settings().map(|s| Arc::new(sekisho_antivirus::Clamd::new(s)));
        Admin { metrics, queue, clamd, slots: Arc::new(Semaphore::new(MAX_REQUESTS)) }
    }

    /// The routes and their limits.
    pub(crate) fn router(self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .fallback(|| async {
                (StatusCode::NOT_FOUND, "not found: this listener serves /metrics, /healthz and /readyz\n")
            })
            .layer(axum::middleware::from_fn_with_state(self.clone(), limits))
            .with_state(self)
    }

    /// Serves on `listener` until `shutdown`.
    pub(crate) async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await
    }
}

/// The body limit, the number of requests at once and the time each may take.
async fn limits(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let length =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    if chunked || length.is_some_and(|n| n > MAX_BODY) {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY} bytes\n")).into_response();
    }
    let Ok(_slot) = admin.slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("busy: {MAX_REQUESTS} requests already in progress\n"))
            .into_response();
    };
    match tokio::time::timeout(REQUEST_TIME, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the request took too long\n").into_response(),
    }
}

/// The exposition text, with the queue's depth read from the store just before.
async fn metrics(State(admin): State<Admin>) -> Response {
    match admin.queue.stores().messages.queue_depth().await {
        Ok(d) => admin.metrics.set_queue_depth(QueueDepth { queued: d.queued, active: d.active, held: d.held }),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count the queue; its gauges keep their last values"),
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], admin.metrics.encode())
        .into_response()
}

/// 200 when the store takes writes and clamd (if configured) answers, else 503 naming why.
async fn readyz(State(admin): State<Admin>) -> Response {
    let store = admin.queue.check_writable().await.map_err(|e| e.to_string());
    let clamd = match &admin.clamd {
        None => None,
        Some(c) => Some(match tokio::time::timeout(PING_TIME, c.ping()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no PONG within {PING_TIME:?}")),
        }),
    };
    let (status, text) = ready::verdict(&ready::Checks { store, clamd });
    if status != 200 {
        tracing::warn!(answer = %text.trim_end().replace('\n', "; "), "readiness check failed");
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), text).into_response()
}

/// Binds `[admin] listen` when it is set; the listener with what it serves.
pub(crate) async fn bind(
    config: &sekisho_config::Config,
    metrics: Metrics,
    queue: Queue,
) -> Result<Option<(tokio::net::TcpListener, Admin)>, crate::Failure> {
    let Some(address) = config.admin.listen else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| crate::Failure::Failed(format!("cannot listen on {address} (admin): {e}")))?;
    Ok(Some((listener, Admin::new(metrics, queue, &config.antivirus))))
}
