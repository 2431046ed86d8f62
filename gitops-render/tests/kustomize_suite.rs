//! Kustomize's own test suite (`tests/kustomize-suite/`, 276 cases from its Go tests, each
//! checked against `kubectl kustomize` v5.5): every case is built with the library and its
//! output compared with the expected objects as data, documents in order; a case marked
//! `EXPECT_ERROR` must fail. The test fails when a case stops passing, and when one listed in
//! `KNOWN_FAILURES` starts passing (so that the list only shrinks).

use std::path::{Path, PathBuf};

use gitops_core::DirTree;
use gitops_core::value::Value;
use gitops_core::yaml::{self, ParseOptions};
use gitops_render::Kustomize;

/// Cases that do not pass yet, each with what is missing.
const KNOWN_FAILURES: [(&str, &str); 0] = [];

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize-suite/cases");
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    out.sort();
    out
}

fn values(text: &str, source: &str) -> Result<Vec<Value>, String> {
    let opts = ParseOptions { require_api_version: false, ..ParseOptions::default() };
    yaml::parse_values(text, source, &opts)
        .map(|docs| docs.into_iter().map(|(_, _, v)| v).filter(|v| !v.is_null()).collect())
        .map_err(|e| e.to_string())
}

/// `Ok(())` when the case passes, else the first difference.
fn run(case: &Path) -> Result<(), String> {
    let build = std::fs::read_to_string(case.join("BUILD")).map_err(|e| e.to_string())?;
    let build = build.trim();
    let path = build.strip_prefix("fs").map(|p| p.trim_start_matches('/')).unwrap_or(build);
    let path = if path.is_empty() { "." } else { path };
    // Git keeps no empty directory: a case whose file system is empty has no `fs/`.
    let root = case.join("fs");
    let empty = std::env::temp_dir().join(format!("kustomize-suite-empty-{}", std::process::id()));
    let root = if root.exists() {
        root
    } else {
        std::fs::create_dir_all(&empty).map_err(|e| e.to_string())?;
        empty
    };
    let tree = DirTree::new(&root).map_err(|e| e.to_string())?;
    let result = Kustomize::default().build(&tree, path);
    if case.join("EXPECT_ERROR").exists() {
        return match result {
            Ok(objects) => Err(format!("the build must fail, but it gave {} objects", objects.len())),
            Err(_) => Ok(()),
        };
    }
    let objects = result.map_err(|e| format!("the build failed: {e}"))?;
    let ours: Vec<Value> = objects.iter().map(|o| o.as_value().clone()).collect();
    let text = std::fs::read_to_string(case.join("expected.yaml")).map_err(|e| e.to_string())?;
    let expected = values(&text, "expected.yaml")?;
    if ours.len() != expected.len() {
        return Err(format!("{} objects, expected {}", ours.len(), expected.len()));
    }
    for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
        if a != b {
            return Err(format!("object {i} differs:\n  ours:     {a}\n  expected: {b}"));
        }
    }
    Ok(())
}

#[test]
fn kustomize_suite() {
    let cases = cases();
    assert_eq!(cases.len(), 276, "the suite has 276 cases");
    let mut passed = 0;
    let mut problems = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let known = KNOWN_FAILURES.iter().any(|(n, _)| *n == name);
        match (run(case), known) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => problems.push(format!("{name}: passes now; take it off KNOWN_FAILURES")),
            (Err(e), false) => problems.push(format!("{name}: {e}")),
            (Err(_), true) => {}
        }
    }
    eprintln!("kustomize suite: {passed} of {} cases pass", cases.len());
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(passed + KNOWN_FAILURES.len(), cases.len());
}
