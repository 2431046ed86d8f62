//! The sync engine end to end against a real cluster when `GITOPS_TEST_KUBECONFIG` names a
//! kubeconfig (its current context; objects go to a fresh namespace that is deleted after),
//! and against the testkit otherwise: first sync, a change in Git, prune (a foreign object with
//! the same labels survives), self-heal of a scaled Deployment and of a deleted Service.

use std::time::Duration;

use gitops_core::json;
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, Object, Propagation};
use gitops_sync::KubeCluster;
use gitops_sync::engine::{self, Action, SyncOptions};

async fn connect() -> (Option<gitops_testkit::TestCluster>, KubeCluster) {
    match std::env::var("GITOPS_TEST_KUBECONFIG") {
        Ok(path) if !path.is_empty() => {
            let kc = kube::config::Kubeconfig::read_from(&path).expect("GITOPS_TEST_KUBECONFIG is readable");
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("a usable context");
            (None, KubeCluster::new(kube::Client::try_from(config).expect("a client")))
        }
        _ => {
            let t = gitops_testkit::TestCluster::start().await.unwrap();
            let c = KubeCluster::new(t.client());
            (Some(t), c)
        }
    }
}

fn objects(ns: &str, image: &str, with_service: bool) -> Vec<Object> {
    let mut out = vec![
        Object::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}}))
        .unwrap(),
        Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns}, "data": {"color": "blue"}})).unwrap(),
    ];
    if with_service {
        out.push(
            Object::from_value(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
            )
            .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn sync_change_prune_and_heal() {
    let (_testkit, c) = connect().await;
    let ns = format!("gitops-e2e-{}", std::process::id());
    let mut opts = SyncOptions::new("e2e", &ns);
    opts.prune = true;
    opts.create_namespace = true;
    let r = engine::sync(&c, objects(&ns, "nginx:1.27", true), &opts).await.unwrap();
    assert_eq!(r.count(Action::Created), 3, "{r:?}");

    // A foreign object that looks like ours (same labels, no ApplySet membership).
    let foreign = Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "foreign", "namespace": ns, "labels": {"app": "web"}}, "data": {}}))
    .unwrap();
    c.apply(&foreign, &ApplyOptions { field_manager: "someone-else".into(), force: true, dry_run: false })
        .await
        .unwrap();

    let r = engine::sync(&c, objects(&ns, "nginx:1.28", false), &opts).await.unwrap();
    assert_eq!(r.count(Action::Updated), 1, "{r:?}");
    assert_eq!(r.count(Action::Pruned), 1, "{r:?}");
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    assert!(c.get(&cm, &ns, "foreign").await.unwrap().is_some(), "only members are pruned");

    // Drift: scaled by someone else, then reverted.
    let scale = Object::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns}, "spec": {"replicas": 4}}))
    .unwrap();
    c.apply(&scale, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }).await.unwrap();
    let r = engine::sync(&c, objects(&ns, "nginx:1.28", false), &opts).await.unwrap();
    assert_eq!(r.count(Action::Updated), 1, "{r:?}");
    let deploy = GroupVersionKind::new("apps", "v1", "Deployment");
    let live = c.get(&deploy, &ns, "web").await.unwrap().unwrap();
    assert_eq!(live.get("/spec/replicas").and_then(|v| v.as_i64()), Some(1));

    // A deleted member comes back.
    c.delete(&cm, &ns, "settings", Propagation::Background).await.unwrap();
    let r = engine::sync(&c, objects(&ns, "nginx:1.28", false), &opts).await.unwrap();
    assert_eq!(r.count(Action::Created), 1, "{r:?}");

    let _ = c.delete(&GroupVersionKind::new("", "v1", "Namespace"), "", &ns, Propagation::Background).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
