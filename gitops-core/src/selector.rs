//! Kubernetes label selectors (`a=b,c!=d,e in (f,g),!h`): patch targets, list filters.

use crate::value::{Map, Value};

use crate::validation::{is_dns_subdomain, is_name_part, label_value_error};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

impl LabelSelector {
    /// Parses a selector with the grammar and the error messages of Kubernetes' own parser
    /// (`unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt`); keys
    /// and values are validated as label keys and values.
    pub fn parse(s: &str) -> Result<Self, String> {
        Parser { tokens: lex(s), pos: 0 }.parse().map(|reqs| Self { reqs })
    }

    /// Whether the selector has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether a label map matches.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        // A value written as another scalar (`tier: 1`) matches as its text, as Kustomize
        // reads labels.
        let get = |k: &str| crate::object::scalar_text(labels?.get(k)?);
        let int = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| *v == *x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| *v == *x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
            Req::Gt(k, n) => int(k).is_some_and(|x| x > *n),
            Req::Lt(k, n) => int(k).is_some_and(|x| x < *n),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Ident,
    Not,
    Comma,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    Open,
    Close,
    End,
}

/// Kubernetes' selector lexer: special symbols (`= == != ! ( ) , > <`), identifiers up to the
/// next space or symbol, `in` and `notin` as keywords.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let special = |c: char| "=!(),><".contains(c);
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if special(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (tok, len) = match (c, two.as_str()) {
                (_, "==") => (Tok::DoubleEq, 2),
                (_, "!=") => (Tok::NotEq, 2),
                ('=', _) => (Tok::Eq, 1),
                ('!', _) => (Tok::Not, 1),
                ('(', _) => (Tok::Open, 1),
                (')', _) => (Tok::Close, 1),
                (',', _) => (Tok::Comma, 1),
                ('>', _) => (Tok::Gt, 1),
                _ => (Tok::Lt, 1),
            };
            out.push((tok, chars[i..i + len].iter().collect()));
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let tok = match word.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident,
        };
        out.push((tok, word));
    }
    out
}

struct Parser {
    tokens: Vec<(Tok, String)>,
    pos: usize,
}

/// The parser's two contexts: after a key, `in`/`notin` are operators; among values they are
/// plain identifiers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    KeyAndOperator,
    Values,
}

const KEY_MSG: &str = "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
fn validate_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name_part(name),
        None => is_name_part(k),
    };
    if ok { Ok(()) } else { Err(format!("<nil>: Invalid value: \"{k}\": {KEY_MSG}")) }
}

fn validate_value(key: &str, i: usize, v: &str) -> Result<(), String> {
    let Some(reason) = label_value_error(v) else { return Ok(()) };
    Err(format!("values[{i}][{key}]: Invalid value: \"{v}\": {reason}"))
}

impl Parser {
    fn peek(&self, mode: Mode) -> (Tok, &str) {
        match self.tokens.get(self.pos) {
            Some((t, lit)) => (Self::in_mode(*t, mode), lit.as_str()),
            None => (Tok::End, ""),
        }
    }

    fn next(&mut self, mode: Mode) -> (Tok, String) {
        let (t, lit) = self.peek(mode);
        let out = (t, lit.to_string());
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        out
    }

    fn in_mode(t: Tok, mode: Mode) -> Tok {
        if mode == Mode::Values && matches!(t, Tok::In | Tok::NotIn) { Tok::Ident } else { t }
    }

    fn parse(&mut self) -> Result<Vec<Req>, String> {
        let mut reqs = Vec::new();
        loop {
            let (t, lit) = self.peek(Mode::Values);
            match t {
                Tok::Ident | Tok::Not => {
                    reqs.push(self.requirement().map_err(|e| format!("unable to parse requirement: {e}"))?);
                    let (t, lit) = self.next(Mode::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t, lit) = self.peek(Mode::Values);
                            if t != Tok::Ident && t != Tok::Not {
                                return Err(format!("found '{lit}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{lit}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(reqs),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Req, String> {
        let (mut t, mut key) = self.next(Mode::Values);
        let negated = t == Tok::Not;
        if negated {
            (t, key) = self.next(Mode::Values);
        }
        if t != Tok::Ident {
            return Err(format!("found '{key}', expected: identifier"));
        }
        validate_key(&key)?;
        if matches!(self.peek(Mode::Values).0, Tok::End | Tok::Comma) {
            return Ok(if negated { Req::NotExists(key) } else { Req::Exists(key) });
        }
        let (op, lit) = self.next(Mode::KeyAndOperator);
        let values = match op {
            Tok::In | Tok::NotIn => self.values()?,
            Tok::Eq | Tok::DoubleEq | Tok::NotEq | Tok::Gt | Tok::Lt => self.exact_value()?,
            _ => return Err(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt")),
        };
        let mut values: Vec<String> =
            values.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        match op {
            Tok::Gt | Tok::Lt => {
                let v = values.pop().unwrap_or_default();
                let n: i64 = v.parse().map_err(|_| {
                    format!("values[0]: Invalid value: \"{v}\": for 'Gt', 'Lt' operators, the value must be an integer")
                })?;
                return Ok(if op == Tok::Gt { Req::Gt(key, n) } else { Req::Lt(key, n) });
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            validate_value(&key, i, v)?;
        }
        Ok(match op {
            Tok::In => Req::In(key, values),
            Tok::NotIn => Req::NotIn(key, values),
            Tok::NotEq => Req::Ne(key, values.pop().unwrap_or_default()),
            _ => Req::Eq(key, values.pop().unwrap_or_default()),
        })
    }

    fn values(&mut self) -> Result<Vec<String>, String> {
        let (t, lit) = self.next(Mode::Values);
        if t != Tok::Open {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (t, lit) = self.peek(Mode::Values);
        match t {
            Tok::Ident | Tok::Comma => {
                let list = self.identifiers()?;
                let (t, lit) = self.next(Mode::Values);
                if t != Tok::Close {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(list)
            }
            // `()` is the empty value.
            Tok::Close => {
                self.next(Mode::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn identifiers(&mut self) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        loop {
            let (t, lit) = self.next(Mode::Values);
            match t {
                Tok::Ident => {
                    out.push(lit);
                    let (t, lit) = self.peek(Mode::Values);
                    match t {
                        Tok::Comma => continue,
                        Tok::Close => return Ok(out),
                        _ => return Err(format!("found '{lit}', expected: ',' or ')'")),
                    }
                }
                // Empty values around commas: `(,a)`, `(a,)`, `(a,,b)`.
                Tok::Comma => {
                    if out.is_empty() {
                        out.push(String::new());
                    }
                    match self.peek(Mode::Values).0 {
                        Tok::Close => {
                            out.push(String::new());
                            return Ok(out);
                        }
                        Tok::Comma => {
                            self.next(Mode::Values);
                            out.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        if matches!(self.peek(Mode::Values).0, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let (t, lit) = self.next(Mode::Values);
        if t == Tok::Ident { Ok(vec![lit]) } else { Err(format!("found '{lit}', expected: identifier")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

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
        // Kubernetes' messages.
        for (bad, message) in [
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("tier in (db", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("=v", "found '=', expected: !, identifier, or 'end of string'"),
            ("app===web", "unable to parse requirement: found '=', expected: identifier"),
            ("a,", "found '', expected: identifier after ','"),
        ] {
            assert_eq!(LabelSelector::parse(bad).unwrap_err(), message, "{bad}");
        }
        let long = format!("tier={}", "v".repeat(64));
        assert!(LabelSelector::parse(&long).unwrap_err().ends_with("must be no more than 63 bytes"));
        assert!(LabelSelector::parse("a/b/c=v").unwrap_err().contains("a valid label key must consist"));
        // `in ()` is the empty value; an empty value after `=` too; gt/lt compare integers.
        let labels = json!({"tier": "", "n": "5"});
        for (sel, want) in
            [("tier in ()", true), ("tier=", true), ("n>4", true), ("n<5", false), ("tier in (,x)", true)]
        {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(labels.as_object()), want, "{sel}");
        }
    }
}
