//! sekisho's web portal. A recipient who got a download notice opens `/d/{token}`: the token
//! is swapped for a session cookie and the browser sent on to the clean address `/d`, where the
//! recipient proves the one-time code (mailed to their address through sekisho's own queue),
//! the password or the agreed passphrase, then downloads each file (streamed, never whole in memory) or all of
//! them as one plain ZIP. Every form carries a CSRF token, every response strict security
//! headers, every client a request budget, and every event goes to the audit log. Beside it:
//! the sender console (with the quarantine's administration pages and the operations dashboard
//! for the accounts in `[portal] administrators`), the TLS checker page and API, and the message trace API for
//! administrators. [`digest`] sends the quarantine digest.

#![warn(missing_docs)]

mod chart;
mod checker;
mod console;
mod console_approval;
mod console_hold;
mod console_oidc;
mod console_send;
mod deadline;
mod download;
mod forwarded;
mod guard;
mod inbound;
mod lang;
mod listener;
mod mails;
mod oidc;
mod original;
mod page;
mod quarantine;
mod recipient;
mod send_mime;
mod session;
mod sign_in_guard;
mod trace;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use sekisho_config::Config;
use sekisho_links::LinkMaker;
use sekisho_store::files::FileStore;
use sekisho_store::{Queue, Stores};
use sekisho_transport::check::CheckService;
use sekisho_transport::public::Reach;

pub use guard::RateLimiter;
pub use oidc::OidcSetupError;
pub use quarantine::digest;

/// What the portal's handlers share.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    stores: Stores,
    files: FileStore,
    /// Where one-time code mails are queued.
    queue: Queue,
    limiter: RateLimiter,
    /// Domain checks per client.
    check_limiter: RateLimiter,
    checker: CheckService,
    /// Makes new links (the console's "re-send").
    links: LinkMaker,
    /// Password checks a few at once; console sign-ins counted per account and client.
    guard: sign_in_guard::SignInGuard,
    /// Scans the entries of archives recipients open with a password.
    antivirus: std::sync::Arc<dyn sekisho_inbound::Antivirus>,
    /// Those archives' entries, per session, in memory.
    held: inbound::Held,
    /// Password openings a few at once.
    openings: tokio::sync::Semaphore,
    /// The directory console sign-ins are checked against (`[console] sign_in` with "ldap").
    directory: Option<sekisho_directory::Directory>,
    /// What is counted for `/metrics`.
    metrics: sekisho_metrics::Metrics,
    /// The OpenID Provider console sign-ins go through (`[console] sign_in` with "oidc").
    oidc: Option<oidc::Provider>,
    /// OpenID Connect sign-ins under way.
    oidc_flows: oidc::PendingFlows,
    /// Where the send page's messages go (the receive stage's submission path); unset: the
    /// page is off.
    submitter: std::sync::OnceLock<Arc<dyn sekisho_store::Submitter>>,
}

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The TLS checker it serves (extra roots, resolver).
    #[error(transparent)]
    Checker(#[from] sekisho_transport::SetupError),
    /// The file store.
    #[error(transparent)]
    Store(#[from] sekisho_store::StoreError),
    /// The notice templates.
    #[error(transparent)]
    Links(#[from] sekisho_links::LinkError),
    /// The directory's TLS for console sign-in (`[ldap] ca_file`, `[tls] extra_roots`).
    #[error(transparent)]
    Directory(#[from] sekisho_directory::DirectoryError),
    /// The OpenID Provider for console sign-in (`[console.oidc] client_secret_file`, the
    /// HTTP client).
    #[error(transparent)]
    Oidc(#[from] oidc::OidcSetupError),
}

impl Portal {
    /// A portal over the running gateway's queue (its store) and file store (opened with the
    /// store key).
    pub fn new(config: Config, queue: Queue, files: FileStore) -> Result<Portal, PortalError> {
        Self::new_with(config, queue, files, sekisho_metrics::Metrics::default())
    }

    /// Like `new`, counting downloads in `metrics`.
    pub fn new_with(
        config: Config,
        queue: Queue,
        files: FileStore,
        metrics: sekisho_metrics::Metrics,
    ) -> Result<Portal, PortalError> {
        let limiter = RateLimiter::new(config.portal.rate_limit);
        let check_limiter = RateLimiter::new(config.portal.check_rate_limit);
        // Visitors choose the domain: unless allowed, the checker contacts public addresses only.
        let reach = if config.portal.checker_allow_private { Reach::Any } else { Reach::PublicOnly };
        let checker = CheckService::new(&config, Some(queue.stores().tls.clone()))?.with_reach(reach);
        let links = LinkMaker::new(&config, queue.clone(), files.clone())?;
        let stores = queue.stores().clone();
        let guard = sign_in_guard::SignInGuard::default();
        let antivirus = sekisho_inbound::configured(&config.antivirus);
        let held = inbound::Held::default();
        let openings = tokio::sync::Semaphore::new(inbound::OPENINGS_AT_ONCE);
        let directory = if config.console.allows(sekisho_config::SignInMethod::Ldap) {
            sekisho_directory::configured(&config)?
        } else {
            None
        };
        let oidc = oidc::configured(&config)?;
        let inner = Inner {
            directory,
            oidc,
            oidc_flows: oidc::PendingFlows::default(),
            submitter: std::sync::OnceLock::new(),
            stores,
            files,
            queue,
            limiter,
            check_limiter,
            checker,
            links,
            guard,
            antivirus,
            held,
            openings,
            metrics,
            config,
        };
        Ok(Portal { inner: Arc::new(inner) })
    }

    /// Turns the send page (`/sent/send`) on: its messages go to `submitter`, the path a
    /// submitted message takes after DATA. Only the first call counts.
    pub fn set_submitter(&self, submitter: Arc<dyn sekisho_store::Submitter>) {
        let _ = self.inner.submitter.set(submitter);
    }

    /// The portal's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/d/{token}", get(recipient::open_link))
            .route("/d", get(recipient::page))
            .route("/d/code", post(recipient::send_code))
            .route("/d/verify", post(recipient::verify))
            .route("/d/report/{token}", get(recipient::report_page).post(recipient::report))
            .route("/d/files/{n}", get(download::file).post(download::file_warned).head(download::head))
            .route("/d/unlock/{n}", post(inbound::unlock))
            .route("/d/unlocked/{n}/all.zip", get(inbound::safe_zip).head(download::head))
            .route("/d/unlocked/{n}/{k}", get(inbound::entry).head(download::head))
            .route("/d/all.zip", get(download::all).head(download::head))
            .route("/d/message.eml", get(original::message).head(download::head))
            .route("/sent", get(console::list))
            .route("/sent/login", post(console::login))
            .route("/sent/login-link", post(console::login_link))
            .route("/sent/login/{token}", get(console::login_link_page).post(console::login_with_link))
            .route("/sent/logout", post(console::logout))
            .route("/sent/oidc/start", get(console_oidc::start))
            .route("/sent/oidc/callback", get(console_oidc::callback))
            .route(
                "/sent/send",
                get(console_send::form)
                    .post(console_send::send)
                    // The upload streams to the spool; `[console] send_max_size` is counted there.
                    .layer(axum::extract::DefaultBodyLimit::disable()),
            )
            .route("/sent/send.js", get(console_send::script))
            .route("/sent/m/{id}", get(console::message))
            .route("/sent/m/{id}/link", post(console::link_action))
            .route("/sent/quarantine", get(quarantine::list))
            .route("/sent/quarantine/{id}", get(quarantine::message))
            .route("/sent/quarantine/{id}/{action}", get(quarantine::confirm).post(quarantine::act))
            .route("/sent/originals", get(quarantine::originals::list))
            .route("/sent/reports", get(quarantine::reports::list))
            .route("/sent/dashboard", get(quarantine::dashboard::page))
            .route("/sent/partners", get(quarantine::partners::list))
            .route("/sent/partners/{domain}", get(quarantine::partners::partner).post(quarantine::partners::send))
            .route(
                "/sent/originals/{id}/{n}",
                get(quarantine::originals::confirm).post(quarantine::originals::download),
            )
            .route("/sent/m/{id}/hold", post(console_hold::hold_action))
            .route("/sent/cancel/{token}", get(console_hold::cancel_link_page).post(console_hold::cancel_by_link))
            .route("/sent/approvals/{id}", get(console_approval::approval_page).post(console_approval::approval_action))
            .route("/check", get(checker::page))
            .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
            .route("/api/v1/check", get(checker::api))
            .route("/api/v1/messages/{id}", get(trace::message))
            .fallback(recipient::not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), guard::guard))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, within `[portal] max_connections`,
    /// `max_connections_per_client`, `header_timeout`, `request_timeout` and `idle_timeout`.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = listener::Guarded::new(listener, listener::Limits::new(&self.inner.config.portal));
        let app = self.router().into_make_service_with_connect_info::<listener::Connection>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }

    /// The most password checks (argon2) that ran at once since the portal started: never
    /// more than the bound the portal keeps, whatever the load.
    pub fn password_checks_peak(&self) -> usize {
        self.inner.guard.peak()
    }

    /// Removes the files of messages whose every link expired or was revoked; how many.
    pub async fn purge(&self) -> Result<usize, sekisho_store::StoreError> {
        let before = self.inner.config.portal.purge_expired_before(chrono::Utc::now().timestamp());
        sekisho_store::purge_expired_files(self.inner.stores.links.as_ref(), &self.inner.files, before)
            .await
            .map(|p| p.len())
    }
}
