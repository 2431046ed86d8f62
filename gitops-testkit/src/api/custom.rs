//! Custom resources: their CRD's served version, printer columns, structural-schema pruning
//! and defaults, unknown fields; CRDs established and their objects removed with them.

use super::*;

impl State {
    pub(super) fn crd_version(&self, res: &Resource) -> Option<&Value> {
        if !res.custom {
            return None;
        }
        let (_, crd) = self.objects.iter().find(|((g, p, _, _), o)| {
            g == "apiextensions.k8s.io"
                && p == "customresourcedefinitions"
                && o.pointer("/spec/group").and_then(Value::as_str) == Some(&res.group)
                && o.pointer("/spec/names/plural").and_then(Value::as_str) == Some(&res.plural)
        })?;
        crd.pointer("/spec/versions").and_then(Value::as_array)?.iter().find(|x| x["name"] == json!(res.version))
    }

    /// The `additionalPrinterColumns` of a custom resource's version (`None` for built-in
    /// kinds and CRDs without any).
    pub fn printer_columns(&self, res: &Resource) -> Option<Vec<Value>> {
        self.crd_version(res)?
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .cloned()
    }

    /// Prunes unknown fields and applies schema defaults, for structural schemas; returns the
    /// paths pruned.
    pub(super) fn default_custom(&self, res: &Resource, v: &mut Value) -> Vec<Vec<Seg>> {
        let mut pruned = Vec::new();
        let Some(schema) = self.crd_version(res).and_then(|x| x.pointer("/schema/openAPIV3Schema")) else {
            return pruned;
        };
        let schema = schema.clone();
        if let Some(m) = v.as_object_mut() {
            let mut path = Vec::new();
            for (k, child) in m.iter_mut() {
                if k == "metadata" || k == "apiVersion" || k == "kind" {
                    continue;
                }
                if let Some(s) = schema.pointer(&format!("/properties/{k}")) {
                    path.push(Seg::Field(k.clone()));
                    prune_and_default(child, s, &mut path, &mut pruned);
                    path.pop();
                }
            }
            if schema.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
                && let Some(props) = schema.get("properties").and_then(Value::as_object)
            {
                m.retain(|k, _| {
                    let keep = matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || props.contains_key(k);
                    if !keep {
                        pruned.push(vec![Seg::Field(k.clone())]);
                    }
                    keep
                });
            }
        }
        pruned
    }

    /// The fields of a custom resource that decoding would drop: unknown `metadata` fields,
    /// then what pruning removes, in path order.
    pub(crate) fn custom_unknown_fields(&self, res: &Resource, v: &Value) -> Vec<Vec<Seg>> {
        let mut copy = v.clone();
        let mut out = Vec::new();
        if let (Some(meta), Some(node)) = (copy.get_mut("metadata"), object_meta_node()) {
            for mut p in crate::strict::unknown_fields(meta, node, false) {
                p.insert(0, Seg::Field("metadata".into()));
                out.push(p);
            }
        }
        let mut pruned = self.default_custom(res, &mut copy);
        pruned.sort_by_cached_key(|p| crate::strict::dotted(p));
        out.extend(pruned);
        out
    }

    /// Deletes every custom resource of a CRD and stops serving its kinds.
    pub(crate) fn remove_custom_resources(&mut self, obj: &Value) {
        {
            let group = obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or("").to_string();
            let plural = obj.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("").to_string();
            let doomed = self.stored_where(|(g, p, _, _), _| *g == group && *p == plural);
            for (r, v) in doomed {
                self.commit(&r, v, "DELETED");
            }
            self.registry.remove_crd(&group, &plural);
        }
    }

    pub(super) fn establish_crd(&mut self, res: &Resource, obj: &Value) {
        let Ok(crd) = Object::from_value(obj.clone()) else { return };
        if obj.pointer("/metadata/deletionTimestamp").is_none()
            && let Ok(kinds) = self.schema.add_crd(&crd)
        {
            self.registry.add_crd_kinds(&kinds);
        }
        let established = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Established"));
        if !established {
            let mut new = obj.clone();
            let t = now();
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            new["status"]["conditions"] = json!([
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
            ]);
            new["status"]["acceptedNames"] = names;
            let target =
                Target { namespace: String::new(), name: meta_str(obj, "name").into(), subresource: "status".into() };
            let opts = WriteOptions { manager: "kube-apiserver".into(), ..Default::default() };
            let _ = self.update(res, &target, new, &opts);
        }
    }
}

/// ObjectMeta's schema node.
pub(super) fn object_meta_node() -> Option<gitops_core::schema::Node<'static>> {
    Schema::builtin().node("", "v1", "ConfigMap")?.field("metadata")
}

/// Structural pruning and defaulting of a custom resource's value; the paths pruned are added
/// to `pruned`.
pub(super) fn prune_and_default(v: &mut Value, schema: &Value, path: &mut Vec<Seg>, pruned: &mut Vec<Vec<Seg>>) {
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                // A null where the schema does not allow one is dropped, so a default applies.
                m.retain(|k, v| !v.is_null() || props.get(k).is_some_and(|s| s.get("nullable") == Some(&json!(true))));
                for (k, s) in props {
                    if let Some(d) = s.get("default") {
                        m.entry(k.clone()).or_insert(d.clone());
                    }
                }
                if !preserve {
                    m.retain(|k, _| {
                        let keep = props.contains_key(k);
                        if !keep {
                            let mut p = path.clone();
                            p.push(Seg::Field(k.clone()));
                            pruned.push(p);
                        }
                        keep
                    });
                }
                for (k, child) in m.iter_mut() {
                    if let Some(s) = props.get(k) {
                        path.push(Seg::Field(k.clone()));
                        prune_and_default(child, s, path, pruned);
                        path.pop();
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in m.iter_mut() {
                    path.push(Seg::Field(k.clone()));
                    prune_and_default(child, ap, path, pruned);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Seg::Item(i, None));
                    prune_and_default(item, s, path, pruned);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}
