//! Where the web layer gets its data and sends its actions: the [`Backend`] trait, and
//! [`ManagerBackend`], its implementation over a `gitops_sync::Manager` (the agent's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gitops_core::{Cluster, Decryptor, GroupVersionKind, Object, Renderer, Source};
use gitops_sync::{Manager, SyncRequest};

use crate::model::{AppDetail, AppSummary, HistoryEntry, ObjectDiff, SyncAction, TreeNode};

/// Why an action was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No such application (on this replica).
    NotFound(String),
    /// The request is wrong (a bad resource selector, an unknown history entry).
    BadRequest(String),
    /// The action ran and failed (the message says why, without secret values).
    Failed(String),
}

/// The data and actions behind the pages and the API.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every application, in a stable order.
    async fn applications(&self) -> Vec<AppSummary>;
    /// One application with its resource tree and history.
    async fn application(&self, name: &str) -> Option<AppDetail>;
    /// Syncs an application now.
    async fn sync(&self, name: &str, action: SyncAction) -> Result<String, ActionError>;
    /// Reconciles an application now (a hard refresh renders again even if Git did not move).
    async fn refresh(&self, name: &str, hard: bool) -> Result<String, ActionError>;
    /// Syncs the revision of a history entry.
    async fn rollback(&self, name: &str, id: usize) -> Result<String, ActionError>;
}

/// A [`Backend`] over the agent's [`Manager`]: statuses from its application states, live
/// objects (and what controllers made from them) from its cluster.
pub struct ManagerBackend<S, R, D, C> {
    manager: Arc<Manager<S, R, D, C>>,
    last_sync: Mutex<HashMap<String, (Option<String>, String)>>,
}

impl<S, R, D, C> ManagerBackend<S, R, D, C> {
    /// Serves `manager`'s applications.
    pub fn new(manager: Arc<Manager<S, R, D, C>>) -> Self {
        Self { manager, last_sync: Mutex::new(HashMap::new()) }
    }
}

/// Kinds a controller makes from another object, followed through ownerReferences.
const OWNED_KINDS: [(&str, &str, &str); 4] =
    [("apps", "v1", "ReplicaSet"), ("", "v1", "Pod"), ("batch", "v1", "Job"), ("apps", "v1", "ControllerRevision")];

fn owner_uids(o: &Object) -> Vec<String> {
    o.get("/metadata/ownerReferences")
        .and_then(|r| r.as_array())
        .map(|refs| refs.iter().filter_map(|r| r.get("uid").and_then(|u| u.as_str()).map(String::from)).collect())
        .unwrap_or_default()
}

fn health_of(o: &Object) -> Option<String> {
    Some(gitops_sync::health::health(o).argo().to_string())
}

impl<S, R, D, C> ManagerBackend<S, R, D, C>
where
    S: Source + 'static,
    R: Renderer + 'static,
    D: Decryptor + 'static,
    C: Cluster + 'static,
{
    async fn summary_of(&self, st: &gitops_sync::AppState) -> AppSummary {
        let ownership = self.manager.ownership();
        let namespace = st.app.metadata.namespace.clone().unwrap_or_default();
        let name = st.app.metadata.name.clone();
        let revision = st.status.revision.clone();
        let last_sync = {
            let mut seen = self.last_sync.lock().expect("last_sync lock");
            let written = st.status.result.as_ref().map_or(0, |r| {
                r.resources.iter().filter(|x| !matches!(x.action, gitops_sync::Action::Unchanged)).count()
            });
            let key = format!("{revision:?}/{written}/{:?}", st.status.sync);
            let entry = seen.entry(name.clone()).or_insert((None, String::new()));
            if entry.1 != key && st.status.result.is_some() {
                entry.0 = Some(gitops_core::time::now_rfc3339());
                entry.1 = key;
            }
            entry.0.clone()
        };
        AppSummary {
            owner: ownership.as_ref().and_then(|o| o.owner(&namespace, &name)),
            project: st.app.spec.project.clone().unwrap_or_else(|| "default".into()),
            destination: st.app.namespace().to_string(),
            repo: st.app.spec.source.repo_url.clone(),
            path: st.app.spec.source.path.clone(),
            sync: format!("{:?}", st.status.sync),
            health: st.status.health.argo().to_string(),
            revision,
            message: st.status.error.clone(),
            objects: st.status.result.as_ref().map_or(0, |r| r.resources.len()),
            last_sync,
            name,
            namespace,
        }
    }

    async fn children(&self, namespace: &str, uid: &str, depth: usize) -> Vec<TreeNode> {
        if depth > 3 || namespace.is_empty() {
            return Vec::new();
        }
        let cluster = &self.manager.reconciler().cluster;
        let mut out = Vec::new();
        for (group, version, kind) in OWNED_KINDS {
            let Ok(list) = cluster.list(&GroupVersionKind::new(group, version, kind), Some(namespace), "").await else {
                continue;
            };
            for o in list.iter().filter(|o| owner_uids(o).iter().any(|u| u == uid)) {
                let child_uid = o.get("/metadata/uid").and_then(|u| u.as_str()).unwrap_or_default().to_string();
                let grandchildren = Box::pin(self.children(namespace, &child_uid, depth + 1)).await;
                out.push(TreeNode {
                    group: group.into(),
                    kind: kind.into(),
                    namespace: namespace.into(),
                    name: o.name().to_string(),
                    from_git: false,
                    sync: None,
                    health: health_of(o),
                    action: None,
                    drift: Vec::new(),
                    diff: String::new(),
                    children: grandchildren,
                });
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        out
    }

    async fn find(&self, name: &str) -> Option<Arc<tokio::sync::Mutex<gitops_sync::AppState>>> {
        for st in self.manager.states() {
            if st.lock().await.app.metadata.name == name {
                return Some(st);
            }
        }
        None
    }

    async fn run(&self, name: &str, request: Option<SyncRequest>, hard: bool) -> Result<String, ActionError> {
        let state = self.find(name).await.ok_or_else(|| ActionError::NotFound(name.to_string()))?;
        {
            let mut st = state.lock().await;
            if let Some(r) = request {
                st.operation = Some(r);
            }
            if hard {
                st.revision = None;
            }
        }
        match self.manager.reconcile_app(name).await {
            None => Err(ActionError::NotFound(format!("{name} (reconciled by another replica)"))),
            Some(pass) => match pass.result {
                Ok(r) => Ok(format!(
                    "{}: {} created, {} updated, {} pruned, {} unchanged, {} failed",
                    name,
                    r.count(gitops_sync::Action::Created),
                    r.count(gitops_sync::Action::Updated),
                    r.count(gitops_sync::Action::Pruned),
                    r.count(gitops_sync::Action::Unchanged),
                    r.count(gitops_sync::Action::Failed)
                )),
                Err(e) => Err(ActionError::Failed(e.to_string())),
            },
        }
    }
}

#[async_trait]
impl<S, R, D, C> Backend for ManagerBackend<S, R, D, C>
where
    S: Source + 'static,
    R: Renderer + 'static,
    D: Decryptor + 'static,
    C: Cluster + 'static,
{
    async fn applications(&self) -> Vec<AppSummary> {
        let mut out = Vec::new();
        for st in self.manager.states() {
            let st = st.lock().await;
            out.push(self.summary_of(&st).await);
        }
        out
    }

    async fn application(&self, name: &str) -> Option<AppDetail> {
        let state = self.find(name).await?;
        let (summary, resources, history) = {
            let st = state.lock().await;
            let resources = st.status.result.as_ref().map(|r| r.resources.clone()).unwrap_or_default();
            (self.summary_of(&st).await, resources, st.status.history.clone())
        };
        let cluster = &self.manager.reconciler().cluster;
        let mut tree = Vec::new();
        for r in resources {
            let live = cluster.get(&r.gvk, &r.key.namespace, &r.key.name).await.ok().flatten();
            let uid = live.as_ref().and_then(|o| o.get("/metadata/uid")).and_then(|u| u.as_str()).map(String::from);
            let children = match uid {
                Some(uid) => self.children(&r.key.namespace, &uid, 0).await,
                None => Vec::new(),
            };
            let in_sync =
                r.drift.is_empty() && !matches!(r.action, gitops_sync::Action::Skipped | gitops_sync::Action::Failed);
            tree.push(TreeNode {
                group: r.key.group.clone(),
                kind: r.key.kind.clone(),
                namespace: r.key.namespace.clone(),
                name: r.key.name.clone(),
                from_git: true,
                sync: Some(if in_sync { "Synced" } else { "OutOfSync" }.into()),
                health: Some(r.health.argo().to_string()),
                action: Some(format!("{:?}", r.action)),
                drift: r.drift.clone(),
                diff: r.diff.clone(),
                children,
            });
        }
        let history = history.into_iter().enumerate().map(|(id, revision)| HistoryEntry { id, revision }).collect();
        Some(AppDetail { summary, tree, history })
    }

    async fn sync(&self, name: &str, action: SyncAction) -> Result<String, ActionError> {
        let resources = if action.resources.is_empty() {
            None
        } else {
            Some(
                action
                    .resources
                    .iter()
                    .map(|r| gitops_sync::controller::client::parse_resource(r).map_err(ActionError::BadRequest))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let request = SyncRequest { prune: action.prune, dry_run: action.dry_run, resources, ..SyncRequest::default() };
        self.run(name, Some(request), false).await
    }

    async fn refresh(&self, name: &str, hard: bool) -> Result<String, ActionError> {
        self.run(name, None, hard).await
    }

    async fn rollback(&self, name: &str, id: usize) -> Result<String, ActionError> {
        let state = self.find(name).await.ok_or_else(|| ActionError::NotFound(name.to_string()))?;
        let revision = state.lock().await.status.history.get(id).cloned();
        let revision = revision.ok_or_else(|| ActionError::BadRequest(format!("no history entry {id}")))?;
        let request = SyncRequest { revision: Some(revision), ..SyncRequest::default() };
        self.run(name, Some(request), false).await
    }
}

/// The diffs of an application's objects that differ from Git.
pub fn diffs(detail: &AppDetail) -> Vec<ObjectDiff> {
    detail
        .tree
        .iter()
        .filter(|n| !n.diff.is_empty())
        .map(|n| ObjectDiff {
            object: format!("{}/{} {}/{}", n.group, n.kind, n.namespace, n.name).trim_start_matches('/').to_string(),
            diff: n.diff.clone(),
        })
        .collect()
}
