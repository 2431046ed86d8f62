//! Writing to a config repository, for image-update automation: commit edited files with a
//! given author and committer, and push.
//!
//! gix (0.90) cannot push, so these run the `git` CLI in a working clone. Credentials travel
//! the way git itself takes them: the SSH command in `GIT_SSH_COMMAND` (strict host key
//! checking, as for fetching), HTTPS basic or bearer credentials as an `http.extraHeader`
//! passed through `GIT_CONFIG_*` environment variables, never on the command line or in a URL;
//! error output is scrubbed of them.

use std::path::Path;
use std::process::Command;

use base64::Engine;

use crate::{Credentials, Error, redact};

/// A person, for commits.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

impl Signature {
    /// A signature.
    pub fn new(name: &str, email: &str) -> Self {
        Self { name: name.into(), email: email.into() }
    }
}

fn git(dir: &Path, args: &[&str], envs: &[(String, String)], creds: Option<&Credentials>) -> Result<String, Error> {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| Error::Write(format!("cannot run git (is it installed?): {e}")))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Some(c) = creds {
            for secret in [&c.password, &c.bearer_token].into_iter().flatten() {
                if !secret.is_empty() {
                    text = text.replace(secret.as_str(), "***");
                }
            }
        }
        return Err(Error::Write(format!("git {}: {}", args.first().copied().unwrap_or(""), redact(&text))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Writes `files` (path relative to the working tree, content) into the working clone at
/// `workdir`, on `branch` when given (created from the current commit if missing), and commits
/// them with `message`. Returns the new commit id, or `None` when the files were unchanged.
pub fn commit_files(
    workdir: &Path,
    branch: Option<&str>,
    files: &[(&str, &[u8])],
    message: &str,
    author: &Signature,
    committer: &Signature,
) -> Result<Option<String>, Error> {
    if let Some(b) = branch {
        if b.starts_with('-') || b.contains("..") {
            return Err(Error::Write(format!("invalid branch name {b:?}")));
        }
        git(workdir, &["checkout", "-q", "-B", b], &[], None)?;
    }
    let mut paths = Vec::new();
    for (rel, content) in files {
        let p = gitops_core::tree::normalize(rel).map_err(|e| Error::Write(e.to_string()))?;
        let full = workdir.join(&p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Write(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&full, content).map_err(|e| Error::Write(format!("{}: {e}", full.display())))?;
        paths.push(p);
    }
    let mut add = vec!["add", "--"];
    add.extend(paths.iter().map(String::as_str));
    git(workdir, &add, &[], None)?;
    if git(workdir, &["diff", "--cached", "--name-only"], &[], None)?.is_empty() {
        return Ok(None);
    }
    let envs = vec![
        ("GIT_AUTHOR_NAME".to_string(), author.name.clone()),
        ("GIT_AUTHOR_EMAIL".to_string(), author.email.clone()),
        ("GIT_COMMITTER_NAME".to_string(), committer.name.clone()),
        ("GIT_COMMITTER_EMAIL".to_string(), committer.email.clone()),
    ];
    git(workdir, &["commit", "-q", "--no-verify", "-m", message], &envs, None)?;
    Ok(Some(git(workdir, &["rev-parse", "HEAD"], &[], None)?))
}

/// Pushes `branch` of the working clone at `workdir` to `remote` (a URL or a remote name).
pub fn push(workdir: &Path, remote: &str, branch: &str, creds: &Credentials) -> Result<(), Error> {
    if remote.contains("://") || remote.contains('@') {
        crate::validate_url(remote)?;
    }
    if branch.starts_with('-') {
        return Err(Error::Write(format!("invalid branch name {branch:?}")));
    }
    // The ssh command (and its passphrase helper) lives until the push is done.
    let ssh = creds.ssh_command(std::time::Duration::from_secs(30));
    let mut envs = vec![("GIT_SSH_COMMAND".to_string(), ssh.line().to_string())];
    let mut config: Vec<(String, String)> = Vec::new();
    if let Some(t) = &creds.bearer_token {
        config.push(("http.extraHeader".into(), format!("Authorization: Bearer {t}")));
    } else if let (Some(u), Some(p)) = (&creds.username, &creds.password) {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        config.push(("http.extraHeader".into(), format!("Authorization: Basic {basic}")));
    }
    if let Some(ca) = &creds.ca_file {
        envs.push(("GIT_SSL_CAINFO".into(), ca.display().to_string()));
    }
    envs.push(("GIT_CONFIG_COUNT".into(), config.len().to_string()));
    for (i, (k, v)) in config.into_iter().enumerate() {
        envs.push((format!("GIT_CONFIG_KEY_{i}"), k));
        envs.push((format!("GIT_CONFIG_VALUE_{i}"), v));
    }
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    git(workdir, &["push", "-q", "--", remote, &refspec], &envs, Some(creds))?;
    Ok(())
}
