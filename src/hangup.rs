//! SIGHUP in `sekisho serve`: reopen the log file and reload the configuration.
//!
//! The log file (`[log] file`) is reopened first, so logrotate's `postrotate kill -HUP` starts
//! a new file and the reload's own lines land in it. Then the configuration file is read and
//! checked exactly as `sekisho config check` does ([`crate::config_file::load_checked`]): an
//! error keeps the running configuration and is logged with its file, line and key. A good
//! file goes to the SMTP listeners (new connections: policies, rules, recipients, the
//! certificate) and to delivery (the next delivery: routes, outbound policies, DKIM keys);
//! sessions and deliveries under way finish with the configuration they started with. What is
//! bound at start is listed in the log line when it changed ([`crate::reload::restart_needed`]).

use sekisho_config::Config;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::config_file::ConfigSource;
use crate::logging::LogFile;

/// What a hangup reloads.
pub(crate) struct Reloadable {
    /// Where the configuration was read from.
    pub source: ConfigSource,
    /// The configuration the gateway started with: what is bound at start comes from it.
    pub started: Config,
    /// The configuration in use (the last one reloaded).
    pub running: Config,
    /// The SMTP listeners' configuration.
    pub server: sekisho_receive::Reloader,
    /// Delivery's configuration.
    pub deliverer: sekisho_deliver::Deliverer,
    /// `[log] file`, when set.
    pub log: Option<LogFile>,
}

/// Installs the SIGHUP handler (replacing the default action, which ends the process) and
/// reloads on every hangup until the returned task is aborted.
pub(crate) fn handle(mut r: Reloadable) -> std::io::Result<JoinHandle<()>> {
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            r.hang_up();
        }
    }))
}

impl Reloadable {
    /// One hangup: the log file, then the configuration.
    fn hang_up(&mut self) {
        if let Some(log) = &self.log {
            match log.reopen() {
                Ok(()) => tracing::info!(file = %log.path().display(), "SIGHUP: log file reopened"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: cannot reopen the log file; still writing to the old one")
                }
            }
        }
        let new = match crate::config_file::load_checked(&self.source) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "SIGHUP: configuration not reloaded; the gateway keeps serving with the configuration it had"
                );
                return;
            }
        };
        if let Err(e) = self.server.reload(new.clone()) {
            tracing::error!(error = %e, "SIGHUP: configuration not reloaded (SMTP listeners); nothing changed");
            return;
        }
        if let Err(e) = self.deliverer.reload(new.clone()) {
            // The listeners already took the new one; give them back the old.
            let _ = self.server.reload(self.running.clone());
            tracing::error!(error = %e, "SIGHUP: configuration not reloaded (delivery); nothing changed");
            return;
        }
        let needed = crate::reload::restart_needed(&self.started, &new);
        if needed.is_empty() {
            tracing::info!(source = %self.source, "SIGHUP: configuration reloaded");
        } else {
            tracing::warn!(
                source = %self.source,
                restart_needed = %needed.join(", "),
                "SIGHUP: configuration reloaded; changes to settings bound at start apply after a restart"
            );
        }
        self.running = new;
    }
}
