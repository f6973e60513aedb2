//! Files at rest: the data directory is private to sekisho's user, and the kept files' keys
//! are stored wrapped by a store key kept outside it, so a copy of the data directory alone
//! opens no file. A wrong key at start is a configuration error naming the key; the key can be
//! rotated; keys from before wrapping are wrapped at start.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sekisho_store::files::{FileKey, FileStore, KeyError, KeyRing, StoreKey, StoredKey, read_key_file};
use sekisho_store::{LinkStore, SqliteStore, StoreError};
use sekisho_testkit::mail::{Names, done, message_with_files, random_bytes};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};
use support::{Running, data_store, own_address, run, write_config};

/// Every path under `dir` with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        out.push((entry.path(), meta.permissions().mode() & 0o7777));
        if meta.is_dir() {
            out.extend(modes(&entry.path()));
        }
    }
    out
}

fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut all = vec![(dir.to_path_buf(), std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777)];
    all.extend(modes(dir));
    all.into_iter().filter(|(_, m)| m & 0o077 != 0).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if let Err(e) = std::fs::copy(entry.path(), &target) {
            // The -wal and -shm files go when the database closes.
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{}", entry.path().display());
        }
    }
}

/// A server that sent a message with one file to an MX without STARTTLS, so the file is kept
/// for download; returns the server, the message ID and the file.
async fn kept_file_run() -> (TestServer, String, Vec<u8>) {
    let dns = FakeDns::start("127.0.0.53").await;
    let mx = FakeMx::start("127.0.8.2:0", MxBehavior::default()).await;
    dns.addr("mx.plain.example", "127.0.8.2");
    dns.mx("plain.example", 10, "mx.plain.example");
    let s = TestServer::start_delivering(&dns, mx.addr.port(), |_| {}).await;
    let file = random_bytes(70_000);
    let message = message_with_files("figures", &[("見積書.pdf", &file)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["bob@plain.example"], &message).await;
    s.wait_for(&id, 30, done).await;
    assert!(s.queue.stores().links.link_message(&id).await.unwrap().is_some(), "the file is kept for a link");
    (s, id, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_run_with_a_kept_file_nothing_in_the_data_directory_is_open_to_others() {
    let (s, _, _) = kept_file_run().await;
    let data = s.config.store.path.clone();
    let all = modes(&data);
    assert!(all.iter().any(|(p, _)| p.ends_with("queue.db-wal")), "{all:?}");
    assert!(all.iter().any(|(p, _)| p.ends_with("queue.db-shm")), "{all:?}");
    assert!(std::fs::read_dir(data.join("files")).unwrap().count() > 1, "a sealed file and tmp/");
    assert_eq!(open_to_others(&data), Vec::new(), "no group or other bits while it runs");
    let _dir = s.stop().await;
    assert_eq!(open_to_others(&data), Vec::new(), "nor after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_data_directory_without_the_store_key_opens_no_file() {
    let (s, id, file) = kept_file_run().await;
    let dir = s.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("data"), copy.path());

    // What the copy holds: the sealed file, and its key only wrapped.
    let store = SqliteStore::open(&copy.path().join("queue.db")).await.unwrap();
    let kept = store.link_message(&id).await.unwrap().unwrap().files.remove(0);
    assert!(matches!(StoredKey::parse(&kept.key), Some(StoredKey::Wrapped { .. })), "{}", kept.key);
    assert_eq!(FileKey::from_hex(&kept.key), None, "no file key in the database");

    let keyless = FileStore::open(copy.path()).unwrap();
    assert!(matches!(keyless.reader(&kept.file_id, &kept.key), Err(StoreError::FileKey(KeyError::NoStoreKey))));
    let guessed = FileStore::open(copy.path()).unwrap().with_keys(KeyRing::new(StoreKey::generate()));
    let e = guessed.reader(&kept.file_id, &kept.key).err().expect("another key opens nothing");
    assert!(matches!(e, StoreError::FileKey(KeyError::UnknownStoreKey { .. })), "{e}");

    // With the key kept outside the data directory, the file reads back.
    let key = read_key_file(&dir.path().join("store.key")).unwrap();
    let keyed = FileStore::open(copy.path()).unwrap().with_keys(KeyRing::new(key));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut keyed.reader(&kept.file_id, &kept.key).unwrap(), &mut back).unwrap();
    assert_eq!(back, file);
}

/// Starts `serve` on `config`, waits until it listens, stops it; its log.
fn serve_once(config: &Path) -> String {
    let (running, log) = Running::start_logged(config);
    assert!(running.terminate().success());
    log.iter().collect::<Vec<_>>().join("\n")
}

fn with_key_file(config: &Path, key: &Path) -> PathBuf {
    with_key_file_as(config, key, "keyed.toml")
}

fn with_key_file_as(config: &Path, key: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replacen("[store]\n", &format!("[store]\nkey_file = \"{}\"\n", key.display()), 1);
    let keyed = config.with_file_name(name);
    std::fs::write(&keyed, text).unwrap();
    keyed
}

fn read_file(data: &Path, key: &Path, file_id: &str, stored: &str) -> Result<Vec<u8>, StoreError> {
    let ring = KeyRing::new(read_key_file(key).unwrap());
    let mut out = Vec::new();
    let mut r = FileStore::open(data).unwrap().with_keys(ring).reader(file_id, stored)?;
    std::io::Read::read_to_end(&mut r, &mut out).unwrap();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_data_directory_is_tightened_and_wrapped_and_the_key_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    // A data directory as earlier versions left it: 0755, queue.db 0644, a key in plain.
    let (data, store) = data_store(&config).await;
    FileStore::open(&data).unwrap();
    let file_key = FileKey::generate();
    let file_id = "0123456789abcdef0123456789abcdef";
    let mut sealed = Vec::new();
    sekisho_store::files::sealed::seal(&file_key, b"old quarterly figures", &mut sealed).unwrap();
    std::fs::write(data.join("files").join(file_id), sealed).unwrap();
    store
        .put_link_message(&sekisho_store::LinkMessage {
            message_id: "MOLD000000000001".into(),
            sender: "alice@example.jp".into(),
            subject: "figures".into(),
            header_from: String::new(),
            created_at: 0,
            files: vec![sekisho_store::LinkFile {
                idx: 0,
                file_id: file_id.into(),
                key: file_key.to_hex(),
                name: "old.pdf".into(),
                content_type: "application/pdf".into(),
                size: 21,
                sha256: "00".repeat(32),
                purged: false,
            }],
            original: None,
            password_hash: None,
        })
        .await
        .unwrap();
    // Its recipient's link is still open (a kept file nobody has a link to is purged).
    store
        .put_link(&sekisho_store::NewLink {
            message_id: "MOLD000000000001".into(),
            idx: 0,
            recipient: "bob@example.com".into(),
            token_hash: "ab".repeat(32),
            access: sekisho_store::Access::None,
            created_at: 0,
            expires_at: i64::MAX,
            max_downloads: 5,
            secret_hash: None,
            hint: None,
        })
        .await
        .unwrap();
    drop(store);
    for (path, mode) in [(&data, 0o755), (&data.join("files"), 0o755), (&data.join("queue.db"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let stored = |data: PathBuf| async move {
        let store = SqliteStore::open(&data.join("queue.db")).await.unwrap();
        store.link_message("MOLD000000000001").await.unwrap().unwrap().files.remove(0).key
    };

    // No key configured: the default key file beside the data directory, with a warning; the
    // directory tightened, with a log line; the plain key wrapped.
    let log = serve_once(&config);
    let default_key = dir.path().join("data.key");
    assert_eq!(std::fs::metadata(&default_key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(log.contains("the data directory was open to other users"), "{log}");
    assert!(log.contains("default key file beside the data directory"), "{log}");
    assert_eq!(open_to_others(&data), Vec::new());
    let wrapped = stored(data.clone()).await;
    let default_id = read_key_file(&default_key).unwrap().id();
    assert!(wrapped.starts_with(&format!("v1:{default_id}:")), "{wrapped}");
    assert_eq!(read_file(&data, &default_key, file_id, &wrapped).unwrap(), b"old quarterly figures");

    // Another key at start: exit 2, naming the key, nothing changed.
    let other = dir.path().join("other.key");
    let (code, out, _) = run(None, &["key", "generate", other.to_str().unwrap()], "");
    assert_eq!(code, 0);
    assert!(out.contains("new store key"), "{out}");
    assert_eq!(std::fs::metadata(&other).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, _, err) = run(None, &["key", "generate", other.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let keyed = with_key_file(&config, &other);
    let (code, _, err) = run(Some(&keyed), &["serve"], "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("store key from [store] key_file {}", other.display()))
            && err.contains(&format!("is not the key the kept files were stored with (key id {default_id})")),
        "{err}"
    );
    assert_eq!(stored(data.clone()).await, wrapped);

    // Rotation, sekisho stopped: every key rewrapped; then the new key opens the files and the
    // old one no longer does.
    let (code, out, err) = run(Some(&config), &["key", "rotate", "--new", other.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rewrapped 1 kept file key(s)"), "{out}");
    serve_once(&keyed);
    let rotated = stored(data.clone()).await;
    assert_eq!(read_file(&data, &other, file_id, &rotated).unwrap(), b"old quarterly figures");
    assert!(matches!(
        read_file(&data, &default_key, file_id, &rotated),
        Err(StoreError::FileKey(KeyError::UnknownStoreKey { .. }))
    ));

    // The default key file gone while wrapped keys need it: no new key is made.
    let (code, _, err) = run(Some(&config), &["serve"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not the key the kept files were stored with"), "{err}");
    std::fs::remove_file(&default_key).unwrap();
    let (code, _, err) = run(Some(&config), &["serve"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist, but 1 kept file(s) have keys wrapped"), "{err}");
    assert!(!default_key.exists());
}

#[test]
fn config_check_names_a_missing_short_or_open_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let key = dir.path().join("store.key");
    let keyed = with_key_file(&config, &key);
    let check = || run(None, &["config", "check", keyed.to_str().unwrap()], "");
    let line = std::fs::read_to_string(&keyed).unwrap().lines().position(|l| l.starts_with("key_file")).unwrap() + 1;
    let at = format!("keyed.toml:{line}: store.key_file: [store] key_file {}", key.display());

    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains(&at) && err.contains("does not exist"), "{err}");
    std::fs::write(&key, [7u8; 16]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains(&at) && err.contains("is 16 bytes"), "{err}");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains(&at) && err.contains("mode 0644"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, out, err) = check();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok"), "{out}");

    let inside = dir.path().join("data/store.key");
    let (code, _, err) =
        run(None, &["config", "check", with_key_file_as(&config, &inside, "inside.toml").to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("store.key_file") && err.contains("inside the data directory"), "{err}");

    // The environment variable: named when it is not a key, and never beside a key file.
    let env_check = |file: &Path, value: &str| {
        let out = std::process::Command::new(support::bin())
            .args(["config", "check", file.to_str().unwrap()])
            .env("SEKISHO_STORE_KEY", value)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = env_check(&config, "short");
    assert_eq!(code, Some(2));
    assert!(err.contains("$SEKISHO_STORE_KEY is 5 bytes"), "{err}");
    assert_eq!(env_check(&config, &"ab".repeat(32)).0, Some(0));
    let (code, err) = env_check(&keyed, &"ab".repeat(32));
    assert_eq!(code, Some(2));
    assert!(err.contains("more than one store key"), "{err}");
}
