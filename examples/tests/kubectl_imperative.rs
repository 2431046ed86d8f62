//! kubectl's imperative commands against the `api-server` example, as against a real cluster
//! (runs when kubectl is on PATH): `create namespace`, `create configmap`, `create deployment`
//! and `create secret` (sent as protocol buffers), `scale`, `label`, `annotate`, `set image`,
//! `rollout restart`, `edit` and `get -o yaml`. The server answers Go clients in protocol
//! buffers when they ask for them first, as a real one does.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubectl_imperative_commands() {
    if !Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success()) {
        println!("kubectl is not on PATH: skipped");
        return;
    }
    let Some(bin) = example("api-server") else {
        println!("the api-server example is not built: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(bin)
        .args(["--port", "0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _server = Server(child);
    assert!(line.starts_with("serving on "), "{line}");
    let kubectl = |args: &[&str], editor: Option<&str>| -> String {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &kubeconfig).args(args);
        if let Some(e) = editor {
            cmd.env("KUBE_EDITOR", e);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let get = |args: &[&str]| kubectl(&[&["get"], args].concat(), None);

    assert_eq!(kubectl(&["create", "namespace", "team"], None), "namespace/team created\n");
    assert_eq!(get(&["ns", "team", "-o", "jsonpath={.status.phase}"]), "Active");
    let again =
        Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(["create", "namespace", "team"]).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success()
            && err.contains(r#"Error from server (AlreadyExists): namespaces "team" already exists"#),
        "{err}"
    );
    kubectl(
        &["-n", "team", "create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=empty="],
        None,
    );
    assert_eq!(get(&["-n", "team", "cm", "settings", "-o", "jsonpath={.data}"]), r#"{"empty":"","mode":"fast"}"#);
    kubectl(&["-n", "team", "create", "secret", "generic", "token", "--from-literal=t=s3cr3t"], None);
    assert_eq!(get(&["-n", "team", "secret", "token", "-o", "jsonpath={.data.t}"]), "czNjcjN0");
    kubectl(&["-n", "team", "create", "deployment", "web", "--image=nginx:1.27", "--port=80"], None);
    let yaml = get(&["-n", "team", "deployment", "web", "-o", "yaml"]);
    assert!(yaml.contains("containerPort: 80") && yaml.contains("imagePullPolicy: IfNotPresent"), "{yaml}");

    assert_eq!(
        kubectl(&["-n", "team", "scale", "deployment", "web", "--replicas=3"], None),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(get(&["-n", "team", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
    kubectl(&["-n", "team", "label", "deployment", "web", "tier=front"], None);
    kubectl(&["-n", "team", "annotate", "deployment", "web", "note=first"], None);
    kubectl(&["-n", "team", "set", "image", "deployment/web", "nginx=nginx:1.28"], None);
    kubectl(&["-n", "team", "rollout", "restart", "deployment/web"], None);
    kubectl(&["-n", "team", "edit", "deployment", "web"], Some("sed -i s/note:\\ first/note:\\ edited/"));
    let yaml = get(&["-n", "team", "deployment", "web", "-o", "yaml"]);
    assert!(yaml.contains("tier: front") && yaml.contains("note: edited"), "{yaml}");
    assert!(yaml.contains("image: nginx:1.28") && yaml.contains("kubectl.kubernetes.io/restartedAt"), "{yaml}");
    // Spec changes and (for a Deployment) annotation changes count; labels do not.
    assert!(yaml.contains("generation: 6"), "scale, annotate, set image, restart and edit each count:\n{yaml}");
    // The rollouts left ReplicaSets behind, owned by the Deployment.
    let owners = get(&["-n", "team", "rs", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].name}"]);
    assert!(owners.split(' ').count() >= 2 && owners.split(' ').all(|o| o == "web"), "{owners}");
}
