//! Protocol-buffer bodies of built-in kinds (`application/vnd.kubernetes.protobuf`), which
//! kubectl's typed commands (`kubectl create namespace`, `create configmap`, `create
//! deployment`, ...) send.
//!
//! The wire form is the four bytes `k8s\0`, then a `runtime.Unknown` whose `typeMeta` names the
//! object's `apiVersion` and `kind` and whose `raw` holds the object's own message. The
//! messages are read with the descriptors of Kubernetes' `generated.proto` files (stable
//! groups, compiled into `data/k8s-v1.fds`; see `data/README.md`), and turned into the JSON
//! that Go's encoder would write for the decoded object: the special messages take their JSON
//! forms (`Time` and `MicroTime` as RFC 3339 text, `IntOrString` as a number or a string,
//! `Quantity` as its string, `RawExtension`, `JSON` and `FieldsV1` as the JSON they hold),
//! `bytes` as base64. Go writes every non-pointer scalar field of a message, so a message
//! cannot tell an empty string, `0` or `false` from an unset one: empty scalars are left out,
//! as `omitempty` leaves them out of JSON. (A pointer set to its zero value, such as
//! `replicas: 0`, is lost with them; kubectl's typed commands do not send one.)
//!
//! Answers are JSON, which kubectl accepts (`Accept: application/vnd.kubernetes.protobuf,
//! application/json`).

use std::sync::OnceLock;

use base64::Engine;
use gitops_core::value::{Map, Value};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, ReflectMessage, Value as Pv};

/// The media type of Kubernetes' protocol-buffer encoding.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(&include_bytes!("../data/k8s-v1.fds")[..]).expect("the compiled Kubernetes descriptors")
    })
}

/// Whether a request's content type is the protocol-buffer encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim() == CONTENT_TYPE)
}

/// The message of a built-in kind: `api.<first label of the group, or core>.<version>.<kind>`
/// (the CRD and APIService kinds have their own packages).
fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = gitops_core::object::split_api_version(api_version);
    let package = match group {
        "" => format!("api.core.{version}"),
        "apiextensions.k8s.io" => format!("apiextensions_apiserver.pkg.apis.apiextensions.{version}"),
        "apiregistration.k8s.io" => format!("kube_aggregator.pkg.apis.apiregistration.{version}"),
        g => format!("api.{}.{version}", g.split('.').next().unwrap_or(g)),
    };
    pool().get_message_by_name(&format!("{package}.{kind}"))
}

/// Decodes a protocol-buffer body into the object's JSON; an error names what is wrong.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body.strip_prefix(MAGIC).ok_or("the body does not start with the protobuf prefix \"k8s\\x00\"")?;
    let unknown =
        pool().get_message_by_name("apimachinery.pkg.runtime.Unknown").ok_or("no descriptor of runtime.Unknown")?;
    let envelope = DynamicMessage::decode(unknown, rest).map_err(|e| format!("the protobuf envelope: {e}"))?;
    let text = |m: &DynamicMessage, f: &str| m.get_field_by_name(f).and_then(|v| v.as_str().map(String::from));
    let type_meta = envelope.get_field_by_name("typeMeta").and_then(|v| v.as_message().cloned());
    let api_version = type_meta.as_ref().and_then(|t| text(t, "apiVersion")).unwrap_or_default();
    let kind = type_meta.as_ref().and_then(|t| text(t, "kind")).unwrap_or_default();
    if let Some(encoding) = text(&envelope, "contentEncoding").filter(|e| !e.is_empty()) {
        return Err(format!("content encoding {encoding:?} is not supported"));
    }
    let raw = envelope.get_field_by_name("raw").and_then(|v| v.as_bytes().cloned()).unwrap_or_default();
    let descriptor = message_for(&api_version, &kind)
        .ok_or_else(|| format!("no protobuf message is known for {api_version}, Kind={kind}"))?;
    let message = DynamicMessage::decode(descriptor, raw.as_ref()).map_err(|e| format!("{kind}: {e}"))?;
    let mut object = match message_json(&message) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    out.append(&mut object);
    Ok(Value::Object(out))
}

/// The JSON of a message; `None` when Go would write nothing (a zero `Time`).
fn message_json(m: &DynamicMessage) -> Option<Value> {
    let d = m.descriptor();
    let field = |name: &str| m.get_field_by_name(name);
    let raw_json = |name: &str| -> Option<Value> {
        let bytes = field(name)?.as_bytes()?.clone();
        if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() }
    };
    match d.full_name() {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let secs = field("seconds").and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = field("nanos").and_then(|v| v.as_i32()).unwrap_or(0);
            if !m.has_field_by_name("seconds") && !m.has_field_by_name("nanos") {
                return None;
            }
            let text = gitops_core::time::rfc3339(secs);
            return Some(Value::String(if d.name() == "MicroTime" {
                format!("{}.{:06}Z", text.trim_end_matches('Z'), nanos / 1000)
            } else {
                text
            }));
        }
        "apimachinery.pkg.util.intstr.IntOrString" => {
            let is_string = field("type").and_then(|v| v.as_i64()).unwrap_or(0) == 1;
            return Some(if is_string {
                Value::String(field("strVal").and_then(|v| v.as_str().map(String::from)).unwrap_or_default())
            } else {
                Value::from(field("intVal").and_then(|v| v.as_i32()).unwrap_or(0))
            });
        }
        "apimachinery.pkg.api.resource.Quantity" => {
            return field("string").and_then(|v| v.as_str().map(|s| Value::String(s.to_string())));
        }
        "apimachinery.pkg.runtime.RawExtension" | "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON" => {
            return raw_json("raw");
        }
        "apimachinery.pkg.apis.meta.v1.FieldsV1" => return raw_json("Raw"),
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            return Some(Value::String(go_duration(field("duration").and_then(|v| v.as_i64()).unwrap_or(0))));
        }
        _ => {}
    }
    let mut out = Map::new();
    for (f, v) in m.fields() {
        if let Some(json) = field_json(v) {
            out.insert(f.name().to_string(), json);
        }
    }
    Some(Value::Object(out))
}

/// The JSON of one field's value; `None` for what `omitempty` leaves out.
fn field_json(v: &Pv) -> Option<Value> {
    Some(match v {
        Pv::Bool(false) | Pv::I32(0) | Pv::I64(0) | Pv::U32(0) | Pv::U64(0) => return None,
        Pv::Bool(b) => Value::Bool(*b),
        Pv::I32(n) => Value::from(*n),
        Pv::I64(n) => Value::from(*n),
        Pv::U32(n) => Value::from(*n),
        Pv::U64(n) => Value::from(*n),
        Pv::F32(n) => gitops_core::value::Number::from_f64(f64::from(*n)).filter(|_| *n != 0.0).map(Value::Number)?,
        Pv::F64(n) => gitops_core::value::Number::from_f64(*n).filter(|_| *n != 0.0).map(Value::Number)?,
        Pv::String(s) if s.is_empty() => return None,
        Pv::String(s) => Value::String(s.clone()),
        Pv::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Pv::EnumNumber(n) => Value::from(*n),
        Pv::Message(m) => message_json(m)?,
        Pv::List(items) => {
            if items.is_empty() {
                return None;
            }
            // Items are written whole: an empty string in a list stays.
            Value::Array(items.iter().map(|i| field_json(i).unwrap_or_else(|| zero_json(i))).collect())
        }
        Pv::Map(entries) => {
            if entries.is_empty() {
                return None;
            }
            let mut m = Map::new();
            for (k, v) in entries {
                let key = match k {
                    MapKey::String(s) => s.clone(),
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(n) => n.to_string(),
                    MapKey::I64(n) => n.to_string(),
                    MapKey::U32(n) => n.to_string(),
                    MapKey::U64(n) => n.to_string(),
                };
                m.insert(key, field_json(v).unwrap_or_else(|| zero_json(v)));
            }
            Value::Object(m)
        }
    })
}

/// The JSON of a zero value inside a list or map, where Go writes it.
fn zero_json(v: &Pv) -> Value {
    match v {
        Pv::Bool(_) => Value::Bool(false),
        Pv::String(_) => Value::String(String::new()),
        Pv::Message(_) => Value::Null,
        Pv::List(_) => Value::Array(Vec::new()),
        Pv::Map(_) => Value::Object(Map::new()),
        _ => Value::from(0),
    }
}

/// Go's `time.Duration` text (`1h0m0s`, `1.5s`, `0s`).
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trim_fraction(n, div));
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let s = trim_fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

fn trim_fraction(n: u64, div: u64) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    format!("{whole}.{}", format!("{frac:0width$}").trim_end_matches('0'))
}

/// Whether a request's `Accept` header asks for protocol buffers before JSON (as Go clients of
/// built-in kinds do: `application/vnd.kubernetes.protobuf,application/json`).
pub fn accepts_protobuf_first(accept: &str) -> bool {
    accept.split(',').next().and_then(|t| t.split(';').next()).is_some_and(|t| t.trim() == CONTENT_TYPE)
}

/// Encodes an object (a built-in kind, its list, `Status`, ...) in the wire form: the envelope
/// around the kind's message, filled from the object's JSON by the descriptors' field names,
/// the special messages from their JSON forms. An error when the kind has no message or the
/// JSON has a field the message does not (the caller answers in JSON then).
pub fn encode(object: &Value) -> Result<Vec<u8>, String> {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let descriptor = match (api_version, kind) {
        ("v1", "Status") => pool().get_message_by_name("apimachinery.pkg.apis.meta.v1.Status"),
        _ => message_for(api_version, kind),
    }
    .ok_or_else(|| format!("no protobuf message is known for {api_version}/{kind}"))?;
    let mut message = DynamicMessage::new(descriptor);
    fill(&mut message, object)?;
    let unknown = pool().get_message_by_name("apimachinery.pkg.runtime.Unknown").ok_or("no runtime.Unknown")?;
    let type_meta = pool().get_message_by_name("apimachinery.pkg.runtime.TypeMeta").ok_or("no runtime.TypeMeta")?;
    let mut tm = DynamicMessage::new(type_meta);
    tm.set_field_by_name("apiVersion", Pv::String(api_version.into()));
    tm.set_field_by_name("kind", Pv::String(kind.into()));
    let mut envelope = DynamicMessage::new(unknown);
    envelope.set_field_by_name("typeMeta", Pv::Message(tm));
    envelope.set_field_by_name("raw", Pv::Bytes(message.encode_to_vec().into()));
    let mut out = MAGIC.to_vec();
    out.extend(envelope.encode_to_vec());
    Ok(out)
}

fn fill(message: &mut DynamicMessage, v: &Value) -> Result<(), String> {
    let d = message.descriptor();
    let raw = |message: &mut DynamicMessage, field: &str, v: &Value| {
        message.set_field_by_name(field, Pv::Bytes(serde_json::to_vec(v).unwrap_or_default().into()));
    };
    match (d.full_name(), v) {
        ("apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime", Value::String(t)) => {
            let secs = gitops_core::time::parse_rfc3339(t).ok_or_else(|| format!("not an RFC 3339 time: {t:?}"))?;
            message.set_field_by_name("seconds", Pv::I64(secs));
            let fraction = t.get(19..).and_then(|r| r.strip_prefix('.')).map(|r| r.trim_end_matches('Z'));
            if let Some(digits) = fraction.filter(|f| !f.is_empty()) {
                let nanos: i32 = format!("{digits:0<9}").get(..9).and_then(|n| n.parse().ok()).unwrap_or(0);
                message.set_field_by_name("nanos", Pv::I32(nanos));
            }
            return Ok(());
        }
        ("apimachinery.pkg.runtime.RawExtension" | "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON", v) => {
            raw(message, "raw", v);
            return Ok(());
        }
        ("apimachinery.pkg.apis.meta.v1.FieldsV1", v) => {
            raw(message, "Raw", v);
            return Ok(());
        }
        ("apimachinery.pkg.apis.meta.v1.Duration", Value::String(t)) => {
            message.set_field_by_name(
                "duration",
                Pv::I64(gitops_core::time::parse_go_duration(t).ok_or_else(|| format!("not a duration: {t:?}"))?),
            );
            return Ok(());
        }
        ("apimachinery.pkg.api.resource.Quantity", Value::Number(n)) => {
            message.set_field_by_name("string", Pv::String(n.to_string()));
            return Ok(());
        }
        ("apimachinery.pkg.api.resource.Quantity", Value::String(s)) => {
            message.set_field_by_name("string", Pv::String(s.clone()));
            return Ok(());
        }
        ("apimachinery.pkg.util.intstr.IntOrString", Value::String(s)) => {
            message.set_field_by_name("type", Pv::I64(1));
            message.set_field_by_name("strVal", Pv::String(s.clone()));
            return Ok(());
        }
        ("apimachinery.pkg.util.intstr.IntOrString", Value::Number(n)) => {
            message.set_field_by_name("intVal", Pv::I32(n.as_i64().unwrap_or(0) as i32));
            return Ok(());
        }
        _ => {}
    }
    let Value::Object(m) = v else { return Err(format!("{}: expected an object", d.name())) };
    for (k, child) in m {
        // The type is the envelope's; Go writes no JSON null for a field it has.
        if (k == "apiVersion" || k == "kind") && d.get_field_by_name(k).is_none() || child.is_null() {
            continue;
        }
        let field = d.get_field_by_name(k).ok_or_else(|| format!("{}: no field {k:?}", d.name()))?;
        let value = scalar_or_message(&field.kind(), child, field.is_list(), field.is_map())?;
        message.set_field(&field, value);
    }
    Ok(())
}

fn scalar_or_message(kind: &prost_reflect::Kind, v: &Value, list: bool, map: bool) -> Result<Pv, String> {
    use prost_reflect::Kind;
    if list {
        let items = v.as_array().ok_or("expected a list")?;
        if matches!(kind, Kind::Message(_)) && items.iter().any(Value::is_null) {
            return Err("a null list item".into());
        }
        return items.iter().map(|i| scalar_or_message(kind, i, false, false)).collect::<Result<_, _>>().map(Pv::List);
    }
    if map {
        let Kind::Message(entry) = kind else { return Err("a map without an entry message".into()) };
        let value_kind = entry.map_entry_value_field().kind();
        let mut out = std::collections::HashMap::new();
        for (k, child) in v.as_object().ok_or("expected a map")? {
            out.insert(MapKey::String(k.clone()), scalar_or_message(&value_kind, child, false, false)?);
        }
        return Ok(Pv::Map(out));
    }
    Ok(match kind {
        Kind::String => Pv::String(v.as_str().ok_or("expected a string")?.to_string()),
        Kind::Bool => Pv::Bool(v.as_bool().ok_or("expected a boolean")?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Pv::I32(v.as_i64().ok_or("expected an integer")? as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Pv::I64(v.as_i64().ok_or("expected an integer")?),
        Kind::Double => Pv::F64(v.as_f64().ok_or("expected a number")?),
        Kind::Bytes => Pv::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().ok_or("expected base64 text")?)
                .map_err(|e| e.to_string())?
                .into(),
        ),
        Kind::Message(d) => {
            let mut m = DynamicMessage::new(d.clone());
            fill(&mut m, v)?;
            Pv::Message(m)
        }
        other => return Err(format!("unsupported field kind {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    #[test]
    fn objects_round_trip_through_the_wire_form() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web",
                    "image": "nginx", "args": ["", "x"], "resources": {"limits": {"cpu": "500m"}}}]}}}
        });
        let body = encode(&deployment).unwrap();
        assert!(body.starts_with(b"k8s\0"));
        assert_eq!(decode(&body).unwrap(), deployment);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "AAE="}, "type": "Opaque"});
        assert_eq!(decode(&encode(&secret).unwrap()).unwrap(), secret);
    }

    #[test]
    fn special_messages_take_their_json_forms() {
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(2_000_000), "2ms");
        let t = pool().get_message_by_name("apimachinery.pkg.apis.meta.v1.Time").unwrap();
        let mut m = DynamicMessage::new(t.clone());
        assert_eq!(message_json(&m), None, "a zero time is left out");
        m.set_field_by_name("seconds", Pv::I64(1_700_000_000));
        assert_eq!(message_json(&m), Some(json!("2023-11-14T22:13:20Z")));
    }

    #[test]
    fn stored_objects_encode_with_their_times_and_managed_fields() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d",
            "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-12-03T15:00:00Z",
            "deletionTimestamp": null,
            "managedFields": [{"manager": "m", "operation": "Apply", "apiVersion": "v1",
                "time": "2026-12-03T15:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]},
            "data": {"a": "1"}});
        let mut expected = cm.clone();
        expected["metadata"].as_object_mut().unwrap().remove("deletionTimestamp");
        assert_eq!(decode(&encode(&cm).unwrap()).unwrap(), expected);
        let item = json!({"metadata": expected["metadata"].clone(), "data": {"a": "1"}});
        let list =
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "9"}, "items": [item]});
        assert_eq!(decode(&encode(&list).unwrap()).unwrap(), list);
        let status = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": "nope", "reason": "NotFound", "code": 404});
        assert!(encode(&status).is_ok());
        assert!(encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "bogus": 1})).is_err());
        assert_eq!(gitops_core::time::parse_go_duration("1h2m3.5s"), Some(3_723_500_000_000));
        assert_eq!(gitops_core::time::parse_go_duration("300ms"), Some(300_000_000));
        assert!(accepts_protobuf_first("application/vnd.kubernetes.protobuf,application/json"));
        assert!(!accepts_protobuf_first("application/json, application/vnd.kubernetes.protobuf"));
    }

    #[test]
    fn bad_bodies_are_named() {
        assert!(decode(b"{}").unwrap_err().contains("prefix"));
        let mut body = encode(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})).unwrap();
        body.truncate(body.len() - 3);
        assert!(decode(&body).is_err());
    }
}
