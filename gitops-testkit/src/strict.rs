//! Field validation of writes (`fieldValidation=Ignore|Warn|Strict`), as the real API server
//! does it.
//!
//! - A JSON body is decoded as `sigs.k8s.io/json` decodes it into the kind's Go type: a key
//!   repeated in one object is a duplicate field, a key a struct does not declare is an unknown
//!   field (and is dropped, as typed decoding drops it); each is named by its path
//!   (`spec.containers[0].foo`), in document order, at most 100, each once. The values of
//!   fields with their own decoders (`RawExtension`, JSON) are not looked into.
//! - Custom resources are decoded as free JSON (duplicates only); their unknown fields are the
//!   ones pruning removes and unknown `metadata` fields.
//! - Server-side apply turns the body into a typed value first: a field the schema does not
//!   declare fails the request (500, "field not declared in schema") whatever the directive;
//!   duplicate YAML keys are reported as go-yaml reports them.
//! - `Strict` turns what was found into an error, `Warn` (the default) into `Warning` headers,
//!   `Ignore` says nothing.

use std::cell::RefCell;
use std::fmt;

use gitops_core::fieldset::{FieldSet, PathElement};
use gitops_core::schema::{ListType, Node, Shape};
use gitops_core::{
    json,
    value::{Map, Value},
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::api::{ApiError, State};
use crate::registry::Resource;
use gitops_core::yaml;

/// What a write does with unknown and duplicate fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently (and what internal writes use).
    #[default]
    Ignore,
    /// Drop them and say so in `Warning` headers: the server's default.
    Warn,
    /// Refuse the write.
    Strict,
}

impl FieldValidation {
    /// The directive of a request's `fieldValidation` parameter; an unsupported value is the
    /// real 422 on the verb's options kind (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
    pub fn from_query(value: Option<&str>, options_kind: &str) -> Result<Self, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => {
                let message = format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    go_quote(other)
                );
                Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("{options_kind}.meta.k8s.io \"\" is invalid: fieldValidation: {message}"),
                    Some(json!({"group": "meta.k8s.io", "kind": options_kind, "causes": [
                        {"reason": "FieldValueNotSupported", "message": message, "field": "fieldValidation"}]})),
                ))
            }
        }
    }
}

pub use gitops_core::gofmt::go_quote;

/// The value of a `Warning` header carrying `text`, as the API server writes it.
pub fn warning_header(text: &str) -> String {
    format!("299 - \"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One step of the path to a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    /// A field or map key.
    Field(String),
    /// A list item: its index and, for keyed lists, how server-side apply names it.
    Item(usize, Option<PathElement>),
}

/// The path as the strict JSON decoder writes it: `spec.containers[0].foo`.
pub fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Seg::Item(i, _) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The path as structured-merge-diff writes it: `.spec.containers[name="web"].foo`.
pub fn smd(path: &[Seg]) -> String {
    let elements: Vec<PathElement> = path
        .iter()
        .map(|seg| match seg {
            Seg::Field(name) => PathElement::Field(name.clone()),
            Seg::Item(_, Some(e)) => e.clone(),
            Seg::Item(i, None) => PathElement::Index(*i),
        })
        .collect();
    FieldSet::path_string(&elements)
}

/// What a strict decoding found, in the order found: `duplicate field "a"`, `unknown field "b"`.
#[derive(Debug, Default)]
pub struct Findings {
    /// The messages, each once, at most 100.
    pub messages: Vec<String>,
}

impl Findings {
    /// Records one message (deduplicated, capped at 100 as the Go decoder caps them).
    pub fn push(&mut self, message: String) {
        if self.messages.len() < 100 && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// `strict decoding error: a, b`.
    pub fn strict_error(&self) -> String {
        format!("strict decoding error: {}", self.messages.join(", "))
    }
}

/// How far the decoder checks a value.
#[derive(Clone, Copy)]
pub enum Check<'s> {
    /// A typed value: unknown struct fields and duplicates.
    Typed(Node<'s>),
    /// Free JSON (`map[string]interface{}`): duplicates only.
    Free,
    /// A value with its own decoder: nothing.
    Opaque,
}

impl<'s> Check<'s> {
    fn of_node(node: Node<'s>) -> Self {
        match node.shape() {
            Shape::Untyped => Check::Opaque,
            // RawExtension: raw JSON kept as it came.
            Shape::Map { atomic: true, .. } if node.field("").is_some_and(|n| n.is_untyped()) => Check::Opaque,
            _ => Check::Typed(node),
        }
    }
}

enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                out.push_str(&format!("[{i}]"));
            }
        }
    }

    fn child_text(&self, key: &str) -> String {
        let mut s = String::new();
        Path::Key(self, key).render(&mut s);
        s
    }
}

struct Walk<'c, 'p, 's> {
    findings: &'c RefCell<Findings>,
    path: &'p Path<'p>,
    check: Check<'s>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(gitops_core::value::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = match self.check {
            Check::Typed(node) => match node.shape() {
                Shape::List { .. } => node.item().map_or(Check::Opaque, Check::of_node),
                _ => Check::Opaque,
            },
            other => other,
        };
        let mut items = Vec::new();
        loop {
            let path = Path::Index(self.path, items.len());
            match seq.next_element_seed(Walk { findings: self.findings, path: &path, check: item })? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let child = match self.check {
                Check::Typed(node) => match node.shape() {
                    Shape::Struct { fields, .. } => match fields.get(&key) {
                        Some(_) => node.field(&key).map_or(Check::Opaque, Check::of_node),
                        None => {
                            self.findings
                                .borrow_mut()
                                .push(format!("unknown field {}", go_quote(&self.path.child_text(&key))));
                            access.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    },
                    Shape::Map { .. } => node.field(&key).map_or(Check::Opaque, Check::of_node),
                    _ => Check::Opaque,
                },
                other => other,
            };
            if !matches!(self.check, Check::Opaque) && map.contains_key(&key) {
                self.findings.borrow_mut().push(format!("duplicate field {}", go_quote(&self.path.child_text(&key))));
            }
            let path = Path::Key(self.path, &key);
            let value = access.next_value_seed(Walk { findings: self.findings, path: &path, check: child })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Decodes a JSON body, checking it as `check` says: the value (unknown struct fields
/// dropped, the last of repeated keys kept) and what was found.
pub fn decode_json(body: &[u8], check: Check<'_>) -> serde_json::Result<(Value, Findings)> {
    let findings = RefCell::new(Findings::default());
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Walk { findings: &findings, path: &Path::Root, check }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, findings.into_inner()))
}

/// The fields of a value its schema node does not declare, as paths, in key order; with
/// `drop`, they are removed from the value (typed decoding keeps only declared fields).
pub fn unknown_fields(v: &mut Value, node: Node<'_>, drop: bool) -> Vec<Vec<Seg>> {
    let mut out = Vec::new();
    if has_unknown(v, node) {
        walk_unknown(v, node, &mut Vec::new(), &mut out, drop);
    }
    out
}

/// Whether a value has a field its schema does not declare (the cheap test before paths are
/// built).
fn has_unknown(v: &Value, node: Node<'_>) -> bool {
    let Check::Typed(node) = Check::of_node(node) else {
        return false;
    };
    match (v, node.shape()) {
        (Value::Object(m), Shape::Struct { fields, .. }) => {
            m.iter().any(|(k, child)| !fields.contains_key(k) || node.field(k).is_some_and(|n| has_unknown(child, n)))
        }
        (Value::Object(m), Shape::Map { .. }) => {
            m.iter().any(|(k, child)| node.field(k).is_some_and(|n| has_unknown(child, n)))
        }
        (Value::Array(items), Shape::List { .. }) => {
            node.item().is_some_and(|n| items.iter().any(|item| has_unknown(item, n)))
        }
        _ => false,
    }
}

fn walk_unknown(v: &mut Value, node: Node<'_>, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>, drop: bool) {
    let Check::Typed(node) = Check::of_node(node) else {
        return;
    };
    match (v, node.shape()) {
        (Value::Object(m), Shape::Struct { fields, .. }) => {
            let mut unknown = Vec::new();
            for (k, child) in m.iter_mut() {
                path.push(Seg::Field(k.clone()));
                if fields.contains_key(k) {
                    if let Some(n) = node.field(k) {
                        walk_unknown(child, n, path, out, drop);
                    }
                } else {
                    out.push(path.clone());
                    unknown.push(k.clone());
                }
                path.pop();
            }
            if drop {
                for k in unknown {
                    m.remove(&k);
                }
            }
        }
        (Value::Object(m), Shape::Map { .. }) => {
            for (k, child) in m.iter_mut() {
                if let Some(n) = node.field(k) {
                    path.push(Seg::Field(k.clone()));
                    walk_unknown(child, n, path, out, drop);
                    path.pop();
                }
            }
        }
        (Value::Array(items), Shape::List { info, .. }) => {
            let Some(item_node) = node.item() else { return };
            for (i, item) in items.iter_mut().enumerate() {
                let name = match (info.list_type, &*item) {
                    (ListType::Map, Value::Object(m)) => PathElement::key_of(m, info.item_keys()),
                    (ListType::Set, v) => Some(PathElement::value_of(v)),
                    _ => None,
                };
                path.push(Seg::Item(i, name));
                walk_unknown(item, item_node, path, out, drop);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The error server-side apply answers for fields its typed conversion does not know.
pub fn typed_patch_error(namespace: &str, name: &str, api_version: &str, kind: &str, unknown: &[Vec<Seg>]) -> ApiError {
    let (group, version) = gitops_core::object::split_api_version(api_version);
    let errors: Vec<String> = unknown.iter().map(|p| format!("{}: field not declared in schema", smd(p))).collect();
    let text = if errors.len() == 1 { errors[0].clone() } else { format!("errors:\n  {}", errors.join("\n  ")) };
    ApiError::new(
        500,
        "",
        format!("failed to create typed patch object ({namespace}/{name}; {group}/{version}, Kind={kind}): {text}"),
        None,
    )
}

pub use gitops_core::gofmt::go_format;

/// The text of go-yaml's strict error for repeated keys (`line N: key "k" already set in map`).
pub fn yaml_duplicate(line: usize, key: &str) -> String {
    format!("line {line}: key {} already set in map", go_quote(key))
}

impl State {
    /// Decodes the body of a create or update as the real server does: typed kinds keep only
    /// the fields they declare, custom resources are pruned later; what was dropped or
    /// repeated is refused (`Strict`), warned about (`Warn`) or passed over (`Ignore`).
    pub(crate) fn decode_body(
        &mut self,
        res: &Resource,
        body: &[u8],
        content_type: &str,
        validation: FieldValidation,
    ) -> Result<Value, ApiError> {
        let node = if res.custom { None } else { self.schema.node(&res.group, &res.version, &res.kind) };
        if crate::protobuf::is_protobuf(content_type) {
            // A protocol-buffer message has no duplicate or unknown fields to report.
            return crate::protobuf::decode(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the object provided is unrecognized (must be of type {}): {e}",
                    res.kind
                ))
            });
        }
        let check = node.map_or(Check::Free, Check::Typed);
        let (value, mut findings) = match decode_json(body, check) {
            Ok(decoded) => decoded,
            Err(_) if content_type.contains("yaml") => {
                let text = String::from_utf8_lossy(body);
                let (value, duplicates) = yaml::parse_value_reporting_duplicates(&text, "body")
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let mut value = value.unwrap_or(Value::Null);
                let mut findings = Findings::default();
                for (line, key) in duplicates {
                    findings.push(yaml_duplicate(line, &key));
                }
                if let Some(node) = node {
                    for p in unknown_fields(&mut value, node, true) {
                        findings.push(format!("unknown field {}", go_quote(&dotted(&p))));
                    }
                }
                (value, findings)
            }
            Err(e) => {
                let text = String::from_utf8_lossy(body);
                let head: String = text.chars().take(30).collect();
                return Err(ApiError::bad_request(format!(
                    "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {} ({head} ...)",
                    res.kind,
                    if e.is_eof() { "unexpected end of JSON input".to_string() } else { e.to_string() }
                )));
            }
        };
        if validation == FieldValidation::Ignore {
            return Ok(value);
        }
        if res.custom {
            for p in self.custom_unknown_fields(res, &value) {
                findings.push(format!("unknown field {}", go_quote(&dotted(&p))));
            }
        }
        if findings.is_empty() {
            return Ok(value);
        }
        if validation == FieldValidation::Strict {
            let kind = value.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty()).unwrap_or(&res.kind);
            let version = value
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(|a| gitops_core::object::split_api_version(a).1)
                .filter(|v| !v.is_empty())
                .unwrap_or(&res.version);
            return Err(ApiError::bad_request(format!(
                "{kind} in version {} cannot be handled as a {}: {}",
                go_quote(version),
                res.kind,
                findings.strict_error()
            )));
        }
        self.warnings.extend(findings.messages);
        Ok(value)
    }

    /// The fields of an applied configuration that server-side apply's typed conversion does
    /// not know (it fails on them whatever the field validation).
    pub(crate) fn apply_unknown_fields(&self, res: &Resource, config: &Value) -> Vec<Vec<Seg>> {
        if res.custom {
            return self.custom_unknown_fields(res, config);
        }
        match self.schema.node(&res.group, &res.version, &res.kind) {
            Some(node) if has_unknown(config, node) => unknown_fields(&mut config.clone(), node, false),
            _ => Vec::new(),
        }
    }

    /// Strict checking of a patched object (strategic merge, merge or JSON patch): duplicate
    /// fields of the patch, then the fields the patched object has and its kind does not
    /// declare (dropped). `Strict` refuses with the real 422, quoting `shown` (the patch for a
    /// strategic merge, else the patched object).
    pub(crate) fn check_patched(
        &mut self,
        res: &Resource,
        doc: &mut Value,
        mut findings: Findings,
        validation: FieldValidation,
        shown: impl FnOnce(&Value) -> String,
    ) -> Result<(), ApiError> {
        let before = (validation == FieldValidation::Strict).then(|| shown(doc));
        if res.custom {
            if validation != FieldValidation::Ignore {
                for p in self.custom_unknown_fields(res, doc) {
                    findings.push(format!("unknown field {}", go_quote(&dotted(&p))));
                }
            }
        } else if let Some(node) = self.schema.node(&res.group, &res.version, &res.kind) {
            for p in unknown_fields(doc, node, true) {
                findings.push(format!("unknown field {}", go_quote(&dotted(&p))));
            }
        }
        if findings.is_empty() {
            return Ok(());
        }
        match validation {
            FieldValidation::Ignore => Ok(()),
            FieldValidation::Warn => {
                self.warnings.extend(findings.messages);
                Ok(())
            }
            FieldValidation::Strict => {
                let message =
                    format!("Invalid value: {}: {}", go_quote(&before.unwrap_or_default()), findings.strict_error());
                Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(" \"\" is invalid: patch: {message}"),
                    Some(json!({"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]})),
                ))
            }
        }
    }
}

/// What Go's strict decoding of a patch body finds in it: repeated keys, and for a JSON patch,
/// operation fields other than `op`, `path`, `from` and `value`.
pub fn patch_findings(body: &[u8], json_patch: bool) -> Findings {
    let Ok((value, mut findings)) = decode_json(body, Check::Free) else {
        return Findings::default();
    };
    if json_patch {
        let mut out = Findings::default();
        for m in findings.messages.drain(..) {
            out.push(format!("json patch {m}"));
        }
        for (i, op) in value.as_array().into_iter().flatten().enumerate() {
            for k in op.as_object().into_iter().flat_map(|m| m.keys()) {
                if !matches!(k.as_str(), "op" | "path" | "from" | "value") {
                    out.push(format!("json patch unknown field {}", go_quote(&format!("[{i}].{k}"))));
                }
            }
        }
        return out;
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::schema::Schema;

    fn cm() -> Node<'static> {
        Schema::builtin().node("", "v1", "ConfigMap").unwrap()
    }

    #[test]
    fn typed_decoding_names_unknown_and_duplicate_fields_in_document_order() {
        let body = br#"{"kind":"ConfigMap","zzz":1,"metadata":{"name":"a","bogus":{"x":1}},"data":{"a":"1","a":"2"},"spec":{}}"#;
        let (v, f) = decode_json(body, Check::Typed(cm())).unwrap();
        assert_eq!(
            f.messages,
            [
                "unknown field \"zzz\"",
                "unknown field \"metadata.bogus\"",
                "duplicate field \"data.a\"",
                "unknown field \"spec\""
            ]
        );
        assert_eq!(v, json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "2"}}));
    }

    #[test]
    fn list_items_are_named_by_index_and_opaque_values_are_not_checked() {
        let pod = Schema::builtin().node("", "v1", "Pod").unwrap();
        let body = br#"{"spec":{"containers":[{"name":"a"},{"name":"b","imagePullPolice":"x"}]}}"#;
        let (_, f) = decode_json(body, Check::Typed(pod)).unwrap();
        assert_eq!(f.messages, ["unknown field \"spec.containers[1].imagePullPolice\""]);
        let cr = Schema::builtin().node("controller-revision-free", "v1", "x");
        assert!(cr.is_none());
        let rev = Schema::builtin().node("apps", "v1", "ControllerRevision").unwrap();
        let (v, f) = decode_json(br#"{"data":{"anything":1,"anything":2}}"#, Check::Typed(rev)).unwrap();
        assert!(f.is_empty(), "{:?}", f.messages);
        assert_eq!(v["data"]["anything"], 2);
    }

    #[test]
    fn free_json_reports_duplicates_only() {
        let (_, f) = decode_json(br#"{"spec":{"x":1,"x":2},"top":1,"top":2}"#, Check::Free).unwrap();
        assert_eq!(f.messages, ["duplicate field \"spec.x\"", "duplicate field \"top\""]);
    }

    #[test]
    fn unknown_fields_of_a_value_use_list_keys_for_apply_errors() {
        let deploy = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
        let mut v =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "colour": "red"}]}}}, "extra": 1});
        let unknown = unknown_fields(&mut v, deploy, true);
        let texts: Vec<String> = unknown.iter().map(|p| smd(p)).collect();
        assert_eq!(texts, [".extra", ".spec.template.spec.containers[name=\"web\"].colour"]);
        assert_eq!(dotted(&unknown[1]), "spec.template.spec.containers[0].colour");
        assert_eq!(v, json!({"spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}}));
        let e = typed_patch_error("", "ap", "v1", "ConfigMap", &unknown[..1]);
        assert_eq!(
            e.message,
            "failed to create typed patch object (/ap; /v1, Kind=ConfigMap): .extra: field not declared in schema"
        );
        let e = typed_patch_error("ns", "d", "apps/v1", "Deployment", &unknown);
        assert!(e.message.ends_with("apps/v1, Kind=Deployment): errors:\n  .extra: field not declared in schema\n  .spec.template.spec.containers[name=\"web\"].colour: field not declared in schema"), "{}", e.message);
    }

    #[test]
    fn go_formatting_of_patches() {
        assert_eq!(go_format(&json!({"foo": 1, "data": {"z": "1"}})), "map[data:map[z:1] foo:1]");
        assert_eq!(
            go_format(&json!({"a": [1, "x", null, true], "b": 1.5, "c": 1e22, "d": 0.00001})),
            "map[a:[1 x <nil> true] b:1.5 c:1e+22 d:1e-05]"
        );
    }

    #[test]
    fn unsupported_directive_is_the_real_422() {
        let e = FieldValidation::from_query(Some("Bogus"), "CreateOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
        assert_eq!(FieldValidation::from_query(None, "PatchOptions").unwrap(), FieldValidation::Warn);
        assert_eq!(warning_header("unknown field \"a\""), "299 - \"unknown field \\\"a\\\"\"");
    }
}
