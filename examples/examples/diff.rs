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
    /// Output: the unified diff (default); wide: the diff and a table of what differs and
    /// where; name: kind.group/name of each object that differs; json or yaml: a list of
    /// them with the action, the changed paths and the masked diff.
    #[arg(short, long, value_enum)]
    output: Option<Output>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Wide,
    Json,
    Yaml,
    Name,
}

/// One object that differs.
struct Drift {
    app: String,
    key: gitops_core::ObjectKey,
    /// create, update, prune, or skipped (a hook, a shared object: reported, not drift).
    action: &'static str,
    paths: Vec<String>,
    diff: String,
}

impl Drift {
    fn name(&self) -> String {
        let kind = self.key.kind.to_lowercase();
        match self.key.group.as_str() {
            "" => format!("{kind}/{}", self.key.name),
            g => format!("{kind}.{g}/{}", self.key.name),
        }
    }

    fn to_value(&self) -> gitops_core::value::Value {
        gitops_core::json!({
            "application": self.app,
            "object": {"group": self.key.group, "kind": self.key.kind, "namespace": self.key.namespace, "name": self.key.name},
            "action": self.action, "paths": self.paths, "diff": self.diff,
        })
    }
}

/// Prints what differs in the chosen format; the unified diffs themselves in the default one.
fn print(drifts: &[Drift], output: Option<Output>) {
    match output {
        None | Some(Output::Wide) => {
            for d in drifts {
                match d.action {
                    "create" => println!("+ {} (to create)", d.key),
                    "prune" => println!("- {} (to prune: left Git)", d.key),
                    _ if d.diff.is_empty() => {}
                    _ => {
                        print!("{}", d.diff);
                        if !d.diff.ends_with('\n') {
                            println!();
                        }
                    }
                }
            }
            if output == Some(Output::Wide) && !drifts.is_empty() {
                let w = drifts.iter().map(|d| d.name().len()).max().unwrap_or(0).max(6);
                let a = drifts.iter().map(|d| d.app.len()).max().unwrap_or(0).max(11);
                println!("\n{:<a$}  {:<w$}  {:<8}  PATHS", "APPLICATION", "OBJECT", "ACTION");
                for d in drifts {
                    println!("{:<a$}  {:<w$}  {:<8}  {}", d.app, d.name(), d.action, d.paths.join(","));
                }
            }
        }
        Some(Output::Name) => {
            for d in drifts {
                println!("{}", d.name());
            }
        }
        Some(o @ (Output::Json | Output::Yaml)) => {
            let list = gitops_core::json!({"items": drifts.iter().map(Drift::to_value).collect::<Vec<_>>()});
            if o == Output::Json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            } else {
                print!("{}", gitops_core::yaml::to_yaml(&list));
            }
        }
    }
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
        return match rt.block_on(cluster_diff(&config, cli.output)) {
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
        if matches!(cli.output, Some(Output::Json | Output::Yaml)) {
            print(&[], cli.output);
        }
        return ExitCode::SUCCESS;
    }
    if cli.output.is_none() {
        print!("{}", d.unified());
        for c in &d.changes {
            println!("# {:?} {}", c.op, c.path);
        }
    } else {
        let drift = Drift {
            app: String::new(),
            key: desired.key(),
            action: "update",
            paths: d.changes.iter().map(|c| c.path.clone()).collect(),
            diff: d.unified(),
        };
        print(&[drift], cli.output);
    }
    ExitCode::from(1)
}

/// Diffs every Application against the cluster; `Ok(true)` when anything differs.
async fn cluster_diff(
    config: &gitops_examples::agent::Config,
    output: Option<Output>,
) -> Result<bool, gitops_examples::agent::Error> {
    use gitops_sync::engine::Action;
    let agent = gitops_examples::agent::Agent::start(config).await?;
    let mut drifts = Vec::new();
    for pass in agent.manager.reconcile_all().await {
        let result = pass.result.map_err(|e| format!("{}: {e}", pass.app))?;
        for r in &result.resources {
            let action = match r.action {
                Action::Unchanged | Action::PruneSkipped => continue,
                Action::Hook => {
                    eprintln!("~ {} (a hook: {})", r.key, r.message);
                    continue;
                }
                Action::Shared => {
                    eprintln!("! {} (left to its owner: {})", r.key, r.message);
                    continue;
                }
                Action::Created => "create",
                Action::Pruned => "prune",
                Action::Updated | Action::Skipped => "update",
                Action::Failed => return Err(format!("{}: {}: {}", pass.app, r.key, r.message).into()),
            };
            drifts.push(Drift {
                app: pass.app.clone(),
                key: r.key.clone(),
                action,
                paths: r.drift.clone(),
                diff: r.diff.clone(),
            });
        }
    }
    print(&drifts, output);
    Ok(!drifts.is_empty())
}
