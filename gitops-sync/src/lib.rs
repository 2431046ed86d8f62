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
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod application;
pub mod cache;
pub mod cluster;
pub mod engine;
pub mod health;
pub mod manager;
pub mod reconciler;

pub use application::Application;
pub use cache::Change;
pub use cluster::{ClusterError, KubeCluster};
pub use engine::{Action, SyncOptions, SyncResult, sync};
pub use health::Health;
pub use manager::{Manager, ManagerOptions, PassResult};
pub use reconciler::{AppState, AppStatus, Reconciler, SyncStatus};

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
    /// An object error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}
