//! The collision registry: the input is `SELECTOR NAME (0xFF NAME)...`
//! (0xFF never occurs in UTF-8; each name is decoded lossily); the
//! selector's low bit turns case-insensitive comparison on. Whatever the
//! names, no two accepted claims share a file (`NAME` or `NAME.part`), and
//! a refusal always points at a taken file.

#![no_main]

use haul_fuzz::check_claims;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let names: Vec<String> = rest
        .split(|&b| b == 0xFF)
        .take(64)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    check_claims(&names, selector & 1 == 1);
});
