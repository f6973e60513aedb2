//! Opening arbitrary bytes with a password, and finding the password candidates of arbitrary
//! text: an error is fine, a crash, an overflow or a hang is not. The first byte picks the
//! password, so that the fuzzer can reach the decryption with a right one for its corpus
//! (seed it with crates/inspect/tests/fixtures/unlock/, whose password is the first here).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::unlock::{TryLimits, password_candidates, try_candidates, unlock};

const PASSWORDS: [&str; 4] = ["Kx7#pQ2v", "パス１２３abc", "", "wrong"];

fuzz_target!(|raw: &[u8]| {
    let Some((&pick, bytes)) = raw.split_first() else {
        return;
    };
    let limits = Limits { max_total_uncompressed: 16 << 20, max_entry_size: 8 << 20, ..Limits::default() };
    let _ = unlock("fuzz", bytes, PASSWORDS[usize::from(pick) % PASSWORDS.len()], &limits);
    let candidates = password_candidates(&String::from_utf8_lossy(bytes));
    let tries = TryLimits { max_tries: 3, max_sevenz_work: 1 };
    let _ = try_candidates("fuzz", bytes, &candidates, &limits, &tries);
});
