//! The `sops` metadata of a file: its key groups, the encrypted data key for each master
//! key, the MAC, and the encryption rules; read weakly typed as SOPS reads it (a flat store
//! holds every value as a string), written in the order SOPS 3.11 writes it.

use gitops_core::value::{Map, Value as Json};

use super::tree::{Branch, Item, Scalar, Value};

/// One master key of a key group, with the data key (or its Shamir part) encrypted to it.
#[derive(Clone, Debug, PartialEq)]
pub enum MasterKey {
    /// An age recipient: `age1...` or an SSH public key line.
    Age {
        /// The recipient.
        recipient: String,
        /// The armored age file holding the data key.
        enc: String,
    },
    /// An OpenPGP key, by fingerprint.
    Pgp {
        /// The fingerprint, upper-case hex.
        fp: String,
        /// The armored OpenPGP message holding the data key.
        enc: String,
        /// When it was added (RFC 3339).
        created_at: String,
    },
    /// A key of a kind this crate cannot use (AWS KMS, GCP KMS, Azure Key Vault, Vault, ...),
    /// kept as it is so that rewriting a file loses nothing.
    Other {
        /// The metadata field (`kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`).
        kind: String,
        /// The entry.
        entry: Json,
    },
}

impl MasterKey {
    /// How the key is named in errors: `age1...`, `pgp FP` or `kms ...`.
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age {recipient}"),
            MasterKey::Pgp { fp, .. } => format!("pgp {fp}"),
            MasterKey::Other { kind, entry } => {
                let id = ["arn", "resource_id", "vault_url", "key_name", "key_id"]
                    .iter()
                    .find_map(|k| entry.get(*k).and_then(Json::as_str))
                    .unwrap_or("");
                format!("{kind} {id}").trim_end().to_string()
            }
        }
    }
}

/// The metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// The key groups; a file without `key_groups` has one.
    pub groups: Vec<Vec<MasterKey>>,
    /// Whether the file writes its keys under `key_groups`.
    pub grouped: bool,
    /// How many groups must be decrypted (0: all of them / not split).
    pub shamir_threshold: usize,
    /// `lastmodified`, as written.
    pub lastmodified: String,
    /// The encrypted MAC; `None` if the file has none.
    pub mac: Option<String>,
    /// Which values are encrypted, and what the MAC covers.
    pub rules: RuleOptions,
    /// The SOPS version that wrote the file.
    pub version: String,
}

/// The options that choose which values a file encrypts (at most one of the six rules; none
/// means `unencrypted_suffix: _unencrypted`), and whether the MAC covers only encrypted values:
/// as the metadata, a `.sops.yaml` rule and the command line spell them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleOptions {
    /// `unencrypted_suffix`.
    pub unencrypted_suffix: Option<String>,
    /// `encrypted_suffix`.
    pub encrypted_suffix: Option<String>,
    /// `unencrypted_regex`.
    pub unencrypted_regex: Option<String>,
    /// `encrypted_regex`.
    pub encrypted_regex: Option<String>,
    /// `unencrypted_comment_regex`.
    pub unencrypted_comment_regex: Option<String>,
    /// `encrypted_comment_regex`.
    pub encrypted_comment_regex: Option<String>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

impl RuleOptions {
    /// The six rules by their metadata names, in SOPS's field order.
    pub fn named(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
    }

    /// How many of the six rules are set.
    pub fn count(&self) -> usize {
        self.named().iter().filter(|(_, r)| r.is_some()).count()
    }

    /// Reads them from a metadata map or a creation rule (weakly typed, as SOPS reads them).
    pub fn from_json(m: &Json) -> Result<RuleOptions, String> {
        let opt = |k: &str| weak_string(m.get(k)).filter(|s| !s.is_empty());
        Ok(RuleOptions {
            unencrypted_suffix: opt("unencrypted_suffix"),
            encrypted_suffix: opt("encrypted_suffix"),
            unencrypted_regex: opt("unencrypted_regex"),
            encrypted_regex: opt("encrypted_regex"),
            unencrypted_comment_regex: opt("unencrypted_comment_regex"),
            encrypted_comment_regex: opt("encrypted_comment_regex"),
            mac_only_encrypted: weak_bool(m.get("mac_only_encrypted"))?,
        })
    }
}

const OTHER_KINDS: [&str; 5] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// A branch as JSON, without comments (metadata is read from this).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Map(b) => branch_to_json(b),
        Value::Seq(items) => {
            Json::Array(items.iter().filter(|i| !matches!(i, Value::Comment(_))).map(to_json).collect())
        }
        Value::Comment(_) => Json::Null,
        Value::Scalar(s) => match s {
            Scalar::Null => Json::Null,
            Scalar::Str(s) | Scalar::Time(s) => Json::String(s.clone()),
            Scalar::Int(i) => Json::from(*i),
            Scalar::Float(f) => gitops_core::value::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Scalar::Bool(b) => Json::Bool(*b),
            Scalar::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        },
    }
}

/// [`to_json`] of a map.
pub fn branch_to_json(b: &Branch) -> Json {
    let mut m = Map::new();
    for item in b {
        if let Item::Pair(k, v) = item {
            m.insert(k.clone(), to_json(v));
        }
    }
    Json::Object(m)
}

fn weak_string(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn weak_bool(v: Option<&Json>) -> Result<bool, String> {
    match v {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::String(s)) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(format!("mac_only_encrypted: {s:?} is not a boolean")),
        },
        Some(Json::Number(n)) => Ok(n.as_f64().unwrap_or(0.0) != 0.0),
        Some(_) => Err("mac_only_encrypted is not a boolean".into()),
    }
}

fn weak_usize(v: Option<&Json>, field: &str) -> Result<usize, String> {
    match v {
        None | Some(Json::Null) => Ok(0),
        Some(Json::Number(n)) => n.as_u64().map(|n| n as usize).ok_or_else(|| format!("{field}: {n} is not a count")),
        Some(Json::String(s)) if s.is_empty() => Ok(0),
        Some(Json::String(s)) => s.parse().map_err(|_| format!("{field}: {s:?} is not a number")),
        Some(_) => Err(format!("{field} is not a number")),
    }
}

fn list<'a>(m: &'a Json, field: &str) -> Result<&'a [Json], String> {
    match m.get(field) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(_) => Err(format!("{field} is not a list")),
    }
}

fn group_from(m: &Json) -> Result<Vec<MasterKey>, String> {
    let mut keys = Vec::new();
    for kind in OTHER_KINDS {
        for entry in list(m, kind)? {
            keys.push(MasterKey::Other { kind: kind.into(), entry: entry.clone() });
        }
    }
    for (i, entry) in list(m, "pgp")?.iter().enumerate() {
        keys.push(MasterKey::Pgp {
            fp: weak_string(entry.get("fp")).ok_or_else(|| format!("pgp[{i}] has no fp"))?,
            enc: weak_string(entry.get("enc")).unwrap_or_default(),
            created_at: weak_string(entry.get("created_at")).unwrap_or_default(),
        });
    }
    for (i, entry) in list(m, "age")?.iter().enumerate() {
        keys.push(MasterKey::Age {
            recipient: weak_string(entry.get("recipient")).ok_or_else(|| format!("age[{i}] has no recipient"))?,
            enc: weak_string(entry.get("enc")).unwrap_or_default(),
        });
    }
    Ok(keys)
}

/// What `sops` says when a file sets more than one of the six rules.
pub const TOO_MANY_RULES: &str = "Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file";

impl Metadata {
    /// Reads the metadata from the `sops` map, as JSON.
    pub fn from_json(m: &Json) -> Result<Metadata, String> {
        if !m.is_object() {
            return Err("the sops entry is not a map".into());
        }
        let flat = group_from(m)?;
        let (groups, grouped) = if !flat.is_empty() {
            (vec![flat], false)
        } else {
            let groups = list(m, "key_groups")?.iter().map(group_from).collect::<Result<Vec<_>, _>>()?;
            if groups.is_empty() {
                return Err("No keys found in file".into());
            }
            (groups, true)
        };
        let opt = |k: &str| weak_string(m.get(k)).filter(|s| !s.is_empty());
        let md = Metadata {
            groups,
            grouped,
            shamir_threshold: weak_usize(m.get("shamir_threshold"), "shamir_threshold")?,
            lastmodified: weak_string(m.get("lastmodified")).ok_or("no lastmodified")?,
            mac: opt("mac"),
            rules: RuleOptions::from_json(m)?,
            version: weak_string(m.get("version")).unwrap_or_default(),
        };
        if md.rules.count() > 1 {
            return Err(TOO_MANY_RULES.into());
        }
        Ok(md)
    }

    /// The recipients and fingerprints of every key, for error messages.
    pub fn describe_keys(&self) -> Vec<String> {
        self.groups.iter().flatten().map(MasterKey::describe).collect()
    }

    /// The metadata as the `sops` map, in SOPS 3.11's field order.
    pub fn to_branch(&self) -> Branch {
        let s = |v: &str| Value::str(v);
        let mut b = Branch::new();
        let group_items = |keys: &[MasterKey], b: &mut Branch| {
            for kind in OTHER_KINDS {
                let entries: Vec<Value> = keys
                    .iter()
                    .filter_map(|k| match k {
                        MasterKey::Other { kind: k2, entry } if k2 == kind => Some(json_to_value(entry)),
                        _ => None,
                    })
                    .collect();
                if !entries.is_empty() {
                    b.push(Item::Pair(kind.into(), Value::Seq(entries)));
                }
            }
            let age: Vec<Value> = keys
                .iter()
                .filter_map(|k| match k {
                    MasterKey::Age { recipient, enc } => Some(Value::Map(vec![
                        Item::Pair("recipient".into(), s(recipient)),
                        Item::Pair("enc".into(), s(enc)),
                    ])),
                    _ => None,
                })
                .collect();
            if !age.is_empty() {
                b.push(Item::Pair("age".into(), Value::Seq(age)));
            }
            let pgp: Vec<Value> = keys
                .iter()
                .filter_map(|k| match k {
                    MasterKey::Pgp { fp, enc, created_at } => Some(Value::Map(vec![
                        Item::Pair("created_at".into(), s(created_at)),
                        Item::Pair("enc".into(), s(enc)),
                        Item::Pair("fp".into(), s(fp)),
                    ])),
                    _ => None,
                })
                .collect();
            pgp
        };
        let mut pgp_flat = Vec::new();
        if self.grouped || self.groups.len() > 1 {
            if self.shamir_threshold > 0 {
                b.push(Item::Pair("shamir_threshold".into(), Value::Scalar(Scalar::Int(self.shamir_threshold as i64))));
            }
            let groups = self
                .groups
                .iter()
                .map(|g| {
                    let mut gb = Branch::new();
                    let pgp = group_items(g, &mut gb);
                    if !pgp.is_empty() {
                        gb.push(Item::Pair("pgp".into(), Value::Seq(pgp)));
                    }
                    Value::Map(gb)
                })
                .collect();
            b.push(Item::Pair("key_groups".into(), Value::Seq(groups)));
        } else if let Some(g) = self.groups.first() {
            let pgp = group_items(g, &mut b);
            pgp_flat = pgp;
        }
        b.push(Item::Pair("lastmodified".into(), s(&self.lastmodified)));
        if let Some(mac) = &self.mac {
            b.push(Item::Pair("mac".into(), s(mac)));
        }
        if !pgp_flat.is_empty() {
            b.push(Item::Pair("pgp".into(), Value::Seq(pgp_flat)));
        }
        for (k, v) in self.rules.named() {
            if let Some(v) = v {
                b.push(Item::Pair(k.into(), s(v)));
            }
        }
        if self.rules.mac_only_encrypted {
            b.push(Item::Pair("mac_only_encrypted".into(), Value::Scalar(Scalar::Bool(true))));
        }
        b.push(Item::Pair("version".into(), s(&self.version)));
        b
    }
}

/// JSON as a tree value (for keys kept as they were).
pub fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Scalar(Scalar::Null),
        Json::Bool(b) => Value::Scalar(Scalar::Bool(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Scalar(Scalar::Int(i)),
            None => Value::Scalar(Scalar::Float(n.as_f64().unwrap_or(0.0))),
        },
        Json::String(s) => Value::str(s.clone()),
        Json::Array(a) => Value::Seq(a.iter().map(json_to_value).collect()),
        Json::Object(m) => Value::Map(m.iter().map(|(k, v)| Item::Pair(k.clone(), json_to_value(v))).collect()),
    }
}

const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";

/// Flattens a map into `key__map_sub` / `key__list_0` keys, as the dotenv and INI stores
/// write metadata.
pub fn flatten(b: &Branch, prefix: &str) -> Vec<(String, Scalar)> {
    fn go(v: &Value, key: String, out: &mut Vec<(String, Scalar)>) {
        match v {
            Value::Map(b) => {
                for item in b {
                    if let Item::Pair(k, v) = item {
                        go(v, format!("{key}{MAP_SEP}{k}"), out);
                    }
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    go(v, format!("{key}{LIST_SEP}{i}"), out);
                }
            }
            Value::Scalar(s) => out.push((key, s.clone())),
            Value::Comment(_) => {}
        }
    }
    let mut out = Vec::new();
    for item in b {
        if let Item::Pair(k, v) = item {
            go(v, format!("{prefix}{k}"), &mut out);
        }
    }
    out
}

/// The inverse of [`flatten`], to JSON.
pub fn unflatten(items: &[(String, String)]) -> Result<Json, String> {
    let mut root = Json::Object(Map::new());
    for (key, value) in items {
        let mut tokens: Vec<Result<String, usize>> = Vec::new();
        let mut rest = key.as_str();
        let first_end = [rest.find(MAP_SEP), rest.find(LIST_SEP)].into_iter().flatten().min().unwrap_or(rest.len());
        tokens.push(Ok(rest[..first_end].to_string()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            let (is_map, body) = if let Some(b) = rest.strip_prefix(MAP_SEP) {
                (true, b)
            } else if let Some(b) = rest.strip_prefix(LIST_SEP) {
                (false, b)
            } else {
                return Err(format!("cannot read metadata key {key:?}"));
            };
            let end = [body.find(MAP_SEP), body.find(LIST_SEP)].into_iter().flatten().min().unwrap_or(body.len());
            let tok = &body[..end];
            tokens.push(if is_map {
                Ok(tok.to_string())
            } else {
                Err(tok.parse().map_err(|_| format!("bad list index in {key:?}"))?)
            });
            rest = &body[end..];
        }
        let mut node = &mut root;
        for (i, tok) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            let next_is_list = tokens.get(i + 1).is_some_and(|t| t.is_err());
            let fresh = || if next_is_list { Json::Array(Vec::new()) } else { Json::Object(Map::new()) };
            node = match tok {
                Ok(k) => {
                    let m = node.as_object_mut().ok_or_else(|| format!("type mismatch at {key:?}"))?;
                    if last {
                        m.insert(k.clone(), Json::String(value.clone()));
                        break;
                    }
                    m.entry(k.clone()).or_insert_with(fresh)
                }
                Err(idx) => {
                    // A flattened list has no more entries than the file has keys: a larger
                    // index is not sops's, and must not allocate that many slots.
                    if *idx >= items.len() {
                        return Err(format!("list index {idx} out of range in {key:?}"));
                    }
                    let a = node.as_array_mut().ok_or_else(|| format!("type mismatch at {key:?}"))?;
                    while a.len() <= *idx {
                        a.push(Json::Null);
                    }
                    if last {
                        a[*idx] = Json::String(value.clone());
                        break;
                    }
                    if a[*idx].is_null() {
                        a[*idx] = fresh();
                    }
                    &mut a[*idx]
                }
            };
        }
    }
    Ok(root)
}

#[cfg(test)]
mod fuzz_regressions {
    /// Found by the sops fuzz target: a dotenv file's metadata key with a list index in the
    /// trillions tried to allocate that many slots.
    #[test]
    fn a_huge_list_index_is_an_error() {
        let items = vec![("sops_age__list_4999999999999".to_string(), "x".to_string())];
        assert!(super::unflatten(&items).unwrap_err().contains("out of range"));
        let ok = vec![("a__list_0".to_string(), "x".to_string()), ("a__list_1".to_string(), "y".to_string())];
        assert_eq!(super::unflatten(&ok).unwrap()["a"][1], "y");
    }
}
