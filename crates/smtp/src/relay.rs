//! Relay control: which recipients a client may send to. Pure: the same answer for the same
//! facts, so the open-relay catalogue is tested here exhaustively.

use crate::address::{self, has_routing};
use crate::reply::Reply;
use crate::session::ListenerRole;

/// Decides whether a recipient is accepted. `authorized` is true for an authenticated user or
/// a client in the listener's trusted networks; it only matters on a submission listener.
pub fn authorize_recipient(
    role: ListenerRole,
    authorized: bool,
    local_domains: &[String],
    recipient: &str,
) -> Result<(), Reply> {
    let Some(mailbox) = address::split(recipient) else {
        return Err(Reply::new(501, "5.1.3", "Bad recipient address syntax"));
    };
    if !address::valid_domain(mailbox.domain) {
        return Err(Reply::new(501, "5.1.3", "Bad recipient address syntax: invalid domain"));
    }
    match role {
        ListenerRole::Submission if authorized => Ok(()),
        ListenerRole::Submission => Err(Reply::new(
            554,
            "5.7.1",
            format!("<{recipient}>: Relay access denied; authenticate or connect from a trusted network"),
        )),
        ListenerRole::Mx => {
            if has_routing(mailbox.local) {
                return Err(Reply::new(
                    554,
                    "5.7.1",
                    format!("<{recipient}>: Relay access denied; sender-specified routing is not allowed"),
                ));
            }
            let domain = address::normalize_domain(mailbox.domain);
            if local_domains.iter().any(|d| address::normalize_domain(d) == domain) {
                Ok(())
            } else {
                Err(Reply::new(554, "5.7.1", format!("<{recipient}>: Relay access denied")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<String> {
        vec!["example.jp".into()]
    }

    /// The address forms nmap's smtp-open-relay script tries, with the local domain and the
    /// local host as an IP literal.
    pub(crate) fn open_relay_forms() -> Vec<String> {
        let mut v = Vec::new();
        for local in ["example.jp", "[127.0.0.1]"] {
            v.push("victim@outside.example".to_string());
            v.push(format!("victim%outside.example@{local}"));
            v.push(format!("\"victim@outside.example\"@{local}"));
            v.push(format!("outside.example!victim@{local}"));
            v.push(format!("victim@outside.example@{local}"));
            v.push(format!("\"victim%outside.example\"@{local}"));
            v.push(format!("\"outside.example!victim\"@{local}"));
            v.push(format!("victim@outside.example.{local}"));
        }
        v
    }

    #[test]
    fn mx_listener_accepts_only_local_domains() {
        assert!(authorize_recipient(ListenerRole::Mx, false, &local(), "bob@example.jp").is_ok());
        assert!(authorize_recipient(ListenerRole::Mx, false, &local(), "bob@EXAMPLE.JP.").is_ok());
        let e = authorize_recipient(ListenerRole::Mx, false, &local(), "bob@example.com").unwrap_err();
        assert_eq!((e.code, e.status), (554, Some("5.7.1")));
    }

    #[test]
    fn open_relay_forms_are_all_refused() {
        for form in open_relay_forms() {
            for role in [ListenerRole::Mx, ListenerRole::Submission] {
                let r = authorize_recipient(role, false, &local(), &form);
                assert!(r.is_err(), "{form} accepted on {role:?}");
                assert!(r.unwrap_err().code >= 500, "{form}");
            }
        }
    }

    #[test]
    fn submission_relays_for_authorized_clients_only() {
        assert!(authorize_recipient(ListenerRole::Submission, true, &[], "x@anywhere.example").is_ok());
        assert!(authorize_recipient(ListenerRole::Submission, false, &local(), "bob@example.jp").is_err());
    }

    #[test]
    fn bad_syntax_is_501() {
        let e = authorize_recipient(ListenerRole::Submission, true, &[], "x@bad domain").unwrap_err();
        assert_eq!(e.code, 501);
    }
}
