//! Writes SOPS trees as go-yaml v3 writes them with `SetIndent(4)`: its scalar styles
//! (plain, single- or double-quoted, literal blocks), its indentation rules (a block nested
//! in a map aligns to the next multiple of the indent; items of a list start two columns
//! after the dash) and comments as SOPS places them (above items, or at the end of a block).

use super::goformat::yaml_float;
use super::tree::{Branch, Item, Scalar, Value};
use gitops_core::yaml::resolves_to_non_string as needs_quotes;

const INDENT: usize = 4;

fn next_indent(i: usize) -> usize {
    INDENT * ((i + INDENT) / INDENT)
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn comment_lines(out: &mut String, comments: &mut Vec<String>, col: usize) {
    for c in comments.drain(..) {
        pad(out, col);
        out.push('#');
        out.push_str(&c);
        out.push('\n');
    }
}

/// Writes one branch per document, separated by `---`.
pub fn emit(branches: &[Branch]) -> String {
    let mut out = String::new();
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if b.iter().any(|it| matches!(it, Item::Pair(..))) {
            map(b, 0, &mut out, true);
        } else {
            let mut comments: Vec<String> =
                b.iter().filter_map(|it| if let Item::Comment(c) = it { Some(c.clone()) } else { None }).collect();
            comment_lines(&mut out, &mut comments, 0);
            out.push_str("{}\n");
        }
    }
    out
}

/// Writes a map's items at column `col`. With `first_line`, the first key goes where the
/// output is (right after `- `).
fn map(b: &[Item], col: usize, out: &mut String, mut first_line: bool) {
    let mut pending: Vec<String> = Vec::new();
    for item in b {
        match item {
            Item::Comment(c) => pending.push(c.clone()),
            Item::Pair(k, v) => {
                comment_lines(out, &mut pending, col);
                if !first_line {
                    pad(out, col);
                }
                first_line = false;
                out.push_str(&key_text(k));
                out.push(':');
                after(v, next_indent(col), out);
            }
        }
    }
    comment_lines(out, &mut pending, col);
}

fn seq(items: &[Value], col: usize, out: &mut String, mut first_line: bool) {
    let mut pending: Vec<String> = Vec::new();
    for v in items {
        if let Value::Comment(c) = v {
            pending.push(c.clone());
            continue;
        }
        // Comments that open a map or list item go above its dash.
        match v {
            Value::Map(b) => {
                pending.extend(b.iter().map_while(|i| if let Item::Comment(c) = i { Some(c.clone()) } else { None }))
            }
            Value::Seq(s) => {
                pending.extend(s.iter().map_while(|i| if let Value::Comment(c) = i { Some(c.clone()) } else { None }))
            }
            _ => {}
        }
        if !pending.is_empty() && first_line {
            out.push('\n');
        }
        if !pending.is_empty() {
            first_line = false;
        }
        comment_lines(out, &mut pending, col);
        if !first_line {
            pad(out, col);
        }
        first_line = false;
        out.push('-');
        match v {
            Value::Map(b) if b.iter().any(|i| matches!(i, Item::Pair(..))) => {
                out.push(' ');
                let skip = b.iter().take_while(|i| matches!(i, Item::Comment(_))).count();
                map(&b[skip..], col + 2, out, true);
            }
            Value::Seq(s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
                out.push(' ');
                let skip = s.iter().take_while(|i| matches!(i, Value::Comment(_))).count();
                seq(&s[skip..], col + 2, out, true);
            }
            other => after(other, col + 2, out),
        }
    }
    comment_lines(out, &mut pending, col);
}

/// Writes what follows `key:` or `-`: `block` is the column of a nested block.
fn after(v: &Value, block: usize, out: &mut String) {
    match v {
        Value::Map(b) if b.iter().any(|i| matches!(i, Item::Pair(..))) => {
            out.push('\n');
            map(b, block, out, false);
        }
        Value::Seq(s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
            out.push('\n');
            seq(s, block, out, false);
        }
        Value::Map(b) => {
            out.push_str(" {}\n");
            let mut c: Vec<String> =
                b.iter().filter_map(|i| if let Item::Comment(c) = i { Some(c.clone()) } else { None }).collect();
            comment_lines(out, &mut c, block);
        }
        Value::Seq(s) => {
            out.push_str(" []\n");
            let mut c: Vec<String> =
                s.iter().filter_map(|i| if let Value::Comment(c) = i { Some(c.clone()) } else { None }).collect();
            comment_lines(out, &mut c, block);
        }
        Value::Comment(c) => {
            out.push_str(" null\n");
            let _ = c;
        }
        Value::Scalar(s) => {
            out.push(' ');
            scalar(s, block, out);
            out.push('\n');
        }
    }
}

fn scalar(s: &Scalar, block: usize, out: &mut String) {
    match s {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Int(i) => out.push_str(&i.to_string()),
        Scalar::Float(f) => out.push_str(&yaml_float(*f)),
        Scalar::Time(t) => out.push_str(t),
        Scalar::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => string(s, block, out, false),
            Err(_) => {
                use base64::Engine;
                out.push_str("!!binary ");
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            }
        },
        Scalar::Str(s) => string(s, block, out, false),
    }
}

fn key_text(k: &str) -> String {
    let mut out = String::new();
    string(k, 0, &mut out, true);
    out
}

#[derive(Default)]
struct Analysis {
    multiline: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || c == 0x85
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&c)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

/// libyaml's `yaml_emitter_analyze_scalar`, as go-yaml v3 has it.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { multiline: false, block_plain: true, single: true, block: false };
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut block_ind, mut line_breaks, mut special, mut tabs) = (false, false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) = (false, false, false, false);
    if (s.starts_with("---") || s.starts_with("...")) && is_blankz(chars.get(3).copied()) {
        block_ind = true;
    }
    let mut preceded_by_ws = true;
    let last = chars.len() - 1;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_ind = true
                }
                '?' | ':' if followed_by_ws => block_ind = true,
                '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_ind = true,
                '#' if preceded_by_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == last {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == last {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blankz(Some(c));
    }
    let mut a = Analysis { multiline: line_breaks, block_plain: true, single: true, block: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks {
        a.block_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn string(s: &str, block: usize, out: &mut String, key: bool) {
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if needs_quotes(s) {
        Style::Double
    } else {
        Style::Plain
    };
    let a = analyze(s);
    if key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block || key) {
        style = Style::Double;
    }
    match style {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Double => double_quoted(s, out),
        Style::Literal => literal(s, block, out),
    }
}

fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let escape = !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\';
        if !escape {
            out.push(c);
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}

fn literal(s: &str, block: usize, out: &mut String) {
    out.push('|');
    let first = s.chars().next();
    if first.is_some_and(|c| c == ' ' || is_break(c)) {
        out.push_str(&INDENT.to_string());
    }
    let mut rev = s.chars().rev();
    match (rev.next(), rev.next()) {
        (Some(l), _) if !is_break(l) => out.push('-'),
        (Some(_), None) => out.push('+'),
        (Some(_), Some(p)) if is_break(p) => out.push('+'),
        _ => {}
    }
    out.push('\n');
    let mut at_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            at_start = true;
        } else {
            if at_start {
                pad(out, block);
                at_start = false;
            }
            out.push(c);
        }
    }
    if s.ends_with('\n') {
        // The scalar's own last break ends the line.
        out.pop();
    }
}
