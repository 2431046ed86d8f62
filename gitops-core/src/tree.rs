//! File trees: what a renderer reads, whether from a Git commit, a directory or memory.
//!
//! Paths inside a tree are relative, separated by `/`; `""` and `"."` name the root.
//! [`normalize`] resolves `.` and `..` and refuses paths that climb above the root, so no
//! implementation can be led outside its tree by a path.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What a path in a tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (no `/`).
    pub name: String,
    /// File or directory (symlinks resolved).
    pub kind: EntryKind,
}

/// A read-only tree of files.
///
/// Contract: paths are normalized with [`normalize`] (a path above the root is an
/// [`Error::FileTree`]); a missing path is [`Error::NotFound`]; symlinks are followed when
/// they stay inside the tree and refused otherwise; [`FileTree::list`] returns entries
/// sorted by name. Implementations are cheap to share across threads.
pub trait FileTree: Send + Sync {
    /// The bytes of a file.
    fn read(&self, path: &str) -> Result<Vec<u8>>;

    /// The entries of a directory, sorted by name.
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>>;

    /// What the path is, `None` when it does not exist.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>>;

    /// The path with every symlink resolved (where the entry really is inside the tree), or
    /// `None` when it does not exist. A load restrictor applies to this path, as Kustomize's
    /// applies to the real location of a file. Trees without symlinks return the normalized
    /// path.
    fn real_path(&self, path: &str) -> Result<Option<String>> {
        let p = normalize(path)?;
        Ok(self.kind(&p)?.map(|_| p))
    }

    /// The tree path of an absolute filesystem path (`/home/me/repo/base/cm.yaml`), for a
    /// tree that is a directory on disk and a path inside it (`..` is resolved as written,
    /// as Go's `filepath.Clean` does); `None` otherwise: a tree with no place on disk (a Git
    /// object tree, a tree in memory) has no absolute paths.
    fn tree_path_of(&self, _path: &str) -> Option<String> {
        None
    }

    /// A file as UTF-8 text.
    fn read_to_string(&self, path: &str) -> Result<String> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|_| Error::FileTree { path: path.into(), reason: "not valid UTF-8".into() })
    }
}

impl<T: FileTree + ?Sized> FileTree for &T {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        (**self).read(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>> {
        (**self).list(dir)
    }
    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        (**self).kind(path)
    }
    fn real_path(&self, path: &str) -> Result<Option<String>> {
        (**self).real_path(path)
    }
    fn tree_path_of(&self, path: &str) -> Option<String> {
        (**self).tree_path_of(path)
    }
}

impl<T: FileTree + ?Sized> FileTree for std::sync::Arc<T> {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        (**self).read(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>> {
        (**self).list(dir)
    }
    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        (**self).kind(path)
    }
    fn real_path(&self, path: &str) -> Result<Option<String>> {
        (**self).real_path(path)
    }
    fn tree_path_of(&self, path: &str) -> Option<String> {
        (**self).tree_path_of(path)
    }
}

/// Normalizes a tree path: drops `.` and empty segments, resolves `..`, and refuses a path
/// that climbs above the root.
///
/// ```
/// use gitops_core::tree::normalize;
/// assert_eq!(normalize("overlays/prod/../../base/").unwrap(), "base");
/// assert_eq!(normalize("./").unwrap(), "");
/// assert!(normalize("../secrets").is_err());
/// ```
pub fn normalize(path: &str) -> Result<String> {
    normalized(path).map(Cow::into_owned)
}

/// [`normalize`], borrowed when the path already is normal (as nearly every path a build
/// looks up is: it was joined by [`join`]).
fn normalized(path: &str) -> Result<Cow<'_, str>> {
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    normalize_segments(path).map(Cow::Owned)
}

fn normalize_segments(path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::FileTree {
                        path: path.into(),
                        reason: "the path leaves the root of the tree".into(),
                    });
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// Joins a directory and a relative path, then normalizes.
pub fn join(dir: &str, rel: &str) -> Result<String> {
    if dir.is_empty() {
        normalize(rel)
    } else if !rel.is_empty() && is_normal(dir) && is_normal(rel) {
        Ok(slash_joined(dir, rel))
    } else {
        normalize(&slash_joined(dir, rel))
    }
}

/// `dir/rel`, built by hand: `format!` costs ten times as much, and a build joins every path
/// it reads.
fn slash_joined(dir: &str, rel: &str) -> String {
    let mut joined = String::with_capacity(dir.len() + 1 + rel.len());
    joined.push_str(dir);
    joined.push('/');
    joined.push_str(rel);
    joined
}

/// Whether a path is already what [`normalize`] makes of it: no empty, `.` or `..` segment.
fn is_normal(path: &str) -> bool {
    // One pass over the bytes, counting each segment's length and dots (a segment of dots
    // alone, at most two, is "", "." or ".."): this runs for every path a build touches.
    if path.is_empty() {
        return true;
    }
    let (mut len, mut dots) = (0usize, 0usize);
    for &c in path.as_bytes() {
        if c == b'/' {
            if len == dots && len <= 2 {
                return false;
            }
            (len, dots) = (0, 0);
        } else {
            len += 1;
            dots += usize::from(c == b'.');
        }
    }
    !(len == dots && len <= 2)
}

/// A tree held in memory: path to bytes; directories are implied by the paths.
///
/// ```
/// use gitops_core::tree::{FileTree, MemTree};
/// let tree = MemTree::new().with_file("base/cm.yaml", "a: b\n");
/// assert_eq!(tree.read_to_string("base/../base/cm.yaml").unwrap(), "a: b\n");
/// assert_eq!(tree.list("base").unwrap()[0].name, "cm.yaml");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    /// Shared, so that a clone (a source handing out a commit's tree) costs no copy.
    files: std::sync::Arc<BTreeMap<String, Vec<u8>>>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (builder style). The path is normalized; a path above the root panics,
    /// as it is a programming error in the caller's fixture.
    pub fn with_file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.insert(path, content).expect("a path inside the tree");
        self
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: &str, content: impl Into<Vec<u8>>) -> Result<()> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Err(Error::FileTree { path: path.into(), reason: "a file cannot be the root".into() });
        }
        std::sync::Arc::make_mut(&mut self.files).insert(p, content.into());
        Ok(())
    }

    /// Every file path.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

impl FileTree for MemTree {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = normalize(path)?;
        match self.files.get(&p) {
            Some(b) => Ok(b.clone()),
            None if self.kind(&p)? == Some(EntryKind::Dir) => {
                Err(Error::FileTree { path: p, reason: "is a directory".into() })
            }
            None => Err(Error::NotFound { path: p }),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<DirEntry>> {
        let d = normalize(dir)?;
        let prefix = if d.is_empty() { String::new() } else { format!("{d}/") };
        let mut out: BTreeMap<String, EntryKind> = BTreeMap::new();
        for p in self.files.range(prefix.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&prefix)) {
            let rest = &p[prefix.len()..];
            match rest.split_once('/') {
                Some((name, _)) => out.insert(name.into(), EntryKind::Dir),
                None => out.insert(rest.into(), EntryKind::File),
            };
        }
        if out.is_empty() {
            return match self.files.contains_key(&d) {
                true => Err(Error::FileTree { path: d, reason: "not a directory".into() }),
                false if d.is_empty() => Ok(Vec::new()),
                false => Err(Error::NotFound { path: d }),
            };
        }
        Ok(out.into_iter().map(|(name, kind)| DirEntry { name, kind }).collect())
    }

    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Ok(Some(EntryKind::Dir));
        }
        if self.files.contains_key(&p) {
            return Ok(Some(EntryKind::File));
        }
        let prefix = format!("{p}/");
        Ok(self.files.range(prefix.clone()..).next().filter(|(k, _)| k.starts_with(&prefix)).map(|_| EntryKind::Dir))
    }
}

/// A tree over a local directory. Symlinks are followed only while they stay inside the
/// root directory. The resolved (symlink-free) path of each directory is remembered for the
/// tree's lifetime, so reading many files costs one `lstat` each rather than a walk of every
/// path component; files themselves are read afresh each time.
///
/// [`DirTree::snapshot`] remembers every lookup instead (what each path is, and where it
/// really is), for a one-off job such as a build: each path is looked up once, and a file is
/// read with no lookup of its own when it was looked up before.
#[derive(Clone, Debug)]
pub struct DirTree {
    root: PathBuf,
    dirs: std::sync::Arc<Shards<KnownDir>>,
    entries: Option<Snapshot>,
}

/// A directory's resolved path, and whether it is the path as written under the root (no
/// symlink on the way), so that what is in it is where its name says.
#[derive(Clone, Debug)]
struct KnownDir {
    full: PathBuf,
    as_written: bool,
}

/// What [`DirTree::snapshot`] saw of each path.
type Snapshot = std::sync::Arc<Shards<Seen>>;

/// A map from paths split into shards, each behind a lock of its own: the threads of a build
/// look paths up all the time, and with one lock they waited for each other (a thread that
/// finds the lock held sleeps, and on a busy machine wakes up late), most of all while the
/// other grew the whole map. A path is hashed once, for its shard and its place in it.
#[derive(Debug)]
struct Shards<V> {
    hasher: foldhash::fast::RandomState,
    shards: Box<[std::sync::Mutex<Table<V>>]>,
}

/// One shard's entries: paths with what is known of them.
type Table<V> = hashbrown::HashTable<(Box<str>, V)>;

/// How many shards: enough that two or three threads seldom meet on one.
const SHARDS: usize = 32;

impl<V> Default for Shards<V> {
    fn default() -> Self {
        Self { hasher: Default::default(), shards: (0..SHARDS).map(|_| Default::default()).collect() }
    }
}

impl<V> Shards<V> {
    /// The locked shard that holds `key`, ready to look it up or set it.
    fn lock<'k>(&self, key: &'k str) -> Result<Shard<'_, 'k, V>> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(key);
        // Bits the table does not use to place an entry (it takes the low ones and the top 7).
        let table = self.shards[(hash >> 32) as usize % SHARDS].lock().map_err(|_| poisoned())?;
        Ok(Shard { hasher: &self.hasher, table, key, hash })
    }
}

/// One key's shard, locked.
struct Shard<'a, 'k, V> {
    hasher: &'a foldhash::fast::RandomState,
    table: std::sync::MutexGuard<'a, Table<V>>,
    key: &'k str,
    hash: u64,
}

impl<V> Shard<'_, '_, V> {
    fn get(&self) -> Option<&V> {
        self.table.find(self.hash, |(k, _)| **k == *self.key).map(|(_, v)| v)
    }

    fn get_mut(&mut self) -> Option<&mut V> {
        let (hash, key) = (self.hash, self.key);
        self.table.find_mut(hash, |(k, _)| **k == *key).map(|(_, v)| v)
    }

    fn insert(mut self, value: V) {
        use std::hash::BuildHasher;
        // One probe finds the key or the slot for it.
        let (hasher, key) = (self.hasher, self.key);
        match self.table.entry(self.hash, |(k, _)| **k == *key, |(k, _)| hasher.hash_one(&**k)) {
            hashbrown::hash_table::Entry::Occupied(mut old) => old.get_mut().1 = value,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((key.into(), value));
            }
        }
    }
}

/// What a snapshot remembers of a path it looked up. Only paths with no symlink in their last
/// step are remembered (their location follows from their directory's); one through a symlink
/// is looked up again each time.
#[derive(Clone, Debug)]
enum Seen {
    Missing,
    File,
    Dir,
    /// A file read when it was looked up (its bytes serve the read that follows).
    Read(Vec<u8>),
}

/// The largest file a lookup reads ahead; a bigger one is read when it is asked for.
const READ_AHEAD_LIMIT: u64 = 1 << 20;

impl DirTree {
    /// A tree rooted at a directory, which must exist.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let canonical = root
            .canonicalize()
            .map_err(|e| Error::FileTree { path: root.display().to_string(), reason: e.to_string() })?;
        if !canonical.is_dir() {
            return Err(Error::FileTree { path: root.display().to_string(), reason: "not a directory".into() });
        }
        Ok(Self { root: canonical, dirs: Default::default(), entries: None })
    }

    /// A tree that remembers what every path it was asked about is (a file, a directory,
    /// missing) for its lifetime: a consistent view for one job, with fewer system calls. A
    /// file created or removed after its path was looked up is not seen. Looking up a path
    /// that names a file (it has an extension) reads it, and the first read of it returns
    /// those bytes: one `open` where a lookup and a read would take a `stat` and an `open`;
    /// later reads are afresh.
    pub fn snapshot(root: impl AsRef<Path>) -> Result<Self> {
        Ok(Self { entries: Some(Default::default()), ..Self::new(root)? })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> Result<Option<PathBuf>> {
        Ok(self.resolve_kind(path, false, true)?.and_then(|(p, _)| p))
    }

    /// The resolved path of an entry (when `want_path`, or when it had to be looked up) and
    /// whether it is a directory (one `lstat` when it is not a symlink). With `read_ahead`, a
    /// snapshot looks up a path that names a file by opening and reading it instead, and keeps
    /// the bytes for the read that follows.
    fn resolve_kind(&self, path: &str, read_ahead: bool, want_path: bool) -> Result<Option<(Option<PathBuf>, bool)>> {
        let found = |f: Option<(PathBuf, bool)>| f.map(|(full, is_dir)| (Some(full), is_dir));
        let p = normalized(path)?;
        if p.is_empty() {
            return Ok(Some((Some(self.root.clone()), true)));
        }
        let Some(entries) = &self.entries else { return Ok(found(self.look_up(&p)?.0)) };
        let known = entries.lock(&p)?.get().map(|seen| match seen {
            Seen::Missing => None,
            Seen::Dir => Some(true),
            Seen::File | Seen::Read(_) => Some(false),
        });
        match known {
            Some(None) => return Ok(None),
            // What it is is known: its path is worked out only when asked for.
            Some(Some(is_dir)) if !want_path => return Ok(Some((None, is_dir))),
            Some(Some(is_dir)) => {
                if let Some(full) = self.in_resolved_dir(&p)? {
                    return Ok(Some((Some(full), is_dir)));
                }
            }
            None => {}
        }
        if read_ahead
            && has_extension(&p)
            && let Some(full) = self.in_resolved_dir(&p)?
            && let Some(seen) = read_plain(&full)
        {
            let result = match seen {
                Seen::Missing => None,
                Seen::Dir => {
                    self.remember_dir(&p, full.clone())?;
                    Some((full, true))
                }
                Seen::File | Seen::Read(_) => Some((full, false)),
            };
            entries.lock(&p)?.insert(seen);
            return Ok(found(result));
        }
        let (result, plain) = self.look_up(&p)?;
        if plain {
            let seen = match &result {
                None => Seen::Missing,
                Some((_, true)) => Seen::Dir,
                Some((_, false)) => Seen::File,
            };
            entries.lock(&p)?.insert(seen);
        }
        Ok(found(result))
    }

    /// The bytes a snapshot read when it looked the (normalized) path up, once.
    fn take_read_ahead(&self, p: &str) -> Result<Option<Vec<u8>>> {
        let Some(entries) = &self.entries else { return Ok(None) };
        let mut shard = entries.lock(p)?;
        let Some(seen) = shard.get_mut() else { return Ok(None) };
        let Seen::Read(bytes) = seen else { return Ok(None) };
        let bytes = std::mem::take(bytes);
        *seen = Seen::File;
        Ok(Some(bytes))
    }

    /// Where a path is when its directory is resolved (symlinks followed), with its last
    /// step as written; `None` when the directory is not there.
    fn in_resolved_dir(&self, p: &str) -> Result<Option<PathBuf>> {
        let (parent, name) = p.rsplit_once('/').unwrap_or(("", p));
        // A known directory's path is joined in place: one allocation, not a copy and a join.
        if !parent.is_empty()
            && let Some(known) = self.dirs.lock(parent)?.get()
        {
            let mut full = PathBuf::with_capacity(known.full.as_os_str().len() + 1 + name.len());
            full.push(&known.full);
            full.push(name);
            return Ok(Some(full));
        }
        Ok(self.resolve_dir(parent)?.map(|dir| dir.join(name)))
    }

    /// The resolved path of an entry and whether it is a directory, and whether that took no
    /// symlink in the last step.
    fn look_up(&self, p: &str) -> Result<(Option<(PathBuf, bool)>, bool)> {
        let Some(full) = self.in_resolved_dir(p)? else { return Ok((None, true)) };
        match std::fs::symlink_metadata(&full) {
            // Not a symlink: its path is already free of them. A directory is remembered as
            // `resolve_dir` remembers it, for the files that will be read in it.
            Ok(m) if !m.file_type().is_symlink() => {
                if m.is_dir() {
                    self.remember_dir(p, full.clone())?;
                }
                Ok((Some((full, m.is_dir())), true))
            }
            Ok(_) => Ok((
                self.canonical(p, &full)?.map(|c| {
                    let is_dir = c.is_dir();
                    (c, is_dir)
                }),
                false,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, true)),
            Err(e) => Err(Error::FileTree { path: p.into(), reason: e.to_string() }),
        }
    }

    /// A directory's resolved path, remembered. It is found from its parent's: one `lstat`
    /// when it is not a symlink, a full resolution only when it is.
    fn resolve_dir(&self, dir: &str) -> Result<Option<PathBuf>> {
        if dir.is_empty() {
            return Ok(Some(self.root.clone()));
        }
        if let Some(known) = self.dirs.lock(dir)?.get() {
            return Ok(Some(known.full.clone()));
        }
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let Some(parent) = self.resolve_dir(parent)? else { return Ok(None) };
        let full = parent.join(name);
        let resolved = match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => Some(full),
            // A file where a directory is named: nothing to resolve under it.
            Ok(m) if !m.file_type().is_symlink() => return Ok(None),
            Ok(_) => self.canonical(dir, &full)?.filter(|c| c.is_dir()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => None,
            Err(e) => return Err(Error::FileTree { path: dir.into(), reason: e.to_string() }),
        };
        // Only found directories are remembered: one created later is still seen.
        if let Some(found) = &resolved {
            self.remember_dir(dir, found.clone())?;
        }
        Ok(resolved)
    }

    /// Remembers a directory's resolved path.
    fn remember_dir(&self, dir: &str, full: PathBuf) -> Result<()> {
        let as_written = full.strip_prefix(&self.root).ok().and_then(Path::to_str) == Some(dir);
        self.dirs.lock(dir)?.insert(KnownDir { full, as_written });
        Ok(())
    }

    /// A snapshot's answer to [`FileTree::real_path`] from what it knows, with no lookup and
    /// no path built: a known directory whose resolved path is as written, or a known entry
    /// (looked up with no symlink in its last step) in one. `None` leaves it to the full
    /// resolution.
    fn known_real_path(&self, p: &str) -> Result<Option<String>> {
        let Some(entries) = &self.entries else { return Ok(None) };
        if self.dirs.lock(p)?.get().is_some_and(|d| d.as_written) {
            return Ok(Some(p.to_string()));
        }
        let parent = p.rsplit_once('/').map_or("", |(parent, _)| parent);
        if !parent.is_empty() && !self.dirs.lock(parent)?.get().is_some_and(|d| d.as_written) {
            return Ok(None);
        }
        let known = entries.lock(p)?.get().is_some_and(|seen| !matches!(seen, Seen::Missing));
        Ok(known.then(|| p.to_string()))
    }

    fn canonical(&self, p: &str, full: &Path) -> Result<Option<PathBuf>> {
        match full.canonicalize() {
            Ok(c) if c.starts_with(&self.root) => Ok(Some(c)),
            Ok(_) => Err(Error::FileTree { path: p.into(), reason: "a symlink points outside the tree".into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::FileTree { path: p.into(), reason: e.to_string() }),
        }
    }
}

/// Whether a path's last step has an extension (`kustomization.yaml`, `cm.json`), as files'
/// names mostly do and directories' mostly do not: a guess for choosing the cheaper way to
/// look a path up, never for what the path is. A snapshot looks such a path up by reading it,
/// a directory with one `lstat` (which costs less than opening it).
pub fn has_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    // By bytes: a '.' is never part of a multi-byte character, whose first byte may start the
    // name (slicing the text there would panic).
    name.len() > 1 && name.as_bytes()[1..].contains(&b'.')
}

/// Opens a path (whose directory is resolved) without following a symlink in its last step,
/// and reads it: missing, a directory, or a file with its bytes (`Seen::Read`). `None` leaves
/// the path to [`DirTree::look_up`]: a symlink, a file bigger than [`READ_AHEAD_LIMIT`], any
/// error but a missing entry (which `look_up` reports as it always does).
#[cfg(unix)]
fn read_plain(full: &Path) -> Option<Seen> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO's open does not wait for a writer.
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(full);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Seen::Missing),
        Err(_) => return None,
    };
    let mut bytes = Vec::with_capacity(8 << 10);
    match file.take(READ_AHEAD_LIMIT + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= READ_AHEAD_LIMIT => Some(Seen::Read(bytes)),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Some(Seen::Dir),
        Err(_) => None,
    }
}

#[cfg(not(unix))]
fn read_plain(_full: &Path) -> Option<Seen> {
    None
}

/// A file's bytes, read without asking its size first: the files of a config repository are
/// small, and that `fstat` would be a third of the system calls of reading one.
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(8 << 10);
    // `Take` reads to the end with no size hint.
    file.take(u64::MAX).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn poisoned() -> Error {
    Error::FileTree { path: String::new(), reason: "the directory cache lock was poisoned".into() }
}

impl FileTree for DirTree {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = normalized(path)?;
        if let Some(bytes) = self.take_read_ahead(&p)? {
            return Ok(bytes);
        }
        let full = self.resolve(&p)?.ok_or_else(|| Error::NotFound { path: path.into() })?;
        read_file(&full).map_err(|e| Error::FileTree { path: path.into(), reason: e.to_string() })
    }

    fn list(&self, dir: &str) -> Result<Vec<DirEntry>> {
        let full = self.resolve(dir)?.ok_or_else(|| Error::NotFound { path: dir.into() })?;
        let rd = std::fs::read_dir(&full).map_err(|e| Error::FileTree { path: dir.into(), reason: e.to_string() })?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::FileTree { path: dir.into(), reason: e.to_string() })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = join(dir, &name)?;
            // Entries whose symlinks leave the tree are left out of listings; reading
            // them by name gives the error.
            if let Ok(Some((_, is_dir))) = self.resolve_kind(&child, false, false) {
                let kind = if is_dir { EntryKind::Dir } else { EntryKind::File };
                out.push(DirEntry { name, kind });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        Ok(self.resolve_kind(path, true, false)?.map(|(_, dir)| if dir { EntryKind::Dir } else { EntryKind::File }))
    }

    fn tree_path_of(&self, path: &str) -> Option<String> {
        if !path.starts_with('/') {
            return None;
        }
        let p = normalize(path).ok()?;
        let root = self.root.to_str()?.trim_start_matches('/');
        if root.is_empty() {
            return Some(p);
        }
        if p == root {
            return Some(String::new());
        }
        p.strip_prefix(root).and_then(|rest| rest.strip_prefix('/')).map(str::to_string)
    }

    fn real_path(&self, path: &str) -> Result<Option<String>> {
        let p = normalized(path)?;
        if p.is_empty() {
            return Ok(Some(String::new()));
        }
        if let Some(known) = self.known_real_path(&p)? {
            return Ok(Some(known));
        }
        let Some(full) = self.resolve(&p)? else { return Ok(None) };
        // Resolved paths are canonical and inside the root (`canonical` refuses the others).
        let rel = full
            .strip_prefix(&self.root)
            .map_err(|_| Error::FileTree { path: path.into(), reason: "a symlink points outside the tree".into() })?;
        let text = rel
            .to_str()
            .ok_or_else(|| Error::FileTree { path: path.into(), reason: "the path is not valid UTF-8".into() })?;
        Ok(Some(text.replace(std::path::MAIN_SEPARATOR, "/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_normal_agrees_with_a_segment_by_segment_reading() {
        // Every path of up to six characters from an alphabet of the characters that matter.
        let by_segments = |p: &str| p.is_empty() || p.split('/').all(|s| !matches!(s, "" | "." | ".."));
        let alphabet = ['a', '.', '/', '\u{e9}'];
        let mut paths = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> =
                paths.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            for p in &longer {
                assert_eq!(is_normal(p), by_segments(p), "{p:?}");
            }
            paths = longer;
        }
        assert!(is_normal("apps/app0017/overlays/prod/kustomization.yaml"));
        assert!(is_normal("a/.hidden/...x/..."));
        for p in ["a/../b", "./a", "a/.", "a//b", "/a", "a/"] {
            assert!(!is_normal(p), "{p:?}");
        }
    }

    #[test]
    fn has_extension_takes_any_first_character() {
        assert!(super::has_extension("a/\u{48e}aml.yaml"));
        assert!(!super::has_extension("\u{48e}aml"));
        assert!(!super::has_extension(".hidden"));
    }

    #[test]
    fn mem_tree() {
        let t = MemTree::new().with_file("a/b/c.yaml", "x").with_file("a/d.yaml", "y").with_file("e", "z");
        assert_eq!(t.read("a/b/c.yaml").unwrap(), b"x");
        assert_eq!(t.kind("a").unwrap(), Some(EntryKind::Dir));
        assert_eq!(t.kind("a/d.yaml").unwrap(), Some(EntryKind::File));
        assert_eq!(t.kind("nope").unwrap(), None);
        let names: Vec<_> = t.list("a").unwrap().into_iter().map(|e| (e.name, e.kind)).collect();
        assert_eq!(names, [("b".to_string(), EntryKind::Dir), ("d.yaml".to_string(), EntryKind::File)]);
        assert_eq!(t.list("").unwrap().len(), 2);
        assert!(matches!(t.read("missing"), Err(Error::NotFound { .. })));
        assert!(matches!(t.read("a"), Err(Error::FileTree { .. })));
        assert!(matches!(t.list("e"), Err(Error::FileTree { .. })));
        assert!(t.read("../etc/passwd").is_err());
        assert!(MemTree::new().insert("..", "x").is_err());
    }

    #[test]
    fn absolute_paths_map_into_a_tree_on_disk_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let abs = root.to_str().unwrap();
        let tree = DirTree::new(&root).unwrap();
        assert_eq!(tree.tree_path_of(&format!("{abs}/a/b.yaml")).as_deref(), Some("a/b.yaml"));
        assert_eq!(tree.tree_path_of(&format!("{abs}/a/../c/./d.yaml")).as_deref(), Some("c/d.yaml"));
        assert_eq!(tree.tree_path_of(abs).as_deref(), Some(""));
        // Beside the root, above it, and a name that only starts like it.
        assert_eq!(tree.tree_path_of(&format!("{abs}/../x")), None);
        assert_eq!(tree.tree_path_of(&format!("{abs}x/a.yaml")), None);
        assert_eq!(tree.tree_path_of("/../../x"), None);
        assert_eq!(tree.tree_path_of("a/b.yaml"), None, "a relative path is not absolute");
        assert_eq!(DirTree::new("/").unwrap().tree_path_of("/etc/x/../hosts").as_deref(), Some("etc/hosts"));
        assert_eq!(MemTree::new().with_file("a", "x").tree_path_of("/a"), None);
    }

    #[test]
    fn dir_tree_refuses_symlinks_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("base")).unwrap();
        std::fs::write(dir.path().join("base/cm.yaml"), "x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("base/leak")).unwrap();
            std::os::unix::fs::symlink("cm.yaml", dir.path().join("base/alias.yaml")).unwrap();
        }
        let t = DirTree::new(dir.path()).unwrap();
        assert_eq!(t.read("base/cm.yaml").unwrap(), b"x");
        assert_eq!(t.kind("base").unwrap(), Some(EntryKind::Dir));
        #[cfg(unix)]
        {
            assert_eq!(t.read("base/alias.yaml").unwrap(), b"x");
            let err = t.read("base/leak").unwrap_err().to_string();
            assert!(err.contains("outside"), "{err}");
            let names: Vec<_> = t.list("base").unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(names, ["alias.yaml", "cm.yaml"]);
        }
        assert!(t.read("../x").is_err());
        assert!(matches!(t.read("nope"), Err(Error::NotFound { .. })));
        assert!(DirTree::new(dir.path().join("missing")).is_err());
        // Directories through symlinks: inside the tree followed, outside refused; a directory
        // created after a lookup missed it is seen.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("base"), dir.path().join("linked")).unwrap();
            std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
            assert_eq!(t.read("linked/cm.yaml").unwrap(), b"x");
            assert!(t.read("out/secret").unwrap_err().to_string().contains("outside"));
        }
        assert!(matches!(t.read("later/a.yaml"), Err(Error::NotFound { .. })));
        std::fs::create_dir(dir.path().join("later")).unwrap();
        std::fs::write(dir.path().join("later/a.yaml"), "y").unwrap();
        assert_eq!(t.read("later/a.yaml").unwrap(), b"y");
    }

    #[test]
    fn dir_tree_snapshot_remembers_lookups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("base")).unwrap();
        std::fs::write(dir.path().join("base/cm.yaml"), "x").unwrap();
        let t = DirTree::snapshot(dir.path()).unwrap();
        assert_eq!(t.kind("base").unwrap(), Some(EntryKind::Dir));
        assert_eq!(t.kind("base/cm.yaml").unwrap(), Some(EntryKind::File));
        assert_eq!(t.real_path("base/./cm.yaml").unwrap().as_deref(), Some("base/cm.yaml"));
        assert_eq!(t.kind("base/new.yaml").unwrap(), None);
        // What was looked up stays as it was seen. The lookup of a file read it: the first
        // read returns those bytes, later reads are afresh.
        std::fs::write(dir.path().join("base/new.yaml"), "n").unwrap();
        assert_eq!(t.kind("base/new.yaml").unwrap(), None);
        assert!(matches!(t.read("base/new.yaml"), Err(Error::NotFound { .. })));
        std::fs::write(dir.path().join("base/cm.yaml"), "y").unwrap();
        assert_eq!(t.read("base/cm.yaml").unwrap(), b"x");
        assert_eq!(t.read("base/cm.yaml").unwrap(), b"y");
        // A fresh tree sees the new file; a large file is read whole.
        let big = "z".repeat(100_000);
        std::fs::write(dir.path().join("base/big.yaml"), &big).unwrap();
        let fresh = DirTree::new(dir.path()).unwrap();
        assert_eq!(fresh.read("base/new.yaml").unwrap(), b"n");
        assert_eq!(fresh.read("base/big.yaml").unwrap(), big.as_bytes());
        assert!(matches!(fresh.read("base"), Err(Error::FileTree { .. })));
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("secret"), "s").unwrap();
            std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("base/leak")).unwrap();
            std::os::unix::fs::symlink("cm.yaml", dir.path().join("base/alias.yaml")).unwrap();
            std::os::unix::fs::symlink(dir.path().join("base"), dir.path().join("linked")).unwrap();
            let t = DirTree::snapshot(dir.path()).unwrap();
            for _ in 0..2 {
                assert!(t.read("base/leak").unwrap_err().to_string().contains("outside"));
                assert_eq!(t.read("base/alias.yaml").unwrap(), b"y");
                assert_eq!(t.real_path("base/alias.yaml").unwrap().as_deref(), Some("base/cm.yaml"));
                assert_eq!(t.real_path("linked/cm.yaml").unwrap().as_deref(), Some("base/cm.yaml"));
                assert_eq!(t.kind("linked").unwrap(), Some(EntryKind::Dir));
            }
        }
    }

    #[test]
    fn a_snapshot_shared_by_threads_answers_as_one_thread_does() {
        // Many directories (their lookups land on every shard), each read by several threads
        // at once, through one snapshot: every thread sees every file, kind and real path.
        let dir = tempfile::tempdir().unwrap();
        for d in 0..40 {
            std::fs::create_dir_all(dir.path().join(format!("apps/a{d}/base"))).unwrap();
            std::fs::write(dir.path().join(format!("apps/a{d}/base/cm.yaml")), format!("n: {d}")).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("a0", dir.path().join("apps/link")).unwrap();
        let t = DirTree::snapshot(dir.path()).unwrap();
        std::thread::scope(|scope| {
            for offset in 0..4 {
                let t = &t;
                scope.spawn(move || {
                    for i in 0..40 {
                        let d = (i + offset * 10) % 40;
                        let base = format!("apps/a{d}/base");
                        assert_eq!(t.kind(&base).unwrap(), Some(EntryKind::Dir));
                        let file = format!("{base}/cm.yaml");
                        assert_eq!(t.kind(&file).unwrap(), Some(EntryKind::File));
                        assert_eq!(t.read(&file).unwrap(), format!("n: {d}").as_bytes());
                        assert_eq!(t.real_path(&file).unwrap().as_deref(), Some(file.as_str()));
                        assert_eq!(t.kind(&format!("{base}/none.yaml")).unwrap(), None);
                    }
                    #[cfg(unix)]
                    assert_eq!(t.real_path("apps/link/base/cm.yaml").unwrap().as_deref(), Some("apps/a0/base/cm.yaml"));
                });
            }
        });
    }

    #[test]
    fn dir_tree_snapshot_lookups_that_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf.d/x")).unwrap();
        std::fs::write(dir.path().join("conf.d/a.yaml"), "a").unwrap();
        let big = "b".repeat(READ_AHEAD_LIMIT as usize + 10);
        std::fs::write(dir.path().join("big.yaml"), &big).unwrap();
        let t = DirTree::snapshot(dir.path()).unwrap();
        // A directory named like a file is one; what is under it is found through it.
        assert_eq!(t.kind("conf.d").unwrap(), Some(EntryKind::Dir));
        assert!(matches!(t.read("conf.d"), Err(Error::FileTree { .. })));
        assert_eq!(t.kind("conf.d/x").unwrap(), Some(EntryKind::Dir));
        assert_eq!(t.kind("conf.d/a.yaml").unwrap(), Some(EntryKind::File));
        assert_eq!(t.read("conf.d/a.yaml").unwrap(), b"a");
        assert_eq!(t.kind("conf.d/none.yaml").unwrap(), None);
        // A file under a file is missing, as `lstat` finds it.
        assert_eq!(t.kind("conf.d/a.yaml/b.yaml").unwrap(), None);
        // Past the limit the lookup leaves the file, and the read reads it whole.
        assert_eq!(t.kind("big.yaml").unwrap(), Some(EntryKind::File));
        assert_eq!(t.read("big.yaml").unwrap(), big.as_bytes());
        let names: Vec<_> = t.list("conf.d").unwrap().into_iter().map(|e| (e.name, e.kind)).collect();
        assert_eq!(names, [("a.yaml".to_string(), EntryKind::File), ("x".to_string(), EntryKind::Dir)]);
        #[cfg(unix)]
        {
            // Symlinks are never read ahead: one leaving the tree is refused, one inside is
            // followed.
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("s.yaml"), "secret").unwrap();
            std::os::unix::fs::symlink(outside.path().join("s.yaml"), dir.path().join("leak.yaml")).unwrap();
            std::os::unix::fs::symlink("conf.d/a.yaml", dir.path().join("alias.yaml")).unwrap();
            std::os::unix::fs::symlink("conf.d", dir.path().join("link.d")).unwrap();
            let t = DirTree::snapshot(dir.path()).unwrap();
            assert!(t.kind("leak.yaml").unwrap_err().to_string().contains("outside"));
            assert!(t.read("leak.yaml").unwrap_err().to_string().contains("outside"));
            assert_eq!(t.kind("alias.yaml").unwrap(), Some(EntryKind::File));
            assert_eq!(t.real_path("alias.yaml").unwrap().as_deref(), Some("conf.d/a.yaml"));
            assert_eq!(t.read("alias.yaml").unwrap(), b"a");
            assert_eq!(t.kind("link.d").unwrap(), Some(EntryKind::Dir));
            assert_eq!(t.real_path("link.d/a.yaml").unwrap().as_deref(), Some("conf.d/a.yaml"));
            // Real paths of known entries: under a symlinked directory still resolved, elsewhere
            // as written; a missing one has none.
            for _ in 0..2 {
                assert_eq!(t.kind("link.d/x").unwrap(), Some(EntryKind::Dir));
                assert_eq!(t.real_path("link.d/x").unwrap().as_deref(), Some("conf.d/x"));
                assert_eq!(t.real_path("link.d").unwrap().as_deref(), Some("conf.d"));
                assert_eq!(t.kind("conf.d/x").unwrap(), Some(EntryKind::Dir));
                assert_eq!(t.real_path("conf.d/x").unwrap().as_deref(), Some("conf.d/x"));
                assert_eq!(t.real_path("conf.d/a.yaml").unwrap().as_deref(), Some("conf.d/a.yaml"));
                assert_eq!(t.real_path("conf.d/none.yaml").unwrap(), None);
                assert_eq!(t.real_path("").unwrap().as_deref(), Some(""));
            }
            // A FIFO does not block the lookup.
            let made = std::process::Command::new("mkfifo").arg(dir.path().join("pipe.yaml")).status().unwrap();
            assert!(made.success());
            assert_eq!(t.kind("pipe.yaml").unwrap(), Some(EntryKind::File));
        }
    }

    #[test]
    fn normalize_and_join_shortcuts_agree_with_the_segment_walk() {
        let segs = ["a", "bc", ".", "..", "", ".a", "a..", "..."];
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| segs.iter().map(move |s| if p.is_empty() { s.to_string() } else { format!("{p}/{s}") }))
                .collect();
            paths.extend(longer);
        }
        let show = |r: Result<String>| r.map_err(|e| e.to_string());
        for p in &paths {
            assert_eq!(show(normalize(p)), show(normalize_segments(p)), "{p:?}");
        }
        for d in paths.iter().step_by(7) {
            for r in paths.iter().step_by(5) {
                let slow = if d.is_empty() { normalize_segments(r) } else { normalize_segments(&format!("{d}/{r}")) };
                assert_eq!(show(join(d, r)).is_ok(), slow.is_ok(), "{d:?} + {r:?}");
                if let (Ok(a), Ok(b)) = (join(d, r), slow) {
                    assert_eq!(a, b, "{d:?} + {r:?}");
                }
            }
        }
    }
}
