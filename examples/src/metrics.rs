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
    kube_requests: Family<KubeLabels, Counter>,
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
        let kube_requests = Family::<KubeLabels, Counter>::default();
        registry.register(
            "gitops_kube_request",
            "Kubernetes API requests by verb and status code",
            kube_requests.clone(),
        );
        Self {
            kube_requests,
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

    /// The layer that counts the Kubernetes API requests of a client.
    pub fn kube_layer(&self) -> KubeRequestLayer {
        KubeRequestLayer { counts: self.kube_requests.clone() }
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

/// A request to the Kubernetes API and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeLabels {
    /// `get`, `list`, `watch`, `create`, `update`, `patch` or `delete` (a GET naming no object
    /// counts as a list).
    pub verb: String,
    /// The HTTP status code, or `error` when no answer came.
    pub code: String,
}

/// A tower layer over kube-client's HTTP service that counts every request by verb and code
/// into `gitops_kube_request_total`.
#[derive(Clone)]
pub struct KubeRequestLayer {
    counts: Family<KubeLabels, Counter>,
}

impl<S> tower::Layer<S> for KubeRequestLayer {
    type Service = KubeRequests<S>;
    fn layer(&self, inner: S) -> Self::Service {
        KubeRequests { inner, counts: self.counts.clone() }
    }
}

/// The service of [`KubeRequestLayer`].
#[derive(Clone)]
pub struct KubeRequests<S> {
    inner: S,
    counts: Family<KubeLabels, Counter>,
}

/// The Kubernetes verb of a request, from its method, path and query.
fn verb<B>(req: &http::Request<B>) -> &'static str {
    let query = req.uri().query().unwrap_or("");
    let watch = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    match *req.method() {
        http::Method::GET if watch => "watch",
        http::Method::GET => {
            // After /api/v1 or /apis/GROUP/VERSION (and namespaces/NS for a namespaced
            // resource): RESOURCE is a list, RESOURCE/NAME[/SUBRESOURCE] a get.
            let parts: Vec<&str> = req.uri().path().split('/').filter(|p| !p.is_empty()).collect();
            let skip = match parts.first() {
                Some(&"api") => 2,
                Some(&"apis") => 3,
                _ => parts.len(),
            };
            let mut rest = parts.get(skip..).unwrap_or(&[]);
            if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
                rest = &rest[2..];
            }
            if rest.len() >= 2 { "get" } else { "list" }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for KubeRequests<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let verb = verb(&req).to_string();
        let counts = self.counts.clone();
        let future = self.inner.call(req);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            counts.get_or_create(&KubeLabels { verb, code }).inc();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::verb;

    #[test]
    fn verbs_from_paths() {
        let req = |m: http::Method, uri: &str| http::Request::builder().method(m).uri(uri).body(()).unwrap();
        assert_eq!(verb(&req(http::Method::GET, "/api/v1/namespaces/a/pods")), "list");
        assert_eq!(verb(&req(http::Method::GET, "/api/v1/namespaces/a/pods/p")), "get");
        assert_eq!(verb(&req(http::Method::GET, "/api/v1/namespaces")), "list");
        assert_eq!(verb(&req(http::Method::GET, "/api/v1/namespaces/a")), "get");
        assert_eq!(verb(&req(http::Method::GET, "/apis/apps/v1/deployments")), "list");
        assert_eq!(verb(&req(http::Method::GET, "/apis/apps/v1/namespaces/a/deployments/d")), "get");
        assert_eq!(verb(&req(http::Method::GET, "/apis/apps/v1/namespaces/a/deployments/d/status")), "get");
        assert_eq!(verb(&req(http::Method::GET, "/apis/apps/v1/namespaces/a/deployments?watch=true")), "watch");
        assert_eq!(verb(&req(http::Method::PATCH, "/api/v1/namespaces/a/configmaps/c")), "patch");
    }
}
