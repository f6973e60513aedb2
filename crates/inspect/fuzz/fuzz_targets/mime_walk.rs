//! The MIME walk over arbitrary bytes: the pre-scan, mail-parser, both walks and the drop of
//! what was parsed must return (a refusal is fine), never crash, overflow or hang.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_inspect::mime::{MessageLimits, attachments, inspect_message};

fuzz_target!(|raw: &[u8]| {
    let limits = MessageLimits::default();
    let _ = inspect_message(raw, &limits);
    let _ = attachments(raw, &limits, true);
    let _ = attachments(raw, &limits, false);
});
