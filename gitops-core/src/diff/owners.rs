//! Who changed a drifted field: the field managers whose `managedFields` own it. A manual
//! `kubectl scale` shows as the manager `kubectl` (or `kubectl-scale`) owning
//! `spec.replicas` through the `scale` subresource; once the field is applied back from Git
//! the ownership moves, so this is read from the live object before the sync writes.

use crate::value::{Map, Value};

use super::key_names;

/// One manager's claim on a drifted field, from its `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldOwner {
    /// The field manager (`kubectl-edit`, `kubectl-client-side-apply`, a controller's name).
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The subresource it wrote through (`scale`, `status`), if any.
    pub subresource: Option<String>,
    /// When it last changed its fields (RFC 3339), as the server recorded it.
    pub time: Option<String>,
}

impl std::fmt::Display for FieldOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.manager, self.operation)?;
        if let Some(s) = &self.subresource {
            write!(f, " {s}")?;
        }
        if let Some(t) = &self.time {
            write!(f, ", {t}")?;
        }
        f.write_str(")")
    }
}

/// The managers of `live` other than `except` that own at least one of `paths` (drift paths
/// as [`super::Change::path`] writes them: `/spec/replicas`,
/// `/spec/template/spec/containers[name=web]/image`; list indices as a server-side diff
/// writes them are read against `live`), newest first, each once.
pub fn field_owners(live: &Value, paths: &[String], except: &str) -> Vec<FieldOwner> {
    let Some(entries) = live.pointer("/metadata/managedFields").and_then(Value::as_array) else { return Vec::new() };
    let parsed: Vec<Vec<Segment>> = paths.iter().map(|p| segments(p)).collect();
    let mut out: Vec<FieldOwner> = entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str).is_some_and(|m| m != except))
        .filter(|e| {
            let fields = e.get("fieldsV1").unwrap_or(&Value::Null);
            parsed.iter().any(|segs| owns(fields, live, segs))
        })
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            FieldOwner {
                manager: text("manager").unwrap_or_default(),
                operation: text("operation").unwrap_or_default(),
                subresource: text("subresource"),
                time: text("time"),
            }
        })
        .collect();
    // RFC 3339 times in UTC sort as text.
    out.sort_by(|a, b| b.time.cmp(&a.time));
    out.dedup_by(|a, b| a.manager == b.manager && a.subresource == b.subresource);
    out
}

/// One step of a drift path.
#[derive(Debug, PartialEq)]
enum Segment {
    /// A map field.
    Field(String),
    /// A list item by its key fields (`[name=web]`).
    Keyed(Vec<(String, String)>),
    /// A set item by value (`[="a"]`).
    Value(String),
    /// A list item by position.
    Index(usize),
}

/// Splits a drift path into steps: `/` separates fields (JSON-pointer escaped), `[...]`
/// follows a list field for its item; brackets may hold `/` (`[mountPath=/data]`).
fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut token = String::new();
    let mut chars = path.chars().peekable();
    let flush = |token: &mut String, out: &mut Vec<Segment>| {
        if token.is_empty() {
            return;
        }
        let t = std::mem::take(token).replace("~1", "/").replace("~0", "~");
        out.push(match t.parse::<usize>() {
            Ok(i) if !out.is_empty() => Segment::Index(i),
            _ => Segment::Field(t),
        });
    };
    while let Some(c) = chars.next() {
        match c {
            '/' => flush(&mut token, &mut out),
            '[' => {
                flush(&mut token, &mut out);
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                out.push(match inner.strip_prefix('=') {
                    Some(v) => Segment::Value(v.to_string()),
                    None => Segment::Keyed(
                        inner
                            .split(',')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                });
            }
            c => token.push(c),
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether a manager's `fieldsV1` owns the field at `segs` (or a leaf above it, which owns
/// everything below).
fn owns(fields: &Value, live: &Value, segs: &[Segment]) -> bool {
    let (mut node, mut value) = (fields, Some(live));
    for seg in segs {
        let Some(m) = node.as_object() else { return false };
        // `{}` (or only `.`) marks a leaf: the manager owns the whole value there.
        if m.keys().all(|k| k == ".") {
            return !std::ptr::eq(node, fields);
        }
        let next = match seg {
            Segment::Field(name) => {
                value = value.and_then(|v| v.get(name));
                m.get(&format!("f:{name}"))
            }
            Segment::Keyed(pairs) => {
                let found = keyed_child(m, pairs);
                value = value.and_then(Value::as_array).and_then(|items| {
                    items.iter().find(|item| pairs.iter().all(|(k, v)| item.get(k).is_some_and(|x| same_text(x, v))))
                });
                found
            }
            Segment::Value(v) => {
                value = None;
                m.get(&format!("v:{v}"))
            }
            Segment::Index(i) => {
                let item = value.and_then(|v| v.get(*i));
                value = item;
                let Some(item) = item else { return false };
                m.iter()
                    .find(|(k, _)| {
                        k.strip_prefix("k:").is_some_and(|kj| key_names(kj, item))
                            || k.strip_prefix("v:")
                                .and_then(|vj| serde_json::from_str::<Value>(vj).ok())
                                .is_some_and(|v| v == *item)
                    })
                    .map(|(_, v)| v)
            }
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

/// The `k:{...}` child whose key has every pair.
fn keyed_child<'f>(m: &'f Map<String, Value>, pairs: &[(String, String)]) -> Option<&'f Value> {
    m.iter()
        .find(|(k, _)| {
            k.strip_prefix("k:")
                .and_then(|kj| serde_json::from_str::<Map<String, Value>>(kj).ok())
                .is_some_and(|key| pairs.iter().all(|(pk, pv)| key.get(pk).is_some_and(|x| same_text(x, pv))))
        })
        .map(|(_, v)| v)
}

/// A key value as a drift path shows it: strings bare, other values as JSON.
fn same_text(v: &Value, text: &str) -> bool {
    match v {
        Value::String(s) => s == text,
        other => serde_json::to_string(other).is_ok_and(|t| t == text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn live() -> Value {
        json!({
            "metadata": {"managedFields": [
                {"manager": "gitops", "operation": "Apply", "time": "2026-12-03T10:00:00Z", "fieldsV1": {
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}},
                {"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": "2026-12-03T10:05:00Z",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-03T10:06:00Z",
                    "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:env": {}, "f:volumeMounts": {"k:{\"mountPath\":\"/data\"}": {".": {}, "f:name": {}}}}}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "time": "2026-12-03T10:07:00Z",
                    "fieldsV1": {"f:status": {"f:replicas": {}}}}
            ]},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "web", "image": "a", "env": [{"name": "X"}],
                "volumeMounts": [{"name": "d", "mountPath": "/data"}]}]}}},
        })
    }

    #[test]
    fn the_owner_of_a_drifted_field_is_named() {
        let owners = field_owners(&live(), &["/spec/replicas".to_string()], "gitops");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].to_string(), "kubectl (Update scale, 2026-12-03T10:05:00Z)");
    }

    #[test]
    fn list_items_by_key_and_by_index_and_leaves_own_what_is_below() {
        let paths = ["/spec/template/spec/containers[name=web]/env/0/value".to_string()];
        let names: Vec<String> = field_owners(&live(), &paths, "gitops").into_iter().map(|o| o.manager).collect();
        assert_eq!(names, ["kubectl-edit"]);
        let paths = ["/spec/template/spec/containers/0/volumeMounts[mountPath=/data]/name".to_string()];
        let names: Vec<String> = field_owners(&live(), &paths, "gitops").into_iter().map(|o| o.manager).collect();
        assert_eq!(names, ["kubectl-edit"]);
    }

    #[test]
    fn our_own_manager_and_unrelated_fields_are_left_out() {
        let paths = ["/spec/template/spec/containers[name=web]/image".to_string()];
        assert!(field_owners(&live(), &paths, "gitops").is_empty());
        assert_eq!(field_owners(&live(), &paths, "someone-else")[0].manager, "gitops");
        assert!(field_owners(&live(), &["/spec/paused".to_string()], "gitops").is_empty());
        assert!(field_owners(&json!({"metadata": {}}), &["/spec/replicas".to_string()], "gitops").is_empty());
    }

    #[test]
    fn several_owners_newest_first() {
        let paths = ["/spec/replicas".to_string(), "/spec/template/spec/containers[name=web]/env".to_string()];
        let names: Vec<String> = field_owners(&live(), &paths, "gitops").into_iter().map(|o| o.manager).collect();
        assert_eq!(names, ["kubectl-edit", "kubectl"]);
    }
}
