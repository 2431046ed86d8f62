//! Builds JSON values from YAML parser events, with Kustomize's scalar resolution, merge
//! keys, duplicate-key errors and a budget on alias expansion.

use std::collections::HashMap;

use crate::value::{Map, MapBuilder, Number, Value};
use yaml_rust2::Event;
use yaml_rust2::parser::Tag;
use yaml_rust2::scanner::TScalarStyle;

const MERGE_KEY: &str = "\u{0}<<";
const MAX_DEPTH: usize = 512;

enum Frame {
    Seq { items: Vec<Value>, anchor: usize, nodes: usize },
    Map { map: MapBuilder, key: Option<String>, merges: Vec<Map<String, Value>>, anchor: usize, nodes: usize },
}

/// Turns events into one value.
pub(crate) struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    result: Option<Value>,
    budget: usize,
    /// A key repeated in a mapping replaces the earlier value (Go's JSON decoding of a
    /// kustomization) instead of being an error.
    pub last_key_wins: bool,
    /// Whose rules resolve plain scalars.
    pub dialect: Dialect,
    /// The line of the event being built (set by the caller before each event).
    pub line: usize,
    /// Keys repeated in a mapping where the last one won, with the line of the repetition.
    pub duplicates: Vec<(usize, String)>,
    /// Where a mapping value is written with nothing after its key (`strategy:`), as JSON
    /// pointers: go-yaml gives such a null an empty text, which Kustomize's strategic merge
    /// drops where an explicit `null` or `~` stays. Values reached through an alias or a
    /// merge key are not listed.
    pub bare_nulls: Vec<String>,
    /// Whether the root mapping's `metadata.annotations` values written as plain scalars
    /// are read as the text they were written as (Kustomize writes them back so).
    pub annotations_as_written: bool,
    /// With `annotations_as_written`, whether a plain null annotation value stays a null.
    pub annotation_nulls: bool,
    /// With `annotations_as_written`, whether label values keep their text too.
    pub labels_as_written: bool,
    /// Whether a mapping key read as anything but a string is an error.
    pub string_keys_only: bool,
    /// Whether a folded block scalar reads as go-yaml reads it back after writing it.
    pub folded_as_kustomize_writes: bool,
    /// Whether the next event is inside a flow collection (`[...]`, `{...}`); set by the
    /// caller, which sees the text.
    pub in_flow: bool,
}

impl Builder {
    /// A builder whose alias expansion may add at most a budget proportional to the text.
    pub fn new(text_len: usize) -> Self {
        Builder {
            stack: Vec::new(),
            anchors: HashMap::new(),
            result: None,
            budget: 20_000 + 4 * text_len,
            last_key_wins: false,
            dialect: Dialect::V3,
            line: 0,
            duplicates: Vec::new(),
            bare_nulls: Vec::new(),
            annotations_as_written: false,
            annotation_nulls: false,
            labels_as_written: false,
            string_keys_only: false,
            folded_as_kustomize_writes: false,
            in_flow: false,
        }
    }

    /// The value, the repeated keys and the [`bare_nulls`](Self::bare_nulls).
    pub fn finish(self) -> (Option<Value>, Vec<(usize, String)>, Vec<String>) {
        (self.result, self.duplicates, self.bare_nulls)
    }

    /// Whether the value about to be pushed is one of the root's `metadata.annotations`
    /// (with `labels_as_written`, or `metadata.labels`), and which.
    fn at_annotation(&self) -> Option<bool> {
        match &self.stack[..] {
            [Frame::Map { key: Some(m), .. }, Frame::Map { key: Some(a), .. }, Frame::Map { key: Some(_), .. }]
                if m == "metadata" =>
            {
                match a.as_str() {
                    "annotations" => Some(true),
                    "labels" if self.labels_as_written => Some(false),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The JSON pointer of the mapping value about to be pushed, unless the value is not a
    /// mapping's, or sits under a merge key.
    fn value_pointer(&self) -> Option<String> {
        if !matches!(self.stack.last(), Some(Frame::Map { key: Some(_), .. })) {
            return None;
        }
        let mut out = String::new();
        for frame in &self.stack {
            out.push('/');
            match frame {
                Frame::Seq { items, .. } => out.push_str(&items.len().to_string()),
                Frame::Map { key: Some(k), .. } if k != MERGE_KEY => {
                    out.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Frame::Map { .. } => return None,
            }
        }
        Some(out)
    }

    fn in_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    pub fn on_event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart => {
                if self.result.is_some() {
                    return Err("more than one document where one was expected".into());
                }
                Ok(())
            }
            Event::Scalar(mut text, style, anchor, tag) => {
                if self.folded_as_kustomize_writes
                    && style == TScalarStyle::Folded
                    && let std::borrow::Cow::Owned(changed) = crate::yaml_emit::folded_round_trip(&text)
                {
                    text = changed;
                }
                if self.in_key_position() && style == TScalarStyle::Plain && text == "<<" && tag.is_none() {
                    return self.push(Value::String(MERGE_KEY.into()), 1, anchor);
                }
                // A value with no text at all (not `~`, not `null`): only a plain empty
                // scalar, untagged or tagged null, is one.
                if text.is_empty()
                    && style == TScalarStyle::Plain
                    && anchor == 0
                    && (tag.is_none() || core_tag(tag.as_ref()) == Some("null"))
                    && let Some(pointer) = self.value_pointer()
                {
                    self.bare_nulls.push(pointer);
                }
                if self.annotations_as_written
                    && style == TScalarStyle::Plain
                    && tag.is_none()
                    && let Some(annotation) = self.at_annotation()
                    && !(annotation && self.annotation_nulls && plain_kind(&text, self.dialect) == Plain::Null)
                {
                    return self.push(Value::String(text), 1, anchor);
                }
                if self.string_keys_only && self.in_key_position() {
                    // Nearly every key is plain text that reads as a string: taken as it is.
                    if style == TScalarStyle::Plain && tag.is_none() && plain_kind(&text, self.dialect) == Plain::Str {
                        return self.push(Value::String(text), 1, anchor);
                    }
                    let timestamp = style == TScalarStyle::Plain
                        && tag.is_none()
                        && matches!(plain_kind(&text, self.dialect), Plain::Timestamp(_));
                    let v = resolve(text.clone(), style, tag.as_ref(), self.dialect)?;
                    if timestamp || !v.is_string() {
                        let what = if timestamp { "a timestamp" } else { crate::object::type_name(&v) };
                        return Err(format!(
                            "the mapping key {text} reads as {what}, not a string: Kustomize cannot build \
                             with it (quote it: \"{text}\")"
                        ));
                    }
                    return self.push(v, 1, anchor);
                }
                // Kustomize's JSON round trip writes a resource with go-yaml, which quotes a
                // scalar with a `:` inside a flow collection, and reads it back: a timestamp
                // written there with its time stays the text it was (a date alone does not).
                if self.in_flow
                    && self.dialect == Dialect::V3
                    && style == TScalarStyle::Plain
                    && tag.is_none()
                    && text.contains(':')
                    && matches!(plain_kind(&text, self.dialect), Plain::Timestamp(_))
                {
                    return self.push(Value::String(text), 1, anchor);
                }
                let v = resolve(text, style, tag.as_ref(), self.dialect)?;
                self.push(v, 1, anchor)
            }
            Event::Alias(id) => {
                let (v, nodes) =
                    self.anchors.get(&id).cloned().ok_or_else(|| format!("unknown alias (anchor id {id})"))?;
                if nodes > self.budget {
                    return Err("aliases expand to more than the limit allows (a YAML alias bomb?)".into());
                }
                self.budget -= nodes;
                self.push(v, nodes, 0)
            }
            Event::SequenceStart(anchor, _) => {
                if self.in_key_position() {
                    return Err("a mapping key must be a scalar, found a sequence".into());
                }
                self.open(Frame::Seq { items: Vec::new(), anchor, nodes: 1 })
            }
            Event::MappingStart(anchor, _) => {
                if self.in_key_position() {
                    return Err("a mapping key must be a scalar, found a mapping".into());
                }
                self.open(Frame::Map { map: MapBuilder::new(), key: None, merges: Vec::new(), anchor, nodes: 1 })
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { mut items, anchor, nodes }) => {
                    items.shrink_to_fit();
                    self.push(Value::Array(items), nodes, anchor)
                }
                _ => Err("unbalanced sequence end".into()),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { mut map, merges, anchor, nodes, key }) => {
                    if key.is_some() {
                        return Err("a mapping key has no value".into());
                    }
                    for m in merges {
                        for (k, v) in m {
                            if !map.contains_key(&k) {
                                map.insert(k, v);
                            }
                        }
                    }
                    self.push(Value::Object(map.finish()), nodes, anchor)
                }
                _ => Err("unbalanced mapping end".into()),
            },
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn push(&mut self, v: Value, nodes: usize, anchor: usize) -> Result<(), String> {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => {
                self.result = Some(v);
                Ok(())
            }
            Some(Frame::Seq { items, nodes: n, .. }) => {
                *n += nodes;
                items.push(v);
                Ok(())
            }
            Some(Frame::Map { map, key, merges, nodes: n, .. }) => {
                *n += nodes;
                match key.take() {
                    None => {
                        let k = match v {
                            Value::String(s) => s,
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            // Go's YAML-to-JSON conversion refuses a null key.
                            Value::Null if self.dialect == Dialect::V2 => {
                                return Err("a mapping key is null, which has no JSON form".into());
                            }
                            Value::Null => "null".into(),
                            _ => return Err("a mapping key must be a scalar".into()),
                        };
                        if k != MERGE_KEY && map.contains_key(&k) {
                            if !self.last_key_wins {
                                return Err(format!("duplicate key {k:?} in a mapping"));
                            }
                            // The value that follows replaces the earlier one.
                            self.duplicates.push((self.line, k.clone()));
                        }
                        *key = Some(k);
                        Ok(())
                    }
                    Some(k) if k == MERGE_KEY => {
                        match v {
                            Value::Object(m) => merges.push(m),
                            Value::Array(items) => {
                                for item in items {
                                    match item {
                                        Value::Object(m) => merges.push(m),
                                        _ => {
                                            return Err("a merge key (<<) takes a mapping or a list of mappings".into());
                                        }
                                    }
                                }
                            }
                            _ => return Err("a merge key (<<) takes a mapping or a list of mappings".into()),
                        }
                        Ok(())
                    }
                    Some(k) => {
                        map.insert(k, v);
                        Ok(())
                    }
                }
            }
        }
    }
}

fn core_tag(tag: Option<&Tag>) -> Option<&str> {
    let t = tag?;
    if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" { Some(t.suffix.as_str()) } else { None }
}

/// Which Go YAML library's rules resolve a plain scalar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// go-yaml v3 (Kustomize's kyaml, for resources and patches): YAML 1.2 booleans only, a
    /// timestamp becomes RFC 3339 text through the JSON round trip.
    #[default]
    V3,
    /// go-yaml v2 under Go's JSON decoding (`sigs.k8s.io/yaml`, which Kustomize uses for the
    /// kustomization file and its `configurations`): YAML 1.1 booleans (`yes`, `on`, `n`, ...)
    /// and a timestamp that stays the text it was written as.
    V2,
}

/// What a plain scalar is to go-yaml.
#[derive(Debug, PartialEq)]
enum Plain {
    Null,
    Bool(bool),
    Int(Value),
    Float(f64),
    /// A timestamp, in RFC 3339.
    Timestamp(String),
    Str,
}

/// go-yaml's `resolve` of an untagged plain scalar. The first character decides what it may
/// be, as go-yaml's resolve table does: a number only from a digit, a sign or a dot; a
/// number's underscores are dropped before it is read; an integer is Go's `ParseInt(s, 0,
/// 64)` or else `ParseUint`; one out of range is read as a float, and a float out of range
/// (`1e400`) stays text.
fn plain_kind(s: &str, dialect: Dialect) -> Plain {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Plain::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        _ => {}
    }
    if let Some(b) = parse_bool(s) {
        return Plain::Bool(b);
    }
    if dialect == Dialect::V2
        && let Some(b) = yaml11_bool(s)
    {
        return Plain::Bool(b);
    }
    match s.as_bytes()[0] {
        b'.' => go_parse_float(s).map_or(Plain::Str, Plain::Float),
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(ts) = timestamp(s) {
                return Plain::Timestamp(ts);
            }
            let plain: std::borrow::Cow<'_, str> = if s.contains('_') { s.replace('_', "").into() } else { s.into() };
            if let Some(v) = go_int64_or_uint64(&plain) {
                return Plain::Int(v);
            }
            if is_yaml_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Plain::Float(f);
            }
            Plain::Str
        }
        _ => Plain::Str,
    }
}

/// The booleans YAML 1.1 adds to `true` and `false`.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` of text that starts with a dot: underscores only between
/// digits, and a value out of range is an error.
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.iter().enumerate().any(|(i, &c)| {
        c == b'_' && !(i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    }) {
        return None;
    }
    if !b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_')) {
        return None;
    }
    let f: f64 = s.replace('_', "").parse().ok()?;
    f.is_finite().then_some(f)
}

/// An integer as go-yaml reads it: `ParseInt(s, 0, 64)`, else `ParseUint(s, 0, 64)` (which
/// takes no sign).
fn go_int64_or_uint64(s: &str) -> Option<Value> {
    let v = go_int(s)?;
    if let Ok(i) = i64::try_from(v) {
        return Some(Value::Number(i.into()));
    }
    let unsigned = !s.starts_with(['-', '+']);
    u64::try_from(v).ok().filter(|_| unsigned).map(|u| Value::Number(u.into()))
}

/// Resolves a scalar as Kustomize's YAML library does (go-yaml v3, or v2 for the files it
/// reads with `sigs.k8s.io/yaml`), then as its JSON round trip does (integral floats become
/// integers, timestamps RFC 3339 strings under v3).
pub(crate) fn resolve(text: String, style: TScalarStyle, tag: Option<&Tag>, dialect: Dialect) -> Result<Value, String> {
    match core_tag(tag) {
        Some("str") => return Ok(Value::String(text)),
        // go-yaml decodes base64 (Go's decoder skips line breaks); the bytes become a string
        // as Go's JSON encoding writes them (invalid UTF-8 replaced).
        Some("binary") => {
            use base64::Engine as _;
            let compact: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
            return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        }
        Some("null") => return Ok(Value::Null),
        Some("bool") => {
            let b = parse_bool(&text).or_else(|| if dialect == Dialect::V2 { yaml11_bool(&text) } else { None });
            return b.map(Value::Bool).ok_or_else(|| format!("{text:?} is not a boolean"));
        }
        Some("int") => return parse_int(&text).ok_or_else(|| format!("{text:?} is not an integer")),
        Some("float") => return parse_float(&text).unwrap_or_else(|| Err(format!("{text:?} is not a number"))),
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    match plain_kind(&text, dialect) {
        Plain::Null => Ok(Value::Null),
        Plain::Bool(b) => Ok(Value::Bool(b)),
        Plain::Int(v) => Ok(v),
        Plain::Float(f) if !f.is_finite() => Err(format!("{text} cannot be represented in JSON")),
        Plain::Float(f) => Ok(float_value(f)),
        // Kustomize fails here: Go's `Time.MarshalJSON` refuses a zone offset of 24 hours,
        // which go-yaml reads.
        Plain::Timestamp(ts) if dialect == Dialect::V3 && zone_hours(&ts) == Some(24) => {
            Err("a timestamp whose zone offset is 24 hours, which Kustomize cannot write as JSON \
                 (timezone hour outside of range [0,23])"
                .to_string())
        }
        Plain::Timestamp(ts) if dialect == Dialect::V3 => Ok(Value::String(ts)),
        Plain::Timestamp(_) | Plain::Str => Ok(Value::String(text)),
    }
}

/// The hours of a numeric zone offset at the end of an RFC 3339 time (`+05:30` is 5).
fn zone_hours(rfc3339: &str) -> Option<u32> {
    let zone = rfc3339.get(rfc3339.len().checked_sub(6)?..)?;
    zone.starts_with(['+', '-']).then(|| zone[1..3].parse().ok()).flatten()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The sign, radix and digits of an integer in Go's `strconv.ParseInt(s, 0, 64)` syntax
/// (`0x`, `0o`, `0b` prefixes, a leading `0` for octal), whatever its size.
fn int_parts(s: &str) -> Option<(bool, u32, &str)> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((neg, radix, digits))
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` (or `ParseUint`) reads it; `None` if it
/// is not one or does not fit 64 bits.
pub fn go_int(s: &str) -> Option<i128> {
    let (neg, radix, digits) = int_parts(s)?;
    let magnitude = i128::from(u64::from_str_radix(digits, radix).ok()?);
    Some(if neg { -magnitude } else { magnitude })
}

/// Integers as Go's `strconv.ParseInt(s, 0, 64)` reads them; one too large stays a string.
pub(crate) fn parse_int(s: &str) -> Option<Value> {
    int_parts(s)?;
    match go_int(s) {
        Some(v) if v >= 0 => Some(Value::Number((v as u64).into())),
        Some(v) if v >= i128::from(i64::MIN) => Some(Value::Number((v as i64).into())),
        _ => Some(Value::String(s.to_string())),
    }
}

/// Whether `s` has go-yaml's float syntax (`yamlStyleFloat`):
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn parse_float(s: &str) -> Option<Result<Value, String>> {
    let body = s.trim_start_matches(['-', '+']);
    if matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return Some(Err(format!("{s} cannot be represented in JSON")));
    }
    if !is_yaml_float(s) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    Some(Ok(float_value(f)))
}

/// A float as Kustomize's JSON round trip leaves it: Go's JSON writes an integral value
/// below 1e21 as its shortest digits without an exponent (`9.3e18` as `9300000000000000000`),
/// which go-yaml then reads as an integer when it fits `int64` or `uint64`; anything else
/// stays a float.
pub(crate) fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Rust's Display writes the same shortest digits, padded with zeros, as Go's 'f'.
        let text = format!("{f}");
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// Plain timestamps as go-yaml v3 reads them (`parseTimestamp`): text that starts with four
/// digits and `-` and that Go's `time.Parse` reads in one of go-yaml's four layouts,
/// `2006-1-2T15:4:5.999999999Z07:00`, the same with a lower-case `t`, `2006-1-2 15:4:5.999999999`
/// (no zone) and `2006-1-2`. Written back as Go's JSON writes a time: RFC 3339 with the
/// fraction's trailing zeros dropped and `Z` for a zero offset. Not a timestamp to go-yaml,
/// so kept as text: `2001-12-14 21:59:43.10 -5` (a zone after a space), `2001-02-30` (no such
/// day), `2001-12-14T21:59:43+05` (a zone without minutes). A zone of 24 hours (`+24:00`) is
/// a timestamp that Go's JSON cannot write: see [`resolve`].
fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    [Some(b'T'), Some(b't'), Some(b' '), None].into_iter().find_map(|clock| go_time(b, clock))
}

/// Go's `time.Parse` of `b` in one of go-yaml's layouts: the date, then, after the `clock`
/// separator, the time with an optional fraction and (after `T` or `t`) a zone.
fn go_time(b: &[u8], clock: Option<u8>) -> Option<String> {
    let mut at = 0;
    let year = go_num(b, &mut at, 4)?;
    let month = go_lit(b, &mut at, b'-').and_then(|_| go_num(b, &mut at, 2))?;
    let day = go_lit(b, &mut at, b'-').and_then(|_| go_num(b, &mut at, 2))?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some(sep) = clock else {
        return (at == b.len()).then(|| format!("{date}T00:00:00Z"));
    };
    go_lit(b, &mut at, sep)?;
    if sep == b' ' {
        // Go's `time.Parse` takes a space of the layout as a run of spaces.
        while b.get(at) == Some(&b' ') {
            at += 1;
        }
    }
    let hour = go_num(b, &mut at, 2).filter(|h| *h < 24)?;
    let minute = go_lit(b, &mut at, b':').and_then(|_| go_num(b, &mut at, 2)).filter(|m| *m < 60)?;
    let second = go_lit(b, &mut at, b':').and_then(|_| go_num(b, &mut at, 2)).filter(|s| *s < 60)?;
    // A fraction after `.` or `,`: every digit is taken, the first nine count.
    let mut nanos = String::new();
    if matches!(b.get(at), Some(b'.' | b',')) && b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        at += 1;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            if nanos.len() < 9 {
                nanos.push(char::from(*d));
            }
            at += 1;
        }
    }
    // The zone: `Z`, or a sign and two-digit hours and minutes (`-05:00`); none after a space.
    let mut offset = 0i64;
    if sep != b' ' {
        match b.get(at) {
            Some(b'Z') => at += 1,
            Some(&sign @ (b'+' | b'-')) if b.len() >= at + 6 && b[at + 3] == b':' => {
                let two = |i: usize| {
                    b[i..i + 2]
                        .iter()
                        .all(u8::is_ascii_digit)
                        .then(|| i64::from(b[i] - b'0') * 10 + i64::from(b[i + 1] - b'0'))
                };
                let (h, m) = (two(at + 1)?, two(at + 4)?);
                if h > 24 || m > 60 {
                    return None;
                }
                offset = if sign == b'-' { -(h * 60 + m) } else { h * 60 + m };
                at += 6;
            }
            _ => return None,
        }
    }
    if at != b.len() {
        return None;
    }
    let nanos = nanos.trim_end_matches('0');
    let fraction = if nanos.is_empty() { String::new() } else { format!(".{nanos}") };
    let zone = match offset {
        0 => "Z".to_string(),
        o => format!("{}{:02}:{:02}", if o < 0 { '-' } else { '+' }, o.abs() / 60, o.abs() % 60),
    };
    Some(format!("{date}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}"))
}

/// Go's `getnum` (one or two digits, the second taken when it is a digit), or four digits
/// for a year.
fn go_num(b: &[u8], at: &mut usize, width: usize) -> Option<u32> {
    b.get(*at).filter(|c| c.is_ascii_digit())?;
    let len = if width == 4 {
        if !b.get(*at..*at + 4)?.iter().all(u8::is_ascii_digit) {
            return None;
        }
        4
    } else if b.get(*at + 1).is_some_and(u8::is_ascii_digit) {
        2
    } else {
        1
    };
    let n = b[*at..*at + len].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    *at += len;
    Some(n)
}

fn go_lit(b: &[u8], at: &mut usize, c: u8) -> Option<()> {
    (b.get(*at) == Some(&c)).then(|| *at += 1)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A plain (unquoted, untagged) scalar's text resolved as Kustomize's YAML library reads it:
/// `0755` is 493, `true` a boolean, `~` null, anything else that is not a number a string.
///
/// ```
/// use gitops_core::yaml::resolve_plain;
/// assert_eq!(resolve_plain("0755"), gitops_core::json!(493));
/// assert_eq!(resolve_plain("web"), gitops_core::json!("web"));
/// ```
pub fn resolve_plain(text: &str) -> Value {
    resolve(text.to_string(), TScalarStyle::Plain, None, Dialect::V3)
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Whether a plain scalar would be read as something other than this string by a YAML 1.1 or
/// 1.2 reader (go-yaml v3's `resolve`, plus the old booleans and base-60 numbers it also
/// quotes): such strings must be quoted when written.
pub fn resolves_to_non_string(s: &str) -> bool {
    !reads_as_string(s) || yaml11_bool(s).is_some() || is_base60(s)
}

/// Whether go-yaml v3 reads this text, written plain, as the same string: not as a null,
/// boolean (`true`, not `yes`), number or timestamp.
///
/// ```
/// use gitops_core::yaml::reads_as_string;
/// assert!(reads_as_string("yes") && reads_as_string("web") && reads_as_string("1:30"));
/// assert!(!reads_as_string("1") && !reads_as_string("true") && !reads_as_string("2024-01-01"));
/// ```
pub fn reads_as_string(s: &str) -> bool {
    plain_kind(s, Dialect::V3) == Plain::Str
}

fn is_base60(s: &str) -> bool {
    // go-yaml's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !digit(i) {
        return false;
    }
    i += 1;
    while digit(i) || b.get(i) == Some(&b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        // One digit, or two when the first is 0 to 5 (a digit after one digit could not
        // be followed by anything the pattern allows).
        if !digit(i + 1) {
            return false;
        }
        i += if b[i + 1] <= b'5' && digit(i + 2) { 3 } else { 2 };
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while digit(i) || b.get(i) == Some(&b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn plain(s: &str) -> Value {
        resolve(s.to_string(), TScalarStyle::Plain, None, Dialect::V3).unwrap()
    }

    #[test]
    fn scalars_resolve_as_kustomize_reads_them() {
        assert_eq!(plain("0755"), json!(493));
        assert_eq!(plain("0o17"), json!(15));
        assert_eq!(plain("0x1F"), json!(31));
        assert_eq!(plain("-12"), json!(-12));
        assert_eq!(plain("1e3"), json!(1000));
        assert_eq!(plain("0.5"), json!(0.5));
        assert_eq!(plain("08"), json!(8));
        assert_eq!(plain("yes"), json!("yes"));
        assert_eq!(plain("on"), json!("on"));
        assert_eq!(plain("True"), json!(true));
        assert_eq!(plain("~"), json!(null));
        assert_eq!(plain("2024-01-01"), json!("2024-01-01T00:00:00Z"));
        assert_eq!(plain("2024-01-01 10:20:30"), json!("2024-01-01T10:20:30Z"));
        assert_eq!(plain("2024-01-01T10:20:30+02:00"), json!("2024-01-01T10:20:30+02:00"));
        assert_eq!(plain("1.2.3"), json!("1.2.3"));
        assert_eq!(plain("v1"), json!("v1"));
        // Out of range for int64 and uint64: a float, as go-yaml reads it.
        assert_eq!(plain("99999999999999999999"), json!(1e20));
        assert_eq!(plain("-9223372036854775809"), json!(-9.223372036854776e18));
        assert_eq!(plain("18446744073709551615"), json!(18446744073709551615u64));
        assert_eq!(plain("+18446744073709551615"), json!(1.8446744073709552e19));
        // Integral floats come back from Go's JSON as integers when they fit 64 bits.
        assert_eq!(plain("9.3e18"), json!(9300000000000000000u64));
        assert_eq!(plain("-9.2e18"), json!(-9200000000000000000i64));
        assert_eq!(plain("-9.3e18"), json!(-9.3e18));
        assert_eq!(plain("9223372036854775808.0"), json!(9223372036854776000u64));
        assert_eq!(plain("123456789012345678.5"), json!(123456789012345680u64));
        // A float out of range stays text (Go's ParseFloat fails).
        assert_eq!(plain("1e400"), json!("1e400"));
        // Underscores are dropped from a number that starts with a digit or a sign.
        assert_eq!(plain("1_000"), json!(1000));
        assert_eq!(plain("0x_1_0"), json!(16));
        assert_eq!(plain("1_0.5"), json!(10.5));
        assert_eq!(plain("-_1"), json!(-1));
        assert_eq!(plain("1e_3"), json!(1000));
        assert_eq!(plain("2024_01_01"), json!(20240101));
        assert_eq!(plain("_1"), json!("_1"));
        // From a dot: Go's ParseFloat, underscores only between digits.
        assert_eq!(plain(".5_0"), json!(0.5));
        assert_eq!(plain("._5"), json!("._5"));
        assert_eq!(resolve("0755".into(), TScalarStyle::DoubleQuoted, None, Dialect::V3).unwrap(), json!("0755"));
        assert!(resolve(".inf".into(), TScalarStyle::Plain, None, Dialect::V3).is_err());
    }

    #[test]
    fn yaml_1_1_rules_for_files_read_with_go_yaml_v2() {
        let v2 = |s: &str| resolve(s.to_string(), TScalarStyle::Plain, None, Dialect::V2).unwrap();
        for (s, b) in [("yes", true), ("on", true), ("Y", true), ("no", false), ("OFF", false), ("n", false)] {
            assert_eq!(v2(s), json!(b), "{s}");
            assert_eq!(plain(s), json!(s), "{s}");
        }
        assert_eq!(v2("2024-01-01"), json!("2024-01-01"));
        assert_eq!(v2("2001-12-14t21:59:43.10-05:00"), json!("2001-12-14t21:59:43.10-05:00"));
        assert_eq!(v2("1_000"), json!(1000));
        assert_eq!(v2("~"), json!(null));
        assert_eq!(v2("1:30"), json!("1:30"));
        let tag = Tag { handle: "!!".into(), suffix: "bool".into() };
        assert_eq!(resolve("on".into(), TScalarStyle::Plain, Some(&tag), Dialect::V2).unwrap(), json!(true));
        assert!(resolve("on".into(), TScalarStyle::Plain, Some(&tag), Dialect::V3).is_err());
    }

    #[test]
    fn timestamps_as_go_yaml_parses_them() {
        // Each pair checked against `kubectl kustomize` v5.5 (case 164 of gitops-render).
        for (text, read) in [
            ("2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43.1-05:00"),
            ("2001-12-14 21:59:43.10", "2001-12-14T21:59:43.1Z"),
            ("2001-12-14  21:59:43", "2001-12-14T21:59:43Z"),
            ("2001-1-2T3:4:5Z", "2001-01-02T03:04:05Z"),
            ("2000-02-29", "2000-02-29T00:00:00Z"),
            ("0000-01-01", "0000-01-01T00:00:00Z"),
            ("2001-12-14T21:59:43-00:00", "2001-12-14T21:59:43Z"),
            ("2001-12-14T21:59:43.1234567891234Z", "2001-12-14T21:59:43.123456789Z"),
            ("2001-12-14T21:59:43,5Z", "2001-12-14T21:59:43.5Z"),
            ("2001-12-14T21:59:43.000Z", "2001-12-14T21:59:43Z"),
        ] {
            assert_eq!(plain(text), json!(read), "{text}");
        }
        // Not a time to go-yaml: kept as written.
        for text in [
            "2001-12-14 21:59:43.10 -5",
            "2001-12-14T21:59:43.10 -05:00",
            "2001-02-29",
            "2001-02-30",
            "2001-13-01",
            "2001-12-14T24:00:00Z",
            "2001-12-14T23:59:60Z",
            "2001-12-14T21:59:43+05",
            "2001-12-14T21:59:43+0530",
            "2001-12-14T21:59:43+25:00",
            "2001-12-14T21:59:43z",
            "2001-12-14T21:59:43",
            "2001-12-14T21:59:43.Z",
            "2001-12-14 21:59",
            "12001-12-14",
            "2001-12-14x",
        ] {
            assert_eq!(plain(text), json!(text), "{text}");
        }
        // A time go-yaml reads and Go's JSON cannot write.
        let err = resolve("2001-12-14T21:59:43+24:30".into(), TScalarStyle::Plain, None, Dialect::V3).unwrap_err();
        assert!(err.contains("24 hours") && !err.contains("21:59"), "{err}");
    }

    #[test]
    fn a_time_in_a_flow_collection_stays_text() {
        let doc = "f1: [2001-12-14T21:59:43Z, 2001-1-2]\nf2: {x: 2001-12-14 21:59:43}\nb: 2001-12-14T21:59:43Z\n";
        let v = crate::yaml::parse_value(doc, "t.yaml", 0, 1).unwrap().unwrap();
        assert_eq!(
            v,
            json!({"f1": ["2001-12-14T21:59:43Z", "2001-01-02T00:00:00Z"], "f2": {"x": "2001-12-14 21:59:43"},
                   "b": "2001-12-14T21:59:43Z"})
        );
        let doc = "a: [x, {y: [2001-12-14t21:59:43Z]}]\nb:\n- 2001-12-14t21:59:43Z\n";
        let v = crate::yaml::parse_value(doc, "t.yaml", 0, 1).unwrap().unwrap();
        assert_eq!(v, json!({"a": ["x", {"y": ["2001-12-14t21:59:43Z"]}], "b": ["2001-12-14T21:59:43Z"]}));
    }

    #[test]
    fn strings_that_need_quotes() {
        for s in ["", "true", "yes", "y", "0644", "1e3", "12", "null", "~", "2024-01-01", "1:20", "1_000", ".5", "1e20"]
        {
            assert!(resolves_to_non_string(s), "{s}");
        }
        for s in ["hello", "v1.2.3", "nginx:1.25", "a b", "0x", "1.2.3", "1e400", "_1", "._5"] {
            assert!(!resolves_to_non_string(s), "{s}");
        }
        // Base 60 as go-yaml's writer quotes it (each checked against kubectl kustomize v5.5).
        for s in
            ["06:00", "0:30", "1:2:3", "1:5", "1:05.5", "1:30.", "1_0:30", "-0:30", "09:7", "1:30.5_", "190:20:30.15"]
        {
            assert!(is_base60(s), "{s}");
        }
        for s in
            ["1:99", "1:60", "1.5:30", "1:3_0", "1:30:", ":30", "12:345", "1:2.5:3", "1:69", "1::30", "_1:30", "1:0_0"]
        {
            assert!(!is_base60(s), "{s}");
        }
    }
}
