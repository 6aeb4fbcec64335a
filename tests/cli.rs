//! The single integration-test crate for `haul` (ripgrep and xh keep one too):
//! it spawns the built binary against the in-process server in `support`.
//!
//! Unit tests of parsing, templates and planning live next to the code in `src/`.

mod cases;
mod support;
