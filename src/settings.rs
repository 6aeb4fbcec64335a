//! The settings a download and the session act on, as types: what
//! `--on-exists`, `--split`, `--shard`, `--deadline`, `--rate` and
//! `--progress` mean once parsed. `cli/` parses flags into them (clap
//! derives the choices of the plain enums from here); `config.rs` gathers
//! them; `plan.rs`, `runner/`, `fetch/` and `progress.rs` read them.
//! Nothing here parses or validates text.

use std::time::{Duration, SystemTime};

use clap::ValueEnum;

/// `--on-exists`: what to do with a destination that is already there.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnExists {
    /// Leave an existing file alone and count it as done (no request)
    Skip,
    /// Download again and replace it
    Overwrite,
    /// Conditional request; keep the file when the server answers 304
    Update,
}

/// `--progress`: bars on a terminal, plain periodic lines, or nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Bar,
    Log,
    None,
}

/// `--shard K/N`: this machine takes the positions `i` with `i % n == k - 1`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

/// `--deadline`: a time from now, or a point in time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Deadline {
    After(Duration),
    At(SystemTime),
}

/// `--rate`: requests started per second per host.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Rate {
    /// The time between two starts to one host.
    pub interval: Duration,
}

/// `--split`: a fixed number of connections per file, or grown while it
/// helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Fixed(u16),
    Auto,
}
