//! What the server serves: the built-in kinds (from gitops-core's schema) and the kinds of
//! established CustomResourceDefinitions.

use std::collections::BTreeMap;

use gitops_core::GroupVersionKind;
use gitops_core::schema::{KindInfo, Schema};

/// One served resource.
#[derive(Clone, Debug)]
pub struct Resource {
    /// API group, empty for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural name in URLs.
    pub plural: String,
    /// Lower-case singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Short names (`deploy`, `svc`).
    pub short_names: Vec<String>,
    /// Subresources with their verbs.
    pub subresources: Vec<(String, Vec<String>)>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether it comes from a CRD.
    pub custom: bool,
}

impl Resource {
    /// The `apiVersion` of the resource.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Group, version, kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, &self.kind)
    }

    /// A served resource from the schema's facts; short names and categories of built-in
    /// kinds come from the table below, those of custom resources from their CRD.
    fn from_kind(k: &KindInfo, custom: bool) -> Self {
        let (short, cats) = names(&k.group, &k.kind);
        let or_table = |own: &[String], table: &[&str]| -> Vec<String> {
            if own.is_empty() { table.iter().map(|s| s.to_string()).collect() } else { own.to_vec() }
        };
        Resource {
            group: k.group.clone(),
            version: k.version.clone(),
            kind: k.kind.clone(),
            plural: k.plural.clone(),
            singular: k.singular.clone(),
            namespaced: k.namespaced,
            verbs: k.verbs.clone(),
            short_names: or_table(&k.short_names, short),
            subresources: k.subresources.clone(),
            categories: or_table(&k.categories, cats),
            custom,
        }
    }
}

/// Short names and categories of built-in kinds, as a real API server lists them.
fn names(group: &str, kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match (group, kind) {
        ("", "ConfigMap") => (&["cm"], &[]),
        ("", "Endpoints") => (&["ep"], &[]),
        ("", "Event") => (&["ev"], &[]),
        ("", "LimitRange") => (&["limits"], &[]),
        ("", "Namespace") => (&["ns"], &[]),
        ("", "Node") => (&["no"], &[]),
        ("", "PersistentVolumeClaim") => (&["pvc"], &[]),
        ("", "PersistentVolume") => (&["pv"], &[]),
        ("", "Pod") => (&["po"], &["all"]),
        ("", "ReplicationController") => (&["rc"], &["all"]),
        ("", "ResourceQuota") => (&["quota"], &[]),
        ("", "ServiceAccount") => (&["sa"], &[]),
        ("", "Service") => (&["svc"], &["all"]),
        ("", "ComponentStatus") => (&["cs"], &[]),
        ("apps", "DaemonSet") => (&["ds"], &["all"]),
        ("apps", "Deployment") => (&["deploy"], &["all"]),
        ("apps", "ReplicaSet") => (&["rs"], &["all"]),
        ("apps", "StatefulSet") => (&["sts"], &["all"]),
        ("batch", "CronJob") => (&["cj"], &["all"]),
        ("batch", "Job") => (&[], &["all"]),
        ("autoscaling", "HorizontalPodAutoscaler") => (&["hpa"], &["all"]),
        ("policy", "PodDisruptionBudget") => (&["pdb"], &[]),
        ("networking.k8s.io", "Ingress") => (&["ing"], &[]),
        ("networking.k8s.io", "NetworkPolicy") => (&["netpol"], &[]),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (&["crd", "crds"], &["api-extensions"]),
        ("storage.k8s.io", "StorageClass") => (&["sc"], &[]),
        ("scheduling.k8s.io", "PriorityClass") => (&["pc"], &[]),
        ("events.k8s.io", "Event") => (&["ev"], &[]),
        ("certificates.k8s.io", "CertificateSigningRequest") => (&["csr"], &[]),
        _ => (&[], &[]),
    }
}

/// The served resources.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    resources: Vec<Resource>,
    /// Preferred version per group, in discovery order.
    groups: Vec<(String, Vec<String>)>,
}

/// The group versions the server serves, in the order a real server lists them.
const SERVED: [(&str, &[&str]); 21] = [
    ("", &["v1"]),
    ("apiregistration.k8s.io", &["v1"]),
    ("apps", &["v1"]),
    ("events.k8s.io", &["v1"]),
    ("authentication.k8s.io", &["v1"]),
    ("authorization.k8s.io", &["v1"]),
    ("autoscaling", &["v2", "v1"]),
    ("batch", &["v1"]),
    ("certificates.k8s.io", &["v1"]),
    ("networking.k8s.io", &["v1"]),
    ("policy", &["v1"]),
    ("rbac.authorization.k8s.io", &["v1"]),
    ("storage.k8s.io", &["v1"]),
    ("admissionregistration.k8s.io", &["v1"]),
    ("apiextensions.k8s.io", &["v1"]),
    ("scheduling.k8s.io", &["v1"]),
    ("coordination.k8s.io", &["v1"]),
    ("node.k8s.io", &["v1"]),
    ("discovery.k8s.io", &["v1"]),
    ("flowcontrol.apiserver.k8s.io", &["v1"]),
    ("resource.k8s.io", &["v1"]),
];

impl Registry {
    /// The built-in resources.
    pub fn builtin() -> Self {
        let schema = Schema::builtin();
        let mut resources = Vec::new();
        let mut groups = Vec::new();
        for (group, versions) in SERVED {
            let mut served_versions = Vec::new();
            for v in versions {
                let mut kinds: Vec<&KindInfo> =
                    schema.kinds().filter(|k| k.group == group && k.version == *v).collect();
                if kinds.is_empty() {
                    continue;
                }
                kinds.sort_by(|a, b| a.plural.cmp(&b.plural));
                resources.extend(kinds.into_iter().map(|k| Resource::from_kind(k, false)));
                served_versions.push(v.to_string());
            }
            if !served_versions.is_empty() {
                groups.push((group.to_string(), served_versions));
            }
        }
        Registry { resources, groups }
    }

    /// Every resource.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Group names with their versions, preferred first (the core group as `""`).
    pub fn groups(&self) -> &[(String, Vec<String>)] {
        &self.groups
    }

    /// The resource at `group/version` named `plural`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource of a kind at a version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// Whether a group version is served.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.groups.iter().any(|(g, vs)| g == group && vs.iter().any(|v| v == version))
    }

    /// Serves the kinds of an established CRD, as [`Schema::add_crd`] read them.
    pub fn add_crd_kinds(&mut self, kinds: &[KindInfo]) {
        let Some(first) = kinds.first() else { return };
        let (group, plural) = (first.group.clone(), first.plural.clone());
        self.remove_crd(&group, &plural);
        let mut versions = Vec::new();
        for k in kinds.iter().filter(|k| k.served) {
            versions.push(k.version.clone());
            self.resources.push(Resource::from_kind(k, true));
        }
        if let Some((_, vs)) = self.groups.iter_mut().find(|(g, _)| *g == group) {
            for v in versions {
                if !vs.contains(&v) {
                    vs.push(v);
                }
            }
        } else if !versions.is_empty() {
            self.groups.push((group, versions));
        }
    }

    /// Removes the kinds of a CRD.
    pub fn remove_crd(&mut self, group: &str, plural: &str) {
        self.resources.retain(|r| !(r.custom && r.group == group && r.plural == plural));
        let still: BTreeMap<String, ()> =
            self.resources.iter().filter(|r| r.group == group).map(|r| (r.version.clone(), ())).collect();
        if let Some(pos) = self.groups.iter().position(|(g, _)| g == group) {
            if still.is_empty() {
                self.groups.remove(pos);
            } else {
                self.groups[pos].1.retain(|v| still.contains_key(v));
            }
        }
    }
}
