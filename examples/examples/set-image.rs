//! `set-image`: the CI step of the workflow. Edits the `images` of a kustomization in a working
//! clone as `kustomize edit set image` does (comments and layout kept), optionally commits and
//! pushes. See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gitops_git::Credentials;
use gitops_git::write::{Signature, commit_files, push};

/// Sets images in the kustomization of PATH inside a working clone, as `kustomize edit set
/// image` does (NAME=NEWNAME:TAG, NAME:TAG, NAME@sha256:..., comments kept). With --commit,
/// commits the change (author and committer from --author / GIT_AUTHOR_* / GIT_COMMITTER_*);
/// with --push, pushes the branch.
#[derive(Parser, Debug)]
#[command(
    name = "set-image",
    version = gitops_examples::cli::VERSION,
    after_help = "Examples:
  set-image --path overlays/prod web=ghcr.io/org/web:1.4.2
  set-image --repo config --path overlays/prod web:1.4.2 --commit -m 'web 1.4.2' --push
  set-image --path overlays/prod web@sha256:0123...abcd --push --ssh-key deploy_key --known-hosts known_hosts

Exit codes: 0 done; 1 the edit, commit or push failed; 2 a usage error.
`set-image completion bash|zsh|fish` prints shell completions, `set-image man` the man page."
)]
struct Cli {
    /// The images: NAME=IMAGE[:TAG][@DIGEST], NAME:TAG or NAME@DIGEST.
    #[arg(value_name = "IMAGE", required = true)]
    specs: Vec<String>,
    /// The working clone.
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// The kustomization's directory inside it.
    #[arg(long, value_name = "P")]
    path: String,
    /// Commit the edit.
    #[arg(long)]
    commit: bool,
    /// The commit message (default: "set image NAME=IMAGE ...").
    #[arg(short = 'm', long, value_name = "MSG")]
    message: Option<String>,
    /// Commit author, "NAME <EMAIL>" (default GIT_AUTHOR_NAME/EMAIL, else gitops-bot).
    #[arg(long, value_name = "NAME <EMAIL>")]
    author: Option<String>,
    /// Commit on this branch (created from the current commit if missing).
    #[arg(long, value_name = "B")]
    branch: Option<String>,
    /// Push the branch (implies --commit).
    #[arg(long)]
    push: bool,
    /// The remote or URL to push to.
    #[arg(long, default_value = "origin", value_name = "R")]
    remote: String,
    /// SSH key for the push.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// known_hosts that checks the host (strict).
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// The SSH key's passphrase, read from this environment variable.
    #[arg(long, value_name = "VAR")]
    ssh_passphrase_env: Option<String>,
    /// A bearer token for HTTPS, read from this environment variable.
    #[arg(long, value_name = "VAR")]
    https_token_env: Option<String>,
    /// HTTPS basic authentication user.
    #[arg(long, value_name = "U")]
    https_user: Option<String>,
    /// HTTPS basic authentication password, read from this environment variable.
    #[arg(long, value_name = "VAR")]
    https_password_env: Option<String>,
    /// CA bundle for HTTPS.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Cli>("set-image") {
        return code;
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn signature(spec: Option<&str>, name_var: &str, email_var: &str) -> Result<Signature, String> {
    if let Some(s) = spec {
        let (name, rest) =
            s.split_once('<').ok_or_else(|| format!("--author: expected \"NAME <EMAIL>\", got {s:?}"))?;
        let email = rest
            .trim_end()
            .strip_suffix('>')
            .ok_or_else(|| format!("--author: expected \"NAME <EMAIL>\", got {s:?}"))?;
        return Ok(Signature::new(name.trim(), email.trim()));
    }
    let name = std::env::var(name_var).unwrap_or_else(|_| "gitops-bot".into());
    let email = std::env::var(email_var).unwrap_or_else(|_| "gitops-bot@localhost".into());
    Ok(Signature::new(&name, &email))
}

fn env_secret(flag: &str, var: &str) -> Result<String, String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{flag}: environment variable {var} is not set"))
}

fn run(cli: Cli) -> Result<(), String> {
    let mut creds = Credentials {
        ssh_key: cli.ssh_key,
        known_hosts: cli.known_hosts,
        username: cli.https_user,
        ca_file: cli.ca_file,
        ..Credentials::default()
    };
    if let Some(var) = &cli.ssh_passphrase_env {
        creds.ssh_passphrase = Some(env_secret("--ssh-passphrase-env", var)?);
    }
    if let Some(var) = &cli.https_token_env {
        creds.bearer_token = Some(env_secret("--https-token-env", var)?);
    }
    if let Some(var) = &cli.https_password_env {
        creds.password = Some(env_secret("--https-password-env", var)?);
    }
    let (repo, path, specs) = (cli.repo, cli.path, cli.specs);
    let (commit, push_it, message, author, branch, remote) =
        (cli.commit, cli.push, cli.message, cli.author, cli.branch, cli.remote);
    let dir = repo.join(&path);
    let names = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
    let found: Vec<&str> = names.iter().copied().filter(|n| dir.join(n).is_file()).collect();
    let file = match found.as_slice() {
        [one] => *one,
        [] => return Err(format!("{}: no kustomization.yaml, kustomization.yml or Kustomization", dir.display())),
        _ => return Err(format!("{}: more than one kustomization file ({})", dir.display(), found.join(", "))),
    };
    let kpath = dir.join(file);
    let mut text = std::fs::read_to_string(&kpath).map_err(|e| format!("{}: {e}", kpath.display()))?;
    for spec in &specs {
        text = gitops_render::set_image(&text, spec).map_err(|e| format!("{}: {e}", kpath.display()))?;
    }
    let rel = format!("{}/{file}", path.trim_end_matches('/'));
    if !(commit || push_it) {
        std::fs::write(&kpath, &text).map_err(|e| format!("{}: {e}", kpath.display()))?;
        println!("updated {rel}");
        return Ok(());
    }
    let message = message.unwrap_or_else(|| format!("set image {}", specs.join(" ")));
    let author = signature(author.as_deref(), "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL")?;
    let committer = match (std::env::var("GIT_COMMITTER_NAME"), std::env::var("GIT_COMMITTER_EMAIL")) {
        (Ok(n), Ok(e)) => Signature::new(&n, &e),
        _ => author.clone(),
    };
    let id = commit_files(&repo, branch.as_deref(), &[(&rel, text.as_bytes())], &message, &author, &committer)
        .map_err(|e| e.to_string())?;
    match &id {
        Some(id) => println!("committed {} ({rel})", &id[..12.min(id.len())]),
        None => println!("{rel} already sets these images: nothing to commit"),
    }
    if push_it {
        let current = match &branch {
            Some(b) => b.clone(),
            None => {
                let out = std::process::Command::new("git")
                    .args(["rev-parse", "--abbrev-ref", "HEAD"])
                    .current_dir(&repo)
                    .output()
                    .map_err(|e| format!("git: {e}"))?;
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
        };
        push(&repo, &remote, &current, &creds).map_err(|e| e.to_string())?;
        println!("pushed {current} to {}", gitops_git::redact(&remote));
    }
    Ok(())
}
