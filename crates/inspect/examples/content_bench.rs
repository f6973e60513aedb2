//! Benchmark of the content walk, in release:
//! - `message` (default): `open_message` on a 1 MB message carrying a 1 MB ZIP of 20 entries
//!   (base64), CPU time per message (the thread's CPU clock, each run measured alone: median,
//!   minimum and mean, since other processes on a shared machine slow single runs down), and
//!   the encrypted-file check (`inspect_message`, what submission runs) on the same message;
//! - `bombs`: each decompression-bomb construction built and opened once in a process of its
//!   own: wall and CPU time of `open_file`, the process's peak RSS before (building the bomb)
//!   and after opening it, and the state it ended in.
//!
//! Run: `cargo run --release -p sekisho-inspect --example content_bench [message|bombs] [N]`.

use std::io::Write;
use std::time::Instant;

use sekisho_inspect::content::{Node, State, open_file, open_message};
use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::mime::{MessageLimits, inspect_message};

const MIB: usize = 1 << 20;

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a timespec, a valid clock id.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn peak_rss_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// Bytes that do not compress (xorshift), like the photos and PDFs of a real archive.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn message_with(name: &str, file: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(file);
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "From: alice@example.jp\r\nTo: bob@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         The password is in the next mail.\r\n--b\r\nContent-Type: application/zip; name=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

fn message_bench(n: usize) {
    // 20 entries: 16 incompressible (photos, PDFs), 4 text that deflates; about 1 MB zipped.
    let mut entries = Vec::new();
    for i in 0..16 {
        entries.push((format!("scan-{i:02}.jpg"), noise(56 * 1024, i + 1)));
    }
    for i in 0..4 {
        entries.push((format!("notes-{i}.txt"), "Quarterly figures, line after line.\n".repeat(3000).into_bytes()));
    }
    let archive = zip(&entries);
    let raw = message_with("files.zip", &archive);
    let limits = MessageLimits::default();
    let contents = open_message(&raw, &limits).unwrap();
    let nodes: usize = contents.files.iter().map(|f| f.walk().len()).sum();
    println!("message {} bytes, zip {} bytes, {} entries, {nodes} nodes", raw.len(), archive.len(), entries.len());
    for (label, run) in [
        ("open_message (content tree)", &(|| drop(open_message(&raw, &limits).unwrap())) as &dyn Fn()),
        ("inspect_message (submission check)", &|| drop(inspect_message(&raw, &limits).unwrap())),
        ("mail-parser's parse alone (its base64 decoding included)", &|| {
            drop(mail_parser::MessageParser::default().parse(&raw[..]).unwrap())
        }),
    ] {
        run();
        let mut times: Vec<f64> = (0..n)
            .map(|_| {
                let start = thread_cpu();
                run();
                (thread_cpu() - start) * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / n as f64;
        println!(
            "{label}: CPU ms per message: median {:.2}, min {:.2}, mean {mean:.2} ({n} runs)",
            times[n / 2],
            times[0]
        );
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
}

fn state(root: &Node) -> String {
    root.walk()
        .into_iter()
        .find_map(|n| match &n.state {
            State::Unreadable { why } => Some(format!("{}: Unreadable {{ {why} }}", n.name)),
            _ => None,
        })
        .unwrap_or_else(|| "NOT STOPPED".into())
}

const BOMBS: usize = 8;

/// Bomb `i`: its label and bytes.
fn bomb(i: usize) -> (&'static str, Vec<u8>) {
    let chunk = vec![0u8; MIB];
    match i {
        0 => {
            // 42.zip: five levels of 16 copies, 4 MiB of zeros at the bottom (4 TiB in all).
            let mut level = zip(&[("0.dat".into(), vec![0u8; 4 * MIB])]);
            for depth in 1..=5 {
                let entries: Vec<(String, Vec<u8>)> =
                    (0..16).map(|i| (format!("lib{depth}_{i:x}.zip"), level.clone())).collect();
                level = zip(&entries);
            }
            ("42.zip-style nesting (4 TiB)", level)
        }
        1 => {
            // Fifield: 2000 central directory entries over one kernel of 16 MiB of zeros.
            let kernel = zip(&[("k".into(), vec![0u8; 16 * MIB])]);
            let end = kernel.len() - 22;
            let cd_offset = u32::from_le_bytes(kernel[end + 16..end + 20].try_into().unwrap()) as usize;
            let one = kernel[cd_offset..end].to_vec();
            let mut bomb = kernel[..cd_offset].to_vec();
            for i in 0..2000u16 {
                let mut entry = one.clone();
                entry[46] = (i % 251) as u8;
                bomb.extend_from_slice(&entry);
            }
            let cd_size = (bomb.len() - cd_offset) as u32;
            bomb.extend_from_slice(b"PK\x05\x06\0\0\0\0");
            bomb.extend_from_slice(&2000u16.to_le_bytes());
            bomb.extend_from_slice(&2000u16.to_le_bytes());
            bomb.extend_from_slice(&cd_size.to_le_bytes());
            bomb.extend_from_slice(&(cd_offset as u32).to_le_bytes());
            bomb.extend_from_slice(&[0, 0]);
            ("overlapping entries, Fifield (32 GiB)", bomb)
        }
        2 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            (0..1024).for_each(|_| gz.write_all(&chunk).unwrap());
            ("gzip of 1 GiB of zeros", gz.finish().unwrap())
        }
        3 => {
            let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            (0..1024).for_each(|_| bz.write_all(&chunk).unwrap());
            ("bzip2 of 1 GiB of zeros", bz.finish().unwrap())
        }
        4 => {
            let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
            (0..1024).for_each(|_| xz.write_all(&chunk).unwrap());
            ("xz of 1 GiB of zeros", xz.finish().unwrap())
        }
        7 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            (0..10 * 1024).for_each(|_| gz.write_all(&chunk).unwrap());
            ("gzip of 10 GiB of zeros", gz.finish().unwrap())
        }
        5 => {
            let mut tar = Vec::new();
            for i in 0..100_000 {
                let mut header = [0u8; 512];
                let name = format!("f{i}");
                header[..name.len()].copy_from_slice(name.as_bytes());
                header[124..136].copy_from_slice(b"00000000000\0");
                header[156] = b'0';
                header[257..263].copy_from_slice(b"ustar\0");
                header[148..156].copy_from_slice(b"        ");
                let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
                header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                tar.extend_from_slice(&header);
            }
            ("tar of 100,000 entries", tar)
        }
        _ => {
            let mut level = zip(&[("r.txt".into(), b"r".to_vec())]);
            for _ in 0..1000 {
                level = zip(&[("r.zip".into(), level)]);
            }
            ("a zip holding itself 1000 deep", level)
        }
    }
}

/// Opens bomb `i` (in a process of its own, so that peak RSS is its own).
fn one_bomb(i: usize) {
    let (label, bomb) = bomb(i);
    let before = peak_rss_mib();
    let cpu = thread_cpu();
    let start = Instant::now();
    let root = open_file("bomb", &bomb, &Limits::default());
    let took = start.elapsed();
    let cpu = thread_cpu() - cpu;
    println!(
        "| {label} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {} |",
        bomb.len(),
        took.as_secs_f64() * 1e3,
        cpu * 1e3,
        before,
        peak_rss_mib(),
        state(&root)
    );
}

fn bomb_bench() {
    println!("| bomb | bytes | wall ms | CPU ms | peak RSS before, MiB | peak RSS after, MiB | state |");
    println!("|---|---|---|---|---|---|---|");
    let me = std::env::current_exe().expect("exe");
    for i in 0..BOMBS {
        let status = std::process::Command::new(&me).args(["bomb", &i.to_string()]).status().expect("run");
        assert!(status.success());
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "message".into());
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    match mode.as_str() {
        "bombs" => bomb_bench(),
        "bomb" => one_bomb(n),
        _ => message_bench(n),
    }
}
