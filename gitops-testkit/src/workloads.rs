//! The controllers of kube-controller-manager that make Pods, as they behave in a cluster
//! without nodes ([`Simulation::Off`]): Pods are created and stay `Pending`, nothing becomes
//! ready or available, and unscheduled Pods are deleted at once.
//!
//! - ReplicaSet: keeps `spec.replicas` Pods (generateName `<rs>-`, the template's labels, a
//!   controller reference), deleting the newest first on scale-down; status from its Pods.
//! - Deployment rollouts: `Recreate` scales every old ReplicaSet to zero before the new one
//!   gets replicas; `RollingUpdate` follows the controller's arithmetic with `maxSurge`
//!   (rounded up) and `maxUnavailable` (rounded down), no Pod ever being available.
//! - Job: `min(parallelism, completions)` Pods with the job-tracking finalizer; a suspended
//!   Job's Pods are deleted and its status says so.

use gitops_core::{json, value::Value};

use crate::api::{State, Target, meta_str, now};
use crate::controllers::Simulation;
use crate::registry::Resource;
use gitops_core::Propagation;

/// The Pods a controller creates or deletes in one sync, as kube-controller-manager's
/// ReplicaSet (`BurstReplicas`) and Job (`MaxPodCreateDeletePerSync`) controllers: the rest
/// follow in later syncs (here, the owner's next write). A ReplicaSet asking for millions of
/// Pods cannot hold a write for minutes.
pub(crate) const BURST_PODS: i64 = 500;

/// `maxSurge`/`maxUnavailable` against `replicas`: an int, or a percentage rounded up or down.
pub fn int_or_percent(v: Option<&Value>, default: &str, replicas: i64, round_up: bool) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * replicas + 99) / 100,
            Some(p) => p * replicas / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// A Deployment's `(maxSurge, maxUnavailable)`: zero for `Recreate`; for a rolling update
/// both default to 25%, and both zero means one may be unavailable.
pub fn surge_and_unavailable(deploy: &Value, replicas: i64) -> (i64, i64) {
    if deploy.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return (0, 0);
    }
    let ru = deploy.pointer("/spec/strategy/rollingUpdate");
    let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), "25%", replicas, true);
    let unavailable = int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), "25%", replicas, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// How many replicas each ReplicaSet of a rollout gets in one pass of the Deployment
/// controller when no Pod is ever available: `(new, [(old name, replicas)])`.
pub fn rollout_step(
    deploy: &Value,
    replicas: i64,
    new_current: Option<i64>,
    old: &[(String, i64)],
) -> (i64, Vec<(String, i64)>) {
    let (surge, unavailable) = surge_and_unavailable(deploy, replicas);
    let old_total: i64 = old.iter().map(|(_, r)| r).sum();
    if deploy.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        // Old Pods go first; the new ReplicaSet is scaled up once none is left.
        let new = if old_total == 0 { replicas } else { new_current.unwrap_or(0) };
        return (new, old.iter().map(|(n, _)| (n.clone(), 0)).collect());
    }
    let current = new_current.unwrap_or(0);
    // Scale the new ReplicaSet up within maxSurge.
    let new = if old_total == 0 || current >= replicas {
        replicas
    } else {
        let total = old_total + current;
        let max_total = replicas + surge;
        if total >= max_total { current } else { current + (max_total - total).min(replicas - current) }
    };
    // Old ReplicaSets lose their unhealthy (here: all) Pods while at least
    // `replicas - maxUnavailable` Pods remain counted, oldest ReplicaSets first.
    let min_available = replicas - unavailable;
    let mut cleanup = (old_total + new - min_available - new).max(0);
    let scaled = old
        .iter()
        .map(|(n, r)| {
            let cut = cleanup.min(*r);
            cleanup -= cut;
            (n.clone(), r - cut)
        })
        .collect();
    (new, scaled)
}

fn controller_ref(owner_res: &Resource, owner: &Value) -> Value {
    json!({"apiVersion": owner_res.api_version(), "kind": owner_res.kind, "name": meta_str(owner, "name"),
        "uid": meta_str(owner, "uid"), "controller": true, "blockOwnerDeletion": true})
}

fn is_controlled_by(pod: &Value, uid: &str) -> bool {
    pod.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
        refs.iter().any(|r| r["uid"].as_str() == Some(uid) && r["controller"].as_bool() == Some(true))
    })
}

fn i64_at(v: &Value, p: &str) -> Option<i64> {
    v.pointer(p).and_then(Value::as_i64)
}

impl State {
    fn pods_res(&self) -> Option<Resource> {
        self.registry.by_kind("", "v1", "Pod").cloned()
    }

    /// The live (not deleting) Pods `uid` controls, newest first, as stored: a ReplicaSet of
    /// many replicas looks at them after every burst, so they are neither copied nor rendered
    /// (callers copy the few they delete).
    pub(crate) fn controlled_pods<'s>(&'s self, namespace: &'s str, uid: &'s str) -> Vec<&'s Value> {
        let Some(pods) = self.registry.by_kind("", "v1", "Pod") else { return Vec::new() };
        let mut out: Vec<&Value> = self
            .stored_in(pods, namespace, move |p| {
                is_controlled_by(p, uid) && p.pointer("/metadata/deletionTimestamp").is_none()
            })
            .collect();
        // Keys worked out once each, not once a comparison.
        out.sort_by_cached_key(|p| {
            std::cmp::Reverse((
                meta_str(p, "creationTimestamp"),
                meta_str(p, "resourceVersion").parse::<u64>().unwrap_or(0),
            ))
        });
        out
    }

    /// Creates `n` Pods from a template, controlled by `owner`.
    /// Creates `n` Pods for `owner`, at most [`BURST_PODS`] of them in one sync.
    fn create_pods(&mut self, owner_res: &Resource, owner: &Value, template: &Value, n: i64, finalizers: &[&str]) {
        let Some(pods) = self.pods_res() else { return };
        let ns = meta_str(owner, "namespace").to_string();
        for _ in 0..n.min(BURST_PODS) {
            let mut meta = template.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({}));
            meta["generateName"] = json!(format!("{}-", meta_str(owner, "name")));
            meta["namespace"] = json!(ns);
            meta["ownerReferences"] = json!([controller_ref(owner_res, owner)]);
            if !finalizers.is_empty() {
                meta["finalizers"] = json!(finalizers);
            }
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": template.get("spec").cloned().unwrap_or(json!({}))});
            // A Pod the API server refuses (a missing service account, quota) is not made, as
            // the real controller only records a FailedCreate event.
            let _ = self.create_as(&pods, &ns, pod, "kube-controller-manager");
        }
    }

    fn delete_pod(&mut self, pod: &Value) {
        let Some(pods) = self.pods_res() else { return };
        let t = Target {
            namespace: meta_str(pod, "namespace").into(),
            name: meta_str(pod, "name").into(),
            subresource: String::new(),
        };
        let _ = self.delete(&pods, &t, Some(Propagation::Background), false);
    }

    /// The ReplicaSet controller of a node-less cluster: Pods to match `spec.replicas`, and
    /// the status they give.
    pub(crate) fn reconcile_replicaset(&mut self, res: &Resource, namespace: &str, name: &str) {
        if self.simulation != Simulation::Off {
            return;
        }
        let Some(rs) = self.get_object(res, namespace, name).cloned() else { return };
        if rs.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let uid = meta_str(&rs, "uid").to_string();
        let want = i64_at(&rs, "/spec/replicas").unwrap_or(1);
        let (have, doomed) = {
            let pods = self.controlled_pods(namespace, &uid);
            let extra = (pods.len() as i64 - want).clamp(0, BURST_PODS) as usize;
            (pods.len() as i64, pods.into_iter().take(extra).cloned().collect::<Vec<Value>>())
        };
        if have < want {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            self.create_pods(res, &rs, &template, want - have, &[]);
        } else {
            for pod in &doomed {
                self.delete_pod(pod);
            }
        }
        let template_labels = rs.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
        let (count, fully) = {
            let pods = self.controlled_pods(namespace, &uid);
            let fully = pods
                .iter()
                .filter(|p| {
                    let labels = p.pointer("/metadata/labels").and_then(Value::as_object);
                    template_labels.into_iter().flatten().all(|(k, v)| labels.is_some_and(|l| l.get(k) == Some(v)))
                })
                .count();
            (pods.len(), fully)
        };
        let Some(current) = self.get_object(res, namespace, name).cloned() else { return };
        let mut status = json!({"replicas": count, "terminatingReplicas": 0,
            "observedGeneration": i64_at(&current, "/metadata/generation").unwrap_or(1)});
        if fully > 0 {
            status["fullyLabeledReplicas"] = json!(fully);
        }
        if current.get("status") != Some(&status) {
            let mut new = current.clone();
            new["status"] = status;
            self.controller_commit(res, Some(&current), new, "status");
        }
    }

    /// Sets a ReplicaSet's replicas (and its Deployment annotations) as the Deployment
    /// controller does, a spec change that bumps its generation.
    pub(crate) fn scale_replicaset(
        &mut self,
        res: &Resource,
        rs: &Value,
        replicas: i64,
        annotations: &[(&str, String)],
    ) -> Value {
        let mut new = rs.clone();
        for (k, v) in annotations {
            new["metadata"]["annotations"][*k] = json!(v);
        }
        if i64_at(rs, "/spec/replicas") != Some(replicas) {
            new["spec"]["replicas"] = json!(replicas);
            let generation = i64_at(rs, "/metadata/generation").unwrap_or(1);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        let out = if new != *rs { self.controller_commit(res, Some(rs), new, "") } else { rs.clone() };
        self.reconcile_replicaset(res, meta_str(rs, "namespace"), meta_str(rs, "name"));
        self.get_object(res, meta_str(rs, "namespace"), meta_str(rs, "name")).cloned().unwrap_or(out)
    }

    /// A Pod's controller replaces it: its ReplicaSet, when now short of Pods, makes another;
    /// its StatefulSet makes it again (at the update revision).
    pub(crate) fn after_pod_deleted(&mut self, pod: &Value) {
        let Some(owner) = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| refs.iter().find(|r| r["controller"] == json!(true)).cloned())
        else {
            return;
        };
        if owner["kind"] == "StatefulSet"
            && owner["apiVersion"] == "apps/v1"
            && self.simulation == Simulation::Off
            && let Some(set_res) = self.registry.by_kind("apps", "v1", "StatefulSet").cloned()
            && let Some(set) =
                self.get_object(&set_res, meta_str(pod, "namespace"), owner["name"].as_str().unwrap_or("")).cloned()
            && meta_str(&set, "uid") == owner["uid"].as_str().unwrap_or("")
            && set.pointer("/metadata/deletionTimestamp").is_none()
        {
            self.reconcile_statefulset(&set_res, &set);
            return;
        }
        if owner["kind"] == "ReplicaSet"
            && owner["apiVersion"] == "apps/v1"
            && let Some(rs_res) = self.registry.by_kind("apps", "v1", "ReplicaSet").cloned()
            && let Some(rs) =
                self.get_object(&rs_res, meta_str(pod, "namespace"), owner["name"].as_str().unwrap_or("")).cloned()
            && meta_str(&rs, "uid") == owner["uid"].as_str().unwrap_or("")
            && (self.controlled_pods(meta_str(&rs, "namespace"), meta_str(&rs, "uid")).len() as i64)
                < i64_at(&rs, "/spec/replicas").unwrap_or(1)
        {
            self.reconcile_replicaset(&rs_res, meta_str(&rs, "namespace"), meta_str(&rs, "name"));
        }
    }

    /// The Job controller of a node-less cluster: active Pods up to the parallelism, none
    /// while suspended.
    pub(crate) fn reconcile_job(&mut self, res: &Resource, job: &Value) {
        let ns = meta_str(job, "namespace").to_string();
        let name = meta_str(job, "name").to_string();
        let uid = meta_str(job, "uid").to_string();
        let finished = job.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        });
        if finished {
            return;
        }
        let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
        let pods: Vec<Value> = self.controlled_pods(&ns, &uid).into_iter().cloned().collect();
        if suspended {
            for pod in &pods {
                self.delete_pod(pod);
                // The controller counts the Pod as gone and lets it go.
                if let Some(pods_res) = self.pods_res()
                    && let Some(p) = self.get_object(&pods_res, &ns, meta_str(pod, "name")).cloned()
                {
                    self.drop_finalizer(&pods_res, &p, "batch.kubernetes.io/job-tracking");
                }
            }
        } else {
            let parallelism = i64_at(job, "/spec/parallelism").unwrap_or(1);
            let succeeded = i64_at(job, "/status/succeeded").unwrap_or(0);
            let want = match i64_at(job, "/spec/completions") {
                Some(c) => parallelism.min(c - succeeded).max(0),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            let have = pods.len() as i64;
            if have < want {
                let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
                self.create_pods(res, job, &template, want - have, &["batch.kubernetes.io/job-tracking"]);
            }
        }
        let Some(current) = self.get_object(res, &ns, &name).cloned() else { return };
        let active = self.controlled_pods(&ns, &uid).len();
        let old_status = current.get("status").cloned().unwrap_or(json!({}));
        let mut status = old_status.clone();
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        status["ready"] = json!(0);
        let t = now();
        if suspended {
            if let Some(m) = status.as_object_mut() {
                m.remove("startTime");
                m.remove("active");
            }
            let already = old_status
                .get("conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Suspended" && c["status"] == "True"));
            if !already {
                let mut conditions: Vec<Value> = old_status
                    .get("conditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| c["type"] != "Suspended")
                    .collect();
                conditions.push(json!({"type": "Suspended", "status": "True", "lastProbeTime": t, "lastTransitionTime": t, "reason": "JobSuspended", "message": "Job suspended"}));
                status["conditions"] = json!(conditions);
            }
        } else {
            if status.get("startTime").is_none() {
                status["startTime"] = json!(t);
            }
            if active > 0 {
                status["active"] = json!(active);
            } else if let Some(m) = status.as_object_mut() {
                m.remove("active");
            }
            if let Some(Value::Array(cs)) = status.get_mut("conditions") {
                for c in cs.iter_mut().filter(|c| c["type"] == "Suspended" && c["status"] == "True") {
                    *c = json!({"type": "Suspended", "status": "False", "lastProbeTime": t, "lastTransitionTime": t, "reason": "JobResumed", "message": "Job resumed"});
                }
            }
        }
        if status != old_status {
            let mut new = current.clone();
            new["status"] = status;
            self.controller_commit(res, Some(&current), new, "status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_and_unavailable_round_as_the_controller_does() {
        let d = |s: Value| json!({"spec": {"strategy": s}});
        assert_eq!(surge_and_unavailable(&d(json!({})), 2), (1, 0));
        assert_eq!(surge_and_unavailable(&d(json!({})), 4), (1, 1));
        assert_eq!(surge_and_unavailable(&d(json!({})), 10), (3, 2));
        assert_eq!(surge_and_unavailable(&d(json!({"type": "Recreate"})), 10), (0, 0));
        assert_eq!(
            surge_and_unavailable(&d(json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}})), 3),
            (0, 1)
        );
        assert_eq!(
            surge_and_unavailable(&d(json!({"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 2}})), 3),
            (2, 2)
        );
    }

    #[test]
    fn a_rollout_without_available_pods_stops_where_the_controller_does() {
        let rolling = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
        // 2 replicas, surge 1, unavailable 0: one new Pod, and the old ones stay.
        let (new, old) = rollout_step(&rolling, 2, None, &[("a".into(), 2)]);
        assert_eq!((new, old), (1, vec![("a".to_string(), 2)]));
        // 4 replicas, surge 1, unavailable 1: one new, one old removed.
        let (new, old) = rollout_step(&rolling, 4, None, &[("a".into(), 4)]);
        assert_eq!((new, old), (1, vec![("a".to_string(), 3)]));
        let recreate = json!({"spec": {"strategy": {"type": "Recreate"}}});
        assert_eq!(rollout_step(&recreate, 2, None, &[("a".into(), 2)]), (0, vec![("a".to_string(), 0)]));
        assert_eq!(rollout_step(&recreate, 2, None, &[("a".into(), 0)]), (2, vec![("a".to_string(), 0)]));
        assert_eq!(rollout_step(&rolling, 3, None, &[]).0, 3);
    }

    fn write(s: &mut State, group: &str, plural: &str, obj: Value) -> Value {
        let res = s.registry.by_plural(group, "v1", plural).cloned().expect("served");
        let t = Target { namespace: "default".into(), name: meta_str(&obj, "name").into(), subresource: String::new() };
        let opts = crate::api::WriteOptions { manager: "test".into(), ..Default::default() };
        if s.get_object(&res, "default", meta_str(&obj, "name")).is_some() {
            s.update(&res, &t, obj, &opts).expect("updated")
        } else {
            s.create(&res, &Target { name: String::new(), ..t }, obj, &opts).expect("created")
        }
    }

    #[test]
    fn a_rolling_update_in_a_cluster_without_nodes_stops_at_the_surge() {
        let mut s = State::new();
        let sa_res = s.registry.by_plural("", "v1", "serviceaccounts").cloned().unwrap();
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        // The namespace's service account may already be there; Pods need it either way.
        let _ = s.create_as(&sa_res, "default", sa, "test");
        let deploy = |image: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
        };
        write(&mut s, "apps", "deployments", deploy("a:1"));
        let pods = s.registry.by_plural("", "v1", "pods").cloned().unwrap();
        let count = |s: &State| s.select(&pods, "default", &Default::default(), &Default::default()).len();
        assert_eq!(count(&s), 4);
        let mut d = s
            .get_object(&s.registry.by_plural("apps", "v1", "deployments").cloned().unwrap(), "default", "web")
            .cloned()
            .unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
        write(&mut s, "apps", "deployments", d);
        // maxSurge 1, maxUnavailable 1 of 4: 5 Pods at most, 3 kept; nothing becomes available.
        let rs = s.registry.by_plural("apps", "v1", "replicasets").cloned().unwrap();
        let mut sizes: Vec<i64> = s
            .select(&rs, "default", &Default::default(), &Default::default())
            .iter()
            .map(|r| r["spec"]["replicas"].as_i64().unwrap())
            .collect();
        sizes.sort();
        assert_eq!(sizes, [2, 3]);
        assert_eq!(count(&s), 5);
        let d = s
            .get_object(&s.registry.by_plural("apps", "v1", "deployments").cloned().unwrap(), "default", "web")
            .cloned()
            .unwrap();
        assert_eq!((d["status"]["replicas"].clone(), d["status"]["updatedReplicas"].clone()), (json!(5), json!(2)));
        // A deleted Pod is replaced by its ReplicaSet.
        let victim = s.select(&pods, "default", &Default::default(), &Default::default())[0].clone();
        let t =
            Target { namespace: "default".into(), name: meta_str(&victim, "name").into(), subresource: String::new() };
        s.delete(&pods, &t, None, false).unwrap();
        assert_eq!(count(&s), 5);
        assert!(s.get_object(&pods, "default", meta_str(&victim, "name")).is_none());
    }
}
