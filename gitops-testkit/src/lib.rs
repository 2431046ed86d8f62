//! An in-process Kubernetes API server for tests, served over real HTTP to the real
//! kube-client.
//!
//! **Status: skeleton.** This crate will serve discovery, CRUD, server-side apply with
//! managedFields, watch, namespaces, CRDs, garbage collection and fault injection on
//! 127.0.0.1. Until then it only defines its error type.
//!
//! ```
//! use gitops_testkit::Error;
//! let err = Error::Bind { reason: "address in use".into() };
//! assert!(err.to_string().contains("address in use"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Everything that can go wrong in gitops-testkit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not listen.
    #[error("cannot listen on 127.0.0.1: {reason}")]
    Bind {
        /// Why.
        reason: String,
    },
}
