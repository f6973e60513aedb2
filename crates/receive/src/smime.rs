//! S/MIME signatures of MX mail, verified before the 250 when `[smime] roots` is set: the
//! result becomes a sender finding (`smime-valid`, `smime-invalid` with the reason) and an
//! `smime=` clause of the Authentication-Results field (RFC 7281). The verification is the
//! pure `sekisho_smime::verify_message`; this file reads the roots and the spooled message.

use std::path::Path;

use sekisho_config::Config;
use sekisho_policy::sender::SenderFinding;
use sekisho_smime::{Limits, Trust, Verification, verify_message};

use crate::ReceiveError;

/// The roots, read once at start.
pub(crate) struct SmimeCheck {
    trust: std::sync::Arc<Trust>,
}

/// What verifying one message gave.
pub(crate) struct Checked {
    /// `smime-valid` or `smime-invalid`.
    pub finding: SenderFinding,
    /// The Authentication-Results clause, e.g. `smime=pass body.smime-identifier=a@example.com`.
    pub clause: String,
}

impl SmimeCheck {
    /// Reads `[smime] roots`; None when there are none (inbound signatures are not verified).
    pub(crate) fn new(config: &Config) -> Result<Option<SmimeCheck>, ReceiveError> {
        if config.smime.roots.is_empty() {
            return Ok(None);
        }
        let mut trust = Trust::default();
        for path in &config.smime.roots {
            let failed = |message: String| ReceiveError::SmimeRoots { path: path.clone(), message };
            let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
            let roots = Trust::from_pem(&pem).map_err(|e| failed(e.to_string()))?;
            if roots.is_empty() {
                return Err(failed("holds no CERTIFICATE block".into()));
            }
            trust.extend(roots);
        }
        Ok(Some(SmimeCheck { trust: std::sync::Arc::new(trust) }))
    }

    /// Verifies the S/MIME signature of the spooled message at `path`; None when it carries
    /// none at its top level.
    pub(crate) async fn check(&self, path: &Path) -> std::io::Result<Option<Checked>> {
        let raw = tokio::fs::read(path).await?;
        let trust = self.trust.clone();
        let verified = tokio::task::spawn_blocking(move || verify_message(&raw, &trust, now(), &Limits::default()))
            .await
            .map_err(std::io::Error::other)?;
        Ok(verified.map(|v| Checked { finding: finding(&v), clause: clause(&v) }))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The finding for a verification (pure).
fn finding(v: &Verification) -> SenderFinding {
    match &v.result {
        Ok(valid) => sekisho_findings::smime_valid(&valid.signer, &valid.subject, &valid.issuer),
        Err(why) => sekisho_findings::smime_invalid(&why.to_string(), &why.japanese()),
    }
}

/// The Authentication-Results clause for a verification (pure; RFC 7281).
fn clause(v: &Verification) -> String {
    match &v.result {
        Ok(valid) => format!("smime=pass body.smime-identifier={}", token(&valid.signer)),
        Err(why) => format!("smime=fail ({})", comment(&why.to_string())),
    }
}

/// A value without what would end it in the field.
fn token(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, ';' | '(' | ')' | '"' | '\\')).collect()
}

/// Text for a comment: printable ASCII without parentheses or backslashes.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .filter(|c| !matches!(c, '(' | ')' | '\\'))
        .collect()
}

/// `field` (an Authentication-Results field ending in CRLF) with `clause` as its last
/// result (pure).
pub(crate) fn with_clause(field: &str, clause: &str) -> String {
    let trimmed = field.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return String::new();
    }
    format!("{trimmed};\r\n\t{clause}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_smime::{Failure, Kind, Valid};

    #[test]
    fn a_valid_signature_passes_and_an_invalid_one_fails_with_its_reason_in_the_field() {
        let valid = Verification {
            kind: Kind::Detached,
            result: Ok(Valid {
                signer: "alice@example.com".into(),
                subject: "CN=alice".into(),
                issuer: "CN=CA".into(),
            }),
        };
        assert_eq!(clause(&valid), "smime=pass body.smime-identifier=alice@example.com");
        assert_eq!(finding(&valid).kind.as_str(), "smime-valid");
        let tampered = Verification { kind: Kind::Opaque, result: Err(Failure::Tampered) };
        assert_eq!(clause(&tampered), "smime=fail (the message was changed after it was signed the digest differs)");
        let f = finding(&tampered);
        assert_eq!(f.kind.as_str(), "smime-invalid");
        assert_eq!(f.detail, "the message was changed after it was signed (the digest differs)");
        let field = "Authentication-Results: mx.example.jp;\r\n\tspf=pass;\r\n\tdmarc=pass\r\n";
        assert_eq!(
            with_clause(field, "smime=pass body.smime-identifier=a@b"),
            "Authentication-Results: mx.example.jp;\r\n\tspf=pass;\r\n\tdmarc=pass;\r\n\tsmime=pass body.smime-identifier=a@b\r\n"
        );
    }
}
