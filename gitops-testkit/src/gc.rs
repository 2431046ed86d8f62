//! kube-controller-manager's garbage collector, run at once after each write instead of
//! from an informer graph:
//!
//! - a dependent whose owners are all gone (no object of that kind and name where the
//!   reference resolves, or one with another uid) is deleted; one that keeps a live owner
//!   loses only the dangling references;
//! - a namespaced owner resolves in the dependent's namespace (a reference cannot cross
//!   namespaces), and a reference whose uid lives in another namespace is reported with an
//!   `OwnerRefInvalidNamespace` Warning Event;
//! - a reference to a kind the server does not serve is left alone (the collector cannot map
//!   it and retries forever);
//! - `orphan`: the owner's dependents lose their reference to it, then the owner goes;
//! - `foregroundDeletion`: every dependent is deleted, and the owner stays until no dependent
//!   with `blockOwnerDeletion` is left.
//!
//! The validation of `metadata.ownerReferences` the API server does before storing is here too.

use gitops_core::{json, value::Value};

use crate::admission::Cause;
use crate::api::{State, Target, meta_str, now};
use crate::managed;
use crate::registry::Resource;
use gitops_core::Propagation;

/// The causes of invalid `metadata.ownerReferences`, with the API server's messages.
pub fn owner_reference_causes(v: &Value) -> Vec<Cause> {
    let Some(refs) = v.pointer("/metadata/ownerReferences").and_then(Value::as_array) else { return Vec::new() };
    let field = "metadata.ownerReferences";
    let invalid = |f: String, value: String, msg: &str| {
        ("FieldValueInvalid".to_string(), f, format!("Invalid value: {value}: {msg}"))
    };
    let mut out = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (api_version, kind, name, uid) = (s("apiVersion"), s("kind"), s("name"), s("uid"));
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            out.push(invalid(format!("{field}.apiVersion"), go_quote(&api_version), "version must not be empty"));
        }
        if kind.is_empty() {
            out.push(invalid(format!("{field}.kind"), go_quote(&kind), "must not be empty"));
        }
        if name.is_empty() {
            out.push(invalid(format!("{field}.name"), go_quote(&name), "must not be empty"));
        }
        if uid.is_empty() {
            out.push(invalid(format!("{field}.uid"), go_quote(&uid), "must not be empty"));
        }
        if api_version == "v1" && kind == "Event" {
            out.push(invalid(field.into(), go_ref(r), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => out.push(invalid(
                    field.into(),
                    go_json(refs),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    out
}

use gitops_core::gofmt::go_quote;

/// Owner references as Go marshals `[]metav1.OwnerReference`: the struct's field order,
/// pointers left out when unset.
fn go_json(refs: &[Value]) -> String {
    format!("[{}]", refs.iter().map(go_ref).collect::<Vec<_>>().join(","))
}

/// One owner reference as Go marshals `metav1.OwnerReference`.
fn go_ref(r: &Value) -> String {
    let mut fields: Vec<String> = ["apiVersion", "kind", "name", "uid"]
        .iter()
        .map(|k| format!("\"{k}\":{}", go_quote(r.get(*k).and_then(Value::as_str).unwrap_or(""))))
        .collect();
    for k in ["controller", "blockOwnerDeletion"] {
        if let Some(b) = r.get(k).and_then(Value::as_bool) {
            fields.push(format!("\"{k}\":{b}"));
        }
    }
    format!("{{{}}}", fields.join(","))
}

/// What an owner reference points at.
enum Owner {
    /// The owner exists with the reference's uid and is not waiting for its dependents.
    Solid,
    /// The owner is being deleted in the foreground.
    Waiting,
    /// No such owner where the reference resolves. `elsewhere` is set when an object with
    /// the reference's uid exists in another namespace.
    Dangling { elsewhere: bool },
    /// The kind is not served: the collector leaves the dependent alone.
    Unknown,
}

fn has_finalizer(v: &Value, f: &str) -> bool {
    v.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|l| l.iter().any(|x| x == f))
}

fn refs_of(v: &Value) -> Vec<Value> {
    v.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn target_of(v: &Value) -> Target {
    Target { namespace: meta_str(v, "namespace").into(), name: meta_str(v, "name").into(), subresource: String::new() }
}

impl State {
    fn resource_of_ref(&self, r: &Value) -> Option<Resource> {
        let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let (group, version) = gitops_core::object::split_api_version(api_version);
        self.registry
            .by_kind(group, version, kind)
            .or_else(|| self.registry.resources().iter().find(|x| x.group == group && x.kind == kind))
            .cloned()
    }

    fn classify(&self, dependent: &Value, dependent_namespaced: bool, r: &Value) -> Owner {
        let Some(owner_res) = self.resource_of_ref(r) else { return Owner::Unknown };
        let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        // A namespaced owner of a cluster-scoped dependent cannot be resolved at all.
        let found = if owner_res.namespaced && !dependent_namespaced {
            None
        } else {
            self.get_object(&owner_res, meta_str(dependent, "namespace"), name)
        };
        match found {
            Some(o) if meta_str(o, "uid") == uid => {
                if o.pointer("/metadata/deletionTimestamp").is_some() && has_finalizer(o, "foregroundDeletion") {
                    Owner::Waiting
                } else {
                    Owner::Solid
                }
            }
            _ => Owner::Dangling {
                elsewhere: !uid.is_empty()
                    && self.objects.values().any(|o| {
                        meta_str(o, "uid") == uid && meta_str(o, "namespace") != meta_str(dependent, "namespace")
                    }),
            },
        }
    }

    /// The collector's `attemptToDelete` for one object: deletes it when no owner is left,
    /// or removes its dangling references when one is.
    pub(crate) fn attempt_to_delete(&mut self, res: &Resource, namespace: &str, name: &str) {
        let Some(dep) = self.get_object(res, namespace, name).cloned() else { return };
        if dep.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let refs = refs_of(&dep);
        if refs.is_empty() {
            return;
        }
        let (mut solid, mut waiting, mut dangling) = (0, 0, Vec::new());
        for r in &refs {
            match self.classify(&dep, res.namespaced, r) {
                Owner::Solid => solid += 1,
                Owner::Waiting => waiting += 1,
                Owner::Unknown => return,
                Owner::Dangling { elsewhere } => {
                    if elsewhere {
                        self.report_invalid_namespace(res, &dep, r);
                    }
                    dangling.push(r["uid"].clone());
                }
            }
        }
        if solid > 0 {
            if !dangling.is_empty() {
                self.remove_owner_refs(res, &dep, &dangling);
            }
            return;
        }
        if dangling.is_empty() && waiting == 0 {
            return;
        }
        let has_dependents = !self.dependents(meta_str(&dep, "uid")).is_empty();
        let policy = if waiting > 0 && has_dependents || has_finalizer(&dep, "foregroundDeletion") {
            Propagation::Foreground
        } else if has_finalizer(&dep, "orphan") {
            Propagation::Orphan
        } else {
            Propagation::Background
        };
        let _ = self.delete(res, &target_of(&dep), Some(policy), false);
    }

    /// After a write: an object that names owners is checked against them.
    pub(crate) fn check_owners(&mut self, res: &Resource, obj: &Value) {
        if obj.pointer("/metadata/ownerReferences").is_some() {
            self.attempt_to_delete(res, meta_str(obj, "namespace"), meta_str(obj, "name"));
        }
    }

    /// After a deletion: its dependents are collected, and owners waiting in the foreground
    /// for it may go.
    pub(crate) fn collect_garbage(&mut self, deleted: &Value) {
        for (res, dep) in self.dependents(meta_str(deleted, "uid")) {
            self.attempt_to_delete(&res, meta_str(&dep, "namespace"), meta_str(&dep, "name"));
        }
        for r in refs_of(deleted) {
            let Some(owner_res) = self.resource_of_ref(&r) else { continue };
            let ns = if owner_res.namespaced { meta_str(deleted, "namespace") } else { "" };
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            if let Some(owner) = self.get_object(&owner_res, ns, name).cloned()
                && meta_str(&owner, "uid") == r.get("uid").and_then(Value::as_str).unwrap_or("")
                && owner.pointer("/metadata/deletionTimestamp").is_some()
                && has_finalizer(&owner, "foregroundDeletion")
            {
                self.process_deleting_dependents(&owner_res, &owner);
            }
        }
    }

    /// The work of the `orphan` and `foregroundDeletion` finalizers on an object being deleted.
    pub(crate) fn run_finalizers(&mut self, res: &Resource, obj: &Value) {
        if has_finalizer(obj, "customresourcecleanup.apiextensions.k8s.io") {
            self.remove_custom_resources(obj);
            self.drop_finalizer(res, obj, "customresourcecleanup.apiextensions.k8s.io");
            return;
        }
        if has_finalizer(obj, "orphan") {
            let uid = json!(meta_str(obj, "uid"));
            for (dep_res, dep) in self.dependents(meta_str(obj, "uid")) {
                self.remove_owner_refs(&dep_res, &dep, std::slice::from_ref(&uid));
            }
            self.drop_finalizer(res, obj, "orphan");
        } else if has_finalizer(obj, "foregroundDeletion") {
            for (dep_res, dep) in self.dependents(meta_str(obj, "uid")) {
                self.attempt_to_delete(&dep_res, meta_str(&dep, "namespace"), meta_str(&dep, "name"));
            }
            if let Some(owner) = self.get_object(res, meta_str(obj, "namespace"), meta_str(obj, "name")).cloned() {
                self.process_deleting_dependents(res, &owner);
            }
        }
    }

    /// An owner in foreground deletion goes once no dependent blocks it.
    fn process_deleting_dependents(&mut self, res: &Resource, owner: &Value) {
        let uid = meta_str(owner, "uid");
        let blocked = self
            .dependents(uid)
            .iter()
            .any(|(_, d)| refs_of(d).iter().any(|r| r["uid"] == json!(uid) && r["blockOwnerDeletion"] == json!(true)));
        if !blocked {
            self.drop_finalizer(res, owner, "foregroundDeletion");
        }
    }

    pub(crate) fn drop_finalizer(&mut self, res: &Resource, obj: &Value, finalizer: &str) {
        let Some(current) = self.get_object(res, meta_str(obj, "namespace"), meta_str(obj, "name")).cloned() else {
            return;
        };
        let mut new = current.clone();
        if let Some(Value::Array(f)) = new.pointer_mut("/metadata/finalizers") {
            f.retain(|x| x != finalizer);
        }
        let empty = new.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(Vec::is_empty);
        if empty {
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("finalizers");
            }
            let out = self.commit(res, new, "DELETED");
            self.after_delete(res, &out);
        } else {
            self.commit(res, new, "MODIFIED");
        }
    }

    /// The objects whose ownerReferences name `owner_uid`.
    pub(crate) fn dependents(&self, owner_uid: &str) -> Vec<(Resource, Value)> {
        if owner_uid.is_empty() {
            return Vec::new();
        }
        let uid = json!(owner_uid);
        self.stored_where(|_, v| refs_of_ref(v).is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid)))
    }

    /// Removes the references with these uids, as the collector's patch does: the fields
    /// leave their managers' sets.
    fn remove_owner_refs(&mut self, res: &Resource, dep: &Value, uids: &[Value]) {
        let mut new = dep.clone();
        if let Some(Value::Array(r)) = new.pointer_mut("/metadata/ownerReferences") {
            r.retain(|x| !uids.contains(&x["uid"]));
        }
        if new.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(Vec::is_empty)
            && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("ownerReferences");
        }
        let mut entries = managed::read(&new);
        managed::forget_missing(&mut entries, &new, None);
        managed::write(&mut new, &entries);
        self.commit(res, new, "MODIFIED");
    }

    /// The `OwnerRefInvalidNamespace` Warning the collector records on a dependent.
    fn report_invalid_namespace(&mut self, res: &Resource, dep: &Value, r: &Value) {
        let namespace = meta_str(dep, "namespace").to_string();
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let message = format!(
            "ownerRef [{}/{}, namespace: {namespace}, name: {}, uid: {}] does not exist in namespace {}",
            s("apiVersion"),
            s("kind"),
            s("name"),
            s("uid"),
            go_quote(&namespace)
        );
        let involved = json!({"kind": res.kind, "namespace": namespace, "name": meta_str(dep, "name"),
            "uid": meta_str(dep, "uid"), "apiVersion": res.api_version()});
        self.record_event(
            &namespace,
            involved,
            "Warning",
            "OwnerRefInvalidNamespace",
            &message,
            "garbage-collector-controller",
        );
    }

    /// Creates a core/v1 Event as a controller's event recorder does.
    pub(crate) fn record_event(
        &mut self,
        namespace: &str,
        involved: Value,
        kind: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let Some(res) = self.registry.by_kind("", "v1", "Event").cloned() else { return };
        let suffix: String = self.new_uid().chars().filter(char::is_ascii_hexdigit).take(16).collect();
        let name = format!("{}.{suffix}", involved["name"].as_str().unwrap_or("event"));
        let t = now();
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component}, "firstTimestamp": t, "lastTimestamp": t, "count": 1,
            "type": kind, "eventTime": null, "reportingComponent": component, "reportingInstance": ""});
        let _ = self.create_as(&res, namespace, event, component);
    }
}

fn refs_of_ref(v: &Value) -> Option<&Vec<Value>> {
    v.pointer("/metadata/ownerReferences").and_then(Value::as_array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_references_are_validated_as_the_api_server_does() {
        let v = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "", "kind": "", "name": "", "uid": ""},
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "b", "uid": "2", "controller": true},
        ]}});
        let causes = owner_reference_causes(&v);
        let fields: Vec<&str> = causes.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.ownerReferences.apiVersion",
                "metadata.ownerReferences.kind",
                "metadata.ownerReferences.name",
                "metadata.ownerReferences.uid",
                "metadata.ownerReferences"
            ]
        );
        assert_eq!(causes[3].2, "Invalid value: \"\": must not be empty");
        assert!(
            causes[4].2.ends_with("Found \"true\" in references for ConfigMap/a and Deployment/b"),
            "{}",
            causes[4].2
        );
        assert!(causes[4].2.starts_with("Invalid value: [{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"a\",\"uid\":\"1\",\"controller\":true},"));
        assert!(owner_reference_causes(&json!({"metadata": {}})).is_empty());
    }

    fn create(s: &mut State, plural: &str, group: &str, version: &str, ns: &str, obj: Value) -> Value {
        let res = s.registry.by_plural(group, version, plural).cloned().expect("served");
        let t = Target { namespace: ns.into(), name: String::new(), subresource: String::new() };
        s.create(&res, &t, obj, &crate::api::WriteOptions { manager: "test".into(), ..Default::default() })
            .expect("created")
    }

    fn exists(s: &State, plural: &str, group: &str, version: &str, ns: &str, name: &str) -> bool {
        let res = s.registry.by_plural(group, version, plural).cloned().expect("served");
        s.get_object(&res, ns, name).is_some()
    }

    #[test]
    fn references_resolve_by_scope_and_unknown_kinds_are_left_alone() {
        let mut s = State::new();
        let owner = create(&mut s, "configmaps", "", "v1", "default", json!({"metadata": {"name": "o"}}));
        let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
        // A cluster-scoped dependent cannot have a namespaced owner: it is collected.
        create(
            &mut s,
            "namespaces",
            "",
            "v1",
            "",
            json!({"metadata": {"name": "dep-ns", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid}]}}),
        );
        assert!(!exists(&s, "namespaces", "", "v1", "", "dep-ns"));
        // An owner of a kind nobody serves: the collector cannot map it and keeps the dependent.
        create(
            &mut s,
            "configmaps",
            "",
            "v1",
            "default",
            json!({"metadata": {"name": "alien", "ownerReferences": [
            {"apiVersion": "example.com/v1", "kind": "Nothing", "name": "x", "uid": "1"}]}}),
        );
        assert!(exists(&s, "configmaps", "", "v1", "default", "alien"));
        // The same name with another uid is not the owner.
        create(
            &mut s,
            "configmaps",
            "",
            "v1",
            "default",
            json!({"metadata": {"name": "stale", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "not-the-uid"}]}}),
        );
        assert!(!exists(&s, "configmaps", "", "v1", "default", "stale"));
        // A cluster-scoped owner of a namespaced dependent resolves without a namespace.
        let role =
            create(&mut s, "clusterroles", "rbac.authorization.k8s.io", "v1", "", json!({"metadata": {"name": "r"}}));
        create(
            &mut s,
            "configmaps",
            "",
            "v1",
            "default",
            json!({"metadata": {"name": "kept", "ownerReferences": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "r", "uid": role["metadata"]["uid"]}]}}),
        );
        assert!(exists(&s, "configmaps", "", "v1", "default", "kept"));
        // An owner deleted in the foreground waits for its blocking dependent's finalizer.
        create(
            &mut s,
            "configmaps",
            "",
            "v1",
            "default",
            json!({"metadata": {"name": "held", "finalizers": ["x/y"], "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid, "blockOwnerDeletion": true}]}}),
        );
        let cm = s.registry.by_plural("", "v1", "configmaps").cloned().unwrap();
        let t = |n: &str| Target { namespace: "default".into(), name: n.into(), subresource: String::new() };
        s.delete(&cm, &t("o"), Some(Propagation::Foreground), false).unwrap();
        assert!(s.get_object(&cm, "default", "o").is_some(), "the owner waits");
        assert!(s.get_object(&cm, "default", "held").unwrap().pointer("/metadata/deletionTimestamp").is_some());
        let mut held = s.get_object(&cm, "default", "held").cloned().unwrap();
        held["metadata"]["finalizers"] = json!([]);
        s.update(&cm, &t("held"), held, &crate::api::WriteOptions { manager: "test".into(), ..Default::default() })
            .unwrap();
        assert!(s.get_object(&cm, "default", "held").is_none());
        assert!(s.get_object(&cm, "default", "o").is_none(), "the owner goes once nothing blocks it");
    }
}
