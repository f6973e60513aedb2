//! `sekisho hold list|release|cancel [--json]`: messages a mis-send rule holds before their
//! first delivery attempt. `release` makes one due now ("send now"); `cancel` makes sure it is
//! never delivered, recording who cancelled it and when. A cancel and the delivery reaching the
//! message race fairly: exactly one of them wins, and the command says which.

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::Command;

use super::queue::report;
use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum HoldCommand {
    /// Messages held by a rule now, soonest due first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Send a held message now.
    Release {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a held message: it is never delivered.
    Cancel {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: HoldCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let store = stores.messages;
    let failed = |e: sekisho_store::StoreError| Failure::Failed(e.to_string());
    let now = chrono::Utc::now().timestamp();
    let held = |id: &str, list: &[sekisho_store::HeldMessage]| list.iter().any(|h| h.id == id);
    match command {
        HoldCommand::List { json } => {
            let list = store.held(now, None).await.map_err(failed)?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                outln!("no message is held");
            }
            for h in list {
                outln!(
                    "{}  due {}  <{}> -> {}  (rule {})",
                    h.id,
                    format_time(&config.time_zone, h.due_at),
                    h.sender,
                    h.recipients.join(", "),
                    h.rules.join(", ")
                );
            }
            Ok(())
        }
        HoldCommand::Release { id, json } => {
            if !held(&id, &store.held(now, None).await.map_err(failed)?) {
                return Err(Failure::Failed(format!("{id} is not held (no such message, due already, or cancelled)")));
            }
            let n = control.apply(Some(&id), Command::Retry, now).await.map_err(failed)?;
            report(json, serde_json::json!({ "id": id, "due_now": n }), &format!("{id}: released, due now"))
        }
        HoldCommand::Cancel { id, json } => {
            let by = format!("cli:{}", operator().unwrap_or_else(|| "unknown".into()));
            if control.cancel(&id, &by, now).await.map_err(failed)? {
                return report(
                    json,
                    serde_json::json!({ "id": id, "cancelled": true, "by": by, "at": now }),
                    &format!("{id}: cancelled, it will never be delivered"),
                );
            }
            let why = match store.message(&id).await.map_err(failed)? {
                None => format!("no message {id} in the queue"),
                Some(d) if d.cancelled.is_some() => format!("{id} was cancelled already"),
                Some(_) => format!("{id} cannot be cancelled: its delivery has begun or it has finished"),
            };
            Err(Failure::Failed(why))
        }
    }
}

/// The login name of whoever runs the command (behind sudo, the one who ran sudo).
pub(crate) fn operator() -> Option<String> {
    ["SUDO_USER", "USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}
