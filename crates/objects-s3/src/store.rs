//! The store's [`ObjectStore`] over S3: one object per body or sealed file.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sekisho_store::StoreError;
use sekisho_store::objects::{ObjectKind, ObjectStore, PartialFetch, StoredObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::keys::Keys;

/// Objects up to this size are stored with one request; larger ones in parts of this size
/// (S3 takes parts of 5 MiB or more, up to 10,000 of them).
pub(crate) const PART: usize = 8 << 20;

/// Parts uploaded at once: with the one being filled, at most three parts are in memory.
const PARTS_IN_FLIGHT: usize = 2;

/// Bytes read from a file at a time.
const READ: usize = 1 << 20;

/// Bodies and sealed files in one bucket, under one prefix.
#[derive(Debug, Clone)]
pub struct S3Objects {
    s3: Arc<dyn object_store::ObjectStore>,
    keys: Keys,
    /// `s3://bucket/prefix`, for messages.
    name: String,
}

/// An object storage failure as the store reports it.
fn failed(action: &'static str, key: &impl std::fmt::Display, e: object_store::Error) -> StoreError {
    StoreError::ObjectStorage { action, key: key.to_string(), source: Box::new(e) }
}

impl S3Objects {
    pub(crate) fn new(s3: Arc<dyn object_store::ObjectStore>, keys: Keys, name: String) -> S3Objects {
        S3Objects { s3, keys, name }
    }

    /// `s3://bucket/prefix`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that the bucket is reachable with these credentials, and writable: what `serve`
    /// does before it accepts anything. Reads the storage's time once (see [`S3Objects::now`]).
    pub async fn check(&self) -> Result<(), StoreError> {
        self.now().await.map(drop)
    }

    /// The object storage's time (Unix seconds): an empty `<prefix>/clock` is written and its
    /// `Last-Modified` read back. Ages of objects are judged by this clock, the one that set
    /// their own `Last-Modified`, never by a node's, which may be off.
    pub async fn now(&self) -> Result<i64, StoreError> {
        let clock = self.keys.clock();
        self.s3.put(&clock, PutPayload::new()).await.map_err(|e| failed("write", &clock, e))?;
        let meta = self.s3.head(&clock).await.map_err(|e| failed("read", &clock, e))?;
        Ok(meta.last_modified.timestamp())
    }

    /// Every object of `kind` as listed.
    async fn list(&self, kind: ObjectKind) -> Result<Vec<StoredObject>, StoreError> {
        let prefix = self.keys.kind(kind);
        let listed: Vec<object_store::ObjectMeta> =
            self.s3.list(Some(&prefix)).try_collect().await.map_err(|e| failed("list", &prefix, e))?;
        let mut out: Vec<StoredObject> = listed
            .into_iter()
            .filter_map(|m| {
                let id = self.keys.id_of(kind, &m.location)?;
                Some(StoredObject { id, size: m.size, stored_at: m.last_modified.timestamp() })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Uploads a file larger than [`PART`] in parts, reading it [`READ`] bytes at a time.
    async fn put_parts(
        &self,
        key: &object_store::path::Path,
        file: &mut tokio::fs::File,
        path: &Path,
    ) -> Result<u64, StoreError> {
        let upload = self.s3.put_multipart(key).await.map_err(|e| failed("store", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; READ];
        let mut total = 0u64;
        let written: Result<(), StoreError> = async {
            loop {
                let n = file.read(&mut buf).await.map_err(|e| StoreError::io("read", path, e))?;
                if n == 0 {
                    return Ok(());
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| failed("store", key, e))?;
                writer.write(&buf[..n]);
                total += n as u64;
            }
        }
        .await;
        if let Err(e) = written {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key = %key, error = %abort, "could not abort an unfinished upload");
            }
            return Err(e);
        }
        writer.finish().await.map_err(|e| failed("store", key, e))?;
        Ok(total)
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn put_object(&self, kind: ObjectKind, id: &str, path: &Path) -> Result<u64, StoreError> {
        let key = self.keys.object(kind, id);
        let mut file = tokio::fs::File::open(path).await.map_err(|e| StoreError::io("open", path, e))?;
        let len = file.metadata().await.map_err(|e| StoreError::io("read", path, e))?.len();
        if len > PART as u64 {
            return self.put_parts(&key, &mut file, path).await;
        }
        let mut buf = Vec::with_capacity(len as usize);
        (&mut file).take(PART as u64 + 1).read_to_end(&mut buf).await.map_err(|e| StoreError::io("read", path, e))?;
        if buf.len() > PART {
            // It grew since: store it in parts from the start.
            file = tokio::fs::File::open(path).await.map_err(|e| StoreError::io("open", path, e))?;
            return self.put_parts(&key, &mut file, path).await;
        }
        let n = buf.len() as u64;
        // S3 answers a PUT once the object is durable.
        self.s3.put(&key, PutPayload::from(Bytes::from(buf))).await.map_err(|e| failed("store", &key, e))?;
        Ok(n)
    }

    async fn fetch_object(&self, kind: ObjectKind, id: &str, dest: &Path) -> Result<bool, StoreError> {
        let key = self.keys.object(kind, id);
        let got = match self.s3.get(&key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(failed("fetch", &key, e)),
        };
        // Removed however this ends: an error, or the future dropped mid-fetch.
        let partial = PartialFetch::beside(dest);
        let mut file = partial.create()?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed("fetch", &key, e))?;
            file.write_all(&chunk).await.map_err(|e| StoreError::io("write", partial.path(), e))?;
        }
        partial.finish(file, dest).await?;
        Ok(true)
    }

    async fn remove_objects(&self, kind: ObjectKind, ids: &[String]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let keys: Vec<object_store::Result<object_store::path::Path>> =
            ids.iter().map(|id| Ok(self.keys.object(kind, id))).collect();
        let mut results = self.s3.delete_stream(futures_util::stream::iter(keys).boxed());
        let mut removed = 0u64;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => removed += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(failed("remove", &self.keys.kind(kind), e)),
            }
        }
        Ok(removed)
    }

    async fn object_ids(&self, kind: ObjectKind) -> Result<Vec<String>, StoreError> {
        Ok(self.list(kind).await?.into_iter().map(|o| o.id).collect())
    }

    async fn stored_objects(&self, kind: ObjectKind) -> Result<Vec<StoredObject>, StoreError> {
        self.list(kind).await
    }

    async fn objects_older_than(&self, kind: ObjectKind, seconds: i64) -> Result<Vec<String>, StoreError> {
        // The storage's time is read after the listing: an object listed is never judged by a
        // clock read before it was stored.
        let listed = self.list(kind).await?;
        let now = self.now().await?;
        Ok(listed.into_iter().filter(|o| o.stored_at < now - seconds).map(|o| o.id).collect())
    }
}
