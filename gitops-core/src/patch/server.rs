//! Strategic merge patch as the API server applies it (apimachinery's `strategicpatch` with
//! `MergeParallelList`), directives included:
//!
//! - `$patch: replace | delete` on a map, `$patch: replace | delete` items in a merged list of
//!   maps (an unknown value is an error);
//! - `$retainKeys`: the original map keeps only the listed keys, and the patch may only set
//!   listed keys;
//! - `$setElementOrder/<list>`: the merged list follows that order, server-only items keeping
//!   their place relative to the others;
//! - `$deleteFromPrimitiveList/<list>`: values removed from a merged primitive list.
//!
//! Merged lists keep the order the server gives them: the patch's items in the patch's order,
//! each original item that the patch does not name placed before the first patch item that
//! follows it in the original list.
//!
//! Errors carry the HTTP code the API server answers with: 400 for a malformed directive, 422
//! for a list of lists, 500 (no reason) for the rest, with apimachinery's messages (Go's `%v`
//! rendering of the values).

use crate::value::{Map, Value};

use crate::schema::{ListInfo, Node, Shape};

/// An error of the server's strategic merge patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServerPatchError {
    /// The HTTP status the API server answers with (400, 422 or 500).
    pub code: u16,
    /// apimachinery's message.
    pub message: String,
}

fn bad_request(message: &str) -> ServerPatchError {
    ServerPatchError { code: 400, message: message.into() }
}

fn internal(message: impl Into<String>) -> ServerPatchError {
    ServerPatchError { code: 500, message: message.into() }
}

const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM: &str = "$deleteFromPrimitiveList";
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_SET_ORDER: &str = "invalid patch format of setElementOrder list";
const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";

pub use crate::gofmt::go_format;

/// The Go type an element decodes to, for apimachinery's "same element type" rule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    List,
    Map,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Map,
    }
}

/// `sliceElementType`: every element of the lists has one type, which is not a list.
fn element_kind(lists: &[&[Value]]) -> Result<Kind, ServerPatchError> {
    let mut seen: Option<Kind> = None;
    for list in lists {
        for v in *list {
            let k = kind_of(v);
            match seen {
                None if k == Kind::List => {
                    return Err(ServerPatchError { code: 422, message: "lists of lists are not supported".into() });
                }
                None => seen = Some(k),
                Some(prev) if prev != k => {
                    let all: Vec<String> = lists
                        .iter()
                        .map(|l| format!("[{}]", l.iter().map(go_format).collect::<Vec<_>>().join(" ")))
                        .collect();
                    return Err(internal(format!("list element types are not identical: [{}]", all.join(" "))));
                }
                Some(_) => {}
            }
        }
    }
    seen.ok_or_else(|| internal("no elements in any of the given slices"))
}

fn is_directive_key(k: &str) -> bool {
    k == "$patch"
        || k == RETAIN_KEYS
        || k.starts_with("$setElementOrder/")
        || k.starts_with("$deleteFromPrimitiveList/")
}

/// A value taken from the patch as it is: the directives in it mean nothing to the typed
/// object it becomes, so they are dropped (as decoding into the Go type drops them).
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| !is_directive_key(k)).map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(plain).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to `target` as the API server does. `patch` must be a map.
pub fn strategic_merge(target: &mut Value, patch: &Value, node: Node<'_>) -> Result<(), ServerPatchError> {
    let Value::Object(pmap) = patch else {
        return Err(bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}"));
    };
    let original = match std::mem::take(target) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    *target = Value::Object(merge_map(original, pmap.clone(), node)?);
    Ok(())
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: Node<'_>,
) -> Result<Map<String, Value>, ServerPatchError> {
    if let Some(directive) = patch.get("$patch") {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove("$patch");
                Ok(match plain(&Value::Object(patch)) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                })
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(internal(format!(
                "unknown patch type: {} in map: {}",
                go_format(directive),
                go_format(&Value::Object(patch.clone()))
            ))),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, node)?;
    let keys: Vec<String> = patch.keys().cloned().collect();
    for key in keys {
        let Some(pv) = patch.remove(&key) else { continue };
        let (k, delete_list) = match key.strip_prefix(DELETE_FROM) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(name) => (name.to_string(), true),
                None => return Err(bad_request(BAD_PRIMITIVE_LIST)),
            },
            None => (key, false),
        };
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        // A deleted map field (a Go map with omitempty, as labels or data) is left out; a
        // deleted struct stays as an empty one.
        if pv.get("$patch").and_then(Value::as_str) == Some("delete")
            && node.field(&k).is_some_and(|c| matches!(c.shape(), Shape::Map { .. }))
        {
            original.remove(&k);
            continue;
        }
        let Some(ov) = original.get_mut(&k) else {
            original.insert(k, plain(&pv));
            continue;
        };
        if kind_of(ov) != kind_of(&pv) {
            *ov = plain(&pv);
            continue;
        }
        let child = node.field(&k).unwrap_or(node);
        match (std::mem::take(ov), pv) {
            (Value::Object(o), Value::Object(p)) => *ov = Value::Object(merge_map(o, p, child)?),
            (Value::Array(o), Value::Array(p)) => *ov = Value::Array(merge_list_field(o, p, child, delete_list)?),
            (_, p) => *ov = p,
        }
    }
    Ok(original)
}

/// `$retainKeys`: the patch may only set listed keys; the original keeps only listed keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), ServerPatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else { return Err(bad_request(BAD_RETAIN_KEYS)) };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !listed(k) {
            return Err(bad_request(BAD_RETAIN_KEYS));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

fn list_info<'a>(node: Node<'a>, key: &str) -> (Option<Node<'a>>, Option<&'a ListInfo>) {
    let child = node.field(key);
    (child, child.and_then(|c| c.list_ref()))
}

/// A list field of a map merged with the patch's list: merged item by item when the schema
/// says `patchStrategy: merge`, else replaced.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    node: Node<'_>,
    delete_list: bool,
) -> Result<Vec<Value>, ServerPatchError> {
    match node.list_ref().filter(|i| i.smp_merges()) {
        Some(info) => merge_list(original, patch, info.merge_key.as_deref(), node.item().unwrap_or(node), delete_list),
        None => Ok(patch.iter().map(plain).collect()),
    }
}

fn key_of<'v>(item: &'v Value, merge_key: &str) -> Result<&'v Value, ServerPatchError> {
    match item {
        Value::Object(m) => m.get(merge_key).ok_or_else(|| {
            internal(format!("map: {} does not contain declared merge key: {merge_key}", go_format(item)))
        }),
        other => Err(internal(format!("expected a map, but received a {}", go_format(other)))),
    }
}

/// Where an item sits in `order`: by merge key for maps, by value otherwise.
fn position(order: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        Some(k) => {
            let want = item.get(k)?;
            order.iter().position(|o| o.get(k) == Some(want))
        }
        None => order.iter().position(|o| o == item),
    }
}

fn merge_list(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&str>,
    item_node: Node<'_>,
    delete_list: bool,
) -> Result<Vec<Value>, ServerPatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    let mut patch = patch;
    let merged = if kind != Kind::Map {
        if delete_list {
            return Ok(original.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let mut out: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        out
    } else {
        let Some(key) = merge_key else {
            return Err(internal("cannot merge lists without merge key for type struct"));
        };
        // Special items: `$patch: delete` removes the items it names, `$patch: replace`
        // makes the other items the whole list.
        let mut plain_items = Vec::with_capacity(patch.len());
        let mut replace = false;
        for item in patch {
            match item.get("$patch") {
                None => plain_items.push(item),
                Some(d) => match d.as_str() {
                    Some("delete") => {
                        let value = key_of(&item, key)?.clone();
                        original.retain(|o| o.get(key) != Some(&value));
                    }
                    Some("replace") => replace = true,
                    Some("merge") => return Err(internal("merging lists cannot yet be specified in the patch")),
                    _ => {
                        return Err(internal(format!(
                            "unknown patch type: {} in map: {}",
                            go_format(d),
                            go_format(&item)
                        )));
                    }
                },
            }
        }
        if replace {
            original = plain_items.iter().map(plain).collect();
            patch = Vec::new();
        } else {
            patch = plain_items;
        }
        let mut merged = original.clone();
        for item in &patch {
            let value = key_of(item, key)?;
            for (n, o) in merged.iter().enumerate() {
                if !o.is_object() {
                    return Err(internal(format!("value for key {n} is not a map.")));
                }
            }
            match merged.iter().position(|o| o.get(key) == Some(value)) {
                Some(i) => {
                    let o = match std::mem::take(&mut merged[i]) {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    let p = item.as_object().cloned().unwrap_or_default();
                    merged[i] = Value::Object(merge_map(o, p, item_node)?);
                }
                None => merged.push(plain(item)),
            }
        }
        merged
    };
    order_items(merged, &patch, &original, merge_key.filter(|_| kind == Kind::Map))
}

/// `normalizeElementOrder`: the items the patch names in the patch's order, the others in
/// the original's order, merged so that each keeps its place relative to the original.
fn order_items(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, ServerPatchError> {
    if let Some(k) = merge_key {
        for item in merged.iter().chain(patch_order) {
            key_of(item, k)?;
        }
    }
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| position(patch_order, v, merge_key).is_some());
    from_patch.sort_by_key(|v| position(patch_order, v, merge_key));
    server_only.sort_by_key(|v| position(server_order, v, merge_key));
    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let (mut left, mut right) = (server_only.into_iter().peekable(), from_patch.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (position(server_order, l, merge_key), position(server_order, r, merge_key)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// `$setElementOrder/<list>`: the list merged with the patch's (if any), then ordered by the
/// directive.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    node: Node<'_>,
) -> Result<(), ServerPatchError> {
    let directives: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER)).cloned().collect();
    for key in directives {
        let order = patch.remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order else { return Err(bad_request(BAD_SET_ORDER)) };
        let Some(field) = key.strip_prefix(SET_ORDER).and_then(|r| r.strip_prefix('/')) else {
            return Err(bad_request(BAD_SET_ORDER));
        };
        let field = field.to_string();
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>, ServerPatchError> {
            match v {
                None => Ok(None),
                Some(Value::Array(a)) => Ok(Some(a.clone())),
                Some(other) => {
                    Err(internal(format!("expected a []interface {{}}, but received a {}", go_format(other))))
                }
            }
        };
        let in_original = as_list(original.get(&field))?;
        let in_patch = as_list(patch.get(&field))?;
        let (child, info) = list_info(node, &field);
        let merge_key = info.and_then(|i| i.merge_key.as_deref());
        check_order(in_patch.as_deref().unwrap_or_default(), &order, merge_key)?;
        let merged = match (&in_original, &in_patch) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.iter().map(plain).collect(),
            (Some(o), Some(p)) => match child {
                Some(c) => merge_list_field(o.clone(), p.clone(), c, false)?,
                None => p.iter().map(plain).collect(),
            },
            (None, None) => return Ok(()),
        };
        let o = in_original.unwrap_or_default();
        let p = in_patch.unwrap_or_default();
        let kind = element_kind(&[&o, &p])?;
        let key = merge_key.filter(|_| kind == Kind::Map);
        original.insert(field.clone(), Value::Array(order_items(merged, &order, &o, key)?));
        patch.remove(&field);
    }
    Ok(())
}

/// The patch list's items (deletions aside) appear in `$setElementOrder` in the same order.
fn check_order(patch: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<(), ServerPatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> =
        patch.iter().filter(|v| v.get("$patch").and_then(Value::as_str) != Some("delete")).collect();
    let same = |a: &Value, b: &Value| -> Result<bool, ServerPatchError> {
        match merge_key {
            None => Ok(a == b),
            Some(k) => Ok(key_of(a, k)? == key_of(b, k)?),
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < items.len() && j < order.len() {
        if items[i].get("$patch").is_some() {
            i += 1;
            continue;
        }
        if same(items[i], &order[j])? {
            i += 1;
        }
        j += 1;
    }
    if i < items.len() {
        return Err(bad_request(BAD_SET_ORDER));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::schema::Schema;

    fn cm_node() -> Node<'static> {
        Schema::builtin().node("", "v1", "ConfigMap").unwrap()
    }

    fn patched(doc: Value, patch: Value, node: Node<'_>) -> Result<Value, ServerPatchError> {
        let mut d = doc;
        strategic_merge(&mut d, &patch, node)?;
        Ok(d)
    }

    #[test]
    fn primitive_merge_lists_keep_the_server_order() {
        let doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        // New items first, as the patch orders them; the original ones where they were.
        let r = patched(doc.clone(), json!({"metadata": {"finalizers": ["c", "a"]}}), cm_node()).unwrap();
        assert_eq!(r["metadata"]["finalizers"], json!(["c", "a", "b"]));
        // A patch naming only a later item does not move it before the earlier ones.
        let r = patched(doc.clone(), json!({"metadata": {"finalizers": ["b"]}}), cm_node()).unwrap();
        assert_eq!(r["metadata"]["finalizers"], json!(["a", "b"]));
        let r = patched(
            json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zzz"]}}),
            cm_node(),
        )
        .unwrap();
        assert_eq!(r["metadata"]["finalizers"], json!(["c", "b"]));
        let r = patched(
            json!({"metadata": {"finalizers": ["c", "b"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["d", "b", "c"], "finalizers": ["d"]}}),
            cm_node(),
        )
        .unwrap();
        assert_eq!(r["metadata"]["finalizers"], json!(["d", "b", "c"]));
    }

    #[test]
    fn directive_errors_have_the_servers_codes_and_messages() {
        let doc = json!({"metadata": {"finalizers": ["x", "d"]}});
        let e = patched(doc.clone(), json!({"metadata": {"finalizers": [{"$patch": "replace"}, "y"]}}), cm_node())
            .unwrap_err();
        assert_eq!(e.code, 500);
        assert_eq!(e.message, "list element types are not identical: [[x d] [map[$patch:replace] y]]");
        let e = patched(doc.clone(), json!({"metadata": {"$patch": "bogus"}}), cm_node()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (500, "unknown patch type: bogus in map: map[$patch:bogus]"));
        let with_data = json!({"data": {"a": "0"}});
        let e = patched(with_data, json!({"data": {"$retainKeys": ["a"], "b": "1"}}), cm_node()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "invalid patch format of retainKeys"));
        let e = patched(doc, json!([{"op": "add"}]), cm_node()).unwrap_err();
        assert_eq!(e.code, 400);
    }

    fn container_names(r: &Value) -> Vec<String> {
        let containers = r["template"]["spec"]["containers"].as_array().unwrap();
        containers.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn map_lists_follow_set_element_order_and_replace() {
        let node = Schema::builtin().node("", "v1", "PodTemplate").unwrap();
        let doc = json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "args": ["1", "2"]}, {"name": "b", "image": "b:1"}, {"name": "c", "image": "c:1"}]}}});
        let r = patched(
            doc.clone(),
            json!({"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                                          "containers": [{"name": "a", "args": ["3"]}]}}}),
            node,
        )
        .unwrap();
        let names = container_names(&r);
        assert_eq!(names, ["c", "a", "b"]);
        assert_eq!(r["template"]["spec"]["containers"][1]["args"], json!(["3"]));
        // A patch naming a later item leaves it after the earlier ones.
        let r =
            patched(doc.clone(), json!({"template": {"spec": {"containers": [{"name": "c", "image": "c:2"}]}}}), node)
                .unwrap();
        let names = container_names(&r);
        assert_eq!(names, ["a", "b", "c"]);
        let r = patched(
            doc.clone(),
            json!({"template": {"spec": {"containers": [{"name": "d", "image": "d:1"}, {"$patch": "replace"}]}}}),
            node,
        )
        .unwrap();
        assert_eq!(r["template"]["spec"]["containers"], json!([{"name": "d", "image": "d:1"}]));
        let r = patched(doc, json!({"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}), node)
            .unwrap();
        assert_eq!(r["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn retain_keys_drops_what_is_not_listed() {
        let node = Schema::builtin().node("", "v1", "PodTemplate").unwrap();
        let doc = json!({"template": {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}});
        let r = patched(
            doc,
            json!({"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cfg"}, "$retainKeys": ["configMap", "name"]}]}}}),
            node,
        )
        .unwrap();
        assert_eq!(r["template"]["spec"]["volumes"], json!([{"name": "v", "configMap": {"name": "cfg"}}]));
    }

    #[test]
    fn go_values_print_as_go_prints_them() {
        assert_eq!(go_format(&json!({"b": [1, 2.5, true, null], "a": "x"})), "map[a:x b:[1 2.5 true <nil>]]");
    }
}
