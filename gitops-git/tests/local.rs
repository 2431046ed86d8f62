//! gitops-git against real repositories made with the git CLI, served as local paths and
//! `file://` URLs.

use std::process::Command;

use gitops_core::{EntryKind, FileTree, Source};
use gitops_git::GitSource;

use gitops_testkit::git::run_git as git;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(d.join("base")).unwrap();
    std::fs::write(d.join("base/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    std::fs::write(d.join("other/readme.txt"), "x").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("cm.yaml", d.join("base/alias.yaml")).unwrap();
        std::os::unix::fs::symlink("../../etc/passwd", d.join("base/escape")).unwrap();
    }
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "first"]);
    git(d, &["tag", "v1.0.0"]);
    dir
}

#[tokio::test]
async fn clone_resolve_read_and_fetch() {
    let upstream = repo();
    let url = format!("file://{}", upstream.path().display());
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::new(cache.path()).unwrap();
    let head = source.resolve(&url, "HEAD").await.unwrap();
    let first = git(upstream.path(), &["rev-parse", "HEAD"]);
    assert_eq!(head.commit, first);
    for reference in ["main", "refs/heads/main", "v1.0.0", &first[..12], first.as_str()] {
        assert_eq!(source.resolve(&url, reference).await.unwrap().commit, first, "{reference}");
    }
    let err = source.resolve(&url, "no-such-branch").await.unwrap_err();
    assert!(err.to_string().contains("unknown revision"), "{err}");

    let tree = source.open(&head).await.unwrap();
    assert!(tree.read_to_string("base/cm.yaml").unwrap().contains("ConfigMap"));
    assert_eq!(tree.kind("base").unwrap(), Some(EntryKind::Dir));
    assert_eq!(tree.kind("missing").unwrap(), None);
    #[cfg(unix)]
    {
        assert_eq!(tree.read("base/alias.yaml").unwrap(), tree.read("base/cm.yaml").unwrap());
        let err = tree.read("base/escape").unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
    }
    let names: Vec<String> = tree.list("base").unwrap().into_iter().map(|e| e.name).collect();
    assert!(names.contains(&"cm.yaml".to_string()));

    // A new commit upstream is fetched into the same cache; only `other/` changed.
    std::fs::write(upstream.path().join("other/readme.txt"), "y").unwrap();
    git(upstream.path(), &["commit", "-q", "-am", "second"]);
    let next = source.resolve(&url, "main").await.unwrap();
    assert_ne!(next.commit, head.commit);
    assert!(!source.changed(&head, &next, "base").await.unwrap());
    assert!(source.changed(&head, &next, "other").await.unwrap());

    // A plain path works as a URL too.
    let by_path = source.resolve(&upstream.path().display().to_string(), "HEAD").await.unwrap();
    assert_eq!(by_path.commit, next.commit);
}

#[tokio::test]
async fn unreachable_repository_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::new(cache.path()).unwrap();
    let err = source.resolve("file:///nonexistent/repo.git", "HEAD").await.unwrap_err();
    assert!(err.to_string().contains("fetch failed"), "{err}");
    assert_eq!(gitops_git::redact("https://user:secret@example.com/r.git"), "https://***@example.com/r.git");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_fetches_share_a_cache_and_a_corrupt_cache_is_rebuilt() {
    let upstream = repo();
    let url = format!("file://{}", upstream.path().display());
    let cache = tempfile::tempdir().unwrap();
    // Separate sources (as separate processes would be) on one cache directory, at once.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (url, dir) = (url.clone(), cache.path().to_path_buf());
            tokio::spawn(async move { GitSource::new(&dir).unwrap().resolve(&url, "HEAD").await })
        })
        .collect();
    let head = git(upstream.path(), &["rev-parse", "HEAD"]);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().commit, head);
    }
    let source = GitSource::new(cache.path()).unwrap();
    let dir = source.cache_dir_of(&url);
    let fsck = Command::new("git").args(["fsck", "--no-progress"]).current_dir(&dir).output().unwrap();
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));

    // Corrupt the cache: it is detected, removed and cloned again.
    std::fs::remove_dir_all(dir.join("objects")).unwrap();
    std::fs::write(dir.join("HEAD"), "garbage").unwrap();
    let rev = source.resolve(&url, "HEAD").await.unwrap();
    assert_eq!(rev.commit, head);
    assert!(source.open(&rev).await.unwrap().read_to_string("base/cm.yaml").is_ok());
}

/// A passphrase reaches ssh through a private helper that lives only as long as the command
/// that names it: nothing of it stays on disk afterwards.
#[test]
fn the_passphrase_helper_goes_with_its_command() {
    let creds = gitops_git::Credentials { ssh_passphrase: Some("s3cret words".into()), ..Default::default() };
    let ssh = creds.ssh_command(std::time::Duration::from_secs(5));
    let wrapper = ssh.line().split_whitespace().next().unwrap().trim_matches('\'').to_string();
    let dir = std::path::Path::new(&wrapper).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::read_to_string(dir.join("passphrase")).unwrap(), "s3cret words");
    assert!(!ssh.line().contains("s3cret"), "the passphrase is never on the command line");
    drop(ssh);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    // Without a passphrase: plain ssh, no helper.
    let plain = gitops_git::Credentials::default().ssh_command(std::time::Duration::from_secs(5));
    assert!(plain.line().starts_with("ssh -o BatchMode=yes"), "{}", plain.line());
}

/// The real path of an entry (every symlink resolved, a link's target taken relative to the
/// real directory holding it): what a load restrictor judges.
#[cfg(unix)]
#[tokio::test]
async fn real_paths_resolve_every_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::create_dir_all(d.join("deep")).unwrap();
    std::fs::write(d.join("a/x.yaml"), "x: 1\n").unwrap();
    std::fs::write(d.join("a/b/file.yaml"), "y: 1\n").unwrap();
    std::os::unix::fs::symlink("../x.yaml", d.join("a/b/up.yaml")).unwrap();
    std::os::unix::fs::symlink("../a/b", d.join("deep/link")).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "links"]);
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::new(cache.path()).unwrap();
    let rev = source.resolve(&format!("file://{}", d.display()), "HEAD").await.unwrap();
    let tree = source.open(&rev).await.unwrap();
    assert_eq!(tree.real_path("a/b/file.yaml").unwrap().as_deref(), Some("a/b/file.yaml"));
    assert_eq!(tree.real_path("deep/link").unwrap().as_deref(), Some("a/b"));
    assert_eq!(tree.real_path("deep/link/file.yaml").unwrap().as_deref(), Some("a/b/file.yaml"));
    // `up.yaml` points at `../x.yaml` from its real directory `a/b`, not from `deep/link`.
    assert_eq!(tree.real_path("deep/link/up.yaml").unwrap().as_deref(), Some("a/x.yaml"));
    assert_eq!(tree.read_to_string("deep/link/up.yaml").unwrap(), "x: 1\n");
    assert_eq!(tree.real_path("deep/missing").unwrap(), None);
    // The same over a directory on disk.
    let disk = gitops_core::DirTree::new(d).unwrap();
    assert_eq!(disk.real_path("deep/link/up.yaml").unwrap().as_deref(), Some("a/x.yaml"));
    assert_eq!(disk.real_path("deep/link/file.yaml").unwrap().as_deref(), Some("a/b/file.yaml"));
}

/// A hostile repository's huge file is refused by name before it is inflated into memory.
#[tokio::test]
async fn a_file_over_the_limit_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("repo");
    std::fs::create_dir_all(d.join("app")).unwrap();
    git(&d, &["init", "-q", "-b", "main"]);
    std::fs::write(d.join("app/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").unwrap();
    // Compressible, so the pack is small while the file is 3 MiB.
    std::fs::write(d.join("app/huge.yaml"), "# padding\n".repeat(300_000)).unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "-m", "huge"]);
    let source = GitSource::new(dir.path().join("cache")).unwrap().with_max_file_bytes(1 << 20);
    let rev = source.resolve(&format!("file://{}", d.display()), "HEAD").await.unwrap();
    let tree = source.open(&rev).await.unwrap();
    assert!(tree.read("app/cm.yaml").is_ok());
    let e = tree.read("app/huge.yaml").unwrap_err().to_string();
    assert!(e.contains("app/huge.yaml") && e.contains("larger than the limit of 1048576 bytes"), "{e}");
    // The default limit (64 MiB) lets it through.
    let roomy = GitSource::new(dir.path().join("cache2")).unwrap();
    let rev = roomy.resolve(&format!("file://{}", d.display()), "HEAD").await.unwrap();
    assert_eq!(roomy.open(&rev).await.unwrap().read("app/huge.yaml").unwrap().len(), 3_000_000);
}

/// A fetch whose pack outgrows the limit is stopped and forgotten; a later fetch with room
/// clones it whole.
#[tokio::test]
async fn a_pack_over_the_limit_is_refused_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("repo");
    std::fs::create_dir_all(&d).unwrap();
    git(&d, &["init", "-q", "-b", "main"]);
    // Incompressible content: the pack is about as large as the files (3 MiB).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..12 {
        let mut bytes = Vec::with_capacity(256 << 10);
        while bytes.len() < 256 << 10 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.extend_from_slice(&seed.to_le_bytes());
        }
        std::fs::write(d.join(format!("blob-{i}.bin")), bytes).unwrap();
    }
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "-m", "big"]);
    let url = format!("file://{}", d.display());
    let cache = dir.path().join("cache");
    let tight = GitSource::new(&cache).unwrap().with_max_pack_bytes(1 << 20);
    let e = tight.resolve(&url, "HEAD").await.unwrap_err().to_string();
    assert!(e.contains("larger than the limit of 1048576 bytes"), "{e}");
    // Nothing of it is kept: the same cache, with the same limit, fetches again and fails again.
    let e = tight.resolve(&url, "HEAD").await.unwrap_err().to_string();
    assert!(e.contains("larger than the limit"), "{e}");
    let roomy = GitSource::new(&cache).unwrap();
    let rev = roomy.resolve(&url, "HEAD").await.unwrap();
    assert_eq!(roomy.open(&rev).await.unwrap().read("blob-0.bin").unwrap().len(), 256 << 10);
}

/// Millions of tiny objects are a limit too: a fetch of more objects than allowed is stopped
/// and forgotten, whatever the pack's size.
#[tokio::test]
async fn a_pack_of_too_many_objects_is_refused_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("repo");
    std::fs::create_dir_all(&d).unwrap();
    git(&d, &["init", "-q", "-b", "main"]);
    // 3,000 tiny files in 30 directories: about 3,032 objects, a pack of a few hundred KiB.
    for i in 0..3000 {
        let sub = d.join(format!("d{}", i % 30));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}")), format!("{i}\n")).unwrap();
    }
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "-m", "many"]);
    let url = format!("file://{}", d.display());
    let cache = dir.path().join("cache");
    let tight = GitSource::new(&cache).unwrap().with_max_pack_objects(1000);
    let e = tight.resolve(&url, "HEAD").await.unwrap_err().to_string();
    assert!(e.contains("more than the limit of 1000 objects"), "{e}");
    let e = tight.resolve(&url, "HEAD").await.unwrap_err().to_string();
    assert!(e.contains("more than the limit of 1000 objects"), "{e}");
    let roomy = GitSource::new(&cache).unwrap().with_max_pack_objects(10_000);
    let rev = roomy.resolve(&url, "HEAD").await.unwrap();
    assert_eq!(roomy.open(&rev).await.unwrap().read("d7/f7").unwrap(), b"7\n");
}

/// A fetch killed halfway leaves gix's lock files in the cache (packed-refs, HEAD, shallow, a
/// ref); the next fetch, holding the repository's lock, removes them instead of failing
/// forever with "the lockfile might need manual deletion".
#[tokio::test]
async fn lock_files_of_a_killed_fetch_do_not_block_the_next() {
    let dir = repo();
    let d = dir.path();
    let url = format!("file://{}", d.display());
    let caches = tempfile::tempdir().unwrap();
    let cache = caches.path().join("cache");
    let src = GitSource::new(&cache).unwrap();
    let first = src.resolve(&url, "HEAD").await.unwrap();
    let repo_dir = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).unwrap();
    for f in ["packed-refs.lock", "HEAD.lock", "shallow.lock", "refs/heads/main.lock"] {
        let p = repo_dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "stale").unwrap();
    }
    std::fs::write(d.join("new.yaml"), "a: b\n").unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "after the kill"]);
    let again = GitSource::new(&cache).unwrap();
    let second = again.resolve(&url, "HEAD").await.unwrap();
    assert_ne!(first.commit, second.commit);
    assert!(!repo_dir.join("packed-refs.lock").exists());
}
