//! Every kind of Application source, end to end through the agent into the embedded API
//! server: a Helm chart from Git (values files, parameters with `$ARGOCD_APP_*`, a
//! `file://` dependency, a pre-install hook with `generateName`), a Jsonnet directory
//! (ext vars, TLAs, libraries), a plain directory with non-manifest files, and a two-source
//! Application (a chart from a Helm repository served on 127.0.0.1 behind basic auth, picked
//! by a version range, with its values file from Git through `ref`). Then bad input: a chart
//! that fails to template, a missing values file, a Jsonnet error, an unreachable Helm
//! repository; each a clear error, nothing applied or pruned for that application, the
//! others unaffected.
//!
//! Needs a helm v3 binary (`GITOPS_TEST_HELM`, else `helm` on PATH; `.ci/run` installs one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gitops_core::{Cluster, GroupVersionKind};
use gitops_examples::agent::{Agent, Config};
use gitops_testkit::files::FileServer;
use gitops_testkit::git::{HttpAuth, copy_dir, run_git as git};

fn helm() -> Option<PathBuf> {
    let candidate = std::env::var_os("GITOPS_TEST_HELM").map(PathBuf::from).unwrap_or_else(|| "helm".into());
    let out = Command::new(&candidate).args(["version", "--short"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).starts_with("v3.").then_some(candidate)
}

fn run(helm: &Path, home: &Path, args: &[&str]) {
    let out = Command::new(helm)
        .args(args)
        .env("HELM_CONFIG_HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

/// A Helm repository directory with `web` 1.2.0, 1.2.5 and 2.0.0 and its index.
fn chart_repository(helm: &Path, charts: &Path, out: &Path) {
    let home = out.join(".helm");
    let work = out.join(".work");
    copy_dir(charts, &work);
    let chart_yaml = work.join("web/Chart.yaml");
    let original = std::fs::read_to_string(&chart_yaml).unwrap();
    for version in ["1.2.0", "1.2.5", "2.0.0"] {
        std::fs::write(&chart_yaml, original.replace("version: 1.2.0", &format!("version: {version}"))).unwrap();
        run(helm, &home, &["dependency", "build", work.join("web").to_str().unwrap()]);
        run(helm, &home, &["package", work.join("web").to_str().unwrap(), "-d", out.to_str().unwrap()]);
    }
    run(helm, &home, &["repo", "index", out.to_str().unwrap()]);
    std::fs::remove_dir_all(&work).unwrap();
    let _ = std::fs::remove_dir_all(&home);
}

fn app(name: &str, namespace: &str, spec_sources: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\nspec:\n{spec_sources}  destination: {{namespace: {namespace}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_jsonnet_directory_and_two_source_applications() {
    let Some(helm) = helm() else {
        println!("no helm v3 binary (GITOPS_TEST_HELM or helm on PATH): skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-render/tests/data/charts");

    // The config repository.
    let repo = dir.path().join("repo");
    copy_dir(&charts, &repo.join("charts"));
    std::fs::create_dir_all(repo.join("env")).unwrap();
    std::fs::write(repo.join("env/prod-values.yaml"), "replicas: 2\nimage:\n  tag: \"3.1\"\n").unwrap();
    std::fs::create_dir_all(repo.join("jsonnet/guestbook")).unwrap();
    std::fs::create_dir_all(repo.join("jsonnet/lib")).unwrap();
    std::fs::write(
        repo.join("jsonnet/lib/k.libsonnet"),
        "{ deployment(name, replicas, image):: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: name },\n  spec: { replicas: replicas, selector: { matchLabels: { app: name } },\n    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: name, image: image }] } } } } }\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("jsonnet/guestbook/main.jsonnet"),
        "local k = import 'k.libsonnet';\nfunction(replicas=1) [\n  k.deployment('guestbook-' + std.extVar('env'), replicas, 'registry.example.com/guestbook:' + std.extVar('rev')),\n  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'guestbook' }, spec: { selector: { app: 'guestbook' }, ports: [{ port: 80 }] } },\n]\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("plain/sub")).unwrap();
    std::fs::write(
        repo.join("plain/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n",
    )
    .unwrap();
    std::fs::write(repo.join("plain/values.yaml"), "replicas: 3\n").unwrap();
    std::fs::write(repo.join("plain/sub/deep.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\n")
        .unwrap();
    std::fs::write(repo.join("plain/sub/skip-me.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n")
        .unwrap();
    // Plain manifests carrying Helm hook annotations (as Argo CD's helm-hooks example): a
    // pre-install Job with only generateName, a standalone ReplicaSet, a post-install Job.
    std::fs::create_dir_all(repo.join("hooks")).unwrap();
    std::fs::write(
        repo.join("hooks/manifests.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: upgrade-sql-schema\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"-2\"\nspec:\n  template:\n    spec:\n      containers: [{name: up, image: alpine}]\n      restartPolicy: Never\n---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: frontend}\nspec:\n  replicas: 1\n  selector: {matchLabels: {tier: frontend}}\n  template:\n    metadata: {labels: {tier: frontend}}\n    spec: {containers: [{name: main, image: nginx}]}\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: maint-page-down\n  annotations:\n    helm.sh/hook: post-install\n    helm.sh/hook-delete-policy: before-hook-creation\nspec:\n  template:\n    spec:\n      containers: [{name: down, image: alpine}]\n      restartPolicy: Never\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "trunk"]);
    commit(&repo, "init");
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    // The Helm repository, behind basic auth.
    let charts_dir = dir.path().join("helm-repo");
    std::fs::create_dir_all(&charts_dir).unwrap();
    chart_repository(&helm, &charts, &charts_dir);
    let server =
        FileServer::start(&charts_dir, HttpAuth::Basic("reader".into(), "s3cret-chart-pass".into())).await.unwrap();

    let url = format!("file://{}", repo.display());
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let write_app = |file: &str, text: String| std::fs::write(apps.join(file), text).unwrap();
    write_app(
        "web-git.yaml",
        app(
            "web-git",
            "web-git",
            &format!(
                "  source:\n    repoURL: '{url}'\n    targetRevision: HEAD\n    path: charts/web\n    helm:\n      releaseName: web\n      valueFiles: [values-prod.yaml]\n      parameters:\n      - {{name: labels.rev, value: $ARGOCD_APP_REVISION_SHORT}}\n"
            ),
        ),
    );
    write_app(
        "guestbook.yaml",
        app(
            "guestbook",
            "guestbook",
            &format!(
                "  source:\n    repoURL: '{url}'\n    path: jsonnet/guestbook\n    directory:\n      jsonnet:\n        extVars: [{{name: env, value: prod}}, {{name: rev, value: $ARGOCD_APP_REVISION_SHORT}}]\n        tlas: [{{name: replicas, value: '1 + 1', code: true}}]\n        libs: [jsonnet/lib]\n"
            ),
        ),
    );
    write_app(
        "plain.yaml",
        app(
            "plain",
            "plain",
            &format!(
                "  source:\n    repoURL: '{url}'\n    path: plain\n    directory: {{recurse: true, exclude: '*skip*'}}\n"
            ),
        ),
    );
    write_app("hooks.yaml", app("hooks", "hooks", &format!("  source:\n    repoURL: '{url}'\n    path: hooks\n")));
    write_app(
        "web-multi.yaml",
        app(
            "web-multi",
            "web-multi",
            &format!(
                "  sources:\n  - repoURL: '{}'\n    chart: web\n    targetRevision: ^1.2\n    helm:\n      releaseName: web\n      valueFiles: [$values/env/prod-values.yaml]\n  - repoURL: '{url}'\n    targetRevision: HEAD\n    ref: values\n",
                server.url("")
            ),
        ),
    );
    let config = Config {
        apps: vec![apps.clone()],
        embedded: true,
        cache_dir: dir.path().join("cache"),
        helm: Some(gitops_render::HelmOptions { command: helm.clone(), ..Default::default() }),
        helm_credentials: vec![gitops_render::HelmCredentials {
            url_prefix: server.url(""),
            username: "reader".into(),
            password: "s3cret-chart-pass".into(),
        }],
        ..Config::default()
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let synced = agent.once(true, Duration::from_secs(60)).await;
    for st in agent.manager.states() {
        let st = st.lock().await;
        println!("{}: {:?} {:?} {:?}", st.app.metadata.name, st.status.sync, st.status.health, st.status.error);
    }
    assert!(matches!(synced, Ok(true)), "every application synced and healthy: {synced:?}");

    let deploy = GroupVersionKind::new("apps", "v1", "Deployment");
    let get = |gvk: GroupVersionKind, ns: &'static str, name: &'static str| {
        let agent = agent.clone();
        async move { agent.cluster.get(&gvk, ns, name).await.unwrap() }
    };
    // The chart from Git: values-prod.yaml, the parameter with the revision, the dependency.
    let web = get(deploy.clone(), "web-git", "web-web").await.expect("web-web in web-git");
    assert_eq!(web.get("/spec/replicas").unwrap(), 3);
    assert_eq!(web.get("/metadata/labels/rev").unwrap(), &head[..7]);
    assert_eq!(
        web.get("/spec/template/spec/containers/0/env/0/value").unwrap(),
        "hello from web 1.2.0",
        "the library chart (a file:// dependency) was built in"
    );
    assert!(get(GroupVersionKind::new("", "v1", "ConfigMap"), "web-git", "web-config").await.is_some());
    // Helm was told the cluster's version, as Argo CD tells it (not helm's default v1.20).
    let info = agent.cluster.client().apiserver_version().await.unwrap();
    assert_eq!(
        web.get("/metadata/annotations/kube-version").unwrap(),
        info.git_version.split(['-', '+']).next().unwrap()
    );
    // The chart's test hook is not applied; its CRD is.
    assert!(get(GroupVersionKind::new("", "v1", "Pod"), "web-git", "web-test").await.is_none());
    let crd = GroupVersionKind::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    assert!(agent.cluster.get(&crd, "", "widgets.example.com").await.unwrap().is_some());

    // Jsonnet.
    let gb = get(deploy.clone(), "guestbook", "guestbook-prod").await.expect("guestbook-prod");
    assert_eq!(gb.get("/spec/replicas").unwrap(), 2);
    assert_eq!(
        gb.get("/spec/template/spec/containers/0/image").unwrap(),
        &format!("registry.example.com/guestbook:{}", &head[..7])
    );
    assert!(get(GroupVersionKind::new("", "v1", "Service"), "guestbook", "guestbook").await.is_some());

    // The plain directory: recursive, the excluded file and the values file left out.
    let cms = agent.cluster.list(&GroupVersionKind::new("", "v1", "ConfigMap"), Some("plain"), "").await.unwrap();
    let mut names: Vec<&str> = cms.iter().map(|c| c.name()).filter(|n| !n.starts_with("kube-root")).collect();
    names.sort();
    assert!(names.contains(&"plain") && names.contains(&"deep") && !names.contains(&"skipped"), "{names:?}");

    // Helm hooks in plain manifests: both ran (the post-install one after the ReplicaSet was
    // healthy), and neither is a resource of the application.
    let jobs = agent.cluster.list(&GroupVersionKind::new("batch", "v1", "Job"), Some("hooks"), "").await.unwrap();
    let mut job_names: Vec<&str> = jobs.iter().map(|j| j.name()).collect();
    job_names.sort();
    assert!(
        job_names.iter().any(|n| n.starts_with("upgrade-sql-schema")) && job_names.contains(&"maint-page-down"),
        "{job_names:?}"
    );
    assert!(get(GroupVersionKind::new("apps", "v1", "ReplicaSet"), "hooks", "frontend").await.is_some());

    // Two sources: the newest 1.x chart (1.2.5, not 2.0.0) with its values from Git.
    let multi = get(deploy.clone(), "web-multi", "web-web").await.expect("web-web in web-multi");
    assert_eq!(multi.get("/metadata/annotations/chart-version").unwrap(), "1.2.5");
    assert_eq!(multi.get("/spec/replicas").unwrap(), 2);
    assert_eq!(multi.get("/spec/template/spec/containers/0/image").unwrap(), "registry.example.com/web:3.1");
    {
        let st = agent.manager.state("web-multi", "web-multi").expect("web-multi state");
        let st = st.lock().await;
        assert_eq!(st.status.revisions, vec!["1.2.5".to_string(), head.clone()]);
        assert_eq!(st.status.revision.as_deref(), Some("1.2.5"));
    }
    assert!(
        server.authorizations().iter().all(|a| a.starts_with("Basic ")),
        "credentials sent to the chart repository: {:?}",
        server.authorizations()
    );

    // A pass with nothing new renders nothing and changes nothing.
    let served = server.requests();
    assert!(matches!(agent.once(false, Duration::from_secs(30)).await, Ok(true)));
    for st in agent.manager.states() {
        let st = st.lock().await;
        assert!(!st.status.rendered, "{} rendered again without a change", st.app.metadata.name);
    }
    assert!(server.requests() - served <= 1, "the chart archive is cached (at most the index fetched again)");

    // Bad input, one application at a time: a clear error, nothing pruned.
    let broken = repo.join("charts/web/templates/broken.yaml");
    std::fs::write(&broken, "{{ .Values.nope | notAFunction }}\n").unwrap();
    std::fs::write(repo.join("jsonnet/guestbook/main.jsonnet"), "function(replicas=1) [ { a: } ]\n").unwrap();
    std::fs::remove_file(repo.join("env/prod-values.yaml")).unwrap();
    commit(&repo, "break things");
    let _ = agent.once(false, Duration::from_secs(30)).await;
    let error_of = |name: &'static str| {
        let agent = agent.clone();
        async move {
            let st = agent.manager.state(name, name).unwrap_or_else(|| panic!("{name} state"));
            st.lock().await.status.error.clone().unwrap_or_default()
        }
    };
    let e = error_of("web-git").await;
    assert!(e.contains("charts/web") && e.contains("broken.yaml") && e.contains("notAFunction"), "{e}");
    let e = error_of("guestbook").await;
    assert!(e.contains("jsonnet/guestbook/main.jsonnet"), "{e}");
    let e = error_of("web-multi").await;
    assert!(e.contains("prod-values.yaml") && e.contains("does not exist"), "{e}");
    assert!(!e.contains("s3cret-chart-pass"));
    // Nothing pruned: the objects of the broken applications are still there.
    assert!(get(deploy.clone(), "web-git", "web-web").await.is_some());
    assert!(get(deploy.clone(), "guestbook", "guestbook-prod").await.is_some());
    assert!(get(deploy.clone(), "web-multi", "web-web").await.is_some());
    // The plain application, untouched by the others' errors, is still synced.
    {
        let st = agent.manager.state("plain", "plain").expect("plain");
        let st = st.lock().await;
        assert!(st.status.error.is_none(), "{:?}", st.status.error);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_helm_repository_fails_only_its_application() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("plain")).unwrap();
    std::fs::write(repo.join("plain/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n").unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    commit(&repo, "init");
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    std::fs::write(
        apps.join("charts.yaml"),
        app(
            "charts",
            "charts",
            &format!("  source:\n    repoURL: 'http://{closed}/charts'\n    chart: web\n    targetRevision: 1.2.0\n"),
        ),
    )
    .unwrap();
    std::fs::write(
        apps.join("plain.yaml"),
        app("plain", "plain", &format!("  source:\n    repoURL: 'file://{}'\n    path: plain\n", repo.display())),
    )
    .unwrap();
    let config = Config { apps: vec![apps], embedded: true, cache_dir: dir.path().join("cache"), ..Config::default() };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let ok = agent.once(false, Duration::from_secs(30)).await;
    assert!(!matches!(ok, Ok(true)), "the chart application cannot succeed: {ok:?}");
    let st = agent.manager.state("charts", "charts").expect("charts");
    let e = st.lock().await.status.error.clone().unwrap_or_default();
    assert!(e.contains(&closed.to_string()) && e.contains("index.yaml"), "{e}");
    let st = agent.manager.state("plain", "plain").expect("plain");
    assert!(st.lock().await.status.error.is_none());
    assert!(
        agent.cluster.get(&GroupVersionKind::new("", "v1", "ConfigMap"), "plain", "plain").await.unwrap().is_some(),
        "the other application synced"
    );
    let nothing =
        agent.cluster.list(&GroupVersionKind::new("apps", "v1", "Deployment"), Some("charts"), "").await.unwrap();
    assert!(nothing.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_credentials_come_from_argo_cd_repository_secrets() {
    let (client, _server) =
        gitops_examples::agent::connect(&Config { embedded: true, ..Config::default() }).await.unwrap();
    let cluster = gitops_sync::KubeCluster::new(client);
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ns = gitops_core::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}});
    cluster.apply(&gitops_core::Object::from_value(ns).unwrap(), &Default::default()).await.unwrap();
    for (name, kind, ty, url) in [
        ("charts", "repository", "helm", "https://charts.example.com/stable"),
        ("all-charts", "repo-creds", "helm", "https://registry.example.com/"),
        ("config", "repository", "git", "https://git.example.com/config.git"),
    ] {
        let secret = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": kind}},
            "data": {"type": b64(ty), "url": b64(url), "username": b64("robot"), "password": b64("pa55-word")}});
        cluster.apply(&gitops_core::Object::from_value(secret).unwrap(), &Default::default()).await.unwrap();
    }
    let config = Config { app_namespaces: vec!["argocd".into()], ..Config::default() };
    let creds = gitops_examples::agent::helm_credentials(&config, &cluster).await.unwrap();
    let mut urls: Vec<&str> = creds.iter().map(|c| c.url_prefix.as_str()).collect();
    urls.sort();
    assert_eq!(urls, ["https://charts.example.com/stable", "https://registry.example.com/"]);
    assert!(creds.iter().all(|c| c.username == "robot" && c.password == "pa55-word"));
    assert!(!format!("{creds:?}").contains("pa55-word"), "no password in Debug");
}
