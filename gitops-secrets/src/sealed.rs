//! Sealing Secrets into SealedSecrets (what `kubeseal` does) and unsealing them into the
//! Secret the controller makes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gitops_core::{
    json,
    value::{Map, Value},
};
use zeroize::Zeroizing;

use crate::crypto::{self, Entropy, OpenError};
use crate::keys::{Certificate, KeyRing};
use crate::{Error, Result};

/// `apiVersion` of SealedSecrets.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Annotation that makes a SealedSecret cluster-wide.
pub const CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Annotation that makes a SealedSecret namespace-wide.
pub const NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Template annotation that stops the controller from setting an owner reference.
pub const SKIP_OWNER_REFERENCES: &str = "sealedsecrets.bitnami.com/skip-set-owner-references";

/// How far a sealed value may travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Bound to the namespace and name (the default).
    #[default]
    Strict,
    /// Bound to the namespace; the name may change.
    NamespaceWide,
    /// Not bound: name and namespace may change.
    ClusterWide,
}

impl std::str::FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            other => {
                Err(Error::Input(format!("--scope: `{other}` is not a scope (strict, namespace-wide, cluster-wide)")))
            }
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        })
    }
}

impl Scope {
    /// The scope annotations say (`"true"` exactly; cluster-wide wins).
    pub fn from_annotations(annotations: Option<&Map<String, Value>>) -> Self {
        let is_true = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str) == Some("true");
        if is_true(CLUSTER_WIDE) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The RSA-OAEP label: `namespace/name`, `namespace` or empty.
    pub fn label(&self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// The annotation that expresses this scope, if any.
    pub fn annotation(&self) -> Option<&'static str> {
        match self {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(NAMESPACE_WIDE),
            Scope::ClusterWide => Some(CLUSTER_WIDE),
        }
    }
}

/// Options of sealing, with kubeseal's flags.
#[derive(Clone, Debug)]
pub struct SealOptions {
    /// `--scope`; `None` or `Strict` leave the input's annotations in charge.
    pub scope: Option<Scope>,
    /// `-n/--namespace` when given explicitly.
    pub namespace: Option<String>,
    /// The namespace for inputs without one when `-n` is not given (kubeconfig context's,
    /// else `default`).
    pub default_namespace: String,
    /// `--name`.
    pub name: Option<String>,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// Print `creationTimestamp: null` as kubeseal up to v0.31 did.
    pub legacy_creation_timestamp: bool,
    /// The time certificates are checked against (now, unless set).
    pub now: Option<SystemTime>,
}

impl Default for SealOptions {
    fn default() -> Self {
        Self {
            scope: None,
            namespace: None,
            default_namespace: "default".into(),
            name: None,
            allow_empty_data: false,
            legacy_creation_timestamp: false,
            now: None,
        }
    }
}

fn describe(v: &Value) -> String {
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
    match (ns, name) {
        ("", "") => kind.to_string(),
        ("", n) => format!("{kind} {n}"),
        (ns, n) => format!("{kind} {ns}/{n}"),
    }
}

fn string_map(v: Option<&Value>, what: &str, object: &str) -> Result<Option<Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            for (k, val) in m {
                if !val.is_string() {
                    return Err(Error::Input(format!("{object}: {what}.{k}: expected a string")));
                }
            }
            Ok(Some(m.clone()))
        }
        Some(_) => Err(Error::Input(format!("{object}: {what}: expected a map of strings"))),
    }
}

/// The items of a Secret: `data` (base64-decoded) then `stringData` (which wins), with the
/// order in which sealing consumes randomness (sorted `data` keys, then sorted `stringData`).
fn secret_items(secret: &Value, object: &str) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
    let mut items = Vec::new();
    if let Some(data) = string_map(secret.get("data"), "data", object)? {
        for (k, v) in data {
            let text = v.as_str().unwrap_or_default();
            let bytes = STANDARD.decode(text.trim().as_bytes()).map_err(|e| {
                Error::Input(format!("{object}: data.{k}: not base64 ({e}); put plain text under stringData"))
            })?;
            items.push((k, Zeroizing::new(bytes)));
        }
    }
    if let Some(data) = string_map(secret.get("stringData"), "stringData", object)? {
        for (k, v) in data {
            items.push((k, Zeroizing::new(v.as_str().unwrap_or_default().as_bytes().to_vec())));
        }
    }
    Ok(items)
}

/// Seals one Secret into a SealedSecret as `kubeseal --cert` does (spec §4.1–4.2).
pub fn seal(secret: &Value, cert: &Certificate, options: &SealOptions, entropy: &mut dyn Entropy) -> Result<Value> {
    cert.check_usable(options.now.unwrap_or_else(SystemTime::now))?;
    let object = describe(secret);
    let input = secret.as_object().ok_or_else(|| Error::Input(format!("{object}: not a map")))?;
    let items = secret_items(secret, &object)?;
    if items.is_empty() && !options.allow_empty_data {
        return Err(Error::Input(format!(
            "{object}: secret has no data; use --allow-empty-data to seal a Secret without data"
        )));
    }
    let mut meta = match input.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Error::Input(format!("{object}: metadata: expected a map"))),
    };
    if let Some(name) = &options.name {
        meta.insert("name".into(), json!(name));
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        return Err(Error::Input(format!("{object}: metadata.name: the secret has no name (give --name)")));
    }
    if let Some(scope @ (Scope::NamespaceWide | Scope::ClusterWide)) = options.scope {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.remove(CLUSTER_WIDE);
            a.remove(NAMESPACE_WIDE);
            a.insert(scope.annotation().unwrap_or_default().into(), json!("true"));
        }
    }
    let scope = Scope::from_annotations(meta.get("annotations").and_then(Value::as_object));
    let input_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
    if scope != Scope::ClusterWide {
        if let Some(ns) = &options.namespace
            && !input_ns.is_empty()
            && &input_ns != ns
        {
            return Err(Error::Input(format!(
                "namespace mismatch: input secret is in namespace \"{input_ns}\" but \"{ns}\" was specified"
            )));
        }
        if input_ns.is_empty() {
            let ns = options.namespace.clone().unwrap_or_else(|| options.default_namespace.clone());
            meta.insert("namespace".into(), json!(ns));
        }
    }
    let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(Error::Input(format!("{object}: secret must declare a namespace")));
    }
    for k in [
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
    ] {
        meta.remove(k);
    }
    if let Some(Value::Object(a)) = meta.get_mut("annotations") {
        a.remove(gitops_core::object::LAST_APPLIED_ANNOTATION);
        a.remove("kubecfg.ksonnet.io/last-applied-configuration");
    }
    meta.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()) && !matches!(v, Value::Array(a) if a.is_empty()));
    if options.legacy_creation_timestamp {
        meta.insert("creationTimestamp".into(), Value::Null);
    }

    let label = scope.label(&namespace, &name);
    let mut encrypted = Map::new();
    for (k, plain) in &items {
        let blob = crypto::encrypt(cert.public_key(), &label, plain, entropy)?;
        encrypted.insert(k.clone(), json!(STANDARD.encode(blob)));
    }

    let mut top = Map::new();
    top.insert("name".into(), json!(name));
    if !namespace.is_empty() {
        top.insert("namespace".into(), json!(namespace));
    }
    if let Some(a) = scope.annotation() {
        top.insert("annotations".into(), json!({ a: "true" }));
    }
    if options.legacy_creation_timestamp {
        top.insert("creationTimestamp".into(), Value::Null);
    }
    let mut template = Map::new();
    template.insert("metadata".into(), Value::Object(meta));
    if let Some(t) = input.get("type").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        template.insert("type".into(), json!(t));
    }
    if let Some(i) = input.get("immutable").and_then(Value::as_bool) {
        template.insert("immutable".into(), json!(i));
    }
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "SealedSecret",
        "metadata": top,
        "spec": { "template": template, "encryptedData": encrypted },
    }))
}

/// Seals one value (`kubeseal --raw`): base64 of the sealed bytes, no newline.
pub fn seal_raw(
    value: &[u8],
    cert: &Certificate,
    scope: Scope,
    namespace: Option<&str>,
    name: Option<&str>,
    now: SystemTime,
    entropy: &mut dyn Entropy,
) -> Result<String> {
    cert.check_usable(now)?;
    let ns = namespace.unwrap_or("");
    let nm = name.unwrap_or("");
    if scope != Scope::ClusterWide && ns.is_empty() {
        return Err(Error::Input(format!("must provide the --namespace flag with --raw and --scope {scope}")));
    }
    if scope == Scope::Strict && nm.is_empty() {
        return Err(Error::Input("must provide the --name flag with --raw and --scope strict".into()));
    }
    let blob = crypto::encrypt(cert.public_key(), &scope.label(ns, nm), value, entropy)?;
    Ok(STANDARD.encode(blob))
}

/// Seals `secret` under the name and namespace of `existing` and merges the new items into it
/// (`kubeseal --merge-into`): items added or replaced, template labels, annotations and data
/// merged key by key, `existing`'s own metadata untouched.
pub fn merge_into(
    existing: &Value,
    secret: &Value,
    cert: &Certificate,
    options: &SealOptions,
    entropy: &mut dyn Entropy,
) -> Result<Value> {
    let target = describe(existing);
    check_sealed_secret(existing, &target)?;
    let mut input = secret.clone();
    let name = existing.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let namespace = existing.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(meta) = input.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        && let Some(m) = meta.as_object_mut()
    {
        m.insert("name".into(), json!(name));
        if namespace.is_empty() {
            m.remove("namespace");
        } else {
            m.insert("namespace".into(), json!(namespace));
        }
    }
    let opts = SealOptions { name: None, namespace: None, allow_empty_data: true, ..options.clone() };
    let sealed = seal(&input, cert, &opts, entropy)?;
    let mut out = existing.clone();
    let spec = out
        .as_object_mut()
        .map(|o| o.entry("spec").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Input(format!("{target}: spec: expected a map")))?;
    let enc = spec.entry("encryptedData").or_insert_with(|| json!({}));
    if !enc.is_object() {
        *enc = json!({});
    }
    if let (Some(dst), Some(src)) =
        (enc.as_object_mut(), sealed.pointer("/spec/encryptedData").and_then(Value::as_object))
    {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    let tmpl = spec.entry("template").or_insert_with(|| json!({}));
    for path in [&["metadata", "labels"][..], &["metadata", "annotations"], &["data"]] {
        let src =
            path.iter().try_fold(sealed.pointer("/spec/template"), |v, k| Some(v.and_then(|v| v.get(k)))).flatten();
        let Some(Value::Object(src)) = src else { continue };
        let mut dst = &mut *tmpl;
        for k in path.iter() {
            if !dst.is_object() {
                *dst = json!({});
            }
            dst = dst.as_object_mut().expect("made a map").entry(k.to_string()).or_insert_with(|| json!({}));
        }
        if !dst.is_object() {
            *dst = json!({});
        }
        let dst = dst.as_object_mut().expect("made a map");
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

fn check_sealed_secret(v: &Value, object: &str) -> Result<()> {
    if !v.is_object() {
        return Err(Error::Input(format!("{object}: not a map")));
    }
    match (v.get("apiVersion").and_then(Value::as_str), v.get("kind").and_then(Value::as_str)) {
        (Some(API_VERSION), Some("SealedSecret")) => Ok(()),
        (a, k) => Err(Error::Input(format!(
            "{object}: expected apiVersion {API_VERSION} kind SealedSecret, found {} {}",
            a.unwrap_or("(none)"),
            k.unwrap_or("(none)")
        ))),
    }
}

/// Options of unsealing.
#[derive(Clone, Debug, Default)]
pub struct UnsealOptions {
    /// Accept the deprecated `spec.data` format (the controller does by default,
    /// `kubeseal --recovery-unseal` does not).
    pub accept_legacy_data: bool,
    /// Leave out the owner reference to the SealedSecret (for in-process decryption, where no
    /// SealedSecret object exists in the cluster).
    pub without_owner_reference: bool,
}

/// ObjectMeta fields that survive from `spec.template.metadata` onto the Secret.
const OBJECT_META: &[&str] = crate::output::META;

/// Unseals a SealedSecret into the Secret the controller would create (spec §5.1, §5.5):
/// all or nothing; the error names every failing item and the likely cause, never a value.
pub fn unseal(sealed: &Value, ring: &KeyRing, options: &UnsealOptions) -> Result<Value> {
    let object = describe(sealed);
    check_sealed_secret(sealed, &object)?;
    let name = sealed.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let namespace = sealed.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let uid = sealed.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    let scope = Scope::from_annotations(sealed.pointer("/metadata/annotations").and_then(Value::as_object));
    let label = scope.label(namespace, name);
    let spec = sealed
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Input(format!("{object}: spec: missing")))?;
    let legacy = spec.get("data").filter(|d| !d.is_null());
    let encrypted: Vec<(String, String)> = match spec.get("encryptedData") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect(),
        _ => Vec::new(),
    };

    let mut secret: Map<String, Value>;
    if let Some(data) = legacy {
        if !encrypted.is_empty() {
            return Err(Error::Input(format!(
                "{object}: cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
            )));
        }
        if !options.accept_legacy_data {
            return Err(Error::Input(format!(
                "{object}: using deprecated 'data' field; the old format is not accepted here (the controller accepts it with --accept-deprecated-v1-data)"
            )));
        }
        let blob = data
            .as_str()
            .and_then(|s| decode_go_base64(s).ok())
            .ok_or_else(|| Error::Input(format!("{object}: spec.data: not base64")))?;
        let plain = crypto::decrypt(ring, &label, &blob).map_err(|e| Error::Unseal {
            object: object.clone(),
            message: e.to_string(),
            hint: hint(ring, sealed, scope, std::slice::from_ref(&blob)),
        })?;
        let v: Value = serde_json::from_slice(&plain)
            .map_err(|e| Error::Input(format!("{object}: spec.data: the decrypted Secret is not JSON ({e})")))?;
        secret = v.as_object().cloned().unwrap_or_default();
    } else {
        let mut decrypted: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut failed_blobs = Vec::new();
        for (item, text) in &encrypted {
            let blob = match decode_go_base64(text) {
                Ok(b) => b,
                Err(e) => {
                    failures.push((item.clone(), e));
                    continue;
                }
            };
            match crypto::decrypt(ring, &label, &blob) {
                Ok(p) => {
                    decrypted.insert(item.clone(), p);
                }
                Err(e) => {
                    if e == OpenError::NoKey {
                        failed_blobs.push(blob);
                    }
                    failures.push((item.clone(), e.to_string()));
                }
            }
        }
        let template = spec.get("template").and_then(Value::as_object);
        if let Some(Value::Object(tdata)) = template.and_then(|t| t.get("data")) {
            let mut rendered = Vec::new();
            for (k, src) in tdata {
                let src = src.as_str().unwrap_or("");
                match crate::template::render(src, &decrypted) {
                    Ok(b) => rendered.push((k.clone(), b)),
                    Err(e) => failures.push((k.clone(), format!("template: {e}"))),
                }
            }
            if failures.is_empty() {
                for (k, b) in rendered {
                    decrypted.insert(k, b);
                }
            }
        }
        if !failures.is_empty() {
            return Err(Error::Unseal {
                object: object.clone(),
                message: merge_failures(&failures),
                hint: if failed_blobs.is_empty() { String::new() } else { hint(ring, sealed, scope, &failed_blobs) },
            });
        }
        secret = Map::new();
        let mut meta = Map::new();
        if let Some(Value::Object(m)) = template.and_then(|t| t.get("metadata")) {
            for (k, v) in m {
                if OBJECT_META.contains(&k.as_str()) && !v.is_null() {
                    meta.insert(k.clone(), v.clone());
                }
            }
        }
        secret.insert("metadata".into(), Value::Object(meta));
        if let Some(t) = template.and_then(|t| t.get("type")).and_then(Value::as_str).filter(|t| !t.is_empty()) {
            secret.insert("type".into(), json!(t));
        }
        if let Some(i) = template.and_then(|t| t.get("immutable")).and_then(Value::as_bool) {
            secret.insert("immutable".into(), json!(i));
        }
        if !decrypted.is_empty() {
            let data: Map<String, Value> =
                decrypted.iter().map(|(k, v)| (k.clone(), json!(STANDARD.encode(v)))).collect();
            secret.insert("data".into(), Value::Object(data));
        }
    }
    secret.insert("apiVersion".into(), json!("v1"));
    secret.insert("kind".into(), json!("Secret"));
    let meta = secret.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let meta = meta.as_object_mut().expect("made a map");
    meta.insert("name".into(), json!(name));
    if namespace.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), json!(namespace));
    }
    let skip =
        meta.get("annotations").and_then(|a| a.get(SKIP_OWNER_REFERENCES)).and_then(Value::as_str) == Some("true");
    if options.without_owner_reference {
        meta.remove("ownerReferences");
    } else if !skip {
        meta.insert(
            "ownerReferences".into(),
            json!([{ "apiVersion": API_VERSION, "kind": "SealedSecret", "name": name, "uid": uid, "controller": true }]),
        );
    }
    meta.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()) && !matches!(v, Value::Array(a) if a.is_empty()));
    Ok(Value::Object(secret))
}

/// Identical messages merged and tagged with their items, as the controller reports them.
fn merge_failures(failures: &[(String, String)]) -> String {
    let mut by_message: Vec<(String, Vec<String>)> = Vec::new();
    for (item, msg) in failures {
        match by_message.iter_mut().find(|(m, _)| m == msg) {
            Some((_, items)) => items.push(item.clone()),
            None => by_message.push((msg.clone(), vec![item.clone()])),
        }
    }
    by_message.iter().map(|(m, items)| format!("{m} ({})", items.join(", "))).collect::<Vec<_>>().join("\n")
}

/// The likely cause of "no key could decrypt": another scope's label works (the scope
/// annotation changed after sealing), or the label or the key set is wrong.
fn hint(ring: &KeyRing, sealed: &Value, scope: Scope, blobs: &[Vec<u8>]) -> String {
    if ring.is_empty() {
        return "the key ring is empty".into();
    }
    let name = sealed.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let namespace = sealed.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    if let Some(blob) = blobs.first() {
        for other in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            if other != scope && crypto::decrypt(ring, &other.label(namespace, name), blob).is_ok() {
                let fix = match other.annotation() {
                    Some(a) => format!("annotate the SealedSecret's metadata with {a}: \"true\""),
                    None => "remove the scope annotation from the SealedSecret's metadata".into(),
                };
                return format!(
                    "the items were sealed with scope {other} but the SealedSecret's metadata says {scope}: {fix}, or reseal"
                );
            }
        }
    }
    let bound = match scope {
        Scope::Strict => format!("strict scope binds them to {namespace}/{name}"),
        Scope::NamespaceWide => format!("namespace-wide scope binds them to namespace {namespace}"),
        Scope::ClusterWide => "cluster-wide scope binds them to nothing".into(),
    };
    let keys = ring.keys().iter().map(|k| k.fingerprint()).collect::<Vec<_>>().join(", ");
    let moved = if scope == Scope::ClusterWide {
        String::new()
    } else {
        " they were sealed for another name or namespace (a Kustomize namePrefix, nameSuffix or namespace renames a SealedSecret after sealing; seal with --scope namespace-wide or cluster-wide, or reseal for the final name), or".into()
    };
    format!("{bound}; either{moved} they were sealed with a key this ring does not hold (ring: {keys})")
}

/// Base64 as Go's `StdEncoding` reads it: CR and LF ignored, padding required.
fn decode_go_base64(s: &str) -> std::result::Result<Vec<u8>, String> {
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    STANDARD.decode(cleaned.as_bytes()).map_err(|e| format!("illegal base64 data: {e}"))
}

/// Re-encrypts a SealedSecret with the ring's newest key, offline (`kubeseal --re-encrypt`
/// with local keys): unsealed, then sealed again with the scope of its own metadata;
/// rendered template data becomes plain items.
pub fn re_encrypt(
    sealed: &Value,
    ring: &KeyRing,
    cert: Option<&Certificate>,
    entropy: &mut dyn Entropy,
) -> Result<Value> {
    let object = describe(sealed);
    let cert = match cert {
        Some(c) => c.clone(),
        None => ring
            .newest()
            .and_then(|k| k.certificate.clone())
            .ok_or_else(|| Error::Input(format!("{object}: no certificate to re-encrypt with (give --cert)")))?,
    };
    let mut secret = unseal(sealed, ring, &UnsealOptions { accept_legacy_data: true, without_owner_reference: true })?;
    if let Some(meta) = secret.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.remove(CLUSTER_WIDE);
            a.remove(NAMESPACE_WIDE);
            let scope = Scope::from_annotations(sealed.pointer("/metadata/annotations").and_then(Value::as_object));
            if let Some(k) = scope.annotation() {
                a.insert(k.into(), json!("true"));
            }
        }
    }
    let ns = sealed.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
    let opts = SealOptions { namespace: ns, allow_empty_data: true, ..SealOptions::default() };
    seal(&secret, &cert, &opts, entropy)
}

/// Reads the Secrets of a kubeseal input stream: YAML documents or concatenated JSON objects;
/// empty documents are skipped.
pub fn read_objects(text: &str, source: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim_start();
    let values = if trimmed.starts_with('{') {
        let mut out = Vec::new();
        for v in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
            out.push(v.map_err(|e| Error::Input(format!("{source}: not JSON: {e}")))?);
        }
        out
    } else {
        gitops_core::yaml::parse_values(text, source, &Default::default())?.into_iter().map(|(_, _, v)| v).collect()
    };
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_per_scope() {
        assert_eq!(Scope::Strict.label("myns", "myname"), b"myns/myname");
        assert_eq!(Scope::NamespaceWide.label("myns", "myname"), b"myns");
        assert_eq!(Scope::ClusterWide.label("myns", "myname"), b"");
        let ann = json!({ CLUSTER_WIDE: "true", NAMESPACE_WIDE: "true" });
        assert_eq!(Scope::from_annotations(ann.as_object()), Scope::ClusterWide);
        let ann = json!({ NAMESPACE_WIDE: "True" });
        assert_eq!(Scope::from_annotations(ann.as_object()), Scope::Strict);
        assert!("wide".parse::<Scope>().is_err());
    }

    #[test]
    fn failures_merge_like_the_controller() {
        let f = vec![
            ("foo".to_string(), "no key could decrypt secret".to_string()),
            ("bar".to_string(), "no key could decrypt secret".to_string()),
            ("baz".to_string(), "illegal base64 data: x".to_string()),
        ];
        assert_eq!(merge_failures(&f), "no key could decrypt secret (foo, bar)\nillegal base64 data: x (baz)");
    }

    #[test]
    fn go_base64_ignores_newlines_only() {
        assert_eq!(decode_go_base64("YW\r\nJj").unwrap(), b"abc");
        assert!(decode_go_base64("YWJj!").is_err());
        assert!(decode_go_base64("YQ").is_err());
    }
}
