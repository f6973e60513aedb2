//! The store's object contract against a real S3-compatible server (moto on loopback).

use std::path::Path;

use sekisho_config::ObjectsConfig;
use sekisho_objects_s3::S3Objects;
use sekisho_store::objects::{ObjectKind, ObjectStore};
use sekisho_testkit::s3::S3;

fn objects(s3: &S3, dir: &Path, prefix: &str) -> S3Objects {
    let secret = dir.join("s3.secret");
    std::fs::write(&secret, "moto-secret\n").unwrap();
    S3Objects::open(&ObjectsConfig {
        url: format!("s3://{}/{prefix}", s3.bucket),
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some("moto".into()),
        secret_access_key_file: Some(secret),
        allow_http: true,
    })
    .unwrap()
}

/// Bytes that differ from one MiB to the next, so a part out of place shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 20) as u8).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_and_files_round_trip_through_object_storage() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start(&dir.path().join("moto"), "127.0.0.61", "sekisho-test");
    let store = objects(&s3, dir.path(), "gw");
    store.check().await.expect("the bucket answers");

    let small = dir.path().join("small");
    std::fs::write(&small, b"Subject: hi\r\n\r\nbody\r\n").unwrap();
    // Larger than one part: uploaded in parts, never read whole into memory.
    let large = dir.path().join("large");
    let bytes = pattern(19 << 20);
    std::fs::write(&large, &bytes).unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(store.put_object(ObjectKind::Body, "4BODYA", &small).await.unwrap(), 21);
    assert_eq!(store.put_object(ObjectKind::Body, "4BODYB", &large).await.unwrap(), bytes.len() as u64);
    assert_eq!(store.put_object(ObjectKind::File, "ab".repeat(16).as_str(), &empty).await.unwrap(), 0);
    assert_eq!(
        s3.keys(),
        ["gw/body/4BODYA", "gw/body/4BODYB", "gw/clock", format!("gw/file/{}", "ab".repeat(16)).as_str()],
        "one object per body and file, by kind, under the prefix"
    );

    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    assert!(store.fetch_object(ObjectKind::Body, "4BODYB", &cache.join("4BODYB")).await.unwrap());
    assert!(std::fs::read(cache.join("4BODYB")).unwrap() == bytes, "the large body comes back whole, in order");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(cache.join("4BODYB")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(store.fetch_object(ObjectKind::File, &"ab".repeat(16), &cache.join("f")).await.unwrap());
    assert_eq!(std::fs::read(cache.join("f")).unwrap(), b"", "an empty object is still one");
    assert!(!store.fetch_object(ObjectKind::Body, "4NONE", &cache.join("4NONE")).await.unwrap(), "missing: false");
    assert!(!cache.join("4NONE").exists());
    assert!(!store.fetch_object(ObjectKind::File, "4BODYA", &cache.join("x")).await.unwrap(), "kinds are apart");
    let names: Vec<String> =
        std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".fetch")), "no partial fetch is left: {names:?}");

    // Replacing keeps one object, the new bytes.
    std::fs::write(&small, b"again").unwrap();
    assert_eq!(store.put_object(ObjectKind::Body, "4BODYA", &small).await.unwrap(), 5);
    let listed = store.stored_objects(ObjectKind::Body).await.unwrap();
    assert_eq!(
        listed.iter().map(|o| (o.id.as_str(), o.size)).collect::<Vec<_>>(),
        [("4BODYA", 5), ("4BODYB", bytes.len() as u64)]
    );
    let now = store.now().await.unwrap();
    assert!(listed.iter().all(|o| (now - 120..=now).contains(&o.stored_at)), "stored just now by the storage's clock");
    assert_eq!(store.object_ids(ObjectKind::File).await.unwrap(), ["ab".repeat(16)]);

    // Nothing is older than an hour; everything is older than minus a minute (a clock ahead).
    assert!(store.objects_older_than(ObjectKind::Body, 3600).await.unwrap().is_empty());
    assert_eq!(store.objects_older_than(ObjectKind::Body, -60).await.unwrap(), ["4BODYA", "4BODYB"]);

    let ids = ["4BODYA".to_string(), "4BODYB".to_string()];
    assert_eq!(store.remove_objects(ObjectKind::Body, &ids).await.unwrap(), 2);
    assert!(store.object_ids(ObjectKind::Body).await.unwrap().is_empty());
    assert!(!store.fetch_object(ObjectKind::Body, "4BODYA", &cache.join("gone")).await.unwrap());
    assert_eq!(store.remove_objects(ObjectKind::Body, &[]).await.unwrap(), 0);
    assert_eq!(store.object_ids(ObjectKind::File).await.unwrap().len(), 1, "the file stays");

    // Another prefix in the same bucket is another gateway's: its listing does not see ours.
    let other = objects(&s3, dir.path(), "other");
    assert!(other.object_ids(ObjectKind::File).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_storage_or_bucket_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start(&dir.path().join("moto"), "127.0.0.62", "sekisho-test");
    let mut settings = ObjectsConfig {
        url: "s3://no-such-bucket".into(),
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some("moto".into()),
        secret_access_key_file: Some(dir.path().join("missing.secret")),
        allow_http: true,
    };
    let e = S3Objects::open(&settings).unwrap_err().to_string();
    assert!(e.contains("secret_access_key_file") && e.contains("missing.secret"), "{e}");
    std::fs::write(dir.path().join("missing.secret"), "x").unwrap();
    let store = S3Objects::open(&settings).unwrap();
    assert_eq!(store.name(), "s3://no-such-bucket");
    let e = store.check().await.unwrap_err().to_string();
    assert!(e.starts_with("object storage: cannot write clock"), "no such bucket: {e}");
    // Nothing listens here: refused, and reported within the retries' few seconds.
    settings.url = "s3://sekisho-test".into();
    settings.endpoint = Some("http://127.0.0.62:9".into());
    let e = S3Objects::open(&settings).unwrap().check().await.unwrap_err().to_string();
    assert!(e.starts_with("object storage: cannot write clock"), "{e}");
}
