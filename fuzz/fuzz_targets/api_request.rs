//! The test API server's request handling (gitops-testkit): a create, then a patch of each
//! content type (merge, JSON, strategic, server-side apply) with the fuzzer's bodies, on a
//! ConfigMap, a Deployment and a Namespace. Errors are Kubernetes Status errors, never a
//! panic.
#![no_main]
use gitops_testkit::State;
use gitops_testkit::api::{Target, WriteOptions};
use libfuzzer_sys::fuzz_target;

const KINDS: [(&str, &str, &str, bool); 3] =
    [("", "v1", "ConfigMap", true), ("apps", "v1", "Deployment", true), ("", "v1", "Namespace", false)];
const TYPES: [&str; 4] = [
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let (group, version, kind, namespaced) = KINDS[selector as usize % KINDS.len()];
    let content_type = TYPES[(selector as usize / KINDS.len()) % TYPES.len()];
    let mut parts = rest.splitn(2, |b| *b == 0);
    let (Some(create), Some(patch)) = (parts.next(), parts.next()) else { return };
    let mut state = State::new();
    let Some(res) = state.registry.by_kind(group, version, kind).cloned() else { return };
    let target = Target {
        namespace: if namespaced { "default".into() } else { String::new() },
        name: String::new(),
        subresource: String::new(),
    };
    let opts = WriteOptions { manager: "fuzz".into(), ..Default::default() };
    let name = match serde_json::from_slice::<gitops_core::value::Value>(create) {
        Ok(body) => match state.create(&res, &target, body, &opts) {
            Ok(created) => created.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("x").to_string(),
            Err(_) => "x".to_string(),
        },
        Err(_) => "x".to_string(),
    };
    let target = Target { name, ..target };
    let _ = state.patch(&res, &target, content_type, patch, &opts);
});
