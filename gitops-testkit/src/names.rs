//! The name rules of the real API server: object names per kind, label and annotation keys
//! (qualified names), label values, ConfigMap and Secret data keys; with its messages.

use serde_json::Value;

use crate::admission::Cause;

const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// The longest `generateName` prefix kept: five characters are added.
pub const MAX_GENERATED_PREFIX: usize = 58;

fn alnum_edges(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && alnum_edges(l)
        })
}

/// What is wrong with a label or annotation key (a qualified name), if anything.
fn qualified_name(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return vec![QUALIFIED.to_string()],
    };
    let mut out = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else if !is_subdomain(p) {
            out.push(format!("prefix part {SUBDOMAIN}"));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 bytes".to_string());
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || !alnum_edges(name) {
        out.push(NAME_PART.to_string());
    }
    out
}

/// Metadata and data key causes of an object of `kind` (core group when `core`).
pub fn causes(core: bool, kind: &str, v: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let invalid = |field: String, value: &str, msg: &str| {
        ("FieldValueInvalid".to_string(), field, format!("Invalid value: \"{value}\": {msg}"))
    };
    for (field, map) in ["labels", "annotations"]
        .iter()
        .filter_map(|f| v.pointer(&format!("/metadata/{f}")).and_then(Value::as_object).map(|m| (*f, m)))
    {
        for (k, value) in map {
            for msg in qualified_name(k) {
                out.push(invalid(format!("metadata.{field}"), k, &msg));
            }
            if field == "labels" {
                let s = value.as_str().unwrap_or("");
                if s.len() > 63 {
                    out.push(invalid("metadata.labels".into(), s, "must be no more than 63 bytes"));
                } else if !s.is_empty()
                    && (!s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || !alnum_edges(s))
                {
                    out.push(invalid("metadata.labels".into(), s, LABEL_VALUE));
                }
            }
        }
    }
    if core && matches!(kind, "ConfigMap" | "Secret") {
        for field in ["data", "binaryData"] {
            for k in v.get(field).and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                let ok = !k.is_empty()
                    && k.len() <= 253
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
                if !ok {
                    out.push(invalid(format!("{field}[{k}]"), k, CONFIG_KEY));
                }
            }
        }
    }
    out
}

/// The causes of an object's name: a DNS label (no dots, 63 characters) for Namespaces and
/// Services, a DNS subdomain for the rest.
pub fn name_causes(core: bool, kind: &str, name: &str) -> Vec<Cause> {
    let invalid = |msg: &str| {
        ("FieldValueInvalid".to_string(), "metadata.name".to_string(), format!("Invalid value: \"{name}\": {msg}"))
    };
    if core && matches!(kind, "Namespace" | "Service") {
        let mut out = Vec::new();
        if name.len() > 63 {
            out.push(invalid("must be no more than 63 characters"));
        }
        if name.contains('.') {
            out.push(invalid("must not contain dots"));
        }
        if out.is_empty() && !is_subdomain(name) {
            out.push(invalid(SUBDOMAIN));
        }
        return out;
    }
    if is_subdomain(name) { Vec::new() } else { vec![invalid(SUBDOMAIN)] }
}
