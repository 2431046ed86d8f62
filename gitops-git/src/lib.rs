//! Git sources for the gitops toolkit, over gix.
//!
//! **Status: skeleton.** This crate will implement [`gitops_core::Source`] over gix: clone or
//! fetch into a bare cache per repository, resolve revisions (branch, tag, commit, semver
//! range), read a [`gitops_core::FileTree`] straight from the object database, detect
//! changes under a path and commit image updates. Until then it only defines its error type.
//!
//! ```
//! use gitops_git::Error;
//! let err = Error::UnknownRevision { repo_url: "file:///srv/config.git".into(), reference: "v9".into() };
//! assert!(err.to_string().contains("v9"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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
    /// A file tree error.
    #[error(transparent)]
    Tree(#[from] gitops_core::Error),
}
