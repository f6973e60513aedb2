//! S/MIME for sekisho, pure (no I/O): messages signed as `multipart/signed` (RFC 8551, SHA-256,
//! the certificate chain included), detached and opaque signatures verified against configured
//! roots, and PKCS#12 files read for `sekisho smime import`.
//!
//! The CMS structures are RustCrypto's (`cms`, `x509-cert`, `der`); signatures and digests are
//! ring's, which the rest of sekisho already uses.

mod ber;
mod canon;
mod certs;
mod error;
mod header;
mod oids;
mod pkcs12;
mod sign;
mod verify;

pub use certs::{Trust, signer_emails};
pub use error::{Failure, SmimeError};
pub use pkcs12::{Identity, read_pkcs12};
pub use sign::{Signer, sign_message};
pub use verify::{Kind, Limits, Valid, Verification, header_from, signed_kind, sole_from, verify_message};

#[cfg(any(test, feature = "test-pki"))]
pub mod openssl_pki;
#[cfg(test)]
mod tests;
