//! The library entry point, `haul::run`, called in-process as a program
//! embedding haul would: a `Config` built from flags, progress hidden, and
//! a `stop` future instead of a real signal. It stops the run the way
//! Ctrl-C does (downloads in flight keep their `.part`, the summary says
//! interrupted), without signals or a child process.
//!
//! Not here: the binary's signal handling (reliability/signals.rs).

use std::time::Duration;

use clap::Parser;
use haul::{Cli, Config, Interrupt, Progress, ProgressMode};
use tempfile::TempDir;

use crate::support::server::{self, drip};
use crate::support::{pseudo_random, tree};

fn config(args: &[String]) -> Config {
    let cli = Cli::try_parse_from(std::iter::once("haul".to_string()).chain(args.iter().cloned()))
        .expect("valid flags");
    Config::from_cli(cli).expect("valid config")
}

fn slow_server(body: Vec<u8>) -> server::Server {
    server::http(move |_req| {
        let res = drip(body.clone(), 4 * 1024, Duration::from_millis(50));
        async move { res }
    })
}

#[tokio::test]
async fn a_run_stops_when_its_stop_future_resolves() {
    let body = pseudo_random(31, 64 * 1024);
    let server = slow_server(body.clone());
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let report = tmp.path().join("report.jsonl");
    let mut args: Vec<String> = (1..=3).map(|i| server.url(&format!("/{i}.bin"))).collect();
    args.extend(["-q".into(), "-d".into(), out.display().to_string()]);
    args.extend(["--report".into(), report.display().to_string()]);

    let stop = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Interrupt::Sigterm
    };
    let summary = haul::run(
        config(&args),
        Progress::new(ProgressMode::None, false),
        stop,
    )
    .await
    .unwrap();

    assert_eq!(summary.interrupted, Some(Interrupt::Sigterm), "{summary:?}");
    assert_eq!((summary.ok, summary.cancelled), (0, 3), "{summary:?}");
    let files = tree(&out);
    for i in 1..=3 {
        let part = files
            .get(&format!("{i}.bin.part"))
            .unwrap_or_else(|| panic!("{i}.bin.part kept for a resume: {:?}", files.keys()));
        assert!(!part.is_empty() && body.starts_with(part), "{i}.bin.part");
        assert!(!files.contains_key(&format!("{i}.bin")));
    }
    // Each record says how many bytes its stopped download kept.
    let text = std::fs::read_to_string(&report).unwrap();
    let records = crate::support::parse_json_lines(&text);
    assert_eq!(records.len(), 3, "{text}");
    for rec in &records {
        let name = rec["path"].as_str().unwrap().rsplit('/').next().unwrap();
        let kept = files[&format!("{name}.part")].len() as u64;
        assert_eq!(rec["bytes"], kept, "{rec}");
        assert_eq!(rec["error"], "interrupted", "{rec}");
    }
}

#[tokio::test]
async fn a_run_that_is_never_stopped_finishes_its_input() {
    let body = pseudo_random(32, 8 * 1024);
    let server = slow_server(body.clone());
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let args = vec![
        server.url("/[1-4].bin"),
        "-q".into(),
        "-d".into(),
        out.display().to_string(),
    ];

    let summary = haul::run(
        config(&args),
        Progress::new(ProgressMode::None, false),
        std::future::pending(),
    )
    .await
    .unwrap();

    assert_eq!((summary.ok, summary.failed), (4, 0), "{summary:?}");
    assert_eq!(summary.interrupted, None);
    let files = tree(&out);
    assert_eq!(files.len(), 4, "{:?}", files.keys());
    assert!(files.values().all(|f| *f == body));
}
