//! A private S3-compatible server for one test: PyPI's moto (`moto_server`, installed by
//! scripts/test) on a loopback address and port, with one empty bucket; stopped when dropped.
//! It takes any credentials, and keeps objects in memory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// A running moto server with a bucket.
pub struct S3 {
    child: Child,
    /// `127.0.0.1`-style address it listens on.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// The bucket made at start.
    pub bucket: String,
}

impl S3 {
    /// Starts moto on `ip` (a free port), logging to `dir/moto.log`, and makes `bucket`.
    pub fn start(dir: &Path, ip: &str, bucket: &str) -> S3 {
        std::fs::create_dir_all(dir).expect("moto directory");
        let port = std::net::TcpListener::bind((ip, 0)).expect("a free port").local_addr().expect("addr").port();
        let log = std::fs::File::create(dir.join("moto.log")).expect("moto.log");
        let child = Command::new("moto_server")
            .args(["-H", ip, "-p", &port.to_string()])
            .stdout(log.try_clone().expect("moto.log"))
            .stderr(log)
            .spawn()
            .expect("moto_server (PyPI: moto[server]; scripts/test installs it)");
        let s3 = S3 { child, ip: ip.to_string(), port, bucket: bucket.to_string() };
        for _ in 0..300 {
            if TcpStream::connect((ip, port)).is_ok() {
                let (status, _) = s3.request("PUT", &format!("/{bucket}"));
                assert_eq!(status, 200, "moto made no bucket {bucket}");
                return s3;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto did not start on {ip}:{port}: see {}", dir.join("moto.log").display());
    }

    /// Its endpoint, as `[store.objects] endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }

    /// The `[store.objects]` table for this bucket under `prefix`, with a secret key read from
    /// `secret_file` (written here).
    pub fn config_toml(&self, prefix: &str, secret_file: &Path) -> String {
        std::fs::write(secret_file, "moto-secret\n").expect("secret file");
        format!(
            "[store.objects]\nurl = \"s3://{}/{prefix}\"\nendpoint = \"{}\"\nallow_http = true\n\
             access_key_id = \"moto\"\nsecret_access_key_file = \"{}\"\n",
            self.bucket,
            self.endpoint(),
            secret_file.display()
        )
    }

    /// Every key in the bucket, sorted (moto answers unsigned requests).
    pub fn keys(&self) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{}?list-type=2&max-keys=1000", self.bucket));
        assert_eq!(status, 200, "moto listed nothing: {body}");
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(|k| k.replace("&amp;", "&"))
            .collect();
        keys.sort();
        keys
    }

    /// One HTTP/1.1 request without a body: (status, body).
    fn request(&self, method: &str, target: &str) -> (u16, String) {
        let mut conn = TcpStream::connect((self.ip.as_str(), self.port)).expect("connect to moto");
        conn.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(
            conn,
            "{method} {target} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.ip, self.port
        )
        .expect("send to moto");
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).expect("moto's reply");
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let status = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = reply.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
        (status, body)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
