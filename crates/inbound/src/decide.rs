//! What happens to an inbound message, from the worst class of its files and the policy of
//! each recipient's domain. Pure.

use sekisho_config::InboundConfig;
use sekisho_policy::inbound::{ClassifiedFile, FileClass, InboundAction};

/// The action taken on a message and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What is done.
    pub action: InboundAction,
    /// The worst class of the message's files (Safe when it carries none).
    pub worst: FileClass,
    /// The configuration key that chose the action, and for which recipient domain, in words:
    /// "danger file → separate (inbound.danger)".
    pub rule: String,
}

/// The action for a message carrying `files` to recipients in `domains`. One message gets one
/// action: when the recipients' domains ask for different ones, the strictest wins (a reject
/// refuses the message for everyone, before the 250).
pub fn decide(files: &[ClassifiedFile], domains: &[&str], policy: &InboundConfig) -> Decision {
    let worst = files.iter().map(|f| f.class).max().unwrap_or(FileClass::Safe);
    let (action, key, domain) = domains
        .iter()
        .map(|d| {
            let (action, key) = policy.action(worst, d);
            (action, key, *d)
        })
        .max_by_key(|(action, _, _)| *action)
        .unwrap_or_else(|| {
            let (action, key) = policy.action(worst, "");
            (action, key, "")
        });
    let subject = if files.is_empty() { "no file".to_string() } else { format!("{worst} file") };
    let for_domain = if key.starts_with("inbound.domains.") { format!(" for {domain}") } else { String::new() };
    Decision { action, worst, rule: format!("{subject} → {action} ({key}{for_domain})") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_config::InboundRule;

    fn file(class: FileClass) -> ClassifiedFile {
        ClassifiedFile {
            name: "f".into(),
            size: 1,
            file_type: "x".into(),
            class,
            reason: String::new(),
            sha256: None,
            children: vec![],
        }
    }

    #[test]
    fn the_worst_file_and_the_strictest_domain_decide() {
        let mut policy = InboundConfig::default();
        policy.domains.push(InboundRule {
            domains: vec!["strict.test".into()],
            safe: None,
            unsupported: None,
            error: None,
            danger: Some(InboundAction::Reject),
        });
        let files = [file(FileClass::Safe), file(FileClass::Danger), file(FileClass::Unsupported)];
        let d = decide(&files, &["corp.test", "strict.test"], &policy);
        assert_eq!((d.action, d.worst), (InboundAction::Reject, FileClass::Danger));
        assert_eq!(d.rule, "danger file → reject (inbound.domains.0.danger for strict.test)");
        let d = decide(&files, &["corp.test"], &policy);
        assert_eq!(d.rule, "danger file → separate (inbound.danger)");
        let d = decide(&[], &["corp.test"], &policy);
        assert_eq!((d.action, d.rule.as_str()), (InboundAction::Deliver, "no file → deliver (inbound.safe)"));
    }
}
