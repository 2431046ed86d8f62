//! Field specs: the paths transformers write to, per kind, and a walker over them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::kustomization::FieldSpec;

/// Calls `f` on every value at `path` (segments separated by `/`; lists on the way are
/// entered item by item). With `create`, missing maps are created, and `f` is called with
/// a `Null` slot for a missing last field.
pub(crate) fn walk<S: AsRef<str>>(value: &mut Value, path: &[S], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, false, f)
}

/// [`walk`], but a list at the end of the path is handed to `f` whole, as Kustomize's field
/// spec filter hands a setter whatever node the path ends on.
pub(crate) fn walk_to_end<S: AsRef<str>>(value: &mut Value, path: &[S], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, true, f)
}

fn walk_in<S: AsRef<str>>(
    value: &mut Value,
    path: &[S],
    create: bool,
    whole_lists: bool,
    f: &mut dyn FnMut(&mut Value),
) {
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
    let first = first.as_ref();
    // `trim_end_matches("[]")`, without building a substring searcher on every step (a
    // fifth of this walk's cost).
    let mut seg = first;
    while let Some(s) = seg.strip_suffix("[]") {
        seg = s;
    }
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
        walk(value, &spec_path(&s.path), s.create, &mut |slot| {
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

/// A field spec's path as Kustomize's field spec filter splits it (kyaml's `PathSplitter` on
/// `/`): `\/` is a slash inside a field name (`metadata/annotations/a.io\/b`), and a leading `/`
/// is ignored. Borrowed from `path` when nothing is escaped, as on the hot paths.
pub(crate) fn spec_path(path: &str) -> Vec<Cow<'_, str>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.contains('\\') {
        split_escaped(path, '/').into_iter().map(Cow::Owned).collect()
    } else {
        path.split('/').map(Cow::Borrowed).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_spec_paths_split_as_kyaml_splits_them() {
        let split = |p: &str| spec_path(p).into_iter().map(Cow::into_owned).collect::<Vec<_>>();
        assert_eq!(split("metadata/name"), ["metadata", "name"]);
        // A leading slash is ignored; an escaped one stays inside the field name.
        assert_eq!(split("/data/x.io\\/labels"), ["data", "x.io/labels"]);
        assert_eq!(split("/"), [""]);
        assert!(matches!(spec_path("spec/template")[0], Cow::Borrowed(_)));
        // `split_escaped` keeps a leading empty part: ValueAddTransformer and replacements
        // split without dropping it.
        assert_eq!(split_escaped("/a\\/b/c", '/'), ["", "a/b", "c"]);
    }
}
