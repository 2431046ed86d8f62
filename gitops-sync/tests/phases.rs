//! Sync phases: hooks and waves in order, hooks only when something changes, a failing hook
//! stops the sync and runs SyncFail, prune in its wave or last, Replace=true for immutable
//! fields, and the server-side dry-run diff.

use gitops_core::json;
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, Object};
use gitops_sync::engine::{self, Action, SyncOptions};
use gitops_sync::{Health, KubeCluster};
use gitops_testkit::{Simulation, TestCluster};

fn obj(v: gitops_core::value::Value) -> Object {
    Object::from_value(v).unwrap()
}

fn job(name: &str, hook: &str, extra: gitops_core::value::Value) -> Object {
    let mut ann = json!({"argocd.argoproj.io/hook": hook});
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            ann[k] = v.clone();
        }
    }
    obj(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "annotations": ann},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]}}}}))
}

fn cm(name: &str, wave: i64) -> Object {
    obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()}}, "data": {"k": "v"}}))
}

fn deployment(selector: &str) -> Object {
    obj(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": selector}},
                 "template": {"metadata": {"labels": {"app": selector}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}))
}

fn opts() -> SyncOptions {
    let mut o = SyncOptions::new("shop", "shop");
    o.prune = true;
    o.create_namespace = true;
    o
}

async fn cluster(sim: Simulation) -> (TestCluster, KubeCluster) {
    let t = TestCluster::start().await.unwrap();
    t.state().lock().unwrap().simulation = sim;
    let c = KubeCluster::new(t.client());
    (t, c)
}

/// An object's resourceVersion in namespace `shop`, as a number (the testkit's grow with
/// each write).
async fn resource_version(c: &KubeCluster, gvk: &GroupVersionKind, name: &str) -> u64 {
    let o = c.get(gvk, "shop", name).await.unwrap().unwrap();
    o.get("/metadata/resourceVersion").unwrap().as_str().unwrap().parse().unwrap()
}

fn order(r: &gitops_sync::SyncResult) -> Vec<(String, Action)> {
    r.resources.iter().map(|x| (x.key.name.clone(), x.action)).collect()
}

#[tokio::test]
async fn hooks_and_waves_run_in_order_and_only_when_something_changes() {
    let (testkit, c) = cluster(Simulation::Healthy).await;
    let desired = vec![
        job("notify", "PostSync", json!({})),
        deployment("web"),
        job("migrate", "PreSync", json!({"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"})),
        cm("config", -1),
        {
            let mut j = job("smoke", "Sync", json!({}));
            j.set_annotation("argocd.argoproj.io/sync-wave", "1");
            j
        },
    ];
    let r = engine::sync(&c, desired.clone(), &opts()).await.unwrap();
    assert_eq!(
        order(&r),
        vec![
            ("migrate".into(), Action::Hook),
            ("config".into(), Action::Created),
            ("web".into(), Action::Created),
            ("smoke".into(), Action::Hook),
            ("notify".into(), Action::Hook),
        ],
        "{r:?}"
    );
    assert!(r.resources.iter().filter(|x| x.action == Action::Hook).all(|x| x.health == Health::Current), "{r:?}");
    let jobs = GroupVersionKind::new("batch", "v1", "Job");
    assert!(c.get(&jobs, "shop", "migrate").await.unwrap().is_none(), "HookSucceeded deletes the hook");
    assert!(c.get(&jobs, "shop", "notify").await.unwrap().is_some(), "BeforeHookCreation keeps it until the next run");
    let notify_rv = resource_version(&c, &jobs, "notify").await;
    let web_rv = resource_version(&c, &GroupVersionKind::new("apps", "v1", "Deployment"), "web").await;
    assert!(notify_rv > web_rv, "PostSync after the workloads");

    // In sync: no hook runs, nothing is written.
    testkit.state().lock().unwrap().requests = Default::default();
    let again = engine::sync(&c, desired, &opts()).await.unwrap();
    assert!(again.resources.iter().all(|x| x.action == Action::Unchanged), "{again:?}");
    assert_eq!(testkit.state().lock().unwrap().requests.writes(), 0);
}

#[tokio::test]
async fn a_failing_presync_hook_stops_the_sync_and_runs_syncfail() {
    let (_t, c) = cluster(Simulation::Failing).await;
    let mut o = opts();
    o.hook_timeout = std::time::Duration::from_secs(5);
    let desired =
        vec![job("migrate", "PreSync", json!({})), job("page-oncall", "SyncFail", json!({})), cm("config", 0)];
    let r = engine::sync(&c, desired, &o).await.unwrap();
    assert_eq!(r.resources[0].key.name, "migrate");
    assert_eq!(r.resources[0].health, Health::Failed);
    assert!(r.resources[0].message.contains("PreSync hook failed"), "{r:?}");
    assert_eq!(r.resources[1].key.name, "page-oncall");
    assert!(r.resources.iter().all(|x| x.key.name != "config"), "nothing applied after a failed PreSync: {r:?}");
    assert!(c.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "shop", "config").await.unwrap().is_none());
}

#[tokio::test]
async fn prunes_run_in_their_wave_or_last() {
    let (_t, c) = cluster(Simulation::Off).await;
    for prune_last in [false, true] {
        let mut o = opts();
        o.app = format!("shop-{prune_last}");
        o.prune_last = prune_last;
        engine::sync(&c, vec![cm(&format!("old-{prune_last}"), 0), cm(&format!("late-{prune_last}"), 5)], &o)
            .await
            .unwrap();
        let r = engine::sync(&c, vec![cm(&format!("new-{prune_last}"), 0), cm(&format!("late-{prune_last}"), 5)], &o)
            .await
            .unwrap();
        let names: Vec<(String, Action)> = order(&r).into_iter().filter(|(_, a)| *a != Action::Unchanged).collect();
        let pruned = (format!("old-{prune_last}"), Action::Pruned);
        let created = (format!("new-{prune_last}"), Action::Created);
        let want = if prune_last { vec![created, pruned] } else { vec![pruned, created] };
        assert_eq!(names, want, "prune_last={prune_last}");
    }
}

#[tokio::test]
async fn an_immutable_field_is_reported_and_recreated_only_with_replace() {
    let (_t, c) = cluster(Simulation::Off).await;
    let deploy = GroupVersionKind::new("apps", "v1", "Deployment");
    engine::sync(&c, vec![deployment("web")], &opts()).await.unwrap();
    let uid = c.get(&deploy, "shop", "web").await.unwrap().unwrap().get("/metadata/uid").cloned();
    let r = engine::sync(&c, vec![deployment("web-v2")], &opts()).await.unwrap();
    assert_eq!(r.resources[0].action, Action::Failed);
    assert!(
        r.resources[0].message.contains("field is immutable") && r.resources[0].message.contains("Replace=true"),
        "{r:?}"
    );
    let mut o = opts();
    o.replace = true;
    let r = engine::sync(&c, vec![deployment("web-v2")], &o).await.unwrap();
    assert_eq!(r.resources[0].action, Action::Updated, "{r:?}");
    let live = c.get(&deploy, "shop", "web").await.unwrap().unwrap();
    assert_eq!(live.get("/spec/selector/matchLabels/app").and_then(|v| v.as_str()), Some("web-v2"));
    assert_ne!(live.get("/metadata/uid").cloned(), uid, "recreated");
}

#[tokio::test]
async fn the_server_side_dry_run_diff_sees_drift_and_not_defaults() {
    let (testkit, c) = cluster(Simulation::Off).await;
    let mut o = opts();
    o.server_side_diff = true;
    engine::sync(&c, vec![deployment("web")], &o).await.unwrap();
    let again = engine::sync(&c, vec![deployment("web")], &o).await.unwrap();
    assert_eq!(again.resources[0].action, Action::Unchanged, "defaulted fields are not drift: {again:?}");
    let scale = obj(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 7}}),
    );
    c.apply(&scale, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }).await.unwrap();
    testkit.state().lock().unwrap().requests = Default::default();
    let r = engine::sync(&c, vec![deployment("web")], &o).await.unwrap();
    assert_eq!(r.resources[0].action, Action::Updated);
    assert_eq!(r.resources[0].drift, vec!["/spec/replicas".to_string()]);
    assert!(
        r.resources[0].diff.contains("-  replicas: 7") && r.resources[0].diff.contains("+  replicas: 2"),
        "{}",
        r.resources[0].diff
    );
    assert!(testkit.state().lock().unwrap().requests.get("patch(dry-run)") >= 1);
}

#[tokio::test]
async fn health_waits_succeed_or_fail_fast() {
    for (sim, want) in [(Simulation::Healthy, Health::Current), (Simulation::Failing, Health::Failed)] {
        let (_t, c) = cluster(sim).await;
        let r = engine::sync(&c, vec![deployment("web")], &opts()).await.unwrap();
        let start = std::time::Instant::now();
        let h = engine::wait_healthy(&c, &r, std::time::Duration::from_secs(60)).await.unwrap();
        assert_eq!(h, want, "{sim:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{sim:?}: took {:?}", start.elapsed());
    }
    // Nothing becomes ready (no nodes): the wait ends at its timeout, InProgress.
    let (_t, c) = cluster(Simulation::Off).await;
    let r = engine::sync(&c, vec![deployment("web")], &opts()).await.unwrap();
    let h = engine::wait_healthy(&c, &r, std::time::Duration::from_millis(300)).await.unwrap();
    assert_eq!(h, Health::InProgress);
}

#[tokio::test]
async fn an_interrupted_sync_is_completed_by_the_next_one() {
    let (testkit, c) = cluster(Simulation::Off).await;
    let svc = obj(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}));
    let mut web = deployment("web");
    web.set_annotation("argocd.argoproj.io/sync-wave", "1");
    let desired = vec![cm("config", 0), svc, web];
    // The Service's writes fail for longer than the engine retries: the sync stops after its
    // wave (as Argo CD, later waves wait for earlier ones to succeed).
    testkit.state().lock().unwrap().faults.push(gitops_testkit::Fault::new(
        Some("patch"),
        Some("services"),
        gitops_testkit::FaultAction::Status(500),
        5,
    ));
    let first = engine::sync(&c, desired.clone(), &opts()).await.unwrap();
    assert!(!first.succeeded(), "{first:?}");
    assert_eq!(first.resources.iter().find(|r| r.key.name == "config").map(|r| r.action), Some(Action::Created));
    assert!(first.resources.iter().all(|r| r.key.kind != "Deployment"), "no later wave after a failure: {first:?}");
    let second = engine::sync(&c, desired, &opts()).await.unwrap();
    assert!(second.succeeded(), "{second:?}");
    let actions: Vec<(String, Action)> = second.resources.iter().map(|r| (r.key.kind.clone(), r.action)).collect();
    assert_eq!(
        actions,
        vec![
            ("ConfigMap".into(), Action::Unchanged),
            ("Service".into(), Action::Created),
            ("Deployment".into(), Action::Created)
        ]
    );
}

/// Hooks with only `metadata.generateName` are named as Argo CD names them (prefix, the
/// revision's first seven characters, the phase and the operation's start), waited on by that
/// name and their delete policy applied to it; plain manifests with Helm hook annotations are
/// hooks too, mapped as Argo CD maps them (pre-install to PreSync, post-upgrade to PostSync,
/// Helm's delete policies and weights), and Helm hook types Argo CD does not map never run.
#[tokio::test]
async fn generate_name_and_helm_hooks_run_as_argo_cd_runs_them() {
    let (_t, c) = cluster(Simulation::Healthy).await;
    let with_generate_name = |prefix: &str, annotations: gitops_core::value::Value| {
        obj(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": prefix, "annotations": annotations},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]}}}}))
    };
    let desired = vec![
        deployment("web"),
        with_generate_name("upgrade-sql-schema-", json!({"argocd.argoproj.io/hook": "PreSync"})),
        with_generate_name(
            "helm-pre-",
            json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "hook-succeeded",
                   "helm.sh/hook-weight": "-5"}),
        ),
        with_generate_name("helm-post-", json!({"helm.sh/hook": "post-upgrade"})),
        obj(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "chart-test", "annotations": {"helm.sh/hook": "test"}},
            "spec": {"containers": [{"name": "t", "image": "busybox"}]}})),
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "crd-like", "annotations": {"helm.sh/hook": "crd-install"}}, "data": {"a": "b"}})),
    ];
    let mut o = opts();
    o.revision = "0A1b2c3d4e5f60718293a4b5c6d7e8f901234567".into();
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let r = engine::sync(&c, desired, &o).await.unwrap();
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let hooks: Vec<&str> =
        r.resources.iter().filter(|x| x.action == Action::Hook).map(|x| x.key.name.as_str()).collect();
    assert_eq!(hooks.len(), 3, "{r:?}");
    let named = |prefix: &str, phase: &str| {
        let name = hooks.iter().find(|n| n.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {hooks:?}"));
        let rest = name.strip_prefix(&format!("{prefix}0a1b2c3-{phase}-")).unwrap_or_else(|| panic!("{name}"));
        let t: u64 = rest.parse().unwrap_or_else(|_| panic!("{name}"));
        assert!((before..=after).contains(&t), "{name}");
        name.to_string()
    };
    let argo = named("upgrade-sql-schema-", "presync");
    let helm_pre = named("helm-pre-", "presync");
    let helm_post = named("helm-post-", "postsync");
    // The Helm weight orders the two PreSync hooks: -5 before 0.
    let position = |n: &str| r.resources.iter().position(|x| x.key.name == n).unwrap();
    assert!(position(&helm_pre) < position(&argo), "{r:?}");
    assert!(position("web") < position(&helm_post), "{r:?}");
    assert!(r.resources.iter().filter(|x| x.action == Action::Hook).all(|x| x.health == Health::Current), "{r:?}");
    let jobs = GroupVersionKind::new("batch", "v1", "Job");
    assert!(c.get(&jobs, "shop", &argo).await.unwrap().is_some(), "the default policy keeps the hook");
    assert!(c.get(&jobs, "shop", &helm_pre).await.unwrap().is_none(), "hook-succeeded deleted it by its name");
    let pods = GroupVersionKind::new("", "v1", "Pod");
    assert!(c.get(&pods, "shop", "chart-test").await.unwrap().is_none(), "a Helm test hook never runs");
    let cms = GroupVersionKind::new("", "v1", "ConfigMap");
    assert!(c.get(&cms, "shop", "crd-like").await.unwrap().is_some(), "crd-install is not a hook");
    assert_eq!(
        engine::hook_name("migrate-", "ABCDEF0123", "PreSync", 1700000000),
        "migrate-abcdef0-presync-1700000000"
    );
}
