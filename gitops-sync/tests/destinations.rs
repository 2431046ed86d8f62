//! Destinations in other clusters: Applications in one testkit API server (the controller's
//! own cluster) whose `spec.destination` names a second testkit server, declared by an Argo CD
//! cluster Secret with a bearer token the second server requires. Through the real kube-client.

use std::sync::Arc;
use std::time::Duration;

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, MemTree, NoDecryption, Object};
use gitops_core::{json, value::Value};
use gitops_sync::destinations::ClusterSecrets;
use gitops_sync::{KubeCluster, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

mod common;
use common::Yamls;

const REPO: &str = "mem://config";
const TOKEN: &str = "remote-cluster-token-0123456789";

fn kubectl() -> ApplyOptions {
    ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }
}

fn applications() -> GroupVersionKind {
    GroupVersionKind::new("argoproj.io", "v1alpha1", "Application")
}

fn deployments() -> GroupVersionKind {
    GroupVersionKind::new("apps", "v1", "Deployment")
}

fn application(name: &str, destination: Value, extra_metadata: Value) -> Object {
    let mut v = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/web"},
            "destination": destination,
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    });
    if let Some(m) = extra_metadata.as_object() {
        for (k, val) in m {
            v["metadata"][k] = val.clone();
        }
    }
    Object::from_value(v).unwrap()
}

async fn wait_for<F, Fut>(what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    gitops_testkit::support::wait_for(what, Duration::from_secs(20), check).await
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_sync_into_clusters_declared_by_cluster_secrets() {
    let _ = tracing_subscriber::fmt().with_env_filter("gitops_sync=debug").with_test_writer().try_init();
    let home = TestCluster::start().await.unwrap();
    home.state().lock().unwrap().simulation = Simulation::Healthy;
    let remote = TestCluster::start().await.unwrap();
    {
        let state = remote.state();
        let mut st = state.lock().unwrap();
        st.simulation = Simulation::Healthy;
        st.bearer_token = Some(TOKEN.into());
    }
    let direct = KubeCluster::new(home.client());
    common::install_crds(&direct).await;
    // The remote cluster as its administrator sees it (with the token).
    let mut admin = remote.config();
    admin.auth_info.token = Some(TOKEN.to_string().into());
    let remote_direct = KubeCluster::new(kube::Client::try_from(admin).unwrap());
    // Without the token, the remote server refuses: the test's server really checks it.
    let anonymous = KubeCluster::new(remote.client());
    let refused = anonymous.get(&deployments(), "default", "x").await.unwrap_err().to_string();
    assert!(refused.contains("401") && refused.contains("Unauthorized"), "{refused}");

    let secret = Object::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "staging-cluster", "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "type": "Opaque",
        "stringData": {
            "name": "staging",
            "server": remote.url(),
            "config": json!({"bearerToken": TOKEN, "tlsClientConfig": {"insecure": false}}).to_string(),
        },
    }))
    .unwrap();
    direct.apply(&secret, &kubectl()).await.unwrap();

    let source = MemSource::default();
    source.set(
        REPO,
        "c1",
        MemTree::new().with_file(
            "apps/web/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n",
        ),
    );
    let cluster = KubeCluster::with_cache(home.client());
    let mut reconciler = Reconciler::new(source.clone(), Yamls, NoDecryption, cluster.clone());
    reconciler.destinations =
        Some(Arc::new(ClusterSecrets::new(home.client(), &["argocd".to_string()], cluster.clone())));
    let running = common::Running::start(reconciler, home.client());

    let by_server = application("by-server", json!({"server": remote.url(), "namespace": "by-server"}), json!({}));
    let by_name = application(
        "by-name",
        json!({"name": "staging", "namespace": "by-name"}),
        json!({"finalizers": ["resources-finalizer.argocd.argoproj.io"]}),
    );
    let local = application("local", json!({"name": "in-cluster", "namespace": "local"}), json!({}));
    let unknown =
        application("unknown", json!({"server": "https://nowhere.example:6443", "namespace": "unknown"}), json!({}));
    let unnamed = application("unnamed", json!({"name": "production", "namespace": "unnamed"}), json!({}));
    let both = application("both", json!({"name": "staging", "server": remote.url(), "namespace": "both"}), json!({}));
    for app in [&by_server, &by_name, &local, &unknown, &unnamed, &both] {
        direct.apply(app, &kubectl()).await.unwrap();
    }
    let app = |name: &'static str| {
        let direct = direct.clone();
        async move { direct.get(&applications(), "argocd", name).await.unwrap().map(Object::into_value).unwrap() }
    };
    wait_for("the remote applications synced and the bad ones refused", || async {
        at(&app("by-server").await, "/status/sync/status") == "Synced"
            && at(&app("by-name").await, "/status/sync/status") == "Synced"
            && at(&app("local").await, "/status/sync/status") == "Synced"
            && at(&app("unknown").await, "/status/conditions/0/type") == "InvalidSpecError"
            && at(&app("unnamed").await, "/status/conditions/0/type") == "InvalidSpecError"
            && at(&app("both").await, "/status/conditions/0/type") == "InvalidSpecError"
    })
    .await;
    // The objects are in the cluster each destination names, and only there.
    for ns in ["by-server", "by-name"] {
        assert!(remote_direct.get(&deployments(), ns, "web").await.unwrap().is_some(), "{ns} in the remote cluster");
        assert!(direct.get(&deployments(), ns, "web").await.unwrap().is_none(), "{ns} not in the own cluster");
    }
    assert!(direct.get(&deployments(), "local", "web").await.unwrap().is_some());
    assert!(remote_direct.get(&deployments(), "local", "web").await.unwrap().is_none());
    // Argo CD's messages, naming the destination; nothing applied anywhere.
    let message = |v: &Value| at(v, "/status/conditions/0/message").as_str().unwrap_or_default().to_string();
    let m = message(&app("unknown").await);
    assert!(m.contains("cluster 'https://nowhere.example:6443' has not been configured"), "{m}");
    let m = message(&app("unnamed").await);
    assert!(m.contains("there are no clusters with this name: production"), "{m}");
    let m = message(&app("both").await);
    assert!(m.contains("can't have both name and server defined"), "{m}");
    for ns in ["unknown", "unnamed", "both"] {
        assert!(remote_direct.get(&deployments(), ns, "web").await.unwrap().is_none());
        assert!(direct.get(&deployments(), ns, "web").await.unwrap().is_none());
    }
    // No credential in any status.
    for name in ["by-server", "by-name", "unknown", "unnamed", "both"] {
        assert!(!app(name).await.to_string().contains(TOKEN), "{name}'s status shows the token");
    }

    // Drift in the remote cluster is healed there, through its watch.
    let mut scaled = remote_direct.get(&deployments(), "by-server", "web").await.unwrap().unwrap().into_value();
    scaled["spec"]["replicas"] = json!(5);
    let scaled = Object::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "by-server"},
        "spec": {"replicas": scaled["spec"]["replicas"].clone()},
    }))
    .unwrap();
    remote_direct.apply(&scaled, &kubectl()).await.unwrap();
    wait_for("the remote drift reverted", || async {
        let d = remote_direct.get(&deployments(), "by-server", "web").await.unwrap().unwrap();
        d.get("/spec/replicas") == Some(&json!(2))
    })
    .await;

    // Deleting an Application with the resources finalizer deletes its objects in the remote
    // cluster.
    direct.delete(&applications(), "argocd", "by-name", gitops_core::Propagation::Background).await.unwrap();
    wait_for("the remote resources deleted with the Application", || async {
        direct.get(&applications(), "argocd", "by-name").await.unwrap().is_none()
            && remote_direct.get(&deployments(), "by-name", "web").await.unwrap().is_none()
    })
    .await;
    assert!(remote_direct.get(&deployments(), "by-server", "web").await.unwrap().is_some());

    running.stop().await;
}

/// A project may allow a destination cluster by name; an application of the project writing
/// to another cluster is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_allow_destination_clusters_by_name() {
    let home = TestCluster::start().await.unwrap();
    let remote = TestCluster::start().await.unwrap();
    let direct = KubeCluster::new(home.client());
    common::install_crds(&direct).await;
    let remote_direct = KubeCluster::new(remote.client());
    let secret = Object::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "edge", "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": "edge-1", "server": remote.url(), "namespaces": "team-a", "config": "{}"},
    }))
    .unwrap();
    direct.apply(&secret, &kubectl()).await.unwrap();
    let project = Object::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "team-a", "namespace": "argocd"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"name": "edge-*", "namespace": "team-*"}]},
    }))
    .unwrap();
    direct.apply(&project, &kubectl()).await.unwrap();
    let source = MemSource::default();
    source.set(
        REPO,
        "c1",
        MemTree::new().with_file(
            "apps/web/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
        ),
    );
    let cluster = KubeCluster::with_cache(home.client());
    let mut reconciler = Reconciler::new(source, Yamls, NoDecryption, cluster.clone());
    reconciler.destinations =
        Some(Arc::new(ClusterSecrets::new(home.client(), &["argocd".to_string()], cluster.clone())));
    let running = common::Running::start(reconciler, home.client());
    let in_team = |name: &str, destination: Value| {
        let mut o = application(name, destination, json!({})).into_value();
        o["spec"]["project"] = json!("team-a");
        Object::from_value(o).unwrap()
    };
    // Allowed by the project's name glob, in the cluster's listed namespace.
    direct.apply(&in_team("edge", json!({"name": "edge-1", "namespace": "team-a"})), &kubectl()).await.unwrap();
    // The same cluster by its URL: the project matches the name it resolves to.
    direct
        .apply(&in_team("edge-url", json!({"server": remote.url(), "namespace": "team-a"})), &kubectl())
        .await
        .unwrap();
    // The own cluster is not among the project's destinations.
    direct.apply(&in_team("home", json!({"name": "in-cluster", "namespace": "team-a"})), &kubectl()).await.unwrap();
    // A namespace the project allows but the cluster Secret does not list: refused by the
    // cluster's own limit.
    let mut outside = in_team("outside", json!({"name": "edge-1", "namespace": "team-b"})).into_value();
    outside["spec"]["syncPolicy"]["syncOptions"] = json!([]);
    direct.apply(&Object::from_value(outside).unwrap(), &kubectl()).await.unwrap();
    let app = |name: &'static str| {
        let direct = direct.clone();
        async move { direct.get(&applications(), "argocd", name).await.unwrap().map(Object::into_value).unwrap() }
    };
    wait_for("edge synced, home and outside refused", || async {
        at(&app("edge").await, "/status/sync/status") == "Synced"
            && at(&app("edge-url").await, "/status/sync/status") == "Synced"
            && at(&app("home").await, "/status/conditions/0/type") == "InvalidSpecError"
            && at(&app("outside").await, "/status/conditions/0/type") == "InvalidSpecError"
    })
    .await;
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    assert!(remote_direct.get(&cm, "team-a", "settings").await.unwrap().is_some());
    assert!(direct.get(&cm, "team-a", "settings").await.unwrap().is_none());
    let m = at(&app("home").await, "/status/conditions/0/message").as_str().unwrap().to_string();
    assert!(m.contains("do not match any of the allowed destinations in project 'team-a'"), "{m}");
    let m = at(&app("outside").await, "/status/conditions/0/message").as_str().unwrap().to_string();
    assert!(m.contains("namespace 'team-b' is not managed in cluster 'edge-1'"), "{m}");
    assert!(remote_direct.get(&cm, "team-b", "settings").await.unwrap().is_none());
    running.stop().await;
}
