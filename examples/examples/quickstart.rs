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

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: quickstart\n\nRuns the whole GitOps workflow against an embedded API server, in a temporary directory."
        );
        return ExitCode::SUCCESS;
    }
    match gitops_examples::quickstart::run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
