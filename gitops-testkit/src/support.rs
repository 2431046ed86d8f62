//! What tests that drive a sync engine against the test server share: a renderer of plain
//! YAML files and a bounded wait.

use std::time::{Duration, Instant};

use gitops_core::{FileTree, Object, Renderer};

/// Renders every YAML file directly under the path, in name order (a plain-manifests
/// directory without Kustomize).
pub struct Yamls;

impl Renderer for Yamls {
    type Error = gitops_core::Error;
    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Self::Error> {
        let mut out = Vec::new();
        for e in tree.list(path)? {
            let file = format!("{path}/{}", e.name);
            let text = String::from_utf8_lossy(&tree.read(&file)?).into_owned();
            out.extend(gitops_core::yaml::parse_objects(&text, &file, &Default::default())?);
        }
        Ok(out)
    }
}

/// Polls `check` every 50 ms until it holds and returns how long that took; panics naming
/// `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}
