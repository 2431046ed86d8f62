//! The diff, the reconciler's hot path. Benchmark ids (read by scripts):
//! `diff/normalized/<object>` (desired against an in-sync live object), `diff/visit/<object>`
//! (the baseline: `desired == desired.clone()`), `diff/drifted/<object>` (one field drifted),
//! `diff/set/10000` (10,000 objects, a third each Deployments, Services and ConfigMaps, live as
//! a real API server serves them: defaulted fields, status, the controller's managedFields
//! entry; 1% drifted), `diff/set-cached/10000` (the same set with
//! the verdicts of the previous pass, a reconciler's steady state), and
//! `diff/set-warm/10000` (10,000 diffs of 30 in-sync pairs that stay in the CPU's caches: the
//! set's compute without its memory traffic).
//!
//! The process allocator is mimalloc, as in the `gitops-agent` binary; with the system
//! allocator (glibc malloc) the same objects are laid out more sparsely and the cold set walks
//! more memory.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::diff::{self, DiffOptions};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{FieldSet, Object, Schema};
use gitops_core::{json, value::Value};

/// Live as the API server returns it after `gitops` applied `desired`: managedFields, uid,
/// resourceVersion, status.
fn live_of(desired: &Object) -> Object {
    let mut v = desired.as_value().clone();
    let mut set = FieldSet::from_value(&v, Schema::builtin().node_for(desired));
    set.strip_bookkeeping();
    v["metadata"]["managedFields"] = json!([{"manager": "gitops", "operation": "Apply", "apiVersion": desired.api_version(),
        "time": "2026-11-27T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": set.to_fields_v1()}]);
    v["metadata"]["uid"] = json!("0b8f3c5e-0000-4000-8000-000000000001");
    v["metadata"]["resourceVersion"] = json!("4242");
    v["metadata"]["creationTimestamp"] = json!("2026-11-27T10:00:00Z");
    v["status"] = json!({"observedGeneration": 1});
    Object::from_value(v).unwrap()
}

/// Live as a real API server serves it: [`live_of`] plus the fields the server defaults
/// (Deployment strategy, pod and container defaults; Service cluster IPs, families, policies,
/// port protocols), `generation`, the controller's annotation, status and its managedFields
/// entry, as in the diff corpus's recorded objects. Parsed from JSON text, as a client gets it.
fn served(desired: &Object, i: usize) -> Object {
    let mut v = live_of(desired).into_value();
    match desired.kind() {
        "Deployment" => {
            let spec = &mut v["spec"];
            spec["strategy"] =
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
            spec["revisionHistoryLimit"] = json!(10);
            spec["progressDeadlineSeconds"] = json!(600);
            let pod = &mut spec["template"]["spec"];
            for (k, d) in [
                ("restartPolicy", json!("Always")),
                ("terminationGracePeriodSeconds", json!(30)),
                ("dnsPolicy", json!("ClusterFirst")),
                ("securityContext", json!({})),
                ("schedulerName", json!("default-scheduler")),
            ] {
                pod[k] = d;
            }
            for c in pod["containers"].as_array_mut().unwrap() {
                c["terminationMessagePath"] = json!("/dev/termination-log");
                c["terminationMessagePolicy"] = json!("File");
                c["imagePullPolicy"] = json!("IfNotPresent");
            }
            v["metadata"]["generation"] = json!(1);
            v["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
            let condition = |t: &str, reason: &str| {
                json!({"type": t, "status": "True", "lastUpdateTime": "2026-11-27T10:34:32Z",
                "lastTransitionTime": "2026-11-27T10:34:32Z", "reason": reason, "message": format!("ReplicaSet \"app-{i}-7cdfc8d44b\" is {reason}.")})
            };
            v["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                "conditions": [condition("Available", "MinimumReplicasAvailable"), condition("Progressing", "NewReplicaSetAvailable")]});
            let status_fields = json!({"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Progressing\"}": {".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}},
                "f:availableReplicas": {}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}});
            v["metadata"]["managedFields"].as_array_mut().unwrap().push(json!({"manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "apps/v1", "time": "2026-11-27T10:34:40Z", "fieldsType": "FieldsV1", "subresource": "status",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}, "f:status": status_fields}}));
        }
        "Service" => {
            let ip = format!("10.0.{}.{}", i / 250 % 250, i % 250);
            let spec = &mut v["spec"];
            for (k, d) in [
                ("clusterIP", json!(ip)),
                ("clusterIPs", json!([ip])),
                ("type", json!("ClusterIP")),
                ("sessionAffinity", json!("None")),
                ("ipFamilies", json!(["IPv4"])),
                ("ipFamilyPolicy", json!("SingleStack")),
                ("internalTrafficPolicy", json!("Cluster")),
            ] {
                spec[k] = d;
            }
            for p in spec["ports"].as_array_mut().unwrap() {
                p["protocol"] = json!("TCP");
            }
            v["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
    Object::from_value(serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap()).unwrap()
}

fn objects() -> Vec<(&'static str, Object, Object)> {
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gitops-core/tests/data/diff-corpus/cases/01-deployment-basic-after-status"
    );
    let desired_text = std::fs::read_to_string(format!("{corpus}/desired.yaml")).unwrap();
    let deploy = yaml::parse_objects(&desired_text, "desired", &ParseOptions::default()).unwrap().remove(0);
    let live: Value = serde_json::from_str(&std::fs::read_to_string(format!("{corpus}/live.json")).unwrap()).unwrap();
    let deploy_live = Object::from_value(live).unwrap();
    // A 10 KB ConfigMap.
    let data: gitops_core::value::Map<String, Value> =
        (0..100).map(|i| (format!("key-{i:03}"), Value::String(format!("value {i} ").repeat(10)))).collect();
    let cm = Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "bench"}, "data": data})).unwrap();
    // A 50 KB custom resource (no schema: maps granular, lists atomic).
    let rules: Vec<Value> = (0..280).map(|i| json!({"name": format!("rule-{i}"), "match": {"host": format!("svc-{i}.example.com"), "path": format!("/api/v{i}")}, "weight": i, "headers": {"x-team": "payments", "x-tier": "gold"}})).collect();
    let cr = Object::from_value(json!({"apiVersion": "example.com/v1", "kind": "Router", "metadata": {"name": "edge", "namespace": "bench"},
        "spec": {"rules": rules, "routes": (0..280).map(|i| (format!("route-{i}"), json!({"target": format!("svc-{i}"), "timeout": "30s"}))).collect::<gitops_core::value::Map<_, _>>()}})).unwrap();
    let cm_live = live_of(&cm);
    let cr_live = live_of(&cr);
    eprintln!(
        "sizes: deployment live {} B, configmap {} B, custom resource {} B",
        serde_json::to_vec(deploy_live.as_value()).unwrap().len(),
        serde_json::to_vec(cm.as_value()).unwrap().len(),
        serde_json::to_vec(cr.as_value()).unwrap().len()
    );
    vec![("deployment", deploy, deploy_live), ("configmap-10k", cm, cm_live), ("custom-resource-50k", cr, cr_live)]
}

fn bench(c: &mut Criterion) {
    let opts = DiffOptions::default();
    let schema = Schema::builtin();
    let mut group = c.benchmark_group("diff");
    for (name, desired, live) in objects() {
        assert!(diff::diff(&desired, &live, &opts, schema).is_empty(), "{name} must be in sync");
        group.bench_function(format!("normalized/{name}"), |b| {
            b.iter(|| black_box(diff::diff(black_box(&desired), black_box(&live), &opts, schema).is_empty()))
        });
        let value = desired.as_value().clone();
        group.bench_function(format!("visit/{name}"), |b| {
            b.iter(|| black_box(black_box(&value) == &black_box(&value).clone()))
        });
        let mut drifted = live.clone();
        match name {
            "deployment" => drifted.set("/spec/replicas", json!(9)).unwrap(),
            "configmap-10k" => drifted.set("/data/key-050", json!("changed")).unwrap(),
            _ => drifted.set("/spec/routes/route-160/timeout", json!("5s")).unwrap(),
        }
        assert_eq!(diff::diff(&desired, &drifted, &opts, schema).changes.len(), 1);
        group.bench_function(format!("drifted/{name}"), |b| {
            b.iter(|| black_box(diff::diff(black_box(&desired), black_box(&drifted), &opts, schema).changes.len()))
        });
    }
    // 10,000 objects: Deployments, Services, ConfigMaps, live as the server serves them; 1%
    // drifted.
    let mut desired = Vec::with_capacity(10_000);
    let mut live = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let o = match i % 3 {
            0 => gitops_benches::deployment(&format!("app-{i}"), 1),
            1 => Object::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}"), "namespace": "bench"}, "spec": {"selector": {"app": format!("app-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}})).unwrap(),
            _ => Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "bench"}, "data": {"a": "1", "b": "2"}})).unwrap(),
        };
        let mut l = served(&o, i);
        if i % 100 == 0 {
            l.set("/metadata/labels", json!({"drifted": "yes"})).unwrap();
            l.remove("/metadata/labels");
            l.set("/metadata/annotations", json!({"x": "y"})).unwrap();
            if o.kind() == "ConfigMap" {
                l.set("/data/a", json!("9")).unwrap()
            } else if o.kind() == "Service" {
                l.set("/spec/ports/0/targetPort", json!(9090)).unwrap()
            } else {
                l.set("/spec/replicas", json!(7)).unwrap()
            }
        }
        desired.push(o);
        live.push(l);
    }
    let s = diff::diff_set(&desired, &live, &opts, schema);
    assert_eq!(s.update.len(), 100, "1% drifted");
    let idx: Vec<usize> = (0..10_000).filter(|i| i % 100 != 0).take(30).collect();
    let small: (Vec<Object>, Vec<Object>) = idx.iter().map(|&i| (desired[i].clone(), live[i].clone())).unzip();
    assert!(diff::diff_set(&small.0, &small.1, &opts, schema).update.is_empty());
    group.bench_function("set-warm/10000", |b| {
        b.iter(|| {
            (0..333)
                .map(|_| diff::diff_set(black_box(&small.0), black_box(&small.1), &opts, schema).update.len())
                .sum::<usize>()
        })
    });
    group.bench_function("set/10000", |b| {
        b.iter(|| black_box(diff::diff_set(black_box(&desired), black_box(&live), &opts, schema).update.len()))
    });
    // A reconciler's steady pass: the same pairs again, with the verdicts of the last pass.
    let mut cache = diff::DiffCache::new();
    assert_eq!(diff::diff_set_cached(&desired, &live, &opts, schema, &mut cache).update.len(), 100);
    group.bench_function("set-cached/10000", |b| {
        b.iter(|| {
            black_box(
                diff::diff_set_cached(black_box(&desired), black_box(&live), &opts, schema, &mut cache).update.len(),
            )
        })
    });
    group.finish();
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
