//! Opens messages as inbound inspection does (`content::open_message`), for counting the
//! instructions it takes: `open_message ROUNDS FILE...` opens each file ROUNDS times and prints
//! how many files the messages held. Run under `valgrind --tool=callgrind
//! --toggle-collect='sekisho_inspect::content::open_message*'` to count only the opening.

use sekisho_inspect::content::open_message;
use sekisho_inspect::mime::MessageLimits;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).expect("usage: open_message ROUNDS FILE...");
    let messages: Vec<Vec<u8>> = args.map(|path| std::fs::read(&path).expect("readable message")).collect();
    let limits = MessageLimits::default();
    let mut files = 0;
    for _ in 0..rounds {
        for raw in &messages {
            let contents = open_message(raw, &limits).expect("an inspectable message");
            files += contents.files.iter().map(|f| f.walk().len()).sum::<usize>();
        }
    }
    println!("{} messages opened, {files} files", rounds * messages.len());
}
