//! Kustomize's `crds` field: OpenAPI definitions of custom kinds (a map of type name to
//! `{Schema: {properties: ...}}`, as Kubernetes code generators write them) read for the
//! `x-kubernetes-*` markers that extend the transformers: `x-kubernetes-annotation` (where
//! `commonAnnotations` also write), `x-kubernetes-label-selector` (where `commonLabels` also
//! write), `x-kubernetes-identity` (fields `namePrefix` also prefixes) and
//! `x-kubernetes-object-ref-api-version` with `x-kubernetes-object-ref-kind` (and optionally
//! `x-kubernetes-object-ref-name-key`, default `name`): a name reference to that kind.
//! Definitions are followed through `$ref`; a type is a kind when it has `apiVersion`, `kind`
//! and `metadata` properties, and its kind is the last dot-separated part of its name.

use gitops_core::value::{Map, Value};

use crate::kustomization::FieldSpec;
use crate::kustomize::{NameReferenceSpec, TransformerConfig};

/// How deep `$ref`s are followed (a type that contains itself would never end).
const MAX_DEPTH: usize = 32;

/// The transformer configuration a `crds` file's definitions give.
pub(crate) fn config_from_definitions(defs: &Value) -> Result<TransformerConfig, String> {
    let Value::Object(types) = defs else {
        return Err("expected a map of OpenAPI definitions (type name to {Schema: ...})".into());
    };
    let mut tc = TransformerConfig::default();
    for (name, def) in types {
        let Some(props) = properties(def) else { continue };
        if !["kind", "apiVersion", "metadata"].iter().all(|p| props.contains_key(*p)) {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let mut found = TransformerConfig::default();
        load(&mut found, kind, types, name, &mut Vec::new());
        tc.merge(found)?;
    }
    Ok(tc)
}

/// A definition's schema properties; the `Schema` key is matched without regard to case, as
/// Go's JSON decoder matches struct fields.
fn properties(def: &Value) -> Option<&Map<String, Value>> {
    let schema = def.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case("schema"))?.1;
    schema.get("properties")?.as_object()
}

fn marker<'v>(prop: &'v Value, name: &str) -> Option<&'v str> {
    prop.get(name).and_then(Value::as_str)
}

fn spec(kind: &str, path: &[String]) -> FieldSpec {
    FieldSpec { path: path.join("/"), kind: Some(kind.into()), group: None, version: None, create: false }
}

fn load(tc: &mut TransformerConfig, kind: &str, types: &Map<String, Value>, type_name: &str, path: &mut Vec<String>) {
    if path.len() > MAX_DEPTH {
        return;
    }
    let Some(props) = types.get(type_name).and_then(properties) else { return };
    for (name, prop) in props {
        path.push(name.clone());
        // Pushed as found; merging into the build's configuration keeps each spec once.
        if marker(prop, "x-kubernetes-annotation").is_some() {
            tc.common_annotations.push(spec(kind, path));
        }
        if marker(prop, "x-kubernetes-label-selector").is_some() {
            tc.common_labels.push(spec(kind, path));
        }
        if marker(prop, "x-kubernetes-identity").is_some() {
            tc.name_prefix.push(spec(kind, path));
        }
        if let (Some(version), Some(target)) =
            (marker(prop, "x-kubernetes-object-ref-api-version"), marker(prop, "x-kubernetes-object-ref-kind"))
        {
            let key = marker(prop, "x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut p = path.clone();
            p.push(key.into());
            tc.name_reference.push(NameReferenceSpec {
                kind: target.into(),
                group: None,
                version: Some(version.to_string()),
                field_specs: vec![spec(kind, &p)],
            });
        }
        if let Some(target) = prop.get("$ref").and_then(Value::as_str) {
            load(tc, kind, types, target, path);
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    #[test]
    fn markers_become_field_specs() {
        let defs = json!({
            "example.com/v1.Widget": {"Schema": {"properties": {
                "apiVersion": {}, "kind": {}, "metadata": {},
                "spec": {"$ref": "example.com/v1.WidgetSpec"}}}},
            "example.com/v1.WidgetSpec": {"schema": {"properties": {
                "secretRef": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Secret"},
                "owner": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "ServiceAccount",
                          "x-kubernetes-object-ref-name-key": "account"},
                "notes": {"x-kubernetes-annotation": ""},
                "selector": {"x-kubernetes-label-selector": ""},
                "alias": {"x-kubernetes-identity": ""},
                "self": {"$ref": "example.com/v1.WidgetSpec"}}}},
            "example.com/v1.NotAKind": {"Schema": {"properties": {"notes": {"x-kubernetes-annotation": ""}}}}
        });
        let tc = config_from_definitions(&defs).unwrap();
        let paths = |l: &[FieldSpec]| l.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&tc.common_annotations)[0], "spec/notes");
        assert_eq!(paths(&tc.common_labels)[0], "spec/selector");
        assert_eq!(paths(&tc.name_prefix)[0], "spec/alias");
        assert!(tc.common_annotations.iter().all(|f| f.kind.as_deref() == Some("Widget")));
        let secret = tc.name_reference.iter().find(|n| n.kind == "Secret").unwrap();
        assert_eq!(paths(&secret.field_specs)[0], "spec/secretRef/name");
        let sa = tc.name_reference.iter().find(|n| n.kind == "ServiceAccount").unwrap();
        assert_eq!(paths(&sa.field_specs)[0], "spec/owner/account");
        // The self-reference is followed a bounded number of times, not forever.
        assert!(tc.common_annotations.len() > 1 && tc.common_annotations.len() <= MAX_DEPTH);
    }

    #[test]
    fn broken_definitions_are_refused() {
        assert!(config_from_definitions(&json!(["not", "a", "map"])).is_err());
        assert!(config_from_definitions(&json!("text")).is_err());
        // Definitions without kinds give nothing, without error.
        let tc = config_from_definitions(&json!({"a.b.C": {"Schema": {}}})).unwrap();
        assert!(tc.name_reference.is_empty() && tc.common_labels.is_empty());
    }
}
