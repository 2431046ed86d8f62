//! Patches: strategic merge patch, JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! Strategic merge patch reads the shared [`Schema`](crate::schema::Schema): lists with a
//! patch merge key and strategy `merge` are merged item by item (the patch's items first,
//! in the patch's order, then the original items the patch did not name, in their order,
//! which is what both the API server and Kustomize produce), primitive lists with strategy
//! `merge` are unioned, and every other list is replaced. `null` deletes a key;
//! `$patch: delete` removes a list item or a whole map, `$patch: replace` replaces a map or
//! list instead of merging. The directives `$setElementOrder`, `$retainKeys` and
//! `$deleteFromPrimitiveList` are either kept verbatim (Kustomize's behaviour) or dropped,
//! as the caller chooses.
//!
//! ```
//! use gitops_core::{patch, schema::Schema};
//! use gitops_core::json;
//! let mut deploy = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "app", "image": "app:1"}, {"name": "proxy", "image": "envoy"}]}}}});
//! let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
//! let node = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
//! patch::strategic_merge(&mut deploy, &p, node, &patch::SmpOptions::default()).unwrap();
//! assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["image"], "app:2");
//! assert_eq!(deploy["spec"]["template"]["spec"]["containers"][1]["name"], "proxy");
//! ```

use crate::value::{Map, Value};

use crate::object::parse_pointer;

mod kyaml;
pub mod server;
use crate::schema::{ListInfo, Node, Shape};

/// An error applying a patch; the message names the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PatchError {
    /// Where in the document (a JSON pointer, or the op index for JSON patch).
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

fn perr(path: &str, reason: impl Into<String>) -> PatchError {
    PatchError { path: if path.is_empty() { "/".into() } else { path.into() }, reason: reason.into() }
}

/// Options of strategic merge patch.
#[derive(Clone, Debug, Default)]
pub struct SmpOptions {
    /// Kustomize's variant (kyaml) rather than the API server's: `$setElementOrder/...`,
    /// `$retainKeys` and `$deleteFromPrimitiveList/...` keys are kept verbatim in the result,
    /// and a list item marked `$patch: replace` is ignored, as Kustomize v5.5 does. Otherwise
    /// those keys are dropped and `$patch: replace` in a list replaces the list, as the API
    /// server does.
    pub kustomize: bool,
}

/// Whether the top level of a strategic merge patch asks to delete the whole object.
pub fn is_delete_patch(patch: &Value) -> bool {
    patch.get("$patch").and_then(Value::as_str) == Some("delete")
}

/// Applies a strategic merge patch to `target` in place.
pub fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    node: Node<'_>,
    options: &SmpOptions,
) -> Result<(), PatchError> {
    let mut path = String::new();
    merge_value(target, patch, node, options, &mut path)
}

/// What a bare null (a value written with nothing after its key) is while a merge runs: a
/// text no YAML document can hold as a value Kustomize reads (it has NUL characters).
const BARE_NULL: &str = "\u{0}bare null\u{0}";

fn is_bare_null(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == BARE_NULL)
}

/// [`strategic_merge`] with Kustomize's options, told which nulls of `target` were written
/// with no value at all (`strategy:`; JSON pointers, as
/// [`parse_objects_with_bare_nulls`](crate::yaml::parse_objects_with_bare_nulls) gives them).
///
/// kyaml's merge walks every map of the target it reaches, the patch's or not, and every
/// item of the keyed lists in them; on the way it drops a field whose value has no text,
/// and keeps an explicit `null` or `~` (kubebuilder's `creationTimestamp: null`). Nulls in
/// lists it does not merge by key stay. `bare_nulls` is updated to where those left are
/// after the merge.
///
/// ```
/// use gitops_core::{patch, schema::Schema};
/// use gitops_core::json;
/// let mut d = json!({"metadata": {"name": "d", "creationTimestamp": null}, "spec": {"strategy": null}});
/// let mut bare = vec!["/spec/strategy".to_string()];
/// let node = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
/// let options = patch::SmpOptions { kustomize: true };
/// patch::strategic_merge_kyaml(&mut d, &json!({"spec": {"replicas": 2}}), node, &options, &mut bare).unwrap();
/// assert_eq!(d, json!({"metadata": {"name": "d", "creationTimestamp": null}, "spec": {"replicas": 2}}));
/// assert!(bare.is_empty());
/// ```
pub fn strategic_merge_kyaml(
    target: &mut Value,
    patch: &Value,
    node: Node<'_>,
    options: &SmpOptions,
    bare_nulls: &mut Vec<String>,
) -> Result<(), PatchError> {
    if bare_nulls.is_empty() || !options.kustomize {
        return strategic_merge(target, patch, node, options);
    }
    for p in bare_nulls.iter() {
        // An annotation written with no value was read as an empty text (Kustomize writes it
        // back so when nothing merges it).
        if let Some(slot) = target.pointer_mut(p).filter(|v| v.is_null() || v.as_str() == Some("")) {
            *slot = Value::String(BARE_NULL.into());
        }
    }
    let merged = strategic_merge(target, patch, node, options);
    bare_nulls.clear();
    let mut path = String::new();
    unmark_bare_nulls(target, &mut path, bare_nulls);
    merged
}

/// Turns the bare-null marks left in `v` back into nulls, noting where they are.
fn unmark_bare_nulls(v: &mut Value, path: &mut String, found: &mut Vec<String>) {
    let len = path.len();
    match v {
        Value::Object(m) => {
            for (k, c) in m.iter_mut() {
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                unmark_bare_nulls(c, path, found);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, c) in items.iter_mut().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                unmark_bare_nulls(c, path, found);
                path.truncate(len);
            }
        }
        _ if is_bare_null(v) => {
            *v = Value::Null;
            found.push(path.clone());
        }
        _ => {}
    }
}

fn is_directive(key: &str) -> bool {
    key.starts_with("$setElementOrder/") || key == "$retainKeys" || key.starts_with("$deleteFromPrimitiveList/")
}

fn merge_value(
    target: &mut Value,
    patch: &Value,
    node: Node<'_>,
    options: &SmpOptions,
    path: &mut String,
) -> Result<(), PatchError> {
    match patch {
        Value::Object(pmap) => {
            match pmap.get("$patch").and_then(Value::as_str) {
                Some("replace") => {
                    *target = strip_directives(patch, options);
                    return Ok(());
                }
                Some("delete") => {
                    *target = Value::Null;
                    return Ok(());
                }
                Some("merge") | None => {}
                Some(other) => return Err(perr(path, format!("unknown $patch directive {other:?}"))),
            }
            if !target.is_object() || node.is_atomic() && !matches!(node.shape(), Shape::Untyped) && !target.is_object()
            {
                *target = Value::Object(Map::new());
            }
            let tmap = target.as_object_mut().expect("made an object above");
            for (k, pv) in pmap {
                if k == "$patch" {
                    continue;
                }
                if is_directive(k) {
                    if options.kustomize {
                        tmap.insert(k.clone(), pv.clone());
                    }
                    continue;
                }
                if pv.is_null() {
                    tmap.remove(k);
                    continue;
                }
                let child = node.field(k).unwrap_or(node);
                let len = path.len();
                path.push('/');
                path.push_str(k);
                match tmap.get_mut(k) {
                    Some(tv) => {
                        merge_value(tv, pv, child, options, path)?;
                        if tv.is_null() {
                            tmap.remove(k);
                        }
                    }
                    None => {
                        let mut fresh = match pv {
                            Value::Object(_) => Value::Object(Map::new()),
                            Value::Array(_) if !options.kustomize => Value::Array(Vec::new()),
                            _ => Value::Null,
                        };
                        merge_value(&mut fresh, pv, child, options, path)?;
                        if !fresh.is_null() {
                            tmap.insert(k.clone(), fresh);
                        }
                    }
                }
                path.truncate(len);
            }
            if options.kustomize {
                // kyaml walks the target's fields the patch does not have too: it drops
                // those written with no value, and puts their keyed lists through its merge.
                tmap.retain(|k, v| !is_bare_null(v) || pmap.contains_key(k));
                for (k, tv) in tmap.iter_mut().filter(|(k, _)| !pmap.contains_key(*k)) {
                    normalize(tv, node.field(k).unwrap_or(node), options, path)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            let info = node.list_ref().filter(|i| i.smp_merges());
            match info {
                Some(info) => merge_list(target, items, info, node, options, path),
                // Kustomize (kyaml) takes a list it does not merge as the patch wrote it.
                None if options.kustomize => {
                    *target = patch.clone();
                    Ok(())
                }
                None => {
                    // Replaced, but a `$patch: replace` marker item is dropped.
                    let kept: Vec<Value> = items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .map(|i| strip_directives(i, options))
                        .collect();
                    *target = Value::Array(kept);
                    Ok(())
                }
            }
        }
        scalar => {
            *target = scalar.clone();
            Ok(())
        }
    }
}

fn strip_directives(v: &Value, options: &SmpOptions) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| *k != "$patch" && !v.is_null() && (options.kustomize || !is_directive(k)))
                .map(|(k, v)| (k.clone(), strip_directives(v, options)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| strip_directives(i, options)).collect()),
        other => other.clone(),
    }
}

fn merge_list(
    target: &mut Value,
    items: &[Value],
    info: &ListInfo,
    node: Node<'_>,
    options: &SmpOptions,
    path: &mut String,
) -> Result<(), PatchError> {
    if options.kustomize {
        return merge_list_kustomize(target, items, info, node, options, path);
    }
    let original: Vec<Value> = match std::mem::take(target) {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    if items.iter().any(is_replace) {
        *target = Value::Array(
            items.iter().filter(|i| i.get("$patch").is_none()).map(|i| strip_directives(i, options)).collect(),
        );
        return Ok(());
    }
    let item_node = node.item().unwrap_or(node);
    let Some(key) = info.merge_key.as_deref() else {
        *target = Value::Array(union(items, original));
        return Ok(());
    };
    let mut used = vec![false; original.len()];
    let mut out = Vec::with_capacity(original.len() + items.len());
    for (n, pitem) in items.iter().enumerate() {
        let Some(pmap) = pitem.as_object() else {
            return Err(perr(path, format!("item {n} of a list merged by {key:?} is not a mapping")));
        };
        let Some(kv) = pmap.get(key) else {
            return Err(perr(path, format!("item {n} has no merge key {key:?}")));
        };
        let found = if kv.is_null() {
            None
        } else {
            original.iter().enumerate().position(|(i, o)| !used[i] && o.get(key) == Some(kv))
        };
        let directive = pmap.get("$patch").and_then(Value::as_str);
        if directive == Some("delete") {
            if let Some(i) = found {
                used[i] = true;
            }
            continue;
        }
        let len = path.len();
        path.push_str(&format!("[{key}={kv}]"));
        match found {
            Some(i) => {
                used[i] = true;
                let mut merged = original[i].clone();
                merge_value(&mut merged, pitem, item_node, options, path)?;
                out.push(merged);
            }
            None => {
                let mut fresh = Value::Object(Map::new());
                merge_value(&mut fresh, pitem, item_node, options, path)?;
                out.push(fresh);
            }
        }
        path.truncate(len);
    }
    out.extend(original.into_iter().zip(used).filter(|(_, u)| !u).map(|(o, _)| o));
    *target = Value::Array(out);
    Ok(())
}

fn is_replace(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("replace")
}

/// A primitive list with strategy merge: a union, the patch's items first.
fn union(items: &[Value], original: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for i in items.iter().chain(original.iter()) {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// A list merged as Kustomize (kyaml) merges it: its list directives, then keyed lists by
/// [`merge_list_kyaml`] and others as a union.
fn merge_list_kustomize(
    target: &mut Value,
    items: &[Value],
    info: &ListInfo,
    node: Node<'_>,
    options: &SmpOptions,
    path: &mut String,
) -> Result<(), PatchError> {
    // kyaml's list directive: an item that is only `$patch: delete|replace|merge`.
    fn lone(i: &Value) -> Option<&str> {
        i.as_object().filter(|m| m.len() == 1).and_then(|m| m.get("$patch")?.as_str())
    }
    if let Some(directive) = items.iter().find_map(lone) {
        let rest: Vec<Value> = items.iter().filter(|i| lone(i).is_none()).cloned().collect();
        match directive {
            "delete" => {
                *target = Value::Null;
                return Ok(());
            }
            "replace" => {
                let strip = |mut i: Value| {
                    if let Some(m) = i.as_object_mut() {
                        m.remove("$patch");
                    }
                    i
                };
                *target = Value::Array(rest.into_iter().map(strip).collect());
                return Ok(());
            }
            "merge" => return merge_list_kustomize(target, &rest, info, node, options, path),
            other => return Err(perr(path, format!("unknown $patch directive {other:?}"))),
        }
    }
    // An item marked `$patch: replace` among others is left out.
    if items.iter().any(is_replace) {
        let kept: Vec<Value> = items.iter().filter(|i| !is_replace(i)).cloned().collect();
        if !target.is_array() {
            // kyaml merges a list the target lacks (or has as null) into the patch's own.
            *target = Value::Array(kept.clone());
        }
        return merge_list_kustomize(target, &kept, info, node, options, path);
    }
    let original: Vec<Value> = match std::mem::take(target) {
        Value::Array(a) => a,
        _ => items.to_vec(),
    };
    let keys: Vec<String> =
        if !info.map_keys.is_empty() { info.map_keys.clone() } else { info.merge_key.iter().cloned().collect() };
    *target = Value::Array(if keys.is_empty() {
        union(items, original)
    } else {
        merge_list_kyaml(original, items, &keys, node.item().unwrap_or(node), options, path)?
    });
    Ok(())
}

/// A keyed list merged as Kustomize merges it (kyaml's walker, patch items first): see
/// [`kyaml`].
fn merge_list_kyaml(
    mut dest: Vec<Value>,
    items: &[Value],
    keys: &[String],
    item_node: Node<'_>,
    options: &SmpOptions,
    path: &mut String,
) -> Result<Vec<Value>, PatchError> {
    let mut list = kyaml::values_list(items, &dest, keys);
    if keys.len() > 1 {
        kyaml::merge_values(&mut list);
    }
    let mut added: Vec<Value> = Vec::new();
    let mut valid_keys = keys.to_vec();
    for values in &list {
        let (vk, vv) = kyaml::validate_keys(&list, values, keys);
        valid_keys.clone_from(&vk);
        let len = path.len();
        path.push('[');
        path.push_str(&vv.join(","));
        path.push(']');
        let val = match (kyaml::find(&dest, &vk, &vv), kyaml::find(items, &vk, &vv)) {
            (Some(i), Some(j)) => {
                merge_value(&mut dest[i], &items[j], item_node, options, path)?;
                Some(dest[i].clone())
            }
            (Some(i), None) => {
                normalize(&mut dest[i], item_node, options, path)?;
                Some(dest[i].clone())
            }
            (None, Some(j)) => {
                let mut fresh = Value::Object(Map::new());
                merge_value(&mut fresh, &items[j], item_node, options, path)?;
                Some(fresh)
            }
            (None, None) => None,
        };
        path.truncate(len);
        let Some(mut v) = val.filter(|v| !v.is_null() && !v.as_object().is_some_and(Map::is_empty)) else {
            // Cleared (deleted, or matched nowhere): the target's items with these keys go.
            if !vk.is_empty() {
                kyaml::set_element(&mut dest, None, &vk, &vv);
                continue;
            }
            kyaml::set_element(&mut added, None, &vk, &vv);
            continue;
        };
        if let Value::Object(m) = &mut v {
            for (k, value) in vk.iter().zip(&vv) {
                if !m.contains_key(k) && !value.is_empty() {
                    m.insert(k.clone(), plain_scalar(value));
                }
            }
        }
        kyaml::set_element(&mut added, Some(std::borrow::Cow::Owned(v)), &vk, &vv);
    }
    if list.is_empty() {
        return Ok(dest);
    }
    kyaml::append_list(&mut added, &dest, &valid_keys);
    Ok(added)
}

/// Kustomize's merge of a target value the patch does not reach: its keyed lists (at any
/// depth through maps and keyed list items) are merged with nothing, as kyaml's walker does.
fn normalize(v: &mut Value, node: Node<'_>, options: &SmpOptions, path: &mut String) -> Result<(), PatchError> {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !is_bare_null(c));
            for (k, c) in m.iter_mut() {
                if c.is_object() || c.is_array() {
                    normalize(c, node.field(k).unwrap_or(node), options, path)?;
                }
            }
            Ok(())
        }
        Value::Array(_) => match node.list_ref().filter(|i| i.smp_merges()) {
            Some(info) if !info.map_keys.is_empty() || info.merge_key.is_some() => {
                merge_list(v, &[], info, node, options, path)
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// A plain YAML scalar of this text, as kyaml writes a key it fills in: an integer or a
/// boolean when it reads as one, else a string.
fn plain_scalar(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::Number(n.into());
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}

/// Applies a JSON merge patch (RFC 7386).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(pmap) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let tmap = target.as_object_mut().expect("made an object above");
            for (k, pv) in pmap {
                if pv.is_null() {
                    tmap.remove(k);
                } else {
                    merge_patch(tmap.entry(k.clone()).or_insert(Value::Null), pv);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A JSON patch as Go's evanphx/json-patch (v4) applies it, which the Kubernetes API server
/// and Kustomize both use: `replace` of a key missing from an object that exists adds it, as
/// that library does; everything else is [`json_patch`] (RFC 6902). A failing operation is
/// reported with its index.
pub fn json_patch_go(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Some(list) = ops.as_array() else { return json_patch(target, ops) };
    let mut probe = target.clone();
    let mut rewritten = Vec::with_capacity(list.len());
    for op in list {
        let mut op = op.clone();
        if op.get("op").and_then(Value::as_str) == Some("replace")
            && let Some(path) = op.get("path").and_then(Value::as_str)
            && probe.pointer(path).is_none()
            && let Some((parent, _)) = path.rsplit_once('/')
            && probe.pointer(parent).is_some_and(Value::is_object)
            && let Some(map) = op.as_object_mut()
        {
            map.insert("op".into(), Value::String("add".into()));
        }
        // An operation that fails here fails again below, where its index is reported.
        let _ = json_patch(&mut probe, &Value::Array(vec![op.clone()]));
        rewritten.push(op);
    }
    json_patch(target, &Value::Array(rewritten))
}

/// Applies a JSON patch (RFC 6902): a list of `add`, `remove`, `replace`, `move`, `copy`
/// and `test` operations. All or nothing: on error `target` is unchanged.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = ops else {
        return Err(perr("", "a JSON patch must be a list of operations"));
    };
    let mut work = target.clone();
    for (i, op) in ops.iter().enumerate() {
        let at = |reason: String| perr(&format!("operation {i}"), reason);
        let name = op.get("op").and_then(Value::as_str).ok_or_else(|| at("missing \"op\"".into()))?;
        let path = op.get("path").and_then(Value::as_str).ok_or_else(|| at("missing \"path\"".into()))?;
        let value = || op.get("value").cloned().ok_or_else(|| at(format!("{name} {path}: missing \"value\"")));
        let from =
            || op.get("from").and_then(Value::as_str).ok_or_else(|| at(format!("{name} {path}: missing \"from\"")));
        match name {
            "add" => add(&mut work, path, value()?).map_err(|e| at(format!("add {path}: {e}")))?,
            "remove" => {
                remove(&mut work, path).map_err(|e| at(format!("remove {path}: {e}")))?;
            }
            "replace" => {
                let v = value()?;
                let slot =
                    work.pointer_mut(path).ok_or_else(|| at(format!("replace {path}: the path does not exist")))?;
                *slot = v;
            }
            "move" => {
                let from = from()?;
                if path.starts_with(&format!("{from}/")) {
                    return Err(at(format!("move {from} into its own child {path}")));
                }
                let v = remove(&mut work, from).map_err(|e| at(format!("move from {from}: {e}")))?;
                add(&mut work, path, v).map_err(|e| at(format!("move to {path}: {e}")))?;
            }
            "copy" => {
                let from = from()?;
                let v = work
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| at(format!("copy from {from}: the path does not exist")))?;
                add(&mut work, path, v).map_err(|e| at(format!("copy to {path}: {e}")))?;
            }
            "test" => {
                let v = value()?;
                if work.pointer(path) != Some(&v) {
                    return Err(at(format!("test {path}: the value differs")));
                }
            }
            other => return Err(at(format!("unknown op {other:?}"))),
        }
    }
    *target = work;
    Ok(())
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let tokens = parse_pointer(path).map_err(|e| e.to_string())?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or("the parent does not exist")?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("{t:?} is not a list index"))?;
                a.get_mut(i).ok_or("the parent does not exist")?
            }
            _ => return Err("the parent is a scalar".into()),
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("{last:?} is not a list index"))?;
            if i > a.len() {
                return Err(format!("index {i} is out of range (the list has {} items)", a.len()));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent is a scalar".into()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let tokens = parse_pointer(path).map_err(|e| e.to_string())?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or("the path does not exist")?,
            Value::Array(a) => a
                .get_mut(t.parse::<usize>().map_err(|_| "the path does not exist")?)
                .ok_or("the path does not exist")?,
            _ => return Err("the path does not exist".into()),
        };
    }
    match cur {
        Value::Object(m) => m.remove(last).ok_or_else(|| "the path does not exist".into()),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| "the path does not exist")?;
            if i >= a.len() {
                return Err("the path does not exist".into());
            }
            Ok(a.remove(i))
        }
        _ => Err("the path does not exist".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::schema::Schema;

    fn pod_template() -> Node<'static> {
        Schema::builtin().node("", "v1", "PodTemplate").unwrap()
    }

    #[test]
    fn smp_matches_the_api_server_transcript() {
        // The sequence of conformance case 23, recorded from a real kube-apiserver.
        let mut t = json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}}});
        let o = SmpOptions::default();
        strategic_merge(
            &mut t,
            &json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "c", "image": "c:1"}]}}}),
            pod_template(),
            &o,
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]},
            {"name": "c", "image": "c:1"},
            {"name": "b", "image": "b:1"}]}}})
        );
        strategic_merge(
            &mut t,
            &json!({"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}),
            pod_template(),
            &o,
        )
        .unwrap();
        strategic_merge(
            &mut t,
            &json!({"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "$patch": "delete"}]}]}}}),
            pod_template(),
            &o,
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "c", "image": "c:1"}]}}})
        );
    }

    #[test]
    fn smp_null_replace_and_atomic_lists() {
        let node = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
        let mut t = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"template": {"spec": {
            "containers": [{"name": "c", "args": ["x", "y"]}], "tolerations": [{"key": "k"}]}}}});
        strategic_merge(
            &mut t,
            &json!({"metadata": {"labels": {"a": null, "$patch": "replace", "z": "9"}}}),
            node,
            &SmpOptions::default(),
        )
        .unwrap();
        assert_eq!(t["metadata"]["labels"], json!({"z": "9"}));
        strategic_merge(&mut t, &json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["q"]}], "tolerations": [{"key": "j"}]}}}}), node, &SmpOptions::default()).unwrap();
        assert_eq!(t["spec"]["template"]["spec"]["containers"][0]["args"], json!(["q"]));
        assert_eq!(t["spec"]["template"]["spec"]["tolerations"], json!([{"key": "j"}]));
        strategic_merge(
            &mut t,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "d"}, {"$patch": "replace"}]}}}}),
            node,
            &SmpOptions::default(),
        )
        .unwrap();
        assert_eq!(t["spec"]["template"]["spec"]["containers"], json!([{"name": "d"}]));
        let mut fin = json!({"metadata": {"finalizers": ["a", "b"]}});
        strategic_merge(&mut fin, &json!({"metadata": {"finalizers": ["c", "a"]}}), node, &SmpOptions::default())
            .unwrap();
        assert_eq!(fin["metadata"]["finalizers"], json!(["c", "a", "b"]));
    }

    #[test]
    fn smp_directives_kept_or_dropped() {
        let node = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "replicas": 2}});
        let mut kept = json!({"spec": {}});
        strategic_merge(&mut kept, &p, node, &SmpOptions { kustomize: true }).unwrap();
        assert_eq!(kept, json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "replicas": 2}}));
        let mut dropped = json!({"spec": {}});
        strategic_merge(&mut dropped, &p, node, &SmpOptions::default()).unwrap();
        assert_eq!(dropped, json!({"spec": {"replicas": 2}}));
    }

    #[test]
    fn smp_errors() {
        let node = pod_template();
        let mut t = json!({"template": {"spec": {"containers": [{"name": "a"}]}}});
        let err = strategic_merge(
            &mut t,
            &json!({"template": {"spec": {"containers": [{"image": "x"}]}}}),
            node,
            &SmpOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("merge key \"name\""), "{err}");
        let err = strategic_merge(&mut t, &json!({"template": {"$patch": "explode"}}), node, &SmpOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("/template"), "{err}");
        assert!(is_delete_patch(&json!({"$patch": "delete"})));
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn json_patch_rfc6902() {
        let mut t = json!({"a": {"b": [1, 2]}, "x~y": 1, "p/q": 2});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "add", "path": "/a/b/-", "value": 10},
                {"op": "remove", "path": "/x~0y"},
                {"op": "replace", "path": "/p~1q", "value": 3},
                {"op": "copy", "from": "/a/b", "path": "/c"},
                {"op": "move", "from": "/c", "path": "/d"},
                {"op": "test", "path": "/d/0", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(t, json!({"a": {"b": [1, 9, 2, 10]}, "p/q": 3, "d": [1, 9, 2, 10]}));
        let before = t.clone();
        for bad in [
            json!([{"op": "test", "path": "/d/0", "value": 2}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "add", "path": "/a/b/99", "value": 1}]),
            json!([{"op": "add", "path": "/a/b/0", "value": 1}, {"op": "frobnicate", "path": "/"}]),
            json!([{"op": "add", "path": "/x"}]),
            json!({"op": "add"}),
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
        ] {
            assert!(json_patch(&mut t, &bad).is_err(), "{bad}");
            assert_eq!(t, before, "a failed patch leaves the document as it was");
        }
    }
}
