//! A reconciler: applications fetched from their [`Source`], rendered, decrypted and synced
//! to a [`Cluster`], many at once.

use std::collections::BTreeSet;
use std::sync::Mutex;

use gitops_core::source::{AppSource, RenderRequest};
use gitops_core::{Cluster, Decryptor, FileTree, Object, Renderer, Revision, Source};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::application::Application;
use crate::destinations::{Destinations, Target};
use crate::engine::{self, SyncOptions, SyncResult};
use crate::health::Health;

/// A file tree that remembers every path the renderer touched.
struct RecordingTree<'a, T: FileTree + ?Sized> {
    inner: &'a T,
    paths: Mutex<BTreeSet<String>>,
}

impl<T: FileTree + ?Sized> RecordingTree<'_, T> {
    fn note(&self, path: &str) {
        if let Ok(mut p) = self.paths.lock() {
            p.insert(gitops_core::tree::normalize(path).unwrap_or_else(|_| path.to_string()));
        }
    }
}

impl<T: FileTree + ?Sized> FileTree for RecordingTree<'_, T> {
    fn read(&self, path: &str) -> gitops_core::Result<Vec<u8>> {
        self.note(path);
        self.inner.read(path)
    }
    fn list(&self, dir: &str) -> gitops_core::Result<Vec<gitops_core::DirEntry>> {
        self.note(dir);
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> gitops_core::Result<Option<gitops_core::EntryKind>> {
        self.note(path);
        self.inner.kind(path)
    }
    fn real_path(&self, path: &str) -> gitops_core::Result<Option<String>> {
        self.note(path);
        self.inner.real_path(path)
    }
    fn tree_path_of(&self, path: &str) -> Option<String> {
        self.inner.tree_path_of(path)
    }
}

/// Whether two lists of revisions name the same commits (however they were asked for: a
/// branch, `HEAD`, the commit itself).
fn same_commits(a: &[Revision], b: &[Revision]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.commit == y.commit && x.repo_url == y.repo_url)
}

/// Whether a pass's results show objects that differ from Git (what a dry run would write).
fn drifted(r: &SyncResult) -> bool {
    r.resources.iter().any(|x| {
        matches!(
            x.action,
            engine::Action::Created | engine::Action::Updated | engine::Action::PruneSkipped | engine::Action::Failed
        )
    })
}

/// Whether the cluster matches Git.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncStatus {
    /// Equal to Git.
    Synced,
    /// Differs from Git.
    OutOfSync,
    /// Not known yet.
    Unknown,
}

/// An application's state between passes.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The Application.
    pub app: Application,
    /// The revision last rendered (of the first source).
    pub revision: Option<Revision>,
    /// The revisions last synced, one per source (a chart's version for a chart source);
    /// kept by a refresh, which clears `revision` and `inputs` to render again.
    pub revisions: Vec<Revision>,
    /// The objects rendered from it (decrypted).
    pub desired: Vec<Object>,
    /// Every path the last render read: when none of them changed, the next revision renders
    /// the same objects and rendering is skipped.
    pub inputs: Vec<String>,
    /// The last status.
    pub status: AppStatus,
    /// A sync someone asked for (Argo CD's `.operation.sync`), run by the next pass instead of
    /// the automated policy.
    pub operation: Option<SyncRequest>,
    /// The AppProject whose rules the application must keep (`Err`: the project named does
    /// not exist); `None`: no project policy (Applications from files).
    pub project: Option<Result<crate::project::AppProject, String>>,
}

/// A requested sync: Argo CD's `.operation.sync`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncRequest {
    /// The revision to sync (else the Application's `targetRevision`).
    pub revision: Option<String>,
    /// Prune, whatever the automated policy says.
    pub prune: Option<bool>,
    /// Compute and report only.
    pub dry_run: bool,
    /// A selective sync of these resources only (`.operation.sync.resources`).
    pub resources: Option<Vec<engine::ResourceSelector>>,
    /// How a failed sync is tried again (`.operation.retry`; else `syncPolicy.retry`).
    pub retry: Option<crate::application::RetryPolicy>,
}

/// What the last pass found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppStatus {
    /// Synced or not.
    pub sync: SyncStatus,
    /// Health of the applied objects.
    pub health: Health,
    /// The commit synced (of the first source).
    pub revision: Option<String>,
    /// The revisions synced, one per source, for an application with `spec.sources`.
    #[serde(default)]
    pub revisions: Vec<String>,
    /// The first line of its commit message, when the source knows it.
    pub revision_message: Option<String>,
    /// Whether this pass rendered (false when the revision had not changed).
    pub rendered: bool,
    /// The last sync's per-object results.
    pub result: Option<SyncResult>,
    /// Whether those results were computed without writing (a dry run).
    #[serde(default)]
    pub result_dry_run: bool,
    /// The last error.
    pub error: Option<String>,
    /// Revisions synced, newest last.
    pub history: Vec<String>,
}

impl AppState {
    /// A new state for an Application.
    pub fn new(app: Application) -> Self {
        AppState {
            app,
            revision: None,
            revisions: Vec::new(),
            desired: Vec::new(),
            inputs: Vec::new(),
            status: AppStatus {
                sync: SyncStatus::Unknown,
                health: Health::Unknown,
                revision: None,
                revisions: Vec::new(),
                revision_message: None,
                rendered: false,
                result: None,
                result_dry_run: false,
                error: None,
                history: Vec::new(),
            },
            operation: None,
            project: None,
        }
    }

    /// Whether the next pass only reports (a manual Application with no requested sync, or a
    /// requested dry run).
    pub fn dry_run(&self) -> bool {
        self.operation.as_ref().map_or(!self.app.automated(), |o| o.dry_run)
    }

    /// Gives the state a new definition of its Application; `true` when the spec changed, and
    /// then the next pass renders again (the cached render was for the old spec).
    pub fn redefine(&mut self, app: Application) -> bool {
        let same = serde_json::to_value(&self.app.spec).ok() == serde_json::to_value(&app.spec).ok();
        self.app = app;
        if !same {
            self.revision = None;
            self.revisions.clear();
            self.inputs.clear();
        }
        !same
    }
}

/// The reconciler, generic over the four stages.
pub struct Reconciler<S, R, D, C> {
    /// Where desired state comes from.
    pub source: S,
    /// How it is rendered.
    pub renderer: R,
    /// How secrets are decrypted.
    pub decryptor: D,
    /// Where it goes.
    pub cluster: C,
    /// The field manager of applies.
    pub field_manager: String,
    /// Compute and report, never write (every application, automated or not).
    pub dry_run: bool,
    /// Record a Kubernetes Event (core/v1) in the destination namespace for each sync that
    /// wrote, pruned or failed something, on the application's ApplySet parent.
    pub events: bool,
    /// Where charts of Helm repositories come from (`spec.source.chart`); without it such a
    /// source is an error.
    pub charts: Option<std::sync::Arc<dyn gitops_core::ChartRepository>>,
    /// The cluster's version for Helm's `--kube-version` (Argo CD passes the destination's;
    /// see [`crate::cluster::helm_capabilities`]).
    pub kube_version: Option<String>,
    /// The cluster's API versions for Helm's `--api-versions`.
    pub api_versions: Vec<String>,
    /// Clusters other than `cluster` that destinations may name (cluster Secrets); without
    /// it, only `cluster` itself (`https://kubernetes.default.svc`, `in-cluster`) is a valid
    /// destination.
    pub destinations: Option<std::sync::Arc<dyn Destinations<C>>>,
    /// Where drift found by a sync is announced (the application's name), before the sync
    /// writes: see [`Reconciler::drift_seen`].
    drift_tx: tokio::sync::broadcast::Sender<String>,
}

impl<S, R, D, C> Reconciler<S, R, D, C> {
    /// The names of applications whose sync found live objects differing from Git, each
    /// announced before that sync writes (a self-heal about to revert a manual change): a
    /// watcher shows them OutOfSync, as Argo CD's status is between its comparison and its
    /// automated sync. Announcements made while nobody listens are dropped.
    pub fn drift_seen(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.drift_tx.subscribe()
    }
}

impl<S: Source, R: Renderer, D: Decryptor, C: Cluster> Reconciler<S, R, D, C> {
    /// A reconciler with field manager `gitops`.
    pub fn new(source: S, renderer: R, decryptor: D, cluster: C) -> Self {
        Reconciler {
            source,
            renderer,
            decryptor,
            cluster,
            field_manager: "gitops".into(),
            dry_run: false,
            events: true,
            charts: None,
            kube_version: None,
            api_versions: Vec::new(),
            destinations: None,
            drift_tx: tokio::sync::broadcast::channel(256).0,
        }
    }

    /// Where an application's objects go: its destination resolved to a cluster.
    pub async fn target(&self, app: &Application) -> Result<Target<C>, Error> {
        let resolved = match &self.destinations {
            Some(d) => d.resolve(&app.spec.destination).await,
            None => crate::destinations::local_only(&app.spec.destination),
        };
        resolved.map_err(|e| Error::Destination(format!("application {}: {e}", app.metadata.name)))
    }

    /// The reconciler with a Helm chart repository client (for chart sources).
    pub fn with_charts(mut self, charts: std::sync::Arc<dyn gitops_core::ChartRepository>) -> Self {
        self.charts = Some(charts);
        self
    }

    fn options(&self, state: &AppState, dry_run: bool) -> Result<SyncOptions, Error> {
        let app = &state.app;
        let mut o = SyncOptions::new(&app.metadata.name, app.namespace());
        o.revision = state.revision.as_ref().map(|r| r.commit.clone()).unwrap_or_default();
        o.ignore = app.ignore_rules()?;
        o.field_manager = self.field_manager.clone();
        o.prune = app.prune();
        o.create_namespace = app.has_option("CreateNamespace");
        o.allow_empty = app.spec.sync_policy.automated.as_ref().is_some_and(|a| a.allow_empty);
        o.dry_run = dry_run || self.dry_run;
        o.prune_last = app.has_option("PruneLast");
        o.replace = app.has_option("Replace");
        o.server_side_diff = app.has_option("ServerSideDiff");
        o.fail_on_shared_resource = app.has_option("FailOnSharedResource");
        let tx = self.drift_tx.clone();
        o.on_drift = Some(crate::engine::DriftHook(std::sync::Arc::new(move |app: &str| {
            let _ = tx.send(app.to_string());
        })));
        Ok(o)
    }

    /// Fetches the desired revision, renders it when it changed, and syncs (or, without
    /// automated sync, reports drift).
    pub async fn reconcile(&self, state: &mut AppState) -> Result<SyncResult, Error> {
        use tracing::Instrument;
        let span = tracing::info_span!("reconcile", app = %state.app.metadata.name, namespace = %state.app.namespace());
        self.reconcile_with_retry(state).instrument(span).await
    }

    async fn reconcile_with_retry(&self, state: &mut AppState) -> Result<SyncResult, Error> {
        let was_dry_run = state.dry_run() || self.dry_run;
        let mut outcome = self.reconcile_inner(state).await;
        // `.operation.retry`, else syncPolicy.retry: a failed sync (an error, or an object
        // that failed) is tried again; a dry run is not.
        let policy = state.operation.as_ref().and_then(|o| o.retry.clone()).or_else(|| state.app.retry_policy());
        if let (Some(policy), false) = (policy, was_dry_run) {
            let mut n = 0u32;
            while (policy.limit < 0 || i64::from(n) < policy.limit) && outcome.as_ref().map_or(true, |r| !r.succeeded())
            {
                let wait = policy.backoff(n);
                tracing::info!(app = %state.app.metadata.name, attempt = n + 2, wait_ms = wait.as_millis() as u64, "sync failed: retrying");
                tokio::time::sleep(wait).await;
                outcome = self.reconcile_inner(state).await;
                n += 1;
            }
        }
        // Into the destination cluster (its ApplySet parent's namespace); into the own
        // cluster when the destination is what failed.
        let target = self.target(&state.app).await.ok();
        let cluster = target.as_ref().map_or(&self.cluster, |t| t.cluster(&self.cluster));
        self.record_event(cluster, &state.app, "Sync", &outcome, state.status.revision.as_deref()).await;
        match &outcome {
            Ok(r) => {
                state.status.error = None;
                state.status.health = r.health();
                let drifted = drifted(r);
                let skipped = r.resources.iter().any(|x| x.action == engine::Action::Skipped);
                state.status.sync = if (was_dry_run && drifted) || skipped {
                    SyncStatus::OutOfSync
                } else if r.succeeded() {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
                state.status.result = Some(r.clone());
                state.status.result_dry_run = was_dry_run;
            }
            Err(e) => {
                state.status.error = Some(e.to_string());
                state.status.sync = SyncStatus::Unknown;
            }
        }
        outcome
    }

    async fn reconcile_inner(&self, state: &mut AppState) -> Result<SyncResult, Error> {
        if let Some(project) = &state.project {
            project.as_ref().map_err(|e| Error::Project(e.clone()))?;
        }
        let target = self.target(&state.app).await?;
        if let Some(Ok(project)) = &state.project {
            project.check_application_at(&state.app, &target.server, &target.name).map_err(Error::Project)?;
        }
        let sources: Vec<AppSource> = state.app.sources().into_iter().cloned().collect();
        let requested = state.operation.as_ref().and_then(|o| o.revision.clone()).filter(|r| !r.is_empty());
        let mut revisions = Vec::with_capacity(sources.len());
        for (i, src) in sources.iter().enumerate() {
            // A requested revision is the first source's (Argo CD's `.operation.sync.revision`).
            let target = requested.clone().filter(|_| i == 0).unwrap_or_else(|| src.target_revision.clone());
            revisions.push(self.resolve_source(src, &target).await?);
        }
        let rev = revisions.first().cloned().ok_or_else(|| Error::Source("the application has no source".into()))?;
        let single_git = sources.len() == 1 && !sources[0].is_chart();
        let mut inputs_changed = state.revision.is_none() || state.inputs.is_empty();
        if single_git {
            if let Some(old) = &state.revision {
                for p in &state.inputs {
                    if inputs_changed {
                        break;
                    }
                    inputs_changed =
                        self.source.changed(old, &rev, p).await.map_err(|e| Error::Source(e.to_string()))?;
                }
            }
        } else {
            inputs_changed |= !same_commits(&state.revisions, &revisions);
        }
        state.status.rendered = inputs_changed;
        if inputs_changed {
            let objects = self.render_sources(state, &sources, &revisions).await?;
            state.desired = self.decryptor.decrypt(objects).map_err(|e| Error::Decrypt(e.to_string()))?;
        }
        // A new entry when a source's commit changed (not when a refresh forgot the render).
        if !same_commits(&state.revisions, &revisions) {
            state.status.history.push(rev.commit.clone());
            state.status.revision_message = if sources[0].is_chart() { None } else { self.source.message(&rev).await };
        }
        state.status.revision = Some(rev.commit.clone());
        state.status.revisions =
            if state.app.is_multi_source() { revisions.iter().map(|r| r.commit.clone()).collect() } else { Vec::new() };
        state.revision = Some(rev);
        state.revisions = revisions;
        self.check_kinds(state.project.as_ref().and_then(|p| p.as_ref().ok()), &target, state).await?;
        let mut options = self.options(state, state.dry_run())?;
        if let Some(prune) = state.operation.as_ref().and_then(|o| o.prune) {
            options.prune = prune;
        }
        options.only = state.operation.as_ref().and_then(|o| o.resources.clone());
        engine::sync(target.cluster(&self.cluster), state.desired.clone(), &options).await
    }

    /// Resolves one source's target: a Git reference, or a chart version (range).
    async fn resolve_source(&self, src: &AppSource, target: &str) -> Result<Revision, Error> {
        match &src.chart {
            Some(chart) if !chart.is_empty() => {
                let charts = self.charts.as_ref().ok_or_else(|| {
                    Error::Source(format!("chart {chart} of {}: no Helm repository client is configured", src.repo_url))
                })?;
                charts.resolve_chart(&src.repo_url, chart, target).await.map_err(|e| Error::Source(e.to_string()))
            }
            _ => self.source.resolve(&src.repo_url, target).await.map_err(|e| Error::Source(e.to_string())),
        }
    }

    /// Opens every source's tree and renders the sources in order into one list (sources
    /// that only lend their repository, `ref` without a path, render nothing). The paths the
    /// render of a single Git source read are kept, so an unrelated commit renders nothing.
    async fn render_sources(
        &self,
        state: &mut AppState,
        sources: &[AppSource],
        revisions: &[Revision],
    ) -> Result<Vec<Object>, Error> {
        let mut trees: Vec<Box<dyn FileTree>> = Vec::with_capacity(sources.len());
        for (src, rev) in sources.iter().zip(revisions) {
            if src.is_chart() {
                let charts = self.charts.as_ref().ok_or_else(|| Error::Source("no Helm repository client".into()))?;
                let pass = src.helm.as_ref().is_some_and(|h| h.pass_credentials);
                let tree = charts.open_chart_passing_credentials(rev, pass).await;
                trees.push(Box::new(tree.map_err(|e| Error::Source(e.to_string()))?));
            } else {
                trees.push(Box::new(self.source.open(rev).await.map_err(|e| Error::Source(e.to_string()))?));
            }
        }
        let refs: Vec<(String, &dyn FileTree)> =
            sources.iter().zip(&trees).filter_map(|(s, t)| s.ref_name.clone().map(|n| (n, t.as_ref()))).collect();
        let app = &state.app;
        let project = app.spec.project.clone().unwrap_or_default();
        let mut objects = Vec::new();
        let mut inputs = BTreeSet::new();
        for (n, ((src, rev), tree)) in sources.iter().zip(revisions).zip(&trees).enumerate() {
            if src.is_ref_only() {
                continue;
            }
            // A chart from a Helm repository sits under its name in its tree.
            let chart_source;
            let source = match &src.chart {
                Some(chart) if !chart.is_empty() => {
                    chart_source = AppSource { path: chart.clone(), ..src.clone() };
                    &chart_source
                }
                _ => src,
            };
            let mut request = RenderRequest::new(source, &app.metadata.name, app.namespace(), &rev.commit);
            request.project = project.clone();
            request.refs = refs.clone();
            request.kube_version = self.kube_version.clone();
            request.api_versions = self.api_versions.clone();
            let recorder = RecordingTree { inner: tree.as_ref(), paths: Mutex::new(BTreeSet::new()) };
            let rendered = self.renderer.render_source(&recorder, &request).map_err(|e| {
                let which = if sources.len() > 1 { format!("source {n} ({}): ", src.repo_url) } else { String::new() };
                Error::Render(format!("{which}{e}"))
            })?;
            inputs.extend(recorder.paths.into_inner().unwrap_or_default());
            objects.extend(rendered);
        }
        state.inputs = inputs.into_iter().collect();
        Ok(objects)
    }

    /// Whether every rendered kind is allowed by the project and by the destination cluster's
    /// `namespaces` (a kind the cluster does not serve yet, such as a custom resource of a
    /// CRD in the same render, counts as namespaced).
    async fn check_kinds(
        &self,
        project: Option<&crate::project::AppProject>,
        target: &Target<C>,
        state: &AppState,
    ) -> Result<(), Error> {
        if project.is_none() && target.namespaces.is_empty() {
            return Ok(());
        }
        let cluster = target.cluster(&self.cluster);
        let mut scope = std::collections::HashMap::new();
        for o in &state.desired {
            if let std::collections::hash_map::Entry::Vacant(slot) = scope.entry(o.gvk()) {
                let found = cluster.resource(slot.key()).await.map_err(|e| Error::Cluster(e.to_string()))?;
                slot.insert(found.is_none_or(|i| i.namespaced));
            }
        }
        let namespaced = |o: &Object| scope.get(&o.gvk()).copied().unwrap_or(true);
        for o in &state.desired {
            target.check_object(o, namespaced(o), state.app.namespace()).map_err(Error::Destination)?;
        }
        match project {
            Some(p) => {
                p.check_objects(&state.desired, namespaced, &target.server, &target.name).map_err(Error::Project)
            }
            None => Ok(()),
        }
    }

    /// Records what a sync did as a core/v1 Event (nothing for a pass that changed nothing).
    async fn record_event(
        &self,
        cluster: &C,
        app: &Application,
        what: &str,
        outcome: &Result<SyncResult, Error>,
        revision: Option<&str>,
    ) {
        if !self.events || self.dry_run || !app.automated() {
            return;
        }
        let (kind, reason, message) = match outcome {
            Ok(r) => {
                let (c, u, p, f) = (
                    r.count(engine::Action::Created),
                    r.count(engine::Action::Updated),
                    r.count(engine::Action::Pruned),
                    r.count(engine::Action::Failed),
                );
                if c + u + p + f == 0 {
                    return;
                }
                let rev = revision.map(|r| &r[..r.len().min(12)]).unwrap_or("-");
                let text = format!("{what} to {rev}: {c} created, {u} updated, {p} pruned, {f} failed");
                if f > 0 {
                    let failed: Vec<String> = r
                        .resources
                        .iter()
                        .filter(|x| x.action == engine::Action::Failed)
                        .map(|x| format!("{}: {}", x.key, x.message))
                        .collect();
                    ("Warning", format!("{what}Failed"), format!("{text}; {}", failed.join("; ")))
                } else if what == "SelfHeal" {
                    // Who made the drift that was reverted, as the live objects' managers said.
                    let mut by: Vec<String> = Vec::new();
                    for x in r.resources.iter().filter(|x| x.action == engine::Action::Updated) {
                        for who in &x.changed_by {
                            let who = format!("{} by {who}", x.key);
                            if !by.contains(&who) {
                                by.push(who);
                            }
                        }
                    }
                    let text = if by.is_empty() { text } else { format!("{text}; drift made: {}", by.join("; ")) };
                    ("Normal", "SelfHealed".to_string(), text)
                } else {
                    ("Normal", "Synced".to_string(), text)
                }
            }
            Err(e) => ("Warning", format!("{what}Failed"), e.to_string()),
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let ts = gitops_core::time::rfc3339(now.as_secs() as i64);
        let ns = app.namespace();
        let parent = format!("applyset-{}", app.metadata.name);
        let event = serde_json::json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{parent}.{:x}", now.as_nanos()), "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns, "name": parent},
            "reason": reason, "message": message.chars().take(1024).collect::<String>(), "type": kind,
            "source": {"component": self.field_manager.clone()},
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        });
        let Ok(event) = gitops_core::Object::from_value(event.into()) else { return };
        let opts = gitops_core::ApplyOptions { field_manager: self.field_manager.clone(), force: true, dry_run: false };
        if let Err(e) = cluster.apply(&event, &opts).await {
            tracing::debug!(error = %e, "could not record an event");
        }
    }

    /// Re-applies the last rendered objects where the cluster drifted from them (without
    /// fetching Git): self-heal. Without `selfHeal`, only compares, so the status shows the
    /// drift (Argo CD's refresh on a watched change); writes nothing.
    pub async fn self_heal(&self, state: &mut AppState) -> Result<Option<SyncResult>, Error> {
        use tracing::Instrument;
        let span = tracing::info_span!("self_heal", app = %state.app.metadata.name);
        self.self_heal_inner(state).instrument(span).await
    }

    async fn self_heal_inner(&self, state: &mut AppState) -> Result<Option<SyncResult>, Error> {
        if state.revision.is_none() {
            return Ok(None);
        }
        let target = self.target(&state.app).await?;
        let cluster = target.cluster(&self.cluster);
        if !state.app.self_heal() {
            // As Argo CD refreshes an application when one of its objects changes: compare
            // only, so the status shows the drift at once; nothing is written.
            let r = engine::sync(cluster, state.desired.clone(), &self.options(state, true)?).await?;
            state.status.sync = if drifted(&r) { SyncStatus::OutOfSync } else { SyncStatus::Synced };
            state.status.health = r.health();
            state.status.result = Some(r);
            state.status.result_dry_run = true;
            return Ok(None);
        }
        let outcome = engine::sync(cluster, state.desired.clone(), &self.options(state, false)?).await;
        self.record_event(cluster, &state.app, "SelfHeal", &outcome, state.status.revision.as_deref()).await;
        let r = outcome?;
        state.status.health = r.health();
        // The objects' state as this pass found it (their health follows their controllers).
        state.status.result = Some(r.clone());
        state.status.result_dry_run = false;
        Ok(Some(r))
    }
}
