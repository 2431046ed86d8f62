//! What Kustomize's round trip of every resource through JSON does to its strings: it writes
//! the resource's map with Go's `encoding/json`, which leaves most characters as they are, and
//! reads that text back with go-yaml, whose reader
//! - refuses U+007F, the C1 controls (U+0080 to U+009F) but NEL, U+FFFE and U+FFFF ("yaml:
//!   control characters are not allowed"): the build fails;
//! - takes a NEL (U+0085) for a line break inside the double-quoted string, and folds it as
//!   YAML folds line breaks there: one break between text is a space, n breaks in a row are
//!   n - 1 line feeds, and the spaces around them go (`"a  \u{85} b"` is `"a b"`);
//! - fails on a key with a NEL (a multi-line implicit key), and on `---` or `...` right after
//!   a NEL and followed by a space or another NEL (a document marker).
//!
//! Everything else JSON escapes (other controls, U+2028, U+2029, quotes) comes back as it was.
//! The generated ConfigMaps and Secrets take the round trip before their hash suffix: kubectl's
//! hash of a literal `x\u{85}y` is that of `x y`.

use gitops_core::value::Value;

const NEL: char = '\u{85}';

/// Whether any string or key of the value holds a byte that may start one of the characters
/// the round trip changes or refuses (U+007F, a C1 control, U+FFFE, U+FFFF): a cheap test
/// that nearly every resource passes, so that only those that fail it are walked again.
pub(super) fn suspicious(v: &Value) -> bool {
    // Most text is ASCII below U+007F: one branch-free pass finds out (a byte from 0x7F up
    // sets the high bit of itself plus one); only the rest is looked at byte by byte.
    let text = |s: &str| {
        s.bytes().fold(0u8, |high, b| high | (b.wrapping_add(1) & 0x80)) != 0
            && s.bytes().any(|b| matches!(b, 0x7f | 0xc2 | 0xef))
    };
    match v {
        Value::String(s) => text(s),
        Value::Array(items) => items.iter().any(suspicious),
        Value::Object(m) => m.iter().any(|(k, v)| text(k) || suspicious(v)),
        _ => false,
    }
}

/// Applies the round trip to a value: folds its strings' NELs, or says why kubectl fails, with
/// the path of the field (never its value, which may be a secret's).
pub(super) fn apply(v: &mut Value) -> Result<(), String> {
    walk(v).map_err(|(mut path, why)| {
        path.reverse();
        let at = path.concat();
        format!("field {}: {why}", at.strip_prefix('.').unwrap_or(&at))
    })
}

/// On failure, the path's segments from the failing field up (`.key`, `[index]`), and why.
fn walk(v: &mut Value) -> Result<(), (Vec<String>, String)> {
    match v {
        Value::String(s) => {
            if let Some(folded) = round_trip(s).map_err(|why| (Vec::new(), why))? {
                *s = folded;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item).map_err(|(mut path, why)| {
                    path.push(format!("[{i}]"));
                    (path, why)
                })?;
            }
        }
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                let segment = || if k.contains(['.', '[', ']']) { format!("[{k:?}]") } else { format!(".{k}") };
                let refused = refused_in(k).map(|c| format!("the key holds {}", describe(c))).or_else(|| {
                    k.contains(NEL).then(|| {
                        "the key holds a NEL (U+0085), a line break to the YAML reader that reads the resource back \
                         (kubectl kustomize fails: \"did not find expected ',' or '}'\")"
                            .to_string()
                    })
                });
                if let Some(why) = refused {
                    // The key's text is shown escaped: it holds a character a terminal would not show.
                    return Err((vec![format!("[{k:?}]")], why));
                }
                walk(item).map_err(|(mut path, why)| {
                    path.push(segment());
                    (path, why)
                })?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The first character of a text that go-yaml's reader refuses.
fn refused_in(s: &str) -> Option<char> {
    s.chars().find(|&c| matches!(c, '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}'))
}

fn describe(c: char) -> String {
    format!(
        "U+{:04X}, a character the YAML reader refuses (kubectl kustomize fails: \"yaml: control characters are not \
         allowed\")",
        c as u32
    )
}

/// A string after the round trip: `None` when it comes back as it was.
fn round_trip(s: &str) -> Result<Option<String>, String> {
    if let Some(c) = refused_in(s) {
        return Err(format!("the value holds {}", describe(c)));
    }
    if !s.contains(NEL) {
        return Ok(None);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i] != ' ' && chars[i] != NEL {
            out.push(chars[i]);
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        // Blanks: spaces before the first break are kept only if no break follows; those after
        // it go; each further break is a line feed, a single one a space.
        let (mut spaces, mut broken, mut breaks) = (0usize, false, 0usize);
        while i < chars.len() && (chars[i] == ' ' || chars[i] == NEL) {
            if chars[i] == NEL {
                if broken {
                    breaks += 1;
                }
                broken = true;
            } else if !broken {
                spaces += 1;
            }
            i += 1;
        }
        if broken {
            // A line that starts with a document marker ends the document, mid-string.
            let rest = &chars[i..];
            if chars[i - 1] == NEL
                && (rest.starts_with(&['-', '-', '-']) || rest.starts_with(&['.', '.', '.']))
                && rest.get(3).is_some_and(|&c| c == ' ' || c == NEL)
            {
                return Err("the value holds a NEL (U+0085) then a document marker (--- or ...), which the YAML reader \
                            that reads the resource back stops at (kubectl kustomize fails: \"found unexpected document \
                            indicator\")"
                    .to_string());
            }
            if breaks == 0 {
                out.push(' ');
            } else {
                out.extend(std::iter::repeat_n('\n', breaks));
            }
        } else {
            out.extend(std::iter::repeat_n(' ', spaces));
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    /// Each case as `kubectl kustomize` v5.5 built it from a ConfigMap value (2026-12-07).
    #[test]
    fn nels_fold_as_kubectl_folds_them() {
        let cases = [
            ("x\u{85}y", "x y"),
            ("x\u{85}\u{85}y", "x\ny"),
            ("x \u{85}  y", "x y"),
            ("\u{85}x", " x"),
            ("x\u{85}", "x "),
            ("x\u{85}\u{85}", "x\n"),
            ("a  \u{85}", "a "),
            ("\tX\u{85}x", "\tX x"),
            ("x\u{85}---", "x ---"),
            ("x\u{85} ---", "x ---"),
            (" \u{85} ", " "),
            ("\u{85}", " "),
            ("a\u{85} \u{85} b", "a\nb"),
            ("a\n\u{85}b", "a\n b"),
            ("a  b", "a  b"),
        ];
        for (input, want) in cases {
            let mut v = json!({"data": {"k": input}});
            apply(&mut v).unwrap();
            assert_eq!(v["data"]["k"], want, "{input:?}");
        }
    }

    #[test]
    fn what_kubectl_refuses_is_refused_with_the_field_and_without_the_value() {
        for c in ['\u{7f}', '\u{80}', '\u{9f}', '\u{fffe}', '\u{ffff}'] {
            let mut v = json!({"data": {"secret-ish": format!("s3cr3t{c}")}, "kind": "ConfigMap"});
            assert!(suspicious(&v), "{c:?}");
            let e = apply(&mut v).unwrap_err();
            assert!(e.starts_with("field data.secret-ish: the value holds U+"), "{e}");
            assert!(e.contains("control characters are not allowed") && !e.contains("s3cr3t"), "{e}");
        }
        let mut v = json!({"spec": {"list": [{"a.b": "x\u{85}--- y"}]}});
        let e = apply(&mut v).unwrap_err();
        assert!(e.starts_with("field spec.list[0][\"a.b\"]: ") && e.contains("document indicator"), "{e}");
        let mut v = json!({"data": {"k\u{85}x": "v"}});
        let e = apply(&mut v).unwrap_err();
        assert!(e.starts_with("field data[\"k\\u{85}x\"]: the key holds a NEL"), "{e}");
        let mut v = json!({"data": {"k\u{7f}": "v"}});
        assert!(apply(&mut v).unwrap_err().contains("U+007F"));
    }

    #[test]
    fn other_text_is_left_alone() {
        let mut v = json!({"a": ["\u{a0}\u{2028}\u{feff}\u{1f600}\u{e000}\u{d7ff}", "\u{7}\u{1b}", "é"], "b": 1});
        let before = v.clone();
        apply(&mut v).unwrap();
        assert_eq!(v, before);
        assert!(!suspicious(&json!({"a": ["\u{1f600}", "plain"], "k": {"n": null}})));
        assert!(suspicious(&json!({"a": [{"x\u{85}": 1}]})));
    }
}
