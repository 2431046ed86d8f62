//! The web UI and `/api/v1` served by the agent, over real HTTP against the embedded API
//! server: the list and the API, the resource tree (Deployment -> ReplicaSet made by the
//! testkit's controller), a drifted Secret's diff masked, live updates within a second of a
//! change (server-sent events), and the action guards: read-only without a token, the bearer
//! token, cross-origin and non-JSON requests refused; escaping and the Content-Security-Policy.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, Object};
use gitops_examples::agent::{Agent, Config};
use gitops_testkit::git::{copy_dir, run_git as git};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "web-token-0123456789abcdef";
const SECRET_VALUE: &str = "db-password-visible-nowhere";

struct Reply {
    status: u16,
    head: String,
    body: String,
}

async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Reply { status, head: head.to_lowercase(), body: body.to_string() }
}

/// Serves the agent's listener on a free port; dropping or sending on the sender stops it.
async fn listen(agent: &Arc<Agent>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let addr = agent
        .clone()
        .serve("127.0.0.1:0".parse().unwrap(), async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
    (addr, stop_tx)
}

/// Runs the agent's watch loop (self-heal, drift shown at once); send on the sender to stop.
fn watching(agent: &Arc<Agent>) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let runner = agent.clone();
    let task = tokio::spawn(async move {
        runner
            .run(Duration::from_secs(600), async {
                let _ = rx.await;
            })
            .await
    });
    (stop, task)
}

fn setup(dir: &Path) -> Config {
    let repo = dir.join("repo");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo"), &repo);
    std::fs::write(
        repo.join("overlays/prod/db-secret.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {SECRET_VALUE}\n"),
    )
    .unwrap();
    let k = repo.join("overlays/prod/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap().replace("- ../../base\n", "- ../../base\n- db-secret.yaml\n");
    std::fs::write(&k, text).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let apps = dir.join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    // Automated sync without self-heal: drift shows as OutOfSync and stays until a sync.
    std::fs::write(
        apps.join("payments.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: payments, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: overlays/prod}}\n  destination: {{namespace: payments-prod}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n",
            repo.display()
        ),
    )
    .unwrap();
    // An application whose path carries markup: its error message must come out escaped.
    std::fs::write(
        apps.join("broken.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: broken, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: '<script>alert(1)</script>'}}\n  destination: {{namespace: broken}}\n",
            repo.display()
        ),
    )
    .unwrap();
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    Config {
        apps: vec![apps],
        embedded: true,
        cache_dir: dir.join("cache"),
        web_token_file: Some(token),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ui_and_api_show_drift_live_and_guard_actions() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Arc::new(Agent::start(&setup(dir.path())).await.unwrap());
    let _ = agent.once(false, Duration::from_secs(10)).await;
    let (addr, stop_tx) = listen(&agent).await;
    let (run_stop, run) = watching(&agent);

    // The list page: both applications, statuses as text, escaping, the CSP.
    let page = request(addr, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{}", page.head);
    assert!(page.body.contains("href=\"/applications/payments\"") && page.body.contains("Synced"), "{}", page.body);
    assert!(!page.body.contains("<script>alert(1)</script>"), "markup from an Application is escaped");
    assert!(page.body.contains("alert(1)"), "the broken application's message is on the page: {}", page.body);
    let filtered = request(addr, "GET", "/api/v1/applications?status=Synced", &[], "").await;
    let json: gitops_core::value::Value = serde_json::from_str(&filtered.body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 1);
    assert_eq!(json["items"][0]["name"], "payments");

    // The tree: Deployment -> ReplicaSet (made by the testkit's Deployment controller).
    let detail = request(addr, "GET", "/api/v1/applications/payments", &[], "").await;
    let app: gitops_core::value::Value = serde_json::from_str(&detail.body).unwrap();
    let deployment = app["tree"].as_array().unwrap().iter().find(|n| n["kind"] == "Deployment").expect("a Deployment");
    assert_eq!(deployment["children"][0]["kind"], "ReplicaSet", "{deployment}");
    let html = request(addr, "GET", "/applications/payments", &[], "").await;
    assert!(html.body.contains("data-kind=\"ReplicaSet\"") && html.body.contains("depth-1"), "{}", html.body);
    assert!(html.body.contains("<title>payments · gitops</title>"), "{}", html.body);
    let main = &html.body[html.body.find("<main>").unwrap()..];
    assert!(
        main.contains("<h2>Events</h2>") && main.contains("id=\"events\""),
        "the events table is in the page's body"
    );

    // Live: an SSE client sees OutOfSync within a second of a change to the Deployment.
    let mut sse = tokio::net::TcpStream::connect(addr).await.unwrap();
    sse.write_all(
        format!("GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 65536];
    while !seen.contains("event: applications") {
        let n = tokio::time::timeout(Duration::from_secs(5), sse.read(&mut buf)).await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
    let scaled = Object::from_value(gitops_core::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "payments-prod"}, "spec": {"replicas": 7}}))
    .unwrap();
    let changed = Instant::now();
    agent
        .cluster
        .apply(&scaled, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false })
        .await
        .unwrap();
    let mut events = String::new();
    let latency = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sse.read(&mut buf))
            .await
            .expect("an update within 5 s")
            .unwrap();
        events.push_str(&String::from_utf8_lossy(&buf[..n]));
        if events.contains("\"sync\":\"OutOfSync\"") {
            break changed.elapsed();
        }
    };
    println!("OutOfSync reached the stream {latency:?} after the change");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let diff = request(addr, "GET", "/api/v1/applications/payments/diff", &[], "").await;
    assert!(diff.body.contains("replicas"), "{}", diff.body);

    // A drifted Secret: its diff is shown, its values never.
    let secret = Object::from_value(gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments-prod"}, "stringData": {"password": "changed-by-hand-0001"}}))
    .unwrap();
    agent
        .cluster
        .apply(&secret, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    for path in ["/api/v1/applications/payments", "/api/v1/applications/payments/diff", "/applications/payments"] {
        let r = request(addr, "GET", path, &[], "").await;
        for v in [SECRET_VALUE, "changed-by-hand-0001"] {
            assert!(!r.body.contains(v), "{path} shows a Secret value");
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v);
            assert!(!r.body.contains(&b64), "{path} shows a Secret value (base64)");
        }
    }

    // The live manifests are shown, the Secret's with its values masked.
    let app: gitops_core::value::Value =
        serde_json::from_str(&request(addr, "GET", "/api/v1/applications/payments", &[], "").await.body).unwrap();
    let secret_node = app["tree"].as_array().unwrap().iter().find(|n| n["kind"] == "Secret").unwrap();
    let live = secret_node["live"].as_str().unwrap();
    assert!(live.contains("kind: Secret") && live.contains("password: ++++++++"), "{live}");
    assert!(!live.contains("managedFields") && !live.contains("resourceVersion"), "{live}");

    // Actions: the guards, then a sync that brings the application back.
    let sync = |headers: Vec<(&'static str, String)>, body: &'static str| async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(addr, "POST", "/api/v1/applications/payments/sync", &h, body).await
    };
    let bearer = format!("Bearer {TOKEN}");
    let json_type = ("Content-Type", "application/json".to_string());
    assert_eq!(sync(vec![json_type.clone()], "{}").await.status, 401, "no token");
    assert_eq!(
        sync(vec![json_type.clone(), ("Authorization", "Bearer wrong-token-000000000".into())], "{}").await.status,
        401
    );
    let csrf = sync(
        vec![json_type.clone(), ("Authorization", bearer.clone()), ("Origin", "https://evil.example".into())],
        "{}",
    )
    .await;
    assert_eq!(csrf.status, 403, "{}", csrf.body);
    assert!(csrf.body.contains("CSRF"));
    let form = sync(
        vec![("Content-Type", "application/x-www-form-urlencoded".into()), ("Authorization", bearer.clone())],
        "prune=true",
    )
    .await;
    assert_eq!(form.status, 415);
    let ok = sync(
        vec![json_type.clone(), ("Authorization", bearer.clone()), ("Origin", format!("http://{addr}"))],
        "{\"prune\": true}",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let app: gitops_core::value::Value =
        serde_json::from_str(&request(addr, "GET", "/api/v1/applications/payments", &[], "").await.body).unwrap();
    assert_eq!(app["sync"], "Synced", "{app}");
    let replicas = agent.cluster.get(&gvk, "payments-prod", "web").await.unwrap().unwrap();
    assert_eq!(replicas.get("/spec/replicas"), Some(&gitops_core::json!(3)));
    // The action is an Event of the application, with who asked.
    let events = app["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["reason"] == "WebSync" && e["message"].as_str().unwrap().starts_with("Sync by token: payments:")),
        "{events:?}"
    );
    assert_eq!(app["history"][0]["by"], "automated", "{app}");
    let rollback = request(
        addr,
        "POST",
        "/api/v1/applications/payments/rollback",
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        "{\"id\": 0}",
    )
    .await;
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    let bad = request(
        addr,
        "POST",
        "/api/v1/applications/payments/rollback",
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        "{\"id\": 99}",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(request(addr, "GET", "/api/v1/applications/nope", &[], "").await.status, 404);

    // A new commit synced through the API: the history credits the token, with a time.
    let repo = dir.path().join("repo");
    let k = repo.join("overlays/prod/kustomization.yaml");
    std::fs::write(&k, std::fs::read_to_string(&k).unwrap().replace("count: 3", "count: 4")).unwrap();
    git(&repo, &["commit", "-q", "-am", "four replicas"]);
    let ok = request(
        addr,
        "POST",
        "/api/v1/applications/payments/sync",
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        "{}",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let app: gitops_core::value::Value =
        serde_json::from_str(&request(addr, "GET", "/api/v1/applications/payments", &[], "").await.body).unwrap();
    let history = app["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["by"], "token");
    assert_eq!(app["revision_message"], "four replicas", "the commit message comes from Git");
    assert!(history[1]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{history:?}");

    let _ = run_stop.send(());
    let _ = stop_tx.send(());
    let _ = run.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_ui_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { web_token_file: None, ..setup(dir.path()) };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let (addr, stop_tx) = listen(&agent).await;
    let r = request(
        addr,
        "POST",
        "/api/v1/applications/payments/sync",
        &[("Content-Type", "application/json"), ("Authorization", &format!("Bearer {TOKEN}"))],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("read-only"));
    let page = request(addr, "GET", "/", &[], "").await;
    assert!(page.body.contains("read-only") && !page.body.contains("id=\"token\""));
    let short = dir.path().join("short");
    std::fs::write(&short, "abc").unwrap();
    let e =
        Agent::start(&Config { web_token_file: Some(short), ..setup(&dir.path().join("again")) }).await.err().unwrap();
    assert!(e.to_string().contains("fewer than 16 characters"), "{e}");
    let _ = stop_tx.send(());
}

fn chromium() -> Option<std::path::PathBuf> {
    std::env::var_os("GITOPS_TEST_CHROMIUM").map(std::path::PathBuf::from).or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(std::path::PathBuf::from).find(|p| p.exists())
    })
}

/// A real headless Chromium (Debian's) against the agent: the list goes OutOfSync without a
/// reload within a second of a change, the tree and the diff, no Secret value in the page,
/// Sync refused without the token and done with it, Rollback; screenshots of the three main
/// pages (`GITOPS_UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/` for the README).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_real_browser() {
    use tokio::io::AsyncBufReadExt;
    let Some(chromium) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium for the browser test");
        println!("chromium not installed: the browser test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    // With self-heal: a manual change is reverted within a fraction of a second, and the list
    // must still show it go OutOfSync and come back Synced.
    std::fs::write(
        dir.path().join("apps/healing.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: healing, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: overlays/dev}}\n  destination: {{namespace: payments-dev}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
            dir.path().join("repo").display()
        ),
    )
    .unwrap();
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let _ = agent.once(false, Duration::from_secs(10)).await;
    let (addr, stop_tx) = listen(&agent).await;
    let (run_stop, run) = watching(&agent);
    let out = if std::env::var_os("GITOPS_UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        dir.path().join("screenshots")
    };
    std::fs::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/drive.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--url", &format!("http://{addr}"), "--token", TOKEN, "--secret", SECRET_VALUE])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--out")
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut checks = Vec::new();
    while let Some(line) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("the driver answers").unwrap()
    {
        println!("{line}");
        if let Some((namespace, name)) = line.strip_prefix("NEED scale ").and_then(|d| d.split_once('/')) {
            let scaled = Object::from_value(gitops_core::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": 5}}))
            .unwrap();
            let opts = ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false };
            agent.cluster.apply(&scaled, &opts).await.unwrap();
            stdin.write_all(b"DONE\n").await.unwrap();
        } else if let Some(check) = line.strip_prefix("OK ") {
            checks.push(check.split_whitespace().next().unwrap_or_default().to_string());
        } else if line.starts_with("FAIL") {
            panic!("{line}");
        }
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the driver failed");
    assert_eq!(
        checks,
        [
            "list",
            "timing",
            "out-of-sync",
            "self-heal",
            "tree",
            "diff",
            "side-by-side",
            "no-secret",
            "sync-selected",
            "sync-refused",
            "sync",
            "rollback"
        ],
        "every check ran"
    );
    for shot in ["applications.png", "application.png", "diff.png"] {
        let png = std::fs::read(out.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot}");
    }
    let _ = run_stop.send(());
    let _ = stop_tx.send(());
    let _ = run.await;
}

/// 500 applications: the list page comes from the agent in under 300 ms (median of 5), and a
/// real Chromium paints it and filters it without freezing (timings reported).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_applications_load_fast() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let apps = dir.path().join("apps");
    std::fs::remove_file(apps.join("broken.yaml")).unwrap();
    let template = std::fs::read_to_string(apps.join("payments.yaml")).unwrap();
    for i in 0..499 {
        std::fs::write(
            apps.join(format!("app-{i}.yaml")),
            template
                .replace("name: payments", &format!("name: app-{i}"))
                .replace("payments-prod", &format!("team-{i}")),
        )
        .unwrap();
    }
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    assert_eq!(agent.manager.states().len(), 500);
    let _ = agent.once(false, Duration::from_secs(120)).await;
    let (addr, stop_tx) = listen(&agent).await;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let page = request(addr, "GET", "/", &[], "").await;
        times.push(t.elapsed());
        assert_eq!(page.status, 200);
        assert_eq!(page.body.matches("<tr data-name=").count(), 500);
    }
    times.sort();
    println!("the list of 500 applications: median {:?} (of {times:?})", times[2]);
    assert!(times[2] < Duration::from_millis(300), "{times:?}");
    if let Some(chromium) = chromium() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/drive.py");
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .args(["--url", &format!("http://{addr}"), "--token", TOKEN, "--timing-only", "500", "--out", "/tmp"])
            .arg("--chromium")
            .arg(&chromium)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        println!("{text}");
        assert!(out.status.success() && text.contains("OK timing") && text.contains("OK filter"), "{text}");
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium for the browser test");
    }
    let _ = stop_tx.send(());
}

fn github_signature(secret: &str, body: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, body.as_bytes());
    format!("sha256={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Git webhooks: a signed GitHub push refreshes the application of that repository (the new
/// commit lands), GitLab's token works too; unsigned, wrongly signed, oversized and too
/// frequent requests are refused; `/refresh/{app}` needs the signature once a secret is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_refresh_the_pushed_repository() {
    let dir = tempfile::tempdir().unwrap();
    let github = dir.path().join("github-secret");
    std::fs::write(&github, "gh-hook-secret-1234\n").unwrap();
    let gitlab = dir.path().join("gitlab-secret");
    std::fs::write(&gitlab, "gl-hook-token-5678").unwrap();
    let config = Config {
        webhook_github_secret_file: Some(github),
        webhook_gitlab_secret_file: Some(gitlab),
        ..setup(dir.path())
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let _ = agent.once(false, Duration::from_secs(10)).await;
    let (addr, stop_tx) = listen(&agent).await;
    let repo = dir.path().join("repo");
    let k = repo.join("overlays/prod/kustomization.yaml");
    std::fs::write(&k, std::fs::read_to_string(&k).unwrap().replace("count: 3", "count: 2")).unwrap();
    git(&repo, &["commit", "-q", "-am", "two replicas"]);

    let payload = gitops_core::json!({"ref": "refs/heads/main", "repository": {"clone_url": format!("file://{}", repo.display()), "html_url": "https://github.com/example/other"}}).to_string();
    let hook = |headers: Vec<(&'static str, String)>, body: String| async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(addr, "POST", "/api/webhook", &h, &body).await
    };
    let gh = |sig: String| {
        vec![
            ("X-GitHub-Event", "push".to_string()),
            ("Content-Type", "application/json".into()),
            ("X-Hub-Signature-256", sig),
        ]
    };
    assert_eq!(hook(vec![("X-GitHub-Event", "push".into())], payload.clone()).await.status, 401, "unsigned");
    assert_eq!(
        hook(gh(github_signature("wrong-secret", &payload)), payload.clone()).await.status,
        401,
        "wrongly signed"
    );
    let r = hook(gh(github_signature("gh-hook-secret-1234", &payload)), payload.clone()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let answer: gitops_core::value::Value = serde_json::from_str(&r.body).unwrap();
    // Both applications of that repository (the broken one too), none of another.
    assert_eq!(answer["refreshed"], gitops_core::json!(["broken", "payments"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let app: gitops_core::value::Value =
            serde_json::from_str(&request(addr, "GET", "/api/v1/applications/payments", &[], "").await.body).unwrap();
        if app["revision_message"] == "two replicas" {
            break;
        }
        assert!(Instant::now() < deadline, "the pushed commit did not land: {app}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replicas = agent
        .cluster
        .get(&GroupVersionKind::new("apps", "v1", "Deployment"), "payments-prod", "web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replicas.get("/spec/replicas"), Some(&gitops_core::json!(2)));

    // GitLab, right after: authenticated, and rate limited for this application.
    let gl_payload =
        gitops_core::json!({"project": {"git_http_url": format!("file://{}.git", repo.display())}}).to_string();
    let gl = |token: &str| vec![("X-Gitlab-Event", "Push Hook".to_string()), ("X-Gitlab-Token", token.to_string())];
    assert_eq!(hook(gl("not-the-token"), gl_payload.clone()).await.status, 401);
    let r = hook(gl("gl-hook-token-5678"), gl_payload.clone()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let answer: gitops_core::value::Value = serde_json::from_str(&r.body).unwrap();
    assert!(answer["rateLimited"].as_array().unwrap().contains(&gitops_core::json!("payments")), "{}", r.body);

    // Bounded bodies; a sender without a secret configured is refused.
    let big = "x".repeat(2 << 20);
    assert_eq!(hook(gh(github_signature("gh-hook-secret-1234", &big)), big).await.status, 413);
    assert_eq!(hook(vec![("X-Event-Key", "repo:push".into())], "{}".into()).await.status, 401, "no Bitbucket secret");

    // /refresh/{app}: needs the signature now.
    assert_eq!(request(addr, "POST", "/refresh/payments", &[], "").await.status, 401);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let sig = github_signature("gh-hook-secret-1234", "");
    let r = request(addr, "POST", "/refresh/payments", &[("X-Hub-Signature-256", &sig)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let again = request(addr, "POST", "/refresh/payments", &[("X-Hub-Signature-256", &sig)], "").await;
    assert_eq!(again.status, 429);
    assert!(again.head.contains("retry-after: 2"), "{}", again.head);
    let _ = stop_tx.send(());
}

/// `--tls-cert`/`--tls-key`: the listener speaks HTTPS (verified against the test CA) and no
/// longer plain HTTP.
#[tokio::test(flavor = "multi_thread")]
async fn the_listener_serves_https_with_a_certificate() {
    use rustls_pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");
    gitops_testkit::git::make_certificates(&certs).unwrap();
    let config = Config {
        tls_cert: Some(certs.join("server.pem")),
        tls_key: Some(certs.join("server.key")),
        ..setup(dir.path())
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    let (addr, stop_tx) = listen(&agent).await;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls =
        tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, tcp).await.expect("a verified TLS session");
    tls.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("ok\n"), "{text}");
    // Plain HTTP gets no answer.
    let plain = tokio::time::timeout(Duration::from_secs(3), request(addr, "GET", "/healthz", &[], "")).await;
    assert!(!matches!(plain, Ok(ref r) if r.status == 200), "plain HTTP must not be served");
    let half = Config { tls_cert: Some(certs.join("server.pem")), ..setup(&dir.path().join("again")) };
    let e = Agent::start(&half).await.err().unwrap();
    assert!(e.to_string().contains("--tls-cert and --tls-key go together"), "{e}");
    let _ = stop_tx.send(());
}

/// While a pass holds an application (a long sync, a hook), the list and its page still
/// answer at once, from the last summary.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_pass_does_not_stall_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Arc::new(Agent::start(&setup(dir.path())).await.unwrap());
    let _ = agent.once(false, Duration::from_secs(10)).await;
    let (addr, stop_tx) = listen(&agent).await;
    assert_eq!(request(addr, "GET", "/api/v1/applications", &[], "").await.status, 200);
    let state = agent.manager.state("payments-prod", "payments").unwrap();
    let held = state.lock().await;
    let t = Instant::now();
    let list = request(addr, "GET", "/api/v1/applications", &[], "").await;
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
    assert!(list.body.contains("\"name\":\"payments\"") && list.body.contains("\"sync\":\"Synced\""), "{}", list.body);
    let t = Instant::now();
    let page = request(addr, "GET", "/applications/payments", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(held);
    let _ = stop_tx.send(());
}
