//! `[inbound]`: what is done with mail arriving on the MX listeners, by the class of its files.

use sekisho_policy::Access;
use sekisho_policy::inbound::{DangerKind, FileClass, InboundAction};
use serde::Deserialize;

use crate::Duration;
use crate::attachments::domain_matches;

/// `[inbound]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Open, scan and classify every file of inbound mail before the 250. Off: inbound mail
    /// passes as it is, with no inspection record.
    pub inspect: bool,
    /// What happens to a message whose worst file is Safe (or that carries no file).
    pub safe: InboundAction,
    /// ... whose worst file is Unsupported (e.g. an encrypted archive).
    pub unsupported: InboundAction,
    /// ... whose worst file is Error (not scanned: antivirus unavailable, a limit reached).
    pub error: InboundAction,
    /// ... that carries a Danger file (a virus, or content listed in `danger`).
    pub danger: InboundAction,
    /// Which content counts as Danger besides what the antivirus finds.
    pub danger_content: Vec<DangerKind>,
    /// Text put in front of the Subject of a delivered or separated message whose worst file
    /// is not Safe; empty: the Subject is left alone.
    pub subject_tag: String,
    /// Longest time spent inspecting one message before the 250; files not scanned by then are
    /// Error.
    pub time_budget: Duration,
    /// Try the passwords the message's own text carries on its encrypted archives.
    pub message_passwords: bool,
    /// How the recipient of a separated message opens its classification page: `"none"` (the
    /// link in the notice, which only their mailbox received) or `"otp"` (a one-time code
    /// mailed to their own address).
    pub access: Access,
    /// Make a copy of each Office Open XML document with a VBA project without it (.xlsm →
    /// .xlsx), inspect the copy again, and deliver a Safe copy in place of the original (which
    /// stays Danger, never given to the recipient). Legacy .doc/.xls/.ppt keep Danger.
    pub sanitise_macros: bool,
    /// Deliver HTML body parts as plain text with their links shown as text; where a
    /// text/plain alternative exists, the HTML part is removed.
    pub html_to_text: bool,
    /// Files that could not be scanned (Unsupported, Error) may be downloaded from the
    /// classification page after its warning. `false`: never; an encrypted archive can still
    /// be opened there with its password, and its entries count by their own classes.
    pub unscanned_downloads: bool,
    /// Per recipient domain overrides, `[[inbound.domains]]`.
    pub domains: Vec<InboundRule>,
    /// `false` (the default) or the time of day ("08:30", in `time_zone`) at which each
    /// recipient of quarantined mail gets one mail listing what was held for them since the
    /// last digest.
    pub quarantine_digest: crate::DigestTime,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            inspect: true,
            safe: InboundAction::Deliver,
            unsupported: InboundAction::Separate,
            error: InboundAction::Separate,
            danger: InboundAction::Separate,
            danger_content: DangerKind::defaults(),
            subject_tag: String::new(),
            time_budget: Duration::from_secs(30),
            message_passwords: true,
            access: Access::None,
            sanitise_macros: false,
            html_to_text: false,
            unscanned_downloads: true,
            domains: Vec::new(),
            quarantine_digest: crate::DigestTime::default(),
        }
    }
}

/// `[[inbound.domains]] domains = [...]` with any of `safe`, `unsupported`, `error`, `danger`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRule {
    /// Recipient domains; ".example.com" also matches its subdomains.
    pub domains: Vec<String>,
    /// Action for Safe.
    pub safe: Option<InboundAction>,
    /// Action for Unsupported.
    pub unsupported: Option<InboundAction>,
    /// Action for Error.
    pub error: Option<InboundAction>,
    /// Action for Danger.
    pub danger: Option<InboundAction>,
}

impl InboundConfig {
    /// The action for a message whose worst class is `class`, for a recipient in `domain`,
    /// and the key that set it: the first `[[inbound.domains]]` rule that matches the domain
    /// and sets it ("inbound.domains.0.danger"), else the `[inbound]` value ("inbound.danger").
    pub fn action(&self, class: FileClass, domain: &str) -> (InboundAction, String) {
        let pick = |r: &InboundRule| match class {
            FileClass::Safe => r.safe,
            FileClass::Unsupported => r.unsupported,
            FileClass::Error => r.error,
            FileClass::Danger => r.danger,
        };
        let rule = self.domains.iter().enumerate().filter(|(_, r)| domain_matches(&r.domains, domain));
        if let Some((i, action)) = rule.filter_map(|(i, r)| pick(r).map(|a| (i, a))).next() {
            return (action, format!("inbound.domains.{i}.{class}"));
        }
        let action = match class {
            FileClass::Safe => self.safe,
            FileClass::Unsupported => self.unsupported,
            FileClass::Error => self.error,
            FileClass::Danger => self.danger,
        };
        (action, format!("inbound.{class}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_rule_overrides_only_what_it_sets() {
        let mut c = InboundConfig::default();
        c.domains.push(InboundRule {
            domains: vec![".corp.test".into()],
            safe: None,
            unsupported: Some(InboundAction::Quarantine),
            error: None,
            danger: Some(InboundAction::Reject),
        });
        let action = |class, domain| c.action(class, domain);
        assert_eq!(
            action(FileClass::Danger, "sales.corp.test"),
            (InboundAction::Reject, "inbound.domains.0.danger".into())
        );
        assert_eq!(action(FileClass::Unsupported, "corp.test").0, InboundAction::Quarantine);
        assert_eq!(action(FileClass::Error, "corp.test"), (InboundAction::Separate, "inbound.error".into()));
        assert_eq!(action(FileClass::Danger, "other.test").0, InboundAction::Separate);
        assert_eq!(action(FileClass::Safe, "corp.test").0, InboundAction::Deliver);
    }

    #[test]
    fn sanitising_is_off_unless_asked_for() {
        let c = InboundConfig::default();
        assert!(!c.sanitise_macros && !c.html_to_text);
        let path = std::path::Path::new("sekisho.toml");
        let c = crate::Config::parse("[inbound]\nsanitise_macros = true\nhtml_to_text = true\n", path).unwrap();
        assert!(c.inbound.sanitise_macros && c.inbound.html_to_text);
        assert!(!crate::Config::embedded().inbound.sanitise_macros);
    }
}
