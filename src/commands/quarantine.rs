//! `sekisho quarantine list|show|release|delete|digest|originals|original`: inbound messages held by `[inbound]`
//! policy (`quarantine`), for an administrator to release (delivered as they are, with the
//! inspection summary) or delete, through the same `QueueControl::act_on_quarantined` as the
//! portal's administration page (both write the audit log); and the quarantine digest now.

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::MessageDetail;
use sekisho_store::quarantine::{Actor, Done, QuarantineError};

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
    /// List the originals sanitised copies stood in for: withheld from their recipients, kept
    /// sealed for the administrators until `[store] retention`.
    Originals {
        #[arg(long)]
        json: bool,
    },
    /// Write withheld original N of message ID to a new file (mode 0600), written to the audit
    /// log: it carries what it was withheld for (macros); open it only in an isolated place.
    Original {
        id: String,
        n: i64,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Send the quarantine digest now: each recipient gets one mail listing what was held for
    /// them that no digest listed yet (`serve` sends it daily at `[inbound] quarantine_digest`).
    Digest {
        /// Send it now (required: the daily digest is `serve`'s).
        #[arg(long)]
        now: bool,
        #[arg(long)]
        json: bool,
    },
}

/// The administrator on the command line, for the audit log.
fn actor() -> Actor {
    let user = ["SUDO_USER", "USER", "LOGNAME"].iter().find_map(|k| std::env::var(k).ok()).unwrap_or_default();
    let user: String = user.chars().filter(|c| !c.is_control()).take(64).collect();
    let user = if user.is_empty() { "an unknown user".to_string() } else { user };
    Actor {
        client: "local".into(),
        user_agent: "sekisho quarantine".into(),
        by: format!("by {user} on the command line"),
    }
}

pub(crate) async fn run(command: QuarantineCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let store = stores.messages.clone();
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
        QuarantineCommand::Release { id, json } => act(&control, &id, true, json, now).await,
        QuarantineCommand::Delete { id, json } => act(&control, &id, false, json, now).await,
        QuarantineCommand::Originals { json } => super::originals::list(config, &stores, json).await,
        QuarantineCommand::Original { id, n, out } => {
            let actor = Actor { user_agent: "sekisho quarantine original".into(), ..actor() };
            super::originals::export(config, &stores, (&id, n), &out, &actor, now).await
        }
        QuarantineCommand::Digest { now: false, .. } => Err(Failure::Usage(
            "`sekisho quarantine digest --now` sends the digest now; `serve` sends it daily at \
             [inbound] quarantine_digest"
                .into(),
        )),
        QuarantineCommand::Digest { now: true, json } => {
            let sent = sekisho_portal::digest::send_digests(config, &stores, &control, now).await.map_err(failed)?;
            if json {
                return print_json(&sent);
            }
            if sent.is_empty() {
                outln!("no digest to send: nothing new is held");
            }
            for mail in &sent {
                outln!("{}: digest {} queued ({} message(s))", mail.to, mail.id, mail.messages.len());
            }
            Ok(())
        }
    }
}

/// Releases or deletes through the code the portal's page uses too.
pub(crate) async fn act(
    control: &sekisho_store::QueueControl,
    id: &str,
    release: bool,
    json: bool,
    now: i64,
) -> Result<(), Failure> {
    match control.act_on_quarantined(id, release, &actor(), now).await {
        Ok(Done::Released(n)) => {
            report(json, serde_json::json!({ "id": id, "released": n }), &format!("{id}: released to {n} recipient(s)"))
        }
        Ok(Done::Deleted) => report(json, serde_json::json!({ "id": id, "deleted": true }), &format!("{id}: deleted")),
        Err(e @ QuarantineError::NotInQuarantine(_)) => Err(Failure::Failed(e.to_string())),
        Err(QuarantineError::Store(e)) => Err(Failure::Failed(e.to_string())),
    }
}
