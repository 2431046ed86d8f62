//! Sealed Secrets for the gitops toolkit, byte-compatible with `kubeseal` and the Bitnami
//! controller.
//!
//! **Status: skeleton.** This crate will seal Secrets into SealedSecrets (strict,
//! namespace-wide and cluster-wide scopes), unseal them with a key ring, manage key pairs
//! and provide a [`gitops_core::Decryptor`]. Until then it only defines its error type.
//!
//! ```
//! use gitops_secrets::Error;
//! let err = Error::NoKey { object: "payments/db-credentials".into() };
//! assert!(err.to_string().contains("db-credentials"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Everything that can go wrong in gitops-secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No key of the ring decrypts the object.
    #[error("{object}: no key could decrypt it")]
    NoKey {
        /// `namespace/name` of the SealedSecret.
        object: String,
    },
    /// An object error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}
