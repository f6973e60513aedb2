//! The SQLite side of files at rest: reading and replacing the stored file keys.

use crate::error::StoreError;
use crate::files::{FileKeyChange, FileKeyRow};
use crate::sqlite::SqliteStore;

/// Every kept (not purged) file's stored key, and every withheld original's.
pub(crate) async fn file_keys(s: &SqliteStore) -> Result<Vec<FileKeyRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT message_id, idx, file_id, key, 0 AS original FROM link_files WHERE purged = 0 \
         UNION ALL SELECT message_id, idx, file_id, key, 1 AS original FROM withheld_originals \
         ORDER BY original, message_id, idx",
    )
    .fetch_all(&s.reader)
    .await?;
    Ok(rows.iter().map(crate::rows::file_key_row).collect())
}

/// Replaces stored keys in one transaction; rolls back when one no longer holds its old value.
pub(crate) async fn replace_file_keys(s: &SqliteStore, changes: &[FileKeyChange]) -> Result<(), StoreError> {
    let mut conn = s.write_conn(true).await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for c in changes {
        let sql = if c.original {
            "UPDATE withheld_originals SET key = ? WHERE message_id = ? AND idx = ? AND key = ?"
        } else {
            "UPDATE link_files SET key = ? WHERE message_id = ? AND idx = ? AND key = ?"
        };
        let changed = sqlx::query(sql)
            .bind(&c.new)
            .bind(&c.message_id)
            .bind(c.idx)
            .bind(&c.old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed != 1 {
            tx.rollback().await?;
            return Err(crate::rows::key_changed(c));
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{FileKey, KeyRing, StoreKey, wrap_file_keys};
    use crate::links::{LinkFile, LinkMessage, LinkStore};

    fn file(idx: i64, file_id: &str, key: String) -> LinkFile {
        LinkFile {
            idx,
            file_id: file_id.into(),
            key,
            name: format!("f{idx}.pdf"),
            content_type: "application/pdf".into(),
            size: 1,
            sha256: "00".into(),
            purged: false,
        }
    }

    #[tokio::test]
    async fn plain_keys_are_wrapped_and_rotation_rewraps_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (k0, k1) = (FileKey::generate(), FileKey::generate());
        let message = LinkMessage {
            message_id: "M1".into(),
            sender: "a@example.jp".into(),
            subject: "s".into(),
            header_from: String::new(),
            created_at: 0,
            files: vec![file(0, "a0", k0.to_hex()), file(1, "a1", k1.to_hex())],
            original: None,
            password_hash: None,
        };
        s.put_link_message(&message).await.unwrap();
        let (old, new) = (StoreKey::generate(), StoreKey::generate());
        let done = wrap_file_keys(&s, &KeyRing::new(old.clone())).await.unwrap();
        assert_eq!((done.wrapped_plain, done.rewrapped, done.unchanged), (2, 0, 0));
        let stored = s.link_message("M1").await.unwrap().unwrap().files;
        assert!(stored.iter().all(|f| f.key.starts_with(&format!("v1:{}:", old.id()))), "{stored:?}");
        assert_eq!(KeyRing::new(old.clone()).unwrap("a0", &stored[0].key), Ok(k0.clone()));

        // The wrong key changes nothing and says which key the data needs.
        let e = wrap_file_keys(&s, &KeyRing::new(new.clone())).await.unwrap_err();
        assert!(e.to_string().contains(&old.id()), "{e}");
        assert_eq!(s.link_message("M1").await.unwrap().unwrap().files, stored);

        let ring = KeyRing::new(new.clone()).with_previous(old.clone());
        let done = wrap_file_keys(&s, &ring).await.unwrap();
        assert_eq!((done.wrapped_plain, done.rewrapped, done.unchanged), (0, 2, 0));
        let rotated = s.link_message("M1").await.unwrap().unwrap().files;
        assert_eq!(KeyRing::new(new.clone()).unwrap("a1", &rotated[1].key), Ok(k1));
        assert!(KeyRing::new(old).unwrap("a1", &rotated[1].key).is_err());

        // A key changed under the rewrap: nothing is replaced.
        let stale = vec![
            FileKeyChange {
                message_id: "M1".into(),
                idx: 0,
                old: rotated[0].key.clone(),
                new: "x".into(),
                original: false,
            },
            FileKeyChange { message_id: "M1".into(), idx: 1, old: "stale".into(), new: "y".into(), original: false },
        ];
        assert!(s.replace_file_keys(&stale).await.is_err());
        assert_eq!(s.link_message("M1").await.unwrap().unwrap().files, rotated);
    }
}

#[cfg(test)]
mod withheld_tests {
    use super::*;
    use crate::files::{FileKey, KeyRing, StoreKey, wrap_file_keys};
    use crate::originals::OriginalStore;

    #[tokio::test]
    async fn a_withheld_originals_key_is_rotated_with_the_kept_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (old, new) = (StoreKey::generate(), StoreKey::generate());
        let key = FileKey::generate();
        let mut o = crate::sqlite_originals::sample_original("M1", 0, 100);
        o.file_id = "cd".repeat(16);
        o.key = KeyRing::new(old.clone()).wrap(&o.file_id, &key);
        s.put_withheld(&[o.clone()]).await.unwrap();
        let ring = KeyRing::new(new.clone()).with_previous(old.clone());
        let done = wrap_file_keys(&s, &ring).await.unwrap();
        assert_eq!(done.rewrapped, 1);
        let stored = s.withheld(Some("M1")).await.unwrap().remove(0).key;
        assert_eq!(KeyRing::new(new).unwrap(&o.file_id, &stored), Ok(key), "the new store key opens it");
        assert!(KeyRing::new(old).unwrap(&o.file_id, &stored).is_err(), "the old one no longer does");
    }
}
