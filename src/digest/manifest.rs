//! Checksum manifests (`--checksums`: a file or a URL, several at once)
//! and per-asset sidecars (`--checksum-sidecar`), parsed: GNU lines
//! (`HEX  NAME`, `HEX *NAME`, a leading `\` for an escaped name) and BSD
//! lines (`SHA256 (NAME) = HEX`, also openssl's `SHA256(NAME)= HEX`), of
//! sha256, sha512, sha384, sha1 and md5; a GNU line's algorithm is told by
//! its length, a BSD line's by its tag. A sidecar may also hold the bare
//! digest. NAME is matched against the destination: its path under
//! `--dir` first, then its file name.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{Algorithm, Digest, Expected, Source};

/// The digests of every `--checksums` manifest, by name.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    /// By the name as written (a leading `./` dropped).
    by_path: HashMap<String, Vec<Expected>>,
    /// By its last component.
    by_name: HashMap<String, Vec<Expected>>,
}

impl Manifest {
    /// Adds the lines of the manifest `text`, read from `label` (a path or
    /// a masked URL, for errors and the report); a line that is neither
    /// form is an input error naming `LABEL:LINE`.
    pub(crate) fn add(&mut self, text: &str, label: &str) -> anyhow::Result<()> {
        let source = Source::Checksums(Arc::from(label));
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((digest, name)) = parse_line(line).filter(|(_, name)| !name.is_empty()) else {
                anyhow::bail!(
                    "{label}:{}: expected 'HEX  NAME' (sha256sum and the like) \
                     or 'ALG (NAME) = HEX' (BSD form)",
                    i + 1
                );
            };
            let expected = Expected {
                digest,
                source: source.clone(),
            };
            let path = name.strip_prefix("./").unwrap_or(&name);
            let file_name = path.rsplit('/').next().unwrap_or(path);
            push(
                self.by_name.entry(file_name.to_string()).or_default(),
                &expected,
            );
            push(self.by_path.entry(path.to_string()).or_default(), &expected);
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The digest the manifests give the destination `rel`: listed under
    /// its path, else under its file name; the strongest when several
    /// algorithms list it. Two different digests of one algorithm for it
    /// (two files of that name in other folders) are an error: which one
    /// is meant cannot be told.
    pub(crate) fn lookup(&self, rel: &Path) -> Result<Option<Expected>, String> {
        let Some(path) = rel.to_str().filter(|_| !self.is_empty()) else {
            return Ok(None);
        };
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let Some(found) = self
            .by_path
            .get(path)
            .or_else(|| self.by_name.get(file_name))
        else {
            return Ok(None);
        };
        for (i, a) in found.iter().enumerate() {
            if let Some(b) = found[i + 1..].iter().find(|b| b.digest.alg == a.digest.alg) {
                return Err(format!(
                    "--checksums lists '{file_name}' twice with different {} digests \
                     ({} in {}, {} in {}); give the file an out= path that the \
                     manifest names",
                    a.digest.alg.name(),
                    a.digest.hex(),
                    a.source,
                    b.digest.hex(),
                    b.source
                ));
            }
        }
        Ok(found.iter().max_by_key(|e| e.digest.alg).cloned())
    }
}

/// Adds `expected` to the digests of one name, once.
fn push(list: &mut Vec<Expected>, expected: &Expected) {
    if !list.iter().any(|e| e.digest == expected.digest) {
        list.push(expected.clone());
    }
}

/// The digest a sidecar (fetched from `label`) gives the file `names`
/// stand for (its destination's file name, the URL's): the line that names
/// one of them, or a sidecar's only line when it names no file (a bare
/// digest) or names one of them.
pub(crate) fn sidecar_digest(text: &str, names: &[&str], label: &str) -> Result<Expected, String> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let first = lines.next().ok_or("the sidecar is empty")?;
    let only = lines.next().is_none();
    let source = Source::Sidecar(Arc::from(label));
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        let Some((digest, name)) = parse_line(line).or_else(|| bare(line)) else {
            continue;
        };
        let file_name = name.rsplit('/').next().unwrap_or(&name);
        if (only && name.is_empty()) || names.contains(&file_name) {
            return Ok(Expected { digest, source });
        }
    }
    if only && parse_line(first).or_else(|| bare(first)).is_none() {
        return Err(format!(
            "the sidecar is not 'HEX', 'HEX  NAME' or 'ALG (NAME) = HEX': {}",
            crate::redact::scrub(first.chars().take(80).collect::<String>().as_str())
        ));
    }
    Err(format!(
        "the sidecar has no digest for {}",
        names.join(" or ")
    ))
}

/// A GNU or BSD manifest line: the digest and the name (unescaped).
fn parse_line(line: &str) -> Option<(Digest, String)> {
    bsd(line).or_else(|| gnu(line))
}

/// `HEX  NAME` or `HEX *NAME`; a leading `\` says the name has `\\` and
/// `\n` escapes (GNU coreutils).
fn gnu(line: &str) -> Option<(Digest, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (hex, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix([' ', '*'])?;
    let digest = Digest::parse_hex(Algorithm::of_hex_len(hex.len())?, hex).ok()?;
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    Some((digest, name))
}

/// `ALG (NAME) = HEX`, or openssl's `ALG(NAME)= HEX`.
fn bsd(line: &str) -> Option<(Digest, String)> {
    let (tag, rest) = line.split_once('(')?;
    let alg = Algorithm::named(tag.trim())?;
    let (name, hex) = rest.rsplit_once(')')?;
    let hex = hex.trim_start().strip_prefix('=')?.trim();
    let digest = Digest::parse_hex(alg, hex).ok()?;
    Some((digest, name.to_string()))
}

/// A sidecar's bare digest: hexadecimal alone on its line.
fn bare(line: &str) -> Option<(Digest, String)> {
    let hex = line.trim();
    let digest = Digest::parse_hex(Algorithm::of_hex_len(hex.len())?, hex).ok()?;
    Some((digest, String::new()))
}

/// GNU's escaped name: `\\` and `\n`; any other escape is not a name.
fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(alg: Algorithm, byte: u8) -> String {
        hex::encode(vec![byte; alg.len()])
    }

    #[test]
    fn both_forms_of_every_algorithm_are_read() {
        for alg in Algorithm::NAMED {
            let h = hex(alg, 0xab);
            let tag = alg.name().to_uppercase();
            for line in [
                format!("{h}  a.tar.gz"),
                format!("{h} *a.tar.gz"),
                format!("{} (a.tar.gz) = {h}", tag),
                format!("{tag}(a.tar.gz)= {h}"),
                format!("{}  ./a.tar.gz", h.to_uppercase()),
            ] {
                let mut m = Manifest::default();
                m.add(&line, "SUMS").unwrap();
                let got = m.lookup(Path::new("a.tar.gz")).unwrap().unwrap();
                assert_eq!(got.digest.alg, alg, "{line}");
                assert_eq!(got.digest.hex(), h, "{line}");
                assert_eq!(got.source.to_string(), "checksums:SUMS");
            }
        }
    }

    #[test]
    fn a_bad_line_names_its_place() {
        for text in [
            "abc  a",
            "zz  a",
            &format!("{}a", hex(Algorithm::Sha256, 1)),
            &format!("{}  ", hex(Algorithm::Sha256, 1)),
            "SHA256 (a) = 12",
            "BLAKE9 (a) = 00",
        ] {
            let mut m = Manifest::default();
            let text = format!("# comment\n\n{text}\n");
            let err = m.add(&text, "SUMS").unwrap_err().to_string();
            assert!(err.starts_with("SUMS:3: expected"), "{err}");
        }
    }

    #[test]
    fn names_match_by_path_then_file_name_and_ambiguity_is_an_error() {
        let (a, b) = (hex(Algorithm::Sha256, 1), hex(Algorithm::Sha256, 2));
        let mut m = Manifest::default();
        m.add(&format!("{a}  linux/tool\n{b}  mac/tool\n"), "S")
            .unwrap();
        let linux = m.lookup(Path::new("linux/tool")).unwrap().unwrap();
        assert_eq!(linux.digest.hex(), a);
        let err = m.lookup(Path::new("tool")).unwrap_err();
        assert!(err.contains("twice with different sha256"), "{err}");
        assert_eq!(m.lookup(Path::new("other")).unwrap(), None);
        // The same digest twice is no ambiguity; the strongest algorithm wins.
        let mut m = Manifest::default();
        let c = hex(Algorithm::Sha512, 3);
        m.add(&format!("{a}  x/tool\n{a}  y/tool\n"), "S256")
            .unwrap();
        m.add(&format!("{c}  tool\n"), "S512").unwrap();
        let got = m.lookup(Path::new("tool")).unwrap().unwrap();
        assert_eq!(got.digest.alg, Algorithm::Sha512);
    }

    #[test]
    fn escaped_gnu_names() {
        let h = hex(Algorithm::Md5, 9);
        let mut m = Manifest::default();
        m.add(&format!("\\{h}  a\\\\b\\nc\n"), "S").unwrap();
        assert!(m.lookup(Path::new("a\\b\nc")).unwrap().is_some());
        assert!(m.add(&format!("\\{h}  a\\x\n"), "S").is_err());
    }

    #[test]
    fn sidecars() {
        let h = hex(Algorithm::Sha256, 7);
        let names = ["a.tgz", "a-1.0.tgz"];
        for text in [
            h.clone(),
            format!("{h}\n"),
            format!("{h}  a.tgz\n"),
            format!("{h} *dist/a-1.0.tgz\r\n"),
            format!("SHA256 (a.tgz) = {h}"),
            format!("{}  b.tgz\n{h}  a.tgz\n", hex(Algorithm::Sha256, 1)),
        ] {
            let got = sidecar_digest(&text, &names, "http://h/a.tgz.sha256").unwrap();
            assert_eq!(got.digest.hex(), h, "{text}");
            assert_eq!(got.source.to_string(), "sidecar:http://h/a.tgz.sha256");
        }
        for (text, err) in [
            ("", "empty"),
            ("<html>not found</html>", "is not 'HEX'"),
            (&format!("{h}  b.tgz") as &str, "no digest for a.tgz"),
        ] {
            let got = sidecar_digest(text, &names, "S").unwrap_err();
            assert!(got.contains(err), "{text}: {got}");
        }
    }
}
