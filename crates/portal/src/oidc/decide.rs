//! Whom a verified ID token signs in, pure: its `email`, verified by the provider, in an
//! allowed domain and, when configured, one of the allowed groups.

use sekisho_config::ConsoleOidc;

use super::jwt::Claims;

/// Why a verified user may not sign in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The token carries no usable `email`.
    #[error("the ID token has no usable email claim")]
    NoEmail,
    /// `email_verified` is missing or false.
    #[error("the provider has not verified the email address ({0})")]
    NotVerified(String),
    /// The address's domain is not in `allowed_domains`.
    #[error("{0} is not in [console.oidc] allowed_domains")]
    Domain(String),
    /// None of the user's groups is in `groups`.
    #[error("{0} is not a member of any of [console.oidc] groups")]
    Group(String),
}

/// The console's sender address for `claims`, or why not.
pub fn admit(claims: &Claims, config: &ConsoleOidc) -> Result<String, Refusal> {
    let email = claims.email.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
    if !crate::console::plausible_address(&email) {
        return Err(Refusal::NoEmail);
    }
    if !claims.email_verified {
        return Err(Refusal::NotVerified(email));
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if !config.allowed_domains.is_empty() && !config.allowed_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(Refusal::Domain(email));
    }
    if let Some(claim) = &config.groups_claim
        && !claims.strings(claim).iter().any(|g| config.groups.contains(g))
    {
        return Err(Refusal::Group(email));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(email: Option<&str>, verified: bool, groups: &[&str]) -> Claims {
        let all = json!({ "groups": groups }).as_object().unwrap().clone();
        Claims { subject: "s".into(), email: email.map(str::to_string), email_verified: verified, all }
    }

    #[test]
    fn only_a_verified_address_in_an_allowed_domain_and_group_signs_in() {
        let mut c = ConsoleOidc::default();
        assert_eq!(admit(&claims(Some("Hanako@Example.jp"), true, &[]), &c), Ok("hanako@example.jp".into()));
        assert_eq!(
            admit(&claims(Some("h@example.jp"), false, &[]), &c),
            Err(Refusal::NotVerified("h@example.jp".into()))
        );
        assert_eq!(admit(&claims(None, true, &[]), &c), Err(Refusal::NoEmail));
        assert_eq!(admit(&claims(Some("a b@x.jp"), true, &[]), &c), Err(Refusal::NoEmail));
        c.allowed_domains = vec!["example.jp".into()];
        assert!(admit(&claims(Some("h@EXAMPLE.jp"), true, &[]), &c).is_ok());
        assert_eq!(admit(&claims(Some("h@evil.jp"), true, &[]), &c), Err(Refusal::Domain("h@evil.jp".into())));
        assert!(matches!(admit(&claims(Some("h@sub.example.jp"), true, &[]), &c), Err(Refusal::Domain(_))));
        c.groups_claim = Some("groups".into());
        c.groups = vec!["mail-users".into()];
        assert!(admit(&claims(Some("h@example.jp"), true, &["staff", "mail-users"]), &c).is_ok());
        assert!(matches!(admit(&claims(Some("h@example.jp"), true, &["staff"]), &c), Err(Refusal::Group(_))));
    }
}
