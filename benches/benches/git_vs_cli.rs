//! Whole-process comparison of `GitSource` (gix) with the `git` CLI against a local
//! `git daemon`, on a generated repository (`GIT_COMMITS`, default 10,000 commits;
//! `GIT_FILES`, default 5,000 files), side by side in one run: clone (shallow, as the source
//! does by default, and full), fetch of one new commit, and the no-change check. Medians of
//! `GIT_RUNS` runs (default 5; 21 for the no-change check).
//!
//! ```text
//! cargo bench -p gitops-benches --bench git_vs_cli
//! ```

use gitops_benches::median;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_core::Source;
use gitops_git::GitSource;
use gitops_testkit::git::GitDaemon;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A bare repository with `files` files in the first commit and `commits - 1` commits that
/// each change one file, made with `git fast-import`.
fn generate(bare: &Path, commits: usize, files: usize) {
    git(bare.parent().unwrap(), &["init", "-q", "--bare", "-b", "main", bare.file_name().unwrap().to_str().unwrap()]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(bare)
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut w = std::io::BufWriter::new(child.stdin.take().unwrap());
    let mut t = 1_700_000_000u64;
    for c in 0..commits {
        t += 60;
        writeln!(w, "commit refs/heads/main\ncommitter Bench <b@example.com> {t} +0000\ndata <<EOT\ncommit {c}\nEOT")
            .unwrap();
        if c == 0 {
            for f in 0..files {
                let body =
                    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{f}\ndata:\n  value: \"{f}\"\n");
                writeln!(w, "M 644 inline apps/app-{}/cm-{f}.yaml\ndata {}\n{body}", f % 100, body.len()).unwrap();
            }
        } else {
            let f = c % files;
            let body =
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{f}\ndata:\n  value: \"{f}-{c}\"\n");
            writeln!(w, "M 644 inline apps/app-{}/cm-{f}.yaml\ndata {}\n{body}", f % 100, body.len()).unwrap();
        }
        writeln!(w).unwrap();
    }
    drop(w);
    assert!(child.wait().unwrap().success());
    git(bare, &["gc", "-q"]);
}

fn add_commit(work: &Path, n: usize) {
    std::fs::write(work.join("new.txt"), format!("{n}\n")).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "-m", &format!("new {n}")]);
    git(work, &["push", "-q", "origin", "main"]);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (commits, files, runs) = (env("GIT_COMMITS", 10_000), env("GIT_FILES", 5_000), env("GIT_RUNS", 5));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let t = Instant::now();
    generate(&root.join("config.git"), commits, files);
    println!("generated {commits} commits, {files} files in {:.1}s", t.elapsed().as_secs_f64());
    let daemon = GitDaemon::start(&root).unwrap();
    let url = daemon.url("config.git");
    let work = dir.path().join("work");
    git(dir.path(), &["clone", "-q", &url, work.to_str().unwrap()]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut rows = Vec::new();
    for (label, shallow) in [("clone (depth 1)", true), ("clone (full history)", false)] {
        let (mut ours, mut cli) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let cache = dir.path().join(format!("ours-{label}-{i}").replace([' ', '(', ')'], "_"));
            let src =
                if shallow { GitSource::new(&cache).unwrap() } else { GitSource::new(&cache).unwrap().full_history() };
            let t = Instant::now();
            rt.block_on(src.resolve(&url, "HEAD")).unwrap();
            ours.push(t.elapsed());
            let target = dir.path().join(format!("cli-{label}-{i}").replace([' ', '(', ')'], "_"));
            let mut args = vec!["clone", "-q", "--bare"];
            if shallow {
                args.extend(["--depth", "1", "--no-single-branch"]);
            }
            let target_s = target.to_str().unwrap().to_string();
            args.extend([url.as_str(), target_s.as_str()]);
            let t = Instant::now();
            git(dir.path(), &args);
            cli.push(t.elapsed());
        }
        rows.push((label.to_string(), median(ours), median(cli)));
    }

    // Fetch one new commit into an existing cache (shallow clones, as served by default).
    let ours_cache = dir.path().join("ours-fetch");
    let src = GitSource::new(&ours_cache).unwrap();
    rt.block_on(src.resolve(&url, "HEAD")).unwrap();
    let cli_dir = dir.path().join("cli-fetch");
    git(dir.path(), &["clone", "-q", "--bare", "--depth", "1", "--no-single-branch", &url, cli_dir.to_str().unwrap()]);
    let (mut ours, mut cli) = (Vec::new(), Vec::new());
    for i in 0..runs {
        add_commit(&work, 2 * i);
        let t = Instant::now();
        let rev = rt.block_on(src.resolve(&url, "HEAD")).unwrap();
        ours.push(t.elapsed());
        assert_eq!(
            rev.commit,
            String::from_utf8(
                Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&work).output().unwrap().stdout
            )
            .unwrap()
            .trim()
        );
        add_commit(&work, 2 * i + 1);
        let t = Instant::now();
        git(&cli_dir, &["fetch", "-q", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
        cli.push(t.elapsed());
    }
    rows.push(("fetch 1 new commit".into(), median(ours), median(cli)));

    // The no-change check: the remote tips equal the cache.
    let (mut ours, mut cli) = (Vec::new(), Vec::new());
    rt.block_on(src.resolve(&url, "HEAD")).unwrap();
    git(&cli_dir, &["fetch", "-q", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    for _ in 0..(4 * runs + 1) {
        let t = Instant::now();
        rt.block_on(src.resolve(&url, "HEAD")).unwrap();
        ours.push(t.elapsed());
        let t = Instant::now();
        git(&cli_dir, &["fetch", "-q", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
        cli.push(t.elapsed());
    }
    rows.push(("no-change check".into(), median(ours), median(cli)));

    println!("git_vs_cli ({commits} commits, {files} files, git daemon on 127.0.0.1; medians)");
    println!("{:<24} {:>12} {:>12} {:>8}", "operation", "gitops-git", "git CLI", "ratio");
    for (label, ours, cli) in rows {
        println!(
            "{label:<24} {:>10.1}ms {:>10.1}ms {:>8.2}",
            ms(ours),
            ms(cli),
            ours.as_secs_f64() / cli.as_secs_f64()
        );
    }
}
