//! Shared helpers of the criterion benches: realistic objects to diff and render.
//!
//! ```
//! let d = gitops_benches::deployment("api", 2);
//! assert_eq!(d.kind(), "Deployment");
//! ```

use gitops_core::Object;
use serde_json::json;

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
