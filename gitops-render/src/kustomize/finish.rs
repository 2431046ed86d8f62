//! The end of a build at its root: hash suffixes, name references, vars, build metadata
//! annotations, and Kustomize's output order.

use std::collections::HashSet;

use gitops_core::Object;
use gitops_core::value::{Map, Value};
use sha2::{Digest, Sha256};

use super::json_trip;
use super::res::{Origin, Res, relative};
use super::{TransformerConfig, kerr};
use crate::error::Error;
use crate::kustomization::Kustomization;
use crate::tables;

/// Kustomize's hash suffix of a generated ConfigMap or Secret. As its hasher reads them, a
/// `data` or `binaryData` map counts even when empty; a missing `data` is "".
pub fn hash_suffix(obj: &Object) -> String {
    let v = obj.as_value();
    let text = |s: &str| Value::String(s.to_string());
    let (kind, empty) = (text(obj.kind()), text(""));
    // The fields Kustomize hashes, in key order (as a map of them would be written), borrowed
    // from the object rather than copied.
    let mut fields: Vec<(&str, &Value)> = Vec::with_capacity(6);
    let map_or = |key: &str| v.get(key).filter(|d| d.is_object());
    if obj.kind() == "ConfigMap" {
        if let Some(b) = map_or("binaryData") {
            fields.push(("binaryData", b));
        }
        fields.push(("data", map_or("data").unwrap_or(&empty)));
        fields.push(("kind", &kind));
        fields.push(("name", &empty));
    } else {
        fields.push(("data", map_or("data").unwrap_or(&empty)));
        fields.push(("kind", &kind));
        fields.push(("name", &empty));
        if let Some(s) = map_or("stringData") {
            fields.push(("stringData", s));
        }
        fields.push(("type", v.get("type").unwrap_or(&empty)));
    }
    let json = serde_json::to_string(&HashedFields(&fields)).expect("JSON values serialize");
    let digest = Sha256::digest(gitops_core::gofmt::go_json_escapes(json).as_bytes());
    // The first ten hex digits, with Kustomize's substitutions (0 g, 1 h, 3 k, a m, e t).
    const DIGITS: &[u8; 16] = b"gh2k456789mbcdtf";
    digest[..5]
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char])
        .collect()
}

/// The fields [`hash_suffix`] hashes, written as one JSON object in the order given.
struct HashedFields<'a>(&'a [(&'a str, &'a Value)]);

impl serde::Serialize for HashedFields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Kustomize's name-reference filter refuses a (Cluster)RoleBinding subject that names a
/// ServiceAccount of the build with a `namespace` key and no value.
pub(super) fn check_blank_subject_namespaces(file: &str, acc: &[Res]) -> Result<(), Error> {
    let accounts: HashSet<&str> = acc
        .iter()
        .filter(|r| r.obj.kind() == "ServiceAccount" && r.obj.group().is_empty())
        .flat_map(|r| std::iter::once(r.obj.name()).chain(r.history.iter().map(|p| p.name())))
        .collect();
    for r in acc.iter().filter(|r| matches!(r.obj.kind(), "RoleBinding" | "ClusterRoleBinding")) {
        let subjects = r.obj.get("/subjects").and_then(Value::as_array).cloned().unwrap_or_default();
        for s in subjects {
            // `namespace:` with no value (an empty string is a namespace that matches nothing).
            let blank = matches!(s.get("namespace"), Some(Value::Null));
            let name = s.get("name").and_then(Value::as_str).unwrap_or("");
            if blank && s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") && accounts.contains(name) {
                return Err(kerr(file, "", format!("Invalid Input: namespace is blank for resource {:?}", r.id())));
            }
        }
    }
    Ok(())
}

pub(super) fn finish(
    file: &str,
    k: &Kustomization,
    mut acc: Vec<Res>,
    vars: &[crate::kustomization::Var],
    config: &TransformerConfig,
) -> Result<Vec<Object>, Error> {
    // Kustomize's round trip of each resource through JSON (`json_trip`), then the hash
    // suffixes of the generated ones, which see its result. Both are independent of other
    // resources: worked out on all CPUs, the round trip walked again only where its cheap test
    // finds a character it may change (nearly never).
    let indexes: Vec<usize> = (0..acc.len()).collect();
    let checked = gitops_core::par_map(&indexes, 64, |&i| {
        let r = &acc[i];
        let suspicious = json_trip::suspicious(r.obj.as_value());
        (suspicious, (r.needs_hash && !suspicious).then(|| hash_suffix(&r.obj)))
    });
    for (r, (suspicious, mut suffix)) in acc.iter_mut().zip(checked) {
        if suspicious {
            json_trip::apply(r.obj.as_value_mut()).map_err(|e| kerr(file, "", format!("{}: {e}", r.id())))?;
            suffix = r.needs_hash.then(|| hash_suffix(&r.obj));
        }
        let Some(suffix) = suffix else { continue };
        let name = format!("{}-{}", r.obj.name(), suffix);
        let ns = r.obj.namespace().to_string();
        r.store_previous_id();
        r.rename(&ns, &name);
    }
    check_blank_subject_namespaces(file, &acc)?;
    let eff = config.effective().map_err(|e| kerr(file, "configurations", e))?;
    crate::nameref::fix(&mut acc_view(&mut acc), &eff.name_reference).map_err(|m| kerr(file, "", m))?;
    // The vars bound to each resource, and origins (for originAnnotations) only when asked for.
    let bound: Vec<Vec<String>> =
        if vars.is_empty() { Vec::new() } else { acc.iter().map(|r| r.var_refs.clone()).collect() };
    let root_dir = file.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let want_origins = k.build_metadata.iter().any(|b| b == "originAnnotations");
    let origins: Vec<Option<String>> = acc
        .iter()
        .filter(|_| want_origins)
        .map(|r| {
            r.origin.as_ref().map(|o| match o {
                Origin::File(p) => format!("path: {}\n", relative(root_dir, p)),
                Origin::Generator { kustomization, kind, name } => format!(
                    "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n{}",
                    relative(root_dir, kustomization),
                    name.as_ref().map(|n| format!("  name: {n}\n")).unwrap_or_default()
                ),
            })
        })
        .collect();
    let want_transformations = k.build_metadata.iter().any(|b| b == "transformerAnnotations");
    let transformations: Vec<String> = acc
        .iter()
        .filter(|_| want_transformations)
        .map(|r| {
            r.transformations
                .iter()
                .map(|(configured_in, kind, by)| {
                    format!(
                        "- configuredIn: {}\n  configuredBy:\n    apiVersion: builtin\n    kind: {kind}\n{}",
                        relative(root_dir, configured_in),
                        by.as_deref().unwrap_or("")
                    )
                })
                .collect()
        })
        .collect();
    let local: Vec<bool> =
        acc.iter().map(|r| r.obj.annotation("config.kubernetes.io/local-config") == Some("true")).collect();
    let mut objects: Vec<Object> = acc.into_iter().map(|r| r.obj).collect();
    crate::vars::apply(file, vars, &mut objects, &bound, &eff.var_reference)?;
    if want_origins {
        for (o, origin) in objects.iter_mut().zip(&origins) {
            if let Some(text) = origin {
                stringify_annotations(o);
                o.set_annotation("config.kubernetes.io/origin", text);
            }
        }
    }
    for (o, text) in objects.iter_mut().zip(&transformations) {
        if !text.is_empty() {
            stringify_annotations(o);
            o.set_annotation("alpha.config.kubernetes.io/transformations", text);
        }
    }
    let mut objects: Vec<Object> = objects.into_iter().zip(local).filter(|(_, l)| !l).map(|(o, _)| o).collect();
    // Kustomize keeps its own annotations on every resource while it builds and removes them
    // at the end, and with them an annotations field left null or empty.
    for o in objects.iter_mut() {
        if let Some(meta) = o.as_value_mut().get_mut("metadata").and_then(Value::as_object_mut)
            && meta.get("annotations").is_some_and(|a| a.is_null() || a.as_object().is_some_and(Map::is_empty))
        {
            meta.remove("annotations");
        }
    }
    if let Some(so) = &k.sort_options {
        match so.order.as_deref() {
            Some("fifo") if so.legacy_sort_options.is_some() => {
                return Err(kerr(
                    file,
                    "sortOptions.legacySortOptions",
                    "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                ));
            }
            Some("fifo" | "legacy") => {}
            _ => {
                return Err(kerr(
                    file,
                    "sortOptions.order",
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ));
            }
        }
    }
    match k.sort_options.as_ref().and_then(|s| s.order.as_deref()) {
        Some("fifo") => {}
        Some("legacy") | None => {
            let legacy = k.sort_options.as_ref().and_then(|s| s.legacy_sort_options.clone());
            let (first, last): (Vec<String>, Vec<String>) = match legacy {
                Some(l) => (l.order_first, l.order_last),
                None => (
                    tables::ORDER_FIRST.iter().map(|s| s.to_string()).collect(),
                    tables::ORDER_LAST.iter().map(|s| s.to_string()).collect(),
                ),
            };
            crate::order::sort_legacy(&mut objects, &first, &last);
        }
        Some(other) => {
            return Err(kerr(file, "sortOptions.order", format!("unknown order {other:?} (legacy or fifo)")));
        }
    }
    let mut seen = HashSet::new();
    for b in &k.build_metadata {
        if !seen.insert(b.as_str()) {
            continue;
        }
        match b.as_str() {
            "managedByLabel" => {
                for o in objects.iter_mut() {
                    o.set_label("app.kubernetes.io/managed-by", "kustomize-(devel)");
                }
            }
            "originAnnotations" | "transformerAnnotations" => {}
            other => return Err(kerr(file, "buildMetadata", format!("unknown option {other:?}"))),
        }
    }
    Ok(objects)
}

/// Kustomize sets build annotations through the object's string map of annotations, so the
/// others come back as strings: a number or boolean a replacement put there is quoted.
fn stringify_annotations(o: &mut Object) {
    if let Some(Value::Object(m)) = o.as_value_mut().pointer_mut("/metadata/annotations") {
        for v in m.values_mut() {
            match v {
                Value::Number(n) => *v = Value::String(n.to_string()),
                Value::Bool(b) => *v = Value::String(b.to_string()),
                _ => {}
            }
        }
    }
}

fn acc_view(acc: &mut [Res]) -> Vec<crate::nameref::Entry<'_>> {
    acc.iter_mut()
        .map(|r| crate::nameref::Entry {
            obj: &mut r.obj,
            history: &r.history,
            prefixes: &r.prefixes,
            suffixes: &r.suffixes,
        })
        .collect()
}
