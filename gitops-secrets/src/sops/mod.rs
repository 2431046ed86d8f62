//! SOPS, compatible with the `sops` tool (3.x): files in YAML, JSON, dotenv, INI and binary
//! form whose values are encrypted with a data key, itself encrypted to age recipients
//! (X25519 and SSH ed25519) and OpenPGP keys, optionally split across key groups with
//! Shamir's scheme.
//!
//! - [`decrypt`] prints what `sops decrypt` prints, byte for byte; the MAC is verified
//!   before any value is returned (unless [`DecryptOptions::ignore_mac`]).
//! - [`encrypt`] writes what `sops encrypt` writes (values, metadata, MAC), for
//!   [`EncryptOptions`] built by hand or from a `.sops.yaml` [`Config`].
//! - [`update_keys`] re-encrypts the data key for a new set of key groups, as
//!   `sops updatekeys` does.
//! - [`SopsRenderer`]: a [`gitops_core::Renderer`] wrapper for reconcilers that decrypts SOPS
//!   files as they are read (manifests, generator files), as Flux's kustomize-controller does.
//!
//! Errors name the file and, for values, the path of the value; never a value, a key or a
//! data key.

mod age_keys;
mod cipher;
mod config;
mod dotenv;
mod goformat;
mod ini;
mod json;
mod metadata;
mod pgp;
mod reconcile;
mod scalar;
mod shamir;
mod tree;
mod walk;
mod yaml_read;
mod yaml_write;

use regex::Regex;
use zeroize::Zeroizing;

pub use age_keys::SshEd25519Identity;
pub use config::{Config, CreationRule};
pub use metadata::{MasterKey, Metadata, RuleOptions};
pub use pgp::Key as PgpKey;
pub use reconcile::{DecryptingTree, SopsRenderer, decrypt_file};
pub use tree::{Branch, Item, Scalar, Value};
pub use walk::Rules;

/// The version written into `sops.version`: the file format of `sops` 3.11.
pub const FORMAT_VERSION: &str = "3.11.0";

pub(crate) fn random(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("the system random number generator failed");
}

/// A file format, as `sops` chooses it from the file name or `--input-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.yaml`, `.yml`.
    Yaml,
    /// `.json`.
    Json,
    /// `.env`.
    Dotenv,
    /// `.ini`.
    Ini,
    /// Anything else: the whole file is one value.
    Binary,
}

impl Format {
    /// The format of a file by its extension, as `sops` decides it.
    pub fn from_path(path: &str) -> Format {
        let ext = std::path::Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "env" => Format::Dotenv,
            "ini" => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// From `--input-type`/`--output-type` names.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }
}

/// What went wrong, with the exit code `sops` uses for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input could not be read in its format.
    Input,
    /// The `sops` metadata is missing or invalid.
    Metadata,
    /// No key available opens the data key.
    NoDataKey,
    /// A value did not decrypt (altered, moved, or not encrypted where it must be).
    Decrypt,
    /// The MAC did not decrypt or does not match.
    Mac,
    /// Encryption failed (bad recipient, unknown key, bad rule).
    Encrypt,
    /// A `.sops.yaml` problem.
    Config,
}

impl ErrorKind {
    /// The exit code `sops` 3.11 uses.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::Metadata => 2,
            ErrorKind::NoDataKey => 128,
            ErrorKind::Decrypt => 25,
            ErrorKind::Mac => 51,
            ErrorKind::Encrypt => 23,
            ErrorKind::Config => 5,
        }
    }
}

/// A SOPS error: the file, what kind, and a message without secret values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The file (or name given for the input).
    pub file: String,
    /// What went wrong.
    pub message: String,
}

fn err(kind: ErrorKind, file: &str, message: impl Into<String>) -> Error {
    Error { kind, file: file.into(), message: message.into() }
}

/// The keys available for decryption (and OpenPGP public keys for encryption).
#[derive(Default)]
pub struct Keys {
    age: Vec<age::x25519::Identity>,
    ssh: Vec<SshEd25519Identity>,
    pgp: Vec<pgp::Key>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} age, {} ssh, {} pgp)", self.age.len(), self.ssh.len(), self.pgp.len())
    }
}

impl Keys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is no key at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.ssh.is_empty() && self.pgp.is_empty()
    }

    /// Adds the age identities of a key file (`AGE-SECRET-KEY-1...` lines); returns how many.
    pub fn add_age(&mut self, text: &str, source: &str) -> Result<usize, Error> {
        let ids = age_keys::parse_identities(text).map_err(|m| err(ErrorKind::Input, source, m))?;
        let n = ids.len();
        self.age.extend(ids);
        Ok(n)
    }

    /// Adds an OpenSSH ed25519 private key as an age identity.
    pub fn add_ssh(&mut self, text: &str, source: &str) -> Result<(), Error> {
        self.ssh.push(SshEd25519Identity::from_openssh(text).map_err(|m| err(ErrorKind::Input, source, m))?);
        Ok(())
    }

    /// Adds the OpenPGP keys (secret or public, armored or binary); returns how many.
    pub fn add_pgp(&mut self, data: &[u8], source: &str) -> Result<usize, Error> {
        let keys = pgp::read_keys(data, source).map_err(|m| err(ErrorKind::Input, source, m))?;
        let n = keys.len();
        self.pgp.extend(keys);
        Ok(n)
    }

    /// The OpenPGP keys read.
    pub fn pgp_keys(&self) -> &[PgpKey] {
        &self.pgp
    }

    /// The recipients of the age identities (`age1...`, `ssh-ed25519 ...`).
    pub fn age_recipients(&self) -> Vec<String> {
        self.age.iter().map(|i| i.to_public().to_string()).chain(self.ssh.iter().map(|s| s.recipient())).collect()
    }

    /// The keys `sops` would find in the environment: `SOPS_AGE_KEY_FILE` (else
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt` if present),
    /// `SOPS_AGE_KEY`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, and `SOPS_PGP_KEY_FILE` (an armored
    /// OpenPGP key file: there is no GnuPG keyring to read).
    pub fn from_env() -> Result<Keys, Error> {
        let mut keys = Keys::new();
        let read =
            |path: &str| std::fs::read(path).map_err(|e| err(ErrorKind::Input, path, format!("cannot read: {e}")));
        let age_file = std::env::var("SOPS_AGE_KEY_FILE").ok().or_else(|| {
            let base = std::env::var("XDG_CONFIG_HOME")
                .ok()
                .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.config")))?;
            let p = format!("{base}/sops/age/keys.txt");
            std::path::Path::new(&p).exists().then_some(p)
        });
        if let Some(path) = age_file {
            let text = read(&path)?;
            keys.add_age(&String::from_utf8_lossy(&text), &path)?;
        }
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            keys.add_age(&text, "SOPS_AGE_KEY")?;
        }
        if let Ok(path) = std::env::var("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let text = read(&path)?;
            keys.add_ssh(&String::from_utf8_lossy(&text), &path)?;
        }
        if let Ok(paths) = std::env::var("SOPS_PGP_KEY_FILE") {
            for path in paths.split(':').filter(|p| !p.is_empty()) {
                let data = read(path)?;
                keys.add_pgp(&data, path)?;
            }
        }
        Ok(keys)
    }
}

/// How to decrypt.
#[derive(Clone, Debug, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
}

/// A decrypted file: its documents and its metadata.
#[derive(Clone, Debug)]
pub struct Decrypted {
    /// The documents (one, except for multi-document YAML).
    pub branches: Vec<Branch>,
    /// The metadata.
    pub metadata: Metadata,
    /// Paths of comments that did not decrypt and were kept as they are.
    pub kept_comments: Vec<String>,
}

/// Parses a plaintext file in `format` into documents.
pub fn load_plain(input: &[u8], format: Format, file: &str) -> Result<Vec<Branch>, Error> {
    let text = || std::str::from_utf8(input).map_err(|_| err(ErrorKind::Input, file, "the file is not UTF-8"));
    let bad = |m: String| err(ErrorKind::Input, file, format!("Error unmarshalling input {}: {m}", name_of(format)));
    Ok(match format {
        Format::Yaml => yaml_read::parse(text()?).map_err(bad)?,
        Format::Json => vec![json::parse(text()?).map_err(bad)?],
        Format::Dotenv => vec![dotenv::parse(text()?).map_err(bad)?],
        Format::Ini => vec![ini::parse(text()?).map_err(bad)?],
        Format::Binary => {
            let v = match std::str::from_utf8(input) {
                Ok(s) => Scalar::Str(s.to_string()),
                Err(_) => Scalar::Bytes(input.to_vec()),
            };
            vec![vec![Item::Pair("data".into(), Value::Scalar(v))]]
        }
    })
}

fn name_of(format: Format) -> &'static str {
    match format {
        Format::Yaml => "YAML",
        Format::Json => "JSON",
        Format::Dotenv => "dotenv",
        Format::Ini => "INI",
        Format::Binary => "binary",
    }
}

/// Writes documents in `format`, as `sops decrypt` prints them.
pub fn emit_plain(branches: &[Branch], format: Format, file: &str) -> Result<Vec<u8>, Error> {
    let bad = |m: String| err(ErrorKind::Input, file, m);
    let first = || branches.first().cloned().unwrap_or_default();
    Ok(match format {
        Format::Yaml => yaml_write::emit(branches).into_bytes(),
        Format::Json => json::emit(&first()).into_bytes(),
        Format::Dotenv => dotenv::emit(&first()).map_err(bad)?.into_bytes(),
        Format::Ini => ini::emit(&first()).map_err(bad)?.into_bytes(),
        Format::Binary => match tree::get(&first(), "data") {
            Some(Value::Scalar(Scalar::Str(s))) => s.clone().into_bytes(),
            Some(Value::Scalar(Scalar::Bytes(b))) => b.clone(),
            _ => return Err(bad("error emitting binary store: no binary data found in tree".into())),
        },
    })
}

/// Reads an encrypted file: its documents (values still encrypted) and its metadata.
pub fn load_encrypted(input: &[u8], format: Format, file: &str) -> Result<(Vec<Branch>, Metadata), Error> {
    let store = if format == Format::Binary { Format::Json } else { format };
    let mut branches = load_plain(input, store, file)?;
    let missing = || err(ErrorKind::Metadata, file, "sops metadata not found");
    let bad_md = |m: String| err(ErrorKind::Metadata, file, format!("invalid sops metadata: {m}"));
    let md_json = match store {
        Format::Yaml | Format::Json | Format::Binary => {
            let mut found = None;
            for (i, b) in branches.iter_mut().enumerate() {
                let mut j = 0;
                while j < b.len() {
                    if matches!(&b[j], Item::Pair(k, _) if k == "sops") {
                        let Item::Pair(_, v) = b.remove(j) else { unreachable!() };
                        if i == 0 {
                            if found.is_some() {
                                return Err(err(ErrorKind::Metadata, file, "Found duplicate sops entry"));
                            }
                            match v {
                                Value::Map(m) => found = Some(metadata::branch_to_json(&m)),
                                _ => {
                                    return Err(err(
                                        ErrorKind::Metadata,
                                        file,
                                        "Found sops entry that is not a mapping",
                                    ));
                                }
                            }
                        }
                    } else {
                        j += 1;
                    }
                }
            }
            found.ok_or_else(missing)?
        }
        Format::Dotenv => {
            let b = branches.first_mut().ok_or_else(missing)?;
            let mut flat = Vec::new();
            b.retain(|item| match item {
                Item::Pair(k, v) if k.starts_with("sops_") => {
                    let text = match v {
                        Value::Scalar(s) => tree::to_text(s),
                        _ => String::new(),
                    };
                    flat.push((k["sops_".len()..].to_string(), text));
                    false
                }
                _ => true,
            });
            if flat.is_empty() {
                return Err(missing());
            }
            metadata::unflatten(&flat).map_err(bad_md)?
        }
        Format::Ini => {
            let b = branches.first_mut().ok_or_else(missing)?;
            let pos = b.iter().position(|i| matches!(i, Item::Pair(k, _) if k == "sops")).ok_or_else(missing)?;
            let Item::Pair(_, Value::Map(section)) = b.remove(pos) else { return Err(missing()) };
            let flat: Vec<(String, String)> = section
                .iter()
                .filter_map(|i| match i {
                    Item::Pair(k, Value::Scalar(s)) => Some((k.clone(), tree::to_text(s).replace("\\n", "\n"))),
                    _ => None,
                })
                .collect();
            metadata::unflatten(&flat).map_err(bad_md)?
        }
    };
    let md = Metadata::from_json(&md_json).map_err(bad_md)?;
    Ok((branches, md))
}

/// The encryption rules of a file's metadata.
pub fn rules_of(md: &Metadata, file: &str) -> Result<Rules, Error> {
    let md = &md.rules;
    let re = |r: &Option<String>, field: &str| -> Result<Option<Regex>, Error> {
        r.as_deref()
            .map(|r| {
                Regex::new(r)
                    .map_err(|e| err(ErrorKind::Metadata, file, format!("{field}: invalid regular expression: {e}")))
            })
            .transpose()
    };
    let none = md.count() == 0;
    Ok(Rules {
        unencrypted_suffix: if none { Some("_unencrypted".into()) } else { md.unencrypted_suffix.clone() },
        encrypted_suffix: md.encrypted_suffix.clone(),
        unencrypted_regex: re(&md.unencrypted_regex, "unencrypted_regex")?,
        encrypted_regex: re(&md.encrypted_regex, "encrypted_regex")?,
        unencrypted_comment_regex: re(&md.unencrypted_comment_regex, "unencrypted_comment_regex")?,
        encrypted_comment_regex: re(&md.encrypted_comment_regex, "encrypted_comment_regex")?,
        mac_only_encrypted: md.mac_only_encrypted,
    })
}

/// Recovers the data key with `keys`: for each key group, age keys are tried first, then
/// OpenPGP; with several groups the parts are combined (Shamir) once the threshold is met.
pub fn data_key(md: &Metadata, keys: &Keys, file: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut reasons = Vec::new();
    let threshold = if md.groups.len() > 1 {
        if md.shamir_threshold == 0 { md.groups.len() } else { md.shamir_threshold }
    } else {
        1
    };
    for group in &md.groups {
        let mut ordered: Vec<&MasterKey> = group.iter().filter(|k| matches!(k, MasterKey::Age { .. })).collect();
        ordered.extend(group.iter().filter(|k| matches!(k, MasterKey::Pgp { .. })));
        for k in ordered {
            let got = match k {
                MasterKey::Age { enc, .. } if !keys.age.is_empty() || !keys.ssh.is_empty() => {
                    age_keys::decrypt(enc, &keys.age, &keys.ssh)
                }
                MasterKey::Pgp { enc, .. } if keys.pgp.iter().any(|k| k.has_secret()) => {
                    pgp::decrypt(enc.as_bytes(), &keys.pgp)
                }
                _ => continue,
            };
            match got {
                Ok(v) => {
                    parts.push(v);
                    break;
                }
                Err(e) => reasons.push(format!("{}: {e}", k.describe())),
            }
        }
        if parts.len() >= threshold {
            break;
        }
    }
    let fail = |why: String| {
        let mut m = format!(
            "Failed to get the data key required to decrypt the SOPS file: {why}. The file was encrypted for: {}",
            md.describe_keys().join(", ")
        );
        if !reasons.is_empty() {
            m.push_str(&format!(" (tried: {})", reasons.join("; ")));
        }
        err(ErrorKind::NoDataKey, file, m)
    };
    if parts.len() < threshold {
        let why = if md.groups.len() > 1 {
            format!("{} of {} key groups decrypted, {threshold} needed", parts.len(), md.groups.len())
        } else if keys.is_empty() {
            "no keys were given (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_PGP_KEY_FILE)"
                .into()
        } else {
            "none of the given keys opens it".into()
        };
        return Err(fail(why));
    }
    let key = if threshold > 1 {
        let owned: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        Zeroizing::new(shamir::combine(&owned).map_err(|e| fail(format!("cannot combine key group parts: {e}")))?)
    } else {
        parts.swap_remove(0)
    };
    let arr: [u8; 32] =
        key.as_slice().try_into().map_err(|_| fail(format!("the data key has {} bytes, not 32", key.len())))?;
    Ok(Zeroizing::new(arr))
}

/// Decrypts an encrypted file into its documents, verifying the MAC.
pub fn decrypt_tree(
    input: &[u8],
    format: Format,
    keys: &Keys,
    opts: &DecryptOptions,
    file: &str,
) -> Result<Decrypted, Error> {
    let (mut branches, md) = load_encrypted(input, format, file)?;
    let rules = rules_of(&md, file)?;
    let key = data_key(&md, keys, file)?;
    let (computed, kept) = walk::decrypt(&mut branches, &rules, &key).map_err(|e| {
        err(
            ErrorKind::Decrypt,
            file,
            format!("Error decrypting tree: could not decrypt the value at {}: {}", e.path, e.error),
        )
    })?;
    if !opts.ignore_mac {
        let aad = goformat::rfc3339(&md.lastmodified).ok_or_else(|| {
            err(ErrorKind::Metadata, file, format!("lastmodified {:?} is not an RFC 3339 time", md.lastmodified))
        })?;
        let stored = match &md.mac {
            None => {
                return Err(err(ErrorKind::Mac, file, format!("MAC mismatch. File has no MAC, computed {computed}")));
            }
            Some(enc) => match cipher::decrypt(enc, &key, &aad) {
                Ok(Value::Scalar(Scalar::Str(s))) => s,
                Ok(_) => return Err(err(ErrorKind::Mac, file, "Cannot decrypt MAC: it is not a string")),
                Err(e) => return Err(err(ErrorKind::Mac, file, format!("Cannot decrypt MAC: {e}"))),
            },
        };
        if stored != computed {
            return Err(err(ErrorKind::Mac, file, format!("MAC mismatch. File has {stored}, computed {computed}")));
        }
    }
    Ok(Decrypted { branches, metadata: md, kept_comments: kept })
}

/// Decrypts an encrypted file and writes it as `sops decrypt` does.
pub fn decrypt(input: &[u8], format: Format, keys: &Keys, opts: &DecryptOptions, file: &str) -> Result<Vec<u8>, Error> {
    let d = decrypt_tree(input, format, keys, opts, file)?;
    emit_plain(&d.branches, format, file)
}

/// Whether `input` carries SOPS metadata (and so is a SOPS file).
pub fn is_encrypted(input: &[u8], format: Format) -> bool {
    load_encrypted(input, format, "").is_ok()
}

/// A key to encrypt the data key to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// `age1...` or `ssh-ed25519 ...`.
    Age(String),
    /// An OpenPGP fingerprint; the public key must be among the [`Keys`].
    Pgp(String),
}

/// How to encrypt a file.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Key groups; one group unless Shamir is wanted.
    pub groups: Vec<Vec<Recipient>>,
    /// Groups needed to decrypt (default: all of them).
    pub shamir_threshold: usize,
    /// Which values are encrypted (the default `unencrypted_suffix: _unencrypted` applies when
    /// no rule is set), and what the MAC covers.
    pub rules: RuleOptions,
}

/// The Shamir threshold written for `groups` key groups and an asked `threshold` (0: all).
fn threshold_of(groups: usize, threshold: usize) -> usize {
    match (groups, threshold) {
        (0 | 1, _) => 0,
        (n, 0) => n,
        (_, t) => t,
    }
}

fn encrypt_key_for(data: &[u8], r: &Recipient, keys: &Keys, now: &str) -> Result<MasterKey, String> {
    match r {
        Recipient::Age(rec) => {
            let parsed = age_keys::parse_recipient(rec)?;
            Ok(MasterKey::Age { recipient: rec.trim().to_string(), enc: age_keys::encrypt(data, &[parsed])? })
        }
        Recipient::Pgp(fp) => {
            let key = pgp::encryption_key(&keys.pgp, fp).ok_or_else(|| {
                format!("no OpenPGP public key with fingerprint {fp} among the given keys (SOPS_PGP_KEY_FILE)")
            })?;
            let primary = if key.is_subkey { key.primary.clone() } else { key.fingerprint.clone() };
            Ok(MasterKey::Pgp { fp: primary, enc: pgp::encrypt(data, key)?, created_at: now.to_string() })
        }
    }
}

/// Encrypts the data key for `groups`: directly with one group, as Shamir parts otherwise.
fn key_groups_for(
    key: &[u8; 32],
    groups: &[Vec<Recipient>],
    threshold: usize,
    keys: &Keys,
    now: &str,
    file: &str,
) -> Result<Vec<Vec<MasterKey>>, Error> {
    let fail = |m: String| err(ErrorKind::Encrypt, file, m);
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(fail("no recipients: give --age or --pgp, or a .sops.yaml creation rule".into()));
    }
    let parts: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(key.to_vec())]
    } else {
        let t = threshold_of(groups.len(), threshold);
        shamir::split(key, groups.len(), t).map_err(fail)?.into_iter().map(Zeroizing::new).collect()
    };
    groups
        .iter()
        .zip(parts.iter())
        .map(|(g, part)| g.iter().map(|r| encrypt_key_for(part, r, keys, now).map_err(fail)).collect())
        .collect()
}

fn now_rfc3339() -> String {
    gitops_core::time::now_rfc3339()
}

/// Encrypts a plaintext file as `sops encrypt` does.
pub fn encrypt(input: &[u8], format: Format, opts: &EncryptOptions, keys: &Keys, file: &str) -> Result<Vec<u8>, Error> {
    let mut branches = load_plain(input, format, file)?;
    for b in &branches {
        if b.iter().any(
            |i| matches!(i, Item::Pair(k, _) if k == "sops" || (format == Format::Dotenv && k.starts_with("sops_"))),
        ) {
            return Err(err(
                ErrorKind::Input,
                file,
                "the file has a top-level entry called 'sops' (it is already encrypted, or uses the name SOPS reserves for its metadata)",
            ));
        }
    }
    let mut key = Zeroizing::new([0u8; 32]);
    random(key.as_mut());
    let now = now_rfc3339();
    let groups = key_groups_for(&key, &opts.groups, opts.shamir_threshold, keys, &now, file)?;
    let mut md = Metadata {
        groups,
        grouped: opts.groups.len() > 1,
        shamir_threshold: threshold_of(opts.groups.len(), opts.shamir_threshold),
        lastmodified: now.clone(),
        mac: None,
        rules: opts.rules.clone(),
        version: FORMAT_VERSION.into(),
    };
    match md.rules.count() {
        0 => md.rules.unencrypted_suffix = Some("_unencrypted".into()),
        1 => {}
        _ => return Err(err(ErrorKind::Encrypt, file, metadata::TOO_MANY_RULES)),
    }
    let rules = rules_of(&md, file).map_err(|e| Error { kind: ErrorKind::Encrypt, ..e })?;
    let mac = walk::encrypt(&mut branches, &rules, &key)
        .map_err(|e| err(ErrorKind::Encrypt, file, format!("Error encrypting tree at {}: {}", e.path, e.error)))?;
    md.mac = Some(cipher::encrypt(mac.as_bytes(), "str", &key, &now));
    emit_encrypted(branches, &md, format, file)
}

/// Writes encrypted documents with their metadata, as each store does.
pub fn emit_encrypted(mut branches: Vec<Branch>, md: &Metadata, format: Format, file: &str) -> Result<Vec<u8>, Error> {
    let md_branch = md.to_branch();
    match format {
        Format::Yaml | Format::Json | Format::Binary => {
            for b in branches.iter_mut() {
                b.push(Item::Pair("sops".into(), Value::Map(md_branch.clone())));
            }
            if format == Format::Yaml {
                Ok(yaml_write::emit(&branches).into_bytes())
            } else {
                Ok(json::emit(&branches[0]).into_bytes())
            }
        }
        Format::Dotenv => {
            let b = &mut branches[0];
            for (k, v) in metadata::flatten(&md_branch, "sops_") {
                b.push(Item::Pair(k, Value::Scalar(v)));
            }
            emit_plain(&branches, format, file)
        }
        Format::Ini => {
            let section: Branch = metadata::flatten(&md_branch, "")
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Scalar::Str(s) => Scalar::Str(s.replace('\n', "\\n")),
                        other => other,
                    };
                    Item::Pair(k, Value::Scalar(v))
                })
                .collect();
            branches[0].push(Item::Pair("sops".into(), Value::Map(section)));
            emit_plain(&branches, format, file)
        }
    }
}

/// Re-encrypts the data key of an encrypted file for new key groups (`sops updatekeys`):
/// values, MAC and `lastmodified` stay as they are.
pub fn update_keys(
    input: &[u8],
    format: Format,
    keys: &Keys,
    groups: &[Vec<Recipient>],
    threshold: usize,
    file: &str,
) -> Result<Vec<u8>, Error> {
    let (branches, mut md) = load_encrypted(input, format, file)?;
    let key = data_key(&md, keys, file)?;
    md.groups = key_groups_for(&key, groups, threshold, keys, &now_rfc3339(), file)?;
    md.grouped = groups.len() > 1;
    md.shamir_threshold = threshold_of(groups.len(), threshold);
    emit_encrypted(branches, &md, format, file)
}

/// The recipients of the master keys of a file, for messages.
pub fn recipients_of(input: &[u8], format: Format) -> Vec<String> {
    load_encrypted(input, format, "").map(|(_, md)| md.describe_keys()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_path("a/secret.enc.yaml"), Format::Yaml);
        assert_eq!(Format::from_path("x.env"), Format::Dotenv);
        assert_eq!(Format::from_path("x.txt"), Format::Binary);
    }
}

/// One step of an `--extract` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// `["key"]`.
    Key(String),
    /// `[0]`.
    Index(usize),
}

/// Parses an `--extract` path: `["a"]["b"][0]`.
pub fn parse_extract_path(s: &str) -> Result<Vec<PathStep>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix('[').ok_or_else(|| format!("invalid path {s:?}: expected '['"))?;
        if let Some(q) = body.strip_prefix('"') {
            let end = q.find("\"]").ok_or_else(|| format!("invalid path {s:?}: unterminated key"))?;
            out.push(PathStep::Key(q[..end].to_string()));
            rest = &q[end + 2..];
        } else {
            let end = body.find(']').ok_or_else(|| format!("invalid path {s:?}: expected ']'"))?;
            let i = body[..end]
                .trim()
                .parse()
                .map_err(|_| format!("invalid path {s:?}: {:?} is not an index", &body[..end]))?;
            out.push(PathStep::Index(i));
            rest = &body[end + 1..];
        }
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

/// The value at `path` in a document.
pub fn extract<'a>(branch: &'a Branch, path: &[PathStep]) -> Result<&'a Value, String> {
    let mut cur: Option<&Value> = None;
    for (i, step) in path.iter().enumerate() {
        let next = match (step, cur) {
            (PathStep::Key(k), None) => tree::get(branch, k),
            (PathStep::Key(k), Some(Value::Map(b))) => tree::get(b, k),
            (PathStep::Index(n), Some(Value::Seq(items))) => {
                items.iter().filter(|v| !matches!(v, Value::Comment(_))).nth(*n)
            }
            _ => None,
        };
        cur = Some(next.ok_or_else(|| format!("component [{}] not found", i))?);
    }
    cur.ok_or_else(|| "empty path".into())
}

/// A single value as `sops decrypt --extract` prints it: a string as its bytes, a map as a
/// file of `format`, anything else as YAML (or JSON).
pub fn emit_value(v: &Value, format: Format, file: &str) -> Result<Vec<u8>, Error> {
    match v {
        Value::Scalar(Scalar::Str(s)) => Ok(s.clone().into_bytes()),
        Value::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
        Value::Map(b) => emit_plain(std::slice::from_ref(b), format, file),
        other => {
            let wrapped = vec![Item::Pair("v".into(), other.clone())];
            let text = match format {
                Format::Json => {
                    let full = json::emit(&wrapped);
                    // The value alone, as `json.Marshal` writes it.
                    let start = full.find(": ").map_or(0, |i| i + 2);
                    full[start..full.len().saturating_sub(3)].replace("\n\t", "\n").to_string()
                }
                _ => {
                    let full = yaml_write::emit(std::slice::from_ref(&wrapped));
                    let body = full.strip_prefix("v:").unwrap_or(&full);
                    let body = body.strip_prefix(' ').unwrap_or(body.trim_start_matches('\n'));
                    body.lines().map(|l| l.strip_prefix("    ").unwrap_or(l)).collect::<Vec<_>>().join("\n") + "\n"
                }
            };
            Ok(text.into_bytes())
        }
    }
}
