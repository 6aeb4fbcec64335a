//! Random batches of URLs whose destinations collide in every way (names
//! from URLs, `out=` fields, `X` and `X.part`, folders, and names a server
//! suggests under `--content-disposition`), downloaded concurrently: after
//! the run, every `ok` record's file holds exactly its URL's bytes, every
//! other URL failed with a reason, and `-d` holds nothing else (issue 8).
//! The registry's rule itself is fuzzed (`fuzz/fuzz_targets/claims.rs`) and
//! property-tested without the binary (properties.rs).

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use tempfile::TempDir;

use crate::support::server::{self, drip, with_header};
use crate::support::{haul_in, pseudo_random, run, sha256_hex, tree, write_list};

const NAMES: &[&str] = &["a", "a.part", "a.part.part", "b", "sub/a", "sub/a.part"];

#[derive(Clone, Debug)]
enum Named {
    /// By the URL's last segment.
    Url,
    /// By an `out=` field.
    Out,
    /// By the server's `Content-Disposition` (with the flag on).
    Server,
}

#[derive(Clone, Debug)]
struct Item {
    name: &'static str,
    named: Named,
    /// Give the line a (correct) `sha256=`.
    digest: bool,
}

fn item() -> impl Strategy<Value = Item> {
    (
        select(NAMES),
        prop_oneof![Just(Named::Url), Just(Named::Out), Just(Named::Server)],
        any::<bool>(),
    )
        .prop_map(|(name, named, digest)| Item {
            name,
            named,
            digest,
        })
}

fn body(i: usize) -> Vec<u8> {
    pseudo_random(i as u64 + 100, 3000 + 517 * i)
}

fn check_batch(items: &[Item]) {
    let suggested: BTreeMap<String, String> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| matches!(item.named, Named::Server))
        .map(|(i, item)| {
            (
                format!("/{i}"),
                item.name.rsplit('/').next().unwrap().into(),
            )
        })
        .collect();
    let server = server::http(move |req| {
        let path = req.uri().path().to_string();
        let i: usize = path[1..].split('/').next().unwrap().parse().unwrap();
        let mut res = drip(body(i), 1024, Duration::from_millis(5));
        if let Some(name) = suggested.get(&format!("/{i}")) {
            let value = format!("attachment; filename=\"{name}\"");
            res = with_header(res, "content-disposition", &value);
        }
        async move { res }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();
    let mut lines = Vec::new();
    let mut bodies = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let url = match item.named {
            Named::Url => server.url(&format!("/{i}/{}", item.name)),
            _ => server.url(&format!("/{i}/dl")),
        };
        let mut line = url.clone();
        if matches!(item.named, Named::Out) {
            line.push_str(&format!(" out={}", item.name));
        }
        if item.digest {
            line.push_str(&format!(" sha256={}", sha256_hex(&body(i))));
        }
        lines.push(line);
        bodies.insert(url, body(i));
    }
    write_list(tmp.path(), "urls.txt", &lines);
    let cd = items.iter().any(|i| matches!(i.named, Named::Server));

    let mut cmd = haul_in(tmp.path());
    cmd.args(["-i", "urls.txt", "-d", "out", "-j4", "--report", "-"]);
    if cd {
        cmd.arg("--content-disposition");
    }
    let out = run(&mut cmd);

    let records = out.stdout_report();
    assert_eq!(records.len(), items.len(), "{items:?}\n{out}");
    let mut saved = BTreeMap::new();
    for rec in &records {
        let url = rec["url"].as_str().unwrap();
        match rec["status"].as_str().unwrap() {
            "ok" => {
                let path = rec["path"].as_str().unwrap();
                let rel = path.strip_prefix("out/").expect("under -d");
                let previous = saved.insert(rel.to_string(), bodies[url].clone());
                assert!(previous.is_none(), "{rel} reported twice\n{out}");
            }
            "failed" => {
                let error = rec["error"].as_str().unwrap_or_default();
                assert!(!error.is_empty(), "{rec}");
            }
            other => panic!("unexpected status {other}: {rec}\n{out}"),
        }
    }
    assert!(!saved.is_empty(), "the first claim always wins\n{out}");
    let got = tree(&tmp.path().join("out"));
    assert!(
        got == saved,
        "-d holds {:?}, the ok records say {:?}\n{items:?}\n{out}",
        got.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        saved.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
    );
    let ok = records.iter().filter(|r| r["status"] == "ok").count();
    let code = if ok == items.len() { 0 } else { 1 };
    out.assert_code(code);
}

proptest! {
    // Each case runs the binary: a few dozen cases stay within seconds.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn colliding_batches_keep_every_file_whole(items in vec(item(), 2..7)) {
        check_batch(&items);
    }
}

/// An anchor: the batch that collides in every way at once.
#[test]
fn every_kind_of_collision_in_one_batch() {
    let item = |name, named, digest| Item {
        name,
        named,
        digest,
    };
    check_batch(&[
        item("a", Named::Url, true),
        item("a.part", Named::Out, false),
        item("a", Named::Server, true),
        item("a.part", Named::Server, false),
        item("sub/a", Named::Out, true),
        item("sub/a.part", Named::Url, false),
    ]);
}
