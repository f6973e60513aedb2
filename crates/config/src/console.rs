//! `[console]`: how people sign in to the sender console (and the approval and administration
//! pages behind it): with sekisho's own accounts, and/or through the organisation's directory.

use serde::Deserialize;

use sekisho_policy::keywords;

keywords! {
    /// A way to sign in to the console.
    SignInMethod {
        /// sekisho's own accounts (`sekisho user add`).
        Local = "local",
        /// An LDAP bind as the user the directory (`[ldap]`) finds.
        Ldap = "ldap",
        /// The organisation's OpenID Provider (`[console.oidc]`): a button on the sign-in page.
        Oidc = "oidc",
    }
}

/// `[console]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// The ways to sign in, tried in this order for a name and password.
    pub sign_in: Vec<SignInMethod>,
    /// Sign-in through the directory.
    pub ldap: ConsoleLdap,
    /// Sign-in through the organisation's OpenID Provider.
    pub oidc: crate::ConsoleOidc,
    /// The send-a-file page (`/sent/send`): the most file bytes one message may carry
    /// ("2GB", 1 GB = 1024 MB). A larger upload is stopped where it passes the limit (413).
    pub send_max_size: crate::Size,
    /// The longest a send-a-file upload may take, from its first byte (instead of `[portal]
    /// request_timeout`, which stays in force for every other request).
    pub send_timeout: crate::Duration,
}

/// `[console.ldap]`: the directory is `[ldap]` (url, bind_dn, bind_password, base_dn, timeout).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleLdap {
    /// The user's entry; `{user}` is the name typed (escaped).
    pub user_filter: String,
    /// Attributes of the entry holding the user's addresses (the first is the console's
    /// sender; `proxyAddresses`: only `smtp:` values).
    pub address_attributes: Vec<String>,
    /// Only members of this group (its DN) may sign in; unset: anyone the filter finds.
    pub group: Option<String>,
    /// The group's entry naming a member; `{dn}` is the user's DN (escaped).
    pub group_filter: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            sign_in: vec![SignInMethod::Local],
            ldap: ConsoleLdap::default(),
            oidc: Default::default(),
            send_max_size: crate::Size(2 << 30),
            send_timeout: crate::Duration::from_secs(3600),
        }
    }
}

impl Default for ConsoleLdap {
    fn default() -> Self {
        ConsoleLdap {
            user_filter: "(|(mail={user})(uid={user})(userPrincipalName={user}))".into(),
            address_attributes: vec!["mail".into(), "proxyAddresses".into()],
            group: None,
            group_filter: "(|(member={dn})(uniqueMember={dn}))".into(),
        }
    }
}

impl ConsoleConfig {
    /// True when `method` is one of the ways to sign in.
    pub fn allows(&self, method: SignInMethod) -> bool {
        self.sign_in.contains(&method)
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self, ldap_url: Option<&str>) -> Option<(String, String)> {
        if self.sign_in.is_empty() {
            return Some(("console.sign_in".into(), "needs at least one of \"local\", \"ldap\", \"oidc\"".into()));
        }
        if self.allows(SignInMethod::Ldap) && ldap_url.is_none() {
            return Some(("console.sign_in".into(), "\"ldap\" needs the directory: set [ldap] url".into()));
        }
        for (key, filter, var) in [
            ("console.ldap.user_filter", &self.ldap.user_filter, "{user}"),
            ("console.ldap.group_filter", &self.ldap.group_filter, "{dn}"),
        ] {
            if !filter.contains(var) || !filter.starts_with('(') {
                return Some((key.into(), format!("must be an LDAP filter with {var}, e.g. \"(mail={var})\"")));
            }
        }
        if self.send_max_size.0 == 0 {
            return Some(("console.send_max_size".into(), "must be more than 0".into()));
        }
        if self.send_timeout.0.is_zero() {
            return Some(("console.send_timeout".into(), "must be more than 0".into()));
        }
        if self.ldap.address_attributes.is_empty() {
            return Some(("console.ldap.address_attributes".into(), "needs at least one attribute".into()));
        }
        if self.allows(SignInMethod::Oidc) {
            return self.oidc.problem();
        }
        None
    }
}
