//! What the sender asked of the transport (RFC 8689), decided once when the message arrives and
//! kept with it (`MessageInfo::sender_tls`). Pure.

use sekisho_policy::SenderTls;

/// How the message arrived, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asked {
    /// `MAIL FROM:<..> REQUIRETLS` was given (the session took it only over TLS, where offered).
    pub requiretls: bool,
    /// The header block has `TLS-Required: No`.
    pub tls_required_no: bool,
    /// It arrived on a submission listener.
    pub submission: bool,
    /// The client authenticated (SMTP AUTH).
    pub authenticated: bool,
}

/// The request kept with the message, and, when a `TLS-Required: No` field is not honoured,
/// why (for the log).
///
/// - `REQUIRETLS` wins: RFC 8689 says the field is then ignored.
/// - `TLS-Required: No` weakens sekisho's own transport policy for the message, so only an
///   accountable sender may ask for it: a client that authenticated on a submission listener.
///   A client that relays because its address is in `trusted_networks` (any process on such
///   a host) and mail from the internet cannot; the field then travels on unhonoured.
pub(crate) fn decide(a: Asked) -> (Option<SenderTls>, Option<&'static str>) {
    if a.requiretls {
        return (Some(SenderTls::RequireTls), None);
    }
    if !a.tls_required_no {
        return (None, None);
    }
    match (a.submission, a.authenticated) {
        (true, true) => (Some(SenderTls::NotRequired), None),
        (true, false) => {
            (None, Some("TLS-Required: No ignored: only an authenticated submission client may relax TLS"))
        }
        (false, _) => {
            (None, Some("TLS-Required: No ignored: mail from the internet cannot relax sekisho's TLS policy"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(requiretls: bool, no: bool, submission: bool, authenticated: bool) -> Asked {
        Asked { requiretls, tls_required_no: no, submission, authenticated }
    }

    #[test]
    fn requiretls_wins_and_only_an_authenticated_submission_may_relax_tls() {
        assert_eq!(decide(asked(true, true, true, true)).0, Some(SenderTls::RequireTls), "RFC 8689");
        assert_eq!(decide(asked(true, false, false, false)).0, Some(SenderTls::RequireTls));
        assert_eq!(decide(asked(false, true, true, true)), (Some(SenderTls::NotRequired), None));
        let (kept, why) = decide(asked(false, true, true, false));
        assert_eq!(kept, None, "a trusted-network client cannot relax TLS");
        assert!(why.unwrap().contains("authenticated"));
        let (kept, why) = decide(asked(false, true, false, true));
        assert_eq!(kept, None, "nor can mail from the internet");
        assert!(why.unwrap().contains("internet"));
        assert_eq!(decide(asked(false, false, true, true)), (None, None));
    }
}
