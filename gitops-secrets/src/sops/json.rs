//! The JSON store: objects in file order (duplicate keys kept), integers and floats told
//! apart, written as SOPS writes them (`json.Indent` with a tab, Go's string escapes).

use super::goformat::json_float;
use super::tree::{Branch, Item, Scalar, Value};

struct P<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn err<T>(&self, m: &str) -> Result<T, String> {
        let line = self.s[..self.i.min(self.s.len())].iter().filter(|&&c| c == b'\n').count() + 1;
        Err(format!("line {line}: {m}"))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected {:?}", c as char))
        }
    }
    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        self.depth += 1;
        if self.depth > 1000 {
            return self.err("nested too deeply");
        }
        let v = match self.peek() {
            Some(b'{') => Value::Map(self.object()?),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or ']'"),
                        }
                    }
                }
                Value::Seq(items)
            }
            Some(b'"') => Value::str(self.string()?),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Value::Scalar(Scalar::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Value::Scalar(Scalar::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Value::Scalar(Scalar::Null)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if let Ok(i) = t.parse::<i64>() {
                    Value::Scalar(Scalar::Int(i))
                } else if let Ok(f) = t.parse::<f64>() {
                    Value::Scalar(Scalar::Float(f))
                } else {
                    return self.err(&format!("invalid number {t:?}"));
                }
            }
            _ => return self.err("expected a JSON value"),
        };
        self.depth -= 1;
        Ok(v)
    }
    fn object(&mut self) -> Result<Branch, String> {
        self.expect(b'{')?;
        let mut items = Branch::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err("expected an object key");
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            items.push(Item::Pair(k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok());
        let v = h.and_then(|h| u32::from_str_radix(h, 16).ok());
        match v {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.err("bad \\u escape"),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return self.err("unterminated string") };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else { return self.err("unterminated string") };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return self.err("control character in string"),
                c => out.push(c),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("invalid UTF-8 in string"))
    }
}

/// Parses a JSON document whose top level is an object.
pub fn parse(text: &str) -> Result<Branch, String> {
    let mut p = P { s: text.as_bytes(), i: 0, depth: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err("SOPS only supports JSON files with a top-level object (starting with '{')".into());
    }
    let b = p.object()?;
    p.ws();
    if p.i != p.s.len() {
        return p.err("trailing data after the JSON object");
    }
    Ok(b)
}

/// A string as Go's `json.Marshal` writes it.
fn quote(s: &str, out: &mut String) {
    out.push_str(&crate::output::go_json_string(s));
}

fn tabs(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n('\t', n));
}

fn value(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Map(b) => object(b, depth, out),
        Value::Seq(items) => {
            let items: Vec<&Value> = items.iter().filter(|v| !matches!(v, Value::Comment(_))).collect();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                tabs(out, depth + 1);
                value(v, depth + 1, out);
            }
            out.push('\n');
            tabs(out, depth);
            out.push(']');
        }
        Value::Comment(_) => out.push_str("null"),
        Value::Scalar(s) => match s {
            Scalar::Null => out.push_str("null"),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => out.push_str(&i.to_string()),
            Scalar::Float(f) => out.push_str(&json_float(*f)),
            Scalar::Str(s) | Scalar::Time(s) => quote(s, out),
            Scalar::Bytes(b) => {
                use base64::Engine;
                quote(&base64::engine::general_purpose::STANDARD.encode(b), out)
            }
        },
    }
}

fn object(b: &[Item], depth: usize, out: &mut String) {
    let pairs: Vec<(&String, &Value)> =
        b.iter().filter_map(|i| if let Item::Pair(k, v) = i { Some((k, v)) } else { None }).collect();
    if pairs.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\n');
        tabs(out, depth + 1);
        quote(k, out);
        out.push_str(": ");
        value(v, depth + 1, out);
    }
    out.push('\n');
    tabs(out, depth);
    out.push('}');
}

/// Writes a branch as SOPS writes JSON.
pub fn emit(b: &Branch) -> String {
    let mut out = String::new();
    object(b, 0, &mut out);
    out.push('\n');
    out
}
