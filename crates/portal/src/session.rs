//! Portal sessions: the cookie a link's token is swapped for (random, 256 bits, stored only as
//! its SHA-256), the CSRF token of its forms, and who the client is for the audit log.

use axum::http::{HeaderMap, header};
use sekisho_store::links::token_hash;
use sekisho_store::{LinkRecord, PortalSession};

use crate::Portal;

/// The recipient page's session cookie.
pub const RECIPIENT: &str = "sekisho";
/// The sender console's session cookie.
pub const CONSOLE: &str = "sekisho-console";
/// The sender console's sign-in form token (double submit).
pub const SIGN_IN: &str = "sekisho-sign-in";

/// The form token of a page reached from a mailed link (double submit).
pub const CONFIRM: &str = "sekisho-confirm";

/// A cookie's name: with the `__Host-` prefix (Secure, no Domain, Path=/) when the portal is
/// served over HTTPS.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure { format!("__Host-{base}") } else { base.to_string() }
}

/// Equal without telling how much of it matched.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The `Set-Cookie` value for cookie `base` holding `value`.
pub fn set_cookie(base: &str, value: &str, secure: bool, max_age: u64) -> String {
    let secure_attr = if secure { "; Secure" } else { "" };
    format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure_attr}", cookie_name(base, secure))
}

/// The value of cookie `base`, if the request has one.
pub fn cookie(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    let name = cookie_name(base, secure);
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name && !v.is_empty() && v.len() <= 64).then(|| v.to_string())
    })
}

/// Who made a request, for the audit log.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: String,
    pub user_agent: String,
}

impl Client {
    /// From the connection's peer address and the request headers (the user agent cut to
    /// 200 characters).
    pub fn new(peer: std::net::SocketAddr, headers: &HeaderMap) -> Client {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .filter(|c| !sekisho_policy::text::hidden(*c))
            .take(200)
            .collect();
        Client { address: peer.ip().to_string(), user_agent }
    }
}

/// A request's session with its link, when both are still valid.
pub struct Current {
    /// SHA-256 of the cookie.
    pub id_hash: String,
    pub session: PortalSession,
    pub link: LinkRecord,
}

impl Portal {
    /// True when the portal is served over HTTPS (its cookies are then `Secure`).
    pub fn secure(&self) -> bool {
        self.inner.config.portal.url.starts_with("https://")
    }

    /// The session of the request, with its link.
    pub async fn current(&self, headers: &HeaderMap) -> Result<Option<Current>, sekisho_store::StoreError> {
        let Some(id) = cookie(headers, RECIPIENT, self.secure()) else { return Ok(None) };
        let id_hash = token_hash(&id);
        let now = chrono::Utc::now().timestamp();
        let Some(session) = self.inner.stores.sessions.session(&id_hash, now).await? else { return Ok(None) };
        let Some(link) = self.inner.stores.links.link(&session.message_id, session.idx).await? else { return Ok(None) };
        Ok(Some(Current { id_hash, session, link }))
    }

    /// The page of a mailed link: `text` and a button posting to `action`, its form token in a
    /// cookie of its own (double submit).
    pub fn confirm_page(
        &self,
        t: &'static crate::lang::Texts,
        text: &str,
        action: String,
        button: &str,
    ) -> axum::response::Response {
        let csrf = sekisho_store::links::random_token(16);
        let page = crate::page::ConfirmPage { t, text: text.into(), action, button: button.into(), csrf: csrf.clone() };
        let mut r = crate::page::render(axum::http::StatusCode::OK, &page);
        if let Ok(v) = axum::http::HeaderValue::from_str(&set_cookie(CONFIRM, &csrf, self.secure(), 3600)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    /// True when the form of a `confirm_page` carries the token its cookie holds.
    pub fn confirm_allowed(&self, headers: &HeaderMap, csrf: &str) -> bool {
        let expected = cookie(headers, CONFIRM, self.secure()).unwrap_or_default();
        self.form_allowed(headers, &expected, csrf)
    }

    /// True when a form post comes from the portal's own pages: the right CSRF token, and an
    /// `Origin` (when the browser names one) that is the portal's.
    pub fn form_allowed(&self, headers: &HeaderMap, expected: &str, csrf: &str) -> bool {
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` with their own
        // forms: it names no other site, and the form token decides.
        let origin_ok = match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            None | Some("null") => true,
            Some(origin) => {
                let ours = self.inner.config.portal.url.trim_end_matches('/');
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
                origin == ours || origin.split_once("://").is_some_and(|(_, rest)| !host.is_empty() && rest == host)
            }
        };
        origin_ok && !expected.is_empty() && same(csrf, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_back_and_never_too_long() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; sekisho=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, RECIPIENT, false).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, RECIPIENT, true), None, "the secure name differs");
        assert_eq!(cookie(&h, CONSOLE, false), None);
        h.insert(header::COOKIE, format!("sekisho={}", "x".repeat(65)).parse().unwrap());
        assert_eq!(cookie(&h, RECIPIENT, false), None);
        assert!(set_cookie(RECIPIENT, "v", true, 60).contains("__Host-sekisho=v; Path=/; HttpOnly; SameSite=Lax"));
        assert!(set_cookie(RECIPIENT, "v", true, 60).ends_with("; Secure"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
