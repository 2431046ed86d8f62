//! Application Helm sources against the reference: every `spec.source.helm` field rendered by
//! `AutoRenderer` and compared, object for object, with what `helm template` prints for the
//! arguments Argo CD's repo server gives it (written out here by hand). The chart
//! (`tests/data/charts/web`) has a `file://` dependency, CRDs, a test hook, a pre-install
//! hook with `generateName`, a values schema and capability checks.
//!
//! The helm binary is `GITOPS_TEST_HELM`, else `helm` on PATH (`.ci/run` installs one); without
//! it the comparisons are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::json;
use gitops_core::source::{AppSource, HelmFileParameter, HelmParameter, HelmSource, RenderRequest};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{DirTree, MemTree, Object, Renderer};
use gitops_render::{AutoRenderer, HelmOptions};

fn helm() -> Option<PathBuf> {
    let candidate = std::env::var_os("GITOPS_TEST_HELM").map(PathBuf::from).unwrap_or_else(|| "helm".into());
    let out = Command::new(&candidate).args(["version", "--short"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).starts_with("v3.").then_some(candidate)
}

/// The charts copied into a fresh repository directory (`charts/web`, `charts/common`,
/// `env/prod.yaml`, `files/motd.txt`).
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/charts");
    gitops_testkit::git::copy_dir(&charts, &dir.path().join("charts"));
    std::fs::create_dir_all(dir.path().join("env")).unwrap();
    std::fs::write(dir.path().join("env/prod.yaml"), "image:\n  tag: \"9.9\"\nservice:\n  port: 8080\n").unwrap();
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/motd.txt"), "welcome, all\n").unwrap();
    dir
}

/// `helm template` run by hand on a copy of the repository, with dependencies built.
fn reference(helm: &Path, repo: &Path, args: &[&str]) -> Vec<Object> {
    let work = tempfile::tempdir().unwrap();
    gitops_testkit::git::copy_dir(repo, work.path());
    let chart = work.path().join("charts/web");
    let home = work.path().join(".helm");
    let run = |args: &[&str]| {
        let out = Command::new(helm)
            .args(args)
            .env("HELM_CONFIG_HOME", &home)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["dependency", "build", chart.to_str().unwrap()]);
    let mut full = vec!["template", chart.to_str().unwrap()];
    full.extend_from_slice(args);
    yaml::parse_objects(&run(&full), "helm template", &ParseOptions::default()).unwrap()
}

fn ours(helm: &Path, tree: &dyn gitops_core::FileTree, source: &AppSource, app: &str, ns: &str) -> Vec<Object> {
    let renderer =
        AutoRenderer { helm: HelmOptions { command: helm.to_path_buf(), ..Default::default() }, ..Default::default() };
    renderer
        .render_source(tree, &RenderRequest::new(source, app, ns, "4f2a9c1d3e5b7a9c0d1e2f3a4b5c6d7e8f9a0b1c"))
        .unwrap()
}

fn keyed(objects: &[Object]) -> Vec<(String, gitops_core::value::Value)> {
    let mut v: Vec<_> = objects
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}/{}",
                    o.kind(),
                    o.namespace(),
                    o.get("/metadata/name").or(o.get("/metadata/generateName")).cloned().unwrap_or_default()
                ),
                o.as_value().clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn source(helm: HelmSource) -> AppSource {
    AppSource {
        repo_url: "https://git.example.com/config.git".into(),
        path: "charts/web".into(),
        helm: Some(helm),
        ..Default::default()
    }
}

#[test]
fn helm_sources_render_as_helm_template_does() {
    let Some(helm) = helm() else {
        println!("no helm v3 binary (GITOPS_TEST_HELM or helm on PATH): the comparison is skipped");
        return;
    };
    let repo = repo();
    let tree = DirTree::new(repo.path()).unwrap();
    let vals = |name: &str| repo.path().join(name).display().to_string();

    // Defaults: release = the application's name, namespace = the destination's, CRDs in.
    let got = ours(&helm, &tree, &source(HelmSource::default()), "shop", "shop-prod");
    let want =
        reference(&helm, repo.path(), &["--name-template", "shop", "--namespace", "shop-prod", "--include-crds"]);
    assert_eq!(keyed(&got), keyed(&want));
    assert!(got.iter().any(|o| o.kind() == "CustomResourceDefinition"), "CRDs included by default");
    assert!(got.iter().any(|o| o.name() == "shop-test"), "tests included unless skipped");

    // Every field at once: releaseName, namespace, valueFiles (relative, from the root, and
    // with ../), values, parameters with --set and --set-string (envsubst, commas),
    // fileParameters, skipCrds, skipTests, kubeVersion, apiVersions.
    let all = HelmSource {
        release_name: "web-prod".into(),
        namespace: "frontend".into(),
        value_files: vec!["values-prod.yaml".into(), "/env/prod.yaml".into(), "../web/values-prod.yaml".into()],
        values: Some("config: from-values-string\n".into()),
        parameters: vec![
            HelmParameter {
                name: "labels.rev".into(),
                value: "$ARGOCD_APP_REVISION_SHORT".into(),
                force_string: false,
            },
            HelmParameter { name: "image.tag".into(), value: "2".into(), force_string: true },
            HelmParameter { name: "labels.team".into(), value: "a,b".into(), force_string: false },
        ],
        file_parameters: vec![HelmFileParameter { name: "config".into(), path: "../../files/motd.txt".into() }],
        skip_crds: true,
        skip_tests: true,
        kube_version: "1.31.0".into(),
        api_versions: vec!["monitoring.coreos.com/v1".into()],
        ..Default::default()
    };
    let got = ours(&helm, &tree, &source(all.clone()), "shop", "shop-prod");
    let motd = vals("files/motd.txt");
    let want = reference(
        &helm,
        repo.path(),
        &[
            "--name-template",
            "web-prod",
            "--namespace",
            "frontend",
            "--kube-version",
            "1.31.0",
            "--set",
            "labels.rev=4f2a9c1",
            "--set",
            "labels.team=a\\,b",
            "--set-string",
            "image.tag=2",
            "--set-file",
            &format!("config={motd}"),
            "--values",
            &vals("charts/web/values-prod.yaml"),
            "--values",
            &vals("env/prod.yaml"),
            "--values",
            &vals("charts/web/values-prod.yaml"),
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--skip-tests",
        ],
    );
    assert_eq!(keyed(&got), keyed(&want));
    let deploy = got.iter().find(|o| o.kind() == "Deployment").unwrap();
    assert_eq!(deploy.get("/spec/replicas").unwrap(), 3);
    assert_eq!(deploy.get("/metadata/labels/rev").unwrap(), "4f2a9c1");
    assert_eq!(deploy.get("/metadata/labels/team").unwrap(), "a,b");
    assert_eq!(deploy.get("/metadata/annotations/has-monitoring").unwrap(), "true");
    assert_eq!(deploy.get("/metadata/annotations/kube-version").unwrap(), "v1.31.0");
    let cm = got.iter().find(|o| o.kind() == "ConfigMap").unwrap();
    assert_eq!(cm.get("/data/config").unwrap(), "welcome, all\n", "--set-file over --values");
    assert_eq!(cm.get("/data/tagType").unwrap(), "string", "forceString");
    assert!(!got.iter().any(|o| o.kind() == "CustomResourceDefinition"));
    assert!(!got.iter().any(|o| o.name() == "web-prod-test"));

    // valuesObject wins over values.
    let object = HelmSource {
        values: Some("config: ignored\n".into()),
        values_object: Some(json!({"config": "from-object", "service": {"enabled": false}})),
        ..Default::default()
    };
    let got = ours(&helm, &tree, &source(object), "shop", "shop-prod");
    let inline = repo.path().join("inline.yaml");
    std::fs::write(&inline, "config: from-object\nservice:\n  enabled: false\n").unwrap();
    let want = reference(
        &helm,
        repo.path(),
        &[
            "--name-template",
            "shop",
            "--namespace",
            "shop-prod",
            "--include-crds",
            "--values",
            inline.to_str().unwrap(),
        ],
    );
    assert_eq!(keyed(&got), keyed(&want));
    assert!(!got.iter().any(|o| o.kind() == "Service"));

    // A values file from another source (`$values/...`).
    let values_repo = MemTree::new().with_file("envs/prod/web.yaml", "replicas: 7\n");
    let src = source(HelmSource { value_files: vec!["$values/envs/prod/web.yaml".into()], ..Default::default() });
    let renderer =
        AutoRenderer { helm: HelmOptions { command: helm.clone(), ..Default::default() }, ..Default::default() };
    let mut request = RenderRequest::new(&src, "shop", "shop-prod", "abc");
    request.refs.push(("values".into(), &values_repo));
    let got = renderer.render_source(&tree, &request).unwrap();
    assert_eq!(got.iter().find(|o| o.kind() == "Deployment").unwrap().get("/spec/replicas").unwrap(), 7);

    // skipSchemaValidation: the chart's schema wants an integer.
    let bad = HelmSource {
        parameters: vec![HelmParameter { name: "replicas".into(), value: "many".into(), force_string: true }],
        ..Default::default()
    };
    let err = renderer
        .render_source(&tree, &RenderRequest::new(&source(bad.clone()), "shop", "ns", "abc"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("charts/web") && err.contains("replicas"), "{err}");
    assert!(!err.contains("gitops-helm-"), "no temporary paths in errors: {err}");
    let skipped = HelmSource { skip_schema_validation: true, ..bad };
    assert!(renderer.render_source(&tree, &RenderRequest::new(&source(skipped), "shop", "ns", "abc")).is_ok());
}

#[test]
fn missing_values_files_and_bad_charts_are_clear_errors() {
    let Some(helm) = helm() else {
        println!("no helm v3 binary: skipped");
        return;
    };
    let repo = repo();
    let tree = DirTree::new(repo.path()).unwrap();
    let renderer = AutoRenderer { helm: HelmOptions { command: helm, ..Default::default() }, ..Default::default() };
    let render = |h: HelmSource| renderer.render_source(&tree, &RenderRequest::new(&source(h), "shop", "ns", "abc"));
    let missing = HelmSource { value_files: vec!["values-staging.yaml".into()], ..Default::default() };
    let err = render(missing.clone()).unwrap_err().to_string();
    assert!(
        err.contains("charts/web") && err.contains("values-staging.yaml") && err.contains("does not exist"),
        "{err}"
    );
    assert!(render(HelmSource { ignore_missing_value_files: true, ..missing }).is_ok());
    let outside = HelmSource { value_files: vec!["../../../etc/passwd".into()], ..Default::default() };
    assert!(render(outside).unwrap_err().to_string().contains("outside the repository root"));
    // A template that does not parse.
    std::fs::write(repo.path().join("charts/web/templates/broken.yaml"), "{{ .Values.x | nope }}\n").unwrap();
    let err = render(HelmSource::default()).unwrap_err().to_string();
    assert!(err.contains("broken.yaml") && err.contains("nope"), "{err}");
}
