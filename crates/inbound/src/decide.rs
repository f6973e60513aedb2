//! What happens to an inbound message, from the worst class of its files and the policy of
//! each recipient's domain. Pure.

use sekisho_config::InboundConfig;
use sekisho_policy::inbound::{ClassifiedFile, FileClass, InboundAction, SanitisedCopy, delivered_worst};

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
    decide_sanitised(files, &[], domains, policy)
}

/// [`decide`] for a message some of whose files have sanitised copies: a Safe copy is what the
/// recipient gets, so it counts instead of its original, and the rule says how many stood in.
pub fn decide_sanitised(
    files: &[ClassifiedFile],
    sanitised: &[SanitisedCopy],
    domains: &[&str],
    policy: &InboundConfig,
) -> Decision {
    let worst = delivered_worst(files, sanitised);
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
    let copies = (0..files.len()).filter(|&i| sekisho_policy::inbound::safe_copy(sanitised, i).is_some()).count();
    let copies = match copies {
        0 => String::new(),
        1 => "; 1 file replaced by its sanitised copy".to_string(),
        n => format!("; {n} files replaced by their sanitised copies"),
    };
    Decision { action, worst, rule: format!("{subject} → {action} ({key}{for_domain}){copies}") }
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

    #[test]
    fn a_safe_sanitised_copy_counts_instead_of_its_original() {
        let policy = InboundConfig::default();
        let files = [file(FileClass::Danger), file(FileClass::Safe)];
        let copy = |class| SanitisedCopy { original: 0, done: "VBA project removed".into(), copy: file(class) };
        let d = decide_sanitised(&files, &[copy(FileClass::Safe)], &["corp.test"], &policy);
        assert_eq!((d.action, d.worst), (InboundAction::Deliver, FileClass::Safe));
        assert_eq!(d.rule, "safe file → deliver (inbound.safe); 1 file replaced by its sanitised copy");
        let d = decide_sanitised(&files, &[copy(FileClass::Error)], &["corp.test"], &policy);
        assert_eq!((d.action, d.worst), (InboundAction::Separate, FileClass::Danger), "the original's class stands");
    }
}
