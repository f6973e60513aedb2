//! The mis-send rules' inputs, gathered from one submitted message: its words (Subject and
//! text), its files as the inspection at submission found them, and which of its recipients'
//! domains the organisation has written to. The decision itself is
//! `sekisho_config::evaluate_rules`, a pure function; `sekisho rules test` and the submission
//! listener both gather through here.

use std::collections::BTreeSet;

use sekisho_config::{Config, FileFacts, RuleDecision, Submission, domain_matches, evaluate_rules};
use sekisho_inspect::mime::{MessageLimits, inspect_message, words};
use sekisho_store::{FileFinding, Found, MessageStore, StoreError};

/// Most bytes of a message's text the body keywords are looked for in.
pub const MAX_RULE_TEXT: usize = 1 << 20;

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

/// The rules' decision on the message `raw` from `sender` to `recipients`, with its files'
/// `findings` and the `known` domains. Pure: the I/O (inspection, the store) is done before.
pub fn decide(
    config: &Config,
    raw: &[u8],
    sender: &str,
    recipients: &[String],
    findings: &[FileFinding],
    known: &BTreeSet<String>,
) -> RuleDecision {
    let words = if config
        .rules
        .rules
        .iter()
        .any(|r| !r.matches.subject_keywords.is_empty() || !r.matches.body_keywords.is_empty())
    {
        words(raw, &MessageLimits::default(), MAX_RULE_TEXT).unwrap_or_default()
    } else {
        Default::default()
    };
    let files = file_facts(findings);
    evaluate_rules(
        &config.rules,
        &Submission {
            sender,
            recipients,
            subject: &words.subject,
            body: &words.text,
            size: raw.len() as u64,
            files: &files,
            local_domains: &config.local_domains,
            known_domains: known,
        },
    )
}
