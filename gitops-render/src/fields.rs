//! Field specs: the paths transformers write to, per kind, and a walker over them.

use serde_json::{Map, Value};

use crate::kustomization::FieldSpec;

/// Calls `f` on every value at `path` (segments separated by `/`; lists on the way are
/// entered item by item). With `create`, missing maps are created, and `f` is called with
/// a `Null` slot for a missing last field.
pub(crate) fn walk(value: &mut Value, path: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, false, f)
}

/// [`walk`], but a list at the end of the path is handed to `f` whole, as Kustomize's field
/// spec filter hands a setter whatever node the path ends on.
pub(crate) fn walk_to_end(value: &mut Value, path: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, true, f)
}

fn walk_in(value: &mut Value, path: &[&str], create: bool, whole_lists: bool, f: &mut dyn FnMut(&mut Value)) {
    if whole_lists && path.is_empty() {
        f(value);
        return;
    }
    if let Value::Array(items) = value {
        for item in items {
            walk_in(item, path, create, whole_lists, f);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        f(value);
        return;
    };
    let seg = first.trim_end_matches("[]");
    // `name[]` names a list: Kustomize enters it when it is there and never creates one.
    let create_here = create && seg.len() == first.len();
    let Value::Object(map) = value else { return };
    if !map.contains_key(seg) {
        if !create_here {
            return;
        }
        map.insert(seg.to_string(), if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) });
    }
    let child = map.get_mut(seg).expect("present or created");
    if child.is_null() && seg.len() != first.len() {
        // Kustomize takes the `[]` as a hint: a null list becomes an empty one.
        *child = Value::Array(Vec::new());
    }
    if child.is_null() && !rest.is_empty() {
        if !create_here {
            return;
        }
        *child = Value::Object(Map::new());
    }
    walk_in(child, rest, create, whole_lists, f);
}

/// Sets string pairs into the map at each spec's path.
pub(crate) fn set_pairs<'a>(
    value: &mut Value,
    (group, version, kind): (&str, &str, &str),
    specs: impl IntoIterator<Item = &'a FieldSpec>,
    pairs: &[(String, String)],
) {
    for s in specs {
        if !s.matches(group, version, kind) {
            continue;
        }
        let segs: Vec<&str> = s.path.split('/').collect();
        walk(value, &segs, s.create, &mut |slot| {
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                for (k, v) in pairs {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
            }
        });
    }
}

/// `path` split on `delim`, where a part ending in a backslash joins the next one with the
/// delimiter in place of the backslash (`a\\.b.c` on `.` is `a.b`, `c`), as Kustomize splits
/// field paths.
pub(crate) fn split_escaped(path: &str, delim: char) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for p in path.split(delim) {
        match parts.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(delim);
                last.push_str(p);
            }
            _ => parts.push(p.to_string()),
        }
    }
    parts
}

/// The YAML node kind of a value, as Kustomize's errors name it.
pub(crate) fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}
