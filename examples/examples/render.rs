//! `render DIR`: prints what `kubectl kustomize DIR` prints, from the Rust renderer; with
//! `--repo URL --rev REV [--path P]`, renders a path of a remote repository straight from its
//! object database, without a checkout.
//!
//! ```text
//! cargo run --release --example render -- [--load-restrictor none] DIR
//! cargo run --release --example render -- --repo https://github.com/org/config.git --rev main --path overlays/prod
//! ```

use std::process::ExitCode;

use gitops_core::{DirTree, yaml};
use gitops_render::{HelmOptions, Kustomize, LoadRestrictor};

const USAGE: &str = "usage: render [--load-restrictor rootOnly|none] DIR
       render --repo URL [--rev REV] [--path P] [--cache-dir DIR]

Renders the kustomization in DIR as `kubectl kustomize DIR` does and prints the YAML stream;
or fetches REV (a branch, tag, commit or semver range; default HEAD) of the Git repository URL
into a cache and renders P (default the root) from the object database, with no checkout
(a directory without a kustomization renders as plain manifests).

options:
  --repo URL              a Git repository (path, file://, git://, http(s)://, ssh://, git@host:path)
  --rev REV               what to render (default HEAD)
  --path P                the path inside the repository (default .)
  --cache-dir DIR         where the repository is cached (default $TMPDIR/gitops-render-cache)
  --load-restrictor MODE  rootOnly (default): files outside a kustomization's directory are
                          refused; none: any file of the tree may be read
  --enable-helm           inflate helmCharts with the helm binary (v3), as kubectl does
  --helm-command CMD      the helm binary (default helm)
  --helm-kube-version V   helm template's --kube-version for every chart
  -h, --help              this help";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut restrictor = LoadRestrictor::RootOnly;
    let (mut repo, mut rev, mut path, mut cache) = (None, "HEAD".to_string(), ".".to_string(), None);
    let (mut enable_helm, mut helm) = (false, HelmOptions::default());
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} takes a value"));
        let taken = match a.as_str() {
            "--repo" => Some(value("--repo").map(|v| repo = Some(v))),
            "--rev" => Some(value("--rev").map(|v| rev = v)),
            "--path" => Some(value("--path").map(|v| path = v)),
            "--cache-dir" => Some(value("--cache-dir").map(|v| cache = Some(v))),
            "--helm-command" => Some(value("--helm-command").map(|v| helm.command = v.into())),
            "--helm-kube-version" => Some(value("--helm-kube-version").map(|v| helm.kube_version = Some(v))),
            "--enable-helm" => {
                enable_helm = true;
                Some(Ok(()))
            }
            _ => None,
        };
        match taken {
            Some(Ok(())) => continue,
            Some(Err(e)) => {
                eprintln!("error: {e}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            None => {}
        }
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
    let result = match (dir, repo) {
        (Some(_), Some(_)) => {
            eprintln!("error: give DIR or --repo, not both\n\n{USAGE}");
            return ExitCode::from(2);
        }
        (None, None) => {
            eprintln!("error: no directory given\n\n{USAGE}");
            return ExitCode::from(2);
        }
        (Some(dir), None) => render(&dir, restrictor, enable_helm.then_some(helm)),
        (None, Some(url)) => {
            let cache =
                cache.map(std::path::PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("gitops-render-cache"));
            render_repo(&url, &rev, &path, &cache, restrictor, enable_helm.then_some(helm))
        }
    };
    match result {
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

fn render(
    dir: &str,
    restrictor: LoadRestrictor,
    helm: Option<HelmOptions>,
) -> Result<String, Box<dyn std::error::Error>> {
    // The tree is rooted at the filesystem root so that `../base` outside DIR resolves, as
    // it does for kubectl; the load restrictor still keeps files inside each kustomization.
    let abs = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}"))?;
    let tree = DirTree::new("/")?;
    let rel = abs.to_string_lossy().trim_start_matches('/').to_string();
    let cache = std::env::temp_dir().join("gitops-render-cache");
    let source = gitops_git::GitSource::new(&cache)?;
    let objects = Kustomize {
        load_restrictor: restrictor,
        remote: Some(source.remote_loader()),
        remote_files: Some(source.remote_file_loader()),
        helm,
    }
    .build(&tree, &rel)?;
    Ok(yaml::to_yaml_stream(&objects))
}

fn render_repo(
    url: &str,
    rev: &str,
    path: &str,
    cache: &std::path::Path,
    restrictor: LoadRestrictor,
    helm: Option<HelmOptions>,
) -> Result<String, Box<dyn std::error::Error>> {
    use gitops_core::{Renderer, Source};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let source = gitops_git::GitSource::new(cache)?;
    let (revision, tree) = rt.block_on(async {
        let revision = source.resolve(url, rev).await?;
        let tree = source.open(&revision).await?;
        Ok::<_, gitops_git::Error>((revision, tree))
    })?;
    eprintln!("# {} at {} ({})", gitops_git::redact(url), revision.commit, revision.reference);
    let path = gitops_core::tree::normalize(path)?;
    let renderer = gitops_render::AutoRenderer {
        kustomize: Kustomize {
            load_restrictor: restrictor,
            remote: Some(source.remote_loader()),
            remote_files: Some(source.remote_file_loader()),
            helm,
        },
        ..Default::default()
    };
    let objects = renderer.render(&tree, &path)?;
    Ok(yaml::to_yaml_stream(&objects))
}
