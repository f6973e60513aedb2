//! sekisho's clamd client against a real clamd (the test kit's, with its own signature
//! database): what is clean comes back clean, EICAR, the kit's test pattern and every file of
//! Debian's clamav-testfiles come back found by the name clamd gives them, a large file goes
//! from disk in chunks, and everything that is not an answer (too large, clamd stopped, clamd
//! silent, clamd closing a session) comes back as an error, never as clean. Scans share
//! `max_concurrent` sessions, reused from scan to scan. Over the Unix socket files go as
//! descriptors of memory files, and streamed when clamd does not get the descriptor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sekisho_antivirus::{Clamd as Client, ClamdAddress, ClamdError, ClamdSettings, Stage, Verdict};
use sekisho_testkit::{
    CLAM_TEST_PATTERN, CLAMAV_TEST_FILES, Clamd, ClamdOptions, EICAR, EICAR_SIGNATURE, PATTERN_SIGNATURE,
    TEST_FILE_SIGNATURE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Records the largest single allocation made on each thread, to show what a scan holds.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn settings(address: ClamdAddress) -> ClamdSettings {
    ClamdSettings {
        address,
        connect_timeout: Duration::from_secs(5),
        scan_timeout: Duration::from_secs(30),
        max_concurrent: 4,
        max_stream: 25 << 20,
        pass_descriptors: true,
    }
}

fn found(signature: &str) -> Verdict {
    Verdict::Found { signature: signature.into() }
}

/// A zip archive holding `name` with `bytes`, deflated.
fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A TCP relay in front of clamd's Unix socket that counts the connections through it.
struct Relay {
    addr: SocketAddr,
    /// Connections made so far.
    connections: Arc<AtomicUsize>,
    /// Most connections open at once.
    peak: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(clamd: &Clamd) -> Relay {
        let ClamdAddress::Unix(socket) = clamd.unix_address() else { unreachable!() };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connections, peak, open) = (Arc::default(), Arc::<AtomicUsize>::default(), Arc::new(AtomicUsize::new(0)));
        let relay = Relay { addr, connections: Arc::clone(&connections), peak: Arc::clone(&peak) };
        tokio::spawn(async move {
            loop {
                let (mut client, _) = listener.accept().await.unwrap();
                connections.fetch_add(1, Ordering::SeqCst);
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let (socket, open) = (socket.clone(), Arc::clone(&open));
                tokio::spawn(async move {
                    let mut upstream = tokio::net::UnixStream::connect(socket).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        relay
    }

    fn address(&self) -> ClamdAddress {
        ClamdAddress::Tcp(self.addr)
    }
}

#[tokio::test]
async fn clean_bytes_are_clean_over_the_unix_socket_and_over_tcp() {
    let clamd = Clamd::start().await;
    eprintln!("clamd answered PING {:?} after it was started", clamd.started_in());
    for address in [clamd.unix_address(), clamd.tcp_address()] {
        let client = Client::new(settings(address.clone()));
        client.ping().await.unwrap();
        assert!(client.version().await.unwrap().starts_with("ClamAV 1."), "{address}");
        assert_eq!(client.scan(b"Dear colleague, the minutes are attached.").await.unwrap(), Verdict::Clean);
        assert_eq!(client.scan(b"").await.unwrap(), Verdict::Clean, "an empty file");
    }
}

/// A Unix socket in front of clamd's that copies bytes both ways and nothing else: a
/// descriptor sent through it is lost, as through a socket proxy.
async fn byte_relay(clamd: &Clamd) -> (ClamdAddress, tempfile::TempDir) {
    let ClamdAddress::Unix(upstream) = clamd.unix_address() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut clamd = tokio::net::UnixStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut clamd).await;
            });
        }
    });
    (ClamdAddress::Unix(path), dir)
}

#[tokio::test]
async fn over_the_unix_socket_files_go_as_descriptors_and_over_tcp_streamed() {
    let clamd = Clamd::start().await;
    let unix = Client::new(settings(clamd.unix_address()));
    assert!(unix.passes_descriptors());
    let mut in_text = b"report follows\r\n".to_vec();
    in_text.extend_from_slice(EICAR);
    assert_eq!(unix.scan(&in_text).await.unwrap(), found(EICAR_SIGNATURE));
    assert_eq!(unix.scan(b"Dear colleague").await.unwrap(), Verdict::Clean);
    let large: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).chain(EICAR.iter().copied()).collect();
    assert_eq!(unix.scan(&large).await.unwrap(), found(EICAR_SIGNATURE), "the last bytes of 3 MB are read");
    assert!(unix.passes_descriptors(), "clamd took every descriptor");
    let by_descriptor = findings(&clamd, MEMORY_FILE);
    assert!(by_descriptor > 0, "clamd logs the findings as memory files:\n{}", clamd.log());
    assert_eq!(findings(&clamd, STREAM), 0, "nothing streamed:\n{}", clamd.log());

    let tcp = Client::new(settings(clamd.tcp_address()));
    assert!(!tcp.passes_descriptors(), "no descriptors over TCP");
    assert_eq!(tcp.scan(&in_text).await.unwrap(), found(EICAR_SIGNATURE));
    let streamed = Client::new(ClamdSettings { pass_descriptors: false, ..settings(clamd.unix_address()) });
    assert!(!streamed.passes_descriptors(), "pass_descriptors = false streams");
    assert_eq!(streamed.scan(&in_text).await.unwrap(), found(EICAR_SIGNATURE));
    assert_eq!(findings(&clamd, MEMORY_FILE), by_descriptor, "{}", clamd.log());
    assert!(findings(&clamd, STREAM) > 0, "{}", clamd.log());
}

/// How clamd's log names a file passed as a descriptor, and one streamed.
const MEMORY_FILE: &str = "/memfd:sekisho-scan";
const STREAM: &str = "instream(";

/// Lines of clamd's log (and its output) with a finding in a file named by `kind`.
fn findings(clamd: &Clamd, kind: &str) -> usize {
    clamd.log().lines().filter(|l| l.contains("FOUND") && l.contains(kind)).count()
}

#[tokio::test]
async fn a_clamd_that_gets_no_descriptor_through_a_proxy_gets_every_file_streamed() {
    let clamd = Clamd::start().await;
    let (address, _dir) = byte_relay(&clamd).await;
    let client = Client::new(settings(address));
    assert!(client.passes_descriptors(), "a Unix socket: descriptors first");
    assert_eq!(client.scan(EICAR).await.unwrap(), found(EICAR_SIGNATURE), "refused as a descriptor, then streamed");
    assert!(!client.passes_descriptors(), "streamed from then on");
    assert_eq!(client.scan(b"minutes").await.unwrap(), Verdict::Clean);
    assert_eq!(client.scan(EICAR).await.unwrap(), found(EICAR_SIGNATURE));
    assert_eq!(findings(&clamd, MEMORY_FILE), 0, "{}", clamd.log());
    assert!(findings(&clamd, STREAM) > 0, "{}", clamd.log());
}

#[tokio::test]
async fn eicar_is_found_by_the_name_clamd_gives_it() {
    let clamd = Clamd::start().await;
    let client = Client::new(settings(clamd.unix_address()));
    assert_eq!(client.scan(EICAR).await.unwrap(), found("Eicar-Test-Signature.UNOFFICIAL"));
    assert_eq!(EICAR_SIGNATURE, "Eicar-Test-Signature.UNOFFICIAL");
    let mut in_text = b"report follows\r\n".to_vec();
    in_text.extend_from_slice(EICAR);
    assert_eq!(client.scan(&in_text).await.unwrap(), found(EICAR_SIGNATURE), "anywhere in a file");
}

#[tokio::test]
async fn eicar_inside_a_zip_is_found() {
    let clamd = Clamd::start().await;
    let client = Client::new(settings(clamd.tcp_address()));
    let zip = zip_of("invoice.com", EICAR);
    assert!(!zip.windows(EICAR.len()).any(|w| w == EICAR), "the archive compresses the string away");
    assert_eq!(client.scan(&zip).await.unwrap(), found(EICAR_SIGNATURE));
    let nested = zip_of("archive.zip", &zip);
    assert_eq!(client.scan(&nested).await.unwrap(), found(EICAR_SIGNATURE), "a zip in a zip");
}

#[tokio::test]
async fn the_kits_test_pattern_is_found() {
    let clamd = Clamd::start().await;
    let client = Client::new(settings(clamd.unix_address()));
    let text = format!("some text, then {CLAM_TEST_PATTERN}, then more");
    assert_eq!(client.scan(text.as_bytes()).await.unwrap(), found(PATTERN_SIGNATURE));
    assert_eq!(PATTERN_SIGNATURE, "Sekisho.Test.Pattern.UNOFFICIAL");
    let almost = &CLAM_TEST_PATTERN[..CLAM_TEST_PATTERN.len() - 1];
    assert_eq!(client.scan(almost.as_bytes()).await.unwrap(), Verdict::Clean, "one byte short");
}

#[tokio::test]
async fn every_file_of_clamav_testfiles_is_found() {
    let clamd = Clamd::start().await;
    let client = Client::new(settings(clamd.unix_address()));
    let mut names: Vec<_> = std::fs::read_dir(CLAMAV_TEST_FILES)
        .expect("Debian package clamav-testfiles")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut missed = Vec::new();
    for path in &names {
        let file = tokio::fs::File::open(path).await.unwrap();
        let len = file.metadata().await.unwrap().len();
        match client.scan_reader(file, Some(len)).await {
            Ok(v) if v == found(TEST_FILE_SIGNATURE) => {}
            other => missed.push(format!("{}: {other:?}", path.display())),
        }
    }
    eprintln!("{} files of {CLAMAV_TEST_FILES} scanned", names.len());
    assert!(missed.is_empty(), "not found:\n{}", missed.join("\n"));
    for kind in ["clam.exe", "clam.zip", "clam.7z", "clam.tar.gz", "clam.cab", "clam-upx.exe", "clam.mail"] {
        assert!(names.iter().any(|p| p.ends_with(kind)), "{kind} is among them");
    }
    assert!(names.len() >= 40, "clamav-testfiles 1.4 has 44 files; found {}", names.len());
}

#[tokio::test]
async fn a_20_mb_file_goes_from_disk_in_chunks_never_whole() {
    let clamd = Clamd::start().await;
    let client = Client::new(settings(clamd.unix_address()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let block: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for _ in 0..20 {
        file.write_all(&block).unwrap();
    }
    file.write_all(CLAM_TEST_PATTERN.as_bytes()).unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
    drop(block);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 20 << 20);

    LARGEST.with(|l| l.set(0));
    let file = tokio::fs::File::open(&path).await.unwrap();
    let verdict = client.scan_reader(file, Some(len)).await.unwrap();
    let largest = LARGEST.with(|l| l.get());
    assert_eq!(verdict, found(PATTERN_SIGNATURE), "the pattern at the very end was sent too");
    eprintln!("largest allocation while streaming {len} bytes: {largest} bytes");
    assert!(largest <= 256 << 10, "the scan allocated {largest} bytes at once for a {len}-byte file");
}

#[tokio::test]
async fn a_file_over_max_stream_is_too_large_and_never_clean() {
    let clamd = Clamd::start().await;
    let client = Client::new(ClamdSettings { max_stream: 100_000, ..settings(clamd.unix_address()) });
    let over = vec![b'a'; 100_001];
    assert!(matches!(client.scan(&over).await, Err(ClamdError::TooLarge)));
    assert!(matches!(client.scan_reader(&over[..], Some(100_001)).await, Err(ClamdError::TooLarge)), "by its length");
    let endless = tokio::io::repeat(b'a').take(1 << 20);
    assert!(matches!(client.scan_reader(endless, None).await, Err(ClamdError::TooLarge)), "length unknown");
    assert_eq!(client.scan(&over[..100_000]).await.unwrap(), Verdict::Clean, "exactly max_stream is scanned");
}

#[tokio::test]
async fn a_file_over_clamds_stream_max_length_is_too_large() {
    let clamd = Clamd::start_with(ClamdOptions { stream_max_length: 1 << 20, ..Default::default() }).await;
    let client = Client::new(ClamdSettings { max_stream: 64 << 20, ..settings(clamd.tcp_address()) });
    let bigger = tokio::io::repeat(b'a').take(3 << 20);
    let result = client.scan_reader(bigger, None).await;
    assert!(matches!(result, Err(ClamdError::TooLarge)), "{result:?}");
    assert_eq!(client.scan(b"small").await.unwrap(), Verdict::Clean, "the next scan works");
}

#[tokio::test]
async fn a_file_clamd_stops_scanning_at_its_max_file_size_is_not_scanned_not_clean() {
    let clamd = Clamd::start_with(ClamdOptions { max_file_size: Some(1 << 20), ..Default::default() }).await;
    let client = Client::new(settings(clamd.unix_address()));
    let big = tokio::io::repeat(b'a').take(2 << 20).chain(EICAR);
    match client.scan_reader(big, None).await {
        Err(ClamdError::LimitExceeded { signature }) => {
            assert_eq!(signature, "Heuristics.Limits.Exceeded.MaxFileSize")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.scan(EICAR).await.unwrap(), found(EICAR_SIGNATURE), "small files are still scanned");
}

#[tokio::test]
async fn a_stopped_clamd_is_unavailable() {
    let mut clamd = Clamd::start().await;
    let unix = Client::new(settings(clamd.unix_address()));
    let tcp = Client::new(settings(clamd.tcp_address()));
    assert_eq!(unix.scan(b"x").await.unwrap(), Verdict::Clean);
    assert_eq!(tcp.scan(b"x").await.unwrap(), Verdict::Clean);
    clamd.stop();
    for (client, address) in [(&unix, clamd.unix_address()), (&tcp, clamd.tcp_address())] {
        match client.scan(EICAR).await {
            Err(ClamdError::Unavailable { address: a, .. }) => assert_eq!(a, address),
            other => panic!("{address}: {other:?}"),
        }
        assert!(matches!(client.ping().await, Err(ClamdError::Unavailable { .. })));
    }
    let nowhere = Client::new(settings("unix:/nonexistent/clamd.ctl".parse().unwrap()));
    let e = nowhere.scan(b"x").await.unwrap_err();
    assert!(matches!(e, ClamdError::Unavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("unix:/nonexistent/clamd.ctl"), "{e}");
}

#[tokio::test]
async fn a_clamd_that_never_answers_is_a_scan_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = ClamdAddress::Tcp(listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            held.push(conn);
        }
    });
    let scan_timeout = Duration::from_millis(300);
    let client = Client::new(ClamdSettings { scan_timeout, ..settings(address) });
    match client.scan(EICAR).await {
        Err(ClamdError::Timeout { stage: Stage::Scan, after }) => assert_eq!(after, scan_timeout),
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.ping().await, Err(ClamdError::Timeout { stage: Stage::Scan, .. })));
}

#[tokio::test]
async fn a_clamd_that_never_accepts_is_a_connect_timeout() {
    // A listener whose accept queue is full: the kernel drops further connection attempts.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(conn) => queued.push(conn.unwrap()),
            Err(_) => break,
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    let connect_timeout = Duration::from_millis(300);
    let client = Client::new(ClamdSettings { connect_timeout, ..settings(ClamdAddress::Tcp(addr)) });
    match client.scan(EICAR).await {
        Err(ClamdError::Timeout { stage: Stage::Connect, after }) => assert_eq!(after, connect_timeout),
        other => panic!("{other:?}"),
    }
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_scans_four_at_a_time_are_all_answered_on_four_connections() {
    let clamd = Clamd::start().await;
    let relay = Relay::start(&clamd).await;
    let client = Client::new(ClamdSettings { max_concurrent: 4, ..settings(relay.address()) });
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (bytes, expected) = match i % 3 {
                0 => (format!("clean file {i}").into_bytes(), Verdict::Clean),
                1 => ([format!("{i}:").as_bytes(), EICAR].concat(), found(EICAR_SIGNATURE)),
                _ => (zip_of(&format!("{i}.txt"), CLAM_TEST_PATTERN.as_bytes()), found(PATTERN_SIGNATURE)),
            };
            (i, client.scan(&bytes).await.unwrap(), expected)
        }));
    }
    for task in tasks {
        let (i, verdict, expected) = task.await.unwrap();
        assert_eq!(verdict, expected, "scan {i}");
    }
    let (connections, peak) = (relay.connections.load(Ordering::SeqCst), relay.peak.load(Ordering::SeqCst));
    eprintln!("50 scans: {connections} connections, at most {peak} open at once");
    assert!(peak <= 4, "{peak} connections open at once");
    assert!(connections <= 4, "sessions are reused: {connections} connections for 50 scans");
}

#[tokio::test]
async fn a_session_clamd_closed_while_pooled_still_scans() {
    let clamd = Clamd::start_with(ClamdOptions { read_timeout: Some(1), ..Default::default() }).await;
    let relay = Relay::start(&clamd).await;
    let client = Client::new(settings(relay.address()));
    assert_eq!(client.scan(b"first").await.unwrap(), Verdict::Clean);
    assert_eq!(client.scan(EICAR).await.unwrap(), found(EICAR_SIGNATURE));
    assert_eq!(relay.connections.load(Ordering::SeqCst), 1, "the second scan reused the session");
    // clamd ends a session that sends no command for ReadTimeout (1 s here, counted in whole
    // seconds: it closes between 1 and 2 s after the last command).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(client.scan(EICAR).await.unwrap(), found(EICAR_SIGNATURE));
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2, "a fresh connection replaced the closed session");
}

/// A clamd stand-in that answers the first command of each connection and then, on the
/// first connection only, closes without answering the second: a session clamd drops while
/// the client is already sending on it.
async fn closes_after_one_answer() -> (ClamdAddress, Arc<AtomicUsize>) {
    async fn command(conn: &mut TcpStream) -> Option<Vec<u8>> {
        let mut cmd = Vec::new();
        loop {
            let b = conn.read_u8().await.ok()?;
            if b == 0 {
                return Some(cmd);
            }
            cmd.push(b);
        }
    }
    async fn answer(conn: &mut TcpStream, id: u32) -> Option<()> {
        let cmd = command(conn).await?;
        assert_eq!(cmd, b"zINSTREAM");
        loop {
            let len = conn.read_u32().await.ok()?;
            if len == 0 {
                break;
            }
            let mut chunk = vec![0; len as usize];
            conn.read_exact(&mut chunk).await.ok()?;
        }
        conn.write_all(format!("{id}: stream: OK\0").as_bytes()).await.ok()
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = ClamdAddress::Tcp(listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                assert_eq!(command(&mut conn).await.unwrap(), b"zIDSESSION");
                answer(&mut conn, 1).await?;
                if n == 0 {
                    command(&mut conn).await?;
                    return None; // dropped: closed without an answer
                }
                for id in 2.. {
                    answer(&mut conn, id).await?;
                }
                Some(())
            });
        }
    });
    (address, connections)
}

#[tokio::test]
async fn a_reused_session_closed_before_it_answered_is_retried_once_on_a_fresh_connection() {
    let (address, connections) = closes_after_one_answer().await;
    let client = Client::new(settings(address));
    assert_eq!(client.scan(b"first").await.unwrap(), Verdict::Clean);
    assert_eq!(client.scan(b"second").await.unwrap(), Verdict::Clean, "the caller sees no error");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert_eq!(client.scan(b"third").await.unwrap(), Verdict::Clean);
    assert_eq!(connections.load(Ordering::SeqCst), 2, "the fresh session went to the pool");
}
