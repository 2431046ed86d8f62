//! The sync engine of the gitops toolkit.
//!
//! **Status: skeleton.** This crate will hold the kube-client [`gitops_core::Cluster`], the
//! engine (plan by wave and kind, server-side apply, prune by ApplySet, health, self-heal),
//! the Argo CD `Application` subset and a reusable `Reconciler`. Until then it only defines
//! its error type.
//!
//! ```
//! use gitops_sync::Error;
//! let err = Error::Application { file: "apps/web.yaml".into(), reason: "missing field \"spec.source\"".into() };
//! assert!(err.to_string().contains("apps/web.yaml"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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
    /// An object error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}
