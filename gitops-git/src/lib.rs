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
//! URLs: local paths, `file://`, `git://`, smart `http(s)://`, `ssh://` and the scp-like
//! `git@host:org/repo.git`. Credentials ([`Credentials`]) are set per URL prefix: SSH keys with
//! strict `known_hosts` checking (an unknown host key fails unless explicitly allowed), HTTPS
//! basic or bearer tokens, a CA bundle; they never appear in errors or logs. Revisions:
//! `HEAD`, branches, tags, full ref names, commit ids (full or abbreviated) and semver ranges
//! over tags (`>=1.2.0 <2.0.0`). Clones are shallow (depth 1) unless
//! [`GitSource::full_history`] is set, and deepen when an older commit is asked for; a fetch
//! whose remote tips equal the cache receives no pack.
//!
//! Writing (for image-update automation) is in [`write`](mod@write): commits with the given author and
//! committer, and pushes. gix has no push yet, so [`write::push`] runs the `git` CLI, with the
//! same credentials passed through its environment and `-c` options, never on its command line
//! in clear.
//!
//! # In a reconciler
//!
//! [`GitSource`] is the [`gitops_core::Source`] of `gitops_sync::Reconciler`: the reconciler
//! resolves each Application's `targetRevision`, renders only when the files it read changed
//! ([`gitops_core::Source::changed`]), and reads manifests from the object database.
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
    /// A URL that is malformed, of an unsupported scheme, or that tries to smuggle options to
    /// ssh or the transport.
    #[error("{url}: {reason}")]
    InvalidUrl {
        /// The URL (credentials removed).
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A local operation (commit, push) failed.
    #[error("{0}")]
    Write(String),
    /// A file tree error.
    #[error(transparent)]
    Tree(#[from] gitops_core::Error),
}

pub mod write;

/// How to authenticate to repositories whose URL starts with a prefix.
#[derive(Clone, Default)]
pub struct Credentials {
    /// SSH private key (OpenSSH or PEM format).
    pub ssh_key: Option<PathBuf>,
    /// The key's passphrase, when it has one (given to ssh through a private askpass helper,
    /// never on a command line).
    pub ssh_passphrase: Option<String>,
    /// `known_hosts` file for SSH (else `~/.ssh/known_hosts`); host keys are always checked.
    pub known_hosts: Option<PathBuf>,
    /// Accept any SSH host key: an explicit, insecure opt-out of host key checking.
    pub insecure_accept_any_host_key: bool,
    /// HTTPS basic authentication user.
    pub username: Option<String>,
    /// HTTPS basic authentication password (or a personal access token).
    pub password: Option<String>,
    /// HTTPS bearer token (`Authorization: Bearer`).
    pub bearer_token: Option<String>,
    /// A PEM CA bundle for HTTPS.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ssh_key", &self.ssh_key)
            .field("ssh_passphrase", &self.ssh_passphrase.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts)
            .field("insecure_accept_any_host_key", &self.insecure_accept_any_host_key)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The certificates of a PEM CA bundle, for reqwest clients (ours, and gix's).
fn ca_certificates(ca: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("CA bundle {}: {e}", ca.display()))?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("CA bundle {}: {e}", ca.display()))
}

/// A reqwest error's text with its causes, without the URL it carries (which may hold
/// credentials).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// An `ssh` command line, with the private passphrase helper it names when the key has a
/// passphrase: the helper (and the passphrase with it) is removed when this is dropped, so
/// keep it for as long as the command runs.
pub struct SshCommand {
    line: String,
    _helper: Option<tempfile::TempDir>,
}

impl SshCommand {
    /// The command line.
    pub fn line(&self) -> &str {
        &self.line
    }
}

impl Credentials {
    /// The `ssh` command (for `core.sshCommand` / `GIT_SSH_COMMAND`): batch mode, a connect
    /// timeout, the key, and strict host key checking.
    pub fn ssh_command(&self, connect_timeout: std::time::Duration) -> SshCommand {
        let timeout = connect_timeout.as_secs().max(1);
        let mut helper = None;
        let mut cmd = match self.ssh_passphrase.as_deref().map(askpass_ssh) {
            // ssh asks the helper for the passphrase once; nothing else may prompt.
            Some(Ok((dir, wrapper))) => {
                helper = Some(dir);
                format!(
                    "{} -o BatchMode=no -o NumberOfPasswordPrompts=1 -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o ConnectTimeout={timeout}",
                    shell_quote(&wrapper.display().to_string())
                )
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot prepare the SSH passphrase helper");
                format!("ssh -o BatchMode=yes -o ConnectTimeout={timeout}")
            }
            None => format!("ssh -o BatchMode=yes -o ConnectTimeout={timeout}"),
        };
        if let Some(key) = &self.ssh_key {
            cmd.push_str(&format!(" -o IdentitiesOnly=yes -i {}", shell_quote(&key.display().to_string())));
        }
        if self.insecure_accept_any_host_key {
            cmd.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
        } else {
            cmd.push_str(" -o StrictHostKeyChecking=yes");
            if let Some(kh) = &self.known_hosts {
                cmd.push_str(&format!(" -o UserKnownHostsFile={}", shell_quote(&kh.display().to_string())));
            }
        }
        SshCommand { line: cmd, _helper: helper }
    }

    /// Git configuration overrides (`key=value`) carrying these credentials, with `ssh` from
    /// [`Self::ssh_command`].
    fn config_overrides(&self, timeout: std::time::Duration, ssh: &SshCommand) -> Vec<String> {
        let mut out = vec![
            format!("core.sshCommand={}", ssh.line()),
            format!("gitoxide.http.connectTimeout={}", timeout.as_millis()),
        ];
        if let Some(t) = &self.bearer_token {
            out.push(format!("http.extraHeader=Authorization: Bearer {t}"));
        }
        if let Some(ca) = &self.ca_file {
            out.push(format!("http.sslCAInfo={}", ca.display()));
        }
        out
    }
}

/// A private `ssh` wrapper that hands `passphrase` to ssh through `SSH_ASKPASS`: a fresh 0700
/// directory under the temporary directory, holding the passphrase (0600), the askpass helper
/// and the wrapper, named `ssh` so Git's ssh-variant detection still applies. The directory
/// goes when the returned handle is dropped.
fn askpass_ssh(passphrase: &str) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tempfile::Builder::new().prefix("gitops-askpass-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    let wrapper = dir.join("ssh");
    let write = |name: &str, mode: u32, content: &str| -> std::io::Result<()> {
        use std::io::Write;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(dir.join(name))?;
        f.write_all(content.as_bytes())
    };
    write("passphrase", 0o600, passphrase)?;
    write("askpass", 0o700, "#!/bin/sh\ncat \"$(dirname \"$0\")/passphrase\"\n")?;
    let d = shell_quote(&dir.display().to_string());
    write(
        "ssh",
        0o700,
        &format!(
            "#!/bin/sh\nSSH_ASKPASS={d}/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=${{DISPLAY:-none}} exec ssh \"$@\"\n"
        ),
    )?;
    Ok((tmp, wrapper))
}

/// Refuses URLs that are not Git URLs we serve, or that try to inject options: a host, user or
/// path beginning with `-` (as in `ssh://-oProxyCommand=...`), `ext::` and `fd::` transports,
/// control characters.
pub fn validate_url(url: &str) -> Result<(), Error> {
    let bad = |reason: &str| Err(Error::InvalidUrl { url: redact(url), reason: reason.into() });
    if url.is_empty() {
        return bad("empty URL");
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return bad("URLs may not contain spaces or control characters");
    }
    if url.starts_with('-') {
        return bad("a URL may not begin with '-'");
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ext::") || lower.starts_with("fd::") {
        return bad("the ext:: and fd:: transports run commands and are refused");
    }
    let parsed = match gix::url::parse(url.as_bytes()) {
        Ok(u) => u,
        Err(e) => return Err(Error::InvalidUrl { url: redact(url), reason: e.to_string() }),
    };
    use gix::url::Scheme;
    match parsed.scheme {
        Scheme::File | Scheme::Git | Scheme::Ssh | Scheme::Http | Scheme::Https => {}
        ref other => return bad(&format!("unsupported scheme {other:?}")),
    }
    if parsed.host().is_some_and(|h| h.starts_with('-')) || parsed.user().is_some_and(|u| u.starts_with('-')) {
        return bad("a host or user beginning with '-' would be read as an option by ssh");
    }
    if parsed.scheme == Scheme::Ssh && parsed.path.starts_with(b"-") {
        return bad("a path beginning with '-' would be read as an option");
    }
    if matches!(parsed.scheme, Scheme::Git | Scheme::Ssh | Scheme::Http | Scheme::Https)
        && parsed.host().is_none_or(str::is_empty)
    {
        return bad("no host");
    }
    Ok(())
}

/// Whether a target revision is a semver range over tags rather than a ref or commit.
fn semver_range(reference: &str) -> Option<semver::VersionReq> {
    let r = reference.trim();
    let looks = r.starts_with(['<', '>', '=', '~', '^'])
        || r.contains(' ')
        || r.contains('*')
        || r.contains(".x")
        || r.contains(',');
    if !looks {
        return None;
    }
    // Argo CD and Flux write comparators separated by spaces (`>=1.2.0 <2.0.0`); the semver
    // crate wants commas. An operator standing alone joins the version after it.
    let mut parts: Vec<String> = Vec::new();
    for tok in r.split([' ', ',']).filter(|t| !t.is_empty()) {
        match parts.last_mut() {
            Some(last) if last.chars().all(|c| "<>=~^".contains(c)) => last.push_str(tok),
            _ => parts.push(tok.to_string()),
        }
    }
    semver::VersionReq::parse(&parts.join(", ")).ok()
}

/// Removes credentials (`user:password@`) from a URL, for errors and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// The largest file a tree reads by default (64 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// The largest pack a fetch receives by default (1 GiB).
pub const DEFAULT_MAX_PACK_BYTES: u64 = 1 << 30;

/// The most objects a fetch receives by default (two million).
pub const DEFAULT_MAX_PACK_OBJECTS: u64 = 2_000_000;

/// What a fetch may receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackLimits {
    bytes: u64,
    objects: u64,
}

/// A fetch stopped because its pack outgrew a limit.
#[derive(Debug)]
enum PackTooLarge {
    Bytes(u64),
    Objects(u64),
}

impl std::fmt::Display for PackTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackTooLarge::Bytes(n) => {
                write!(f, "the repository's pack is larger than the limit of {n} bytes; the fetch was stopped")
            }
            PackTooLarge::Objects(n) => {
                write!(f, "the repository's pack holds more than the limit of {n} objects; the fetch was stopped")
            }
        }
    }
}

impl std::error::Error for PackTooLarge {}

/// A Git [`Source`] with a bare cache directory per repository URL.
#[derive(Clone, Debug)]
pub struct GitSource {
    cache: PathBuf,
    locks: Arc<Mutex<std::collections::HashMap<String, Arc<Mutex<()>>>>>,
    credentials: Arc<Vec<(String, Credentials)>>,
    timeout: std::time::Duration,
    shallow: bool,
    progress: Option<Reports>,
    max_file_bytes: u64,
    max_pack_bytes: u64,
    max_pack_objects: u64,
    /// When the last successful fetch of each URL started: a resolve that asked at or before
    /// that instant is answered without fetching again.
    fetched: Arc<Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    /// Opened repositories by cache path: opening one (config, discovery) costs more than
    /// reading a tree, and every application of a pass reads the same repository. Refs and
    /// packs written by a later fetch are read from disk as gix finds them changed.
    opened: Arc<Mutex<std::collections::HashMap<PathBuf, gix::ThreadSafeRepository>>>,
    trees: TreeCache,
}

/// The progress callback, shown as such by `Debug`.
#[derive(Clone)]
struct Reports(ProgressFn);

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<progress callback>")
    }
}

/// How far a fetch is, as [`GitSource::with_progress`] reports it every 100 ms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchProgress {
    /// The repository (credentials removed).
    pub repo_url: String,
    /// Objects received (or indexed) so far.
    pub objects: usize,
    /// Bytes of pack data received so far.
    pub bytes: usize,
    /// The last report of this fetch.
    pub finished: bool,
}

/// Sees the progress of every fetch.
pub type ProgressFn = Arc<dyn Fn(&FetchProgress) + Send + Sync>;

/// The pack limits a reporter enforces: past them it records which one in `exceeded` and
/// asks gix to stop through `interrupt`.
struct PackGuard {
    limits: PackLimits,
    interrupt: Arc<AtomicBool>,
    exceeded: Arc<Mutex<Option<PackTooLarge>>>,
}

/// Reports a fetch's progress from gix's progress tree on a thread of its own, until dropped.
struct Reporter {
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// The fetch's own totals (objects, pack bytes), known once the pack is written: the
    /// last report carries them (sampled counts may miss the pack's last bytes).
    totals: Arc<Mutex<Option<(usize, usize)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    fn start(
        root: Arc<gix::progress::tree::Root>,
        url: &str,
        report: Option<ProgressFn>,
        guard: PackGuard,
    ) -> Reporter {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let totals: Arc<Mutex<Option<(usize, usize)>>> = Arc::default();
        let final_totals = totals.clone();
        let url = redact(url);
        let thread = std::thread::spawn(move || {
            let mut tasks = Vec::new();
            // Items leave the tree when their stage ends: the counts keep their highest values.
            let mut p = FetchProgress { repo_url: url.clone(), ..Default::default() };
            loop {
                let last = flag.load(std::sync::atomic::Ordering::Relaxed);
                root.sorted_snapshot(&mut tasks);
                p.finished = last;
                for (_, task) in &tasks {
                    let Some(v) = &task.progress else { continue };
                    let step = v.step.load(std::sync::atomic::Ordering::Relaxed);
                    let unit = v.unit.as_ref().map(|u| format!("{}", u.display(step, None, None))).unwrap_or_default();
                    // gix names the pack's bytes as they arrive "read pack"; objects are
                    // counted by the remote, then by indexing.
                    if task.name == "read pack" && unit.ends_with('B') {
                        p.bytes = p.bytes.max(step);
                    } else if unit.ends_with("objects") {
                        p.objects = p.objects.max(step);
                    }
                }
                if last && let Some((objects, bytes)) = *final_totals.lock().unwrap_or_else(|e| e.into_inner()) {
                    p.objects = p.objects.max(objects);
                    p.bytes = p.bytes.max(bytes);
                }
                let over = if p.bytes as u64 > guard.limits.bytes {
                    Some(PackTooLarge::Bytes(guard.limits.bytes))
                } else if p.objects as u64 > guard.limits.objects {
                    Some(PackTooLarge::Objects(guard.limits.objects))
                } else {
                    None
                };
                if let Some(over) = over {
                    let mut exceeded = guard.exceeded.lock().unwrap_or_else(|e| e.into_inner());
                    if exceeded.is_none() {
                        *exceeded = Some(over);
                        guard.interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                if let Some(report) = &report {
                    report(&p);
                }
                if last {
                    return;
                }
                // Woken at once when the fetch ends (see Drop), so a fetch never waits on it.
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
        });
        Reporter { stop, totals, thread: Some(thread) }
    }

    /// The fetch's totals, for the last report.
    fn finish(&self, objects: usize, bytes: usize) {
        *self.totals.lock().unwrap_or_else(|e| e.into_inner()) = Some((objects, bytes));
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl GitSource {
    /// A source caching repositories under `cache_dir` (created if missing): shallow clones,
    /// no credentials, a 60 s limit per fetch.
    pub fn new(cache_dir: impl AsRef<Path>) -> Result<Self, Error> {
        let cache = cache_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&cache)
            .map_err(|e| Error::Cache { path: cache.display().to_string(), reason: e.to_string() })?;
        Ok(GitSource {
            cache,
            locks: Arc::default(),
            credentials: Arc::default(),
            timeout: std::time::Duration::from_secs(60),
            shallow: true,
            progress: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_pack_bytes: DEFAULT_MAX_PACK_BYTES,
            max_pack_objects: DEFAULT_MAX_PACK_OBJECTS,
            fetched: Arc::default(),
            opened: Arc::default(),
            trees: TreeCache::default(),
        })
    }

    /// Reports the progress of every fetch to `report` (objects and bytes, every 100 ms, and
    /// once more when it ends), e.g. for a progress bar on a terminal.
    pub fn with_progress(mut self, report: ProgressFn) -> Self {
        self.progress = Some(Reports(report));
        self
    }

    /// Uses `credentials` for URLs starting with `url_prefix` (the longest prefix wins).
    pub fn with_credentials(mut self, url_prefix: &str, credentials: Credentials) -> Self {
        Arc::make_mut(&mut self.credentials).push((url_prefix.to_string(), credentials));
        self
    }

    /// Refuses to read a file larger than `max` bytes from a repository (64 MiB by default):
    /// a repository's huge file is an error naming it, not memory the agent runs out of.
    pub fn with_max_file_bytes(mut self, max: u64) -> Self {
        self.max_file_bytes = max;
        self
    }

    /// Stops a fetch whose pack grows past `max` bytes (1 GiB by default) and forgets what it
    /// received: a hostile repository cannot fill the disk or the memory of the agent.
    pub fn with_max_pack_bytes(mut self, max: u64) -> Self {
        self.max_pack_bytes = max;
        self
    }

    /// Stops a fetch of more than `max` objects (two million by default) and forgets what it
    /// received: millions of tiny objects cost the agent's disk and time as a huge pack would.
    pub fn with_max_pack_objects(mut self, max: u64) -> Self {
        self.max_pack_objects = max;
        self
    }

    /// Gives up a fetch (and connecting) after `timeout`.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Clones with the whole history instead of depth 1.
    pub fn full_history(mut self) -> Self {
        self.shallow = false;
        self
    }

    fn credentials_for(&self, url: &str) -> Credentials {
        self.credentials
            .iter()
            .filter(|(p, _)| url.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    /// Resolves and opens a revision synchronously (`""` means HEAD): for code that cannot await,
    /// such as a renderer fetching a remote base.
    pub fn tree_blocking(&self, url: &str, reference: &str) -> Result<GitTree, Error> {
        let reference = if reference.is_empty() { "HEAD" } else { reference };
        let rev = self.resolve_blocking(url, reference, gitops_core::stage::fresh_since_now())?;
        GitTree::with_cache(self.opened(&self.cache_path(url), url)?, url, &rev.commit, self.trees.clone())
            .map(|t| t.with_max_file_bytes(self.max_file_bytes))
    }

    /// A loader of remote Kustomize bases over this source (the shape of
    /// `gitops_render::RemoteLoader`): `resources: [https://github.com/org/repo//base?ref=v1]`
    /// is fetched into the cache and rendered from its object database.
    #[allow(clippy::type_complexity)]
    pub fn remote_loader(
        &self,
    ) -> Arc<dyn Fn(&str, &str) -> Result<Arc<dyn FileTree + Send + Sync>, String> + Send + Sync> {
        let this = self.clone();
        Arc::new(move |url: &str, reference: &str| {
            this.tree_blocking(url, reference)
                .map(|t| Arc::new(t) as Arc<dyn FileTree + Send + Sync>)
                .map_err(|e| e.to_string())
        })
    }

    /// A loader of plain remote files for Kustomize (the shape of
    /// `gitops_render::RemoteFileLoader`): `resources: [https://example.com/app.yaml]` is
    /// fetched with this source's timeout and the credentials for the URL (basic or bearer
    /// authentication, sent over HTTPS only; a CA bundle). An HTTP error status is an error,
    /// worded as Kustomize words it; a body over 64 MiB is refused.
    #[allow(clippy::type_complexity)]
    pub fn remote_file_loader(&self) -> Arc<dyn Fn(&str) -> Result<Vec<u8>, String> + Send + Sync> {
        let this = self.clone();
        Arc::new(move |url: &str| this.fetch_file(url))
    }

    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, String> {
        use std::io::Read;
        const LIMIT: u64 = 64 << 20;
        let creds = self.credentials_for(url);
        let mut builder = reqwest::blocking::Client::builder().timeout(self.timeout).connect_timeout(self.timeout);
        if let Some(ca) = &creds.ca_file {
            for cert in ca_certificates(ca)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let mut request = client.get(url);
        // Secrets go over TLS only, as gix sends them.
        if url.starts_with("https://") {
            if let Some(token) = &creds.bearer_token {
                request = request.bearer_auth(token);
            } else if let Some(user) = &creds.username {
                request = request.basic_auth(user, creds.password.as_deref());
            }
        }
        // The URL is shown without what it may carry after `@` or `?` (a token).
        let shown = url.split(['?', '#']).next().unwrap_or(url);
        let response = request.send().map_err(|e| format!("GET {shown}: {}", without_url(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "HTTP Error: status code {} ({})",
                status.as_u16(),
                status.canonical_reason().unwrap_or("unknown")
            ));
        }
        let mut body = Vec::new();
        response.take(LIMIT + 1).read_to_end(&mut body).map_err(|e| format!("GET {shown}: {e}"))?;
        if body.len() as u64 > LIMIT {
            return Err(format!("GET {shown}: the file is larger than 64 MiB"));
        }
        Ok(body)
    }

    /// The cache directory of a URL.
    pub fn cache_dir_of(&self, url: &str) -> PathBuf {
        self.cache_path(url)
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
        self.sync_since(url, std::time::Instant::now())
    }

    /// [`GitSource::sync`], where any fetch that started at or after `since` will do (one that
    /// ran while this call waited for the repository's lock, for instance).
    pub fn sync_since(&self, url: &str, since: std::time::Instant) -> Result<PathBuf, Error> {
        self.sync_with(url, gix::remote::fetch::Shallow::NoChange, since)
    }

    fn sync_with(
        &self,
        url: &str,
        deepen: gix::remote::fetch::Shallow,
        since: std::time::Instant,
    ) -> Result<PathBuf, Error> {
        validate_url(url)?;
        let lock = self.lock_for(url);
        let _guard = lock.lock().expect("repository lock");
        let path = self.cache_path(url);
        let fresh_enough = self.fetched.lock().expect("fetched lock").get(url).is_some_and(|t| *t >= since);
        if fresh_enough && deepen == gix::remote::fetch::Shallow::NoChange && path.exists() {
            return Ok(path);
        }
        let started = std::time::Instant::now();
        // Other processes sharing the cache directory take turns too (an advisory lock on a
        // file beside the repository, released when the file is closed).
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"))
            .map_err(|e| Error::Cache { path: path.display().to_string(), reason: e.to_string() })?;
        lock_file.lock().map_err(|e| Error::Cache { path: path.display().to_string(), reason: e.to_string() })?;
        // Holding that lock, no other fetch of this repository runs: lock files gix left in it
        // belong to a process that died in a fetch (killed, out of memory) and would block
        // every later fetch.
        remove_stale_locks(&path);
        let creds = self.credentials_for(url);
        let fetch_err =
            |e: &dyn std::error::Error| Error::Fetch { repo_url: redact(url), reason: scrub(&chain(e), &creds) };
        // The ssh command (and its passphrase helper) lives until this fetch is done.
        let ssh = creds.ssh_command(self.timeout);
        let open = |p: &Path| {
            gix::open_opts(
                p,
                gix::open::Options::isolated().config_overrides(creds.config_overrides(self.timeout, &ssh)),
            )
        };
        let mut fresh = false;
        let repo = match path.exists().then(|| open(&path)) {
            Some(Ok(repo)) => repo,
            other => {
                if other.is_some() {
                    tracing::warn!(cache = %path.display(), "corrupt repository cache, cloning again");
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| Error::Cache { path: path.display().to_string(), reason: e.to_string() })?;
                }
                gix::init_bare(&path)
                    .map_err(|e| Error::Cache { path: path.display().to_string(), reason: chain(&e) })?;
                fresh = true;
                open(&path).map_err(|e| Error::Cache { path: path.display().to_string(), reason: chain(&e) })?
            }
        };
        let shallow = if fresh && self.shallow {
            gix::remote::fetch::Shallow::DepthAtRemote(1.try_into().expect("non-zero"))
        } else {
            deepen
        };
        let limits = PackLimits { bytes: self.max_pack_bytes, objects: self.max_pack_objects };
        let result = fetch(&repo, url, &creds, shallow, self.timeout, self.progress.as_ref().map(|r| &r.0), limits);
        if let Err(e) = result {
            // What an oversized fetch left is forgotten too: the next fetch must not find its
            // tips known and skip the limit.
            if fresh || e.downcast_ref::<PackTooLarge>().is_some() {
                let _ = std::fs::remove_dir_all(&path);
                self.opened.lock().expect("opened lock").remove(&path);
            }
            return Err(fetch_err(&*e));
        }
        self.fetched.lock().expect("fetched lock").insert(url.to_string(), started);
        if fresh {
            // A new repository in this place: handles of an earlier one are stale.
            self.opened.lock().expect("opened lock").remove(&path);
        }
        Ok(path)
    }

    fn resolve_blocking(&self, url: &str, reference: &str, since: std::time::Instant) -> Result<Revision, Error> {
        let path = self.sync_since(url, since)?;
        match self.resolve_in(&path, url, reference) {
            Err(Error::UnknownRevision { .. }) if is_commit_like(reference) && is_shallow(&path) => {
                // An older commit than the shallow clone holds: fetch the whole history once.
                self.sync_with(url, gix::remote::fetch::Shallow::undo(), std::time::Instant::now())?;
                self.resolve_in(&path, url, reference)
            }
            Err(Error::UnknownRevision { .. }) => {
                // Looked up once more, between fetches (the repository's lock held) and with
                // the repository opened afresh, before the revision is called unknown: a
                // handle kept from before a fetch, or a fetch of another pass under way,
                // must not fail an application whose revision is there.
                let lock = self.lock_for(url);
                let _guard = lock.lock().expect("repository lock");
                self.opened.lock().expect("opened lock").remove(&path);
                let again = self.resolve_in(&path, url, reference);
                if again.is_ok() {
                    tracing::warn!(repo = %redact(url), reference, "a revision was found only on a second look-up");
                }
                again
            }
            other => other,
        }
    }

    /// The repository cached at `path`, opened once.
    fn opened(&self, path: &Path, url: &str) -> Result<gix::ThreadSafeRepository, Error> {
        if let Some(r) = self.opened.lock().expect("opened lock").get(path) {
            return Ok(r.clone());
        }
        let repo = gix::ThreadSafeRepository::open(path)
            .map_err(|e| Error::Read { repo_url: redact(url), reason: e.to_string() })?;
        self.opened.lock().expect("opened lock").insert(path.to_path_buf(), repo.clone());
        Ok(repo)
    }

    fn resolve_in(&self, path: &Path, url: &str, reference: &str) -> Result<Revision, Error> {
        let repo = self.opened(path, url)?.to_thread_local();
        let unknown = || Error::UnknownRevision { repo_url: redact(url), reference: reference.to_string() };
        if let Some(req) = semver_range(reference) {
            return resolve_semver(&repo, url, reference, &req);
        }
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

fn is_commit_like(reference: &str) -> bool {
    (4..=40).contains(&reference.len()) && reference.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_shallow(path: &Path) -> bool {
    path.join("shallow").exists()
}

/// The highest tag matching a semver range (a leading `v` allowed; pre-releases only when
/// the range names one).
fn resolve_semver(
    repo: &gix::Repository,
    url: &str,
    reference: &str,
    req: &semver::VersionReq,
) -> Result<Revision, Error> {
    let read = |e: &dyn std::fmt::Display| Error::Read { repo_url: redact(url), reason: e.to_string() };
    let refs = repo.references().map_err(|e| read(&e))?;
    let mut best: Option<(semver::Version, String, gix::ObjectId)> = None;
    for r in refs.prefixed("refs/tags/").map_err(|e| read(&e))? {
        let Ok(mut r) = r else { continue };
        let name = r.name().as_bstr().to_string();
        let short = name.trim_start_matches("refs/tags/");
        let Ok(v) = semver::Version::parse(short.strip_prefix('v').unwrap_or(short)) else { continue };
        if !req.matches(&v) || best.as_ref().is_some_and(|(b, _, _)| *b >= v) {
            continue;
        }
        let Ok(id) = r.peel_to_id() else { continue };
        let Some(commit) = repo.find_object(id).ok().and_then(|o| o.peel_to_commit().ok()) else { continue };
        best = Some((v, name, commit.id));
    }
    let (_, name, id) = best.ok_or_else(|| Error::UnknownRevision {
        repo_url: redact(url),
        reference: format!("{reference} (no tag matches this semver range)"),
    })?;
    Ok(Revision { repo_url: url.to_string(), commit: id.to_string(), reference: name })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Fetches the remote's branches and tags into the same names (a bare mirror) and points HEAD
/// where the remote's HEAD points. A fetch whose remote tips are all known receives no pack.
fn fetch(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
    shallow: gix::remote::fetch::Shallow,
    timeout: std::time::Duration,
    progress: Option<&ProgressFn>,
    limits: PackLimits,
) -> Result<(), BoxError> {
    let remote = repo
        .remote_at(url)?
        .with_refspecs(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], gix::remote::Direction::Fetch)?;
    let parsed = gix::url::parse(url.as_bytes())?;
    if parsed.scheme == gix::url::Scheme::Git {
        // Our own TCP connection for git://, with Nagle's algorithm off: gix writes packet
        // lines in small pieces, and on a delayed-ACK peer each exchange would wait ~40 ms.
        let host = parsed.host().ok_or("no host")?.to_string();
        let port = parsed.port.unwrap_or(9418);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?
            .next()
            .ok_or_else(|| format!("cannot resolve {host}"))?;
        let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        let write = stream.try_clone()?;
        let transport = gix::protocol::transport::client::git::blocking_io::Connection::new(
            stream,
            write,
            gix::protocol::transport::Protocol::V2,
            parsed.path.clone(),
            Some((host, parsed.port)),
            gix::protocol::transport::client::git::ConnectMode::Daemon,
            false,
        );
        return receive(repo, remote.to_connection_with_transport(transport), shallow, url, progress, limits);
    }
    let mut connection = remote.connect(gix::remote::Direction::Fetch)?;
    let c = creds.clone();
    connection.set_credentials(move |action| basic_auth(&c, action));
    if let Some(ca) = &creds.ca_file {
        // gix's reqwest backend does not read http.sslCAInfo: add the bundle to its client.
        let mut options = repo.transport_options(url.as_bytes(), None)?.ok_or("no transport options for this URL")?;
        if let Some(http) = options.downcast_mut::<gix::protocol::transport::client::blocking_io::http::Options>() {
            let certs = ca_certificates(ca)?;
            let backend = gix::protocol::transport::client::blocking_io::http::reqwest::Options {
                configure_client: Some(Box::new(move |mut builder| {
                    for cert in &certs {
                        builder = builder.add_root_certificate(cert.clone());
                    }
                    Ok(builder)
                })),
                configure_request: None,
            };
            http.backend = Some(Arc::new(Mutex::new(backend)));
        }
        connection = connection.with_transport_options(options);
    }
    receive(repo, connection, shallow, url, progress, limits)
}

fn receive<T>(
    repo: &gix::Repository,
    connection: gix::remote::Connection<'_, '_, '_, T>,
    shallow: gix::remote::fetch::Shallow,
    url: &str,
    progress: Option<&ProgressFn>,
    limits: PackLimits,
) -> Result<(), BoxError>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    let interrupt = Arc::new(AtomicBool::new(false));
    let exceeded: Arc<Mutex<Option<PackTooLarge>>> = Arc::default();
    // Ask for HEAD too: protocol v2 lists only the refs whose prefixes are asked for, and
    // without HEAD in the listing its symref (the default branch) is never seen.
    let head = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)?.to_owned();
    let options = gix::remote::ref_map::Options { extra_refspecs: vec![head], ..Default::default() };
    let root = gix::progress::tree::Root::new();
    // The reporter also watches the pack's size and interrupts a fetch that outgrows the
    // limit (it runs whether or not anyone wants the progress).
    let guard = PackGuard { limits, interrupt: interrupt.clone(), exceeded: exceeded.clone() };
    let reporter = Reporter::start(root.clone(), url, progress.cloned(), guard);
    let outcome = connection
        .prepare_fetch(root.add_child("negotiate"), options)?
        .with_shallow(shallow)
        .receive(root.add_child("receive"), &interrupt);
    if let Some(over) = exceeded.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(Box::new(over));
    }
    let outcome = outcome?;
    if let gix::remote::fetch::Status::Change { write_pack_bundle, .. } = &outcome.status {
        let bytes = write_pack_bundle.data_path.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        reporter.finish(write_pack_bundle.index.num_objects as usize, bytes as usize);
        // A pack that came in faster than the watcher looked.
        if bytes > limits.bytes {
            return Err(Box::new(PackTooLarge::Bytes(limits.bytes)));
        }
        if write_pack_bundle.index.num_objects as u64 > limits.objects {
            return Err(Box::new(PackTooLarge::Objects(limits.objects)));
        }
    }
    // HEAD follows the remote's default branch (or its detached commit), as advertised now:
    // a default branch renamed since the last fetch is followed.
    use gix::protocol::handshake::Ref;
    for r in &outcome.ref_map.remote_refs {
        let head = match r {
            Ref::Symbolic { full_ref_name, target, .. } | Ref::Unborn { full_ref_name, target }
                if full_ref_name == "HEAD" =>
            {
                format!("ref: {target}\n")
            }
            Ref::Direct { full_ref_name, object } if full_ref_name == "HEAD" => format!("{object}\n"),
            _ => continue,
        };
        let path = repo.git_dir().join("HEAD");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(head.as_str()) {
            // Written beside and renamed over: a resolve reading HEAD meanwhile sees the old
            // file or the new one, never an empty one.
            // Not `HEAD.lock`, git's and gix's own lock file: one left by a crash here would
            // stop them from ever updating HEAD.
            let next = repo.git_dir().join("HEAD.gitops-new");
            std::fs::write(&next, head)?;
            std::fs::rename(&next, &path)?;
        }
    }
    Ok(())
}

/// Removes the `*.lock` files of a bare repository's top level and `refs/` (HEAD, config,
/// packed-refs, shallow, each ref), which only a fetch holding the repository's lock writes.
fn remove_stale_locks(repo: &Path) {
    fn walk(dir: &Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let p = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && depth > 0 {
                walk(&p, depth - 1);
            } else if kind.is_file() && p.extension().is_some_and(|e| e == "lock") {
                tracing::warn!(file = %p.display(), "removing a lock file left by an interrupted fetch");
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    walk(repo, 0);
    walk(&repo.join("refs"), 16);
}

/// Answers gix's credential requests with the configured user and password.
fn basic_auth(
    creds: &Credentials,
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    use gix::credentials::helper::Action;
    match action {
        Action::Get(ctx) => match (&creds.username, &creds.password) {
            (Some(u), Some(p)) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: u.clone(),
                    password: p.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            _ => Ok(None),
        },
        Action::Store(_) | Action::Erase(_) => Ok(None),
    }
}

/// An error with its causes, `a: b: c`, for messages that say what actually failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

/// Removes secrets from a message.
fn scrub(message: &str, creds: &Credentials) -> String {
    let mut m = message.to_string();
    for secret in [&creds.password, &creds.bearer_token].into_iter().flatten() {
        if !secret.is_empty() {
            m = m.replace(secret.as_str(), "***");
        }
    }
    m
}

#[async_trait]
impl Source for GitSource {
    type Tree = GitTree;
    type Error = Error;

    async fn resolve(&self, repo_url: &str, reference: &str) -> Result<Revision, Error> {
        let this = self.clone();
        let (url, reference) = (repo_url.to_string(), reference.to_string());
        // Read here: the blocking task does not see this task's locals.
        let since = gitops_core::stage::fresh_since_now();
        let task = tokio::task::spawn_blocking(move || this.resolve_blocking(&url, &reference, since));
        match tokio::time::timeout(self.timeout + std::time::Duration::from_secs(1), task).await {
            Ok(joined) => joined.map_err(|e| Error::Read { repo_url: redact(repo_url), reason: e.to_string() })?,
            Err(_) => Err(Error::Fetch {
                repo_url: redact(repo_url),
                reason: format!("no answer within {}s", self.timeout.as_secs()),
            }),
        }
    }

    async fn open(&self, revision: &Revision) -> Result<GitTree, Error> {
        let path = self.cache_path(&revision.repo_url);
        GitTree::with_cache(
            self.opened(&path, &revision.repo_url)?,
            &revision.repo_url,
            &revision.commit,
            self.trees.clone(),
        )
        .map(|t| t.with_max_file_bytes(self.max_file_bytes))
    }

    async fn changed(&self, from: &Revision, to: &Revision, path: &str) -> Result<bool, Error> {
        if from.commit == to.commit {
            return Ok(false);
        }
        let a = self.open(from).await?;
        let b = self.open(to).await?;
        Ok(a.id_of(path)? != b.id_of(path)?)
    }

    async fn message(&self, revision: &Revision) -> Option<String> {
        let path = self.cache_path(&revision.repo_url);
        let repo = self.opened(&path, &revision.repo_url).ok()?.to_thread_local();
        let id = gix::ObjectId::from_hex(revision.commit.as_bytes()).ok()?;
        let commit = repo.find_object(id).ok()?.try_into_commit().ok()?;
        let message = commit.message().ok()?;
        Some(message.summary().to_string())
    }
}

/// The tree of one commit, read from the object database.
#[derive(Clone)]
pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    tree: gix::ObjectId,
    url: String,
    trees: TreeCache,
    /// The largest file read (a larger blob is an error before it is loaded).
    max_file_bytes: u64,
}

/// One entry of a Git tree object.
#[derive(Clone, Debug)]
struct TreeEntry {
    name: String,
    id: gix::ObjectId,
    mode: gix::object::tree::EntryMode,
}

/// Decoded tree objects by id (content-addressed, so valid in any repository and forever),
/// shared by the trees of one [`GitSource`]: the applications of a pass walk the same
/// directories (`apps/` of 500 applications is inflated once, not once per file read).
type TreeCache = Arc<Mutex<std::collections::HashMap<gix::ObjectId, Arc<Vec<TreeEntry>>>>>;

/// Decoded trees kept at most (then the cache starts over).
const TREE_CACHE_LIMIT: usize = 20_000;

impl std::fmt::Debug for GitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTree").field("tree", &self.tree).field("url", &redact(&self.url)).finish()
    }
}

impl GitTree {
    /// Opens the tree of `commit` in the repository at `path`.
    pub fn open(path: &Path, url: &str, commit: &str) -> Result<Self, Error> {
        let repo = gix::ThreadSafeRepository::open(path)
            .map_err(|e| Error::Read { repo_url: redact(url), reason: e.to_string() })?;
        Self::of(repo, url, commit)
    }

    /// The tree of `commit` in an opened repository.
    pub fn of(repo: gix::ThreadSafeRepository, url: &str, commit: &str) -> Result<Self, Error> {
        Self::with_cache(repo, url, commit, TreeCache::default())
    }

    fn with_cache(repo: gix::ThreadSafeRepository, url: &str, commit: &str, trees: TreeCache) -> Result<Self, Error> {
        let read = |e: &dyn std::fmt::Display| Error::Read { repo_url: redact(url), reason: e.to_string() };
        let local = repo.to_thread_local();
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| read(&e))?;
        let tree = local.find_object(id).map_err(|e| read(&e))?.peel_to_tree().map_err(|e| read(&e))?.id;
        Ok(GitTree { repo, tree, url: url.to_string(), trees, max_file_bytes: DEFAULT_MAX_FILE_BYTES })
    }

    /// The tree with a limit on the size of the files it reads.
    pub fn with_max_file_bytes(mut self, max: u64) -> Self {
        self.max_file_bytes = max;
        self
    }

    /// The entries of a tree object, decoded once per source.
    fn listing(&self, id: gix::ObjectId, path: &str) -> Result<Arc<Vec<TreeEntry>>, gitops_core::Error> {
        if let Some(t) = self.trees.lock().expect("tree cache lock").get(&id) {
            return Ok(t.clone());
        }
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(id).map_err(|e| self.err(path, e))?;
        let mut entries = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.err(path, e))?;
            entries.push(TreeEntry { name: entry.filename().to_string(), id: entry.object_id(), mode: entry.mode() });
        }
        let entries = Arc::new(entries);
        let mut cache = self.trees.lock().expect("tree cache lock");
        if cache.len() >= TREE_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(id, entries.clone());
        Ok(entries)
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
        Ok(self.resolve(path, depth)?.map(|e| (e.id, e.kind)))
    }

    /// An entry with its real path (every symlink on the way resolved). A link's target is
    /// taken relative to the real directory that holds the link, as the file system does.
    fn resolve(&self, path: &str, depth: usize) -> Result<Option<Resolved>, gitops_core::Error> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Ok(Some(Resolved { id: self.tree, kind: EntryKind::Dir, path: String::new() }));
        }
        if depth > 16 {
            return Err(self.err(&p, "too many levels of symbolic links"));
        }
        // Resolve parent directories first, so links in the middle of a path are followed.
        let (parent, name) = match p.rsplit_once('/') {
            Some((parent, name)) => match self.resolve(parent, depth)? {
                Some(dir) if dir.kind == EntryKind::Dir => (dir, name),
                _ => return Ok(None),
            },
            None => (Resolved { id: self.tree, kind: EntryKind::Dir, path: String::new() }, p.as_str()),
        };
        let listing = self.listing(parent.id, &p)?;
        let Some(entry) = listing.iter().find(|e| e.name == name) else { return Ok(None) };
        let real = if parent.path.is_empty() { name.to_string() } else { format!("{}/{name}", parent.path) };
        let mode = entry.mode;
        if mode.is_commit() {
            return Err(self.err(&p, "is a Git submodule, which is not supported"));
        }
        if mode.is_link() {
            let repo = self.repo.to_thread_local();
            let blob = repo.find_blob(entry.id).map_err(|e| self.err(&p, e))?;
            let target = String::from_utf8_lossy(&blob.data).to_string();
            let outside = || self.err(&p, format!("symlink to {target:?} points outside the repository"));
            if target.starts_with('/') {
                return Err(outside());
            }
            let joined = if parent.path.is_empty() { target.clone() } else { format!("{}/{target}", parent.path) };
            let resolved = normalize(&joined).map_err(|_| outside())?;
            return self.resolve(&resolved, depth + 1);
        }
        let kind = if mode.is_tree() { EntryKind::Dir } else { EntryKind::File };
        Ok(Some(Resolved { id: entry.id, kind, path: real }))
    }
}

/// A tree entry found by [`GitTree::resolve`].
struct Resolved {
    id: gix::ObjectId,
    kind: EntryKind,
    /// Where the entry really is, symlinks resolved.
    path: String,
}

impl FileTree for GitTree {
    fn read(&self, path: &str) -> gitops_core::Result<Vec<u8>> {
        match self.entry(path, 0)? {
            Some((id, EntryKind::File)) => {
                let repo = self.repo.to_thread_local();
                // A hostile repository's huge file is refused before it is inflated.
                let size = repo.find_header(id).map_err(|e| self.err(path, e))?.size();
                if size > self.max_file_bytes {
                    return Err(self.err(
                        path,
                        format!("the file is {size} bytes, larger than the limit of {} bytes", self.max_file_bytes),
                    ));
                }
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
        let base = normalize(dir)?;
        let mut out = Vec::new();
        for entry in self.listing(id, dir)?.iter() {
            let name = entry.name.clone();
            let kind = if entry.mode.is_tree() {
                Some(EntryKind::Dir)
            } else if entry.mode.is_link() || entry.mode.is_commit() {
                // What a link points to (or whether it may be followed) takes a resolution.
                let full = if base.is_empty() { name.clone() } else { format!("{base}/{name}") };
                self.entry(&full, 0).ok().flatten().map(|(_, k)| k)
            } else {
                Some(EntryKind::File)
            };
            if let Some(kind) = kind {
                out.push(DirEntry { name, kind });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn kind(&self, path: &str) -> gitops_core::Result<Option<EntryKind>> {
        Ok(self.entry(path, 0)?.map(|(_, k)| k))
    }

    fn real_path(&self, path: &str) -> gitops_core::Result<Option<String>> {
        Ok(self.resolve(path, 0)?.map(|e| e.path))
    }
}
