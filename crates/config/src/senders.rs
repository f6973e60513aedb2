//! `[senders]`: which envelope senders a submission client may use (Postfix's
//! `smtpd_sender_login_maps` with `reject_sender_login_mismatch`).

use serde::Deserialize;

use crate::attachments::domain_matches;

/// `[senders]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendersConfig {
    /// An authenticated user may use only the addresses bound to the account: its name when
    /// that is an address, the addresses bound with `sekisho user bind`, and `patterns`.
    pub bind_to_accounts: bool,
    /// Addresses every account has, with `{user}` standing for the account name:
    /// `"{user}@corp.test"`.
    pub patterns: Vec<String>,
    /// The sender domains clients of a submission listener's `trusted_networks` (which send
    /// without AUTH) may use; ".corp.test" also matches subdomains. Empty: any sender, as
    /// before.
    pub trusted_domains: Vec<String>,
    /// The account's addresses also come from the directory (`[ldap] sender_filter`,
    /// `sender_attributes`).
    pub ldap: bool,
}

impl SendersConfig {
    /// True when a trusted-network client may send as `sender` (the null sender always).
    pub fn trusted_may_use(&self, sender: &str) -> bool {
        if self.trusted_domains.is_empty() || sender.is_empty() {
            return true;
        }
        sender.rsplit_once('@').is_some_and(|(_, domain)| domain_matches(&self.trusted_domains, domain))
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for p in &self.patterns {
            let ok = p.matches("{user}").count() == 1 && p.rsplit_once('@').is_some_and(|(_, d)| !d.is_empty());
            if !ok {
                return Some((
                    "senders.patterns".into(),
                    format!("`{p}` must be an address with `{{user}}` once, e.g. \"{{user}}@corp.test\""),
                ));
            }
        }
        if let Some(d) = self.trusted_domains.iter().find(|d| d.trim_start_matches('.').is_empty() || d.contains('@')) {
            return Some(("senders.trusted_domains".into(), format!("`{d}` is not a domain")));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn trusted_networks_are_limited_to_their_domains_when_listed() {
        let c = Config::parse("[senders]\ntrusted_domains = [\"corp.test\"]\n", Path::new("s.toml")).unwrap();
        assert!(c.senders.trusted_may_use("app@corp.test") && c.senders.trusted_may_use(""));
        assert!(!c.senders.trusted_may_use("ceo@other.test"));
        assert!(Config::embedded().senders.trusted_may_use("anyone@anywhere.test"));
        let e = Config::parse("[senders]\npatterns = [\"corp.test\"]\n", Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.starts_with("s.toml:2: senders.patterns"), "{e}");
    }
}
