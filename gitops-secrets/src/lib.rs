//! Sealed Secrets for the gitops toolkit, byte-compatible with `kubeseal` and the Bitnami
//! controller.
//!
//! Config repositories hold secrets only as `SealedSecret`s: each item of a Secret is
//! encrypted with the cluster's public certificate on a workstation and decrypted only where
//! the private key lives. This crate reads and writes exactly the bytes and objects `kubeseal`
//! and the controller do:
//!
//! - [`keys`]: key pairs (generated as the controller generates them, read from PEM in
//!   PKCS#1 or PKCS#8 and from key-Secret backups), certificates, SSH-style fingerprints and a
//!   [`KeyRing`] that unseals with every key and knows the newest.
//! - [`seal`], [`seal_raw`], [`merge_into`], [`re_encrypt`]: what `kubeseal` does offline.
//! - [`unseal`]: the Secret the controller would create, all or nothing, with errors that name
//!   each failing item and its likely cause, never a value.
//! - [`SealedSecretsDecryptor`]: a [`gitops_core::Decryptor`] that turns the SealedSecrets
//!   among rendered objects into Secrets, for reconcilers that unseal in-process.
//! - [`output`]: kubeseal's JSON and YAML layouts.
//!
//! ```
//! use gitops_secrets::{KeyPair, KeyRing, SealOptions, SystemEntropy, UnsealOptions};
//! use gitops_core::json;
//!
//! # fn main() -> Result<(), gitops_secrets::Error> {
//! let pair = KeyPair::generate(2048, "", gitops_secrets::keys::DEFAULT_KEY_TTL)?;
//! let cert = pair.certificate.clone().unwrap();
//! let secret = json!({
//!     "apiVersion": "v1", "kind": "Secret",
//!     "metadata": { "name": "db", "namespace": "payments" },
//!     "stringData": { "password": "hunter2" }
//! });
//! let sealed = gitops_secrets::seal(&secret, &cert, &SealOptions::default(), &mut SystemEntropy::default())?;
//! assert!(sealed["spec"]["encryptedData"]["password"].as_str().unwrap().starts_with("AQ"));
//!
//! let mut ring = KeyRing::new();
//! ring.add(pair);
//! let plain = gitops_secrets::unseal(&sealed, &ring, &UnsealOptions::default())?;
//! assert_eq!(plain["data"]["password"], "aHVudGVyMg==");
//! # Ok(()) }
//! ```
//!
//! # Cryptography, and why aws-lc-rs
//!
//! A sealed value is `u16 BE length || RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session key) ||
//! AES-256-GCM(zero nonce)(plaintext) || tag`; the label binds it to the scope (strict:
//! `namespace/name`, namespace-wide: `namespace`, cluster-wide: empty).
//!
//! Decryption is what an attacker can feed ciphertexts to (a controller unseals whatever is
//! committed), so it must be constant-time. The `rsa` crate carries RUSTSEC-2023-0071 (the
//! Marvin timing attack) with no patched release in the RustSec database of August 2026, so it
//! is not used. RSA-OAEP decryption and AES-GCM go through aws-lc-rs (AWS-LC, constant-time
//! RSA with blinding, FIPS-validated module family).
//!
//! Encryption needs to be reproducible for the interoperability vectors (the OAEP seed must
//! be injectable), which aws-lc-rs does not allow; so the OAEP encoding (RFC 8017 §7.1.1) is
//! done here and the public-key operation `m^e mod n` with `num-bigint`. It handles only the
//! public key and a fresh random session key on the sealing machine; it is not an oracle an
//! attacker can query. Secret material (session keys, plaintexts, key DER) is held in
//! `Zeroizing` buffers and wiped on drop.
//!
//! # In a reconciler
//!
//! Give a [`SealedSecretsDecryptor`] (with the controller's keys, e.g. from
//! [`KeyRing::add_controller_secrets`]) to `gitops_sync::Reconciler::new`: rendered
//! SealedSecrets become Secrets before the diff, so they are applied, pruned and masked like any
//! other object. With an empty ring they pass through for an in-cluster controller.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crypto;
mod der;
pub mod keys;
pub mod output;
mod sealed;
pub mod sops;
mod template;

pub use crypto::{DeterministicEntropy, Entropy, SystemEntropy};
pub use keys::{Certificate, KeyOrder, KeyPair, KeyRing, PrivateKey, PublicKey};
pub use sealed::{
    API_VERSION, CLUSTER_WIDE, NAMESPACE_WIDE, SKIP_OWNER_REFERENCES, Scope, SealOptions, UnsealOptions, merge_into,
    re_encrypt, read_objects, seal, seal_raw, unseal,
};

use gitops_core::Object;

/// Renders a SealedSecret template (`spec.template.data` values: the Go `text/template`
/// subset with Sprig's common functions that the controller supports) over decrypted items.
/// Errors name the problem, never an item's value.
///
/// ```
/// let items = [("user".to_string(), b"admin".to_vec())].into_iter().collect();
/// let out = gitops_secrets::render_template("{{ .user | upper }}:{{ index . \"user\" | b64enc }}", &items).unwrap();
/// assert_eq!(out, b"ADMIN:YWRtaW4=");
/// ```
pub fn render_template(
    template: &str,
    items: &std::collections::BTreeMap<String, Vec<u8>>,
) -> std::result::Result<Vec<u8>, String> {
    let items = items.iter().map(|(k, v)| (k.clone(), zeroize::Zeroizing::new(v.clone()))).collect();
    template::render(template, &items).map(|out| out.to_vec())
}

/// Everything that can go wrong in gitops-secrets. Messages never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unsealing failed for at least one item; nothing was produced.
    #[error("{object}: {message}{}", if hint.is_empty() { String::new() } else { format!("\n  likely cause: {hint}") })]
    Unseal {
        /// `SealedSecret namespace/name`.
        object: String,
        /// The controller's message, with failing items in parentheses.
        message: String,
        /// The likely cause, when one can be told.
        hint: String,
    },
    /// A PEM file could not be read.
    #[error("{file}: {message}")]
    Pem {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A private key could not be read or made.
    #[error("{file}: {message}")]
    Key {
        /// The file or Secret.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A certificate could not be read.
    #[error("{file}: {message}")]
    Certificate {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// kubeseal refuses expired certificates, and so do we.
    #[error("failed to encrypt using an expired certificate on {date}")]
    ExpiredCertificate {
        /// `NotAfter`, as Go's `January 2, 2006`.
        date: String,
    },
    /// Bad input: the message names the object and field.
    #[error("{0}")]
    Input(String),
    /// A cryptographic primitive failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// An object or YAML error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A [`gitops_core::Decryptor`] that unseals every SealedSecret among rendered objects into
/// its Secret, in place, with the keys of its ring. The Secret gets no owner reference (no
/// SealedSecret object exists in the cluster; the applier owns the Secret instead); all other
/// objects pass through. One SealedSecret that fails fails the whole batch, so nothing is
/// applied half-decrypted. With an empty ring, SealedSecrets pass through unchanged, to be
/// applied for an in-cluster controller to unseal.
#[derive(Clone, Debug, Default)]
pub struct SealedSecretsDecryptor {
    ring: KeyRing,
}

impl SealedSecretsDecryptor {
    /// A decryptor over `ring`.
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }

    /// The ring.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }
}

impl gitops_core::Decryptor for SealedSecretsDecryptor {
    type Error = Error;

    fn decrypt(&self, objects: Vec<Object>) -> Result<Vec<Object>> {
        if self.ring.is_empty() {
            return Ok(objects);
        }
        let options = UnsealOptions { accept_legacy_data: true, without_owner_reference: true };
        let mut failures = Vec::new();
        let mut out = Vec::with_capacity(objects.len());
        for object in objects {
            if object.api_version() == API_VERSION && object.kind() == "SealedSecret" {
                match unseal(object.as_value(), &self.ring, &options) {
                    Ok(secret) => out.push(Object::from_value(secret)?),
                    Err(e) => failures.push(e.to_string()),
                }
            } else {
                out.push(object);
            }
        }
        if failures.is_empty() { Ok(out) } else { Err(Error::Input(failures.join("\n"))) }
    }
}
