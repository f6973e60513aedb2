//! `[rules]`: the mis-send rules applied to submitted mail. Each `[[rules.rule]]` has a `match`
//! (every condition given must hold; none given: every message) and `actions`; they are
//! evaluated in order, every matching rule adds its actions, `stop = true` ends the evaluation
//! when its rule matched, and `[rules.default]` applies when none matched. The rules may live in
//! a file of their own (`[rules] file`), written without the `rules.` prefix.
//!
//! Evaluation ([`evaluate`]) is a pure function of the rules and a [`Submission`]: what the
//! store knows (the domains the organisation has written to) is handed in.

mod approval;
mod eval;
mod fold;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::size::Size;

pub use approval::{ApprovalNeeded, DEFAULT_APPROVAL_TIMEOUT, OnTimeout, RequireApproval};
pub use eval::{Checked, Decision, FileFacts, Rejection, Submission, evaluate};
pub use fold::fold;

/// `[rules]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// A TOML file holding the rules (relative paths from the working directory); when set,
    /// `[rules]` holds nothing else.
    pub file: Option<PathBuf>,
    /// Domains counted as internal besides `local_domains` ("example.com", or ".example.com"
    /// for it and its subdomains).
    pub partner_domains: Vec<String>,
    /// Named lists of sender addresses ("a@example.jp", or "@example.jp" for a whole domain).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Groups the directory (`[ldap]`) decides: the sender is in one when this LDAP filter, its
    /// `{sender}` replaced by the envelope sender (escaped), finds an entry.
    pub ldap_groups: BTreeMap<String, String>,
    /// The rules, in order.
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    /// Actions applied when no rule matched.
    pub default: Actions,
}

/// One `[[rules.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its name, shown in the queue, the trace and `sekisho rules test`.
    pub name: String,
    /// The conditions; all must hold.
    #[serde(rename = "match", default)]
    pub matches: Match,
    /// What happens to a message it matches.
    #[serde(default)]
    pub actions: Actions,
    /// When this rule matched, the rules after it are not evaluated.
    #[serde(default)]
    pub stop: bool,
}

/// Which recipients a rule's `recipient_class` looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientClass {
    /// A local domain or a partner domain.
    Internal,
    /// Any other domain.
    External,
    /// An external domain nobody in the organisation has had mail delivered to.
    FirstTimeExternal,
}

impl RecipientClass {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientClass::Internal => "internal",
            RecipientClass::External => "external",
            RecipientClass::FirstTimeExternal => "first_time_external",
        }
    }
}

/// `[rules.rule.match]`: the conditions of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Match {
    /// The sender is one of these ("a@example.jp", "@example.jp").
    pub sender: Vec<String>,
    /// The sender is in one of these groups.
    pub sender_group: Vec<String>,
    /// Some recipient is of one of these classes.
    pub recipient_class: Vec<RecipientClass>,
    /// At least this many external recipients.
    pub min_external_recipients: Option<usize>,
    /// At least this many external domains among the recipients.
    pub min_external_domains: Option<usize>,
    /// The message carries files (true) or none (false).
    pub attachments: Option<bool>,
    /// Some file is of one of these types: "type/subtype", "type/*", or ".ext" (by name).
    pub attachment_types: Vec<String>,
    /// Some file is at least this large (decoded).
    pub min_attachment_size: Option<Size>,
    /// Some file is (true) or none is (false) password-protected.
    pub encrypted_attachment: Option<bool>,
    /// The Subject contains one of these (width and case folded).
    pub subject_keywords: Vec<String>,
    /// The text of the message contains one of these (width and case folded).
    pub body_keywords: Vec<String>,
    /// The message is at least this large.
    pub min_size: Option<Size>,
}

/// `[rules.rule.actions]` and `[rules.default]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    /// Refuse the message at submission (550 5.7.1) with this sentence.
    pub reject: Option<String>,
    /// Hold the message this many minutes before its first delivery attempt.
    pub hold: Option<u32>,
    /// Attachments travel as links whatever the TLS of the delivery session.
    pub force_link: bool,
    /// Who gets a copy of the decision: "sender", or addresses.
    pub notify: Vec<String>,
    /// With more than this many external recipients, each external recipient gets a copy whose
    /// To and Cc name only them (the others as if in Bcc); internal recipients see the list.
    pub bcc_external: Option<usize>,
    /// The message waits, held, until an approver approves or rejects it (or its timeout).
    pub require_approval: Option<RequireApproval>,
    /// A text put at the top of the message's text and HTML bodies for its recipients.
    pub banner: Option<String>,
}

impl Actions {
    /// No action at all.
    pub fn is_empty(&self) -> bool {
        *self == Actions::default()
    }
}

/// The rules' file, as written: `[rules]` without its prefix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RulesFile {
    partner_domains: Vec<String>,
    groups: BTreeMap<String, Vec<String>>,
    ldap_groups: BTreeMap<String, String>,
    #[serde(rename = "rule")]
    rules: Vec<Rule>,
    default: Actions,
}

impl RulesConfig {
    /// Reads the rules from `file`, if one is named: `[rules]` then holds what it holds.
    /// `config_text`/`config_path` name the configuration in errors about the `file` key.
    pub(crate) fn load_file(
        &mut self,
        config_path: &Path,
        config_text: &str,
    ) -> Result<Option<(PathBuf, String)>, ConfigError> {
        let Some(path) = self.file.clone() else { return Ok(None) };
        if !self.partner_domains.is_empty()
            || !self.groups.is_empty()
            || !self.ldap_groups.is_empty()
            || !self.rules.is_empty()
            || !self.default.is_empty()
        {
            return Err(ConfigError::invalid(
                config_path,
                config_text,
                "rules.file",
                format!("the rules are read from {}: write the other rules keys there", path.display()),
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::invalid(config_path, config_text, "rules.file", format!("cannot read {}: {e}", path.display()))
        })?;
        let read: RulesFile = toml::from_str(&text).map_err(|e| ConfigError::from_toml(&path, &text, &e))?;
        self.partner_domains = read.partner_domains;
        self.groups = read.groups;
        self.ldap_groups = read.ldap_groups;
        self.rules = read.rules;
        self.default = read.default;
        Ok(Some((path, text)))
    }

    /// Folds every keyword once ([`fold`]), so evaluation compares folded text with folded
    /// text. Called when the configuration is loaded.
    pub fn fold_keywords(&mut self) {
        for rule in &mut self.rules {
            for k in rule.matches.subject_keywords.iter_mut().chain(rule.matches.body_keywords.iter_mut()) {
                *k = fold(k);
            }
        }
    }

    /// The LDAP groups some rule's `sender_group` names, each once: what must be asked of the
    /// directory about a sender before the rules are evaluated.
    pub fn ldap_groups_used(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for g in self.rules.iter().flat_map(|r| &r.matches.sender_group) {
            if let Some(filter) = self.ldap_groups.get(g)
                && !out.iter().any(|(n, _)| n == g)
            {
                out.push((g.as_str(), filter.as_str()));
            }
        }
        out
    }

    /// Checks the rules; `prefix` is "rules." in the configuration and "" in a rules file.
    pub(crate) fn validate(&self, err: &dyn Fn(&str, String) -> ConfigError, prefix: &str) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let key = |k: &str| format!("{prefix}rule.{i}.{k}");
            if rule.name.trim().is_empty() {
                return Err(err(&key("name"), "a rule needs a name".into()));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(err(&key("name"), format!("`{}` names two rules", rule.name)));
            }
            for group in &rule.matches.sender_group {
                if !self.groups.contains_key(group) && !self.ldap_groups.contains_key(group) {
                    let known: Vec<&str> =
                        self.groups.keys().chain(self.ldap_groups.keys()).map(String::as_str).collect();
                    return Err(err(
                        &key("match.sender_group"),
                        format!("no group `{group}` in {prefix}groups (groups: {})", known.join(", ")),
                    ));
                }
            }
            for (k, list) in [
                ("match.subject_keywords", &rule.matches.subject_keywords),
                ("match.body_keywords", &rule.matches.body_keywords),
                ("match.attachment_types", &rule.matches.attachment_types),
            ] {
                if list.iter().any(|w| w.trim().is_empty()) {
                    return Err(err(&key(k), "an empty entry would match every message".into()));
                }
            }
            for t in &rule.matches.attachment_types {
                if !t.starts_with('.') && !t.contains('/') {
                    return Err(err(
                        &key("match.attachment_types"),
                        format!(
                            "`{t}` is neither a type (\"application/pdf\", \"image/*\") nor an extension (\".xlsx\")"
                        ),
                    ));
                }
            }
            for (k, zero) in [
                ("match.min_external_recipients", rule.matches.min_external_recipients == Some(0)),
                ("match.min_external_domains", rule.matches.min_external_domains == Some(0)),
            ] {
                if zero {
                    return Err(err(&key(k), "must be at least 1".into()));
                }
            }
            validate_actions(&rule.actions, &|k: &str, m| err(&key(&format!("actions.{k}")), m))?;
            if let Some(a) = &rule.actions.require_approval {
                a.validate(&self.groups, prefix, &|k: &str, m| err(&key(&format!("actions.{k}")), m))?;
            }
            if rule.actions.is_empty() {
                return Err(err(&key("actions"), format!("rule `{}` has no action", rule.name)));
            }
        }
        validate_actions(&self.default, &|k: &str, m| err(&format!("{prefix}default.{k}"), m))?;
        if let Some(a) = &self.default.require_approval {
            a.validate(&self.groups, prefix, &|k: &str, m| err(&format!("{prefix}default.{k}"), m))?;
        }
        if self.default.reject.is_some() {
            return Err(err(&format!("{prefix}default.reject"), "the default cannot refuse every message".into()));
        }
        for (name, filter) in &self.ldap_groups {
            let key = format!("{prefix}ldap_groups.{name}");
            if self.groups.contains_key(name) {
                return Err(err(&key, format!("`{name}` is also in {prefix}groups: a group comes from one place")));
            }
            if !filter.starts_with('(') || !filter.contains("{sender}") {
                return Err(err(&key, format!("`{filter}` must be an LDAP filter containing {{sender}}")));
            }
        }
        for (name, members) in &self.groups {
            if let Some(bad) = members.iter().find(|m| !m.contains('@')) {
                return Err(err(
                    &format!("{prefix}groups.{name}"),
                    format!("`{bad}` is not an address or \"@domain\""),
                ));
            }
        }
        Ok(())
    }
}

fn validate_actions(a: &Actions, err: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
    if let Some(b) = &a.banner
        && (b.trim().is_empty() || b.chars().count() > 2000 || b.chars().any(|c| c.is_control() && c != '\n'))
    {
        return Err(err("banner", "must be a text of 1 to 2000 characters (line breaks allowed)".into()));
    }
    if a.bcc_external == Some(0) {
        return Err(err("bcc_external", "must be at least 1 (external recipients)".into()));
    }
    if a.hold == Some(0) {
        return Err(err("hold", "must be at least 1 (minutes)".into()));
    }
    if let Some(r) = &a.reject
        && (r.trim().is_empty() || r.len() > 400 || !r.chars().all(|c| c == ' ' || c.is_ascii_graphic()))
    {
        return Err(err("reject", "the sentence is sent in an SMTP reply: 1 to 400 printable ASCII characters".into()));
    }
    if let Some(bad) = a.notify.iter().find(|n| *n != "sender" && !n.contains('@')) {
        return Err(err("notify", format!("`{bad}` is neither \"sender\" nor an address")));
    }
    Ok(())
}
