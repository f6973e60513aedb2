//! `sekisho queue list|show ID [--json]`.

use clap::Subcommand;
use sekisho_config::Config;

use super::{format_time, print_json};
use crate::Failure;

#[derive(Subcommand)]
pub(crate) enum QueueCommand {
    /// List queued messages, oldest first.
    List {
        #[arg(long)]
        json: bool,
        /// Include messages already delivered or bounced.
        #[arg(long)]
        all: bool,
    },
    /// Show one message: envelope, how it arrived, each recipient's state.
    Show {
        /// Queue ID as printed by `queue list` and in the 250 reply.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: QueueCommand, config: &Config) -> Result<(), Failure> {
    let store = sekisho_store::open_store(&config.store.path).await.map_err(|e| Failure::Failed(e.to_string()))?;
    match command {
        QueueCommand::List { json, all } => {
            let list = store.list_messages(all).await.map_err(|e| Failure::Failed(e.to_string()))?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("queue is empty");
                return Ok(());
            }
            println!("{:<16}  {:<19}  {:>9}  {:>9}  SENDER", "ID", "RECEIVED", "SIZE", "PENDING");
            for m in &list {
                let sender = if m.sender.is_empty() { "<>" } else { &m.sender };
                println!(
                    "{:<16}  {:<19}  {:>9}  {:>9}  {}",
                    m.id,
                    format_time(m.received_at),
                    m.size,
                    format!("{}/{}", m.pending, m.recipients),
                    sender
                );
            }
            println!("-- {} message{}", list.len(), if list.len() == 1 { "" } else { "s" });
            Ok(())
        }
        QueueCommand::Show { id, json } => {
            let Some(m) = store.message(&id).await.map_err(|e| Failure::Failed(e.to_string()))? else {
                return Err(Failure::Failed(format!("no message {id} in the queue")));
            };
            if json {
                return print_json(&m);
            }
            let info = &m.info;
            println!("queue id:   {}", info.id);
            println!(
                "received:   {} from {} (helo {}) on {}",
                format_time(info.received_at),
                info.client_ip,
                info.helo,
                info.listener
            );
            println!("tls:        {}", info.tls.as_deref().unwrap_or("none"));
            println!("user:       {}", info.auth_user.as_deref().unwrap_or("-"));
            println!("sender:     <{}>", info.sender);
            println!(
                "size:       {} bytes{}{}",
                info.size,
                if info.body_8bit { ", 8bit" } else { "" },
                if info.smtputf8 { ", SMTPUTF8" } else { "" }
            );
            println!(
                "dsn:        ret={} envid={}",
                info.ret.as_deref().unwrap_or("-"),
                info.envid.as_deref().unwrap_or("-")
            );
            for r in &m.recipients {
                println!(
                    "recipient:  <{}> {} (attempts {}, next {}) notify={} orcpt={}{}",
                    r.address,
                    r.state.as_str(),
                    r.attempts,
                    format_time(r.next_attempt_at),
                    r.notify.as_deref().unwrap_or("-"),
                    r.orcpt.as_deref().unwrap_or("-"),
                    r.last_reply.as_deref().map(|l| format!(" last reply: {l}")).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
