//! The directory (LDAP: Active Directory, OpenLDAP) as sekisho asks it: does an address
//! exist, and which addresses does an account have. One connection per question, bound with
//! the configured DN, within a time limit. Kept apart so the LDAP client crate is built and
//! changed in one place.
//!
//! `ldaps://` speaks TLS from the first byte; `ldap://` with `starttls` upgrades before the
//! bind. Either way the directory's certificate is validated (chain to the WebPKI roots,
//! `[tls] extra_roots` or `[ldap] ca_file`, and the URL's host name), and a failure is an error,
//! never a fallback to plain text. Plain `ldap://` without StartTLS sends the bind password in
//! clear: for the loopback or a trusted network only.

use std::collections::HashMap;
use std::sync::Arc;
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
    /// TLS for `ldaps://` urls and StartTLS; `None`: plain `ldap://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
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
    /// The trusted certificates for the directory could not be loaded.
    #[error("directory TLS: {0}")]
    Tls(#[from] sekisho_transport::SetupError),
}

/// An LDAP directory.
#[derive(Debug, Clone)]
pub struct Directory {
    settings: DirectorySettings,
}

/// The directory `[ldap]` names, if it names one; with its TLS set up from `[ldap] ca_file`
/// and `[tls] extra_roots` when the url is `ldaps://` or `starttls` is set.
pub fn configured(config: &sekisho_config::Config) -> Result<Option<Directory>, DirectoryError> {
    let l = &config.ldap;
    let Some(url) = l.url.as_ref() else { return Ok(None) };
    let tls = if url.starts_with("ldaps://") || l.starttls {
        let roots: Vec<_> = config.tls.extra_roots.iter().chain(&l.ca_file).cloned().collect();
        Some(Arc::new(sekisho_transport::tls::verifier::TlsClient::new(&roots)?.validating_config()))
    } else {
        None
    };
    Ok(Some(Directory::new(DirectorySettings {
        url: url.clone(),
        bind_dn: l.bind_dn.clone(),
        bind_password: l.bind_password.clone(),
        base_dn: l.base_dn.clone(),
        timeout: l.timeout.0,
        tls,
        starttls: l.starttls,
    })))
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

    /// A new connection, not bound yet.
    async fn connect(&self) -> Result<ldap3::Ldap, DirectoryError> {
        let s = &self.settings;
        let mut settings = LdapConnSettings::new().set_conn_timeout(s.timeout).set_starttls(s.starttls);
        if let Some(tls) = &s.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &s.url).await?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// A new connection bound with the configured DN (anonymous without one).
    async fn bound(&self) -> Result<ldap3::Ldap, DirectoryError> {
        let s = &self.settings;
        let mut ldap = self.connect().await?;
        if let Some(dn) = &s.bind_dn {
            ldap.simple_bind(dn, s.bind_password.as_deref().unwrap_or("")).await?.success()?;
        }
        Ok(ldap)
    }

    async fn search_now(
        &self,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<HashMap<String, Vec<String>>>, DirectoryError> {
        let s = &self.settings;
        let mut ldap = self.bound().await?;
        let (entries, _) = ldap.search(&s.base_dn, Scope::Subtree, filter, attrs.to_vec()).await?.success()?;
        let _ = ldap.unbind().await;
        Ok(entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).attrs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
            .collect())
    }
}

/// What an LDAP sign-in found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The password is the user's: their DN and addresses.
    Accepted { dn: String, addresses: Vec<String> },
    /// The filter finds no entry (or more than one: the name is ambiguous).
    NoSuchUser,
    /// The bind as the user failed (or the password was empty: an unauthenticated bind
    /// proves nothing).
    WrongPassword,
    /// The user is not a member of the required group.
    NotInGroup,
}

impl Directory {
    /// Checks `password` for the one entry `user_filter` finds (searched with the configured
    /// bind): binds as that entry, then, when `group` (DN, and a filter with `{dn}`) is given,
    /// looks for the user in it. The addresses are the values of `address_attributes`.
    pub async fn sign_in(
        &self,
        user_filter: &str,
        password: &str,
        address_attributes: &[String],
        group: Option<(&str, &str)>,
    ) -> Result<SignIn, DirectoryError> {
        let limit = self.settings.timeout;
        tokio::time::timeout(limit, self.sign_in_now(user_filter, password, address_attributes, group))
            .await
            .map_err(|_| DirectoryError::Timeout(limit))?
    }

    async fn sign_in_now(
        &self,
        user_filter: &str,
        password: &str,
        address_attributes: &[String],
        group: Option<(&str, &str)>,
    ) -> Result<SignIn, DirectoryError> {
        let s = &self.settings;
        let attrs: Vec<&str> = address_attributes.iter().map(String::as_str).collect();
        let mut ldap = self.bound().await?;
        let (found, _) = ldap.search(&s.base_dn, Scope::Subtree, user_filter, attrs).await?.success()?;
        let mut found: Vec<SearchEntry> = found.into_iter().map(SearchEntry::construct).collect();
        if found.len() != 1 {
            let _ = ldap.unbind().await;
            return Ok(SignIn::NoSuchUser);
        }
        let entry = found.remove(0);
        if let Some((group_dn, group_filter)) = group {
            let f = filter(group_filter, "dn", &entry.dn);
            let (members, _) = ldap.search(group_dn, Scope::Base, &f, vec!["1.1"]).await?.success()?;
            if members.is_empty() {
                let _ = ldap.unbind().await;
                return Ok(SignIn::NotInGroup);
            }
        }
        let _ = ldap.unbind().await;
        if password.is_empty() {
            return Ok(SignIn::WrongPassword);
        }
        // The user's own bind, on a connection of its own.
        let mut as_user = self.connect().await?;
        let bound = as_user.simple_bind(&entry.dn, password).await?;
        let _ = as_user.unbind().await;
        // 49: invalidCredentials.
        match bound.rc {
            0 => {}
            49 => return Ok(SignIn::WrongPassword),
            _ => {
                bound.success()?;
            }
        }
        let attrs: HashMap<String, Vec<String>> =
            entry.attrs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        Ok(SignIn::Accepted { dn: entry.dn, addresses: addresses(&[attrs], address_attributes) })
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
