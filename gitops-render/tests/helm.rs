//! Helm chart inflation against the real `helm` binary (v3) and `kubectl kustomize
//! --enable-helm`: a chart inflated twice with different values (inline override and merge,
//! an additional values file, CRDs, skipped tests, API and Kubernetes versions), under an
//! overlay with a namespace, a prefix, labels and an image override, must come out as kubectl
//! prints it. The helm binary is `GITOPS_TEST_HELM`, else `helm` on PATH (`.ci/run` installs
//! one); without it only the errors that need no helm are checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::{DirTree, yaml};
use gitops_render::{HelmOptions, Kustomize};

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm")
}

/// A helm v3 binary, if there is one.
fn helm() -> Option<PathBuf> {
    let candidate = std::env::var_os("GITOPS_TEST_HELM").map(PathBuf::from).unwrap_or_else(|| "helm".into());
    let out = Command::new(&candidate).args(["version", "-c", "--short"]).output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success() && v.trim_start_matches('v').starts_with('3')).then_some(candidate)
}

fn build(helm: Option<&Path>, dir: &str) -> Result<String, String> {
    let tree = DirTree::new(cases()).unwrap();
    let k = Kustomize {
        helm: helm.map(|h| HelmOptions { command: h.to_path_buf(), ..Default::default() }),
        ..Default::default()
    };
    k.build(&tree, dir).map(|o| yaml::to_yaml_stream(&o)).map_err(|e| e.to_string())
}

#[test]
fn charts_inflate_as_kubectl_inflates_them() {
    let Some(helm) = helm() else {
        println!("no helm v3 binary (GITOPS_TEST_HELM or helm on PATH): the live comparison is skipped");
        return;
    };
    let ours = build(Some(&helm), "overlay").unwrap();
    // What the chart must give, whatever kubectl does.
    for needle in [
        "name: prod-blue-web",
        "name: prod-green-web",
        "replicas: 3",
        "replicas: 1",
        "image: registry.example.com/web:2.6",
        "MODE: fancy",
        "METRICS: prometheus",
        "KUBE: \"31\"",
        "kind: CustomResourceDefinition",
        "namespace: shop",
    ] {
        assert!(ours.contains(needle), "{needle} missing from:\n{ours}");
    }
    assert!(!ours.contains("prod-blue-test"), "skipTests leaves the test pod out:\n{ours}");
    let Ok(out) = Command::new("kubectl")
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(&helm)
        .arg(cases().join("overlay"))
        .output()
    else {
        println!("kubectl is not on PATH: the differential comparison is skipped");
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ours.trim_end(), String::from_utf8_lossy(&out.stdout).trim_end());
}

#[test]
fn helm_errors_name_the_kustomization_and_the_chart() {
    // Not enabled: kubectl's words.
    let err = build(None, "app").unwrap_err();
    assert!(err.contains("app/kustomization.yaml") && err.contains("--enable-helm"), "{err}");
    // A helm binary that is not there.
    let err = build(Some(Path::new("/nonexistent/helm")), "app").unwrap_err();
    assert!(err.contains("helmCharts[0]") && err.contains("is '/nonexistent/helm' installed?"), "{err}");
    let Some(helm) = helm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let write = |k: &str| {
        std::fs::write(dir.path().join("kustomization.yaml"), k).unwrap();
        let tree = DirTree::new(dir.path()).unwrap();
        let kz =
            Kustomize { helm: Some(HelmOptions { command: helm.clone(), ..Default::default() }), ..Default::default() };
        kz.build(&tree, "").map(|_| ()).unwrap_err().to_string()
    };
    // No chart and no repository to pull it from.
    let err = write("helmCharts:\n- name: missing\n");
    assert!(err.contains("no repo specified for pull, no chart found"), "{err}");
    // A repository nobody serves (127.0.0.1:1): helm's error, named.
    let err = write("helmCharts:\n- name: missing\n  repo: http://127.0.0.1:1/charts\n  version: 1.0.0\n");
    assert!(err.contains("helmCharts[0]") && err.contains("pull"), "{err}");
    // Unknown and mistyped fields.
    let err = write("helmCharts:\n- name: web\n  bogus: 1\n");
    assert!(err.contains("helmCharts[0]") && err.contains("bogus"), "{err}");
    let err = write("helmCharts:\n- name: web\n  includeCRDs: maybe\n");
    assert!(err.contains("includeCRDs"), "{err}");
    let err = write("helmCharts:\n- releaseName: x\n");
    assert!(err.contains("chart name cannot be empty"), "{err}");
    // A chart home outside the kustomization's root, under the default load restrictor.
    let k = Kustomize { helm: Some(HelmOptions { command: helm.clone(), ..Default::default() }), ..Default::default() };
    let outside = gitops_core::MemTree::new()
        .with_file("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
        .with_file("k/kustomization.yaml", "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n- name: web\n");
    let err = k.build(&outside, "k").unwrap_err().to_string();
    assert!(err.contains("security") && err.contains("charts/web"), "{err}");
}
