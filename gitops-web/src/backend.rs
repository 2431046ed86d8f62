//! Where the web layer gets its data and sends its actions: the [`Backend`] trait, and
//! [`ManagerBackend`], its implementation over a `gitops_sync::Manager` (the agent's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gitops_core::{Cluster, Decryptor, GroupVersionKind, Object, Renderer, Source};
use gitops_sync::{Application, Manager, PassResult, SyncRequest};
use serde_json::Value;

use crate::model::{AppDetail, AppSummary, EventEntry, HistoryEntry, ObjectDiff, SyncAction, TreeNode};

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
    async fn sync(&self, name: &str, action: SyncAction, who: &str) -> Result<String, ActionError>;
    /// Reconciles an application now (a hard refresh renders again even if Git did not move).
    async fn refresh(&self, name: &str, hard: bool, who: &str) -> Result<String, ActionError>;
    /// Syncs the revision of a history entry.
    async fn rollback(&self, name: &str, id: usize, who: &str) -> Result<String, ActionError>;
    /// Names of applications announced as drifted before a sync reverts them (see
    /// `gitops_sync::Reconciler::drift_seen`); `None` when the backend has no such feed.
    fn drift_seen(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
}

/// Where the web's actions are recorded when applications are cluster resources: each as
/// the operation Argo CD's API server would have written (`initiatedBy.username` naming who
/// asked), with its `operationState` and history entry, so the Application's
/// `status.history` holds who synced what, whoever asked and across restarts.
#[async_trait]
pub trait ActionRecorder: Send + Sync + 'static {
    /// Records `pass`, run for `operation` (`None` for a refresh) begun at `started_at`.
    async fn record(&self, pass: &PassResult, operation: Option<Value>, started_at: &str);
    /// The `status.history` entries of the Application resource `namespace/name` (`None`
    /// when there is no such resource).
    async fn history(&self, namespace: &str, name: &str) -> Option<Vec<Value>>;
}

#[async_trait]
impl<S, R, D> ActionRecorder for gitops_sync::ApplicationController<S, R, D>
where
    S: Source + 'static,
    R: Renderer + 'static,
    D: Decryptor + 'static,
{
    async fn record(&self, pass: &PassResult, operation: Option<Value>, started_at: &str) {
        self.record_operation(pass, operation, started_at).await;
    }

    async fn history(&self, namespace: &str, name: &str) -> Option<Vec<Value>> {
        gitops_sync::ApplicationController::history(self, namespace, name).await
    }
}

/// The operation Argo CD records for a sync someone asked for.
fn operation_of(request: &SyncRequest, who: &str, rollback: Option<i64>) -> Value {
    use gitops_sync::controller::client;
    match (rollback, request.revision.as_deref()) {
        (Some(id), Some(revision)) => client::rollback_operation(who, id, revision, None),
        _ => client::sync_operation(
            who,
            request.revision.as_deref(),
            request.prune.unwrap_or(false),
            request.dry_run,
            request.resources.as_deref().unwrap_or_default(),
        ),
    }
}

/// The entries of an Application resource's `status.history`, as the page shows them.
fn history_from_status(history: &[Value]) -> Vec<HistoryEntry> {
    history
        .iter()
        .filter_map(|h| {
            let id = usize::try_from(h.get("id")?.as_i64()?).ok()?;
            let text = |p: &str| h.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            let by = match (text("/initiatedBy/username"), h.pointer("/initiatedBy/automated").and_then(Value::as_bool))
            {
                (Some(user), _) => user,
                (None, Some(true)) => "automated".to_string(),
                _ => "unknown".to_string(),
            };
            let revision = text("/revision").unwrap_or_else(|| {
                h.get("revisions")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            });
            Some(HistoryEntry { id, revision, at: text("/deployedAt"), by })
        })
        .collect()
}

/// When (if this process saw it) and by whom a history entry came.
type Seen = (Option<String>, String);

/// A [`Backend`] over the agent's [`Manager`]: statuses from its application states, live
/// objects (and what controllers made from them) from its cluster.
pub struct ManagerBackend<S, R, D, C> {
    manager: Arc<Manager<S, R, D, C>>,
    last_sync: Mutex<HashMap<String, (Option<String>, String)>>,
    /// Each application's history as seen: when and by whom each entry came.
    seen: Mutex<HashMap<String, Vec<Seen>>>,
    /// Who asked for the action running on an application now.
    acting: Mutex<HashMap<String, String>>,
    /// The last summary of each application state (by its address), shown while a pass holds
    /// the state: the UI never waits for a long sync.
    summaries: Mutex<HashMap<usize, AppSummary>>,
    /// With applications as cluster resources: where actions are recorded; history is then
    /// read from the resources.
    recorder: Option<Arc<dyn ActionRecorder>>,
}

type StateRef = Arc<tokio::sync::Mutex<gitops_sync::AppState>>;

fn key_of(st: &StateRef) -> usize {
    Arc::as_ptr(st) as usize
}

impl<S, R, D, C> ManagerBackend<S, R, D, C> {
    /// Serves `manager`'s applications.
    pub fn new(manager: Arc<Manager<S, R, D, C>>) -> Self {
        Self {
            manager,
            last_sync: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            acting: Mutex::new(HashMap::new()),
            summaries: Mutex::new(HashMap::new()),
            recorder: None,
        }
    }

    /// Applications are cluster resources (the agent as a controller): actions are recorded
    /// by `recorder` as operations naming who asked, and each application's history is its
    /// resource's `status.history`.
    pub fn with_recorder(mut self, recorder: Arc<dyn ActionRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
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

/// A live object as the browser may see it (Secret values masked).
fn display(o: &Object) -> String {
    gitops_core::yaml::to_yaml(&gitops_core::diff::masked_for_display(o.as_value()))
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
            repo: st.app.source().repo_url.clone(),
            path: st.app.source().path.clone(),
            sync: format!("{:?}", st.status.sync),
            health: st.status.health.argo().to_string(),
            revision,
            revision_message: st.status.revision_message.clone(),
            message: st.status.error.clone(),
            objects: st.status.result.as_ref().map_or(0, |r| r.resources.len()),
            last_sync,
            name,
            namespace,
        }
    }

    /// The history with when and by whom, as far as this process saw it come.
    fn history_of(&self, name: &str, revisions: &[String]) -> Vec<HistoryEntry> {
        let mut seen = self.seen.lock().expect("seen lock");
        let known = seen.entry(name.to_string()).or_default();
        if known.len() > revisions.len() {
            known.truncate(revisions.len());
        }
        let first_sight = known.is_empty();
        while known.len() < revisions.len() {
            let by = if first_sight {
                "automated".to_string()
            } else {
                self.acting.lock().expect("acting lock").get(name).cloned().unwrap_or_else(|| "automated".into())
            };
            known.push((if first_sight { None } else { Some(gitops_core::time::now_rfc3339()) }, by));
        }
        revisions
            .iter()
            .zip(known.iter())
            .enumerate()
            .map(|(id, (revision, (at, by)))| HistoryEntry {
                id,
                revision: revision.clone(),
                at: at.clone(),
                by: by.clone(),
            })
            .collect()
    }

    /// The `status.history` of the application's resource, when applications are cluster
    /// resources (`None` otherwise), from the controller's own record (no request).
    async fn resource_history(&self, app: &Application) -> Option<Vec<Value>> {
        let namespace = app.metadata.namespace.as_deref()?;
        self.recorder.as_ref()?.history(namespace, &app.metadata.name).await
    }

    /// The cluster an application's objects are in (its destination's; the own cluster when
    /// the destination does not resolve or the application is not known).
    async fn target_of(&self, app: Option<&Application>) -> Option<gitops_sync::destinations::Target<C>> {
        self.manager.reconciler().target(app?).await.ok()
    }

    async fn events_of(&self, cluster: &C, name: &str, namespace: &str) -> Vec<EventEntry> {
        let gvk = GroupVersionKind::new("", "v1", "Event");
        let Ok(list) = cluster.list(&gvk, Some(namespace), "").await else { return Vec::new() };
        let parent = format!("applyset-{name}");
        let text = |o: &Object, p: &str| o.get(p).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let mut out: Vec<EventEntry> = list
            .iter()
            .filter(|e| e.get("/involvedObject/name").and_then(|n| n.as_str()) == Some(parent.as_str()))
            .map(|e| EventEntry {
                at: text(e, "/lastTimestamp"),
                kind: text(e, "/type"),
                reason: text(e, "/reason"),
                message: text(e, "/message"),
            })
            .collect();
        out.sort_by(|a, b| b.at.cmp(&a.at));
        out.truncate(50);
        out
    }

    /// Records an action as a core/v1 Event of the application, with who asked.
    async fn record(&self, cluster: &C, app: &str, namespace: &str, reason: &str, message: &str) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let ts = gitops_core::time::rfc3339(now.as_secs() as i64);
        let parent = format!("applyset-{app}");
        let event = serde_json::json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{parent}.{:x}", now.as_nanos()), "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": parent},
            "reason": reason, "message": message.chars().take(1024).collect::<String>(),
            "type": if reason.ends_with("Failed") { "Warning" } else { "Normal" },
            "source": {"component": "gitops-web"}, "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        });
        if let Ok(event) = Object::from_value(event.into()) {
            let opts = gitops_core::ApplyOptions { field_manager: "gitops-web".into(), force: true, dry_run: false };
            if let Err(e) = cluster.apply(&event, &opts).await {
                tracing::debug!(error = %e, "could not record the web action's event");
            }
        }
    }

    async fn children(&self, cluster: &C, namespace: &str, uid: &str, depth: usize) -> Vec<TreeNode> {
        if depth > 3 || namespace.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (group, version, kind) in OWNED_KINDS {
            let Ok(list) = cluster.list(&GroupVersionKind::new(group, version, kind), Some(namespace), "").await else {
                continue;
            };
            for o in list.iter().filter(|o| owner_uids(o).iter().any(|u| u == uid)) {
                let child_uid = o.get("/metadata/uid").and_then(|u| u.as_str()).unwrap_or_default().to_string();
                let grandchildren = Box::pin(self.children(cluster, namespace, &child_uid, depth + 1)).await;
                out.push(TreeNode {
                    group: group.into(),
                    kind: kind.into(),
                    namespace: namespace.into(),
                    name: o.name().to_string(),
                    from_git: false,
                    sync: None,
                    health: health_of(o),
                    action: None,
                    message: String::new(),
                    drift: Vec::new(),
                    diff: String::new(),
                    changed_by: Vec::new(),
                    live: display(o),
                    children: grandchildren,
                });
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        out
    }

    /// The state of the application `name`, without waiting on states a pass holds (their
    /// names are known from their last summary).
    async fn find(&self, name: &str) -> Option<StateRef> {
        let mut unknown = Vec::new();
        for st in self.manager.states() {
            let known = match st.try_lock() {
                Ok(g) => Some(g.app.metadata.name == name),
                Err(_) => self.summaries.lock().expect("summaries lock").get(&key_of(&st)).map(|s| s.name == name),
            };
            match known {
                Some(true) => return Some(st),
                Some(false) => {}
                None => unknown.push(st),
            }
        }
        for st in unknown {
            if st.lock().await.app.metadata.name == name {
                return Some(st);
            }
        }
        None
    }

    /// A state's summary now, or the last one while a pass holds it.
    async fn summary_now(&self, st: &StateRef) -> AppSummary {
        if let Ok(g) = st.try_lock() {
            let s = self.summary_of(&g).await;
            self.summaries.lock().expect("summaries lock").insert(key_of(st), s.clone());
            return s;
        }
        if let Some(s) = self.summaries.lock().expect("summaries lock").get(&key_of(st)).cloned() {
            return s;
        }
        let g = st.lock().await;
        let s = self.summary_of(&g).await;
        self.summaries.lock().expect("summaries lock").insert(key_of(st), s.clone());
        s
    }

    async fn run(
        &self,
        name: &str,
        request: Option<SyncRequest>,
        hard: bool,
        what: &str,
        who: &str,
        rollback: Option<i64>,
    ) -> Result<String, ActionError> {
        let state = self.find(name).await.ok_or_else(|| ActionError::NotFound(name.to_string()))?;
        let operation = request.as_ref().map(|r| operation_of(r, who, rollback));
        let started_at = gitops_core::time::now_rfc3339();
        let (destination, app) = {
            let mut st = state.lock().await;
            if let Some(r) = request {
                st.operation = Some(r);
            }
            if hard {
                st.revision = None;
            }
            // The history as it was, so a new entry is credited to `who`.
            let history = st.status.history.clone();
            self.history_of(name, &history);
            (st.app.namespace().to_string(), st.app.clone())
        };
        self.acting.lock().expect("acting lock").insert(name.to_string(), who.to_string());
        let outcome = match self.manager.reconcile_app(name).await {
            None => Err(ActionError::NotFound(format!("{name} (reconciled by another replica)"))),
            Some(pass) => {
                if let Some(recorder) = &self.recorder {
                    recorder.record(&pass, operation, &started_at).await;
                }
                outcome_text(name, pass.result)
            }
        };
        if let Some(state) = self.find(name).await {
            let history = state.lock().await.status.history.clone();
            self.history_of(name, &history);
        }
        self.acting.lock().expect("acting lock").remove(name);
        let (reason, message) = match &outcome {
            Ok(m) => (format!("Web{what}"), format!("{what} by {who}: {m}")),
            Err(e) => (format!("Web{what}Failed"), format!("{what} by {who}: {e:?}")),
        };
        let target = self.target_of(Some(&app)).await;
        let own = &self.manager.reconciler().cluster;
        self.record(target.as_ref().map_or(own, |t| t.cluster(own)), name, &destination, &reason, &message).await;
        outcome
    }
}

/// What an action's pass did, in a line.
fn outcome_text(
    name: &str,
    result: Result<gitops_sync::SyncResult, gitops_sync::Error>,
) -> Result<String, ActionError> {
    match result {
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
            out.push(self.summary_now(&st).await);
        }
        out
    }

    async fn application(&self, name: &str) -> Option<AppDetail> {
        let state = self.find(name).await?;
        let (summary, resources, history, app, compared_only) =
            match tokio::time::timeout(std::time::Duration::from_secs(1), state.lock()).await {
                Ok(st) => {
                    let resources = st.status.result.as_ref().map(|r| r.resources.clone()).unwrap_or_default();
                    let summary = self.summary_of(&st).await;
                    (summary, resources, st.status.history.clone(), Some(st.app.clone()), st.status.result_dry_run)
                }
                // A pass holds it (a long sync, a hook): its last summary now, the tree next time.
                Err(_) => (self.summary_now(&state).await, Vec::new(), Vec::new(), None, false),
            };
        let busy = app.is_none();
        let target = self.target_of(app.as_ref()).await;
        let own = &self.manager.reconciler().cluster;
        let cluster = target.as_ref().map_or(own, |t| t.cluster(own));
        let mut tree = Vec::new();
        for r in resources {
            let live = cluster.get(&r.gvk, &r.key.namespace, &r.key.name).await.ok().flatten();
            let uid = live.as_ref().and_then(|o| o.get("/metadata/uid")).and_then(|u| u.as_str()).map(String::from);
            let children = match uid {
                Some(uid) => self.children(cluster, &r.key.namespace, &uid, 0).await,
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
                // A comparison (no automated sync, or no self-heal) says what a sync would do.
                action: Some(if compared_only {
                    format!("{:?} (dry run: nothing written)", r.action)
                } else {
                    format!("{:?}", r.action)
                }),
                message: r.message.clone(),
                drift: r.drift.clone(),
                diff: r.diff.clone(),
                changed_by: r.changed_by.clone(),
                live: live.as_ref().map(display).unwrap_or_default(),
                children,
            });
        }
        let history = match (busy, &app) {
            (true, _) | (_, None) => Vec::new(),
            (false, Some(a)) => match self.resource_history(a).await {
                Some(entries) => history_from_status(&entries),
                None => self.history_of(name, &history),
            },
        };
        let events = self.events_of(cluster, name, &summary.destination).await;
        Some(AppDetail { summary, tree, history, events })
    }

    async fn sync(&self, name: &str, action: SyncAction, who: &str) -> Result<String, ActionError> {
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
        self.run(name, Some(request), false, "Sync", who, None).await
    }

    async fn refresh(&self, name: &str, hard: bool, who: &str) -> Result<String, ActionError> {
        self.run(name, None, hard, if hard { "HardRefresh" } else { "Refresh" }, who, None).await
    }

    fn drift_seen(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.manager.reconciler().drift_seen())
    }

    async fn rollback(&self, name: &str, id: usize, who: &str) -> Result<String, ActionError> {
        let state = self.find(name).await.ok_or_else(|| ActionError::NotFound(name.to_string()))?;
        let (app, remembered) = {
            let st = state.lock().await;
            (st.app.clone(), st.status.history.get(id).cloned())
        };
        // With applications as resources, ids are those of `status.history` (Argo CD's).
        let revision = match self.resource_history(&app).await {
            Some(entries) => history_from_status(&entries).into_iter().find(|h| h.id == id).map(|h| h.revision),
            None => remembered,
        };
        let revision = revision.ok_or_else(|| ActionError::BadRequest(format!("no history entry {id}")))?;
        if self.recorder.is_some() && app.automated() {
            return Err(ActionError::BadRequest(gitops_sync::controller::client::ROLLBACK_UNDER_AUTO_SYNC.into()));
        }
        let request = SyncRequest { revision: Some(revision), ..SyncRequest::default() };
        self.run(name, Some(request), false, "Rollback", who, i64::try_from(id).ok()).await
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
