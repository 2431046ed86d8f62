//! `set-image`: the CI step of the workflow. Edits the `images` of a kustomization in a working
//! clone as `kustomize edit set image` does (comments and layout kept), optionally commits and
//! pushes. See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use gitops_examples::args::{Arg, Args};
use gitops_git::Credentials;
use gitops_git::write::{Signature, commit_files, push};

const USAGE: &str =
    "usage: set-image --repo DIR --path overlays/prod NAME=IMAGE[:TAG][@DIGEST] [...] [--commit [-m MSG]] [--push]

Sets images in the kustomization of PATH inside the working clone DIR, as
`kustomize edit set image` does (NAME=NEWNAME:TAG, NAME:TAG, NAME@sha256:..., comments kept).
With --commit, commits the change (author and committer from --author / GIT_AUTHOR_* /
GIT_COMMITTER_*); with --push, pushes the branch.

options:
  --repo DIR             the working clone (default .)
  --path P               the kustomization's directory inside it
  --commit               commit the edit
  -m, --message MSG      the commit message (default: \"set image NAME=IMAGE ...\")
  --author \"NAME <EMAIL>\" commit author (default GIT_AUTHOR_NAME/EMAIL, else gitops-bot)
  --branch B             commit on branch B (created from the current commit if missing)
  --push                 push the branch (implies --commit)
  --remote R             the remote or URL to push to (default origin)
  --ssh-key FILE         SSH key for the push; --known-hosts FILE checks the host (strict)
  --ssh-passphrase-env VAR  the key's passphrase, from environment variable VAR
  --https-token-env VAR  a bearer token for HTTPS, read from environment variable VAR
  --https-user U --https-password-env VAR   HTTPS basic authentication
  --ca-file FILE         CA bundle for HTTPS
  -h, --help             this help";

fn main() -> ExitCode {
    match run() {
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

fn run() -> Result<(), String> {
    let mut args = Args::from_env(&['m']);
    let (mut repo, mut path, mut specs) = (PathBuf::from("."), None, Vec::new());
    let (mut commit, mut push_it, mut message, mut author, mut branch, mut remote) =
        (false, false, None, None, None, "origin".to_string());
    let mut creds = Credentials::default();
    while let Some(a) = args.next_arg() {
        let (flag, inline) = match a {
            Arg::Word(w) => {
                specs.push(w);
                continue;
            }
            Arg::Flag(f, v) => (f, v),
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--repo" => repo = PathBuf::from(args.value(&flag, inline)?),
            "--path" => path = Some(args.value(&flag, inline)?),
            "--commit" => commit = true,
            "-m" | "--message" => message = Some(args.value(&flag, inline)?),
            "--author" => author = Some(args.value(&flag, inline)?),
            "--branch" => branch = Some(args.value(&flag, inline)?),
            "--push" => push_it = true,
            "--remote" => remote = args.value(&flag, inline)?,
            "--ssh-key" => creds.ssh_key = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--known-hosts" => creds.known_hosts = Some(PathBuf::from(args.value(&flag, inline)?)),
            "--ssh-passphrase-env" => {
                let var = args.value(&flag, inline)?;
                creds.ssh_passphrase = Some(env_secret("--ssh-passphrase-env", &var)?);
            }
            "--https-token-env" => {
                let var = args.value(&flag, inline)?;
                creds.bearer_token = Some(env_secret("--https-token-env", &var)?);
            }
            "--https-user" => creds.username = Some(args.value(&flag, inline)?),
            "--https-password-env" => {
                let var = args.value(&flag, inline)?;
                creds.password = Some(env_secret("--https-password-env", &var)?);
            }
            "--ca-file" => creds.ca_file = Some(PathBuf::from(args.value(&flag, inline)?)),
            other => return Err(format!("unknown flag: {other}\n\n{USAGE}")),
        }
    }
    let path = path.ok_or(format!("--path is required\n\n{USAGE}"))?;
    if specs.is_empty() {
        return Err(format!("no image given (NAME=IMAGE:TAG)\n\n{USAGE}"));
    }
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
