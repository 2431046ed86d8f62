//! The name rules of the real API server: object names per kind, label and annotation keys
//! (qualified names), label values, ConfigMap and Secret data keys; with its messages.

use gitops_core::validation;
use gitops_core::value::Value;

use crate::admission::Cause;

const CONFIG_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// The longest `generateName` prefix kept: five characters are added.
pub const MAX_GENERATED_PREFIX: usize = 58;

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
            for msg in validation::qualified_name_errors(k) {
                out.push(invalid(format!("metadata.{field}"), k, &msg));
            }
            if field == "labels" {
                let s = value.as_str().unwrap_or("");
                if let Some(msg) = validation::label_value_error(s) {
                    out.push(invalid("metadata.labels".into(), s, msg));
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
        if out.is_empty() && !validation::is_dns_subdomain(name) {
            out.push(invalid(validation::DNS_SUBDOMAIN_MSG));
        }
        return out;
    }
    if validation::is_dns_subdomain(name) { Vec::new() } else { vec![invalid(validation::DNS_SUBDOMAIN_MSG)] }
}
