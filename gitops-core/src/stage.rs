//! The stage traits: each arrow of the pipeline is one trait, each adapter crate
//! implements one.
//!
//! ```text
//! Source --open--> FileTree --Renderer--> Vec<Object> --Decryptor--> Vec<Object> --sync--> Cluster
//! ```
//!
//! Async only where I/O is: [`Source`] and [`Cluster`]. Rendering and decrypting are plain
//! functions of their inputs.

use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;
use serde::{Deserialize, Serialize};

use crate::object::{GroupVersionKind, Object};
use crate::tree::FileTree;

/// A resolved revision of a repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Revision {
    /// The repository URL it was resolved in.
    pub repo_url: String,
    /// The full commit id (hex).
    pub commit: String,
    /// The reference it came from: a full ref name (`refs/heads/main`, `refs/tags/v1.2.0`),
    /// `HEAD`, or the commit id itself when a commit was asked for.
    pub reference: String,
}

/// Where desired state comes from: a repository that resolves references to revisions and
/// opens the file tree of a revision.
///
/// Contract: [`Source::resolve`] asks the remote (or its cache) what a reference points to
/// now; the same `Revision` always opens the same tree; errors never contain credentials.
#[async_trait]
pub trait Source: Send + Sync {
    /// The file tree of one revision.
    type Tree: FileTree + 'static;
    /// The error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Resolves a reference (`HEAD`, a branch, a tag, a commit id, a semver range) in a
    /// repository.
    async fn resolve(&self, repo_url: &str, reference: &str) -> Result<Revision, Self::Error>;

    /// Opens the tree of a resolved revision.
    async fn open(&self, revision: &Revision) -> Result<Self::Tree, Self::Error>;

    /// Whether anything under `path` differs between two revisions of one repository, so a
    /// reconciler can skip rendering. The default says "changed" unless the commits are
    /// equal, which is always safe.
    async fn changed(&self, from: &Revision, to: &Revision, path: &str) -> Result<bool, Self::Error> {
        let _ = path;
        Ok(from.commit != to.commit)
    }
}

/// Turns a path of a file tree into objects (Kustomize, a plain directory, ...).
///
/// Contract: pure in its inputs (same tree and path, same objects in the same order);
/// reads nothing outside the tree; errors name the file and field.
pub trait Renderer: Send + Sync {
    /// The error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Renders the directory `path` of `tree`.
    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Self::Error>;
}

/// Turns encrypted objects among rendered ones into plain ones (SealedSecrets into
/// Secrets), leaving the others untouched.
///
/// Contract: all or nothing for each object (one bad item fails the object); errors and
/// logs never contain a secret value.
pub trait Decryptor: Send + Sync {
    /// The error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decrypts what it can decrypt.
    fn decrypt(&self, objects: Vec<Object>) -> Result<Vec<Object>, Self::Error>;
}

/// A decryptor that changes nothing, for pipelines without secrets.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDecryption;

impl Decryptor for NoDecryption {
    type Error = std::convert::Infallible;

    fn decrypt(&self, objects: Vec<Object>) -> Result<Vec<Object>, Self::Error> {
        Ok(objects)
    }
}

/// What a cluster serves for a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Group, version and kind.
    pub gvk: GroupVersionKind,
    /// The plural resource name used in URLs.
    pub plural: String,
    /// Whether objects of the kind live in namespaces.
    pub namespaced: bool,
}

/// Options of a server-side apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The field manager (default `gitops`).
    pub field_manager: String,
    /// Take ownership of conflicting fields.
    pub force: bool,
    /// Ask the server what would happen, changing nothing (`dryRun=All`).
    pub dry_run: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { field_manager: "gitops".into(), force: true, dry_run: false }
    }
}

/// How dependents are deleted with their owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Propagation {
    /// The owner goes at once, the garbage collector deletes dependents afterwards.
    #[default]
    Background,
    /// The owner stays (with a finalizer) until its blocking dependents are gone.
    Foreground,
    /// Dependents stay, their owner references removed.
    Orphan,
}

impl Propagation {
    /// The value of `propagationPolicy`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// A change seen by a watch.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// An object was created or changed.
    Applied(Object),
    /// An object was deleted (its last state).
    Deleted(Object),
    /// The watch restarted: this is the complete current list.
    Restarted(Vec<Object>),
}

/// A stream of watch events.
pub type WatchStream<E> = Pin<Box<dyn Stream<Item = Result<WatchEvent, E>> + Send>>;

/// A Kubernetes cluster as a sync engine sees it.
///
/// Contract: objects are addressed by GVK, namespace (empty for cluster-scoped kinds) and
/// name; a missing object is `Ok(None)` from `get` and `Ok(false)` from `delete`, not an
/// error; `apply` is server-side apply and returns the object as the server stored it (or
/// would store it, with `dry_run`); errors keep the server's reason and code.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What the cluster serves for a kind, `None` when it does not serve it.
    async fn resource(&self, gvk: &GroupVersionKind) -> Result<Option<ResourceInfo>, Self::Error>;

    /// One object.
    async fn get(&self, gvk: &GroupVersionKind, namespace: &str, name: &str) -> Result<Option<Object>, Self::Error>;

    /// Objects of a kind, in one namespace or all (`None`), filtered by a label selector
    /// (empty for all).
    async fn list(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Object>, Self::Error>;

    /// Server-side apply.
    async fn apply(&self, object: &Object, options: &ApplyOptions) -> Result<Object, Self::Error>;

    /// Deletes an object; `false` when it did not exist.
    async fn delete(
        &self,
        gvk: &GroupVersionKind,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool, Self::Error>;

    /// Whether an error is worth retrying: throttling (429), a server error (5xx) or an
    /// optimistic-concurrency conflict (409). The default says no.
    fn is_transient(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// Watches a kind, in one namespace or all, filtered by a label selector.
    async fn watch(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<WatchStream<Self::Error>, Self::Error>;
}
