//! Applications shared by several agent replicas through Leases, against the testkit and the
//! real kube-client: 300 Application resources over 3 controllers in this process, each with
//! its own client, cache and Lease. Every pass of every replica is recorded (start and end) to
//! check that no application is ever worked on by two replicas at once, and that each change
//! is applied exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_core::json;
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, MemTree, NoDecryption, Object};
use gitops_sync::shard::{Membership, MembershipOptions};
use gitops_sync::{Action, ApplicationController, ControllerOptions, KubeCluster, Manager, ManagerOptions, Reconciler};
use gitops_testkit::support::wait_for;
use gitops_testkit::{Fault, FaultAction, Simulation, TestCluster};

mod common;
use common::Yamls;

const REPO: &str = "mem://config";
const APPS: usize = 300;
const LEASE: Duration = Duration::from_secs(3);

fn kubectl() -> ApplyOptions {
    ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }
}

fn tree(value: &str) -> MemTree {
    MemTree::new().with_file(
        "app/cm.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{value: '{value}'}}\n"),
    )
}

fn application(i: usize) -> Object {
    Object::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": format!("svc-{i:03}"), "namespace": "argocd"},
        "spec": {
            "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "app"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("team-{i:03}")},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    }))
    .unwrap()
}

/// One pass of one replica over one application.
#[derive(Clone, Debug)]
struct Pass {
    replica: String,
    app: String,
    start: Instant,
    end: Instant,
    wrote: bool,
}

type Log = Arc<Mutex<Vec<Pass>>>;

struct Replica {
    name: String,
    manager: Arc<Manager<MemSource, Yamls, NoDecryption, KubeCluster>>,
    membership: Arc<Membership>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Replica {
    async fn start(testkit: &TestCluster, source: &MemSource, name: &str, log: &Log) -> Replica {
        let cluster = KubeCluster::with_cache(testkit.client());
        let reconciler = Reconciler::new(source.clone(), Yamls, NoDecryption, cluster);
        let manager = Arc::new(Manager::new(reconciler, Vec::new(), ManagerOptions::default()));
        let membership = Membership::new(
            testkit.client(),
            MembershipOptions::new("argocd", "agents", name).with_lease_duration(LEASE),
        );
        manager.set_ownership(membership.clone());
        let options = ControllerOptions {
            namespaces: vec!["argocd".into()],
            interval: Duration::from_secs(1),
            ..ControllerOptions::default()
        };
        let controller = Arc::new(ApplicationController::new(manager.clone(), testkit.client(), options));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut rx = stopped.clone();
        let member = membership.spawn(async move {
            let _ = rx.wait_for(|s| *s).await;
        });
        let mut rx = stopped;
        let (log, replica) = (log.clone(), name.to_string());
        let runner = tokio::spawn(async move {
            controller
                .run(
                    async move {
                        let _ = rx.wait_for(|s| *s).await;
                    },
                    move |_, passes| {
                        let mut log = log.lock().unwrap();
                        for p in passes {
                            let wrote = p.result.as_ref().is_ok_and(|r| {
                                r.resources.iter().any(|x| matches!(x.action, Action::Created | Action::Updated))
                            });
                            log.push(Pass {
                                replica: replica.clone(),
                                app: p.app.clone(),
                                start: p.started,
                                end: p.started + p.duration,
                                wrote,
                            });
                        }
                    },
                )
                .await
        });
        Replica { name: name.into(), manager, membership, stop: Some(stop), tasks: vec![member, runner] }
    }

    /// Killed: no release, the Lease stays until it expires.
    fn kill(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.stop.take();
    }
}

/// The tests run one at a time: each keeps the two cores busy with three replicas, and the
/// timing checks mean something only without the other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Fixture {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    testkit: TestCluster,
    direct: KubeCluster,
    source: MemSource,
    log: Log,
}

impl Fixture {
    async fn start() -> Fixture {
        let serial = SERIAL.lock().await;
        let _ = tracing_subscriber::fmt().with_env_filter("gitops_sync::shard=info").with_test_writer().try_init();
        let testkit = TestCluster::start().await.unwrap();
        testkit.state().lock().unwrap().simulation = Simulation::Healthy;
        let direct = KubeCluster::new(testkit.client());
        common::install_crds(&direct).await;
        let source = MemSource::default();
        source.set(REPO, "c1", tree("one"));
        Fixture { _serial: serial, testkit, direct, source, log: Default::default() }
    }

    async fn create_apps(&self) {
        let objects: Vec<Object> = (0..APPS).map(application).collect();
        let options = kubectl();
        for r in futures::future::join_all(objects.iter().map(|o| self.direct.apply(o, &options))).await {
            r.unwrap();
        }
    }

    /// How many ConfigMaps hold `value`.
    async fn count(&self, value: &str) -> usize {
        let gvk = GroupVersionKind::new("", "v1", "ConfigMap");
        let all = self.direct.list(&gvk, None, "").await.unwrap();
        all.iter()
            .filter(|o| o.name() == "settings" && o.get("/data/value").and_then(|v| v.as_str()) == Some(value))
            .count()
    }

    /// No application was worked on by two replicas at once; returns how many passes wrote,
    /// per application, since `since`.
    fn check_log(&self, since: Instant) -> HashMap<String, usize> {
        let log = self.log.lock().unwrap().clone();
        let mut by_app: HashMap<&str, Vec<&Pass>> = HashMap::new();
        for p in &log {
            by_app.entry(&p.app).or_default().push(p);
        }
        for (app, passes) in &by_app {
            for a in passes {
                for b in passes {
                    if a.replica < b.replica {
                        let overlap = a.start < b.end && b.start < a.end;
                        assert!(!overlap, "{app} worked on by {} and {} at once: {a:?} {b:?}", a.replica, b.replica);
                    }
                }
            }
        }
        // A write since `since` is one by a pass that ended after it: a pass that began just
        // before may read the change made after it (it fetches after it starts).
        let mut writes = HashMap::new();
        for p in log.iter().filter(|p| p.end >= since && p.wrote) {
            *writes.entry(p.app.clone()).or_insert(0) += 1;
        }
        writes
    }
}

async fn all_see(replicas: &[&Replica], n: usize) {
    wait_for(&format!("{n} members seen by each replica"), Duration::from_secs(10), || async {
        replicas.iter().all(|r| r.membership.members().len() == n)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_300_applications_and_survive_a_kill_and_a_newcomer() {
    let fx = Fixture::start().await;
    let a = Replica::start(&fx.testkit, &fx.source, "agent-a", &fx.log).await;
    let b = Replica::start(&fx.testkit, &fx.source, "agent-b", &fx.log).await;
    let c = Replica::start(&fx.testkit, &fx.source, "agent-c", &fx.log).await;
    all_see(&[&a, &b, &c], 3).await;

    // Initial sync: every application once, by one replica.
    let since = Instant::now();
    fx.create_apps().await;
    let took =
        wait_for("300 applications synced", Duration::from_secs(60), || async { fx.count("one").await == APPS }).await;
    eprintln!("300 applications synced by 3 replicas in {took:?}");
    // Handover waits of the start (the replicas joined one after another) are over.
    tokio::time::sleep(LEASE).await;
    let shares: Vec<usize> = [&a, &b, &c].iter().map(|r| r.manager.owned_count()).collect();
    eprintln!("shares: {shares:?}");
    assert_eq!(shares.iter().sum::<usize>(), APPS, "each application has exactly one owner");
    // Bounded loads (see `shard`'s documentation): no share over ceil(1.05 * 300 / 3) = 105,
    // so the smallest is at least 90, and the largest within 1.3x the smallest.
    let (max, min) = (*shares.iter().max().unwrap(), *shares.iter().min().unwrap());
    eprintln!("largest share / smallest = {:.2}", max as f64 / min as f64);
    assert!(max <= 105, "unbalanced: {shares:?}");
    assert!(max as f64 <= 1.3 * min as f64, "unbalanced: {shares:?}");
    let writes = fx.check_log(since);
    assert_eq!(writes.len(), APPS);
    assert!(writes.values().all(|n| *n == 1), "an application was synced more than once: {writes:?}");

    // A change: applied exactly once per application.
    let since = Instant::now();
    fx.source.set(REPO, "c2", tree("two"));
    wait_for("the change applied everywhere", Duration::from_secs(30), || async { fx.count("two").await == APPS })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writes = fx.check_log(since);
    assert_eq!(writes.len(), APPS);
    assert!(writes.values().all(|n| *n == 1), "an application was synced more than once: {writes:?}");

    // One replica killed without releasing its Lease: after it expires, the others sync its
    // applications (a change made at the kill reaches all within a Lease and an interval).
    let b_name = b.name.clone();
    let b_apps: Vec<String> =
        (0..APPS).map(|i| format!("svc-{i:03}")).filter(|n| b.manager.owns("argocd", n)).collect();
    assert!(!b_apps.is_empty());
    b.kill();
    let killed = Instant::now();
    fx.source.set(REPO, "c3", tree("three"));
    let took = wait_for("the killed replica's applications taken over", Duration::from_secs(20), || async {
        fx.count("three").await == APPS
    })
    .await;
    eprintln!("{} applications of the killed {b_name} synced by the others after {took:?}", b_apps.len());
    // The others start on b's applications once its Lease expired (a Lease duration after
    // its last renewal, seen at their next renewal) and their loop is free: within a Lease
    // and an interval, with a margin for a pass in progress on a loaded machine. (Earlier is
    // possible and safe: a replica starved of CPU fences itself and may be counted out
    // before the kill; that no two replicas ever work on one application at once is what
    // `check_log` asserts.)
    let first_takeover = fx
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.start >= killed && b_apps.contains(&p.app))
        .map(|p| p.start - killed)
        .min()
        .unwrap();
    eprintln!("the first of them was taken over {first_takeover:?} after the kill");
    assert!(first_takeover < LEASE + Duration::from_secs(1) + Duration::from_secs(2), "takeover started late");
    // All of them, with the same margin: they go straight to their owners under the members
    // left (the overrides for those members are computed by each, not waited for).
    assert!(took < LEASE + Duration::from_secs(1) + Duration::from_secs(2), "the takeover ended late: {took:?}");
    all_see(&[&a, &c], 2).await;
    let writes = fx.check_log(killed);
    assert!(writes.values().all(|n| *n == 1), "an application was synced more than once: {writes:?}");

    // A newcomer takes about a third, and the moved applications are never worked on by two.
    let d = Replica::start(&fx.testkit, &fx.source, "agent-d", &fx.log).await;
    all_see(&[&a, &c, &d], 3).await;
    tokio::time::sleep(LEASE + Duration::from_millis(500)).await;
    let share = d.manager.owned_count();
    let (to_d, from_d) = (d.manager.handovers() as usize, d.manager.handed_away() as usize);
    eprintln!("the newcomer owns {share} of {APPS}; handovers to it: {to_d}, away from it: {from_d}");
    assert!((70..=130).contains(&share), "the newcomer owns {share}");
    // It may first count the killed replica's Lease (not yet seen to expire by it) as a member
    // and hand a few applications on when it drops it; what it owns came by handovers.
    assert!(from_d <= to_d / 10, "the newcomer handed away {from_d} of {to_d}");
    assert_eq!(to_d - from_d, share, "everything the newcomer owns was handed over");
    let since = Instant::now();
    fx.source.set(REPO, "c4", tree("four"));
    wait_for("the change after the newcomer", Duration::from_secs(30), || async { fx.count("four").await == APPS })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writes = fx.check_log(since);
    assert_eq!(writes.len(), APPS);
    assert!(writes.values().all(|n| *n == 1), "an application was synced more than once: {writes:?}");
    let by_d = fx.log.lock().unwrap().iter().filter(|p| p.replica == "agent-d" && p.wrote && p.end >= since).count();
    assert_eq!(by_d, share, "the newcomer synced its own share");

    // Graceful stop releases the Lease: the others take over without waiting for expiry.
    let released = Instant::now();
    let mut d = d;
    let _ = d.stop.take().unwrap().send(true);
    for t in d.tasks.drain(..) {
        t.await.unwrap();
    }
    all_see(&[&a, &c], 2).await;
    assert!(released.elapsed() < LEASE, "the release was seen after {:?}", released.elapsed());
    let leases =
        fx.direct.list(&GroupVersionKind::new("coordination.k8s.io", "v1", "Lease"), Some("argocd"), "").await.unwrap();
    assert!(!leases.iter().any(|l| l.name() == "agent-d"), "the released Lease is gone");
    a.kill();
    c.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_renew_stops_and_rejoins() {
    let fx = Fixture::start().await;
    let a = Replica::start(&fx.testkit, &fx.source, "agent-a", &fx.log).await;
    let b = Replica::start(&fx.testkit, &fx.source, "agent-b", &fx.log).await;
    let c = Replica::start(&fx.testkit, &fx.source, "agent-c", &fx.log).await;
    all_see(&[&a, &b, &c], 3).await;
    fx.create_apps().await;
    wait_for("300 applications synced", Duration::from_secs(60), || async { fx.count("one").await == APPS }).await;

    // The API server refuses b's renewals: b stops (owns nothing) before the others count its
    // Lease as expired, then they take its applications.
    let fault = Fault::random(Some("patch"), Some("leases"), FaultAction::Status(503), 1.0).named("agent-b");
    fx.testkit.state().lock().unwrap().faults.push(fault);
    let refused = Instant::now();
    wait_for("b fenced", Duration::from_secs(5), || async { b.membership.stats().fenced }).await;
    assert_eq!(b.manager.owned_count(), 0);
    eprintln!("b stopped {:?} after its renewals were refused", refused.elapsed());
    all_see(&[&a, &c], 2).await;
    eprintln!("the others saw b's Lease expire {:?} after", refused.elapsed());
    let since = Instant::now();
    fx.source.set(REPO, "c2", tree("two"));
    wait_for("b's applications synced by the others", Duration::from_secs(20), || async {
        fx.count("two").await == APPS
    })
    .await;
    let by_b = fx.log.lock().unwrap().iter().filter(|p| p.replica == "agent-b" && p.start >= since).count();
    assert_eq!(by_b, 0, "the fenced replica worked");

    // Renewals work again: b rejoins and takes its share back, waiting out the handover.
    fx.testkit.state().lock().unwrap().faults.clear();
    all_see(&[&a, &b, &c], 3).await;
    tokio::time::sleep(LEASE + Duration::from_millis(500)).await;
    assert!(b.manager.owned_count() > 50, "b owns {}", b.manager.owned_count());
    let since = Instant::now();
    fx.source.set(REPO, "c3", tree("three"));
    wait_for("the change after b rejoined", Duration::from_secs(30), || async { fx.count("three").await == APPS })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writes = fx.check_log(since);
    assert_eq!(writes.len(), APPS);
    assert!(writes.values().all(|n| *n == 1), "an application was synced more than once: {writes:?}");
    let by_b = fx.log.lock().unwrap().iter().filter(|p| p.replica == "agent-b" && p.wrote && p.end >= since).count();
    assert_eq!(by_b, b.manager.owned_count());
    a.kill();
    b.kill();
    c.kill();
}
