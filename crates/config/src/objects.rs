//! `[store.objects]`: message bodies and sealed portal files in S3-compatible object storage
//! (AWS S3, MinIO, Ceph RGW, ...) rather than in PostgreSQL's `objects` table. Only with
//! `[store] backend = "postgres"`.

use std::path::PathBuf;

use serde::Deserialize;

/// `[store.objects]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsConfig {
    /// `s3://bucket` or `s3://bucket/prefix`: objects are kept under `<prefix>/body/<queue id>`
    /// and `<prefix>/file/<file id>`.
    pub url: String,
    /// The S3 endpoint (`https://minio.example:9000`) for storage other than AWS; unset: AWS's
    /// endpoint for `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket's region.
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key's id; unset: the credentials of the environment (`AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY`, a web identity token, or the instance's role).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// A file holding the secret access key (never the secret in this file); required with
    /// `access_key_id`.
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Whether an `http://` endpoint (no TLS) is accepted: only for a test server on loopback.
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl ObjectsConfig {
    /// The bucket and the prefix (without slashes at either end; empty for none) of `url`;
    /// `None` when `url` is not `s3://bucket[/prefix]`.
    pub fn bucket_and_prefix(&self) -> Option<(&str, &str)> {
        let rest = self.url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(valid) {
            return None;
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| (s.is_empty() && !prefix.is_empty()) || s == "." || s == "..") {
            return None;
        }
        Some((bucket, prefix))
    }

    /// The first problem of this table as (key below `store.objects`, message), if any.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.bucket_and_prefix().is_none() {
            return Some((
                "url",
                format!(
                    "`{}` is not s3://bucket or s3://bucket/prefix (a bucket name of 3 to 63 lowercase letters, \
                     digits, dots and hyphens)",
                    self.url
                ),
            ));
        }
        if let Some(endpoint) = &self.endpoint {
            if endpoint.starts_with("http://") {
                if !self.allow_http {
                    return Some(("endpoint", "is http:// (no TLS): give https://, or set allow_http = true".into()));
                }
            } else if !endpoint.starts_with("https://") {
                return Some(("endpoint", format!("`{endpoint}` is not an http:// or https:// URL")));
            }
        }
        if self.region.is_empty() {
            return Some(("region", "must not be empty".into()));
        }
        match (&self.access_key_id, &self.secret_access_key_file) {
            (Some(_), None) => {
                Some(("access_key_id", "needs secret_access_key_file, a file holding the secret access key".into()))
            }
            (None, Some(_)) => Some(("secret_access_key_file", "is only used with access_key_id".into())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(url: &str) -> ObjectsConfig {
        ObjectsConfig {
            url: url.into(),
            endpoint: None,
            region: default_region(),
            access_key_id: None,
            secret_access_key_file: None,
            allow_http: false,
        }
    }

    #[test]
    fn a_url_names_a_bucket_and_perhaps_a_prefix() {
        assert_eq!(objects("s3://mail-bodies").bucket_and_prefix(), Some(("mail-bodies", "")));
        assert_eq!(objects("s3://mail/gw/eu/").bucket_and_prefix(), Some(("mail", "gw/eu")));
        for bad in ["https://mail/x", "s3://", "s3://ab", "s3://Mail", "s3://mail/a//b", "s3://mail/../x"] {
            assert_eq!(objects(bad).bucket_and_prefix(), None, "{bad}");
        }
    }
}
