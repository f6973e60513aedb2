//! `[console.oidc]`: console sign-in through the organisation's OpenID Provider (authorization
//! code with PKCE; the ID token's verified `email` is the console's sender address).

use std::path::PathBuf;

use serde::Deserialize;

use crate::Duration;

/// `[console.oidc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleOidc {
    /// The provider's name on the sign-in button ("Sign in with NAME"); unset: the issuer's
    /// host.
    pub name: Option<String>,
    /// The issuer URL: `https://`, or `http://` only for a provider on the loopback
    /// (127.0.0.0/8, `[::1]`, `localhost`). Its discovery document is
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client ID sekisho is registered under at the provider.
    pub client_id: String,
    /// The client secret (`client_secret_basic`); or `client_secret_file`.
    pub client_secret: Option<String>,
    /// A file holding the client secret (its first line), read at start.
    pub client_secret_file: Option<PathBuf>,
    /// The scopes asked for; must include `openid`.
    pub scopes: Vec<String>,
    /// The domains whose addresses may sign in; empty: any.
    pub allowed_domains: Vec<String>,
    /// The ID token claim listing the user's groups (e.g. `groups`); with `groups`.
    pub groups_claim: Option<String>,
    /// Only members of one of these groups may sign in; with `groups_claim`.
    pub groups: Vec<String>,
    /// Time for each request to the provider (discovery, keys, token).
    pub timeout: Duration,
}

impl Default for ConsoleOidc {
    fn default() -> Self {
        ConsoleOidc {
            name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into()],
            allowed_domains: Vec::new(),
            groups_claim: None,
            groups: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The host of an `http://` or `https://` URL (brackets kept off an IPv6 literal), if it has
/// one.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        &v6[..v6.find(']')?]
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then_some(host)
}

/// True for a host on the loopback: 127.0.0.0/8, ::1 or `localhost`.
pub fn loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl ConsoleOidc {
    /// The name on the sign-in button.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().or_else(|| url_host(&self.issuer)).unwrap_or("OpenID Connect")
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        let key = |k: &str| format!("console.oidc.{k}");
        let issuer = &self.issuer;
        if issuer.is_empty() {
            return Some((key("issuer"), "\"oidc\" sign-in needs the provider's issuer URL".into()));
        }
        let Some(host) = url_host(issuer) else {
            return Some((key("issuer"), format!("`{issuer}`: write https://host[:port][/path]")));
        };
        if issuer.starts_with("http://") && !loopback_host(host) {
            return Some((
                key("issuer"),
                format!("`{issuer}`: the issuer must be https:// (plain http:// only for a provider on the loopback)"),
            ));
        }
        if issuer.contains(['?', '#']) || issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Some((key("issuer"), format!("`{issuer}`: an issuer URL has no query, fragment or spaces")));
        }
        if self.client_id.is_empty() {
            return Some((key("client_id"), "must be set for \"oidc\" sign-in".into()));
        }
        match (&self.client_secret, &self.client_secret_file) {
            (Some(_), Some(_)) => {
                return Some((key("client_secret_file"), "set client_secret or client_secret_file, not both".into()));
            }
            (None, None) => return Some((key("client_secret"), "must be set (or client_secret_file)".into())),
            (None, Some(path)) if !path.exists() => {
                return Some((key("client_secret_file"), format!("{} does not exist", path.display())));
            }
            _ => {}
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Some((key("scopes"), "must include \"openid\"".into()));
        }
        if let Some(s) = self.scopes.iter().find(|s| s.is_empty() || s.contains([' ', '"', '\\'])) {
            return Some((key("scopes"), format!("`{s}` is not a scope")));
        }
        if let Some(d) = self.allowed_domains.iter().find(|d| d.is_empty() || d.contains(['@', ' '])) {
            return Some((key("allowed_domains"), format!("`{d}` is not a domain")));
        }
        if self.groups_claim.is_some() == self.groups.is_empty() {
            return Some((key("groups"), "groups_claim and groups go together".into()));
        }
        if self.timeout.0.is_zero() {
            return Some((key("timeout"), "must be more than 0".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Config;

    const BASE: &str = "[console]\nsign_in = [\"local\", \"oidc\"]\n[console.oidc]\n";

    fn problem(rest: &str) -> String {
        Config::parse(&format!("{BASE}{rest}"), Path::new("s.toml")).unwrap_err().to_string()
    }

    #[test]
    fn an_http_issuer_is_refused_unless_it_is_on_the_loopback() {
        let e = problem("issuer = \"http://login.example.jp\"\nclient_id = \"c\"\nclient_secret = \"s\"\n");
        assert!(e.starts_with("s.toml:4: console.oidc.issuer") && e.contains("must be https://"), "{e}");
        for issuer in
            ["https://login.example.jp/realms/x", "http://127.0.0.1:9400", "http://[::1]:80", "http://localhost"]
        {
            let text = format!("{BASE}issuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"s\"\n");
            let c = Config::parse(&text, Path::new("s.toml")).unwrap_or_else(|e| panic!("{issuer}: {e}"));
            assert_eq!(c.console.oidc.scopes, ["openid", "email"]);
        }
        let e = problem("issuer = \"ftp://x\"\nclient_id = \"c\"\nclient_secret = \"s\"\n");
        assert!(e.contains("console.oidc.issuer"), "{e}");
    }

    #[test]
    fn each_missing_or_conflicting_key_is_named() {
        let i = "issuer = \"https://idp.example.jp\"\n";
        assert!(problem("").contains("console.oidc.issuer"));
        assert!(problem(i).contains("console.oidc.client_id"));
        assert!(problem(&format!("{i}client_id = \"c\"\n")).contains("console.oidc.client_secret"));
        let e = problem(&format!("{i}client_id = \"c\"\nclient_secret = \"s\"\nclient_secret_file = \"/x\"\n"));
        assert!(e.starts_with("s.toml:7: console.oidc.client_secret_file"), "{e}");
        let e = problem(&format!("{i}client_id = \"c\"\nclient_secret_file = \"/nonexistent/secret\"\n"));
        assert!(e.contains("does not exist"), "{e}");
        let e = problem(&format!("{i}client_id = \"c\"\nclient_secret = \"s\"\nscopes = [\"email\"]\n"));
        assert!(e.starts_with("s.toml:7: console.oidc.scopes") && e.contains("openid"), "{e}");
        let e = problem(&format!("{i}client_id = \"c\"\nclient_secret = \"s\"\ngroups_claim = \"groups\"\n"));
        assert!(e.contains("console.oidc.groups"), "{e}");
        let e = problem(&format!("{i}client_id = \"c\"\nclient_secret = \"s\"\nallowed_domains = [\"@x\"]\n"));
        assert!(e.contains("console.oidc.allowed_domains"), "{e}");
    }

    #[test]
    fn the_button_names_the_provider_or_the_issuers_host() {
        let mut o = ConsoleOidc { issuer: "https://login.example.jp:8443/realms/corp".into(), ..Default::default() };
        assert_eq!(o.display_name(), "login.example.jp");
        o.name = Some("Corp SSO".into());
        assert_eq!(o.display_name(), "Corp SSO");
        assert_eq!(url_host("http://[::1]:9/x"), Some("::1"));
        assert_eq!(url_host("https://u@h/"), None);
        assert!(loopback_host("127.0.0.2") && loopback_host("::1") && !loopback_host("10.0.0.1"));
    }
}
