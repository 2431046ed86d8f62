//! An Application's `.status` in the shapes Argo CD writes: `sync`, `health`, `resources`,
//! `summary`, `conditions`, `operationState`, `history`, `reconciledAt`, built from an
//! [`AppState`].

use gitops_core::value::Value as CoreValue;
use serde_json::{Map, Value, json};

use crate::engine::{Action, SyncResult};
use crate::reconciler::{AppState, SyncStatus};

/// Argo CD's name of a sync status.
fn sync_name(s: SyncStatus) -> &'static str {
    match s {
        SyncStatus::Synced => "Synced",
        SyncStatus::OutOfSync => "OutOfSync",
        SyncStatus::Unknown => "Unknown",
    }
}

/// Whether a resource's last result leaves it out of sync: a dry run (manual sync) that would
/// create or change it, a write that failed, a prune that was skipped.
fn resource_sync(action: Action, dry_run: bool) -> &'static str {
    match action {
        Action::Created | Action::Updated if dry_run => "OutOfSync",
        Action::Failed | Action::PruneSkipped | Action::Skipped => "OutOfSync",
        _ => "Synced",
    }
}

/// `status.resources`: every object of the last pass but the pruned ones, sorted as Argo CD
/// sorts them (group, kind, namespace, name).
pub fn resources(result: &SyncResult, dry_run: bool) -> Vec<Value> {
    let mut out: Vec<(String, String, String, String, Value)> = result
        .resources
        .iter()
        .filter(|r| r.action != Action::Pruned)
        .map(|r| {
            let mut v = Map::new();
            if !r.key.group.is_empty() {
                v.insert("group".into(), json!(r.key.group));
            }
            v.insert("version".into(), json!(r.gvk.version));
            v.insert("kind".into(), json!(r.key.kind));
            if !r.key.namespace.is_empty() {
                v.insert("namespace".into(), json!(r.key.namespace));
            }
            v.insert("name".into(), json!(r.key.name));
            v.insert("status".into(), json!(resource_sync(r.action, dry_run)));
            v.insert("health".into(), json!({"status": r.health.argo()}));
            if r.action == Action::Hook {
                v.insert("hook".into(), json!(true));
            }
            if r.action == Action::PruneSkipped {
                v.insert("requiresPruning".into(), json!(true));
            }
            (r.key.group.clone(), r.key.kind.clone(), r.key.namespace.clone(), r.key.name.clone(), Value::Object(v))
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, &a.2, &a.3).cmp(&(&b.0, &b.1, &b.2, &b.3)));
    out.into_iter().map(|x| x.4).collect()
}

/// The images of the rendered objects' containers, sorted and unique (`summary.images`).
pub fn images(state: &AppState) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for o in &state.desired {
        let v = o.as_value();
        for spec in ["/spec/template/spec", "/spec", "/spec/jobTemplate/spec/template/spec"] {
            for list in ["initContainers", "containers"] {
                let Some(cs) = v.pointer(&format!("{spec}/{list}")).and_then(CoreValue::as_array) else { continue };
                for c in cs {
                    if let Some(i) = c.get("image").and_then(CoreValue::as_str) {
                        out.insert(i.to_string());
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// What a sync operation did to one object, as `operationState.syncResult.resources[]` says it.
fn operation_resource(r: &crate::engine::ResourceResult) -> Value {
    let status = match r.action {
        Action::Failed => "SyncFailed",
        Action::Pruned => "Pruned",
        Action::PruneSkipped => "PruneSkipped",
        _ => "Synced",
    };
    let message = match (r.action, r.message.as_str()) {
        (_, m) if !m.is_empty() => m.to_string(),
        (Action::Created, _) => format!("{}/{} created", r.key.kind.to_lowercase(), r.key.name),
        (Action::Updated, _) => format!("{}/{} configured", r.key.kind.to_lowercase(), r.key.name),
        (Action::Unchanged, _) => format!("{}/{} unchanged", r.key.kind.to_lowercase(), r.key.name),
        (Action::Pruned, _) => "pruned".into(),
        (Action::PruneSkipped, _) => "ignored (requires pruning)".into(),
        _ => String::new(),
    };
    let mut v = json!({
        "group": r.key.group, "version": r.gvk.version, "kind": r.key.kind,
        "namespace": r.key.namespace, "name": r.key.name,
        "status": status, "message": message, "syncPhase": "Sync",
    });
    if r.action == Action::Hook {
        v["hookType"] = json!("Sync");
        v["hookPhase"] = json!(if r.health == crate::Health::Failed { "Failed" } else { "Succeeded" });
    }
    v
}

/// Whether a pass changed the cluster (a sync operation that did something).
pub fn wrote(result: &SyncResult) -> bool {
    result.resources.iter().any(|r| matches!(r.action, Action::Created | Action::Updated | Action::Pruned))
}

/// The sync operation's record (`operationState`) of a pass that wrote, or of a requested
/// operation.
pub fn operation_state(
    state: &AppState,
    result: Result<&SyncResult, &str>,
    operation: Value,
    started_at: &str,
    finished_at: &str,
) -> Value {
    let revision = state.status.revision.clone().unwrap_or_default();
    match result {
        Ok(r) => {
            let failed = r.resources.iter().filter(|x| x.action == Action::Failed).count();
            let (phase, message) = if failed > 0 {
                ("Failed", format!("one or more objects failed to apply ({failed})"))
            } else {
                ("Succeeded", "successfully synced (all tasks run)".to_string())
            };
            let mut result = json!({
                "revision": revision,
                "resources": r.resources.iter().filter(|x| x.action != Action::Skipped).map(operation_resource).collect::<Vec<_>>(),
            });
            with_sources(&mut result, state);
            json!({
                "operation": operation, "phase": phase, "message": message,
                "startedAt": started_at, "finishedAt": finished_at,
                "syncResult": result,
            })
        }
        Err(e) => json!({
            "operation": operation, "phase": "Error", "message": e,
            "startedAt": started_at, "finishedAt": finished_at,
        }),
    }
}

/// The condition type of an error: where in the pipeline it happened.
pub fn condition_type(error: &str) -> &'static str {
    if error.starts_with("source") || error.starts_with("render") || error.starts_with("decrypt") {
        "ComparisonError"
    } else if error.starts_with("project") || error.starts_with("invalid") {
        "InvalidSpecError"
    } else {
        "SyncError"
    }
}

/// A condition; the time it first appeared is kept while the same condition stays.
fn condition(kind: &str, message: &str, previous: &Value, now: &str) -> Value {
    let since = previous
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type") == Some(&json!(kind)) && c.get("message") == Some(&json!(message)))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    json!({"type": kind, "message": message, "lastTransitionTime": since})
}

/// The status of an application after a pass, keeping what the previous status records that
/// a pass does not recompute (history, the last operation, condition times). `reconciledAt`
/// is left out: the caller sets it when the status is written.
pub fn application_status(state: &AppState, previous: &Value, now: &str) -> Value {
    let dry_run = state.status.result_dry_run;
    let mut status = Map::new();
    let mut sync = json!({
        "status": sync_name(state.status.sync),
        "comparedTo": {"destination": state.app.spec.destination},
    });
    if state.app.is_multi_source() {
        sync["comparedTo"]["sources"] = json!(state.app.spec.sources);
        sync["revisions"] = json!(state.status.revisions);
    } else {
        sync["comparedTo"]["source"] = json!(state.app.spec.source);
        if let Some(rev) = &state.status.revision {
            sync["revision"] = json!(rev);
        }
    }
    status.insert("sync".into(), sync);
    let mut health =
        json!({"status": if state.status.result.is_some() { state.status.health.argo() } else { "Unknown" }});
    if let Some(r) = &state.status.result
        && let Some(bad) = r.resources.iter().find(|x| x.health == crate::Health::Failed && !x.message.is_empty())
    {
        health["message"] = json!(format!("{} {}: {}", bad.key.kind, bad.key.name, bad.message));
    }
    status.insert("health".into(), health);
    if let Some(r) = &state.status.result {
        status.insert("resources".into(), json!(resources(r, dry_run)));
    }
    status.insert("summary".into(), json!({"images": images(state)}));
    let types = source_types(state);
    if state.app.is_multi_source() {
        status.insert("sourceTypes".into(), json!(types));
    } else {
        status.insert("sourceType".into(), json!(types.first().copied().unwrap_or("Directory")));
    }
    let mut conditions = Vec::new();
    if let Some(e) = &state.status.error {
        conditions.push(condition(condition_type(e), e, previous, now));
    }
    // Objects whose write failed.
    let failed: Vec<String> = state
        .status
        .result
        .iter()
        .flat_map(|r| r.resources.iter())
        .filter(|x| x.action == Action::Failed)
        .map(|x| format!("{}: {}", x.key, x.message))
        .collect();
    if state.status.error.is_none() && !failed.is_empty() {
        conditions.push(condition("SyncError", &failed.join("; "), previous, now));
    }
    // Objects left to the application that owns them.
    let shared: Vec<&str> = state
        .status
        .result
        .iter()
        .flat_map(|r| r.resources.iter())
        .filter(|x| x.action == Action::Shared)
        .map(|x| x.message.as_str())
        .collect();
    if !shared.is_empty() {
        conditions.push(condition("SharedResourceWarning", &shared.join("; "), previous, now));
    }
    if !conditions.is_empty() {
        status.insert("conditions".into(), json!(conditions));
    }
    for keep in ["history", "operationState"] {
        if let Some(v) = previous.get(keep).filter(|v| !v.is_null()) {
            status.insert(keep.into(), v.clone());
        }
    }
    Value::Object(status)
}

/// Argo CD's `sourceType`: Kustomize, Helm or Directory, by what the path holds (as the
/// renderer detected it: a kustomization read means Kustomize).
/// Each source's type as Argo CD reports it (`sourceType`, `sourceTypes`): the explicit
/// one, else what the render read at the source's path (a kustomization beats a chart, as
/// Argo CD's discovery has it), else Directory.
fn source_types(state: &AppState) -> Vec<&'static str> {
    state
        .app
        .sources()
        .iter()
        .map(|src| {
            if let Ok(Some(t)) = src.explicit_type() {
                return match t {
                    gitops_core::source::SourceType::Helm => "Helm",
                    gitops_core::source::SourceType::Kustomize => "Kustomize",
                    gitops_core::source::SourceType::Directory => "Directory",
                    gitops_core::source::SourceType::Plugin => "Plugin",
                };
            }
            let dir = gitops_core::tree::normalize(&src.path).unwrap_or_default();
            let read = |n: &str| {
                let p = if dir.is_empty() { n.to_string() } else { format!("{dir}/{n}") };
                state.inputs.contains(&p)
            };
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|n| read(n)) {
                "Kustomize"
            } else if read("Chart.yaml") {
                "Helm"
            } else {
                "Directory"
            }
        })
        .collect()
}

/// `comparedTo`, `history[]` and `syncResult` name the source, or the sources and their
/// revisions for a multi-source application, as Argo CD writes them.
fn with_sources(target: &mut Value, state: &AppState) {
    if state.app.is_multi_source() {
        target["sources"] = json!(state.app.spec.sources);
        target["revisions"] = json!(state.status.revisions);
    } else {
        target["source"] = json!(state.app.spec.source);
    }
}

/// Appends a history entry (id one past the last) made by `initiated_by` (the operation's
/// `initiatedBy`: `{"username": ...}` or `{"automated": true}`, as Argo CD records it),
/// keeping at most `limit` (Argo CD's `revisionHistoryLimit`, default 10).
pub fn push_history(
    status: &mut Value,
    state: &AppState,
    (started_at, finished_at): (&str, &str),
    initiated_by: &Value,
    limit: usize,
) {
    let mut history: Vec<Value> = status.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let id = history.iter().filter_map(|h| h.get("id").and_then(Value::as_i64)).max().unwrap_or(-1) + 1;
    let mut entry = json!({
        "id": id,
        "deployStartedAt": started_at,
        "deployedAt": finished_at,
    });
    if initiated_by.as_object().is_some_and(|o| !o.is_empty()) {
        entry["initiatedBy"] = initiated_by.clone();
    }
    if !state.app.is_multi_source() {
        entry["revision"] = json!(state.status.revision.clone().unwrap_or_default());
    }
    with_sources(&mut entry, state);
    history.push(entry);
    let excess = history.len().saturating_sub(limit.max(1));
    history.drain(..excess);
    status["history"] = json!(history);
}

/// Two statuses equal but for `reconciledAt`.
pub fn same(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("reconciledAt");
        }
        v
    };
    strip(a) == strip(b)
}
