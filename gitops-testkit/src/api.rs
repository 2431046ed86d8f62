//! The API server's state and verbs, independent of HTTP: every write goes through here.

use std::collections::{BTreeMap, VecDeque};

use gitops_core::patch;
use gitops_core::schema::Schema;
use gitops_core::selector::LabelSelector;
use gitops_core::yaml;
use gitops_core::{Object, Propagation};
use gitops_core::{
    json,
    value::{Map, Value},
};
use tokio::sync::broadcast;

mod custom;
mod patches;
mod reads;

pub use reads::FieldSelector;

use crate::defaults;
use crate::managed;
use crate::registry::{Registry, Resource};
use crate::strict::{FieldValidation, Findings, Seg};

/// An error answered as a `metav1.Status`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The Status reason (`NotFound`, `Conflict`, ...).
    pub reason: String,
    /// The message.
    pub message: String,
    /// `details`, when the real server sends them.
    pub details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &str, message: impl Into<String>, details: Option<Value>) -> Self {
        ApiError { code, reason: reason.into(), message: message.into(), details }
    }

    /// 404 for a named object.
    pub fn not_found(plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{plural} \"{name}\" not found"),
            Some(json!({"name": name, "kind": plural})),
        )
    }

    /// 404 for a named object of a resource (`deployments.apps "x" not found`).
    pub fn not_found_in(res: &Resource, name: &str) -> Self {
        if res.group.is_empty() {
            return Self::not_found(&res.plural, name);
        }
        Self::new(
            404,
            "NotFound",
            format!("{}.{} \"{name}\" not found", res.plural, res.group),
            Some(json!({"name": name, "group": res.group, "kind": res.plural})),
        )
    }

    /// 403 from an admission plugin: `pods "x" is forbidden: reason`.
    pub fn forbidden(plural: &str, name: &str, reason: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{plural} \"{name}\" is forbidden: {reason}"),
            Some(json!({"name": name, "kind": plural})),
        )
    }

    /// 405 for a verb the resource does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 409 for a stale resourceVersion.
    pub fn conflict(plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            Some(json!({"name": name, "kind": plural})),
        )
    }

    /// 409 for a stale resourceVersion, the resource named with its group
    /// (`deployments.apps "x"`).
    pub fn conflict_in(res: &Resource, name: &str) -> Self {
        if res.group.is_empty() {
            return Self::conflict(&res.plural, name);
        }
        let mut e = Self::conflict(&format!("{}.{}", res.plural, res.group), name);
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }

    /// 422 with field causes.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<(String, String, String)>) -> Self {
        let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let texts: Vec<String> = causes.iter().map(|(_, field, msg)| format!("{field}: {msg}")).collect();
        let message = if texts.len() == 1 {
            format!("{qualified} \"{name}\" is invalid: {}", texts[0])
        } else {
            format!("{qualified} \"{name}\" is invalid: [{}]", texts.join(", "))
        };
        let mut details = json!({"kind": kind, "causes": causes.iter().map(|(r, f, m)| json!({"reason": r, "message": m, "field": f})).collect::<Vec<_>>()});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(422, "Invalid", message, Some(details))
    }

    /// The Status body.
    pub fn status(&self) -> Value {
        let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code});
        // An error that is no API status (a plain Go error) has no reason.
        if self.reason.is_empty()
            && let Some(m) = v.as_object_mut()
        {
            m.remove("reason");
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

/// A change, as watches see it.
#[derive(Clone, Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// API group of the object.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// The object after the change (before it, for deletions, with the new resourceVersion).
    pub object: Value,
    /// For `MODIFIED`: the object before the change, at the new resourceVersion. A filtered
    /// watch that matched it but not `object` sees the change as `DELETED` of this state.
    pub old: Option<Value>,
    /// The watch line of (`kind`, `object`), serialized once for all the watches that see the
    /// change as it is (every watch gets the same `Arc<Event>`).
    line: std::sync::OnceLock<bytes::Bytes>,
}

impl Event {
    /// How a watch filtered by selectors sees this change, as the real watch cache shows it:
    /// an object entering the selection is `ADDED`, one leaving it `DELETED` (carrying its last
    /// matching state at the new resourceVersion), changes outside it nothing.
    pub fn as_seen(&self, matches: impl Fn(&Value) -> bool) -> Option<(&'static str, &Value)> {
        let now = matches(&self.object);
        match (self.kind, &self.old) {
            ("MODIFIED", Some(old)) => match (matches(old), now) {
                (true, true) => Some(("MODIFIED", &self.object)),
                (false, true) => Some(("ADDED", &self.object)),
                (true, false) => Some(("DELETED", old)),
                (false, false) => None,
            },
            (kind, _) => now.then_some((kind, &self.object)),
        }
    }

    /// The watch line of this change as it is (`{"type": kind, "object": object}` and a
    /// newline), made by `make` the first time it is asked for.
    pub(crate) fn line(&self, make: impl FnOnce(&str, &Value) -> bytes::Bytes) -> bytes::Bytes {
        self.line.get_or_init(|| make(self.kind, &self.object)).clone()
    }
}

/// Where an object is stored: group, plural, namespace (empty when cluster-scoped), name.
pub(crate) type Key = (String, String, String, String);

/// How many events are kept for resuming watches; older versions get `410 Gone`.
const HISTORY: usize = 10_000;

/// What one request is about.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The namespace from the URL, empty for cluster-scoped requests.
    pub namespace: String,
    /// The name from the URL, empty for collections.
    pub name: String,
    /// `status`, `scale`, ... or empty.
    pub subresource: String,
}

/// Options of a write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// The field manager.
    pub manager: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `force=true` (apply).
    pub force: bool,
    /// `fieldValidation` (internal writes: `Ignore`).
    pub validation: crate::strict::FieldValidation,
}

/// Where a scalable resource keeps its replicas (see [`State::scale_paths`]).
#[derive(Clone, Debug)]
pub struct ScalePaths {
    /// The desired replicas (`spec.replicas`).
    pub spec: Vec<String>,
    /// The observed replicas (`status.replicas`).
    pub status: Vec<String>,
    /// A custom resource's label selector string, when its CRD names one.
    pub selector: Option<Vec<String>>,
    /// Whether the resource is a custom one.
    pub custom: bool,
}

/// The API server's state.
pub struct State {
    /// The served resources.
    pub registry: Registry,
    /// The merge schema, built-in kinds plus CRDs.
    pub schema: Schema,
    pub(crate) objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<std::sync::Arc<Event>>,
    /// Watch notifications (one shared event for all receivers).
    pub tx: broadcast::Sender<std::sync::Arc<Event>>,
    seed: u64,
    counter: u64,
    node_port: u16,
    /// How workloads behave (see [`crate::Simulation`]).
    pub simulation: crate::controllers::Simulation,
    /// Injected failures.
    pub faults: crate::faults::Faults,
    /// Requests served, by verb.
    pub requests: RequestCounts,
    /// When set, every request must carry `Authorization: Bearer <token>`; others get a real
    /// server's 401 `Unauthorized` Status.
    pub bearer_token: Option<String>,
    /// `Warning` texts of the request being served (taken by the HTTP layer).
    pub(crate) warnings: Vec<String>,
}

/// Resource requests the server answered, by verb (`get`, `list`, `watch`, `create`,
/// `update`, `patch`, `delete`, `deletecollection`); dry-run writes are counted apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Count per verb; dry-run writes under `<verb>(dry-run)`.
    pub by_verb: BTreeMap<String, u64>,
    /// Writes (dry runs excluded) per plural resource name.
    pub writes_by_resource: BTreeMap<String, u64>,
}

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

impl RequestCounts {
    pub(crate) fn record(&mut self, verb: &str, dry_run: bool, resource: &str) {
        let key = if dry_run { format!("{verb}(dry-run)") } else { verb.to_string() };
        *self.by_verb.entry(key).or_default() += 1;
        if !dry_run && WRITE_VERBS.contains(&verb) {
            *self.writes_by_resource.entry(resource.to_string()).or_default() += 1;
        }
    }

    /// Writes of one resource (plural name, e.g. `leases`).
    pub fn writes_of(&self, resource: &str) -> u64 {
        self.writes_by_resource.get(resource).copied().unwrap_or(0)
    }

    /// Requests of one verb.
    pub fn get(&self, verb: &str) -> u64 {
        self.by_verb.get(verb).copied().unwrap_or(0)
    }

    /// Writes that changed or could have changed state (dry runs excluded).
    pub fn writes(&self) -> u64 {
        WRITE_VERBS.iter().map(|v| self.get(v)).sum()
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_verb.values().sum()
    }
}

/// The current time in RFC 3339, seconds precision, UTC.
pub fn now() -> String {
    gitops_core::time::now_rfc3339()
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let m = v.as_object_mut().expect("object").entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("metadata object")
}

pub(crate) fn meta_str<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

/// What a generation counts: everything but metadata and status (and the type, which stored
/// objects do not keep).
fn spec_of(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        for f in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(f);
        }
    }
    c
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// An empty cluster with the `default`, `kube-system` and `kube-public` namespaces.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let mut s = State {
            registry: Registry::builtin(),
            schema: Schema::builtin().clone(),
            objects: BTreeMap::new(),
            rv: 1000,
            history: VecDeque::new(),
            tx,
            seed,
            counter: 0,
            node_port: 30000,
            simulation: crate::controllers::Simulation::Off,
            faults: crate::faults::Faults::default(),
            requests: RequestCounts::default(),
            bearer_token: None,
            warnings: Vec::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let res = s.registry.by_plural("", "v1", "namespaces").cloned().expect("namespaces are served");
            let _ = s.create(
                &res,
                &Target::default(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &WriteOptions { manager: "kube-apiserver".into(), ..Default::default() },
            );
        }
        s
    }

    /// Takes the `Warning` texts of the request just served.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.history.front().map(|e| e.rv - 1).unwrap_or(self.rv)
    }

    /// Events after a resourceVersion.
    pub fn events_since(&self, rv: u64) -> Vec<std::sync::Arc<Event>> {
        self.history.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    pub(crate) fn new_uid(&mut self) -> String {
        self.counter += 1;
        let mut x = self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (a, b) = (next(), next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn next_ip(&mut self) -> String {
        self.counter += 1;
        format!("10.0.0.{}", 10 + self.counter % 240)
    }

    fn key(res: &Resource, namespace: &str, name: &str) -> Key {
        (
            res.group.clone(),
            res.plural.clone(),
            if res.namespaced { namespace.into() } else { String::new() },
            name.into(),
        )
    }

    /// The served resource a storage key belongs to.
    pub(crate) fn resource_of_key(&self, key: &Key) -> Option<Resource> {
        self.registry.resources().iter().find(|r| r.group == key.0 && r.plural == key.1).cloned()
    }

    /// The stored objects a predicate keeps, with their resources.
    pub(crate) fn stored_where(&self, keep: impl Fn(&Key, &Value) -> bool) -> Vec<(Resource, Value)> {
        self.objects
            .iter()
            .filter(|(k, v)| keep(k, v))
            .filter_map(|(k, v)| self.resource_of_key(k).map(|r| (r, v.clone())))
            .collect()
    }

    /// A stored object.
    pub fn get_object(&self, res: &Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Self::key(res, namespace, name))
    }

    fn render(&self, res: &Resource, v: &Value) -> Value {
        let mut out = v.clone();
        if let Some(m) = out.as_object_mut() {
            m.insert("apiVersion".into(), json!(res.api_version()));
            m.insert("kind".into(), json!(res.kind));
        }
        out
    }

    pub(crate) fn commit(&mut self, res: &Resource, mut v: Value, kind: &'static str) -> Value {
        self.rv += 1;
        meta_mut(&mut v).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let ns = meta_str(&v, "namespace").to_string();
        let name = meta_str(&v, "name").to_string();
        let key = Self::key(res, &ns, &name);
        let object = self.render(res, &v);
        let previous = if kind == "DELETED" { self.objects.remove(&key) } else { self.objects.insert(key, v) };
        let old = previous.filter(|_| kind == "MODIFIED").map(|mut o| {
            meta_mut(&mut o).insert("resourceVersion".into(), json!(self.rv.to_string()));
            self.render(res, &o)
        });
        let event = Event {
            rv: self.rv,
            kind,
            group: res.group.clone(),
            plural: res.plural.clone(),
            namespace: ns,
            object,
            old,
            line: std::sync::OnceLock::new(),
        };
        // Quotas count what comes (the API server charges what it admits) and goes (the
        // quota controller sees it leave); a new quota is first counted by the controller.
        let recount = match kind {
            _ if event.namespace.is_empty() || res.plural == "events" => None,
            "ADDED" if res.group.is_empty() && res.plural == "resourcequotas" => Some("kube-controller-manager"),
            "ADDED" => Some("kube-apiserver"),
            "DELETED" => Some("kube-controller-manager"),
            _ => None,
        };
        let namespace = event.namespace.clone();
        let out = event.object.clone();
        let event = std::sync::Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.tx.send(event);
        if let Some(manager) = recount {
            self.recount_quotas(&namespace, manager);
        }
        out
    }

    fn check_namespace(&self, res: &Resource, namespace: &str, creating: bool) -> Result<(), ApiError> {
        if !res.namespaced {
            return Ok(());
        }
        let ns = self.objects.get(&(String::new(), "namespaces".into(), String::new(), namespace.into()));
        match ns {
            None => Err(ApiError::not_found("namespaces", namespace)),
            Some(n) if creating && n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") => {
                Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                        res.plural, "object"
                    ),
                    Some(json!({"name": namespace, "kind": "namespaces"})),
                ))
            }
            _ => Ok(()),
        }
    }

    fn validate_body(&self, res: &Resource, body: &Value, target: &Target) -> Result<(), ApiError> {
        let Some(m) = body.as_object() else {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {})",
                res.kind
            )));
        };
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if !kind.is_empty() && (kind != res.kind || (!api.is_empty() && api != res.api_version())) {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{}\" cannot be handled as a {}: converting ({}.{kind}) to ({}.{}): unknown conversion",
                gitops_core::object::split_api_version(api).1,
                res.kind,
                gitops_core::object::split_api_version(api).1,
                if res.group.is_empty() { "core" } else { &res.group },
                res.kind
            )));
        }
        let ns = meta_str(body, "namespace");
        if res.namespaced && !ns.is_empty() && ns != target.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if !target.name.is_empty() {
            let name = meta_str(body, "name");
            if !name.is_empty() && name != target.name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    target.name
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn validate_object(&self, res: &Resource, v: &Value) -> Result<(), ApiError> {
        let name = meta_str(v, "name");
        let mut causes = Vec::new();
        if name.is_empty() {
            causes.push((
                "FieldValueRequired".to_string(),
                "metadata.name".to_string(),
                "Required value: name or generateName is required".to_string(),
            ));
        } else {
            causes.extend(crate::names::name_causes(res.group.is_empty(), &res.kind, name));
        }
        causes.extend(crate::gc::owner_reference_causes(v));
        causes.extend(crate::names::causes(res.group.is_empty(), &res.kind, v));
        if res.group == "apps" && matches!(res.kind.as_str(), "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        {
            if v.pointer("/spec/selector").is_none() {
                causes.push(("FieldValueRequired".into(), "spec.selector".into(), "Required value".into()));
                if v.pointer("/spec/template/metadata/labels").is_none() {
                    causes.push((
                        "FieldValueInvalid".into(),
                        "spec.template.metadata.labels".into(),
                        "Invalid value: null: `selector` does not match template `labels`".into(),
                    ));
                }
            }
            if let Some(spec) = v.pointer("/spec/template/spec") {
                causes.extend(crate::admission::pod_spec_causes("spec.template.spec", spec, &["Always"]));
            }
            // A Deployment's strategy: Recreate takes no rollingUpdate.
            if res.kind == "Deployment"
                && v.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
                && v.pointer("/spec/strategy/rollingUpdate").is_some_and(|r| !r.is_null())
            {
                causes.push((
                    "FieldValueForbidden".into(),
                    "spec.strategy.rollingUpdate".into(),
                    "Forbidden: may not be specified when strategy `type` is 'Recreate'".into(),
                ));
            }
        }
        // Custom resources: the CRD's schema, field by field (metadata has its own checks).
        if let Some(schema) = self.crd_version(res).and_then(|x| x.pointer("/schema/openAPIV3Schema")) {
            if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), v.as_object()) {
                for (k, child) in obj {
                    if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    if let Some(sub) = props.get(k) {
                        crate::validation::validate(child, sub, k, &mut causes);
                    }
                }
            }
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !matches!(r, "apiVersion" | "kind" | "metadata") && v.get(r).is_none_or(Value::is_null) {
                    causes.push(("FieldValueRequired".into(), r.into(), "Required value".into()));
                }
            }
        }
        if res.group.is_empty() && res.kind == "Secret" {
            causes.extend(secret_type_causes(v));
        }
        if res.group.is_empty()
            && res.kind == "Pod"
            && let Some(spec) = v.get("spec")
        {
            causes.extend(crate::admission::pod_spec_causes("spec", spec, &["Always", "OnFailure", "Never"]));
        }
        if res.group.is_empty()
            && res.kind == "PodTemplate"
            && let Some(spec) = v.pointer("/template/spec")
        {
            causes.extend(crate::admission::pod_spec_causes("template.spec", spec, &["Always", "OnFailure", "Never"]));
        }
        if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(&res.kind, &res.group, name, causes)) }
    }

    fn update_entries(
        &self,
        res: &Resource,
        old: Option<&Value>,
        new: &Value,
        opts: &WriteOptions,
        subresource: Option<&str>,
        time: &str,
    ) -> Vec<managed::Entry> {
        let node = self.schema.node(&res.group, &res.version, &res.kind).unwrap_or_else(|| self.schema.untyped());
        let mut entries = old.map(managed::read).unwrap_or_default();
        let mut changed = managed::changed_fields(old, new, node, !res.custom);
        let has_status = res.subresources.iter().any(|(s, _)| s == "status");
        match subresource {
            // Without a status subresource, status is an ordinary field of the main resource.
            None if !has_status => {}
            None => changed.remove(&[gitops_core::PathElement::Field("status".into())]),
            Some(_) => {
                let status = changed.get(&[gitops_core::PathElement::Field("status".into())]).cloned();
                changed = gitops_core::FieldSet::new();
                if let Some(s) = status {
                    changed.entry(&[gitops_core::PathElement::Field("status".into())]).union_with(&s);
                }
            }
        }
        if !changed.is_empty() {
            managed::record(
                &mut entries,
                &opts.manager,
                "Update",
                &res.api_version(),
                subresource,
                &changed,
                time,
                false,
            );
        }
        entries
    }

    fn finish_write(
        &mut self,
        res: &Resource,
        old: Option<&Value>,
        mut new: Value,
        opts: &WriteOptions,
        subresource: Option<&str>,
        apply_entries: Option<Vec<managed::Entry>>,
    ) -> Result<Value, ApiError> {
        if let Some(old) = old {
            if res.group.is_empty() && res.kind == "Pod" {
                let causes = if subresource == Some("ephemeralcontainers") {
                    crate::pods::ephemeral_update_causes(old, &new)
                } else {
                    crate::admission::pod_update_causes(old, &mut new)
                };
                if !causes.is_empty() {
                    return Err(ApiError::invalid(&res.kind, &res.group, meta_str(old, "name"), causes));
                }
            }
            check_immutable(res, old, &new)?;
        }
        let time = now();
        let applied = apply_entries.is_some();
        let mut entries = match apply_entries {
            Some(e) => e,
            None => self.update_entries(res, old, &new, opts, subresource, &time),
        };
        prune_empty_metadata(&mut new);
        if !res.custom {
            let node = self.schema.node(&res.group, &res.version, &res.kind).unwrap_or_else(|| self.schema.untyped());
            prune_go_empty_maps(&mut new, node);
        }
        // Fields that left the object leave their owners' sets, except the applier's own: it
        // keeps what it applied even where the stored object omits it (an empty map, a null),
        // as structured-merge-diff records the configuration's set.
        let applier = applied.then_some((opts.manager.as_str(), subresource));
        managed::forget_missing(&mut entries, &new, applier);
        managed::write(&mut new, &entries);
        // A write that changes nothing is not stored.
        if let Some(old) = old {
            let strip = |v: &Value| {
                let mut c = v.clone();
                if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                    if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
                        for e in mf {
                            if let Some(e) = e.as_object_mut() {
                                e.remove("time");
                            }
                        }
                    }
                }
                c
            };
            if strip(old) == strip(&new) {
                return Ok(self.render(res, old));
            }
            if res.group == "apps" && res.kind == "DaemonSet" {
                defaults::bump_template_generation(old, &mut new);
            }
            let gen_old = old.pointer("/metadata/generation").and_then(Value::as_i64);
            if let Some(g) = gen_old {
                // A Deployment's annotations count too: they are copied to its ReplicaSets
                // (its strategy's PrepareForUpdate); writes of the status do not.
                let annotations = |v: &Value| v.pointer("/metadata/annotations").cloned();
                let annotated = res.group == "apps"
                    && res.kind == "Deployment"
                    && subresource != Some("status")
                    && annotations(old) != annotations(&new);
                let bumped = if annotated || spec_of(old) != spec_of(&new) { g + 1 } else { g };
                meta_mut(&mut new).insert("generation".into(), json!(bumped));
            }
            // Removing the last finalizer of an object being deleted completes the deletion.
            let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
            let finalizers_left =
                new.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            if deleting && !finalizers_left {
                meta_mut(&mut new).insert("resourceVersion".into(), json!(meta_str(old, "resourceVersion")));
                if opts.dry_run {
                    return Ok(self.render(res, &new));
                }
                let response = self.render(res, &new);
                let out = self.commit(res, new, "DELETED");
                self.after_delete(res, &out);
                return Ok(response);
            }
        }
        self.validate_object(res, &new)?;
        if opts.dry_run {
            if let Some(old) = old {
                meta_mut(&mut new).insert("resourceVersion".into(), json!(meta_str(old, "resourceVersion")));
            }
            return Ok(self.render(res, &new));
        }
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let out = self.commit(res, new, kind);
        self.after_write(res, &out);
        Ok(out)
    }

    fn prepare_new(&mut self, res: &Resource, target: &Target, mut v: Value) -> Value {
        let uid = self.new_uid();
        let ip = self.next_ip();
        let meta = meta_mut(&mut v);
        if meta.get("name").and_then(Value::as_str).is_none_or(str::is_empty)
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
        {
            let suffix: String = uid.chars().filter(|c| c.is_ascii_alphanumeric()).take(5).collect();
            let prefix: String = prefix.chars().take(crate::names::MAX_GENERATED_PREFIX).collect();
            meta.insert("name".into(), json!(format!("{prefix}{suffix}")));
        }
        if res.namespaced {
            meta.insert("namespace".into(), json!(target.namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.remove("deletionTimestamp");
        meta.remove("resourceVersion");
        meta.remove("managedFields");
        if defaults::has_generation(&res.group, &res.kind, res.custom) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        let mut np = self.node_port;
        defaults::allocate(&res.group, &res.kind, &mut v, &uid, &ip, &mut np);
        self.node_port = np;
        v
    }

    fn decode(&self, res: &Resource, v: &mut Value) {
        // ObjectMeta has no other fields: unknown ones are dropped, as typed decoding drops them.
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| gitops_core::object::OBJECT_META_FIELDS.contains(&k.as_str()));
        }
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(res.api_version()));
            m.insert("kind".into(), json!(res.kind));
        }
        if !res.custom {
            defaults::apply_defaults(&res.group, &res.kind, v);
        }
        if res.kind == "Secret" && res.group.is_empty() {
            gitops_core::diff::fold_string_data(v);
        }
        if res.custom {
            self.default_custom(res, v);
        }
        if !res.custom
            && let Some(node) = self.schema.node(&res.group, &res.version, &res.kind)
        {
            // Typed decoding keeps only the fields the kind declares.
            crate::strict::unknown_fields(v, node, true);
        }
    }

    /// The CRD version that serves a custom resource.
    /// Where a scalable resource keeps its replicas and selector: a custom resource's CRD
    /// says (`subresources.scale`), built-in kinds use `spec.replicas` and `status.replicas`.
    pub fn scale_paths(&self, res: &Resource) -> ScalePaths {
        let split = |p: &str| p.trim_start_matches('.').split('.').map(String::from).collect::<Vec<_>>();
        let mut paths = ScalePaths {
            spec: split(".spec.replicas"),
            status: split(".status.replicas"),
            selector: None,
            custom: res.custom,
        };
        if let Some(scale) = self.crd_version(res).and_then(|v| v.pointer("/subresources/scale")) {
            if let Some(p) = scale.get("specReplicasPath").and_then(Value::as_str) {
                paths.spec = split(p);
            }
            if let Some(p) = scale.get("statusReplicasPath").and_then(Value::as_str) {
                paths.status = split(p);
            }
            paths.selector = scale.get("labelSelectorPath").and_then(Value::as_str).map(split);
        }
        paths
    }

    /// A write through the `scale` subresource: the replicas set at their path and validated
    /// (the resource's own checks, then the Scale's), recorded under the `scale` subresource;
    /// an apply conflicts with another owner of the replicas unless forced.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_scale(
        &mut self,
        res: &Resource,
        target: &Target,
        current: &Value,
        paths: &ScalePaths,
        replicas: i64,
        apply: bool,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut new = current.clone();
        let mut at = &mut new;
        for (i, k) in paths.spec.iter().enumerate() {
            if !at.is_object() {
                *at = json!({});
            }
            let m = at.as_object_mut().expect("an object");
            if i + 1 == paths.spec.len() {
                m.insert(k.clone(), json!(replicas));
                break;
            }
            at = m.entry(k.clone()).or_insert_with(|| json!({}));
        }
        if replicas < 0 {
            let mut causes = match self.validate_object(res, &new) {
                Err(ApiError { details: Some(d), .. }) => d["causes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let text = |f: &str| c[f].as_str().unwrap_or_default().to_string();
                        (text("reason"), text("field"), text("message"))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if res.custom {
                causes.push((
                    "FieldValueInvalid".into(),
                    format!(".{}", paths.spec.join(".")),
                    format!("Invalid value: {replicas}: should be a non-negative integer"),
                ));
                return Err(ApiError::invalid(&res.kind, &res.group, &target.name, causes));
            }
            let cause = (
                "FieldValueInvalid".to_string(),
                "spec.replicas".to_string(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            );
            return Err(ApiError::invalid("Scale", "autoscaling", &target.name, vec![cause]));
        }
        let path: Vec<gitops_core::PathElement> =
            paths.spec.iter().map(|k| gitops_core::PathElement::Field(k.clone())).collect();
        let mut set = gitops_core::FieldSet::new();
        set.insert(&path);
        let mut entries = managed::read(current);
        let time = now();
        if apply {
            let mut conflicts = Vec::new();
            for e in entries.iter_mut() {
                let own =
                    e.manager == opts.manager && e.operation == "Apply" && e.subresource.as_deref() == Some("scale");
                if own || !e.set.has_prefix(&path) {
                    continue;
                }
                let current_replicas = paths.spec.iter().try_fold(current, |v, k| v.get(k.as_str()));
                if current_replicas.and_then(Value::as_i64) != Some(replicas) {
                    let sub = e.subresource.as_deref().map(|s| format!(" with subresource {s:?}")).unwrap_or_default();
                    conflicts.push(format!("{:?}{sub} using autoscaling/v1", e.manager));
                    if opts.force {
                        e.set = e.set.difference(&set);
                    }
                }
            }
            if !conflicts.is_empty() && !opts.force {
                let field = ".spec.replicas";
                let (message, causes): (String, Vec<Value>) = if conflicts.len() == 1 {
                    (
                        format!("Apply failed with 1 conflict: conflict with {}: {field}", conflicts[0]),
                        vec![
                            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", conflicts[0]), "field": field}),
                        ],
                    )
                } else {
                    (
                        format!("Apply failed with {} conflicts: {}", conflicts.len(), conflicts.iter().map(|c| format!("conflict with {c}: {field}")).collect::<Vec<_>>().join("\n")),
                        conflicts.iter().map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {c}"), "field": field})).collect(),
                    )
                };
                return Err(ApiError::new(409, "Conflict", message, Some(json!({"causes": causes}))));
            }
            managed::record(&mut entries, &opts.manager, "Apply", &res.api_version(), Some("scale"), &set, &time, true);
        } else {
            let changed =
                current.pointer(&format!("/{}", paths.spec.join("/"))).and_then(Value::as_i64) != Some(replicas);
            if changed {
                managed::record(
                    &mut entries,
                    &opts.manager,
                    "Update",
                    &res.api_version(),
                    Some("scale"),
                    &set,
                    &time,
                    false,
                );
            }
        }
        if opts.dry_run {
            return Ok(new);
        }
        self.finish_write(res, Some(current), new, opts, Some("scale"), Some(entries))
    }

    /// POST.
    pub fn create(
        &mut self,
        res: &Resource,
        target: &Target,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.validate_body(res, &body, target)?;
        self.check_namespace(res, &target.namespace, true)?;
        self.decode(res, &mut body);
        let name = meta_str(&body, "name").to_string();
        if !name.is_empty() && self.get_object(res, &target.namespace, &name).is_some() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", res.plural),
                Some(json!({"name": name, "kind": res.plural})),
            ));
        }
        if name.is_empty() && meta_str(&body, "generateName").is_empty() {
            return Err(ApiError::invalid(
                &res.kind,
                &res.group,
                "",
                vec![(
                    "FieldValueRequired".into(),
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
        if let Some(m) = body.as_object_mut()
            && res.subresources.iter().any(|(s, _)| s == "status")
            && res.custom
        {
            m.remove("status");
        }
        let entries = self.update_entries(res, None, &body, opts, None, &now());
        let mut new = self.prepare_new(res, target, body);
        if res.kind == "Pod" && res.group.is_empty() {
            let suffix: String = self.new_uid().chars().filter(char::is_ascii_alphanumeric).take(5).collect();
            let name = meta_str(&new, "name").to_string();
            self.admit_pod(&mut new, &target.namespace, &name, &suffix)?;
        }
        self.admit_quota(res, &target.namespace, &new)?;
        let out = self.finish_write(res, None, new, opts, None, Some(entries))?;
        if res.kind == "Namespace" && res.group.is_empty() && !opts.dry_run {
            self.populate_namespace(meta_str(&out, "name"));
        }
        Ok(out)
    }

    /// PUT (the main resource or a subresource).
    pub fn update(
        &mut self,
        res: &Resource,
        target: &Target,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.validate_body(res, &body, target)?;
        let old = self
            .get_object(res, &target.namespace, &target.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found_in(res, &target.name))?;
        let rv = meta_str(&body, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict_in(res, &target.name));
        }
        // Custom resources allow no unconditional update.
        if rv.is_empty() && res.custom {
            return Err(ApiError::invalid(
                &res.plural,
                &res.group,
                &target.name,
                vec![(
                    "FieldValueInvalid".into(),
                    "metadata.resourceVersion".into(),
                    "Invalid value: 0: must be specified for an update".into(),
                )],
            ));
        }
        self.decode(res, &mut body);
        let new = self.merge_into_old(res, &old, body, &target.subresource);
        let sub = (!target.subresource.is_empty()).then_some(target.subresource.as_str());
        self.finish_write(res, Some(&old), new, opts, sub, None)
    }

    /// DELETE of one object.
    pub fn delete(
        &mut self,
        res: &Resource,
        target: &Target,
        propagation: Option<Propagation>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self
            .get_object(res, &target.namespace, &target.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found_in(res, &target.name))?;
        let mut finalizers: Vec<Value> =
            old.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let is_namespace = res.kind == "Namespace" && res.group.is_empty();
        // The apiextensions server removes a CRD's custom resources before the CRD itself.
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            let f = json!("customresourcecleanup.apiextensions.k8s.io");
            if !finalizers.contains(&f) {
                finalizers.push(f);
            }
        }
        match propagation {
            Some(Propagation::Orphan) if !finalizers.contains(&json!("orphan")) => finalizers.push(json!("orphan")),
            Some(Propagation::Foreground) if !finalizers.contains(&json!("foregroundDeletion")) => {
                finalizers.push(json!("foregroundDeletion"))
            }
            _ => {}
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(self.render(res, &old));
        }
        if is_namespace || !finalizers.is_empty() {
            let mut new = old.clone();
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), Value::Array(finalizers));
            }
            if let Some(g) = new.pointer("/metadata/generation").and_then(Value::as_i64) {
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
            if is_namespace {
                new["status"] = json!({"phase": "Terminating"});
                meta_mut(&mut new).remove("deletionGracePeriodSeconds");
            }
            if dry_run {
                return Ok(self.render(res, &new));
            }
            let out = self.commit(res, new, "MODIFIED");
            self.after_write(res, &out);
            return Ok(out);
        }
        if dry_run {
            return Ok(self.render(res, &old));
        }
        let out = self.commit(res, old, "DELETED");
        self.after_delete(res, &out);
        // The pod registry answers with the object it deleted (`ReturnDeletedObject`).
        if res.group.is_empty() && res.plural == "pods" {
            return Ok(out);
        }
        let mut details = json!({"name": meta_str(&out, "name"), "kind": res.plural, "uid": meta_str(&out, "uid")});
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}))
    }

    /// DELETE of a collection.
    pub fn delete_collection(
        &mut self,
        res: &Resource,
        namespace: &str,
        labels: &LabelSelector,
        fields: &FieldSelector,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        // The answer lists what was selected, as it was before this deletion (objects held by
        // finalizers included, and again on a second call).
        let victims = self.select(res, namespace, labels, fields);
        for v in &victims {
            let t = Target {
                namespace: meta_str(v, "namespace").into(),
                name: meta_str(v, "name").into(),
                subresource: String::new(),
            };
            self.delete(res, &t, None, dry_run)?;
        }
        let items = list_items(res, victims);
        Ok(
            json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        )
    }

    /// Controllers that react to a write: CRDs become served, namespaces drain.
    fn after_write(&mut self, res: &Resource, obj: &Value) {
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            self.establish_crd(res, obj);
        }
        if res.kind == "Namespace" && res.group.is_empty() && obj.pointer("/metadata/deletionTimestamp").is_some() {
            self.drain_namespace(meta_str(obj, "name").to_string());
        }
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            self.run_finalizers(res, obj);
        } else {
            self.check_owners(res, obj);
        }
        self.run_controllers(res, obj);
    }

    /// Stores an object written by a controller (managedFields already set).
    pub(crate) fn store_as_controller(&mut self, res: &Resource, new: Value, create: bool) -> Value {
        let mut new = new;
        if let Some(m) = new.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        self.commit(res, new, if create { "ADDED" } else { "MODIFIED" })
    }

    /// Creates an object as kube-controller-manager.
    pub(crate) fn controller_create(&mut self, res: &Resource, obj: Value) -> Option<Value> {
        let namespace = meta_str(&obj, "namespace").to_string();
        self.create_as(res, &namespace, obj, "kube-controller-manager").ok()
    }

    /// Creates an object as the given field manager.
    pub(crate) fn create_as(
        &mut self,
        res: &Resource,
        namespace: &str,
        obj: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let target = Target { namespace: namespace.into(), name: String::new(), subresource: String::new() };
        let opts = WriteOptions { manager: manager.into(), ..Default::default() };
        self.create(res, &target, obj, &opts)
    }

    pub(crate) fn after_delete(&mut self, res: &Resource, obj: &Value) {
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            self.remove_custom_resources(obj);
        }
        self.collect_garbage(obj);
        if res.group.is_empty() && res.kind == "Pod" {
            self.after_pod_deleted(obj);
        }
    }

    fn drain_namespace(&mut self, ns: String) {
        let keys: Vec<Key> = self.objects.keys().filter(|(_, _, n, _)| *n == ns).cloned().collect();
        for key in keys {
            let Some(res) = self.resource_of_key(&key) else {
                continue;
            };
            let t = Target { namespace: key.2.clone(), name: key.3.clone(), subresource: String::new() };
            let _ = self.delete(&res, &t, Some(Propagation::Background), false);
        }
        let left = self.objects.keys().any(|(_, _, n, _)| *n == ns);
        if !left {
            let nsres = self.registry.by_plural("", "v1", "namespaces").cloned().expect("namespaces are served");
            if let Some(obj) = self.get_object(&nsres, "", &ns).cloned() {
                self.commit(&nsres, obj, "DELETED");
            }
        }
    }

    /// Writes an object as a controller would (manager `kube-controller-manager`), creating
    /// or replacing it, through the same path as any client.
    pub fn controller_write(&mut self, res: &Resource, obj: Value, subresource: &str) -> Result<Value, ApiError> {
        let opts = WriteOptions { manager: "kube-controller-manager".into(), ..Default::default() };
        let target = Target {
            namespace: meta_str(&obj, "namespace").into(),
            name: meta_str(&obj, "name").into(),
            subresource: subresource.into(),
        };
        if self.get_object(res, &target.namespace, &target.name).is_some() {
            self.update(res, &target, obj, &opts)
        } else {
            self.create(res, &Target { subresource: String::new(), ..target }, obj, &opts)
        }
    }

    /// Every stored object of a resource.
    pub fn all(&self, res: &Resource) -> Vec<Value> {
        self.select(res, "", &LabelSelector::default(), &FieldSelector::default())
    }
}

/// Fields the real server refuses to change after creation (apps/v1 selectors, a Job's
/// selector and pod template, a Service's cluster IP once set).
fn check_immutable(res: &Resource, old: &Value, new: &Value) -> Result<(), ApiError> {
    let name = meta_str(old, "name");
    let fields: &[&str] = match (res.group.as_str(), res.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => &["/spec/selector"],
        ("batch", "Job") => &["/spec/selector", "/spec/template"],
        ("", "Service") => &["/spec/clusterIP"],
        ("", "Secret") => &["/type"],
        _ => &[],
    };
    for f in fields {
        let (before, after) = (old.pointer(f), new.pointer(f));
        // A Job's template gains the controller-uid labels the server adds; compare what the
        // client controls.
        let strip = |v: Option<&Value>| {
            let mut v = v.cloned().unwrap_or(Value::Null);
            if *f == "/spec/template"
                && let Some(l) = v.pointer_mut("/metadata/labels").and_then(Value::as_object_mut)
            {
                l.retain(|k, _| !k.starts_with("batch.kubernetes.io/") && k != "controller-uid" && k != "job-name");
            }
            if *f == "/spec/selector"
                && let Some(l) = v.pointer_mut("/matchLabels").and_then(Value::as_object_mut)
            {
                l.retain(|k, _| !k.starts_with("batch.kubernetes.io/") && k != "controller-uid");
            }
            v
        };
        if before.is_some() && after.is_some() && strip(before) != strip(after) {
            let field = f.trim_start_matches('/').replace('/', ".");
            let mut causes = vec![(
                "FieldValueInvalid".to_string(),
                field.clone(),
                format!("Invalid value: {}: field is immutable", after.map(Value::to_string).unwrap_or_default()),
            )];
            // The real server validates the new Secret in the same pass.
            if res.group.is_empty() && res.kind == "Secret" {
                causes.extend(secret_type_causes(new));
            }
            return Err(ApiError::invalid(&res.kind, &res.group, name, causes));
        }
    }
    Ok(())
}

/// The keys a Secret of a well-known type must hold (`data[key]: Required value`).
fn secret_type_causes(v: &Value) -> Vec<(String, String, String)> {
    let has = |k: &str| v.pointer(&format!("/data/{}", gitops_core::object::escape_pointer_token(k))).is_some();
    let required = |k: &str| ("FieldValueRequired".to_string(), format!("data[{k}]"), "Required value".to_string());
    match v.get("type").and_then(Value::as_str).unwrap_or("") {
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            vec![required("username"), required("password")]
        }
        "kubernetes.io/tls" => ["tls.crt", "tls.key"].iter().filter(|k| !has(k)).map(|k| required(k)).collect(),
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => vec![required("ssh-privatekey")],
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => vec![required(".dockerconfigjson")],
        "kubernetes.io/dockercfg" if !has(".dockercfg") => vec![required(".dockercfg")],
        _ => Vec::new(),
    }
}

/// A list's items: built-in kinds' without apiVersion and kind (the real server lists typed
/// objects), custom resources' (unstructured data) as they are.
fn list_items(res: &Resource, items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut v| {
            if let (false, Some(m)) = (res.custom, v.as_object_mut()) {
                m.remove("apiVersion");
                m.remove("kind");
            }
            v
        })
        .collect()
}

/// Go drops a map field (`map[string]T` with `omitempty`, as a ConfigMap's `data`) that is
/// empty or null when it stores a built-in object; structs and lists stay as they are.
fn prune_go_empty_maps(v: &mut Value, node: gitops_core::schema::Node<'_>) {
    use gitops_core::schema::Shape;
    match v {
        Value::Object(m) => {
            if !matches!(node.shape(), Shape::Struct { .. }) {
                return;
            }
            m.retain(|k, c| {
                let is_map = node.field(k).is_some_and(|n| matches!(n.shape(), Shape::Map { .. }));
                !(is_map && (c.is_null() || c.as_object().is_some_and(Map::is_empty)))
            });
            for (k, c) in m.iter_mut() {
                if let Some(n) = node.field(k) {
                    prune_go_empty_maps(c, n);
                }
            }
        }
        Value::Array(items) => {
            if let Some(n) = node.item() {
                for item in items {
                    prune_go_empty_maps(item, n);
                }
            }
        }
        _ => {}
    }
}

/// Go drops empty maps and lists of ObjectMeta (`omitempty`).
fn prune_empty_metadata(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = match meta.get(f) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                meta.remove(f);
            }
        }
    }
}

fn with_status(mut new: Value, old: &Value) -> Value {
    if let Some(s) = old.get("status") {
        new["status"] = s.clone();
    }
    new
}

fn conflict_error(conflicts: &[managed::Conflict]) -> ApiError {
    let n = conflicts.len();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: conflict with {}: {}", conflicts[0].0, conflicts[0].1)
    } else {
        let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (o, f) in conflicts {
            by_owner.entry(o).or_default().push(f);
        }
        let parts: Vec<String> = by_owner
            .iter()
            .map(|(o, fs)| {
                format!("conflicts with {o}:\n{}", fs.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n"))
            })
            .collect();
        format!("Apply failed with {n} conflicts: {}", parts.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(o, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {o}"), "field": f}))
        .collect();
    ApiError::new(409, "Conflict", message, Some(json!({"causes": causes})))
}
