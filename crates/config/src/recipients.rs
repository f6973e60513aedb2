//! `[recipients]`: which addresses of the local domains exist, checked at RCPT on the MX
//! listeners (unknown ones get 550 5.1.1 instead of a bounce to a forged sender later).

use std::path::PathBuf;

use serde::Deserialize;

use crate::Duration;
use crate::attachments::domain_matches;
use crate::route::NextHop;

/// `[recipients]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecipientsConfig {
    /// Unknown recipients (550 5.1.1) one session may try; its next RCPT gets 421 and the
    /// connection is closed, so the check cannot be used to harvest addresses.
    pub max_unknown: u32,
    /// Unknown recipients one client address may try within `unknown_window`, over all its
    /// sessions; after that each of its RCPTs to a verified domain gets 421 and the connection is
    /// closed until the window has passed.
    pub max_unknown_per_client: u32,
    /// The window of `max_unknown_per_client`.
    pub unknown_window: Duration,
    /// How long an address the callout target accepted is remembered as existing.
    pub callout_positive_ttl: Duration,
    /// How long an address the callout target refused with 5xx is remembered as unknown;
    /// "0": not remembered.
    pub callout_negative_ttl: Duration,
    /// Time for the whole callout (connect, greeting, EHLO, MAIL, RCPT).
    pub callout_timeout: Duration,
    /// How often a list file's modification time is looked at (it is read again when it
    /// changed).
    pub list_check_interval: Duration,
    /// The sources per domain, `[[recipients.domains]]`; a local domain without a rule accepts
    /// every local part.
    pub domains: Vec<RecipientRule>,
}

impl Default for RecipientsConfig {
    fn default() -> Self {
        RecipientsConfig {
            max_unknown: 3,
            max_unknown_per_client: 20,
            unknown_window: Duration::from_secs(3600),
            callout_positive_ttl: Duration::from_secs(86_400),
            callout_negative_ttl: Duration::from_secs(3600),
            callout_timeout: Duration::from_secs(10),
            list_check_interval: Duration::from_secs(2),
            domains: Vec::new(),
        }
    }
}

/// `[[recipients.domains]] domains = [...]` with `list` and/or `callout`/`callout_host`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientRule {
    /// Local domains this rule verifies; ".example.com" also matches its subdomains.
    pub domains: Vec<String>,
    /// A file of existing addresses, one a line ("alice@corp.test", or "alice" for every
    /// domain of the rule); `#` starts a comment.
    pub list: Option<PathBuf>,
    /// Ask `[delivery] next_hop` (or `callout_host`) with an SMTP RCPT probe.
    #[serde(default)]
    pub callout: bool,
    /// The server asked instead of `next_hop`: "[host]:port" or "[192.0.2.1]"; implies
    /// `callout`.
    pub callout_host: Option<String>,
    /// Ask the directory (`[ldap] recipient_filter`).
    #[serde(default)]
    pub ldap: bool,
}

impl RecipientRule {
    /// The bracketed next hop this rule's callout asks, if it uses one.
    pub fn callout_target(&self, next_hop: Option<&str>) -> Option<String> {
        match (&self.callout_host, self.callout) {
            (Some(h), _) => Some(h.clone()),
            (None, true) => next_hop.map(str::to_string),
            (None, false) => None,
        }
    }
}

impl RecipientsConfig {
    /// The first rule for `domain`, with its index.
    pub fn rule_for(&self, domain: &str) -> Option<(usize, &RecipientRule)> {
        self.domains.iter().enumerate().find(|(_, r)| domain_matches(&r.domains, domain))
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self, local_domains: &[String], next_hop: Option<&str>) -> Option<(String, String)> {
        for (key, n) in [("max_unknown", self.max_unknown), ("max_unknown_per_client", self.max_unknown_per_client)] {
            if n == 0 {
                return Some((format!("recipients.{key}"), "must be at least 1".into()));
            }
        }
        for (key, d) in [
            ("callout_timeout", self.callout_timeout),
            ("list_check_interval", self.list_check_interval),
            ("unknown_window", self.unknown_window),
        ] {
            if d.0.is_zero() {
                return Some((format!("recipients.{key}"), "must be more than 0".into()));
            }
        }
        for (i, rule) in self.domains.iter().enumerate() {
            let key = |k: &str| format!("recipients.domains.{i}.{k}");
            if rule.domains.is_empty() {
                return Some((key("domains"), "a [[recipients.domains]] rule needs at least one domain".into()));
            }
            for d in &rule.domains {
                let bare = d.trim_start_matches('.');
                if !local_domains
                    .iter()
                    .any(|l| domain_matches(std::slice::from_ref(d), l) || l.eq_ignore_ascii_case(bare))
                {
                    return Some((key("domains"), format!("`{d}` is not one of local_domains")));
                }
            }
            if rule.list.is_none() && !rule.callout && rule.callout_host.is_none() && !rule.ldap {
                return Some((
                    key("domains"),
                    "a rule needs `list`, `ldap = true`, `callout = true` or `callout_host`".into(),
                ));
            }
            if let Some(path) = &rule.list
                && let Err(e) = std::fs::read_to_string(path)
            {
                return Some((key("list"), format!("cannot read {} as UTF-8 text: {e}", path.display())));
            }
            let (target_key, target) = match (&rule.callout_host, rule.callout) {
                (Some(h), _) => (key("callout_host"), Some(h.as_str())),
                (None, true) => match next_hop {
                    Some(h) => ("delivery.next_hop".to_string(), Some(h)),
                    None => {
                        return Some((
                            key("callout"),
                            "the callout asks [delivery] next_hop, which is not set; set next_hop or callout_host"
                                .into(),
                        ));
                    }
                },
                (None, false) => (String::new(), None),
            };
            if let Some(target) = target {
                match NextHop::parse(target) {
                    Err(e) => return Some((target_key, e.0)),
                    Ok(hop) if hop.mx_lookup => {
                        return Some((
                            target_key,
                            format!(
                                "`{target}`: a recipient callout needs one host, written \"[host]:port\" or \"[192.0.2.1]\""
                            ),
                        ));
                    }
                    Ok(_) => {}
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("sekisho.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_verify_nothing() {
        let c = Config::embedded();
        assert!(c.recipients.domains.is_empty());
        assert_eq!(c.recipients.max_unknown, 3);
    }

    #[test]
    fn a_callout_rule_takes_next_hop_or_its_own_host() {
        let c = load(
            "local_domains = [\"corp.test\", \"sub.test\"]\n[delivery]\nnext_hop = \"[10.0.0.5]:25\"\n\
             [[recipients.domains]]\ndomains = [\"corp.test\"]\ncallout = true\n\
             [[recipients.domains]]\ndomains = [\"sub.test\"]\ncallout_host = \"[10.0.0.6]:2525\"\n",
        )
        .unwrap();
        let (i, rule) = c.recipients.rule_for("CORP.test.").unwrap();
        assert_eq!((i, rule.callout_target(c.delivery.next_hop.as_deref())), (0, Some("[10.0.0.5]:25".into())));
        let (_, rule) = c.recipients.rule_for("sub.test").unwrap();
        assert_eq!(rule.callout_target(None), Some("[10.0.0.6]:2525".into()));
        assert!(c.recipients.rule_for("other.test").is_none());
    }

    #[test]
    fn mistakes_name_the_key_and_the_line() {
        let e = load(
            "local_domains = [\"corp.test\"]\n[[recipients.domains]]\ndomains = [\"corp.test\"]\ncallout = true\n",
        )
        .unwrap_err();
        assert!(e.contains("recipients.domains.0.callout") && e.starts_with("sekisho.toml:4:"), "{e}");
        assert!(e.contains("next_hop, which is not set"), "{e}");
        let e = load("local_domains = [\"corp.test\"]\n[[recipients.domains]]\ndomains = [\"other.test\"]\ncallout_host = \"[::1]:25\"\n")
            .unwrap_err();
        assert!(e.contains("recipients.domains.0.domains") && e.contains("not one of local_domains"), "{e}");
        let e = load(
            "local_domains = [\"corp.test\"]\n[[recipients.domains]]\ndomains = [\"corp.test\"]\n\
             callout_host = \"mail.corp.test\"\n",
        )
        .unwrap_err();
        assert!(e.contains("recipients.domains.0.callout_host") && e.contains("needs one host"), "{e}");
        let e = load(
            "local_domains = [\"corp.test\"]\n[[recipients.domains]]\ndomains = [\"corp.test\"]\n\
             list = \"/nonexistent/users.txt\"\n",
        )
        .unwrap_err();
        assert!(e.contains("recipients.domains.0.list") && e.starts_with("sekisho.toml:4:"), "{e}");
        let e = load("[recipients]\nmax_unknown = 0\n").unwrap_err();
        assert!(e.contains("recipients.max_unknown") && e.starts_with("sekisho.toml:2:"), "{e}");
    }
}
