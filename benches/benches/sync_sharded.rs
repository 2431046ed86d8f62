//! Sharding at scale: `SHARD_APPS` applications (default 2,000) of 4 objects each against the
//! testkit API server, synced by one replica, then (on a fresh cluster) by `SHARD_REPLICAS`
//! replicas (default 4) sharing them through Leases, all in this process, each replica with its
//! own kube-client, watch-fed cache and Lease. Medians over `SHARD_RUNS` (default 3) of:
//!
//! - the initial sync of every application (the replicas at once);
//! - a no-change pass (and its write requests, Lease renewals aside, which must be 0);
//! - the peak resident memory (VmHWM) of a process running them, per replica; each setup runs in
//!   a child process of its own, and the testkit's own objects are in both numbers.
//!
//! The replicas share this machine's cores with each other and with the API server; the
//! report says how much of the CPU the API server took, and the replicas (100%: one core).
//!
//! ```text
//! cargo bench -p gitops-benches --bench sync_sharded
//! ```

use gitops_benches::median;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_benches::fleet::{REPO, application, tree};
use gitops_core::{MemSource, NoDecryption};
use gitops_render::AutoRenderer;
use gitops_sync::shard::{Membership, MembershipOptions};
use gitops_sync::{KubeCluster, Manager, ManagerOptions, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

type BenchManager = Manager<MemSource, AutoRenderer, NoDecryption, KubeCluster>;

/// The peak resident memory of this process, KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

struct Run {
    /// The API server thread's CPU time over the initial sync's wall time (1.0: one core busy).
    server_share: f64,
    /// The rest of the process's CPU time (the replicas) over the same wall time.
    replica_share: f64,
    initial: Duration,
    no_change: Duration,
    writes: u64,
}

/// CPU time (user + system) of one thread of this process, from /proc.
fn thread_cpu(tid: i32) -> Duration {
    stat_cpu(&format!("/proc/self/task/{tid}/stat"))
}

/// CPU time (user + system) of this whole process.
fn process_cpu() -> Duration {
    stat_cpu("/proc/self/stat")
}

fn stat_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name (in parentheses), from the state: utime is the 12th,
    // stime the 13th (clock ticks of 10 ms).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// The API server on a thread of its own (a current-thread runtime), so its CPU time can be
/// told apart from the replicas'.
struct Server {
    config: kube::Config,
    state: Arc<std::sync::Mutex<gitops_testkit::State>>,
    tid: i32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let testkit = TestCluster::start().await.expect("testkit");
                testkit.state().lock().unwrap().simulation = Simulation::Healthy;
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name().and_then(|f| f.to_str()).and_then(|f| f.parse().ok()))
                    .unwrap_or(0);
                tx.send((testkit.config(), testkit.state(), tid)).expect("the bench waits");
                let _ = stopped.await;
                drop(testkit);
            });
        });
        let (config, state, tid) = rx.recv().expect("the testkit started");
        Server { config, state, tid, stop: Some(stop), thread: Some(thread) }
    }

    fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config.clone()).expect("a client")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn run(n: usize, replicas: usize) -> Run {
    let testkit = Server::start();
    let source = MemSource::default();
    source.set(REPO, "c0ffee", tree(n));
    let lease = Duration::from_secs(3);
    let mut managers: Vec<Arc<BenchManager>> = Vec::new();
    let mut stops = Vec::new();
    for r in 0..replicas {
        let cluster = KubeCluster::with_cache(testkit.client());
        let reconciler = Reconciler::new(source.clone(), AutoRenderer::default(), NoDecryption, cluster);
        let manager = Arc::new(Manager::new(reconciler, (0..n).map(application).collect(), ManagerOptions::default()));
        if replicas > 1 {
            let options =
                MembershipOptions::new("default", "bench", &format!("replica-{r}")).with_lease_duration(lease);
            let membership = Membership::new(testkit.client(), options);
            manager.set_ownership(membership.clone());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            membership.spawn(async move {
                let _ = rx.await;
            });
            stops.push((tx, membership));
        }
        managers.push(manager);
    }
    if replicas > 1 {
        // Every replica sees every other, and the handover waits of the start are over.
        while stops.iter().any(|(_, m)| m.members().len() != replicas) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(lease + Duration::from_millis(200)).await;
        let owned: usize = managers.iter().map(|m| m.owned_count()).sum();
        assert_eq!(owned, n, "every application has one owner");
    }
    let all = |managers: Vec<Arc<BenchManager>>| async move {
        let passes = futures_join(managers.iter().map(|m| {
            let m = m.clone();
            async move { m.reconcile_all().await }
        }))
        .await;
        passes.into_iter().flatten().collect::<Vec<_>>()
    };
    let (t, cpu, all_cpu) = (Instant::now(), thread_cpu(testkit.tid), process_cpu());
    let passes = all(managers.clone()).await;
    let initial = t.elapsed();
    let server = thread_cpu(testkit.tid) - cpu;
    let server_share = server.as_secs_f64() / initial.as_secs_f64();
    let replica_share = (process_cpu() - all_cpu).saturating_sub(server).as_secs_f64() / initial.as_secs_f64();
    assert_eq!(passes.len(), n, "each application synced once");
    for p in &passes {
        assert!(p.result.as_ref().is_ok_and(|r| r.succeeded() && r.resources.len() == 4), "{}: {:?}", p.app, p.result);
    }
    testkit.state.lock().unwrap().requests = Default::default();
    let t = Instant::now();
    let passes = all(managers.clone()).await;
    let no_change = t.elapsed();
    assert_eq!(passes.len(), n);
    // Lease renewals go on; every other write would be the pass's.
    let writes = {
        let requests = testkit.state.lock().unwrap().requests.clone();
        requests.writes() - requests.writes_of("leases")
    };
    for (tx, _) in stops {
        let _ = tx.send(());
    }
    Run { server_share, replica_share, initial, no_change, writes }
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("a replica's pass"));
    }
    out
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let n: usize = std::env::var("SHARD_APPS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let replicas: usize = std::env::var("SHARD_REPLICAS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let runs: usize = std::env::var("SHARD_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    // A child runs one setup and reports; the parent compares.
    if let Some(r) = std::env::var("SHARD_CHILD").ok().and_then(|s| s.parse::<usize>().ok()) {
        child(n, r, runs);
        return;
    }
    let mut table = Vec::new();
    for r in [1, replicas] {
        let out = std::process::Command::new(std::env::current_exe().expect("the bench binary"))
            .arg("--bench")
            .env("SHARD_CHILD", r.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("a child run");
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        assert!(out.status.success(), "the run of {r} replica(s) failed");
        let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
        let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        table.push((r, v[0], v[1], v[2], v[3], v[4]));
    }
    println!("\n{n} applications x 4 objects, medians of {runs}:");
    println!(
        "{:<10} {:>10} {:>11} {:>22} {:>15} {:>13}",
        "replicas", "initial", "no-change", "peak RSS/replica (MiB)", "API server CPU", "replicas CPU"
    );
    for (r, initial, no_change, rss, server, replicas) in &table {
        println!(
            "{r:<10} {initial:>9.2}s {no_change:>10.3}s {rss:>22.0} {:>14.0}% {:>12.0}%",
            server * 100.0,
            replicas * 100.0
        );
    }
    println!("initial sync: {replicas} replicas are {:.2}x one", table[0].1 / table[1].1);
    println!("no-change pass: {replicas} replicas are {:.2}x one", table[0].2 / table[1].2);
}

fn child(n: usize, r: usize, runs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut results = Vec::new();
    for i in 0..runs {
        let x = rt.block_on(run(n, r));
        println!(
            "{r} replica(s), run {i}: initial {:.2}s (API server busy {:.0}% of a core, the replicas {:.0}%), no-change {:.3}s ({} writes)",
            x.initial.as_secs_f64(),
            x.server_share * 100.0,
            x.replica_share * 100.0,
            x.no_change.as_secs_f64(),
            x.writes,
        );
        assert_eq!(x.writes, 0, "a no-change pass wrote");
        results.push(x);
    }
    let initial = median(results.iter().map(|x| x.initial.as_secs_f64()).collect());
    let no_change = median(results.iter().map(|x| x.no_change.as_secs_f64()).collect());
    let server = median(results.iter().map(|x| x.server_share).collect());
    let replicas = median(results.iter().map(|x| x.replica_share).collect());
    let rss = peak_rss_kib() as f64 / 1024.0 / r as f64;
    println!("RESULT {initial} {no_change} {rss} {server} {replicas}");
}
