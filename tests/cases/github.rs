//! `GITHUB_ACTIONS=true`: each failed URL is also an `::error::` annotation
//! (the first ten, then one line counting the rest), escaped so that a
//! server's text cannot start a workflow command, and the progress lines
//! are folded in a `::group::` that ends before the summary.

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::{haul_in, run, server};

#[test]
fn failures_become_capped_escaped_annotations() {
    let server = server::http(|req| {
        let code = if req.uri().path() == "/ok" {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        async move { server::status(code) }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .args([&server.url("/ok"), &server.url("/gone%25[1-12]")])
        .args(["-o", "{n}", "-d", "out"]));

    out.assert_code(1).assert_summary(1, 0, 12);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 11, "{out}");
    assert!(
        errors[..10]
            .iter()
            .all(|l| l.starts_with("::error title=haul::haul: ")),
        "{out}"
    );
    // `%` in the data is escaped for the runner (the URLs hold `%25`); the
    // failures come in no fixed order.
    assert!(
        errors[..10].iter().all(|l| l.contains("/gone%2525")),
        "{errors:?}"
    );
    assert!(errors[10].contains("and 2 more failed URLs"), "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines[0], "::group::haul progress", "{out}");
    let end = lines
        .iter()
        .position(|l| *l == "::endgroup::")
        .expect("the group ends");
    assert!(end < lines.len() - 1, "{out}");
    assert_eq!(out.summary(), *lines.last().unwrap());

    // Without the variable: no workflow commands at all.
    let plain = run(haul_in(tmp.path()).args([&server.url("/gone%25[1-2]"), "-d", "plain"]));
    assert!(!plain.stderr.contains("::"), "{plain}");
}
