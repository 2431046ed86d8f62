//! The agent's Prometheus metrics, through `prometheus-client`, named as Argo CD names the ones
//! its users alert on (`argocd_app_sync_total` becomes `gitops_app_sync_total`, and so on).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use gitops_sync::PassResult;
use gitops_sync::engine::Action;

/// Argo CD's reconcile buckets (seconds), with finer ones below a quarter second, where this
/// agent spends most passes.
const RECONCILE_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
const GIT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const LEASE_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// An application.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    /// Its name.
    pub name: String,
}

/// A sync of an application and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// The application.
    pub name: String,
    /// `Succeeded`, `Failed` or `Error`, as Argo CD's `phase`.
    pub phase: String,
}

/// Objects by application and action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// The application.
    pub app: String,
    /// `Created`, `Updated`, `Pruned`, `Unchanged`, `Failed`, ...
    pub action: String,
}

/// An application's state, as `argocd_app_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// The application.
    pub name: String,
    /// Its own namespace (empty for one from a file without one).
    pub namespace: String,
    /// Its project.
    pub project: String,
    /// Its repository.
    pub repo: String,
    /// Its destination namespace.
    pub dest_namespace: String,
    /// `Synced`, `OutOfSync`, `Unknown`.
    pub sync_status: String,
    /// `Healthy`, `Progressing`, `Degraded`, ...
    pub health_status: String,
    /// The replica that owns it (empty when not sharded).
    pub owner: String,
}

/// A Git request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitLabels {
    /// The repository.
    pub repo: String,
    /// `fetch` (a revision resolved, fetching when needed).
    pub request_type: String,
}

/// Every metric of the agent, registered once.
pub struct Metrics {
    registry: Registry,
    reconcile: Family<AppLabels, Histogram>,
    sync: Family<SyncLabels, Counter>,
    objects: Family<ObjectLabels, Counter>,
    drift: Family<AppLabels, Counter>,
    errors: Family<AppLabels, Counter>,
    /// `gitops_app_info`, rebuilt at every scrape.
    pub info: Family<InfoLabels, Gauge>,
    git_requests: Family<GitLabels, Counter>,
    git_duration: Family<GitLabels, Histogram>,
    /// Applications this replica owns now.
    pub shard_owned: Gauge,
    /// Members of the agent group this replica sees.
    pub shard_members: Gauge,
    shard_handovers: Counter,
    handovers_seen: u64,
    lease_renew: Histogram,
    lease_renew_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile = Family::<AppLabels, Histogram>::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS));
        registry.register_with_unit(
            "gitops_app_reconcile",
            "Time of one application's reconcile or self-heal pass",
            prometheus_client::registry::Unit::Seconds,
            reconcile.clone(),
        );
        let sync = Family::<SyncLabels, Counter>::default();
        registry.register("gitops_app_sync", "Syncs that wrote, by how they ended", sync.clone());
        let objects = Family::<ObjectLabels, Counter>::default();
        registry.register("gitops_sync_objects", "Objects by application and action", objects.clone());
        let drift = Family::<AppLabels, Counter>::default();
        registry.register("gitops_drift_objects", "Objects found drifted from Git", drift.clone());
        let errors = Family::<AppLabels, Counter>::default();
        registry.register("gitops_reconcile_errors", "Passes that failed", errors.clone());
        let info = Family::<InfoLabels, Gauge>::default();
        registry.register("gitops_app_info", "Each application, with its sync and health status", info.clone());
        let git_requests = Family::<GitLabels, Counter>::default();
        registry.register("gitops_git_request", "Git requests", git_requests.clone());
        let git_duration = Family::<GitLabels, Histogram>::new_with_constructor(|| Histogram::new(GIT_BUCKETS));
        registry.register_with_unit(
            "gitops_git_request_duration",
            "Time of Git requests",
            prometheus_client::registry::Unit::Seconds,
            git_duration.clone(),
        );
        let shard_owned = Gauge::default();
        registry.register("gitops_shard_applications", "Applications this replica owns", shard_owned.clone());
        let shard_members = Gauge::default();
        registry.register("gitops_shard_members", "Replicas of the agent group seen", shard_members.clone());
        let shard_handovers = Counter::default();
        registry.register(
            "gitops_shard_handovers",
            "Applications handed over to this replica",
            shard_handovers.clone(),
        );
        let lease_renew = Histogram::new(LEASE_BUCKETS);
        registry.register_with_unit(
            "gitops_shard_lease_renew",
            "Time of the Lease renewals that succeeded",
            prometheus_client::registry::Unit::Seconds,
            lease_renew.clone(),
        );
        let lease_renew_failures = Counter::default();
        registry.register(
            "gitops_shard_lease_renew_failures",
            "Lease renewals that failed",
            lease_renew_failures.clone(),
        );
        Self {
            registry,
            reconcile,
            sync,
            objects,
            drift,
            errors,
            info,
            git_requests,
            git_duration,
            shard_owned,
            shard_members,
            shard_handovers,
            handovers_seen: 0,
            lease_renew,
            lease_renew_failures,
        }
    }

    /// Records one pass's results.
    pub fn record(&self, passes: &[PassResult]) {
        for p in passes {
            let app = AppLabels { name: p.app.clone() };
            self.reconcile.get_or_create(&app).observe(p.duration.as_secs_f64());
            match &p.result {
                Ok(r) => {
                    for res in &r.resources {
                        let labels = ObjectLabels { app: p.app.clone(), action: format!("{:?}", res.action) };
                        self.objects.get_or_create(&labels).inc();
                        if !res.drift.is_empty() {
                            self.drift.get_or_create(&app).inc();
                        }
                    }
                    let wrote = r
                        .resources
                        .iter()
                        .any(|x| matches!(x.action, Action::Created | Action::Updated | Action::Pruned));
                    if wrote || r.count(Action::Failed) > 0 {
                        let phase = if r.succeeded() { "Succeeded" } else { "Failed" };
                        self.sync.get_or_create(&SyncLabels { name: p.app.clone(), phase: phase.into() }).inc();
                    }
                }
                Err(_) => {
                    self.errors.get_or_create(&app).inc();
                    self.sync.get_or_create(&SyncLabels { name: p.app.clone(), phase: "Error".into() }).inc();
                }
            }
        }
    }

    /// Records a Git request.
    pub fn git_request(&self, repo: &str, seconds: f64) {
        let labels = GitLabels { repo: repo.to_string(), request_type: "fetch".into() };
        self.git_requests.get_or_create(&labels).inc();
        self.git_duration.get_or_create(&labels).observe(seconds);
    }

    /// Brings the shard metrics up to the manager's and membership's counters.
    pub fn shard(&mut self, owned: usize, handovers: u64, stats: Option<&gitops_sync::shard::MembershipStats>) {
        self.shard_owned.set(owned as i64);
        self.shard_handovers.inc_by(handovers.saturating_sub(self.handovers_seen));
        self.handovers_seen = self.handovers_seen.max(handovers);
        if let Some(s) = stats {
            self.shard_members.set(s.members.len() as i64);
        }
    }

    /// The observer of Lease renewals, for [`gitops_sync::shard::Membership::set_observer`].
    pub fn lease_observer(&self) -> impl Fn(std::time::Duration, bool) + Send + Sync + 'static {
        let (latency, failures) = (self.lease_renew.clone(), self.lease_renew_failures.clone());
        move |took, ok| {
            if ok {
                latency.observe(took.as_secs_f64());
            } else {
                failures.inc();
            }
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
