//! Pod subresources with their own rules: `pods/ephemeralcontainers` (only the ephemeral
//! containers change; the existing ones stay as they are) and `pods/binding` (what a
//! scheduler posts to put a Pod on a node).

use gitops_core::{json, value::Value};

use crate::admission::Cause;
use crate::api::{ApiError, State, Target, meta_str, now};
use crate::registry::Resource;

/// Fields an ephemeral container may not set (the API server keeps an allow list; these are
/// the container fields left out of it), in the order Go's struct lists them.
const NOT_FOR_EPHEMERAL: [&str; 8] = [
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// Whether a JSON value is Go's zero value of its field (absent, null, empty).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The causes of a pod spec's ephemeral containers: names unique among all containers, the
/// target container one of the others, no field outside the allow list, no `subPath`.
pub fn ephemeral_causes(prefix: &str, spec: &Value) -> Vec<Cause> {
    let Some(list) = spec.get("ephemeralContainers").and_then(Value::as_array) else { return Vec::new() };
    let names = |l: &str| -> Vec<String> {
        spec.get(l)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
            .collect()
    };
    let others: Vec<String> = names("containers").into_iter().chain(names("initContainers")).collect();
    let mut all: std::collections::HashSet<String> = others.iter().cloned().collect();
    let mut causes = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let field = format!("{prefix}.ephemeralContainers[{i}]");
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        crate::admission::name_causes(&field, name, &mut all, &mut causes);
        if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(("FieldValueRequired".into(), format!("{field}.image"), "Required value".into()));
        }
        if let Some(target) = c.get("targetContainerName").and_then(Value::as_str)
            && !target.is_empty()
            && !others.iter().any(|n| n == target)
        {
            causes.push((
                "FieldValueNotFound".into(),
                format!("{field}.targetContainerName"),
                format!("Not found: \"{target}\""),
            ));
        }
        for f in NOT_FOR_EPHEMERAL {
            if c.get(f).is_some_and(|v| !is_zero(v)) {
                causes.push((
                    "FieldValueForbidden".into(),
                    format!("{field}.{f}"),
                    "Forbidden: cannot be set for an Ephemeral Container".into(),
                ));
            }
        }
        for (j, m) in c.get("volumeMounts").and_then(Value::as_array).into_iter().flatten().enumerate() {
            if m.get("subPath").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                causes.push((
                    "FieldValueForbidden".into(),
                    format!("{field}.volumeMounts[{j}].subPath"),
                    "Forbidden: cannot be set for an Ephemeral Container".into(),
                ));
            }
        }
    }
    causes
}

/// An update through `pods/ephemeralcontainers`: the existing ephemeral containers may be
/// neither removed nor changed.
pub fn ephemeral_update_causes(old: &Value, new: &Value) -> Vec<Cause> {
    let list =
        |v: &Value| v.pointer("/spec/ephemeralContainers").and_then(Value::as_array).cloned().unwrap_or_default();
    let new_list = list(new);
    let mut causes = ephemeral_causes("spec", new.get("spec").unwrap_or(&Value::Null));
    for c in list(old) {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        match new_list.iter().find(|n| n.get("name").and_then(Value::as_str) == Some(name)) {
            None => causes.push((
                "FieldValueForbidden".into(),
                "spec.ephemeralContainers".into(),
                format!("Forbidden: existing ephemeral containers \"{name}\" may not be removed\n"),
            )),
            Some(n) if *n != c => causes.push((
                "FieldValueForbidden".into(),
                "spec.ephemeralContainers".into(),
                format!("Forbidden: existing ephemeral containers \"{name}\" may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
    causes
}

/// The object an `ephemeralcontainers` write stores: the old Pod with only its ephemeral
/// containers taken from the body.
pub fn with_ephemeral_containers(old: &Value, body: &Value) -> Value {
    let mut new = old.clone();
    match body.pointer("/spec/ephemeralContainers").filter(|v| !v.is_null()) {
        Some(list) => new["spec"]["ephemeralContainers"] = list.clone(),
        None => {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("ephemeralContainers");
            }
        }
    }
    new
}

impl State {
    /// POST `pods/{name}/binding`: sets the Pod's node and its `PodScheduled` condition, as
    /// the binding registry writes straight to storage (no generation, no managed fields).
    pub fn bind_pod(&mut self, res: &Resource, target: &Target, body: &Value) -> Result<Value, ApiError> {
        if meta_str(body, "name") != target.name {
            return Err(ApiError::bad_request("name in URL does not match name in Binding object"));
        }
        let kind = body.pointer("/target/kind").and_then(Value::as_str).unwrap_or("");
        let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
        let mut errors = Vec::new();
        if !kind.is_empty() && kind != "Node" {
            errors.push(format!("target.kind: Unsupported value: \"{kind}\": supported values: \"Node\", \"<empty>\""));
        }
        if node.is_empty() {
            errors.push("target.name: Required value".to_string());
        }
        if !errors.is_empty() {
            // An aggregate of field errors, not an API status: a 500 without a reason.
            let message = if errors.len() == 1 { errors.remove(0) } else { format!("[{}]", errors.join(", ")) };
            return Err(ApiError { code: 500, reason: String::new(), message, details: None });
        }
        let pod = self
            .get_object(res, &target.namespace, &target.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.plural, &target.name))?;
        let conflict = |why: String| ApiError {
            code: 409,
            reason: "Conflict".into(),
            message: format!("Operation cannot be fulfilled on pods/binding \"{}\": {why}", target.name),
            details: Some(json!({"name": target.name, "kind": "pods/binding"})),
        };
        let name = &target.name;
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(conflict(format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        if let Some(assigned) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(conflict(format!("pod {name} is already assigned to node \"{assigned}\"")));
        }
        if pod.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()) {
            return Err(conflict(format!("pod {name} has non-empty .spec.schedulingGates")));
        }
        let mut new = pod;
        new["spec"]["nodeName"] = json!(node);
        if let Some(a) = body.pointer("/metadata/annotations").and_then(Value::as_object).filter(|a| !a.is_empty()) {
            for (k, v) in a {
                new["metadata"]["annotations"][k] = v.clone();
            }
        }
        let condition =
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now()});
        match new.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
            Some(list) => match list.iter_mut().find(|c| c["type"] == "PodScheduled") {
                Some(c) if c["status"] == "True" => {}
                Some(c) => *c = condition,
                None => list.push(condition),
            },
            None => new["status"]["conditions"] = json!([condition]),
        }
        self.commit(res, new, "MODIFIED");
        Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_containers_follow_the_allow_list_and_unique_names() {
        let spec = json!({"containers": [{"name": "main", "image": "a"}], "ephemeralContainers": [
            {"name": "main", "image": "b"},
            {"name": "dbg", "image": "b", "ports": [{"containerPort": 80}], "resources": {}, "targetContainerName": "nope"},
        ]});
        let causes = ephemeral_causes("spec", &spec);
        let got: Vec<(&str, &str)> = causes.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
        assert_eq!(
            got,
            [
                ("FieldValueDuplicate", "spec.ephemeralContainers[0].name"),
                ("FieldValueNotFound", "spec.ephemeralContainers[1].targetContainerName"),
                ("FieldValueForbidden", "spec.ephemeralContainers[1].ports"),
            ]
        );
    }

    #[test]
    fn existing_ephemeral_containers_stay() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}],
            "ephemeralContainers": [{"name": "d", "image": "x"}]}});
        let removed = with_ephemeral_containers(&old, &json!({"spec": {"ephemeralContainers": null}}));
        assert!(ephemeral_update_causes(&old, &removed)[0].2.contains("\"d\" may not be removed"));
        let changed =
            with_ephemeral_containers(&old, &json!({"spec": {"ephemeralContainers": [{"name": "d", "image": "y"}]}}));
        assert!(ephemeral_update_causes(&old, &changed)[0].2.contains("\"d\" may not be changed"));
        let added = with_ephemeral_containers(
            &old,
            &json!({"spec": {"ephemeralContainers": [{"name": "d", "image": "x"}, {"name": "e", "image": "y"}]}}),
        );
        assert!(ephemeral_update_causes(&old, &added).is_empty());
        assert_eq!(added["spec"]["containers"], old["spec"]["containers"]);
    }
}
