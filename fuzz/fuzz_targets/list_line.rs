//! List lines: the raw input as one line (no panic; blanks and comments
//! skipped, the URL is the first word), then the same bytes read as a
//! generated `URL [out=X] [sha256=HEX]` line that must round-trip.

#![no_main]

use arbitrary::Unstructured;
use haul_fuzz::{LineCase, check_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_line(text);
    }
    if let Ok(case) = LineCase::new(&mut Unstructured::new(data)) {
        case.check();
    }
});
