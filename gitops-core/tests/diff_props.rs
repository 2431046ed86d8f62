//! Properties and classic cases of the diff.

use gitops_core::diff::{self, DiffOptions, IgnoreRule, Op};
use gitops_core::{Object, Schema};
use gitops_core::{json, value::Value};
use proptest::prelude::*;

fn obj(v: Value) -> Object {
    Object::from_value(v).unwrap()
}

fn deployment(image: &str, replicas: i64, env: &[(&str, &str)]) -> Object {
    let env: Vec<Value> = env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    obj(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "web", "image": image, "env": env, "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}}}))
}

/// Live as the API server returns it after `gitops` applied `desired`, with `owner` fields.
fn live_of(desired: &Object, extra_managers: Value) -> Object {
    let mut v = desired.as_value().clone();
    let node = Schema::builtin().node_for(desired);
    let mut set = gitops_core::FieldSet::from_value(&v, node);
    set.strip_bookkeeping();
    let mut managed = vec![
        json!({"manager": "gitops", "operation": "Apply", "apiVersion": desired.api_version(), "fieldsType": "FieldsV1", "fieldsV1": set.to_fields_v1()}),
    ];
    if let Value::Array(extra) = extra_managers {
        managed.extend(extra);
    }
    v["metadata"]["managedFields"] = Value::Array(managed);
    v["metadata"]["uid"] = json!("0b8f3c5e-0000-4000-8000-000000000001");
    v["metadata"]["resourceVersion"] = json!("42");
    v["status"] = json!({"observedGeneration": 1});
    obj(v)
}

fn paths(desired: &Object, live: &Object) -> Vec<String> {
    diff::drifted_paths(desired, live, "gitops", Schema::builtin())
}

#[test]
fn classic_false_out_of_sync_cases() {
    let d = deployment("nginx:1.25", 2, &[("A", "1")]);
    let mut live = live_of(&d, json!([])).into_value();
    // Server defaults and canonical quantities are not drift.
    live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] =
        json!({"cpu": "0.5", "memory": "1024Mi"});
    // Another manager's annotation is not drift.
    live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    assert!(paths(&d, &obj(live.clone())).is_empty());
    // An empty map in desired against nothing in live.
    let mut d2 = d.clone();
    d2.set("/spec/template/spec/securityContext", json!({})).unwrap();
    assert!(paths(&d2, &obj(live)).is_empty());
    // Secret stringData is compared with base64 data.
    let s = obj(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    );
    let l = obj(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"}),
    );
    assert!(paths(&s, &l).is_empty());
}

#[test]
fn true_drift_cases() {
    let d = deployment("nginx:1.25", 2, &[("A", "1"), ("B", "2")]);
    // Changed image.
    let mut live = live_of(&d, json!([])).into_value();
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    assert_eq!(paths(&d, &obj(live)), ["/spec/template/spec/containers[name=web]/image"]);
    // Git removed an env var gitops owned: applying removes it.
    let old = deployment("nginx:1.25", 2, &[("A", "1"), ("B", "2")]);
    let newer = deployment("nginx:1.25", 2, &[("A", "1")]);
    let live = live_of(&old, json!([]));
    assert_eq!(paths(&newer, &live), ["/spec/template/spec/containers[name=web]/env[name=B]"]);
    // The merged view shows the removal.
    let od = diff::diff(&newer, &live, &DiffOptions::default(), Schema::builtin());
    assert!(od.live_yaml().contains("name: B") && !od.merged_yaml().contains("name: B"), "{}", od.unified());
    // Replicas changed by kubectl scale (we set replicas): drift.
    let mut live = live_of(&d, json!([])).into_value();
    live["spec"]["replicas"] = json!(5);
    assert_eq!(paths(&d, &obj(live)), ["/spec/replicas"]);
    // Replicas owned by an HPA and not set by Git: not drift.
    let mut no_replicas = d.clone();
    no_replicas.remove("/spec/replicas");
    let hpa = json!([{"manager": "hpa", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
    let mut live = live_of(&no_replicas, hpa).into_value();
    live["spec"]["replicas"] = json!(7);
    assert!(paths(&no_replicas, &obj(live)).is_empty());
    // An inserted container is one change, not one per index.
    let mut two = d.as_value().clone();
    let extra = json!({"name": "proxy", "image": "envoy"});
    two["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap().insert(0, extra);
    assert_eq!(paths(&obj(two), &live_of(&d, json!([]))), ["/spec/template/spec/containers[name=proxy]"]);
}

#[test]
fn git_drops_a_map_another_manager_shares() {
    // gitops applied annotation `team`, the controller wrote `revision`; Git drops all the
    // annotations. Applying removes `team` only: the map stays, with the controller's key.
    let desired = obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}),
    );
    let live = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "annotations": {"team": "payments", "revision": "3"},
            "managedFields": [
                {"manager": "gitops", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:annotations": {"f:team": {}}}}},
                {"manager": "controller", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:revision": {}}}}}]},
        "data": {"a": "1"}}));
    assert_eq!(paths(&desired, &live), ["/metadata/annotations/team"]);
    let od = diff::diff(&desired, &live, &DiffOptions::default(), Schema::builtin());
    assert_eq!(od.changes[0].op, Op::Remove);
    let merged = od.merged_yaml();
    assert!(merged.contains("revision: \"3\"") && !merged.contains("team"), "{merged}");
    // Not shared: the whole map goes.
    let mut alone = live.clone();
    alone.remove("/metadata/annotations/revision");
    alone.remove("/metadata/managedFields/1");
    assert_eq!(paths(&desired, &alone), ["/metadata/annotations"]);
}

#[test]
fn ignore_rules() {
    let d = deployment("nginx:1.25", 2, &[]);
    let mut live = live_of(&d, json!([])).into_value();
    live["spec"]["replicas"] = json!(9);
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:9");
    let live = obj(live);
    let rule = |r: IgnoreRule| DiffOptions { ignore: vec![r], ..DiffOptions::default() };
    let by_pointer = rule(IgnoreRule {
        kind: Some("Deployment".into()),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    });
    let got: Vec<String> =
        diff::diff(&d, &live, &by_pointer, Schema::builtin()).changes.into_iter().map(|c| c.path).collect();
    assert_eq!(got, ["/spec/template/spec/containers[name=web]/image"]);
    let by_jq = rule(IgnoreRule {
        group: Some("apps".into()),
        jq_path_expressions: vec![
            ".spec.replicas".into(),
            ".spec.template.spec.containers[] | select(.name == \"web\") | .image".into(),
        ],
        ..Default::default()
    });
    assert!(diff::diff(&d, &live, &by_jq, Schema::builtin()).is_empty());
    let other_kind = rule(IgnoreRule {
        kind: Some("Service".into()),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    });
    assert_eq!(diff::diff(&d, &live, &other_kind, Schema::builtin()).changes.len(), 2);
    // managedFieldsManagers: fields an HPA owns are not compared.
    let mut live2 = live_of(&d, json!([{"manager": "hpa", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}])).into_value();
    live2["spec"]["replicas"] = json!(9);
    let by_manager = rule(IgnoreRule { managed_fields_managers: vec!["hpa".into()], ..Default::default() });
    assert!(diff::diff(&d, &obj(live2), &by_manager, Schema::builtin()).is_empty());
}

#[test]
fn set_diff() {
    let a = deployment("nginx:1", 1, &[]);
    let mut b = deployment("nginx:1", 1, &[]);
    b.set_name("other");
    let mut stale = deployment("nginx:1", 1, &[]);
    stale.set_name("stale");
    let mut changed = live_of(&a, json!([])).into_value();
    changed["spec"]["replicas"] = json!(3);
    let live = vec![obj(changed), live_of(&stale, json!([]))];
    let s = diff::diff_set(&[a.clone(), b.clone()], &live, &DiffOptions::default(), Schema::builtin());
    assert_eq!(s.create, [b.key()]);
    assert_eq!(s.update.len(), 1);
    assert_eq!(s.prune, [stale.key()]);
    let s =
        diff::diff_set(std::slice::from_ref(&a), &[live_of(&a, json!([]))], &DiffOptions::default(), Schema::builtin());
    assert_eq!(s.unchanged, [0], "the index of the desired object");
}

fn config_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,8}", "[a-zA-Z0-9 ]{0,12}", 1..8).prop_map(|data| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n", "labels": {"app": "x"}}, "data": data})
    })
}

proptest! {
    #[test]
    fn an_object_never_differs_from_itself(v in config_map(), image in "[a-z]{1,10}:[0-9]{1,3}", replicas in 0i64..50) {
        let o = obj(v);
        prop_assert!(diff::diff(&o, &o, &DiffOptions::default(), Schema::builtin()).is_empty());
        let d = deployment(&image, replicas, &[("K", "v")]);
        prop_assert!(diff::diff(&d, &live_of(&d, json!([])), &DiffOptions::default(), Schema::builtin()).is_empty());
    }

    #[test]
    fn a_single_edit_is_reported_as_exactly_that_edit(v in config_map(), pick in any::<prop::sample::Index>(), new_value in "[#]{1,5}") {
        let desired = obj(v);
        let keys: Vec<String> = desired.get("/data").unwrap().as_object().unwrap().keys().cloned().collect();
        let key = pick.get(&keys);
        let mut live = live_of(&desired, json!([]));
        live.set(&format!("/data/{key}"), Value::String(new_value)).unwrap();
        let d = diff::diff(&desired, &live, &DiffOptions::default(), Schema::builtin());
        prop_assert_eq!(d.changes.len(), 1);
        prop_assert_eq!(&d.changes[0].path, &format!("/data/{key}"));
        prop_assert_eq!(d.changes[0].op, Op::Replace);
    }

    #[test]
    fn masked_output_never_contains_a_secret_value(values in prop::collection::btree_map("[a-z]{1,6}", "[A-Za-z0-9]{6,20}", 1..5), changed in "[A-Za-z0-9]{6,20}") {
        let desired = obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": values}));
        let first = values.keys().next().unwrap().clone();
        let mut live_data = gitops_core::value::Map::new();
        use base64::Engine;
        for (k, v) in &values {
            let v = if *k == first { &changed } else { v };
            live_data.insert(k.clone(), Value::String(base64::engine::general_purpose::STANDARD.encode(v)));
        }
        let live = obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": live_data}));
        let d = diff::diff(&desired, &live, &DiffOptions::default(), Schema::builtin());
        let text = format!("{}{}", d.unified(), serde_json::to_string(&d.changes).unwrap());
        for v in values.values().chain([&changed]) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(v);
            prop_assert!(!text.contains(v.as_str()), "{} leaked", v);
            prop_assert!(!text.contains(&encoded), "{} leaked", encoded);
        }
        if values[&first] != changed {
            prop_assert_eq!(d.changes.len(), 1);
            prop_assert_ne!(&d.changes[0].before, &d.changes[0].after, "different values get different masks");
        }
    }
}
