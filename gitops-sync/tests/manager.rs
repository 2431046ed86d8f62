//! The watch-fed cache and the manager: steady passes that send nothing, self-heal driven by
//! the watch (a scaled Deployment, a deleted Service), and back-off when another controller
//! fights.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, MemTree, NoDecryption, Object, Propagation};
use gitops_sync::{Application, KubeCluster, Manager, ManagerOptions, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

mod common;
use common::Yamls;

const REPO: &str = "mem://config";

fn tree() -> MemTree {
    MemTree::new()
        .with_file(
            "apps/web/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx:1.27}]}\n",
        )
        .with_file("apps/web/service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n")
}

fn app(name: &str) -> Application {
    Application::from_yaml(
        &format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\nspec:\n  source: {{repoURL: '{REPO}', targetRevision: HEAD, path: apps/web}}\n  destination: {{namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n"),
        "test",
    )
    .unwrap()
}

type TestManager = Manager<MemSource, Yamls, NoDecryption, KubeCluster>;

async fn setup(apps: &[&str], options: ManagerOptions) -> (TestCluster, KubeCluster, Arc<TestManager>) {
    let testkit = TestCluster::start().await.unwrap();
    testkit.state().lock().unwrap().simulation = Simulation::Healthy;
    let source = MemSource::default();
    source.set(REPO, "c1", tree());
    let cluster = KubeCluster::with_cache(testkit.client());
    let reconciler = Reconciler::new(source, Yamls, NoDecryption, cluster.clone());
    let manager = Manager::new(reconciler, apps.iter().map(|a| app(a)).collect(), options);
    (testkit, cluster, Arc::new(manager))
}

fn deployment() -> GroupVersionKind {
    GroupVersionKind::new("apps", "v1", "Deployment")
}

async fn replicas(cluster: &KubeCluster, ns: &str) -> Option<i64> {
    cluster.get(&deployment(), ns, "web").await.unwrap().and_then(|d| d.get("/spec/replicas").and_then(|v| v.as_i64()))
}

fn scale(ns: &str, n: i64) -> Object {
    Object::from_value(gitops_core::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns}, "spec": {"replicas": n}}))
    .unwrap()
}

const KUBECTL: ApplyOptions = ApplyOptions { field_manager: String::new(), force: true, dry_run: false };

fn kubectl() -> ApplyOptions {
    ApplyOptions { field_manager: "kubectl".into(), ..KUBECTL }
}

#[tokio::test]
async fn a_steady_pass_reads_the_cache_and_sends_no_request() {
    let (testkit, _cluster, manager) = setup(&["one", "two"], ManagerOptions::default()).await;
    for r in manager.reconcile_all().await {
        assert_eq!(r.result.unwrap().count(gitops_sync::Action::Created), 2, "{}", r.app);
    }
    testkit.state().lock().unwrap().requests = Default::default();
    for r in manager.reconcile_all().await {
        assert_eq!(r.result.unwrap().count(gitops_sync::Action::Unchanged), 2, "{}", r.app);
    }
    let counts = testkit.state().lock().unwrap().requests.clone();
    assert_eq!(counts.writes(), 0, "{counts:?}");
    assert_eq!(counts.total(), 0, "steady state is read from the watch-fed cache: {counts:?}");
    // A refresh of one application by name (a Git webhook).
    let one = manager.reconcile_app("two").await.expect("known");
    assert_eq!(one.result.unwrap().count(gitops_sync::Action::Unchanged), 2);
    assert!(manager.reconcile_app("three").await.is_none());
}

/// The manager's run loop in a task (watch-driven self-heal), once its first pass is over;
/// the sender stops it.
async fn run_in_background(
    manager: &Arc<TestManager>,
    cluster: &KubeCluster,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let m = manager.clone();
    let changes = cluster.changes();
    let runner = tokio::spawn(async move {
        let mut first = Some(first_tx);
        m.run(
            Duration::from_secs(3600),
            changes,
            async {
                let _ = stop_rx.await;
            },
            |_, _| {
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
            },
        )
        .await
    });
    first_rx.await.unwrap();
    (stop_tx, runner)
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_watch_drives_self_heal_of_a_scaled_deployment_and_a_deleted_service() {
    let (testkit, cluster, manager) = setup(&["shop"], ManagerOptions::default()).await;
    let (stop_tx, runner) = run_in_background(&manager, &cluster).await;
    let direct = KubeCluster::new(testkit.client());
    assert_eq!(replicas(&direct, "shop").await, Some(2));

    direct.apply(&scale("shop", 7), &kubectl()).await.unwrap();
    // The requirement is "within a second"; the bound here leaves room for a loaded CI machine.
    let took = wait_for("the scaled Deployment reverted", Duration::from_secs(5), async || {
        replicas(&direct, "shop").await == Some(2)
    })
    .await;
    eprintln!("scaled Deployment reverted after {took:?}");

    let svc = GroupVersionKind::new("", "v1", "Service");
    assert!(direct.delete(&svc, "shop", "web", Propagation::Background).await.unwrap());
    let took = wait_for("the deleted Service recreated", Duration::from_secs(5), async || {
        direct.get(&svc, "shop", "web").await.unwrap().is_some()
    })
    .await;
    eprintln!("deleted Service recreated after {took:?}");
    let _ = stop_tx.send(());
    runner.await.unwrap();
}

#[tokio::test]
async fn self_heal_backs_off_when_another_controller_keeps_fighting() {
    let options = ManagerOptions { fight_limit: 3, ..ManagerOptions::default() };
    let (testkit, _cluster, manager) = setup(&["fight"], options).await;
    manager.reconcile_all().await;
    let direct = KubeCluster::new(testkit.client());
    let mut heals_that_wrote = 0;
    for round in 0..6 {
        direct.apply(&scale("fight", 9), &kubectl()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await; // the cache sees it
        let results = manager.heal([gitops_sync::engine::applyset_id("fight", "fight")].into_iter().collect()).await;
        let wrote = results.iter().any(|r| r.result.as_ref().is_ok_and(|s| s.count(gitops_sync::Action::Updated) > 0));
        if wrote {
            heals_that_wrote += 1;
        } else {
            assert!(round >= 3, "healing stopped too early, at round {round}");
        }
    }
    assert_eq!(heals_that_wrote, 3, "paused after the third revert within the window");
    let status = manager.states()[0].lock().await.status.error.clone().unwrap_or_default();
    assert!(status.contains("self-heal paused") && status.contains("another controller keeps changing"), "{status}");
    assert!(status.contains("/spec/replicas"), "{status}");
    assert_eq!(replicas(&direct, "fight").await, Some(9), "left alone while paused");
}

#[tokio::test]
async fn a_failed_sync_is_retried_as_sync_policy_retry_says() {
    let testkit = TestCluster::start().await.unwrap();
    let source = MemSource::default();
    source.set(REPO, "c1", tree());
    let cluster = KubeCluster::new(testkit.client());
    let reconciler = Reconciler::new(source, Yamls, NoDecryption, cluster.clone());
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: retry}}\nspec:\n  source: {{repoURL: '{REPO}', path: apps/web}}\n  destination: {{namespace: retry}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n    retry: {{limit: 2, backoff: {{duration: 10ms, factor: 2}}}}\n"
    );
    let mut state = gitops_sync::AppState::new(Application::from_yaml(&text, "retry.yaml").unwrap());
    // Six failures: the engine's own retries of one attempt (5) are not enough; the
    // Application's retry makes the next attempt succeed.
    testkit.state().lock().unwrap().faults.push(gitops_testkit::Fault::new(
        Some("patch"),
        Some("services"),
        gitops_testkit::FaultAction::Status(500),
        6,
    ));
    let r = reconciler.reconcile(&mut state).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(testkit.state().lock().unwrap().faults.injected, 6);
    assert!(cluster.get(&GroupVersionKind::new("", "v1", "Service"), "retry", "web").await.unwrap().is_some());
}

#[tokio::test]
async fn a_kind_the_watch_cannot_list_is_read_from_the_server_without_waiting_again() {
    let testkit = TestCluster::start().await.unwrap();
    let c = KubeCluster::with_cache_timeout(testkit.client(), Duration::from_millis(300));
    let cm = Object::from_value(gitops_core::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "default"}, "data": {}}))
    .unwrap();
    c.apply(&cm, &kubectl()).await.unwrap();
    // Every list of ConfigMaps is refused (as without RBAC permission): the watch never syncs.
    testkit.state().lock().unwrap().faults.push(gitops_testkit::Fault::random(
        Some("list"),
        Some("configmaps"),
        gitops_testkit::FaultAction::Status(500),
        1.0,
    ));
    let gvk = GroupVersionKind::new("", "v1", "ConfigMap");
    let t = Instant::now();
    assert!(c.get(&gvk, "default", "x").await.unwrap().is_some());
    assert!(t.elapsed() >= Duration::from_millis(250), "the first read waited for the watch");
    let t = Instant::now();
    assert!(c.get(&gvk, "default", "x").await.unwrap().is_some());
    assert!(t.elapsed() < Duration::from_millis(250), "later reads do not wait: {:?}", t.elapsed());
}

/// A person removes a member's ApplySet label by hand. A real server's watch filtered by that
/// label reports the object as DELETED (it left the selection), and the testkit now does the
/// same: the watch-fed cache forgets it and self-heal applies it again, label included.
#[tokio::test]
async fn a_member_that_loses_its_applyset_label_is_healed() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    let (testkit, cluster, manager) = setup(&["label"], ManagerOptions::default()).await;
    let (stop_tx, runner) = run_in_background(&manager, &cluster).await;
    let id = gitops_sync::engine::applyset_id("label", "label");
    let resource = kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(testkit.client(), "label", &resource);
    let label_of =
        |d: DynamicObject| d.metadata.labels.unwrap_or_default().get("applyset.kubernetes.io/part-of").cloned();
    assert_eq!(label_of(api.get("web").await.unwrap()), Some(id.clone()));
    let unlabel = gitops_core::json!({"metadata": {"labels": {"applyset.kubernetes.io/part-of": null}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&unlabel)).await.unwrap();
    let took = wait_for("the label restored", Duration::from_secs(5), async || {
        label_of(api.get("web").await.unwrap()).as_deref() == Some(id.as_str())
    })
    .await;
    eprintln!("label restored after {took:?}");
    let _ = stop_tx.send(());
    runner.await.unwrap();
}
