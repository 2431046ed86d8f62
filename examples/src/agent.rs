//! The reconciler as a program (the `gitops-agent` example): Applications from files, a
//! cluster from a kubeconfig, in-cluster config or the embedded test server, Sealed Secrets
//! keys from a directory or the cluster, one pass (`--once`) or a loop with watch-driven
//! self-heal, structured logs, `/healthz`, Prometheus `/metrics` and a read-only status page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gitops_core::{Cluster, GroupVersionKind, Object, Revision, Source};
use gitops_git::GitSource;
use gitops_render::AutoRenderer;
use gitops_secrets::keys::KEY_LABEL;
use gitops_secrets::sops::SopsRenderer;
use gitops_secrets::{KeyRing, SealedSecretsDecryptor};
use gitops_sync::engine::Action;
use gitops_sync::{Application, KubeCluster, Manager, ManagerOptions, PassResult, Reconciler, SyncStatus};

/// The agent's error type.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the agent runs with (the command-line flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Application manifests: files, or directories of `*.yaml`/`*.yml`.
    pub apps: Vec<PathBuf>,
    /// Namespaces whose Application resources are reconciled (the controller mode).
    pub app_namespaces: Vec<String>,
    /// Namespaces whose cluster Secrets (`argocd.argoproj.io/secret-type: cluster`) declare
    /// destination clusters; empty: the application namespaces.
    pub cluster_namespaces: Vec<String>,
    /// A kubeconfig file (else `KUBECONFIG`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (else its current one).
    pub context: Option<String>,
    /// Start the embedded test API server instead of using a cluster.
    pub embedded: bool,
    /// One pass, then exit.
    pub once: bool,
    /// With `once`: wait for health, failing on Degraded or timeout.
    pub wait: bool,
    /// How long `wait` waits.
    pub timeout: Duration,
    /// Compute and report, never write.
    pub dry_run: bool,
    /// Time between full passes.
    pub interval: Duration,
    /// Where `/healthz`, `/metrics` and the status page listen (`None`: no server).
    pub listen: Option<SocketAddr>,
    /// Sealed Secrets keys: PEM files or key-Secret backups in this directory.
    pub sealed_keys: Option<PathBuf>,
    /// Else read the controller's key Secrets from this namespace of the cluster.
    pub sealed_keys_namespace: String,
    /// SOPS: age identity files (`AGE-SECRET-KEY-1...` lines) and armored OpenPGP secret key
    /// files (`.asc`), besides the keys `sops` reads from the environment.
    pub sops_key_files: Vec<PathBuf>,
    /// The listener's certificate chain (PEM): with `tls_key`, `--listen` serves HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// The listener's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Git webhooks (`POST /api/webhook`): GitHub's secret, in a file.
    pub webhook_github_secret_file: Option<PathBuf>,
    /// GitLab's secret token, in a file.
    pub webhook_gitlab_secret_file: Option<PathBuf>,
    /// Bitbucket's secret, in a file.
    pub webhook_bitbucket_secret_file: Option<PathBuf>,
    /// The web UI's action token: a file holding it.
    pub web_token_file: Option<PathBuf>,
    /// The web UI's action token: a Secret (`namespace/name`) whose `token` entry holds it.
    pub web_token_secret: Option<String>,
    /// SOPS: a Secret (`namespace/name`) whose data entries hold keys, named as Flux names
    /// them: `*.agekey` (age identities), `*.asc` (OpenPGP secret keys).
    pub sops_keys_secret: Option<String>,
    /// Where Git repositories are cached.
    pub cache_dir: PathBuf,
    /// Applications reconciled at once.
    pub concurrency: usize,
    /// The field manager of applies.
    pub field_manager: String,
    /// Repository credentials, for every repository URL.
    pub credentials: gitops_git::Credentials,
    /// Inflate `helmCharts` with this helm v3 binary (`kubectl kustomize --enable-helm`);
    /// `None`: charts are an error.
    pub helm: Option<gitops_render::HelmOptions>,
    /// URL prefixes of the remote Kustomize bases and files repositories may name
    /// (`--remote-base-allow`); empty: any https or ssh URL to a host that is not internal.
    pub remote_allow: Vec<String>,
    /// How much a repository may hold before a fetch or a read of it is refused.
    pub git_limits: GitLimits,
    /// Credentials for Helm chart repositories (Applications with `spec.source.chart`).
    pub helm_credentials: Vec<gitops_render::HelmCredentials>,
    /// How the applications are shared with other replicas.
    pub sharding: Sharding,
    /// Progress bars (fetches, the applications of `--once`, `--wait`'s countdown): the
    /// binary turns them on when standard error is a terminal.
    pub progress: crate::progress::Progress,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            app_namespaces: Vec::new(),
            cluster_namespaces: Vec::new(),
            kubeconfig: None,
            context: None,
            embedded: false,
            once: false,
            wait: false,
            timeout: Duration::from_secs(300),
            dry_run: false,
            interval: Duration::from_secs(180),
            listen: None,
            sealed_keys: None,
            sealed_keys_namespace: "kube-system".into(),
            sops_key_files: Vec::new(),
            sops_keys_secret: None,
            web_token_file: None,
            web_token_secret: None,
            tls_cert: None,
            tls_key: None,
            webhook_github_secret_file: None,
            webhook_gitlab_secret_file: None,
            webhook_bitbucket_secret_file: None,
            cache_dir: std::env::temp_dir().join("gitops-agent-cache"),
            concurrency: 16,
            field_manager: "gitops".into(),
            credentials: gitops_git::Credentials::default(),
            helm: None,
            helm_credentials: Vec::new(),
            remote_allow: Vec::new(),
            git_limits: GitLimits::default(),
            sharding: Sharding::None,
            progress: crate::progress::Progress::default(),
        }
    }
}

/// Limits on what a hostile repository can make the agent fetch or read
/// (`--max-pack-bytes`, `--max-pack-objects`, `--max-file-bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GitLimits {
    /// The largest pack a fetch receives.
    pub pack_bytes: u64,
    /// The most objects a fetch receives.
    pub pack_objects: u64,
    /// The largest file read from a repository.
    pub file_bytes: u64,
}

impl Default for GitLimits {
    fn default() -> Self {
        GitLimits {
            pack_bytes: gitops_git::DEFAULT_MAX_PACK_BYTES,
            pack_objects: gitops_git::DEFAULT_MAX_PACK_OBJECTS,
            file_bytes: gitops_git::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Reads every Application manifest of `paths` (files, or directories of YAML files).
pub fn load_apps(paths: &[PathBuf]) -> Result<Vec<Application>, Error> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err("no Application manifests: give --app FILE or --app DIR".into());
    }
    let mut apps: Vec<Application> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let app = Application::from_yaml(&text, &f.display().to_string())?;
        if apps.iter().any(|a| a.metadata.name == app.metadata.name) {
            return Err(format!("{}: a second Application named {}", f.display(), app.metadata.name).into());
        }
        apps.push(app);
    }
    Ok(apps)
}

pub use crate::metrics::Metrics;

/// How the agent shares applications with other replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Sharding {
    /// It owns every application.
    #[default]
    None,
    /// Fixed shards (`--shard N --shards M`).
    Static {
        /// This replica's shard, from 0.
        shard: usize,
        /// The number of shards.
        shards: usize,
    },
    /// Dynamic membership through Leases (`--shards auto`).
    Leases {
        /// The Leases' namespace.
        namespace: String,
        /// The agent group.
        group: String,
        /// This replica's name.
        identity: String,
        /// The Lease duration.
        lease_duration: Duration,
    },
}

/// A [`Source`] that times `resolve` (the fetch) into the metrics.
pub struct TimedSource<S> {
    inner: S,
    metrics: Arc<Mutex<Metrics>>,
}

#[async_trait]
impl<S: Source> Source for TimedSource<S> {
    type Tree = S::Tree;
    type Error = S::Error;

    async fn resolve(&self, repo_url: &str, reference: &str) -> Result<Revision, Self::Error> {
        let start = Instant::now();
        let r = self.inner.resolve(repo_url, reference).await;
        self.metrics.lock().expect("metrics lock").git_request(repo_url, start.elapsed().as_secs_f64());
        r
    }

    async fn open(&self, revision: &Revision) -> Result<Self::Tree, Self::Error> {
        self.inner.open(revision).await
    }

    async fn changed(&self, from: &Revision, to: &Revision, path: &str) -> Result<bool, Self::Error> {
        self.inner.changed(from, to, path).await
    }

    async fn message(&self, revision: &Revision) -> Option<String> {
        self.inner.message(revision).await
    }
}

type AgentManager = Manager<TimedSource<GitSource>, SopsRenderer<AutoRenderer>, SealedSecretsDecryptor, KubeCluster>;

/// A running agent: the manager and what the HTTP endpoints read.
pub struct Agent {
    /// The applications' manager.
    pub manager: Arc<AgentManager>,
    /// The cluster.
    pub cluster: KubeCluster,
    /// The metrics.
    pub metrics: Arc<Mutex<Metrics>>,
    /// The embedded server, when started.
    pub embedded: Option<gitops_testkit::TestCluster>,
    /// The controller of Application resources, with `--app-namespace`.
    pub controller: Option<Arc<AgentController>>,
    /// The membership of the agent group, with `--shards auto`.
    pub membership: Option<Arc<gitops_sync::shard::Membership>>,
    /// Progress bars, when on a terminal.
    pub progress: crate::progress::Progress,
    /// The bearer token that allows the web UI's and API's actions (`None`: read-only).
    pub web_token: Option<String>,
    /// The Git webhooks' secrets.
    pub webhooks: gitops_web::webhook::WebhookSecrets,
    /// The listener's certificate and key (HTTPS), when given.
    pub tls: Option<gitops_web::tls::TlsFiles>,
}

/// The agent's controller of Application resources.
pub type AgentController =
    gitops_sync::ApplicationController<TimedSource<GitSource>, SopsRenderer<AutoRenderer>, SealedSecretsDecryptor>;

/// Connects as the flags say: the embedded server, a kubeconfig (and context), or the inferred
/// configuration (KUBECONFIG, in-cluster); fails clearly when the cluster does not answer.
pub async fn connect(config: &Config) -> Result<(kube::Client, Option<gitops_testkit::TestCluster>), Error> {
    connect_counted(config, None).await
}

/// A client over `kconfig`, its requests counted by `layer` when given.
fn client(
    kconfig: kube::Config,
    layer: Option<&crate::metrics::KubeRequestLayer>,
) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(kconfig)?;
    Ok(match layer {
        Some(l) => builder.with_layer(l).build(),
        None => builder.build(),
    })
}

/// [`connect`], with every request counted into the metrics' `gitops_kube_request_total`.
pub async fn connect_counted(
    config: &Config,
    layer: Option<&crate::metrics::KubeRequestLayer>,
) -> Result<(kube::Client, Option<gitops_testkit::TestCluster>), Error> {
    if config.embedded {
        let testkit = gitops_testkit::TestCluster::start().await?;
        testkit.state().lock().map_err(|_| "state lock")?.simulation = gitops_testkit::Simulation::Healthy;
        let kubeconfig = config.cache_dir.join("embedded.kubeconfig");
        std::fs::create_dir_all(&config.cache_dir)?;
        std::fs::write(&kubeconfig, testkit.kubeconfig())?;
        tracing::info!(url = %testkit.url(), kubeconfig = %kubeconfig.display(), "embedded API server started");
        return Ok((client(testkit.config(), layer)?, Some(testkit)));
    }
    let kconfig = match &config.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let options = kube::config::KubeConfigOptions { context: config.context.clone(), ..Default::default() };
            kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            format!("no cluster configuration (give --kubeconfig, set KUBECONFIG, or run in a cluster): {e}")
        })?,
    };
    let url = kconfig.cluster_url.to_string();
    let client = client(kconfig, layer).map_err(|e| format!("{url}: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Ok(Ok(v)) => tracing::info!(url = %url, version = %v.git_version, "connected to the cluster"),
        Ok(Err(e)) => return Err(format!("cannot reach the cluster at {url}: {e}").into()),
        Err(_) => return Err(format!("cannot reach the cluster at {url}: no answer within 15s").into()),
    }
    Ok((client, None))
}

/// The Sealed Secrets keys: from `--sealed-keys`, else the controller's key Secrets in the cluster.
pub async fn key_ring(config: &Config, cluster: &KubeCluster) -> Result<KeyRing, Error> {
    let mut ring = KeyRing::new();
    match &config.sealed_keys {
        Some(dir) => {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("--sealed-keys {}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for p in entries {
                let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                ring.add_file_contents(&text, &p.display().to_string())?;
            }
        }
        None => {
            let gvk = GroupVersionKind::new("", "v1", "Secret");
            let selector = format!("{KEY_LABEL}=active");
            match cluster.list(&gvk, Some(&config.sealed_keys_namespace), &selector).await {
                Ok(secrets) => {
                    ring.add_controller_secrets(secrets.iter().map(Object::as_value), None)?;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read Sealed Secrets keys from the cluster"),
            }
        }
    }
    if ring.is_empty() {
        tracing::info!("no Sealed Secrets keys: SealedSecrets are applied as they are, for an in-cluster controller");
    } else {
        let fps: Vec<String> = ring.keys().iter().map(|k| k.fingerprint()).collect();
        tracing::info!(keys = %fps.join(","), "Sealed Secrets keys loaded; SealedSecrets are unsealed in-process");
    }
    Ok(ring)
}

/// The web UI's action tokens, from `--web-token-file` or `--web-token-secret` (`None`: the UI
/// is read-only): one token, or lines `NAME:TOKEN` naming who holds each (see
/// [`gitops_web::token_holders`]; a token shorter than 16 characters is refused).
pub async fn web_token(config: &Config, cluster: &KubeCluster) -> Result<Option<String>, Error> {
    let token = if let Some(f) = &config.web_token_file {
        Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("--web-token-file {}: {e}", f.display()))?
                .trim()
                .to_string(),
        )
    } else if let Some(reference) = &config.web_token_secret {
        let (ns, name) = reference
            .split_once('/')
            .ok_or_else(|| format!("--web-token-secret {reference:?}: expected NAMESPACE/NAME"))?;
        let secret = cluster
            .get(&GroupVersionKind::new("", "v1", "Secret"), ns, name)
            .await
            .map_err(|e| format!("--web-token-secret {reference}: {e}"))?
            .ok_or_else(|| format!("--web-token-secret {reference}: no such Secret"))?;
        let b64 = secret
            .get("/data/token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("--web-token-secret {reference}: no data.token"))?;
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
            .map_err(|_| format!("--web-token-secret {reference}: data.token is not base64"))?;
        Some(String::from_utf8_lossy(&bytes).trim().to_string())
    } else {
        None
    };
    if let Some(t) = &token {
        let from = match &config.web_token_file {
            Some(f) => format!("--web-token-file {}", f.display()),
            None => format!("--web-token-secret {}", config.web_token_secret.as_deref().unwrap_or_default()),
        };
        gitops_web::token_holders(t).map_err(|e| format!("{from}: {e}"))?;
    }
    Ok(token)
}

/// Credentials for Helm chart repositories: the configured ones, then Argo CD's repository
/// Secrets of the application namespaces (labelled `argocd.argoproj.io/secret-type:
/// repository` or `repo-creds`, with `type: helm`, `url`, `username`, `password`), so
/// Applications that Argo CD could pull charts for keep working. Values are never logged.
pub async fn helm_credentials(
    config: &Config,
    cluster: &KubeCluster,
) -> Result<Vec<gitops_render::HelmCredentials>, Error> {
    let mut out = config.helm_credentials.clone();
    let secret = GroupVersionKind::new("", "v1", "Secret");
    for ns in &config.app_namespaces {
        for kind in ["repository", "repo-creds"] {
            let selector = format!("argocd.argoproj.io/secret-type={kind}");
            let secrets = cluster.list(&secret, Some(ns), &selector).await.map_err(|e| format!("{ns}: {e}"))?;
            for s in secrets {
                let field = |k: &str| {
                    s.get(&format!("/data/{k}"))
                        .and_then(|v| v.as_str())
                        .and_then(|v| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v).ok())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                };
                if field("type") != "helm" || field("url").is_empty() {
                    continue;
                }
                tracing::info!(secret = %format!("{ns}/{}", s.name()), url = %field("url"), "Helm repository credentials");
                out.push(gitops_render::HelmCredentials {
                    url_prefix: field("url"),
                    username: field("username"),
                    password: field("password"),
                });
            }
        }
    }
    Ok(out)
}

/// The SOPS keys: those `sops` reads from the environment, `--sops-key-file`s, and the
/// `--sops-keys-secret` Secret's `*.agekey` and `*.asc` entries.
pub async fn sops_keys(config: &Config, cluster: &KubeCluster) -> Result<gitops_secrets::sops::Keys, Error> {
    let mut keys = gitops_secrets::sops::Keys::from_env()?;
    for f in &config.sops_key_files {
        let data = std::fs::read(f).map_err(|e| format!("--sops-key-file {}: {e}", f.display()))?;
        let name = f.display().to_string();
        if data.windows(15).any(|w| w == b"-----BEGIN PGP ") || name.ends_with(".asc") || name.ends_with(".gpg") {
            keys.add_pgp(&data, &name)?;
        } else if data.windows(35).any(|w| w == b"-----BEGIN OPENSSH PRIVATE KEY-----") {
            keys.add_ssh(&String::from_utf8_lossy(&data), &name)?;
        } else {
            keys.add_age(&String::from_utf8_lossy(&data), &name)?;
        }
    }
    if let Some(reference) = &config.sops_keys_secret {
        let (ns, name) = reference
            .split_once('/')
            .ok_or_else(|| format!("--sops-keys-secret {reference:?}: expected NAMESPACE/NAME"))?;
        let secret = cluster
            .get(&GroupVersionKind::new("", "v1", "Secret"), ns, name)
            .await
            .map_err(|e| format!("--sops-keys-secret {reference}: {e}"))?
            .ok_or_else(|| format!("--sops-keys-secret {reference}: no such Secret"))?;
        let data = secret.get("/data").and_then(|d| d.as_object()).cloned().unwrap_or_default();
        for (entry, value) in data {
            let bytes = value
                .as_str()
                .and_then(|v| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v).ok())
                .ok_or_else(|| format!("--sops-keys-secret {reference}: data.{entry} is not base64"))?;
            let source = format!("Secret {reference} data.{entry}");
            if entry.ends_with(".agekey") {
                keys.add_age(&String::from_utf8_lossy(&bytes), &source)?;
            } else if entry.ends_with(".asc") {
                keys.add_pgp(&bytes, &source)?;
            }
        }
    }
    if !keys.is_empty() {
        tracing::info!(keys = ?keys, "SOPS keys loaded; SOPS-encrypted files are decrypted when rendered");
    }
    Ok(keys)
}

impl Agent {
    /// Connects, loads keys and applications.
    pub async fn start(config: &Config) -> Result<Self, Error> {
        // Applications from files, or none when they come from the cluster (--app-namespace).
        let apps = if config.apps.is_empty() && !config.app_namespaces.is_empty() {
            Vec::new()
        } else {
            load_apps(&config.apps)?
        };
        let metrics = Arc::new(Mutex::new(Metrics::new()));
        let layer = metrics.lock().expect("metrics lock").kube_layer();
        let (client, embedded) = connect_counted(config, Some(&layer)).await?;
        let cluster = KubeCluster::with_cache(client);
        let ring = key_ring(config, &cluster).await?;
        let mut git = GitSource::new(&config.cache_dir)?
            .with_credentials("", config.credentials.clone())
            .with_max_pack_bytes(config.git_limits.pack_bytes)
            .with_max_pack_objects(config.git_limits.pack_objects)
            .with_max_file_bytes(config.git_limits.file_bytes);
        if let Some(report) = config.progress.fetches() {
            git = git.with_progress(report);
        }
        // Remote bases and remote files come through the same cache and credentials.
        let renderer = AutoRenderer {
            kustomize: gitops_render::Kustomize {
                remote: Some(git.remote_loader()),
                remote_files: Some(git.remote_file_loader()),
                // A repository may name remote bases; the agent fetches only what the policy
                // allows (https/ssh to public hosts by default, or the listed prefixes).
                remote_policy: Some(gitops_render::RemotePolicy { allow: config.remote_allow.clone() }),
                helm: config.helm.clone(),
                ..Default::default()
            },
            // Helm sources of Applications always render with helm, as in Argo CD; the
            // `--enable-helm` gate is Kustomize's, for `helmCharts`.
            helm: config.helm.clone().unwrap_or_default(),
            ..Default::default()
        };
        let renderer = SopsRenderer::new(renderer, Arc::new(sops_keys(config, &cluster).await?));
        let source = TimedSource { inner: git, metrics: metrics.clone() };
        let mut reconciler = Reconciler::new(source, renderer, SealedSecretsDecryptor::new(ring), cluster.clone());
        reconciler.dry_run = config.dry_run;
        reconciler.field_manager = config.field_manager.clone();
        // Helm is told the cluster's version and APIs, as Argo CD tells it.
        (reconciler.kube_version, reconciler.api_versions) =
            gitops_sync::cluster::helm_capabilities(cluster.client()).await;
        // Destinations in other clusters, declared as Argo CD declares them.
        let cluster_namespaces =
            if config.cluster_namespaces.is_empty() { &config.app_namespaces } else { &config.cluster_namespaces };
        if !cluster_namespaces.is_empty() {
            let secrets = gitops_sync::destinations::ClusterSecrets::new(
                cluster.client().clone(),
                cluster_namespaces,
                cluster.clone(),
            );
            reconciler.destinations = Some(Arc::new(secrets));
        }
        let reconciler = reconciler
            .with_charts(Arc::new(gitops_render::HelmRepositories::new(helm_credentials(config, &cluster).await?)));
        let options = ManagerOptions { concurrency: config.concurrency, ..ManagerOptions::default() };
        let manager = Arc::new(Manager::new(reconciler, apps, options));
        let controller = (!config.app_namespaces.is_empty()).then(|| {
            let options = gitops_sync::ControllerOptions {
                namespaces: config.app_namespaces.clone(),
                interval: config.interval,
                field_manager: config.field_manager.clone(),
            };
            Arc::new(gitops_sync::ApplicationController::new(manager.clone(), cluster.client().clone(), options))
        });
        let membership = match &config.sharding {
            Sharding::None => None,
            Sharding::Static { shard, shards } => {
                manager.set_ownership(Arc::new(gitops_sync::shard::StaticShards::new(*shard, *shards)?));
                tracing::info!(shard, shards, "fixed shard: this replica owns its share of the applications");
                None
            }
            Sharding::Leases { namespace, group, identity, lease_duration } => {
                let options = gitops_sync::shard::MembershipOptions::new(namespace, group, identity);
                let options = if *lease_duration == options.lease_duration {
                    options
                } else {
                    options.with_lease_duration(*lease_duration)
                };
                let membership = gitops_sync::shard::Membership::new(cluster.client().clone(), options);
                membership.set_observer(Arc::new(metrics.lock().expect("metrics lock").lease_observer()));
                manager.set_ownership(membership.clone());
                tracing::info!(%namespace, %group, %identity, "sharing the applications with the agent group's replicas through Leases");
                Some(membership)
            }
        };
        let web_token = web_token(config, &cluster).await?;
        let read_secret = |f: &Option<PathBuf>, flag: &str| -> Result<Option<String>, Error> {
            f.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map(|s| s.trim().to_string())
                        .map_err(|e| format!("{flag} {}: {e}", p.display()).into())
                })
                .transpose()
        };
        let webhooks = gitops_web::webhook::WebhookSecrets {
            github: read_secret(&config.webhook_github_secret_file, "--webhook-github-secret-file")?,
            gitlab: read_secret(&config.webhook_gitlab_secret_file, "--webhook-gitlab-secret-file")?,
            bitbucket: read_secret(&config.webhook_bitbucket_secret_file, "--webhook-bitbucket-secret-file")?,
        };
        Ok(Self {
            manager,
            cluster,
            metrics,
            embedded,
            controller,
            membership,
            progress: config.progress.clone(),
            web_token,
            webhooks,
            tls: match (&config.tls_cert, &config.tls_key) {
                (Some(cert), Some(key)) => Some(gitops_web::tls::TlsFiles { cert: cert.clone(), key: key.clone() }),
                (None, None) => None,
                _ => return Err("--tls-cert and --tls-key go together".to_string().into()),
            },
        })
    }

    /// Records and logs one pass.
    pub fn observe(&self, kind: &str, passes: &[PassResult]) {
        let stats = self.membership.as_ref().map(|m| m.stats());
        let mut metrics = self.metrics.lock().expect("metrics lock");
        metrics.record(passes);
        metrics.shard(self.manager.owned_count(), self.manager.handovers(), stats.as_ref());
        drop(metrics);
        log_passes(kind, passes);
    }

    /// One pass over every application; with `wait`, then waits for health. Returns whether
    /// every application synced (and became healthy).
    pub async fn once(&self, wait: bool, timeout: Duration) -> Result<bool, Error> {
        if let Some(c) = &self.controller {
            c.load().await.map_err(|e| format!("listing Applications: {e}"))?;
        }
        let bar = self.progress.bar(self.manager.states().len() as u64, "syncing applications");
        let passes = self
            .manager
            .reconcile_all_with(&|_| {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            })
            .await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        self.observe("reconcile", &passes);
        let mut ok = true;
        println!("{:<32} {:<10} {:<12} {:<14} message", "APPLICATION", "SYNC", "HEALTH", "REVISION");
        for state in self.manager.states() {
            let mut st = state.lock().await;
            let mut health = st.status.health;
            if wait && st.status.error.is_none() {
                if let Some(result) = &st.status.result {
                    let countdown =
                        self.progress.spinner(&format!("waiting for {} to be healthy", st.app.metadata.name));
                    let ticker = countdown.clone().map(|bar| {
                        let (name, started) = (st.app.metadata.name.clone(), std::time::Instant::now());
                        tokio::spawn(async move {
                            loop {
                                let left = timeout.saturating_sub(started.elapsed()).as_secs();
                                bar.set_message(format!("waiting for {name} to be healthy: {left}s left"));
                                tokio::time::sleep(Duration::from_millis(250)).await;
                            }
                        })
                    });
                    let target = self.manager.reconciler().target(&st.app).await?;
                    health = gitops_sync::engine::wait_healthy(target.cluster(&self.cluster), result, timeout).await?;
                    if let Some(t) = ticker {
                        t.abort();
                    }
                    if let Some(bar) = countdown {
                        bar.finish_and_clear();
                    }
                    st.status.health = health;
                }
                if health != gitops_sync::Health::Current {
                    ok = false;
                }
            }
            let synced = st.status.sync == SyncStatus::Synced && st.status.error.is_none();
            ok &= synced;
            let rev = st.status.revision.as_deref().map(|r| &r[..r.len().min(12)]).unwrap_or("-");
            let message = st.status.error.clone().unwrap_or_default();
            println!(
                "{:<32} {:<10} {:<12} {:<14} {}",
                st.app.metadata.name,
                format!("{:?}", st.status.sync),
                health.argo(),
                rev,
                message.lines().next().unwrap_or("")
            );
            if let Some(r) = &st.status.result {
                for res in r.resources.iter().filter(|x| !x.diff.is_empty()) {
                    println!("  {:?} {}:\n{}", res.action, res.key, indent(&res.diff, "    "));
                }
            }
        }
        // Application resources get their status (with the health waited for).
        if let Some(c) = &self.controller {
            c.write_statuses(&passes).await;
        }
        Ok(ok)
    }

    /// Runs until `shutdown`: passes every `interval`, self-heal from the watch.
    /// With Leases, the replica joins its group first, and on `shutdown` stops working
    /// before it releases its Lease, so the others take over at once and never alongside it.
    pub async fn run(self: &Arc<Self>, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        let me = self.clone();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let member = self.membership.as_ref().map(|m| {
            m.spawn(async move {
                let _ = release_rx.await;
            })
        });
        if let Some(c) = &self.controller {
            c.clone().run(shutdown, move |kind, passes| me.observe(kind, passes)).await;
        } else {
            self.manager
                .run(interval, self.cluster.changes(), shutdown, move |kind, passes| me.observe(kind, passes))
                .await;
        }
        let _ = release_tx.send(());
        if let Some(task) = member {
            let _ = task.await;
        }
    }

    /// The metrics, with `gitops_app_info` made from the applications' states now.
    pub async fn metrics_text(&self) -> String {
        let ownership = self.manager.ownership();
        let mut info = Vec::new();
        for state in self.manager.states() {
            let st = state.lock().await;
            let namespace = st.app.metadata.namespace.clone().unwrap_or_default();
            let owner = ownership.as_ref().and_then(|o| o.owner(&namespace, &st.app.metadata.name)).unwrap_or_default();
            info.push(crate::metrics::InfoLabels {
                name: st.app.metadata.name.clone(),
                namespace,
                project: st.app.spec.project.clone().unwrap_or_else(|| "default".into()),
                repo: st.app.source().repo_url.clone(),
                dest_namespace: st.app.namespace().to_string(),
                sync_status: format!("{:?}", st.status.sync),
                health_status: st.status.health.argo().to_string(),
                owner,
            });
        }
        let stats = self.membership.as_ref().map(|m| m.stats());
        let mut metrics = self.metrics.lock().expect("metrics lock");
        metrics.shard(self.manager.owned_count(), self.manager.handovers(), stats.as_ref());
        metrics.info.clear();
        for labels in info {
            metrics.info.get_or_create(&labels).set(1);
        }
        metrics.render()
    }

    /// Serves `/healthz`, `/metrics`, the web UI and its `/api/v1` (gitops-web), and
    /// `POST /refresh/<app>` (reconcile one application now, for a Git webhook) on `addr` until
    /// `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<SocketAddr, Error> {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("--listen {addr}: {e}"))?;
        let bound = listener.local_addr()?;
        let m = self.clone();
        let mut backend = gitops_web::ManagerBackend::new(self.manager.clone());
        if let Some(c) = &self.controller {
            // Applications are resources: the web's actions are recorded in their status.
            backend = backend.with_recorder(c.clone());
        }
        let web = gitops_web::router(
            Arc::new(backend),
            gitops_web::WebOptions {
                token: self.web_token.clone(),
                webhooks: self.webhooks.clone(),
                ..Default::default()
            },
        );
        let app = axum::Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/metrics",
                get(move || {
                    let m = m.clone();
                    async move {
                        let text = m.metrics_text().await;
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            text,
                        )
                    }
                }),
            )
            .merge(web);
        let tls = self.tls.as_ref().map(gitops_web::tls::server_config).transpose()?;
        let https = tls.is_some();
        gitops_web::tls::spawn(listener, app, tls, shutdown);
        tracing::info!(addr = %bound, https, read_only = self.web_token.is_none(), "serving /healthz, /metrics, the web UI and /api/v1");
        Ok(bound)
    }
}

fn log_passes(kind: &str, passes: &[PassResult]) {
    for p in passes {
        match &p.result {
            Ok(r) => {
                let changed = r.count(Action::Created) + r.count(Action::Updated) + r.count(Action::Pruned);
                if changed > 0 || r.count(Action::Failed) > 0 {
                    tracing::info!(
                        pass = kind,
                        app = %p.app,
                        created = r.count(Action::Created),
                        updated = r.count(Action::Updated),
                        pruned = r.count(Action::Pruned),
                        failed = r.count(Action::Failed),
                        unchanged = r.count(Action::Unchanged),
                        ms = p.duration.as_millis() as u64,
                        "synced"
                    );
                } else {
                    tracing::debug!(pass = kind, app = %p.app, ms = p.duration.as_millis() as u64, "in sync");
                }
            }
            Err(e) => tracing::error!(pass = kind, app = %p.app, error = %e, "reconcile failed"),
        }
    }
}

fn indent(text: &str, pad: &str) -> String {
    text.lines().map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n")
}
