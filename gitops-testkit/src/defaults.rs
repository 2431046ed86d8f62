//! Defaulting as a real API server (v1.36) does it for the built-in kinds, in two phases:
//! [`apply_defaults`] runs while decoding (the fields it sets are attributed to the writer's
//! field manager), [`allocate`] runs in the registry (cluster IPs, controller UIDs, status
//! stubs), after field ownership was computed.

use gitops_core::{
    json,
    value::{Map, Value},
};

fn obj(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("made an object")
}

fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), value);
    }
}

fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Value {
    let v = m.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v
}

/// The defaults applied while decoding a built-in kind.
pub fn apply_defaults(group: &str, kind: &str, v: &mut Value) {
    let root = obj(v);
    match (group, kind) {
        ("apps", "Deployment") => {
            let spec = obj(child(root, "spec"));
            default(spec, "replicas", json!(1));
            let strategy = obj(child(spec, "strategy"));
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let ru = obj(child(strategy, "rollingUpdate"));
                default(ru, "maxUnavailable", json!("25%"));
                default(ru, "maxSurge", json!("25%"));
            }
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            pod_template(spec);
        }
        // The quota controller fills it in.
        ("", "ResourceQuota") => default(root, "status", json!({})),
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let spec = obj(child(root, "spec"));
            default(spec, "replicas", json!(1));
            pod_template(spec);
        }
        ("apps", "StatefulSet") => {
            let spec = obj(child(root, "spec"));
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            let us = obj(child(spec, "updateStrategy"));
            default(us, "type", json!("RollingUpdate"));
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                default(obj(child(us, "rollingUpdate")), "partition", json!(0));
            }
            default(spec, "revisionHistoryLimit", json!(10));
            let pvc = obj(child(spec, "persistentVolumeClaimRetentionPolicy"));
            default(pvc, "whenDeleted", json!("Retain"));
            default(pvc, "whenScaled", json!("Retain"));
            if let Some(Value::Array(vcts)) = spec.get_mut("volumeClaimTemplates") {
                for t in vcts {
                    let t = obj(t);
                    default(t, "apiVersion", json!("v1"));
                    default(t, "kind", json!("PersistentVolumeClaim"));
                    default(obj(child(t, "spec")), "volumeMode", json!("Filesystem"));
                    default(obj(child(t, "status")), "phase", json!("Pending"));
                }
            }
            pod_template(spec);
        }
        ("apps", "DaemonSet") => {
            let spec = obj(child(root, "spec"));
            let us = obj(child(spec, "updateStrategy"));
            default(us, "type", json!("RollingUpdate"));
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let ru = obj(child(us, "rollingUpdate"));
                default(ru, "maxUnavailable", json!(1));
                default(ru, "maxSurge", json!(0));
            }
            default(spec, "revisionHistoryLimit", json!(10));
            pod_template(spec);
            // The registry's strategy numbers the templates in an annotation, from 1; the
            // creating manager owns it. An update that changes the template bumps it
            // (`bump_template_generation`).
            let meta = obj(child(root, "metadata"));
            default(obj(child(meta, "annotations")), "deprecated.daemonset.template.generation", json!("1"));
        }
        ("batch", "Job") => {
            let spec = obj(child(root, "spec"));
            job_spec(spec);
            pod_template(spec);
        }
        ("batch", "CronJob") => {
            let spec = obj(child(root, "spec"));
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            let jt = obj(child(spec, "jobTemplate"));
            default(jt, "metadata", json!({}));
            let js = obj(child(jt, "spec"));
            pod_template(js);
        }
        ("", "Pod") => {
            // A condition's times are Go structs, written as null when unset.
            for c in root
                .get_mut("status")
                .and_then(|s| s.get_mut("conditions"))
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let c = obj(c);
                default(c, "lastProbeTime", Value::Null);
                default(c, "lastTransitionTime", Value::Null);
            }
            let spec = obj(child(root, "spec"));
            pod_spec(spec);
            default(spec, "enableServiceLinks", json!(true));
            // Requests default to the limits.
            for list in ["initContainers", "containers"] {
                for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                    let Some(limits) = c.pointer("/resources/limits").and_then(Value::as_object).cloned() else {
                        continue;
                    };
                    let requests = obj(child(obj(child(obj(c), "resources")), "requests"));
                    for (k, v) in limits {
                        requests.entry(k).or_insert(v);
                    }
                }
            }
        }
        ("", "PodTemplate") => {
            let t = obj(child(root, "template"));
            default(t, "metadata", json!({}));
            pod_spec(obj(child(t, "spec")));
        }
        ("", "Service") => {
            let spec = obj(child(root, "spec"));
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
            if ty != "ExternalName" {
                default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                default(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            if ty == "LoadBalancer" {
                default(spec, "allocateLoadBalancerNodePorts", json!(true));
            }
            if ty == "ClusterIP" || ty == "ExternalName" {
                if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                    for p in ports {
                        obj(p).remove("nodePort");
                    }
                }
                spec.remove("externalTrafficPolicy");
            }
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports {
                    let p = obj(p);
                    default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        default(p, "targetPort", port);
                    }
                }
            }
        }
        ("", "Secret") => {
            default(root, "type", json!("Opaque"));
        }
        ("", "Namespace") => {
            let name =
                root.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
            let meta = obj(child(root, "metadata"));
            obj(child(meta, "labels")).insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
        ("", "PersistentVolumeClaim") => {
            default(obj(child(root, "spec")), "volumeMode", json!("Filesystem"));
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let spec = obj(child(root, "spec"));
            default(spec, "minReplicas", json!(1));
            if spec.get("metrics").is_none() && root.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v2")
            {
                obj(child(root, "spec")).insert(
                    "metrics".into(),
                    json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
                );
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            let spec = obj(child(root, "spec"));
            if spec.get("policyTypes").is_none() {
                let mut types = vec![json!("Ingress")];
                if spec.get("egress").is_some() {
                    types.push(json!("Egress"));
                }
                spec.insert("policyTypes".into(), Value::Array(types));
            }
            for dir in ["ingress", "egress"] {
                if let Some(Value::Array(rules)) = spec.get_mut(dir) {
                    for r in rules {
                        if let Some(Value::Array(ports)) = r.get_mut("ports") {
                            for p in ports {
                                default(obj(p), "protocol", json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            if let Some(Value::Array(subjects)) = root.get_mut("subjects") {
                for s in subjects {
                    let s = obj(s);
                    if matches!(s.get("kind").and_then(Value::as_str), Some("User" | "Group")) {
                        default(s, "apiGroup", json!("rbac.authorization.k8s.io"));
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let spec = obj(child(root, "spec"));
            default(obj(child(spec, "conversion")), "strategy", json!("None"));
            let names = obj(child(spec, "names"));
            if let Some(kind) = names.get("kind").and_then(Value::as_str).map(str::to_string) {
                default(names, "singular", json!(kind.to_ascii_lowercase()));
                default(names, "listKind", json!(format!("{kind}List")));
            }
        }
        _ => {}
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    default(spec, "manualSelector", json!(false));
    default(spec, "parallelism", json!(1));
    default(spec, "completions", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
}

fn pod_template(spec: &mut Map<String, Value>) {
    let t = obj(child(spec, "template"));
    default(t, "metadata", json!({}));
    pod_spec(obj(child(t, "spec")));
}

/// Pod spec defaults shared by Pods and every pod template.
fn pod_spec(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                container(obj(c));
            }
        }
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    if let Some(Value::Array(vols)) = spec.get_mut("volumes") {
        for v in vols {
            let v = obj(v);
            for src in ["configMap", "secret"] {
                if let Some(s) = v.get_mut(src) {
                    default(obj(s), "defaultMode", json!(420));
                }
            }
            if let Some(p) = v.get_mut("projected") {
                default(obj(p), "defaultMode", json!(420));
            }
            if let Some(e) = v.get_mut("emptyDir") {
                obj(e);
            }
            // A volume without a source is an emptyDir.
            if !crate::admission::has_volume_source(&Value::Object(v.clone())) {
                v.insert("emptyDir".into(), json!({}));
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    default(c, "resources", json!({}));
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    let (_, tag, digest) = gitops_core::object::split_image(&image);
    let policy = if digest.is_some() || tag.is_some_and(|t| t != "latest") { "IfNotPresent" } else { "Always" };
    default(c, "imagePullPolicy", json!(policy));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports {
            default(obj(p), "protocol", json!("TCP"));
        }
    }
    if let Some(Value::Array(env)) = c.get_mut("env") {
        for e in env {
            if let Some(fr) = e.pointer_mut("/valueFrom/fieldRef") {
                default(obj(fr), "apiVersion", json!("v1"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            let p = obj(p);
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet") {
                default(obj(h), "scheme", json!("HTTP"));
            }
        }
    }
}

/// Allocation and registry-set fields, not attributed to the writer: cluster IPs, node ports,
/// Job controller UIDs, namespace finalizers and phase, and the status a new object starts
/// with.
pub fn allocate(group: &str, kind: &str, v: &mut Value, uid: &str, ip: &str, node_port: &mut u16) {
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let root = obj(v);
    match (group, kind) {
        ("", "Service") => {
            let spec = obj(child(root, "spec"));
            let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
            if ty != "ExternalName" {
                if spec.get("clusterIP").is_none_or(|c| c.as_str() == Some("")) {
                    spec.insert("clusterIP".into(), json!(ip));
                }
                let cip = spec["clusterIP"].clone();
                default(spec, "clusterIPs", json!([cip]));
                default(spec, "ipFamilies", json!(["IPv4"]));
                default(spec, "ipFamilyPolicy", json!("SingleStack"));
            }
            let lb_without_ports =
                ty == "LoadBalancer" && spec.get("allocateLoadBalancerNodePorts") == Some(&json!(false));
            if (ty == "NodePort" || ty == "LoadBalancer")
                && !lb_without_ports
                && let Some(Value::Array(ports)) = spec.get_mut("ports")
            {
                for p in ports {
                    let p = obj(p);
                    if p.get("nodePort").is_none() {
                        *node_port = if *node_port >= 32767 { 30000 } else { *node_port + 1 };
                        p.insert("nodePort".into(), json!(*node_port));
                    }
                }
            }
            default(obj(child(root, "status")), "loadBalancer", json!({}));
        }
        // A new object's status is the server's (an empty `status: {}` in the body, as Go
        // clients send, included).
        ("", "Namespace") => {
            default(obj(child(root, "spec")), "finalizers", json!(["kubernetes"]));
            default(obj(child(root, "status")), "phase", json!("Active"));
        }
        ("", "PersistentVolumeClaim") => default(obj(child(root, "status")), "phase", json!("Pending")),
        ("batch", "Job") => {
            let manual = root.get("spec").and_then(|s| s.get("manualSelector")).and_then(Value::as_bool) == Some(true);
            let spec = obj(child(root, "spec"));
            default(spec, "manualSelector", json!(false));
            if !manual {
                let labels = json!({
                    "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid, "job-name": name,
                });
                if spec.get("selector").is_none() {
                    spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
                }
                let t = obj(child(spec, "template"));
                let tm = obj(child(t, "metadata"));
                let tl = obj(child(tm, "labels"));
                for (k, val) in labels.as_object().expect("labels") {
                    tl.entry(k.clone()).or_insert(val.clone());
                }
                let meta = obj(child(root, "metadata"));
                let ml = obj(child(meta, "labels"));
                for (k, val) in labels.as_object().expect("labels") {
                    ml.entry(k.clone()).or_insert(val.clone());
                }
            }
            default(root, "status", json!({}));
        }
        ("apps", "Deployment") | ("batch", "CronJob") | ("apps", "ReplicaSet") => default(root, "status", json!({})),
        ("apps", "StatefulSet") => default(root, "status", json!({"replicas": 0, "availableReplicas": 0})),
        ("apps", "DaemonSet") => {
            default(
                root,
                "status",
                json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
            );
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            default(root, "status", json!({"desiredReplicas": 0, "currentMetrics": null}))
        }
        ("policy", "PodDisruptionBudget") => default(
            root,
            "status",
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        ),
        ("networking.k8s.io", "Ingress") => default(root, "status", json!({"loadBalancer": {}})),
        ("", "Pod") => default(root, "status", json!({"phase": "Pending", "qosClass": "BestEffort"})),
        ("", "Event") => {
            // Go writes these fields of the typed Event even when empty; being zero values,
            // they are no writer's fields.
            default(root, "source", json!({}));
            for t in ["firstTimestamp", "lastTimestamp", "eventTime"] {
                default(root, t, Value::Null);
            }
            default(root, "reportingComponent", json!(""));
            default(root, "reportingInstance", json!(""));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let stored: Vec<Value> = root
                .get("spec")
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v["storage"] == json!(true))
                .map(|v| v["name"].clone())
                .collect();
            default(
                root,
                "status",
                json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": stored}),
            );
        }
        _ => {}
    }
}

/// Whether objects of a kind carry `metadata.generation`.
pub fn has_generation(group: &str, kind: &str, custom: bool) -> bool {
    custom
        || matches!(
            (group, kind),
            ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
                | ("batch", _)
                | ("policy", "PodDisruptionBudget")
                | ("networking.k8s.io", "NetworkPolicy" | "Ingress" | "IngressClass")
                | ("", "PodTemplate" | "Pod" | "ReplicationController")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
                | ("storage.k8s.io", _)
        )
}

/// A DaemonSet update that changes the pod template numbers it one higher in the
/// `deprecated.daemonset.template.generation` annotation, as the registry's strategy does.
pub fn bump_template_generation(old: &Value, new: &mut Value) {
    if old.pointer("/spec/template") == new.pointer("/spec/template") {
        return;
    }
    let key = "/metadata/annotations/deprecated.daemonset.template.generation";
    let previous = old.pointer(key).and_then(Value::as_str).and_then(|g| g.parse::<i64>().ok()).unwrap_or(0);
    let meta = obj(child(obj(new), "metadata"));
    obj(child(meta, "annotations"))
        .insert("deprecated.daemonset.template.generation".into(), json!((previous + 1).to_string()));
}
