//! Where the configuration puts the queue's state (`[store] backend`, `url`): the one mapping
//! from the configuration to the store's [`Database`], for `serve`, the commands and the tests.

use sekisho_config::{Config, StoreBackend};
use sekisho_store::Database;

/// The configured database; on PostgreSQL this node claims work under its host name, so a
/// restarted node takes its own unfinished claims back at once, for `[store] lease`. Bodies
/// and files are shared through the database here: the binary hands in the object storage of
/// `[store.objects]` when it is set (`sekisho-objects-s3`).
pub fn database(config: &Config) -> Database {
    match (config.store.backend, &config.store.url) {
        (StoreBackend::Postgres, Some(url)) => Database::Postgres {
            url: url.clone(),
            node: config.hostname.clone(),
            lease: config.store.lease.0,
            objects: None,
        },
        // A checked configuration has a URL with "postgres"; SQLite otherwise.
        _ => Database::Sqlite,
    }
}
