//! What is compared and what is shown: the fields the server writes left out, Argo CD's
//! `ignoreDifferences` applied (JSON pointers, jq paths, managed fields), Secret values masked.

use super::*;

/// A live object as a UI may show it: without what the server writes (see
/// [`without_server_fields`]), and, for a Secret, every value of `data` and `stringData`
/// replaced by a mask (equal values get equal masks), as diffs mask them.
pub fn masked_for_display(live: &Value) -> Value {
    let mut v = without_server_fields(live, true);
    if v.get("kind").and_then(Value::as_str) == Some("Secret")
        && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
    {
        mask_secret(&mut v, &mut BTreeMap::new());
    }
    v
}

pub(super) fn mask_secret(v: &mut Value, masks: &mut BTreeMap<String, String>) {
    for field in ["data", "stringData"] {
        if let Some(Value::Object(m)) = v.get_mut(field) {
            for val in m.values_mut() {
                let text = val.as_str().map(String::from).unwrap_or_else(|| val.to_string());
                let n = masks.len();
                let mask = masks.entry(text).or_insert_with(|| "+".repeat(8 + n)).clone();
                *val = Value::String(mask);
            }
        }
    }
}

/// An object without what the server writes (`status` unless compared, uid, resourceVersion,
/// generation, creationTimestamp, managedFields, ... and kubectl's last-applied annotation): what
/// two versions of an object are compared on.
pub fn without_server_fields(live: &Value, compare_status: bool) -> Value {
    let Value::Object(top) = live else { return live.clone() };
    // Copies only what is kept: managedFields and status are most of a live object.
    let mut out = Map::new();
    for (k, v) in top {
        match (k.as_str(), v) {
            ("status", _) if !compare_status => {}
            ("metadata", Value::Object(meta)) => {
                let mut kept = Map::new();
                for (mk, mv) in meta {
                    match (mk.as_str(), mv) {
                        (f, _) if SERVER_METADATA.contains(&f) => {}
                        ("annotations", Value::Object(a)) if a.contains_key(LAST_APPLIED_ANNOTATION) => {
                            let rest = a.iter().filter(|(ak, _)| *ak != LAST_APPLIED_ANNOTATION);
                            kept.insert(
                                mk.clone(),
                                Value::Object(rest.map(|(ak, av)| (ak.clone(), av.clone())).collect()),
                            );
                        }
                        _ => {
                            kept.insert(mk.clone(), mv.clone());
                        }
                    }
                }
                out.insert(k.clone(), Value::Object(kept));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Removes what the ignore rules exclude from a value.
pub(super) fn apply_ignores(v: &mut Value, rules: &[&IgnoreRule], managed: Option<&Value>) {
    for rule in rules {
        for p in &rule.json_pointers {
            remove_pointer(v, p);
        }
        for jq in &rule.jq_path_expressions {
            for p in jq_pointers(v, jq) {
                remove_pointer(v, &p);
            }
        }
        if !rule.managed_fields_managers.is_empty() {
            let entries = managed.and_then(Value::as_array).cloned().unwrap_or_default();
            for e in entries.iter().filter(|e| rule.managed_fields_managers.iter().any(|m| e["manager"] == m.as_str()))
            {
                if let Ok(set) = FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)) {
                    let mut leaves = set.leaves();
                    leaves.sort_by_key(|p| std::cmp::Reverse(p.len()));
                    for leaf in leaves {
                        remove_at(v, &leaf, &FieldSet::new());
                    }
                }
            }
        }
    }
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let Ok(tokens) = parse_pointer(pointer) else { return };
    let Some((last, parents)) = tokens.split_last() else { return };
    let mut cur = v;
    for t in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(x) => x,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The JSON pointers a simple JQ path selects in a value.
pub fn jq_pointers(v: &Value, expr: &str) -> Vec<String> {
    let mut current: Vec<(String, &Value)> = vec![(String::new(), v)];
    for stage in expr.split('|').map(str::trim) {
        if let Some(cond) = stage.strip_prefix("select(").and_then(|s| s.strip_suffix(')')) {
            let Some((lhs, rhs)) = cond.split_once("==") else { return Vec::new() };
            let field = lhs.trim().trim_start_matches('.');
            let want: Value =
                serde_json::from_str(rhs.trim()).unwrap_or(Value::String(rhs.trim().trim_matches('"').into()));
            current.retain(|(_, x)| x.pointer(&format!("/{}", field.replace('.', "/"))) == Some(&want));
            continue;
        }
        let mut next = Vec::new();
        for (ptr, val) in current {
            let mut frontier = vec![(ptr, val)];
            for seg in stage.split('.').filter(|s| !s.is_empty()) {
                let (name, iter) = match seg.strip_suffix("[]") {
                    Some(n) => (n, true),
                    None => (seg, false),
                };
                let mut grown = Vec::new();
                for (p, x) in frontier {
                    let target = if name.is_empty() {
                        Some((p.clone(), x))
                    } else {
                        x.get(name).map(|c| (format!("{p}/{}", escape_pointer_token(name)), c))
                    };
                    let Some((tp, tv)) = target else { continue };
                    if iter {
                        if let Value::Array(items) = tv {
                            for (i, it) in items.iter().enumerate() {
                                grown.push((format!("{tp}/{i}"), it));
                            }
                        }
                    } else {
                        grown.push((tp, tv));
                    }
                }
                frontier = grown;
            }
            next.extend(frontier);
        }
        current = next;
    }
    let mut out: Vec<String> = current.into_iter().map(|(p, _)| p).filter(|p| !p.is_empty()).collect();
    // Deepest and last indices first, so removals do not shift later pointers.
    out.sort_by(|a, b| b.cmp(a));
    out
}
