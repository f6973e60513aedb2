//! `sekisho store migrate --to postgres URL [--json]`: move a stopped node's state from
//! SQLite and its message bodies and sealed files into an empty PostgreSQL database
//! (`sekisho_store::migrate`), then say which configuration lines to set.

use clap::{Subcommand, ValueEnum};
use sekisho_config::{Config, redact_url};
use sekisho_store::migrate::{self, Migrated};

use super::print_json;
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// With sekisho stopped, copy the data directory's queue database (every table) and its
    /// message bodies and sealed files into an empty PostgreSQL database, verify the copy, and
    /// print the `[store]` lines that make sekisho use it. The data directory is left as it was.
    Migrate {
        /// The backend to move to.
        #[arg(long, value_enum, value_name = "BACKEND")]
        to: Backend,
        /// The database, `postgres://user:password@host:port/database`: it must hold no
        /// sekisho data yet (its schema is created if missing).
        url: String,
        /// Print what was moved as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where `migrate` moves to.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Backend {
    /// PostgreSQL (`[store] backend = "postgres"`).
    Postgres,
}

/// What `migrate --json` prints.
#[derive(serde::Serialize)]
struct Report<'a> {
    data_dir: String,
    /// The URL with its password as `***`.
    url: String,
    #[serde(flatten)]
    moved: &'a Migrated,
    /// The `[store]` settings to make.
    set: Set,
}

#[derive(serde::Serialize)]
struct Set {
    backend: &'static str,
    url: String,
}

pub(crate) async fn run(command: StoreCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    match command {
        StoreCommand::Migrate { to: Backend::Postgres, url, json } => {
            migrate_to_postgres(config, source, &url, json).await
        }
    }
}

/// Tells how far the migration has come on stderr (stdout carries the result alone, JSON with
/// `--json`).
fn tell(progress: migrate::Progress) {
    use std::io::Write;
    let line = match progress {
        migrate::Progress::Objects { done, total } => format!("stored {done} of {total} bodies and sealed files"),
        migrate::Progress::ObjectsVerified => "every body and sealed file checked where it is stored".to_string(),
        migrate::Progress::Table { table, rows, done, total } => {
            format!("copied table {done} of {total}: {table}, {rows} row(s)")
        }
    };
    let _ = writeln!(std::io::stderr(), "sekisho: {line}");
}

async fn migrate_to_postgres(config: &Config, source: &ConfigSource, url: &str, json: bool) -> Result<(), Failure> {
    let data = &config.store.path;
    let shown = redact_url(url);
    // Bodies and sealed files go where this configuration puts them: object storage when
    // `[store.objects]` is set, PostgreSQL otherwise.
    let objects = match crate::object_storage::database(config, true).await? {
        sekisho_store::Database::Postgres { objects, .. } => objects,
        sekisho_store::Database::Sqlite => None,
    };
    let to_objects = config.store.objects.as_ref().map(|o| o.url.clone());
    let moved = migrate::to_postgres_with(data, url, objects, &tell).await.map_err(|e| {
        let text = format!("{e} (data directory {}, configuration: {source})", data.display());
        if e.is_usage() { Failure::Usage(text) } else { Failure::Failed(text) }
    })?;
    if json {
        let set = Set { backend: "postgres", url: shown.clone() };
        return print_json(&Report { data_dir: data.display().to_string(), url: shown, moved: &moved, set });
    }
    outln!("moved {} into PostgreSQL at {shown}, verified:", data.display());
    for t in &moved.tables {
        outln!("  {:<24} {:>10} row(s)", t.table, t.rows);
    }
    outln!("  {:<24} {:>10} ({} bytes)", "message bodies", moved.bodies.count, moved.bodies.bytes);
    outln!("  {:<24} {:>10} ({} bytes)", "sealed files", moved.files.count, moved.files.bytes);
    if let Some(objects) = &to_objects {
        outln!("message bodies and sealed files are in the object storage {objects} ([store.objects])");
    }
    if moved.quarantine.count > 0 {
        outln!(
            "{} damaged message(s) set aside by recovery stay in {} (this node's own, on PostgreSQL too): keep \
             this data directory for this node",
            moved.quarantine.count,
            data.join("quarantine").display()
        );
    }
    outln!("next: set these in [store] of {source}, then start sekisho:");
    outln!("  backend = \"postgres\"");
    outln!("  url = \"{shown}\"{}", if shown != url { "   (with the password you gave)" } else { "" });
    outln!(
        "queue.db, the spool and the kept files stay in {} as they were; keep the store key configured as it is",
        data.display()
    );
    Ok(())
}
