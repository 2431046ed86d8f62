//! Writes JSON values as YAML in the layout kubectl and Kustomize use.

use crate::value::{Map, Value};
use std::borrow::Cow;

use crate::yaml_load::resolves_to_non_string;

pub(crate) fn emit(v: &Value) -> String {
    emit_wrapped(v, 0)
}

/// Like [`emit`], folding long plain and quoted values at spaces once a line passes `width`
/// columns, as go-yaml v2 (`yaml.Marshal` in kubeseal and older kubectl) does; 0 never folds.
///
/// With a width, a string holding U+2028 or U+2029 is also written as go-yaml writes it (what
/// `kubectl kustomize` prints): each counts as a line break, and the text after one starts
/// with the indentation again on the same physical line, which a YAML 1.2 reader reads back
/// with those spaces. With 0 such text reads back as it was (double quotes, or a literal block
/// holding them as they are).
pub(crate) fn emit_wrapped(v: &Value, width: usize) -> String {
    let mut out = String::new();
    emit_wrapped_into(v, width, &mut out);
    out
}

/// [`emit_wrapped`], appended to `out` (a stream's writer emits every document into one
/// buffer rather than a string of its own each).
pub(crate) fn emit_wrapped_into(v: &Value, width: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, width, out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, width, out),
        other => {
            out.push_str(&inline_scalar(other));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, n: usize) {
    // Whole runs of spaces, not a character at a time: every line of the output starts here.
    const SPACES: &str = "                                ";
    let mut n = n;
    while n > SPACES.len() {
        out.push_str(SPACES);
        n -= SPACES.len();
    }
    out.push_str(&SPACES[..n]);
}

fn emit_map(m: &Map<String, Value>, indent: usize, width: usize, out: &mut String) {
    // Keys in go-yaml's order (what kubectl and Kustomize write): usually the map's own
    // byte order already, so it is only sorted when two neighbours disagree.
    let in_order = m.keys().zip(m.keys().skip(1)).all(|(a, b)| go_key_order(a, b) != std::cmp::Ordering::Greater);
    let mut sorted: Vec<(&String, &Value)>;
    let entries: &mut dyn Iterator<Item = (&String, &Value)> = if in_order {
        &mut m.iter()
    } else {
        sorted = m.iter().collect();
        crate::stable_sort_by(&mut sorted, &|a, b| go_key_order(a.0, b.0));
        &mut sorted.into_iter()
    };
    for (k, v) in entries {
        pad(out, indent);
        if is_simple_key(k) {
            out.push_str(&quote(k));
            out.push(':');
            emit_after(v, indent, width, out);
        } else {
            emit_explicit_entry(k, v, indent, width, out);
        }
    }
}

/// go-yaml v2's order of map keys (`keyList.Less`, which `kubectl kustomize` writes with,
/// through sigs.k8s.io/yaml): rune by rune, two letters by code point, a non-letter before a
/// letter, and runs of digits by their numeric value ("a9" before "a10").
pub(crate) fn go_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    // Keys are nearly always ASCII, where a byte is a rune: compared in place, without
    // collecting either key's characters (two allocations per comparison).
    if a.is_ascii() && b.is_ascii() {
        return rune_order(a.as_bytes(), b.as_bytes());
    }
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    rune_order(&ar, &br)
}

/// [`go_key_order`] over two keys' runes (bytes when both keys are ASCII).
fn rune_order<T: Copy + Into<char>>(ar: &[T], br: &[T]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let rune = |s: &[T], i: usize| -> char { s[i].into() };
    for i in 0..ar.len().min(br.len()) {
        let (a, b) = (rune(ar, i), rune(br, i));
        if a == b {
            continue;
        }
        let (al, bl) = (a.is_alphabetic(), b.is_alphabetic());
        if al && bl {
            return a.cmp(&b);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if a == '0' || b == '0' {
            let mut j = i;
            while j > 0 && rune(ar, j - 1).is_ascii_digit() {
                j -= 1;
                if rune(ar, j) != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && rune(ar, ai).is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(rune(ar, ai) as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && rune(br, bi).is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(rune(br, bi) as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return a.cmp(&b);
    }
    ar.len().cmp(&br.len())
}

/// Whether a key may be written as `key: value`. As libyaml and go-yaml decide it: a key
/// over 128 bytes or one holding a line break is written in the explicit `? key` form (YAML
/// readers refuse implicit keys past 1024 characters, and one line must hold the whole key).
fn is_simple_key(k: &str) -> bool {
    if k.len() > 128 {
        return false;
    }
    // An ASCII key (nearly every one) needs only a test of its bytes.
    if k.is_ascii() {
        return !k.bytes().any(|b| b == b'\n' || b == b'\r');
    }
    !k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// Writes `? key` then `: value`, the value laid out as after a sequence dash: a mapping
/// starts on the `:` line, a sequence on the next line at the same indent.
fn emit_explicit_entry(k: &str, v: &Value, indent: usize, width: usize, out: &mut String) {
    out.push_str("? ");
    out.push_str(&quote(k));
    out.push('\n');
    pad(out, indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut inner = String::new();
            emit_map(m, indent + 2, width, &mut inner);
            out.push_str(": ");
            out.push_str(&inner[indent + 2..]);
        }
        other => {
            out.push(':');
            emit_after(other, indent, width, out);
        }
    }
}

/// Writes what follows `key:` or `-`.
fn emit_after(v: &Value, indent: usize, width: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, indent + 2, width, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(a, indent, width, out);
        }
        Value::String(s) if use_block(s) => {
            out.push_str(" |");
            // go-yaml's indentation indicator (its indent, 2) when the text starts with a
            // space or a line break, which would otherwise set the block's indentation.
            let go_breaks = width > 0;
            if s.starts_with([' ', '\n']) || go_breaks && s.starts_with(['\u{2028}', '\u{2029}']) {
                out.push('2');
            }
            let trailing = s.len() - s.trim_end_matches('\n').len();
            // go-yaml's chomping indicator: strip ("-") with no line break at the end, keep
            // ("+") with two (or a lone one), else none; U+2028 and U+2029 count as breaks.
            let is_break = |c: char| c == '\n' || go_breaks && matches!(c, '\u{2028}' | '\u{2029}');
            let mut last = s.chars().rev();
            match (last.next(), last.next()) {
                (Some(c), _) if !is_break(c) => out.push('-'),
                (Some(_), None) => out.push('+'),
                (Some(_), Some(c)) if is_break(c) => out.push('+'),
                _ => {}
            }
            out.push('\n');
            let body = if trailing == 1 { &s[..s.len() - 1] } else { s.as_str() };
            let body = if trailing > 1 { &body[..body.len() - 1] } else { body };
            for line in body.split('\n') {
                block_line(line, indent + 2, go_breaks, out);
                out.push('\n');
            }
        }
        // go-yaml's way with U+2028/U+2029, in its layout only (see `emit_wrapped`).
        Value::String(s) if width > 0 && unicode_breaks_single_quoted(s) => {
            out.push(' ');
            let column = out.len() - out.as_bytes().iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = out[out.len() - column..].chars().count();
            fold(&single_quoted(s), column, indent + 2, width, out);
            out.push('\n');
        }
        other => {
            out.push(' ');
            let text = inline_scalar(other);
            // A line folds only at a space past `width` columns; bytes are at least as many
            // as characters, so a line shorter in bytes than `width` cannot fold. Only a
            // string folds: the line's start is looked for only before one.
            let line_start = (width > 0 && matches!(other, Value::String(_)))
                .then(|| out.as_bytes().iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1))
                .filter(|&start| out.len() - start + text.len() > width);
            match line_start {
                Some(start) => {
                    let column = out[start..].chars().count();
                    fold(&text, column, indent + 2, width, out);
                }
                None => out.push_str(&text),
            }
            out.push('\n');
        }
    }
}

/// One line of a literal block, indented. With `go_breaks`, as go-yaml's writer counts U+2028
/// and U+2029 line breaks: each is written as it is, and the text after it starts with the
/// indentation again, on the same physical line; a line that starts with one is not indented
/// before it.
fn block_line(line: &str, indent: usize, go_breaks: bool, out: &mut String) {
    if !go_breaks || line.is_ascii() || !line.contains(['\u{2028}', '\u{2029}']) {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        return;
    }
    let mut at_break = true;
    for c in line.chars() {
        if matches!(c, '\u{2028}' | '\u{2029}') {
            at_break = true;
        } else if at_break {
            pad(out, indent);
            at_break = false;
        }
        out.push(c);
    }
}

/// Whether go-yaml writes a one-line string in single quotes with its U+2028 and U+2029 as
/// they are: it counts them line breaks (so not plain) but printable (so not double-quoted),
/// unless the string holds a line feed (a literal block), anything else it escapes or a tab,
/// or a space next to one of them.
fn unicode_breaks_single_quoted(s: &str) -> bool {
    if s.is_ascii() || !s.contains(['\u{2028}', '\u{2029}']) {
        return false;
    }
    let is_break = |c: char| matches!(c, '\u{2028}' | '\u{2029}');
    let chars: Vec<char> = s.chars().collect();
    !chars.iter().any(|&c| c == '\t' || c.is_control() || unprintable(c))
        && !chars.windows(2).any(|w| (w[0] == ' ' && is_break(w[1])) || (is_break(w[0]) && w[1] == ' '))
}

/// Writes a scalar starting at `column`, replacing a single space by a line break and
/// `indent` spaces whenever the line already passed `width` (libyaml's rule). Double-quoted
/// text escapes a space that would start the next line. A U+2028 or U+2029 (only single-quoted
/// text holds one as it is, see [`unicode_breaks_single_quoted`]) ends a line for go-yaml: the
/// text after it starts with `indent` spaces, on the same physical line.
fn fold(text: &str, column: usize, indent: usize, width: usize, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let quoted = matches!(chars.first(), Some('"' | '\''));
    let double = chars.first() == Some(&'"');
    let mut col = column;
    let mut prev_space = false;
    let mut after_break = false;
    for (i, &c) in chars.iter().enumerate() {
        let interior = !quoted || (i > 1 && i + 2 < chars.len());
        if matches!(c, '\u{2028}' | '\u{2029}') {
            out.push(c);
            col = 0;
            after_break = true;
            prev_space = false;
            continue;
        }
        if after_break && (!quoted || i + 1 < chars.len()) {
            pad(out, indent.saturating_sub(col));
            col = col.max(indent);
        }
        after_break = false;
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            if !prev_space && col > width && interior && (double || !next_space) {
                out.push('\n');
                pad(out, indent);
                col = indent;
                if double && next_space {
                    out.push('\\');
                    col += 1;
                }
                prev_space = true;
                continue;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        out.push(c);
        col += 1;
    }
}

fn emit_seq(a: &[Value], indent: usize, width: usize, out: &mut String) {
    for item in a {
        match item {
            // The item's first line starts at `indent + 2` like the rest: written in place,
            // its two spaces before that column become the dash.
            Value::Object(m) if !m.is_empty() => {
                let start = out.len();
                emit_map(m, indent + 2, width, out);
                out.replace_range(start + indent..start + indent + 2, "- ");
            }
            Value::Array(items) if !items.is_empty() => {
                let start = out.len();
                emit_seq(items, indent + 2, width, out);
                out.replace_range(start + indent..start + indent + 2, "- ");
            }
            other => {
                pad(out, indent);
                out.push('-');
                emit_after(other, indent, width, out);
            }
        }
    }
}

/// Whether a string is written as a literal block, as go-yaml decides (`analyze_scalar`): it
/// has a line break, and no space before a line break or at its end (a reader would lose
/// those), and holds nothing go-yaml counts unprintable (a tab among them, in the go-yaml of
/// Kustomize v5.5): such text goes to double quotes instead.
fn use_block(s: &str) -> bool {
    s.as_bytes().contains(&b'\n') && block_allowed(s)
}

/// go-yaml's `block_allowed`: no space at the end or before a line break, and nothing it
/// counts unprintable but the line break.
fn block_allowed(s: &str) -> bool {
    !s.ends_with(' ')
        && !s.contains(" \n")
        && !s.chars().any(|c| c != '\n' && (c.is_control() || unprintable(c)))
        && (s.is_ascii() || !s.contains(" \u{2028}") && !s.contains(" \u{2029}"))
}

/// The characters go-yaml's `is_printable` refuses besides the controls (`char::is_control`):
/// the byte order mark, U+FFFE and U+FFFF, and everything past the Basic Multilingual Plane
/// (its test knows UTF-8 sequences of up to three bytes). A string holding one is written in
/// double quotes, the character escaped.
fn unprintable(c: char) -> bool {
    matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}' | '\u{10000}'..)
}

/// What a folded block scalar (`>`) holding `v` reads back as after go-yaml (v3, as in
/// Kustomize) has written it in that style, which Kustomize does to every resource it builds.
///
/// go-yaml's folded writer puts an empty line after each line of content that does not
/// start with a space (so that its break survives folding), but tests the start of the whole
/// value instead of the next line; and where the next line is more indented, a reader keeps
/// both the break and the empty line. So `"one\n  two\n"` comes back as
/// `"one\n\n  two\n"`. Text go-yaml would not write as a block, or has no line break, comes
/// back as it was.
pub(crate) fn folded_round_trip(v: &str) -> Cow<'_, str> {
    if !v.contains('\n') || !block_allowed(v) || v.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        return Cow::Borrowed(v);
    }
    // The writer: each line of the block, "" for an empty one (lines keep their own leading
    // spaces, after the block's indentation).
    let first_is_blank = v.trim_start_matches('\n').starts_with([' ', '\t']) || v.trim_start_matches('\n').is_empty();
    let mut lines: Vec<&str> = Vec::new();
    let mut rest = v;
    while let Some(at) = rest.find('\n') {
        let line = &rest[..at];
        lines.push(line);
        if !line.is_empty() && !line.starts_with([' ', '\t']) && !first_is_blank {
            lines.push("");
        }
        rest = &rest[at + 1..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    // The chomping indicator the writer puts in the header.
    let keep = v.ends_with("\n\n") || v == "\n";
    let strip = !v.ends_with('\n');
    // The reader (libyaml's block scalar scan, folded).
    let mut out = String::with_capacity(v.len() + 8);
    let mut trailing = 0usize;
    let mut i = 0;
    while i < lines.len() && lines[i].is_empty() {
        trailing += 1;
        i += 1;
    }
    let (mut leading_break, mut leading_blank) = (false, false);
    while i < lines.len() {
        let line = lines[i];
        let trailing_blank = line.starts_with([' ', '\t']);
        if leading_break && !leading_blank && !trailing_blank {
            if trailing == 0 {
                out.push(' ');
            }
        } else if leading_break {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n('\n', trailing));
        trailing = 0;
        leading_blank = trailing_blank;
        out.push_str(line);
        leading_break = true;
        i += 1;
        while i < lines.len() && lines[i].is_empty() {
            trailing += 1;
            i += 1;
        }
    }
    if !strip && leading_break {
        out.push('\n');
    }
    if keep {
        out.extend(std::iter::repeat_n('\n', trailing));
    }
    Cow::Owned(out)
}

fn inline_scalar(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                format_float(f).into()
            } else {
                n.to_string().into()
            }
        }
        Value::String(s) => quote(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A float as go-yaml writes it: `strconv.FormatFloat(f, 'g', -1, 64)`, so `1234567.5` is
/// `1.2345675e+06` and `0.00001` is `1e-05`.
fn format_float(f: f64) -> String {
    crate::gofmt::format_g(f)
}

/// A string as YAML: plain when safe, double-quoted when a reader would take it for another
/// type or it holds characters that need escapes, single-quoted otherwise.
pub(crate) fn quote(s: &str) -> Cow<'_, str> {
    if is_plain_word(s) {
        return Cow::Borrowed(s);
    }
    quote_checked(s)
}

/// Whether a text is written plain for certain, by a cheap test that most keys and names pass:
/// it starts with an ASCII letter and has only letters, digits, `-`, `_`, `.` and `/` (nothing
/// to escape or that YAML reads as syntax), and it is longer than the longest word YAML 1.1
/// reads as a boolean or null (`false`); a shorter one is looked up among those words.
fn is_plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && (b.len() > 5 || !resolves_to_non_string(s))
}

/// [`quote`] for any text.
fn quote_checked(s: &str) -> Cow<'_, str> {
    if resolves_to_non_string(s) || needs_escapes(s) {
        return Cow::Owned(double_quoted(s));
    }
    if plain_ok(s) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(single_quoted(s))
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn needs_escapes(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || unprintable(c) || c == '\u{2028}' || c == '\u{2029}')
}

fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else { return false };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    let followed_by_space = |i: usize| b.get(i + 1).is_none_or(|c| *c == b' ' || *c == b'\t');
    match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@'
        | b'`' => {
            return false;
        }
        b'?' | b':' | b'-' if followed_by_space(0) => return false,
        _ => {}
    }
    if s == "-" || s == "?" || s == ":" {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        match c {
            b':' if followed_by_space(i) => return false,
            b'#' if i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') => return false,
            _ => {}
        }
    }
    true
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // go-yaml's escapes: its short ones, else `\x`, `\u` or `\U` and upper-case digits.
            '\u{0}' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() || unprintable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_words_are_what_the_full_check_writes_plain() {
        // Every word of YAML 1.1 and 1.2 that reads as a boolean or null, and words like them.
        let mut words: Vec<String> = [
            "y",
            "Y",
            "yes",
            "Yes",
            "YES",
            "n",
            "N",
            "no",
            "No",
            "NO",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "true",
            "True",
            "TRUE",
            "false",
            "False",
            "FALSE",
            "null",
            "Null",
            "NULL",
            "nan",
            "inf",
            "Infinity",
            "yess",
            "nulls",
            "falsey",
            "offset",
            "name",
            "kind",
            "apiVersion",
            "a.b/c-d_e",
            "x1",
            "e1",
            "E10",
            "t",
            "f",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        // All words of up to three letters from a mixed alphabet, and longer ones.
        let alphabet = ["a", "n", "o", "y", "N", "O", "Y", "e", "s", "f", "1", ".", "-", "/", "_"];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    words.push(format!("{a}{b}{c}"));
                    words.push(format!("{a}{b}"));
                    words.push(format!("{a}{b}{c}{a}{b}{c}"));
                }
            }
        }
        for w in &words {
            if is_plain_word(w) {
                assert!(matches!(quote_checked(w), Cow::Borrowed(p) if p == w), "{w}");
            }
            assert_eq!(quote(w), quote_checked(w), "{w}");
        }
        assert!(!is_plain_word("yes") && !is_plain_word("False") && !is_plain_word("a: b") && !is_plain_word("1a"));
    }

    #[test]
    fn literal_blocks_where_go_yaml_writes_them() {
        // As `kubectl kustomize` v5.5 writes each string.
        let cases = [
            ("x\ny", "a: |-\n  x\n  y\n"),
            ("x\ny\n", "a: |\n  x\n  y\n"),
            ("x\n\n", "a: |+\n  x\n\n"),
            // A space before a line break, or at the end, would be lost: double quotes.
            ("x \ny", "a: \"x \\ny\"\n"),
            ("x\ny ", "a: \"x\\ny \"\n"),
            ("x\n \n", "a: \"x\\n \\n\"\n"),
            // A space after a line break is kept in a block.
            ("x\n y", "a: |-\n  x\n   y\n"),
            // A leading space or line break takes the indentation indicator.
            (" x\ny", "a: |2-\n   x\n  y\n"),
            ("  x\n", "a: |2\n    x\n"),
            ("\nx", "a: |2-\n\n  x\n"),
            ("\n", "a: |2+\n\n"),
            ("\n\n", "a: |2+\n\n\n"),
            // A tab or a carriage return: double quotes.
            ("x\ty\nz", "a: \"x\\ty\\nz\"\n"),
            ("x\r\ny", "a: \"x\\r\\ny\"\n"),
        ];
        for (value, want) in cases {
            assert_eq!(super::emit(&crate::json!({ "a": value })), want, "{value:?}");
        }
    }

    #[test]
    fn folded_blocks_come_back_as_go_yaml_reads_what_it_wrote() {
        // Pairs checked with kubectl kustomize v5.5 (a ConfigMap value written with `>`).
        for (read, built) in [
            ("one\n  two\nthree\n", "one\n\n  two\nthree\n"),
            ("x\n\n y\n", "x\n\n\n y\n"),
            ("keep\n\n", "keep\n\n\n"),
            ("x\n y\n\nz\n", "x\n\n y\n\nz\n"),
            ("p\nq\n\nr", "p\nq\n\nr"),
            ("plain folded\n", "plain folded\n"),
            (" leading\nnext\n", " leading\nnext\n"),
            ("trailing space \nx\n", "trailing space \nx\n"),
        ] {
            assert_eq!(super::folded_round_trip(read), built, "{read:?}");
        }
    }

    #[test]
    fn keys_in_go_yaml_order() {
        // As `kubectl kustomize` v5.5 writes a ConfigMap's data keys.
        let mut keys = vec!["zeta", "alpha", "client_ca", "clientAuth", "b_c", "bA", "a10", "a9", "a09x", "1a", "12"];
        keys.sort_by(|a, b| super::go_key_order(a, b));
        assert_eq!(keys, ["12", "1a", "a9", "a09x", "a10", "alpha", "b_c", "bA", "client_ca", "clientAuth", "zeta"]);
        let v = crate::json!({"data": {"file10": "x", "file9": "y", "file_a": "z", "fileB": "w"}});
        assert_eq!(super::emit(&v), "data:\n  file_a: z\n  file9: \"y\"\n  file10: x\n  fileB: w\n");
    }

    #[test]
    fn keys_whose_order_is_not_total_are_written() {
        // Found by the fuzz target: runs of digits whose numeric values wrap make go-yaml's
        // order inconsistent, and the standard library's sort panicked on these keys.
        let keys = [
            "633331686666660267168560694  apiVdat",
            "63666660267168",
            "6366666026716866667, si666d8560694aa",
            "6333323tA",
            "6666666666atA",
            "636666\t000  wwwta",
            "00011049135098406041141  apiVdat",
            "6666\u{16}666666a333",
            "dat4d",
        ];
        let map: crate::value::Map<String, crate::value::Value> =
            keys.iter().map(|k| (k.to_string(), crate::value::Value::from(1))).collect();
        let text = super::emit(&crate::value::Value::Object(map));
        assert_eq!(text.lines().count(), keys.len(), "{text}");
        // On a total order (here: runs of digits of one length, letters of both cases), the
        // sort is the standard library's stable sort.
        let owned: Vec<String> =
            (0..300).map(|i| format!("{}{:03}x{:02}", ["k", "K", "k_"][i % 3], (i * 7919) % 101, i % 13)).collect();
        let mut words: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut expected = words.clone();
        expected.sort_by(|a, b| super::go_key_order(a, b));
        crate::stable_sort_by(&mut words, &|a, b| super::go_key_order(a, b));
        assert_eq!(words, expected);
    }

    #[test]
    fn ascii_keys_order_the_same_as_bytes_and_as_runes() {
        // Every key of up to three characters from an alphabet with letters of both cases,
        // digits (with zeros, for the numeric runs) and punctuation: the byte comparison used
        // for ASCII keys gives the rune comparison's answer on every pair.
        let alphabet = ['a', 'B', 'z', '0', '1', '9', '-', '.', '_'];
        let mut keys = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> =
                keys.iter().flat_map(|k| alphabet.iter().map(move |c| format!("{k}{c}"))).collect();
            keys.extend(longer);
        }
        keys.sort();
        keys.dedup();
        for a in &keys {
            let ac: Vec<char> = a.chars().collect();
            for b in &keys {
                let bc: Vec<char> = b.chars().collect();
                assert_eq!(super::rune_order(a.as_bytes(), b.as_bytes()), super::rune_order(&ac, &bc), "{a:?} {b:?}");
            }
        }
    }

    use super::*;
    use crate::json;

    #[test]
    fn folds_like_go_yaml_v2() {
        let long = "word ".repeat(30).trim_end().to_string();
        let v = crate::json!({ "k": long, "q": format!("{{ {long}") });
        let folded = emit_wrapped(&v, 80);
        assert!(folded.lines().all(|l| l.len() <= 86), "{folded}");
        assert!(folded.contains("\n  word"), "{folded}");
        assert_eq!(crate::yaml::parse_value(&folded, "t", 0, 1).unwrap().unwrap(), v);
        assert_eq!(emit(&v).lines().count(), 2);
    }

    #[test]
    fn layout() {
        let v = json!({
            "b": [{"x": 1, "y": [1, 2]}, "s", [], {}],
            "a": {"n": null, "t": true, "f": 0.5, "e": {}},
            "y": "yes",
            "block": "line1\nline2\n",
            "strip": "a\nb",
            "star": "*",
            "colon": "a: b",
            "hash": "a #b",
            "num": "0644",
            "dash": "-x",
            "tab": "a\tb"
        });
        let want = "a:\n  e: {}\n  f: 0.5\n  \"n\": null\n  t: true\nb:\n- x: 1\n  \"y\":\n  - 1\n  - 2\n- s\n- []\n- {}\nblock: |\n  line1\n  line2\ncolon: 'a: b'\ndash: -x\nhash: 'a #b'\nnum: \"0644\"\nstar: '*'\nstrip: |-\n  a\n  b\ntab: \"a\\tb\"\n\"y\": \"yes\"\n";
        assert_eq!(emit(&v), want);
    }

    #[test]
    fn long_and_multi_line_keys_use_the_explicit_form() {
        let long = "k".repeat(129);
        let control = "\u{f}\u{5}".repeat(600);
        let v = json!({
            "data": {
                long.clone(): "v",
                "a\nb": {"x": 1, "y": [1]},
                control.clone(): "line1\nline2",
                "s": [1, 2],
                "k".repeat(128): 1
            }
        });
        let text = emit(&v);
        assert!(text.contains(&format!("  ? {long}\n  : v\n")), "{text}");
        assert!(text.contains("  ? \"a\\nb\"\n  : x: 1\n    \"y\":\n    - 1\n"), "{text}");
        assert!(text.contains(&format!("  {}: 1\n", "k".repeat(128))), "{text}");
        let back = crate::yaml::parse_value(&text, "t", 0, 1).unwrap().unwrap();
        assert_eq!(back, v, "{text}");
        let seq = json!({"s": [{long.clone(): [1, 2]}]});
        let text = emit(&seq);
        assert_eq!(text, format!("s:\n- ? {long}\n  :\n  - 1\n  - 2\n"));
        assert_eq!(crate::yaml::parse_value(&text, "t", 0, 1).unwrap().unwrap(), seq);
    }

    /// The bytes `kubectl kustomize` v5.5 printed for these values (2026-12-07): go-yaml's
    /// short escapes, `\U` past the Basic Multilingual Plane, and U+2028/U+2029 written as they
    /// are in single quotes, the text after one indented on the same line (a map value by the
    /// key's column plus two, a sequence item by the dash's), double quotes where a space or a
    /// tab is next to one.
    #[test]
    fn escapes_and_unicode_line_breaks_as_kubectl_writes_them() {
        let v = json!({
            "data": {
                "a": "x\u{2028}y",
                "b": "\u{2028}x",
                "c": "x\u{2029}",
                "d": "a\u{2028}\u{2028}b",
                "e": "it\u{2028}s'q",
                "f": "x \u{2028}y",
                "g": "x\u{2028} y",
                "h": "x\u{2028}\ty",
                "i": format!("{}\u{2028}{}end", "word ".repeat(20), "tail ".repeat(20)),
                "j": format!("{}z\u{2029}y", "w ".repeat(50)),
                "k": "a\u{7}b\u{8}c\u{b}d\u{c}e\u{1b}f\u{1}g\u{1f}h\u{85}i",
                "l": "\u{1f680}",
            },
            "spec": {"args": ["x\u{2028}y", "p\u{2029}q\u{2028}r"], "env": [{"value": "v\u{2028}w"}]}
        });
        let want = "data:\n  a: 'x\u{2028}    y'\n  b: '\u{2028}    x'\n  c: 'x\u{2029}'\n  d: 'a\u{2028}\u{2028}    b'\n  \
                    e: 'it\u{2028}    s''q'\n  f: \"x \\Ly\"\n  g: \"x\\L y\"\n  h: \"x\\L\\ty\"\n  \
                    i: \"word word word word word word word word word word word word word word word word\n    \
                    word word word word \\Ltail tail tail tail tail tail tail tail tail tail tail tail\n    \
                    tail tail tail tail tail tail tail tail end\"\n  \
                    j: 'w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w\n    \
                    w w w w w w w w w w w w z\u{2029}    y'\n  \
                    k: \"a\\ab\\bc\\vd\\fe\\ef\\x01g\\x1Fh\\Ni\"\n  l: \"\\U0001F680\"\n\
                    spec:\n  args:\n  - 'x\u{2028}    y'\n  - 'p\u{2029}    q\u{2028}    r'\n  env:\n  - value: 'v\u{2028}      w'\n";
        assert_eq!(emit_wrapped(&v, 80), want);
    }

    /// Literal blocks as `kubectl kustomize` v5.5 printed them (2026-12-07): a character it
    /// escapes, or a space before U+2028, sends the text to double quotes; U+2028 and U+2029
    /// inside a block are written as they are, the text after them indented again on the same
    /// line, and count as line breaks for the chomping indicator and the indentation one.
    #[test]
    fn literal_blocks_with_unicode_line_breaks_as_kubectl_writes_them() {
        let v = json!({
            "a": "a\nb\u{1f600}",
            "b": "a\nb\u{2028}c\n",
            "c": "a\nb\u{feff}",
            "d": "l1\nl2 \u{2028}x",
            "e": "a\n\u{2028}b\n\u{2028}\n",
            "f": "\u{2028}x\ny",
        });
        let want = "a: \"a\\nb\\U0001F600\"\nb: |\n  a\n  b\u{2028}  c\nc: \"a\\nb\\uFEFF\"\n\
                    d: \"l1\\nl2 \\Lx\"\ne: |+\n  a\n\u{2028}  b\n\u{2028}\nf: |2-\n\u{2028}  x\n  y\n";
        assert_eq!(emit_wrapped(&v, 80), want);
    }

    #[test]
    fn round_trip_through_the_reader() {
        let v = json!({"k": ["", " lead", "trail ", "it's", "\u{7}", "a\n\nb\n\n", "- x", "{a}", "1.0", ".5", "@x", "%x",
                "x\u{2028}y", "a\nb\u{2028}c\n", "\u{2028}x\ny", "a\nb\u{2029}", "a\n\u{2028}b\n\u{2028}\n", "\u{1f600}\u{85}"]});
        let text = emit(&v);
        let back = crate::yaml::parse_value(&text, "t", 0, 1).unwrap().unwrap();
        assert_eq!(back, v, "{text}");
    }
}
