//! The diff corpus: (desired, live) pairs recorded from a real kube-apiserver v1.36, each with
//! the verdict the server itself gave (applying desired would or would not change live).

use std::path::Path;

use gitops_core::value::Value;
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Schema, diff};

#[test]
fn every_recorded_pair_gets_the_servers_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diff-corpus/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    let mut path_notes: Vec<String> = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let desired_text = std::fs::read_to_string(case.join("desired.yaml")).unwrap();
        let desired = yaml::parse_objects(&desired_text, &name, &ParseOptions::default()).unwrap().remove(0);
        let live: Value = serde_json::from_str(&std::fs::read_to_string(case.join("live.json")).unwrap()).unwrap();
        let live = Object::from_value(live).unwrap();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
        let mut schema = Schema::builtin().clone();
        // Custom resources: the CRD applied as context is not part of the case; lists stay atomic.
        if desired.kind() == "CustomResourceDefinition" {
            schema.add_crd(&desired).ok();
        }
        let paths = diff::drifted_paths(&desired, &live, "gitops", &schema);
        let want = expected["drift"].as_bool().unwrap();
        if paths.is_empty() == want {
            failures
                .push(format!("{name}: expected drift={want}, got {paths:?} (expected paths {})", expected["paths"]));
        }
        let mut expected_paths: Vec<String> =
            expected["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
        expected_paths.sort();
        let mut got = paths.clone();
        got.sort();
        if got != expected_paths {
            path_notes.push(format!("{name}: paths {got:?}, recorded {expected_paths:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // The drifted paths must be the ones the corpus records, too.
    assert!(path_notes.is_empty(), "{} cases name other paths:\n{}", path_notes.len(), path_notes.join("\n"));
}
