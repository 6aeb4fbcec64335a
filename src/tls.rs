//! TLS flags: `--cacert`/`--capath` (more trusted roots) and
//! `--cert`/`--key` (a client certificate), read once before the run into
//! the TLS setup every transfer thread's client is built with (`http.rs`).
//!
//! Without these flags reqwest builds its own configuration: the platform
//! verifier (`rustls-platform-verifier`; on Linux the certificates of
//! `$SSL_CERT_FILE`/`$SSL_CERT_DIR` when either is set, else the system's
//! bundle). With them haul builds the same configuration itself, with the
//! same verifier given the extra roots, so that it can also accept what
//! webpki refuses and curl does not: a self-signed server certificate
//! marked CA:TRUE (`openssl req -x509` makes such) that the user gave with
//! `--cacert`/`--capath` ([`Pinned`]). `-k` keeps reqwest's own unverifying
//! configuration, with the client certificate if one is given.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// The TLS flags as given.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Flags<'a> {
    pub(crate) cacert: Option<&'a Path>,
    pub(crate) capath: Option<&'a Path>,
    pub(crate) cert: Option<&'a Path>,
    pub(crate) key: Option<&'a Path>,
    pub(crate) insecure: bool,
}

/// What a client is built with when a TLS flag is given.
#[derive(Debug, Clone)]
pub(crate) enum Tls {
    /// Verification on: the whole rustls configuration, roots, verifier,
    /// client certificate and ALPN.
    Verified(Arc<rustls::ClientConfig>),
    /// `-k` with `--cert`: reqwest's unverifying configuration, with this
    /// client certificate.
    Insecure(reqwest::Identity),
}

/// Reads the files the TLS flags name, `None` when none is given (or only
/// `--cacert`/`--capath` with `-k`, which verifies nothing). A file that
/// cannot be used is an error naming it; a key file group or others can
/// read is a warning.
pub(crate) fn setup(flags: Flags<'_>, warnings: &mut Vec<String>) -> Result<Option<Tls>> {
    let mut roots = Vec::new();
    if let Some(path) = flags.cacert {
        roots.extend(certificates(path).context("cannot use the --cacert file")?);
    }
    if let Some(dir) = flags.capath {
        roots.extend(folder(dir).context("cannot use the --capath folder")?);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let identity = match flags.cert {
        Some(cert) => Some(identity(cert, flags.key, &provider, warnings)?),
        None => None,
    };
    if flags.insecure {
        return identity
            .map(|(chain, key)| {
                let pem = identity_pem(&chain, &key);
                reqwest::Identity::from_pem(pem.as_bytes())
                    .map(Tls::Insecure)
                    .context("cannot use the --cert client certificate")
            })
            .transpose();
    }
    if roots.is_empty() && identity.is_none() {
        return Ok(None);
    }
    let platform = if roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots.clone(), provider.clone())
    }
    .context("cannot set up TLS verification")?;
    let verifier = Pinned {
        inner: Arc::new(platform),
        given: roots,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .context("cannot set up TLS")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("cannot use the --cert client certificate")?,
        None => builder.with_no_client_auth(),
    };
    // As reqwest offers them: HTTP/2 first, then HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Tls::Verified(Arc::new(config))))
}

/// The PEM certificates of the file at `path`: at least one, each one
/// webpki can take as a trust anchor.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let (bytes, _) = crate::small_file::read_bytes(path)?;
    let certs = pem_certificates(&bytes, path)?;
    for cert in &certs {
        webpki::anchor_from_trusted_cert(cert).map_err(|e| {
            anyhow::anyhow!(
                "{}: a certificate in it cannot be used as a trusted root ({e:?})",
                path.display()
            )
        })?;
    }
    Ok(certs)
}

/// The certificates of a PEM file's bytes; an error naming `path` when
/// there is none (a DER file among them) or one is damaged.
fn pem_certificates(bytes: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{shown}: damaged PEM ({e})"))?;
    if certs.is_empty() {
        bail!(
            "{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file \
             can be converted with: openssl x509 -inform der -in {shown} -out cert.pem"
        );
    }
    Ok(certs)
}

/// `--capath DIR`: the certificates of every `*.pem` and `*.crt` file in
/// DIR (not its subfolders), in name order; at least one such file.
fn folder(dir: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let shown = dir.display();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {shown}"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read the folder {shown}"))?;
    files.retain(|p| {
        p.extension()
            .is_some_and(|ext| ext == "pem" || ext == "crt")
    });
    files.sort();
    if files.is_empty() {
        bail!("{shown} holds no *.pem or *.crt file");
    }
    let mut certs = Vec::new();
    for file in files {
        certs.extend(certificates(&file)?);
    }
    Ok(certs)
}

/// `--cert CERT` and `--key KEY` (or the key in CERT without `--key`, as
/// curl does): the certificate chain and its private key, which must
/// match.
fn identity(
    cert: &Path,
    key: Option<&Path>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let (bytes, cert_meta) =
        crate::small_file::read_bytes(cert).context("cannot use the --cert file")?;
    let chain = pem_certificates(&bytes, cert).context("cannot use the --cert file")?;
    let (key_path, key_bytes, key_meta) = match key {
        Some(path) => {
            let (bytes, meta) =
                crate::small_file::read_bytes(path).context("cannot use the --key file")?;
            (path, bytes, meta)
        }
        None => (cert, bytes, cert_meta),
    };
    let flag = if key.is_some() { "--key" } else { "--cert" };
    let key_der = private_key(&key_bytes, key_path, key.is_none())
        .with_context(|| format!("cannot use the {flag} file"))?;
    warnings.extend(permission_warning(
        std::os::unix::fs::PermissionsExt::mode(&key_meta.permissions()),
        key_path,
    ));
    rustls::sign::CertifiedKey::from_der(chain.clone(), key_der.clone_key(), provider).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                anyhow::anyhow!(
                    "the key in {} is not the key of the client certificate in {}",
                    key_path.display(),
                    cert.display()
                )
            }
            e => anyhow::anyhow!(
                "cannot use the client certificate {} with the key in {}: {e}",
                cert.display(),
                key_path.display()
            ),
        },
    )?;
    Ok((chain, key_der))
}

/// The private key of a PEM file's bytes: PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), not encrypted.
/// `in_cert`: the file is `--cert`'s, read for want of `--key`.
fn private_key(bytes: &[u8], path: &Path, in_cert: bool) -> Result<PrivateKeyDer<'static>> {
    let shown = path.display();
    let encrypted = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if encrypted(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || encrypted(b"Proc-Type: 4,ENCRYPTED") {
        bail!(
            "the key in {shown} is encrypted, and haul does not read encrypted keys; \
             decrypt it with: openssl pkey -in {shown} -out plain.pem (and keep plain.pem \
             readable by you alone)"
        );
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) if in_cert => bail!(
            "{shown} holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY); \
             name the key file with --key"
        ),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => bail!(
            "{shown} holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        Err(e) => bail!("{shown}: damaged PEM ({e})"),
    }
}

/// The warning for a key file whose `mode` lets group or others read or
/// write it (as for a `.netrc`), or `None`.
fn permission_warning(mode: u32, path: &Path) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        let path = path.display();
        format!(
            "{path} is readable by others; anyone on this machine can read its private key \
             (chmod 600 {path})"
        )
    })
}

/// A PEM text of a certificate chain and key, for reqwest's `Identity`.
fn identity_pem(chain: &[CertificateDer<'_>], key: &PrivateKeyDer<'_>) -> String {
    let label = match key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let mut pem = String::new();
    for cert in chain {
        pem_section(&mut pem, "CERTIFICATE", cert.as_ref());
    }
    pem_section(&mut pem, label, key.secret_der());
    pem
}

fn pem_section(out: &mut String, label: &str, der: &[u8]) {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
}

/// The platform verifier, which also accepts a server certificate that
/// webpki refuses only for being a CA (CA:TRUE, as `openssl req -x509`
/// makes a self-signed one) when it is byte for byte one the user gave
/// with `--cacert`/`--capath`: the user trusts that very certificate.
/// Its name must still match the server's and `now` be within its
/// validity; the handshake signatures are still checked by the platform
/// verifier (so the server holds the certificate's key).
#[derive(Debug)]
struct Pinned {
    inner: Arc<rustls_platform_verifier::Verifier>,
    given: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let err = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        if !is_ca_used_as_end_entity(&err)
            || !self
                .given
                .iter()
                .any(|given| given.as_ref() == end_entity.as_ref())
        {
            return Err(err);
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let (not_before, not_after) = validity(end_entity.as_ref()).ok_or(
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
        )?;
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if secs < not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if secs > not_after {
            return Err(CertificateError::Expired.into());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether `err` is webpki's refusal of a CA certificate as the server's
/// own (rustls passes it on as an `Other` certificate error).
fn is_ca_used_as_end_entity(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// A certificate's notBefore and notAfter, in seconds since the epoch,
/// read from its DER (RFC 5280, 4.1): `None` if it cannot be read.
fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let (tag, cert, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    // [0] version (optional), serial, signature algorithm, issuer.
    if tbs.first() == Some(&0xa0) {
        tbs = der(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = der(tbs)?.2;
    }
    let (tag, validity, _) = der(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, before, rest) = der(validity)?;
    let not_before = time(tag, before)?;
    let (tag, after, _) = der(rest)?;
    Some((not_before, time(tag, after)?))
}

/// One DER element: its tag, contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, b| (len << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A UTCTime (tag 0x17, `YYMMDDHHMMSSZ`) or GeneralizedTime (0x18,
/// `YYYYMMDDHHMMSSZ`) in seconds since the epoch.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i16 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i8>().ok();
    // jiff checks the date; the seconds are counted here, since jiff's
    // timestamps end before 9999-12-31T23:59:59Z, the "no expiry" of RFC
    // 5280.
    let date = jiff::civil::Date::new(year, field(0)?, field(2)?).ok()?;
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second) {
        return None;
    }
    let days = date.since(jiff::civil::date(1970, 1, 1)).ok()?.get_days();
    Some(
        i64::from(days) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times_are_read() {
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(time(0x18, b"99991231235959Z"), Some(253_402_300_799));
        assert_eq!(time(0x17, b"700101000000"), None);
        assert_eq!(time(0x17, b"701301000000Z"), None);
        assert_eq!(time(0x18, b"700101000000Z"), None);
    }

    #[test]
    fn the_validity_of_a_certificate_is_read() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            validity(cert.der()),
            Some((981_158_400, 4_070_908_800)),
            "2001-02-03 to 2099-01-01"
        );
        assert_eq!(validity(&cert.der()[..40]), None);
        assert_eq!(validity(b""), None);
    }

    #[test]
    fn a_key_file_others_can_read_is_a_warning() {
        let path = Path::new("/k.pem");
        assert!(permission_warning(0o600, path).is_none());
        assert!(permission_warning(0o400, path).is_none());
        assert!(permission_warning(0o640, path).is_some());
        assert!(permission_warning(0o604, path).is_some());
    }

    #[test]
    fn an_encrypted_key_is_refused_with_how_to_decrypt_it() {
        for text in [
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ] {
            let err = private_key(text.as_bytes(), Path::new("k.pem"), false).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("encrypted"), "{msg}");
            assert!(
                msg.contains("openssl pkey -in k.pem -out plain.pem"),
                "{msg}"
            );
        }
    }

    #[test]
    fn the_identity_pem_reads_back() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let chain = vec![cert.der().clone()];
        let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let pem = identity_pem(&chain, &key_der);
        let back: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, chain);
        assert_eq!(
            PrivateKeyDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .secret_der(),
            key_der.secret_der()
        );
        assert!(reqwest::Identity::from_pem(pem.as_bytes()).is_ok());
    }
}
