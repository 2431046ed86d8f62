//! Whole-process bench of the sync engine at scale, shaped like Flux's public benchmark:
//! `SYNC_APPS` applications (default 500) of 4 objects each (Deployment, Service,
//! ServiceAccount, Ingress), each in its own namespace (CreateNamespace=true), against the
//! testkit API server over HTTP with the real kube-client and the watch-fed live-state cache,
//! in one process. Measures, over `SYNC_RUNS` fresh clusters (default 3), medians of:
//!
//! - the initial sync of every application;
//! - a no-change pass over every application, and the write requests it sent (must be 0);
//! - a one-field drift (a Deployment scaled by another field manager) until it is reverted by
//!   self-heal, driven by the watch.
//!
//! ```text
//! cargo bench -p gitops-benches --bench sync_500
//! ```

use gitops_benches::median;
use std::time::{Duration, Instant};

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, NoDecryption, Object};
use gitops_render::AutoRenderer;
use gitops_sync::{KubeCluster, Manager, ManagerOptions, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

use gitops_benches::fleet::{REPO, application, tree};

struct Run {
    initial: Duration,
    no_change: Duration,
    no_change_writes: u64,
    no_change_requests: u64,
    drift_reverted: Duration,
}

async fn run_once(n: usize) -> Run {
    let testkit = TestCluster::start().await.expect("testkit");
    testkit.state().lock().unwrap().simulation = Simulation::Healthy;
    let source = MemSource::default();
    source.set(REPO, "c0ffee", tree(n));
    let cluster = KubeCluster::with_cache(testkit.client());
    let reconciler = Reconciler::new(source, AutoRenderer::default(), NoDecryption, cluster.clone());
    let manager =
        std::sync::Arc::new(Manager::new(reconciler, (0..n).map(application).collect(), ManagerOptions::default()));

    let t = Instant::now();
    let results = manager.reconcile_all().await;
    let initial = t.elapsed();
    for r in &results {
        let ok = r.result.as_ref().map(|s| s.succeeded() && s.resources.len() == 4).unwrap_or(false);
        assert!(ok, "{}: {:?}", r.app, r.result);
    }

    testkit.state().lock().unwrap().requests = Default::default();
    let t = Instant::now();
    let results = manager.reconcile_all().await;
    let no_change = t.elapsed();
    let counts = testkit.state().lock().unwrap().requests.clone();
    for r in &results {
        let s = r.result.as_ref().expect("no-change pass");
        assert_eq!(s.count(gitops_sync::Action::Unchanged), 4, "{}", r.app);
    }

    // Self-heal driven by the watch: someone scales app-7's Deployment with kubectl.
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
        .await;
    });
    let _ = first_rx.await; // the run loop's first full pass is over
    let direct = KubeCluster::new(testkit.client());
    let deploy = GroupVersionKind::new("apps", "v1", "Deployment");
    let app = n / 2;
    let scale = Object::from_value(gitops_core::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{app}"), "namespace": format!("bench-{app}")}, "spec": {"replicas": 5}}))
    .unwrap();
    let t = Instant::now();
    direct.apply(&scale, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }).await.unwrap();
    let drift_reverted = loop {
        let live = direct.get(&deploy, &format!("bench-{app}"), &format!("app-{app}")).await.unwrap().unwrap();
        if live.get("/spec/replicas").and_then(|v| v.as_i64()) == Some(2) {
            break t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "drift never reverted");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let _ = stop_tx.send(());
    let _ = runner.await;
    Run { initial, no_change, no_change_writes: counts.writes(), no_change_requests: counts.total(), drift_reverted }
}

/// The same applications as Application resources, reconciled by the controller: the time
/// from the controller's start until every Application's status says Synced, then a
/// no-change pass (with its status writes, which must be 0).
async fn run_controller(n: usize) -> (Duration, Duration, u64) {
    use gitops_sync::{ApplicationController, ControllerOptions};
    let testkit = TestCluster::start().await.expect("testkit");
    testkit.state().lock().unwrap().simulation = Simulation::Healthy;
    let direct = KubeCluster::new(testkit.client());
    for (file, text) in [
        ("application-crd.yaml", include_str!("../../deploy/crds/application-crd.yaml")),
        ("appproject-crd.yaml", include_str!("../../deploy/crds/appproject-crd.yaml")),
    ] {
        for crd in gitops_core::yaml::parse_objects(text, file, &Default::default()).unwrap() {
            direct.apply(&crd, &ApplyOptions::default()).await.unwrap();
        }
    }
    let projects = GroupVersionKind::new("argoproj.io", "v1alpha1", "AppProject");
    let ns = Object::from_value(
        gitops_core::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
    );
    direct.apply(&ns.unwrap(), &ApplyOptions::default()).await.unwrap();
    let apps = GroupVersionKind::new("argoproj.io", "v1alpha1", "Application");
    while direct.resource(&apps).await.unwrap().is_none() || direct.resource(&projects).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..n {
        let app = gitops_core::value::to_value(application(i)).unwrap();
        direct.apply(&Object::from_value(app).unwrap(), &ApplyOptions::default()).await.unwrap();
    }
    let source = MemSource::default();
    source.set(REPO, "c0ffee", tree(n));
    let cluster = KubeCluster::with_cache(testkit.client());
    let reconciler = Reconciler::new(source, AutoRenderer::default(), NoDecryption, cluster.clone());
    let manager = std::sync::Arc::new(Manager::new(reconciler, Vec::new(), ManagerOptions::default()));
    let options = ControllerOptions {
        namespaces: vec!["argocd".into()],
        interval: Duration::from_secs(3600),
        ..ControllerOptions::default()
    };
    let controller = std::sync::Arc::new(ApplicationController::new(manager.clone(), testkit.client(), options));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let c = controller.clone();
    let t = Instant::now();
    let runner = tokio::spawn(async move {
        c.run(
            async {
                let _ = stop_rx.await;
            },
            |_, _| {},
        )
        .await
    });
    let initial = loop {
        let listed = direct.list(&apps, Some("argocd"), "").await.unwrap();
        let synced =
            listed.iter().filter(|a| a.get("/status/sync/status").and_then(|v| v.as_str()) == Some("Synced")).count();
        if synced == n {
            break t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(300), "only {synced} of {n} Applications synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Then until every status says Healthy (the controller follows the workloads' status).
    let started = Instant::now();
    loop {
        let listed = direct.list(&apps, Some("argocd"), "").await.unwrap();
        let healthy = listed
            .iter()
            .filter(|a| a.get("/status/health/status").and_then(|v| v.as_str()) == Some("Healthy"))
            .count();
        if healthy == n {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "only {healthy} of {n} Applications healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Quiet: no request for half a second (the controller has caught up).
    loop {
        let before = testkit.state().lock().unwrap().requests.total();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if testkit.state().lock().unwrap().requests.total() == before {
            break;
        }
    }
    testkit.state().lock().unwrap().requests = Default::default();
    let t = Instant::now();
    let passes = manager.reconcile_all().await;
    controller.write_statuses(&passes).await;
    let no_change = t.elapsed();
    let requests = testkit.state().lock().unwrap().requests.clone();
    let writes = requests.writes();
    if writes > 0 {
        eprintln!("no-change pass requests: {:?}", requests.by_verb);
    }
    let _ = stop_tx.send(());
    let _ = runner.await;
    (initial, no_change, writes)
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let n: usize = std::env::var("SYNC_APPS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let runs: usize = std::env::var("SYNC_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut all = Vec::new();
    for i in 0..runs {
        let r = rt.block_on(run_once(n));
        println!(
            "run {i}: initial {:.2}s, no-change {:.3}s ({} requests, {} writes), drift reverted in {:.0}ms",
            r.initial.as_secs_f64(),
            r.no_change.as_secs_f64(),
            r.no_change_requests,
            r.no_change_writes,
            r.drift_reverted.as_secs_f64() * 1000.0
        );
        all.push(r);
    }
    let mut controller_runs = Vec::new();
    for i in 0..runs {
        let (initial, no_change, writes) = rt.block_on(run_controller(n));
        println!(
            "controller run {i}: all {n} Applications Synced after {:.2}s, no-change pass {:.3}s with {writes} writes",
            initial.as_secs_f64(),
            no_change.as_secs_f64()
        );
        controller_runs.push((initial, no_change, writes));
    }
    let from_files = median(all.iter().map(|r| r.initial).collect());
    let as_resources = median(controller_runs.iter().map(|r| r.0).collect());
    println!(
        "controller ({n} Application resources, median of {runs}): all Synced after {:.2}s = {:.2}x the sync from files \
         (goal <= 1.5x); no-change pass {:.3}s with {} writes (goal 0)",
        as_resources.as_secs_f64(),
        as_resources.as_secs_f64() / from_files.as_secs_f64(),
        median(controller_runs.iter().map(|r| r.1).collect()).as_secs_f64(),
        controller_runs.iter().map(|r| r.2).max().unwrap_or(0),
    );
    println!(
        "sync_500 ({n} apps x 4 objects, median of {runs}): initial sync {:.2}s (goal < 10s), no-change pass {:.3}s \
         (goal < 1s) with {} write requests (goal 0), drift reverted {:.0}ms after it happened (goal < 1s)",
        median(all.iter().map(|r| r.initial).collect()).as_secs_f64(),
        median(all.iter().map(|r| r.no_change).collect()).as_secs_f64(),
        all.iter().map(|r| r.no_change_writes).max().unwrap_or(0),
        median(all.iter().map(|r| r.drift_reverted).collect()).as_secs_f64() * 1000.0,
    );
}
