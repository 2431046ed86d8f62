//! `spec.template.data`: the subset of Go `text/template` (with Sprig's common functions) that
//! SealedSecret templates use. Data is the map of decrypted items; the output is bytes.
//!
//! Supported: text with `{{ }}` actions, trim markers `{{-` / `-}}`, comments, pipelines
//! `a | b`, parentheses, `.item`, `.`, string/raw-string/number/bool literals, and the
//! functions `index`, `print`, `printf` (`%s %d %v %q`), `len`, `toJson`, `quote`, `squote`,
//! `b64enc`, `b64dec`, `upper`, `lower`, `trim`, `trimPrefix`, `trimSuffix`, `trimAll`,
//! `replace`, `default`, `indent`, `nindent`, `sha256sum`. Control structures (`if`,
//! `range`, `with`, `define`) are refused with a clear error.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

type Items = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// The most a value may grow to while rendering: a whole Secret holds at most 1 MiB, so a
/// template (`quote` piped into itself, a huge `indent`) cannot take more memory than that.
const MAX_VALUE_BYTES: usize = 1 << 20;

#[derive(Clone, Debug)]
enum V {
    Dot,
    Bytes(Vec<u8>),
    Int(i64),
    Bool(bool),
    NoValue,
}

impl Drop for V {
    fn drop(&mut self) {
        if let V::Bytes(b) = self {
            zeroize::Zeroize::zeroize(b);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Pipe,
    Open,
    Close,
    Ident(String),
    Field(Vec<String>),
    Dot,
    Str(String),
    Int(i64),
}

/// Renders `source` with `items`; errors are plain text without any item value.
pub(crate) fn render(source: &str, items: &Items) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::new());
    let mut rest = source;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut out, rest, trim_next, false);
            break;
        };
        let mut text = &rest[..open];
        let after = &rest[open + 2..];
        let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_next {
            text = text.trim_start();
        }
        push_text(&mut out, text, false, trim_left);
        let body_start = if trim_left { &after[2..] } else { after };
        let (body, trim_right, tail) = close_action(body_start)?;
        rest = tail;
        trim_next = trim_right;
        let body = body.trim();
        if body.starts_with("/*") {
            if !body.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            continue;
        }
        let toks = lex(body)?;
        let mut pos = 0;
        let v = pipeline(&toks, &mut pos, items)?;
        if pos != toks.len() {
            return Err(format!("unexpected {:?} in action `{{{{{body}}}}}`", toks[pos]));
        }
        out.extend_from_slice(&print(&v));
        if out.len() > MAX_VALUE_BYTES {
            return Err(format!("the template's output is larger than {MAX_VALUE_BYTES} bytes"));
        }
    }
    Ok(out)
}

fn push_text(out: &mut Vec<u8>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    out.extend_from_slice(t.as_bytes());
}

/// Finds the end of an action, honouring quotes; returns (body, trim-right marker, rest).
fn close_action(s: &str) -> Result<(&str, bool, &str), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i..].starts_with(b" -}}") || b[i..].starts_with(b"\t-}}") || b[i..].starts_with(b"\n-}}") {
                    // Matched bytes are ASCII: `i` is a character boundary.
                    return Ok((&s[..i], true, &s[i + 4..]));
                } else if b[i..].starts_with(b"}}") {
                    return Ok((&s[..i], false, &s[i + 2..]));
                }
            }
        }
        i += 1;
    }
    Err("unclosed action (missing `}}`)".into())
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1
            }
            '.' => {
                let mut fields = Vec::new();
                while i < chars.len() && chars[i] == '.' {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                    if j == start {
                        break;
                    }
                    fields.push(chars[start..j].iter().collect());
                    i = j;
                }
                if fields.is_empty() {
                    toks.push(Tok::Dot);
                    i += 1;
                } else {
                    toks.push(Tok::Field(fields));
                }
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else { return Err("unterminated quoted string".into()) };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else { return Err("unterminated quoted string".into()) };
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                '0' => '\0',
                                other => return Err(format!("unsupported escape `\\{other}` in a string")),
                            });
                        }
                        other => v.push(other),
                    }
                }
                toks.push(Tok::Str(v));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..].iter().position(|&c| c == '`').ok_or("unterminated raw string")?;
                toks.push(Tok::Str(chars[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                toks.push(Tok::Int(text.parse().map_err(|_| format!("bad number `{text}`"))?));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            '$' => return Err("variables (`$`) are not supported in SealedSecret templates here".into()),
            other => return Err(format!("unexpected `{other}` in action")),
        }
    }
    Ok(toks)
}

fn pipeline(toks: &[Tok], pos: &mut usize, items: &Items) -> Result<V, String> {
    let mut value = command(toks, pos, items, None)?;
    while toks.get(*pos) == Some(&Tok::Pipe) {
        *pos += 1;
        value = command(toks, pos, items, Some(value))?;
    }
    Ok(value)
}

fn operand(toks: &[Tok], pos: &mut usize, items: &Items) -> Result<V, String> {
    let t = toks.get(*pos).ok_or("missing value")?.clone();
    *pos += 1;
    Ok(match t {
        Tok::Dot => V::Dot,
        Tok::Field(f) => {
            if f.len() > 1 {
                return Err(format!("`.{}`: items are strings and have no fields", f.join(".")));
            }
            match items.get(&f[0]) {
                Some(v) => V::Bytes(v.to_vec()),
                None => V::NoValue,
            }
        }
        Tok::Str(s) => V::Bytes(s.into_bytes()),
        Tok::Int(i) => V::Int(i),
        Tok::Open => {
            let v = pipeline(toks, pos, items)?;
            if toks.get(*pos) != Some(&Tok::Close) {
                return Err("missing `)`".into());
            }
            *pos += 1;
            v
        }
        Tok::Ident(id) if id == "true" || id == "false" => V::Bool(id == "true"),
        Tok::Ident(id) if id == "nil" => V::NoValue,
        Tok::Ident(id) => return Err(format!("function `{id}` needs to be first in a command")),
        Tok::Pipe | Tok::Close => return Err("missing value before `|` or `)`".into()),
    })
}

fn command(toks: &[Tok], pos: &mut usize, items: &Items, piped: Option<V>) -> Result<V, String> {
    match toks.get(*pos) {
        Some(Tok::Ident(id)) if id != "true" && id != "false" && id != "nil" => {
            let name = id.clone();
            *pos += 1;
            let mut args = Vec::new();
            while let Some(t) = toks.get(*pos) {
                if matches!(t, Tok::Pipe | Tok::Close) {
                    break;
                }
                args.push(operand(toks, pos, items)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            let v = call(&name, args, items)?;
            if let V::Bytes(b) = &v
                && b.len() > MAX_VALUE_BYTES
            {
                return Err(format!("{name}: the result is larger than {MAX_VALUE_BYTES} bytes"));
            }
            Ok(v)
        }
        _ => {
            let v = operand(toks, pos, items)?;
            if piped.is_some() {
                return Err("a value cannot take piped input; pipe into a function".into());
            }
            if let Some(t) = toks.get(*pos)
                && !matches!(t, Tok::Pipe | Tok::Close)
            {
                return Err("a value cannot take arguments".into());
            }
            Ok(v)
        }
    }
}

fn string_arg(f: &str, v: &V) -> Result<Vec<u8>, String> {
    match v {
        V::Bytes(b) => Ok(b.clone()),
        V::Int(i) => Ok(i.to_string().into_bytes()),
        V::Bool(b) => Ok(b.to_string().into_bytes()),
        V::NoValue => Err(format!("{f}: invalid value; expected string (is the item name right?)")),
        V::Dot => Err(format!("{f}: expected a string, got the item map")),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn call(name: &str, args: Vec<V>, items: &Items) -> Result<V, String> {
    let arity = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("wrong number of args for {name}: want {n} got {}", args.len()))
        }
    };
    let s = |i: usize| match args.get(i) {
        Some(a) => string_arg(name, a),
        None => Err(format!("wrong number of args for {name}: want at least {} got {}", i + 1, args.len())),
    };
    Ok(match name {
        "index" => {
            if args.len() != 2 {
                return Err(format!("index: want a map and one key, got {} args", args.len()));
            }
            if !matches!(args[0], V::Dot) {
                return Err("index: only the item map (`.`) can be indexed".into());
            }
            let key = text(&s(1)?);
            V::Bytes(items.get(&key).map(|v| v.to_vec()).unwrap_or_default())
        }
        "print" => {
            let mut out = Vec::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, V::Bytes(_));
                if i > 0 && !is_str && !matches!(args[i - 1], V::Bytes(_)) {
                    out.push(b' ');
                }
                out.extend_from_slice(&print(a));
            }
            V::Bytes(out)
        }
        "printf" => {
            let fmt = text(&s(0)?);
            V::Bytes(printf(&fmt, &args[1..])?)
        }
        "len" => {
            arity(1)?;
            match &args[0] {
                V::Dot => V::Int(items.len() as i64),
                other => V::Int(string_arg(name, other)?.len() as i64),
            }
        }
        "toJson" => {
            arity(1)?;
            V::Bytes(match &args[0] {
                V::NoValue => b"null".to_vec(),
                V::Int(i) => i.to_string().into_bytes(),
                V::Bool(b) => b.to_string().into_bytes(),
                V::Bytes(b) => crate::output::go_json_string(&text(b)).into_bytes(),
                V::Dot => {
                    let mut out = String::from("{");
                    for (i, (k, v)) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&crate::output::go_json_string(k));
                        out.push(':');
                        out.push_str(&crate::output::go_json_string(&text(v)));
                    }
                    out.push('}');
                    out.into_bytes()
                }
            })
        }
        "quote" => {
            let parts: Vec<String> =
                args.iter().filter(|a| !matches!(a, V::NoValue)).map(|a| go_quote(&text(&print(a)))).collect();
            V::Bytes(parts.join(" ").into_bytes())
        }
        "squote" => {
            let parts: Vec<String> =
                args.iter().filter(|a| !matches!(a, V::NoValue)).map(|a| format!("'{}'", text(&print(a)))).collect();
            V::Bytes(parts.join(" ").into_bytes())
        }
        "b64enc" => {
            arity(1)?;
            V::Bytes(STANDARD.encode(s(0)?).into_bytes())
        }
        "b64dec" => {
            arity(1)?;
            match STANDARD.decode(s(0)?) {
                Ok(b) => V::Bytes(b),
                Err(e) => V::Bytes(e.to_string().into_bytes()),
            }
        }
        "upper" => {
            arity(1)?;
            V::Bytes(text(&s(0)?).to_uppercase().into_bytes())
        }
        "lower" => {
            arity(1)?;
            V::Bytes(text(&s(0)?).to_lowercase().into_bytes())
        }
        "trim" => {
            arity(1)?;
            V::Bytes(text(&s(0)?).trim().as_bytes().to_vec())
        }
        "trimPrefix" | "trimSuffix" | "trimAll" => {
            arity(2)?;
            let (cut, src) = (text(&s(0)?), text(&s(1)?));
            V::Bytes(
                match name {
                    "trimPrefix" => src.strip_prefix(cut.as_str()).unwrap_or(&src).to_string(),
                    "trimSuffix" => src.strip_suffix(cut.as_str()).unwrap_or(&src).to_string(),
                    _ => src.trim_matches(|c| cut.contains(c)).to_string(),
                }
                .into_bytes(),
            )
        }
        "replace" => {
            arity(3)?;
            let (old, new, src) = (text(&s(0)?), text(&s(1)?), text(&s(2)?));
            V::Bytes(src.replace(&old, &new).into_bytes())
        }
        "default" => {
            if args.is_empty() || args.len() > 2 {
                return Err(format!("wrong number of args for default: want 1 or 2 got {}", args.len()));
            }
            let empty = match args.get(1) {
                None | Some(V::NoValue) => true,
                Some(V::Bytes(b)) => b.is_empty(),
                Some(V::Int(i)) => *i == 0,
                Some(V::Bool(b)) => !b,
                Some(V::Dot) => items.is_empty(),
            };
            if empty { args[0].clone() } else { args[1].clone() }
        }
        "indent" | "nindent" => {
            arity(2)?;
            let n = match args[0] {
                V::Int(n) if n >= 0 => n as usize,
                _ => return Err(format!("{name}: the first argument must be a non-negative number")),
            };
            let lines = s(1)?.iter().filter(|b| **b == b'\n').count() + 1;
            if n.saturating_mul(lines) > MAX_VALUE_BYTES {
                return Err(format!("{name}: the result would be larger than {MAX_VALUE_BYTES} bytes"));
            }
            let pad = " ".repeat(n);
            let body = format!("{pad}{}", text(&s(1)?).replace('\n', &format!("\n{pad}")));
            V::Bytes(if name == "nindent" { format!("\n{body}") } else { body }.into_bytes())
        }
        "sha256sum" => {
            arity(1)?;
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &s(0)?);
            V::Bytes(d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes())
        }
        "if" | "range" | "with" | "define" | "template" | "block" | "end" | "else" | "break" | "continue" => {
            return Err(format!("`{name}` blocks are not supported in SealedSecret templates here"));
        }
        "env" | "expandenv" | "getHostByName" => {
            return Err(format!("function \"{name}\" not defined (the controller removes it)"));
        }
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

fn printf(fmt: &str, args: &[V]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut it = fmt.chars().peekable();
    let mut next = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let verb = it.next().ok_or("printf: format ends with %")?;
        if verb == '%' {
            out.push(b'%');
            continue;
        }
        let arg = args.get(next).ok_or("printf: missing argument")?;
        next += 1;
        match verb {
            's' | 'v' | 'd' => out.extend_from_slice(&print(arg)),
            'q' => out.extend_from_slice(go_quote(&text(&print(arg))).as_bytes()),
            other => return Err(format!("printf: verb %{other} is not supported")),
        }
    }
    Ok(out)
}

fn print(v: &V) -> Vec<u8> {
    match v {
        V::Bytes(b) => b.clone(),
        V::Int(i) => i.to_string().into_bytes(),
        V::Bool(b) => b.to_string().into_bytes(),
        V::NoValue => b"<no value>".to_vec(),
        V::Dot => b"map[...]".to_vec(),
    }
}

/// Go's `%q` / `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {

    /// Found by the template fuzz target: a multi-byte character inside an action made the
    /// scanner slice in the middle of it.
    #[test]
    fn multibyte_characters_inside_actions_are_an_error_not_a_panic() {
        let items: Items = [("user".to_string(), Zeroizing::new(b"admin".to_vec()))].into_iter().collect();
        assert!(render("{{ index .\u{6cb}-%d\" .user | b64enc }}", &items).is_err());
        assert!(render("{{ .user }}\u{6cb}", &items).is_ok());
        // And functions given no arguments (printf needs its format).
        for f in ["printf", "quote", "upper", "b64enc", "default", "indent", "replace", "trimPrefix", "index", "len"] {
            let _ = render(&format!("{{{{ {f} }}}}"), &items);
        }
        assert!(render("{{ printf }}", &items).unwrap_err().contains("wrong number of args for printf"));
        // Found by the same target: `quote` piped into itself doubles the escapes each time.
        let many = format!("{{{{ \"\\\"\" {} }}}}", "| quote ".repeat(40));
        assert!(render(&many, &items).unwrap_err().contains("larger than"));
        assert!(render("{{ indent 4000000000 .user }}", &items).unwrap_err().contains("larger than"));
    }
    use super::*;

    fn items() -> Items {
        let mut m = Items::new();
        m.insert("username".into(), Zeroizing::new(b"admin".to_vec()));
        m.insert("password".into(), Zeroizing::new(b"s3cr<t>!".to_vec()));
        m.insert("with-dash".into(), Zeroizing::new(b"  x \n".to_vec()));
        m
    }

    fn r(src: &str) -> Result<String, String> {
        render(src, &items()).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn go_semantics() {
        assert_eq!(r("postgres://{{ .username }}:{{ .password }}@db").unwrap(), "postgres://admin:s3cr<t>!@db");
        assert_eq!(r(r#"{{ index . "with-dash" | trim | upper }}"#).unwrap(), "X");
        assert_eq!(r(r#"{{ toJson .password }}"#).unwrap(), r#""s3cr\u003ct\u003e!""#);
        assert_eq!(r(r#"{{ index . "password" | toJson }}"#).unwrap(), r#""s3cr\u003ct\u003e!""#);
        assert_eq!(r("{{ .missing }}").unwrap(), "<no value>");
        assert_eq!(r(r#"[{{ index . "missing" }}]"#).unwrap(), "[]");
        assert_eq!(r("{{ toJson .missing }}").unwrap(), "null");
        assert_eq!(r("{{ .username | quote }} {{ squote .username }}").unwrap(), "\"admin\" 'admin'");
        assert_eq!(r("{{ .username | b64enc }}|{{ \"YWRtaW4=\" | b64dec }}").unwrap(), "YWRtaW4=|admin");
        assert_eq!(r("a  {{- .username -}}  b").unwrap(), "aadminb");
        assert_eq!(r("{{/* a comment */}}x").unwrap(), "x");
        assert_eq!(r(r#"{{ printf "%s-%q" .username "x" }}"#).unwrap(), "admin-\"x\"");
        assert_eq!(r(r#"{{ .missing | default "dflt" }}"#).unwrap(), "dflt");
        assert_eq!(r(r#"{{ "a\nb" | indent 2 }}"#).unwrap(), "  a\n  b");
        assert_eq!(r(r#"{{ replace "a" "b" (lower "AAA") }}"#).unwrap(), "bbb");
        assert_eq!(r("{{ .missing | quote }}").unwrap(), "");
    }

    #[test]
    fn broken_templates_fail_with_a_reason() {
        for (src, want) in [
            ("{{ .username", "unclosed"),
            ("{{ nosuch .username }}", "not defined"),
            ("{{ env \"HOME\" }}", "controller removes"),
            ("{{ if .username }}x{{ end }}", "not supported"),
            ("{{ upper .missing }}", "invalid value"),
            ("{{ \"abc }}", "unclosed"),
            ("{{ \"a\\q\" }}", "unsupported escape"),
            ("{{ (upper .username }}", "missing `)`"),
            ("{{ .username .password }}", "cannot take arguments"),
            ("{{ $x := 1 }}", "variables"),
        ] {
            let err = r(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
            assert!(!err.contains("admin"), "{err}");
        }
    }
}
