//! The whole GitOps workflow on one machine, no cluster, no network:
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! 1. a config repo (`base/` plus `overlays/dev` and `overlays/prod`) committed with Git;
//! 2. the embedded API server (gitops-testkit) and an Argo CD Application syncing
//!    `overlays/prod` with prune, self-heal and `CreateNamespace=true`;
//! 3. drift (a `kubectl scale`) reverted by self-heal;
//! 4. the CI step: `kustomize edit set image` committed, and rolled out;
//! 5. a resource removed from Git, and pruned.

use std::process::ExitCode;

use clap::Parser;

/// Runs the whole GitOps workflow against an embedded API server, in a temporary directory:
/// a config repo, an Application syncing it, drift reverted, an image tag committed by CI and
/// rolled out, a resource removed from Git and pruned.
#[derive(Parser, Debug)]
#[command(
    name = "quickstart",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  quickstart
  quickstart | cat        # the summary without colours, for a log

Exit codes: 0 every step passed; 1 a step failed.
`quickstart completion bash|zsh|fish` prints shell completions, `quickstart man` the man page."
)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("quickstart") {
        return code;
    }
    Cli::parse();
    match gitops_examples::quickstart::run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
