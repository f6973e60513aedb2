//! The mis-send rules at submission. What they read of one submitted message is gathered here:
//! its words (Subject and text), its files as the inspection at submission found them, and
//! which of its recipients' domains the organisation has written to. The decision itself is
//! `sekisho_config::evaluate_rules`, a pure function; `sekisho rules test` and the submission
//! listener both gather through here, and [`record`] and [`reply`] (pure) turn the decision
//! into what is kept with the message and the refusal.

use std::collections::BTreeSet;
use std::path::Path;

use sekisho_config::{Config, FileFacts, OnTimeout, RuleDecision, Submission, domain_matches, evaluate_rules};
use sekisho_inspect::mime::{MessageLimits, Words, inspect_message, words};
use sekisho_smtp::Reply;
use sekisho_store::{ApprovalRequest, FileFinding, FiredRule, Found, MessageStore, RulesRecord, StoreError};

/// Most bytes of a message's text the body keywords are looked for in.
pub const MAX_RULE_TEXT: usize = 1 << 20;

/// Why the rules could not be applied to a submitted message (the client gets 451).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The spooled message could not be read.
    #[error("cannot read the message for the rules: {0}")]
    Read(#[from] std::io::Error),
    /// The delivered history could not be asked.
    #[error("cannot read the delivered history for the rules: {0}")]
    Store(#[from] StoreError),
    /// The directory did not say whether the sender is in a group a rule names.
    #[error("cannot ask the directory for the rules' groups: {0}")]
    Directory(#[from] sekisho_directory::DirectoryError),
}

/// What the rules need to know beyond the message, asked before they are evaluated.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// The recipients' external domains the organisation has written to.
    pub known_domains: BTreeSet<String>,
    /// The `[rules.ldap_groups]` the directory says the sender is in.
    pub sender_groups: BTreeSet<String>,
}

/// Which of the LDAP groups the rules name `sender` is in: one search per group, only for
/// groups some rule names. Without a directory, none.
pub async fn sender_groups(
    config: &Config,
    directory: Option<&sekisho_directory::Directory>,
    sender: &str,
) -> Result<BTreeSet<String>, sekisho_directory::DirectoryError> {
    let mut out = BTreeSet::new();
    let Some(directory) = directory else { return Ok(out) };
    if sender.is_empty() {
        return Ok(out);
    }
    for (name, template) in config.rules.ldap_groups_used() {
        let filter = sekisho_directory::filter(template, "sender", sender);
        if !directory.search(&filter, &["1.1"]).await?.is_empty() {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}

/// The files of a message as the rules see them.
pub fn file_facts(findings: &[FileFinding]) -> Vec<FileFacts> {
    findings
        .iter()
        .map(|f| FileFacts {
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            encrypted: matches!(f.found, Found::Encrypted { .. }),
        })
        .collect()
}

/// What the inspection at submission finds in `raw`'s files (the walk `attachments::check`
/// runs before the 250), or None when the message cannot be walked.
pub fn inspect_files(raw: &[u8]) -> Option<Vec<FileFinding>> {
    inspect_message(raw, &MessageLimits::default()).ok().map(|parts| crate::attachments::findings(&parts))
}

/// The words the rules look for in `raw`, when a rule looks for any (else none).
pub fn rule_words(config: &Config, raw: &[u8]) -> Words {
    if !wants_words(config) {
        return Words::default();
    }
    words(raw, &MessageLimits::default(), MAX_RULE_TEXT).unwrap_or_default()
}

/// Whether a rule looks at the message's files.
fn wants_files(config: &Config) -> bool {
    config.rules.rules.iter().any(|r| {
        let m = &r.matches;
        m.attachments.is_some()
            || !m.attachment_types.is_empty()
            || m.min_attachment_size.is_some()
            || m.encrypted_attachment.is_some()
    })
}

/// The external domains among `recipients` (lower case), each once: internal ones are
/// `local_domains` and `[rules] partner_domains`.
pub fn external_domains(config: &Config, recipients: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in recipients {
        let domain = r.rsplit_once('@').map_or("", |(_, d)| d).trim_end_matches('.').to_ascii_lowercase();
        let internal =
            domain_matches(&config.local_domains, &domain) || domain_matches(&config.rules.partner_domains, &domain);
        if !internal && !out.contains(&domain) {
            out.push(domain);
        }
    }
    out
}

/// Which of the recipients' external domains submitted mail has been delivered to; nothing is
/// asked when no rule looks for first-time domains.
pub async fn known_domains(
    config: &Config,
    store: &dyn MessageStore,
    recipients: &[String],
) -> Result<BTreeSet<String>, StoreError> {
    let wanted = config
        .rules
        .rules
        .iter()
        .any(|r| r.matches.recipient_class.contains(&sekisho_config::RecipientClass::FirstTimeExternal));
    if !wanted {
        return Ok(BTreeSet::new());
    }
    store.written_domains(&external_domains(config, recipients)).await
}

/// The rules' decision on a message of `size` bytes from `sender` to `recipients`, with its
/// `words`, its files' `findings` and what was `asked` of the store and the directory: pure.
pub fn decide(
    config: &Config,
    words: &Words,
    size: u64,
    sender: &str,
    recipients: &[String],
    findings: &[FileFinding],
    asked: &Asked,
) -> RuleDecision {
    let files = file_facts(findings);
    evaluate_rules(
        &config.rules,
        &Submission {
            sender,
            recipients,
            subject: &words.subject,
            body: &words.text,
            size,
            files: &files,
            local_domains: &config.local_domains,
            known_domains: &asked.known_domains,
            ldap_groups: &asked.sender_groups,
        },
    )
}

/// What is kept with the message received at `received_at`: pure.
pub fn record(d: &RuleDecision, received_at: i64) -> RulesRecord {
    RulesRecord {
        fired: d
            .checked
            .iter()
            .filter(|c| c.matched)
            .map(|c| FiredRule { rule: c.rule.clone(), reasons: c.reasons.clone() })
            .collect(),
        default_applied: d.default_applied,
        hold_minutes: d.hold_minutes,
        force_link: d.force_link.clone(),
        bcc_external: d.bcc_external.clone(),
        banner: d
            .banner
            .as_ref()
            .map(|(rule, text)| sekisho_store::RuleBanner { rule: rule.clone(), text: text.clone() }),
        approval: d.approval.as_ref().map(|a| ApprovalRequest {
            rule: a.rule.clone(),
            approvers: a.approvers.clone(),
            deadline: received_at + i64::from(a.timeout_minutes) * 60,
            release_on_timeout: a.on_timeout == OnTimeout::Release,
        }),
    }
}

/// The refusal, when a rule refuses: 550 5.7.1 with the rule's sentence (validated printable
/// ASCII when the configuration was loaded). Pure.
pub fn reply(d: &RuleDecision) -> Option<Reply> {
    d.reject.as_ref().map(|r| Reply::new(550, "5.7.1", r.sentence.clone()))
}

/// What the rules did to one submitted message.
pub(crate) struct Ruled {
    /// The refusal, if a rule refuses.
    pub refusal: Option<Reply>,
    /// The record kept with the message; None when no rule is configured.
    pub record: Option<RulesRecord>,
    /// The first delivery attempt not before this time (Unix seconds).
    pub not_before: Option<i64>,
    /// Every recipient starts held: a rule asks for an approver's decision.
    pub awaits_approval: bool,
    /// The decision, for the notices it asks for (`crate::rules_notice`).
    pub decision: Option<RuleDecision>,
}

/// Applies the rules to the message spooled at `path` (`size` bytes), received at
/// `received_at`; `findings` are those of the inspection at submission, if it ran.
pub(crate) async fn check(
    config: &Config,
    (store, directory): (&dyn MessageStore, Option<&sekisho_directory::Directory>),
    (path, size): (&Path, u64),
    sender: &str,
    recipients: &[String],
    findings: Option<&[FileFinding]>,
    received_at: i64,
) -> Result<Ruled, RulesError> {
    let rules = &config.rules;
    if rules.rules.is_empty() && rules.default.is_empty() && config.outbound.hold == 0 {
        return Ok(Ruled { refusal: None, record: None, not_before: None, awaits_approval: false, decision: None });
    }
    let asked = Asked {
        known_domains: known_domains(config, store, recipients).await?,
        sender_groups: sender_groups(config, directory, sender).await?,
    };
    // The words and, when the inspection at submission did not run, the files: read and
    // walked on a blocking thread.
    let need_files = findings.is_none() && wants_files(config);
    let want_words = wants_words(config);
    let (words, walked) = if !need_files && !want_words {
        (Words::default(), None)
    } else {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<_, std::io::Error> {
            let raw = std::fs::read(&path)?;
            let walked = need_files.then(|| inspect_files(&raw).unwrap_or_default());
            let words = if want_words {
                words(&raw, &MessageLimits::default(), MAX_RULE_TEXT).unwrap_or_default()
            } else {
                Words::default()
            };
            Ok((words, walked))
        })
        .await
        .map_err(std::io::Error::other)??
    };
    let findings = findings.or(walked.as_deref()).unwrap_or_default();
    let mut decision = decide(config, &words, size, sender, recipients, findings, &asked);
    // `[outbound] hold`: every message waits at least that long.
    if config.outbound.hold > 0 {
        decision.hold_minutes =
            Some(decision.hold_minutes.map_or(config.outbound.hold, |m| m.max(config.outbound.hold)));
    }
    Ok(Ruled {
        refusal: reply(&decision),
        not_before: decision.hold_minutes.map(|m| received_at + i64::from(m) * 60),
        awaits_approval: decision.reject.is_none() && decision.approval.is_some(),
        record: Some(record(&decision, received_at)),
        decision: Some(decision),
    })
}

/// Whether a rule looks for keywords.
fn wants_words(config: &Config) -> bool {
    config.rules.rules.iter().any(|r| !r.matches.subject_keywords.is_empty() || !r.matches.body_keywords.is_empty())
}
