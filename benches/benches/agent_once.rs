//! A whole `gitops-agent --once` process, as CI runs it: `AGENT_APPS` applications (default
//! 500) of 4 objects each, as Application manifests in a directory, their paths in one Git
//! repository on disk, against the testkit API server (on a thread of this process, reached
//! over HTTP with a kubeconfig). Medians over `AGENT_RUNS` (default 3) of:
//!
//! - the first sync: a fresh cluster and an empty Git cache;
//! - a no-change pass: the same again, with the cache of the first.
//!
//! ```text
//! cargo build --release --example gitops-agent
//! cargo bench -p gitops-benches --bench agent_once
//! ```

use gitops_benches::median;
use std::path::Path;
use std::time::{Duration, Instant};

use gitops_benches::fleet;

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git").current_dir(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The API server on a thread of its own until the returned sender is dropped.
fn server() -> (String, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let testkit = gitops_testkit::TestCluster::start().await.expect("testkit");
            testkit.state().lock().unwrap().simulation = gitops_testkit::Simulation::Healthy;
            tx.send(testkit.kubeconfig()).expect("the bench waits");
            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
        });
    });
    (rx.recv().expect("a kubeconfig"), stop_tx)
}

fn agent(bin: &str, dir: &Path, kubeconfig: &Path, cache: &Path) -> Duration {
    let t = Instant::now();
    let out = std::process::Command::new(bin)
        .args(["--once", "--app"])
        .arg(dir.join("apps"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the agent runs");
    let took = t.elapsed();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    took
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/examples/gitops-agent");
    assert!(Path::new(bin).exists(), "build it first: cargo build --release --example gitops-agent");
    let n: usize = std::env::var("AGENT_APPS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let runs: usize = std::env::var("AGENT_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let repo = dir.path().join("repo");
    for (path, text) in fleet::files(n) {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("a directory");
        std::fs::write(p, text).expect("a file");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["-c", "user.email=b@example.com", "-c", "user.name=b", "add", "-A"]);
    git(&repo, &["-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-qm", "fleet"]);
    std::fs::create_dir_all(dir.path().join("apps")).expect("a directory");
    let url = format!("file://{}", repo.display());
    for i in 0..n {
        std::fs::write(dir.path().join(format!("apps/app-{i}.yaml")), fleet::application_yaml(i, &url))
            .expect("a file");
    }
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let (kubeconfig, stop) = server();
        let kc = dir.path().join(format!("kubeconfig-{i}"));
        std::fs::write(&kc, kubeconfig).expect("a kubeconfig");
        let cache = dir.path().join(format!("cache-{i}"));
        let a = agent(bin, dir.path(), &kc, &cache);
        let b = agent(bin, dir.path(), &kc, &cache);
        println!("run {i}: first sync {:.2}s, no-change pass {:.2}s", a.as_secs_f64(), b.as_secs_f64());
        first.push(a);
        again.push(b);
        drop(stop);
    }
    println!(
        "\n{n} applications x 4 objects, whole gitops-agent --once processes, medians of {runs}: first sync {:.2}s (goal < 3 s), no-change pass {:.2}s (goal < 1 s)",
        median(first).as_secs_f64(),
        median(again).as_secs_f64()
    );
}
