//! The quickstart: the whole GitOps workflow against the embedded API server (see the
//! `quickstart` example).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, Object};
use gitops_git::GitSource;
use gitops_render::AutoRenderer;
use gitops_secrets::keys::{DEFAULT_KEY_TTL, KEY_LABEL};
use gitops_secrets::{KeyPair, KeyRing, SealOptions, SealedSecretsDecryptor, SystemEntropy};
use gitops_sync::engine::{self, Action, SyncResult};
use gitops_sync::{AppState, Application, KubeCluster, Reconciler};
use gitops_testkit::{Simulation, TestCluster};

const FILES: [(&str, &str); 7] = [
    ("base/kustomization.yaml", include_str!("../config-repo/base/kustomization.yaml")),
    ("base/deployment.yaml", include_str!("../config-repo/base/deployment.yaml")),
    ("base/service.yaml", include_str!("../config-repo/base/service.yaml")),
    ("overlays/dev/kustomization.yaml", include_str!("../config-repo/overlays/dev/kustomization.yaml")),
    ("overlays/prod/kustomization.yaml", include_str!("../config-repo/overlays/prod/kustomization.yaml")),
    ("overlays/prod/resources.yaml", include_str!("../config-repo/overlays/prod/resources.yaml")),
    ("README.md", "# payments-config\n\nThe config repo of the quickstart: base plus overlays.\n"),
];

const APP: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: nordic-payment-gateway, namespace: argocd}
spec:
  project: default
  source: {repoURL: 'REPO', targetRevision: HEAD, path: overlays/prod}
  destination: {server: 'https://kubernetes.default.svc', namespace: payments-prod}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
";

/// The quickstart's error type.
pub type Error = Box<dyn std::error::Error>;

fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Quickstart CI")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "Quickstart CI")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .output()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A heading: bold on a terminal (without `NO_COLOR`), plain text in a pipe.
fn heading(text: &str) -> String {
    use std::io::IsTerminal;
    if crate::colour_allowed(std::env::var_os("NO_COLOR").as_deref(), std::io::stdout().is_terminal()) {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn step(n: usize, title: &str) {
    println!("\n{}", heading(&format!("[{n}/5] {title}")));
}

/// Rows padded to each column's widest cell (the last column is not padded).
fn table(indent: &str, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|x| x.chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == r.len() { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        println!("{indent}{}", cells.join("  ").trim_end());
    }
}

fn show(result: &SyncResult) {
    let rows: Vec<Vec<String>> = result
        .resources
        .iter()
        .map(|r| {
            let drift = if r.drift.is_empty() { String::new() } else { format!("drift: {}", r.drift.join(", ")) };
            let note = [drift, r.message.clone()].into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join("  ");
            vec![format!("{:?}", r.action), r.key.to_string(), format!("{:?}", r.health), note]
        })
        .collect();
    table("      ", &rows);
}

struct Row {
    step: &'static str,
    outcome: String,
    ok: bool,
}

/// Runs the quickstart, printing each step; `Ok(true)` when every step did what it should.
pub async fn run() -> Result<bool, Error> {
    let started = Instant::now();
    let work = tempdir()?;
    let repo = work.join("payments-config");
    let mut rows = Vec::new();

    step(1, "a config repo: base/ plus overlays/dev and overlays/prod, committed with Git");
    for (path, text) in FILES {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().expect("a parent"))?;
        std::fs::write(&p, text)?;
    }
    // The cluster's sealing key (the Bitnami controller makes one at start-up); the
    // workstation only ever sees its certificate.
    let controller_key = KeyPair::generate(4096, "", DEFAULT_KEY_TTL)?;
    let cert = controller_key.certificate.clone().ok_or("the key has a certificate")?;
    let password = format!("pw-{}", std::process::id());
    let secret = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": "payments-prod"},
        "type": "Opaque", "stringData": {"username": "payments", "password": password}});
    let sealed = gitops_secrets::seal(&secret, &cert, &SealOptions::default(), &mut SystemEntropy::default())?;
    std::fs::write(repo.join("overlays/prod/db-credentials.sealed.yaml"), gitops_secrets::output::to_go_yaml(&sealed))?;
    let kpath = repo.join("overlays/prod/kustomization.yaml");
    let k = std::fs::read_to_string(&kpath)?.replace("- ../../base\n", "- ../../base\n- db-credentials.sealed.yaml\n");
    std::fs::write(&kpath, k)?;
    println!(
        "    sealed Secret payments-prod/db-credentials (strict scope) with the cluster's certificate {}",
        cert.public_key().fingerprint()
    );
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "payments: base and overlays"])?;
    let first = git(&repo, &["rev-parse", "--short", "HEAD"])?;
    println!("    repo {}  commit {first}", repo.display());
    for (path, _) in FILES {
        println!("      {path}");
    }
    println!("      overlays/prod/db-credentials.sealed.yaml  (SealedSecret, as kubeseal writes it)");
    rows.push(Row {
        step: "config repo committed",
        outcome: format!("commit {first}, {} files + 1 SealedSecret", FILES.len()),
        ok: true,
    });

    step(2, "the embedded API server, and the Argo CD Application syncing overlays/prod");
    let testkit = TestCluster::start().await?;
    testkit.state().lock().map_err(|_| "state lock")?.simulation = Simulation::Healthy;
    println!("    API server {} (gitops-testkit, healthy rollouts simulated)", testkit.url());
    let url = format!("file://{}", repo.display());
    let app = Application::from_yaml(&APP.replace("REPO", &url), "application.yaml")?;
    println!("    Application {} -> {} (prune, selfHeal, CreateNamespace=true)", app.metadata.name, app.namespace());
    let cluster = KubeCluster::new(testkit.client());
    // The controller's key lives in kube-system; the reconciler reads it as the Bitnami
    // controller does (Secrets labelled sealed-secrets-key=active) and unseals in-process.
    cluster
        .apply(
            &controller_key.to_secret("kube-system", "sealed-secrets-key")?,
            &ApplyOptions { field_manager: "sealed-secrets".into(), force: true, dry_run: false },
        )
        .await?;
    let secret_gvk = GroupVersionKind::new("", "v1", "Secret");
    let key_secrets = cluster.list(&secret_gvk, Some("kube-system"), &format!("{KEY_LABEL}=active")).await?;
    let mut ring = KeyRing::new();
    ring.add_controller_secrets(key_secrets.iter().map(Object::as_value), None)?;
    println!(
        "    Sealed Secrets keys from kube-system: {}",
        ring.keys().iter().map(KeyPair::fingerprint).collect::<Vec<_>>().join(", ")
    );
    let reconciler = Reconciler::new(
        GitSource::new(work.join("cache"))?,
        AutoRenderer::default(),
        SealedSecretsDecryptor::new(ring),
        cluster.clone(),
    );
    let mut state = AppState::new(app);
    let result = reconciler.reconcile(&mut state).await?;
    println!("    fetched revision {}", &state.status.revision.clone().unwrap_or_default()[..12]);
    println!("    rendered {} objects:", state.desired.len());
    show(&result);
    let health = engine::wait_healthy(&cluster, &result, Duration::from_secs(10)).await?;
    println!("    health: {} ({:?})", health.argo(), health);
    let ok = result.count(Action::Created) == state.desired.len() && health == gitops_sync::Health::Current;
    rows.push(Row {
        step: "first sync",
        outcome: format!("{} created, health {}", result.count(Action::Created), health.argo()),
        ok,
    });
    let live_secret = cluster.get(&secret_gvk, "payments-prod", "db-credentials").await?;
    let unsealed = live_secret
        .as_ref()
        .and_then(|s| s.get("/data/password"))
        .and_then(|v| v.as_str())
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|b| b == password.as_bytes());
    println!(
        "    Secret payments-prod/db-credentials unsealed in-process and applied: {} (values not shown)",
        if unsealed { "matches what was sealed" } else { "MISSING or different" }
    );
    rows.push(Row { step: "SealedSecret unsealed", outcome: "Secret db-credentials applied".into(), ok: unsealed });

    step(3, "drift: someone runs `kubectl scale deployment/web --replicas=5`, self-heal reverts it");
    let deploy = GroupVersionKind::new("apps", "v1", "Deployment");
    let scale = Object::from_value(
        gitops_core::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "payments-prod"}, "spec": {"replicas": 5}}),
    )?;
    cluster.apply(&scale, &ApplyOptions { field_manager: "kubectl".into(), force: true, dry_run: false }).await?;
    let live = cluster.get(&deploy, "payments-prod", "web").await?.ok_or("the Deployment is gone")?;
    println!("    live replicas after kubectl: {}", live.get("/spec/replicas").cloned().unwrap_or_default());
    let healed = reconciler.self_heal(&mut state).await?.ok_or("self-heal is off")?;
    show(&healed);
    let live = cluster.get(&deploy, "payments-prod", "web").await?.ok_or("the Deployment is gone")?;
    let replicas = live.get("/spec/replicas").cloned().unwrap_or_default();
    println!("    live replicas after self-heal: {replicas}");
    rows.push(Row { step: "self-heal", outcome: format!("replicas 5 -> {replicas}"), ok: replicas == 3 });

    step(4, "CI: `kustomize edit set image registry.example.com/web=registry.example.com/web:1.2.4`, commit, roll out");
    let kpath = repo.join("overlays/prod/kustomization.yaml");
    let edited = gitops_render::set_image(
        &std::fs::read_to_string(&kpath)?,
        "registry.example.com/web=registry.example.com/web:1.2.4",
    )?;
    std::fs::write(&kpath, edited)?;
    git(&repo, &["commit", "-q", "-am", "ci: web 1.2.4"])?;
    println!("    committed {}", git(&repo, &["rev-parse", "--short", "HEAD"])?);
    let result = reconciler.reconcile(&mut state).await?;
    show(&result);
    let live = cluster.get(&deploy, "payments-prod", "web").await?.ok_or("the Deployment is gone")?;
    let image = live.get("/spec/template/spec/containers/0/image").and_then(|v| v.as_str()).unwrap_or("").to_string();
    println!("    live image: {image}");
    rows.push(Row {
        step: "image update rolled out",
        outcome: image.clone(),
        ok: image.ends_with(":1.2.4") && result.count(Action::Updated) == 1,
    });

    step(5, "a resource leaves Git (the Service), and is pruned");
    let bpath = repo.join("base/kustomization.yaml");
    let base = std::fs::read_to_string(&bpath)?.replace("- service.yaml\n", "");
    std::fs::write(&bpath, base)?;
    git(&repo, &["commit", "-q", "-am", "drop the web Service"])?;
    let result = reconciler.reconcile(&mut state).await?;
    show(&result);
    let gone = cluster.get(&GroupVersionKind::new("", "v1", "Service"), "payments-prod", "web").await?.is_none();
    rows.push(Row {
        step: "prune",
        outcome: format!("{} pruned, Service gone: {gone}", result.count(Action::Pruned)),
        ok: gone && result.count(Action::Pruned) == 1,
    });

    println!("\n{}", heading("summary"));
    let mut summary = vec![vec!["step".to_string(), "outcome".to_string(), "result".to_string()]];
    for r in &rows {
        summary.push(vec![r.step.to_string(), r.outcome.clone(), (if r.ok { "ok" } else { "FAILED" }).to_string()]);
    }
    table("    ", &summary);
    println!("    history: {} revisions synced; {:.1}s", state.status.history.len(), started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
    Ok(rows.iter().all(|r| r.ok))
}

fn tempdir() -> Result<PathBuf, Error> {
    let base = std::env::temp_dir().join(format!("gitops-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}
