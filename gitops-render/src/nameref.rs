//! Name references: after the build, fields that name an object by an old name are
//! rewritten to its final name (prefix, suffix, hash, patch renames).

use gitops_core::Object;
use serde_json::Value;

use crate::fields::walk;
use crate::tables::{self, NAME_REFS, POD_CONFIGMAP_PATHS, POD_SECRET_PATHS};

/// A view of one resource for the fix-up.
pub(crate) struct Entry<'a> {
    pub obj: &'a mut Object,
    pub history: &'a [(String, String)],
    pub lineage: &'a [u32],
}

#[derive(Clone)]
struct Candidate {
    group: String,
    kind: String,
    namespace: String,
    name: String,
    old_names: Vec<(String, String)>,
    lineage: Vec<u32>,
    cluster_scoped: bool,
}

fn is_cluster_kind(kind: &str) -> bool {
    matches!(
        kind,
        "StorageClass"
            | "PersistentVolume"
            | "ClusterRole"
            | "IngressClass"
            | "PriorityClass"
            | "Namespace"
            | "ValidatingAdmissionPolicy"
    )
}

/// A name reference added by a `configurations` file.
pub(crate) struct ExtraRef {
    pub kind: String,
    /// The referenced object's group; any group when unset (as Kustomize matches).
    pub group: Option<String>,
    pub referrer_kind: Option<String>,
    pub referrer_group: Option<String>,
    pub path: String,
}

pub(crate) fn fix(entries: &mut [Entry<'_>], extra: &[ExtraRef]) {
    let candidates: Vec<Candidate> = entries
        .iter()
        .filter(|e| !e.history.is_empty())
        .map(|e| Candidate {
            group: e.obj.group().into(),
            kind: e.obj.kind().into(),
            namespace: e.obj.namespace().into(),
            name: e.obj.name().into(),
            old_names: e.history.to_vec(),
            lineage: e.lineage.to_vec(),
            cluster_scoped: is_cluster_kind(e.obj.kind()),
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    // Candidates by (kind, old name): a referrer's value is looked up, not scanned for.
    let mut by_name: std::collections::HashMap<(&str, &str), Vec<&Candidate>> = std::collections::HashMap::new();
    for c in &candidates {
        for (_, n) in &c.old_names {
            let list = by_name.entry((c.kind.as_str(), n.as_str())).or_default();
            if !list.iter().any(|x| std::ptr::eq(*x, c)) {
                list.push(c);
            }
        }
    }
    for e in entries.iter_mut() {
        let kind = e.obj.kind().to_string();
        let group = e.obj.group().to_string();
        let ns = e.obj.namespace().to_string();
        let lineage = e.lineage.to_vec();
        let resolve = |target_kind: &str, target_group: Option<&str>, value: &str| -> Option<String> {
            let mut found: Vec<&Candidate> = by_name
                .get(&(target_kind, value))
                .into_iter()
                .flatten()
                .copied()
                .filter(|c| {
                    target_group.is_none_or(|g| c.group == g)
                        && (c.cluster_scoped
                            || ns.is_empty()
                            || c.namespace == ns
                            || c.old_names.iter().any(|(n, _)| *n == ns))
                })
                .collect();
            if found.len() > 1 {
                let same_ns: Vec<&Candidate> = found.iter().copied().filter(|c| c.namespace == ns).collect();
                if !same_ns.is_empty() {
                    found = same_ns;
                }
            }
            if found.len() > 1 {
                let same: Vec<&Candidate> = found.iter().copied().filter(|c| c.lineage == lineage).collect();
                if !same.is_empty() {
                    found = same;
                }
            }
            if found.len() > 1 {
                // Prefer the candidate that shares the longest outer lineage with the referrer.
                let score = |c: &Candidate| {
                    c.lineage.iter().rev().zip(lineage.iter().rev()).take_while(|(a, b)| a == b).count()
                };
                let best = found.iter().map(|c| score(c)).max().unwrap_or(0);
                found.retain(|c| score(c) == best);
            }
            let first = found.first()?;
            found.iter().all(|c| c.name == first.name).then(|| first.name.clone())
        };
        let v = e.obj.as_value_mut();
        let mut rewrite = |path: &str, target_kind: &str, target_group: Option<&str>| {
            let segs: Vec<String> = path.split('/').map(|s| s.replace("~1", "/")).collect();
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            walk(v, &segs, false, &mut |slot| {
                if let Value::String(s) = slot
                    && let Some(new) = resolve(target_kind, target_group, s)
                {
                    *s = new;
                }
            });
        };
        if let Some(pod) = tables::pod_spec_path(&kind).filter(|_| tables::has_pod_spec(&kind)) {
            for p in POD_CONFIGMAP_PATHS {
                rewrite(&format!("{pod}/{p}"), "ConfigMap", Some(""));
            }
            for p in POD_SECRET_PATHS {
                rewrite(&format!("{pod}/{p}"), "Secret", Some(""));
            }
            rewrite(&format!("{pod}/serviceAccountName"), "ServiceAccount", Some(""));
            rewrite(&format!("{pod}/volumes/persistentVolumeClaim/claimName"), "PersistentVolumeClaim", Some(""));
            rewrite(&format!("{pod}/priorityClassName"), "PriorityClass", Some("scheduling.k8s.io"));
        }
        for rule in NAME_REFS.iter() {
            for (referrer, path) in rule.referrers {
                if referrer.is_none_or(|r| r == kind) {
                    rewrite(path, rule.kind, Some(rule.group));
                }
            }
        }
        for x in extra {
            if x.referrer_kind.as_deref().is_none_or(|r| r == kind)
                && x.referrer_group.as_deref().is_none_or(|g| g == group)
            {
                rewrite(&x.path, &x.kind, x.group.as_deref());
            }
        }
        if matches!(kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = v.get_mut("subjects")
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                    continue;
                }
                let name = s.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let sns = s.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
                // A namespace written as "" names no ServiceAccount of the build (Kustomize
                // leaves such a subject as it is).
                if s.get("namespace").is_some_and(|n| n.as_str() == Some("")) {
                    continue;
                }
                let hit = candidates.iter().find(|c| {
                    c.kind == "ServiceAccount"
                        && c.old_names
                            .iter()
                            .any(|(n, nm)| *nm == name && (sns.is_empty() || *n == sns || c.namespace == sns))
                });
                if let Some(c) = hit {
                    s["name"] = Value::String(c.name.clone());
                    if !c.namespace.is_empty() {
                        s["namespace"] = Value::String(c.namespace.clone());
                    }
                }
            }
        }
    }
}
