//! ARC sealing (RFC 8617) of the inbound messages sekisho changes (separated attachments,
//! sanitised copies): an ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results on top,
//! so the internal server and the filters after it can still see the verdicts on the message
//! as it arrived. The chain's validation (`cv=`) is the ARC result recorded before the 250, and
//! the ARC-Authentication-Results carries sekisho's Authentication-Results as recorded.
//!
//! Signed with mail-auth's sealer, RSA-SHA256, relaxed header and *simple* body
//! canonicalization (mail-auth 0.13's relaxed body canonicalization mishandles bodies ending in
//! whitespace-only lines; README, "Authentication").

use std::path::{Path, PathBuf};

use mail_auth::arc::{ArcError, ArcSealer, Set};
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::{Header, HeaderWriter};
use mail_auth::dkim::{Canonicalization, Done};
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimResult, Error};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use sekisho_config::ArcSealConfig;
use sekisho_policy::sender::AuthenticationRecord;

/// The header fields the ARC-Message-Signature covers, when present.
const SIGNED: [&str; 10] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Why a message could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read or is not an RSA private key in PEM.
    #[error("ARC key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    /// The message's header cannot be read.
    #[error("the message's header cannot be read")]
    Unreadable,
    /// mail-auth refused to seal (e.g. the chain it carries ends in `cv=fail`).
    #[error("cannot seal: {0}")]
    Seal(String),
}

/// The sealing key and identity of `[authentication.arc_seal]`.
pub struct ArcSigner {
    sealer: ArcSealer<RsaKey<Sha256>, Done>,
}

impl ArcSigner {
    /// Loads `key_file` (RSA, PKCS#1 or PKCS#8 PEM).
    pub fn load(config: &ArcSealConfig) -> Result<ArcSigner, SealError> {
        let key = read_key(&config.key_file)?;
        let sealer = ArcSealer::from_key(key)
            .domain(config.domain.clone())
            .selector(config.selector.clone())
            .headers(SIGNED)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Simple);
        Ok(ArcSigner { sealer })
    }

    /// `message` (as it leaves) with the next ARC set in front. `record` is what authentication
    /// found on arrival: its ARC result is the chain's validation, its Authentication-Results
    /// field becomes the ARC-Authentication-Results.
    pub fn seal(&self, message: &[u8], record: &AuthenticationRecord) -> Result<Vec<u8>, SealError> {
        let parsed = AuthenticatedMessage::parse(message).ok_or(SealError::Unreadable)?;
        let chain = chain(&parsed, record.arc.as_ref().map_or("none", |a| a.result.as_str()))?;
        let text = results_text(&record.results_field);
        let results = AuthenticationResults::new(&text);
        let set = self.sealer.seal(&parsed, &results, &chain).map_err(|e| SealError::Seal(e.to_string()))?;
        let mut out = set.to_header().into_bytes();
        out.extend_from_slice(message);
        Ok(out)
    }
}

fn read_key(path: &Path) -> Result<RsaKey<Sha256>, SealError> {
    let fail = |reason: String| SealError::Key { path: path.to_path_buf(), reason };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| fail(format!("not a PEM private key: {e}")))?;
    RsaKey::<Sha256>::from_key_der(der).map_err(|e| fail(format!("not an RSA private key: {e}")))
}

/// The ARC sets the message carries, in instance order, with the validation recorded on
/// arrival (`pass`, `none`, anything else a failure).
fn chain<'x>(m: &'x AuthenticatedMessage<'x>, recorded: &str) -> Result<ArcOutput<'x>, SealError> {
    let result = match recorded {
        "pass" => DkimResult::Pass,
        "none" => DkimResult::None,
        _ => DkimResult::Fail(Error::Arc(ArcError::BrokenChain)),
    };
    let mut out = ArcOutput::default().with_result(result);
    for i in 1..=m.as_headers.len() as u32 {
        let seal = m.as_headers.iter().find(|h| h.header.i == i);
        let signature = m.ams_headers.iter().find(|h| h.header.i == i);
        let results = m.aar_headers.iter().find(|h| h.header.i == i);
        let (Some(seal), Some(signature), Some(results)) = (seal, signature, results) else {
            return Err(SealError::Seal(format!("the ARC set i={i} it carries is incomplete")));
        };
        out = out.with_set(Set {
            signature: Header { name: signature.name, value: signature.value, header: &signature.header },
            seal: Header { name: seal.name, value: seal.value, header: &seal.header },
            results: Header { name: results.name, value: results.value, header: &results.header },
        });
    }
    Ok(out)
}

/// The value of an Authentication-Results field as one canonical line (relaxed header
/// canonicalization: unfolded, each run of whitespace one space, none at the end), which the
/// ARC-Authentication-Results then carries verbatim.
fn results_text(field: &str) -> String {
    let value = field.split_once(':').map_or("", |(_, v)| v);
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::results_text;

    #[test]
    fn the_results_field_becomes_one_canonical_line() {
        let field = "Authentication-Results: gw.example;\r\n\tspf=pass  smtp.mailfrom=a@b.example;\r\n\tdkim=none\r\n";
        assert_eq!(results_text(field), "gw.example; spf=pass smtp.mailfrom=a@b.example; dkim=none");
    }
}
