//! Look-alike domains: whether a sender's domain imitates one the organisation protects
//! (UTS #39 confusable skeletons, mixed-script labels, near misses on the registrable part).

pub use {idna, psl, unicode_security};
