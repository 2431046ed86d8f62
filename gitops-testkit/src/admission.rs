//! What the real server adds to objects beyond defaulting: the admission plugins of a new Pod
//! (ServiceAccount, DefaultTolerationSeconds, Priority) and the QoS class it is given, and the
//! objects the controller manager puts in every new namespace (the `default` ServiceAccount
//! and the `kube-root-ca.crt` ConfigMap). None of it is attributed to the writer in
//! `managedFields`, as on a real server.

use gitops_core::{json, value::Value};

use crate::api::{ApiError, State, Target, WriteOptions};

/// Where the ServiceAccount admission plugin mounts the API access volume.
const TOKEN_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A stand-in cluster CA for `kube-root-ca.crt` (the testkit serves plain HTTP).
const ROOT_CA: &str =
    "-----BEGIN CERTIFICATE-----\ngitops-testkit has no certificate authority\n-----END CERTIFICATE-----\n";

impl State {
    /// The controller manager's objects of a new namespace.
    pub(crate) fn populate_namespace(&mut self, namespace: &str) {
        let opts = WriteOptions { manager: "kube-controller-manager".into(), ..Default::default() };
        let target = Target { namespace: namespace.into(), ..Default::default() };
        let objects = [
            ("serviceaccounts", json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})),
            (
                "configmaps",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": ROOT_CA}}),
            ),
        ];
        for (plural, body) in objects {
            if let Some(res) = self.registry.by_plural("", "v1", plural).cloned() {
                let _ = self.create(&res, &target, body, &opts);
            }
        }
    }

    /// The admission plugins of a new Pod, after defaulting: the service account (which must
    /// exist: 403 otherwise, as the real plugin answers) and its API access volume, the
    /// default tolerations for not-ready and unreachable nodes, the priority; then the QoS
    /// class in the status.
    pub(crate) fn admit_pod(&self, pod: &mut Value, namespace: &str, name: &str, suffix: &str) -> Result<(), ApiError> {
        let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        let account = spec.get("serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty());
        let account = account.unwrap_or("default").to_string();
        let sa = self
            .registry
            .by_plural("", "v1", "serviceaccounts")
            .and_then(|res| self.get_object(res, namespace, &account));
        let Some(sa) = sa else {
            return Err(ApiError::forbidden(
                "pods",
                name,
                &format!(
                    "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
                ),
            ));
        };
        spec.insert("serviceAccountName".into(), json!(account));
        spec.insert("serviceAccount".into(), json!(account));
        let automount = spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool)
            .or_else(|| sa.get("automountServiceAccountToken").and_then(Value::as_bool))
            .unwrap_or(true);
        let mounted = spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|v| v.get("name").and_then(Value::as_str).is_some_and(|n| n.starts_with("kube-api-access-")))
            || containers_mount(spec, TOKEN_MOUNT);
        if automount && !mounted {
            let volume = format!("kube-api-access-{suffix}");
            let source = json!({"name": volume, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ], "defaultMode": 420}});
            match spec.get_mut("volumes").and_then(Value::as_array_mut) {
                Some(vols) => vols.push(source),
                None => {
                    spec.insert("volumes".into(), json!([source]));
                }
            }
            for list in ["initContainers", "containers"] {
                for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                    let mount = json!({"name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT});
                    let Some(c) = c.as_object_mut() else { continue };
                    match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                        Some(m) => m.push(mount),
                        None => {
                            c.insert("volumeMounts".into(), json!([mount]));
                        }
                    }
                }
            }
        }
        // DefaultTolerationSeconds: 300 s on not-ready and unreachable nodes, unless the pod
        // already tolerates them.
        let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(list) = tolerations.as_array_mut() {
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                let tolerated = list.iter().any(|t| {
                    let k = t.get("key").and_then(Value::as_str);
                    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                    (k == Some(key) || k.is_none() && t.get("operator") == Some(&json!("Exists")))
                        && (effect.is_empty() || effect == "NoExecute")
                });
                if !tolerated {
                    list.push(
                        json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
                    );
                }
            }
        }
        // Priority: the default class's value, 0 with none.
        if !spec.contains_key("priority") {
            spec.insert("priority".into(), json!(0));
        }
        if !spec.contains_key("preemptionPolicy") {
            spec.insert("preemptionPolicy".into(), json!("PreemptLowerPriority"));
        }
        let qos = qos_class(spec);
        if let Some(status) = pod.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("qosClass".into(), json!(qos));
        }
        Ok(())
    }
}

fn containers_mount(spec: &gitops_core::value::Map<String, Value>, path: &str) -> bool {
    ["initContainers", "containers"].iter().any(|list| {
        spec.get(*list).and_then(Value::as_array).into_iter().flatten().any(|c| {
            c.get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(path))
        })
    })
}

/// The QoS class of a pod's containers: Guaranteed when every container has CPU and memory
/// limits equal to its requests, BestEffort when none has any request or limit, else
/// Burstable.
pub fn qos_class(spec: &gitops_core::value::Map<String, Value>) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|l| spec.get(*l).and_then(Value::as_array).into_iter().flatten())
        .collect();
    let get = |c: &Value, kind: &str, res: &str| {
        c.pointer(&format!("/resources/{kind}/{res}")).and_then(Value::as_str).map(str::to_string)
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| c.pointer(&format!("/resources/{k}")).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = get(c, "limits", r);
            limit.is_some() && get(c, "requests", r).is_none_or(|q| Some(q) == limit)
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

/// A validation failure: (reason, field, message), as [`ApiError::invalid`] takes them.
pub type Cause = (String, String, String);

/// The volume sources of a Pod's volume, in the order the API server's validation checks them
/// (the second one found is the one reported).
const VOLUME_SOURCES: [&str; 28] = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "downwardAPI",
    "fc",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "projected",
    "scaleIO",
    "configMap",
    "csi",
    "ephemeral",
    "image",
];

/// Whether a volume names a source (a volume without one is defaulted to an emptyDir).
pub fn has_volume_source(volume: &Value) -> bool {
    VOLUME_SOURCES.iter().any(|s| volume.get(*s).is_some_and(|v| !v.is_null()))
}

/// A volume's or container's `name`: required, a DNS label, unique among its kind.
/// A container or volume name: required, a DNS label, unique among those `seen`.
pub(crate) fn name_causes(
    field: &str,
    name: &str,
    seen: &mut std::collections::HashSet<String>,
    causes: &mut Vec<Cause>,
) {
    if name.is_empty() {
        causes.push(("FieldValueRequired".into(), format!("{field}.name"), "Required value".into()));
    } else if !gitops_core::validation::is_dns_label(name) {
        causes.push((
            "FieldValueInvalid".into(),
            format!("{field}.name"),
            format!("Invalid value: \"{name}\": {}", gitops_core::validation::DNS_LABEL_MSG),
        ));
    } else if !seen.insert(name.to_string()) {
        causes.push(("FieldValueDuplicate".into(), format!("{field}.name"), format!("Duplicate value: \"{name}\"")));
    }
}

/// Volumes: a DNS-label name, unique, and exactly one source.
fn volume_causes(prefix: &str, spec: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, v) in spec.get("volumes").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let field = format!("{prefix}.volumes[{i}]");
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        name_causes(&field, name, &mut seen, &mut causes);
        let mut sources = 0;
        for src in VOLUME_SOURCES {
            if v.get(src).is_none_or(Value::is_null) {
                continue;
            }
            if sources > 0 {
                causes.push((
                    "FieldValueForbidden".into(),
                    format!("{field}.{src}"),
                    "Forbidden: may not specify more than 1 volume type".into(),
                ));
            }
            sources += 1;
        }
        if sources == 0 {
            causes.push(("FieldValueRequired".into(), field, "Required value: must specify a volume type".into()));
        }
    }
    causes
}

/// The checks of a pod spec the real server makes on every write: container names (RFC 1123
/// labels, unique across init and app containers), images required, volumes (a name, one source), a supported restart
/// policy (`allowed`: a Pod's three, a workload template's `Always`).
pub fn pod_spec_causes(prefix: &str, spec: &Value, allowed: &[&str]) -> Vec<Cause> {
    let mut causes = volume_causes(prefix, spec);
    let mut seen = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec.get(list).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let field = format!("{prefix}.{list}[{i}]");
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            name_causes(&field, name, &mut seen, &mut causes);
            if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(("FieldValueRequired".into(), format!("{field}.image"), "Required value".into()));
            }
        }
    }
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str)
        && !allowed.contains(&policy)
    {
        let values: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        causes.push((
            "FieldValueNotSupported".into(),
            format!("{prefix}.restartPolicy"),
            format!("Unsupported value: \"{policy}\": supported values: {}", values.join(", ")),
        ));
    }
    causes
}

/// What a Pod update may change: the containers' images, `activeDeadlineSeconds` (set, or
/// lowered), tolerations (additions only) and `terminationGracePeriodSeconds`; anything else
/// in the spec is forbidden. The default tolerations are added back first, as the admission
/// plugin runs on updates too.
pub fn pod_update_causes(old: &Value, new: &mut Value) -> Vec<Cause> {
    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(list) = spec.get_mut("tolerations").and_then(Value::as_array_mut)
    {
        for t in old.pointer("/spec/tolerations").and_then(Value::as_array).into_iter().flatten() {
            let key = t.get("key").and_then(Value::as_str).unwrap_or("");
            let default = key == "node.kubernetes.io/not-ready" || key == "node.kubernetes.io/unreachable";
            if default && t.get("tolerationSeconds") == Some(&json!(300)) && !list.contains(t) {
                list.push(t.clone());
            }
        }
    }
    let mut causes = Vec::new();
    let (Some(o), Some(n)) = (old.get("spec"), new.get("spec")) else { return causes };
    let old_deadline = o.get("activeDeadlineSeconds").and_then(Value::as_i64);
    let new_deadline = n.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (old_deadline, new_deadline) {
        (Some(a), Some(b)) if b > a => causes.push((
            "FieldValueInvalid".into(),
            "spec.activeDeadlineSeconds".into(),
            format!("Invalid value: {b}: must be less than or equal to previous value"),
        )),
        (Some(_), None) => causes.push((
            "FieldValueInvalid".into(),
            "spec.activeDeadlineSeconds".into(),
            "Invalid value: \"null\": must not update from a positive integer to nil value".into(),
        )),
        _ => {}
    }
    // Compare the specs with the mutable fields taken from the new one.
    let mut relaxed = o.clone();
    if let Some(r) = relaxed.as_object_mut() {
        for f in ["activeDeadlineSeconds", "terminationGracePeriodSeconds"] {
            match n.get(f) {
                Some(v) => r.insert(f.into(), v.clone()),
                None => r.remove(f),
            };
        }
        let old_tolerations = o.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
        let new_tolerations = n.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
        if old_tolerations.iter().all(|t| new_tolerations.contains(t)) {
            r.insert("tolerations".into(), json!(new_tolerations));
        }
        for list in ["initContainers", "containers"] {
            let images: Vec<Option<Value>> = n
                .get(list)
                .and_then(Value::as_array)
                .map(|cs| cs.iter().map(|c| c.get("image").cloned()).collect())
                .unwrap_or_default();
            if let Some(cs) = r.get_mut(list).and_then(Value::as_array_mut)
                && cs.len() == images.len()
            {
                for (c, image) in cs.iter_mut().zip(images) {
                    if let (Some(c), Some(image)) = (c.as_object_mut(), image) {
                        c.insert("image".into(), image);
                    }
                }
            }
        }
    }
    if &relaxed != n {
        causes.push((
            "FieldValueForbidden".into(),
            "spec".into(),
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
        ));
    }
    causes
}
