//! The agent under faults, as a process against the testkit (issue 21).
//!
//! - The chaos soak: 100 applications while the API server answers with random 500s, 429s
//!   with `Retry-After`, 409s and slow responses, drops watches, and is restarted with its
//!   store kept; Git gets new commits (values change, an object comes and goes) and a person
//!   edits live objects. After the faults stop every application converges; throughout, no
//!   object outside an ApplySet is deleted, no object is created twice, and no Secret value
//!   shows in the agent's log, an Event, the status API or the metrics. It prints a summary
//!   (faults, syncs, convergence time, peak memory). `GITOPS_SOAK_SECONDS` sets how long the
//!   faults last (60 by default), `GITOPS_SOAK_SEED` the seed.
//! - Crash safety: the agent is killed with SIGKILL at random points of its syncs (between
//!   applies, during prune, while it records the ApplySet parent) and started again; at the
//!   end the cluster equals Git: every object that left Git is gone, none is orphaned, and no
//!   foreign object was touched.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use gitops_core::{json, value::Value};
use gitops_testkit::git::run_git as git;
use gitops_testkit::{Fault, FaultAction, TestCluster};

const PART_OF: &str = "applyset.kubernetes.io/part-of";

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

/// A small seeded generator (xorshift), so a run repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The config repository: `app-NN/` per application, each with a ConfigMap `settings`
/// (its value the round), a Secret `creds` (a value that must never be shown) and, on some
/// rounds, a ServiceAccount `extra` (a kind of its own, pruned when it leaves: the ApplySet
/// parent must have recorded the kind before the member was applied).
struct Repo {
    path: PathBuf,
    apps: usize,
    secrets: Vec<String>,
}

impl Repo {
    fn new(dir: &Path, apps: usize, seed: u64) -> Self {
        let path = dir.join("repo");
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q", "-b", "main"]);
        git(&path, &["config", "user.email", "ci@example.com"]);
        git(&path, &["config", "user.name", "ci"]);
        let secrets = (0..apps).map(|i| format!("pw-{seed:x}-{i:03}-do-not-show")).collect();
        Repo { path, apps, secrets }
    }

    /// Writes round `round` (extras where `extra(i)`) and commits it.
    fn commit(&self, round: u64, extra: impl Fn(usize) -> bool) {
        for i in 0..self.apps {
            let d = self.path.join(format!("app-{i:03}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("settings.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  round: \"{round}\"\n"),
            )
            .unwrap();
            std::fs::write(
                d.join("creds.yaml"),
                format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {}\n",
                    self.secrets[i]
                ),
            )
            .unwrap();
            let e = d.join("extra.yaml");
            if extra(i) {
                std::fs::write(
                    &e,
                    format!(
                        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: extra\n  annotations:\n    since: \"{round}\"\n"
                    ),
                )
                .unwrap();
            } else {
                let _ = std::fs::remove_file(&e);
            }
        }
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-qm", &format!("round {round}"), "--allow-empty"]);
    }

    /// Application manifests, one file each, in `dir/apps`.
    fn applications(&self, dir: &Path) -> PathBuf {
        let apps = dir.join("apps");
        std::fs::create_dir_all(&apps).unwrap();
        for i in 0..self.apps {
            std::fs::write(
                apps.join(format!("app-{i:03}.yaml")),
                format!(
                    "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-{i:03}\nspec:\n  source:\n    repoURL: file://{}\n    targetRevision: HEAD\n    path: app-{i:03}\n  destination:\n    namespace: team-{i:03}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
                    self.path.display()
                ),
            )
            .unwrap();
        }
        apps
    }
}

/// Every change the server made, as its watch events (read behind the API, so faults do
/// not hide any): creations and deletions per object.
#[derive(Default)]
struct Journal {
    added: BTreeMap<String, usize>,
    /// Deleted objects: key and whether they carried an ApplySet label.
    deleted: Vec<(String, Option<String>)>,
    lagged: u64,
}

fn key(e: &gitops_testkit::api::Event) -> String {
    let name = e.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    format!("{}/{} {}/{}", e.group, e.plural, e.namespace, name)
}

fn record(testkit: &TestCluster) -> (Arc<Mutex<Journal>>, tokio::task::JoinHandle<()>) {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let mut rx = testkit.state().lock().unwrap().tx.subscribe();
    let j = journal.clone();
    let task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let mut j = j.lock().unwrap();
                    match e.kind {
                        "ADDED" => *j.added.entry(key(&e)).or_default() += 1,
                        "DELETED" => {
                            let label = e.object.pointer(&format!("/metadata/labels/{}", PART_OF.replace('/', "~1")));
                            j.deleted.push((key(&e), label.and_then(Value::as_str).map(String::from)));
                        }
                        _ => {}
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => j.lock().unwrap().lagged += n,
                Err(_) => return,
            }
        }
    });
    (journal, task)
}

/// The stored objects of a core/v1 resource, by `namespace/name`.
fn stored(testkit: &TestCluster, plural: &str) -> BTreeMap<String, Value> {
    let state = testkit.state();
    let state = state.lock().unwrap();
    let res = state.registry.by_plural("", "v1", plural).cloned().unwrap();
    state
        .all(&res)
        .into_iter()
        .map(|o| {
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
            let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            (format!("{ns}/{name}"), o)
        })
        .collect()
}

/// Creates an object in the store directly (a person or another tool, not the agent).
fn create(testkit: &TestCluster, plural: &str, obj: Value) {
    let state = testkit.state();
    let mut state = state.lock().unwrap();
    let res = state.registry.by_plural("", "v1", plural).cloned().unwrap();
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
    let target = gitops_testkit::api::Target { namespace: ns, ..Default::default() };
    let opts = gitops_testkit::api::WriteOptions { manager: "kubectl-edit".into(), ..Default::default() };
    state.create(&res, &target, obj, &opts).unwrap();
}

/// A person's edit of a live object's data (a JSON merge patch, as `kubectl edit` sends).
fn edit(testkit: &TestCluster, namespace: &str, name: &str, data: Value) -> bool {
    let state = testkit.state();
    let mut state = state.lock().unwrap();
    let res = state.registry.by_plural("", "v1", "configmaps").cloned().unwrap();
    let target = gitops_testkit::api::Target { namespace: namespace.into(), name: name.into(), ..Default::default() };
    let opts = gitops_testkit::api::WriteOptions { manager: "kubectl-edit".into(), ..Default::default() };
    state
        .patch(&res, &target, "application/merge-patch+json", json!({"data": data}).to_string().as_bytes(), &opts)
        .is_ok()
}

/// Whether the cluster equals Git at `round` with the extras of `extra`; else what differs.
fn converged(testkit: &TestCluster, repo: &Repo, round: u64, extra: &dyn Fn(usize) -> bool) -> Result<(), String> {
    let cms = stored(testkit, "configmaps");
    let secrets = stored(testkit, "secrets");
    let accounts = stored(testkit, "serviceaccounts");
    for i in 0..repo.apps {
        let ns = format!("team-{i:03}");
        let settings = cms.get(&format!("{ns}/settings")).ok_or(format!("{ns}/settings is missing"))?;
        let have = settings.pointer("/data/round").and_then(Value::as_str).unwrap_or("");
        if have != round.to_string() || settings.pointer("/data").and_then(Value::as_object).map(|d| d.len()) != Some(1)
        {
            return Err(format!("{ns}/settings is {:?}, Git says round {round}", settings.get("data")));
        }
        let creds = secrets.get(&format!("{ns}/creds")).ok_or(format!("{ns}/creds is missing"))?;
        let pw = creds.pointer("/data/password").and_then(Value::as_str).unwrap_or("");
        if pw != base64::engine::general_purpose::STANDARD.encode(&repo.secrets[i]) {
            return Err(format!("{ns}/creds has another value"));
        }
        if accounts.contains_key(&format!("{ns}/extra")) != extra(i) {
            return Err(format!("{ns}/extra: in the cluster {}, in Git {}", !extra(i), extra(i)));
        }
    }
    Ok(())
}

fn agent(bin: &Path, dir: &Path, apps: &Path, kubeconfig: &Path, listen: Option<&str>, log: &str) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(log)).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["--app", &apps.display().to_string()])
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["--interval", "2", "--log-format", "json", "--concurrency", "8"])
        .args(["--cache-dir", &dir.join("cache").display().to_string()])
        .env("RUST_LOG", "info,gitops_sync=debug,gitops_examples=debug")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(addr) = listen {
        cmd.args(["--listen", addr]);
    }
    cmd.spawn().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return String::new() };
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Peak resident memory of a process (`VmHWM`), KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Fails on any Secret value (as written in Git, or base64 as stored) in `text`.
fn no_secret(repo: &Repo, what: &str, text: &str) {
    for s in &repo.secrets {
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        assert!(!text.contains(s.as_str()) && !text.contains(&b64), "a Secret value in {what}");
    }
}

/// Objects the journal saw deleted that no application owned, and objects created twice.
fn journal_faults(journal: &Journal, prunable: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (k, label) in &journal.deleted {
        if label.is_none() || !prunable(k) {
            out.push(format!("deleted {k} (ApplySet label {label:?})"));
        }
    }
    for (k, n) in &journal.added {
        // An object may come back only when Git brought it back after a prune.
        let deleted = journal.deleted.iter().filter(|(d, _)| d == k).count();
        if *n > deleted + 1 {
            out.push(format!("created {k} {n} times, deleted {deleted} times"));
        }
    }
    if journal.lagged > 0 {
        out.push(format!("the journal missed {} events", journal.lagged));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_soak_converges_and_keeps_its_invariants() {
    let Some(bin) = example("gitops-agent") else {
        println!("gitops-agent not built: skipped");
        return;
    };
    let seconds: u64 = std::env::var("GITOPS_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = std::env::var("GITOPS_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c0de);
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = Repo::new(dir, 100, seed);
    let extra_at = |round: u64| move |i: usize| (i as u64 + round).is_multiple_of(3);
    let mut round = 1;
    repo.commit(round, extra_at(round));
    let apps = repo.applications(dir);
    let mut testkit = TestCluster::start().await.unwrap();
    let (journal, recording) = record(&testkit);
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, testkit.kubeconfig()).unwrap();
    // Foreign objects: in a namespace of its own and, once they exist, in the applications'.
    create(&testkit, "namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-000"}}));
    create(
        &testkit,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign", "namespace": "team-000"}, "data": {"a": "b"}}),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = agent(&bin, dir, &apps, &kubeconfig, Some(&listen), "agent.log");
    let pid = child.id();

    // The first sync, without faults.
    let started = Instant::now();
    while let Err(e) = converged(&testkit, &repo, round, &extra_at(round)) {
        assert!(started.elapsed() < Duration::from_secs(120), "the first sync: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_sync = started.elapsed();
    for i in (10..100).step_by(10) {
        create(
            &testkit,
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign", "namespace": format!("team-{i:03}")}, "data": {"a": "b"}}),
        );
    }

    // Faults.
    {
        let state = testkit.state();
        let mut state = state.lock().unwrap();
        state.faults.push(Fault::random(Some("watch"), None, FaultAction::DropWatchAfter(Duration::from_secs(3)), 0.5));
        state.faults.push(Fault::random(None, None, FaultAction::Status(500), 0.04));
        state.faults.push(Fault::random(None, None, FaultAction::TooManyRequests { retry_after: 1 }, 0.02));
        state.faults.push(Fault::random(Some("patch"), None, FaultAction::Status(409), 0.03));
        state.faults.push(Fault::random(None, None, FaultAction::Delay(Duration::from_millis(300)), 0.04));
    }
    let (mut commits, mut edits, mut restarts) = (0, 0, 0);
    let chaos = Instant::now();
    let mut next_restart = Instant::now() + Duration::from_secs((seconds / 3).clamp(1, 15));
    while chaos.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1000))).await;
        match rng.below(4) {
            0 => {
                round += 1;
                repo.commit(round, extra_at(round));
                commits += 1;
            }
            _ => {
                let i = rng.below(100);
                if edit(&testkit, &format!("team-{i:03}"), "settings", json!({"round": "edited by hand"})) {
                    edits += 1;
                }
            }
        }
        if Instant::now() >= next_restart {
            testkit.stop();
            tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
            testkit.resume().await.unwrap();
            restarts += 1;
            next_restart = Instant::now() + Duration::from_secs(10 + rng.below(10));
        }
        assert!(child.try_wait().unwrap().is_none(), "the agent exited under faults");
    }
    let injected = {
        let state = testkit.state();
        let mut state = state.lock().unwrap();
        state.faults.clear();
        state.faults.injected
    };
    let calm = Instant::now();
    while let Err(e) = converged(&testkit, &repo, round, &extra_at(round)) {
        assert!(calm.elapsed() < Duration::from_secs(90), "no convergence after the faults: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let convergence = calm.elapsed();
    let peak = peak_kib(pid);

    // No Secret value anywhere the agent writes or serves.
    let status = http_get(&listen, "/api/v1/applications").await;
    assert!(status.contains("app-099"), "the status API answers: {status}");
    no_secret(&repo, "the status API", &status);
    for i in [0usize, 42, 99] {
        no_secret(
            &repo,
            "an application's page",
            &http_get(&listen, &format!("/api/v1/applications/app-{i:03}")).await,
        );
    }
    let metrics = http_get(&listen, "/metrics").await;
    assert!(metrics.contains("gitops"), "the metrics answer: {metrics}");
    no_secret(&repo, "the metrics", &metrics);
    let events = stored(&testkit, "events");
    no_secret(&repo, "an Event", &serde_json::to_string(&events).unwrap());
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("agent.log")).unwrap();
    no_secret(&repo, "the agent's log", &log);
    let syncs = log.lines().filter(|l| l.contains("\"message\":\"synced\"")).count();

    recording.abort();
    let journal = journal.lock().unwrap();
    let cms = stored(&testkit, "configmaps");
    for i in (0..100).step_by(10) {
        assert!(cms.contains_key(&format!("team-{i:03}/foreign")), "a foreign ConfigMap in team-{i:03} is gone");
    }
    let faults = journal_faults(&journal, |k| k.starts_with("/serviceaccounts team-") && k.ends_with("/extra"));
    assert!(faults.is_empty(), "{faults:#?}");
    // Written to the stderr handle, not through eprintln!, so the summary shows in CI logs
    // (the test harness captures only the print macros).
    let _ = writeln!(
        std::io::stderr(),
        "chaos soak (seed {seed:#x}, {seconds} s of faults): first sync of 100 applications {first_sync:?}; \
         {injected} faults injected, {restarts} API server restarts, {commits} commits, {edits} live edits; \
         {syncs} syncs; converged {convergence:?} after the last fault; {} objects created, {} pruned; \
         agent peak memory {} MiB",
        journal.added.len(),
        journal.deleted.len(),
        peak / 1024
    );
    assert!(injected > 0 && restarts > 0 && syncs > 100);
    assert!(peak < 512 * 1024, "peak memory {} MiB", peak / 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_the_agent_converges_and_orphans_nothing() {
    let Some(bin) = example("gitops-agent") else {
        println!("gitops-agent not built: skipped");
        return;
    };
    const APPS: usize = 6;
    let seed: u64 = std::env::var("GITOPS_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xc4a5);
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = Repo::new(dir, APPS, seed);
    let apps = repo.applications(dir);
    let testkit = TestCluster::start().await.unwrap();
    let (journal, recording) = record(&testkit);
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, testkit.kubeconfig()).unwrap();
    for i in 0..APPS {
        let ns = format!("team-{i:03}");
        create(&testkit, "namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        create(
            &testkit,
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign", "namespace": ns}, "data": {"a": "b"}}),
        );
    }
    // Slow writes, so a kill lands inside a sync: between applies, during a prune, around the
    // ApplySet parent's record.
    testkit.state().lock().unwrap().faults.push(Fault::random(
        None,
        None,
        FaultAction::Delay(Duration::from_millis(100)),
        1.0,
    ));
    let mut kills = BTreeMap::<&str, usize>::new();
    let mut round = 0;
    for _ in 0..12 {
        round += 1;
        // Extras come and go with the round, so most kills interrupt a prune or an apply.
        let extra = move |i: usize| (i as u64 + round).is_multiple_of(2);
        repo.commit(round, extra);
        let mut child = agent(&bin, dir, &apps, &kubeconfig, None, "agent.log");
        let after = Duration::from_millis(100 + rng.below(900));
        tokio::time::sleep(after).await;
        Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
        let _ = child.wait();
        let done = converged(&testkit, &repo, round, &extra).is_ok();
        *kills.entry(if done { "after the sync" } else { "inside a sync" }).or_default() += 1;
    }
    // Started once more and left alone, it converges to Git.
    round += 1;
    let extra = move |i: usize| (i as u64 + round).is_multiple_of(2);
    repo.commit(round, extra);
    testkit.state().lock().unwrap().faults.clear();
    let mut child = agent(&bin, dir, &apps, &kubeconfig, None, "agent.log");
    let started = Instant::now();
    while let Err(e) = converged(&testkit, &repo, round, &extra) {
        if started.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            panic!("no convergence after the kills: {e}\nthe agent's last lines:\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    recording.abort();
    let journal = journal.lock().unwrap();
    let cms = stored(&testkit, "configmaps");
    for i in 0..APPS {
        assert!(cms.contains_key(&format!("team-{i:03}/foreign")), "the foreign ConfigMap of team-{i:03} is gone");
        // Every member carries the ApplySet label of its application, so a later prune finds it.
        let label = format!("/metadata/labels/{}", PART_OF.replace('/', "~1"));
        let settings = &cms[&format!("team-{i:03}/settings")];
        assert!(settings.pointer(&label).is_some(), "{settings}");
        if let Some(extra) = stored(&testkit, "serviceaccounts").get(&format!("team-{i:03}/extra")) {
            assert!(extra.pointer(&label).is_some(), "{extra}");
        }
    }
    let faults = journal_faults(&journal, |k| k.starts_with("/serviceaccounts team-") && k.ends_with("/extra"));
    assert!(faults.is_empty(), "{faults:#?}");
    let _ = writeln!(
        std::io::stderr(),
        "crash safety (seed {seed:#x}): SIGKILL {kills:?}; converged {:?} after the last start",
        started.elapsed()
    );
    assert!(kills.get("inside a sync").copied().unwrap_or(0) > 0, "no kill landed inside a sync: {kills:?}");
}
