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
    /// The client's address had too many unknown recipients lately (in any session): 421
    /// 4.7.1 and close, whatever the address.
    Throttled,
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
            RecipientVerdict::Throttled => Some(Reply::new(
                421,
                "4.7.1",
                "Too many unknown recipients from your address; try again later, closing connection",
            )),
        }
    }
}

/// What the I/O layer found about the envelope sender of a submission client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderVerdict {
    /// The client may use the address.
    Allowed,
    /// The address is not bound to this authenticated account: 553 5.7.1.
    NotBound { account: String },
    /// A trusted-network client used a domain it may not send for: 553 5.7.1.
    NotTrustedDomain,
    /// The bindings could not be read now: 451 4.3.0.
    Unverified,
}

impl SenderVerdict {
    /// The refusal of MAIL FROM `address`, or `None` when it is accepted.
    pub fn refusal(&self, address: &str) -> Option<Reply> {
        match self {
            SenderVerdict::Allowed => None,
            SenderVerdict::NotBound { account } => Some(Reply::new(
                553,
                "5.7.1",
                format!(
                    "Sender address <{address}> is not one of the addresses of account {account}; send as your own address"
                ),
            )),
            SenderVerdict::NotTrustedDomain => Some(Reply::new(
                553,
                "5.7.1",
                format!("Sender address <{address}> is not in a domain this trusted network may send for"),
            )),
            SenderVerdict::Unverified => Some(Reply::new(
                451,
                "4.3.0",
                format!("Sender address <{address}> cannot be checked now; try again later"),
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
            RecipientVerdict::Throttled,
        ]
        .iter()
        .map(|v| v.refusal("a@b.test").map(|r| (r.code, r.status)))
        .collect();
        assert_eq!(
            codes,
            [
                None,
                Some((550, Some("5.1.1"))),
                Some((450, Some("4.1.1"))),
                Some((451, Some("4.4.3"))),
                Some((421, Some("4.7.1")))
            ]
        );
        assert!(
            RecipientVerdict::Unknown
                .refusal("a@b.test")
                .unwrap()
                .to_wire()
                .contains("<a@b.test>: Recipient address rejected")
        );
    }
}
