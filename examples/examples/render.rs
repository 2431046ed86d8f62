//! `render DIR`: prints what `kubectl kustomize DIR` prints, from the Rust renderer.
//!
//! ```text
//! cargo run --release --example render -- [--load-restrictor none] DIR
//! ```

use std::process::ExitCode;

use gitops_core::{DirTree, yaml};
use gitops_render::{Kustomize, LoadRestrictor};

const USAGE: &str = "usage: render [--load-restrictor rootOnly|none] DIR

Renders the kustomization in DIR as `kubectl kustomize DIR` does and prints the YAML stream.

options:
  --load-restrictor MODE  rootOnly (default): files outside a kustomization's directory are
                          refused; none: any file of the tree may be read
  -h, --help              this help";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut restrictor = LoadRestrictor::RootOnly;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--load-restrictor" | "--load_restrictor" => match args.next().as_deref() {
                Some("none" | "LoadRestrictionsNone") => restrictor = LoadRestrictor::None,
                Some("rootOnly" | "LoadRestrictionsRootOnly") => restrictor = LoadRestrictor::RootOnly,
                other => {
                    eprintln!("error: --load-restrictor takes rootOnly or none, got {other:?}\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            s if s.starts_with("--load-restrictor=") => {
                restrictor = if s.ends_with("=none") { LoadRestrictor::None } else { LoadRestrictor::RootOnly };
            }
            s if s.starts_with('-') => {
                eprintln!("error: unknown flag {s}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            s => {
                if dir.replace(s.to_string()).is_some() {
                    eprintln!("error: more than one directory given\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("error: no directory given\n\n{USAGE}");
        return ExitCode::from(2);
    };
    match render(&dir, restrictor) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(dir: &str, restrictor: LoadRestrictor) -> Result<String, Box<dyn std::error::Error>> {
    // The tree is rooted at the filesystem root so that `../base` outside DIR resolves, as
    // it does for kubectl; the load restrictor still keeps files inside each kustomization.
    let abs = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}"))?;
    let tree = DirTree::new("/")?;
    let rel = abs.to_string_lossy().trim_start_matches('/').to_string();
    let objects = Kustomize { load_restrictor: restrictor }.build(&tree, &rel)?;
    Ok(yaml::to_yaml_stream(&objects))
}
