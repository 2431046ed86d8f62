//! Kustomize's fixed tables: cluster-scoped kinds (from its built-in v1.21.2 schema)
//! and the legacy output order.

/// Whether Kustomize v5.5 treats `apiVersion`+`kind` as cluster-scoped. It reads its
/// built-in Kubernetes v1.21.2 schema, keyed by exact apiVersion and kind, so newer
/// cluster-scoped kinds and all custom resources get a namespace.
pub(crate) fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    matches!(
        (api_version, kind),
        ("v1", "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus")
            | ("apiextensions.k8s.io/v1" | "apiextensions.k8s.io/v1beta1", "CustomResourceDefinition")
            | ("apiregistration.k8s.io/v1" | "apiregistration.k8s.io/v1beta1", "APIService")
            | (
                "admissionregistration.k8s.io/v1" | "admissionregistration.k8s.io/v1beta1",
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
            )
            | (
                "rbac.authorization.k8s.io/v1" | "rbac.authorization.k8s.io/v1beta1",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | ("scheduling.k8s.io/v1" | "scheduling.k8s.io/v1beta1", "PriorityClass")
            | (
                "storage.k8s.io/v1" | "storage.k8s.io/v1beta1",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("networking.k8s.io/v1" | "networking.k8s.io/v1beta1", "IngressClass")
            | ("node.k8s.io/v1" | "node.k8s.io/v1beta1", "RuntimeClass")
            | ("policy/v1beta1", "PodSecurityPolicy")
            | ("certificates.k8s.io/v1" | "certificates.k8s.io/v1beta1", "CertificateSigningRequest")
            | ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema" | "PriorityLevelConfiguration")
    )
}

/// Kustomize's effective namespace of an id: `None` for a cluster-scoped kind, `default`
/// for no namespace, else the namespace.
pub(crate) fn effective_namespace(cluster_scoped: bool, namespace: &str) -> Option<&str> {
    if cluster_scoped {
        None
    } else if namespace.is_empty() {
        Some("default")
    } else {
        Some(namespace)
    }
}

/// The default `orderFirst` list of the legacy order.
pub(crate) const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// The default `orderLast` list of the legacy order.
pub(crate) const ORDER_LAST: [&str; 2] = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];
