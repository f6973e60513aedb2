//! `sekisho rules test MESSAGE.eml --from A --to B...`: which mis-send rules match a message,
//! why, and what would happen to it. Nothing is sent or queued.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Subcommand;
use sekisho_config::{Config, RuleDecision};

use super::print_json;
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Evaluate the rules on a message file as if it were submitted; sends nothing.
    Test {
        /// The message (RFC 5322, as a mail program saves it: .eml).
        message: PathBuf,
        /// Envelope sender.
        #[arg(long, value_name = "ADDRESS")]
        from: String,
        /// Envelope recipients.
        #[arg(long, value_name = "ADDRESS", num_args = 1.., required = true)]
        to: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: RulesCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let RulesCommand::Test { message, from, to, json } = command;
    let raw =
        std::fs::read(&message).map_err(|e| Failure::Failed(format!("cannot read {}: {e}", message.display())))?;
    // The history of delivered mail says which domains are first-time ones; without a data
    // directory, every external domain is.
    let (known, history) = if config.store.path.is_dir() {
        let (stores, _) = super::open_store(config, source, super::DataDir::MustExist).await?;
        let known = sekisho_receive::rules::known_domains(config, stores.messages.as_ref(), &to)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        (known, true)
    } else {
        (BTreeSet::new(), false)
    };
    // The directory says which of the rules' LDAP groups the sender is in.
    let directory = sekisho_directory::configured(config).map_err(|e| Failure::Failed(e.to_string()))?;
    let sender_groups = sekisho_receive::rules::sender_groups(config, directory.as_ref(), &from)
        .await
        .map_err(|e| Failure::Failed(format!("cannot ask the directory for the rules' groups: {e}")))?;
    let asked = sekisho_receive::rules::Asked { known_domains: known, sender_groups };
    let findings = sekisho_receive::rules::inspect_files(&raw).unwrap_or_default();
    let words = sekisho_receive::rules::rule_words(config, &raw);
    let decision = sekisho_receive::rules::decide(config, &words, raw.len() as u64, &from, &to, &findings, &asked);
    if json {
        return print_json(&as_json(&decision, history));
    }
    for line in report(&decision, history) {
        outln!("{line}");
    }
    Ok(())
}

/// The report, line by line.
fn report(d: &RuleDecision, history: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !history {
        out.push("(no data directory: every external domain counts as first-time)".to_string());
    }
    for c in &d.checked {
        if c.matched {
            out.push(format!("rule {}: matched", c.rule));
            out.extend(c.reasons.iter().map(|r| format!("  - {r}")));
        } else {
            out.push(format!("rule {}: no ({})", c.rule, c.reasons.join("; ")));
        }
    }
    if d.default_applied {
        out.push("no rule matched: the default applies".to_string());
    }
    out.push(format!("would: {}", outcome(d).join("; ")));
    out.push("nothing was sent".to_string());
    out
}

/// What would happen, one phrase per action.
fn outcome(d: &RuleDecision) -> Vec<String> {
    if let Some(r) = &d.reject {
        return vec![format!("refuse at submission (rule {}): 550 5.7.1 {}", r.rule, r.sentence)];
    }
    let mut out = Vec::new();
    if let Some(a) = &d.approval {
        out.push(format!(
            "wait for approval by {} (rule {}; {} after {} minute(s) without a decision)",
            a.approvers.join(", "),
            a.rule,
            if a.on_timeout == sekisho_config::OnTimeout::Release { "release" } else { "reject" },
            a.timeout_minutes
        ));
    }
    if let Some(m) = d.hold_minutes {
        out.push(format!("hold {m} minute(s) before the first delivery attempt"));
    }
    if let Some(rule) = &d.force_link {
        out.push(format!("send attachments as links whatever the TLS (rule {rule})"));
    }
    if let Some(rule) = &d.bcc_external {
        out.push(format!("give each external recipient a copy naming only them (rule {rule})"));
    }
    if !d.notify.is_empty() {
        out.push(format!("notify {}", d.notify.join(", ")));
    }
    if out.is_empty() {
        out.push("send as usual".into());
    }
    out
}

fn as_json(d: &RuleDecision, history: bool) -> serde_json::Value {
    serde_json::json!({
        "history": history,
        "rules": d.checked.iter().map(|c| serde_json::json!({
            "rule": c.rule, "matched": c.matched, "reasons": c.reasons,
        })).collect::<Vec<_>>(),
        "fired": d.fired(),
        "default_applied": d.default_applied,
        "reject": d.reject.as_ref().map(|r| serde_json::json!({ "rule": r.rule, "sentence": r.sentence })),
        "hold_minutes": d.hold_minutes,
        "force_link": d.force_link,
        "notify": d.notify,
        "bcc_external": d.bcc_external,
        "approval": d.approval.as_ref().map(|a| serde_json::json!({
            "rule": a.rule, "approvers": a.approvers, "timeout_minutes": a.timeout_minutes,
            "on_timeout": a.on_timeout.as_str(),
        })),
    })
}

/// `queue show`'s lines for what the rules decided at submission.
pub(crate) fn print_record(record: &sekisho_store::RulesRecord) {
    for line in record_lines(record) {
        outln!("{line}");
    }
}

fn record_lines(r: &sekisho_store::RulesRecord) -> Vec<String> {
    let mut out: Vec<String> =
        r.fired.iter().map(|f| format!("rule:       {} ({})", f.rule, f.reasons.join("; "))).collect();
    if r.default_applied {
        out.push("rule:       none matched: the default applied".into());
    }
    if let Some(m) = r.hold_minutes {
        out.push(format!("held:       {m} minute(s) before the first attempt"));
    }
    if let Some(rule) = &r.force_link {
        out.push(format!("links:      attachments as links whatever the TLS (rule {rule})"));
    }
    if let Some(rule) = &r.bcc_external {
        out.push(format!("bcc:        each external recipient sees only themselves (rule {rule})"));
    }
    if let Some(a) = &r.approval {
        out.push(format!("approvers:  {} (rule {})", a.approvers.join(", "), a.rule));
    }
    out
}
