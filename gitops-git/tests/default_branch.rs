//! `HEAD` follows the remote's default branch, whatever its name, over every transport: the
//! symref the server advertises is read on the first clone and again on each fetch, so a
//! default branch renamed after the first fetch is followed too.
//!
//! Each served repository also has a `main` branch on another commit, so a resolver that
//! guessed `main` (or kept the cache's initial HEAD) gives the wrong commit, not just an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gitops_core::{FileTree, Source};
use gitops_git::{Credentials, GitSource};
use gitops_testkit::git::run_git as git;
use gitops_testkit::git::{GitDaemon, GitHttp, HttpAuth, SshServer};

/// `root/<name>.git`, a bare repository whose default branch is `default`, with a `main`
/// branch one commit behind it.
fn served(root: &Path, name: &str, default: &str) -> PathBuf {
    let work = root.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("which.txt"), "main\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "on main"]);
    git(&work, &["checkout", "-q", "-b", default]);
    std::fs::write(work.join("which.txt"), format!("{default}\n")).unwrap();
    git(&work, &["commit", "-q", "-am", &format!("on {default}")]);
    let bare = root.join(format!("{name}.git"));
    git(root, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    // A bare clone takes the work tree's HEAD; say it explicitly, as a server admin would.
    git(&bare, &["symbolic-ref", "HEAD", &format!("refs/heads/{default}")]);
    git(&bare, &["branch", "-q", "-f", "main", &git(&work, &["rev-parse", "main"])]);
    bare
}

async fn which(src: &GitSource, url: &str) -> (String, String) {
    let rev = src.resolve(url, "HEAD").await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let text = src.open(&rev).await.unwrap().read_to_string("which.txt").unwrap();
    (text.trim().to_string(), rev.commit)
}

/// `master` and `trunk` repositories resolve HEAD to their default branch; then the default
/// branch of `master.git` is renamed to `production` (with a new commit) and the next resolve
/// of the same cache follows it.
async fn follows_default_branch(root: &Path, src: GitSource, url_of: impl Fn(&str) -> String) {
    for default in ["master", "trunk"] {
        let url = url_of(&format!("{default}.git"));
        let (text, commit) = which(&src, &url).await;
        assert_eq!(text, default, "{url}");
        assert_eq!(commit, git(&root.join(format!("{default}.git")), &["rev-parse", default]));
        // The branch by name and HEAD agree; `main` is a different commit.
        assert_eq!(src.resolve(&url, default).await.unwrap().commit, commit);
        assert_ne!(src.resolve(&url, "main").await.unwrap().commit, commit);
        // A second resolve (a fetch with nothing new) keeps HEAD where it is.
        assert_eq!(which(&src, &url).await.0, default);
    }

    let bare = root.join("master.git");
    let work = root.join("master-work");
    git(&work, &["branch", "-q", "-m", "master", "production"]);
    std::fs::write(work.join("which.txt"), "production\n").unwrap();
    git(&work, &["commit", "-q", "-am", "renamed"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "production"]);
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/production"]);
    git(&bare, &["branch", "-q", "-D", "master"]);
    let url = url_of("master.git");
    let (text, commit) = which(&src, &url).await;
    assert_eq!(text, "production", "{url}: HEAD follows the renamed default branch");
    assert_eq!(commit, git(&bare, &["rev-parse", "production"]));
    // Restore, so the next transport starts from the same state.
    git(&bare, &["branch", "-q", "master", "production~1"]);
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/master"]);
    git(&bare, &["branch", "-q", "-D", "production"]);
    git(&work, &["branch", "-q", "-m", "production", "master"]);
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
}

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    served(&root, "master", "master");
    served(&root, "trunk", "trunk");
    (dir, root)
}

fn source(cache: &Path) -> GitSource {
    GitSource::new(cache).unwrap().with_timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread")]
async fn file_urls_and_plain_paths() {
    let (_dir, root) = fixture();
    let cache = tempfile::tempdir().unwrap();
    let r = root.clone();
    follows_default_branch(&root, source(cache.path()), move |n| format!("file://{}", r.join(n).display())).await;
    let cache = tempfile::tempdir().unwrap();
    let r = root.clone();
    follows_default_branch(&root, source(cache.path()), move |n| r.join(n).display().to_string()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn git_daemon() {
    let (_dir, root) = fixture();
    let daemon = GitDaemon::start(&root).unwrap();
    let cache = tempfile::tempdir().unwrap();
    follows_default_branch(&root, source(cache.path()), |n| daemon.url(n)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_http() {
    let (_dir, root) = fixture();
    let server = GitHttp::start(&root, HttpAuth::Anonymous).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    follows_default_branch(&root, source(cache.path()), |n| server.url(n)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh() {
    let (_dir, root) = fixture();
    let keys = tempfile::tempdir().unwrap();
    let Some(server) = SshServer::start_or_skip(&root, keys.path()) else { return };
    let creds =
        Credentials { ssh_key: Some(server.user_key()), known_hosts: Some(server.known_hosts()), ..Default::default() };
    let cache = tempfile::tempdir().unwrap();
    follows_default_branch(&root, source(cache.path()).with_credentials("ssh://", creds), |n| server.url(n)).await;
}
