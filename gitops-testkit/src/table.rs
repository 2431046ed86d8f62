//! The server-side `Table` format (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) that
//! `kubectl get` asks for, for custom resources: a Name column, the CRD version's
//! `additionalPrinterColumns` (simple JSONPaths such as `.status.sync.status`), then Age, as
//! the apiextensions server builds it.

use gitops_core::{json, value::Value};

/// Whether the request accepts a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| part.contains("as=Table"))
}

/// A JSONPath of a printer column (`.a.b`, `.a['b.c']`) read from an object, as text.
fn cell(object: &Value, path: &str) -> Value {
    let mut cur = object;
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('.');
    while !rest.is_empty() {
        let (key, tail) = if let Some(r) = rest.strip_prefix("['") {
            match r.split_once("']") {
                Some((k, t)) => (k, t),
                None => return Value::Null,
            }
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        match cur.get(key) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
        rest = tail.trim_start_matches('.');
    }
    cur.clone()
}

/// How long ago an RFC 3339 time was, as kubectl shows ages (`45s`, `12m`, `3h`, `5d`).
fn age(created: &str) -> String {
    let Some(t) = gitops_core::time::parse_rfc3339(created) else { return "<unknown>".into() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let s = (now - t).max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A Table of objects (a list's items, or one object) with the printer columns of their CRD
/// version.
pub fn table(objects: &[Value], columns: &[Value], resource_version: &str) -> Value {
    let mut definitions = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in columns {
        definitions.push(json!({
            "name": c.get("name").cloned().unwrap_or(json!("")),
            "type": c.get("type").cloned().unwrap_or(json!("string")),
            "format": c.get("format").cloned().unwrap_or(json!("")),
            "description": c.get("description").cloned().unwrap_or(json!("")),
            "priority": c.get("priority").cloned().unwrap_or(json!(0)),
        }));
    }
    let has_age =
        columns.iter().any(|c| c.get("jsonPath").and_then(Value::as_str) == Some(".metadata.creationTimestamp"));
    if !has_age {
        definitions.push(
            json!({"name": "Age", "type": "date", "format": "", "description": "Creation timestamp", "priority": 0}),
        );
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(json!(""))];
            for c in columns {
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                let v = cell(o, path);
                let date = c.get("type").and_then(Value::as_str) == Some("date");
                cells.push(match (&v, date) {
                    (Value::String(t), true) => json!(age(t)),
                    (Value::Null, _) => Value::Null,
                    _ => v,
                });
            }
            if !has_age {
                cells.push(json!(age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or(""))));
            }
            let metadata = o.get("metadata").cloned().unwrap_or(json!({}));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version}, "columnDefinitions": definitions, "rows": rows})
}
