//! `[smime]`: the roots inbound S/MIME signatures are verified against, and `[[smime.sign]]`
//! tables: which senders' outbound mail is signed with which certificate and key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dkim::dns_name_ok;

/// `[smime]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmimeConfig {
    /// PEM files of the root certificates inbound signatures must chain to. Empty: inbound
    /// S/MIME signatures are not verified.
    pub roots: Vec<PathBuf>,
    /// Signing of outbound mail, one table per certificate.
    pub sign: Vec<SmimeSigner>,
    /// Also sign mail a `trusted_networks` client submitted without authenticating (an internal
    /// relay that authenticated its users itself); off, only mail whose authenticated account
    /// is bound to its From is signed.
    pub sign_trusted_networks: bool,
}

/// One `[[smime.sign]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmimeSigner {
    /// The header From addresses signed with this certificate: an address
    /// (`alice@example.jp`), a domain (`example.jp` or `*@example.jp`) or a domain and its
    /// subdomains (`.example.jp`). An address pattern wins over a domain pattern.
    pub senders: Vec<String>,
    /// The certificate chain (PEM, the signer's certificate first, then its issuers).
    pub certificate: PathBuf,
    /// The private key (PEM, PKCS#8 or PKCS#1; mode 0600).
    pub key: PathBuf,
}

/// How well a pattern matches an address: an address beats a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Domain,
    Address,
}

fn matches(pattern: &str, address: &str) -> Option<Strength> {
    let pattern = pattern.trim().to_ascii_lowercase();
    let address = address.trim().to_ascii_lowercase();
    let (_, domain) = address.rsplit_once('@')?;
    if let Some(d) = pattern.strip_prefix("*@").or_else(|| pattern.strip_prefix('@')) {
        return (d == domain).then_some(Strength::Domain);
    }
    if pattern.contains('@') {
        return (pattern == address).then_some(Strength::Address);
    }
    if let Some(parent) = pattern.strip_prefix('.') {
        return (domain == parent || domain.ends_with(&format!(".{parent}"))).then_some(Strength::Domain);
    }
    (pattern == domain).then_some(Strength::Domain)
}

impl SmimeConfig {
    /// The index of the `[[smime.sign]]` table that signs mail from `address` (the header
    /// From): the first table with an address pattern for it, else the first with a domain
    /// pattern for it.
    pub fn signer_for(&self, address: &str) -> Option<usize> {
        let mut best: Option<(Strength, usize)> = None;
        for (i, table) in self.sign.iter().enumerate() {
            let Some(strength) = table.senders.iter().filter_map(|p| matches(p, address)).max() else { continue };
            if best.is_none_or(|(s, _)| strength > s) {
                best = Some((strength, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// The first problem of `[smime]`: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for (i, table) in self.sign.iter().enumerate() {
            let key = |k: &str| format!("smime.sign.{i}.{k}");
            if table.senders.is_empty() {
                return Some((
                    key("senders"),
                    "name at least one sender, e.g. [\"alice@example.jp\"] or [\"example.jp\"]".into(),
                ));
            }
            if let Some(p) = table.senders.iter().find(|p| !pattern_ok(p)) {
                return Some((key("senders"), format!("`{p}` is not an address, a domain, `*@domain` or `.domain`")));
            }
            if table.certificate.as_os_str().is_empty() {
                return Some((key("certificate"), "the certificate chain's PEM file is required".into()));
            }
            if table.key.as_os_str().is_empty() {
                return Some((key("key"), "the private key's PEM file is required".into()));
            }
        }
        None
    }
}

/// Whether `pattern` is a sender pattern `[[smime.sign]] senders` accepts.
pub fn pattern_ok(pattern: &str) -> bool {
    let p = pattern.trim();
    if let Some(d) = p.strip_prefix("*@").or_else(|| p.strip_prefix('@')) {
        return dns_name_ok(d);
    }
    if let Some((local, domain)) = p.rsplit_once('@') {
        return !local.is_empty() && !local.contains(['<', '>', ' ', '@']) && dns_name_ok(domain);
    }
    dns_name_ok(p.strip_prefix('.').unwrap_or(p))
}

/// Where `sekisho smime import FILE --for PATTERN` writes the chain and the key:
/// `<store.path>/smime/<pattern>/chain.pem` and `key.pem`.
pub fn default_smime_paths(store: &Path, pattern: &str) -> (PathBuf, PathBuf) {
    let name: String = pattern
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') { c } else { '_' })
        .collect();
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "_" } else { name };
    let dir = store.join("smime").join(name);
    (dir.join("chain.pem"), dir.join("key.pem"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn an_address_pattern_wins_over_a_domain_and_subdomains_match_with_a_dot() {
        let text = "[smime]\nroots = [\"/etc/roots.pem\"]\n[[smime.sign]]\nsenders = [\"example.jp\"]\ncertificate = \"/d.pem\"\nkey = \"/d.key\"\n[[smime.sign]]\nsenders = [\"ceo@example.jp\"]\ncertificate = \"/c.pem\"\nkey = \"/c.key\"\n[[smime.sign]]\nsenders = [\".corp.example\", \"*@other.example\"]\ncertificate = \"/s.pem\"\nkey = \"/s.key\"\n";
        let c = Config::parse(text, Path::new("t.toml")).unwrap();
        let s = &c.smime;
        assert_eq!(s.roots, vec![Path::new("/etc/roots.pem").to_path_buf()]);
        assert_eq!(s.signer_for("staff@example.jp"), Some(0));
        assert_eq!(s.signer_for("CEO@Example.JP"), Some(1));
        assert_eq!(s.signer_for("a@tokyo.corp.example"), Some(2));
        assert_eq!(s.signer_for("a@corp.example"), Some(2));
        assert_eq!(s.signer_for("a@other.example"), Some(2));
        assert_eq!(s.signer_for("a@sub.other.example"), None);
        assert_eq!(s.signer_for("a@example.com"), None);
    }

    #[test]
    fn a_sign_table_needs_senders_a_certificate_and_a_key() {
        let e = Config::parse("[[smime.sign]]\ncertificate = \"/c\"\nkey = \"/k\"\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("smime.sign.0.senders"), "{e}");
        let e = Config::parse(
            "[[smime.sign]]\nsenders = [\"a b@x\"]\ncertificate = \"/c\"\nkey = \"/k\"\n",
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`a b@x` is not an address"), "{e}");
        let e = Config::parse("[[smime.sign]]\nsenders = [\"example.jp\"]\nkey = \"/k\"\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("smime.sign.0.certificate"), "{e}");
    }

    #[test]
    fn import_paths_live_in_the_data_directory_under_the_pattern() {
        let (chain, key) = super::default_smime_paths(Path::new("/var/lib/s"), "*@Example.jp");
        assert_eq!(chain, Path::new("/var/lib/s/smime/_@example.jp/chain.pem"));
        assert_eq!(key, Path::new("/var/lib/s/smime/_@example.jp/key.pem"));
    }
}
