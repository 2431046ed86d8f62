//! `api-server`: the embedded Kubernetes API server of gitops-testkit, as a program.
//!
//! ```text
//! cargo run --example api-server -- --port 6443 --kubeconfig /tmp/testkit.kubeconfig
//! kubectl --kubeconfig /tmp/testkit.kubeconfig get ns
//! ```

use std::process::ExitCode;

use gitops_testkit::TestCluster;

const USAGE: &str = "usage: api-server [--port PORT] [--kubeconfig OUT]

Serves an in-process Kubernetes API server (plain HTTP) on 127.0.0.1 until killed.

options:
  --port PORT        the port (default 0: a free one, printed on start)
  --kubeconfig OUT   write a kubeconfig for kubectl to OUT
  -h, --help         this help";

#[tokio::main]
async fn main() -> ExitCode {
    let mut port = 0u16;
    let mut kubeconfig = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => {
                    eprintln!("error: --port takes a number\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--kubeconfig" => match args.next() {
                Some(f) => kubeconfig = Some(f),
                None => {
                    eprintln!("error: --kubeconfig takes a file name\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("error: unknown argument {other}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let cluster = match TestCluster::start_on(port).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = kubeconfig
        && let Err(e) = std::fs::write(&path, cluster.kubeconfig())
    {
        eprintln!("error: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("serving on {}", cluster.url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
