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
    /// What the DNS blocklists said (`[reputation]`); None when no list was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<ReputationRecord>,
}

/// What the DNS blocklists said about a message: every hit, the lists that did not answer, the
/// score and what it did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReputationRecord {
    /// The sum of the hits' weights.
    pub score: i32,
    /// What the score did and why: "tag: score 3 reaches tag_score 1", "quarantine: ...",
    /// "reject: ..."; empty when it did nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// Each list that named the client or a domain.
    #[serde(default)]
    pub hits: Vec<ReputationHit>,
    /// The lists that did not answer in time or failed, with the name asked about ("zone:
    /// no answer within 2s"): they count nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<String>,
}

/// One list naming the client or one of the message's domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReputationHit {
    /// The list's zone ("zen.spamhaus.org").
    pub list: String,
    /// What was listed: the client's address or a domain.
    pub listed: String,
    /// Where it was found: "client", "envelope sender", "From", "Reply-To", "link".
    pub source: String,
    /// The list's answer ("127.0.0.2").
    pub code: String,
    /// The entry's weight (negative for an allow list).
    pub weight: i32,
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
    /// What became of the DMARC failure report (`ruf=`) about the message, when its DMARC
    /// failed and the record asks for failure reports: "queued for sending to mailto:...",
    /// "not sent: [dmarc] failure_reports is off", "not sent: rate-limited: ...".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dmarc_failure_report: String,
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
        /// A DNS blocklist names the client's address or one of the message's domains.
        Reputation = "reputation",
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
