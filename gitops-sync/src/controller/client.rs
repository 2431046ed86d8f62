//! What a person's client (the `app` example, as `argocd app ...`) does: it never syncs by
//! itself; it writes what the controller acts on (`.operation`, the refresh annotation) and
//! reads `.status`, through the Kubernetes API.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::{REFRESH_ANNOTATION, application_resource};

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Kubernetes API failed (a missing Application included).
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The request does not fit the Application.
    #[error("{0}")]
    Refused(String),
}

/// The Applications API of a namespace.
pub fn applications(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &application_resource())
}

/// Argo CD's refusal of a rollback while automated sync is on.
pub const ROLLBACK_UNDER_AUTO_SYNC: &str = "rollback cannot be initiated when auto-sync is enabled";

/// The person running this client, as Argo CD records it in `initiatedBy.username`.
fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// The `.operation` of a sync asked by `user`, as Argo CD writes it.
pub fn sync_operation(
    user: &str,
    revision: Option<&str>,
    prune: bool,
    dry_run: bool,
    resources: &[crate::engine::ResourceSelector],
) -> Value {
    let mut sync = json!({"prune": prune, "dryRun": dry_run});
    if let Some(r) = revision {
        sync["revision"] = json!(r);
    }
    if !resources.is_empty() {
        sync["resources"] = json!(resources);
    }
    json!({"sync": sync, "initiatedBy": {"username": user}})
}

/// The `.operation` of a rollback to history entry `id` (its revision and source), as Argo CD
/// writes it: a sync with the `Rollback` info item.
pub fn rollback_operation(user: &str, id: i64, revision: &str, source: Option<&Value>) -> Value {
    let mut op = json!({
        "sync": {"revision": revision},
        "initiatedBy": {"username": user},
        "info": [{"name": "Rollback", "value": id.to_string()}],
    });
    if let Some(source) = source {
        op["sync"]["source"] = source.clone();
    }
    op
}

/// A sync of `name` (a revision, prune, dry run), written to `.operation.sync`.
pub async fn request_sync(
    api: &Api<DynamicObject>,
    name: &str,
    revision: Option<&str>,
    prune: bool,
    dry_run: bool,
    resources: &[crate::engine::ResourceSelector],
) -> Result<(), ClientError> {
    let app = api.get(name).await?;
    if app.data.get("operation").is_some_and(|o| !o.is_null()) {
        return Err(ClientError::Refused(format!("another operation is already in progress on {name}")));
    }
    let patch = json!({"operation": sync_operation(&user(), revision, prune, dry_run, resources)});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// A rollback to history entry `id`: a sync of that entry's revision, refused while automated
/// sync is on, as Argo CD refuses it.
pub async fn request_rollback(api: &Api<DynamicObject>, name: &str, id: i64) -> Result<String, ClientError> {
    let app = api.get(name).await?;
    if app.data.pointer("/spec/syncPolicy/automated").is_some_and(|a| !a.is_null()) {
        return Err(ClientError::Refused(format!("{ROLLBACK_UNDER_AUTO_SYNC} (application {name})")));
    }
    let history = app.data.pointer("/status/history").and_then(Value::as_array).cloned().unwrap_or_default();
    let entry = history.iter().find(|h| h.get("id").and_then(Value::as_i64) == Some(id)).ok_or_else(|| {
        let ids: Vec<String> = history.iter().filter_map(|h| h.get("id").map(Value::to_string)).collect();
        ClientError::Refused(format!("application {name} has no history entry {id} (entries: {})", ids.join(", ")))
    })?;
    let revision = entry.get("revision").and_then(Value::as_str).unwrap_or_default().to_string();
    let patch = json!({"operation": rollback_operation(&user(), id, &revision, entry.get("source"))});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(revision)
}

/// A refresh (`hard`: render again, bypassing caches), through the annotation.
pub async fn request_refresh(api: &Api<DynamicObject>, name: &str, hard: bool) -> Result<(), ClientError> {
    let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: if hard { "hard" } else { "normal" }}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// A resource as `argocd app sync --resource` names it: `GROUP:KIND:NAME` or
/// `GROUP:KIND:NAMESPACE/NAME` (the group empty for the core group).
pub fn parse_resource(text: &str) -> Result<crate::engine::ResourceSelector, String> {
    let parts: Vec<&str> = text.splitn(3, ':').collect();
    let [group, kind, rest] = parts[..] else {
        return Err(format!("--resource {text}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME"));
    };
    let (namespace, name) = rest.split_once('/').unwrap_or(("", rest));
    if kind.is_empty() || name.is_empty() {
        return Err(format!("--resource {text}: the kind and the name are required"));
    }
    Ok(crate::engine::ResourceSelector {
        group: Some(group.to_string()),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_resource;

    #[test]
    fn resources_as_argocd_names_them() {
        let r = parse_resource(":ConfigMap:settings").unwrap();
        assert_eq!(
            (r.group.as_deref(), r.kind.as_str(), r.namespace.as_str(), r.name.as_str()),
            (Some(""), "ConfigMap", "", "settings")
        );
        let r = parse_resource("apps:Deployment:shop/web").unwrap();
        assert_eq!((r.group.as_deref(), r.namespace.as_str(), r.name.as_str()), (Some("apps"), "shop", "web"));
        assert!(parse_resource("Deployment/web").is_err());
        assert!(parse_resource("apps::web").is_err());
    }
}
