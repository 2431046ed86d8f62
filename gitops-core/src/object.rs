//! `Object`, a Kubernetes manifest held as JSON data, and `ObjectKey`, its identity.

use std::fmt;
use std::str::FromStr;

use crate::value::{Map, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Splits an `apiVersion` into group and version: `apps/v1` is `("apps", "v1")`,
/// `v1` is `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    // A byte scan: `split_once` builds a character searcher, several times the cost on these
    // short texts, and the group and version are asked for many times per resource.
    match api_version.bytes().position(|b| b == b'/') {
        Some(i) => (&api_version[..i], &api_version[i + 1..]),
        None => ("", api_version),
    }
}

/// Splits a container image reference into name, tag and digest:
/// `registry:5000/team/app:1.2@sha256:ab` is (`registry:5000/team/app`, `1.2`, `sha256:ab`).
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// The annotation `kubectl apply` (client-side) keeps the last applied configuration in: not
/// part of what an object says, so diffs and sealing leave it out.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One image override, as Kustomize's `images` entries and `kustomize edit set image`
/// arguments say it: containers whose image name is `name` get `new_name` (when set) and the
/// new tag and/or digest (when neither is set, the old ones stay).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageOverride {
    /// The image name to match.
    pub name: String,
    /// The new name, when it changes.
    pub new_name: Option<String>,
    /// The new tag.
    pub new_tag: Option<String>,
    /// The new digest.
    pub digest: Option<String>,
}

impl ImageOverride {
    /// Parses `name=newName:tag`, `name=newName@digest`, `name:tag`, `name@digest`,
    /// `name=newName` (the `kustomize edit set image` and Argo CD `kustomize.images` form).
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let (name, image) = match spec.split_once('=') {
            Some((n, i)) => (n.to_string(), i),
            None => (split_image(spec).0.to_string(), spec),
        };
        if name.is_empty() || image.is_empty() {
            return Err("expected NAME=IMAGE[:TAG|@DIGEST] or IMAGE[:TAG|@DIGEST]".into());
        }
        if image.chars().any(char::is_whitespace) || name.chars().any(char::is_whitespace) {
            return Err("image names cannot contain whitespace".into());
        }
        let (new_name, tag, digest) = split_image(image);
        let new_name = (new_name != name).then(|| new_name.to_string());
        Ok(Self { name, new_name, new_tag: tag.map(String::from), digest: digest.map(String::from) })
    }

    /// The image this override makes of `image`, `None` when the name does not match.
    pub fn rewrite(&self, image: &str) -> Option<String> {
        let (name, tag, digest) = split_image(image);
        if name != self.name {
            return None;
        }
        let (tag, digest) = match (self.new_tag.as_deref(), self.digest.as_deref()) {
            (None, None) => (tag, digest),
            set => set,
        };
        let mut out = self.new_name.as_deref().unwrap_or(name).to_string();
        if let Some(t) = tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = digest {
            out.push('@');
            out.push_str(d);
        }
        Some(out)
    }
}

/// Applies image overrides to every `containers` and `initContainers` list anywhere in an
/// object, as Kustomize's images transformer does (the first matching override wins).
pub fn override_images(v: &mut Value, overrides: &[ImageOverride]) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if matches!(k.as_str(), "containers" | "initContainers")
                    && let Value::Array(items) = child
                {
                    for c in items.iter_mut() {
                        if let Some(Value::String(image)) = c.get_mut("image")
                            && let Some(new) = overrides.iter().find_map(|o| o.rewrite(image))
                        {
                            *image = new;
                        }
                    }
                }
                override_images(child, overrides);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| override_images(i, overrides)),
        _ => {}
    }
}

/// [`override_images`] over objects, from `kustomize edit set image` arguments (those that do
/// not parse are left out: callers check them first).
pub fn override_object_images(objects: &mut [Object], args: &[String]) {
    let parsed: Vec<ImageOverride> = args.iter().filter_map(|a| ImageOverride::parse(a).ok()).collect();
    if parsed.is_empty() {
        return;
    }
    for o in objects {
        override_images(o.as_value_mut(), &parsed);
    }
}

/// A group, version and kind: what `apiVersion` and `kind` say together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for the core group.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// Builds a GVK from its parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self { group: group.into(), version: version.into(), kind: kind.into() }
    }

    /// Builds a GVK from an `apiVersion` and a `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        Self::new(group, version, kind)
    }

    /// The `apiVersion` string: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// The identity of an object: group, kind, namespace and name.
///
/// The version is left out on purpose: `apps/v1` and `apps/v1beta1` Deployments of the
/// same name are the same object to the API server. Cluster-scoped objects have an empty
/// namespace. The text form is `group/kind/namespace/name` with the core group written
/// empty, as in `apps/Deployment/payments-prod/api` or `/Service/ns/name`.
///
/// ```
/// use gitops_core::ObjectKey;
/// let key: ObjectKey = "apps/Deployment/payments-prod/api".parse().unwrap();
/// assert_eq!(key.kind, "Deployment");
/// assert_eq!(key.to_string(), "apps/Deployment/payments-prod/api");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key from its parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self { group: group.into(), kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }

    /// Whether the object is namespaced (has a namespace in its key).
    pub fn is_namespaced(&self) -> bool {
        !self.namespace.is_empty()
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.group, self.kind, self.namespace, self.name)
    }
}

impl FromStr for ObjectKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let err = |reason: &str| Error::InvalidKey { input: s.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 4 {
            return Err(err("expected group/kind/namespace/name (the core group is written empty)"));
        }
        if parts[1].is_empty() {
            return Err(err("the kind is empty"));
        }
        if parts[3].is_empty() {
            return Err(err("the name is empty"));
        }
        Ok(ObjectKey::new(parts[0], parts[1], parts[2], parts[3]))
    }
}

/// A Kubernetes manifest held as JSON data, with typed accessors.
///
/// The value is always a JSON object. Accessors return `""` or `None` for missing fields;
/// [`Object::from_value`] checks that `apiVersion`, `kind` and `metadata.name` (or
/// `metadata.generateName`) are present.
///
/// ```
/// use gitops_core::Object;
/// let mut cm = Object::new("v1", "ConfigMap", "settings");
/// cm.set_namespace("dev");
/// cm.set("/data/color", "blue".into()).unwrap();
/// assert_eq!(cm.get("/data/color").unwrap(), "blue");
/// assert_eq!(cm.key().to_string(), "/ConfigMap/dev/settings");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Object(Value);

impl TryFrom<Value> for Object {
    type Error = Error;

    fn try_from(value: Value) -> Result<Self> {
        Object::from_value(value)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Value {
        object.0
    }
}

fn str_at<'a>(value: &'a Value, a: &str, b: Option<&str>) -> &'a str {
    let v = value.get(a);
    let v = match b {
        Some(b) => v.and_then(|v| v.get(b)),
        None => v,
    };
    v.and_then(Value::as_str).unwrap_or("")
}

impl Object {
    /// A new object with `apiVersion`, `kind` and `metadata.name` set.
    pub fn new(api_version: &str, kind: &str, name: &str) -> Self {
        // Built in place (keys in order): `json!` would build a serde_json value and convert it.
        let metadata = Map::from_entries(vec![("name".into(), name.into())]);
        Object(Value::Object(Map::from_entries(vec![
            ("apiVersion".into(), api_version.into()),
            ("kind".into(), kind.into()),
            ("metadata".into(), Value::Object(metadata)),
        ])))
    }

    /// Wraps a JSON value, checking that it is a mapping with `apiVersion`, `kind` and
    /// `metadata.name` (or `metadata.generateName`) as non-empty strings.
    pub fn from_value(value: Value) -> Result<Self> {
        Self::checked(value, true)
    }

    /// As [`Object::from_value`], but an `apiVersion` may be missing, as Kustomize accepts
    /// for resources only its own transformers touch.
    pub fn from_value_without_api_version(value: Value) -> Result<Self> {
        Self::checked(value, false)
    }

    fn checked(value: Value, require_api_version: bool) -> Result<Self> {
        // Without a required apiVersion, the object is read as Kustomize reads it.
        validate(&value, require_api_version, !require_api_version).map_err(|message| Error::InvalidObject {
            source_name: "<value>".into(),
            document: 0,
            location: None,
            message,
        })?;
        Ok(Object(value))
    }

    /// Wraps a JSON value without checking it. The value must be a JSON object.
    pub fn from_value_unchecked(value: Value) -> Self {
        debug_assert!(value.is_object());
        Object(value)
    }

    /// The JSON value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The JSON value, mutable.
    pub fn as_value_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    /// The JSON value, owned.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// `apiVersion`, such as `apps/v1`.
    pub fn api_version(&self) -> &str {
        str_at(&self.0, "apiVersion", None)
    }

    /// The API group, empty for the core group.
    pub fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    /// The API version without the group, such as `v1`.
    pub fn version(&self) -> &str {
        split_api_version(self.api_version()).1
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        str_at(&self.0, "kind", None)
    }

    /// Group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::from_api_version(self.api_version(), self.kind())
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        str_at(&self.0, "metadata", Some("name"))
    }

    /// `metadata.namespace`, empty when unset.
    pub fn namespace(&self) -> &str {
        str_at(&self.0, "metadata", Some("namespace"))
    }

    /// The identity of the object.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.group(), self.kind(), self.namespace(), self.name())
    }

    /// `metadata.labels`, if present.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.0.get("metadata")?.get("labels")?.as_object()
    }

    /// `metadata.annotations`, if present.
    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.0.get("metadata")?.get("annotations")?.as_object()
    }

    /// One label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key)?.as_str()
    }

    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations()?.get(key)?.as_str()
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let root = self.root_mut();
        let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("metadata is an object")
    }

    fn root_mut(&mut self) -> &mut Map<String, Value> {
        if !self.0.is_object() {
            self.0 = Value::Object(Map::new());
        }
        self.0.as_object_mut().expect("object root")
    }

    fn string_map_mut(&mut self, field: &str) -> &mut Map<String, Value> {
        let meta = self.metadata_mut();
        let map = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        map.as_object_mut().expect("map is an object")
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut().insert("name".into(), name.into());
    }

    /// Sets `metadata.namespace`; an empty string removes it.
    pub fn set_namespace(&mut self, namespace: &str) {
        if namespace.is_empty() {
            self.metadata_mut().remove("namespace");
        } else {
            self.metadata_mut().insert("namespace".into(), namespace.into());
        }
    }

    /// Sets one label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        self.string_map_mut("labels").insert(key.into(), value.into());
    }

    /// Sets one annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.string_map_mut("annotations").insert(key.into(), value.into());
    }

    /// Removes one annotation, returning its value.
    pub fn remove_annotation(&mut self, key: &str) -> Option<Value> {
        let meta = self.0.get_mut("metadata")?.as_object_mut()?;
        let annotations = meta.get_mut("annotations")?.as_object_mut()?;
        let old = annotations.remove(key);
        if annotations.is_empty() {
            meta.remove("annotations");
        }
        old
    }

    /// The value at a JSON pointer (RFC 6901), such as `/spec/replicas`.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.0.pointer(pointer)
    }

    /// Sets the value at a JSON pointer, creating the maps on the way. A list index
    /// must exist already, or be `-` to append.
    pub fn set(&mut self, pointer: &str, value: Value) -> Result<()> {
        let tokens = parse_pointer(pointer)?;
        let Some((last, parents)) = tokens.split_last() else {
            return Err(path_err(pointer, "cannot replace the whole object"));
        };
        let mut cur = &mut self.0;
        for token in parents {
            cur = match cur {
                Value::Object(map) => map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => {
                    let i = list_index(pointer, token, items.len())?;
                    &mut items[i]
                }
                Value::Null => {
                    *cur = Value::Object(Map::new());
                    cur.as_object_mut().expect("just set").entry(token.clone()).or_insert(Value::Null)
                }
                _ => return Err(path_err(pointer, &format!("{token:?} is under a scalar"))),
            };
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
        }
        match cur {
            Value::Object(map) => {
                map.insert(last.clone(), value);
                Ok(())
            }
            Value::Array(items) => {
                if last == "-" {
                    items.push(value);
                } else {
                    let i = list_index(pointer, last, items.len())?;
                    items[i] = value;
                }
                Ok(())
            }
            _ => Err(path_err(pointer, "the parent is a scalar")),
        }
    }

    /// Removes the value at a JSON pointer, returning it.
    pub fn remove(&mut self, pointer: &str) -> Option<Value> {
        let tokens = parse_pointer(pointer).ok()?;
        let (last, parents) = tokens.split_last()?;
        let mut cur = &mut self.0;
        for token in parents {
            cur = match cur {
                Value::Object(map) => map.get_mut(token)?,
                Value::Array(items) => items.get_mut(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        match cur {
            Value::Object(map) => map.remove(last),
            Value::Array(items) => {
                let i = last.parse::<usize>().ok()?;
                (i < items.len()).then(|| items.remove(i))
            }
            _ => None,
        }
    }
}

fn path_err(pointer: &str, reason: &str) -> Error {
    Error::Path { path: pointer.into(), reason: reason.into() }
}

fn list_index(pointer: &str, token: &str, len: usize) -> Result<usize> {
    let i: usize = token.parse().map_err(|_| path_err(pointer, &format!("{token:?} is not a list index")))?;
    if i >= len {
        return Err(path_err(pointer, &format!("index {i} is out of range (the list has {len} items)")));
    }
    Ok(i)
}

/// Splits a JSON pointer into unescaped tokens (`~1` is `/`, `~0` is `~`).
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>> {
    let tokens =
        crate::value::pointer_tokens(pointer).ok_or_else(|| path_err(pointer, "a JSON pointer starts with '/'"))?;
    Ok(tokens.map(std::borrow::Cow::into_owned).collect())
}

/// The fields of ObjectMeta (metav1), in Go struct order: what typed decoding keeps of
/// `metadata`, and the order Go writes them in.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Escapes one token for a JSON pointer.
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Checks the fields every object needs; the message names the missing field.
/// With `scalar_labels`, a label value may be a number, boolean or null, as Kustomize reads
/// one.
pub(crate) fn validate(
    value: &Value,
    require_api_version: bool,
    scalar_labels: bool,
) -> std::result::Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("expected a mapping (an object), found {}", type_name(value)));
    };
    for field in ["apiVersion", "kind"] {
        if field == "apiVersion" && !require_api_version && matches!(map.get(field), None | Some(Value::Null)) {
            continue;
        }
        match map.get(field) {
            None | Some(Value::Null) => return Err(format!("missing field {field:?}")),
            Some(Value::String(s)) if s.is_empty() => return Err(format!("field {field:?} is empty")),
            Some(Value::String(_)) => {}
            Some(other) => return Err(format!("field {field:?} must be a string, found {}", type_name(other))),
        }
    }
    let meta = match map.get("metadata") {
        None | Some(Value::Null) => return Err("missing field \"metadata\"".into()),
        Some(Value::Object(meta)) => meta,
        Some(other) => return Err(format!("field \"metadata\" must be a mapping, found {}", type_name(other))),
    };
    let has = |f: &str| matches!(meta.get(f), Some(Value::String(s)) if !s.is_empty());
    if !has("name") && !has("generateName") {
        return Err(match meta.get("name") {
            Some(v) if !v.is_null() && !v.is_string() => {
                format!("field \"metadata.name\" must be a string, found {}", type_name(v))
            }
            _ => "missing field \"metadata.name\"".into(),
        });
    }
    if let Some(ns) = meta.get("namespace")
        && !ns.is_string()
        && !ns.is_null()
    {
        return Err(format!("field \"metadata.namespace\" must be a string, found {}", type_name(ns)));
    }
    for f in ["labels", "annotations"] {
        if let Some(v) = meta.get(f) {
            match v {
                Value::Null => {}
                Value::Object(m) => {
                    let allowed = |v: &Value| {
                        v.is_string() || (scalar_labels && f == "labels" && !v.is_array() && !v.is_object())
                    };
                    if let Some((k, v)) = m.iter().find(|(_, v)| !allowed(v)) {
                        return Err(format!("field \"metadata.{f}.{k}\" must be a string, found {}", type_name(v)));
                    }
                }
                other => return Err(format!("field \"metadata.{f}\" must be a mapping, found {}", type_name(other))),
            }
        }
    }
    Ok(())
}

/// The text a YAML scalar was written as, the way Kustomize (kyaml) compares and copies
/// scalars: a string itself, a number or boolean as written, a null as "". `None` for a list
/// or mapping.
pub fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        Value::Null => Some("".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A short name of a JSON value's type, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn api_versions_split_at_their_first_slash() {
        for text in
            ["apps/v1", "v1", "", "/", "a/", "/v1", "a/b/c", "é/v1", "grp/vé", "kustomize.config.k8s.io/v1beta1"]
        {
            let want = text.split_once('/').unwrap_or(("", text));
            assert_eq!(split_api_version(text), want, "{text:?}");
        }
    }

    #[test]
    fn kustomize_images_override_as_argo_cd_does() {
        // What a renderer that is not Kustomize does with an Application's kustomize.images.
        let mut objects = vec![
            Object::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "web", "image": "registry.example.com/web:1.2.3"},
                               {"name": "side", "image": "envoy:1.30@sha256:abc"}]}}}}))
            .unwrap(),
        ];
        override_object_images(
            &mut objects,
            &[
                "registry.example.com/web=registry.example.com/web:1.2.4".into(),
                "busybox:1.37".into(),
                "envoy=mirror/envoy".into(),
            ],
        );
        let v = objects[0].as_value();
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/web:1.2.4");
        assert_eq!(v["spec"]["template"]["spec"]["initContainers"][0]["image"], "busybox:1.37");
        assert_eq!(v["spec"]["template"]["spec"]["containers"][1]["image"], "mirror/envoy:1.30@sha256:abc");
    }

    #[test]
    fn image_references() {
        assert_eq!(split_image("nginx"), ("nginx", None, None));
        assert_eq!(
            split_image("registry:5000/team/app:1.2@sha256:ab"),
            ("registry:5000/team/app", Some("1.2"), Some("sha256:ab"))
        );
        assert_eq!(split_image("registry:5000/app"), ("registry:5000/app", None, None));
    }

    #[test]
    fn key_round_trips() {
        for s in
            ["apps/Deployment/payments-prod/api", "/Service/ns/name", "rbac.authorization.k8s.io/ClusterRole//admin"]
        {
            let key: ObjectKey = s.parse().unwrap();
            assert_eq!(key.to_string(), s);
        }
        let key: ObjectKey = "/Service/ns/name".parse().unwrap();
        assert_eq!(key, ObjectKey::new("", "Service", "ns", "name"));
    }

    #[test]
    fn key_rejects_bad_input() {
        for s in ["", "a/b/c", "a/b/c/d/e", "apps//ns/name", "apps/Deployment/ns/"] {
            let err = s.parse::<ObjectKey>().unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{s}: {err}");
        }
    }

    #[test]
    fn key_orders_by_group_kind_namespace_name() {
        let mut keys: Vec<ObjectKey> = ["apps/Deployment/b/x", "/Service/a/y", "apps/Deployment/a/z", "/ConfigMap/a/x"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        keys.sort();
        let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["/ConfigMap/a/x", "/Service/a/y", "apps/Deployment/a/z", "apps/Deployment/b/x"]);
    }

    #[test]
    fn accessors() {
        let o = Object::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "prod", "labels": {"app": "api"}, "annotations": {"a": "b"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .unwrap();
        assert_eq!(o.group(), "apps");
        assert_eq!(o.version(), "v1");
        assert_eq!(o.kind(), "Deployment");
        assert_eq!(o.name(), "api");
        assert_eq!(o.namespace(), "prod");
        assert_eq!(o.label("app"), Some("api"));
        assert_eq!(o.annotation("a"), Some("b"));
        assert_eq!(o.get("/spec/replicas"), Some(&json!(3)));
        assert_eq!(o.get("/spec/template/spec/containers/0/image"), Some(&json!("i")));
        assert_eq!(o.key(), ObjectKey::new("apps", "Deployment", "prod", "api"));
        assert_eq!(o.gvk().api_version(), "apps/v1");
    }

    #[test]
    fn set_and_remove_by_path() {
        let mut o = Object::new("v1", "ConfigMap", "c");
        o.set("/data/a~1b", json!("x")).unwrap();
        assert_eq!(o.as_value()["data"]["a/b"], json!("x"));
        o.set("/spec/list", json!([1, 2])).unwrap();
        o.set("/spec/list/1", json!(5)).unwrap();
        o.set("/spec/list/-", json!(6)).unwrap();
        assert_eq!(o.get("/spec/list"), Some(&json!([1, 5, 6])));
        assert!(o.set("/spec/list/9", json!(1)).is_err());
        assert!(o.set("/spec/list/x", json!(1)).is_err());
        assert!(o.set("/data/a~1b/deeper", json!(1)).is_err());
        assert!(o.set("", json!(1)).is_err());
        assert!(o.set("no-slash", json!(1)).is_err());
        assert_eq!(o.remove("/spec/list/0"), Some(json!(1)));
        assert_eq!(o.remove("/data/a~1b"), Some(json!("x")));
        assert_eq!(o.remove("/data/missing"), None);
        o.set_label("tier", "web");
        o.set_annotation("note", "n");
        assert_eq!(o.label("tier"), Some("web"));
        assert_eq!(o.remove_annotation("note"), Some(json!("n")));
        assert!(o.annotations().is_none());
        o.set_namespace("x");
        assert_eq!(o.namespace(), "x");
        o.set_namespace("");
        assert_eq!(o.namespace(), "");
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (json!([1]), "expected a mapping"),
            (json!({"kind": "A", "metadata": {"name": "a"}}), "\"apiVersion\""),
            (json!({"apiVersion": "v1", "metadata": {"name": "a"}}), "\"kind\""),
            (json!({"apiVersion": "v1", "kind": "A"}), "\"metadata\""),
            (json!({"apiVersion": "v1", "kind": "A", "metadata": {}}), "\"metadata.name\""),
            (json!({"apiVersion": "v1", "kind": "A", "metadata": {"name": 3}}), "\"metadata.name\" must be a string"),
            (json!({"apiVersion": 1, "kind": "A", "metadata": {"name": "a"}}), "\"apiVersion\" must be a string"),
            (
                json!({"apiVersion": "v1", "kind": "A", "metadata": {"name": "a", "labels": {"x": 1}}}),
                "metadata.labels.x",
            ),
        ];
        for (value, needle) in cases {
            let err = Object::from_value(value.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{value}: {err}");
        }
        assert!(
            Object::from_value(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "hook-"}}))
                .is_ok()
        );
    }

    #[test]
    fn serde_round_trip() {
        let o = Object::new("v1", "Namespace", "n");
        let text = serde_json::to_string(&o).unwrap();
        let back: Object = serde_json::from_str(&text).unwrap();
        assert_eq!(o, back);
        assert!(serde_json::from_str::<Object>("{\"kind\": \"x\"}").is_err());
    }
}
