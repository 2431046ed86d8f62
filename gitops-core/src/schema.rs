//! The list-merge schema: how each list and map of each kind merges.
//!
//! One table serves three consumers: strategic merge patch (the renderer's patches and the
//! test API server's `PATCH`), server-side apply (the test API server) and the diff (list
//! items matched by key). It is derived from the OpenAPI document a real kube-apiserver
//! v1.36.2 serves, by `gitops-core/schema/derive.py`, into `src/schema/builtin.json`.
//!
//! The schema is a type graph: a cursor ([`Node`]) walks it field by field. Custom
//! resources default to an untyped node (maps granular, lists atomic), unless the caller
//! registers their CRD with [`Schema::add_crd`].
//!
//! ```
//! use gitops_core::schema::{Schema, ListType};
//! let schema = Schema::builtin();
//! let containers = schema.node("apps", "v1", "Deployment").unwrap()
//!     .path(&["spec", "template", "spec", "containers"]).unwrap();
//! let list = containers.list().unwrap();
//! assert_eq!(list.merge_key.as_deref(), Some("name"));
//! assert_eq!(list.list_type, ListType::Map);
//! assert_eq!(list.map_keys, ["name"]);
//! ```

use std::sync::{Arc, OnceLock};

use crate::value::{Map, Value};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::FxHashMap;
use crate::object::Object;

/// How server-side apply treats a list (`x-kubernetes-list-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListType {
    /// Replaced as a whole; one owner.
    Atomic,
    /// Items are scalars merged as a set.
    Set,
    /// Items are maps keyed by [`ListInfo::map_keys`].
    Map,
}

/// What the schema says of one list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListInfo {
    /// `x-kubernetes-patch-merge-key`: the key strategic merge patch matches items by.
    pub merge_key: Option<String>,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys`, `merge,retainKeys` or `replace`.
    pub patch_strategy: Option<String>,
    /// `x-kubernetes-list-type`, atomic when unset.
    pub list_type: ListType,
    /// `x-kubernetes-list-map-keys` for map lists.
    pub map_keys: Vec<String>,
}

impl ListInfo {
    /// Whether strategic merge patch merges this list (strategy `merge`), rather than
    /// replacing it.
    pub fn smp_merges(&self) -> bool {
        self.patch_strategy.as_deref().is_some_and(|s| s.split(',').any(|p| p == "merge"))
    }

    /// The keys that identify an item, for matching items across two versions of a list:
    /// the list-map keys when server-side apply has them, else the patch merge key.
    pub fn item_keys(&self) -> &[String] {
        if self.list_type == ListType::Map && !self.map_keys.is_empty() {
            &self.map_keys
        } else {
            self.merge_key.as_slice()
        }
    }

    /// The atomic list, as custom resources without a schema have.
    pub fn atomic() -> Self {
        Self { merge_key: None, patch_strategy: None, list_type: ListType::Atomic, map_keys: Vec::new() }
    }
}

/// The shape of one node of the type graph.
#[derive(Clone, Debug)]
pub enum Shape {
    /// A string, number, boolean, quantity, time or int-or-string.
    Scalar,
    /// Any JSON: maps granular, lists atomic.
    Untyped,
    /// A struct with known fields.
    Struct {
        /// Field name to node.
        fields: FxHashMap<String, usize>,
        /// `x-kubernetes-map-type: atomic`: replaced as a whole.
        atomic: bool,
    },
    /// A map with free keys (labels, data).
    Map {
        /// The node of the values.
        value: usize,
        /// `x-kubernetes-map-type: atomic`.
        atomic: bool,
    },
    /// A list.
    List {
        /// The node of the items.
        item: usize,
        /// How it merges.
        info: ListInfo,
    },
}

/// A kind the schema knows, with the facts discovery serves about it.
#[derive(Clone, Debug)]
pub struct KindInfo {
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// The plural resource name, as in URLs.
    pub plural: String,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
    /// The verbs the API server offers.
    pub verbs: Vec<String>,
    /// Subresources (`status`, `scale`, ...) with their verbs.
    pub subresources: Vec<(String, Vec<String>)>,
    /// The root node of the kind in the type graph.
    pub root: usize,
    /// The lower-case singular name.
    pub singular: String,
    /// Short names (`deploy`); from a CRD's `spec.names`, empty for built-in kinds.
    pub short_names: Vec<String>,
    /// Categories (`all`); from a CRD's `spec.names`, empty for built-in kinds.
    pub categories: Vec<String>,
    /// Whether the API server serves this version (`served: false` CRD versions are not).
    pub served: bool,
}

/// Builds the type graph of an OpenAPI v2 document's definitions (as `derive.py` does for the
/// built-in one): named definitions once each, so recursive types end.
struct V2Reader<'d> {
    defs: &'d Map<String, Value>,
    shapes: Vec<Shape>,
    memo: FxHashMap<String, usize>,
    depth: usize,
    /// Built-in node to this graph's copy of it.
    imported: FxHashMap<usize, usize>,
}

/// The built-in node of a Kubernetes definition name (`io.k8s.api.core.v1.PodTemplateSpec`),
/// reached from a kind by the path `names.json` gives (made by `schema/names.py`).
fn builtin_definition(name: &str) -> Option<usize> {
    type Route = (String, String, String, Vec<String>);
    static NAMES: OnceLock<FxHashMap<String, Route>> = OnceLock::new();
    let names = NAMES.get_or_init(|| serde_json::from_str(include_str!("schema/names.json")).unwrap_or_default());
    let (group, version, kind, steps) = names.get(name)?;
    let mut node = Schema::builtin().node(group, version, kind)?;
    for step in steps {
        node = match step.as_str() {
            "[]" => node.item()?,
            "{}" => node.field("")?,
            f => node.field(f.strip_prefix("f:")?)?,
        };
    }
    Some(node.id)
}

impl V2Reader<'_> {
    fn push(&mut self, shape: Shape) -> usize {
        self.shapes.push(shape);
        self.shapes.len() - 1
    }

    fn definition(&mut self, name: &str) -> usize {
        if let Some(&id) = self.memo.get(name) {
            return id;
        }
        let Some(def) = self.defs.get(name) else {
            // A name the document does not define may be one of Kubernetes' own, which
            // Kustomize resolves against its built-in schema.
            return builtin_definition(name).map_or(UNTYPED, |id| self.import(id));
        };
        if def.get("properties").is_some() {
            // Reserved before the fields, so a field of the type's own type finds it.
            let id = self.push(Shape::Untyped);
            self.memo.insert(name.to_string(), id);
            self.shapes[id] = self.struct_shape(def);
            return id;
        }
        let id = self.node(def);
        self.memo.insert(name.to_string(), id);
        id
    }

    /// Copies a built-in node and what it reaches into this graph.
    fn import(&mut self, id: usize) -> usize {
        if id == SCALAR || id == UNTYPED {
            return id;
        }
        if let Some(&copy) = self.imported.get(&id) {
            return copy;
        }
        let copy = self.push(Shape::Untyped);
        self.imported.insert(id, copy);
        let shape = match Schema::builtin().shape(id).clone() {
            Shape::Struct { fields, atomic } => {
                Shape::Struct { fields: fields.into_iter().map(|(k, f)| (k, self.import(f))).collect(), atomic }
            }
            Shape::Map { value, atomic } => Shape::Map { value: self.import(value), atomic },
            Shape::List { item, info } => Shape::List { item: self.import(item), info },
            other => other,
        };
        self.shapes[copy] = shape;
        copy
    }

    fn struct_shape(&mut self, s: &Value) -> Shape {
        let mut fields = FxHashMap::default();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let id = self.node(v);
                fields.insert(k.clone(), id);
            }
        }
        Shape::Struct { fields, atomic: s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") }
    }

    fn node(&mut self, s: &Value) -> usize {
        let reference = s.get("$ref").or_else(|| {
            s.get("allOf").and_then(Value::as_array).filter(|a| a.len() == 1).and_then(|a| a[0].get("$ref"))
        });
        if let Some(r) = reference.and_then(Value::as_str) {
            return self.definition(r.rsplit('/').next().unwrap_or(r));
        }
        // Inline schemas nest as deep as the document does; a bound keeps a hostile one finite.
        if self.depth > 64 {
            return UNTYPED;
        }
        self.depth += 1;
        let id = match s.get("type").and_then(Value::as_str) {
            Some("array") => {
                let item = s.get("items").map(|i| self.node(i)).unwrap_or(UNTYPED);
                let text = |k: &str| s.get(k).and_then(Value::as_str).map(String::from);
                let info = ListInfo {
                    merge_key: text("x-kubernetes-patch-merge-key"),
                    patch_strategy: text("x-kubernetes-patch-strategy"),
                    list_type: list_type(s.get("x-kubernetes-list-type").and_then(Value::as_str)),
                    map_keys: list_map_keys(s),
                };
                self.push(Shape::List { item, info })
            }
            Some("object") | None if s.get("properties").is_some() => {
                let shape = self.struct_shape(s);
                self.push(shape)
            }
            Some("object") => match s.get("additionalProperties") {
                Some(ap @ Value::Object(_)) => {
                    let value = self.node(ap);
                    let atomic = s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
                    self.push(Shape::Map { value, atomic })
                }
                _ => UNTYPED,
            },
            None if s.as_object().is_none_or(|m| m.is_empty()) => UNTYPED,
            _ => SCALAR,
        };
        self.depth -= 1;
        id
    }
}

/// The merge schema: a type graph and the kinds that enter it.
#[derive(Clone, Debug)]
pub struct Schema {
    nodes: Arc<Vec<Shape>>,
    extra: Arc<Vec<Shape>>,
    /// Group, then kind, to the versions of the kind (nested so lookups borrow). Shared, as
    /// the shapes are, so that a clone costs no copy until it learns a new kind.
    kinds: Arc<FxHashMap<String, FxHashMap<String, Vec<KindInfo>>>>,
}

/// The value the API server defaults a list-map key field to, when an item leaves it out:
/// ports are keyed by port and protocol, and a missing protocol is `TCP`.
pub fn key_default(field: &str) -> Option<Value> {
    match field {
        "protocol" => Some(Value::String("TCP".into())),
        _ => None,
    }
}

/// Node index of the scalar shape.
pub const SCALAR: usize = 0;
/// Node index of the untyped shape.
pub const UNTYPED: usize = 1;

#[derive(Deserialize)]
struct RawSchema {
    nodes: Vec<RawNode>,
    kinds: Vec<RawKind>,
}

#[derive(Deserialize)]
struct RawNode {
    t: String,
    #[serde(default)]
    f: FxHashMap<String, usize>,
    #[serde(default)]
    a: u8,
    v: Option<usize>,
    i: Option<usize>,
    mk: Option<String>,
    ps: Option<String>,
    lt: Option<String>,
    #[serde(default)]
    lk: Vec<String>,
}

#[derive(Deserialize)]
struct RawKind {
    g: String,
    v: String,
    k: String,
    n: usize,
    r: String,
    ns: bool,
    verbs: Vec<String>,
    sub: std::collections::BTreeMap<String, Vec<String>>,
}

/// A JSON schema's `x-kubernetes-list-map-keys`.
fn list_map_keys(s: &Value) -> Vec<String> {
    s.get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| k.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn list_type(lt: Option<&str>) -> ListType {
    match lt {
        Some("map") => ListType::Map,
        Some("set") => ListType::Set,
        _ => ListType::Atomic,
    }
}

impl Schema {
    /// The schema of the built-in kinds of Kubernetes v1.36, shared and parsed once.
    pub fn builtin() -> &'static Schema {
        static BUILTIN: OnceLock<Schema> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let raw: RawSchema =
                serde_json::from_str(include_str!("schema/builtin.json")).expect("builtin.json is generated and valid");
            let nodes = raw
                .nodes
                .into_iter()
                .map(|n| match n.t.as_str() {
                    "s" => Shape::Scalar,
                    "o" => Shape::Struct { fields: n.f, atomic: n.a == 1 },
                    "m" => Shape::Map { value: n.v.unwrap_or(UNTYPED), atomic: n.a == 1 },
                    // Any JSON, replaced as a whole: an atomic map is what merges treat so.
                    "ua" => Shape::Map { value: UNTYPED, atomic: true },
                    "l" => Shape::List {
                        item: n.i.unwrap_or(UNTYPED),
                        info: ListInfo {
                            merge_key: n.mk,
                            patch_strategy: n.ps,
                            list_type: list_type(n.lt.as_deref()),
                            map_keys: n.lk,
                        },
                    },
                    _ => Shape::Untyped,
                })
                .collect();
            let mut kinds: FxHashMap<String, FxHashMap<String, Vec<KindInfo>>> = FxHashMap::default();
            for k in raw.kinds {
                kinds.entry(k.g.clone()).or_default().entry(k.k.clone()).or_default().push(KindInfo {
                    group: k.g,
                    version: k.v,
                    kind: k.k.clone(),
                    plural: k.r,
                    namespaced: k.ns,
                    verbs: k.verbs,
                    subresources: k.sub.into_iter().collect(),
                    root: k.n,
                    singular: k.k.to_ascii_lowercase(),
                    short_names: Vec::new(),
                    categories: Vec::new(),
                    served: true,
                });
            }
            Schema { nodes: Arc::new(nodes), extra: Arc::default(), kinds: Arc::new(kinds) }
        })
    }

    /// A schema read from an OpenAPI v2 (Swagger) document such as `kubectl get --raw
    /// /openapi/v2` serves, or Kustomize's `openapi: {path: ...}` files hold: every definition
    /// with `x-kubernetes-group-version-kind` becomes a kind, with the list extensions
    /// (`x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`,
    /// `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`) and atomic map types of its
    /// fields, through `$ref`s. It holds only what the document defines (no built-in kinds).
    /// Kinds are namespaced unless the document's paths say otherwise (it is not read for
    /// them).
    pub fn from_openapi_v2(doc: &Value) -> std::result::Result<Schema, String> {
        let defs = doc
            .get("definitions")
            .and_then(Value::as_object)
            .ok_or("expected an OpenAPI v2 document with a \"definitions\" map")?;
        let mut reader = V2Reader {
            defs,
            shapes: vec![Shape::Scalar, Shape::Untyped],
            memo: FxHashMap::default(),
            depth: 0,
            imported: FxHashMap::default(),
        };
        let mut kinds: FxHashMap<String, FxHashMap<String, Vec<KindInfo>>> = FxHashMap::default();
        for (name, def) in defs {
            let Some(gvks) = def.get("x-kubernetes-group-version-kind").and_then(Value::as_array) else { continue };
            let root = reader.definition(name);
            for gvk in gvks {
                let field = |f: &str| gvk.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let (group, version, kind) = (field("group"), field("version"), field("kind"));
                if kind.is_empty() || version.is_empty() {
                    return Err(format!(
                        "definition {name:?}: x-kubernetes-group-version-kind needs a version and a kind"
                    ));
                }
                kinds.entry(group.clone()).or_default().entry(kind.clone()).or_default().push(KindInfo {
                    group,
                    version,
                    singular: kind.to_ascii_lowercase(),
                    plural: String::new(),
                    kind,
                    namespaced: true,
                    verbs: Vec::new(),
                    subresources: Vec::new(),
                    root,
                    short_names: Vec::new(),
                    categories: Vec::new(),
                    served: true,
                });
            }
        }
        Ok(Schema { nodes: Arc::new(reader.shapes), extra: Arc::default(), kinds: Arc::new(kinds) })
    }

    fn shape(&self, id: usize) -> &Shape {
        if id < self.nodes.len() { &self.nodes[id] } else { &self.extra[id - self.nodes.len()] }
    }

    /// Every kind the schema knows.
    pub fn kinds(&self) -> impl Iterator<Item = &KindInfo> {
        self.kinds.values().flat_map(|m| m.values()).flatten()
    }

    /// The facts of a kind at a version; with an unknown version, those of another version
    /// of the same group and kind.
    pub fn kind_info(&self, group: &str, version: &str, kind: &str) -> Option<&KindInfo> {
        let versions = self.kinds.get(group)?.get(kind)?;
        versions.iter().find(|k| k.version == version).or_else(|| versions.first())
    }

    /// The root node of a kind: its schema when known, the untyped node otherwise
    /// (`None` only for an unknown kind, so the caller can tell).
    pub fn node(&self, group: &str, version: &str, kind: &str) -> Option<Node<'_>> {
        self.kind_info(group, version, kind).map(|k| Node { schema: self, id: k.root })
    }

    /// The root node of an object's kind, the untyped node for unknown kinds.
    pub fn node_for(&self, object: &Object) -> Node<'_> {
        self.node(object.group(), object.version(), object.kind()).unwrap_or(Node { schema: self, id: UNTYPED })
    }

    /// The untyped node: maps granular, lists atomic.
    pub fn untyped(&self) -> Node<'_> {
        Node { schema: self, id: UNTYPED }
    }

    /// This schema with `other`'s kinds added; a kind both know (same group, version and
    /// kind) is `other`'s.
    pub fn with_overrides(&self, other: &Schema) -> Schema {
        let mut out = self.clone();
        let offset = out.nodes.len() + out.extra.len() - 2;
        // Node ids of `other` past its scalar and untyped nodes move by `offset`.
        let map = |id: usize| if id < 2 { id } else { id + offset };
        for id in 2..other.nodes.len() + other.extra.len() {
            let shape = match other.shape(id) {
                Shape::Struct { fields, atomic } => Shape::Struct {
                    fields: fields.iter().map(|(k, v)| (k.clone(), map(*v))).collect(),
                    atomic: *atomic,
                },
                Shape::Map { value, atomic } => Shape::Map { value: map(*value), atomic: *atomic },
                Shape::List { item, info } => Shape::List { item: map(*item), info: info.clone() },
                s => s.clone(),
            };
            Arc::make_mut(&mut out.extra).push(shape);
        }
        for info in other.kinds() {
            let versions = Arc::make_mut(&mut out.kinds)
                .entry(info.group.clone())
                .or_default()
                .entry(info.kind.clone())
                .or_default();
            versions.retain(|k| k.version != info.version);
            versions.insert(0, KindInfo { root: map(info.root), ..info.clone() });
        }
        out
    }

    /// Registers the kinds a `CustomResourceDefinition` defines, with the list types and
    /// map keys of each version's `openAPIV3Schema`; returns them (one per version).
    pub fn add_crd(&mut self, crd: &Object) -> Result<Vec<KindInfo>> {
        let name = crd.name().to_string();
        let err = |reason: &str| Error::Schema { crd: name.clone(), reason: reason.into() };
        let spec = crd.get("/spec").ok_or_else(|| err("missing field \"spec\""))?;
        let group = spec.get("group").and_then(Value::as_str).ok_or_else(|| err("missing field \"spec.group\""))?;
        let names = spec.get("names").ok_or_else(|| err("missing field \"spec.names\""))?;
        let kind = names.get("kind").and_then(Value::as_str).ok_or_else(|| err("missing field \"spec.names.kind\""))?;
        let plural =
            names.get("plural").and_then(Value::as_str).ok_or_else(|| err("missing field \"spec.names.plural\""))?;
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let strings = |field: &str| -> Vec<String> {
            names
                .get(field)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let singular = names
            .get("singular")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| kind.to_ascii_lowercase());
        let versions =
            spec.get("versions").and_then(Value::as_array).ok_or_else(|| err("missing field \"spec.versions\""))?;
        let mut infos = Vec::new();
        for v in versions {
            let version = v.get("name").and_then(Value::as_str).ok_or_else(|| err("a version has no name"))?;
            let root = match v.pointer("/schema/openAPIV3Schema") {
                Some(s) => self.add_json_schema(s),
                None => UNTYPED,
            };
            let mut subresources = Vec::new();
            if let Some(sub) = v.get("subresources").and_then(Value::as_object) {
                for name in sub.keys() {
                    let verbs = ["get", "patch", "update"].map(String::from).to_vec();
                    subresources.push((name.clone(), verbs));
                }
            }
            infos.push(KindInfo {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                namespaced,
                verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                    .map(String::from)
                    .to_vec(),
                subresources,
                root,
                singular: singular.clone(),
                short_names: strings("shortNames"),
                categories: strings("categories"),
                served: v.get("served").and_then(Value::as_bool) != Some(false),
            });
        }
        Arc::make_mut(&mut self.kinds).entry(group.into()).or_default().insert(kind.into(), infos.clone());
        Ok(infos)
    }

    fn push(&mut self, shape: Shape) -> usize {
        Arc::make_mut(&mut self.extra).push(shape);
        self.nodes.len() + self.extra.len() - 1
    }

    fn add_json_schema(&mut self, s: &Value) -> usize {
        let preserve = s.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
            return SCALAR;
        }
        match s.get("type").and_then(Value::as_str) {
            Some("array") => {
                let item = s.get("items").map(|i| self.add_json_schema(i)).unwrap_or(UNTYPED);
                let info = ListInfo {
                    merge_key: None,
                    patch_strategy: None,
                    list_type: list_type(s.get("x-kubernetes-list-type").and_then(Value::as_str)),
                    map_keys: list_map_keys(s),
                };
                self.push(Shape::List { item, info })
            }
            Some("object") | None if s.get("properties").is_some() => {
                let atomic = s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
                let mut fields = FxHashMap::default();
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, v) in props {
                        let id = self.add_json_schema(v);
                        fields.insert(k.clone(), id);
                    }
                }
                if preserve {
                    // Known fields typed, the rest untyped: approximate with a struct.
                }
                self.push(Shape::Struct { fields, atomic })
            }
            Some("object") => {
                let atomic = s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
                let value = match s.get("additionalProperties") {
                    Some(ap @ Value::Object(_)) => self.add_json_schema(ap),
                    _ => UNTYPED,
                };
                if value == UNTYPED && !atomic {
                    return UNTYPED;
                }
                self.push(Shape::Map { value, atomic })
            }
            _ => SCALAR,
        }
    }

    /// Every list reachable from a kind's root, as `(dotted path, info)` with `[]` for list
    /// items (`spec.template.spec.containers[].ports`). Recursive types are cut at the
    /// first repetition.
    pub fn list_paths(&self, group: &str, version: &str, kind: &str) -> Vec<(String, ListInfo)> {
        let mut out = Vec::new();
        if let Some(root) = self.node(group, version, kind) {
            let mut stack = Vec::new();
            self.walk_lists(root.id, String::new(), &mut stack, &mut out);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn walk_lists(&self, id: usize, path: String, stack: &mut Vec<usize>, out: &mut Vec<(String, ListInfo)>) {
        if stack.contains(&id) {
            return;
        }
        stack.push(id);
        match self.shape(id) {
            Shape::Struct { fields, .. } => {
                for (name, child) in fields {
                    let p = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    self.walk_lists(*child, p, stack, out);
                }
            }
            Shape::Map { value, .. } => self.walk_lists(*value, format!("{path}.*"), stack, out),
            Shape::List { item, info } => {
                out.push((path.clone(), info.clone()));
                self.walk_lists(*item, format!("{path}[]"), stack, out);
            }
            Shape::Scalar | Shape::Untyped => {}
        }
        stack.pop();
    }
}

/// A cursor into the type graph.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    schema: &'a Schema,
    id: usize,
}

impl<'a> Node<'a> {
    /// The shape of this node.
    pub fn shape(&self) -> &'a Shape {
        self.schema.shape(self.id)
    }

    /// The node's index in the graph.
    pub fn id(&self) -> usize {
        self.id
    }

    fn at(&self, id: usize) -> Node<'a> {
        Node { schema: self.schema, id }
    }

    /// The node of a map field or map value. Untyped stays untyped; a scalar or list has
    /// no fields (`None`).
    pub fn field(&self, name: &str) -> Option<Node<'a>> {
        match self.shape() {
            Shape::Struct { fields, .. } => Some(fields.get(name).map(|&id| self.at(id)).unwrap_or(self.at(UNTYPED))),
            Shape::Map { value, .. } => Some(self.at(*value)),
            Shape::Untyped => Some(*self),
            Shape::Scalar | Shape::List { .. } => None,
        }
    }

    /// The node of a list's items.
    pub fn item(&self) -> Option<Node<'a>> {
        match self.shape() {
            Shape::List { item, .. } => Some(self.at(*item)),
            Shape::Untyped => Some(*self),
            _ => None,
        }
    }

    /// Follows field names from this node.
    pub fn path(&self, fields: &[&str]) -> Option<Node<'a>> {
        let mut node = *self;
        for f in fields {
            node = match node.shape() {
                Shape::List { .. } => node.item()?.field(f)?,
                _ => node.field(f)?,
            };
        }
        Some(node)
    }

    /// The list facts of this node: `Some` for a typed list, the atomic default for an
    /// untyped node, `None` for anything else.
    pub fn list(&self) -> Option<ListInfo> {
        match self.shape() {
            Shape::List { info, .. } => Some(info.clone()),
            Shape::Untyped => Some(ListInfo::atomic()),
            _ => None,
        }
    }

    /// The list facts of this node without cloning, `None` for untyped nodes.
    pub fn list_ref(&self) -> Option<&'a ListInfo> {
        match self.shape() {
            Shape::List { info, .. } => Some(info),
            _ => None,
        }
    }

    /// Whether this node is replaced as a whole: an atomic struct or map, a scalar, or an
    /// atomic list.
    pub fn is_atomic(&self) -> bool {
        match self.shape() {
            Shape::Struct { atomic, .. } | Shape::Map { atomic, .. } => *atomic,
            Shape::List { info, .. } => info.list_type == ListType::Atomic,
            Shape::Scalar => true,
            Shape::Untyped => false,
        }
    }

    /// Whether the node is untyped.
    pub fn is_untyped(&self) -> bool {
        matches!(self.shape(), Shape::Untyped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_at(group: &str, version: &str, kind: &str, path: &[&str]) -> ListInfo {
        Schema::builtin().node(group, version, kind).unwrap().path(path).unwrap().list().unwrap()
    }

    #[test]
    fn pod_template_lists_in_every_workload() {
        let templates: [(&str, &str, &[&str]); 7] = [
            ("", "Pod", &["spec"]),
            ("apps", "Deployment", &["spec", "template", "spec"]),
            ("apps", "StatefulSet", &["spec", "template", "spec"]),
            ("apps", "DaemonSet", &["spec", "template", "spec"]),
            ("apps", "ReplicaSet", &["spec", "template", "spec"]),
            ("batch", "Job", &["spec", "template", "spec"]),
            ("batch", "CronJob", &["spec", "jobTemplate", "spec", "template", "spec"]),
        ];
        for (group, kind, pod) in templates {
            let spec = Schema::builtin().node(group, "v1", kind).unwrap().path(pod).unwrap();
            for list in ["containers", "initContainers", "volumes", "imagePullSecrets"] {
                let info = spec.field(list).unwrap().list().unwrap();
                assert_eq!(info.merge_key.as_deref(), Some("name"), "{kind} {list}");
            }
            let c = spec.path(&["containers"]).unwrap();
            let ports = c.path(&["ports"]).unwrap().list().unwrap();
            assert_eq!(ports.merge_key.as_deref(), Some("containerPort"), "{kind}");
            assert_eq!(ports.map_keys, ["containerPort", "protocol"]);
            assert_eq!(c.path(&["env"]).unwrap().list().unwrap().merge_key.as_deref(), Some("name"));
            assert_eq!(c.path(&["volumeMounts"]).unwrap().list().unwrap().merge_key.as_deref(), Some("mountPath"));
            assert_eq!(c.path(&["args"]).unwrap().list().unwrap().list_type, ListType::Atomic);
            assert!(spec.path(&["tolerations"]).unwrap().list().unwrap().merge_key.is_none());
        }
    }

    #[test]
    fn other_kinds() {
        let ports = list_at("", "v1", "Service", &["spec", "ports"]);
        assert_eq!(ports.merge_key.as_deref(), Some("port"));
        assert_eq!(ports.map_keys, ["port", "protocol"]);
        let subjects = list_at("rbac.authorization.k8s.io", "v1", "RoleBinding", &["subjects"]);
        assert_eq!(subjects.list_type, ListType::Atomic);
        let rules = list_at("rbac.authorization.k8s.io", "v1", "ClusterRole", &["rules"]);
        assert_eq!(rules.list_type, ListType::Atomic);
        let secrets = list_at("", "v1", "ServiceAccount", &["secrets"]);
        assert_eq!(secrets.merge_key.as_deref(), Some("name"));
        let tls = list_at("networking.k8s.io", "v1", "Ingress", &["spec", "tls"]);
        assert_eq!(tls.list_type, ListType::Atomic);
        let finalizers = list_at("", "v1", "ConfigMap", &["metadata", "finalizers"]);
        assert_eq!(finalizers.list_type, ListType::Set);
        assert!(finalizers.smp_merges());
        let metrics = list_at("autoscaling", "v2", "HorizontalPodAutoscaler", &["spec", "metrics"]);
        assert_eq!(metrics.list_type, ListType::Atomic);
        let conds = list_at("policy", "v1", "PodDisruptionBudget", &["status", "conditions"]);
        assert_eq!(conds.map_keys, ["type"]);
        let ingress = list_at("networking.k8s.io", "v1", "NetworkPolicy", &["spec", "ingress"]);
        assert_eq!(ingress.list_type, ListType::Atomic);
        let modes = list_at("", "v1", "PersistentVolumeClaim", &["spec", "accessModes"]);
        assert_eq!(modes.list_type, ListType::Atomic);
        let versions = list_at("apiextensions.k8s.io", "v1", "CustomResourceDefinition", &["spec", "versions"]);
        assert_eq!(versions.list_type, ListType::Atomic);
        let vct = list_at("apps", "v1", "StatefulSet", &["spec", "volumeClaimTemplates"]);
        assert_eq!(vct.list_type, ListType::Atomic);
    }

    #[test]
    fn atomic_maps_and_kind_facts() {
        let s = Schema::builtin();
        let selector = s.node("apps", "v1", "Deployment").unwrap().path(&["spec", "selector"]).unwrap();
        assert!(selector.is_atomic());
        let labels = s.node("apps", "v1", "Deployment").unwrap().path(&["metadata", "labels"]).unwrap();
        assert!(!labels.is_atomic());
        let ns = s.kind_info("", "v1", "Namespace").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.plural, "namespaces");
        let deploy = s.kind_info("apps", "v1", "Deployment").unwrap();
        assert!(deploy.namespaced);
        assert!(deploy.subresources.iter().any(|(s, verbs)| s == "status" && verbs.len() == 3));
        assert!(s.node("example.com", "v1", "Widget").is_none());
    }

    #[test]
    fn list_paths_cover_recursive_types() {
        let paths = Schema::builtin().list_paths("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
        assert!(paths.iter().any(|(p, _)| p == "spec.versions"));
        let deploy = Schema::builtin().list_paths("apps", "v1", "Deployment");
        assert!(
            deploy.iter().any(|(p, i)| p == "spec.template.spec.containers" && i.merge_key.as_deref() == Some("name"))
        );
    }

    #[test]
    fn openapi_v2_documents() {
        let doc = crate::json!({"definitions": {
            "v1.Runner": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "ci.example.com", "version": "v1", "kind": "Runner"}],
                "properties": {
                    "spec": {"type": "object", "properties": {
                        "steps": {"type": "array", "items": {"$ref": "#/definitions/v1.Step"},
                                  "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
                        "ports": {"type": "array", "items": {"type": "object"},
                                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                                   "x-kubernetes-map-type": "atomic"}}}}},
            "v1.Step": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/v1.Step"},
                             "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}}
        }});
        let schema = Schema::from_openapi_v2(&doc).unwrap();
        let root = schema.node("ci.example.com", "v1", "Runner").unwrap();
        let steps = root.path(&["spec", "steps"]).unwrap().list().unwrap();
        assert_eq!((steps.merge_key.as_deref(), steps.smp_merges()), (Some("name"), true));
        // A recursive type ends: a step's children are steps.
        let children = root.path(&["spec", "steps", "children", "children"]).unwrap().list().unwrap();
        assert_eq!(children.merge_key.as_deref(), Some("name"));
        let ports = root.path(&["spec", "ports"]).unwrap().list().unwrap();
        assert_eq!((ports.list_type, ports.map_keys.clone()), (ListType::Map, vec!["port".to_string()]));
        assert!(root.path(&["spec", "labels"]).unwrap().is_atomic());
        // Only what the document defines.
        assert!(schema.node("apps", "v1", "Deployment").is_none());
        // Broken documents are refused with the reason.
        assert!(Schema::from_openapi_v2(&crate::json!({"swagger": "2.0"})).unwrap_err().contains("definitions"));
        // Over the built-in kinds: both, the document's first.
        let both = Schema::builtin().with_overrides(&schema);
        let steps =
            both.node("ci.example.com", "v1", "Runner").unwrap().path(&["spec", "steps"]).unwrap().list().unwrap();
        assert_eq!(steps.merge_key.as_deref(), Some("name"));
        let containers =
            both.node("apps", "v1", "Deployment").unwrap().path(&["spec", "template", "spec", "containers"]);
        assert_eq!(containers.unwrap().list().unwrap().merge_key.as_deref(), Some("name"));
        let bad = crate::json!({"definitions": {"x": {"x-kubernetes-group-version-kind": [{"group": "g"}]}}});
        assert!(Schema::from_openapi_v2(&bad).unwrap_err().contains("\"x\""));
    }

    #[test]
    fn openapi_documents_may_refer_to_kubernetes_definitions() {
        // A custom kind whose template is Kubernetes' own PodTemplateSpec, which the document
        // names but does not define.
        let doc = crate::json!({"definitions": {"example.com.v1.Thing": {
            "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Thing"}],
            "properties": {"spec": {"properties": {
                "template": {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"},
                "volume": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMapVolumeSource"},
                "other": {"$ref": "#/definitions/not.a.Definition"}}}}}}});
        let schema = Schema::from_openapi_v2(&doc).unwrap();
        let thing = schema.node("example.com", "v1", "Thing").unwrap();
        let containers = thing.path(&["spec", "template", "spec", "containers"]).unwrap().list().unwrap();
        assert_eq!(containers.merge_key.as_deref(), Some("name"));
        let items = thing.path(&["spec", "volume", "items"]).unwrap().list().unwrap();
        assert_eq!(items.list_type, ListType::Atomic);
        assert!(thing.path(&["spec", "other"]).unwrap().is_untyped());
        // Recursive built-in types are copied once.
        let props = crate::json!({"definitions": {"example.com.v1.S": {
            "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "S"}],
            "properties": {"schema": {"$ref": "#/definitions/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"}}}}});
        let s = Schema::from_openapi_v2(&props).unwrap();
        let node = s.node("example.com", "v1", "S").unwrap();
        assert!(node.path(&["schema", "properties", "x", "properties", "y", "type"]).is_some());
    }

    #[test]
    fn custom_resources_from_crds() {
        let crd: Object = crate::yaml::parse_objects(
            r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items: {type: object, properties: {name: {type: string}, port: {type: integer}}}
              tags: {type: array, x-kubernetes-list-type: set, items: {type: string}}
              args: {type: array, items: {type: string}}
"#,
            "crd",
            &Default::default(),
        )
        .unwrap()
        .remove(0);
        let mut schema = Schema::builtin().clone();
        schema.add_crd(&crd).unwrap();
        let spec = schema.node("example.com", "v1", "Widget").unwrap().path(&["spec"]).unwrap();
        assert_eq!(spec.field("ports").unwrap().list().unwrap().map_keys, ["name"]);
        assert_eq!(spec.field("tags").unwrap().list().unwrap().list_type, ListType::Set);
        assert_eq!(spec.field("args").unwrap().list().unwrap().list_type, ListType::Atomic);
        assert!(schema.kind_info("example.com", "v1", "Widget").unwrap().namespaced);
        let mut broken = crd.clone();
        broken.remove("/spec/names");
        assert!(schema.add_crd(&broken).unwrap_err().to_string().contains("spec.names"));
        // Without the CRD, lists are atomic and maps granular.
        let untyped = Schema::builtin().untyped();
        assert_eq!(untyped.path(&["spec", "ports"]).unwrap().list().unwrap().list_type, ListType::Atomic);
    }
}
