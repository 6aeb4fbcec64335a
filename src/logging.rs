//! tracing-subscriber set-up: stderr only, level from `-q`/`-v` (libraries'
//! own logs from `-v` on; `RUST_LOG` overrides with a full filter), no timestamps or targets unless debugging,
//! written through the progress display so log lines never tear the bars.

use tracing_subscriber::EnvFilter;

use crate::progress::LogWriter;

pub fn init(verbose: u8, quiet: bool, writer: LogWriter) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // Libraries speak only with -v: their errors (a certificate that does
    // not verify, say) are already in haul's one failure line per URL, and
    // `-q` means haul's errors only.
    let others = if quiet || verbose == 0 { "off" } else { "warn" };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("haul={level},{others}")));
    let debugging = verbose >= 2 || std::env::var_os("RUST_LOG").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(debugging);
    // A second initialisation (tests calling `run` twice) is harmless.
    if debugging {
        let _ = builder.try_init();
    } else {
        let _ = builder.without_time().with_level(true).try_init();
    }
}
