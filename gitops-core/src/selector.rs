//! Kubernetes label selectors (`a=b,c!=d,e in (f,g),!h`): patch targets, list filters.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

impl LabelSelector {
    /// Parses a selector; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_req(part)?);
        }
        Ok(Self { reqs })
    }

    /// Whether the selector has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether a label map matches.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn parse_req(part: &str) -> Result<Req, String> {
    let bad = || format!("invalid label selector requirement {part:?}");
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) { Ok(Req::NotExists(k.into())) } else { Err(bad()) };
    }
    for (op, neg) in [(" notin ", true), (" in ", false)] {
        if let Some(i) = part.find(op) {
            let k = part[..i].trim();
            let rest = part[i + op.len()..].trim();
            let inner = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
            let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
            if !valid_key(k) {
                return Err(bad());
            }
            return Ok(if neg { Req::NotIn(k.into(), vals) } else { Req::In(k.into(), vals) });
        }
    }
    let valid_value = |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if let Some((k, v)) = part.split_once("!=") {
        let (k, v) = (k.trim(), v.trim());
        return if valid_key(k) && valid_value(v) { Ok(Req::Ne(k.into(), v.into())) } else { Err(bad()) };
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let (k, v) = (k.trim(), v.trim());
        return if valid_key(k) && valid_value(v) { Ok(Req::Eq(k.into(), v.into())) } else { Err(bad()) };
    }
    if valid_key(part) { Ok(Req::Exists(part.into())) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors() {
        let labels = json!({"app": "web", "tier": "front"});
        let l = labels.as_object();
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("app,!legacy", true),
            ("legacy", false),
            ("app=web,tier=back", false),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(l), want, "{sel}");
        }
        for bad in ["a in b", "=x", "!", "a b c", "env===prod", "a=b!"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
