//! What several test files share.

use gitops_core::{Object, Renderer};

pub use gitops_testkit::support::Yamls;

/// The project's own CRDs (`deploy/crds`) applied as `kubectl apply` installs them, and the
/// `argocd` namespace; returns once the Application kind is served.
#[allow(dead_code)] // not every test file installs the CRDs
pub async fn install_crds(direct: &gitops_sync::KubeCluster) {
    use gitops_core::Cluster;
    let kubectl = gitops_core::ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds");
    for file in ["application-crd.yaml", "appproject-crd.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for crd in gitops_core::yaml::parse_objects(&text, file, &Default::default()).unwrap() {
            direct.apply(&crd, &kubectl).await.unwrap();
        }
    }
    let ns = Object::from_value(
        gitops_core::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
    );
    direct.apply(&ns.unwrap(), &kubectl).await.unwrap();
    let gvk = gitops_core::GroupVersionKind::new("argoproj.io", "v1alpha1", "Application");
    let started = std::time::Instant::now();
    while direct.resource(&gvk).await.ok().flatten().is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the Application CRD is not served");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An Application controller of the `argocd` namespace running in a task (a pass every
/// 300 ms), until [`Running::stop`].
#[allow(dead_code)] // not every test file runs a controller
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

#[allow(dead_code)]
impl Running {
    /// Starts the controller of `reconciler`'s applications with `client`.
    pub fn start<S, R, D>(
        reconciler: gitops_sync::Reconciler<S, R, D, gitops_sync::KubeCluster>,
        client: kube::Client,
    ) -> Running
    where
        S: gitops_core::Source + 'static,
        R: Renderer + 'static,
        D: gitops_core::Decryptor + 'static,
    {
        use std::sync::Arc;
        let manager = Arc::new(gitops_sync::Manager::new(reconciler, Vec::new(), Default::default()));
        let options = gitops_sync::ControllerOptions {
            namespaces: vec!["argocd".into()],
            interval: std::time::Duration::from_millis(300),
            ..Default::default()
        };
        let controller = Arc::new(gitops_sync::ApplicationController::new(manager, client, options));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            controller
                .run(
                    async {
                        let _ = stopped.await;
                    },
                    |_, _| {},
                )
                .await
        });
        Running { stop, task }
    }

    /// Stops it and waits for the task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}
