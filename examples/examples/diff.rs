//! `diff`: the drift check, offline (`--desired FILE --live FILE`) or against a cluster for
//! an Argo CD Application (`--app FILE [--kubeconfig FILE | --embedded]`).
//!
//! Prints the masked unified diff and the changed paths; exits 0 for no drift, 1 for drift,
//! 2 for an error, as `kubectl diff` does.

use std::process::ExitCode;

use clap::Parser;
use gitops_core::diff::{self, DiffOptions};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Schema};

/// Drift, offline or against a cluster. Offline: compares a desired manifest (YAML) with the
/// live object (JSON or YAML, as the API server returns it, managedFields included). Cluster:
/// fetches and renders an Application's source, unseals SealedSecrets when keys are given, and
/// diffs every object against the cluster (nothing written): changed objects as masked
/// unified diffs, objects to create, objects to prune.
#[derive(Parser, Debug)]
#[command(
    name = "diff",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  diff --desired deployment.yaml --live live.json
  diff --app application.yaml --kubeconfig ~/.kube/config
  diff --app application.yaml --embedded

Exit codes: 0 no drift; 1 drift; 2 an error (as kubectl diff).
`diff completion bash|zsh|fish` prints shell completions, `diff man` the man page."
)]
struct Cli {
    /// The manifest from Git.
    #[arg(long, value_name = "FILE", requires = "live", conflicts_with = "app")]
    desired: Option<String>,
    /// The object from the cluster.
    #[arg(long, value_name = "FILE", requires = "desired")]
    live: Option<String>,
    /// The applier's field manager.
    #[arg(long, default_value = "gitops", value_name = "NAME")]
    field_manager: String,
    /// An Argo CD Application manifest (repeatable).
    #[arg(long, value_name = "FILE", required_unless_present = "desired")]
    app: Vec<std::path::PathBuf>,
    /// kubeconfig (else KUBECONFIG, else in-cluster).
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    kubeconfig: Option<std::path::PathBuf>,
    /// kubeconfig context.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Diff against a fresh embedded test server (everything is new).
    #[arg(long, conflicts_with = "kubeconfig")]
    embedded: bool,
    /// Sealed Secrets private keys (else read from the cluster).
    #[arg(long, value_name = "DIR")]
    sealed_keys: Option<std::path::PathBuf>,
}

fn load(path: &str) -> Result<Object, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut objects = yaml::parse_objects(&text, path, &ParseOptions::default()).map_err(|e| e.to_string())?;
    match objects.len() {
        1 => Ok(objects.remove(0)),
        n => Err(format!("{path}: expected one object, found {n}")),
    }
}

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("diff") {
        return code;
    }
    let cli = Cli::parse();
    let manager = cli.field_manager.clone();
    if !cli.app.is_empty() {
        let config = gitops_examples::agent::Config {
            apps: cli.app,
            kubeconfig: cli.kubeconfig,
            context: cli.context,
            embedded: cli.embedded,
            sealed_keys: cli.sealed_keys,
            dry_run: true,
            field_manager: manager,
            ..Default::default()
        };
        let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        return match rt.block_on(cluster_diff(&config)) {
            Ok(false) => ExitCode::SUCCESS,
            Ok(true) => ExitCode::from(1),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let (Some(desired), Some(live)) = (cli.desired, cli.live) else {
        eprintln!("error: --desired and --live are required");
        return ExitCode::from(2);
    };
    let (desired, live) = match (load(&desired), load(&live)) {
        (Ok(d), Ok(l)) => (d, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut schema = Schema::builtin().clone();
    if desired.kind() == "CustomResourceDefinition" {
        schema.add_crd(&desired).ok();
    }
    let options = DiffOptions { field_manager: manager, ..DiffOptions::default() };
    let d = diff::diff(&desired, &live, &options, &schema);
    if d.is_empty() {
        return ExitCode::SUCCESS;
    }
    print!("{}", d.unified());
    for c in &d.changes {
        println!("# {:?} {}", c.op, c.path);
    }
    ExitCode::from(1)
}

/// Diffs every Application against the cluster; `Ok(true)` when anything differs.
async fn cluster_diff(config: &gitops_examples::agent::Config) -> Result<bool, gitops_examples::agent::Error> {
    use gitops_sync::engine::Action;
    let agent = gitops_examples::agent::Agent::start(config).await?;
    let mut drift = false;
    for pass in agent.manager.reconcile_all().await {
        let result = pass.result.map_err(|e| format!("{}: {e}", pass.app))?;
        for r in &result.resources {
            match r.action {
                Action::Unchanged | Action::PruneSkipped => {}
                Action::Hook => println!("~ {} ({})", r.key, r.message),
                Action::Shared => println!("! {} (left to its owner: {})", r.key, r.message),
                Action::Created => {
                    drift = true;
                    println!("+ {} (to create)", r.key);
                }
                Action::Pruned => {
                    drift = true;
                    println!("- {} (to prune: left Git)", r.key);
                }
                Action::Updated | Action::Skipped => {
                    drift = true;
                    print!("{}", r.diff);
                    if !r.diff.ends_with('\n') {
                        println!();
                    }
                }
                Action::Failed => return Err(format!("{}: {}: {}", pass.app, r.key, r.message).into()),
            }
        }
    }
    Ok(drift)
}
