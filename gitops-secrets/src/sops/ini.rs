//! The INI store: sections of `key = value` lines with `;`/`#` comments, read and written
//! as SOPS does through go-ini (`AllowNonUniqueSections`, aligned `=`, a blank line between
//! sections, `"""` multi-line values).

use super::tree::{Branch, Item, Value, to_text};

const DEFAULT: &str = "DEFAULT";

fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') || c.starts_with('#') {
        c.trim_start_matches(['#', ';', ' ']).to_string()
    } else {
        c.to_string()
    }
}

fn surrounded(s: &str, q: char) -> bool {
    s.len() >= 2 && s.starts_with(q) && s.ends_with(q)
}

struct Section {
    name: String,
    comment: String,
    keys: Vec<(String, String, String)>,
}

/// Parses an INI file: one item per section (the default section first), each a map of its
/// keys, a key's comment after it.
pub fn parse(text: &str) -> Result<Branch, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections = vec![Section { name: DEFAULT.into(), comment: String::new(), keys: Vec::new() }];
    let mut comment = String::new();
    let raw: Vec<&str> = text.split_inclusive('\n').collect();
    let mut n = 0;
    while n < raw.len() {
        let full = raw[n];
        n += 1;
        let line = full.trim_start();
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line.rfind(']').ok_or_else(|| format!("line {n}: unclosed section: {}", line.trim_end()))?;
            let name = line[1..close].to_string();
            let rest = line[close + 1..].trim();
            if rest.starts_with('#') || rest.starts_with(';') {
                comment.push_str(rest);
            }
            sections.push(Section { name, comment: comment.trim().to_string(), keys: Vec::new() });
            comment.clear();
            continue;
        }
        // Key name, possibly quoted.
        let (key, offset) = if let Some(q) = ["\"\"\"", "\"", "`"].into_iter().find(|q| line.starts_with(q)) {
            let start = q.len();
            let pos = line[start..].find(q).ok_or_else(|| format!("line {n}: missing closing key quote"))? + start;
            let i = line[pos + start..]
                .find(['=', ':'])
                .ok_or_else(|| format!("line {n}: key-value delimiter not found"))?;
            (line[start..pos].trim().to_string(), pos + i + start + 1)
        } else {
            let end = line
                .find(['=', ':'])
                .ok_or_else(|| format!("line {n}: key-value delimiter not found: {}", line.trim_end()))?;
            if end == 0 {
                return Err(format!("line {n}: empty key name"));
            }
            (line[..end].trim().to_string(), end + 1)
        };
        let rest = line[offset..].trim_start();
        let value = if let Some(q) =
            ["\"\"\"", "`"].into_iter().find(|q| rest.starts_with(q) && (rest.len() > 3 || *q == "`"))
        {
            let body = &rest[q.len()..];
            if let Some(pos) = body.rfind(q) {
                body[..pos].to_string()
            } else {
                let mut val = body.to_string();
                loop {
                    let Some(next) = raw.get(n) else {
                        return Err(format!("line {n}: missing closing value quote {q}"));
                    };
                    n += 1;
                    if let Some(pos) = next.rfind(q) {
                        val.push_str(&next[..pos]);
                        break;
                    }
                    val.push_str(next);
                }
                val
            }
        } else {
            let mut v = rest.trim().to_string();
            if let Some(i) = v.find(['#', ';']) {
                comment.push_str(&v[i..]);
                v = v[..i].trim().to_string();
            }
            if surrounded(&v, '\'') || surrounded(&v, '"') {
                v = v[1..v.len() - 1].to_string();
            }
            v
        };
        let section = sections.last_mut().expect("the default section");
        let key_comment = comment.trim().to_string();
        comment.clear();
        if let Some(existing) = section.keys.iter_mut().find(|(k, _, _)| *k == key) {
            existing.1 = value;
            existing.2 = key_comment;
        } else {
            section.keys.push((key, value, key_comment));
        }
    }
    let mut b = Branch::new();
    for s in sections {
        let mut items = Branch::new();
        if !s.comment.is_empty() {
            items.push(Item::Comment(strip_comment_char(&s.comment)));
        }
        for (k, v, c) in s.keys {
            items.push(Item::Pair(k, Value::str(v)));
            if !c.is_empty() {
                items.push(Item::Comment(strip_comment_char(&c)));
            }
        }
        b.push(Item::Pair(s.name, Value::Map(items)));
    }
    Ok(b)
}

fn comment_lines(c: &str, trim_plain: bool, out: &mut String) {
    for line in c.split('\n') {
        if line.starts_with('#') || line.starts_with(';') {
            out.push_str(&line[..1]);
            out.push(' ');
            out.push_str(line[1..].trim());
        } else {
            out.push_str("; ");
            out.push_str(if trim_plain { line.trim() } else { line });
        }
        out.push('\n');
    }
}

/// Writes an INI file as go-ini does for SOPS.
pub fn emit(b: &Branch) -> Result<String, String> {
    let sections: Vec<(&String, &Value)> =
        b.iter().filter_map(|i| if let Item::Pair(k, v) = i { Some((k, v)) } else { None }).collect();
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, (name, v)) in sections.iter().enumerate() {
        let Value::Map(items) = v else {
            return Err("Error encoding section: Section values should always be TreeBranches".into());
        };
        let mut comment = String::new();
        let mut first = 0;
        if let Some(Item::Comment(c)) = items.first() {
            comment = c.clone();
            first = 1;
        }
        let mut keys: Vec<(String, String, String)> = Vec::new();
        for item in &items[first..] {
            match item {
                Item::Comment(c) => {
                    if let Some(k) = keys.last_mut() {
                        k.2 = c.clone();
                    }
                }
                Item::Pair(k, v) => {
                    let text = match v {
                        Value::Scalar(s) => to_text(s),
                        _ => return Err(format!("INI values must be scalars; offending key {k}")),
                    };
                    if let Some(existing) = keys.iter_mut().find(|(ek, _, _)| ek == k) {
                        existing.1 = text;
                    } else {
                        keys.push((k.clone(), text, String::new()));
                    }
                }
            }
        }
        if !comment.is_empty() {
            comment_lines(&comment, false, &mut out);
        }
        if i == 0 && name.to_uppercase() == DEFAULT {
            if keys.is_empty() {
                continue;
            }
        } else {
            out.push('[');
            out.push_str(name);
            out.push_str("]\n");
        }
        let quoted_name = |k: &str| {
            if k.contains('"') || k.contains(['=', ':']) {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.to_string()
            }
        };
        let align = keys.iter().map(|(k, _, _)| quoted_name(k).len()).max().unwrap_or(0);
        for (k, v, c) in &keys {
            if !c.is_empty() {
                comment_lines(c, true, &mut out);
            }
            let name = quoted_name(k);
            out.push_str(&name);
            out.extend(std::iter::repeat_n(' ', align - name.len()));
            out.push_str(" = ");
            if v.contains(['\n', '`']) {
                out.push_str(&format!("\"\"\"{v}\"\"\""));
            } else if v.contains(['#', ';']) {
                out.push_str(&format!("`{v}`"));
            } else if v.trim() != v {
                out.push_str(&format!("\"{v}\""));
            } else {
                out.push_str(v);
            }
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    Ok(out)
}
