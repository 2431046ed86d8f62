//! `gitops-agent`: the reconciler as a program. See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use gitops_examples::agent::{Agent, Config};
use gitops_examples::args::{Arg, Args};

const USAGE: &str = "usage: gitops-agent (--app FILE|DIR | --app-namespace NS) [...] [flags]

Keeps clusters equal to Git, configured by Argo CD Application manifests: fetches each
application's repository, renders its path (Kustomize or plain manifests), unseals
SealedSecrets, diffs against the cluster, applies with server-side apply, prunes what left
Git (ApplySet), and reverts manual drift as soon as the watch sees it.

applications:
  --app FILE|DIR           Application manifests (repeatable)
  --app-namespace NS       reconcile the Application resources of namespace NS, as Argo CD's
                           application controller does: status, .operation, refresh,
                           finalizers (repeatable; mixes with --app)

cluster:
  --kubeconfig FILE        kubeconfig (else KUBECONFIG, else in-cluster config)
  --context NAME           kubeconfig context (else the current one)
  --embedded               start the embedded test API server (gitops-testkit) instead;
                           its kubeconfig is written into the cache directory

mode:
  --once                   one pass; exit 0 when every application synced, 1 otherwise
  --wait                   with --once: wait for health; fail on Degraded or timeout
  --timeout SECONDS        how long --wait waits (default 300)
  --dry-run                compute and report diffs, never write
  --interval SECONDS       time between full passes (default 180); drift is healed at once

secrets and repositories:
  --sealed-keys DIR        Sealed Secrets private keys (PEM, or key-Secret backups); else the
                           controller's key Secrets are read from --sealed-keys-namespace
  --sealed-keys-namespace NS   (default kube-system)
  --cache-dir DIR          where Git repositories are cached (default $TMPDIR/gitops-agent-cache)
  --ssh-key FILE           SSH private key for ssh:// and git@host:path repositories
  --ssh-passphrase-env VAR its passphrase, read from environment variable VAR
  --known-hosts FILE       known_hosts for SSH (host keys are always checked; default ~/.ssh/known_hosts)
  --insecure-ignore-host-key  accept any SSH host key (explicit opt-out)
  --https-token-env VAR    HTTPS bearer token from environment variable VAR
  --https-user U --https-password-env VAR   HTTPS basic authentication
  --ca-file FILE           CA bundle for HTTPS repositories
  --enable-helm            inflate Kustomize helmCharts with the helm v3 binary
  --helm-command CMD       that binary (default helm; implies --enable-helm)

service:
  --listen ADDR            serve /healthz, /metrics (Prometheus), the status page and
                           POST /refresh/<app> (a Git webhook's target) (e.g. 127.0.0.1:8080)
  --concurrency N          applications reconciled at once (default 16)
  --log-format text|json   (default text); RUST_LOG sets the level (default info)
  -h, --help               this help";

fn env_secret(flag: &str, var: &str) -> Result<String, String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{flag}: environment variable {var} is not set"))
}

fn parse() -> Result<Option<(Config, String)>, String> {
    let mut c = Config::default();
    let mut log_format = "text".to_string();
    let mut args = Args::from_env(&[]);
    let secs = |flag: &str, v: String| -> Result<Duration, String> {
        v.parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{flag}: `{v}` is not a positive number of seconds"))
    };
    while let Some(a) = args.next_arg() {
        let (flag, inline) = match a {
            Arg::Flag(f, v) => (f, v),
            Arg::Word(w) => return Err(format!("unexpected argument `{w}`")),
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--app" => c.apps.push(PathBuf::from(args.value(&flag, inline)?)),
            "--app-namespace" => c.app_namespaces.push(args.value(&flag, inline)?),
            "--kubeconfig" => c.kubeconfig = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--context" => c.context = Some(args.value(&flag, inline)?),
            "--embedded" => c.embedded = true,
            "--once" => c.once = true,
            "--wait" => c.wait = true,
            "--timeout" => c.timeout = secs(&flag, args.value(&flag, inline)?)?,
            "--dry-run" => c.dry_run = true,
            "--interval" => c.interval = secs(&flag, args.value(&flag, inline)?)?,
            "--sealed-keys" => c.sealed_keys = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--sealed-keys-namespace" => c.sealed_keys_namespace = args.value(&flag, inline)?,
            "--cache-dir" => c.cache_dir = PathBuf::from(args.value(&flag, inline)?),
            "--ssh-key" => c.credentials.ssh_key = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--ssh-passphrase-env" => {
                c.credentials.ssh_passphrase = Some(env_secret(&flag, &args.value(&flag, inline)?)?)
            }
            "--known-hosts" => c.credentials.known_hosts = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--insecure-ignore-host-key" => c.credentials.insecure_accept_any_host_key = true,
            "--https-token-env" => c.credentials.bearer_token = Some(env_secret(&flag, &args.value(&flag, inline)?)?),
            "--https-user" => c.credentials.username = Some(args.value(&flag, inline)?),
            "--https-password-env" => c.credentials.password = Some(env_secret(&flag, &args.value(&flag, inline)?)?),
            "--ca-file" => c.credentials.ca_file = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--enable-helm" => {
                c.helm.get_or_insert_with(Default::default);
            }
            "--helm-command" => {
                c.helm.get_or_insert_with(Default::default).command = PathBuf::from(args.value(&flag, inline)?)
            }
            "--listen" => {
                let v = args.value(&flag, inline)?;
                c.listen =
                    Some(v.parse().map_err(|_| format!("--listen: `{v}` is not an address like 127.0.0.1:8080"))?);
            }
            "--concurrency" => {
                let v = args.value(&flag, inline)?;
                c.concurrency = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--concurrency: `{v}` is not a positive number"))?;
            }
            "--log-format" => {
                log_format = args.value(&flag, inline)?;
                if log_format != "text" && log_format != "json" {
                    return Err(format!("--log-format: `{log_format}` is neither text nor json"));
                }
            }
            other => return Err(format!("unknown flag: {other}")),
        }
    }
    if c.apps.is_empty() && c.app_namespaces.is_empty() {
        return Err("--app or --app-namespace is required".into());
    }
    if c.wait && !c.once {
        return Err("--wait goes with --once".into());
    }
    if c.kubeconfig.is_some() && c.embedded {
        return Err("--kubeconfig and --embedded exclude each other".into());
    }
    Ok(Some((c, log_format)))
}

/// mimalloc: the agent holds every managed object in its cache and diffs them on every
/// pass; mimalloc packs them more tightly than the system allocator (`cargo bench --bench diff`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let (config, log_format) = match parse() {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if log_format == "json" {
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
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("interrupted: stopping after the current pass");
    };
    agent.run(config.interval, shutdown).await;
    let _ = stop_tx.send(true);
    Ok(true)
}
