//! Why an attempt to a partner fell short, from its recorded evidence.

use sekisho_store::PartnerEvidence;
/// What the partner's side lacked in one attempt (serialised as its `keyword`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The server did not offer STARTTLS (`starttls-not-supported`).
    NoStarttls,
    /// The certificate had expired (`certificate-expired`).
    CertificateExpired,
    /// The certificate did not name the MX host (`certificate-host-mismatch`).
    NameMismatch,
    /// Self-signed, or not from a trusted CA (`certificate-not-trusted`).
    Untrusted,
    /// TLS with a valid certificate, where the policy asks for MTA-STS (enforce) or DANE.
    NoMtaStsOrDane,
    /// Earlier sessions reached TLS and this one reached less.
    DowngradeSuspected,
    /// Another RFC 8460 result type (`validation-failure`, `tlsa-invalid`, ...).
    Other(String),
}

impl Reason {
    /// The reason of one row of evidence; None when the session met what was asked.
    pub fn of(r: &PartnerEvidence) -> Option<Reason> {
        if r.downgrade {
            return Some(Reason::DowngradeSuspected);
        }
        let below_authenticated = matches!(r.assurance.as_deref(), Some("none" | "encrypted") | None);
        if let Some(f) = r.failure.as_deref().filter(|_| below_authenticated) {
            return Some(match f {
                "starttls-not-supported" => Reason::NoStarttls,
                "certificate-expired" => Reason::CertificateExpired,
                "certificate-host-mismatch" => Reason::NameMismatch,
                "certificate-not-trusted" => Reason::Untrusted,
                other => Reason::Other(other.to_string()),
            });
        }
        if r.below_policy || (r.outcome != "delivered" && !below_authenticated) {
            return Some(Reason::NoMtaStsOrDane);
        }
        None
    }

    /// A short keyword: the RFC 8460 result type where there is one.
    pub fn keyword(&self) -> &str {
        match self {
            Reason::NoStarttls => "starttls-not-supported",
            Reason::CertificateExpired => "certificate-expired",
            Reason::NameMismatch => "certificate-host-mismatch",
            Reason::Untrusted => "certificate-not-trusted",
            Reason::NoMtaStsOrDane => "no-mta-sts-or-dane",
            Reason::DowngradeSuspected => "downgrade-suspected",
            Reason::Other(kind) => kind,
        }
    }

    /// In a few words (English).
    pub fn words(&self) -> &str {
        match self {
            Reason::NoStarttls => "no STARTTLS",
            Reason::CertificateExpired => "expired certificate",
            Reason::NameMismatch => "certificate name mismatch",
            Reason::Untrusted => "self-signed or untrusted certificate",
            Reason::NoMtaStsOrDane => "no MTA-STS/DANE where the policy requires it",
            Reason::DowngradeSuspected => "STARTTLS downgrade suspected",
            Reason::Other(_) => "TLS validation failed",
        }
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.keyword())
    }
}
