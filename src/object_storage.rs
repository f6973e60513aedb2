//! `[store.objects]`: the configured database with its bodies and sealed files in
//! S3-compatible object storage (`sekisho-objects-s3`) when that table is set.

use sekisho_config::Config;
use sekisho_store::Database;

use crate::Failure;

/// The configured database, its bodies and files in object storage when `[store.objects]` is
/// set. With `check`, that storage must answer (a write and a read of its clock object) before
/// anything else starts: unreachable, refused credentials or no such bucket fail here, as a
/// database that cannot be opened does.
pub(crate) async fn database(config: &Config, check: bool) -> Result<Database, Failure> {
    let mut database = sekisho_receive::database(config);
    let s3 = sekisho_objects_s3::attach(&mut database, config).map_err(|e| Failure::Usage(e.to_string()))?;
    if let Some(s3) = s3 {
        if check {
            s3.check().await.map_err(|e| {
                Failure::Failed(format!(
                    "cannot use the object storage {} ([store.objects]): {}",
                    s3.name(),
                    with_causes(&e)
                ))
            })?;
        }
        tracing::debug!(objects = s3.name(), "bodies and sealed files in object storage");
    }
    Ok(database)
}

/// An error's message followed by those of its causes it does not already include
/// (`: cause: cause`), where the object storage's client keeps what went wrong (connection
/// refused, the storage's own reply).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
