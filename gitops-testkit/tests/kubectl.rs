//! kubectl against the in-process server (runs when kubectl is on PATH): server-side apply of
//! a multi-document file, managedFields in `get -o yaml`, a dropped field removed by the next
//! apply, patch, delete, and `get -w` streaming an update.

use std::process::{Command, Stdio};

use gitops_testkit::TestCluster;

fn kubectl_available() -> bool {
    Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success())
}

/// A server and a kubeconfig for it in a temporary directory; `None` (skipped) without kubectl.
async fn start() -> Option<(TestCluster, tempfile::TempDir, std::path::PathBuf)> {
    if !kubectl_available() {
        println!("kubectl is not on PATH: skipped");
        return None;
    }
    let cluster = TestCluster::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig()).unwrap();
    Some((cluster, dir, kubeconfig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_server() {
    let Some((_cluster, dir, kubeconfig)) = start().await else { return };
    let manifest = dir.path().join("app.yaml");
    let doc = |data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: one}}\ndata: {data}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: web, image: 'nginx:1.27'}}]\n"
        )
    };
    let kc = kubeconfig.clone();
    let run = move |args: Vec<String>| -> String {
        let out = Command::new("kubectl").env("KUBECONFIG", &kc).args(&args).output().unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let m = manifest.display().to_string();
    let run2 = run.clone();
    let steps = tokio::task::spawn_blocking(move || {
        std::fs::write(&manifest, doc("{a: '1', b: '2'}")).unwrap();
        let applied = run(vec!["apply".into(), "--server-side".into(), "-f".into(), m.clone()]);
        assert!(
            applied.contains("configmap/one serverside-applied")
                && applied.contains("deployment.apps/web serverside-applied"),
            "{applied}"
        );
        let yaml = run(vec![
            "get".into(),
            "cm".into(),
            "one".into(),
            "-o".into(),
            "yaml".into(),
            "--show-managed-fields".into(),
        ]);
        assert!(
            yaml.contains("manager: kubectl") && yaml.contains("operation: Apply") && yaml.contains("f:b: {}"),
            "{yaml}"
        );
        // Drop b from the file: the next server-side apply removes it.
        std::fs::write(&manifest, doc("{a: '1'}")).unwrap();
        run(vec!["apply".into(), "--server-side".into(), "-f".into(), m.clone()]);
        assert_eq!(
            run(vec!["get".into(), "cm".into(), "one".into(), "-o".into(), "jsonpath={.data}".into()]),
            r#"{"a":"1"}"#
        );
        run(vec!["patch".into(), "cm".into(), "one".into(), "-p".into(), r#"{"data":{"c":"3"}}"#.into()]);
        assert_eq!(run(vec!["get".into(), "cm".into(), "one".into(), "-o".into(), "jsonpath={.data.c}".into()]), "3");
        let rs = run(vec!["get".into(), "rs".into(), "-l".into(), "app=web".into(), "-o".into(), "name".into()]);
        assert!(rs.starts_with("replicaset.apps/web-"), "{rs}");
        run(vec!["delete".into(), "deployment".into(), "web".into()]);
    });
    steps.await.unwrap();
    // `get -w` streams an update made while it watches.
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args(["get", "cm", "one", "-w", "-o", "jsonpath={.data.c}{\"\\n\"}", "--request-timeout=5s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    tokio::task::spawn_blocking(move || {
        run2(vec!["patch".into(), "cm".into(), "one".into(), "-p".into(), r#"{"data":{"c":"4"}}"#.into()])
    })
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "3") && text.lines().any(|l| l == "4"), "watch printed {text:?}");
    let deleted =
        Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(["delete", "cm", "one"]).output().unwrap();
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("deleted"));
}

/// kubectl validates fields on the server (`fieldValidation=Strict` unless `--validate` says
/// otherwise): a typo is refused with the strict decoding error, warned about with
/// `--validate=warn`, and server-side apply refuses a field the schema does not declare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_field_validation() {
    let Some((_cluster, dir, kubeconfig)) = start().await else { return };
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndata: {a: '1'}\ndatta: {b: '2'}\n")
        .unwrap();
    let f = file.display().to_string();
    tokio::task::spawn_blocking(move || {
        let kubectl = |args: &[&str]| {
            let out = Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(args).output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, _, err) = kubectl(&["create", "-f", &f]);
        assert!(!ok && err.contains(r#"strict decoding error: unknown field "datta""#), "{err}");
        let (ok, _, err) = kubectl(&["apply", "--server-side", "-f", &f]);
        assert!(!ok && err.contains(".datta: field not declared in schema"), "{err}");
        let (ok, out, err) = kubectl(&["create", "-f", &f, "--validate=warn"]);
        assert!(ok && out.contains("configmap/typo created"), "{out}{err}");
        assert!(err.contains(r#"Warning: unknown field "datta""#), "{err}");
        let (ok, out, _) = kubectl(&["get", "cm", "typo", "-o", "jsonpath={.data}"]);
        assert!(ok);
        assert_eq!(out, r#"{"a":"1"}"#, "the unknown field is dropped");
    })
    .await
    .unwrap();
}
