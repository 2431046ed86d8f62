//! Hostile repositories through the whole agent (issue 21): one Git repository whose paths
//! are each an attack or a mistake (a kustomization in a cycle or including itself, a base
//! 10,000 levels deep, `..` and absolute paths out of the repository, a symlink loop, a
//! submodule, a Helm chart "repository" on the agent's disk, malformed YAML), an Application
//! for each beside a good one. Each fails alone with an error naming the file and the field;
//! the good one syncs; nothing is deleted. Size limits (a huge file, a pack bomb, millions of
//! objects) are in `gitops-git/tests/local.rs`, remote bases in `agent.rs`, a destination
//! outside its project in `gitops-sync/tests/controller.rs`.

use std::path::Path;
use std::time::Duration;

use gitops_core::{Cluster, GroupVersionKind};
use gitops_examples::agent::{Agent, Config};
use gitops_testkit::git::run_git as git;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The helm v3 binary (`GITOPS_TEST_HELM`, as `.ci/run` sets it, else `helm` on PATH).
fn helm() -> Option<std::path::PathBuf> {
    let helm = std::env::var_os("GITOPS_TEST_HELM").map_or_else(|| "helm".into(), std::path::PathBuf::from);
    let out = std::process::Command::new(&helm).args(["version", "-c", "--short"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).starts_with("v3.").then_some(helm)
}

/// The hostile paths, and what each application's error must say.
fn hostile_repo(repo: &Path) -> Vec<(&'static str, &'static str)> {
    std::fs::create_dir_all(repo).unwrap();
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["config", "user.email", "ci@example.com"]);
    git(repo, &["config", "user.name", "ci"]);
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n");
    write(repo, "good/cm.yaml", &cm("good"));
    // Two kustomizations that include each other, and one that includes itself.
    write(repo, "cycle/a/kustomization.yaml", "resources:\n- ../b\n");
    write(repo, "cycle/b/kustomization.yaml", "resources:\n- ../a\n");
    write(repo, "self/kustomization.yaml", "resources:\n- .\n- cm.yaml\n");
    write(repo, "self/cm.yaml", &cm("self"));
    // A base 10,000 levels deep: kubectl builds it, so must the agent (without a stack
    // overflow taking the whole process down).
    for i in 0..10_000 {
        let text = if i < 9_999 { format!("resources:\n- ../l{}\n", i + 1) } else { "resources:\n- cm.yaml\n".into() };
        write(repo, &format!("deep/l{i}/kustomization.yaml"), &text);
    }
    write(repo, "deep/l9999/cm.yaml", &cm("deepest"));
    // Out of the repository: `..` past its root, an absolute path.
    write(repo, "dotdot/kustomization.yaml", "resources:\n- ../../../../../../etc/hostname\n");
    write(repo, "absolute/kustomization.yaml", "resources:\n- /etc/hostname\n");
    // A symlink loop.
    write(repo, "loop/kustomization.yaml", "resources:\n- a.yaml\n");
    std::os::unix::fs::symlink("b.yaml", repo.join("loop/a.yaml")).unwrap();
    std::os::unix::fs::symlink("a.yaml", repo.join("loop/b.yaml")).unwrap();
    // A submodule (a gitlink entry).
    write(repo, "submodule/kustomization.yaml", "resources:\n- vendored\n");
    // A Helm chart whose "repository" is a directory of the agent's machine.
    write(
        repo,
        "helm-local/kustomization.yaml",
        "helmCharts:\n- name: secrets\n  repo: /var/lib/gitops\n  version: 1.0.0\n",
    );
    // Malformed YAML.
    write(repo, "malformed/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n");
    git(repo, &["add", "-A"]);
    git(
        repo,
        &["update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,submodule/vendored"],
    );
    git(repo, &["commit", "-qm", "hostile"]);
    let mut expect = vec![
        ("cycle", "cycle detected"),
        ("self", "cycle detected"),
        ("dotdot", "resources"),
        ("absolute", "resources"),
        ("loop", "too many levels of symbolic links"),
        ("submodule", "is a Git submodule, which is not supported"),
        ("malformed", "malformed/cm.yaml"),
    ];
    if helm().is_some() {
        expect.push(("helm-local", "is not a chart repository URL"));
    }
    expect
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_path_fails_alone_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let expect = hostile_repo(&repo);
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let paths: Vec<&str> = expect.iter().map(|(p, _)| *p).chain(["good", "deep/l0"]).collect();
    for path in &paths {
        let name = path.replace('/', "-");
        let kustomize_dir = if path.starts_with("cycle") { "cycle/a" } else { path };
        std::fs::write(
            apps.join(format!("{name}.yaml")),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  source:\n    repoURL: file://{}\n    targetRevision: HEAD\n    path: {kustomize_dir}\n  destination:\n    namespace: team\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n",
                repo.display()
            ),
        )
        .unwrap();
    }
    let config = Config {
        apps: vec![apps],
        embedded: true,
        cache_dir: dir.path().join("cache"),
        helm: Some(gitops_render::HelmOptions {
            command: helm().unwrap_or_else(|| "helm".into()),
            ..Default::default()
        }),
        ..Config::default()
    };
    let agent = Agent::start(&config).await.unwrap();
    let namespaces = GroupVersionKind::new("", "v1", "Namespace");
    let before = agent.cluster.list(&namespaces, None, "").await.unwrap().len();
    let _ = agent.once(false, Duration::from_secs(60)).await;
    for (path, says) in &expect {
        let state = agent.manager.state("team", path).unwrap_or_else(|| panic!("no application {path}"));
        let st = state.lock().await;
        let error = st.status.error.clone().unwrap_or_default();
        eprintln!("{path}: {error}");
        assert!(error.contains(says), "{path}: {error:?} should say {says:?}");
        assert!(error.len() < 2000, "{path}: a short error, not a dump: {} bytes", error.len());
    }
    let cms = GroupVersionKind::new("", "v1", "ConfigMap");
    let good = agent.cluster.get(&cms, "team", "good").await.unwrap();
    assert!(good.is_some(), "the good application synced beside the hostile ones");
    let deepest = agent.cluster.get(&cms, "team", "deepest").await.unwrap();
    assert!(deepest.is_some(), "the base 10,000 levels deep was built, as kubectl builds it");
    for path in ["self", "dotdot", "absolute"] {
        assert!(agent.cluster.get(&cms, "team", path).await.unwrap().is_none(), "{path} applied nothing");
    }
    // Nothing was deleted: the cluster's namespaces are all there, and one more (team).
    assert_eq!(agent.cluster.list(&namespaces, None, "").await.unwrap().len(), before + 1);
}
