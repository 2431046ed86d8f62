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
