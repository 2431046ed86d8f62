//! An Application's Kustomize options (`spec.source.kustomize`) applied to the
//! kustomization before the build, as Argo CD applies them with `kustomize edit`:
//! `set nameprefix`, `set namesuffix`, `set image`, `set replicas`, `add label` (with
//! `--force`, `--without-selector`, `--include-templates`), `add annotation`, `set
//! namespace`, patches appended, `add component`. The edit is made in memory.

use gitops_core::FileTree;
use gitops_core::source::{KustomizeSource, RenderRequest};
use gitops_core::tree::{EntryKind, normalize};
use gitops_core::yaml;
use gitops_core::{
    json,
    value::{Map, Value},
};

/// Whether the options change anything but the images (which the text editor applies).
pub(crate) fn edits_beyond_images(k: &KustomizeSource) -> bool {
    !(k.name_prefix.is_empty()
        && k.name_suffix.is_empty()
        && k.namespace.is_empty()
        && k.common_labels.is_empty()
        && k.common_annotations.is_empty()
        && k.replicas.is_empty()
        && k.patches.is_empty()
        && k.components.is_empty())
}

/// `kustomize edit add label|annotation`'s write: an existing key is an error without
/// `--force`.
fn write_pairs(
    map: &mut Map<String, Value>,
    pairs: impl Iterator<Item = (String, String)>,
    force: bool,
    what: &str,
) -> Result<(), String> {
    for (k, v) in pairs {
        if map.contains_key(&k) && !force {
            return Err(format!("{what} {k} already in kustomization file. Use --force to override."));
        }
        map.insert(k, Value::String(v));
    }
    Ok(())
}

fn object<'a>(root: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Map<String, Value>, String> {
    let slot = root.entry(key.to_string()).or_insert_with(|| json!({}));
    if slot.is_null() {
        *slot = json!({});
    }
    slot.as_object_mut().ok_or_else(|| format!("{key} is not a mapping"))
}

fn list<'a>(root: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Vec<Value>, String> {
    let slot = root.entry(key.to_string()).or_insert_with(|| json!([]));
    if slot.is_null() {
        *slot = json!([]);
    }
    slot.as_array_mut().ok_or_else(|| format!("{key} is not a list"))
}

/// Applies the options (but the images) to the kustomization's text; `dir` is the
/// kustomization's directory in `tree` (components are looked up there).
pub(crate) fn apply(
    text: &str,
    file: &str,
    tree: &dyn FileTree,
    dir: &str,
    k: &KustomizeSource,
    request: &RenderRequest<'_>,
) -> Result<String, String> {
    let mut root = match yaml::parse_value(text, file, 0, 1).map_err(|e| e.to_string())? {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err("the kustomization is not a mapping".into()),
    };
    if !k.name_prefix.is_empty() {
        root.insert("namePrefix".into(), Value::String(k.name_prefix.clone()));
    }
    if !k.name_suffix.is_empty() {
        root.insert("nameSuffix".into(), Value::String(k.name_suffix.clone()));
    }
    if !k.replicas.is_empty() {
        let mut counts = Vec::new();
        for r in &k.replicas {
            counts.push((r.name.clone(), r.int_count().map_err(|e| format!("replicas {:?}: {e}", r.name))?));
        }
        let replicas = list(&mut root, "replicas")?;
        for (name, count) in counts {
            match replicas.iter_mut().find(|r| r.get("name").and_then(Value::as_str) == Some(name.as_str())) {
                Some(entry) => entry["count"] = json!(count),
                None => replicas.push(json!({"name": name, "count": count})),
            }
        }
    }
    if !k.common_labels.is_empty() {
        // Argo CD substitutes the build environment in label values always.
        let pairs = k.common_labels.iter().map(|(n, v)| (n.clone(), request.envsubst(v)));
        if k.label_without_selector {
            let labels = list(&mut root, "labels")?;
            let wanted_templates = k.label_include_templates;
            let found = labels.iter().position(|l| {
                !l.get("includeSelectors").and_then(Value::as_bool).unwrap_or(false)
                    && l.get("includeTemplates").and_then(Value::as_bool).unwrap_or(false) == wanted_templates
            });
            let index = match found {
                Some(i) => i,
                None => {
                    let mut entry = json!({"pairs": {}});
                    if wanted_templates {
                        entry["includeTemplates"] = json!(true);
                    }
                    labels.push(entry);
                    labels.len() - 1
                }
            };
            let entry = labels[index].as_object_mut().ok_or("labels entry is not a mapping")?;
            write_pairs(object(entry, "pairs")?, pairs, k.force_common_labels, "label")?;
        } else {
            write_pairs(object(&mut root, "commonLabels")?, pairs, k.force_common_labels, "label")?;
        }
    }
    if !k.common_annotations.is_empty() {
        let pairs = k
            .common_annotations
            .iter()
            .map(|(n, v)| (n.clone(), if k.common_annotations_envsubst { request.envsubst(v) } else { v.clone() }));
        write_pairs(object(&mut root, "commonAnnotations")?, pairs, k.force_common_annotations, "annotation")?;
    }
    if !k.namespace.is_empty() {
        root.insert("namespace".into(), Value::String(k.namespace.clone()));
    }
    if !k.patches.is_empty() {
        list(&mut root, "patches")?.extend(k.patches.iter().cloned());
    }
    if !k.components.is_empty() {
        let mut found = Vec::new();
        for c in &k.components {
            let exists = normalize(&format!("{dir}/{c}"))
                .ok()
                .is_some_and(|p| matches!(tree.kind(&p), Ok(Some(EntryKind::Dir | EntryKind::File))));
            if exists {
                found.push(c.clone());
            } else if !k.ignore_missing_components {
                return Err(format!("component {c:?} does not exist (set ignoreMissingComponents to leave it out)"));
            }
        }
        let components = list(&mut root, "components")?;
        for c in found {
            if !components.iter().any(|x| x.as_str() == Some(c.as_str())) {
                components.push(Value::String(c));
            }
        }
    }
    Ok(yaml::to_yaml(&Value::Object(root)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::MemTree;
    use gitops_core::source::{AppSource, KustomizeReplica};

    fn edit(text: &str, k: KustomizeSource) -> Result<Value, String> {
        let source = AppSource::default();
        let request = RenderRequest::new(&source, "guestbook", "prod", "0123456789");
        let tree = MemTree::new().with_file("app/comp/kustomization.yaml", "kind: Component\n");
        let out = apply(text, "app/kustomization.yaml", &tree, "app", &k, &request)?;
        Ok(yaml::parse_value(&out, "out", 0, 1).unwrap().unwrap())
    }

    #[test]
    fn labels_as_kustomize_edit_adds_them() {
        let k = KustomizeSource {
            common_labels: [("app".to_string(), "$ARGOCD_APP_NAME".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(edit("resources: [a.yaml]\n", k.clone()).unwrap()["commonLabels"], json!({"app": "guestbook"}));
        let err = edit("commonLabels: {app: x}\n", k.clone()).unwrap_err();
        assert!(err.contains("label app already in kustomization file"), "{err}");
        let forced = KustomizeSource { force_common_labels: true, ..k.clone() };
        assert_eq!(edit("commonLabels: {app: x}\n", forced).unwrap()["commonLabels"]["app"], "guestbook");
        let without = KustomizeSource { label_without_selector: true, ..k };
        assert_eq!(edit("{}\n", without).unwrap()["labels"], json!([{"pairs": {"app": "guestbook"}}]));
    }

    #[test]
    fn replicas_components_and_the_rest() {
        let k = KustomizeSource {
            name_prefix: "p-".into(),
            namespace: "ns".into(),
            replicas: vec![KustomizeReplica { name: "web".into(), count: json!("3") }],
            components: vec!["comp".into(), "missing".into()],
            ignore_missing_components: true,
            patches: vec![json!({"patch": "x"})],
            common_annotations: [("rev".to_string(), "$ARGOCD_APP_REVISION".to_string())].into(),
            ..Default::default()
        };
        let out = edit("replicas: [{name: web, count: 1}, {name: db, count: 1}]\npatches: [{patch: y}]\n", k.clone())
            .unwrap();
        assert_eq!(out["namePrefix"], "p-");
        assert_eq!(out["namespace"], "ns");
        assert_eq!(out["replicas"], json!([{"name": "web", "count": 3}, {"name": "db", "count": 1}]));
        assert_eq!(out["components"], json!(["comp"]));
        assert_eq!(out["patches"], json!([{"patch": "y"}, {"patch": "x"}]));
        assert_eq!(out["commonAnnotations"]["rev"], "$ARGOCD_APP_REVISION", "no envsubst unless asked");
        let strict = KustomizeSource { ignore_missing_components: false, ..k };
        assert!(edit("{}\n", strict).unwrap_err().contains("\"missing\" does not exist"));
    }
}
