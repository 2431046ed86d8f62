//! The `render` command: prints what `kubectl kustomize DIR` prints, from the Rust renderer;
//! with `--repo URL --rev REV [--path P]`, renders a path of a remote repository straight from
//! its object database, without a checkout. The `render` example of this package is [`main`]
//! and the allocator.
//!
//! ```text
//! cargo run --release --example render -- [--load-restrictor none] DIR
//! cargo run --release --example render -- --repo https://github.com/org/config.git --rev main --path overlays/prod
//! ```
//!
//! It is a package of its own, apart from the other examples (`gitops-examples`), for the
//! way it is linked. `render` is one short process whose peak memory is measured against
//! `kubectl kustomize`'s, and the pages of glibc's shared objects (libc, libm, libgcc_s and
//! the loader, mapped in large blocks around the few functions it calls) were 2 MB of its
//! 21 MB. So this package's example is linked statically, at a fixed address (see
//! `examples/build.rs`, which this package shares), with the functions a build runs, the C
//! library's among them, laid out first (`symbol-order.txt`): about 18 MB on the
//! 500-application fleet. The other examples stay dynamic: a statically linked glibc resolves
//! host names only through the NSS modules of the glibc it was built with, which the agent's
//! container image need not carry.

use std::process::ExitCode;

use clap::Parser;
use gitops_core::{DirTree, yaml};
use gitops_render::{HelmOptions, Kustomize, LoadRestrictor};

/// Renders the kustomization in DIR as `kubectl kustomize DIR` does and prints the YAML stream;
/// or fetches REV of a Git repository into a cache and renders a path of it straight from the
/// object database, with no checkout (a directory without a kustomization renders as plain
/// manifests).
#[derive(Parser, Debug)]
#[command(
    name = "render",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  render overlays/prod
  render --load-restrictor none overlays/prod
  render --repo https://github.com/org/config.git --rev main --path overlays/prod
  render --enable-helm charts-overlay

Exit codes: 0 rendered; 1 the build failed; 2 a usage error.
`render completion bash|zsh|fish` prints shell completions, `render man` the man page."
)]
struct Cli {
    /// The kustomization's directory.
    #[arg(value_name = "DIR", required_unless_present = "repo", conflicts_with = "repo")]
    dir: Option<String>,
    /// A Git repository (path, file://, git://, http(s)://, ssh://, git@host:path).
    #[arg(long, value_name = "URL")]
    repo: Option<String>,
    /// What to render: a branch, tag, commit or semver range.
    #[arg(long, default_value = "HEAD", requires = "repo")]
    rev: String,
    /// The path inside the repository.
    #[arg(long, default_value = ".", requires = "repo")]
    path: String,
    /// Where the repository is cached (default $TMPDIR/gitops-render-cache).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// rootOnly: files outside a kustomization's directory are refused; none: any file of the
    /// tree may be read.
    #[arg(long, alias = "load_restrictor", value_name = "rootOnly|none", default_value = "rootOnly", value_parser = restrictor)]
    load_restrictor: LoadRestrictor,
    /// Inflate helmCharts with the helm binary (v3), as kubectl does.
    #[arg(long)]
    enable_helm: bool,
    /// The helm binary.
    #[arg(long, value_name = "CMD", default_value = "helm")]
    helm_command: std::path::PathBuf,
    /// helm template's --kube-version for every chart.
    #[arg(long, value_name = "V")]
    helm_kube_version: Option<String>,
}

fn restrictor(v: &str) -> Result<LoadRestrictor, String> {
    match v {
        "none" | "LoadRestrictionsNone" => Ok(LoadRestrictor::None),
        "rootOnly" | "LoadRestrictionsRootOnly" => Ok(LoadRestrictor::RootOnly),
        other => Err(format!("`{other}` is neither rootOnly nor none")),
    }
}

/// The `render` command line: the exit code is 0 rendered, 1 the build failed, 2 a usage
/// error.
pub fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("render") {
        return code;
    }
    let cli = Cli::parse();
    let helm = cli.enable_helm.then(|| HelmOptions {
        command: cli.helm_command.clone(),
        kube_version: cli.helm_kube_version.clone(),
        ..HelmOptions::default()
    });
    let result = match (&cli.dir, &cli.repo) {
        (Some(dir), _) => render(dir, cli.load_restrictor, helm),
        (None, Some(url)) => {
            let cache = cli.cache_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("gitops-render-cache"));
            render_repo(url, &cli.rev, &cli.path, &cache, cli.load_restrictor, helm)
        }
        (None, None) => unreachable!("clap requires DIR or --repo"),
    };
    match result {
        Ok(objects) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let written =
                yaml::write_yaml_stream_folded(&objects, 80, &mut out).and_then(|_| std::io::Write::flush(&mut out));
            // The process ends here, and the operating system takes its memory back whole:
            // freeing a large build's objects one by one first only delays the exit (by about
            // 4% of a 500-application render).
            std::mem::forget(objects);
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing the output: {e}");
                    ExitCode::FAILURE
                }
            }
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
) -> Result<Vec<gitops_core::Object>, Box<dyn std::error::Error>> {
    // The tree is rooted at the filesystem root so that `../base` outside DIR resolves, as
    // it does for kubectl; the load restrictor still keeps files inside each kustomization.
    let abs = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}"))?;
    let tree = DirTree::snapshot("/")?;
    let rel = abs.to_string_lossy().trim_start_matches('/').to_string();
    let cache = std::env::temp_dir().join("gitops-render-cache");
    let source = gitops_git::GitSource::new(&cache)?;
    let objects = Kustomize {
        load_restrictor: restrictor,
        remote: Some(source.remote_loader()),
        remote_files: Some(source.remote_file_loader()),
        // A person's own build: any remote URL, as kubectl kustomize.
        remote_policy: None,
        helm,
    }
    .build(&tree, &rel)?;
    // Kept to the end of the process, as the objects are (see `main`): the snapshot of a
    // 500-application fleet is thousands of small allocations, 0.2-0.4 ms to free one by one.
    std::mem::forget(tree);
    Ok(objects)
}

fn render_repo(
    url: &str,
    rev: &str,
    path: &str,
    cache: &std::path::Path,
    restrictor: LoadRestrictor,
    helm: Option<HelmOptions>,
) -> Result<Vec<gitops_core::Object>, Box<dyn std::error::Error>> {
    use gitops_core::{Renderer, Source};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut source = gitops_git::GitSource::new(cache)?;
    // The fetch's objects and bytes, on a terminal.
    if let Some(report) = gitops_examples::progress::Progress::on_terminal().fetches() {
        source = source.with_progress(report);
    }
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
            remote_policy: None,
            helm,
        },
        ..Default::default()
    };
    let objects = renderer.render(&tree, &path)?;
    Ok(objects)
}
