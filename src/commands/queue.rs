//! `sekisho queue list|show ID [--json]`.

use clap::Subcommand;
use sekisho_config::Config;

use sekisho_store::{Command, LinkEvent};

use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

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
    /// Show one message: envelope, how it arrived, each recipient's state, every attempt.
    Show {
        /// Queue ID as printed by `queue list` and in the 250 reply.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Make every queued recipient due now.
    Flush {
        #[arg(long)]
        json: bool,
    },
    /// Make one message's queued recipients due now.
    Retry {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Keep one message's queued recipients from being delivered until released.
    Hold {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Release a held message: its recipients are due now.
    Release {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove finished messages (with their attempts), expired links' records and audit log
    /// rows older than DURATION (default: `[store] retention`), and say how many.
    Purge {
        /// Age, e.g. "90d", "12h" (default: `[store] retention`).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a message from the queue without delivering or bouncing it.
    Delete {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: QueueCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let store = stores.messages.clone();
    let failed = |e: sekisho_store::StoreError| Failure::Failed(e.to_string());
    let now = chrono::Utc::now().timestamp();
    let known = |found: bool, id: &str| {
        if found { Ok(()) } else { Err(Failure::Failed(format!("no message {id} in the queue"))) }
    };
    match command {
        QueueCommand::Flush { json } => {
            let n = control.apply(None, Command::Retry, now).await.map_err(failed)?;
            report(json, serde_json::json!({ "due_now": n }), &format!("{n} recipient(s) due now"))
        }
        QueueCommand::Retry { id, json } => {
            known(store.message(&id).await.map_err(failed)?.is_some(), &id)?;
            let n = control.apply(Some(&id), Command::Retry, now).await.map_err(failed)?;
            report(json, serde_json::json!({ "id": id, "due_now": n }), &format!("{id}: {n} recipient(s) due now"))
        }
        QueueCommand::Hold { id, json } => {
            known(store.message(&id).await.map_err(failed)?.is_some(), &id)?;
            // Recipients being delivered right now are held too (see `Command::Hold`).
            let n = control.apply(Some(&id), Command::Hold, now).await.map_err(failed)?;
            report(json, serde_json::json!({ "id": id, "held": n }), &format!("{id}: {n} recipient(s) held"))
        }
        QueueCommand::Release { id, json } => {
            known(store.message(&id).await.map_err(failed)?.is_some(), &id)?;
            if control.in_quarantine(&id).await.map_err(failed)? {
                // The quarantine's own path: checked and written to the audit log.
                return super::quarantine::act(&control, &id, true, json, now).await;
            }
            let n = control.apply(Some(&id), Command::Release, now).await.map_err(failed)?;
            report(json, serde_json::json!({ "id": id, "released": n }), &format!("{id}: {n} recipient(s) released"))
        }
        QueueCommand::Purge { older_than, json } => {
            let keep = match older_than {
                Some(text) => sekisho_config::Duration::parse(&text).ok_or_else(|| {
                    Failure::Usage(format!("`{text}` is not a duration; write e.g. \"90d\", \"12h\""))
                })?,
                None => config.store.retention,
            };
            if keep.0.is_zero() {
                return Err(Failure::Usage(
                    "[store] retention is \"0\" (keep forever): give --older-than DURATION to purge".into(),
                ));
            }
            let before = now.saturating_sub(keep.0.as_secs() as i64);
            let c = control.purge(before).await.map_err(failed)?;
            let mut value = serde_json::to_value(c).map_err(|e| Failure::Failed(e.to_string()))?;
            value["before"] = before.into();
            let text = format!(
                "purged records older than {}: {} finished message(s) with {} recipient(s) and {} attempt(s) \
                 ({} spooled body file(s)), {} expired link record(s) with {} link(s), {} audit log row(s), \
                 {} withheld original(s)",
                format_time(&config.time_zone, before),
                c.messages,
                c.recipients,
                c.attempts,
                c.bodies,
                c.link_messages,
                c.links,
                c.audit_events,
                c.originals
            );
            report(json, value, &text)
        }
        QueueCommand::Delete { id, json } => {
            if control.in_quarantine(&id).await.map_err(failed)? {
                return super::quarantine::act(&control, &id, false, json, now).await;
            }
            known(control.delete(&id).await.map_err(failed)?, &id)?;
            report(json, serde_json::json!({ "id": id, "deleted": true }), &format!("{id}: deleted"))
        }
        QueueCommand::List { json, all } => {
            let list = store.list_messages(all).await.map_err(|e| Failure::Failed(e.to_string()))?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                outln!("queue is empty");
                return Ok(());
            }
            outln!("{:<16}  {:<19}  {:>9}  {:>9}  SENDER", "ID", "RECEIVED", "SIZE", "PENDING");
            for m in &list {
                let sender = if m.sender.is_empty() { "<>" } else { &m.sender };
                outln!(
                    "{:<16}  {:<19}  {:>9}  {:>9}  {}",
                    m.id,
                    format_time(&config.time_zone, m.received_at),
                    m.size,
                    format!("{}/{}", m.pending, m.recipients),
                    sender
                );
            }
            outln!("-- {} message{}", list.len(), if list.len() == 1 { "" } else { "s" });
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
            outln!("queue id:   {}", info.id);
            outln!(
                "received:   {} from {} (helo {}) on {}",
                format_time(&config.time_zone, info.received_at),
                info.client_ip,
                info.helo,
                info.listener
            );
            outln!("tls:        {}", info.tls.as_deref().unwrap_or("none"));
            outln!("user:       {}", info.auth_user.as_deref().unwrap_or("-"));
            match info.sender_tls {
                Some(sekisho_policy::SenderTls::RequireTls) => outln!(
                    "requiretls: yes (RFC 8689): only authenticated TLS to servers that advertise REQUIRETLS, else 5.7.30"
                ),
                Some(sekisho_policy::SenderTls::NotRequired) => {
                    outln!("tls-required: No (RFC 8689): delivered whatever the destination's TLS policy says")
                }
                Some(sekisho_policy::SenderTls::RequireTlsIfOffered) => outln!(
                    "requiretls: if offered (RFC 8689): a DSN about a REQUIRETLS message, relayed with REQUIRETLS \
                 where the next hop offers it"
                ),
                None => {}
            }
            outln!("sender:     <{}>", info.sender);
            outln!(
                "size:       {} bytes{}{}",
                info.size,
                if info.body_8bit { ", 8bit" } else { "" },
                if info.smtputf8 { ", SMTPUTF8" } else { "" }
            );
            outln!(
                "dsn:        ret={} envid={}",
                info.ret.as_deref().unwrap_or("-"),
                info.envid.as_deref().unwrap_or("-")
            );
            match &info.findings {
                Some(files) => {
                    for f in files {
                        outln!("file:       {} ({}, {} bytes): {}", f.name, f.content_type, f.size, found(&f.found));
                    }
                }
                None if info.origin == sekisho_store::Origin::Submission => outln!("files:      not inspected"),
                None => {}
            }
            if let Some(record) = &info.inspection {
                print_inspection(record);
            }
            if let Some(record) = &info.rules {
                super::rules::print_record(record);
            }
            if let Some(record) = &info.sender_record {
                for line in super::sender_record::lines(record) {
                    outln!("{line}");
                }
                print_sender_findings(record);
            }
            if let Some(a) = &m.approval {
                match &a.decision {
                    None => outln!(
                        "approval:   awaiting {} until {}",
                        a.approvers.join(", "),
                        format_time(&config.time_zone, a.deadline)
                    ),
                    Some(d) => outln!(
                        "approval:   {} {} by {}{}",
                        if d.approved { "approved" } else { "rejected" },
                        format_time(&config.time_zone, d.at),
                        d.by,
                        if d.comment.is_empty() { String::new() } else { format!(": {}", d.comment) }
                    ),
                }
            }
            if let Some(c) = &m.cancelled {
                outln!("cancelled:  {} by {}", format_time(&config.time_zone, c.at), c.by);
            }
            if let Some(done) = m.done_at {
                outln!("done:       {}", format_time(&config.time_zone, done));
            }
            for r in &m.recipients {
                outln!(
                    "recipient:  <{}> {} (attempts {}, next {}) notify={} orcpt={}{}",
                    r.address,
                    r.state.as_str(),
                    r.attempts,
                    format_time(&config.time_zone, r.next_attempt_at),
                    r.notify.as_deref().unwrap_or("-"),
                    r.orcpt.as_deref().unwrap_or("-"),
                    r.last_reply.as_deref().map(|l| format!(" last reply: {l}")).unwrap_or_default()
                );
            }
            for a in &m.attempts {
                let a_ = &a.attempt;
                let relay =
                    if a_.host.is_empty() { "-".to_string() } else { format!("{}[{}]:{}", a_.host, a_.ip, a_.port) };
                let assurance = a_
                    .evidence
                    .as_ref()
                    .and_then(|e| {
                        let level = e["assurance"].as_str()?;
                        Some(match e["failure"].as_str() {
                            Some(f) => format!(" assurance={level} ({f})"),
                            None => format!(" assurance={level}"),
                        })
                    })
                    .unwrap_or_default();
                outln!(
                    "attempt:    {} <{}> {} via {} tls={}{}: {}",
                    format_time(&config.time_zone, a_.at),
                    a.recipient,
                    a_.outcome.as_str(),
                    relay,
                    a_.tls.as_deref().unwrap_or("none"),
                    assurance,
                    a_.reply
                );
                if let Some(v) = &a_.variant {
                    // The reason normally starts with its kind ("link — ..."); say it if not.
                    if v.reason.starts_with(v.kind.as_str()) {
                        outln!("variant:    {}", v.reason);
                    } else {
                        outln!("variant:    {} — {}", v.kind, v.reason);
                    }
                }
                if let Some(smime) = &a_.smime {
                    outln!("smime:      {smime}");
                }
                if let Some(dkim) = &a_.dkim {
                    outln!("dkim:       {dkim}");
                }
                if let Some(waived) = a_.evidence.as_ref().and_then(|e| e["waived"].as_str()) {
                    outln!("waived:     {waived}");
                }
            }
            // Who released or deleted it from quarantine, which digests told whom, and where
            // the DMARC failure report about it went.
            for e in stores.links.events(&id).await.map_err(failed)? {
                if matches!(
                    e.event,
                    LinkEvent::QuarantineReleased
                        | LinkEvent::QuarantineDeleted
                        | LinkEvent::QuarantineDigest
                        | LinkEvent::DmarcFailureReport
                ) {
                    outln!(
                        "event:      {} {}: {}",
                        format_time(&config.time_zone, e.at),
                        e.event,
                        sekisho_policy::text::visible(&e.detail)
                    );
                }
            }
            Ok(())
        }
    }
}

/// What was found about an inbound message's sender, in words: each finding's sentence, then
/// its evidence.
pub(crate) fn print_sender_findings(record: &sekisho_policy::sender::SenderRecord) {
    if record.findings.is_empty() {
        outln!("findings:   none about the sender");
    }
    for f in &record.findings {
        let visible = sekisho_policy::text::visible;
        outln!("finding:    {}: {}", f.kind, visible(&f.sentence));
        outln!("            {}", visible(&f.sentence_ja));
        outln!("            evidence: {}", visible(&f.detail));
    }
}

/// An inbound message's inspection: what was done and why, then each file and archive entry
/// (indented under its container) with its class and reason.
pub(crate) fn print_inspection(record: &sekisho_policy::inbound::InspectionRecord) {
    outln!("inspection: {} — {}", record.action, record.rule);
    outln!("antivirus:  {}", record.antivirus);
    if record.password_in_message {
        outln!("warning:    the password of an archive was in the message itself");
    }
    for file in &record.files {
        for (path, f) in file.walk() {
            outln!(
                "file:       {}{} ({}, {} bytes): {} — {}",
                "  ".repeat(path.len() - 1),
                sekisho_policy::text::visible(&f.name),
                f.file_type,
                f.size,
                f.class,
                sekisho_policy::text::visible(&f.reason)
            );
        }
    }
    for s in &record.sanitised {
        let original = record.files.get(s.original).map_or("?".into(), |f| sekisho_policy::text::visible(&f.name));
        outln!(
            "sanitised:  {} → {} ({} bytes, {}): {} — {}",
            original,
            sekisho_policy::text::visible(&s.copy.name),
            s.copy.size,
            s.copy.sha256.as_deref().unwrap_or("-"),
            s.copy.class,
            sekisho_policy::text::visible(&s.copy.reason)
        );
    }
    if record.html_to_text {
        outln!("html:       HTML bodies delivered as plain text");
    }
}

pub(crate) fn report(json: bool, value: serde_json::Value, text: &str) -> Result<(), Failure> {
    if json {
        print_json(&value)
    } else {
        outln!("{text}");
        Ok(())
    }
}

/// What inspection found in a file, in words: "clean", "password-protected ZIP entry
/// (ZipCrypto), in a > b", "not inspected: why".
fn found(found: &sekisho_store::Found) -> String {
    let inside = |path: &[String]| if path.is_empty() { String::new() } else { format!(", in {}", path.join(" > ")) };
    match found {
        sekisho_store::Found::Clean => "clean".into(),
        sekisho_store::Found::Encrypted { what, inside: path } => format!("encrypted ({what}){}", inside(path)),
        sekisho_store::Found::Uninspectable { why, inside: path } => format!("not inspected: {why}{}", inside(path)),
    }
}
