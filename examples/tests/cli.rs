//! The binaries on clap: `--help` describes them with examples and exit codes, `--version`
//! names the commit, `completion SHELL` and `man` print completions and the man page, and a
//! mistyped flag is an error (exit 2) that suggests the right one.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn help_version_completion_man_and_a_mistyped_flag() {
    for (name, about, wrong, right) in [
        ("api-server", "Serves an in-process Kubernetes API server", "--prot", "--port"),
        ("app", "Argo CD Applications from the command line", "--app-namespce", "--app-namespace"),
        ("gitops-agent", "Keeps clusters equal to Git", "--replicas-lease-namepsace", "--replicas-lease-namespace"),
        ("render", "Renders the kustomization in DIR", "--load-restrictr", "--load-restrictor"),
        ("diff", "Drift, offline or against a cluster", "--desird", "--desired"),
        ("set-image", "Sets images in the kustomization", "--comit", "--commit"),
        ("seal", "Seals Kubernetes Secrets into SealedSecrets", "--sealed-secret-fil", "--sealed-secret-file"),
        ("quickstart", "Runs the whole GitOps workflow", "--helpp", "--help"),
        ("sops", "Encrypts and decrypts files with SOPS", "--encrypted-regx", "--encrypted-regex"),
    ] {
        let Some(bin) = example(name) else {
            println!("{name} not built: skipped");
            continue;
        };
        let help = Command::new(&bin).arg("--help").output().unwrap();
        assert!(help.status.success());
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.starts_with(about) && text.contains("Example") && text.contains("Exit codes"), "{name}: {text}");
        let version = Command::new(&bin).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&version.stdout);
        let expected = format!("{name} {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(version.starts_with(&expected) && version.trim_end().ends_with(')'), "{name}: {version}");
        let bad = Command::new(&bin).arg(wrong).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(&format!("a similar argument exists: '{right}'")), "{name}: {err}");
        for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef"), ("fish", "complete -c")] {
            let out = Command::new(&bin).args(["completion", shell]).output().unwrap();
            assert!(out.status.success(), "{name} completion {shell}");
            let script = String::from_utf8_lossy(&out.stdout);
            assert!(script.contains(marker) && script.contains(name), "{name} completion {shell}: {script}");
        }
        let man = Command::new(&bin).arg("man").output().unwrap();
        let page = String::from_utf8_lossy(&man.stdout);
        assert!(man.status.success() && page.contains(".TH"), "{name} man: {page}");
        let no_shell = Command::new(&bin).args(["completion", "tcsh"]).output().unwrap();
        assert_eq!(no_shell.status.code(), Some(2), "{name} completion tcsh");
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

/// `diff -o`: the unified diff, the names, or a list as JSON or YAML, with the exit codes of
/// `kubectl diff`; a Secret's values never in any of them.
#[test]
fn diff_output_formats() {
    let Some(bin) = example("diff") else {
        println!("diff not built: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let desired = write(
        "desired.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n",
    );
    let live = write(
        "live.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  managedFields:\n  - {manager: gitops, operation: Apply, apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: {f:spec: {f:replicas: {}}}}\nspec:\n  replicas: 5\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(&bin).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = run(&["--desired", &desired, "--live", &live]);
    assert_eq!(code, Some(1));
    assert!(text.contains("-  replicas: 5") && text.contains("+  replicas: 3"), "{text}");
    let (code, text) = run(&["--desired", &desired, "--live", &live, "-o", "name"]);
    assert_eq!((code, text.trim()), (Some(1), "deployment.apps/web"));
    let (_, text) = run(&["--desired", &desired, "--live", &live, "-o", "json"]);
    let v: gitops_core::value::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["items"][0]["object"]["kind"], "Deployment");
    assert_eq!(v["items"][0]["action"], "update");
    assert_eq!(v["items"][0]["paths"], gitops_core::json!(["/spec/replicas"]));
    let (_, text) = run(&["--desired", &desired, "--live", &live, "-o", "yaml"]);
    assert!(text.contains("kind: Deployment") && text.contains("- /spec/replicas"), "{text}");
    let (code, text) = run(&["--desired", &desired, "--live", &desired, "-o", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<gitops_core::value::Value>(&text).unwrap(), gitops_core::json!({"items": []}));

    let secret = write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {password: hunter2-new}\n",
    );
    let live_secret = write(
        "live-secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\ndata: {password: aHVudGVyMi1vbGQ=}\ntype: Opaque\n",
    );
    for format in ["", "json", "yaml", "wide"] {
        let mut args = vec!["--desired", &secret, "--live", &live_secret];
        if !format.is_empty() {
            args.extend(["-o", format]);
        }
        let (code, text) = run(&args);
        assert_eq!(code, Some(1), "-o {format}");
        for value in ["hunter2", "aHVudGVy"] {
            assert!(!text.contains(value), "-o {format} shows a secret value: {text}");
        }
    }
}
