//! The `sync_500` fleet against a real cluster: the kubeconfig named by
//! `GITOPS_TEST_KUBECONFIG` (its current context). Without it the bench says so and stops; the
//! testkit numbers are `sync_500`'s.
//!
//! In one run, over `SYNC_APPS` applications (default 500) of 4 objects each (Deployment,
//! Service, ServiceAccount, Ingress), each in a namespace of its own made for this run:
//!
//! 1. **The API server's floor**: a tight loop of server-side applies of the same objects (each
//!    namespace, then every object), `SYNC_CONCURRENCY` at a time (default 32, the applications
//!    the manager syncs at once), with nothing else: no rendering, no reads, no cache.
//! 2. **The initial sync** of every application by the manager (render, diff against the
//!    watch-fed cache, create the namespace, apply), into other namespaces of the same shape.
//! 3. **A no-change pass** over every application, with the write requests it sent, counted
//!    on the client's HTTP stack (every request that is not a GET; the watches are GETs).
//!
//! Goals (issue 17): initial sync within 1.5x the floor; no-change pass under 1.5 s with 0
//! writes. Every namespace the run made is deleted at the end (not waited for).
//!
//! ```text
//! GITOPS_TEST_KUBECONFIG=~/.kube/config cargo bench -p gitops-benches --bench sync_cluster
//! ```
//!
//! Run against the testkit as a separate process (what CI can do), to check the bench itself:
//!
//! ```text
//! cargo run --example api-server -- --port 6443 --kubeconfig /tmp/testkit.kubeconfig &
//! GITOPS_TEST_KUBECONFIG=/tmp/testkit.kubeconfig cargo bench -p gitops-benches --bench sync_cluster
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use gitops_benches::fleet::{REPO, application_yaml_into, files, tree};
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, MemSource, NoDecryption, Object, Propagation};
use gitops_render::AutoRenderer;
use gitops_sync::{Action, Application, KubeCluster, Manager, ManagerOptions, Reconciler};

/// Counts the requests that are not GETs (writes) going through a client's HTTP stack.
#[derive(Clone)]
struct CountWrites {
    writes: Arc<AtomicU64>,
}

impl<S> tower::Layer<S> for CountWrites {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, writes: self.writes.clone() }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    writes: Arc<AtomicU64>,
}

impl<S, B> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> S::Future {
        if req.method() != http::Method::GET {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.call(req)
    }
}

async fn client(path: &str, writes: &Arc<AtomicU64>) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("GITOPS_TEST_KUBECONFIG is a readable kubeconfig");
    let config = kube::config::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("the kubeconfig's current context is usable");
    kube::client::ClientBuilder::try_from(config)
        .expect("a client stack")
        .with_layer(&CountWrites { writes: writes.clone() })
        .build()
}

fn namespace(name: &str) -> Object {
    Object::from_value(gitops_core::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        .expect("a Namespace")
}

/// Applies `objects` with server-side apply, `concurrency` at a time.
async fn apply_all(cluster: &KubeCluster, objects: Vec<Object>, concurrency: usize) {
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for o in objects {
        let (cluster, permit) = (cluster.clone(), limit.clone().acquire_owned().await.expect("the semaphore"));
        tasks.spawn(async move {
            let opts = ApplyOptions { field_manager: "floor".into(), force: true, dry_run: false };
            let r = cluster.apply(&o, &opts).await;
            drop(permit);
            r.unwrap_or_else(|e| panic!("apply of {}: {e}", o.key()));
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("an apply task");
    }
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let Some(path) = std::env::var("GITOPS_TEST_KUBECONFIG").ok().filter(|p| !p.is_empty()) else {
        println!(
            "sync_cluster: GITOPS_TEST_KUBECONFIG is not set; this bench needs a cluster (sync_500 is the testkit's)"
        );
        return;
    };
    let n: usize = std::env::var("SYNC_APPS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let concurrency: usize = std::env::var("SYNC_CONCURRENCY").ok().and_then(|s| s.parse().ok()).unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(&path, n, concurrency));
}

async fn run(path: &str, n: usize, concurrency: usize) {
    let writes = Arc::new(AtomicU64::new(0));
    let client = client(path, &writes).await;
    let direct = KubeCluster::new(client.clone());
    let run_id = format!("{:x}", std::process::id());
    let floor_ns = |i: usize| format!("gitops-floor-{run_id}-{i}");
    let sync_ns = |i: usize| format!("gitops-sync-{run_id}-{i}");

    // 1. The floor: the same objects, applied and nothing else.
    let mut namespaces = Vec::new();
    let mut objects = Vec::new();
    for (i, chunk) in files(n).chunks(4).enumerate() {
        namespaces.push(namespace(&floor_ns(i)));
        for (file, text) in chunk {
            for mut o in gitops_core::yaml::parse_objects(text, file, &Default::default()).expect("the fleet's YAML") {
                o.set_namespace(&floor_ns(i));
                objects.push(o);
            }
        }
    }
    let t = Instant::now();
    apply_all(&direct, namespaces, concurrency).await;
    apply_all(&direct, objects, concurrency).await;
    let floor = t.elapsed();

    // 2. The initial sync by the manager, into namespaces of its own.
    let source = MemSource::default();
    source.set(REPO, "c0ffee", tree(n));
    let cluster = KubeCluster::with_cache(client.clone());
    let reconciler = Reconciler::new(source, AutoRenderer::default(), NoDecryption, cluster);
    let apps: Vec<Application> = (0..n)
        .map(|i| Application::from_yaml(&application_yaml_into(i, REPO, &sync_ns(i)), "bench").expect("an Application"))
        .collect();
    let options = ManagerOptions { concurrency, ..ManagerOptions::default() };
    let manager = Manager::new(reconciler, apps, options);
    let (t, before) = (Instant::now(), writes.load(Ordering::Relaxed));
    let passes = manager.reconcile_all().await;
    let initial = t.elapsed();
    let initial_writes = writes.load(Ordering::Relaxed) - before;
    for p in &passes {
        let ok = p.result.as_ref().is_ok_and(|r| r.succeeded() && r.resources.len() == 4);
        assert!(ok, "{}: {:?}", p.app, p.result);
    }

    // 3. A no-change pass, with the writes it sent.
    let before = writes.load(Ordering::Relaxed);
    let t = Instant::now();
    let passes = manager.reconcile_all().await;
    let no_change = t.elapsed();
    let pass_writes = writes.load(Ordering::Relaxed) - before;
    for p in &passes {
        let r = p.result.as_ref().expect("a no-change pass");
        assert_eq!(r.count(Action::Unchanged), 4, "{}: {r:?}", p.app);
    }

    let ns = GroupVersionKind::new("", "v1", "Namespace");
    for i in 0..n {
        for name in [floor_ns(i), sync_ns(i)] {
            if let Err(e) = direct.delete(&ns, "", &name, Propagation::Background).await {
                eprintln!("could not delete namespace {name}: {e}");
            }
        }
    }
    let ratio = initial.as_secs_f64() / floor.as_secs_f64();
    println!(
        "sync_cluster ({n} apps x 4 objects, {concurrency} at a time): floor (server-side apply loop) {:.2}s, \
         initial sync {:.2}s ({initial_writes} writes) = {ratio:.2}x the floor (goal <= 1.5x); no-change pass {:.3}s (goal < 1.5s) with \
         {pass_writes} writes (goal 0)",
        floor.as_secs_f64(),
        initial.as_secs_f64(),
        no_change.as_secs_f64(),
    );
}
