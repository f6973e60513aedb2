//! `sekisho quarantine list|show|release|delete`: inbound messages held by `[inbound]` policy
//! (`quarantine`), for an administrator to release (delivered as they are, with the inspection
//! summary) or delete.

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::{Command, MessageDetail};

use super::queue::{print_inspection, report};
use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum QuarantineCommand {
    /// List quarantined messages, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one quarantined message: who sent it, to whom, each file's class and why.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Release a quarantined message: it is delivered as it is, now.
    Release {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a quarantined message: nothing is delivered.
    Delete {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: QuarantineCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let store = stores.messages;
    let failed = |e: sekisho_store::StoreError| Failure::Failed(e.to_string());
    let quarantined = store.quarantined().await.map_err(failed)?;
    let held = |id: &str| {
        if quarantined.iter().any(|q| q == id) {
            Ok(())
        } else {
            Err(Failure::Failed(format!("no message {id} in quarantine (see `sekisho quarantine list`)")))
        }
    };
    let now = chrono::Utc::now().timestamp();
    match command {
        QuarantineCommand::List { json } => {
            let mut list: Vec<MessageDetail> = Vec::new();
            for id in &quarantined {
                if let Some(m) = store.message_without_history(id).await.map_err(failed)? {
                    list.push(m);
                }
            }
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                outln!("quarantine is empty");
                return Ok(());
            }
            outln!("{:<16}  {:<19}  {:<10}  {:<30}  RECIPIENTS", "ID", "RECEIVED", "WORST", "SENDER");
            for m in &list {
                let worst = m.info.inspection.as_ref().map_or("-", |r| r.worst().as_str());
                let rcpts: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
                outln!(
                    "{:<16}  {:<19}  {:<10}  {:<30}  {}",
                    m.info.id,
                    format_time(&config.time_zone, m.info.received_at),
                    worst,
                    if m.info.sender.is_empty() { "<>" } else { &m.info.sender },
                    rcpts.join(", ")
                );
            }
            outln!("-- {} message{}", list.len(), if list.len() == 1 { "" } else { "s" });
            Ok(())
        }
        QuarantineCommand::Show { id, json } => {
            held(&id)?;
            let Some(m) = store.message_without_history(&id).await.map_err(failed)? else {
                return Err(Failure::Failed(format!("no message {id} in quarantine")));
            };
            if json {
                return print_json(&m);
            }
            outln!("queue id:   {}", m.info.id);
            outln!(
                "received:   {} from {} (helo {})",
                format_time(&config.time_zone, m.info.received_at),
                m.info.client_ip,
                m.info.helo
            );
            outln!("sender:     <{}>", m.info.sender);
            for r in &m.recipients {
                outln!("recipient:  <{}> {}", r.address, r.state.as_str());
            }
            if let Some(record) = &m.info.inspection {
                print_inspection(record);
            }
            Ok(())
        }
        QuarantineCommand::Release { id, json } => {
            held(&id)?;
            let n = control.apply(Some(&id), Command::Release, now).await.map_err(failed)?;
            tracing::info!(queue_id = %id, recipients = n, "released from quarantine");
            report(json, serde_json::json!({ "id": id, "released": n }), &format!("{id}: released to {n} recipient(s)"))
        }
        QuarantineCommand::Delete { id, json } => {
            held(&id)?;
            control.delete(&id).await.map_err(failed)?;
            tracing::info!(queue_id = %id, "deleted from quarantine");
            report(json, serde_json::json!({ "id": id, "deleted": true }), &format!("{id}: deleted"))
        }
    }
}
