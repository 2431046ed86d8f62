//! One fetch per pass: resolves of one repository inside `fresh_since(pass start)` share a
//! fetch that started after the pass began; plain resolves each ask the remote (counted by
//! the progress reports, one `finished` per fetch).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gitops_core::Source;
use gitops_git::{FetchProgress, GitSource};
use gitops_testkit::git::GitDaemon;
use gitops_testkit::git::run_git as git;

/// A repository at `work` with one commit of `a.yaml`.
fn work_repo(work: &std::path::Path, a: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(work).unwrap();
    git(work, &["init", "-q", "-b", "main"]);
    git(work, &["config", "user.email", "t@example.com"]);
    git(work, &["config", "user.name", "t"]);
    std::fs::write(work.join("a.yaml"), a).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "-qm", "first"]);
    work.to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_fetches_each_repository_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("served");
    let work = work_repo(&dir.path().join("work"), "a: 1\n");
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

/// Resolves that read the cache while another resolve fetches new commits into it (another
/// pass of the same agent, or a self-heal between passes) always find the revision: they
/// never see a half-updated repository or miss the pack the fetch brought.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolves_during_a_fetch_find_their_revision() {
    let dir = tempfile::tempdir().unwrap();
    let work = work_repo(&dir.path().join("work"), "a: 0\n");
    let url = format!("file://{}", work.display());
    let source = GitSource::new(dir.path().join("cache")).unwrap();
    source.resolve(&url, "HEAD").await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers: resolves inside a pass that began long ago, which fetch nothing themselves.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (source, url, done) = (source.clone(), url.clone(), done.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    for reference in ["HEAD", "main"] {
                        let since = std::time::Instant::now() - std::time::Duration::from_secs(3600);
                        if let Err(e) = gitops_core::stage::fresh_since(since, source.resolve(&url, reference)).await {
                            failures.push(e.to_string());
                        }
                        reads += 1;
                    }
                }
                (reads, failures)
            })
        })
        .collect();
    // The writer: a commit and a fetch (a resolve that asks for a fresh copy), 30 times.
    for i in 1..=30 {
        std::fs::write(work.join("a.yaml"), format!("a: {i}\n")).unwrap();
        git(&work, &["commit", "-qam", &i.to_string()]);
        let head = git(&work, &["rev-parse", "HEAD"]);
        assert_eq!(source.resolve(&url, "HEAD").await.unwrap().commit, head);
    }
    done.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for r in readers {
        let (n, failures) = r.await.unwrap();
        reads += n;
        assert!(
            failures.is_empty(),
            "{} of the resolves failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
    }
    assert!(reads > 30, "the readers ran alongside the fetches ({reads} resolves)");
}
