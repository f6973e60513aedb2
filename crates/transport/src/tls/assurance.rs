//! Graded assurance of one SMTP session: the level type lives in the policy vocabulary, shared
//! with the configuration that asks for it.

pub use sekisho_policy::Assurance;
