//! Evaluating the rules against one submitted message: a pure function.

use std::collections::BTreeSet;

use super::{Actions, ApprovalNeeded, Match, RecipientClass, RulesConfig, fold};
use crate::attachments::domain_matches;

/// One file the message carries, as the inspection at submission found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// The name the sender gave it.
    pub name: String,
    /// "type/subtype" as declared.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Password-protected.
    pub encrypted: bool,
}

/// What the rules look at in one submitted message.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The envelope sender.
    pub sender: &'a str,
    /// The envelope recipients.
    pub recipients: &'a [String],
    /// The decoded Subject.
    pub subject: &'a str,
    /// The message's text (its text parts, HTML without tags).
    pub body: &'a str,
    /// Bytes of the message.
    pub size: u64,
    /// Its files.
    pub files: &'a [FileFacts],
    /// The gateway's `local_domains`.
    pub local_domains: &'a [String],
    /// The external domains (lower case) the organisation has had mail delivered to.
    pub known_domains: &'a BTreeSet<String>,
    /// The `[rules.ldap_groups]` the directory says the sender is in.
    pub ldap_groups: &'a BTreeSet<String>,
}

/// One rule as evaluated: whether it matched and why (each condition that held), or the first
/// condition that did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The rule's name.
    pub rule: String,
    /// Whether every condition held.
    pub matched: bool,
    /// When matched, each condition that held; else the one that did not.
    pub reasons: Vec<String>,
}

/// A refusal: the rule and its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The rule that refused.
    pub rule: String,
    /// Its sentence, for the 550 reply.
    pub sentence: String,
}

/// What the rules decided for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Every rule evaluated, in order (rules after a `stop` or a refusal are not).
    pub checked: Vec<Checked>,
    /// No rule matched, and the default's actions were applied.
    pub default_applied: bool,
    /// Refuse at submission.
    pub reject: Option<Rejection>,
    /// Minutes before the first delivery attempt: the longest of the matching rules'.
    pub hold_minutes: Option<u32>,
    /// The first rule (or "default") that sends attachments as links whatever the TLS.
    pub force_link: Option<String>,
    /// Who gets a copy of the decision ("sender" or addresses), each once.
    pub notify: Vec<String>,
    /// The first rule whose `bcc_external` applies (more external recipients than it allows):
    /// each external recipient gets a copy naming only them.
    pub bcc_external: Option<String>,
    /// The first rule (or "default") that asks for approval, and what that approval needs.
    pub approval: Option<ApprovalNeeded>,
    /// The first rule (or "default") with a banner, and its text.
    pub banner: Option<(String, String)>,
}

impl Decision {
    /// The names of the rules that matched, in order.
    pub fn fired(&self) -> Vec<&str> {
        self.checked.iter().filter(|c| c.matched).map(|c| c.rule.as_str()).collect()
    }

    fn apply(&mut self, rules: &RulesConfig, rule: &str, a: &Actions, external: usize) {
        if let Some(r) = &a.require_approval
            && self.approval.is_none()
        {
            self.approval = Some(ApprovalNeeded {
                rule: rule.to_string(),
                approvers: r.approvers(&rules.groups),
                timeout_minutes: r.timeout,
                on_timeout: r.on_timeout,
            });
        }
        if a.bcc_external.is_some_and(|n| external > n) && self.bcc_external.is_none() {
            self.bcc_external = Some(rule.to_string());
        }
        if let Some(sentence) = &a.reject {
            self.reject.get_or_insert_with(|| Rejection { rule: rule.to_string(), sentence: sentence.clone() });
        }
        if let Some(m) = a.hold {
            self.hold_minutes = Some(self.hold_minutes.map_or(m, |h| h.max(m)));
        }
        if let Some(text) = &a.banner
            && self.banner.is_none()
        {
            self.banner = Some((rule.to_string(), text.clone()));
        }
        if a.force_link && self.force_link.is_none() {
            self.force_link = Some(rule.to_string());
        }
        for n in &a.notify {
            if !self.notify.contains(n) {
                self.notify.push(n.clone());
            }
        }
    }
}

fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map_or("", |(_, d)| d).trim_end_matches('.').to_ascii_lowercase()
}

/// An address against "a@example.jp" or "@example.jp" patterns.
fn address_matches(patterns: &[String], address: &str) -> bool {
    patterns.iter().any(|p| match p.strip_prefix('@') {
        Some(domain) => domain.eq_ignore_ascii_case(&domain_of(address)),
        None => p.eq_ignore_ascii_case(address),
    })
}

/// The message's facts computed once for all the rules.
struct Prepared<'a> {
    s: &'a Submission<'a>,
    internal: usize,
    external: Vec<String>,
    first_time: Vec<String>,
    external_domains: BTreeSet<String>,
    subject: Option<String>,
    body: Option<String>,
}

impl<'a> Prepared<'a> {
    fn new(rules: &RulesConfig, s: &'a Submission<'a>) -> Self {
        let (mut internal, mut external, mut first_time, mut external_domains) =
            (0, Vec::new(), Vec::new(), BTreeSet::new());
        for r in s.recipients {
            let domain = domain_of(r);
            if domain_matches(s.local_domains, &domain) || domain_matches(&rules.partner_domains, &domain) {
                internal += 1;
                continue;
            }
            external.push(r.clone());
            if !s.known_domains.contains(&domain) && !first_time.contains(&domain) {
                first_time.push(domain.clone());
            }
            external_domains.insert(domain);
        }
        let wants = |f: fn(&Match) -> bool| rules.rules.iter().any(|r| f(&r.matches));
        Prepared {
            s,
            internal,
            external,
            first_time,
            external_domains,
            subject: wants(|m| !m.subject_keywords.is_empty()).then(|| fold(s.subject)),
            body: wants(|m| !m.body_keywords.is_empty()).then(|| fold(s.body)),
        }
    }

    /// Each condition of `m` that holds, or Err with the first that does not.
    fn check(&self, rules: &RulesConfig, m: &Match) -> Result<Vec<String>, String> {
        let s = self.s;
        let mut why = Vec::new();
        let mut hold = |ok: bool, yes: String, no: String| {
            if ok {
                why.push(yes);
                Ok(())
            } else {
                Err(no)
            }
        };
        if !m.sender.is_empty() {
            let ok = address_matches(&m.sender, s.sender);
            hold(ok, format!("sender {} is listed", s.sender), format!("sender {} is not listed", s.sender))?;
        }
        if !m.sender_group.is_empty() {
            let group = m.sender_group.iter().find(|g| {
                rules.groups.get(*g).is_some_and(|l| address_matches(l, s.sender)) || s.ldap_groups.contains(*g)
            });
            hold(
                group.is_some(),
                format!("sender {} is in group {}", s.sender, group.map_or("", |g| g.as_str())),
                format!("sender {} is in none of the groups {}", s.sender, m.sender_group.join(", ")),
            )?;
        }
        if !m.recipient_class.is_empty() {
            let found = m.recipient_class.iter().find_map(|c| match c {
                RecipientClass::Internal => {
                    (self.internal > 0).then(|| format!("{} internal recipient(s)", self.internal))
                }
                RecipientClass::External => {
                    (!self.external.is_empty()).then(|| format!("external recipient(s): {}", self.external.join(", ")))
                }
                RecipientClass::FirstTimeExternal => (!self.first_time.is_empty())
                    .then(|| format!("first-time external domain(s): {}", self.first_time.join(", "))),
            });
            let wanted: Vec<&str> = m.recipient_class.iter().map(|c| c.as_str()).collect();
            hold(found.is_some(), found.clone().unwrap_or_default(), format!("no {} recipient", wanted.join(" or ")))?;
        }
        if let Some(n) = m.min_external_recipients {
            let have = self.external.len();
            hold(
                have >= n,
                format!("{have} external recipients (at least {n})"),
                format!("{have} external recipients (fewer than {n})"),
            )?;
        }
        if let Some(n) = m.min_external_domains {
            let have = self.external_domains.len();
            hold(
                have >= n,
                format!("{have} external domains (at least {n})"),
                format!("{have} external domains (fewer than {n})"),
            )?;
        }
        if let Some(want) = m.attachments {
            let have = s.files.len();
            hold(
                (have > 0) == want,
                format!("{have} file(s)"),
                format!("{have} file(s), {} wanted", if want { "some" } else { "none" }),
            )?;
        }
        if !m.attachment_types.is_empty() {
            let f = s.files.iter().find(|f| m.attachment_types.iter().any(|t| type_matches(t, f)));
            hold(
                f.is_some(),
                f.map(|f| format!("file {} is {}", f.name, f.content_type)).unwrap_or_default(),
                format!("no file of type {}", m.attachment_types.join(", ")),
            )?;
        }
        if let Some(min) = m.min_attachment_size {
            let f = s.files.iter().find(|f| f.size >= min.0);
            hold(
                f.is_some(),
                f.map(|f| format!("file {} has {} bytes (at least {})", f.name, f.size, min.0)).unwrap_or_default(),
                format!("no file of {} bytes or more", min.0),
            )?;
        }
        if let Some(want) = m.encrypted_attachment {
            let f = s.files.iter().find(|f| f.encrypted);
            let yes =
                f.map_or("no file is password-protected".into(), |f| format!("file {} is password-protected", f.name));
            hold(f.is_some() == want, yes.clone(), yes)?;
        }
        if !m.subject_keywords.is_empty() {
            let subject = self.subject.as_deref().unwrap_or_default();
            let k = m.subject_keywords.iter().find(|k| subject.contains(k.as_str()));
            hold(
                k.is_some(),
                format!("subject contains \"{}\"", k.map_or("", |k| k.as_str())),
                "no subject keyword".into(),
            )?;
        }
        if !m.body_keywords.is_empty() {
            let body = self.body.as_deref().unwrap_or_default();
            let k = m.body_keywords.iter().find(|k| body.contains(k.as_str()));
            hold(k.is_some(), format!("text contains \"{}\"", k.map_or("", |k| k.as_str())), "no text keyword".into())?;
        }
        if let Some(min) = m.min_size {
            let have = s.size;
            hold(
                have >= min.0,
                format!("{have} bytes (at least {})", min.0),
                format!("{have} bytes (fewer than {})", min.0),
            )?;
        }
        if why.is_empty() {
            why.push("the rule has no condition: every message".into());
        }
        Ok(why)
    }
}

/// "type/subtype", "type/*" (against the declared type) or ".ext" (against the name).
fn type_matches(pattern: &str, f: &FileFacts) -> bool {
    if let Some(ext) = pattern.strip_prefix('.') {
        return f.name.rsplit_once('.').is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext));
    }
    match pattern.strip_suffix("/*") {
        Some(major) => f.content_type.split('/').next().is_some_and(|t| t.eq_ignore_ascii_case(major)),
        None => f.content_type.eq_ignore_ascii_case(pattern),
    }
}

/// The rules' decision for one message. The rules' keywords must be folded
/// ([`RulesConfig::fold_keywords`], done by `Config::parse`).
pub fn evaluate(rules: &RulesConfig, submission: &Submission<'_>) -> Decision {
    let prepared = Prepared::new(rules, submission);
    let mut decision = Decision::default();
    for rule in &rules.rules {
        let checked = prepared.check(rules, &rule.matches);
        let matched = checked.is_ok();
        let reasons = checked.unwrap_or_else(|no| vec![no]);
        decision.checked.push(Checked { rule: rule.name.clone(), matched, reasons });
        if matched {
            decision.apply(rules, &rule.name, &rule.actions, prepared.external.len());
            if rule.stop || decision.reject.is_some() {
                break;
            }
        }
    }
    if !decision.checked.iter().any(|c| c.matched) {
        decision.default_applied = true;
        decision.apply(rules, "default", &rules.default, prepared.external.len());
    }
    decision
}
