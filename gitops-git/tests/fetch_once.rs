//! One fetch per pass: resolves of one repository inside `fresh_since(pass start)` share a
//! fetch that started after the pass began; plain resolves each ask the remote (counted by
//! the progress reports, one `finished` per fetch).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gitops_core::Source;
use gitops_git::{FetchProgress, GitSource};
use gitops_testkit::git::GitDaemon;
use gitops_testkit::git::run_git as git;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_fetches_each_repository_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("served");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.email", "t@example.com"]);
    git(&work, &["config", "user.name", "t"]);
    std::fs::write(work.join("a.yaml"), "a: 1\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "one"]);
    std::fs::create_dir_all(&root).unwrap();
    let bare = root.join("r.git");
    git(&root, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    let daemon = GitDaemon::start(&root).unwrap();
    let url = daemon.url("r.git");
    let fetches = Arc::new(AtomicUsize::new(0));
    let count = fetches.clone();
    let source = GitSource::new(dir.path().join("cache")).unwrap().with_progress(Arc::new(move |p: &FetchProgress| {
        if p.finished {
            count.fetch_add(1, Ordering::SeqCst);
        }
    }));

    // A pass of 20 applications of the repository: one fetch.
    let pass = async {
        let all = (0..20).map(|_| source.resolve(&url, "main"));
        futures::future::join_all(all).await
    };
    let revisions = gitops_core::stage::fresh_since(std::time::Instant::now(), pass).await;
    assert!(revisions.iter().all(|r| r.is_ok()));
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch for the pass");

    // A new commit, then a new pass: fetched again, and seen.
    std::fs::write(work.join("a.yaml"), "a: 2\n").unwrap();
    git(&work, &["commit", "-qam", "two"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let pass = async { futures::future::join_all((0..5).map(|_| source.resolve(&url, "main"))).await };
    let again = gitops_core::stage::fresh_since(std::time::Instant::now(), pass).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let (old, new) = (&revisions[0].as_ref().unwrap().commit, &again[0].as_ref().unwrap().commit);
    assert_ne!(old, new, "the second pass sees the new commit");

    // Outside a pass, each resolve asks the remote.
    for _ in 0..3 {
        source.resolve(&url, "main").await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 5);
}
