//! `diff`: the drift check, offline (`--desired FILE --live FILE`) or against a cluster for
//! an Argo CD Application (`--app FILE [--kubeconfig FILE | --embedded]`).
//!
//! Prints the masked unified diff and the changed paths; exits 0 for no drift, 1 for drift,
//! 2 for an error, as `kubectl diff` does.

use std::process::ExitCode;

use gitops_core::diff::{self, DiffOptions};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Schema};

const USAGE: &str = "usage: diff --desired FILE --live FILE [--field-manager NAME]
       diff --app FILE [--kubeconfig FILE [--context NAME] | --embedded] [--sealed-keys DIR]

Offline: compares a desired manifest (YAML) with the live object (JSON or YAML, as the API
server returns it, managedFields included).
Cluster: fetches and renders the Application's source, unseals SealedSecrets when keys are
given, and diffs every object against the cluster (server-side dry-run apply, nothing
written): changed objects as masked unified diffs, objects to create, objects to prune.
Exit status: 0 no drift, 1 drift, 2 error.

options:
  --desired FILE        the manifest from Git
  --live FILE           the object from the cluster
  --field-manager NAME  the applier's field manager (default gitops)
  --app FILE            an Argo CD Application manifest
  --kubeconfig FILE     kubeconfig (else KUBECONFIG, else in-cluster)
  --context NAME        kubeconfig context
  --embedded            diff against a fresh embedded test server (everything is new)
  --sealed-keys DIR     Sealed Secrets private keys (else read from the cluster)
  -h, --help            this help";

fn load(path: &str) -> Result<Object, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut objects = yaml::parse_objects(&text, path, &ParseOptions::default()).map_err(|e| e.to_string())?;
    match objects.len() {
        1 => Ok(objects.remove(0)),
        n => Err(format!("{path}: expected one object, found {n}")),
    }
}

fn main() -> ExitCode {
    let mut desired = None;
    let mut live = None;
    let mut manager = "gitops".to_string();
    let mut config = gitops_examples::agent::Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} takes a value"));
        let r = match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--desired" => value("--desired").map(|v| desired = Some(v)),
            "--live" => value("--live").map(|v| live = Some(v)),
            "--field-manager" => value("--field-manager").map(|v| manager = v),
            "--app" => value("--app").map(|v| config.apps.push(v.into())),
            "--kubeconfig" => value("--kubeconfig").map(|v| config.kubeconfig = Some(v.into())),
            "--context" => value("--context").map(|v| config.context = Some(v)),
            "--sealed-keys" => value("--sealed-keys").map(|v| config.sealed_keys = Some(v.into())),
            "--embedded" => {
                config.embedded = true;
                Ok(())
            }
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(e) = r {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    if !config.apps.is_empty() {
        if desired.is_some() || live.is_some() {
            eprintln!("error: --app excludes --desired and --live\n\n{USAGE}");
            return ExitCode::from(2);
        }
        config.dry_run = true;
        config.field_manager = manager;
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
    let (Some(desired), Some(live)) = (desired, live) else {
        eprintln!("error: --desired and --live are required\n\n{USAGE}");
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
