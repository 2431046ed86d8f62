//! Git sources for the gitops toolkit, over gix.
//!
//! [`GitSource`] implements [`gitops_core::Source`]: it clones or fetches a repository into a
//! bare cache directory (one per URL, reused across fetches), resolves references
//! (`HEAD`, branches, tags, full ref names, commit ids) to a [`Revision`], and opens a
//! [`GitTree`]: a [`FileTree`] read straight from the object database, with no checkout.
//!
//! ```no_run
//! # async fn example() -> Result<(), gitops_git::Error> {
//! use gitops_core::{FileTree, Source};
//! use gitops_git::GitSource;
//! let source = GitSource::new("/var/cache/gitops")?;
//! let rev = source.resolve("file:///srv/git/config.git", "HEAD").await?;
//! let tree = source.open(&rev).await?;
//! println!("{}", tree.read_to_string("overlays/prod/kustomization.yaml")?);
//! # Ok(()) }
//! ```
//!
//! **Status**: local paths and `file://` URLs (and any URL gix's blocking client serves
//! without credentials) work; authentication, semver ranges, shallow fetches and pushing are
//! the work left for the Git issue.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gitops_core::tree::{DirEntry, EntryKind, FileTree, normalize};
use gitops_core::{Revision, Source};

/// Everything that can go wrong in gitops-git.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference does not exist in the repository.
    #[error("{repo_url}: unknown revision {reference:?}")]
    UnknownRevision {
        /// The repository (credentials removed).
        repo_url: String,
        /// The reference asked for.
        reference: String,
    },
    /// Cloning or fetching failed.
    #[error("{repo_url}: fetch failed: {reason}")]
    Fetch {
        /// The repository (credentials removed).
        repo_url: String,
        /// Why.
        reason: String,
    },
    /// The cache directory could not be used.
    #[error("cache {path}: {reason}")]
    Cache {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// Reading objects failed.
    #[error("{repo_url}: {reason}")]
    Read {
        /// The repository.
        repo_url: String,
        /// Why.
        reason: String,
    },
    /// A file tree error.
    #[error(transparent)]
    Tree(#[from] gitops_core::Error),
}

/// Removes credentials (`user:password@`) from a URL, for errors and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A Git [`Source`] with a bare cache directory per repository URL.
#[derive(Clone, Debug)]
pub struct GitSource {
    cache: PathBuf,
    locks: Arc<Mutex<std::collections::HashMap<String, Arc<Mutex<()>>>>>,
}

impl GitSource {
    /// A source caching repositories under `cache_dir` (created if missing).
    pub fn new(cache_dir: impl AsRef<Path>) -> Result<Self, Error> {
        let cache = cache_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&cache)
            .map_err(|e| Error::Cache { path: cache.display().to_string(), reason: e.to_string() })?;
        Ok(GitSource { cache, locks: Arc::default() })
    }

    fn cache_path(&self, url: &str) -> PathBuf {
        // FNV-1a of the URL: a stable directory name without the URL's characters.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in url.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let tail: String = url
            .rsplit('/')
            .next()
            .unwrap_or("repo")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
            .collect();
        self.cache.join(format!("{h:016x}-{tail}"))
    }

    fn lock_for(&self, url: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().expect("lock map");
        locks.entry(url.to_string()).or_default().clone()
    }

    /// Clones the repository into the cache, or fetches into the existing clone; returns the
    /// cache directory. Two callers for the same URL take turns; a cache that cannot be opened
    /// is removed and cloned again.
    pub fn sync(&self, url: &str) -> Result<PathBuf, Error> {
        let lock = self.lock_for(url);
        let _guard = lock.lock().expect("repository lock");
        let path = self.cache_path(url);
        let fetch_err = |e: &dyn std::fmt::Display| Error::Fetch { repo_url: redact(url), reason: e.to_string() };
        let interrupt = AtomicBool::new(false);
        if path.exists() {
            match gix::open(&path) {
                Ok(repo) => {
                    // A bare mirror of branches and tags: the remote's refs land under the same
                    // names, so revisions resolve as they do upstream.
                    let remote = repo
                        .find_remote("origin")
                        .map_err(|e| fetch_err(&e))?
                        .with_refspecs(
                            ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                            gix::remote::Direction::Fetch,
                        )
                        .map_err(|e| fetch_err(&e))?;
                    remote
                        .connect(gix::remote::Direction::Fetch)
                        .map_err(|e| fetch_err(&e))?
                        .prepare_fetch(gix::progress::Discard, Default::default())
                        .map_err(|e| fetch_err(&e))?
                        .receive(gix::progress::Discard, &interrupt)
                        .map_err(|e| fetch_err(&e))?;
                    return Ok(path);
                }
                Err(_) => {
                    tracing::warn!(cache = %path.display(), "corrupt repository cache, cloning again");
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| Error::Cache { path: path.display().to_string(), reason: e.to_string() })?;
                }
            }
        }
        let mut prepare = gix::prepare_clone_bare(url, &path).map_err(|e| fetch_err(&e))?;
        prepare.fetch_only(gix::progress::Discard, &interrupt).map_err(|e| fetch_err(&e))?;
        Ok(path)
    }

    fn resolve_blocking(&self, url: &str, reference: &str) -> Result<Revision, Error> {
        let path = self.sync(url)?;
        let repo = gix::open(&path).map_err(|e| Error::Read { repo_url: redact(url), reason: e.to_string() })?;
        let unknown = || Error::UnknownRevision { repo_url: redact(url), reference: reference.to_string() };
        let candidates: Vec<String> = if reference.is_empty() || reference == "HEAD" {
            vec!["HEAD".into()]
        } else if reference.starts_with("refs/") {
            vec![reference.into()]
        } else {
            vec![format!("refs/heads/{reference}"), format!("refs/tags/{reference}"), reference.into()]
        };
        for spec in candidates {
            if let Ok(id) = repo.rev_parse_single(spec.as_str()) {
                let commit = id.object().ok().and_then(|o| o.peel_to_commit().ok()).ok_or_else(unknown)?;
                let full = if spec == reference && !spec.starts_with("refs/") && spec != "HEAD" {
                    commit.id.to_string()
                } else {
                    spec
                };
                return Ok(Revision { repo_url: url.to_string(), commit: commit.id.to_string(), reference: full });
            }
        }
        Err(unknown())
    }
}

#[async_trait]
impl Source for GitSource {
    type Tree = GitTree;
    type Error = Error;

    async fn resolve(&self, repo_url: &str, reference: &str) -> Result<Revision, Error> {
        let this = self.clone();
        let (url, reference) = (repo_url.to_string(), reference.to_string());
        tokio::task::spawn_blocking(move || this.resolve_blocking(&url, &reference))
            .await
            .map_err(|e| Error::Read { repo_url: redact(repo_url), reason: e.to_string() })?
    }

    async fn open(&self, revision: &Revision) -> Result<GitTree, Error> {
        let path = self.cache_path(&revision.repo_url);
        GitTree::open(&path, &revision.repo_url, &revision.commit)
    }

    async fn changed(&self, from: &Revision, to: &Revision, path: &str) -> Result<bool, Error> {
        if from.commit == to.commit {
            return Ok(false);
        }
        let a = self.open(from).await?;
        let b = self.open(to).await?;
        Ok(a.id_of(path)? != b.id_of(path)?)
    }
}

/// The tree of one commit, read from the object database.
#[derive(Clone)]
pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    tree: gix::ObjectId,
    url: String,
}

impl std::fmt::Debug for GitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTree").field("tree", &self.tree).field("url", &redact(&self.url)).finish()
    }
}

impl GitTree {
    /// Opens the tree of `commit` in the repository at `path`.
    pub fn open(path: &Path, url: &str, commit: &str) -> Result<Self, Error> {
        let read = |e: &dyn std::fmt::Display| Error::Read { repo_url: redact(url), reason: e.to_string() };
        let repo = gix::open(path).map_err(|e| read(&e))?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| read(&e))?;
        let tree = repo.find_object(id).map_err(|e| read(&e))?.peel_to_tree().map_err(|e| read(&e))?.id;
        Ok(GitTree { repo: repo.into_sync(), tree, url: url.to_string() })
    }

    fn err(&self, path: &str, reason: impl std::fmt::Display) -> gitops_core::Error {
        gitops_core::Error::FileTree { path: path.to_string(), reason: reason.to_string() }
    }

    /// The object id at a path (tree or blob), `None` when absent: equal ids mean equal content.
    pub fn id_of(&self, path: &str) -> Result<Option<String>, gitops_core::Error> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Ok(Some(self.tree.to_string()));
        }
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(self.tree).map_err(|e| self.err(&p, e))?;
        Ok(tree.lookup_entry_by_path(&p).map_err(|e| self.err(&p, e))?.map(|e| e.object_id().to_string()))
    }

    /// Follows symlinks inside the repository; refuses those that leave it.
    fn entry(&self, path: &str, depth: usize) -> Result<Option<(gix::ObjectId, EntryKind)>, gitops_core::Error> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Ok(Some((self.tree, EntryKind::Dir)));
        }
        if depth > 16 {
            return Err(self.err(&p, "too many levels of symbolic links"));
        }
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(self.tree).map_err(|e| self.err(&p, e))?;
        // Resolve parent directories first, so links in the middle of a path are followed.
        if let Some((parent, name)) = p.rsplit_once('/') {
            if let Some((pid, EntryKind::Dir)) = self.entry(parent, depth)? {
                let ptree = repo.find_tree(pid).map_err(|e| self.err(&p, e))?;
                return self.entry_in(&repo, &ptree, parent, name, depth);
            }
            return Ok(None);
        }
        self.entry_in(&repo, &tree, "", &p, depth)
    }

    fn entry_in(
        &self,
        repo: &gix::Repository,
        tree: &gix::Tree<'_>,
        parent: &str,
        name: &str,
        depth: usize,
    ) -> Result<Option<(gix::ObjectId, EntryKind)>, gitops_core::Error> {
        let full = if parent.is_empty() { name.to_string() } else { format!("{parent}/{name}") };
        let Some(entry) = tree.lookup_entry_by_path(name).map_err(|e| self.err(&full, e))? else { return Ok(None) };
        let mode = entry.mode();
        if mode.is_commit() {
            return Err(self.err(&full, "is a Git submodule, which is not supported"));
        }
        if mode.is_link() {
            let blob = repo.find_blob(entry.object_id()).map_err(|e| self.err(&full, e))?;
            let target = String::from_utf8_lossy(&blob.data).to_string();
            if target.starts_with('/') {
                return Err(self.err(&full, format!("symlink to {target:?} points outside the repository")));
            }
            let joined = if parent.is_empty() { target.clone() } else { format!("{parent}/{target}") };
            let resolved = normalize(&joined)
                .map_err(|_| self.err(&full, format!("symlink to {target:?} points outside the repository")))?;
            return self.entry(&resolved, depth + 1);
        }
        let kind = if mode.is_tree() { EntryKind::Dir } else { EntryKind::File };
        Ok(Some((entry.object_id(), kind)))
    }
}

impl FileTree for GitTree {
    fn read(&self, path: &str) -> gitops_core::Result<Vec<u8>> {
        match self.entry(path, 0)? {
            Some((id, EntryKind::File)) => {
                let repo = self.repo.to_thread_local();
                let blob = repo.find_blob(id).map_err(|e| self.err(path, e))?;
                Ok(blob.data.to_vec())
            }
            Some((_, EntryKind::Dir)) => Err(self.err(path, "is a directory")),
            None => Err(gitops_core::Error::NotFound { path: path.to_string() }),
        }
    }

    fn list(&self, dir: &str) -> gitops_core::Result<Vec<DirEntry>> {
        let (id, kind) = self.entry(dir, 0)?.ok_or_else(|| gitops_core::Error::NotFound { path: dir.to_string() })?;
        if kind != EntryKind::Dir {
            return Err(self.err(dir, "not a directory"));
        }
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(id).map_err(|e| self.err(dir, e))?;
        let base = normalize(dir)?;
        let mut out = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.err(dir, e))?;
            let name = entry.filename().to_string();
            let full = if base.is_empty() { name.clone() } else { format!("{base}/{name}") };
            if let Ok(Some((_, kind))) = self.entry(&full, 0) {
                out.push(DirEntry { name, kind });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn kind(&self, path: &str) -> gitops_core::Result<Option<EntryKind>> {
        Ok(self.entry(path, 0)?.map(|(_, k)| k))
    }
}
