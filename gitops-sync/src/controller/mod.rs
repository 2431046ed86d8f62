//! The controller of Argo CD `Application` resources: watches Applications in the namespaces
//! it is given, reconciles each with a [`Manager`], and writes their `.status` in Argo CD's
//! shapes (only when it changed). People and tools drive it as they drive Argo CD's
//! application controller: `.operation.sync` (a sync, a rollback), the
//! `argocd.argoproj.io/refresh` annotation, the `resources-finalizer.argocd.argoproj.io`
//! finalizer.
//!
//! The watch is kube-runtime's [`watcher`](fn@kube::runtime::watcher) with its back-off; the
//! objects the applications own are healed from the [`KubeCluster`]'s change stream.

pub mod client;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gitops_core::{Decryptor, Renderer, Source};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::engine::applyset_id;
use crate::manager::{Manager, PassResult};
use crate::reconciler::{AppState, SyncRequest};
use crate::{Application, KubeCluster};

/// Argo CD's refresh annotation (`normal` or `hard`).
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// The finalizer that makes deleting an Application delete its resources first.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// An `argoproj.io/v1alpha1` resource.
fn argoproj(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The `argoproj.io/v1alpha1` Application resource.
pub fn application_resource() -> ApiResource {
    argoproj("Application", "applications")
}

/// The `argoproj.io/v1alpha1` AppProject resource.
pub fn project_resource() -> ApiResource {
    argoproj("AppProject", "appprojects")
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// The namespaces whose Applications it reconciles.
    pub namespaces: Vec<String>,
    /// Time between full passes (each application is also reconciled when it changes).
    pub interval: Duration,
    /// The field manager of its writes to Applications.
    pub field_manager: String,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self { namespaces: vec!["argocd".into()], interval: Duration::from_secs(180), field_manager: "gitops".into() }
    }
}

/// What the controller remembers of an application between passes.
#[derive(Default)]
struct Record {
    /// The status last written (or read), to write only changes.
    status: Value,
    /// `revisionHistoryLimit`.
    history_limit: usize,
    /// The `.operation` being run or just run: events that still carry it (before the clear
    /// reaches the watch) do not run it again.
    handled_operation: Option<Value>,
    /// The Application as last seen, while another replica owns it: taken up again (its
    /// operation, refresh or deletion) when it is handed over.
    latest: Option<DynamicObject>,
}

/// The Application controller: a [`Manager`] fed by a watch of Application resources.
pub struct ApplicationController<S, R, D> {
    manager: Arc<Manager<S, R, D, KubeCluster>>,
    client: kube::Client,
    options: ControllerOptions,
    records: Mutex<HashMap<String, Record>>,
    /// AppProjects by `namespace/name`.
    projects: std::sync::RwLock<HashMap<String, crate::project::AppProject>>,
    /// Whether the Application CRD serves the status subresource (ours does; Argo CD's does
    /// not, and then status is written to the main resource, as Argo CD writes it).
    status_subresource: std::sync::atomic::AtomicBool,
}

impl<S, R, D> ApplicationController<S, R, D>
where
    S: Source + 'static,
    R: Renderer + 'static,
    D: Decryptor + 'static,
{
    /// A controller over `manager` (which may hold Applications from files too).
    pub fn new(manager: Arc<Manager<S, R, D, KubeCluster>>, client: kube::Client, options: ControllerOptions) -> Self {
        Self {
            manager,
            client,
            options,
            records: Mutex::new(HashMap::new()),
            projects: Default::default(),
            status_subresource: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The manager.
    pub fn manager(&self) -> &Arc<Manager<S, R, D, KubeCluster>> {
        &self.manager
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &application_resource())
    }

    async fn discover_status_subresource(&self) {
        let found = kube::discovery::pinned_kind(
            &self.client,
            &kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        )
        .await;
        if let Ok((_, caps)) = found {
            let has = caps.subresources.iter().any(|(r, _)| r.plural == "status");
            self.status_subresource.store(has, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn project_api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &project_resource())
    }

    /// Reads every AppProject of the controller's namespaces.
    async fn load_projects(&self) -> Result<(), kube::Error> {
        for ns in &self.options.namespaces {
            for o in self.project_api(ns).list(&Default::default()).await? {
                self.remember_project(&o, false);
            }
        }
        Ok(())
    }

    fn remember_project(&self, object: &DynamicObject, deleted: bool) {
        let key = record_key(
            object.metadata.namespace.as_deref().unwrap_or(""),
            object.metadata.name.as_deref().unwrap_or(""),
        );
        let mut projects = self.projects.write().expect("projects lock");
        if deleted {
            projects.remove(&key);
            return;
        }
        let value = serde_json::to_value(object).unwrap_or_default();
        match crate::project::AppProject::from_value(&value) {
            Ok(p) => {
                projects.insert(key, p);
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable AppProject: its applications are refused");
                projects.remove(&key);
            }
        }
    }

    /// The project an Application names (`default` when it names none), looked up in its own
    /// namespace, then in the controller's first.
    fn project_of(&self, app: &Application) -> Result<crate::project::AppProject, String> {
        let name = app.spec.project.as_deref().filter(|p| !p.is_empty()).unwrap_or("default");
        let own = app.metadata.namespace.as_deref().unwrap_or("");
        let projects = self.projects.read().expect("projects lock");
        [own, self.options.namespaces.first().map(String::as_str).unwrap_or("")]
            .iter()
            .find_map(|ns| projects.get(&record_key(ns, name)).cloned())
            .ok_or_else(|| format!("Application referencing project {name} which does not exist"))
    }

    /// Gives every application its project's current rules.
    async fn refresh_projects(&self) {
        for state in self.manager.states() {
            let mut st = state.lock().await;
            if st.project.is_some() {
                st.project = Some(self.project_of(&st.app));
            }
        }
    }

    /// Creates the `default` AppProject in the first Application namespace when it is missing,
    /// as Argo CD does at start: any repository, any destination, any kind.
    pub async fn ensure_default_project(&self) -> Result<(), kube::Error> {
        let Some(namespace) = self.options.namespaces.first() else { return Ok(()) };
        let api = self.project_api(namespace);
        if api.get_opt("default").await?.is_some() {
            return Ok(());
        }
        let project = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "*", "server": "*"}],
                     "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
        });
        let project: DynamicObject = serde_json::from_value(project).map_err(kube::Error::SerdeError)?;
        match api.create(&Default::default(), &project).await {
            Ok(_) => Ok(()),
            // Created meanwhile by another replica or Argo CD.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs until `shutdown`: watches Applications, reconciles each when it changes and every
    /// `interval`, heals when an owned object changes, writes status.
    /// `on_pass` sees every pass's results (for logs and metrics).
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
        on_pass: impl Fn(&str, &[PassResult]),
    ) {
        self.discover_status_subresource().await;
        if let Err(e) = self.ensure_default_project().await {
            tracing::warn!(error = %e, "could not create the default AppProject");
        }
        let mut watchers = Vec::new();
        if let Err(e) = self.load_projects().await {
            tracing::warn!(error = %e, "could not list AppProjects");
        }
        let (project_tx, mut project_rx) = mpsc::channel::<watcher::Event<DynamicObject>>(256);
        for ns in &self.options.namespaces {
            let api = self.project_api(ns);
            let tx = project_tx.clone();
            watchers.push(tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
                while let Some(event) = stream.next().await {
                    if let Ok(e) = event
                        && tx.send(e).await.is_err()
                    {
                        return;
                    }
                }
            }));
        }
        drop(project_tx);
        let (tx, mut rx) = mpsc::channel::<watcher::Event<DynamicObject>>(1024);
        for ns in &self.options.namespaces {
            let api = self.api(ns);
            let tx = tx.clone();
            watchers.push(tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(e) => {
                            if tx.send(e).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "watch of Applications failed; retrying"),
                    }
                }
            }));
        }
        drop(tx);
        let mut changes = self.manager.reconciler().cluster.changes();
        let mut owners = self.manager.ownership_changes();
        tokio::pin!(shutdown);
        let mut pending = Due::default();
        let mut listing = 0usize;
        let mut tick = tokio::time::interval(self.options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                event = rx.recv() => {
                    // Every event already waiting is taken in; a (re)list is taken in whole
                    // (Init to InitDone); then the applications touched are reconciled
                    // together, `concurrency` at a time.
                    let mut next = event;
                    loop {
                        match next {
                            Some(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => self.observe(o, &mut pending).await,
                            Some(watcher::Event::Delete(o)) => self.forget(&o).await,
                            Some(watcher::Event::Init) => listing += 1,
                            Some(watcher::Event::InitDone) => listing = listing.saturating_sub(1),
                            None => break,
                        }
                        next = match rx.try_recv() {
                            Ok(e) => Some(e),
                            Err(_) => break,
                        };
                    }
                    if listing > 0 {
                        continue;
                    }
                    let gained = self.manager.claim();
                    self.take_over(gained, &mut pending).await;
                    let due = std::mem::take(&mut pending);
                    if !due.reconcile.is_empty() {
                        let passes = self.manager.reconcile_some(&due.reconcile).await;
                        on_pass("reconcile", &passes);
                        self.write_statuses(&passes).await;
                    }
                    self.clear_refresh(&due.refreshed).await;
                }
                Some(()) = crate::manager::ownership_changed(&mut owners) => {
                    let gained = self.manager.claim();
                    if gained.is_empty() {
                        continue;
                    }
                    tracing::info!(applications = gained.len(), "applications handed over to this replica");
                    let mut due = Due::default();
                    self.take_over(gained, &mut due).await;
                    let passes = self.manager.reconcile_some(&due.reconcile).await;
                    on_pass("handover", &passes);
                    self.write_statuses(&passes).await;
                    self.clear_refresh(&due.refreshed).await;
                }
                Some(event) = project_rx.recv() => {
                    match event {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => self.remember_project(&o, false),
                        watcher::Event::Delete(o) => self.remember_project(&o, true),
                        _ => continue,
                    }
                    self.refresh_projects().await;
                }
                _ = tick.tick() => {
                    let passes = self.manager.reconcile_all().await;
                    on_pass("reconcile", &passes);
                    self.write_statuses(&passes).await;
                }
                change = crate::manager::recv(&mut changes) => {
                    let mut dirty = BTreeSet::new();
                    if let Some(c) = change { dirty.insert(c.applyset); }
                    let until = tokio::time::Instant::now() + Duration::from_millis(50);
                    while let Ok(Some(c)) = tokio::time::timeout_at(until, crate::manager::recv(&mut changes)).await {
                        dirty.insert(c.applyset);
                    }
                    // A change to an owned object: healed, and the status follows (health
                    // included) when it changed.
                    let passes = self.manager.heal(dirty).await;
                    on_pass("self-heal", &passes);
                    self.write_statuses(&passes).await;
                }
            }
        }
        for w in watchers {
            w.abort();
        }
    }

    /// Lists the Applications of the controller's namespaces and gives them to the manager
    /// (for a single pass, without the watch).
    pub async fn load(&self) -> Result<usize, kube::Error> {
        self.discover_status_subresource().await;
        self.ensure_default_project().await?;
        self.load_projects().await?;
        let mut n = 0;
        let mut due = Due::default();
        for ns in &self.options.namespaces {
            for o in self.api(ns).list(&Default::default()).await? {
                self.observe(o, &mut due).await;
                n += 1;
            }
        }
        self.clear_refresh(&due.refreshed).await;
        Ok(n)
    }

    /// Applications just handed over: each is reconciled, and what it asked for while another
    /// replica owned it (an operation, a refresh, its deletion) is taken up.
    async fn take_over(&self, gained: BTreeSet<String>, due: &mut Due) {
        for id in gained {
            let latest = match self.manager.key_of(&id) {
                Some((ns, name)) => {
                    self.records.lock().await.get_mut(&record_key(&ns, &name)).and_then(|r| r.latest.take())
                }
                None => None,
            };
            due.reconcile.insert(id);
            if let Some(object) = latest {
                self.observe(object, due).await;
            }
        }
    }

    async fn clear_refresh(&self, refreshed: &[(String, String)]) {
        for (namespace, name) in refreshed {
            let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: null}}});
            if let Err(e) = self.api(namespace).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::warn!(app = %name, error = %e, "could not remove the refresh annotation");
            }
        }
    }

    /// An Application appeared or changed: taken into the manager; what needs a pass is noted
    /// in `due` (a requested operation runs at once).
    async fn observe(&self, object: DynamicObject, due: &mut Due) {
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        let mut value = match serde_json::to_value(&object) {
            Ok(v) => v,
            Err(_) => return,
        };
        let id = record_key(&namespace, &name);
        let live_status = value.get("status").cloned().unwrap_or(Value::Null);
        let owner = self.manager.owns(&namespace, &name);
        {
            let mut records = self.records.lock().await;
            let record = records.entry(id.clone()).or_default();
            // The owner's own writes are the truth for it (events of older writes may still
            // come); another replica's writes are read from the watch.
            if record.status.is_null() || !owner {
                record.status = live_status.clone();
            }
            record.latest = if owner { None } else { Some(object.clone()) };
            record.history_limit =
                value.pointer("/spec/revisionHistoryLimit").and_then(Value::as_u64).unwrap_or(10) as usize;
        }
        if object.metadata.deletion_timestamp.is_some() {
            if owner {
                self.delete_application(&object, &namespace, &name).await;
            }
            return;
        }
        let operation = value.get("operation").cloned().filter(|o| !o.is_null()).filter(|_| owner);
        {
            let mut records = self.records.lock().await;
            let record = records.entry(id.clone()).or_default();
            match &operation {
                None => record.handled_operation = None,
                Some(op) if record.handled_operation.as_ref() == Some(op) => return,
                Some(op) => record.handled_operation = Some(op.clone()),
            }
        }
        let refresh = object.metadata.annotations.as_ref().and_then(|a| a.get(REFRESH_ANNOTATION)).cloned();
        if let Some(m) = value.as_object_mut() {
            m.remove("status");
            m.remove("operation");
        }
        let app = match serde_json::from_value::<Application>(value.clone())
            .map_err(|e| e.to_string())
            .and_then(|a| a.validate(&id).map(|_| a).map_err(|e| e.to_string()))
        {
            Ok(app) => app,
            Err(_) if !owner => return,
            Err(e) => {
                let message = format!("invalid Application spec: {e}");
                tracing::warn!(app = %name, namespace = %namespace, "{message}");
                let mut st = live_status.clone();
                if !st.is_object() {
                    st = json!({});
                }
                st["conditions"] = json!([{"type": "InvalidSpecError", "message": message, "lastTransitionTime": gitops_core::time::now_rfc3339()}]);
                self.write_status(&namespace, &name, &id, st).await;
                return;
            }
        };
        let project = self.project_of(&app);
        let (state, mut changed) = self.manager.upsert(app).await;
        {
            let mut st = state.lock().await;
            let project = Some(project);
            changed |= st.project != project;
            st.project = project;
        }
        if let Some(op) = operation {
            self.run_operation(&state, &namespace, &name, &id, op).await;
            return;
        }
        if refresh.as_deref() == Some("hard") {
            let mut st = state.lock().await;
            st.revision = None;
            st.inputs.clear();
        }
        if changed || refresh.is_some() {
            let st = state.lock().await;
            due.reconcile.insert(applyset_id(&st.app.metadata.name, st.app.namespace()));
        }
        if refresh.is_some() && owner {
            due.refreshed.push((namespace, name));
        }
    }

    async fn reconcile(&self, state: &Arc<Mutex<AppState>>) -> PassResult {
        let mut st = state.lock().await;
        let started = std::time::Instant::now();
        let app = st.app.metadata.name.clone();
        let result = self.manager.reconciler().reconcile(&mut st).await;
        PassResult { app, result, started, duration: started.elapsed() }
    }

    /// `.operation.sync` (or a rollback written as one): run it, record `operationState` and
    /// history, clear `.operation`.
    async fn run_operation(&self, state: &Arc<Mutex<AppState>>, namespace: &str, name: &str, id: &str, op: Value) {
        let started = gitops_core::time::now_rfc3339();
        let sync = op.get("sync").cloned().unwrap_or(json!({}));
        let automated = state.lock().await.app.automated();
        let rollback = op
            .pointer("/info")
            .and_then(Value::as_array)
            .is_some_and(|i| i.iter().any(|x| x.get("name").and_then(Value::as_str) == Some("Rollback")));
        let request = SyncRequest {
            revision: sync.get("revision").and_then(Value::as_str).map(str::to_string),
            prune: sync.get("prune").and_then(Value::as_bool),
            dry_run: sync.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
            resources: sync
                .get("resources")
                .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
                .and_then(|r| serde_json::from_value(r.clone()).ok()),
            retry: op.get("retry").filter(|r| r.is_object()).map(crate::application::RetryPolicy::from_value),
        };
        let outcome = if rollback && automated {
            Err(client::ROLLBACK_UNDER_AUTO_SYNC.to_string())
        } else {
            state.lock().await.operation = Some(request);
            let pass = self.reconcile(state).await;
            state.lock().await.operation = None;
            pass.result.map_err(|e| e.to_string())
        };
        let finished = gitops_core::time::now_rfc3339();
        let st = state.lock().await;
        let previous = self.records.lock().await.get(id).map(|r| r.status.clone()).unwrap_or(Value::Null);
        let mut new = status::application_status(&st, &previous, &finished);
        self.finish_operation(
            &mut new,
            &st,
            id,
            op.clone(),
            outcome.as_ref().map_err(String::as_str),
            (&started, &finished),
        )
        .await;
        drop(st);
        // The request is cleared first, so no later event runs it again.
        let clear = json!({"operation": null});
        if let Err(e) = self.api(namespace).patch(name, &PatchParams::default(), &Patch::Merge(&clear)).await {
            tracing::warn!(app = %name, error = %e, "could not clear the operation");
        }
        self.write_status(namespace, name, id, new).await;
    }

    /// The `status.history` of the Application resource `namespace/name` as this controller
    /// last wrote or saw it; `None` when it is not an Application resource this controller
    /// knows.
    pub async fn history(&self, namespace: &str, name: &str) -> Option<Vec<Value>> {
        let records = self.records.lock().await;
        let status = &records.get(&record_key(namespace, name))?.status;
        Some(status.get("history").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// A finished operation in the new status: `operationState` and, when it succeeded and
    /// was not a dry run, a history entry naming its `initiatedBy` (as Argo CD records one).
    async fn finish_operation(
        &self,
        new: &mut Value,
        st: &AppState,
        id: &str,
        operation: Value,
        outcome: Result<&crate::SyncResult, &str>,
        (started_at, finished_at): (&str, &str),
    ) {
        let dry_run = operation.pointer("/sync/dryRun").and_then(Value::as_bool).unwrap_or(false);
        let by = operation.get("initiatedBy").cloned().unwrap_or(Value::Null);
        new["operationState"] = status::operation_state(st, outcome, operation, started_at, finished_at);
        if outcome.is_ok_and(|r| r.succeeded()) && !dry_run {
            let limit = self.records.lock().await.get(id).map_or(10, |r| r.history_limit);
            status::push_history(new, st, (started_at, finished_at), &by, limit);
        }
    }

    /// Records a sync that ran outside `.operation` (one the web UI or API ran for a person)
    /// as if it had been written there: `operationState` with `operation` (its
    /// `initiatedBy` names who asked) and, when it succeeded and was not a dry run, a history
    /// entry. `None` for a refresh: the status is written as after any pass. Applications not
    /// seen as cluster resources have no status to write.
    pub async fn record_operation(&self, pass: &PassResult, operation: Option<Value>, started_at: &str) {
        let Some(operation) = operation else {
            self.write_statuses(std::slice::from_ref(pass)).await;
            return;
        };
        let mut found = None;
        for state in self.manager.states() {
            if state.lock().await.app.metadata.name == pass.app {
                found = Some(state);
                break;
            }
        }
        let Some(state) = found else { return };
        let st = state.lock().await;
        let namespace = st.app.metadata.namespace.clone().unwrap_or_default();
        let name = st.app.metadata.name.clone();
        let id = record_key(&namespace, &name);
        let Some(previous) = self.records.lock().await.get(&id).map(|r| r.status.clone()) else { return };
        let finished = gitops_core::time::now_rfc3339();
        let mut new = status::application_status(&st, &previous, &finished);
        let error = pass.result.as_ref().err().map(ToString::to_string);
        let outcome = match &pass.result {
            Ok(r) => Ok(r),
            Err(_) => Err(error.as_deref().unwrap_or_default()),
        };
        self.finish_operation(&mut new, &st, &id, operation, outcome, (started_at, &finished)).await;
        drop(st);
        self.write_status(&namespace, &name, &id, new).await;
    }

    /// An Application being deleted: with the resources finalizer, its ApplySet members are
    /// deleted first, then the finalizer removed; without it, the resources stay.
    async fn delete_application(&self, object: &DynamicObject, namespace: &str, name: &str) {
        let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
        let ours: Vec<&String> = finalizers.iter().filter(|f| f.starts_with(RESOURCES_FINALIZER)).collect();
        let destination = destination_namespace(object);
        if ours.is_empty() {
            self.manager.remove(&destination, name);
            return;
        }
        if let Some(state) = self.manager.state(&destination, name) {
            let st = state.lock().await;
            let mut options = crate::engine::SyncOptions::new(&st.app.metadata.name, st.app.namespace());
            options.prune = true;
            options.allow_empty = true;
            options.field_manager = self.options.field_manager.clone();
            let target = self.manager.reconciler().target(&st.app).await;
            drop(st);
            let target = match target {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(app = %name, error = %e, "could not delete the application's resources; retrying on the next pass");
                    return;
                }
            };
            let own = &self.manager.reconciler().cluster;
            match crate::engine::sync(target.cluster(own), Vec::new(), &options).await {
                Ok(r) => {
                    tracing::info!(app = %name, pruned = r.count(crate::Action::Pruned), "application deleted with its resources")
                }
                Err(e) => {
                    tracing::warn!(app = %name, error = %e, "could not delete the application's resources; retrying on the next pass");
                    return;
                }
            }
        }
        self.manager.remove(&destination, name);
        let keep: Vec<&String> = finalizers.iter().filter(|f| !f.starts_with(RESOURCES_FINALIZER)).collect();
        let patch = json!({"metadata": {"finalizers": keep, "resourceVersion": object.metadata.resource_version}});
        if let Err(e) = self.api(namespace).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(app = %name, error = %e, "could not remove the resources finalizer");
        }
    }

    async fn forget(&self, object: &DynamicObject) {
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        self.manager.remove(&destination_namespace(object), &name);
        self.records.lock().await.remove(&record_key(&namespace, &name));
    }

    /// Writes the status of the applications of `passes` that changed.
    pub async fn write_statuses(&self, passes: &[PassResult]) {
        let by_name: HashMap<&str, &PassResult> = passes.iter().map(|p| (p.app.as_str(), p)).collect();
        let mut writes = Vec::new();
        for state in self.manager.states() {
            let st = state.lock().await;
            if !by_name.contains_key(st.app.metadata.name.as_str()) {
                continue;
            }
            let namespace = st.app.metadata.namespace.clone().unwrap_or_default();
            let name = st.app.metadata.name.clone();
            let id = record_key(&namespace, &name);
            // Only Applications seen as cluster resources have a status to write (the manager
            // may hold Applications from files too).
            if !self.records.lock().await.contains_key(&id) {
                continue;
            }
            let previous = self.records.lock().await.get(&id).map(|r| r.status.clone()).unwrap_or(Value::Null);
            let now = gitops_core::time::now_rfc3339();
            let mut new = status::application_status(&st, &previous, &now);
            // An automated sync that wrote is an operation too, with its record and history.
            if let Some(pass) = by_name.get(name.as_str())
                && let Ok(r) = &pass.result
                && st.app.automated()
                && status::wrote(r)
            {
                let op = json!({"sync": {"revision": st.status.revision, "prune": st.app.prune()}, "initiatedBy": {"automated": true}});
                self.finish_operation(&mut new, &st, &id, op, Ok(r), (&now, &now)).await;
            }
            drop(st);
            if !status::same(&previous, &new) {
                writes.push((namespace, name, id, new));
            }
        }
        // The writes go out concurrently, as the syncs did.
        futures::stream::iter(writes)
            .for_each_concurrent(16, |(namespace, name, id, new)| async move {
                self.write_status(&namespace, &name, &id, new).await
            })
            .await;
    }

    async fn write_status(&self, namespace: &str, name: &str, id: &str, mut new: Value) {
        new["reconciledAt"] = json!(gitops_core::time::now_rfc3339());
        let previous = self.records.lock().await.get(id).map(|r| r.status.clone()).unwrap_or(Value::Null);
        // A merge patch: keys the new status no longer has are removed explicitly.
        let mut patch = new.clone();
        if let (Some(p), Some(old)) = (patch.as_object_mut(), previous.as_object()) {
            for k in old.keys() {
                if !p.contains_key(k) {
                    p.insert(k.clone(), Value::Null);
                }
            }
        }
        let body = json!({"status": patch});
        let api = self.api(namespace);
        let params = PatchParams::default();
        let written = if self.status_subresource.load(std::sync::atomic::Ordering::Relaxed) {
            api.patch_status(name, &params, &Patch::Merge(&body)).await
        } else {
            api.patch(name, &params, &Patch::Merge(&body)).await
        };
        match written {
            Ok(o) => {
                tracing::debug!(app = %name, namespace, status = %o.data.get("status").cloned().unwrap_or_default(), "status written");
                self.records.lock().await.entry(id.to_string()).or_default().status = new;
            }
            Err(e) => tracing::warn!(app = %name, namespace, error = %e, "could not write the Application's status"),
        }
    }
}

/// The controller's key of an Application: its own namespace and name.
fn record_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// An Application object's destination namespace (`default` when unset), which with its name
/// identifies its ApplySet and its state in the manager.
fn destination_namespace(object: &DynamicObject) -> String {
    object
        .data
        .pointer("/spec/destination/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// What a batch of watch events asks for.
#[derive(Default)]
struct Due {
    /// ApplySet ids of the applications to reconcile.
    reconcile: BTreeSet<String>,
    /// Applications whose refresh annotation is removed after the pass.
    refreshed: Vec<(String, String)>,
}
