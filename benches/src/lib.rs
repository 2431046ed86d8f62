//! Shared helpers of the criterion benches: realistic objects to diff and render.
//!
//! ```
//! let d = gitops_benches::deployment("api", 2);
//! assert_eq!(d.kind(), "Deployment");
//! ```

use gitops_core::Object;
use gitops_core::json;

/// A Deployment as Git holds it, with `containers` containers.
pub fn deployment(name: &str, containers: usize) -> Object {
    let cs: Vec<_> = (0..containers)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": format!("registry.example.com/{name}:1.{i}.0"),
                   "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
                   "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "eu-north-1"}],
                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}})
        })
        .collect();
    Object::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": cs}}}
    }))
    .expect("a valid object")
}

/// Writes a synthetic config repo of `n` applications under `dir`: for each, a base
/// (Deployment, Service, ConfigMap generator) and a prod overlay (namespace, prefix, replicas
/// and resources patches, an image override), and one top-level kustomization including all
/// the overlays. Returns the path of the top-level kustomization directory.
pub fn write_config_repo(dir: &std::path::Path, n: usize) -> std::io::Result<std::path::PathBuf> {
    use std::fs;
    let mut top = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for i in 0..n {
        let app = format!("app{i:04}");
        let base = dir.join("apps").join(&app).join("base");
        let prod = dir.join("apps").join(&app).join("overlays/prod");
        fs::create_dir_all(&base)?;
        fs::create_dir_all(&prod)?;
        fs::write(
            base.join("kustomization.yaml"),
            format!(
                "resources:\n- deployment.yaml\n- service.yaml\nconfigMapGenerator:\n- name: {app}-config\n  literals:\n  - LOG_LEVEL=info\n  - APP={app}\nlabels:\n- pairs:\n    app.kubernetes.io/name: {app}\n  includeSelectors: true\n"
            ),
        )?;
        fs::write(
            base.join("deployment.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: {app}\n        image: registry.example.com/{app}:1.0.0\n        ports:\n        - containerPort: 8080\n        envFrom:\n        - configMapRef:\n            name: {app}-config\n"
            ),
        )?;
        fs::write(
            base.join("service.yaml"),
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n"
            ),
        )?;
        fs::write(
            prod.join("kustomization.yaml"),
            format!(
                "resources:\n- ../../base\nnamespace: {app}-prod\nnamePrefix: prod-\nreplicas:\n- name: {app}\n  count: 3\nimages:\n- name: registry.example.com/{app}\n  newTag: 1.2.{i}\npatches:\n- path: resources.yaml\n"
            ),
        )?;
        fs::write(
            prod.join("resources.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  template:\n    spec:\n      containers:\n      - name: {app}\n        resources:\n          requests:\n            cpu: 250m\n            memory: 256Mi\n"
            ),
        )?;
        top.push_str(&format!("- apps/{app}/overlays/prod\n"));
    }
    fs::write(dir.join("kustomization.yaml"), top)?;
    Ok(dir.to_path_buf())
}

/// The fleet of Flux's public benchmark: applications of 4 objects each (Deployment, Service,
/// ServiceAccount, Ingress), each in its own namespace.
pub mod fleet {
    use gitops_core::MemTree;
    use gitops_sync::Application;

    /// The repository URL of [`tree`] in a `MemSource`.
    pub const REPO: &str = "mem://flux-bench";

    /// `apps/app-<i>` for `n` applications.
    pub fn tree(n: usize) -> MemTree {
        let mut t = MemTree::new();
        for (path, text) in files(n) {
            t.insert(&path, text).expect("a path");
        }
        t
    }

    /// The files of [`tree`]: (path, text).
    pub fn files(n: usize) -> Vec<(String, String)> {
        let mut t = Vec::new();
        for i in 0..n {
            let app = format!("app-{i}");
            let dir = format!("apps/{app}");
            t.push((format!("{dir}/deployment.yaml"), format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      serviceAccountName: {app}\n      containers:\n      - name: web\n        image: ghcr.io/stefanprodan/podinfo:6.5.{}\n        ports:\n        - containerPort: 9898\n        resources:\n          requests: {{cpu: 100m, memory: 64Mi}}\n", i % 10)));
            t.push((format!("{dir}/service.yaml"), format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  selector: {{app: {app}}}\n  ports:\n  - port: 80\n    targetPort: 9898\n")));
            t.push((
                format!("{dir}/serviceaccount.yaml"),
                format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {app}\n"),
            ));
            t.push((format!("{dir}/ingress.yaml"), format!("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {app}\nspec:\n  rules:\n  - host: {app}.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: {app}\n            port: {{number: 80}}\n")));
        }
        t
    }

    /// Application `app-<i>` of [`tree`], automated, into namespace `bench-<i>`.
    pub fn application(i: usize) -> Application {
        Application::from_yaml(&application_yaml(i, REPO), "bench").expect("a valid Application")
    }

    /// The manifest of [`application`] for a repository at `repo_url`.
    pub fn application_yaml(i: usize, repo_url: &str) -> String {
        application_yaml_into(i, repo_url, &format!("bench-{i}"))
    }

    /// The manifest of application `app-<i>` for a repository at `repo_url`, into `namespace`.
    pub fn application_yaml_into(i: usize, repo_url: &str, namespace: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: app-{i}, namespace: argocd}}\nspec:\n  project: default\n  source: {{repoURL: '{repo_url}', targetRevision: HEAD, path: apps/app-{i}}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {namespace}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n"
        )
    }
}

/// The median of measurements (the upper one of an even count).
pub fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// Whether cargo only probes a harness-less bench (`--list`, or `--test` from `cargo test`).
pub fn probed() -> bool {
    std::env::args().any(|a| a == "--list" || a == "--test")
}
