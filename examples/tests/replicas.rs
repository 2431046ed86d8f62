//! Two `gitops-agent` processes sharing twelve applications through Leases in the testkit:
//! each syncs its own share (their logs are disjoint and cover every application), and when
//! one is stopped with SIGTERM it releases its Lease, so the other takes its applications over
//! well before the Lease could have expired.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitops_core::{Cluster, GroupVersionKind};
use gitops_testkit::git::run_git as git;

const APPS: usize = 12;
const LEASE_SECONDS: u64 = 4;

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn commit(repo: &Path, value: &str) {
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(
        repo.join("app/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: {value}\n"),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", value]);
}

fn agent(bin: &Path, dir: &Path, kubeconfig: &Path, name: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(bin)
        .args(["--app", &dir.join("apps").display().to_string()])
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["--replicas-lease-namespace", "default", "--replica-name", name])
        .args(["--lease-duration", &LEASE_SECONDS.to_string(), "--interval", "1", "--log-format", "json"])
        .args(["--cache-dir", &dir.join(format!("cache-{name}")).display().to_string()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The applications a replica's log says it synced (wrote to) since line `from`.
fn synced(dir: &Path, name: &str, from: usize) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    text.lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<gitops_core::value::Value>(l).ok())
        .filter(|v| v.pointer("/fields/message").and_then(|m| m.as_str()) == Some("synced"))
        .filter_map(|v| v.pointer("/fields/app").and_then(|a| a.as_str()).map(str::to_string))
        .collect()
}

fn lines(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default().lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agent_processes_share_the_applications_and_hand_over_on_sigterm() {
    let Some(bin) = example("gitops-agent") else {
        println!("gitops-agent not built: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "ci@example.com"]);
    git(&repo, &["config", "user.name", "ci"]);
    commit(&repo, "one");
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    for i in 0..APPS {
        std::fs::write(
            dir.join(format!("apps/app-{i:02}.yaml")),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-{i:02}\nspec:\n  source:\n    repoURL: file://{}\n    targetRevision: HEAD\n    path: app\n  destination:\n    namespace: team-{i:02}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
                repo.display()
            ),
        )
        .unwrap();
    }
    let testkit = gitops_testkit::TestCluster::start().await.unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, testkit.kubeconfig()).unwrap();
    let cluster = gitops_sync::KubeCluster::new(testkit.client());
    let values = || async {
        let all = cluster.list(&GroupVersionKind::new("", "v1", "ConfigMap"), None, "").await.unwrap();
        all.iter()
            .filter(|o| o.name() == "settings")
            .map(|o| o.get("/data/value").and_then(|v| v.as_str()).unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let wait = |what: &'static str, limit: Duration, target: &'static str| {
        let values = &values;
        async move {
            let started = Instant::now();
            loop {
                let v = values().await;
                if v.len() == APPS && v.iter().all(|x| x == target) {
                    return started.elapsed();
                }
                assert!(started.elapsed() < limit, "{what}: {v:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let mut a = agent(&bin, dir, &kubeconfig, "agent-a");
    let mut b = agent(&bin, dir, &kubeconfig, "agent-b");
    wait("the first sync", Duration::from_secs(30), "one").await;
    // Both hold Leases; b's share moved to it after one Lease duration.
    let leases = GroupVersionKind::new("coordination.k8s.io", "v1", "Lease");
    let held = || async {
        let l = cluster.list(&leases, Some("default"), "gitops.dev/agent-group=gitops-agent").await.unwrap();
        l.iter().map(|o| o.name().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(held().await, ["agent-a", "agent-b"]);
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS + 1)).await;

    // A change: each replica syncs its own share.
    let (from_a, from_b) = (lines(dir, "agent-a"), lines(dir, "agent-b"));
    commit(&repo, "two");
    wait("the change", Duration::from_secs(20), "two").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (by_a, by_b) = (synced(dir, "agent-a", from_a), synced(dir, "agent-b", from_b));
    eprintln!("agent-a synced {by_a:?}\nagent-b synced {by_b:?}");
    assert!(!by_a.is_empty() && !by_b.is_empty(), "both replicas work");
    assert!(by_a.is_disjoint(&by_b), "an application synced by both");
    assert_eq!(by_a.len() + by_b.len(), APPS);

    // SIGTERM: b stops, releases its Lease; a takes everything over at once.
    let status = Command::new("kill").args(["-TERM", &b.id().to_string()]).status().unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    let code = tokio::task::spawn_blocking(move || b.wait().unwrap()).await.unwrap();
    assert!(code.success(), "b exits cleanly on SIGTERM: {code:?}");
    assert_eq!(held().await, ["agent-a"], "b's Lease is released");
    let from_a = lines(dir, "agent-a");
    commit(&repo, "three");
    let took = wait("a takes over", Duration::from_secs(20), "three").await;
    eprintln!("after SIGTERM, every application synced by agent-a within {:?}", stopped.elapsed());
    assert!(
        stopped.elapsed() < Duration::from_secs(LEASE_SECONDS),
        "the takeover waited for the Lease to expire ({:?}, change seen after {took:?})",
        stopped.elapsed()
    );
    // A pass is logged when it ends, after its writes: the values can all be there before
    // the log line that names the last of them.
    let logged = Instant::now();
    while synced(dir, "agent-a", from_a).len() < APPS && logged.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(synced(dir, "agent-a", from_a).len(), APPS);
    let _ = a.kill();
    let _ = a.wait();
}
