//! The StatefulSet and DaemonSet controllers of a cluster without nodes
//! ([`Simulation::Off`]), with the ControllerRevisions both keep of their templates:
//!
//! - a revision is `<owner>-<hash>` holding `{"spec": {"template": {"$patch": "replace",
//!   ...}}}`, labelled with the template's labels and the hash (`controller.kubernetes.io/hash`
//!   for StatefulSets, `controller-revision-hash` for DaemonSets), annotated with the owner's
//!   annotations; an unchanged template reuses its revision;
//! - StatefulSet Pods are `<set>-<ordinal>` with the revision labels, hostname and subdomain;
//!   `OrderedReady` creates the next one only when the previous is Running and Ready (so one
//!   Pod here), `Parallel` all of them; `OnDelete` leaves Pods on their revision, a rolling
//!   update replaces the highest ordinal that is behind, one at a time, once all are ready;
//!   `volumeClaimTemplates` become PersistentVolumeClaims `<claim>-<pod>`;
//! - a DaemonSet wants one Pod per Node its `nodeSelector` matches: none without Nodes.

use gitops_core::{
    json,
    value::{Map, Value},
};

use crate::api::{State, Target, meta_str};
use crate::controllers::Simulation;
use crate::registry::Resource;
use gitops_core::Propagation;

/// The patch a ControllerRevision stores: the whole template, replacing.
fn revision_data(owner: &Value) -> Value {
    let mut template = owner.pointer("/spec/template").cloned().unwrap_or(json!({}));
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn i64_at(v: &Value, p: &str) -> Option<i64> {
    v.pointer(p).and_then(Value::as_i64)
}

impl State {
    /// The owner's ControllerRevision for its current template, created when new; returns
    /// its name. `hash_label` is the label that carries the hash.
    fn current_revision(&mut self, owner_res: &Resource, owner: &Value, hash_label: &str) -> Option<String> {
        let cr_res = self.registry.by_kind("apps", "v1", "ControllerRevision").cloned()?;
        let ns = meta_str(owner, "namespace").to_string();
        let uid = meta_str(owner, "uid").to_string();
        let data = revision_data(owner);
        let revisions: Vec<Value> = self
            .select(&cr_res, &ns, &Default::default(), &Default::default())
            .into_iter()
            .filter(|r| {
                r.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|o| o["uid"] == json!(uid) && o["controller"] == json!(true)))
            })
            .collect();
        let max = revisions.iter().filter_map(|r| i64_at(r, "/revision")).max().unwrap_or(0);
        if let Some(same) = revisions.iter().find(|r| r.get("data") == Some(&data)) {
            let name = meta_str(same, "name").to_string();
            // Going back to an earlier template makes its revision the newest again.
            if i64_at(same, "/revision") != Some(max) {
                let mut newer = same.clone();
                newer["revision"] = json!(max + 1);
                self.controller_commit(&cr_res, Some(same), newer, "");
            }
            return Some(name);
        }
        let collisions = i64_at(owner, "/status/collisionCount").unwrap_or(0);
        let hash = crate::controllers::template_hash(&json!([data, collisions]));
        let name = format!("{}-{hash}", meta_str(owner, "name"));
        let mut labels: Map<String, Value> =
            owner.pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
        labels.insert(hash_label.into(), json!(hash));
        let mut meta = json!({"name": name, "namespace": ns, "labels": labels,
            "ownerReferences": [{"apiVersion": owner_res.api_version(), "kind": owner_res.kind, "name": meta_str(owner, "name"),
                "uid": uid, "controller": true, "blockOwnerDeletion": true}]});
        if let Some(a) = owner.pointer("/metadata/annotations").filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
        {
            meta["annotations"] = a.clone();
        }
        let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": data, "revision": max + 1});
        self.create_as(&cr_res, &ns, cr, "kube-controller-manager").ok()?;
        Some(name)
    }

    fn pod_named(&self, ns: &str, name: &str) -> Option<Value> {
        let pods = self.registry.by_kind("", "v1", "Pod")?;
        self.get_object(pods, ns, name).cloned()
    }

    /// The StatefulSet controller of a node-less cluster.
    pub(crate) fn reconcile_statefulset(&mut self, res: &Resource, set: &Value) {
        let ns = meta_str(set, "namespace").to_string();
        let name = meta_str(set, "name").to_string();
        let Some(update_revision) = self.current_revision(res, set, "controller.kubernetes.io/hash") else { return };
        let Some(pods_res) = self.registry.by_kind("", "v1", "Pod").cloned() else { return };
        let replicas = i64_at(set, "/spec/replicas").unwrap_or(1);
        let parallel = set.pointer("/spec/podManagementPolicy").and_then(Value::as_str) == Some("Parallel");
        let on_delete = set.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete");
        let revision_of = |p: &Value| {
            p.pointer("/metadata/labels/controller-revision-hash").and_then(Value::as_str).map(String::from)
        };
        // Scale up, in ordinal order (a burst at most per sync, as for ReplicaSets).
        let mut created = 0;
        for i in 0..replicas {
            let pod_name = format!("{name}-{i}");
            if let Some(p) = self.pod_named(&ns, &pod_name) {
                if !parallel && !is_ready(&p) {
                    break;
                }
                continue;
            }
            self.create_set_pod(res, set, &pods_res, i, &update_revision);
            created += 1;
            if !parallel || created >= crate::workloads::BURST_PODS {
                break;
            }
        }
        // Scale down, highest ordinal first.
        let extra: Vec<Value> = self
            .controlled_pods(&ns, meta_str(set, "uid"))
            .into_iter()
            .filter(|p| {
                meta_str(p, "name")
                    .rsplit_once('-')
                    .and_then(|(_, o)| o.parse::<i64>().ok())
                    .is_some_and(|o| o >= replicas)
            })
            .cloned()
            .collect();
        for p in extra {
            let t = Target { namespace: ns.clone(), name: meta_str(&p, "name").into(), subresource: String::new() };
            let _ = self.delete(&pods_res, &t, Some(Propagation::Background), false);
            if !parallel {
                break;
            }
        }
        // A rolling update replaces the highest ordinal behind, once every Pod is ready.
        let pods: Vec<Value> = self.controlled_pods(&ns, meta_str(set, "uid")).into_iter().cloned().collect();
        if !on_delete && pods.iter().all(is_ready) {
            let mut behind: Vec<&Value> =
                pods.iter().filter(|p| revision_of(p).as_deref() != Some(update_revision.as_str())).collect();
            behind.sort_by_key(|p| std::cmp::Reverse(meta_str(p, "name").to_string()));
            if let Some(p) = behind.first() {
                let t = Target { namespace: ns.clone(), name: meta_str(p, "name").into(), subresource: String::new() };
                let _ = self.delete(&pods_res, &t, Some(Propagation::Background), false);
            }
        }
        let pods: Vec<Value> = self.controlled_pods(&ns, meta_str(set, "uid")).into_iter().cloned().collect();
        let updated =
            pods.iter().filter(|p| revision_of(p).as_deref() == Some(update_revision.as_str())).count() as i64;
        let Some(current) = self.get_object(res, &ns, &name).cloned() else { return };
        let previous = current.pointer("/status/currentRevision").and_then(Value::as_str).map(String::from);
        // The current revision moves to the update revision once every Pod runs it.
        let current_revision = match previous {
            Some(r) if updated < replicas || (pods.len() as i64) < replicas => r,
            _ => update_revision.clone(),
        };
        let at_current = pods.iter().filter(|p| revision_of(p).as_deref() == Some(current_revision.as_str())).count();
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let mut status = json!({"observedGeneration": i64_at(&current, "/metadata/generation").unwrap_or(1),
            "replicas": pods.len(), "currentReplicas": at_current, "updatedReplicas": updated,
            "currentRevision": current_revision, "updateRevision": update_revision,
            "collisionCount": i64_at(&current, "/status/collisionCount").unwrap_or(0), "availableReplicas": 0});
        if ready > 0 {
            status["readyReplicas"] = json!(ready);
        }
        if let Some(m) = status.as_object_mut() {
            for k in ["currentReplicas", "updatedReplicas"] {
                if m.get(k) == Some(&json!(0)) {
                    m.remove(k);
                }
            }
        }
        if current.get("status") != Some(&status) {
            let mut new = current.clone();
            new["status"] = status;
            self.controller_commit(res, Some(&current), new, "status");
        }
    }

    fn create_set_pod(&mut self, res: &Resource, set: &Value, pods_res: &Resource, ordinal: i64, revision: &str) {
        let ns = meta_str(set, "namespace").to_string();
        let pod_name = format!("{}-{ordinal}", meta_str(set, "name"));
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({}));
        meta["name"] = json!(pod_name);
        meta["namespace"] = json!(ns);
        meta["labels"]["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
        meta["labels"]["controller-revision-hash"] = json!(revision);
        meta["labels"]["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
        meta["ownerReferences"] = json!([{"apiVersion": res.api_version(), "kind": res.kind, "name": meta_str(set, "name"),
            "uid": meta_str(set, "uid"), "controller": true, "blockOwnerDeletion": true}]);
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        spec["hostname"] = json!(pod_name);
        if let Some(service) = set.pointer("/spec/serviceName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            spec["subdomain"] = json!(service);
        }
        // Each claim template becomes a claim of this Pod, mounted as its volume.
        if let Some(pvc_res) = self.registry.by_kind("", "v1", "PersistentVolumeClaim").cloned() {
            let claims =
                set.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).cloned().unwrap_or_default();
            for claim in claims {
                let claim_name = format!("{}-{pod_name}", meta_str(&claim, "name"));
                if self.get_object(&pvc_res, &ns, &claim_name).is_none() {
                    let mut pvc = claim.clone();
                    pvc["apiVersion"] = json!("v1");
                    pvc["kind"] = json!("PersistentVolumeClaim");
                    pvc["metadata"]["name"] = json!(claim_name);
                    pvc["metadata"]["namespace"] = json!(ns);
                    if let Some(sel) = set.pointer("/spec/selector/matchLabels").and_then(Value::as_object) {
                        for (k, v) in sel {
                            pvc["metadata"]["labels"][k] = v.clone();
                        }
                    }
                    let _ = self.create_as(&pvc_res, &ns, pvc, "kube-controller-manager");
                }
                let volumes = spec.as_object_mut().map(|s| s.entry("volumes").or_insert(json!([])));
                if let Some(Value::Array(list)) = volumes {
                    list.retain(|v| v["name"] != claim["metadata"]["name"]);
                    list.push(
                        json!({"name": meta_str(&claim, "name"), "persistentVolumeClaim": {"claimName": claim_name}}),
                    );
                }
            }
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        let _ = self.create_as(pods_res, &ns, pod, "kube-controller-manager");
    }

    /// The DaemonSet controller of a cluster whose Nodes are only API objects: it counts the
    /// Nodes its `nodeSelector` matches (no kubelet runs its Pods, so none is ready).
    pub(crate) fn reconcile_daemonset(&mut self, res: &Resource, ds: &Value) {
        let ns = meta_str(ds, "namespace").to_string();
        let name = meta_str(ds, "name").to_string();
        if self.current_revision(res, ds, "controller-revision-hash").is_none() {
            return;
        }
        let selector =
            ds.pointer("/spec/template/spec/nodeSelector").and_then(Value::as_object).cloned().unwrap_or_default();
        let desired = self
            .registry
            .by_kind("", "v1", "Node")
            .cloned()
            .map(|nodes| {
                self.select(&nodes, "", &Default::default(), &Default::default())
                    .iter()
                    .filter(|n| {
                        let labels = n.pointer("/metadata/labels").and_then(Value::as_object);
                        selector.iter().all(|(k, v)| labels.is_some_and(|l| l.get(k) == Some(v)))
                    })
                    .count()
            })
            .unwrap_or(0);
        let Some(current) = self.get_object(res, &ns, &name).cloned() else { return };
        let mut new = current.clone();
        new["status"]["observedGeneration"] = json!(i64_at(&current, "/metadata/generation").unwrap_or(1));
        new["status"]["desiredNumberScheduled"] = json!(desired);
        if new != current && self.simulation == Simulation::Off {
            self.controller_commit(res, Some(&current), new, "status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_hold_the_template_and_hash_it_stably() {
        let set = json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}});
        let data = revision_data(&set);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(crate::controllers::template_hash(&data), crate::controllers::template_hash(&revision_data(&set)));
        assert_ne!(crate::controllers::template_hash(&data), crate::controllers::template_hash(&json!([data, 1])));
        assert_eq!(crate::controllers::template_hash(&data).len(), 10);
    }
}
