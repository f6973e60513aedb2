//! Message bodies and sealed portal files in S3-compatible object storage (`[store.objects]`):
//! [`S3Objects`] implements the store's [`ObjectStore`](sekisho_store::objects::ObjectStore)
//! over the `object_store` crate, so that nodes sharing a PostgreSQL database keep those bytes
//! out of it (and out of its write-ahead log).
//!
//! Keys: `<prefix>/body/<queue id>`, `<prefix>/file/<file id>`, and `<prefix>/clock`, an empty
//! object rewritten to learn the storage's own time (see [`S3Objects::now`]).

mod keys;
mod open;
mod store;

pub use open::{OpenError, attach};
pub use store::S3Objects;
