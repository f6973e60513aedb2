//! Recipient verification at RCPT: the verdict the I/O layer brings back for an address of a
//! local domain, and the reply each verdict gives. Pure.

use crate::reply::Reply;

/// What the recipient sources (a list, a callout to the internal server) said about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientVerdict {
    /// The address exists, or its domain is not verified.
    Known,
    /// No such address: refused with 550 5.1.1, never accepted and bounced later.
    Unknown,
    /// The source could not say now (the internal server answered 4xx or refused the null
    /// sender, the list could not be read): 450 4.1.1, the client tries again later.
    Unverified,
    /// The internal server could not be reached: 451 4.4.3.
    Unreachable,
}

impl RecipientVerdict {
    /// The refusal for `address`, or `None` when it is accepted.
    pub fn refusal(self, address: &str) -> Option<Reply> {
        match self {
            RecipientVerdict::Known => None,
            RecipientVerdict::Unknown => {
                Some(Reply::new(550, "5.1.1", format!("<{address}>: Recipient address rejected: no such user here")))
            }
            RecipientVerdict::Unverified => Some(Reply::new(
                450,
                "4.1.1",
                format!("<{address}>: Recipient address not verified now; try again later"),
            )),
            RecipientVerdict::Unreachable => Some(Reply::new(
                451,
                "4.4.3",
                format!("<{address}>: The mail server that verifies recipients cannot be reached; try again later"),
            )),
        }
    }
}

/// The reply that ends a session that tried too many unknown recipients.
pub fn too_many_unknown(limit: u32) -> Reply {
    Reply::new(421, "4.7.1", format!("Too many unknown recipients ({limit}) in this session, closing connection"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_has_its_code() {
        let codes: Vec<_> = [
            RecipientVerdict::Known,
            RecipientVerdict::Unknown,
            RecipientVerdict::Unverified,
            RecipientVerdict::Unreachable,
        ]
        .iter()
        .map(|v| v.refusal("a@b.test").map(|r| (r.code, r.status)))
        .collect();
        assert_eq!(codes, [None, Some((550, Some("5.1.1"))), Some((450, Some("4.1.1"))), Some((451, Some("4.4.3")))]);
        assert!(
            RecipientVerdict::Unknown
                .refusal("a@b.test")
                .unwrap()
                .to_wire()
                .contains("<a@b.test>: Recipient address rejected")
        );
    }
}
