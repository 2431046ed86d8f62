//! An Application's Kustomize options (`spec.source.kustomize`): what `AutoRenderer` renders
//! with them equals what `kubectl kustomize` builds from the kustomization as Argo CD's
//! `kustomize edit` commands leave it (written out here by hand for each case).

use std::process::Command;

use gitops_core::json;
use gitops_core::source::{AppSource, KustomizeReplica, KustomizeSource, RenderRequest};
use gitops_core::{DirTree, Object, Renderer, yaml};
use gitops_render::AutoRenderer;

const OVERLAY: &str = "resources:\n- ../base\ncommonLabels:\n  team: shop\n";

fn repo(overlay: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["base", "overlay", "components/monitoring"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    std::fs::write(
        dir.path().join("base/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry/web:1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("base/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("base/kustomization.yaml"), "resources:\n- deployment.yaml\n- service.yaml\n")
        .unwrap();
    std::fs::write(
        dir.path().join("components/monitoring/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  prometheus.io/scrape: \"true\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("overlay/kustomization.yaml"), overlay).unwrap();
    dir
}

fn kubectl(dir: &std::path::Path, kustomization: &str) -> Option<Vec<Object>> {
    std::fs::write(dir.join("overlay/kustomization.yaml"), kustomization).unwrap();
    let out = Command::new("kubectl").args(["kustomize", dir.join("overlay").to_str().unwrap()]).output().ok()?;
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    Some(yaml::parse_objects(&String::from_utf8(out.stdout).unwrap(), "kubectl", &Default::default()).unwrap())
}

fn ours(dir: &std::path::Path, options: KustomizeSource) -> Result<Vec<Object>, gitops_render::Error> {
    let tree = DirTree::new(dir).unwrap();
    let source = AppSource { path: "overlay".into(), kustomize: Some(options), ..Default::default() };
    AutoRenderer::default().render_source(&tree, &RenderRequest::new(&source, "shop", "shop-prod", "0123456789abcdef"))
}

fn values(objects: &[Object]) -> Vec<gitops_core::value::Value> {
    objects.iter().map(|o| o.as_value().clone()).collect()
}

#[test]
fn kustomize_options_build_as_kubectl_builds_the_edited_kustomization() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        println!("no kubectl: skipped");
        return;
    }
    let cases: Vec<(KustomizeSource, String)> = vec![
        (
            KustomizeSource {
                name_prefix: "prod-".into(),
                name_suffix: "-v2".into(),
                namespace: "shop-prod".into(),
                ..Default::default()
            },
            format!("{OVERLAY}namePrefix: prod-\nnameSuffix: -v2\nnamespace: shop-prod\n"),
        ),
        (
            KustomizeSource {
                common_labels: [("app.kubernetes.io/instance".to_string(), "$ARGOCD_APP_NAME".to_string())].into(),
                common_annotations: [("revision".to_string(), "$ARGOCD_APP_REVISION_SHORT".to_string())].into(),
                common_annotations_envsubst: true,
                ..Default::default()
            },
            format!("{OVERLAY}  app.kubernetes.io/instance: shop\ncommonAnnotations:\n  revision: \"0123456\"\n"),
        ),
        (
            KustomizeSource {
                common_labels: [("team".to_string(), "payments".to_string())].into(),
                force_common_labels: true,
                ..Default::default()
            },
            "resources:\n- ../base\ncommonLabels:\n  team: payments\n".to_string(),
        ),
        (
            KustomizeSource {
                common_labels: [("env".to_string(), "prod".to_string())].into(),
                label_without_selector: true,
                label_include_templates: true,
                ..Default::default()
            },
            format!("{OVERLAY}labels:\n- pairs:\n    env: prod\n  includeTemplates: true\n"),
        ),
        (
            KustomizeSource {
                replicas: vec![KustomizeReplica { name: "web".into(), count: json!("4") }],
                images: vec!["registry/web=registry/web:2.$ARGOCD_APP_REVISION_SHORT".into()],
                patches: vec![
                    json!({"target": {"kind": "Service"}, "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n"}),
                ],
                components: vec!["../components/monitoring".into()],
                ..Default::default()
            },
            format!(
                "{OVERLAY}replicas:\n- name: web\n  count: 4\nimages:\n- name: registry/web\n  newTag: \"2.0123456\"\npatches:\n- target: {{kind: Service}}\n  patch: |\n    - op: add\n      path: /metadata/annotations\n      value: {{patched: \"yes\"}}\ncomponents:\n- ../components/monitoring\n"
            ),
        ),
    ];
    for (i, (options, edited)) in cases.into_iter().enumerate() {
        let dir = repo(OVERLAY);
        let got = ours(dir.path(), options).unwrap_or_else(|e| panic!("case {i}: {e}"));
        let Some(want) = kubectl(dir.path(), &edited) else { return };
        assert_eq!(values(&got), values(&want), "case {i}");
    }
}

#[test]
fn an_existing_label_needs_force_and_a_missing_component_is_named() {
    let dir = repo(OVERLAY);
    let label = KustomizeSource { common_labels: [("team".to_string(), "x".to_string())].into(), ..Default::default() };
    let e = ours(dir.path(), label).unwrap_err().to_string();
    assert!(e.contains("overlay/kustomization.yaml") && e.contains("label team already in kustomization file"), "{e}");
    let missing = KustomizeSource { components: vec!["../components/none".into()], ..Default::default() };
    let e = ours(dir.path(), missing.clone()).unwrap_err().to_string();
    assert!(e.contains("../components/none"), "{e}");
    assert!(ours(dir.path(), KustomizeSource { ignore_missing_components: true, ..missing }).is_ok());
    let bad_count = KustomizeSource {
        replicas: vec![KustomizeReplica { name: "web".into(), count: json!("many") }],
        ..Default::default()
    };
    assert!(ours(dir.path(), bad_count).unwrap_err().to_string().contains("many"));
}
