//! Runs every file under the given directories through `open_file` (and messages through
//! `open_message` too) and prints the counts: files, nodes, states, hazards, types, time.
//!
//! ```text
//! cargo run --release -p sekisho-inspect --example corpus -- \
//!     /usr/share/clamav-testfiles crates/inspect/tests/corpus/mail-parser
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sekisho_inspect::content::{Hazard, Node, State, open_file, open_message};
use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::mime::MessageLimits;

#[derive(Default)]
struct Counts {
    files: usize,
    bytes: u64,
    messages: usize,
    message_errors: BTreeMap<String, usize>,
    nodes: usize,
    states: BTreeMap<&'static str, usize>,
    hazards: BTreeMap<String, usize>,
    types: BTreeMap<String, usize>,
    time: Duration,
    slowest: (Duration, PathBuf),
}

impl Counts {
    fn tree(&mut self, root: &Node) {
        for node in root.walk() {
            self.nodes += 1;
            let state = match node.state {
                State::Open => "open",
                State::Encrypted { .. } => "encrypted",
                State::Unreadable { .. } => "unreadable",
            };
            *self.states.entry(state).or_default() += 1;
            *self.types.entry(node.file_type.clone()).or_default() += 1;
            for h in &node.hazards {
                let name = match h {
                    Hazard::Executable(x) => format!("Executable({x})"),
                    Hazard::Script(x) => format!("Script({x})"),
                    Hazard::Shortcut => "Shortcut".into(),
                    Hazard::DiskImage(x) => format!("DiskImage({x})"),
                    Hazard::Macros(x) => format!("Macros({x})"),
                    Hazard::ActiveContent(x) => format!("ActiveContent({x})"),
                    Hazard::HtmlSmuggling => "HtmlSmuggling".into(),
                    Hazard::NameMismatch { claimed, .. } => format!("NameMismatch(.{claimed})"),
                };
                *self.hazards.entry(name).or_default() += 1;
            }
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut all = Vec::new();
    let mut verbose = false;
    for arg in std::env::args().skip(1) {
        if arg == "--verbose" {
            verbose = true;
        } else {
            files(Path::new(&arg), &mut all);
        }
    }
    let mut c = Counts::default();
    let limits = Limits::default();
    let message_limits = MessageLimits::default();
    for path in &all {
        let bytes = std::fs::read(path).expect("readable");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let start = Instant::now();
        let root = open_file(&name, &bytes, &limits);
        let message = name.ends_with(".eml") || name.ends_with(".mail");
        let contents = message.then(|| open_message(&bytes, &message_limits));
        let took = start.elapsed();
        c.time += took;
        if took > c.slowest.0 {
            c.slowest = (took, path.clone());
        }
        if verbose {
            let exe = root.walk().iter().any(|n| n.hazards.iter().any(|h| matches!(h, Hazard::Executable(_))));
            let why = root.walk().iter().find_map(|n| match &n.state {
                State::Unreadable { why } => Some(format!("{}: {why}", n.name)),
                _ => None,
            });
            println!("{name}: {} nodes, {}, executable inside: {exe}, {why:?}", root.walk().len(), root.file_type);
        }
        c.files += 1;
        c.bytes += bytes.len() as u64;
        c.tree(&root);
        match contents {
            Some(Ok(contents)) => {
                c.messages += 1;
                for file in &contents.files {
                    c.tree(file);
                }
            }
            Some(Err(e)) => {
                c.messages += 1;
                let kind = e.to_string().split(':').next().unwrap_or_default().to_string();
                *c.message_errors.entry(kind).or_default() += 1;
            }
            None => {}
        }
    }
    println!("files: {} ({} bytes), of which messages: {}", c.files, c.bytes, c.messages);
    println!("nodes: {}", c.nodes);
    println!("states: {:?}", c.states);
    println!("hazards: {:?}", c.hazards);
    println!("message errors: {:?}", c.message_errors);
    let mut types: Vec<_> = c.types.into_iter().collect();
    types.sort_by_key(|t| std::cmp::Reverse(t.1));
    println!("types: {:?}", types);
    println!(
        "time: {:.1} ms in all, slowest {:.1} ms ({})",
        c.time.as_secs_f64() * 1e3,
        c.slowest.0.as_secs_f64() * 1e3,
        c.slowest.1.display()
    );
}
