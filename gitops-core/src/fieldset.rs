//! Field sets: the `managedFields` `fieldsV1` format and set operations on it.
//!
//! A field set is a trie of [`PathElement`]s. A node is a *member* when the field itself
//! is in the set (a leaf, or a list item or map created as a whole, written `"."` in
//! `fieldsV1`); children are the fields under it.
//!
//! ```
//! use gitops_core::fieldset::FieldSet;
//! use gitops_core::json;
//! let fields = json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
//!     "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}});
//! let set = FieldSet::from_fields_v1(&fields).unwrap();
//! assert_eq!(set.to_fields_v1(), fields);
//! assert!(set.leaves().iter().any(|p| FieldSet::path_string(p) == ".spec.template.spec.containers[name=\"web\"].image"));
//! ```

use std::collections::BTreeMap;

use crate::value::{Map, Value};

use crate::error::{Error, Result};
use crate::schema::{ListType, Node};

/// One step of a path in a field set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key: `f:name`.
    Field(String),
    /// A list-map item by its keys: `k:{"name":"web"}`, holding the canonical JSON
    /// (keys sorted, compact) of the key fields.
    Key(String),
    /// A set item by its value: `v:"a"`, holding the canonical JSON of the value.
    Value(String),
    /// A list item by index: `i:3` (atomic-free lists without keys, rare).
    Index(usize),
}

impl PathElement {
    /// Parses a `fieldsV1` key (`f:x`, `k:{...}`, `v:...`, `i:N`).
    pub fn parse(s: &str) -> Result<Self> {
        let err = |reason: &str| Error::FieldSet { path: s.into(), reason: reason.into() };
        let (prefix, rest) = s.split_at_checked(2).ok_or_else(|| err("too short"))?;
        match prefix {
            "f:" => Ok(PathElement::Field(rest.into())),
            "k:" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| err(&format!("key is not JSON: {e}")))?;
                if !v.is_object() {
                    return Err(err("a k: key must be a JSON object"));
                }
                Ok(PathElement::Key(v.to_string()))
            }
            "v:" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| err(&format!("value is not JSON: {e}")))?;
                Ok(PathElement::Value(v.to_string()))
            }
            "i:" => rest.parse().map(PathElement::Index).map_err(|_| err("index is not a number")),
            _ => Err(err("expected a prefix f:, k:, v: or i:")),
        }
    }

    /// A list-map key element from the key fields of an item.
    pub fn key_of(item: &Map<String, Value>, keys: &[String]) -> Option<Self> {
        let mut m = Map::new();
        for k in keys {
            let v = match item.get(k) {
                Some(v) => v.clone(),
                None => crate::schema::key_default(k)?,
            };
            m.insert(k.clone(), v);
        }
        Some(PathElement::Key(Value::Object(m).to_string()))
    }

    /// A set element from a value.
    pub fn value_of(value: &Value) -> Self {
        PathElement::Value(value.to_string())
    }
}

impl std::fmt::Display for PathElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, "f:{n}"),
            PathElement::Key(k) => write!(f, "k:{k}"),
            PathElement::Value(v) => write!(f, "v:{v}"),
            PathElement::Index(i) => write!(f, "i:{i}"),
        }
    }
}

/// A set of field paths, as `managedFields` records them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a `fieldsV1` value.
    pub fn from_fields_v1(value: &Value) -> Result<Self> {
        let mut path = String::new();
        Self::parse_node(value, &mut path)
    }

    fn parse_node(value: &Value, path: &mut String) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(Error::FieldSet { path: path.clone(), reason: "expected a JSON object".into() });
        };
        let mut set = FieldSet::default();
        if map.is_empty() {
            set.member = true;
        }
        for (k, v) in map {
            if k == "." {
                if v.as_object().is_none_or(|m| !m.is_empty()) {
                    return Err(Error::FieldSet { path: format!("{path}."), reason: "\".\" must be {}".into() });
                }
                set.member = true;
                continue;
            }
            let element = PathElement::parse(k).map_err(|e| match e {
                Error::FieldSet { reason, .. } => Error::FieldSet { path: format!("{path}/{k}"), reason },
                other => other,
            })?;
            let len = path.len();
            path.push('/');
            path.push_str(k);
            let child = Self::parse_node(v, path)?;
            path.truncate(len);
            set.children.insert(element, child);
        }
        Ok(set)
    }

    /// Writes the set as a `fieldsV1` value.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, child) in &self.children {
            map.insert(k.to_string(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Whether this node itself is a member.
    pub fn is_member(&self) -> bool {
        self.member
    }

    /// The child at one element.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// The child node of a field name.
    pub fn field(&self, name: &str) -> Option<&FieldSet> {
        self.children.get(&PathElement::Field(name.into()))
    }

    /// The children.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Adds a path as a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        let mut node = self;
        for e in path {
            node = node.children.entry(e.clone()).or_default();
        }
        node.member = true;
    }

    /// The subtree at a path, created empty on the way.
    pub fn entry(&mut self, path: &[PathElement]) -> &mut FieldSet {
        let mut node = self;
        for e in path {
            node = node.children.entry(e.clone()).or_default();
        }
        node
    }

    /// Removes a path and everything under it.
    pub fn remove(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            *self = FieldSet::default();
            return;
        };
        let mut node = self;
        for e in parents {
            match node.children.get_mut(e) {
                Some(n) => node = n,
                None => return,
            }
        }
        node.children.remove(last);
    }

    /// Whether a path is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.get(path).is_some_and(|n| n.member)
    }

    /// The node at a path, if the set has anything there.
    pub fn get(&self, path: &[PathElement]) -> Option<&FieldSet> {
        let mut node = self;
        for e in path {
            node = node.children.get(e)?;
        }
        Some(node)
    }

    /// Whether the set has a member at a path or under it.
    pub fn has_prefix(&self, path: &[PathElement]) -> bool {
        self.get(path).is_some_and(|n| !n.is_empty())
    }

    /// The union of two sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Adds every member of another set.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().union_with(v);
        }
    }

    /// The members in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            if let Some(w) = other.children.get(k) {
                let child = v.intersection(w);
                if !child.is_empty() {
                    out.children.insert(k.clone(), child);
                }
            }
        }
        out
    }

    /// The members of `self` not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            let child = match other.children.get(k) {
                Some(w) => v.difference(w),
                None => v.clone(),
            };
            if !child.is_empty() {
                out.children.insert(k.clone(), child);
            }
        }
        out
    }

    /// Every member path.
    pub fn leaves(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.collect(&mut path, &mut out);
        out
    }

    fn collect(&self, path: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        if self.member {
            out.push(path.clone());
        }
        for (k, v) in &self.children {
            path.push(k.clone());
            v.collect(path, out);
            path.pop();
        }
    }

    /// A path as the API server writes it in conflict messages:
    /// `.spec.containers[name="web"].image`, `.metadata.finalizers[="a"]`.
    pub fn path_string(path: &[PathElement]) -> String {
        let mut s = String::new();
        for e in path {
            match e {
                PathElement::Field(n) => {
                    s.push('.');
                    s.push_str(n);
                }
                PathElement::Key(k) => {
                    s.push('[');
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(k) {
                        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        s.push_str(&parts.join(","));
                    }
                    s.push(']');
                }
                PathElement::Value(v) => {
                    s.push_str("[=");
                    s.push_str(v);
                    s.push(']');
                }
                PathElement::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }

    /// The set of fields a value sets, with list items addressed by the schema's keys:
    /// what server-side apply records for an applied configuration. Atomic nodes and
    /// empty maps are leaves; map-list items are members with their fields as children;
    /// set items are `v:` members. A map-list item without its keys is addressed by index.
    pub fn from_value(value: &Value, node: Node<'_>) -> FieldSet {
        let mut set = FieldSet::default();
        set.add_value(value, node);
        set
    }

    fn add_value(&mut self, value: &Value, node: Node<'_>) {
        match value {
            Value::Object(map) => {
                if map.is_empty() || node.is_atomic() && !node.is_untyped() {
                    self.member = true;
                    return;
                }
                for (k, v) in map {
                    let child_node = node.field(k).unwrap_or(node);
                    self.children.entry(PathElement::Field(k.clone())).or_default().add_value(v, child_node);
                }
            }
            Value::Array(items) => {
                let info = node.list_ref();
                let item_node = node.item().unwrap_or(node);
                match info.map(|i| (i.list_type, i.item_keys())) {
                    Some((ListType::Set, _)) => {
                        // An empty associative list sets nothing (structured-merge-diff
                        // records empty maps and nulls, not empty lists).
                        for item in items {
                            self.children.entry(PathElement::value_of(item)).or_default().member = true;
                        }
                    }
                    Some((ListType::Map, keys)) if !keys.is_empty() => {
                        for (i, item) in items.iter().enumerate() {
                            let element = item
                                .as_object()
                                .and_then(|m| PathElement::key_of(m, keys))
                                .unwrap_or(PathElement::Index(i));
                            let child = self.children.entry(element).or_default();
                            child.member = true;
                            if item_node.is_atomic() && !item_node.is_untyped() {
                                continue;
                            }
                            if let Value::Object(m) = item {
                                for (k, v) in m {
                                    let n = item_node.field(k).unwrap_or(item_node);
                                    child.children.entry(PathElement::Field(k.clone())).or_default().add_value(v, n);
                                }
                            }
                        }
                    }
                    _ => self.member = true,
                }
            }
            _ => self.member = true,
        }
    }

    /// Removes what the API server never records in `managedFields`: `apiVersion`,
    /// `kind`, and `metadata` `name`, `namespace`, `uid`, `resourceVersion`, `generation`,
    /// `creationTimestamp`, `selfLink`, `managedFields`, `deletionTimestamp`,
    /// `deletionGracePeriodSeconds`.
    pub fn strip_bookkeeping(&mut self) {
        for f in ["apiVersion", "kind"] {
            self.children.remove(&PathElement::Field(f.into()));
        }
        let meta_key = PathElement::Field("metadata".into());
        if let Some(meta) = self.children.get_mut(&meta_key) {
            for f in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "selfLink",
                "managedFields",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.children.remove(&PathElement::Field(f.into()));
            }
            if meta.children.is_empty() {
                self.children.remove(&meta_key);
            }
        }
    }
}

/// The value at a field-set path inside a JSON value: `f:` follows map keys, `k:` finds the
/// list item whose key fields match, `v:` the set item equal to the value, `i:` an index.
pub fn value_at<'a>(v: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => m.get(f)?,
            (_, Value::Array(items)) => find_item(items, e)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether a list-map item has the given key values, a missing key field counting as its
/// server default (a port's protocol is `TCP`).
pub fn item_matches_key(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, v)| match item.get(k) {
        Some(x) => x == v,
        None => crate::schema::key_default(k).as_ref() == Some(v),
    })
}

/// The item of a list a path element addresses.
pub fn find_item<'a>(items: &'a [Value], element: &PathElement) -> Option<&'a Value> {
    match element {
        PathElement::Key(k) => {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            items.iter().find(|i| item_matches_key(i, &key))
        }
        PathElement::Value(v) => {
            let v: Value = serde_json::from_str(v).ok()?;
            items.iter().find(|i| **i == v)
        }
        PathElement::Index(i) => items.get(*i),
        PathElement::Field(_) => None,
    }
}

/// Removes the value at a field-set path; maps left empty on the way up are removed too
/// unless `keep` owns them.
pub fn remove_at(v: &mut Value, path: &[PathElement], keep: &FieldSet) {
    let Some((last, parents)) = path.split_last() else { return };
    let Some(parent) = value_at_mut(v, parents) else { return };
    match (last, parent) {
        (PathElement::Field(f), Value::Object(m)) => {
            m.remove(f);
        }
        (e, Value::Array(items)) => {
            if let Some(pos) = items.iter().position(|i| find_item(std::slice::from_ref(i), e).is_some()) {
                items.remove(pos);
            }
        }
        _ => return,
    }
    if parents.is_empty() {
        return;
    }
    let now_empty = value_at(v, parents).is_some_and(|p| p.as_object().is_some_and(Map::is_empty));
    if now_empty && !keep.contains(parents) && !matches!(parents.last(), Some(PathElement::Key(_))) {
        remove_at(v, parents, keep);
    }
}

fn value_at_mut<'a>(v: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    let mut cur = v;
    for e in path {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => m.get_mut(f)?,
            (e, Value::Array(items)) => {
                let pos = items.iter().position(|i| find_item(std::slice::from_ref(i), e).is_some())?;
                &mut items[pos]
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Merges an applied configuration into the live object, as server-side apply does: maps
/// merged key by key, map lists item by item (new items appended), sets unioned, atomic
/// values replaced.
pub fn merge(live: &Value, config: &Value, node: Node<'_>) -> Value {
    let mut out = live.clone();
    merge_into(&mut out, config, node);
    out
}

/// [`merge`] in place: `live` becomes the merged object (each field copied once, where
/// `merge` would copy a subtree at every level above it).
pub fn merge_into(live: &mut Value, config: &Value, node: Node<'_>) {
    match (&mut *live, config) {
        (Value::Object(l), Value::Object(c)) if !node.is_atomic() || node.is_untyped() => {
            for (k, v) in c {
                let child = node.field(k).unwrap_or(node);
                match l.get_mut(k) {
                    Some(lv) => merge_into(lv, v, child),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(c)) => {
            let item_node = node.item().unwrap_or(node);
            match node.list_ref().map(|i| (i.list_type, i.item_keys())) {
                Some((ListType::Map, keys)) if !keys.is_empty() => {
                    let key =
                        |v: &Value| v.as_object().and_then(|m| PathElement::key_of(m, keys)).map(|k| format!("{k:?}"));
                    if let Some(out) = merge_ordered(l, c, key, |l, c| {
                        let mut item = l.clone();
                        merge_into(&mut item, c, item_node);
                        item
                    }) {
                        *l = out;
                    } else {
                        for item in c {
                            let key = item.as_object().and_then(|m| PathElement::key_of(m, keys));
                            let pos = key
                                .as_ref()
                                .and_then(|k| l.iter().position(|o| find_item(std::slice::from_ref(o), k).is_some()));
                            match pos {
                                Some(p) => merge_into(&mut l[p], item, item_node),
                                None => l.push(item.clone()),
                            }
                        }
                    }
                }
                Some((ListType::Set, _)) => {
                    let key = |v: &Value| Some(v.to_string());
                    if let Some(out) = merge_ordered(l, c, key, |_, c| c.clone()) {
                        *l = out;
                    }
                }
                _ => *live = config.clone(),
            }
        }
        _ => *live = config.clone(),
    }
}

/// The items of an associative list (a map list or a set) after an apply, in the order
/// structured-merge-diff gives them: the live order, except that the items both lists hold
/// come in the applied configuration's order, and new items come where the configuration
/// puts them. `None` when an applied item has no key (the caller keeps its simpler merge).
fn merge_ordered(
    live: &[Value],
    config: &[Value],
    key: impl Fn(&Value) -> Option<String>,
    merge_item: impl Fn(&Value, &Value) -> Value,
) -> Option<Vec<Value>> {
    use std::collections::{HashMap, HashSet, VecDeque};
    let lk: Vec<Option<String>> = live.iter().map(&key).collect();
    let rk: Vec<String> = config.iter().map(&key).collect::<Option<_>>()?;
    let mut in_live: HashMap<&str, usize> = HashMap::new();
    for (i, k) in lk.iter().enumerate() {
        if let Some(k) = k {
            in_live.entry(k.as_str()).or_insert(i);
        }
    }
    let in_config: HashMap<&str, usize> = rk.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut shared: VecDeque<&str> = rk.iter().map(String::as_str).filter(|k| in_live.contains_key(k)).collect();
    let mut next_shared = shared.pop_front();
    let mut merged: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut li, mut ri) = (0, 0);
    while li < live.len() || ri < config.len() {
        if li < live.len() && ri < config.len() {
            if lk[li].as_deref() == Some(rk[ri].as_str()) {
                let k = rk[ri].as_str();
                merged.insert(k);
                out.push(merge_item(&live[in_live[k]], &config[in_config[k]]));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            // A shared item, but not the next one the configuration orders: it comes later.
            if let Some(k) = lk[li].as_deref()
                && in_config.contains_key(k)
                && next_shared.is_some_and(|n| n != k)
            {
                li += 1;
                continue;
            }
        }
        if li < live.len() {
            match lk[li].as_deref() {
                Some(k) if in_config.contains_key(k) && merged.contains(k) => {
                    li += 1;
                    continue;
                }
                Some(k) if in_config.contains_key(k) => {}
                _ => {
                    out.push(live[li].clone());
                    li += 1;
                    continue;
                }
            }
        }
        if ri < config.len() {
            let k = rk[ri].as_str();
            merged.insert(k);
            out.push(match in_live.get(k) {
                Some(&i) => merge_item(&live[i], &config[ri]),
                None => config[ri].clone(),
            });
            ri += 1;
            if next_shared == Some(k) {
                next_shared = shared.pop_front();
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::schema::Schema;

    fn deployment_fields() -> Value {
        // As a real kube-apiserver v1.36 wrote it for `kubectl apply --server-side`.
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:env": {"k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}
                    }}}
                }
            }
        })
    }

    #[test]
    fn associative_lists_take_the_applied_order_for_shared_items() {
        let key = |v: &Value| v.get("type").map(|t| t.to_string());
        let item = |t: &str, s: &str| json!({"type": t, "status": s});
        let merge_item = |l: &Value, c: &Value| {
            let mut m = l.clone();
            m.as_object_mut().unwrap().extend(c.as_object().unwrap().clone());
            m
        };
        // Both items reordered by a forced apply of both.
        let out = merge_ordered(&[item("a", "1"), item("b", "1")], &[item("b", "2"), item("a", "2")], key, merge_item);
        assert_eq!(out.unwrap(), [item("b", "2"), item("a", "2")]);
        // Items only the live list holds keep their places; new ones follow the applied order.
        let live = [item("x", "0"), item("a", "1"), item("y", "0"), item("b", "1")];
        let out = merge_ordered(&live, &[item("b", "2"), item("c", "2"), item("a", "2")], key, merge_item).unwrap();
        let types: Vec<&str> = out.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["x", "y", "b", "c", "a"]);
        // An applied item without a key: no ordering.
        assert!(merge_ordered(&live, &[json!({"status": "1"})], key, merge_item).is_none());
    }

    #[test]
    fn parses_and_emits_real_managed_fields() {
        let v = deployment_fields();
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(set.to_fields_v1(), v);
        let leaves: Vec<String> = set.leaves().iter().map(|p| FieldSet::path_string(p)).collect();
        assert!(leaves.contains(&".spec.replicas".to_string()));
        assert!(leaves.contains(&".spec.template.spec.containers[name=\"web\"]".to_string()));
        assert!(
            leaves.contains(&".spec.template.spec.containers[name=\"web\"].env[name=\"LOG_LEVEL\"].value".to_string())
        );
        assert!(
            leaves.contains(
                &".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].containerPort"
                    .to_string()
            )
        );
    }

    #[test]
    fn the_set_an_object_sets_matches_the_server() {
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                    "name": "web", "image": "nginx",
                    "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}]
                }]}}
            }
        });
        let node = Schema::builtin().node("apps", "v1", "Deployment").unwrap();
        let mut set = FieldSet::from_value(&deploy, node);
        set.strip_bookkeeping();
        assert_eq!(set.to_fields_v1(), deployment_fields());
    }

    #[test]
    fn set_lists_and_empty_maps() {
        let cm = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {}});
        let node = Schema::builtin().node("", "v1", "ConfigMap").unwrap();
        let set = FieldSet::from_value(&cm, node);
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}, "f:spec": {}})
        );
        assert!(set.leaves().iter().any(|p| FieldSet::path_string(p) == ".metadata.finalizers[=\"a\"]"));
    }

    #[test]
    fn set_operations() {
        let a = FieldSet::from_fields_v1(
            &json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}),
        )
        .unwrap();
        let b = FieldSet::from_fields_v1(&json!({"f:data": {"f:b": {}, "f:c": {}}})).unwrap();
        assert_eq!(
            a.union(&b).to_fields_v1(),
            json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
        );
        assert_eq!(a.intersection(&b).to_fields_v1(), json!({"f:data": {"f:b": {}}}));
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
        );
        assert!(a.difference(&a).is_empty());
        assert!(!a.is_empty());
        let path = [PathElement::Field("data".into()), PathElement::Field("a".into())];
        assert!(a.contains(&path));
        assert!(!b.contains(&path));
        assert!(a.has_prefix(&path[..1]));
        let mut c = a.clone();
        c.remove(&path);
        assert!(!c.contains(&path));
        c.insert(&path);
        assert_eq!(c, a);
    }

    #[test]
    fn rejects_broken_fields_v1() {
        for bad in [
            json!([1]),
            json!({"x:y": {}}),
            json!({"f:a": 1}),
            json!({"k:notjson": {}}),
            json!({"k:[1]": {}}),
            json!({"i:abc": {}}),
            json!({"f:a": {".": {"f:b": {}}}}),
            json!({"": {}}),
        ] {
            let err = FieldSet::from_fields_v1(&bad).unwrap_err();
            assert!(matches!(err, Error::FieldSet { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn element_round_trip() {
        for s in ["f:a.b/c", "k:{\"name\":\"x\",\"port\":80}", "v:\"a\"", "v:3", "i:4"] {
            assert_eq!(PathElement::parse(s).unwrap().to_string(), s);
        }
        // Keys are canonicalised (sorted, compact).
        assert_eq!(PathElement::parse("k:{ \"b\": 1, \"a\": 2 }").unwrap().to_string(), "k:{\"a\":2,\"b\":1}");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the fields_v1 fuzz target: a key with a float that serde_json's fast float
    /// parsing did not read back to the same value once written.
    #[test]
    fn a_key_with_a_large_number_round_trips() {
        let v: Value = serde_json::from_str(
            r#"{"f:ports":{"k:{\"port\":80,\"n\":88888888888888888888888888888888888888888888880}":{}}}"#,
        )
        .unwrap();
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
    }
}
