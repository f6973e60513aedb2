//! A fake HTTPS server on loopback for MTA-STS policy hosts and TLS-RPT report receivers:
//! answers every request with the response the test sets (status, media type, body, or a close
//! without an answer), counts requests and keeps each one's head and body.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pki::TestPki;

/// What the server answers.
#[derive(Debug, Clone)]
pub enum HttpAnswer {
    /// Status, Content-Type and body.
    Reply(u16, String, String),
    /// Close the connection after the TLS handshake, without a response.
    Close,
}

impl HttpAnswer {
    /// 200 with a `text/plain` body: a policy.
    pub fn policy(text: &str) -> HttpAnswer {
        HttpAnswer::Reply(200, "text/plain".into(), text.to_string())
    }
}

/// A running fake HTTPS server.
pub struct FakeHttps {
    pub addr: SocketAddr,
    answer: Arc<Mutex<HttpAnswer>>,
    requests: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request line and header fields.
    pub head: String,
    /// The body, as long as its Content-Length said (at most 1 MiB).
    pub body: Vec<u8>,
}

impl FakeHttps {
    /// Starts on `addr` ("127.0.2.1:0" for any port) with `pki`'s certificate.
    pub async fn start(addr: &str, pki: &TestPki, answer: HttpAnswer) -> FakeHttps {
        let listener = crate::mx::bind_retrying(addr).await;
        let addr = listener.local_addr().expect("addr");
        let acceptor = crate::mx::acceptor(pki);
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, r, s) = (answer.clone(), requests.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, a, r, s) = (acceptor.clone(), a.clone(), r.clone(), s.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 << 10 {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |i| i + 4);
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0)
                        .min(1 << 20);
                    let mut body = buf[end..].to_vec();
                    while body.len() < length {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&chunk[..n]),
                        }
                    }
                    s.lock().expect("requests").push(Request { head, body });
                    r.fetch_add(1, Ordering::SeqCst);
                    let answer = a.lock().expect("answer").clone();
                    if let HttpAnswer::Reply(status, media, body) = answer {
                        let response = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: {media}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = tls.write_all(response.as_bytes()).await;
                    }
                    let _ = tls.shutdown().await;
                });
            }
        });
        FakeHttps { addr, answer, requests, seen, task }
    }

    /// Changes the answer from now on.
    pub fn set(&self, answer: HttpAnswer) {
        *self.answer.lock().expect("answer") = answer;
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Request> {
        self.seen.lock().expect("requests").clone()
    }
}

impl Drop for FakeHttps {
    fn drop(&mut self) {
        self.task.abort();
    }
}
