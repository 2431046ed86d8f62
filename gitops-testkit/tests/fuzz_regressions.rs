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
    let body = serde_json::json!({
        "apiVeRsion": "p/pasv1", "ki=d": "Deployment", "metadata": {"name": "w"},
        "spec": {"replicas": 0, "selector": {"matchLabels": "c", "imag": {"a": "b"}},
                 "template": {"vetadata": {"labe|s": {"a": "b"}},
                              "spec": {"containeqs": [{"name": "c", "image": "i"}]}}}
    });
    // Found by the api_request fuzz target: the Deployment controller indexed into the
    // string. Whatever the answer, the server keeps serving: a later valid create works.
    let _ = state.create(&res, &target, body, &opts);
    let valid = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ok"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    let created = state.create(&res, &target, valid, &opts).expect("a valid Deployment is created");
    assert_eq!(created.pointer("/metadata/name").and_then(|n| n.as_str()), Some("ok"));
}
