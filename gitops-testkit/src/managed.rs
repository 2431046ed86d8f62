//! managedFields: who owns which field, the field sets of Update operations, and
//! server-side apply (merge, conflicts, removal of fields a manager stopped applying).

use gitops_core::fieldset::{FieldSet, PathElement, find_item};
pub use gitops_core::fieldset::{merge, remove_at, value_at};
use gitops_core::schema::{ListType, Node};
use gitops_core::{json, value::Value};

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the fields were written in.
    pub api_version: String,
    /// When.
    pub time: String,
    /// `status` or `scale` for subresource writes.
    pub subresource: Option<String>,
    /// The fields.
    pub set: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }

    /// How conflict messages name the owner.
    pub fn describe(&self) -> String {
        match (&self.subresource, self.operation.as_str()) {
            (Some(s), _) => format!("{:?} with subresource {s:?} using {}", self.manager, self.api_version),
            (None, "Update") => format!("{:?} using {}", self.manager, self.api_version),
            _ => format!("{:?}", self.manager),
        }
    }
}

/// Reads `metadata.managedFields`; malformed entries are skipped.
pub fn read(obj: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in obj.pointer("/metadata/managedFields").and_then(Value::as_array).into_iter().flatten() {
        let Ok(set) = FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)) else { continue };
        out.push(Entry {
            manager: e["manager"].as_str().unwrap_or("").into(),
            operation: e["operation"].as_str().unwrap_or("Update").into(),
            api_version: e["apiVersion"].as_str().unwrap_or("").into(),
            time: e["time"].as_str().unwrap_or("").into(),
            subresource: e["subresource"].as_str().map(String::from),
            set,
        });
    }
    out
}

/// Writes `metadata.managedFields`, leaving out empty entries.
pub fn write(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": e.set.to_fields_v1(),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = Value::String(s.clone());
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records that `manager` wrote `fields` with `operation`: its entry gains them, every other
/// entry loses them.
#[allow(clippy::too_many_arguments)]
pub fn record(
    entries: &mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    subresource: Option<&str>,
    fields: &FieldSet,
    time: &str,
    replace: bool,
) {
    // An Update takes the fields it changed from everyone; an Apply shares fields whose
    // values agree (conflicting ones were settled before).
    if operation == "Update" {
        for e in entries.iter_mut() {
            if !e.same_owner(manager, operation, subresource) {
                e.set = e.set.difference(fields);
            }
        }
    }
    match entries.iter_mut().find(|e| e.same_owner(manager, operation, subresource)) {
        Some(e) => {
            e.set = if replace { fields.clone() } else { e.set.union(fields) };
            e.time = time.into();
            e.api_version = api_version.into();
        }
        None => entries.push(Entry {
            manager: manager.into(),
            operation: operation.into(),
            api_version: api_version.into(),
            time: time.into(),
            subresource: subresource.map(String::from),
            set: fields.clone(),
        }),
    }
    entries.retain(|e| !e.set.is_empty());
}

/// Removes, from every entry, the fields that no longer exist in the object; `applier`
/// (manager and subresource of an apply) keeps its set whole.
pub fn forget_missing(entries: &mut [Entry], obj: &Value, applier: Option<(&str, Option<&str>)>) {
    // A Secret stores stringData as data: an owned stringData key is there while its data key is.
    let with_string_data;
    let obj = if is_secret(obj) && obj.get("data").is_some() {
        let mut o = obj.clone();
        o["stringData"] = obj["data"].clone();
        with_string_data = o;
        &with_string_data
    } else {
        obj
    };
    for e in entries.iter_mut() {
        if applier.is_some_and(|(manager, sub)| e.same_owner(manager, "Apply", sub)) {
            continue;
        }
        let mut gone = FieldSet::new();
        for leaf in e.set.leaves() {
            if value_at(obj, &leaf).is_none() {
                gone.insert(&leaf);
            }
        }
        if !gone.is_empty() {
            e.set = e.set.difference(&gone);
        }
    }
}

/// Fields a zero Go object of the built-in types always has (non-pointer structs and lists
/// serialized without `omitempty`): when created they are not "new", so they get no `.`.
const ZERO_PRESENT: [&str; 13] = [
    "metadata",
    "names",
    "spec",
    "status",
    "template",
    "strategy",
    "updateStrategy",
    "jobTemplate",
    "containers",
    "roleRef",
    "loadBalancer",
    "podSelector",
    "scaleTargetRef",
];

/// The fields an Update operation takes ownership of: those `new` adds or changes compared
/// with `old` (`None` for a create).
pub fn changed_fields(old: Option<&Value>, new: &Value, node: Node<'_>, typed: bool) -> FieldSet {
    let mut set = FieldSet::new();
    diff(old, new, node, typed, &mut set, &mut Vec::new());
    set.strip_bookkeeping();
    set
}

fn diff(old: Option<&Value>, new: &Value, node: Node<'_>, zero: bool, set: &mut FieldSet, path: &mut Vec<PathElement>) {
    if old == Some(new) {
        return;
    }
    let atomic = node.is_atomic() && !node.is_untyped();
    match new {
        Value::Object(map) if !atomic => {
            let old_map = old.and_then(Value::as_object);
            if map.is_empty() {
                if old_map.is_none() && !zero {
                    set.insert(path);
                }
                return;
            }
            if old_map.is_none() && !zero && !path.is_empty() {
                set.insert(path);
            }
            for (k, v) in map {
                let child = node.field(k).unwrap_or(node);
                path.push(PathElement::Field(k.clone()));
                let child_zero = (zero && old_map.is_none() && ZERO_PRESENT.contains(&k.as_str()))
                    || (path.len() == 1 && k == "metadata");
                diff(old_map.and_then(|m| m.get(k)), v, child, child_zero, set, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            let info = node.list_ref();
            let item_node = node.item().unwrap_or(node);
            let old_items = old.and_then(Value::as_array);
            match info.map(|i| (i.list_type, i.item_keys())) {
                Some((ListType::Map, keys)) if !keys.is_empty() => {
                    if old.is_none() && !zero {
                        set.insert(path);
                    }
                    for (i, item) in items.iter().enumerate() {
                        let element = item
                            .as_object()
                            .and_then(|m| PathElement::key_of(m, keys))
                            .unwrap_or(PathElement::Index(i));
                        let old_item = old_items.and_then(|o| find_item(o, &element));
                        path.push(element);
                        if old_item.is_none() {
                            set.insert(path);
                        }
                        if item_node.is_atomic() && !item_node.is_untyped() {
                            if old_item.is_some_and(|o| o != item) {
                                set.insert(path);
                            }
                            path.pop();
                            continue;
                        }
                        if let Value::Object(m) = item {
                            for (k, v) in m {
                                let child = item_node.field(k).unwrap_or(item_node);
                                path.push(PathElement::Field(k.clone()));
                                diff(old_item.and_then(|o| o.get(k)), v, child, false, set, path);
                                path.pop();
                            }
                        }
                        path.pop();
                    }
                }
                Some((ListType::Set, _)) => {
                    if old_items.is_none() && !zero {
                        set.insert(path);
                    }
                    for item in items {
                        if old_items.is_none_or(|o| !o.contains(item)) {
                            path.push(PathElement::value_of(item));
                            set.insert(path);
                            path.pop();
                        }
                    }
                }
                _ => set.insert(path),
            }
        }
        Value::Object(m) if m.is_empty() && old.is_none() && zero => {}
        _ => set.insert(path),
    }
}

fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret") && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// The schema node at a field path (list items through the list's item node).
fn node_at<'a>(node: Node<'a>, path: &[PathElement]) -> Option<Node<'a>> {
    let mut cur = node;
    for p in path {
        cur = match p {
            PathElement::Field(k) => cur.field(k)?,
            _ => cur.item()?,
        };
    }
    Some(cur)
}

/// Maps met below an untyped node (a CRD's `x-kubernetes-preserve-unknown-fields` subtree)
/// are granular members of an applied configuration's set, as structured-merge-diff's deduced
/// type makes them ("." recorded); typed maps and structs are not.
fn mark_deduced_maps(set: &mut FieldSet, value: &Value, node: Node<'_>, path: &mut Vec<PathElement>, deduced: bool) {
    let Value::Object(map) = value else { return };
    if deduced && !map.is_empty() && !path.is_empty() {
        set.insert(path);
    }
    if node.is_atomic() && !node.is_untyped() {
        return;
    }
    for (k, v) in map {
        // ObjectMeta is typed in every kind, custom resources included.
        if path.is_empty() && k == "metadata" {
            continue;
        }
        let child = node.field(k);
        path.push(PathElement::Field(k.clone()));
        let child_node = child.unwrap_or(node);
        mark_deduced_maps(set, v, child_node, path, deduced || node.is_untyped());
        path.pop();
    }
}

/// A conflict: the owner (described as the API server words it) and the field.
pub type Conflict = (String, String);

/// Server-side apply of `config` by `manager` onto `live` (with its managedFields already
/// read into `entries`). On success returns the new object (managedFields not yet written)
/// and the updated entries; without `force`, fields another manager owns with a different
/// value are conflicts.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: &Value,
    config: &Value,
    node: Node<'_>,
    manager: &str,
    api_version: &str,
    force: bool,
    mut entries: Vec<Entry>,
    time: &str,
    subresource: Option<&str>,
) -> Result<(Value, Vec<Entry>), Vec<Conflict>> {
    let mut config_set = FieldSet::from_value(config, node);
    mark_deduced_maps(&mut config_set, config, node, &mut Vec::new(), false);
    config_set.strip_bookkeeping();
    match subresource {
        None => config_set.remove(&[PathElement::Field("status".into())]),
        Some("status") => {
            let status = config_set.get(&[PathElement::Field("status".into())]).cloned();
            config_set = FieldSet::new();
            if let Some(s) = status {
                config_set.entry(&[PathElement::Field("status".into())]).union_with(&s);
            }
        }
        Some(_) => {}
    }
    let mut conflicts = Vec::new();
    for e in entries.iter_mut() {
        if e.same_owner(manager, "Apply", subresource) {
            continue;
        }
        let overlap = e.set.intersection(&config_set);
        let mut lost = FieldSet::new();
        for leaf in overlap.leaves() {
            let atomic = node_at(node, &leaf).is_some_and(|n| n.is_atomic() && !n.is_untyped());
            if value_at(live, &leaf) != value_at(config, &leaf) && (atomic || !is_container(value_at(config, &leaf))) {
                conflicts.push((e.describe(), FieldSet::path_string(&leaf)));
                lost.insert(&leaf);
            }
        }
        if force && !lost.is_empty() {
            e.set = e.set.difference(&lost);
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.1.cmp(&b.1));
        return Err(conflicts);
    }
    let mut config = config.clone();
    if subresource.is_none()
        && let Some(m) = config.as_object_mut()
    {
        m.remove("status");
    }
    let mut merged = merge(live, &config, node);
    let previous =
        entries.iter().find(|e| e.same_owner(manager, "Apply", subresource)).map(|e| e.set.clone()).unwrap_or_default();
    let removed = previous.difference(&config_set);
    let mut others = FieldSet::new();
    for e in entries.iter().filter(|e| !e.same_owner(manager, "Apply", subresource)) {
        others.union_with(&e.set);
    }
    let mut leaves = removed.leaves();
    leaves.sort_by_key(Vec::len);
    let mut gone: Vec<Vec<PathElement>> = Vec::new();
    for path in leaves {
        if others.has_prefix(&path) || config_set.has_prefix(&path) || gone.iter().any(|g| path.starts_with(g)) {
            continue;
        }
        remove_at(&mut merged, &path, &others.union(&config_set));
        // A dropped stringData key of a Secret drops the data key it became, unless someone
        // still owns that data key.
        if is_secret(live)
            && let [PathElement::Field(f), PathElement::Field(k)] = path.as_slice()
            && f == "stringData"
        {
            let data_path = [PathElement::Field("data".into()), PathElement::Field(k.clone())];
            if !others.has_prefix(&data_path) && !config_set.has_prefix(&data_path) {
                remove_at(&mut merged, &data_path, &others.union(&config_set));
            }
        }
        gone.push(path);
    }
    record(&mut entries, manager, "Apply", api_version, subresource, &config_set, time, true);
    Ok((merged, entries))
}

fn is_container(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Object(m)) if !m.is_empty())
}
