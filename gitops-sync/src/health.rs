//! Health, kstatus-style: Current, InProgress, Failed, Terminating, Unknown.

use gitops_core::Object;
use gitops_core::value::Value;
use serde::{Deserialize, Serialize};

/// The health of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Reconciled and ready (Argo CD: Healthy).
    Current,
    /// Still rolling out (Argo CD: Progressing).
    InProgress,
    /// Will not become ready without a change (Argo CD: Degraded).
    Failed,
    /// Being deleted.
    Terminating,
    /// Not enough information.
    Unknown,
}

impl Health {
    /// Argo CD's word for it.
    pub fn argo(&self) -> &'static str {
        match self {
            Health::Current => "Healthy",
            Health::InProgress => "Progressing",
            Health::Failed => "Degraded",
            Health::Terminating => "Progressing",
            Health::Unknown => "Unknown",
        }
    }

    /// The worst of two: Failed, then InProgress/Terminating, then Unknown, then Current.
    pub fn worst(self, other: Health) -> Health {
        let rank = |h: Health| match h {
            Health::Failed => 4,
            Health::InProgress | Health::Terminating => 3,
            Health::Unknown => 2,
            Health::Current => 1,
        };
        if rank(other) > rank(self) { other } else { self }
    }
}

fn int(o: &Object, p: &str) -> Option<i64> {
    o.get(p).and_then(Value::as_i64)
}

fn condition<'a>(o: &'a Object, ty: &str) -> Option<&'a Value> {
    o.get("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == ty)
}

fn cond_status(o: &Object, ty: &str) -> Option<String> {
    condition(o, ty).and_then(|c| c["status"].as_str().map(String::from))
}

/// The health of a live object.
pub fn health(o: &Object) -> Health {
    if o.get("/metadata/deletionTimestamp").is_some() {
        return Health::Terminating;
    }
    let generation = int(o, "/metadata/generation");
    let observed = int(o, "/status/observedGeneration");
    let stale = matches!((generation, observed), (Some(g), Some(og)) if og < g);
    match (o.group(), o.kind()) {
        ("apps", "Deployment") => {
            if condition(o, "Progressing").is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
                return Health::Failed;
            }
            if stale || observed.is_none() {
                return Health::InProgress;
            }
            let want = int(o, "/spec/replicas").unwrap_or(1);
            let updated = int(o, "/status/updatedReplicas").unwrap_or(0);
            let available = int(o, "/status/availableReplicas").unwrap_or(0);
            let total = int(o, "/status/replicas").unwrap_or(0);
            if updated < want || available < want || total > updated { Health::InProgress } else { Health::Current }
        }
        ("apps", "StatefulSet") => {
            if stale || observed.is_none() {
                return Health::InProgress;
            }
            let want = int(o, "/spec/replicas").unwrap_or(1);
            let ready = int(o, "/status/readyReplicas").unwrap_or(0);
            let same_rev = o.get("/status/currentRevision") == o.get("/status/updateRevision");
            if ready < want || !same_rev { Health::InProgress } else { Health::Current }
        }
        ("apps", "DaemonSet") => {
            if stale || observed.is_none() {
                return Health::InProgress;
            }
            let want = int(o, "/status/desiredNumberScheduled").unwrap_or(0);
            let avail = int(o, "/status/numberAvailable").unwrap_or(0);
            if avail < want { Health::InProgress } else { Health::Current }
        }
        ("apps", "ReplicaSet") => {
            let want = int(o, "/spec/replicas").unwrap_or(1);
            if int(o, "/status/availableReplicas").unwrap_or(0) < want { Health::InProgress } else { Health::Current }
        }
        ("batch", "Job") => {
            if cond_status(o, "Failed").as_deref() == Some("True") {
                Health::Failed
            } else if cond_status(o, "Complete").as_deref() == Some("True") {
                Health::Current
            } else {
                Health::InProgress
            }
        }
        ("", "Pod") => match o.get("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Health::Current,
            Some("Failed") => Health::Failed,
            Some("Running") if cond_status(o, "Ready").as_deref() == Some("True") => Health::Current,
            Some(_) => Health::InProgress,
            None => Health::Unknown,
        },
        ("", "PersistentVolumeClaim") => match o.get("/status/phase").and_then(Value::as_str) {
            Some("Bound") => Health::Current,
            Some("Lost") => Health::Failed,
            _ => Health::InProgress,
        },
        ("", "Service") if o.get("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") => {
            if o.get("/status/loadBalancer/ingress").and_then(Value::as_array).is_some_and(|i| !i.is_empty()) {
                Health::Current
            } else {
                Health::InProgress
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if cond_status(o, "Established").as_deref() == Some("True") { Health::Current } else { Health::InProgress }
        }
        _ => {
            if cond_status(o, "Stalled").as_deref() == Some("True") {
                Health::Failed
            } else if let Some(ready) = cond_status(o, "Ready") {
                if ready == "True" { Health::Current } else { Health::InProgress }
            } else if stale {
                Health::InProgress
            } else {
                Health::Current
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    fn obj(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    #[test]
    fn deployments() {
        let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 2}});
        let mut d = base.clone();
        assert_eq!(health(&obj(d.clone())), Health::InProgress);
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(health(&obj(d.clone())), Health::Current);
        d["status"]["observedGeneration"] = json!(1);
        assert_eq!(health(&obj(d.clone())), Health::InProgress);
        d["status"]["conditions"] =
            json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(health(&obj(d)), Health::Failed);
    }

    #[test]
    fn jobs_pods_and_custom_resources() {
        let job = |c: Value| {
            obj(
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": c}}),
            )
        };
        assert_eq!(health(&job(json!([{"type": "Complete", "status": "True"}]))), Health::Current);
        assert_eq!(health(&job(json!([{"type": "Failed", "status": "True"}]))), Health::Failed);
        assert_eq!(health(&job(json!([]))), Health::InProgress);
        let cr = |c: Value| {
            obj(json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}, "status": {"conditions": c}}))
        };
        assert_eq!(health(&cr(json!([{"type": "Ready", "status": "False"}]))), Health::InProgress);
        assert_eq!(health(&cr(json!([{"type": "Stalled", "status": "True"}]))), Health::Failed);
        let cm = obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        );
        assert_eq!(health(&cm), Health::Terminating);
        assert_eq!(Health::Current.worst(Health::Failed), Health::Failed);
    }
}
