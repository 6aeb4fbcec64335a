use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::claims::fold;
use crate::naming::safe_relative;
use crate::plan::parse_url;

fn check(pattern: &str, template: &str, fold: bool) -> Distinct {
    let pattern = Pattern::parse(pattern).unwrap();
    let template = OutputTemplate::parse(template).unwrap();
    distinct(&pattern, &template, fold)
}

const BOTH: Distinct = Distinct {
    urls: true,
    names: true,
};
const URLS: Distinct = Distinct {
    urls: true,
    names: false,
};
const NONE: Distinct = Distinct {
    urls: false,
    names: false,
};

#[test]
fn the_common_globs_are_proved() {
    assert_eq!(
        check("https://h/[000000000-099999999].bin", "{name}", false),
        BOTH
    );
    assert_eq!(check("https://h/img/[1-500].jpg", "{name}", true), BOTH);
    assert_eq!(check("https://h/page?p=[1-15000]", "{n}.html", false), BOTH);
    assert_eq!(check("https://h/{a,b,c}/[1-9]/x", "{path}", false), BOTH);
    assert_eq!(check("https://h/[a-z][0-9].txt", "{name}", false), BOTH);
    assert_eq!(check("https://h/{x,y}-[1-20]", "{1}/{2}.txt", false), BOTH);
}

#[test]
fn what_can_repeat_is_not() {
    // Two values that are one text: 1,11 and 11,1 are both "111".
    assert_eq!(check("https://h/[1-20][1-20]", "{name}", false), NONE);
    assert_eq!(check("https://h/{a,ab}{bc,c}", "{name}", false), NONE);
    assert_eq!(check("https://h/{a,a}", "{name}", false), NONE);
    // The host is the parser's (case, IDNA), a dot segment eats its
    // neighbour, a fragment is not sent, `%` is decoded in names.
    assert_eq!(check("https://{h,H}/x", "{name}", false), NONE);
    assert_eq!(check("https://h/[1-2]/../x", "{name}", false), NONE);
    assert_eq!(check("https://h/x#[1-2]", "{name}", false), NONE);
    assert_eq!(check("https://h/%[1-2]", "{name}", false), NONE);
}

#[test]
fn destinations_that_can_meet_are_not() {
    // The glob is in the query: every name is `x`.
    assert_eq!(check("https://h/x?p=[1-9]", "{name}", false), URLS);
    // A case-insensitive folder makes a and A one name.
    assert_eq!(check("https://h/{a,A}.txt", "{name}", true), URLS);
    assert_eq!(check("https://h/{a,A}.txt", "{name}", false), BOTH);
    // `{n}` before a name that starts with a digit: 1+23 and 12+3.
    assert_eq!(check("https://h/[1-30]", "{n}{name}", false), URLS);
    assert_eq!(check("https://h/[1-30]", "{n}-{name}", false), BOTH);
    // A name that may be another's `.part`.
    assert_eq!(check("https://h/x{,.par}t", "{name}", false), NONE);
    assert_eq!(check("https://h/x{1,2}.part", "{name}", false), URLS);
    assert_eq!(check("https://h/{a,b}t", "{name}", false), URLS);
    // A template that drops a glob.
    assert_eq!(check("https://h/{a,b}/[1-2]", "{2}", false), URLS);
}

/// Every expansion's URL and destination as the planner makes them.
fn planned(pattern: &str, template: &str, fold_case: bool) -> (Vec<String>, Vec<String>) {
    let pattern = Pattern::parse(pattern).unwrap();
    let template = OutputTemplate::parse(template).unwrap();
    let (mut urls, mut names) = (Vec::new(), Vec::new());
    for expansion in &pattern {
        let Ok(url) = parse_url(&expansion.text) else {
            continue;
        };
        urls.push(url.to_string());
        let n = urls.len() as u64;
        let Ok(name) = template.render(&url, n, &expansion.values) else {
            continue;
        };
        let Ok(rel) = safe_relative(&name) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        names.push(if fold_case { fold(&rel) } else { rel });
    }
    (urls, names)
}

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "1", "0", "-", ".", "/", "?", "=", "t", ".part", "..", "%41", "A", "x.", "[1-12]",
        "[01-12]", "[8-11]", "[a-c]", "[A-C]", "[1-3:2]", "{a,ab}", "{b,bc}", "{1,11}", "{x,X}",
        "{.a,a}", "{t,s}", "{par,pa}", "{a,a}", "{~,_}",
    ])
}

fn start() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "http://h/",
        "http://h?",
        "http://h",
        "http://h[1-2]/",
        "http://h/x/",
    ])
}

fn template() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{name}",
        "{path}",
        "{n}",
        "{1}",
        "{1}-{2}",
        "{host}/{name}",
        "{name}.part",
        "{n}{name}",
        "d/{name}",
        "{1}{2}",
        "{2}.{1}",
        "{name}/.",
        "{path}t",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Whatever is proved holds on every expansion: no URL twice, no
    /// destination twice, none another's `.part`.
    #[test]
    fn what_is_proved_holds(
        start in start(),
        pieces in prop::collection::vec(piece(), 0..5),
        template in template(),
        fold_case in any::<bool>(),
    ) {
        let pattern = format!("{start}{}", pieces.concat());
        let Ok(parsed) = Pattern::parse(&pattern) else { return Ok(()); };
        prop_assume!(parsed.len() <= 5000);
        let Ok(parsed_template) = OutputTemplate::parse(template) else { return Ok(()); };
        let proved = distinct(&parsed, &parsed_template, fold_case);
        let (urls, names) = planned(&pattern, template, fold_case);
        if proved.urls {
            let unique: HashSet<&String> = urls.iter().collect();
            prop_assert_eq!(unique.len(), urls.len(), "URLs of {} repeat", pattern);
        }
        if proved.names {
            let unique: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(unique.len(), names.len(), "names of {} / {} repeat", pattern, template);
            for name in &names {
                let part = format!("{name}{PART_SUFFIX}");
                prop_assert!(!unique.contains(&part), "{} is {}'s .part ({})", part, name, pattern);
            }
        }
    }
}
