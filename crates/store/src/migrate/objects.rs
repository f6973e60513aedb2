//! Copying the data directory's message bodies (`spool/msg/<queue id>`) and sealed files
//! (`files/<id>`) into the shared store (PostgreSQL's `objects`, or the object storage of
//! `[store.objects]`), then checking what it holds: each one there, at its size, and nothing
//! else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::objects::{ObjectKind, ObjectStore};
use crate::queue_id::QueueId;

use super::{MigrateError, Objects, OnProgress, Progress};

/// Objects between two reports of progress.
const PROGRESS_EVERY: u64 = 100;

/// A file to copy.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) kind: ObjectKind,
    pub(crate) id: String,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

/// Every body and sealed file in `data_dir`. Names that cannot be a queue id or a file id
/// (temporary files, `files/tmp`) are not objects.
pub(crate) fn sources(data_dir: &Path) -> Result<Vec<Source>, MigrateError> {
    let mut out = Vec::new();
    let dirs = [(ObjectKind::Body, data_dir.join("spool/msg")), (ObjectKind::File, data_dir.join("files"))];
    for (kind, dir) in dirs {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MigrateError::File { path: dir, source: e }),
        };
        for entry in entries {
            let entry = entry.map_err(|e| MigrateError::File { path: dir.clone(), source: e })?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let meta = entry.metadata().map_err(|e| MigrateError::File { path: entry.path(), source: e })?;
            if meta.is_file() && is_object_name(kind, &name) {
                out.push(Source { kind, id: name, path: entry.path(), size: meta.len() });
            }
        }
    }
    out.sort_by(|a, b| (a.kind.code(), &a.id).cmp(&(b.kind.code(), &b.id)));
    Ok(out)
}

/// Whether a file named `name` is an object of `kind`: a queue id, or a sealed file's id.
fn is_object_name(kind: ObjectKind, name: &str) -> bool {
    match kind {
        ObjectKind::Body => QueueId::parse(name).is_some(),
        ObjectKind::File => name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
    }
}

/// What each kind is called in messages.
fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Body => "message bodies",
        ObjectKind::File => "sealed files",
    }
}

/// Refuses a shared store that already holds objects (another gateway's, or an earlier
/// migration's): the verification would not tell them from the ones copied.
pub(crate) async fn refuse_unless_empty(shared: &dyn ObjectStore) -> Result<(), MigrateError> {
    for kind in [ObjectKind::Body, ObjectKind::File] {
        let count = shared.object_ids(kind).await.map_err(MigrateError::Objects)?.len() as u64;
        if count > 0 {
            return Err(MigrateError::ObjectsNotEmpty { what: kind_name(kind), count });
        }
    }
    Ok(())
}

/// Stores each source as an object, telling `progress` every [`PROGRESS_EVERY`] and at the end.
pub(crate) async fn copy(
    shared: &dyn ObjectStore,
    sources: &[Source],
    progress: OnProgress<'_>,
) -> Result<(), MigrateError> {
    let total = sources.len() as u64;
    for (n, s) in sources.iter().enumerate() {
        let stored = shared
            .put_object(s.kind, &s.id, &s.path)
            .await
            .map_err(|e| MigrateError::Object { path: s.path.clone(), source: e })?;
        if stored != s.size {
            return Err(MigrateError::Mismatch {
                what: format!("{} ({} bytes on disk)", s.path.display(), s.size),
                expected: s.size,
                found: stored,
            });
        }
        let done = n as u64 + 1;
        if done.is_multiple_of(PROGRESS_EVERY) || done == total {
            progress(Progress::Objects { done, total });
        }
    }
    Ok(())
}

/// The bodies recovery set aside in `data_dir`'s `quarantine/` (every file but the JSON
/// notes), counted: they stay there, the node's own directory on PostgreSQL too.
pub(crate) fn quarantined(data_dir: &Path) -> Result<Objects, MigrateError> {
    let dir = data_dir.join("quarantine");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Objects::default()),
        Err(e) => return Err(MigrateError::File { path: dir, source: e }),
    };
    let mut found = Objects::default();
    for entry in entries {
        let entry = entry.map_err(|e| MigrateError::File { path: dir.clone(), source: e })?;
        let meta = entry.metadata().map_err(|e| MigrateError::File { path: entry.path(), source: e })?;
        let note = entry.path().extension().is_some_and(|x| x == "json");
        if meta.is_file() && !note {
            found.count += 1;
            found.bytes += meta.len();
        }
    }
    Ok(found)
}

/// Checks that the shared store holds exactly the sources, each at its size; returns the
/// bodies' and the files' counts and bytes.
pub(crate) async fn verify(shared: &dyn ObjectStore, sources: &[Source]) -> Result<(Objects, Objects), MigrateError> {
    let mut totals = [Objects::default(), Objects::default()];
    for (slot, kind) in [ObjectKind::Body, ObjectKind::File].into_iter().enumerate() {
        let stored: BTreeMap<String, u64> = shared
            .stored_objects(kind)
            .await
            .map_err(MigrateError::Objects)?
            .into_iter()
            .map(|o| (o.id, o.size))
            .collect();
        let wanted: Vec<&Source> = sources.iter().filter(|s| s.kind == kind).collect();
        let name = kind_name(kind);
        if stored.len() != wanted.len() {
            return Err(MigrateError::Mismatch {
                what: format!("{name} in the shared store"),
                expected: wanted.len() as u64,
                found: stored.len() as u64,
            });
        }
        for s in wanted {
            let found = stored.get(&s.id).copied().unwrap_or(0);
            if !stored.contains_key(&s.id) || found != s.size {
                return Err(MigrateError::Mismatch {
                    what: format!("bytes of {} in the shared store", s.path.display()),
                    expected: s.size,
                    found,
                });
            }
            totals[slot].count += 1;
            totals[slot].bytes += s.size;
        }
    }
    let [bodies, files] = totals;
    Ok((bodies, files))
}

/// Removes the objects a failed migration stored, so that the shared store is empty again.
pub(crate) async fn remove(pg: &dyn ObjectStore, sources: &[Source]) {
    for kind in [ObjectKind::Body, ObjectKind::File] {
        let ids: Vec<String> = sources.iter().filter(|s| s.kind == kind).map(|s| s.id.clone()).collect();
        if let Err(e) = pg.remove_objects(kind, &ids).await {
            tracing::warn!(error = %e, "could not remove the objects of the failed migration");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_sealed_files_are_found_and_temporary_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        std::fs::create_dir_all(data.join("spool/msg")).unwrap();
        std::fs::create_dir_all(data.join("spool/tmp")).unwrap();
        std::fs::create_dir_all(data.join("files/tmp")).unwrap();
        let id = QueueId::generate();
        std::fs::write(data.join("spool/msg").join(id.as_str()), b"Subject: x\r\n\r\nbody\r\n").unwrap();
        std::fs::write(data.join("spool/msg/.partial"), b"x").unwrap();
        std::fs::write(data.join("spool/tmp").join(QueueId::generate().as_str()), b"arriving").unwrap();
        let file_id = "ab".repeat(16);
        std::fs::write(data.join("files").join(&file_id), vec![7u8; 300]).unwrap();
        std::fs::write(data.join("files/tmp").join("cd".repeat(16)), b"half written").unwrap();
        let found: Vec<(ObjectKind, String, u64)> =
            sources(data).unwrap().into_iter().map(|s| (s.kind, s.id, s.size)).collect();
        assert_eq!(found, [(ObjectKind::Body, id.to_string(), 20), (ObjectKind::File, file_id, 300)]);
        assert!(sources(&data.join("nothing here")).unwrap().is_empty(), "no spool yet: nothing to copy");
        assert_eq!(quarantined(data).unwrap(), Objects::default(), "no quarantine yet");
        std::fs::create_dir_all(data.join("quarantine")).unwrap();
        std::fs::write(data.join("quarantine").join(id.as_str()), b"Subj").unwrap();
        std::fs::write(data.join("quarantine").join(format!("{id}.json")), b"{}").unwrap();
        assert_eq!(quarantined(data).unwrap(), Objects { count: 1, bytes: 4 }, "bodies, not their notes");
    }
}
