//! Inputs the fuzz targets found, kept as tests: each must give an error or a result, never a
//! panic.

use gitops_testkit::State;
use gitops_testkit::api::{Target, WriteOptions};

#[test]
fn a_deployment_whose_selector_match_labels_is_a_string() {
    let mut state = State::new();
    let res = state.registry.by_kind("apps", "v1", "Deployment").cloned().unwrap();
    let target = Target { namespace: "default".into(), name: String::new(), subresource: String::new() };
    let opts = WriteOptions { manager: "fuzz".into(), ..Default::default() };
    let body = gitops_core::json!({
        "apiVeRsion": "p/pasv1", "ki=d": "Deployment", "metadata": {"name": "w"},
        "spec": {"replicas": 0, "selector": {"matchLabels": "c", "imag": {"a": "b"}},
                 "template": {"vetadata": {"labe|s": {"a": "b"}},
                              "spec": {"containeqs": [{"name": "c", "image": "i"}]}}}
    });
    // Found by the api_request fuzz target: the Deployment controller indexed into the
    // string. Whatever the answer, the server keeps serving: a later valid create works.
    let _ = state.create(&res, &target, body, &opts);
    let valid = gitops_core::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ok"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    let created = state.create(&res, &target, valid, &opts).expect("a valid Deployment is created");
    assert_eq!(created.pointer("/metadata/name").and_then(|n| n.as_str()), Some("ok"));
}

#[test]
fn a_replica_set_asking_for_millions_of_pods_gets_a_burst_per_sync() {
    // Found by the api_request fuzz target: a Deployment with 2,222,222 replicas made its
    // ReplicaSet create every Pod in one write (minutes, a gigabyte). The controller creates
    // 500 per sync, as kube-controller-manager's BurstReplicas; one write of a ReplicaSet is
    // one sync.
    let (mut state, opts, target) = with_default_account();
    let res = state.registry.by_kind("apps", "v1", "ReplicaSet").cloned().unwrap();
    let body = workload("ReplicaSet", "w", 2_222_222);
    let created = state.create(&res, &target, body, &opts).expect("the ReplicaSet is created");
    let pods = state.registry.by_kind("", "v1", "Pod").cloned().unwrap();
    let n = state.select(&pods, "default", &Default::default(), &Default::default()).len();
    assert_eq!(n, 500);
    let rs = state.get_object(&res, "default", "w").cloned().unwrap();
    assert_eq!(rs.pointer("/status/replicas").and_then(|r| r.as_i64()), Some(500), "{created}");
}

#[test]
fn a_deployment_asking_for_millions_of_pods_gets_a_burst_per_sync_of_its_replica_set() {
    // Found by the api_request fuzz target (a libFuzzer timeout): a Deployment of 22,222,221
    // replicas took 16 s to create. The rollout ran another pass of the Deployment controller
    // whenever its ReplicaSet's status changed, and each pass was another burst of 500 Pods
    // (16 passes), each burst looking at every Pod copied. A pass now follows only a pass that
    // scaled, so the write makes the bursts of the ReplicaSet's creation and of its one scale.
    let (mut state, opts, target) = with_default_account();
    let res = state.registry.by_kind("apps", "v1", "Deployment").cloned().unwrap();
    let body = workload("Deployment", "d", 22_222_221);
    state.create(&res, &target, body, &opts).expect("the Deployment is created");
    let pods = state.registry.by_kind("", "v1", "Pod").cloned().unwrap();
    let count = |state: &State| state.select(&pods, "default", &Default::default(), &Default::default()).len();
    let first = count(&state);
    assert!((500..=1000).contains(&first), "{first} Pods after the create");
    // The Deployment is served on: a later write of it works, and its ReplicaSet's status
    // counts its Pods.
    let patch = br#"{"metadata":{"labels":{"x":"y"}}}"#;
    let target = Target { name: "d".into(), ..target };
    state.patch(&res, &target, "application/merge-patch+json", patch, &opts).expect("the patch is applied");
    let rs_res = state.registry.by_kind("apps", "v1", "ReplicaSet").cloned().unwrap();
    let sets = state.select(&rs_res, "default", &Default::default(), &Default::default());
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].pointer("/spec/replicas").and_then(|r| r.as_i64()), Some(22_222_221));

    assert_eq!(sets[0].pointer("/status/replicas").and_then(|r| r.as_i64()), Some(count(&state) as i64));
}

/// A server with the `default` ServiceAccount in `default` (Pods need it), the options of a
/// write, and a target in `default`.
fn with_default_account() -> (State, WriteOptions, Target) {
    let mut state = State::new();
    let opts = WriteOptions { manager: "fuzz".into(), ..Default::default() };
    let target = Target { namespace: "default".into(), name: String::new(), subresource: String::new() };
    let sa = state.registry.by_kind("", "v1", "ServiceAccount").cloned().unwrap();
    let account = gitops_core::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
    let _ = state.create(&sa, &target, account, &opts);
    (state, opts, target)
}

/// An `apps/v1` workload of `replicas` Pods labelled `a: b`.
fn workload(kind: &str, name: &str, replicas: i64) -> gitops_core::value::Value {
    gitops_core::json!({
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    })
}
