//! `--cacert`, `--capath`, `--cert`/`--key`: a server whose certificate a
//! given CA signed is trusted (and is not without the flag); a self-signed
//! server certificate marked CA:TRUE given with `--cacert` is trusted for
//! its own names and while valid, and no other; a server that requires a
//! client certificate gets one from `--cert` and `--key`, or from one file
//! holding both; `-k` still turns verification off, client certificate or
//! not; a file haul cannot use (missing, a folder, a DER file, `/dev/zero`,
//! a FIFO with no writer, an encrypted key, a key that is not the certificate's) is an input
//! error (exit 2) naming it, before any request; a key file others can
//! read is a warning.
//!
//! Not here: reading a certificate's validity, the PEM written for a
//! client certificate under `-k` (unit tests in `src/tls.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tempfile::TempDir;

use crate::support::server::{self, Ca, Issued, Server, ok};
use crate::support::{assert_out_holds, haul_in, mkfifo, run, write_file};

/// A server for `/a.txt` with `cert`, requiring a certificate `client_ca`
/// signed when given.
fn serve(cert: &Issued, client_ca: Option<&Ca>) -> Server {
    server::https_as(cert, &[], client_ca, |_req| async { ok("over tls") })
}

/// haul fetching `url` in `dir` with `args`, no retries.
fn fetch(dir: &Path, url: &str, args: &[&str]) -> crate::support::Output {
    run(haul_in(dir)
        .args([url, "--retries", "0", "-d", "out"])
        .args(args))
}

/// Writes `text` to `dir/name` with `mode`, and returns its path as text.
fn file(dir: &Path, name: &str, text: &str, mode: u32) -> String {
    let path = write_file(dir, name, text.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_string()
}

/// Contract: a server whose certificate an unknown CA signed fails the
/// URL (exit 1); with `--cacert` of that CA it is trusted.
#[test]
fn cacert_trusts_the_ca_of_a_server() {
    let ca = Ca::new("test CA");
    let server = serve(&ca.server(), None);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    let ca_pem = file(tmp.path(), "ca.pem", &ca.pem(), 0o644);

    fetch(tmp.path(), &url, &[])
        .assert_code(1)
        .assert_failure(&url, &["certificate"]);
    // Another CA's certificate does not help.
    let other = file(tmp.path(), "other.pem", &Ca::new("other").pem(), 0o644);
    fetch(tmp.path(), &url, &["--cacert", &other]).assert_code(1);

    fetch(tmp.path(), &url, &["--cacert", &ca_pem])
        .assert_code(0)
        .assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls"[..])]);
}

/// Contract: `--capath DIR` trusts the certificates of DIR's `*.pem` and
/// `*.crt` files; other names are not read.
#[test]
fn capath_trusts_the_pem_and_crt_files_of_a_folder() {
    let ca = Ca::new("test CA");
    let server = serve(&ca.server(), None);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    std::fs::create_dir(tmp.path().join("cas")).unwrap();
    file(tmp.path(), "cas/other.pem", &Ca::new("other").pem(), 0o644);
    file(tmp.path(), "cas/notes.txt", "not a certificate", 0o644);

    fetch(tmp.path(), &url, &["--capath", "cas"]).assert_code(1);

    file(tmp.path(), "cas/ca.crt", &ca.pem(), 0o644);
    fetch(tmp.path(), &url, &["--capath", "cas"])
        .assert_code(0)
        .assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls"[..])]);
}

/// Contract: a self-signed server certificate marked CA:TRUE (what
/// `openssl req -x509` makes), given with `--cacert`, is trusted (webpki
/// alone refuses a CA as the server's own certificate; curl takes it), for
/// its own names only, while valid, and only that very certificate.
#[test]
fn a_self_signed_ca_true_certificate_given_with_cacert_is_trusted() {
    let tmp = TempDir::new().unwrap();
    let cert = Issued::self_signed_ca(&["localhost", "127.0.0.1"], false);
    let server = serve(&cert, None);
    let url = server.url("/a.txt");
    let pem = file(tmp.path(), "self.pem", &cert.cert_pem(), 0o644);

    fetch(tmp.path(), &url, &[]).assert_code(1);
    let another = Issued::self_signed_ca(&["localhost", "127.0.0.1"], false);
    let another = file(tmp.path(), "another.pem", &another.cert_pem(), 0o644);
    fetch(tmp.path(), &url, &["--cacert", &another]).assert_code(1);

    fetch(tmp.path(), &url, &["--cacert", &pem])
        .assert_code(0)
        .assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls"[..])]);

    // Not for a name it does not hold (reached as 127.0.0.1).
    let elsewhere = Issued::self_signed_ca(&["localhost"], false);
    let server = serve(&elsewhere, None).expect_no_hits();
    let pem = file(tmp.path(), "elsewhere.pem", &elsewhere.cert_pem(), 0o644);
    fetch(tmp.path(), &server.url("/b.txt"), &["--cacert", &pem])
        .assert_code(1)
        .assert_failure(&server.url("/b.txt"), &["certificate"]);

    // Not once expired.
    let expired = Issued::self_signed_ca(&["localhost", "127.0.0.1"], true);
    let server = serve(&expired, None).expect_no_hits();
    let pem = file(tmp.path(), "expired.pem", &expired.cert_pem(), 0o644);
    fetch(tmp.path(), &server.url("/c.txt"), &["--cacert", &pem]).assert_code(1);
}

/// Contract: a server that requires a client certificate refuses haul
/// without `--cert`, and takes the one `--cert` and `--key` give, or one
/// file holding both.
#[test]
fn a_client_certificate_is_sent() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let server = serve(&ca.server(), Some(&clients));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    let ca_pem = file(tmp.path(), "ca.pem", &ca.pem(), 0o644);
    let client = clients.client("haul");
    let cert = file(tmp.path(), "client.pem", &client.cert_pem(), 0o644);
    let key = file(tmp.path(), "client.key", &client.key_pem(), 0o600);
    let both = file(
        tmp.path(),
        "both.pem",
        &format!("{}{}", client.cert_pem(), client.key_pem()),
        0o600,
    );

    fetch(tmp.path(), &url, &["--cacert", &ca_pem]).assert_code(1);
    // A certificate the server's CA did not sign is refused too.
    let stranger = Ca::new("stranger").client("haul");
    let s_cert = file(tmp.path(), "s.pem", &stranger.cert_pem(), 0o644);
    let s_key = file(tmp.path(), "s.key", &stranger.key_pem(), 0o600);
    fetch(
        tmp.path(),
        &url,
        &["--cacert", &ca_pem, "--cert", &s_cert, "--key", &s_key],
    )
    .assert_code(1);

    let out = fetch(
        tmp.path(),
        &url,
        &["--cacert", &ca_pem, "--cert", &cert, "--key", &key],
    );
    out.assert_code(0).assert_summary(1, 0, 0);
    assert!(!out.stderr.contains("readable by others"), "{out}");
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls"[..])]);

    let out = fetch(
        tmp.path(),
        &server.url("/b.txt"),
        &["--cacert", &ca_pem, "-E", &both],
    );
    out.assert_code(0).assert_summary(1, 0, 0);
}

/// Contract: `-k` still accepts any server certificate, and sends the
/// client certificate `--cert` names.
#[test]
fn insecure_still_works_with_a_client_certificate() {
    let clients = Ca::new("client CA");
    let server = serve(&Ca::new("unknown").server(), Some(&clients));
    let tmp = TempDir::new().unwrap();
    let client = clients.client("haul");
    let cert = file(tmp.path(), "client.pem", &client.cert_pem(), 0o644);
    let key = file(tmp.path(), "client.key", &client.key_pem(), 0o600);
    let ca_pem = file(tmp.path(), "other.pem", &Ca::new("other").pem(), 0o644);

    fetch(tmp.path(), &server.url("/a.txt"), &["-k"]).assert_code(1);
    fetch(
        tmp.path(),
        &server.url("/a.txt"),
        &["-k", "--cert", &cert, "--key", &key, "--cacert", &ca_pem],
    )
    .assert_code(0)
    .assert_summary(1, 0, 0);
}

/// Contract: a key file that group or others can read is a warning (the
/// run goes on).
#[test]
fn a_key_file_others_can_read_gets_a_warning() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let server = serve(&ca.server(), Some(&clients));
    let tmp = TempDir::new().unwrap();
    let client = clients.client("haul");
    let ca_pem = file(tmp.path(), "ca.pem", &ca.pem(), 0o644);
    let cert = file(tmp.path(), "client.pem", &client.cert_pem(), 0o644);
    let key = file(tmp.path(), "client.key", &client.key_pem(), 0o644);

    let out = fetch(
        tmp.path(),
        &server.url("/a.txt"),
        &["--cacert", &ca_pem, "--cert", &cert, "--key", &key],
    );
    out.assert_code(0);
    assert!(
        out.stderr.contains(&format!("{key} is readable by others")),
        "{out}"
    );
}

/// Contract: a file the TLS flags name that haul cannot use is an input
/// error (exit 2) naming it and why, before any request.
#[test]
fn an_unusable_tls_file_is_an_input_error_naming_it() {
    let server = server::https(|_req| async { ok("x") }).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    let ca = Ca::new("test CA");
    let client = ca.client("haul");
    let cert = file(tmp.path(), "client.pem", &client.cert_pem(), 0o644);
    let key = file(tmp.path(), "client.key", &client.key_pem(), 0o600);
    let der = write_file(tmp.path(), "ca.der", &ca.der());
    let der = der.to_str().unwrap();
    let encrypted = file(
        tmp.path(),
        "enc.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        0o600,
    );
    let legacy = file(
        tmp.path(),
        "legacy.key",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END RSA PRIVATE KEY-----\n",
        0o600,
    );
    let other_key = file(tmp.path(), "other.key", &ca.client("x").key_pem(), 0o600);
    std::fs::create_dir(tmp.path().join("folder")).unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let missing = tmp.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    // A FIFO with no writer reads as empty, at once.
    mkfifo(&tmp.path().join("fifo.pem"), 0o600);

    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--cacert", missing], missing, "cannot open"),
        (vec!["--cacert", "folder"], "folder", "folder"),
        (vec!["--cacert", der], der, "no PEM certificate"),
        (vec!["--cacert", &key], &key, "no PEM certificate"),
        (vec!["--cacert", "/dev/zero"], "/dev/zero", "16 MiB"),
        (
            vec!["--cacert", "fifo.pem"],
            "fifo.pem",
            "no PEM certificate",
        ),
        (vec!["--capath", "empty"], "empty", "no *.pem or *.crt"),
        (vec!["--capath", missing], missing, "cannot read"),
        (vec!["--cert", &cert], &cert, "no PEM private key"),
        (
            vec!["--cert", &key, "--key", &key],
            &key,
            "no PEM certificate",
        ),
        (
            vec!["--cert", &cert, "--key", &cert],
            &cert,
            "no PEM private key",
        ),
        (
            vec!["--cert", &cert, "--key", missing],
            missing,
            "cannot open",
        ),
        (
            vec!["--cert", &cert, "--key", &encrypted],
            &encrypted,
            "openssl pkey -in",
        ),
        (
            vec!["--cert", &cert, "--key", &legacy],
            &legacy,
            "does not read encrypted keys",
        ),
        (
            vec!["--cert", &cert, "--key", &other_key],
            &other_key,
            "is not the key of the client certificate",
        ),
        (
            vec!["-k", "--cert", der, "--key", &key],
            der,
            "no PEM certificate",
        ),
    ];
    for (args, named, why) in cases {
        let out = fetch(tmp.path(), &url, &args);
        out.assert_code(2);
        assert!(
            out.stderr.contains(named) && out.stderr.contains(why),
            "{args:?}: expected {named:?} and {why:?}:\n{out}"
        );
    }
}

/// Contract: a refused certificate is final: no retry meets another one
/// (one attempt, whatever `--retries`); on a list line with mirrors, the
/// next URL is asked.
#[test]
fn a_refused_certificate_is_not_retried_and_a_mirror_is_asked() {
    let ca = Ca::new("test CA");
    // Never asked: the handshake fails.
    let untrusted = serve(&ca.server(), None).any_hits();
    let tmp = TempDir::new().unwrap();
    let url = untrusted.url("/a.txt");
    let out = run(haul_in(tmp.path())
        .args([&url, "-d", "out", "--retries", "3", "--retry-wait", "10ms"])
        .args(["--report", "-"]));
    out.assert_code(1).assert_failure(&url, &["certificate"]);
    let report = out.stdout_report();
    assert_eq!(crate::support::record(&report, &url)["attempts"], 1);

    let plain = server::files([("/a.txt", b"plain".to_vec())]);
    let list = write_file(
        tmp.path(),
        "urls.txt",
        format!("{url} {}\n", plain.url("/a.txt")).as_bytes(),
    );
    let out = run(haul_in(tmp.path())
        .arg("-i")
        .arg(&list)
        .args(["-d", "out2", "--retries", "0"]));
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        std::fs::read(tmp.path().join("out2/a.txt")).unwrap(),
        b"plain"
    );
}
