//! Globs: the raw input as a pattern (no panic; counts and expansions
//! consistent), then the same bytes read as a generated valid pattern whose
//! count and first expansions must match an independent model.

#![no_main]

use arbitrary::Unstructured;
use haul_fuzz::{GlobCase, check_expand};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_expand(text, 64);
    }
    if let Ok(case) = GlobCase::new(&mut Unstructured::new(data)) {
        case.check();
    }
});
