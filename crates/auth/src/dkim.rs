//! DKIM signing of what sekisho sends (RFC 6376, RFC 8463): which `[[dkim]]` domain signs a
//! message (by its header From domain), and the signatures, computed over the message as it
//! goes on the wire (CRLF line ends) while it streams, so a large body is never held.
//!
//! Canonicalization is relaxed for the header and **simple for the body**: mail-auth 0.13's
//! relaxed body canonicalization mishandles bodies that end in whitespace-only lines, and a
//! receiver would then fail a correct message.

use mail_auth::common::crypto::DkimKey;
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, DkimSigner, DkimSigningStream, Done};

use crate::dkim_key::{DkimAlgorithm, LoadedKey};

/// The header fields signed. Those listed twice are over-signed: a copy of the field added
/// on the way (or the field added where it was missing) breaks the signature.
pub const SIGNED_FIELDS: &[&str] = &[
    "From",
    "From",
    "To",
    "To",
    "Subject",
    "Subject",
    "Date",
    "Date",
    "Message-ID",
    "Message-ID",
    "MIME-Version",
    "MIME-Version",
    "Content-Type",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-Disposition",
    "Cc",
    "Reply-To",
    "Sender",
    "In-Reply-To",
    "References",
];

/// One `[[dkim]]` domain as configured, its keys read (or why each could not be).
pub struct DkimDomain {
    /// The signing domain (`d=`).
    pub domain: String,
    /// Header From domains it signs for: a name, or `.name` for it and every name below it.
    pub sender_domains: Vec<String>,
    /// Each selector and its key, or why it has none.
    pub keys: Vec<(String, Result<LoadedKey, String>)>,
}

/// Every `[[dkim]]` domain, ready to sign.
pub struct DkimSigners {
    domains: Vec<Domain>,
}

struct Domain {
    domain: String,
    sender_domains: Vec<String>,
    selectors: Vec<Selector>,
    /// Selectors without a usable key, and why.
    missing: Vec<String>,
}

struct Selector {
    selector: String,
    algorithm: DkimAlgorithm,
    signer: DkimSigner<DkimKey, Done>,
}

/// Which signatures a message gets, or why none.
pub enum Choice<'a> {
    /// No `[[dkim]]` is configured: signing is off.
    Off,
    /// These selectors sign.
    Sign(SignerRef<'a>),
    /// No signature, and the sentence that says why (for the trace).
    Unsigned(String),
}

/// The selectors of one domain that sign a message.
#[derive(Clone, Copy)]
pub struct SignerRef<'a>(&'a Domain);

impl DkimSigners {
    /// Prepares the signers of `domains`.
    pub fn new(domains: Vec<DkimDomain>) -> DkimSigners {
        let domains = domains
            .into_iter()
            .map(|d| {
                let mut selectors = Vec::new();
                let mut missing = Vec::new();
                for (selector, key) in d.keys {
                    match key {
                        Ok(key) => selectors.push(Selector {
                            algorithm: key.algorithm,
                            signer: DkimSigner::from_key(key.key)
                                .domain(d.domain.clone())
                                .selector(selector.clone())
                                .headers(SIGNED_FIELDS.iter().copied())
                                .header_canonicalization(Canonicalization::Relaxed)
                                .body_canonicalization(Canonicalization::Simple),
                            selector,
                        }),
                        Err(why) => missing.push(format!("s={selector}: {why}")),
                    }
                }
                Domain {
                    domain: d.domain.to_ascii_lowercase(),
                    sender_domains: d.sender_domains.iter().map(|s| s.to_ascii_lowercase()).collect(),
                    selectors,
                    missing,
                }
            })
            .collect();
        DkimSigners { domains }
    }

    /// True when no `[[dkim]]` is configured.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Which domain signs mail whose header From is in `from_domain` (None: no readable From).
    pub fn choose(&self, from_domain: Option<&str>) -> Choice<'_> {
        if self.domains.is_empty() {
            return Choice::Off;
        }
        let Some(from) = from_domain.map(str::to_ascii_lowercase) else {
            return Choice::Unsigned("not signed: the message has no readable From domain".into());
        };
        let Some(d) = self.domains.iter().find(|d| d.sender_domains.iter().any(|s| sender_matches(s, &from))) else {
            return Choice::Unsigned(format!("not signed: no [[dkim]] signs for {from}"));
        };
        if d.selectors.is_empty() {
            return Choice::Unsigned(format!("not signed: d={} has no key ({})", d.domain, d.missing.join("; ")));
        }
        Choice::Sign(SignerRef(d))
    }
}

/// `pattern` (a name, or `.name` for it and every name below it) covers `domain` (both lower
/// case), as elsewhere in sekisho's configuration.
fn sender_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix('.') {
        Some(parent) => domain == parent || domain.ends_with(pattern),
        None => pattern == domain,
    }
}

impl<'a> SignerRef<'a> {
    /// Starts signing one message; feed it with [`Signing::write`].
    pub fn start(self) -> Signing<'a> {
        let streams = self.0.selectors.iter().map(|s| (s, s.signer.sign_streaming())).collect();
        Signing { domain: self.0, streams, wire: Wire::default(), out: Vec::new() }
    }
}

/// One message being signed by every selector of its domain.
pub struct Signing<'a> {
    domain: &'a Domain,
    streams: Vec<(&'a Selector, DkimSigningStream<'a, DkimKey>)>,
    wire: Wire,
    out: Vec<u8>,
}

/// The signatures of one message.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The DKIM-Signature fields to put in front of the message, CRLF-ended.
    pub fields: Vec<u8>,
    /// What signed, for the trace: "signed: d=example.jp s=rsa1 rsa-sha256, s=ed1 ed25519-sha256".
    pub summary: String,
}

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("DKIM signing by d={domain} s={selector} failed: {reason}")]
pub struct SignError {
    /// The signing domain.
    pub domain: String,
    /// The selector whose signature failed.
    pub selector: String,
    /// What went wrong.
    pub reason: String,
}

impl Signing<'_> {
    /// The next bytes of the message as spooled (line ends are made CRLF, as the wire has them).
    pub fn write(&mut self, chunk: &[u8]) {
        self.out.clear();
        self.wire.encode(chunk, &mut self.out);
        for (_, s) in &mut self.streams {
            s.write(&self.out);
        }
    }

    /// Ends the message and signs it.
    pub fn finish(mut self) -> Result<Signed, SignError> {
        self.out.clear();
        self.wire.finish(&mut self.out);
        let mut fields = Vec::new();
        let mut names = Vec::new();
        for (selector, mut stream) in self.streams {
            stream.write(&self.out);
            let signature = stream.finish().map_err(|e| SignError {
                domain: self.domain.domain.clone(),
                selector: selector.selector.clone(),
                reason: e.to_string(),
            })?;
            fields.extend_from_slice(unfold_last(&signature.to_header()).as_bytes());
            names.push(format!("s={} {}", selector.selector, selector.algorithm));
        }
        Ok(Signed { fields, summary: format!("signed: d={} {}", self.domain.domain, names.join(", ")) })
    }
}

/// The field as mail-auth 0.13 writes it, CRLF-ended, without a fold before its closing `;`.
/// mail-auth signs the field with an empty `b=` (`b=;`), but when the base64 of `b=` fills its
/// last line it writes the `;` on a folded line of its own (`b=...\r\n\t;`): a verifier then
/// reads `b= ;` and the signature fails (dkimpy does). The fold is taken out.
fn unfold_last(field: &str) -> String {
    let field = field.trim_end_matches("\r\n");
    let field = match field.strip_suffix(';') {
        Some(head) => format!("{};", head.trim_end_matches(['\r', '\n', '\t', ' '])),
        None => field.to_string(),
    };
    field + "\r\n"
}

/// Line ends as the SMTP client sends them: CRLF, a bare CR or LF made CRLF, and a last line
/// without one ended.
#[derive(Default)]
struct Wire {
    pending_cr: bool,
    line_open: bool,
}

impl Wire {
    fn encode(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 2);
        while let Some(&first) = chunk.first() {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.line_open = false;
                if first == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            let Some(end) = chunk.iter().position(|&b| b == b'\r' || b == b'\n') else {
                out.extend_from_slice(chunk);
                self.line_open = true;
                return;
            };
            out.extend_from_slice(&chunk[..end]);
            if end > 0 {
                self.line_open = true;
            }
            if chunk[end] == b'\n' {
                out.extend_from_slice(b"\r\n");
                self.line_open = false;
            } else {
                self.pending_cr = true;
            }
            chunk = &chunk[end + 1..];
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.extend_from_slice(b"\r\n");
            self.line_open = false;
        }
        if std::mem::take(&mut self.line_open) {
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The domain of the first From field's first address in `head` (a header block), lower case;
/// None when there is no From or no address in it (pure).
pub fn header_from_domain(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.trim_end().eq_ignore_ascii_case("from")
                {
                    value = Some(rest.to_string());
                }
            }
        }
    }
    let value = value?;
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(',').next()?.trim(),
    };
    let domain = address.rsplit_once('@')?.1.trim().trim_end_matches('>');
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dkim_key::generate;

    fn signers(sender_domains: &[&str]) -> DkimSigners {
        let key = generate(DkimAlgorithm::Ed25519Sha256).unwrap().key;
        DkimSigners::new(vec![DkimDomain {
            domain: "example.jp".into(),
            sender_domains: sender_domains.iter().map(|s| s.to_string()).collect(),
            keys: vec![("ed1".into(), Ok(key)), ("rsa1".into(), Err("no key file".into()))],
        }])
    }

    #[test]
    fn the_header_from_domain_chooses_the_signer_and_the_reason_is_stated_otherwise() {
        let s = signers(&[".example.jp"]);
        assert!(matches!(s.choose(Some("Example.JP")), Choice::Sign(_)));
        assert!(matches!(s.choose(Some("sales.example.jp")), Choice::Sign(_)));
        let Choice::Unsigned(why) = s.choose(Some("badexample.jp")) else { panic!("not signed") };
        assert_eq!(why, "not signed: no [[dkim]] signs for badexample.jp");
        assert!(matches!(DkimSigners::new(Vec::new()).choose(Some("example.jp")), Choice::Off));
        let keyless = DkimSigners::new(vec![DkimDomain {
            domain: "example.jp".into(),
            sender_domains: vec!["example.jp".into()],
            keys: vec![("rsa1".into(), Err("no key file".into()))],
        }]);
        let Choice::Unsigned(why) = keyless.choose(Some("example.jp")) else { panic!("not signed") };
        assert_eq!(why, "not signed: d=example.jp has no key (s=rsa1: no key file)");
    }

    #[test]
    fn the_signature_over_lf_chunks_is_the_one_over_the_crlf_message() {
        let s = signers(&["example.jp"]);
        let Choice::Sign(r) = s.choose(Some("example.jp")) else { panic!("signs") };
        let lf = b"From: a@example.jp\nTo: b@example.org\nSubject: x\n\nline\r\nlast";
        let mut a = r.start();
        for c in lf.chunks(3) {
            a.write(c);
        }
        let mut b = r.start();
        b.write(b"From: a@example.jp\r\nTo: b@example.org\r\nSubject: x\r\n\r\nline\r\nlast\r\n");
        let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
        let bh =
            |f: &[u8]| String::from_utf8_lossy(f).split("bh=").nth(1).unwrap().split(';').next().unwrap().to_string();
        assert_eq!(bh(&a.fields), bh(&b.fields));
        assert!(a.fields.ends_with(b"\r\n"));
        assert_eq!(a.summary, "signed: d=example.jp s=ed1 ed25519-sha256");
    }

    #[test]
    fn no_fold_is_left_before_the_closing_semicolon() {
        assert_eq!(
            unfold_last("DKIM-Signature: a=1; b=QUJD\r\n\tREVG==\r\n\t;\r\n"),
            "DKIM-Signature: a=1; b=QUJD\r\n\tREVG==;\r\n"
        );
        assert_eq!(unfold_last("DKIM-Signature: a=1; b=QUJD;"), "DKIM-Signature: a=1; b=QUJD;\r\n");
    }

    #[test]
    fn the_from_domain_is_read_from_folded_and_named_fields() {
        assert_eq!(
            header_from_domain(b"To: x@y\r\nFROM: \"A, B\"\r\n <a@Example.JP>\r\n\r\nFrom: z@evil"),
            Some("example.jp".into())
        );
        assert_eq!(header_from_domain(b"From: a@sub.example.jp\n\n"), Some("sub.example.jp".into()));
        assert_eq!(header_from_domain(b"Subject: none\r\n\r\nFrom: a@b.c"), None);
    }
}
