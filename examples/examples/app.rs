//! `app`: a command-line client for people, as `argocd app ...` is, over the Kubernetes API.
//! It writes what the controller acts on (`.operation`, the refresh annotation) and reads
//! `.status`; the agent (`gitops-agent --app-namespace`) does the work.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use gitops_core::value::Value;
use gitops_sync::controller::client::{self, ClientError};
use kube::api::{Api, DynamicObject};

/// Argo CD Applications from the command line: list, inspect, sync, roll back, refresh.
#[derive(Parser, Debug)]
#[command(
    name = "app",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  app list -o wide
  app get payments
  app sync payments --revision v1.4.0 --prune --wait
  app sync payments --resource apps:Deployment:web
  app rollback payments 3
  app refresh payments --hard

Exit codes: 0 done (synced, no diff); 1 out of sync, a diff, or an operation that failed;
2 a usage error or a request refused.
`app completion bash|zsh|fish` prints shell completions, `app man` the man page."
)]
struct Cli {
    /// The kubeconfig file (else KUBECONFIG, else in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (else its current one).
    #[arg(long, global = true)]
    context: Option<String>,
    /// The namespace of the Applications.
    #[arg(long, global = true, env = "ARGOCD_APP_NAMESPACE", default_value = "argocd")]
    app_namespace: String,
    /// The namespace of the agent replicas' Leases (for the OWNER column of `list -o wide`).
    #[arg(long, global = true, default_value = "gitops-system")]
    replicas_lease_namespace: String,
    /// The agent group whose Leases say who owns what.
    #[arg(long, global = true, default_value = "gitops-agent")]
    replicas_group: String,
    #[command(subcommand)]
    command: Command,
}

/// Who owns each Application when the agent runs as several replicas: the live members of the
/// group and the overrides they follow, from their Leases; `None` when there are none to read.
async fn members(kube: &kube::Client, namespace: &str, group: &str) -> Option<Owners> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(kube.clone(), namespace);
    let selector = format!("{}={group}", gitops_sync::shard::GROUP_LABEL);
    let list = leases.list(&kube::api::ListParams::default().labels(&selector)).await.ok()?;
    let members = gitops_sync::shard::members_at(&list.items, std::time::SystemTime::now());
    let overrides = gitops_sync::shard::group_overrides(&list.items, &members);
    (!members.is_empty()).then_some((members, overrides))
}

/// The live members of an agent group and the overrides of rendezvous ownership they follow
/// (`None` until the lowest member has published them for these members).
type Owners = (Vec<String>, Option<gitops_sync::shard::Overrides>);

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Wide,
    Json,
    Yaml,
    Name,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The Applications, with their sync and health status.
    List {
        /// Output format.
        #[arg(short, long, value_enum)]
        output: Option<Output>,
    },
    /// One Application: source, status, resources, history.
    Get {
        /// The Application.
        name: String,
        /// Output format.
        #[arg(short, long, value_enum)]
        output: Option<Output>,
    },
    /// The resources that differ from Git (exit 1 when any does).
    Diff {
        /// The Application.
        name: String,
    },
    /// Ask the controller to sync.
    Sync {
        /// The Application.
        name: String,
        /// The revision to sync (else the Application's targetRevision).
        #[arg(long)]
        revision: Option<String>,
        /// Delete what left Git.
        #[arg(long)]
        prune: bool,
        /// Compute only.
        #[arg(long)]
        dry_run: bool,
        /// Sync only this resource, GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (repeatable;
        /// the group empty for the core group), as `argocd app sync --resource`.
        #[arg(long = "resource", value_parser = client::parse_resource)]
        resources: Vec<gitops_sync::engine::ResourceSelector>,
        /// Wait for the operation to finish.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Sync the revision of a history entry (refused while automated sync is on).
    Rollback {
        /// The Application.
        name: String,
        /// The history entry's id (`app get NAME` lists them).
        id: i64,
        /// Wait for the operation to finish.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Compare with Git now (--hard: render again too).
    Refresh {
        /// The Application.
        name: String,
        /// Bypass the render cache.
        #[arg(long)]
        hard: bool,
    },
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

fn conditions(v: &Value) -> String {
    let list: Vec<&str> = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str())
        .collect();
    if list.is_empty() { "<none>".into() } else { list.join(",") }
}

fn policy(v: &Value) -> &'static str {
    if v.pointer("/spec/syncPolicy/automated").is_some_and(|a| !a.is_null()) { "Auto" } else { "Manual" }
}

fn print_value(v: &Value, output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Yaml => print!("{}", gitops_core::yaml::to_yaml(v)),
        _ => {}
    }
}

async fn list(api: &Api<DynamicObject>, output: Option<Output>, members: Option<Owners>) -> Result<bool, String> {
    let items: Vec<Value> = api
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|o| gitops_core::value::to_value(o).unwrap_or_default())
        .collect();
    match output {
        Some(o @ (Output::Json | Output::Yaml)) => {
            print_value(&gitops_core::json!({"apiVersion": "v1", "kind": "List", "items": items}), o);
            return Ok(true);
        }
        Some(Output::Name) => {
            for i in &items {
                println!("application.argoproj.io/{}", at(i, "/metadata/name"));
            }
            return Ok(true);
        }
        _ => {}
    }
    let wide = matches!(output, Some(Output::Wide));
    // Overrides not yet published for the members seen: computed as the replicas compute them
    // meanwhile, over the Applications listed here.
    let members = members.map(|(m, o)| {
        let o = o.unwrap_or_else(|| {
            let keys: Vec<String> = items
                .iter()
                .map(|i| gitops_sync::shard::app_key(at(i, "/metadata/namespace"), at(i, "/metadata/name")))
                .collect();
            gitops_sync::shard::balanced_overrides(keys.iter().map(String::as_str), &m)
        });
        (m, o)
    });
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let mut row = vec![
                at(i, "/metadata/name").to_string(),
                at(i, "/spec/project").to_string(),
                at(i, "/spec/destination/namespace").to_string(),
                at(i, "/status/sync/status").to_string(),
                at(i, "/status/health/status").to_string(),
                policy(i).to_string(),
                conditions(i),
            ];
            if wide {
                row.push(short(at(i, "/status/sync/revision")).to_string());
                row.push(at(i, "/spec/source/repoURL").to_string());
                row.push(at(i, "/spec/source/path").to_string());
                let key = gitops_sync::shard::app_key(at(i, "/metadata/namespace"), at(i, "/metadata/name"));
                let owner = members.as_ref().and_then(|(m, o)| gitops_sync::shard::owner_with(&key, m, o));
                row.push(owner.unwrap_or("-").to_string());
            }
            row
        })
        .collect();
    let mut header: Vec<&str> = vec!["NAME", "PROJECT", "NAMESPACE", "STATUS", "HEALTH", "SYNCPOLICY", "CONDITIONS"];
    if wide {
        header.extend(["REVISION", "REPO", "PATH", "OWNER"]);
    }
    print_table(&header, &rows);
    Ok(true)
}

/// Columns padded to the widest cell, whatever the names' lengths; plain text for pipes.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

async fn get(api: &Api<DynamicObject>, name: &str, output: Option<Output>) -> Result<bool, String> {
    let app =
        gitops_core::value::to_value(api.get(name).await.map_err(|e| format!("{name}: {e}"))?).unwrap_or_default();
    if let Some(o @ (Output::Json | Output::Yaml)) = output {
        print_value(&app, o);
        return Ok(true);
    }
    for (label, value) in [
        ("Name", format!("{}/{}", at(&app, "/metadata/namespace"), name)),
        ("Project", at(&app, "/spec/project").to_string()),
        ("Repo", at(&app, "/spec/source/repoURL").to_string()),
        ("Target", at(&app, "/spec/source/targetRevision").to_string()),
        ("Path", at(&app, "/spec/source/path").to_string()),
        ("Destination", at(&app, "/spec/destination/namespace").to_string()),
        ("Sync Policy", policy(&app).to_string()),
        ("Sync Status", format!("{} ({})", at(&app, "/status/sync/status"), short(at(&app, "/status/sync/revision")))),
        ("Health Status", at(&app, "/status/health/status").to_string()),
        (
            "Last Sync",
            format!("{} {}", at(&app, "/status/operationState/phase"), at(&app, "/status/operationState/finishedAt")),
        ),
    ] {
        println!("{:<15}{value}", format!("{label}:"));
    }
    for c in app.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten() {
        println!("{:<15}{}: {}", "Condition:", at(c, "/type"), at(c, "/message"));
    }
    let rows: Vec<Vec<String>> = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            ["/group", "/kind", "/namespace", "/name", "/status", "/health/status"]
                .iter()
                .map(|p| at(r, p).to_string())
                .collect()
        })
        .collect();
    println!();
    print_table(&["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH"], &rows);
    let history: Vec<Vec<String>> = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|h| vec![h["id"].to_string(), at(h, "/deployedAt").to_string(), at(h, "/revision").to_string()])
        .collect();
    if !history.is_empty() {
        println!();
        print_table(&["ID", "DATE", "REVISION"], &history);
    }
    Ok(true)
}

async fn diff(api: &Api<DynamicObject>, name: &str) -> Result<bool, String> {
    let app =
        gitops_core::value::to_value(api.get(name).await.map_err(|e| format!("{name}: {e}"))?).unwrap_or_default();
    let mut same = true;
    for r in app.pointer("/status/resources").and_then(Value::as_array).into_iter().flatten() {
        if at(r, "/status") == "OutOfSync" {
            same = false;
            let prune = if r.get("requiresPruning") == Some(&Value::Bool(true)) { " (requires pruning)" } else { "" };
            println!("{}/{} {}/{}{prune}", at(r, "/group"), at(r, "/kind"), at(r, "/namespace"), at(r, "/name"));
        }
    }
    Ok(same)
}

/// Waits until the operation is gone and its state says how it ended.
async fn wait(api: &Api<DynamicObject>, name: &str, since: &str, timeout: Duration) -> Result<bool, String> {
    let started = Instant::now();
    loop {
        let app = gitops_core::value::to_value(api.get(name).await.map_err(|e| e.to_string())?).unwrap_or_default();
        let finished = at(&app, "/status/operationState/finishedAt");
        if app.get("operation").is_none_or(Value::is_null) && !finished.is_empty() && finished >= since {
            let phase = at(&app, "/status/operationState/phase");
            println!("{name}: {phase}: {}", at(&app, "/status/operationState/message"));
            return Ok(phase == "Succeeded");
        }
        if started.elapsed() > timeout {
            return Err(format!("{name}: the operation did not finish within {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn run(cli: Cli) -> Result<bool, String> {
    let config = gitops_examples::agent::Config {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
        ..Default::default()
    };
    let (kube, _) = gitops_examples::agent::connect(&config).await.map_err(|e| e.to_string())?;
    let api = client::applications(&kube, &cli.app_namespace);
    let refused = |e: ClientError| e.to_string();
    match cli.command {
        Command::List { output } => {
            let members = match output {
                Some(Output::Wide) => members(&kube, &cli.replicas_lease_namespace, &cli.replicas_group).await,
                _ => None,
            };
            list(&api, output, members).await
        }
        Command::Get { name, output } => get(&api, &name, output).await,
        Command::Diff { name } => diff(&api, &name).await,
        Command::Sync { name, revision, prune, dry_run, resources, wait: w, timeout } => {
            let since = gitops_core::time::now_rfc3339();
            client::request_sync(&api, &name, revision.as_deref(), prune, dry_run, &resources)
                .await
                .map_err(refused)?;
            println!("{name}: sync requested");
            if w { wait(&api, &name, &since, Duration::from_secs(timeout)).await } else { Ok(true) }
        }
        Command::Rollback { name, id, wait: w, timeout } => {
            let since = gitops_core::time::now_rfc3339();
            let revision = client::request_rollback(&api, &name, id).await.map_err(refused)?;
            println!("{name}: rollback to {} requested", short(&revision));
            if w { wait(&api, &name, &since, Duration::from_secs(timeout)).await } else { Ok(true) }
        }
        Command::Refresh { name, hard } => {
            client::request_refresh(&api, &name, hard).await.map_err(refused)?;
            println!("{name}: {} refresh requested", if hard { "hard" } else { "normal" });
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("app") {
        return code;
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
