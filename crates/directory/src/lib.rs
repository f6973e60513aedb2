//! The directory (LDAP: Active Directory, OpenLDAP) as sekisho asks it: does an address
//! exist, and which addresses does an account have. One connection per question, bound with
//! the configured DN, within a time limit. Kept apart so the LDAP client crate is built and
//! changed in one place.
//!
//! Only `ldap://` is supported by this build (no TLS): run it over a trusted network or the
//! loopback.

use std::collections::HashMap;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// `ldap://host:port`.
    pub url: String,
    /// DN to bind with; `None`: anonymous.
    pub bind_dn: Option<String>,
    /// Its password.
    pub bind_password: Option<String>,
    /// Where searches start (subtree).
    pub base_dn: String,
    /// Time for one whole question (connect, bind, search).
    pub timeout: Duration,
}

/// Why the directory gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// No answer within the time limit.
    #[error("the directory did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection, bind or search failed.
    #[error("directory: {0}")]
    Ldap(#[from] ldap3::LdapError),
}

/// An LDAP directory.
#[derive(Debug, Clone)]
pub struct Directory {
    settings: DirectorySettings,
}

impl Directory {
    /// A directory asked with `settings`.
    pub fn new(settings: DirectorySettings) -> Directory {
        Directory { settings }
    }

    /// The values of `attrs` of every entry under the base DN matching `filter` (attribute
    /// names in lower case).
    pub async fn search(
        &self,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<HashMap<String, Vec<String>>>, DirectoryError> {
        let limit = self.settings.timeout;
        tokio::time::timeout(limit, self.search_now(filter, attrs)).await.map_err(|_| DirectoryError::Timeout(limit))?
    }

    async fn search_now(
        &self,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<HashMap<String, Vec<String>>>, DirectoryError> {
        let s = &self.settings;
        let settings = LdapConnSettings::new().set_conn_timeout(s.timeout);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &s.url).await?;
        ldap3::drive!(conn);
        if let Some(dn) = &s.bind_dn {
            ldap.simple_bind(dn, s.bind_password.as_deref().unwrap_or("")).await?.success()?;
        }
        let (entries, _) = ldap.search(&s.base_dn, Scope::Subtree, filter, attrs.to_vec()).await?.success()?;
        let _ = ldap.unbind().await;
        Ok(entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).attrs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
            .collect())
    }
}

/// `template` with `{name}` replaced by `value`, escaped for an LDAP filter (RFC 4515). Pure.
pub fn filter(template: &str, name: &str, value: &str) -> String {
    template.replace(&format!("{{{name}}}"), &ldap3::ldap_escape(value))
}

/// The e-mail addresses among attribute values: `mail` values as they are, Active Directory's
/// `proxyAddresses` only the `smtp:`/`SMTP:` ones without the prefix. Pure.
pub fn addresses(entries: &[HashMap<String, Vec<String>>], attrs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        for attr in attrs {
            for v in e.get(&attr.to_ascii_lowercase()).into_iter().flatten() {
                let address = match v.split_once(':') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("smtp") => rest,
                    Some(_) => continue,
                    None => v.as_str(),
                };
                if address.contains('@') {
                    out.push(address.to_lowercase());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_into_the_filter() {
        assert_eq!(filter("(mail={address})", "address", "a@b.test"), "(mail=a@b.test)");
        assert_eq!(filter("(mail={address})", "address", "*)(uid=*"), "(mail=\\2a\\29\\28uid=\\2a)");
    }

    #[test]
    fn proxy_addresses_keep_only_smtp_ones() {
        let e: HashMap<String, Vec<String>> = [
            ("mail".to_string(), vec!["Alice@Corp.test".to_string()]),
            (
                "proxyaddresses".to_string(),
                vec!["SMTP:alice@corp.test".into(), "smtp:sales@corp.test".into(), "X500:/o=x".into()],
            ),
        ]
        .into();
        let attrs = vec!["mail".to_string(), "proxyAddresses".to_string()];
        assert_eq!(addresses(&[e], &attrs), ["alice@corp.test", "alice@corp.test", "sales@corp.test"]);
    }
}
