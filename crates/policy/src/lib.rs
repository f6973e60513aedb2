//! sekisho's policy vocabulary: every enumerated setting of the configuration as a type, read
//! once when the configuration loads ("parse, don't validate"). Consumers match on variants;
//! nothing compares strings or falls back silently. Each type's keywords are the ones the
//! configuration file, the store and `--json` output use.

pub mod inbound;
mod keywords;
pub mod sender;
pub mod text;

pub use keywords::UnknownKeyword;

keywords! {
    /// How well a delivery session is protected, weakest first. The session itself proves at
    /// most `authenticated`; `mta-sts` and `dane` are reached when the recipient domain's
    /// published policy (RFC 8461) or DNSSEC-signed TLSA records (RFC 7672) also hold for it.
    Assurance {
        /// No STARTTLS, a failed handshake, or TLS below 1.2.
        None = "none",
        /// TLS 1.2 or later; the certificate was not (successfully) validated.
        Encrypted = "encrypted",
        /// TLS 1.2 or later with a certificate chain valid for the host name.
        Authenticated = "authenticated",
        /// Authenticated, and the host matched the domain's MTA-STS policy in mode `enforce`.
        MtaSts = "mta-sts",
        /// The certificate matched a usable DNSSEC-validated TLSA record of the host.
        Dane = "dane",
    }
}

keywords! {
    /// From which session assurance a recipient gets attachments inline (below it: a download
    /// link); `never` sends links whatever the TLS.
    InlineMin {
        /// Inline over any session, plaintext included.
        None = "none",
        /// Inline from TLS 1.2, certificate not checked.
        Encrypted = "encrypted",
        /// Inline from a certificate valid for the MX name.
        Authenticated = "authenticated",
        /// Inline only where the domain's MTA-STS policy (enforce) matched.
        MtaSts = "mta-sts",
        /// Inline only where DANE matched.
        Dane = "dane",
        /// Always a download link.
        Never = "never",
    }
}

impl InlineMin {
    /// The assurance this asks for; `None` for `never`.
    pub fn assurance(self) -> Option<Assurance> {
        Some(match self {
            InlineMin::None => Assurance::None,
            InlineMin::Encrypted => Assurance::Encrypted,
            InlineMin::Authenticated => Assurance::Authenticated,
            InlineMin::MtaSts => Assurance::MtaSts,
            InlineMin::Dane => Assurance::Dane,
            InlineMin::Never => return None,
        })
    }

    /// True when a session that reached `reached` may carry the attachments inline.
    pub fn admits(self, reached: Assurance) -> bool {
        self.assurance().is_some_and(|min| reached >= min)
    }

    /// The one rule of the inline-or-link decision, which delivery (`decide`) and the TLS
    /// checker (`predict`) both apply: a link for a password-protected file under the link
    /// policy, for a suspected downgrade, for `never`, and below this level; else inline.
    pub fn carriage(self, reached: Assurance, downgrade_suspected: bool, encrypted: bool) -> Carriage {
        if encrypted || downgrade_suspected || !self.admits(reached) { Carriage::Link } else { Carriage::Inline }
    }
}

keywords! {
    /// The one header the portal's trusted reverse proxies append the client's address to
    /// (a client's own copy of the other header passes through them untouched).
    ProxyHeader {
        /// `X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, HAProxy `forwardfor`).
        XForwardedFor = "x-forwarded-for",
        /// `Forwarded` (RFC 7239).
        Forwarded = "forwarded",
    }
}

keywords! {
    /// How inline attachments travel.
    InlineFormat {
        /// The attachment parts as the sender wrote them.
        AsIs = "as-is",
        /// One plain ZIP (no password) in place of the attachment parts.
        Zip = "zip",
    }
}

keywords! {
    /// Submitted mail with a password-protected or encrypted attachment (nested ones too).
    EncryptedPolicy {
        /// Refused at submission (550 5.7.1): the sender is told to send it unencrypted.
        Reject = "reject",
        /// Accepted, and its attachments always go as download links, whatever the TLS.
        Link = "link",
        /// Accepted and treated like any other attachment.
        Allow = "allow",
    }
}

keywords! {
    /// Submitted mail with an attachment that cannot be inspected (a zip bomb, nesting too
    /// deep, a corrupt archive).
    UninspectablePolicy {
        /// Refused at submission (550 5.7.1 or 5.6.0).
        Reject = "reject",
        /// Accepted.
        Allow = "allow",
    }
}

keywords! {
    /// What a suspected STARTTLS downgrade does to a delivery.
    DowngradeAction {
        /// Flag and log it; deliver (attachments go as links).
        Record = "record",
        /// Keep the mail for a later attempt.
        Defer = "defer",
    }
}

keywords! {
    /// How attachments are decided for mail that leaves through the smart host
    /// (`relay_host`), whose session says nothing about the recipient's own mail servers.
    SmartHostAttachments {
        /// From what sekisho's own probe of the recipient domain's MX hosts reached (fresh
        /// delivery or checker sessions in the probe cache, else a new probe), and the hop to
        /// the smart host: both must reach the inline level.
        Probe = "probe",
        /// Always as download links.
        Link = "link",
    }
}

keywords! {
    /// How a recipient opens a link's page.
    Access {
        /// A one-time code mailed to the recipient's address when asked for.
        Otp = "otp",
        /// A random password, handed over as `password_delivery` says.
        Password = "password",
        /// A passphrase agreed beforehand per recipient address or domain.
        Passphrase = "passphrase",
        /// The link alone.
        None = "none",
    }
}

keywords! {
    /// With `access = "password"`: who gets the password.
    PasswordDelivery {
        /// One password per message, mailed to the sender to pass on by phone or chat.
        Sender = "sender",
        /// One per recipient, mailed to the recipient `password_delay` after the link.
        SeparateMail = "separate-mail",
    }
}

keywords! {
    /// Who may use the portal's TLS checker (`/check`, `/api/v1/check`).
    CheckerAccess {
        /// Anyone.
        Public = "public",
        /// Only senders signed in to the console.
        SignedIn = "signed-in",
        /// Nobody: the pages answer 404.
        Off = "off",
    }
}

keywords! {
    /// The portal's page language.
    Language {
        /// The browser's Accept-Language.
        Auto = "auto",
        /// Japanese.
        Ja = "ja",
        /// English.
        En = "en",
    }
}

keywords! {
    /// What happened to a download link, as its audit log records it.
    LinkEvent {
        /// The recipient opened the link's page.
        Opened = "opened",
        /// A one-time code was mailed to the recipient.
        CodeSent = "code-sent",
        /// The code, password or passphrase was accepted.
        Verified = "verified",
        /// A wrong code, password or passphrase.
        Wrong = "wrong",
        /// Too many wrong tries: the link is locked.
        Locked = "locked",
        /// A try on a locked link.
        RefusedLocked = "refused-locked",
        /// A file (or all of them as one ZIP) was downloaded.
        Download = "download",
        /// The sender or an administrator revoked the link.
        Revoked = "revoked",
        /// Its expiry was moved.
        Extended = "extended",
        /// A locked link was unlocked.
        Unlocked = "unlocked",
        /// A new link was sent to the recipient in place of this one.
        Resent = "resent",
        /// The recipient reported a code request as not theirs ("this wasn't me"): the link
        /// was locked and the session that asked for the code ended.
        CodeReported = "code-reported",
        /// The recipient opened an encrypted archive with its password on the classification
        /// page (the password itself is never recorded).
        ArchiveOpened = "archive-opened",
        /// An administrator released a quarantined inbound message: delivery resumes.
        QuarantineReleased = "quarantine-released",
        /// An administrator deleted a quarantined inbound message: nothing is delivered.
        QuarantineDeleted = "quarantine-deleted",
        /// A recipient was told in the quarantine digest that the message was held for them.
        QuarantineDigest = "quarantine-digest",
        /// An administrator took the original a sanitised copy stood in for (withheld from
        /// the recipients; kept sealed for the administrators only).
        OriginalDownloaded = "original-downloaded",
        /// An approver approved a message a rule held for approval: delivery begins.
        ApprovalApproved = "approval-approved",
        /// An approver rejected a message a rule held for approval: it is never delivered.
        ApprovalRejected = "approval-rejected",
        /// Nobody decided within the rule's timeout: the message was released or rejected as
        /// the rule says.
        ApprovalTimedOut = "approval-timed-out",
        /// A DMARC failure report about the inbound message was queued to a `ruf` destination,
        /// or why not (`not sent: ...`), as the background sender decided.
        DmarcFailureReport = "dmarc-failure-report",
    }
}

keywords! {
    /// How one recipient got a message's attachments.
    Carriage {
        /// The attachments themselves (as they are, or in one plain ZIP).
        Inline = "inline",
        /// A download notice with the recipient's own link.
        Link = "link",
    }
}

keywords! {
    /// What the sender asked of the transport for one message (RFC 8689), kept with it in the
    /// queue. Absent: sekisho's own policies (`[[outbound.tls]]`, MTA-STS, DANE) alone decide.
    SenderTls {
        /// `MAIL FROM:<..> REQUIRETLS`: every hop must be authenticated TLS to a server that
        /// advertises REQUIRETLS, else the message bounces (5.7.30).
        RequireTls = "requiretls",
        /// `TLS-Required: No` (from an authenticated submission client or sekisho itself):
        /// delivered whatever the destination's TLS policy says.
        NotRequired = "tls-required-no",
        /// A DSN about a REQUIRETLS message (RFC 8689): relayed with REQUIRETLS where the
        /// next hop advertises it over authenticated TLS, and otherwise sent anyway (a bounce
        /// is not discarded for it).
        RequireTlsIfOffered = "requiretls-if-offered",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assurance_levels_are_ordered_weakest_first() {
        assert!(Assurance::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_keyword_reads_back_as_itself() {
        for &a in Assurance::ALL {
            assert_eq!(Assurance::parse(a.as_str()), Some(a));
        }
        for &m in InlineMin::ALL {
            assert_eq!(InlineMin::parse(m.as_str()), Some(m));
        }
        assert_eq!(Assurance::parse("DANE"), None, "keywords are exact");
        assert_eq!(PasswordDelivery::parse("separate-mail"), Some(PasswordDelivery::SeparateMail));
    }

    #[test]
    fn inline_min_never_admits_any_session() {
        for &reached in Assurance::ALL {
            assert!(!InlineMin::Never.admits(reached));
            assert!(InlineMin::None.admits(reached));
        }
        assert!(InlineMin::Authenticated.admits(Assurance::Dane));
        assert!(!InlineMin::Authenticated.admits(Assurance::Encrypted));
    }

    #[test]
    fn a_link_for_an_encrypted_file_a_downgrade_never_or_below_the_level() {
        let (min, good) = (InlineMin::Encrypted, Assurance::Dane);
        assert_eq!(min.carriage(good, false, false), Carriage::Inline);
        assert_eq!(min.carriage(good, false, true), Carriage::Link, "encrypted file");
        assert_eq!(min.carriage(good, true, false), Carriage::Link, "suspected downgrade");
        assert_eq!(InlineMin::None.carriage(Assurance::None, true, false), Carriage::Link, "even at none");
        assert_eq!(InlineMin::Never.carriage(good, false, false), Carriage::Link);
        assert_eq!(min.carriage(Assurance::None, false, false), Carriage::Link, "below the level");
    }

    #[test]
    fn inline_min_shares_the_assurance_keywords() {
        for &a in Assurance::ALL {
            assert_eq!(InlineMin::parse(a.as_str()).and_then(InlineMin::assurance), Some(a));
        }
    }

    #[test]
    fn an_unknown_keyword_names_the_accepted_ones() {
        use serde::Deserialize as _;
        use serde::de::value::{Error, StrDeserializer};
        let e = DowngradeAction::deserialize(StrDeserializer::<Error>::new("defer-it")).unwrap_err();
        assert_eq!(e.to_string(), "`defer-it` is not one of \"record\", \"defer\"");
        let ok = DowngradeAction::deserialize(StrDeserializer::<Error>::new("defer")).unwrap();
        assert_eq!(ok, DowngradeAction::Defer);
    }
}
