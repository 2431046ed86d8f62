//! The sync engine of the gitops toolkit: make a cluster equal to Git, and keep it so.
//!
//! - [`cluster`]: [`KubeCluster`], the [`gitops_core::Cluster`] trait over kube-client, with an
//!   optional watch-fed live-state cache ([`cache`]);
//! - [`engine`]: plan (waves, kind order), server-side apply of what drifted, prune by
//!   ApplySet membership (KEP-3659), per-object results;
//! - [`health`]: kstatus-style health of live objects;
//! - [`manager`]: a [`Manager`] running many applications: bounded concurrency, polling,
//!   self-heal on watch events with back-off when another controller fights;
//! - [`application`]: the Argo CD `Application` subset;
//! - [`controller`]: an [`ApplicationController`] of Argo CD `Application` resources
//!   (status, operations, refresh, finalizers);
//! - [`shard`]: applications shared among replicas through Kubernetes Leases (rendezvous
//!   hashing, handover without two writers), or fixed shards;
//! - [`reconciler`]: a [`Reconciler`] generic over `Source`, `Renderer`, `Decryptor` and
//!   `Cluster`, with self-heal.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gitops_core::Object;
//! use gitops_sync::{KubeCluster, engine::{self, SyncOptions, Action}};
//!
//! let testkit = gitops_testkit::TestCluster::start().await?;
//! let cluster = KubeCluster::new(testkit.client());
//! let mut cm = Object::new("v1", "ConfigMap", "settings");
//! cm.set("/data/color", "blue".into())?;
//! let result = engine::sync(&cluster, vec![cm.clone()], &SyncOptions::new("demo", "default")).await?;
//! assert_eq!(result.count(Action::Created), 1);
//! // The second pass writes nothing.
//! let again = engine::sync(&cluster, vec![cm], &SyncOptions::new("demo", "default")).await?;
//! assert_eq!(again.count(Action::Unchanged), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # A reconciler of your own
//!
//! The four stages are traits of `gitops-core`: any [`gitops_core::Source`] (Git, or memory),
//! [`gitops_core::Renderer`] (Kustomize, or your generator), [`gitops_core::Decryptor`] and
//! [`gitops_core::Cluster`]. Here desired state comes from memory and is rendered by a
//! renderer of a few lines; [`Reconciler::reconcile`] fetches, renders, diffs and syncs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gitops_core::{FileTree, MemSource, MemTree, NoDecryption, Object, Renderer};
//! use gitops_sync::{AppState, Application, KubeCluster, Reconciler, SyncStatus};
//!
//! /// Every file under the path is one YAML object.
//! struct OneObjectPerFile;
//! impl Renderer for OneObjectPerFile {
//!     type Error = gitops_core::Error;
//!     fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Self::Error> {
//!         let mut out = Vec::new();
//!         for entry in tree.list(path)? {
//!             let file = format!("{path}/{}", entry.name);
//!             let text = String::from_utf8_lossy(&tree.read(&file)?).into_owned();
//!             out.extend(gitops_core::yaml::parse_objects(&text, &file, &Default::default())?);
//!         }
//!         Ok(out)
//!     }
//! }
//!
//! let source = MemSource::default();
//! source.set("mem://config", "c1", MemTree::new().with_file("app/cm.yaml",
//!     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n"));
//! let testkit = gitops_testkit::TestCluster::start().await?;
//! let cluster = KubeCluster::with_cache(testkit.client());
//! let reconciler = Reconciler::new(source, OneObjectPerFile, NoDecryption, cluster);
//! let app = Application::from_yaml("apiVersion: argoproj.io/v1alpha1\nkind: Application
//! metadata: {name: demo}
//! spec:
//!   source: {repoURL: 'mem://config', path: app}
//!   destination: {namespace: demo}
//!   syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: [CreateNamespace=true]}
//! ", "demo.yaml")?;
//! let mut state = AppState::new(app);
//! reconciler.reconcile(&mut state).await?;
//! assert_eq!(state.status.sync, SyncStatus::Synced);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod application;
pub mod cache;
pub mod cluster;
pub mod controller;
pub mod destinations;
pub mod engine;
pub mod health;
pub mod manager;
pub mod project;
pub mod reconciler;
pub mod shard;

pub use application::Application;
pub use cache::Change;
pub use cluster::{ClusterError, KubeCluster};
pub use controller::{ApplicationController, ControllerOptions};
pub use engine::{Action, SyncOptions, SyncResult, sync};
pub use health::Health;
pub use manager::{Manager, ManagerOptions, PassResult};
pub use project::AppProject;
pub use reconciler::{AppState, AppStatus, Reconciler, SyncRequest, SyncStatus};

/// Everything that can go wrong in gitops-sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An Application manifest is not valid.
    #[error("{file}: {reason}")]
    Application {
        /// The manifest's file or label.
        file: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The render produced nothing and pruning would delete everything.
    #[error("application {app}: the render is empty; refusing to prune everything (set allowEmpty to allow it)")]
    EmptyRender {
        /// The application.
        app: String,
    },
    /// Fetching from the source failed.
    #[error("source: {0}")]
    Source(String),
    /// Rendering failed.
    #[error("render: {0}")]
    Render(String),
    /// Decrypting failed.
    #[error("decrypt: {0}")]
    Decrypt(String),
    /// The cluster failed.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The application breaks its AppProject's rules (nothing was applied or pruned).
    #[error("project: {0}")]
    Project(String),
    /// The destination names no known cluster, or an object it may not hold.
    #[error("invalid destination: {0}")]
    Destination(String),
    /// An object error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}
