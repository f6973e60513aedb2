//! The vocabulary of "who really sent this": what authentication found for an inbound message
//! and the findings a person reads, as the queue keeps them and `queue show --json` prints them
//! (`"sender_record": {"authentication": {...}, "findings": [...]}`).

use serde::{Deserialize, Serialize};

use crate::keywords;

/// What sekisho learned about an inbound message's sender before the 250.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRecord {
    /// SPF, DKIM, DMARC and ARC results; None when authentication did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthenticationRecord>,
    /// What a person should know, most serious first.
    #[serde(default)]
    pub findings: Vec<SenderFinding>,
}

/// The results of the authentication checks, one per mechanism (RFC 8601 vocabulary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationRecord {
    /// SPF for the envelope sender (or the HELO name for the null sender).
    pub spf: Option<MethodResult>,
    /// One result per DKIM signature, in the order the message carries them.
    #[serde(default)]
    pub dkim: Vec<MethodResult>,
    /// DMARC for the header From's domain, with the policy it published.
    pub dmarc: Option<MethodResult>,
    /// The ARC chain as a whole.
    pub arc: Option<MethodResult>,
    /// SPF for the HELO name (the envelope sender's result is `spf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf_helo: Option<MethodResult>,
    /// What the DMARC result did to the message and why: "quarantine: ...", "deliver: the
    /// client is a trusted forwarder"; empty when there was nothing to act on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dmarc_action: String,
    /// The Authentication-Results field (RFC 8601) added when the message is delivered to the
    /// internal server, folded, ending in CRLF.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub results_field: String,
}

/// One mechanism's result: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`,
/// `permerror` (RFC 8601 §2.7), what it was about and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The result keyword as in Authentication-Results.
    pub result: String,
    /// The identity checked: the domain (SPF, DMARC), `d=` and `s=` (DKIM), the chain's
    /// instance count (ARC).
    #[serde(default)]
    pub about: String,
    /// Why, in a few words; empty for a pass.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

keywords! {
    /// The kind of a finding about an inbound message's sender.
    FindingKind {
        /// DMARC failed for the header From's domain.
        DmarcFail = "dmarc-fail",
        /// SPF failed for the envelope sender.
        SpfFail = "spf-fail",
        /// A DKIM signature failed to verify.
        DkimFail = "dkim-fail",
        /// The From domain resembles a domain the organisation protects.
        LookAlike = "look-alike",
        /// The display name holds another address, or an internal person's name on an
        /// external address.
        DisplayNameSpoof = "display-name-spoof",
        /// The header From's organisational domain differs from the envelope sender's.
        HeaderEnvelopeMismatch = "header-envelope-mismatch",
        /// Reply-To points to another organisational domain than From.
        ReplyToElsewhere = "reply-to-elsewhere",
        /// Nobody in the organisation has exchanged mail with this sender before.
        FirstContact = "first-contact",
        /// The connecting client's country (information).
        OriginCountry = "origin-country",
        /// The message carries an S/MIME signature that verified: the signer's certificate
        /// chains to a configured root and is for the From address (positive evidence).
        SmimeValid = "smime-valid",
        /// The message carries an S/MIME signature that did not verify, and why.
        SmimeInvalid = "smime-invalid",
    }
}

/// One thing a person should know about the sender: the kind, the evidence and a sentence in
/// each language the portal and the banner speak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderFinding {
    pub kind: FindingKind,
    /// The evidence, e.g. "examp1e.co.jp ~ example.co.jp".
    pub detail: String,
    /// The sentence in English.
    pub sentence: String,
    /// The sentence in Japanese.
    pub sentence_ja: String,
}
