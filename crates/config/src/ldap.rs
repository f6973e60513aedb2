//! `[ldap]`: the directory (Active Directory, OpenLDAP) asked for existing recipients
//! (`[[recipients.domains]] ldap = true`) and the addresses of an account (`[senders] ldap`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::Duration;

/// `[ldap]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `ldap://host:port` or `ldaps://host:port` (TLS from the first byte); unset: no
    /// directory.
    pub url: Option<String>,
    /// With `ldap://`: upgrade each connection with StartTLS before binding (refused if the
    /// directory cannot).
    pub starttls: bool,
    /// PEM certificates trusted for the directory's certificate, besides the WebPKI roots and
    /// `[tls] extra_roots` (an internal CA, e.g. Active Directory Certificate Services).
    pub ca_file: Option<PathBuf>,
    /// DN to bind with; unset: anonymous.
    pub bind_dn: Option<String>,
    /// Its password.
    pub bind_password: Option<String>,
    /// Where searches start (subtree).
    pub base_dn: String,
    /// Time for one whole question (connect, bind, search).
    pub timeout: Duration,
    /// Entries that make an address exist; `{address}` is the recipient (escaped).
    pub recipient_filter: String,
    /// The entry of a submission account; `{user}` is the account name (escaped).
    pub sender_filter: String,
    /// Attributes of that entry holding its addresses (`proxyAddresses`: only `smtp:` values).
    pub sender_attributes: Vec<String>,
    /// The entries of the organisation's people, for `[findings] ldap_names`.
    pub names_filter: String,
    /// Attributes of those entries holding a person's name.
    pub name_attributes: Vec<String>,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: None,
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            base_dn: String::new(),
            timeout: Duration::from_secs(5),
            recipient_filter: "(|(mail={address})(proxyAddresses=smtp:{address}))".into(),
            sender_filter: "(|(uid={user})(sAMAccountName={user})(userPrincipalName={user}))".into(),
            sender_attributes: vec!["mail".into(), "proxyAddresses".into()],
            names_filter: "(|(objectClass=person)(objectClass=user))".into(),
            name_attributes: vec!["displayName".into(), "cn".into()],
        }
    }
}

impl LdapConfig {
    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self, used: bool) -> Option<(String, String)> {
        let Some(url) = &self.url else {
            return used.then(|| ("ldap.url".into(), "LDAP is used (ldap = true) but [ldap] url is not set".into()));
        };
        let tls_from_start = url.starts_with("ldaps://");
        if !tls_from_start && !url.starts_with("ldap://") {
            return Some(("ldap.url".into(), format!("`{url}`: write ldap://host:port or ldaps://host:port")));
        }
        if tls_from_start && self.starttls {
            return Some((
                "ldap.starttls".into(),
                "an ldaps:// url is TLS from the first byte; starttls is for ldap:// urls".into(),
            ));
        }
        if let Some(path) = self.ca_file.as_ref().filter(|p| !p.exists()) {
            return Some(("ldap.ca_file".into(), format!("{} does not exist", path.display())));
        }
        if self.base_dn.is_empty() {
            return Some(("ldap.base_dn".into(), "must be set when url is".into()));
        }
        if self.timeout.0.is_zero() {
            return Some(("ldap.timeout".into(), "must be more than 0".into()));
        }
        for (key, filter, var) in [
            ("recipient_filter", &self.recipient_filter, "{address}"),
            ("sender_filter", &self.sender_filter, "{user}"),
        ] {
            if !filter.contains(var) || !filter.starts_with('(') {
                return Some((format!("ldap.{key}"), format!("`{filter}` must be an LDAP filter containing {var}")));
            }
        }
        if !self.names_filter.starts_with('(') {
            return Some(("ldap.names_filter".into(), format!("`{}` must be an LDAP filter", self.names_filter)));
        }
        if self.bind_dn.is_some() != self.bind_password.is_some() {
            return Some(("ldap.bind_dn".into(), "bind_dn and bind_password go together".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn ldap_used_without_a_url_names_the_key() {
        let e = Config::parse("local_domains = [\"corp.test\"]\n[senders]\nldap = true\n", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ldap.url") && e.contains("url is not set"), "{e}");
        let e = Config::parse("[ldap]\nurl = \"ldapi://x\"\nbase_dn = \"dc=x\"\n", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2: ldap.url") && e.contains("ldaps://host:port"), "{e}");
        let e = Config::parse(
            "[ldap]\nurl = \"ldaps://x:636\"\nstarttls = true\nbase_dn = \"dc=x\"\n",
            Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml:3: ldap.starttls"), "{e}");
        let e = Config::parse(
            "[ldap]\nurl = \"ldaps://x:636\"\nca_file = \"/nonexistent/ca.pem\"\nbase_dn = \"dc=x\"\n",
            Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml:3: ldap.ca_file") && e.contains("does not exist"), "{e}");
        Config::parse("[ldap]\nurl = \"ldaps://x:636\"\nbase_dn = \"dc=x\"\n", Path::new("s.toml")).unwrap();
        let c =
            Config::parse("[ldap]\nurl = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=x\"\n", Path::new("s.toml")).unwrap();
        assert_eq!(c.ldap.sender_attributes, ["mail", "proxyAddresses"]);
    }
}
