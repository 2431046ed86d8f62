//! ResourceQuota as kube-apiserver and kube-controller-manager keep it: admission refuses a
//! create that would exceed a quota of its namespace (or a pod that leaves out a request or
//! limit a quota tracks), and the quota controller writes `status.hard` and `status.used`.

use gitops_core::{
    json,
    value::{Map, Value},
};

use crate::api::{ApiError, State, meta_str};
use crate::registry::Resource;

/// A resource amount in thousandths, and whether its first non-zero part was written with a
/// binary suffix (Kubernetes keeps the format of a sum's first operand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Amount {
    milli: i128,
    binary: bool,
}

impl Amount {
    fn add(&mut self, other: Amount) {
        if self.milli == 0 {
            self.binary = other.binary;
        }
        self.milli += other.milli;
    }

    fn count(n: i128) -> Amount {
        Amount { milli: n * 1000, binary: false }
    }
}

/// Parses a quantity (`600m`, `256Mi`, `1`, `1.5G`, `2e3`) into thousandths, rounding up
/// (gitops-core's parser; a value within float noise of a whole thousandth is that one).
fn parse(q: &str) -> Option<Amount> {
    let thousandths = gitops_core::diff::parse_quantity(q)? * 1000.0;
    let milli = if (thousandths - thousandths.round()).abs() < 1e-6 { thousandths.round() } else { thousandths.ceil() };
    Some(Amount { milli: milli as i128, binary: q.trim().ends_with('i') })
}

/// How Kubernetes prints an amount: the largest suffix that keeps it whole.
fn format(a: Amount) -> String {
    if a.milli == 0 {
        return "0".into();
    }
    if a.milli % 1000 != 0 {
        return format!("{}m", a.milli);
    }
    let n = a.milli / 1000;
    if a.binary {
        for (suffix, shift) in [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
            if n % (1i128 << shift) == 0 {
                return format!("{}{suffix}", n >> shift);
            }
        }
        return n.to_string();
    }
    for (suffix, exp) in [("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)] {
        let unit = 10i128.pow(exp);
        if n % unit == 0 {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

/// The compute resources of a pod a quota key names (`requests.cpu`, `cpu`, `limits.memory`).
fn compute_key(key: &str) -> Option<(&'static str, &str)> {
    match key {
        "cpu" | "memory" | "ephemeral-storage" => Some(("requests", key)),
        // A claim's storage, not a pod's.
        "requests.storage" => None,
        _ => key
            .strip_prefix("requests.")
            .map(|r| ("requests", r))
            .or_else(|| key.strip_prefix("limits.").map(|r| ("limits", r))),
    }
}

/// A pod's total of one compute resource: the containers' sum, or the largest init
/// container's when that is more.
fn pod_compute(pod: &Value, kind: &str, resource: &str) -> Amount {
    let of = |c: &Value| {
        c.pointer(&format!("/resources/{kind}/{resource}"))
            .and_then(|q| q.as_str().map(str::to_string).or_else(|| q.as_i64().map(|n| n.to_string())))
            .and_then(|q| parse(&q))
            .unwrap_or_default()
    };
    let list = |f: &str| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut sum = Amount::default();
    for c in list("containers") {
        sum.add(of(&c));
    }
    for c in list("initContainers") {
        let a = of(&c);
        if a.milli > sum.milli {
            sum = a;
        }
    }
    sum
}

fn terminal(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

/// What one object adds to a quota key.
fn usage(key: &str, res: &Resource, obj: &Value) -> Amount {
    let counted = if res.group.is_empty() {
        format!("count/{}", res.plural)
    } else {
        format!("count/{}.{}", res.plural, res.group)
    };
    if key == counted {
        return Amount::count(1);
    }
    if !res.group.is_empty() {
        return Amount::default();
    }
    let service_type = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    match (key, res.plural.as_str()) {
        ("pods", "pods") => Amount::count(i128::from(!terminal(obj))),
        ("services", "services")
        | ("secrets", "secrets")
        | ("configmaps", "configmaps")
        | ("persistentvolumeclaims", "persistentvolumeclaims")
        | ("replicationcontrollers", "replicationcontrollers")
        | ("resourcequotas", "resourcequotas") => Amount::count(1),
        ("services.loadbalancers", "services") => Amount::count(i128::from(service_type == "LoadBalancer")),
        ("services.nodeports", "services") if matches!(service_type, "NodePort" | "LoadBalancer") => {
            Amount::count(obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, |p| p.len() as i128))
        }
        ("requests.storage", "persistentvolumeclaims") => {
            obj.pointer("/spec/resources/requests/storage").and_then(Value::as_str).and_then(parse).unwrap_or_default()
        }
        (_, "pods") if !terminal(obj) => compute_key(key).map(|(k, r)| pod_compute(obj, k, r)).unwrap_or_default(),
        _ => Amount::default(),
    }
}

impl State {
    fn quotas_in(&self, namespace: &str) -> Vec<Value> {
        let Some(res) = self.registry.by_plural("", "v1", "resourcequotas").cloned() else { return Vec::new() };
        if namespace.is_empty() {
            return Vec::new();
        }
        self.select(&res, namespace, &Default::default(), &Default::default())
    }

    /// The usage of every hard key of a quota by the namespace's objects now.
    fn used(&self, namespace: &str, hard: &Map<String, Value>) -> Vec<(String, Amount)> {
        let mut used: Vec<(String, Amount)> = hard.keys().map(|k| (k.clone(), Amount::default())).collect();
        // The resources the keys count, each once.
        let mut counted: Vec<(String, String)> = Vec::new();
        for key in hard.keys() {
            let target = match key.strip_prefix("count/") {
                Some(r) => match r.split_once('.') {
                    Some((plural, group)) => (group.to_string(), plural.to_string()),
                    None => (String::new(), r.to_string()),
                },
                None if key.starts_with("services") => (String::new(), "services".into()),
                None if key == "requests.storage" => (String::new(), "persistentvolumeclaims".into()),
                None if compute_key(key).is_some() => (String::new(), "pods".into()),
                None => (String::new(), key.clone()),
            };
            if !counted.contains(&target) {
                counted.push(target);
            }
        }
        for (group, plural) in counted {
            let Some(res) =
                self.registry.resources().iter().find(|r| r.group == group && r.plural == plural && r.namespaced)
            else {
                continue;
            };
            for obj in self.select(res, namespace, &Default::default(), &Default::default()) {
                for (key, total) in used.iter_mut() {
                    total.add(usage(key, res, &obj));
                }
            }
        }
        used
    }

    /// Quota admission of a create in `namespace`: a pod must state each request and limit a
    /// quota tracks, and no quota may go past its hard limit.
    pub(crate) fn admit_quota(&self, res: &Resource, namespace: &str, obj: &Value) -> Result<(), ApiError> {
        if !res.namespaced {
            return Ok(());
        }
        let name = meta_str(obj, "name");
        for quota in self.quotas_in(namespace) {
            let quota_name = meta_str(&quota, "name");
            let Some(hard) = quota.pointer("/spec/hard").and_then(Value::as_object) else { continue };
            if res.group.is_empty() && res.plural == "pods" {
                let mut missing: Vec<String> = Vec::new();
                for key in hard.keys() {
                    let Some((kind, resource)) = compute_key(key) else { continue };
                    let containers: Vec<&str> = obj
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|c| c.pointer(&format!("/resources/{kind}/{resource}")).is_none())
                        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or(""))
                        .collect();
                    if !containers.is_empty() {
                        missing.push(format!("{key} for: {}", containers.join(",")));
                    }
                }
                if !missing.is_empty() {
                    missing.sort();
                    let reason = format!("failed quota: {quota_name}: must specify {}", missing.join("; "));
                    return Err(ApiError::forbidden(&res.plural, name, &reason));
                }
            }
            let used = self.used(namespace, hard);
            // Each exceeded key: (key, requested, used, limited).
            let mut over: Vec<[String; 4]> = Vec::new();
            for (key, now) in used {
                let delta = usage(&key, res, obj);
                if delta.milli == 0 {
                    continue;
                }
                let limit = hard.get(&key).and_then(Value::as_str).and_then(parse).unwrap_or_default();
                let mut after = now;
                after.add(delta);
                if after.milli > limit.milli {
                    let limited = hard.get(&key).and_then(Value::as_str).unwrap_or("").to_string();
                    over.push([key, format(delta), format(now), limited]);
                }
            }
            if !over.is_empty() {
                over.sort();
                let list = |i: usize| over.iter().map(|o| format!("{}={}", o[0], o[i])).collect::<Vec<_>>().join(",");
                let reason = format!(
                    "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                    list(1),
                    list(2),
                    list(3)
                );
                return Err(ApiError::forbidden(&res.plural, name, &reason));
            }
        }
        Ok(())
    }

    /// The quota controller: each quota of `namespace` gets `status.hard` (its spec's) and
    /// `status.used` (what the namespace's objects use now), written when they change, by
    /// `manager` (the controller, or the API server charging a create it admitted).
    pub(crate) fn recount_quotas(&mut self, namespace: &str, manager: &str) {
        let Some(res) = self.registry.by_plural("", "v1", "resourcequotas").cloned() else { return };
        for quota in self.quotas_in(namespace) {
            if quota.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let hard = quota.pointer("/spec/hard").and_then(Value::as_object).cloned().unwrap_or_default();
            let used: Map<String, Value> =
                self.used(namespace, &hard).into_iter().map(|(k, a)| (k, json!(format(a)))).collect();
            let status = json!({"hard": hard, "used": used});
            if quota.get("status") == Some(&status) {
                continue;
            }
            let mut new = quota.clone();
            new["status"] = status;
            let mut old = quota;
            for v in [&mut new, &mut old] {
                if let Some(m) = v.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            self.commit_as(manager, &res, Some(&old), new, "status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_print_as_kubernetes_does() {
        let p = |s: &str| parse(s).unwrap();
        assert_eq!(p("600m").milli, 600);
        assert_eq!(p("1").milli, 1000);
        assert_eq!(p("1.5").milli, 1500);
        assert_eq!(p("256Mi"), Amount { milli: 256 * 1000 * 1024 * 1024, binary: true });
        assert_eq!(p("1e3").milli, 1_000_000);
        assert_eq!(p("1n").milli, 1, "rounded up to a thousandth");
        assert!(parse("12x").is_none() && parse("").is_none());
        assert_eq!(format(p("600m")), "600m");
        assert_eq!(format(p("256Mi")), "256Mi");
        assert_eq!(format(p("1024Mi")), "1Gi");
        assert_eq!(format(p("1000")), "1k");
        assert_eq!(format(p("1500m")), "1500m");
        assert_eq!(format(Amount::default()), "0");
        let mut sum = Amount::default();
        sum.add(p("128Mi"));
        sum.add(p("1M"));
        assert!(sum.binary, "a sum keeps its first part's format");
    }
}
