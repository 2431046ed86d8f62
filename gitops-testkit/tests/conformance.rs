//! The conformance transcripts recorded from a real kube-apiserver v1.36 (copied from the
//! project's shared data into `tests/conformance/`), replayed against the in-process server
//! with the recording's own replay tool. `passing.txt` lists the cases that pass today; they
//! must keep passing. The cases not listed there are the work left (see the crate README).

use std::path::Path;
use std::process::Command;

use gitops_testkit::TestCluster;

fn python_ready() -> bool {
    Command::new("python3").args(["-c", "import requests, yaml"]).output().is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_cases_pass() {
    assert!(python_ready(), "python3 with requests and pyyaml is needed (.ci/run installs them)");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let passing: Vec<String> = std::fs::read_to_string(dir.join("passing.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert!(passing.len() >= 30, "{} cases", passing.len());
    let cluster = TestCluster::start().await.unwrap();
    let url = cluster.url();
    let dir2 = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(dir2.join("replay.py")).arg("--server").arg(url).args(&passing).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(out.status.success(), "replay failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(last.ends_with("0 failed"), "{last}");
}
