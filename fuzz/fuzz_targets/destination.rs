//! Destinations: the input is `SELECTOR TEMPLATE 0xFF URL-PATH [0xFF GLOB]...`
//! (0xFF never occurs in UTF-8; each part is decoded lossily). The first
//! byte picks the host and `{n}`. Whatever `destination` accepts must be a
//! relative path of plain components (no `..`, root, prefix or NUL). The
//! parts are also fed to `safe_relative` and `content_disposition_name`.

#![no_main]

use haul_fuzz::{HOSTS, check_content_disposition, check_destination, check_safe_relative};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let template = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let globs: Vec<String> = parts.collect();
    let host = HOSTS[usize::from(selector & 7)];
    let n = u64::from(selector >> 3);

    let scheme = if selector & 0x80 == 0 {
        "http"
    } else {
        "https"
    };
    check_destination(&template, &format!("{scheme}://{host}/{path}"), n, &globs);
    check_destination(&template, &path, n, &globs);

    let _ = check_safe_relative(&template);
    let _ = check_safe_relative(&path);
    for glob in &globs {
        let _ = check_safe_relative(glob);
    }
    check_content_disposition(&template);
});
