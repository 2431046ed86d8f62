//! What kube-controller-manager does in a cluster without nodes: the Deployment controller
//! creates ReplicaSets and writes status (Pods never become available), and, when the
//! workload simulation is on, workloads get the status a healthy rollout would write.

use gitops_core::{json, value::Value};

use crate::api::{State, meta_str, now};
use crate::managed;
use crate::registry::Resource;

/// How workloads behave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Simulation {
    /// As a cluster without nodes: nothing becomes ready (what the conformance transcripts
    /// were recorded against).
    #[default]
    Off,
    /// Every rollout succeeds at once: Deployments, StatefulSets, DaemonSets available,
    /// Jobs complete.
    Healthy,
    /// Every rollout fails: Deployments exceed their progress deadline, Jobs fail.
    Failing,
}

/// A stable hash of a pod template, written in the alphabet Kubernetes uses for
/// `pod-template-hash` (the exact Go value differs; the transcripts normalize it).
pub(crate) fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h /= ALPHABET.len() as u64;
    }
    out
}

impl State {
    /// Writes `new` over `old` as kube-controller-manager, recording the changed fields as
    /// an Update with the given subresource (empty for the main resource).
    pub(crate) fn controller_commit(
        &mut self,
        res: &Resource,
        old: Option<&Value>,
        new: Value,
        subresource: &str,
    ) -> Value {
        self.commit_as("kube-controller-manager", res, old, new, subresource)
    }

    /// [`State::controller_commit`] by another part of the control plane (`kube-apiserver`
    /// for what its admission plugins write).
    pub(crate) fn commit_as(
        &mut self,
        manager: &str,
        res: &Resource,
        old: Option<&Value>,
        mut new: Value,
        subresource: &str,
    ) -> Value {
        let node = self.schema.node(&res.group, &res.version, &res.kind).unwrap_or_else(|| self.schema.untyped());
        let mut entries = old.map(managed::read).unwrap_or_default();
        let changed = managed::changed_fields(old, &new, node, !res.custom);
        let sub = (!subresource.is_empty()).then_some(subresource);
        if !changed.is_empty() {
            managed::record(&mut entries, manager, "Update", &res.api_version(), sub, &changed, &now(), false);
        }
        // Fields the write removed leave their owners' sets.
        managed::forget_missing(&mut entries, &new, None);
        managed::write(&mut new, &entries);
        self.store_as_controller(res, new, old.is_none())
    }

    /// Runs the controllers that react to a write of `obj`.
    pub(crate) fn run_controllers(&mut self, res: &Resource, obj: &Value) {
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        match (res.group.as_str(), res.kind.as_str()) {
            ("apps", "Deployment") => self.reconcile_deployment(obj),
            ("autoscaling", "HorizontalPodAutoscaler") if obj.pointer("/status/conditions").is_none() => {
                self.reconcile_hpa(res, obj)
            }
            ("policy", "PodDisruptionBudget") => self.reconcile_pdb(res, obj),
            ("", "ResourceQuota") => self.recount_quotas(meta_str(obj, "namespace"), "kube-controller-manager"),
            ("batch", "Job") if self.simulation == Simulation::Off => self.reconcile_job(res, obj),
            ("apps", "ReplicaSet") if self.simulation == Simulation::Off => {
                self.reconcile_replicaset(res, meta_str(obj, "namespace"), meta_str(obj, "name"))
            }
            ("apps", "StatefulSet") if self.simulation == Simulation::Off => self.reconcile_statefulset(res, obj),
            ("apps", "DaemonSet") if self.simulation == Simulation::Off => self.reconcile_daemonset(res, obj),
            ("apps", "StatefulSet" | "DaemonSet") | ("batch", "Job") if self.simulation != Simulation::Off => {
                self.simulate_workload(res, obj)
            }
            // A ReplicaSet of its own (a Deployment's are written by the Deployment's
            // controller above).
            ("apps", "ReplicaSet")
                if self.simulation != Simulation::Off && obj.pointer("/metadata/ownerReferences").is_none() =>
            {
                self.simulate_workload(res, obj)
            }
            _ => {}
        }
    }

    fn reconcile_deployment(&mut self, deploy: &Value) {
        let generation = deploy.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let observed = deploy.pointer("/status/observedGeneration").and_then(Value::as_i64);
        if observed == Some(generation) && self.simulation == Simulation::Off {
            return;
        }
        // A Deployment whose selector or template is not made of maps where the type says so
        // has nothing a controller could act on (a real API server cannot even decode it).
        let map_or_absent = |p: &str| deploy.pointer(p).is_none_or(|v| v.is_object() || v.is_null());
        let shape = [
            "/spec/selector",
            "/spec/selector/matchLabels",
            "/spec/template",
            "/spec/template/metadata",
            "/spec/template/metadata/labels",
        ];
        if !shape.iter().all(|p| map_or_absent(p)) {
            return;
        }
        let Some(rs_res) = self.registry.by_kind("apps", "v1", "ReplicaSet").cloned() else { return };
        let Some(d_res) = self.registry.by_kind("apps", "v1", "Deployment").cloned() else { return };
        let ns = meta_str(deploy, "namespace").to_string();
        let name = meta_str(deploy, "name").to_string();
        let uid = meta_str(deploy, "uid").to_string();
        let replicas = deploy.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let template = deploy.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let rs_name = format!("{name}-{hash}");
        // Revision: one more than the highest among this Deployment's ReplicaSets.
        let owned = self.owned_replicasets(&rs_res, &ns, &uid);
        let existing = owned.iter().find(|rs| meta_str(rs, "name") == rs_name).cloned();
        let max_rev = owned
            .iter()
            .filter_map(|rs| {
                rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)
                    .and_then(|r| r.parse::<i64>().ok())
            })
            .max()
            .unwrap_or(0);
        let revision = match &existing {
            Some(rs) => rs
                .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
                .unwrap_or(max_rev),
            None => max_rev + 1,
        };
        let surge = crate::workloads::surge_and_unavailable(deploy, replicas).0;
        let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        labels["pod-template-hash"] = json!(hash);
        let mut selector = deploy.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"] = labels.clone();
        let desired = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": ns, "labels": labels,
                "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/max-replicas": (replicas + surge).to_string(), "deployment.kubernetes.io/revision": revision.to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
        });
        let rs = if self.simulation == Simulation::Off {
            let Some(rs) = self.rollout(deploy, &rs_res, desired, replicas, replicas + surge) else { return };
            rs
        } else {
            let rs = match existing {
                None => {
                    let created = self.controller_create(&rs_res, desired);
                    let Some(created) = created else { return };
                    let mut with_status = created.clone();
                    with_status["status"] = json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1, "terminatingReplicas": 0});
                    self.controller_commit(&rs_res, Some(&created), with_status, "status")
                }
                Some(rs) => {
                    let mut updated = rs.clone();
                    updated["spec"]["replicas"] = json!(replicas);
                    updated["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                        json!(replicas.to_string());
                    updated["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
                        json!((replicas + surge).to_string());
                    if updated != rs { self.controller_commit(&rs_res, Some(&rs), updated, "") } else { rs }
                }
            };
            // Older ReplicaSets scale to zero.
            for old in owned.iter().filter(|o| meta_str(o, "name") != rs_name) {
                if old.pointer("/spec/replicas").and_then(Value::as_i64) != Some(0) {
                    let mut scaled = old.clone();
                    scaled["spec"]["replicas"] = json!(0);
                    self.controller_commit(&rs_res, Some(old), scaled, "");
                }
            }
            rs
        };
        let healthy = self.simulation == Simulation::Healthy;
        let failing = self.simulation == Simulation::Failing;
        let t = now();
        let prev_conditions = deploy.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        let transition = |ty: &str, status: &str| -> String {
            prev_conditions
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == ty && c["status"] == status))
                .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
                .unwrap_or_else(|| t.clone())
        };
        let rs_name_msg = meta_str(&rs, "name").to_string();
        let (available, progressing) = if healthy {
            (
                json!({"type": "Available", "status": "True", "lastUpdateTime": t, "lastTransitionTime": transition("Available", "True"), "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}),
                json!({"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": transition("Progressing", "True"), "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs_name_msg}\" has successfully progressed.")}),
            )
        } else if failing {
            (
                json!({"type": "Available", "status": "False", "lastUpdateTime": t, "lastTransitionTime": transition("Available", "False"), "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}),
                json!({"type": "Progressing", "status": "False", "lastUpdateTime": t, "lastTransitionTime": transition("Progressing", "False"), "reason": "ProgressDeadlineExceeded", "message": format!("ReplicaSet \"{rs_name_msg}\" has timed out progressing.")}),
            )
        } else {
            (
                json!({"type": "Available", "status": "False", "lastUpdateTime": t, "lastTransitionTime": transition("Available", "False"), "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}),
                json!({"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": transition("Progressing", "True"), "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{rs_name_msg}\" is progressing.")}),
            )
        };
        let (total, updated) = if self.simulation == Simulation::Off {
            // What the ReplicaSets report: their Pods, none of them available.
            let status_replicas = |rs: &Value| rs.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
            let all: i64 = self.owned_replicasets(&rs_res, &ns, &uid).iter().map(status_replicas).sum();
            (all, status_replicas(&rs))
        } else {
            (replicas, replicas)
        };
        let mut status = json!({"observedGeneration": generation, "replicas": total, "updatedReplicas": updated, "terminatingReplicas": 0, "conditions": [available, progressing]});
        for k in ["replicas", "updatedReplicas"] {
            if status[k] == json!(0)
                && let Some(m) = status.as_object_mut()
            {
                m.remove(k);
            }
        }
        if healthy {
            status["readyReplicas"] = json!(replicas);
            status["availableReplicas"] = json!(replicas);
        } else if replicas > 0 {
            status["unavailableReplicas"] = json!(replicas);
        }
        let Some(current) = self.get_object(&d_res, &ns, &name).cloned() else { return };
        let mut new = current.clone();
        new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision.to_string());
        new["status"] = status;
        self.controller_commit(&d_res, Some(&current), new, "status");
    }

    /// The ReplicaSets a Deployment owns, oldest revision first.
    fn owned_replicasets(&self, rs_res: &Resource, ns: &str, uid: &str) -> Vec<Value> {
        let revision = |rs: &Value| {
            rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|r| r.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut owned: Vec<Value> = self
            .select(rs_res, ns, &Default::default(), &Default::default())
            .into_iter()
            .filter(|rs| {
                rs.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|o| o["uid"] == json!(uid)))
            })
            .collect();
        owned.sort_by_key(revision);
        owned
    }

    /// A rollout in a node-less cluster, run until the controller would wait: the new
    /// ReplicaSet created or scaled, the old ones scaled down, as the strategy allows with no
    /// Pod ever available. Returns the new ReplicaSet once it exists.
    fn rollout(&mut self, deploy: &Value, rs_res: &Resource, desired: Value, replicas: i64, max: i64) -> Option<Value> {
        let ns = meta_str(deploy, "namespace").to_string();
        let uid = meta_str(deploy, "uid").to_string();
        let rs_name = meta_str(&desired, "name").to_string();
        let annotations = [
            ("deployment.kubernetes.io/desired-replicas", replicas.to_string()),
            ("deployment.kubernetes.io/max-replicas", max.to_string()),
        ];
        let recreate = deploy.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let mut new_rs = None;
        // Each pass is one sync of the controller; it syncs again after every change.
        for _ in 0..16 {
            let owned = self.owned_replicasets(rs_res, &ns, &uid);
            let current = owned.iter().find(|r| meta_str(r, "name") == rs_name).cloned();
            let old: Vec<(String, i64)> = owned
                .iter()
                .filter(|r| meta_str(r, "name") != rs_name)
                .map(|r| {
                    (meta_str(r, "name").to_string(), r.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0))
                })
                .collect();
            let (new_n, old_n) = crate::workloads::rollout_step(
                deploy,
                replicas,
                current.as_ref().and_then(|r| r.pointer("/spec/replicas").and_then(Value::as_i64)),
                &old,
            );
            let mut changed = false;
            for ((name, was), (_, now)) in old.iter().zip(&old_n) {
                if was != now
                    && let Some(r) = owned.iter().find(|r| meta_str(r, "name") == name)
                {
                    self.scale_replicaset(rs_res, r, *now, &annotations);
                    changed = true;
                }
            }
            match current {
                None if recreate && new_n == 0 => {}
                None => {
                    let mut d = desired.clone();
                    d["spec"]["replicas"] = json!(new_n);
                    new_rs = self.controller_create(rs_res, d);
                    changed = true;
                }
                Some(r) => {
                    let scaled = self.scale_replicaset(rs_res, &r, new_n, &annotations);
                    // Another pass only when this one scaled: what a pass does depends on the
                    // ReplicaSets' replicas, not on their status (the Pods a burst made).
                    let replicas_of = |r: &Value| r.pointer("/spec/replicas").and_then(Value::as_i64);
                    changed |= replicas_of(&scaled) != replicas_of(&r);
                    new_rs = Some(scaled);
                }
            }
            if !changed {
                break;
            }
        }
        new_rs.and_then(|r| self.get_object(rs_res, &ns, meta_str(&r, "name")).cloned())
    }

    fn without_type(v: &Value) -> Value {
        let mut c = v.clone();
        if let Some(m) = c.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        c
    }

    /// The HPA controller's first look: can it read the target's scale?
    fn reconcile_hpa(&mut self, res: &Resource, obj: &Value) {
        let ns = meta_str(obj, "namespace").to_string();
        let target = obj.pointer("/spec/scaleTargetRef").cloned().unwrap_or_default();
        let (group, version) =
            gitops_core::object::split_api_version(target["apiVersion"].as_str().unwrap_or("apps/v1"));
        let (group, version) = (group.to_string(), version.to_string());
        let kind = target["kind"].as_str().unwrap_or("").to_string();
        let name = target["name"].as_str().unwrap_or("").to_string();
        let t = now();
        let condition = match self.registry.by_kind(&group, &version, &kind).cloned() {
            Some(tr) if self.get_object(&tr, &ns, &name).is_some() => {
                json!({"type": "AbleToScale", "status": "True", "lastTransitionTime": t, "reason": "SucceededGetScale", "message": "the HPA controller was able to get the target's current scale"})
            }
            Some(tr) => {
                let qualified =
                    if tr.group.is_empty() { tr.plural.clone() } else { format!("{}.{}", tr.plural, tr.group) };
                json!({"type": "AbleToScale", "status": "False", "lastTransitionTime": t, "reason": "FailedGetScale", "message": format!("the HPA controller was unable to get the target's current scale: {qualified} \"{name}\" not found")})
            }
            None => {
                json!({"type": "AbleToScale", "status": "False", "lastTransitionTime": t, "reason": "FailedGetScale", "message": format!("the HPA controller was unable to get the target's current scale: no matches for kind \"{kind}\" in group \"{group}\"")})
            }
        };
        let old = Self::without_type(obj);
        let mut new = old.clone();
        new["status"]["conditions"] = json!([condition]);
        self.controller_commit(res, Some(&old), new, "status");
    }

    /// The disruption controller, with no pods to count.
    fn reconcile_pdb(&mut self, res: &Resource, obj: &Value) {
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        if obj.pointer("/status/observedGeneration").and_then(Value::as_i64) == Some(generation) {
            return;
        }
        let desired = obj.pointer("/spec/minAvailable").and_then(Value::as_i64).unwrap_or(0);
        let t = now();
        let old = Self::without_type(obj);
        let mut new = old.clone();
        new["status"]["observedGeneration"] = json!(generation);
        new["status"]["desiredHealthy"] = json!(desired);
        new["status"]["conditions"] = json!([{"type": "DisruptionAllowed", "status": "False", "observedGeneration": generation, "lastTransitionTime": t, "reason": "InsufficientPods", "message": ""}]);
        self.controller_commit(res, Some(&old), new, "status");
    }

    fn simulate_workload(&mut self, res: &Resource, obj: &Value) {
        let healthy = self.simulation == Simulation::Healthy;
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        if obj.pointer("/status/observedGeneration").and_then(Value::as_i64) == Some(generation) && res.kind != "Job" {
            return;
        }
        let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let t = now();
        let status = match res.kind.as_str() {
            "StatefulSet" => {
                let r = if healthy { replicas } else { 0 };
                json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": r, "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": r, "currentRevision": "rev-1", "updateRevision": "rev-1", "collisionCount": 0})
            }
            "ReplicaSet" => {
                let r = if healthy { replicas } else { 0 };
                json!({"observedGeneration": generation, "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": r, "availableReplicas": r})
            }
            "DaemonSet" => {
                let r = if healthy { 1 } else { 0 };
                json!({"observedGeneration": generation, "currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1, "numberReady": r, "updatedNumberScheduled": 1, "numberAvailable": r})
            }
            "Job" => {
                if obj.pointer("/status/completionTime").is_some() || obj.pointer("/status/failed").is_some() {
                    return;
                }
                if healthy {
                    json!({"startTime": t, "completionTime": t, "succeeded": 1, "active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                        {"type": "Complete", "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}]})
                } else {
                    json!({"startTime": t, "failed": 1, "active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                        {"type": "FailureTarget", "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
                        {"type": "Failed", "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})
                }
            }
            _ => return,
        };
        let mut new = obj.clone();
        new["status"] = status;
        if let Some(m) = new.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        let mut old = obj.clone();
        if let Some(m) = old.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        self.controller_commit(res, Some(&old), new, "status");
    }
}
