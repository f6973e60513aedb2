//! `sekisho`: the secure mail gateway's one binary.
//!
//! Exit codes: 0 ok, 1 a failure or finding, 2 a usage or configuration error.

#![warn(clippy::print_stdout)]

mod admin;
mod allocator;
mod commands;
mod config_file;
mod hangup;
mod log_writer;
mod logging;
mod material;
mod object_storage;
mod output;
mod reload;
mod store_key;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config_file::ConfigSource;
use sekisho_config::Config;

/// sekisho: a secure mail gateway that ends PPAP.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: $SEKISHO_CONFIG, else ./sekisho.toml, else
    /// /etc/sekisho/sekisho.toml, else the embedded default).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Check the TLS that domains' mail servers offer (assurance per MX, certificate, verdict).
    Check(commands::check::CheckArgs),
    /// Check configuration files.
    Config {
        #[command(subcommand)]
        command: commands::config::ConfigCommand,
    },
    /// Look at the queue.
    Queue {
        #[command(subcommand)]
        command: commands::queue::QueueCommand,
    },
    /// Inbound messages held by policy: list, show, release, delete.
    Quarantine {
        #[command(subcommand)]
        command: commands::quarantine::QuarantineCommand,
    },
    /// Download links: list, show, revoke, extend, unlock; purge expired files.
    Links {
        #[command(subcommand)]
        command: commands::links::LinksCommand,
    },
    /// Messages a mis-send rule holds before their first attempt: list, release (send now),
    /// cancel.
    Hold {
        #[command(subcommand)]
        command: commands::hold::HoldCommand,
    },
    /// Messages a rule holds for an approver: list, approve, reject (with a comment).
    Approvals {
        #[command(subcommand)]
        command: commands::approvals::ApprovalsCommand,
    },
    /// Mis-send rules: `rules test` shows which match a message and what would happen.
    Rules {
        #[command(subcommand)]
        command: commands::rules::RulesCommand,
    },
    /// Reports other organisations sent about ours (TLS-RPT, DMARC aggregate), per
    /// organisation, failures first.
    Reports(commands::reports::ReportsArgs),
    /// The partner TLS report: per recipient domain, how much mail went inline and how much as
    /// links, why, since when and whether it improved; `partners explain DOMAIN` writes the
    /// text for its postmaster.
    Partners(commands::partners::PartnersArgs),
    /// DMARC aggregate reports (RFC 7489) sent: `dmarc preview DOMAIN` shows a domain's report,
    /// `dmarc send --now` sends a day's reports.
    Dmarc {
        #[command(subcommand)]
        command: commands::dmarc::DmarcCommand,
    },
    /// SMTP TLS reports (RFC 8460): `tlsrpt preview DOMAIN` shows a domain's report, `tlsrpt
    /// send --now` sends a day's reports.
    Tlsrpt {
        #[command(subcommand)]
        command: commands::tlsrpt::TlsRptCommand,
    },
    /// Manage submission accounts.
    User {
        #[command(subcommand)]
        command: commands::user::UserCommand,
    },
    /// DKIM signing keys: make one and print its TXT record, check the published records,
    /// rotate to a new selector.
    Dkim {
        #[command(subcommand)]
        command: commands::dkim::DkimCommand,
    },
    /// S/MIME: import a PKCS#12 file's key and certificate chain for [[smime.sign]].
    Smime {
        #[command(subcommand)]
        command: commands::smime::SmimeCommand,
    },
    /// The store: `store migrate --to postgres URL` moves a stopped node's data into PostgreSQL.
    Store {
        #[command(subcommand)]
        command: commands::store::StoreCommand,
    },
    /// The store key that wraps kept files' keys: generate one, rotate to a new one.
    Key {
        #[command(subcommand)]
        command: commands::key::KeyCommand,
    },
}

/// A command's failure, carrying its exit code.
pub(crate) enum Failure {
    /// Exit 1: the operation failed or found something.
    Failed(String),
    /// Exit 2: usage or configuration error.
    Usage(String),
}

fn main() -> ExitCode {
    // Everything sekisho creates (data directory, key files) is for its own user alone; the
    // store sets these modes explicitly too.
    // SAFETY: umask(2) only sets this process's file mode creation mask and cannot fail.
    unsafe { libc::umask(0o077) };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config { command } => commands::config::run(command, cli.config),
        command => {
            let source = config_file::locate_here(cli.config);
            match config_file::load(&source) {
                Ok(config) => run_async(command, config, source),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(msg)) => {
            eprintln!("sekisho: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("sekisho: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run_async(command: Command, config: Config, source: ConfigSource) -> Result<(), Failure> {
    if matches!(command, Command::Serve) {
        allocator::bound();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        match command {
            Command::Serve => commands::serve::run(config, &source).await,
            Command::Queue { command } => commands::queue::run(command, &config, &source).await,
            Command::Quarantine { command } => commands::quarantine::run(command, &config, &source).await,
            Command::Check(args) => commands::check::run(args, &config, &source).await,
            Command::User { command } => commands::user::run(command, &config, &source).await,
            Command::Hold { command } => commands::hold::run(command, &config, &source).await,
            Command::Approvals { command } => commands::approvals::run(command, &config, &source).await,
            Command::Rules { command } => commands::rules::run(command, &config, &source).await,
            Command::Reports(args) => commands::reports::run(args, &config, &source).await,
            Command::Partners(args) => commands::partners::run(args, &config, &source).await,
            Command::Tlsrpt { command } => commands::tlsrpt::run(command, &config, &source).await,
            Command::Dmarc { command } => commands::dmarc::run(command, &config, &source).await,
            Command::Key { command } => commands::key::run(command, &config, &source).await,
            Command::Store { command } => commands::store::run(command, &config, &source).await,
            Command::Dkim { command } => commands::dkim::run(command, &config, &source).await,
            Command::Smime { command } => commands::smime::run(command, &config, &source).await,
            Command::Links { command } => commands::links::run(command, &config, &source).await,
            Command::Config { .. } => unreachable!("handled before the runtime starts"),
        }
    })
}
