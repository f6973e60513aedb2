//! `[authentication]`: SPF, DKIM, DMARC and ARC for mail arriving on the MX listeners, what a
//! DMARC failure does, the Authentication-Results field sekisho adds, and the key that seals
//! (ARC) the inbound messages sekisho changes.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use crate::Duration;

/// `[authentication]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthenticationConfig {
    /// Verify SPF, DKIM, DMARC and ARC for every message of the MX listeners before the 250.
    pub enabled: bool,
    /// The authserv-id of the Authentication-Results field sekisho adds (RFC 8601); empty:
    /// `hostname`. Fields carrying this id on arrival are removed.
    pub authserv_id: String,
    /// Longest time for all the checks of one message; when it runs out every result not yet
    /// known is `temperror` and the message goes on (never a hang, never a refusal).
    pub time_budget: Duration,
    /// What a DMARC failure does to a message whose domain publishes `p=quarantine` or
    /// `p=reject`.
    pub dmarc_policy: DmarcMode,
    /// Clients whose mail is forwarded on purpose (the organisation's own relays, a
    /// forwarding service): a DMARC failure from them is recorded, never acted on.
    pub trusted_forwarder_networks: Vec<IpNet>,
    /// The same, by the HELO name the client gave (compared without regard to case).
    pub trusted_forwarder_helo: Vec<String>,
    /// Domains whose ARC seals are trusted (mailing lists, forwarding services): a DMARC
    /// failure is overridden when the ARC chain passes and its newest seal is by one of them
    /// and records a DMARC pass for the message it received.
    pub trusted_arc_sealers: Vec<String>,
    /// Seal inbound messages sekisho changes (separated attachments, sanitised copies) with an
    /// ARC set, so the internal server still sees the verdicts on the original.
    pub arc_seal: Option<ArcSealConfig>,
}

/// `[authentication.arc_seal]`: the key ARC sets are signed with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcSealConfig {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`); the public key is published at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The private key: RSA (PKCS#1 or PKCS#8 PEM) or Ed25519 (PKCS#8 PEM).
    pub key_file: PathBuf,
}

/// What a DMARC failure does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcMode {
    /// Only record the result (and the finding).
    Record,
    /// `p=quarantine` and `p=reject` both quarantine the message: nothing is refused on the
    /// strength of someone else's DNS, nothing failing is delivered.
    #[default]
    Quarantine,
    /// As the domain publishes: `p=reject` is a 550 5.7.1 after the data, `p=quarantine` the
    /// quarantine.
    Enforce,
}

impl Default for AuthenticationConfig {
    fn default() -> Self {
        AuthenticationConfig {
            enabled: true,
            authserv_id: String::new(),
            time_budget: Duration::from_secs(10),
            dmarc_policy: DmarcMode::default(),
            trusted_forwarder_networks: Vec::new(),
            trusted_forwarder_helo: Vec::new(),
            trusted_arc_sealers: Vec::new(),
            arc_seal: None,
        }
    }
}

impl AuthenticationConfig {
    /// The authserv-id: `authserv_id`, else `hostname`.
    pub fn authserv_id<'a>(&'a self, hostname: &'a str) -> &'a str {
        if self.authserv_id.is_empty() { hostname } else { &self.authserv_id }
    }

    /// True when the client at `ip` that said `helo` is a trusted forwarder.
    pub fn trusted_forwarder(&self, ip: std::net::IpAddr, helo: &str) -> bool {
        self.trusted_forwarder_networks.iter().any(|n| n.contains(&ip))
            || self.trusted_forwarder_helo.iter().any(|h| h.eq_ignore_ascii_case(helo.trim_end_matches('.')))
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        if self.authserv_id.chars().any(|c| c.is_whitespace() || c == ';' || c == '(' || c == '"') {
            return Some((
                "authentication.authserv_id".into(),
                format!("`{}` must be a host name (no spaces, `;`, `(` or quotes)", self.authserv_id),
            ));
        }
        if self.time_budget.0.is_zero() {
            return Some(("authentication.time_budget".into(), "must be longer than 0s".into()));
        }
        if let Some(d) = self.trusted_arc_sealers.iter().find(|d| d.is_empty() || d.contains('@') || d.contains(' ')) {
            return Some(("authentication.trusted_arc_sealers".into(), format!("`{d}` is not a domain")));
        }
        if let Some(seal) = &self.arc_seal
            && (seal.domain.is_empty() || seal.selector.is_empty())
        {
            return Some(("authentication.arc_seal".into(), "needs `domain`, `selector` and `key_file`".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::DmarcMode;
    use crate::Config;

    #[test]
    fn authentication_is_on_and_quarantines_dmarc_failures_by_default() {
        let c = Config::embedded();
        assert!(c.authentication.enabled);
        assert_eq!(c.authentication.dmarc_policy, DmarcMode::Quarantine);
        assert_eq!(c.authentication.authserv_id(&c.hostname), c.hostname);
        let c = Config::parse(
            "[authentication]\ndmarc_policy = \"enforce\"\nauthserv_id = \"mx.corp.test\"\ntrusted_forwarder_networks = [\"192.0.2.0/24\"]\ntrusted_forwarder_helo = [\"fwd.example.net\"]\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(c.authentication.dmarc_policy, DmarcMode::Enforce);
        assert_eq!(c.authentication.authserv_id("gw"), "mx.corp.test");
        assert!(c.authentication.trusted_forwarder("192.0.2.7".parse().unwrap(), "x"));
        assert!(c.authentication.trusted_forwarder("198.51.100.1".parse().unwrap(), "FWD.example.net"));
        assert!(!c.authentication.trusted_forwarder("198.51.100.1".parse().unwrap(), "other.example"));
        let e =
            Config::parse("[authentication]\nauthserv_id = \"a b\"\n", Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.starts_with("a.toml:2: authentication.authserv_id"), "{e}");
        let e = Config::parse("[authentication]\ndmarc_policy = \"strict\"\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dmarc_policy"), "{e}");
    }
}
