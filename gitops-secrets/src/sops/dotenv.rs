//! The dotenv store: `KEY=value` lines, `#` comments, `\n` escapes, as SOPS reads and writes
//! them.

use super::tree::{Branch, Item, Value, to_text};

/// Parses a dotenv file.
pub fn parse(text: &str) -> Result<Branch, String> {
    let mut b = Branch::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            b.push(Item::Comment(c.to_string()));
        } else {
            let (k, v) =
                line.split_once('=').ok_or_else(|| format!("line {}: invalid dotenv input line (no '=')", n + 1))?;
            b.push(Item::Pair(k.to_string(), Value::str(v.replace("\\n", "\n"))));
        }
    }
    Ok(b)
}

/// Writes a dotenv file.
pub fn emit(b: &Branch) -> Result<String, String> {
    let mut out = String::new();
    for item in b {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Pair(k, v) => {
                let text = match v {
                    Value::Scalar(super::tree::Scalar::Str(s)) => s.replace('\n', "\\n"),
                    Value::Scalar(s) => to_text(s),
                    _ => return Err(format!("cannot use complex value in dotenv file; offending key {k}")),
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    Ok(out)
}
