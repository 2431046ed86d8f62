//! The controller of Application resources against the testkit, through the real kube-client:
//! the project's own CRDs (`deploy/crds`) installed, Applications created as a person creates
//! them, status written in Argo CD's shapes and only when it changed, `.operation.sync` for a
//! manual Application, the refresh annotation, an invalid spec, and deletion with and without
//! the resources finalizer.

use std::time::{Duration, Instant};

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, MemTree, NoDecryption, Object};
use gitops_core::{json, value::Value};
use gitops_sync::{KubeCluster, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

mod common;
use common::Yamls;

const REPO: &str = "mem://config";

fn tree(image: &str) -> MemTree {
    MemTree::new()
        .with_file(
            "apps/web/deployment.yaml",
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: '{image}'}}]}}\n"),
        )
        .with_file("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
}

fn kubectl() -> ApplyOptions {
    ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }
}

fn applications() -> GroupVersionKind {
    GroupVersionKind::new("argoproj.io", "v1alpha1", "Application")
}

fn application(name: &str, automated: bool, extra: Value) -> Object {
    let mut v = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/web"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
    });
    if automated {
        v["spec"]["syncPolicy"]["automated"] = json!({"prune": true, "selfHeal": true});
    }
    if let (Some(m), Some(x)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in x {
            if k == "metadata" {
                for (mk, mv) in val.as_object().unwrap() {
                    m["metadata"][mk] = mv.clone();
                }
            } else {
                m.insert(k.clone(), val.clone());
            }
        }
    }
    Object::from_value(v).unwrap()
}

struct Fixture {
    testkit: TestCluster,
    direct: KubeCluster,
    source: MemSource,
    running: Option<common::Running>,
}

impl Fixture {
    async fn start() -> Fixture {
        let _ = tracing_subscriber::fmt().with_env_filter("gitops_sync=debug").with_test_writer().try_init();
        let testkit = TestCluster::start().await.unwrap();
        testkit.state().lock().unwrap().simulation = Simulation::Healthy;
        let direct = KubeCluster::new(testkit.client());
        common::install_crds(&direct).await;
        let source = MemSource::default();
        source.set(REPO, "c1", tree("nginx:1.27"));
        let cluster = KubeCluster::with_cache(testkit.client());
        let reconciler = Reconciler::new(source.clone(), Yamls, NoDecryption, cluster.clone());
        let running = Some(common::Running::start(reconciler, testkit.client()));
        Fixture { testkit, direct, source, running }
    }

    async fn app(&self, name: &str) -> Option<Value> {
        self.direct.get(&applications(), "argocd", name).await.unwrap().map(Object::into_value)
    }

    async fn stop(mut self) {
        self.running.take().unwrap().stop().await;
    }
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
async fn automated_application_is_synced_and_its_status_written_once() {
    let fx = Fixture::start().await;
    fx.direct.apply(&application("shop", true, json!({})), &kubectl()).await.unwrap();
    let took = wait_for("shop Synced and Healthy", || async {
        let a = fx.app("shop").await.unwrap_or_default();
        at(&a, "/status/sync/status") == "Synced" && at(&a, "/status/health/status") == "Healthy"
    })
    .await;
    eprintln!("synced and healthy after {took:?}");
    let a = fx.app("shop").await.unwrap();
    // Argo CD's shapes.
    assert_eq!(at(&a, "/status/sync/revision"), "c1");
    assert_eq!(at(&a, "/status/sync/comparedTo/source/repoURL"), REPO);
    let resources = at(&a, "/status/resources").as_array().unwrap();
    let kinds: Vec<&str> = resources.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    // Sorted as Argo CD sorts them: group, kind, namespace, name.
    assert_eq!(kinds, ["ConfigMap", "Deployment"]);
    assert!(resources.iter().all(|r| r["status"] == "Synced" && r["health"]["status"].is_string()), "{resources:?}");
    let deployment = resources.iter().find(|r| r["kind"] == "Deployment").unwrap();
    assert_eq!((deployment["group"].as_str(), deployment["version"].as_str()), (Some("apps"), Some("v1")));
    assert_eq!(at(&a, "/status/summary/images"), &json!(["nginx:1.27"]));
    assert_eq!(at(&a, "/status/operationState/phase"), "Succeeded");
    assert_eq!(at(&a, "/status/operationState/operation/initiatedBy/automated"), true);
    assert_eq!(at(&a, "/status/history").as_array().map(Vec::len), Some(1));
    assert_eq!(at(&a, "/status/history/0/revision"), "c1");
    // Who made each entry, as Argo CD records it in `history[].initiatedBy`.
    assert_eq!(at(&a, "/status/history/0/initiatedBy"), &json!({"automated": true}));
    assert!(at(&a, "/status/reconciledAt").is_string());
    assert!(fx.direct.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "shop", "settings").await.unwrap().is_some());

    // Passes that change nothing write no status (three intervals).
    let rv = at(&a, "/metadata/resourceVersion").clone();
    fx.testkit.state().lock().unwrap().requests = Default::default();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let again = fx.app("shop").await.unwrap();
    assert_eq!(at(&again, "/metadata/resourceVersion"), &rv, "no status write on a no-change pass");
    assert_eq!(fx.testkit.state().lock().unwrap().requests.writes(), 0);

    // A new commit: synced, a second history entry, the new image in the summary.
    fx.source.set(REPO, "c2", tree("nginx:1.28"));
    wait_for("revision c2", || async {
        let a = fx.app("shop").await.unwrap();
        at(&a, "/status/sync/revision") == "c2" && at(&a, "/status/history").as_array().map(Vec::len) == Some(2)
    })
    .await;
    let a = fx.app("shop").await.unwrap();
    assert_eq!(at(&a, "/status/summary/images"), &json!(["nginx:1.28"]));
    assert_eq!(at(&a, "/status/history/1/id"), 1);
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_sync_through_the_operation_field_and_refresh() {
    let fx = Fixture::start().await;
    fx.direct.apply(&application("manual", false, json!({})), &kubectl()).await.unwrap();
    wait_for("manual OutOfSync", || async {
        let a = fx.app("manual").await.unwrap_or_default();
        at(&a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    let a = fx.app("manual").await.unwrap();
    assert!(at(&a, "/status/resources").as_array().unwrap().iter().all(|r| r["status"] == "OutOfSync"));
    assert!(at(&a, "/status/operationState").is_null(), "nothing was synced");
    assert!(
        fx.direct.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "manual", "settings").await.unwrap().is_none()
    );

    // `argocd app sync` writes `.operation`; the controller syncs and clears it.
    let op = application(
        "manual",
        false,
        json!({"operation": {"sync": {"revision": "HEAD", "prune": true}, "initiatedBy": {"username": "alice"}}}),
    );
    fx.direct.apply(&op, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the operation done", || async {
        let a = fx.app("manual").await.unwrap();
        at(&a, "/status/operationState/phase") == "Succeeded" && at(&a, "/operation").is_null()
    })
    .await;
    let a = fx.app("manual").await.unwrap();
    assert_eq!(at(&a, "/status/sync/status"), "Synced");
    assert_eq!(at(&a, "/status/operationState/operation/initiatedBy/username"), "alice");
    assert_eq!(at(&a, "/status/history/0/revision"), "c1");
    assert_eq!(at(&a, "/status/history/0/initiatedBy"), &json!({"username": "alice"}));
    let results = at(&a, "/status/operationState/syncResult/resources").as_array().unwrap();
    assert!(results.iter().any(|r| r["kind"] == "ConfigMap" && r["status"] == "Synced"), "{results:?}");
    assert!(
        fx.direct.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "manual", "settings").await.unwrap().is_some()
    );

    // The refresh annotation: compared now, then removed.
    let refresh =
        application("manual", false, json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}}));
    fx.direct.apply(&refresh, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the refresh annotation removed", || async {
        let a = fx.app("manual").await.unwrap();
        at(&a, "/metadata/annotations/argocd.argoproj.io~1refresh").is_null()
    })
    .await;
    fx.stop().await;
}

/// `argocd app sync --resource :ConfigMap:settings`: only the named resource is applied, the
/// others stay as they are (and out of sync), no hook runs; then a full sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_sync_applies_only_the_named_resources() {
    let fx = Fixture::start().await;
    fx.direct.apply(&application("partial", false, json!({})), &kubectl()).await.unwrap();
    wait_for("partial OutOfSync", || async {
        at(&fx.app("partial").await.unwrap_or_default(), "/status/sync/status") == "OutOfSync"
    })
    .await;
    let op = application(
        "partial",
        false,
        json!({"operation": {"sync": {"resources": [{"group": "", "kind": "ConfigMap", "name": "settings"}]},
                             "initiatedBy": {"username": "alice"}}}),
    );
    fx.direct.apply(&op, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the selective sync done", || async {
        let a = fx.app("partial").await.unwrap();
        at(&a, "/status/operationState/phase") == "Succeeded" && at(&a, "/operation").is_null()
    })
    .await;
    let (cm, deploy) =
        (GroupVersionKind::new("", "v1", "ConfigMap"), GroupVersionKind::new("apps", "v1", "Deployment"));
    assert!(fx.direct.get(&cm, "partial", "settings").await.unwrap().is_some(), "the named resource applied");
    assert!(fx.direct.get(&deploy, "partial", "web").await.unwrap().is_none(), "the other left alone");
    let a = fx.app("partial").await.unwrap();
    assert_eq!(at(&a, "/status/sync/status"), "OutOfSync", "the Deployment is still missing");
    let results = at(&a, "/status/operationState/syncResult/resources").as_array().unwrap();
    let kinds: Vec<&str> = results.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap"], "only the named resource in the result");
    let resources = at(&a, "/status/resources").as_array().unwrap();
    let status = |kind: &str| resources.iter().find(|r| r["kind"] == kind).map(|r| r["status"].clone());
    assert_eq!(status("ConfigMap"), Some(json!("Synced")));
    assert_eq!(status("Deployment"), Some(json!("OutOfSync")));

    // A full sync then applies the rest.
    let op = application("partial", false, json!({"operation": {"sync": {"revision": "HEAD"}}}));
    fx.direct.apply(&op, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the full sync", || async {
        let a = fx.app("partial").await.unwrap();
        at(&a, "/status/sync/status") == "Synced" && at(&a, "/operation").is_null()
    })
    .await;
    assert!(fx.direct.get(&deploy, "partial", "web").await.unwrap().is_some());
    fx.stop().await;
}

/// `.operation.retry`: a sync that fails (the API server refuses one write) is tried again
/// with the operation's backoff and succeeds; without it the operation fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_retries_as_its_retry_says() {
    let fx = Fixture::start().await;
    fx.direct.apply(&application("flaky", false, json!({})), &kubectl()).await.unwrap();
    wait_for("flaky OutOfSync", || async {
        at(&fx.app("flaky").await.unwrap_or_default(), "/status/sync/status") == "OutOfSync"
    })
    .await;
    let refuse_once = || {
        let fault =
            gitops_testkit::Fault::new(Some("patch"), Some("configmaps"), gitops_testkit::FaultAction::Status(403), 1)
                .named("settings");
        fx.testkit.state().lock().unwrap().faults.push(fault);
    };
    // Without retry: the refused write fails the operation.
    refuse_once();
    let op = application("flaky", false, json!({"operation": {"sync": {}}}));
    fx.direct.apply(&op, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the operation failed", || async {
        let a = fx.app("flaky").await.unwrap();
        at(&a, "/status/operationState/phase") == "Failed" && at(&a, "/operation").is_null()
    })
    .await;
    // With retry: tried again after the backoff, and done.
    refuse_once();
    let op = application(
        "flaky",
        false,
        json!({"operation": {"sync": {}, "retry": {"limit": 2, "backoff": {"duration": "200ms", "factor": 2}}}}),
    );
    let started = Instant::now();
    fx.direct.apply(&op, &ApplyOptions { field_manager: "argocd-cli".into(), ..kubectl() }).await.unwrap();
    wait_for("the operation retried and succeeded", || async {
        let a = fx.app("flaky").await.unwrap();
        at(&a, "/status/operationState/phase") == "Succeeded" && at(&a, "/operation").is_null()
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(200), "the backoff was waited");
    assert_eq!(fx.testkit.state().lock().unwrap().faults.injected, 2);
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    assert!(fx.direct.get(&cm, "flaky", "settings").await.unwrap().is_some());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_get_a_condition_and_others_are_unaffected() {
    let fx = Fixture::start().await;
    let bad = application(
        "bad",
        true,
        json!({"spec": {"project": "default", "source": {"repoURL": REPO, "path": "apps/web", "kustomize": {"images": ["=broken"]}},
                        "destination": {"namespace": "bad"}, "syncPolicy": {"automated": {}}}}),
    );
    fx.direct.apply(&bad, &kubectl()).await.unwrap();
    let missing = application(
        "missing-path",
        true,
        json!({"spec": {"project": "default", "source": {"repoURL": "mem://nowhere", "path": "apps/web"},
                        "destination": {"namespace": "missing-path"}, "syncPolicy": {"automated": {}}}}),
    );
    fx.direct.apply(&missing, &kubectl()).await.unwrap();
    fx.direct.apply(&application("good", true, json!({})), &kubectl()).await.unwrap();
    wait_for("conditions and a synced neighbour", || async {
        let bad = fx.app("bad").await.unwrap();
        let missing = fx.app("missing-path").await.unwrap();
        let good = fx.app("good").await.unwrap();
        at(&bad, "/status/conditions/0/type") == "InvalidSpecError"
            && at(&missing, "/status/conditions/0/type") == "ComparisonError"
            && at(&good, "/status/sync/status") == "Synced"
    })
    .await;
    let bad = fx.app("bad").await.unwrap();
    let message = at(&bad, "/status/conditions/0/message").as_str().unwrap();
    assert!(message.contains("spec.source.kustomize.images[0]"), "{message}");
    let missing = fx.app("missing-path").await.unwrap();
    let message = at(&missing, "/status/conditions/0/message").as_str().unwrap();
    assert!(message.contains("mem://nowhere"), "{message}");
    assert_eq!(at(&missing, "/status/sync/status"), "Unknown");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_deletes_its_resources_only_with_the_finalizer() {
    let fx = Fixture::start().await;
    let finalized =
        application("finalized", true, json!({"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}}));
    fx.direct.apply(&finalized, &kubectl()).await.unwrap();
    fx.direct.apply(&application("kept", true, json!({})), &kubectl()).await.unwrap();
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    wait_for("both synced", || async {
        fx.direct.get(&cm, "finalized", "settings").await.unwrap().is_some()
            && fx.direct.get(&cm, "kept", "settings").await.unwrap().is_some()
    })
    .await;
    for name in ["finalized", "kept"] {
        fx.direct.delete(&applications(), "argocd", name, gitops_core::Propagation::Background).await.unwrap();
    }
    wait_for("the finalized Application gone with its resources", || async {
        fx.app("finalized").await.is_none() && fx.direct.get(&cm, "finalized", "settings").await.unwrap().is_none()
    })
    .await;
    assert!(fx.app("kept").await.is_none());
    assert!(fx.direct.get(&cm, "kept", "settings").await.unwrap().is_some(), "without the finalizer, resources stay");
    fx.stop().await;
}

/// AppProjects: the project must exist; repositories, destinations and kinds outside its
/// rules are an InvalidSpecError and nothing of the application is applied; an application
/// inside the rules syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_keep_to_their_project() {
    let fx = Fixture::start().await;
    let project = Object::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "team-a", "namespace": "argocd"},
        "spec": {
            "sourceRepos": [REPO, "mem://admin"],
            "destinations": [{"server": "*", "namespace": "team-a-*"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}],
        },
    }))
    .unwrap();
    fx.direct.apply(&project, &kubectl()).await.unwrap();
    fx.source.set(
        "mem://admin",
        "a1",
        MemTree::new()
            .with_file("apps/admin/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
            .with_file(
                "apps/admin/crb.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: team-a-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: team-a, apiGroup: rbac.authorization.k8s.io}]\n",
            ),
    );
    let in_project = |name: &str, project: &str, repo: &str, path: &str, namespace: &str| {
        application(
            name,
            true,
            json!({"spec": {"project": project, "source": {"repoURL": repo, "targetRevision": "HEAD", "path": path},
                            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
                            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}}}),
        )
    };
    for app in [
        in_project("ok", "team-a", REPO, "apps/web", "team-a-ok"),
        in_project("escape", "team-a", REPO, "apps/web", "kube-system"),
        in_project("admin", "team-a", "mem://admin", "apps/admin", "team-a-admin"),
        in_project("other-repo", "team-a", "mem://elsewhere", "apps/web", "team-a-x"),
        in_project("orphan", "nope", REPO, "apps/web", "team-a-orphan"),
    ] {
        fx.direct.apply(&app, &kubectl()).await.unwrap();
    }
    let condition = |a: &Value| at(a, "/status/conditions/0/message").as_str().unwrap_or("").to_string();
    wait_for("every application judged", || async {
        let mut done = 0;
        for name in ["escape", "admin", "other-repo", "orphan"] {
            if at(&fx.app(name).await.unwrap(), "/status/conditions/0/type") == "InvalidSpecError" {
                done += 1;
            }
        }
        done == 4 && at(&fx.app("ok").await.unwrap(), "/status/sync/status") == "Synced"
    })
    .await;
    let escape = condition(&fx.app("escape").await.unwrap());
    assert!(
        escape.contains("namespace 'kube-system' do not match any of the allowed destinations in project 'team-a'"),
        "{escape}"
    );
    let admin = condition(&fx.app("admin").await.unwrap());
    assert!(
        admin.contains("rbac.authorization.k8s.io:ClusterRoleBinding team-a-admin is not permitted in project team-a"),
        "{admin}"
    );
    let other = condition(&fx.app("other-repo").await.unwrap());
    assert!(other.contains("application repo mem://elsewhere is not permitted in project 'team-a'"), "{other}");
    let orphan = condition(&fx.app("orphan").await.unwrap());
    assert!(orphan.contains("project nope which does not exist"), "{orphan}");
    // Nothing of the refused applications reached the cluster.
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    assert!(fx.direct.get(&cm, "kube-system", "settings").await.unwrap().is_none());
    assert!(fx.direct.get(&cm, "team-a-admin", "settings").await.unwrap().is_none());
    let crb = GroupVersionKind::new("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding");
    assert!(fx.direct.get(&crb, "", "team-a-admin").await.unwrap().is_none());
    assert!(fx.direct.get(&cm, "team-a-ok", "settings").await.unwrap().is_some());

    // The project allows cluster RBAC: the next pass applies the admin application.
    let mut widened = project.clone();
    widened
        .set(
            "/spec/clusterResourceWhitelist",
            json!([{"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"}]),
        )
        .unwrap();
    fx.direct.apply(&widened, &kubectl()).await.unwrap();
    wait_for("the admin application synced", || async {
        fx.direct.get(&crb, "", "team-a-admin").await.unwrap().is_some()
    })
    .await;
    fx.stop().await;
}

/// Two Applications rendering the same objects: the first keeps them, the second gets a
/// SharedResourceWarning naming both and writes nothing to them; with FailOnSharedResource
/// the sync fails and applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_resources_are_left_to_their_owner() {
    let fx = Fixture::start().await;
    let same_place = |name: &str, options: &[&str]| {
        application(
            name,
            true,
            json!({"spec": {"project": "default", "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/web"},
                            "destination": {"namespace": "shared"},
                            "syncPolicy": {"automated": {"prune": true}, "syncOptions": options}}}),
        )
    };
    fx.direct.apply(&same_place("first", &["CreateNamespace=true"]), &kubectl()).await.unwrap();
    wait_for("first synced", || async { at(&fx.app("first").await.unwrap(), "/status/sync/status") == "Synced" }).await;
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    let owner = |o: Option<Object>| o.and_then(|o| o.label("applyset.kubernetes.io/part-of").map(str::to_string));
    let first_owner = owner(fx.direct.get(&cm, "shared", "settings").await.unwrap());
    fx.direct.apply(&same_place("second", &[]), &kubectl()).await.unwrap();
    fx.direct.apply(&same_place("strict", &["FailOnSharedResource=true"]), &kubectl()).await.unwrap();
    wait_for("the warnings", || async {
        at(&fx.app("second").await.unwrap(), "/status/conditions/0/type") == "SharedResourceWarning"
            && at(&fx.app("strict").await.unwrap(), "/status/conditions/0/type") == "SyncError"
    })
    .await;
    let second = fx.app("second").await.unwrap();
    let message = at(&second, "/status/conditions/0/message").as_str().unwrap();
    assert!(message.contains("ConfigMap/settings is part of applications first and second"), "{message}");
    let strict = fx.app("strict").await.unwrap();
    let message = at(&strict, "/status/conditions/0/message").as_str().unwrap();
    assert!(message.contains("FailOnSharedResource=true"), "{message}");
    assert_eq!(at(&strict, "/status/sync/status"), "OutOfSync");
    assert_eq!(owner(fx.direct.get(&cm, "shared", "settings").await.unwrap()), first_owner, "the owner keeps it");
    assert!(
        fx.direct.get(&cm, "shared", "applyset-strict").await.unwrap().is_none(),
        "the failed sync wrote nothing, not even its ApplySet parent"
    );
    fx.stop().await;
}

/// The client's requests (`app sync`, `app rollback`, `app refresh`): a manual application
/// synced at two revisions, rolled back to the first history entry; a rollback of an
/// automated application refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sync_rollback_and_refresh() {
    use gitops_sync::controller::client;
    let fx = Fixture::start().await;
    fx.direct.apply(&application("roll", false, json!({})), &kubectl()).await.unwrap();
    fx.direct.apply(&application("auto", true, json!({})), &kubectl()).await.unwrap();
    let api = client::applications(&fx.testkit.client(), "argocd");
    let image =
        || async {
            fx.direct.get(&GroupVersionKind::new("apps", "v1", "Deployment"), "roll", "web").await.unwrap().and_then(
                |d| d.get("/spec/template/spec/containers/0/image").and_then(Value::as_str).map(str::to_string),
            )
        };
    wait_for("roll compared", || async { at(&fx.app("roll").await.unwrap(), "/status/sync/status") == "OutOfSync" })
        .await;
    client::request_sync(&api, "roll", None, true, false, &[]).await.unwrap();
    wait_for("first sync", || async { at(&fx.app("roll").await.unwrap(), "/status/history/0/revision") == "c1" }).await;
    assert_eq!(image().await.as_deref(), Some("nginx:1.27"));
    fx.source.set(REPO, "c2", tree("nginx:1.28"));
    client::request_refresh(&api, "roll", false).await.unwrap();
    wait_for("c2 seen", || async { at(&fx.app("roll").await.unwrap(), "/status/sync/revision") == "c2" }).await;
    client::request_sync(&api, "roll", None, true, false, &[]).await.unwrap();
    wait_for("second sync", || async { at(&fx.app("roll").await.unwrap(), "/status/history/1/revision") == "c2" })
        .await;
    assert_eq!(image().await.as_deref(), Some("nginx:1.28"));
    // Roll back to entry 0: revision c1 again, a third history entry.
    assert_eq!(client::request_rollback(&api, "roll", 0).await.unwrap(), "c1");
    wait_for("rolled back", || async { at(&fx.app("roll").await.unwrap(), "/status/history/2/revision") == "c1" })
        .await;
    assert_eq!(image().await.as_deref(), Some("nginx:1.27"));
    // Each request ran once: three history entries, no more.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let roll = fx.app("roll").await.unwrap();
    assert_eq!(at(&roll, "/status/history").as_array().map(Vec::len), Some(3), "{roll}");
    assert_eq!(at(&roll, "/status/operationState/operation/info/0/name"), "Rollback");
    let err = client::request_rollback(&api, "roll", 9).await.unwrap_err().to_string();
    assert!(err.contains("no history entry 9"), "{err}");
    // Automated applications are not rolled back.
    wait_for("auto synced", || async { at(&fx.app("auto").await.unwrap(), "/status/history/0/id") == 0 }).await;
    let err = client::request_rollback(&api, "auto", 0).await.unwrap_err().to_string();
    assert!(err.contains("rollback cannot be initiated when auto-sync is enabled"), "{err}");
    fx.stop().await;
}

/// App of apps: a parent Application whose path holds Application manifests applies them into
/// the Application namespace, the controller picks the children up and syncs them; a child
/// removed from Git is pruned, and its Application goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_of_apps() {
    let fx = Fixture::start().await;
    let child = |name: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\nspec:\n  project: default\n  source: {{repoURL: '{REPO}', targetRevision: HEAD, path: apps/web}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n"
        )
    };
    let parent_tree = |children: &[&str]| {
        let mut t = MemTree::new();
        for c in children {
            t.insert(&format!("apps/{c}.yaml"), child(c)).unwrap();
        }
        t
    };
    fx.source.set("mem://parent", "p1", parent_tree(&["child-a", "child-b"]));
    let parent = application(
        "parent",
        true,
        json!({"spec": {"project": "default", "source": {"repoURL": "mem://parent", "targetRevision": "HEAD", "path": "apps"},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
                        "syncPolicy": {"automated": {"prune": true}}}}),
    );
    fx.direct.apply(&parent, &kubectl()).await.unwrap();
    let cm = GroupVersionKind::new("", "v1", "ConfigMap");
    wait_for("the children synced", || async {
        let a = fx.app("child-a").await.unwrap_or_default();
        let b = fx.app("child-b").await.unwrap_or_default();
        at(&a, "/status/sync/status") == "Synced" && at(&b, "/status/sync/status") == "Synced"
    })
    .await;
    assert!(fx.direct.get(&cm, "child-b", "settings").await.unwrap().is_some());
    let p = fx.app("parent").await.unwrap();
    let kinds: Vec<&str> =
        at(&p, "/status/resources").as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["Application", "Application"]);
    // child-b leaves Git: the parent prunes its Application.
    fx.source.set("mem://parent", "p2", parent_tree(&["child-a"]));
    wait_for("child-b pruned", || async { fx.app("child-b").await.is_none() }).await;
    assert!(fx.app("child-a").await.is_some());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_source_application_reports_each_source_and_revision() {
    let fx = Fixture::start().await;
    fx.source.set("mem://values", "v1", MemTree::new().with_file("prod.yaml", "replicas: 2\n"));
    let app = application(
        "multi",
        true,
        json!({"spec": {
            "project": "default",
            "sources": [
                {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/web"},
                {"repoURL": "mem://values", "targetRevision": "HEAD", "ref": "values"},
            ],
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "multi"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        }}),
    );
    fx.direct.apply(&app, &kubectl()).await.unwrap();
    wait_for("multi Synced", || async {
        let a = fx.app("multi").await.unwrap_or_default();
        at(&a, "/status/sync/status") == "Synced"
    })
    .await;
    let a = fx.app("multi").await.unwrap();
    assert_eq!(at(&a, "/status/sync/revisions"), &json!(["c1", "v1"]));
    assert_eq!(at(&a, "/status/sync/comparedTo/sources/1/ref"), "values");
    assert!(at(&a, "/status/sync/comparedTo/source").is_null());
    assert_eq!(at(&a, "/status/sourceTypes"), &json!(["Directory", "Directory"]));
    assert_eq!(at(&a, "/status/history/0/revisions"), &json!(["c1", "v1"]));
    assert_eq!(at(&a, "/status/operationState/syncResult/revisions"), &json!(["c1", "v1"]));
    assert!(fx.direct.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "multi", "settings").await.unwrap().is_some());
    // A commit to the values repository alone is a new revision of the application (the
    // objects are the same, so nothing is written and no history entry is added, as with
    // Argo CD, whose automated sync runs only when the application is OutOfSync).
    fx.source.set("mem://values", "v2", MemTree::new().with_file("prod.yaml", "replicas: 3\n"));
    wait_for("revisions c1, v2", || async {
        let a = fx.app("multi").await.unwrap();
        at(&a, "/status/sync/revisions") == &json!(["c1", "v2"])
    })
    .await;
    let a = fx.app("multi").await.unwrap();
    assert_eq!(at(&a, "/status/history").as_array().map(Vec::len), Some(1));
    fx.stop().await;
}
