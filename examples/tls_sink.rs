//! A fast SMTP sink for the relay benchmark, like Postfix's smtp-sink but with STARTTLS:
//! accepts every message, keeps nothing, and prints `mesg=N bytes=B` (messages and message
//! bytes received so far) every 100 ms, as smtp-sink prints `mesg=N`, so bench/relay.py reads
//! both the same way.
//!
//! Run: `cargo run --release --example tls_sink -- ADDR [--tls] [--cert-out FILE]` (a
//! self-signed certificate for `sink.bench` and ADDR's IP address is generated at start;
//! `--cert-out` writes it as PEM, for the relay's `[tls] extra_roots`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).expect("usage: tls_sink ADDR [--tls] [--cert-out FILE]").clone();
    let cert_out = args.iter().position(|a| a == "--cert-out").and_then(|i| args.get(i + 1));
    let ip = addr.rsplit_once(':').map(|(ip, _)| ip.trim_matches(['[', ']']).to_string()).unwrap_or_default();
    let acceptor = args.iter().any(|a| a == "--tls").then(|| acceptor(&ip, cert_out.map(String::as_str)));
    let listener = TcpListener::bind(&addr).await.expect("bind");
    let count = Arc::new(Counts::default());
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            println!("mesg={} bytes={}", c.messages.load(Ordering::Relaxed), c.bytes.load(Ordering::Relaxed));
        }
    });
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let (acceptor, count) = (acceptor.clone(), count.clone());
        tokio::spawn(async move {
            let _ = session(Box::new(tcp), acceptor, &count).await;
        });
    }
}

/// Messages received, and their bytes (as sent: CRLF included, the final dot not).
#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    bytes: AtomicU64,
}

async fn session(io: Box<dyn Io>, acceptor: Option<tokio_rustls::TlsAcceptor>, count: &Counts) -> std::io::Result<()> {
    let mut io = BufReader::with_capacity(64 << 10, io);
    io.get_mut().write_all(b"220 sink.bench ESMTP\r\n").await?;
    let mut tls_done = false;
    let mut line = Vec::with_capacity(1024);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        line.clear();
        if io.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
        let reply: &[u8] = match verb.as_slice() {
            b"EHLO" if acceptor.is_some() && !tls_done => {
                b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SIZE 104857600\r\n"
            }
            b"EHLO" => b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n",
            b"HELO" => b"250 sink.bench\r\n",
            b"STAR" if !tls_done && acceptor.is_some() => {
                out.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                io.get_mut().write_all(&out).await?;
                out.clear();
                let tls = acceptor.as_ref().expect("checked").accept(io.into_inner()).await?;
                io = BufReader::with_capacity(64 << 10, Box::new(tls));
                tls_done = true;
                continue;
            }
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => b"250 2.0.0 Ok\r\n",
            b"DATA" => {
                out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                io.get_mut().write_all(&out).await?;
                out.clear();
                let mut bytes = 0;
                loop {
                    line.clear();
                    if io.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    bytes += line.len() as u64;
                }
                count.messages.fetch_add(1, Ordering::Relaxed);
                count.bytes.fetch_add(bytes, Ordering::Relaxed);
                b"250 2.0.0 Ok: queued\r\n"
            }
            b"QUIT" => {
                out.extend_from_slice(b"221 2.0.0 Bye\r\n");
                io.get_mut().write_all(&out).await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Error: command not recognized\r\n",
        };
        // Replies to pipelined commands go out together once the client's batch is read.
        out.extend_from_slice(reply);
        if io.buffer().is_empty() {
            io.get_mut().write_all(&out).await?;
            out.clear();
        }
    }
}

fn acceptor(ip: &str, cert_out: Option<&str>) -> tokio_rustls::TlsAcceptor {
    let key = rcgen::KeyPair::generate().expect("key");
    let names = vec!["sink.bench".to_string(), ip.to_string()];
    let cert = rcgen::CertificateParams::new(names).expect("params").self_signed(&key).expect("cert");
    if let Some(path) = cert_out {
        std::fs::write(path, cert.pem()).expect("write the certificate");
    }
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], der)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
