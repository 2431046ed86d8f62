//! Field specs: the paths transformers write to, per kind, and a walker over them.

use serde_json::{Map, Value};

use crate::kustomization::FieldSpec;

/// A built-in field spec: an optional group and kind filter, a `/`-separated path, and
/// whether missing fields are created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub group: Option<&'static str>,
    pub kind: Option<&'static str>,
    pub path: &'static str,
    pub create: bool,
}

const fn spec(group: Option<&'static str>, kind: Option<&'static str>, path: &'static str, create: bool) -> Spec {
    Spec { group, kind, path, create }
}

/// A spec for objects of one group and kind.
fn typed(group: &str, kind: &str, path: impl Into<String>, create: bool) -> FieldSpec {
    FieldSpec { group: Some(group.into()), version: None, kind: Some(kind.into()), path: path.into(), create }
}

impl From<&Spec> for FieldSpec {
    fn from(s: &Spec) -> Self {
        FieldSpec {
            group: s.group.map(String::from),
            version: None,
            kind: s.kind.map(String::from),
            path: s.path.into(),
            create: s.create,
        }
    }
}

const TEMPLATE_KINDS: [(&str, &str); 6] = [
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("", "ReplicationController"),
    ("batch", "Job"),
];

/// Where `commonLabels` (and `labels` with `includeSelectors`) write.
pub(crate) fn common_label_specs(include_selectors: bool, include_templates: bool) -> Vec<FieldSpec> {
    let mut out: Vec<FieldSpec> = vec![(&spec(None, None, "metadata/labels", true)).into()];
    if include_selectors {
        for s in [
            spec(Some(""), Some("Service"), "spec/selector", true),
            spec(Some(""), Some("ReplicationController"), "spec/selector", true),
            spec(Some("apps"), Some("Deployment"), "spec/selector/matchLabels", true),
            spec(Some("apps"), Some("ReplicaSet"), "spec/selector/matchLabels", true),
            spec(Some("apps"), Some("DaemonSet"), "spec/selector/matchLabels", true),
            spec(Some("apps"), Some("StatefulSet"), "spec/selector/matchLabels", true),
            spec(Some("batch"), Some("Job"), "spec/selector/matchLabels", false),
            spec(Some("batch"), Some("CronJob"), "spec/jobTemplate/spec/selector/matchLabels", false),
            spec(Some("policy"), Some("PodDisruptionBudget"), "spec/selector/matchLabels", false),
            spec(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/podSelector/matchLabels", false),
            spec(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/ingress/from/podSelector/matchLabels", false),
            spec(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/egress/to/podSelector/matchLabels", false),
        ] {
            out.push((&s).into());
        }
        for kind in ["Deployment", "StatefulSet"] {
            for aff in ["podAffinity", "podAntiAffinity"] {
                out.push(typed("apps", kind, format!("spec/template/spec/affinity/{aff}/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels"), false));
                out.push(typed("apps", kind, format!("spec/template/spec/affinity/{aff}/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels"), false));
            }
            out.push(typed(
                "apps",
                kind,
                "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
                false,
            ));
        }
    }
    if include_selectors || include_templates {
        for (g, k) in TEMPLATE_KINDS {
            out.push(typed(g, k, "spec/template/metadata/labels", true));
        }
        for p in ["spec/jobTemplate/metadata/labels", "spec/jobTemplate/spec/template/metadata/labels"] {
            out.push(typed("batch", "CronJob", p, true));
        }
        out.push(typed("apps", "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true));
    }
    out
}

/// Where `replicas` write: `spec/replicas` of the workload kinds, in any group (Kustomize's
/// order, which its "does not match" error lists).
pub(crate) fn replica_specs() -> Vec<FieldSpec> {
    ["Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"]
        .iter()
        .map(|k| (&spec(None, Some(k), "spec/replicas", true)).into())
        .collect()
}

/// Where `commonAnnotations` write.
pub(crate) fn common_annotation_specs() -> Vec<FieldSpec> {
    let mut out: Vec<FieldSpec> = vec![(&spec(None, None, "metadata/annotations", true)).into()];
    for (g, k) in TEMPLATE_KINDS {
        out.push(typed(g, k, "spec/template/metadata/annotations", true));
    }
    for p in ["spec/jobTemplate/metadata/annotations", "spec/jobTemplate/spec/template/metadata/annotations"] {
        out.push(typed("batch", "CronJob", p, true));
    }
    out
}

/// Calls `f` on every value at `path` (segments separated by `/`; lists on the way are
/// entered item by item). With `create`, missing maps are created, and `f` is called with
/// a `Null` slot for a missing last field.
pub(crate) fn walk(value: &mut Value, path: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    if let Value::Array(items) = value {
        for item in items {
            walk(item, path, create, f);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        f(value);
        return;
    };
    let seg = first.trim_end_matches("[]");
    // `name[]` names a list: Kustomize enters it when it is there and never creates one.
    let create_here = create && seg.len() == first.len();
    let Value::Object(map) = value else { return };
    if !map.contains_key(seg) {
        if !create_here {
            return;
        }
        map.insert(seg.to_string(), if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) });
    }
    let child = map.get_mut(seg).expect("present or created");
    if child.is_null() && !rest.is_empty() {
        if !create_here {
            return;
        }
        *child = Value::Object(Map::new());
    }
    walk(child, rest, create, f);
}

/// Sets string pairs into the map at each spec's path.
pub(crate) fn set_pairs<'a>(
    value: &mut Value,
    group: &str,
    kind: &str,
    specs: impl IntoIterator<Item = &'a FieldSpec>,
    pairs: &[(String, String)],
) {
    for s in specs {
        if !s.matches(group, kind) {
            continue;
        }
        let segs: Vec<&str> = s.path.split('/').collect();
        walk(value, &segs, s.create, &mut |slot| {
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                for (k, v) in pairs {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
            }
        });
    }
}
