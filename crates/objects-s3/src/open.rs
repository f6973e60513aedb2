//! Building the S3 client from `[store.objects]`, and the check made at start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, RetryConfig};
use sekisho_config::ObjectsConfig;

use crate::keys::Keys;
use crate::store::S3Objects;

/// Why the object storage cannot be used as configured.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `url` is not `s3://bucket[/prefix]` (a checked configuration never has this).
    #[error("[store.objects] url `{0}` is not s3://bucket or s3://bucket/prefix")]
    Url(String),
    /// The secret access key's file could not be read.
    #[error("cannot read [store.objects] secret_access_key_file {}: {source}", path.display())]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret access key's file is empty.
    #[error("[store.objects] secret_access_key_file {} is empty", .0.display())]
    EmptySecret(PathBuf),
    /// The S3 client refused the settings.
    #[error("[store.objects]: {0}")]
    Client(#[source] object_store::Error),
}

/// How often a failed request is tried again, and for how long at most: a few quick retries
/// for a storage that blinks, short enough that a start against an unreachable one fails
/// within seconds rather than minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
    }
}

impl S3Objects {
    /// The object storage of `[store.objects]`. Nothing is sent yet: [`S3Objects::check`] is
    /// the first request. Without `access_key_id`, credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, a web identity, the
    /// instance's role), as the AWS tools take them, and the keys of `[store.objects]` win over
    /// other `AWS_*` variables; with it, no `AWS_*` variable is read.
    pub fn open(config: &ObjectsConfig) -> Result<S3Objects, OpenError> {
        let (bucket, prefix) = config.bucket_and_prefix().ok_or_else(|| OpenError::Url(config.url.clone()))?;
        // Configured credentials come alone: an `AWS_SESSION_TOKEN` (or endpoint) of the
        // environment must not mix with them.
        let base = match config.access_key_id {
            Some(_) => AmazonS3Builder::new(),
            None => AmazonS3Builder::from_env(),
        };
        let mut builder = base
            .with_bucket_name(bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            .with_retry(retry());
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let (Some(id), Some(path)) = (&config.access_key_id, &config.secret_access_key_file) {
            let secret =
                std::fs::read_to_string(path).map_err(|source| OpenError::Secret { path: path.clone(), source })?;
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(OpenError::EmptySecret(path.clone()));
            }
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let s3 = builder.build().map_err(OpenError::Client)?;
        let name = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        Ok(S3Objects::new(Arc::new(s3), Keys::new(prefix), name))
    }
}

/// Puts the bodies and sealed files of `database` in the object storage of `[store.objects]`
/// when `config` sets it (a PostgreSQL database; a checked configuration has no
/// `[store.objects]` otherwise). Returns that storage, for [`S3Objects::check`].
pub fn attach(
    database: &mut sekisho_store::Database,
    config: &sekisho_config::Config,
) -> Result<Option<Arc<S3Objects>>, OpenError> {
    let (sekisho_store::Database::Postgres { objects, .. }, Some(settings)) = (database, &config.store.objects) else {
        return Ok(None);
    };
    let s3 = Arc::new(S3Objects::open(settings)?);
    *objects = Some(sekisho_store::objects::External(s3.clone()));
    Ok(Some(s3))
}
