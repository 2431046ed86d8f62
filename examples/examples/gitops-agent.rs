//! `gitops-agent`: the reconciler as a program. See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use gitops_examples::agent::{Agent, Config, Sharding};

/// Keeps clusters equal to Git, configured by Argo CD Application manifests: fetches each
/// application's repository, renders its path (Kustomize or plain manifests), unseals
/// SealedSecrets, diffs against the cluster, applies with server-side apply, prunes what left
/// Git (ApplySet), and reverts manual drift as soon as the watch sees it.
#[derive(Parser, Debug)]
#[command(
    name = "gitops-agent",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  gitops-agent --app-namespace argocd                    # in a cluster, as Argo CD's controller
  gitops-agent --app apps/ --once --wait                 # one pass over manifests, wait for health
  gitops-agent --app-namespace argocd --replicas-lease-namespace argocd   # one of several replicas
  gitops-agent --app apps/ --embedded --listen 127.0.0.1:8080             # no cluster at all

Exit codes: 0 every application synced (--once), or stopped cleanly; 1 an application is out of
sync or failed (--once); 2 a usage or input error.
`gitops-agent completion bash|zsh|fish` prints shell completions, `gitops-agent man` the man page."
)]
struct Cli {
    /// Application manifests: a file, or a directory of YAML files (repeatable).
    #[arg(long = "app", value_name = "FILE|DIR", help_heading = "Applications")]
    apps: Vec<PathBuf>,
    /// Reconcile the Application resources of this namespace, as Argo CD's application
    /// controller does: status, .operation, refresh, finalizers (repeatable; mixes with --app).
    #[arg(long = "app-namespace", value_name = "NS", help_heading = "Applications")]
    app_namespaces: Vec<String>,
    /// Read destination clusters from the cluster Secrets of this namespace (labelled
    /// argocd.argoproj.io/secret-type=cluster, as Argo CD declares them; repeatable; default:
    /// the --app-namespace namespaces).
    #[arg(long = "cluster-secrets-namespace", value_name = "NS", help_heading = "Applications")]
    cluster_namespaces: Vec<String>,

    /// The kubeconfig (else KUBECONFIG, else the in-cluster configuration).
    #[arg(long, env = "KUBECONFIG", value_name = "FILE", help_heading = "Cluster")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (else its current one).
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    context: Option<String>,
    /// Start the embedded test API server (gitops-testkit) instead; its kubeconfig is written
    /// into the cache directory.
    #[arg(long, conflicts_with = "kubeconfig", help_heading = "Cluster")]
    embedded: bool,

    /// One pass; exit 0 when every application synced, 1 otherwise.
    #[arg(long, help_heading = "Mode")]
    once: bool,
    /// With --once: wait for health; fail on Degraded or timeout.
    #[arg(long, requires = "once", help_heading = "Mode")]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = seconds, help_heading = "Mode")]
    timeout: Duration,
    /// Compute and report diffs, never write.
    #[arg(long, help_heading = "Mode")]
    dry_run: bool,
    /// Time between full passes, in seconds (drift is healed at once).
    #[arg(long, value_name = "SECONDS", default_value = "180", value_parser = seconds, help_heading = "Mode")]
    interval: Duration,

    /// Share the applications with the other replicas: `auto` (Leases; the default with
    /// --replicas-lease-namespace or in a pod) or a fixed count M with --shard N.
    #[arg(long, value_name = "auto|M", help_heading = "Replicas")]
    shards: Option<String>,
    /// This replica's fixed shard, from 0 (with --shards M).
    #[arg(long, value_name = "N", requires = "shards", help_heading = "Replicas")]
    shard: Option<usize>,
    /// The namespace of the replicas' Leases (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", value_name = "NS", help_heading = "Replicas")]
    replicas_lease_namespace: Option<String>,
    /// This replica's name, its Lease's name (in a pod: the pod's name; else the host name).
    #[arg(long, env = "POD_NAME", value_name = "NAME", help_heading = "Replicas")]
    replica_name: Option<String>,
    /// The group whose replicas share the work (the Leases' gitops.dev/agent-group label).
    #[arg(long, default_value = "gitops-agent", value_name = "NAME", help_heading = "Replicas")]
    replicas_group: String,
    /// How long a replica's Lease lives without renewal, in seconds.
    #[arg(long, default_value = "15", value_name = "SECONDS", value_parser = seconds, help_heading = "Replicas")]
    lease_duration: Duration,

    /// Sealed Secrets private keys (PEM, or key-Secret backups); else the controller's key
    /// Secrets are read from --sealed-keys-namespace.
    #[arg(long, value_name = "DIR", help_heading = "Secrets and repositories")]
    sealed_keys: Option<PathBuf>,
    /// Where the Sealed Secrets controller keeps its keys.
    #[arg(long, default_value = "kube-system", value_name = "NS", help_heading = "Secrets and repositories")]
    sealed_keys_namespace: String,
    /// The web UI's and API's actions (sync, refresh, rollback) need a bearer token, read from
    /// this file: one token, or lines NAME:TOKEN, one per person (actions and history name
    /// them); without a token the UI is read-only.
    #[arg(long, value_name = "FILE", help_heading = "Web UI")]
    web_token_file: Option<PathBuf>,
    /// Serve --listen over HTTPS with this certificate chain (PEM; with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key", help_heading = "Web UI")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "Web UI")]
    tls_key: Option<PathBuf>,
    /// Git webhooks at POST /api/webhook: GitHub's webhook secret, in a file (HMAC-SHA256).
    #[arg(long, value_name = "FILE", help_heading = "Web UI")]
    webhook_github_secret_file: Option<PathBuf>,
    /// GitLab's webhook secret token, in a file.
    #[arg(long, value_name = "FILE", help_heading = "Web UI")]
    webhook_gitlab_secret_file: Option<PathBuf>,
    /// Bitbucket's webhook secret, in a file (HMAC-SHA256).
    #[arg(long, value_name = "FILE", help_heading = "Web UI")]
    webhook_bitbucket_secret_file: Option<PathBuf>,
    /// The same token(s) from a Secret (NAMESPACE/NAME, entry `token`).
    #[arg(long, value_name = "NS/NAME", help_heading = "Web UI")]
    web_token_secret: Option<String>,
    /// SOPS keys: an age identity file, an armored OpenPGP secret key (.asc) or an OpenSSH
    /// ed25519 key (repeatable); SOPS_AGE_KEY_FILE, SOPS_AGE_KEY,
    /// SOPS_AGE_SSH_PRIVATE_KEY_FILE and SOPS_PGP_KEY_FILE are read too.
    #[arg(long = "sops-key-file", value_name = "FILE", help_heading = "Secrets and repositories")]
    sops_key_files: Vec<PathBuf>,
    /// SOPS keys from a Secret (NAMESPACE/NAME): entries named *.agekey (age) and *.asc
    /// (OpenPGP), as Flux's decryption.secretRef.
    #[arg(long, value_name = "NS/NAME", help_heading = "Secrets and repositories")]
    sops_keys_secret: Option<String>,
    /// Where Git repositories are cached (default $TMPDIR/gitops-agent-cache).
    #[arg(long, value_name = "DIR", help_heading = "Secrets and repositories")]
    cache_dir: Option<PathBuf>,
    /// SSH private key for ssh:// and git@host:path repositories.
    #[arg(long, value_name = "FILE", help_heading = "Secrets and repositories")]
    ssh_key: Option<PathBuf>,
    /// The SSH key's passphrase, read from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Secrets and repositories")]
    ssh_passphrase_env: Option<String>,
    /// known_hosts for SSH (host keys are always checked; default ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE", help_heading = "Secrets and repositories")]
    known_hosts: Option<PathBuf>,
    /// Accept any SSH host key (an explicit opt-out).
    #[arg(long, help_heading = "Secrets and repositories")]
    insecure_ignore_host_key: bool,
    /// HTTPS bearer token, read from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Secrets and repositories")]
    https_token_env: Option<String>,
    /// HTTPS basic authentication user (with --https-password-env).
    #[arg(long, value_name = "USER", help_heading = "Secrets and repositories")]
    https_user: Option<String>,
    /// HTTPS basic authentication password, read from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Secrets and repositories")]
    https_password_env: Option<String>,
    /// CA bundle for HTTPS repositories.
    #[arg(long, value_name = "FILE", help_heading = "Secrets and repositories")]
    ca_file: Option<PathBuf>,
    /// Inflate Kustomize helmCharts with the helm v3 binary.
    #[arg(long, help_heading = "Secrets and repositories")]
    enable_helm: bool,
    /// That binary (implies --enable-helm).
    #[arg(long, value_name = "CMD", help_heading = "Secrets and repositories")]
    helm_command: Option<PathBuf>,
    /// Allow remote Kustomize bases and files under this URL prefix only (repeatable; e.g.
    /// https://github.com/my-org/). Without it: any https or ssh URL whose host is not
    /// localhost or an internal address; file:// and http:// are refused.
    #[arg(long, value_name = "PREFIX", help_heading = "Secrets and repositories")]
    remote_base_allow: Vec<String>,
    /// Stop a Git fetch whose pack grows past this many bytes (and forget what it received).
    #[arg(long, value_name = "BYTES", default_value_t = gitops_git::DEFAULT_MAX_PACK_BYTES, help_heading = "Secrets and repositories")]
    max_pack_bytes: u64,
    /// Stop a Git fetch of more than this many objects (and forget what it received).
    #[arg(long, value_name = "N", default_value_t = gitops_git::DEFAULT_MAX_PACK_OBJECTS, help_heading = "Secrets and repositories")]
    max_pack_objects: u64,
    /// Refuse to read a file larger than this from a repository.
    #[arg(long, value_name = "BYTES", default_value_t = gitops_git::DEFAULT_MAX_FILE_BYTES, help_heading = "Secrets and repositories")]
    max_file_bytes: u64,

    /// Serve /healthz, /metrics (Prometheus), the status page and POST /refresh/<app> (a Git
    /// webhook's target) on this address, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR", help_heading = "Service")]
    listen: Option<std::net::SocketAddr>,
    /// Applications reconciled at once.
    #[arg(long, default_value = "16", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Service")]
    concurrency: u32,
    /// Log format (RUST_LOG sets the level; default info).
    #[arg(long, value_enum, default_value = "text", help_heading = "Service")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn seconds(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && s.is_finite())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{v}` is not a positive number of seconds that fits a duration"))
}

fn env_secret(flag: &str, var: &str) -> Result<String, String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{flag}: environment variable {var} is not set"))
}

fn config(cli: Cli) -> Result<Config, String> {
    let mut c = Config {
        apps: cli.apps,
        app_namespaces: cli.app_namespaces,
        cluster_namespaces: cli.cluster_namespaces,
        kubeconfig: cli.kubeconfig,
        context: cli.context,
        embedded: cli.embedded,
        once: cli.once,
        wait: cli.wait,
        timeout: cli.timeout,
        dry_run: cli.dry_run,
        interval: cli.interval,
        listen: cli.listen,
        sealed_keys: cli.sealed_keys,
        sealed_keys_namespace: cli.sealed_keys_namespace,
        sops_key_files: cli.sops_key_files,
        web_token_file: cli.web_token_file,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
        webhook_github_secret_file: cli.webhook_github_secret_file,
        webhook_gitlab_secret_file: cli.webhook_gitlab_secret_file,
        webhook_bitbucket_secret_file: cli.webhook_bitbucket_secret_file,
        web_token_secret: cli.web_token_secret,
        sops_keys_secret: cli.sops_keys_secret,
        concurrency: cli.concurrency as usize,
        ..Config::default()
    };
    if let Some(dir) = cli.cache_dir {
        c.cache_dir = dir;
    }
    c.credentials.ssh_key = cli.ssh_key;
    if let Some(var) = cli.ssh_passphrase_env {
        c.credentials.ssh_passphrase = Some(env_secret("--ssh-passphrase-env", &var)?);
    }
    c.credentials.known_hosts = cli.known_hosts;
    c.credentials.insecure_accept_any_host_key = cli.insecure_ignore_host_key;
    if let Some(var) = cli.https_token_env {
        c.credentials.bearer_token = Some(env_secret("--https-token-env", &var)?);
    }
    c.credentials.username = cli.https_user;
    if let Some(var) = cli.https_password_env {
        c.credentials.password = Some(env_secret("--https-password-env", &var)?);
    }
    c.credentials.ca_file = cli.ca_file;
    c.remote_allow = cli.remote_base_allow;
    c.git_limits = gitops_examples::agent::GitLimits {
        pack_bytes: cli.max_pack_bytes,
        pack_objects: cli.max_pack_objects,
        file_bytes: cli.max_file_bytes,
    };
    if cli.enable_helm || cli.helm_command.is_some() {
        let helm = c.helm.get_or_insert_with(Default::default);
        if let Some(cmd) = cli.helm_command {
            helm.command = cmd;
        }
    }
    if c.apps.is_empty() && c.app_namespaces.is_empty() {
        return Err("--app or --app-namespace is required".into());
    }
    c.progress = gitops_examples::progress::Progress::on_terminal();
    c.sharding = sharding(
        cli.shards.as_deref(),
        cli.shard,
        cli.replicas_lease_namespace,
        cli.replica_name,
        cli.replicas_group,
        cli.lease_duration,
    )?;
    Ok(c)
}

/// `--shards auto|M`, `--shard N` and the Lease flags as one choice.
fn sharding(
    shards: Option<&str>,
    shard: Option<usize>,
    namespace: Option<String>,
    name: Option<String>,
    group: String,
    lease: Duration,
) -> Result<Sharding, String> {
    let identity = || {
        name.clone()
            .filter(|n| !n.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .ok_or_else(|| "--replica-name is required (no POD_NAME or HOSTNAME)".to_string())
    };
    match (shards, shard) {
        (Some("auto"), Some(_)) => Err("--shard goes with --shards M, not auto".into()),
        (Some("auto"), None) | (None, None) if namespace.is_some() => Ok(Sharding::Leases {
            namespace: namespace.unwrap_or_default(),
            group,
            identity: identity()?,
            lease_duration: lease,
        }),
        (Some("auto"), None) => Err("--shards auto needs --replicas-lease-namespace (or POD_NAMESPACE)".into()),
        (None, _) => Ok(Sharding::None),
        (Some(m), n) => {
            let m: usize =
                m.parse().ok().filter(|m| *m > 0).ok_or(format!("--shards: `{m}` is neither auto nor a count"))?;
            let n = n.ok_or("--shards M needs --shard N")?;
            if n >= m {
                return Err(format!("--shard {n} is not one of 0..{m}"));
            }
            Ok(Sharding::Static { shard: n, shards: m })
        }
    }
}

/// mimalloc: the agent holds every managed object in its cache and diffs them on every
/// pass; mimalloc packs them more tightly than the system allocator (`cargo bench --bench diff`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("gitops-agent") {
        return code;
    }
    let cli = Cli::parse();
    let log_format = cli.log_format;
    let config = match config(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if log_format == LogFormat::Json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(gitops_examples::colour_on_stderr())
            .init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(config)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(config: Config) -> Result<bool, gitops_examples::agent::Error> {
    let agent = Arc::new(Agent::start(&config).await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = config.listen {
        let mut rx = stop_rx.clone();
        agent
            .clone()
            .serve(addr, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await?;
    }
    if config.once {
        let ok = agent.once(config.wait, config.timeout).await?;
        let _ = stop_tx.send(true);
        return Ok(ok);
    }
    let shutdown = async {
        terminated().await;
        tracing::info!("stopping after the current pass");
    };
    agent.run(config.interval, shutdown).await;
    let _ = stop_tx.send(true);
    Ok(true)
}

/// Ctrl-C, or SIGTERM (as Kubernetes stops a pod).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
