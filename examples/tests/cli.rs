//! The binaries on clap: `--help` describes them, `--version` answers, a mistyped flag is an
//! error (exit 2) that suggests the right one.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn help_version_and_a_mistyped_flag() {
    for (name, about, wrong, right) in [
        ("api-server", "Serves an in-process Kubernetes API server", "--prot", "--port"),
        ("app", "Argo CD Applications from the command line", "--app-namespce", "--app-namespace"),
        ("gitops-agent", "Keeps clusters equal to Git", "--replicas-lease-namepsace", "--replicas-lease-namespace"),
    ] {
        let Some(bin) = example(name) else {
            println!("{name} not built: skipped");
            continue;
        };
        let help = Command::new(&bin).arg("--help").output().unwrap();
        assert!(help.status.success());
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.starts_with(about) && text.contains("Example"), "{name}: {text}");
        let version = Command::new(&bin).arg("--version").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")));
        let bad = Command::new(&bin).arg(wrong).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(&format!("a similar argument exists: '{right}'")), "{name}: {err}");
    }
}

/// The agent's choices that clap cannot judge alone: no applications, a shard out of range,
/// `--shards auto` without a Lease namespace.
#[test]
fn the_agent_refuses_contradictory_flags() {
    let Some(bin) = example("gitops-agent") else {
        println!("gitops-agent not built: skipped");
        return;
    };
    for (args, message) in [
        (&[][..], "--app or --app-namespace is required"),
        (&["--app", "x.yaml", "--shards", "3", "--shard", "3"][..], "--shard 3 is not one of 0..3"),
        (&["--app", "x.yaml", "--shards", "auto"][..], "--shards auto needs --replicas-lease-namespace"),
        (&["--app", "x.yaml", "--shards", "two"][..], "--shards: `two` is neither auto nor a count"),
        (&["--app", "x.yaml", "--wait"][..], "--once"),
    ] {
        let out = Command::new(&bin).args(args).env_remove("POD_NAMESPACE").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
