//! The Kustomize conformance corpus: every case under `tests/cases/` is rendered and compared
//! with the golden output `kubectl kustomize` produced (`regen-goldens.sh`), as data: the same
//! objects in the same order. Cases with `expected-error.txt` must fail. When `kubectl` is on
//! PATH, a differential test also runs it live on every case.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::value::Value;
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{DirTree, Object};
use gitops_render::Kustomize;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    out.sort();
    out
}

fn build_path(case: &Path) -> String {
    std::fs::read_to_string(case.join("path")).map(|s| s.trim().to_string()).unwrap_or_else(|_| ".".into())
}

fn render(case: &Path) -> Result<Vec<Object>, String> {
    let tree = DirTree::new(case.join("in")).map_err(|e| e.to_string())?;
    Kustomize::default().build(&tree, &build_path(case)).map_err(|e| e.to_string())
}

fn values(text: &str, source: &str) -> Vec<Value> {
    yaml::parse_values(text, source, &ParseOptions::default()).unwrap().into_iter().map(|(_, _, v)| v).collect()
}

fn first_difference(ours: &[Value], theirs: &[Value]) -> String {
    if ours.len() != theirs.len() {
        let ids = |vs: &[Value]| -> Vec<String> {
            vs.iter()
                .map(|v| {
                    format!("{}/{}", v["kind"].as_str().unwrap_or("?"), v["metadata"]["name"].as_str().unwrap_or("?"))
                })
                .collect()
        };
        return format!(
            "{} objects, expected {}: ours {:?}, expected {:?}",
            ours.len(),
            theirs.len(),
            ids(ours),
            ids(theirs)
        );
    }
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a != b {
            return format!("object {i} differs:\n  ours:     {a}\n  expected: {b}");
        }
    }
    String::new()
}

#[test]
fn golden_corpus() {
    let cases = cases();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    let mut byte_identical = 0;
    let mut rendered = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let ours = render(case);
        if case.join("expected-error.txt").exists() {
            if let Ok(objects) = ours {
                failures.push(format!("{name}: kubectl fails but we rendered {} objects", objects.len()));
            }
            continue;
        }
        let expected_text = std::fs::read_to_string(case.join("expected.yaml")).unwrap();
        let expected = values(&expected_text, &name);
        match ours {
            Err(e) => failures.push(format!("{name}: we failed: {e}")),
            Ok(objects) => {
                rendered += 1;
                let ours: Vec<Value> = objects.iter().map(|o| o.as_value().clone()).collect();
                if ours != expected {
                    failures.push(format!("{name}: {}", first_difference(&ours, &expected)));
                }
                let text = yaml::to_yaml_stream(&objects);
                if text.trim_end() == expected_text.trim_end() {
                    byte_identical += 1;
                } else if ours == expected {
                    failures.push(format!("{name}: same objects, but the text differs from kubectl's:\n{text}"));
                }
            }
        }
    }
    println!("{rendered} rendered cases, {byte_identical} byte-identical to kubectl kustomize");
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn differential_against_live_kubectl() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        println!("kubectl is not on PATH: skipped");
        return;
    }
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let out =
            Command::new("kubectl").arg("kustomize").arg(case.join("in").join(build_path(&case))).output().unwrap();
        let ours = render(&case);
        match (out.status.success(), ours) {
            (true, Ok(objects)) => {
                let theirs = values(&String::from_utf8_lossy(&out.stdout), &name);
                let ours: Vec<Value> = objects.iter().map(|o| o.as_value().clone()).collect();
                if ours != theirs {
                    failures.push(format!("{name}: {}", first_difference(&ours, &theirs)));
                }
            }
            (false, Err(_)) => {}
            (true, Err(e)) => failures.push(format!("{name}: kubectl succeeds, we fail: {e}")),
            (false, Ok(_)) => failures.push(format!("{name}: kubectl fails, we succeed")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_name_the_kustomization_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    for (case, needle) in [
        ("e01-missing-file", "nope.yaml"),
        ("e03-unknown-field", "namePrefx"),
        ("e04-untargeted-patch-no-match", "patches[0]"),
        ("e05-cycle", "cycle"),
        ("e06-outside-root", "security"),
        ("e07-malformed-yaml", "bad.yaml"),
        ("e08-two-kustomization-files", "multiple kustomization files"),
        ("e09-json6902-test-fails", "test /data/color"),
        ("e10-merge-without-base", "configMapGenerator[0].behavior"),
        ("e11-component-as-resource", "Component"),
        ("e12-dir-without-kustomization", "has no kustomization"),
        ("e13-empty-kustomization", "empty"),
        ("e14-duplicate-generator-key", "duplicate key \"K\""),
        ("e15-type-mismatch", "namePrefix"),
        ("e16-helm-without-enable", "--enable-helm"),
        ("e17-replacement-source-missing", "nothing selected"),
        ("e20-conflicting-fieldspecs", "conflicting fieldspecs"),
        ("e21-crds-malformed", "unable to parse open API definition"),
        ("e22-openapi-version-not-builtin", "not built in"),
        ("e23-openapi-version-and-path", "cannot use both"),
        ("e24-replicas-no-match", "resource with name zz does not match"),
        ("e25-empty-strategic-merge-patch", "patch appears to be empty"),
        ("e26-generator-id-exists", "behavior must be merge or replace"),
        ("e27-sort-options-without-order", "the field 'sortOptions.order' must be one of [fifo, legacy]"),
        (
            "e28-sort-options-fifo-with-legacy",
            "'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo'",
        ),
        ("e34-yes-annotation-is-a-boolean", "commonAnnotations.enabled"),
        ("e35-only-kind-is-empty", "empty"),
        ("e36-label-key-reads-as-number", "commonLabels"),
        ("e37-annotation-key-reads-as-boolean", "metadata.annotations"),
        ("e38-null-key", "null"),
    ] {
        let err = render(&dir.join(case)).unwrap_err();
        assert!(err.contains(needle), "{case}: {err}");
    }
}
