//! The agent end to end on the embedded server: one pass, health, the status page and metrics,
//! dry-run showing a masked diff without writing, SealedSecrets unsealed with keys from a
//! directory, and clear errors for bad flags' inputs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gitops_core::{Cluster, GroupVersionKind};
use gitops_examples::agent::{Agent, Config};

use gitops_testkit::git::{copy_dir, run_git as git};

/// A config repo (the quickstart's) with a SealedSecret in overlays/prod; returns the key dir.
fn repo(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo"), &repo);
    let pair = gitops_secrets::KeyPair::generate(2048, "", gitops_secrets::keys::DEFAULT_KEY_TTL).unwrap();
    let secret = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments-prod"}, "stringData": {"password": "s3cr3t-value"}});
    let sealed = gitops_secrets::seal(
        &secret,
        pair.certificate.as_ref().unwrap(),
        &Default::default(),
        &mut gitops_secrets::SystemEntropy::default(),
    )
    .unwrap();
    std::fs::write(repo.join("overlays/prod/db.yaml"), gitops_secrets::output::to_go_yaml(&sealed)).unwrap();
    let k = repo.join("overlays/prod/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap().replace("- ../../base\n", "- ../../base\n- db.yaml\n");
    std::fs::write(&k, text).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("key.pem"), pair.key.to_pkcs1_pem().as_bytes()).unwrap();
    keys
}

fn app(dir: &Path, automated: bool) -> std::path::PathBuf {
    let policy = if automated {
        "  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n    syncOptions: [CreateNamespace=true]\n"
    } else {
        "  syncPolicy:\n    syncOptions: [CreateNamespace=true]\n"
    };
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: payments, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: overlays/prod}}\n  destination: {{namespace: payments-prod}}\n{policy}",
        dir.join("repo").display()
    );
    let apps = dir.join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("payments.yaml"), text).unwrap();
    apps
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pass_syncs_unseals_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let keys = repo(dir.path());
    let config = Config {
        apps: vec![app(dir.path(), true)],
        embedded: true,
        sealed_keys: Some(keys),
        cache_dir: dir.path().join("cache"),
        ..Config::default()
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    assert!(agent.once(true, std::time::Duration::from_secs(10)).await.unwrap(), "synced and healthy");
    let secret = agent.cluster.get(&GroupVersionKind::new("", "v1", "Secret"), "payments-prod", "db").await.unwrap();
    assert!(secret.is_some(), "the SealedSecret was unsealed and applied");
    let events =
        agent.cluster.list(&GroupVersionKind::new("", "v1", "Event"), Some("payments-prod"), "").await.unwrap();
    let synced: Vec<_> =
        events.iter().filter(|e| e.get("/reason").and_then(|r| r.as_str()) == Some("Synced")).collect();
    assert_eq!(synced.len(), 1, "{events:?}");
    let message = synced[0].get("/message").and_then(|m| m.as_str()).unwrap_or_default();
    assert!(message.contains("4 created") && !message.contains("s3cr3t"), "{message}");
    assert_eq!(synced[0].get("/involvedObject/name").and_then(|m| m.as_str()), Some("applyset-payments"));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let addr = agent
        .clone()
        .serve("127.0.0.1:0".parse().unwrap(), async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
    let body = |path: String| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
    };
    assert_eq!(body("/healthz".into()).await, "ok\n");
    let metrics = body("/metrics".into()).await;
    // Parsed as Prometheus parses the text format.
    let lines = metrics.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let sample = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{metrics}"))
    };
    assert_eq!(sample("gitops_app_reconcile_seconds_count", &[("name", "payments")]), 1.0);
    assert_eq!(sample("gitops_sync_objects_total", &[("app", "payments"), ("action", "Created")]), 4.0);
    assert_eq!(sample("gitops_app_sync_total", &[("name", "payments"), ("phase", "Succeeded")]), 1.0);
    assert_eq!(sample("gitops_git_request_total", &[("request_type", "fetch")]), 1.0);
    assert_eq!(
        sample("gitops_app_info", &[("name", "payments"), ("sync_status", "Synced"), ("health_status", "Healthy")]),
        1.0
    );
    assert!(metrics.contains("gitops_app_reconcile_seconds_bucket{le=\"0.25\",name=\"payments\"}"), "{metrics}");
    // Kubernetes API requests by verb and code: the first sync created with apply (patch, 201).
    assert!(sample("gitops_kube_request_total", &[("verb", "patch"), ("code", "201")]) >= 4.0, "{metrics}");
    assert!(sample("gitops_kube_request_total", &[("verb", "list"), ("code", "200")]) >= 1.0, "{metrics}");
    let page = body("/".into()).await;
    assert!(
        page.contains("href=\"/applications/payments\"") && page.contains("Synced") && page.contains("Healthy"),
        "{page}"
    );
    let api: gitops_core::value::Value = serde_json::from_str(&body("/api/v1/applications".into()).await).unwrap();
    assert_eq!(api["items"][0]["name"], "payments");
    assert_eq!(api["items"][0]["sync"], "Synced");
    assert_eq!(api["counts"]["healthy"], 1);
    let post = |path: &str| {
        let path = path.to_string();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    assert!(post("/refresh/payments").await.starts_with("HTTP/1.1 200"));
    assert!(post("/refresh/nope").await.starts_with("HTTP/1.1 404"));
    let _ = stop_tx.send(());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_shows_a_masked_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = repo(dir.path());
    let apps = app(dir.path(), true);
    let cache = dir.path().join("cache");
    let config = Config {
        apps: vec![apps.clone()],
        embedded: true,
        sealed_keys: Some(keys.clone()),
        cache_dir: cache.clone(),
        ..Config::default()
    };
    let agent = Agent::start(&config).await.unwrap();
    assert!(agent.once(false, std::time::Duration::from_secs(1)).await.unwrap());
    // Someone edits the Secret by hand; a dry-run agent on the same cluster reports it, masked.
    let secret_gvk = GroupVersionKind::new("", "v1", "Secret");
    let edit = gitops_core::Object::from_value(gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments-prod"}, "data": {"password": "aGFja2Vk"}}))
    .unwrap();
    agent
        .cluster
        .apply(&edit, &gitops_core::ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false })
        .await
        .unwrap();

    let mut reconciler_dry = gitops_sync::Reconciler::new(
        gitops_git::GitSource::new(&cache).unwrap(),
        gitops_render::AutoRenderer::default(),
        gitops_secrets::SealedSecretsDecryptor::new({
            let mut r = gitops_secrets::KeyRing::new();
            r.add_file_contents(&std::fs::read_to_string(keys.join("key.pem")).unwrap(), "key.pem").unwrap();
            r
        }),
        agent.cluster.clone(),
    );
    reconciler_dry.dry_run = true;
    let mut state = gitops_sync::AppState::new(gitops_examples::agent::load_apps(&[apps]).unwrap().remove(0));
    let result = reconciler_dry.reconcile(&mut state).await.unwrap();
    let drifted: Vec<_> = result.resources.iter().filter(|r| !r.diff.is_empty()).collect();
    assert_eq!(drifted.len(), 1, "{result:?}");
    assert!(
        drifted[0].diff.contains("password")
            && !drifted[0].diff.contains("aGFja2Vk")
            && !drifted[0].diff.contains("s3cr3t"),
        "{}",
        drifted[0].diff
    );
    let after = agent.cluster.get(&secret_gvk, "payments-prod", "db").await.unwrap().unwrap();
    assert_eq!(after.get("/data/password").and_then(|v| v.as_str()), Some("aGFja2Vk"), "dry run wrote nothing");
}

#[tokio::test]
async fn bad_inputs_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = |c: Config| async move { Agent::start(&c).await.err().map(|e| e.to_string()).unwrap_or_default() };
    let e = err(Config { apps: vec![dir.path().join("missing.yaml")], embedded: true, ..Config::default() }).await;
    assert!(e.contains("missing.yaml"), "{e}");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec: {source: {path: p}}\n",
    )
    .unwrap();
    let e = err(Config { apps: vec![dir.path().join("bad.yaml")], embedded: true, ..Config::default() }).await;
    assert!(e.contains("bad.yaml") && e.contains("repoURL"), "{e}");
    std::fs::write(dir.path().join("app.yaml"), "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec: {source: {repoURL: r, path: p}, destination: {namespace: n}}\n").unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n").unwrap();
    let e = err(Config { apps: vec![dir.path().join("app.yaml")], kubeconfig: Some(kubeconfig), ..Config::default() })
        .await;
    assert!(e.contains("cannot reach the cluster at https://127.0.0.1:1"), "{e}");
    let e = err(Config {
        apps: vec![dir.path().join("app.yaml")],
        embedded: true,
        sealed_keys: Some(dir.path().join("nokeys")),
        ..Config::default()
    })
    .await;
    assert!(e.contains("--sealed-keys") && e.contains("nokeys"), "{e}");
}

#[test]
fn remote_bases_come_through_the_git_source() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("platform");
    std::fs::create_dir_all(upstream.join("deploy/base")).unwrap();
    std::fs::write(upstream.join("deploy/base/kustomization.yaml"), "resources:\n- cm.yaml\n").unwrap();
    std::fs::write(
        upstream.join("deploy/base/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {v: '1'}\n",
    )
    .unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "v1"]);
    git(&upstream, &["tag", "v1.0.0"]);
    let overlay = gitops_core::MemTree::new().with_file(
        "app/kustomization.yaml",
        format!("namespace: team\nresources:\n- file://{}//deploy/base?ref=v1.0.0\n", upstream.display()),
    );
    let source = gitops_git::GitSource::new(dir.path().join("cache")).unwrap();
    let k = gitops_render::Kustomize { remote: Some(source.remote_loader()), ..Default::default() };
    let objects = k.build(&overlay, "app").unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!((objects[0].namespace(), objects[0].name()), ("team", "shared"));
}

/// A minimal HTTP server on 127.0.0.1 serving `files` (path to body), 404 otherwise.
fn static_server(files: Vec<(&'static str, String)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            // Skip the headers.
            let mut header = String::new();
            while reader.read_line(&mut header).map(|n| n > 2).unwrap_or(false) {
                header.clear();
            }
            let (status, body) = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", "not found".to_string()),
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn remote_files_come_through_the_git_source_as_kubectl_reads_them() {
    let base = static_server(vec![
        ("/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\ndata:\n  a: \"1\"\n".into()),
        ("/patch.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\ndata:\n  b: \"2\"\n".into()),
        ("/settings.env.yaml", "key: value\n".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("kustomization.yaml"),
        format!(
            "namePrefix: p-\nresources:\n- {base}/cm.yaml\npatches:\n- path: {base}/patch.yaml\nconfigMapGenerator:\n- name: gen\n  files:\n  - {base}/settings.env.yaml\n"
        ),
    )
    .unwrap();
    let source = gitops_git::GitSource::new(dir.path().join("cache")).unwrap();
    let k = gitops_render::Kustomize { remote_files: Some(source.remote_file_loader()), ..Default::default() };
    let tree = gitops_core::tree::DirTree::new(dir.path()).unwrap();
    let objects = k.build(&tree, "app").unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.name()).collect();
    assert!(names.contains(&"p-remote") && names.iter().any(|n| n.starts_with("p-gen-")), "{names:?}");
    let remote = objects.iter().find(|o| o.name() == "p-remote").unwrap();
    assert_eq!(remote.get("/data").unwrap(), &gitops_core::json!({"a": "1", "b": "2"}));
    // The same objects as kubectl, when it is here.
    if let Ok(out) = std::process::Command::new("kubectl").arg("kustomize").arg(&app).output()
        && out.status.success()
    {
        let ours = gitops_core::yaml::to_yaml_stream(&objects);
        assert_eq!(ours.trim_end(), String::from_utf8_lossy(&out.stdout).trim_end());
    }
    // A missing file: the server's status, naming the kustomization and the entry.
    std::fs::write(app.join("kustomization.yaml"), format!("resources:\n- {base}/missing.yaml\n")).unwrap();
    let err = k.build(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("resources[0]") && err.contains("HTTP Error: status code 404"), "{err}");
    // Without a loader: a clear error.
    let err = gitops_render::Kustomize::default().build(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("need a loader"), "{err}");
}

/// A Git tree applies the load restrictor to where a file really is: a link inside the
/// repository but out of the kustomization's root is refused, as `kubectl kustomize` refuses it
/// on a checkout; a link inside the root is followed.
#[test]
fn git_trees_restrict_links_out_of_the_kustomization_root() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::create_dir_all(repo.join("private")).unwrap();
    std::fs::write(repo.join("private/token"), "s3cr3t-token\n").unwrap();
    std::fs::write(repo.join("app/kustomization.yaml"), "configMapGenerator:\n- name: t\n  files:\n  - token\n")
        .unwrap();
    std::os::unix::fs::symlink("../private/token", repo.join("app/token")).unwrap();
    std::fs::create_dir_all(repo.join("ok")).unwrap();
    std::fs::write(repo.join("ok/real"), "fine\n").unwrap();
    std::os::unix::fs::symlink("real", repo.join("ok/token")).unwrap();
    std::fs::write(repo.join("ok/kustomization.yaml"), "configMapGenerator:\n- name: t\n  files:\n  - token\n")
        .unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "links"]);
    let source = gitops_git::GitSource::new(dir.path().join("cache")).unwrap();
    let tree = source.tree_blocking(&format!("file://{}", repo.display()), "HEAD").unwrap();
    let err = gitops_render::Kustomize::default().build(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("security; file") && !err.contains("s3cr3t"), "{err}");
    let objects = gitops_render::Kustomize::default().build(&tree, "ok").unwrap();
    assert_eq!(objects[0].get("/data/token").and_then(|v| v.as_str()), Some("fine\n"));
    if let Ok(out) = std::process::Command::new("kubectl").arg("kustomize").arg(repo.join("app")).output() {
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("security; file"));
    }
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success())
}

/// The install as a team does it: `kubectl apply --server-side -k deploy/` into the API server,
/// the seed workflow's Application (its repository's default branch is `master`, at `HEAD`)
/// created with `kubectl apply`, the agent as a controller of the `argocd` namespace, and
/// `kubectl get applications` showing it Synced and Healthy through the CRD's printer columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_with_kubectl_and_sync_the_seed_application() {
    if !kubectl_available() {
        println!("kubectl is not on PATH: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = repo(dir.path());
    git(&dir.path().join("repo"), &["branch", "-m", "main", "master"]);
    let testkit = gitops_testkit::TestCluster::start().await.unwrap();
    testkit.state().lock().unwrap().simulation = gitops_testkit::Simulation::Healthy;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, testkit.kubeconfig()).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let application = dir.path().join("application.yaml");
    std::fs::write(
        &application,
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: payments\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: file://{}\n    targetRevision: HEAD\n    path: overlays/prod\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: payments-prod\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
            dir.path().join("repo").display()
        ),
    )
    .unwrap();
    let kc = kubeconfig.clone();
    let kubectl = move |args: Vec<String>| -> String {
        let out = std::process::Command::new("kubectl").env("KUBECONFIG", &kc).args(&args).output().unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let k = kubectl.clone();
    let (deploy_s, app_s) = (deploy.display().to_string(), application.display().to_string());
    tokio::task::spawn_blocking(move || {
        let out = k(vec!["apply".into(), "--server-side".into(), "-k".into(), deploy_s]);
        for expected in [
            "customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io serverside-applied",
            "customresourcedefinition.apiextensions.k8s.io/appprojects.argoproj.io serverside-applied",
            "clusterrole.rbac.authorization.k8s.io/gitops-agent-read serverside-applied",
            "deployment.apps/gitops-agent serverside-applied",
            "poddisruptionbudget.policy/gitops-agent serverside-applied",
        ] {
            assert!(out.contains(expected), "{out}");
        }
        let out = k(vec!["apply".into(), "--server-side".into(), "-f".into(), app_s]);
        assert!(out.contains("application.argoproj.io/payments serverside-applied"), "{out}");
    })
    .await
    .unwrap();

    let config = Config {
        app_namespaces: vec!["argocd".into()],
        kubeconfig: Some(kubeconfig.clone()),
        sealed_keys: Some(keys),
        cache_dir: dir.path().join("cache"),
        ..Config::default()
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    assert!(agent.once(true, std::time::Duration::from_secs(10)).await.unwrap(), "synced and healthy");
    let k = kubectl.clone();
    let table =
        tokio::task::spawn_blocking(move || k(vec!["get".into(), "applications".into(), "-n".into(), "argocd".into()]))
            .await
            .unwrap();
    let header: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS", "AGE"], "{table}");
    let row: Vec<&str> = table.lines().nth(1).unwrap_or("").split_whitespace().collect();
    assert_eq!(&row[..3], ["payments", "Synced", "Healthy"], "{table}");
    // The default project exists, as Argo CD creates it.
    let k = kubectl.clone();
    let projects = tokio::task::spawn_blocking(move || {
        k(vec!["get".into(), "appprojects".into(), "-n".into(), "argocd".into(), "-o".into(), "name".into()])
    })
    .await
    .unwrap();
    assert_eq!(projects.trim(), "appproject.argoproj.io/default");

    // The `app` client reads the same status.
    let exe = std::env::current_exe().unwrap();
    let app_bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("examples/app")).unwrap();
    if app_bin.exists() {
        let run_app = |args: &[&str]| {
            let out = std::process::Command::new(&app_bin).env("KUBECONFIG", &kubeconfig).args(args).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, list, err) = tokio::task::block_in_place(|| run_app(&["list"]));
        assert_eq!(code, Some(0), "{err}");
        let row: Vec<&str> = list.lines().nth(1).unwrap_or("").split_whitespace().collect();
        assert_eq!(row, ["payments", "default", "payments-prod", "Synced", "Healthy", "Auto", "<none>"], "{list}");
        let (code, get, err) = tokio::task::block_in_place(|| run_app(&["get", "payments"]));
        assert_eq!(code, Some(0), "{err}");
        assert!(
            get.contains("Sync Status:   Synced") && get.contains("Deployment") && get.contains("REVISION"),
            "{get}"
        );
        let (code, _, err) = tokio::task::block_in_place(|| run_app(&["rollback", "payments", "0"]));
        assert_eq!(code, Some(2));
        assert!(err.contains("rollback cannot be initiated when auto-sync is enabled"), "{err}");
        let (code, _, err) = tokio::task::block_in_place(|| run_app(&["lsit"]));
        assert_eq!(code, Some(2));
        assert!(err.contains("unrecognized subcommand") && err.contains("list"), "{err}");
    }
}

/// What the container image holds: the agent binary alone, run with an empty environment (no
/// PATH, no git, no helm) from a directory of its own, links only the C library's parts that
/// the image's Debian base has, and still syncs (the embedded server, a file:// repository).
#[test]
fn the_agent_binary_runs_alone_as_in_its_image() {
    // The example binaries are built beside this test's executable (target/<profile>/examples).
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().and_then(|d| d.parent()).map(|d| d.join("examples/gitops-agent")).unwrap();
    if !built.exists() {
        println!("{} not built: skipped", built.display());
        return;
    }
    if let Ok(out) = std::process::Command::new("ldd").arg(&built).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let lib = line.split_whitespace().next().unwrap_or("");
            assert!(
                ["linux-vdso", "libgcc_s.so", "libm.so", "libc.so", "/lib64/ld-linux"]
                    .iter()
                    .any(|l| lib.starts_with(l)),
                "the image has no {lib}:\n{text}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = repo(dir.path());
    let apps = app(dir.path(), true);
    let image = dir.path().join("image/usr/local/bin");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::copy(&built, image.join("gitops-agent")).unwrap();
    let tmp = dir.path().join("image/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = std::process::Command::new(image.join("gitops-agent"))
        .env_clear()
        .env("HOME", &tmp)
        .current_dir(&tmp)
        .args(["--embedded", "--once"])
        .arg("--app")
        .arg(&apps)
        .arg("--sealed-keys")
        .arg(&keys)
        .arg("--cache-dir")
        .arg(dir.path().join("image/var/cache/gitops"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("payments") && l.contains("Synced")), "{stdout}");
    // Text logs into a pipe carry no colour escape codes.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO") && !stderr.contains('\u{1b}'), "{stderr}");
}

/// On a terminal the agent shows progress (the applications of the pass, as a bar drawn on
/// standard error); in a pipe it shows none (the test above: no escape codes at all).
#[test]
fn the_agent_shows_progress_only_on_a_terminal() {
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().and_then(|d| d.parent()).map(|d| d.join("examples/gitops-agent")).unwrap();
    let script = std::path::Path::new("/usr/bin/script");
    if !built.exists() || !script.exists() {
        println!("gitops-agent or script(1) missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = repo(dir.path());
    let apps = app(dir.path(), true);
    let command = format!(
        "{} --embedded --once --app {} --sealed-keys {} --cache-dir {}",
        built.display(),
        apps.display(),
        keys.display(),
        dir.path().join("cache").display()
    );
    // script(1) runs the command on a pseudo-terminal and copies what it wrote.
    let out = std::process::Command::new(script).args(["-qec", &command, "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("syncing applications"), "no progress on a terminal:\n{text}");
    let piped = std::process::Command::new("sh").args(["-c", &command]).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&piped.stdout), String::from_utf8_lossy(&piped.stderr));
    assert!(piped.status.success() && !all.contains("syncing applications"), "{all}");
}

/// A repository's remote base on the agent's own disk (`file://`) is refused by the agent's
/// default policy, with an error naming the entry, and fetched once allowed by prefix.
#[tokio::test(flavor = "multi_thread")]
async fn remote_bases_are_fetched_only_as_the_policy_allows() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    std::fs::create_dir_all(upstream.join("base")).unwrap();
    std::fs::write(upstream.join("base/kustomization.yaml"), "resources:\n- cm.yaml\n").unwrap();
    std::fs::write(upstream.join("base/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n")
        .unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "base"]);
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(
        repo.join("app/kustomization.yaml"),
        format!("resources:\n- file://{}//base?ref=main\n", upstream.display()),
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "app"]);
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(
        apps.join("app.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: remote, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: app}}\n  destination: {{namespace: team}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n",
            repo.display()
        ),
    )
    .unwrap();
    let config =
        Config { apps: vec![apps.clone()], embedded: true, cache_dir: dir.path().join("cache"), ..Config::default() };
    let agent = Agent::start(&config).await.unwrap();
    assert!(!matches!(agent.once(false, Duration::from_secs(20)).await, Ok(true)));
    let st = agent.manager.state("team", "remote").unwrap();
    let e = st.lock().await.status.error.clone().unwrap_or_default();
    assert!(e.contains("is not allowed") && e.contains("file://") && e.contains("app/kustomization.yaml"), "{e}");
    let allowed = Config {
        remote_allow: vec![format!("file://{}", upstream.display())],
        cache_dir: dir.path().join("cache2"),
        ..config
    };
    let agent = Agent::start(&allowed).await.unwrap();
    assert!(matches!(agent.once(false, Duration::from_secs(20)).await, Ok(true)));
    let cm = agent.cluster.get(&gitops_core::GroupVersionKind::new("", "v1", "ConfigMap"), "team", "shared").await;
    assert!(cm.unwrap().is_some());
}
