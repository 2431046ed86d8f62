//! `api-server`: the embedded Kubernetes API server of gitops-testkit, as a program.
//!
//! ```text
//! cargo run --example api-server -- --port 6443 --kubeconfig /tmp/testkit.kubeconfig
//! kubectl --kubeconfig /tmp/testkit.kubeconfig get ns
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gitops_testkit::TestCluster;

/// Serves an in-process Kubernetes API server (plain HTTP) on 127.0.0.1 until killed.
#[derive(Parser, Debug)]
#[command(
    name = "api-server",
    version = gitops_examples::cli::VERSION,
    after_help = "Example:
  api-server --port 6443 --kubeconfig /tmp/testkit.kubeconfig
  kubectl --kubeconfig /tmp/testkit.kubeconfig get namespaces

Exit codes: 0 stopped; 1 the port could not be bound; 2 a usage error.
`api-server completion bash|zsh|fish` prints shell completions, `api-server man` the man page."
)]
struct Cli {
    /// The port (0: a free one, printed on start).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for kubectl to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("api-server") {
        return code;
    }
    let cli = Cli::parse();
    let cluster = match TestCluster::start_on(cli.port).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &cli.kubeconfig
        && let Err(e) = std::fs::write(path, cluster.kubeconfig())
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("serving on {}", cluster.url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
