//! Kustomize's fixed tables: cluster-scoped kinds (from its built-in v1.21.2 schema), the
//! legacy output order, and the name-reference table.

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

/// Kinds whose names `namePrefix`/`nameSuffix` leave alone.
pub(crate) fn keeps_name(kind: &str) -> bool {
    matches!(kind, "CustomResourceDefinition" | "APIService" | "Namespace")
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

/// One name-reference rule: a referenced kind, and where objects refer to it.
pub(crate) struct NameRef {
    pub group: &'static str,
    pub kind: &'static str,
    pub referrers: &'static [(Option<&'static str>, &'static str)],
}

const POD_KINDS: [&str; 8] =
    ["Pod", "PodTemplate", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"];

/// The pod spec of a workload kind, as path segments.
pub(crate) fn pod_spec_path(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("spec"),
        "PodTemplate" => Some("template/spec"),
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" | "ReplicationController" => {
            Some("spec/template/spec")
        }
        "CronJob" => Some("spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Whether a kind has a pod spec that name references walk.
pub(crate) fn has_pod_spec(kind: &str) -> bool {
    POD_KINDS.contains(&kind) || kind == "ReplicationController"
}

/// Paths inside a pod spec that name a ConfigMap.
pub(crate) const POD_CONFIGMAP_PATHS: [&str; 7] = [
    "volumes/configMap/name",
    "volumes/projected/sources/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "ephemeralContainers/envFrom/configMapRef/name",
];

/// Paths inside a pod spec that name a Secret.
pub(crate) const POD_SECRET_PATHS: [&str; 8] = [
    "volumes/secret/secretName",
    "volumes/projected/sources/secret/name",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "ephemeralContainers/envFrom/secretRef/name",
];

/// Name references outside pod specs.
pub(crate) const NAME_REFS: [NameRef; 14] = [
    NameRef {
        group: "",
        kind: "ConfigMap",
        referrers: &[
            (Some("Node"), "spec/configSource/configMap/name"),
            (Some("Role"), "rules/resourceNames"),
            (Some("ClusterRole"), "rules/resourceNames"),
            (Some("Ingress"), "metadata/annotations/nginx.ingress.kubernetes.io~1fastcgi-params-configmap"),
        ],
    },
    NameRef {
        group: "",
        kind: "Secret",
        referrers: &[
            (Some("ServiceAccount"), "imagePullSecrets/name"),
            (Some("ServiceAccount"), "secrets/name"),
            (Some("Ingress"), "spec/tls/secretName"),
            (Some("Ingress"), "metadata/annotations/ingress.kubernetes.io~1auth-secret"),
            (Some("Ingress"), "metadata/annotations/nginx.ingress.kubernetes.io~1auth-secret"),
            (Some("Ingress"), "metadata/annotations/nginx.ingress.kubernetes.io~1auth-tls-secret"),
            (Some("StorageClass"), "parameters/secretName"),
            (Some("StorageClass"), "parameters/adminSecretName"),
            (Some("StorageClass"), "parameters/userSecretName"),
            (Some("StorageClass"), "parameters/secretRef"),
            (Some("Role"), "rules/resourceNames"),
            (Some("ClusterRole"), "rules/resourceNames"),
            (Some("PersistentVolume"), "spec/azureFile/secretName"),
        ],
    },
    NameRef {
        group: "",
        kind: "Service",
        referrers: &[
            (Some("StatefulSet"), "spec/serviceName"),
            (Some("Ingress"), "spec/rules/http/paths/backend/service/name"),
            (Some("Ingress"), "spec/rules/http/paths/backend/serviceName"),
            (Some("Ingress"), "spec/defaultBackend/service/name"),
            (Some("Ingress"), "spec/backend/serviceName"),
            (Some("APIService"), "spec/service/name"),
            (Some("ValidatingWebhookConfiguration"), "webhooks/clientConfig/service/name"),
            (Some("MutatingWebhookConfiguration"), "webhooks/clientConfig/service/name"),
        ],
    },
    NameRef {
        group: "apps",
        kind: "Deployment",
        referrers: &[(Some("HorizontalPodAutoscaler"), "spec/scaleTargetRef/name")],
    },
    NameRef {
        group: "apps",
        kind: "StatefulSet",
        referrers: &[(Some("HorizontalPodAutoscaler"), "spec/scaleTargetRef/name")],
    },
    NameRef {
        group: "apps",
        kind: "ReplicaSet",
        referrers: &[(Some("HorizontalPodAutoscaler"), "spec/scaleTargetRef/name")],
    },
    NameRef {
        group: "",
        kind: "ReplicationController",
        referrers: &[(Some("HorizontalPodAutoscaler"), "spec/scaleTargetRef/name")],
    },
    NameRef { group: "rbac.authorization.k8s.io", kind: "Role", referrers: &[(Some("RoleBinding"), "roleRef/name")] },
    NameRef {
        group: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        referrers: &[(Some("RoleBinding"), "roleRef/name"), (Some("ClusterRoleBinding"), "roleRef/name")],
    },
    NameRef {
        group: "",
        kind: "PersistentVolume",
        referrers: &[(Some("PersistentVolumeClaim"), "spec/volumeName"), (Some("ClusterRole"), "rules/resourceNames")],
    },
    NameRef {
        group: "storage.k8s.io",
        kind: "StorageClass",
        referrers: &[
            (Some("PersistentVolume"), "spec/storageClassName"),
            (Some("PersistentVolumeClaim"), "spec/storageClassName"),
            (Some("StatefulSet"), "spec/volumeClaimTemplates/spec/storageClassName"),
        ],
    },
    NameRef {
        group: "networking.k8s.io",
        kind: "IngressClass",
        referrers: &[(Some("Ingress"), "spec/ingressClassName")],
    },
    NameRef {
        group: "admissionregistration.k8s.io",
        kind: "ValidatingAdmissionPolicy",
        referrers: &[(Some("ValidatingAdmissionPolicyBinding"), "spec/policyName")],
    },
    NameRef { group: "scheduling.k8s.io", kind: "PriorityClass", referrers: &[] },
];
