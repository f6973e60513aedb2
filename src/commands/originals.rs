//! `sekisho quarantine originals` and `sekisho quarantine original ID N --out FILE`: the
//! originals a sanitised copy stood in for, kept sealed for the administrators. Export goes
//! through `sekisho_store::originals::open_original`, as the portal's download does: the audit
//! row names the user first.

use std::io::Write as _;
use std::path::Path;

use sekisho_config::Config;
use sekisho_store::Stores;
use sekisho_store::originals::{OriginalError, open_original};
use sekisho_store::quarantine::Actor;

use super::{format_time, print_json};
use crate::Failure;
use crate::output::outln;

/// Lists every withheld original, the most recent first.
pub(crate) async fn list(config: &Config, stores: &Stores, json: bool) -> Result<(), Failure> {
    let all = stores.originals.withheld(None).await.map_err(|e| Failure::Failed(e.to_string()))?;
    if json {
        return print_json(&all);
    }
    if all.is_empty() {
        outln!("no original is kept");
        return Ok(());
    }
    for o in &all {
        let visible = |s: &str| sekisho_policy::text::visible(s).into_owned();
        outln!(
            "{} #{}  {}  {} ({} bytes)",
            o.message_id,
            o.idx,
            format_time(&config.time_zone, o.received_at),
            visible(&o.name),
            o.size
        );
        outln!("  sha256:     {}", o.sha256);
        outln!("  why:        {}", visible(&o.reason));
        outln!("  delivered:  {} (sha256 {})", visible(&o.copy_name), o.copy_sha256);
        outln!("  from:       <{}> {}", visible(&o.sender), visible(&o.header_from));
        outln!("  to:         {}", visible(&o.recipients.join(", ")));
        outln!("  subject:    {}", visible(&o.subject));
    }
    outln!("-- {} original{}", all.len(), if all.len() == 1 { "" } else { "s" });
    Ok(())
}

/// Writes original `idx` of message `id` to `out` (created new, mode 0600), audited as taken
/// by `actor`.
pub(crate) async fn export(
    config: &Config,
    stores: &Stores,
    (id, idx): (&str, i64),
    out: &Path,
    actor: &Actor,
    now: i64,
) -> Result<(), Failure> {
    let files = crate::store_key::open_files(config, stores).await?;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", out.display())))?;
    let opened = open_original(stores.originals.as_ref(), stores.links.as_ref(), &files, (id, idx), actor, now).await;
    let (original, mut reader) = match opened {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(out);
            return Err(Failure::Failed(match e {
                OriginalError::NotFound { .. } => e.to_string(),
                OriginalError::Store(e) => e.to_string(),
            }));
        }
    };
    let copied = std::io::copy(&mut reader, &mut file).and_then(|_| file.flush()).and_then(|()| file.sync_all());
    if let Err(e) = copied {
        let _ = std::fs::remove_file(out);
        return Err(Failure::Failed(format!("cannot write {}: {e}", out.display())));
    }
    outln!(
        "{id} #{idx}: \"{}\" ({} bytes, sha256 {}) written to {} — it carries macros: open it only in an isolated environment",
        sekisho_policy::text::visible(&original.name),
        original.size,
        original.sha256,
        out.display()
    );
    Ok(())
}
