//! What measuring each delivery session costs: N STARTTLS sessions (connect, EHLO, STARTTLS,
//! handshake, EHLO, QUIT) to a fake MX on loopback, made
//! - by sekisho's delivery session code: certificate validated for the MX name in a verifier
//!   built for the connection, evidence extracted (certificate fields, SPKI SHA-256), graded;
//! - by a plain opportunistic client: the same dialogue, a verifier that accepts anything and
//!   records nothing.
//!
//! Run: `cargo run --release --example tls_session_cost [SESSIONS] [CONCURRENCY]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sekisho_deliver::client::session::{Checks, Connection, Target, Timeouts};
use sekisho_deliver::tls::{Assurance, TlsClient};
use sekisho_testkit::{FakeMx, MxBehavior, TestPki};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() {
    let sessions: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let concurrency: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::generate(dir.path(), "mx.cost.bench");
    let mx = FakeMx::start("127.0.1.40:0", MxBehavior { tls: Some(pki.clone()), ..Default::default() }).await;
    let target = Target { host: "mx.cost.bench".into(), ip: mx.addr.ip(), port: mx.addr.port() };
    let tls = TlsClient::new(std::slice::from_ref(&pki.ca_path)).expect("roots");
    let t = Duration::from_secs(10);
    let timeouts = Timeouts { connect: t, greeting: t, mail: t, rcpt: t, data_init: t, block: t, done: t };

    // Warm up both paths, then alternate rounds so drift hits both alike.
    measured(&target, &tls, timeouts, 50, concurrency).await;
    plain(&target, 50, concurrency).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        a.push(measured(&target, &tls, timeouts, sessions, concurrency).await);
        b.push(plain(&target, sessions, concurrency).await);
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (a, b) = (a[1], b[1]);
    println!("sessions per round: {sessions}, concurrency {concurrency}, median of 3 rounds");
    println!("sekisho session (validated, evidence): {a:8.0} sessions/s  {:7.1} µs/session", 1e6 / a);
    println!("plain opportunistic TLS:               {b:8.0} sessions/s  {:7.1} µs/session", 1e6 / b);
    println!("cost of the measurement: {:.1}% of session throughput", (1.0 - a / b) * 100.0);
}

async fn measured(target: &Target, tls: &TlsClient, t: Timeouts, n: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    run(n, concurrency, |_| {
        let (target, tls) = (target.clone(), tls.clone());
        async move {
            let c = Connection::open(&target, "bench.test", Some(&tls), None, t, &Checks::default())
                .await
                .expect("session");
            assert_eq!(c.evidence.assurance, Assurance::Authenticated);
            c.quit().await;
        }
    })
    .await;
    n as f64 / started.elapsed().as_secs_f64()
}

async fn plain(target: &Target, n: usize, concurrency: usize) -> f64 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnything(provider.signature_verification_algorithms));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    run(n, concurrency, |_| {
        let (connector, addr) = (connector.clone(), (target.ip, target.port));
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = tcp.set_nodelay(true);
            let mut io = BufReader::new(tcp);
            reply(&mut io).await;
            io.get_mut().write_all(b"EHLO bench.test\r\n").await.expect("write");
            reply(&mut io).await;
            io.get_mut().write_all(b"STARTTLS\r\n").await.expect("write");
            reply(&mut io).await;
            let name = ServerName::try_from("mx.cost.bench").expect("name");
            let tls = connector.connect(name, io.into_inner()).await.expect("handshake");
            let mut io = BufReader::new(tls);
            io.get_mut().write_all(b"EHLO bench.test\r\n").await.expect("write");
            reply(&mut io).await;
            io.get_mut().write_all(b"QUIT\r\n").await.expect("write");
            reply(&mut io).await;
            let _ = io.get_mut().shutdown().await;
        }
    })
    .await;
    n as f64 / started.elapsed().as_secs_f64()
}

/// Reads one (possibly multi-line) SMTP reply.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(io: &mut R) {
    let mut line = String::new();
    loop {
        line.clear();
        io.read_line(&mut line).await.expect("read");
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return;
        }
    }
}

async fn run<F, Fut>(n: usize, concurrency: usize, make: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let fut = make(i);
        tasks.spawn(async move {
            fut.await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Accepts any certificate; checks handshake signatures with the algorithms it holds.
#[derive(Debug)]
struct AcceptAnything(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}
