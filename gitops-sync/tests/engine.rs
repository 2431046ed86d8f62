//! The sync engine against the testkit API server, over HTTP with the real kube-client.

use gitops_core::json;
use gitops_core::{Cluster, GroupVersionKind, Object};
use gitops_sync::engine::{self, Action, PART_OF, SyncOptions};
use gitops_sync::{Health, KubeCluster};
use gitops_testkit::{Simulation, TestCluster};

fn objects(image: &str, with_service: bool) -> Vec<Object> {
    let mut out = vec![Object::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image, "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}}}]}}}
    })).unwrap()];
    if with_service {
        out.push(Object::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).unwrap());
    }
    out
}

fn opts() -> SyncOptions {
    let mut o = SyncOptions::new("shop", "shop-prod");
    o.prune = true;
    o.create_namespace = true;
    o
}

#[tokio::test]
async fn first_sync_change_prune_and_foreign_objects() {
    let tk = TestCluster::start().await.unwrap();
    tk.state().lock().unwrap().simulation = Simulation::Healthy;
    let cluster = KubeCluster::new(tk.client());
    let r = engine::sync(&cluster, objects("nginx:1.25", true), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Created), 2, "{r:?}");
    assert_eq!(r.health(), Health::Current);
    // Nothing changed: nothing is written (quantities 0.5 and 1Gi come back canonical).
    let before = tk.state().lock().unwrap().resource_version();
    let r = engine::sync(&cluster, objects("nginx:1.25", true), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Unchanged), 2, "{r:?}");
    assert_eq!(tk.state().lock().unwrap().resource_version(), before, "a no-change pass writes nothing");
    // A change in Git.
    let r = engine::sync(&cluster, objects("nginx:1.27", true), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Updated), 1);
    let deploy =
        cluster.get(&GroupVersionKind::new("apps", "v1", "Deployment"), "shop-prod", "web").await.unwrap().unwrap();
    assert_eq!(deploy.get("/spec/template/spec/containers/0/image").unwrap(), "nginx:1.27");
    // A foreign Service carrying the same app label is not ours and survives the prune.
    let mut foreign = Object::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "foreign", "namespace": "shop-prod", "labels": {"app": "web"}}, "spec": {"ports": [{"port": 81}]}})).unwrap();
    foreign.set_label("team", "other");
    cluster.apply(&foreign, &Default::default()).await.unwrap();
    let r = engine::sync(&cluster, objects("nginx:1.27", false), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Pruned), 1, "{r:?}");
    let svc = GroupVersionKind::new("", "v1", "Service");
    assert!(cluster.get(&svc, "shop-prod", "web").await.unwrap().is_none());
    assert!(cluster.get(&svc, "shop-prod", "foreign").await.unwrap().is_some());
    // An empty render does not prune everything unless allowed.
    let err = engine::sync(&cluster, vec![], &opts()).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[tokio::test]
async fn drift_is_reverted_and_prune_false_is_respected() {
    let tk = TestCluster::start().await.unwrap();
    let cluster = KubeCluster::new(tk.client());
    let mut desired = objects("nginx:1.25", true);
    desired[1].set_annotation("argocd.argoproj.io/sync-options", "Prune=false");
    engine::sync(&cluster, desired.clone(), &opts()).await.unwrap();
    // kubectl scale: another manager changes replicas.
    let mut scale = Object::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop-prod"}, "spec": {"replicas": 5}})).unwrap();
    scale.set_label(PART_OF, "not-relevant-for-the-patch");
    cluster
        .apply(&scale, &gitops_core::ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false })
        .await
        .unwrap();
    let r = engine::sync(&cluster, desired.clone(), &opts()).await.unwrap();
    let deploy = r.resources.iter().find(|x| x.key.kind == "Deployment").unwrap();
    assert_eq!(deploy.action, Action::Updated);
    assert!(deploy.drift.iter().any(|p| p == "/spec/replicas"), "{:?}", deploy.drift);
    let live =
        cluster.get(&GroupVersionKind::new("apps", "v1", "Deployment"), "shop-prod", "web").await.unwrap().unwrap();
    assert_eq!(live.get("/spec/replicas").unwrap(), 2);
    // A deleted Service comes back.
    cluster.delete(&GroupVersionKind::new("", "v1", "Service"), "shop-prod", "web", Default::default()).await.unwrap();
    let r = engine::sync(&cluster, desired.clone(), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Created), 1);
    // Prune=false keeps the Service when it leaves Git.
    let r = engine::sync(&cluster, desired[..1].to_vec(), &opts()).await.unwrap();
    assert_eq!(r.count(Action::PruneSkipped), 1, "{r:?}");
}

#[tokio::test]
async fn helm_resource_policy_keep_is_never_pruned() {
    let tk = TestCluster::start().await.unwrap();
    let cluster = KubeCluster::new(tk.client());
    let mut desired = objects("nginx:1.25", true);
    desired[1].set_annotation("helm.sh/resource-policy", "keep");
    engine::sync(&cluster, desired.clone(), &opts()).await.unwrap();
    let r = engine::sync(&cluster, desired[..1].to_vec(), &opts()).await.unwrap();
    let svc = r.resources.iter().find(|x| x.key.kind == "Service").unwrap();
    assert_eq!(svc.action, Action::PruneSkipped, "{r:?}");
    assert!(svc.message.contains("resource-policy"), "{}", svc.message);
    assert!(cluster.get(&GroupVersionKind::new("", "v1", "Service"), "shop-prod", "web").await.unwrap().is_some());
}

#[tokio::test]
async fn injected_faults_are_retried_without_losing_or_duplicating_anything() {
    use gitops_testkit::{Fault, FaultAction};
    let tk = TestCluster::start().await.unwrap();
    {
        let state = tk.state();
        let mut s = state.lock().unwrap();
        s.faults.push(Fault::new(Some("patch"), Some("deployments"), FaultAction::Status(500), 2));
        s.faults.push(Fault::new(Some("patch"), Some("services"), FaultAction::TooManyRequests { retry_after: 0 }, 1));
        s.faults.push(Fault::new(Some("patch"), Some("configmaps"), FaultAction::Status(409), 1));
        s.faults.push(Fault::new(Some("get"), None, FaultAction::Delay(std::time::Duration::from_millis(20)), 3));
    }
    let cluster = KubeCluster::new(tk.client());
    let r = engine::sync(&cluster, objects("nginx:1.25", true), &opts()).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.count(Action::Created), 2, "{r:?}");
    assert!(tk.state().lock().unwrap().faults.injected >= 6, "the faults were hit");
    // Exactly one of each, and the next pass is a no-op.
    let deploys =
        cluster.list(&GroupVersionKind::new("apps", "v1", "Deployment"), Some("shop-prod"), "").await.unwrap();
    assert_eq!(deploys.len(), 1);
    let r = engine::sync(&cluster, objects("nginx:1.25", true), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Unchanged), 2);
    // A fault that never stops is reported, not retried forever.
    tk.state().lock().unwrap().faults.push(gitops_testkit::Fault::random(
        Some("patch"),
        Some("deployments"),
        FaultAction::Status(500),
        1.0,
    ));
    let r = engine::sync(&cluster, objects("nginx:1.26", true), &opts()).await.unwrap();
    assert_eq!(r.count(Action::Failed), 1, "{r:?}");
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_in_one_sync() {
    let tk = TestCluster::start().await.unwrap();
    let cluster = KubeCluster::new(tk.client());
    let crd = Object::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object",
                     "properties": {"spec": {"type": "object", "properties": {"color": {"type": "string"}}}}}}}]}
    }))
    .unwrap();
    let widget = Object::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "blue"}}),
    )
    .unwrap();
    // The custom resource comes first in Git; the plan applies the CRD first anyway.
    let r = engine::sync(&cluster, vec![widget.clone(), crd.clone()], &opts()).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.resources[0].key.kind, "CustomResourceDefinition");
    let live =
        cluster.get(&GroupVersionKind::new("example.com", "v1", "Widget"), "shop-prod", "w").await.unwrap().unwrap();
    assert_eq!(live.get("/spec/color").unwrap(), "blue");
    let r = engine::sync(&cluster, vec![widget, crd], &opts()).await.unwrap();
    assert_eq!(r.count(Action::Unchanged), 2, "{r:?}");
}
