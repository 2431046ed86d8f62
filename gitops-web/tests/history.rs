//! Applications as cluster resources (the agent as a controller) seen through the web API:
//! each sync's history entry names who made it, whoever asked (the person whose token the UI
//! was given, a client writing `.operation` as `argocd app sync` does, or automation), the
//! entries and their times come from the Application's `status.history` so a restarted agent
//! shows them, and a drifted object names the field manager that changed it (a `kubectl
//! scale` through the scale subresource).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, MemTree, NoDecryption, Object};
use gitops_core::{json, value::Value};
use gitops_sync::{ApplicationController, ControllerOptions, KubeCluster, Manager, Reconciler};
use gitops_testkit::support::Yamls;
use gitops_testkit::{Simulation, TestCluster};
use gitops_web::{ManagerBackend, WebOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPO: &str = "mem://config";
/// Two people, each with a token of their own.
const TOKENS: &str = "# who may act\nalice:alice-token-0123456789\nbob:bob-token-0123456789ab\n";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789ab";

fn tree(image: &str) -> MemTree {
    MemTree::new().with_file(
        "apps/web/deployment.yaml",
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: '{image}'}}]}}\n"),
    )
}

fn person(manager: &str) -> ApplyOptions {
    ApplyOptions { field_manager: manager.into(), force: true, dry_run: false }
}

fn applications() -> GroupVersionKind {
    GroupVersionKind::new("argoproj.io", "v1alpha1", "Application")
}

async fn install_crds(direct: &KubeCluster) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds");
    for file in ["application-crd.yaml", "appproject-crd.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for crd in gitops_core::yaml::parse_objects(&text, file, &Default::default()).unwrap() {
            direct.apply(&crd, &person("kubectl")).await.unwrap();
        }
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}});
    direct.apply(&Object::from_value(ns).unwrap(), &person("kubectl")).await.unwrap();
    let started = Instant::now();
    while direct.resource(&applications()).await.ok().flatten().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "the Application CRD is not served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A controller of `argocd` with the web in front of it, as the agent wires them.
struct Agent {
    addr: SocketAddr,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn agent(testkit: &TestCluster, source: &MemSource) -> Agent {
    let cluster = KubeCluster::with_cache(testkit.client());
    let reconciler = Reconciler::new(source.clone(), Yamls, NoDecryption, cluster);
    let manager = Arc::new(Manager::new(reconciler, Vec::new(), Default::default()));
    let options = ControllerOptions {
        namespaces: vec!["argocd".into()],
        interval: Duration::from_millis(300),
        ..Default::default()
    };
    let controller = Arc::new(ApplicationController::new(manager.clone(), testkit.client(), options));
    let (stop_controller, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(controller.clone().run(
        async {
            let _ = stopped.await;
        },
        |_, _| {},
    ));
    let backend = ManagerBackend::new(manager).with_recorder(controller);
    let router = gitops_web::router(Arc::new(backend), WebOptions { token: Some(TOKENS.into()), ..Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = web_stopped.await;
            })
            .await
            .unwrap()
    });
    Agent { addr, stop: vec![stop_controller, stop_web] }
}

/// A request; with a body, as an action with `token`.
async fn request(addr: SocketAddr, method: &str, path: &str, action: Option<(&str, &str)>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some((token, b)) = action {
        req.push_str(&format!(
            "Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), body.to_string())
}

async fn detail(addr: SocketAddr) -> Value {
    let (status, body) = request(addr, "GET", "/api/v1/applications/web", None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn wait_for<F, Fut>(what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    gitops_testkit::support::wait_for(what, Duration::from_secs(20), check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_names_who_synced_and_outlives_the_agent_and_drift_names_its_maker() {
    let testkit = TestCluster::start().await.unwrap();
    testkit.state().lock().unwrap().simulation = Simulation::Healthy;
    let direct = KubeCluster::new(testkit.client());
    install_crds(&direct).await;
    let source = MemSource::default();
    source.set(REPO, "c1", tree("nginx:1.27"));
    let first = agent(&testkit, &source).await;
    // A manual application: nothing syncs until someone asks.
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/web"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
    });
    direct.apply(&Object::from_value(app.clone()).unwrap(), &person("kubectl")).await.unwrap();
    let addr = first.addr;
    wait_for("web OutOfSync in the API", || async {
        let (s, b) = request(addr, "GET", "/api/v1/applications/web", None).await;
        s == 200 && serde_json::from_str::<Value>(&b).is_ok_and(|d| d["sync"] == "OutOfSync")
    })
    .await;

    // Sync from the UI by alice: the Application's status records it as her operation, with
    // its history entry. A token nobody holds is refused.
    let (status, _) =
        request(addr, "POST", "/api/v1/applications/web/sync", Some(("nobody-token-0123456789", "{}"))).await;
    assert_eq!(status, 401);
    let (status, body) = request(addr, "POST", "/api/v1/applications/web/sync", Some((ALICE, "{}"))).await;
    assert_eq!(status, 200, "{body}");
    let live = direct.get(&applications(), "argocd", "web").await.unwrap().unwrap().into_value();
    assert_eq!(live.pointer("/status/operationState/operation/initiatedBy/username"), Some(&json!("alice")));
    assert_eq!(live.pointer("/status/operationState/phase"), Some(&json!("Succeeded")));
    assert_eq!(live.pointer("/status/history/0/initiatedBy/username"), Some(&json!("alice")));
    let deployed_at = live.pointer("/status/history/0/deployedAt").cloned().unwrap();

    // A client writes `.operation` as `argocd app sync` does, for another person, after a new
    // commit: the controller runs it, and the page names that person.
    source.set(REPO, "c2", tree("nginx:1.28"));
    let mut op = app.clone();
    op["operation"] = json!({"sync": {"revision": "HEAD"}, "initiatedBy": {"username": "carol"}});
    direct.apply(&Object::from_value(op).unwrap(), &person("argocd-cli")).await.unwrap();
    wait_for("two history entries in the API", || async {
        detail(addr).await["history"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    let d = detail(addr).await;
    let history = d["history"].as_array().unwrap();
    assert_eq!((history[0]["by"].as_str(), history[0]["revision"].as_str()), (Some("alice"), Some("c1")));
    assert_eq!((history[1]["by"].as_str(), history[1]["revision"].as_str()), (Some("carol"), Some("c2")));
    assert_eq!(history[0]["at"], deployed_at, "the time is the resource's deployedAt");

    // `kubectl scale` through the scale subresource, then a refresh: the drift names its maker.
    let deployments: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        testkit.client(),
        "web",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment")),
    );
    let scale = json!({"spec": {"replicas": 5}});
    let params = kube::api::PatchParams { field_manager: Some("kubectl-scale".into()), ..Default::default() };
    deployments.patch_scale("web", &params, &kube::api::Patch::Merge(&scale)).await.unwrap();
    // The agent sees live objects through its watches, so the scale reaches it a moment later
    // (as in Argo CD's cache): a refresh asked before the watch event arrives still finds the
    // object in sync, and the next one must not.
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        let (status, body) = request(addr, "POST", "/api/v1/applications/web/refresh", Some((BOB, "{}"))).await;
        assert_eq!(status, 200, "{body}");
        let d = detail(addr).await;
        if d["sync"] == "OutOfSync" || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(d["sync"], "OutOfSync", "{d}");
    let node = d["tree"].as_array().unwrap().iter().find(|n| n["kind"] == "Deployment").unwrap().clone();
    let by: Vec<&str> = node["changed_by"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(by.len() == 1 && by[0].starts_with("kubectl-scale (Update"), "{node}");
    assert!(node["drift"].as_array().unwrap().iter().any(|p| p == "/spec/replicas"), "{node}");

    // A new agent (a restart): the history, its people and times are still there.
    for s in first.stop {
        let _ = s.send(());
    }
    let second = agent(&testkit, &source).await;
    let addr = second.addr;
    wait_for("the restarted agent serves web", || async {
        request(addr, "GET", "/api/v1/applications/web", None).await.0 == 200
    })
    .await;
    let d = detail(addr).await;
    let by: Vec<&str> = d["history"].as_array().unwrap().iter().filter_map(|h| h["by"].as_str()).collect();
    assert_eq!(by, ["alice", "carol"], "{d}");
    assert_eq!(d["history"][0]["at"], deployed_at);

    // A rollback from the UI to entry 0 by bob is recorded as one, by him.
    let (status, body) = request(addr, "POST", "/api/v1/applications/web/rollback", Some((BOB, r#"{"id": 0}"#))).await;
    assert_eq!(status, 200, "{body}");
    let live = direct.get(&applications(), "argocd", "web").await.unwrap().unwrap().into_value();
    assert_eq!(live.pointer("/status/sync/revision"), Some(&json!("c1")));
    assert_eq!(live.pointer("/status/operationState/operation/info/0/name"), Some(&json!("Rollback")));
    assert_eq!(live.pointer("/status/history/2/initiatedBy/username"), Some(&json!("bob")));
    for s in second.stop {
        let _ = s.send(());
    }
}
