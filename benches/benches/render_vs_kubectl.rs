//! Whole-process comparison with `kubectl kustomize`: the same synthetic config repo of N
//! applications (default 500, `RENDER_APPS=N`), rendered by both, median wall time of
//! `RENDER_RUNS` runs (default 3) and peak memory (max RSS of the child process).
//!
//! ```text
//! cargo build --release --example render
//! cargo bench -p gitops-benches --bench render_vs_kubectl
//! ```

use gitops_benches::median;
use std::process::Command;
use std::time::Instant;

fn run(cmd: &mut Command) -> (f64, u64) {
    // `/usr/bin/time -f %M` prints the child's peak RSS in KiB, when it is installed.
    let start = Instant::now();
    let out = cmd.output().expect("the command runs");
    let secs = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rss = String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    (secs, rss)
}

fn main() {
    if gitops_benches::probed() {
        return;
    }
    let n: usize = std::env::var("RENDER_APPS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let runs: usize = std::env::var("RENDER_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    // RENDER_KEEP=DIR writes the tree there and keeps it (to profile either tool on it).
    let kept = std::env::var_os("RENDER_KEEP").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let root = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    gitops_benches::write_config_repo(&root, n).unwrap();
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/examples/render");
    assert!(std::path::Path::new(ours).exists(), "build it first: cargo build --release --example render");
    let timed = std::path::Path::new("/usr/bin/time").exists();
    let cmd = |prog: &str, args: &[&str]| {
        let mut c = if timed { Command::new("/usr/bin/time") } else { Command::new(prog) };
        if timed {
            c.args(["-f", "%M", prog]);
        }
        c.args(args);
        c
    };
    let path = root.to_str().unwrap();
    let (mut ot, mut kt, mut om, mut km) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..runs {
        let (s, m) = run(&mut cmd(ours, &[path]));
        ot.push(s);
        om = om.max(m);
        let (s, m) = run(&mut cmd("kubectl", &["kustomize", path]));
        kt.push(s);
        km = km.max(m);
    }
    let (o, k) = (median(ot), median(kt));
    println!(
        "render_vs_kubectl apps={n} runs={runs}: ours {o:.3}s (peak {om} KiB), kubectl kustomize {k:.3}s (peak {km} KiB), speedup {:.1}x",
        k / o
    );
}
