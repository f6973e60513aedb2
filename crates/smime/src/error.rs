//! The errors of signing and reading keys, and the reasons a signature does not verify.

/// Signing, loading a signer or reading a PKCS#12 file failed.
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    /// A certificate, key or structure could not be read.
    #[error("{what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// The parser's words.
        detail: String,
    },
    /// The key is of a kind sekisho does not sign with.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The private key does not belong to the first certificate of the chain.
    #[error("the private key does not match the certificate {0}")]
    KeyMismatch(String),
    /// The PKCS#12 file's password is wrong (its MAC or a decryption failed).
    #[error("wrong password for the PKCS#12 file (or the file is damaged)")]
    WrongPassword,
    /// The PKCS#12 file uses a scheme sekisho cannot read.
    #[error(
        "unsupported PKCS#12 protection: {0} (export it again with AES-256-CBC or 3DES and an HMAC-SHA-256 or SHA-1 MAC)"
    )]
    UnsupportedPkcs12(String),
    /// The PKCS#12 file holds no private key or no certificate for it.
    #[error("the PKCS#12 file holds {0}")]
    Incomplete(&'static str),
    /// The message's header block could not be found.
    #[error("the message has no header block")]
    NoHeader,
    /// Signing itself failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl SmimeError {
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> SmimeError {
        SmimeError::Malformed { what, detail: detail.to_string() }
    }
}

/// Why an S/MIME signature did not verify: the `smime-invalid` finding's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The signature structure could not be read.
    Malformed(String),
    /// The signature or message is larger than the limits allow.
    TooLarge,
    /// The signed content's digest differs from the signed one.
    Tampered,
    /// The signature does not verify with the signer's key.
    BadSignature,
    /// The signer's certificate is not in the message (nor among the roots).
    NoSignerCertificate,
    /// The chain does not lead to a configured root.
    UntrustedRoot {
        /// The issuer where the chain stopped.
        issuer: String,
    },
    /// A certificate of the chain has expired.
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
    },
    /// A certificate of the chain is not valid yet.
    NotYetValid {
        /// The certificate's subject.
        subject: String,
    },
    /// The signing time is outside the signer certificate's validity.
    SignedOutsideValidity,
    /// The signer's certificate is not for e-mail (key usage or extended key usage).
    NotForEmail,
    /// An intermediate certificate is not a CA.
    NotCa {
        /// The certificate's subject.
        subject: String,
    },
    /// The signer's address differs from the header From.
    FromMismatch {
        /// The header From's address (or empty).
        from: String,
        /// The certificate's addresses.
        signer: Vec<String>,
    },
    /// An algorithm sekisho does not verify.
    Unsupported(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Malformed(d) => write!(f, "the S/MIME signature cannot be read ({d})"),
            Failure::TooLarge => write!(f, "the S/MIME signature is larger than sekisho checks"),
            Failure::Tampered => write!(f, "the message was changed after it was signed (the digest differs)"),
            Failure::BadSignature => write!(f, "the signature does not match the signer's key"),
            Failure::NoSignerCertificate => write!(f, "the signer's certificate is not in the message"),
            Failure::UntrustedRoot { issuer } => {
                write!(f, "the certificate chain does not lead to a trusted root (it stops at {issuer})")
            }
            Failure::Expired { subject, not_after } => write!(f, "the certificate {subject} expired on {not_after}"),
            Failure::NotYetValid { subject } => write!(f, "the certificate {subject} is not valid yet"),
            Failure::SignedOutsideValidity => write!(f, "the signing time is outside the certificate's validity"),
            Failure::NotForEmail => write!(f, "the signer's certificate is not for e-mail protection"),
            Failure::NotCa { subject } => write!(f, "the certificate {subject} is not a certification authority"),
            Failure::FromMismatch { from, signer } => write!(
                f,
                "the signer's address ({}) is not the From address ({})",
                if signer.is_empty() { "none".to_string() } else { signer.join(", ") },
                if from.is_empty() { "none" } else { from }
            ),
            Failure::Unsupported(what) => write!(f, "unsupported algorithm: {what}"),
        }
    }
}

impl Failure {
    /// The reason in Japanese, for the banner and the recipient's page.
    pub fn japanese(&self) -> String {
        match self {
            Failure::Malformed(_) => "S/MIME署名を読み取れません".into(),
            Failure::TooLarge => "S/MIME署名が大きすぎるため検証していません".into(),
            Failure::Tampered => "署名の後でメールが改変されています（ダイジェスト不一致）".into(),
            Failure::BadSignature => "署名が署名者の鍵と一致しません".into(),
            Failure::NoSignerCertificate => "署名者の証明書がメールに含まれていません".into(),
            Failure::UntrustedRoot { issuer } => format!("証明書チェーンが信頼するルートにつながりません（{issuer}）"),
            Failure::Expired { subject, not_after } => {
                format!("証明書 {subject} の有効期限が切れています（{not_after}）")
            }
            Failure::NotYetValid { subject } => format!("証明書 {subject} はまだ有効ではありません"),
            Failure::SignedOutsideValidity => "署名日時が証明書の有効期間外です".into(),
            Failure::NotForEmail => "署名者の証明書はメール保護用ではありません".into(),
            Failure::NotCa { subject } => format!("証明書 {subject} は認証局の証明書ではありません"),
            Failure::FromMismatch { from, signer } => format!(
                "署名者のアドレス（{}）が差出人（{}）と一致しません",
                if signer.is_empty() { "なし".to_string() } else { signer.join(", ") },
                if from.is_empty() { "なし" } else { from }
            ),
            Failure::Unsupported(what) => format!("対応していないアルゴリズムです: {what}"),
        }
    }
}
