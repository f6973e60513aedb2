//! `sekisho links list|show|revoke|extend|unlock|purge`: the download links of messages whose
//! attachments were sent as links, their kept files and the portal's audit log.

use std::collections::HashMap;

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_links::{Actor, LinkActions, LinkError, Which};
use sekisho_store::files::FileStore;
use sekisho_store::{LinkRecord, LinkStore, StoreError};
use serde::Serialize;

use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum LinksCommand {
    /// List links that still work (not expired nor revoked), newest first.
    List {
        /// Include expired and revoked links.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one message's kept files, each recipient's link and the audit log.
    Show {
        /// Queue ID of the message.
        message_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke the links of a message, or one recipient's.
    Revoke {
        /// Queue ID of the message.
        message_id: String,
        /// Only this recipient's link.
        #[arg(long, value_name = "ADDRESS")]
        recipient: Option<String>,
    },
    /// Make the links of a message (or one recipient's) work until DURATION from now.
    Extend {
        /// Queue ID of the message.
        message_id: String,
        /// Only this recipient's link.
        #[arg(long, value_name = "ADDRESS")]
        recipient: Option<String>,
        /// How long from now, e.g. "3d", "12h".
        #[arg(long, value_name = "DURATION")]
        until: String,
    },
    /// Unlock a recipient's link locked after too many wrong codes or passphrases.
    Unlock {
        /// Queue ID of the message.
        message_id: String,
        /// The recipient whose link to unlock.
        #[arg(long, value_name = "ADDRESS")]
        recipient: String,
    },
    /// Print the argon2 hash of a passphrase (from stdin's first line, or asked twice on a
    /// terminal) for `[[portal.passphrase]] hash`.
    HashPassphrase,
    /// Remove the kept files whose every link has expired or been revoked.
    Purge {
        #[arg(long)]
        json: bool,
    },
}

/// A link as `links list` and `links show` print it.
#[derive(Serialize)]
struct LinkView {
    message_id: String,
    idx: i64,
    recipient: String,
    access: &'static str,
    created_at: i64,
    expires_at: i64,
    /// "active", "expired", "revoked" or "locked".
    state: &'static str,
    failures: u32,
    max_downloads: u32,
    /// Downloads made, all files together.
    downloads: u32,
    /// Per file (`links show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_downloads: Option<Vec<FileDownloads>>,
}

#[derive(Serialize)]
struct FileDownloads {
    file: i64,
    count: u32,
}

#[derive(Serialize)]
struct EventView {
    at: i64,
    event: sekisho_store::LinkEvent,
    idx: Option<i64>,
    client: String,
    user_agent: String,
    detail: String,
}

#[derive(Serialize)]
struct PurgedFile {
    message_id: String,
    idx: i64,
    name: String,
}

/// A link's state at `now`: revoked first, then expired, then locked.
fn state(link: &LinkRecord, now: i64, max_failures: u32) -> &'static str {
    if link.revoked {
        "revoked"
    } else if link.expires_at <= now {
        "expired"
    } else if link.locked(max_failures) {
        "locked"
    } else {
        "active"
    }
}

pub(crate) async fn run(command: LinksCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    if let LinksCommand::HashPassphrase = command {
        let passphrase = super::user::read_password()?;
        let hash = tokio::task::spawn_blocking(move || sekisho_store::users::hash_password(&passphrase))
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        outln!("{hash}");
        return Ok(());
    }
    let stores = super::open_store(config, source, super::DataDir::MustExist).await?.0;
    let store: &dyn LinkStore = &*stores.links;
    let now = chrono::Utc::now().timestamp();
    let max_failures = config.portal.max_failures;
    let actions = LinkActions { store, time_zone: &config.time_zone };
    let by = operator().map_or_else(|| "from the command line".to_string(), |u| format!("by {u}"));
    let actor = Actor { client: "cli".into(), user_agent: String::new(), by };
    match command {
        LinksCommand::HashPassphrase => unreachable!("answered before the store opens"),
        LinksCommand::List { all, json } => {
            let mut views = Vec::new();
            for link in store.links(None).await.map_err(failed)? {
                let view = view(store, &link, now, max_failures, false).await?;
                if all || matches!(view.state, "active" | "locked") {
                    views.push(view);
                }
            }
            if json {
                return print_json(&views);
            }
            if views.is_empty() {
                outln!("{}", if all { "no links" } else { "no active links" });
                return Ok(());
            }
            outln!(
                "{:<16}  {:<32}  {:<10}  {:<19}  {:<7}  DOWNLOADS",
                "MESSAGE",
                "RECIPIENT",
                "ACCESS",
                "EXPIRES",
                "STATE"
            );
            for v in &views {
                outln!(
                    "{:<16}  {:<32}  {:<10}  {:<19}  {:<7}  {}",
                    v.message_id,
                    v.recipient,
                    v.access,
                    format_time(&config.time_zone, v.expires_at),
                    v.state,
                    v.downloads
                );
            }
            outln!("-- {} link{}", views.len(), if views.len() == 1 { "" } else { "s" });
            Ok(())
        }
        LinksCommand::Show { message_id, json } => {
            let message = store.link_message(&message_id).await.map_err(failed)?;
            let links = store.links(Some(&message_id)).await.map_err(failed)?;
            if message.is_none() && links.is_empty() {
                return Err(no_links(&message_id));
            }
            let mut views = Vec::new();
            for link in &links {
                views.push(view(store, link, now, max_failures, true).await?);
            }
            let events: Vec<EventView> = store
                .events(&message_id)
                .await
                .map_err(failed)?
                .into_iter()
                .map(|e| EventView {
                    at: e.at,
                    event: e.event,
                    idx: e.idx,
                    client: e.client,
                    user_agent: e.user_agent,
                    detail: e.detail,
                })
                .collect();
            let files = message.as_ref().map(|m| m.files.as_slice()).unwrap_or_default();
            if json {
                return print_json(&serde_json::json!({
                    "message_id": message_id,
                    "sender": message.as_ref().map(|m| m.sender.as_str()),
                    "subject": message.as_ref().map(|m| m.subject.as_str()),
                    "created_at": message.as_ref().map(|m| m.created_at),
                    "files": files,
                    "links": views,
                    "events": events,
                }));
            }
            outln!("message:    {message_id}");
            if let Some(m) = &message {
                outln!("sender:     <{}>", m.sender);
                outln!("subject:    {}", m.subject);
                outln!("kept since: {}", format_time(&config.time_zone, m.created_at));
            }
            for f in files {
                outln!(
                    "file {}:     {} ({} bytes, {}) sha256 {}{}",
                    f.idx,
                    f.name,
                    f.size,
                    f.content_type,
                    f.sha256,
                    if f.purged { ", purged" } else { "" }
                );
            }
            let name =
                |idx: i64| files.iter().find(|f| f.idx == idx).map_or_else(|| format!("#{idx}"), |f| f.name.clone());
            for v in &views {
                let per_file: Vec<String> =
                    v.file_downloads.iter().flatten().map(|d| format!("{} {}", name(d.file), d.count)).collect();
                outln!(
                    "link:       <{}> {}, {}, expires {}, downloads {}{} (at most {} per file), wrong tries {}/{}",
                    v.recipient,
                    v.access,
                    v.state,
                    format_time(&config.time_zone, v.expires_at),
                    v.downloads,
                    if per_file.is_empty() { String::new() } else { format!(" [{}]", per_file.join(", ")) },
                    v.max_downloads,
                    v.failures,
                    max_failures
                );
            }
            let recipient = |idx: Option<i64>| match idx {
                Some(i) => links.iter().find(|l| l.idx == i).map_or_else(|| format!("#{i}"), |l| l.recipient.clone()),
                None => "-".to_string(),
            };
            for e in &events {
                outln!(
                    "event:      {} {} {} client {}{}{}",
                    format_time(&config.time_zone, e.at),
                    e.event,
                    recipient(e.idx),
                    if e.client.is_empty() { "-" } else { &e.client },
                    if e.user_agent.is_empty() { String::new() } else { format!(" agent \"{}\"", e.user_agent) },
                    if e.detail.is_empty() { String::new() } else { format!(": {}", e.detail) },
                );
            }
            Ok(())
        }
        LinksCommand::Revoke { message_id, recipient } => {
            let acted = actions.revoke(&message_id, which(recipient.as_deref()), &actor, now).await.map_err(refused)?;
            let already = if acted.changed == 0 { " (already revoked)" } else { "" };
            outln!("{message_id}: {} link(s) revoked{already}", acted.changed);
            Ok(())
        }
        LinksCommand::Extend { message_id, recipient, until } => {
            let duration = sekisho_config::Duration::parse(&until)
                .ok_or_else(|| Failure::Usage(format!("`{until}` is not a duration; write e.g. \"12h\", \"3d\"")))?;
            let secs = i64::try_from(duration.0.as_secs()).unwrap_or(i64::MAX);
            let expires_at = now.saturating_add(secs);
            let acted = actions
                .extend(&message_id, which(recipient.as_deref()), expires_at, &actor, now)
                .await
                .map_err(refused)?;
            let revoked = acted.links.iter().filter(|l| l.revoked).count();
            let note = if revoked > 0 { format!(" ({revoked} revoked, and they stay revoked)") } else { String::new() };
            outln!(
                "{message_id}: {} link(s) now expire {}{note}",
                acted.changed,
                format_time(&config.time_zone, expires_at)
            );
            Ok(())
        }
        LinksCommand::Unlock { message_id, recipient } => {
            let acted =
                actions.unlock(&message_id, Which::Recipient(&recipient), &actor, now).await.map_err(refused)?;
            let was_locked = acted.links.iter().any(|l| l.locked(max_failures));
            let note = if was_locked { "" } else { " (it was not locked)" };
            outln!("{message_id}: link of {recipient} unlocked{note}");
            Ok(())
        }
        LinksCommand::Purge { json } => {
            let files = FileStore::open(&config.store.path).map_err(failed)?.with_objects(stores.objects.clone());
            // The same purge as `serve`'s hourly one (on PostgreSQL, shared copies too); a file
            // already gone from the file store is marked purged all the same.
            let before = config.portal.purge_expired_before(now);
            let done = sekisho_store::purge_expired_files(store, &files, before).await.map_err(failed)?;
            let mut names: HashMap<String, Vec<(i64, String)>> = HashMap::new();
            let mut purged = Vec::new();
            for (message_id, idx) in done {
                if !names.contains_key(&message_id) {
                    let kept = store.link_message(&message_id).await.map_err(failed)?;
                    let list = kept.map(|m| m.files.into_iter().map(|f| (f.idx, f.name)).collect()).unwrap_or_default();
                    names.insert(message_id.clone(), list);
                }
                let name =
                    names[&message_id].iter().find(|(i, _)| *i == idx).map(|(_, n)| n.clone()).unwrap_or_default();
                purged.push(PurgedFile { message_id, idx, name });
            }
            if json {
                return print_json(&serde_json::json!({ "purged": purged.len(), "files": purged }));
            }
            outln!("{} file(s) purged", purged.len());
            Ok(())
        }
    }
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}

fn no_links(message_id: &str) -> Failure {
    Failure::Failed(format!("no links for message {message_id}"))
}

async fn view(
    store: &dyn LinkStore,
    link: &LinkRecord,
    now: i64,
    max_failures: u32,
    per_file: bool,
) -> Result<LinkView, Failure> {
    let mut downloads = store.downloads(&link.message_id, link.idx).await.map_err(failed)?;
    downloads.sort_unstable();
    Ok(LinkView {
        message_id: link.message_id.clone(),
        idx: link.idx,
        recipient: link.recipient.clone(),
        access: link.access.as_str(),
        created_at: link.created_at,
        expires_at: link.expires_at,
        state: state(link, now, max_failures),
        failures: link.failures,
        max_downloads: link.max_downloads,
        downloads: downloads.iter().map(|(_, n)| n).sum(),
        file_downloads: per_file
            .then(|| downloads.iter().map(|&(file, count)| FileDownloads { file, count }).collect()),
    })
}

/// The login name of whoever runs the command (behind sudo, the one who ran sudo).
fn operator() -> Option<String> {
    ["SUDO_USER", "USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// The links of the message, or the recipient's.
fn which(recipient: Option<&str>) -> Which<'_> {
    recipient.map_or(Which::All, Which::Recipient)
}

/// A refused action: the store's failure, or why there was nothing to act on.
fn refused(e: LinkError) -> Failure {
    Failure::Failed(e.to_string())
}
