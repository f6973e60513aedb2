//! `[[dkim]]`: the domains whose outbound mail sekisho signs, their selectors and key files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One `[[dkim]]` table: a signing domain (`d=`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DkimConfig {
    /// The signing domain, `d=` of the signatures.
    pub domain: String,
    /// The header From domains this domain signs for ("example.jp", or ".example.jp" for it
    /// and its subdomains). Empty: `domain` alone.
    pub sender_domains: Vec<String>,
    /// The selectors that sign, each with its key: one RSA and one Ed25519 key sign twice.
    pub selectors: Vec<String>,
    /// Key files by selector; a selector not listed has its key at
    /// `<store.path>/dkim/<domain>/<selector>.key` (where `sekisho dkim keygen` writes it).
    pub keys: BTreeMap<String, PathBuf>,
}

impl DkimConfig {
    /// The header From domains this domain signs for.
    pub fn senders(&self) -> Vec<String> {
        if self.sender_domains.is_empty() { vec![self.domain.clone()] } else { self.sender_domains.clone() }
    }

    /// Where the key of `selector` is, the data directory being `store`.
    pub fn key_path(&self, store: &Path, selector: &str) -> PathBuf {
        self.keys.get(selector).cloned().unwrap_or_else(|| default_key_path(store, &self.domain, selector))
    }
}

/// Where `sekisho dkim keygen DOMAIN SELECTOR` writes a key by default.
pub fn default_key_path(store: &Path, domain: &str, selector: &str) -> PathBuf {
    store.join("dkim").join(domain.to_ascii_lowercase()).join(format!("{selector}.key"))
}

/// True for a DNS label sequence usable as a selector or domain (letters, digits, `-`, `_`,
/// dots between labels).
pub fn dns_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The first problem of the `[[dkim]]` tables: its key and a sentence.
pub(crate) fn problem(tables: &[DkimConfig]) -> Option<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    for (i, d) in tables.iter().enumerate() {
        let key = |k: &str| format!("dkim.{i}.{k}");
        if !dns_name_ok(&d.domain) {
            return Some((key("domain"), format!("`{}` is not a domain name", d.domain)));
        }
        if !seen.insert(d.domain.to_ascii_lowercase()) {
            return Some((key("domain"), format!("`{}` has two [[dkim]] tables", d.domain)));
        }
        if d.selectors.is_empty() {
            return Some((key("selectors"), "name at least one selector, e.g. [\"s2026\"]".into()));
        }
        if let Some(s) = d.selectors.iter().find(|s| !dns_name_ok(s)) {
            return Some((key("selectors"), format!("`{s}` is not a selector (letters, digits, `-`, `_`, dots)")));
        }
        if let Some(s) = d.keys.keys().find(|s| !d.selectors.contains(s)) {
            return Some((key("keys"), format!("`{s}` is not one of the selectors")));
        }
        if let Some(s) = d.sender_domains.iter().find(|s| !dns_name_ok(s.trim_start_matches('.'))) {
            return Some((key("sender_domains"), format!("`{s}` is not a domain")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn a_dkim_table_names_its_selectors_and_the_keys_default_to_the_data_directory() {
        let text = "[store]\npath = \"/var/lib/s\"\n[[dkim]]\ndomain = \"example.jp\"\nselectors = [\"rsa1\", \"ed1\"]\nkeys = { ed1 = \"/etc/ed1.key\" }\n";
        let c = Config::parse(text, Path::new("t.toml")).unwrap();
        let d = &c.dkim[0];
        assert_eq!(d.senders(), vec!["example.jp".to_string()]);
        assert_eq!(d.key_path(&c.store.path, "rsa1"), Path::new("/var/lib/s/dkim/example.jp/rsa1.key"));
        assert_eq!(d.key_path(&c.store.path, "ed1"), Path::new("/etc/ed1.key"));
        let bad = "[[dkim]]\ndomain = \"example.jp\"\nselectors = [\"rsa1\"]\nkeys = { other = \"/k\" }\n";
        let e = Config::parse(bad, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains("dkim.0.keys") && e.contains("`other` is not one of the selectors"), "{e}");
        let none = "[[dkim]]\ndomain = \"example.jp\"\n";
        let e = Config::parse(none, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains("dkim.0.selectors"), "{e}");
    }
}
