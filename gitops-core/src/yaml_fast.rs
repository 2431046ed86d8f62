//! A fast reader for the block YAML that config repositories are written in: indented
//! mappings and sequences, one-line plain and quoted scalars, literal and folded block
//! scalars, `[]`/`{}` and one-line flow sequences of scalars, comments.
//!
//! It produces the same parser events as yaml-rust2, from a line-by-line scan instead of a
//! character-by-character one (about a tenth of the work on Kubernetes manifests). Anything
//! outside that subset, and anything that is an error, makes it give up: the caller then
//! reads the text again with yaml-rust2, which decides and reports the error. It never
//! decides a text is wrong on its own, so its only duty is to agree with yaml-rust2 on what
//! it accepts; `tests::agrees_with_yaml_rust2` and the `yaml_fast` fuzz target check that.

use std::borrow::Cow;

use yaml_rust2::Event;
use yaml_rust2::scanner::TScalarStyle;

/// The text is outside the subset (or is wrong): read it with yaml-rust2.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GiveUp;

type R<T = ()> = Result<T, GiveUp>;

/// The longest key yaml-rust2 takes as a simple key is 1,024 characters; longer ones are left
/// to it.
const MAX_KEY: usize = 1000;

/// Feeds the events of a one-document text to `sink` with the (1-based) line each starts on,
/// or gives up. The sink's own error also gives up (yaml-rust2's reading then reports it
/// with its location).
pub(crate) fn feed(text: &str, sink: &mut dyn FnMut(Event, usize) -> Result<(), String>) -> R {
    if !plain_text(text) {
        return Err(GiveUp);
    }
    let lines: Vec<&str> = crate::split_ascii(text, b'\n').collect();
    if lines.iter().any(|l| l.starts_with("---") || l.starts_with("...") || l.starts_with('%')) {
        return Err(GiveUp);
    }
    let mut p = Reader { lines, i: 0, sink };
    let Some((j, indent)) = p.next_content() else { return Err(GiveUp) };
    p.i = j;
    p.emit(Event::DocumentStart, j + 1)?;
    p.block_node(indent)?;
    if p.next_content().is_some() {
        return Err(GiveUp);
    }
    p.emit(Event::DocumentEnd, p.lines.len())
}

/// No tab, carriage return, control character, byte order mark or Unicode line break, which
/// the line scan does not handle as YAML does.
fn plain_text(text: &str) -> bool {
    let bytes_ok = text.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b) || b >= 0x80);
    bytes_ok
        && (text.is_ascii()
            || text.chars().all(|c| {
                c.is_ascii()
                    || matches!(c, '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
                        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
            }))
}

struct Reader<'a, 's> {
    lines: Vec<&'a str>,
    /// The line being read.
    i: usize,
    sink: &'s mut dyn FnMut(Event, usize) -> Result<(), String>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A block sequence entry: `-` then a space or the end of the line.
fn is_entry(text: &str) -> bool {
    let b = text.as_bytes();
    b.first() == Some(&b'-') && (b.len() == 1 || b[1] == b' ')
}

/// Empty, or spaces then a comment (a `#` needs a space before it to start one).
fn is_rest_blank(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

fn scalar(text: String, style: TScalarStyle) -> Event {
    Event::Scalar(text, style, 0, None)
}

impl<'a> Reader<'a, '_> {
    fn emit(&mut self, event: Event, line: usize) -> R {
        (self.sink)(event, line).map_err(|_| GiveUp)
    }

    /// The next line from `self.i` with content (not blank, not only a comment), with its
    /// indentation.
    fn next_content(&self) -> Option<(usize, usize)> {
        self.lines[self.i.min(self.lines.len())..].iter().enumerate().find_map(|(k, l)| {
            let indent = indent_of(l);
            let rest = &l[indent..];
            (!rest.is_empty() && !rest.starts_with('#')).then_some((self.i + k, indent))
        })
    }

    /// A block collection that starts on line `self.i` at column `indent`.
    fn block_node(&mut self, indent: usize) -> R {
        let text: &'a str = &self.lines[self.i][indent..];
        if is_entry(text) {
            self.sequence(indent, false)
        } else if let Some(first) = key(text)? {
            self.mapping(indent, first)
        } else {
            // A scalar on its own line (or a flow collection): left to yaml-rust2.
            Err(GiveUp)
        }
    }

    /// The node of a key or entry whose value is on the lines below: a more indented
    /// collection, an indentless sequence under a mapping key, or else null.
    fn value_below(&mut self, indent: usize, in_mapping: bool) -> R {
        self.i += 1;
        match self.next_content() {
            Some((j, ind)) if ind > indent => {
                self.i = j;
                self.block_node(ind)
            }
            Some((j, ind)) if in_mapping && ind == indent && is_entry(&self.lines[j][ind..]) => {
                self.i = j;
                self.sequence(indent, true)
            }
            _ => self.emit(scalar(String::new(), TScalarStyle::Plain), self.i),
        }
    }

    /// A block sequence whose entries start at column `indent`; `indentless` when it is the
    /// value of a mapping key at the same column (it then ends at the next key).
    fn sequence(&mut self, indent: usize, indentless: bool) -> R {
        self.emit(Event::SequenceStart(0, None), self.i + 1)?;
        loop {
            let line = self.lines[self.i];
            let after_dash = &line[indent + 1..];
            let item = after_dash.trim_start_matches(' ');
            let col = line.len() - item.len();
            if item.is_empty() || item.starts_with('#') {
                self.value_below(indent, false)?;
            } else if is_entry(item) {
                return Err(GiveUp);
            } else if let Some(first) = key(item)? {
                self.mapping(col, first)?;
            } else {
                self.inline_value(item, indent)?;
            }
            if !self.next_entry(indent, true, indentless)? {
                break;
            }
        }
        self.emit(Event::SequenceEnd, self.i + 1)
    }

    /// A block mapping whose keys start at column `indent`, its first key (on the current
    /// line, after a sequence's dash or not) already read.
    fn mapping(&mut self, indent: usize, first: Key<'a>) -> R {
        self.emit(Event::MappingStart(0, None), self.i + 1)?;
        let mut first = Some(first);
        loop {
            let entry = match first.take() {
                Some(entry) => Some(entry),
                None => key(&self.lines[self.i][indent..])?,
            };
            let Some((k, style, rest)) = entry else { return Err(GiveUp) };
            self.emit(scalar(k.into_owned(), style), self.i + 1)?;
            let value = rest.trim_start_matches(' ');
            if value.is_empty() || value.starts_with('#') {
                self.value_below(indent, true)?;
            } else {
                self.inline_value(value, indent)?;
            }
            if !self.next_entry(indent, false, false)? {
                break;
            }
        }
        self.emit(Event::MappingEnd, self.i + 1)
    }

    /// After an entry of a sequence or mapping at column `indent`: moves to the next line
    /// with content and tells whether it is the collection's next entry (`false`: the
    /// collection ends there). Gives up on a line the collection cannot take (more indented,
    /// or the other kind of entry at its column).
    fn next_entry(&mut self, indent: usize, sequence: bool, indentless: bool) -> R<bool> {
        let Some((j, ind)) = self.next_content() else {
            self.i = self.lines.len();
            return Ok(false);
        };
        self.i = j;
        let dash = ind == indent && is_entry(&self.lines[j][ind..]);
        if ind == indent && dash == sequence {
            Ok(true)
        } else if ind < indent || (ind == indent && indentless) {
            Ok(false)
        } else {
            Err(GiveUp)
        }
    }

    /// A value that starts on the current line after a key or a dash (`text`, not empty and
    /// not a comment), in a collection at column `indent`. Moves past its last line.
    fn inline_value(&mut self, text: &str, indent: usize) -> R {
        let line = self.i + 1;
        match text.as_bytes()[0] {
            b'"' | b'\'' => {
                let (s, style, rest) = quoted(text)?;
                if !is_rest_blank(rest) {
                    return Err(GiveUp);
                }
                self.emit(scalar(s, style), line)?;
            }
            b'[' => self.flow_sequence(text)?,
            b'{' => {
                let rest = text[1..].trim_start_matches(' ');
                if !rest.starts_with('}') || !is_rest_blank(&rest[1..]) {
                    return Err(GiveUp);
                }
                self.emit(Event::MappingStart(0, None), line)?;
                self.emit(Event::MappingEnd, line)?;
            }
            b'|' | b'>' => return self.block_scalar(text, indent),
            _ => {
                let s = plain(text, false)?;
                if s.len() != text.len() && !is_rest_blank(&text[s.len()..]) {
                    return Err(GiveUp);
                }
                self.emit(scalar(s.to_string(), TScalarStyle::Plain), line)?;
            }
        }
        self.i += 1;
        Ok(())
    }

    /// `[a, "b", 'c']` on one line.
    fn flow_sequence(&mut self, text: &str) -> R {
        let line = self.i + 1;
        self.emit(Event::SequenceStart(0, None), line)?;
        let mut rest = text[1..].trim_start_matches(' ');
        loop {
            if let Some(after) = rest.strip_prefix(']') {
                if !is_rest_blank(after) {
                    return Err(GiveUp);
                }
                break;
            }
            let (s, style, after) = match rest.as_bytes().first() {
                Some(b'"' | b'\'') => quoted(rest)?,
                Some(_) => {
                    let s = plain(rest, true)?;
                    (s.to_string(), TScalarStyle::Plain, &rest[s.len()..])
                }
                None => return Err(GiveUp),
            };
            self.emit(scalar(s, style), line)?;
            let after = after.trim_start_matches(' ');
            rest = match after.as_bytes().first() {
                Some(b',') => after[1..].trim_start_matches(' '),
                Some(b']') => after,
                _ => return Err(GiveUp),
            };
            if rest.starts_with(',') {
                return Err(GiveUp);
            }
        }
        self.emit(Event::SequenceEnd, line)
    }

    /// `|` or `>` with chomping `-` or none, its content the following lines indented more
    /// than the collection at `indent`.
    fn block_scalar(&mut self, text: &str, indent: usize) -> R {
        let line = self.i + 1;
        let literal = text.starts_with('|');
        let mut header = &text[1..];
        let strip = header.starts_with('-');
        if strip {
            header = &header[1..];
        }
        if !is_rest_blank(header) {
            return Err(GiveUp);
        }
        self.i += 1;
        let start = self.i;
        // The content's indentation is the first line's; content with no line more indented
        // than the collection is left to yaml-rust2.
        let first = self.lines[start..].iter().position(|l| !l.trim_start_matches(' ').is_empty());
        // Leading blank lines (line breaks at the start of the value) are left to yaml-rust2.
        if first != Some(0) {
            return Err(GiveUp);
        }
        let first = start;
        let m = indent_of(self.lines[first]);
        if m <= indent {
            return Err(GiveUp);
        }
        let mut end = first;
        let mut k = first;
        while k < self.lines.len() {
            let l = self.lines[k];
            if l.trim_start_matches(' ').is_empty() {
                if l.len() > m {
                    return Err(GiveUp);
                }
            } else if indent_of(l) < m {
                break;
            } else {
                end = k + 1;
            }
            k += 1;
        }
        // A block that runs to the end of a text with no final line break: yaml-rust2 has its
        // own ideas of the last line breaks there.
        if k == self.lines.len() && self.lines.last().is_some_and(|l| !l.is_empty()) {
            return Err(GiveUp);
        }
        let body = &self.lines[first..end];
        let mut s = String::with_capacity(body.iter().map(|l| l.len() + 1).sum());
        if literal {
            for (n, l) in body.iter().enumerate() {
                if n > 0 {
                    s.push('\n');
                }
                s.push_str(l.get(m..).unwrap_or(""));
            }
        } else {
            // Folded: a line break between two text lines is a space; n blank lines between
            // them are n line breaks. More indented lines keep their breaks: left to
            // yaml-rust2.
            let mut blanks = 0;
            let mut any = false;
            for l in body {
                let t = l.get(m..).unwrap_or("");
                if t.is_empty() {
                    blanks += 1;
                    continue;
                }
                if t.starts_with(' ') {
                    return Err(GiveUp);
                }
                if any {
                    if blanks == 0 {
                        s.push(' ');
                    }
                    s.extend(std::iter::repeat_n('\n', blanks));
                }
                blanks = 0;
                any = true;
                s.push_str(t);
            }
        }
        if !strip {
            s.push('\n');
        }
        let style = if literal { TScalarStyle::Literal } else { TScalarStyle::Folded };
        self.emit(scalar(s, style), line)?;
        self.i = end;
        Ok(())
    }
}

/// A mapping entry's key (borrowed when plain), its style, and the text after the colon.
type Key<'a> = (Cow<'a, str>, TScalarStyle, &'a str);

/// The key of a mapping entry that starts `text`, with its style and the text after the
/// colon; `None` when `text` is not `key: ...` (a scalar, or something else).
fn key(text: &str) -> R<Option<Key<'_>>> {
    match text.as_bytes()[0] {
        b'"' | b'\'' => {
            let Ok((k, style, rest)) = quoted(text) else { return Ok(None) };
            let k: Cow<'_, str> = Cow::Owned(k);
            let rest = rest.trim_start_matches(' ');
            match rest.strip_prefix(':') {
                Some(after) if after.is_empty() || after.starts_with(' ') => {
                    if k.len() > MAX_KEY {
                        return Err(GiveUp);
                    }
                    Ok(Some((k, style, after)))
                }
                _ => Ok(None),
            }
        }
        c if is_indicator(c) => Ok(None),
        _ => {
            let b = text.as_bytes();
            for (n, &c) in b.iter().enumerate() {
                match c {
                    b'#' if n > 0 && b[n - 1] == b' ' => return Ok(None),
                    b':' if n + 1 == b.len() || b[n + 1] == b' ' => {
                        let k = text[..n].trim_end_matches(' ');
                        if k.len() > MAX_KEY {
                            return Err(GiveUp);
                        }
                        return Ok(Some((Cow::Borrowed(k), TScalarStyle::Plain, &text[n + 1..])));
                    }
                    _ => {}
                }
            }
            Ok(None)
        }
    }
}

/// Characters that cannot start a plain scalar here (the subset is stricter than YAML:
/// `-`, `?` and `:` never start one, except `-` before a character that is not a space).
fn is_indicator(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// The plain scalar at the start of `text` (which is not blank): up to a comment or the end
/// (in a flow sequence, up to `,` or `]`), without trailing spaces. Gives up on a colon
/// that could be a value indicator, and in flow on any indicator.
fn plain(text: &str, flow: bool) -> R<&str> {
    let b = text.as_bytes();
    let first = b[0];
    if is_indicator(first) && !(first == b'-' && b.len() > 1 && b[1] != b' ' && !(flow && is_flow(b[1]))) {
        return Err(GiveUp);
    }
    let mut end = b.len();
    for (n, &c) in b.iter().enumerate() {
        match c {
            b'#' if n > 0 && b[n - 1] == b' ' => {
                end = n;
                break;
            }
            b':' if flow || n + 1 == b.len() || b[n + 1] == b' ' => return Err(GiveUp),
            b',' | b']' if flow => {
                end = n;
                break;
            }
            b'[' | b'{' | b'}' | b'#' | b'\'' | b'"' if flow => return Err(GiveUp),
            _ => {}
        }
    }
    let s = text[..end].trim_end_matches(' ');
    if s.is_empty() {
        return Err(GiveUp);
    }
    Ok(s)
}

fn is_flow(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

/// A quoted scalar that starts `text` and ends on the same line: its value, style and the
/// text after the closing quote.
fn quoted(text: &str) -> R<(String, TScalarStyle, &str)> {
    let q = text.as_bytes()[0];
    let body = &text[1..];
    let mut out = String::with_capacity(body.len());
    if q == b'\'' {
        let mut rest = body;
        loop {
            let n = rest.find('\'').ok_or(GiveUp)?;
            out.push_str(&rest[..n]);
            if rest[n + 1..].starts_with('\'') {
                out.push('\'');
                rest = &rest[n + 2..];
            } else {
                return Ok((out, TScalarStyle::SingleQuoted, &rest[n + 1..]));
            }
        }
    }
    let mut chars = body.char_indices();
    while let Some((n, c)) = chars.next() {
        match c {
            '"' => return Ok((out, TScalarStyle::DoubleQuoted, &body[n + 1..])),
            '\\' => {
                let (_, e) = chars.next().ok_or(GiveUp)?;
                let hex = |chars: &mut std::str::CharIndices<'_>, len: usize| -> R<char> {
                    let mut v = 0u32;
                    for _ in 0..len {
                        let (_, h) = chars.next().ok_or(GiveUp)?;
                        v = v * 16 + h.to_digit(16).ok_or(GiveUp)?;
                    }
                    char::from_u32(v).ok_or(GiveUp)
                };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return Err(GiveUp),
                });
            }
            c => out.push(c),
        }
    }
    Err(GiveUp)
}

/// Whether yaml-rust2's error is its refusal of a `-` before a flow indicator where that
/// `-` follows spaces inside a plain scalar (not at the start of one, where YAML refuses it
/// too).
fn dash_inside_flow_scalar(text: &str, e: &yaml_rust2::ScanError) -> bool {
    if e.info() != "plain scalar cannot start with '-' followed by ,[]{}" {
        return false;
    }
    let before: String = text.chars().take(e.marker().index()).collect();
    let content = before.trim_end_matches(' ');
    content.len() < before.len() && !content.ends_with([',', '[', '{', '\n']) && !content.is_empty()
}

/// What the fast reader makes of `text` next to yaml-rust2: `Ok(true)` when it read it and
/// gave the same events (scalars on the same lines), `Ok(false)` when it gave up, `Err` with
/// both event lists when they differ. For the differential tests and the fuzz target.
pub(crate) fn compare_with_yaml_rust2(text: &str) -> Result<bool, String> {
    let mut fast = Vec::new();
    let read = feed(text, &mut |event, line| {
        fast.push((event, line));
        Ok(())
    });
    if read.is_err() {
        return Ok(false);
    }
    let mut reference = Vec::new();
    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((Event::StreamStart | Event::Nothing, _)) => {}
            Ok((event, mark)) => reference.push((event, mark.line())),
            // yaml-rust2 looks for a new scalar after each run of spaces inside a flow plain
            // scalar, and refuses a `-` before a flow indicator there (`[x -]`); YAML, and
            // go-yaml (kubectl), read it as part of the scalar (`x -`), as the fast reader does.
            Err(e) if dash_inside_flow_scalar(text, &e) => return Ok(true),
            Err(e) => return Err(format!("yaml-rust2 refuses what the fast reader read: {e}\nfast: {fast:?}")),
        }
    }
    // Only a key's line is used (the line of a repeated key).
    let strip = |events: &[(Event, usize)]| -> Vec<(Event, usize)> {
        // For each open collection: whether it is a mapping that expects a key next.
        let mut stack: Vec<Option<bool>> = Vec::new();
        let mut out = Vec::new();
        for (e, l) in events {
            let is_key = matches!(stack.last(), Some(Some(true)));
            match e {
                Event::MappingStart(..) => stack.push(Some(true)),
                Event::SequenceStart(..) => stack.push(None),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
            let line = if is_key && matches!(e, Event::Scalar(..)) { *l } else { 0 };
            // The node that ends (or a scalar) completes a key or a value of the mapping around it.
            if !matches!(e, Event::MappingStart(..) | Event::SequenceStart(..))
                && let Some(Some(expect)) = stack.last_mut()
            {
                *expect = !*expect;
            }
            out.push((e.clone(), line));
        }
        out
    };
    let (f, r) = (strip(&fast), strip(&reference));
    if f == r { Ok(true) } else { Err(format!("the readers differ\nfast:       {f:?}\nyaml-rust2: {r:?}")) }
}

#[cfg(test)]
mod tests {
    use super::compare_with_yaml_rust2 as compare;

    #[track_caller]
    fn reads(text: &str) {
        assert_eq!(compare(text), Ok(true), "{text}");
    }

    #[track_caller]
    fn gives_up(text: &str) {
        assert_eq!(compare(text), Ok(false), "{text}");
    }

    #[test]
    fn reads_manifests_as_yaml_rust2_does() {
        reads("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # the name\n  labels:\n    app: web\n");
        reads("a:\n- 1\n- two\n-   x: 1\n    y: [a, \"b\", 'c''d', ]\nb: {}\nc: []\n");
        reads("a:\n  - b:\n    - 1\n    c: ~\n  -\n    d: e\n  - \n  - # note\n    f: g\nz:\n");
        reads("k: |\n  line one\n\n    indented\n  three\nnext: >-\n  folded\n  text\n\n  para\n");
        reads("s: \"tab\\tq\\\"\\u00e9\\x41 \"\n'q k': 'it''s'\n\"d k\" : v\n");
        reads("  indented: root\n  other: 2\n");
        reads("url: http://example.com:80/x#frag\nneg: -5\nflag: --verbose\nhash: a#b\ntrail: x   \n");
        reads("# only\n\n# comments\nkey: value\n# end\n");
        reads("é: ünïcode\nk: 日本\n");
    }

    #[test]
    fn gives_up_outside_the_subset() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "? complex\n: key\n",
            "a: multi\n  line\n",
            "a: {b: 1}\n",
            "a: [1, [2]]\n",
            "a: |+\n  keep\n\n",
            "a: |2\n   x\n",
            "a: |\n\n  leading blank\n",
            "a: >\n  more\n    indented\n",
            "a:\tb\n",
            "a: b\r\n",
            "---\na: 1\n",
            "- - nested\n",
            "plain scalar\n",
            "a: b: c\n",
            "a: 'open\n  quote'\n",
            "a: 1\n - 2\n",
            "a:\n  b: 1\n c: 2\n",
        ] {
            gives_up(text);
        }
        // Found by the fuzz target: a block at the end of a text without a final line break.
        gives_up("k: |\n    line\n    ");
        gives_up("k: |\n  line");
        reads("a: [x -y, z - w, -v]\n");
    }

    #[test]
    fn reads_a_dash_after_spaces_in_a_flow_scalar_as_yaml_does() {
        // yaml-rust2 refuses these (found by the fuzz target); YAML and kubectl read `x& -`.
        for text in ["apa: [\"--a=1\",b  ,x& -]\n", "a: [x -,y]\n"] {
            assert_eq!(compare(text), Ok(true), "{text}");
        }
        let v = crate::yaml::parse_value("a: [x& -, y  -]\n", "t.yaml", 0, 1).unwrap().unwrap();
        assert_eq!(v, crate::json!({"a": ["x& -", "y  -"]}));
        // At the start of a scalar, YAML refuses it too.
        assert_eq!(compare("a: [x, -]\n"), Ok(false));
    }

    #[test]
    fn repeated_keys_are_read_with_their_line() {
        reads("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n");
    }

    /// Random block YAML from a small grammar, and random cuts and splices of it: every text
    /// the fast reader accepts must give yaml-rust2's events.
    #[test]
    fn agrees_with_yaml_rust2() {
        let mut rng =
            Rng(proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha));
        let (mut read, mut total) = (0, 0);
        for _ in 0..4000 {
            let mut text = String::new();
            node(&mut rng, &mut text, 0, 0);
            let variants = [text.clone(), mutate(&mut rng, &text), mutate(&mut rng, &text)];
            for v in variants {
                total += 1;
                match compare(&v) {
                    Ok(true) => read += 1,
                    Ok(false) => {}
                    Err(e) => panic!("{v:?}\n{e}"),
                }
            }
        }
        eprintln!("fast path read {read} of {total}");
        // The generator mostly writes the subset: most texts must take the fast path.
        assert!(read * 3 > total, "only {read} of {total} texts were read by the fast reader");
    }

    /// proptest's seeded generator, so a run repeats.
    struct Rng(proptest::test_runner::TestRng);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            use proptest::prelude::RngCore;
            (self.0.next_u64() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const SCALARS: &[&str] = &[
        "web",
        "1",
        "0755",
        "true",
        "yes",
        "~",
        "",
        "a b",
        "-1",
        "-x",
        "x:y",
        "a#b",
        "a # c",
        "\"q\"",
        "\"a\\tb\"",
        "\"\\u00e9\"",
        "'s'",
        "'it''s'",
        "''",
        "\"\"",
        "[]",
        "{}",
        "[a, b]",
        "[\"a\", 'b', ]",
        "[a, , b]",
        "[a,b,]",
        "1.5",
        "nginx:1.25",
        "http://x/y",
        "a: b",
        "a:",
        "-",
        "- x",
        "*ref",
        "&a x",
        "!t x",
        "?x",
        ":x",
        "@x",
        "`x",
        "%x",
        "#c",
        "é",
        "x   ",
        " x",
        "{a: 1}",
        "[[a]]",
        "'open",
        "\"open",
        "\\",
        "\"\\q\"",
        "a,b",
        "]",
        "}",
    ];
    const KEYS: &[&str] = &["a", "name", "b c", "\"q\"", "'s'", "x-y", "1", "true", "<<", "a#b", "k", "k"];

    /// A block node at `indent`, whose first line is already started when `inline` is set.
    fn node(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
        let pad = " ".repeat(indent);
        let entries = 1 + rng.below(3);
        let seq = rng.below(3) == 0;
        for e in 0..entries {
            if e > 0 || !out.ends_with(' ') {
                out.push_str(&pad);
            }
            if rng.below(12) == 0 {
                out.push_str(&format!("# note {e}\n{pad}"));
            }
            if seq {
                out.push_str("- ");
            } else {
                out.push_str(rng.pick(KEYS));
                out.push_str(": ");
            }
            value(rng, out, indent, depth, seq);
        }
    }

    fn value(rng: &mut Rng, out: &mut String, indent: usize, depth: usize, in_seq: bool) {
        match if depth > 3 { 0 } else { rng.below(6) } {
            0 | 1 => {
                out.push_str(rng.pick(SCALARS));
                if rng.below(8) == 0 {
                    out.push_str(" # c");
                }
                out.push('\n');
            }
            2 => {
                // A collection below, more indented (or an indentless sequence).
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push('\n');
                let step = [1, 2, 2, 4][rng.below(4)];
                node(rng, out, indent + step, depth + 1);
            }
            3 if in_seq => {
                // A compact mapping after the dash.
                let pad = " ".repeat(indent + 2);
                out.push_str(rng.pick(KEYS));
                out.push_str(": ");
                value(rng, out, indent + 2, depth + 1, false);
                out.push_str(&pad);
                out.push_str(rng.pick(KEYS));
                out.push_str(": ");
                value(rng, out, indent + 2, depth + 1, false);
            }
            4 => {
                out.push_str(rng.pick(&["|", "|-", ">", ">-", "|+", "|2", "| # c"]));
                out.push('\n');
                let pad = " ".repeat(indent + 1 + rng.below(3));
                for _ in 0..1 + rng.below(3) {
                    match rng.below(5) {
                        0 => out.push('\n'),
                        1 => out.push_str(&format!("{pad}  more\n")),
                        _ => out.push_str(&format!("{pad}{}\n", rng.pick(SCALARS))),
                    }
                }
            }
            _ => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push_str(if rng.below(4) == 0 { " # empty\n" } else { "\n" });
            }
        }
    }

    /// Cuts, duplicates or re-indents a line, or inserts an odd character.
    fn mutate(rng: &mut Rng, text: &str) -> String {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        if lines.is_empty() {
            return text.to_string();
        }
        let i = rng.below(lines.len());
        match rng.below(6) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => lines[i].insert(0, ' '),
            3 => {
                let l = lines[i].trim_start_matches(' ').to_string();
                lines[i] = l;
            }
            4 => {
                let at = rng.below(lines[i].len() + 1);
                let c = ["\t", ":", "#", " ", "-", "'", "\"", "[", "|"][rng.below(9)];
                if lines[i].is_char_boundary(at) {
                    lines[i].insert_str(at, c);
                }
            }
            _ => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
        }
        let text = lines.join("\n");
        // Now and then without the final line break.
        if rng.below(5) == 0 { text } else { text + "\n" }
    }
}
