//! Transport security measured in the delivery session itself: which assurance the very
//! connection that carries the message reached, and the evidence for it.

pub mod assurance;
pub mod dane;
pub mod evidence;
pub mod memory;
pub mod plan;
pub mod probe_cache;
pub mod verifier;

pub use assurance::Assurance;
pub use evidence::{CertificateInfo, TlsEvidence};
pub use memory::{DomainMemory, DowngradeMemory};
pub use verifier::TlsClient;
