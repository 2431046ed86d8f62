//! Fetch progress: a clone over git daemon reports objects and bytes as they arrive, and a
//! last report when it ends.

use std::sync::{Arc, Mutex};

use gitops_core::Source;
use gitops_git::{FetchProgress, GitSource};
use gitops_testkit::git::GitDaemon;
use gitops_testkit::git::run_git as git;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_reports_objects_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("served");
    let repo = root.join("big.git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.email", "t@example.com"]);
    git(&work, &["config", "user.name", "t"]);
    // Incompressible content, so the pack has a size worth reporting.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..200 {
        let mut bytes = Vec::with_capacity(4096);
        for _ in 0..512 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.extend_from_slice(&seed.to_le_bytes());
        }
        std::fs::write(work.join(format!("f{i}.bin")), bytes).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "files"]);
    std::fs::create_dir_all(&root).unwrap();
    git(&root, &["clone", "-q", "--bare", work.to_str().unwrap(), repo.to_str().unwrap()]);
    let daemon = GitDaemon::start(&root).unwrap();
    let seen: Arc<Mutex<Vec<FetchProgress>>> = Arc::default();
    let log = seen.clone();
    let source = GitSource::new(dir.path().join("cache"))
        .unwrap()
        .with_progress(Arc::new(move |p: &FetchProgress| log.lock().unwrap().push(p.clone())));
    let url = daemon.url("big.git");
    source.resolve(&url, "main").await.unwrap();
    let seen = seen.lock().unwrap();
    let last = seen.last().expect("progress reported");
    assert!(last.finished, "{last:?}");
    assert_eq!(last.repo_url, url);
    // 200 blobs, a tree and a commit; more than 800 KB of pack.
    assert!(last.objects >= 200, "{last:?}");
    assert!(last.bytes > 800_000, "{last:?}");
    assert_eq!(seen.iter().filter(|p| p.finished).count(), 1);
}
