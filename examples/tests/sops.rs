//! SOPS end to end: a config repo holding a SOPS-encrypted Secret, a SealedSecret and a
//! secretGenerator over a SOPS-encrypted env file, side by side; the agent syncs it into the
//! embedded API server with keys from a file and from a Secret of the cluster, every Secret
//! lands with its values, and no value reaches any log line. Then a file encrypted for a key
//! the agent lacks: the application stops with an error naming the file and the recipient,
//! and nothing is pruned.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use gitops_core::{Cluster, GroupVersionKind};
use gitops_examples::agent::{Agent, Config};
use gitops_secrets::sops::{self, EncryptOptions, Format, Keys, Recipient};
use gitops_testkit::git::{copy_dir, run_git as git};

const AGE: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
const AGE_OTHER: &str = "age1afnrdrkyvy0sl5e08t9ffs4c7g5e5npc8luf7hjc77syewg5gajsls4r90";
const SOPS_VALUE: &str = "t0ken-from-sops-9f2a";
const ENV_VALUE: &str = "env-pass-from-sops-41c7";
const SEALED_VALUE: &str = "s3aled-value-77e1";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-secrets/tests/data/sops")
}

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encrypt(plain: &str, format: Format, recipient: &str, regex: Option<&str>) -> Vec<u8> {
    let opts = EncryptOptions {
        groups: vec![vec![Recipient::Age(recipient.into())]],
        rules: sops::RuleOptions { encrypted_regex: regex.map(String::from), ..Default::default() },
        ..EncryptOptions::default()
    };
    sops::encrypt(plain.as_bytes(), format, &opts, &Keys::new(), "test").unwrap()
}

fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sops_and_sealed_secrets_side_by_side() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo"), &repo);
    let prod = repo.join("overlays/prod");
    // A Secret encrypted with SOPS, only data/stringData encrypted, as teams commit them.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-token\n  namespace: payments-prod\ntype: Opaque\nstringData:\n  token: {SOPS_VALUE}\n"
    );
    std::fs::write(prod.join("api-token.enc.yaml"), encrypt(&secret, Format::Yaml, AGE, Some("^(data|stringData)$")))
        .unwrap();
    // An env file for a secretGenerator, encrypted with SOPS (dotenv).
    std::fs::write(
        prod.join("app.enc.env"),
        encrypt(&format!("DB_PASSWORD={ENV_VALUE}\nMODE=prod\n"), Format::Dotenv, AGE, None),
    )
    .unwrap();
    // A SealedSecret.
    let pair = gitops_secrets::KeyPair::generate(2048, "", gitops_secrets::keys::DEFAULT_KEY_TTL).unwrap();
    let plain = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments-prod"}, "stringData": {"password": SEALED_VALUE}});
    let sealed = gitops_secrets::seal(
        &plain,
        pair.certificate.as_ref().unwrap(),
        &Default::default(),
        &mut gitops_secrets::SystemEntropy::default(),
    )
    .unwrap();
    std::fs::write(prod.join("db.yaml"), gitops_secrets::output::to_go_yaml(&sealed)).unwrap();
    let k = prod.join("kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap().replace(
        "- ../../base\n",
        "- ../../base\n- db.yaml\n- api-token.enc.yaml\nsecretGenerator:\n- name: app-env\n  envs:\n  - app.enc.env\n",
    );
    std::fs::write(&k, text).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    commit(&repo, "init");

    let sealed_keys = dir.path().join("sealed-keys");
    std::fs::create_dir_all(&sealed_keys).unwrap();
    std::fs::write(sealed_keys.join("key.pem"), pair.key.to_pkcs1_pem().as_bytes()).unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(
        apps.join("payments.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: payments, namespace: argocd}}\nspec:\n  source: {{repoURL: 'file://{}', targetRevision: HEAD, path: overlays/prod}}\n  destination: {{namespace: payments-prod}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
            repo.display()
        ),
    )
    .unwrap();
    let config = Config {
        apps: vec![apps],
        embedded: true,
        sealed_keys: Some(sealed_keys),
        sops_key_files: vec![vectors().join("keys/age/keys.txt")],
        cache_dir: dir.path().join("cache"),
        ..Config::default()
    };
    let agent = Arc::new(Agent::start(&config).await.unwrap());
    assert!(agent.once(true, std::time::Duration::from_secs(20)).await.unwrap(), "synced and healthy");

    let secrets =
        agent.cluster.list(&GroupVersionKind::new("", "v1", "Secret"), Some("payments-prod"), "").await.unwrap();
    let value = |prefix: &str, key: &str| -> String {
        let s = secrets.iter().find(|s| s.name().starts_with(prefix)).unwrap_or_else(|| {
            panic!("no Secret {prefix}* in {:?}", secrets.iter().map(|s| s.name()).collect::<Vec<_>>())
        });
        let b64 = s
            .get(&format!("/data/{key}"))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{prefix}: no data.{key}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
    };
    assert_eq!(value("api-token", "token"), SOPS_VALUE);
    assert_eq!(value("app-env-", "DB_PASSWORD"), ENV_VALUE);
    assert_eq!(value("app-env-", "MODE"), "prod");
    assert_eq!(value("db", "password"), SEALED_VALUE);
    for s in &secrets {
        assert!(s.get("/sops").is_none(), "no SOPS metadata reaches the cluster: {}", s.name());
    }

    // A file encrypted for a key the agent does not have: the application stops, names the
    // file and the recipient, and nothing is pruned.
    std::fs::write(
        prod.join("api-token.enc.yaml"),
        encrypt(&secret.replace(SOPS_VALUE, "rotated-value"), Format::Yaml, AGE_OTHER, Some("^(data|stringData)$")),
    )
    .unwrap();
    commit(&repo, "rotate to a key the agent lacks");
    let ok = agent.once(false, std::time::Duration::from_secs(10)).await;
    assert!(!matches!(ok, Ok(true)), "the pass must not succeed: {ok:?}");
    let state = agent.manager.state("payments-prod", "payments").expect("payments");
    let error = state.lock().await.status.error.clone().unwrap_or_default();
    assert!(error.contains("api-token.enc.yaml") && error.contains(AGE_OTHER), "{error}");
    let after =
        agent.cluster.list(&GroupVersionKind::new("", "v1", "Secret"), Some("payments-prod"), "").await.unwrap();
    assert_eq!(after.len(), secrets.len(), "nothing pruned");
    assert_eq!(
        after.iter().find(|s| s.name() == "api-token").and_then(|s| s.get("/data/token").cloned()),
        secrets.iter().find(|s| s.name() == "api-token").and_then(|s| s.get("/data/token").cloned())
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().count() > 10, "the agent logged: {text}");
    for secret_value in [SOPS_VALUE, ENV_VALUE, SEALED_VALUE, "rotated-value"] {
        assert!(!text.contains(secret_value), "a secret value reached the logs");
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret_value);
        assert!(!text.contains(&b64), "a secret value (base64) reached the logs");
    }
    assert!(!error.contains("rotated-value") && !error.contains(SOPS_VALUE));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_come_from_a_secret_named_as_flux_names_them() {
    let (client, _server) =
        gitops_examples::agent::connect(&Config { embedded: true, ..Config::default() }).await.unwrap();
    let cluster = gitops_sync::KubeCluster::new(client);
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(vectors().join(p)).unwrap());
    let secret = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sops-keys", "namespace": "default"},
        "data": {"identity.agekey": b64("keys/age/other.txt"), "team.asc": b64("keys/pgp/sops_functional_tests_key.asc"), "README": "aGk="}});
    cluster.apply(&gitops_core::Object::from_value(secret).unwrap(), &Default::default()).await.unwrap();
    let config = Config { sops_keys_secret: Some("default/sops-keys".into()), ..Config::default() };
    let keys = gitops_examples::agent::sops_keys(&config, &cluster).await.unwrap();
    assert_eq!(keys.age_recipients(), vec![AGE_OTHER.to_string()]);
    assert!(keys.pgp_keys().iter().any(|k| k.fingerprint == "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"));
    // With them, a file encrypted for the other age key and one for the OpenPGP key decrypt.
    let other = encrypt("a: secret-a\n", Format::Yaml, AGE_OTHER, None);
    assert_eq!(sops::decrypt(&other, Format::Yaml, &keys, &Default::default(), "a.yaml").unwrap(), b"a: secret-a\n");
    let pgp = std::fs::read(vectors().join("files/pgp_example.yaml")).unwrap();
    assert!(sops::decrypt(&pgp, Format::Yaml, &keys, &Default::default(), "pgp.yaml").is_ok());
    let missing = Config { sops_keys_secret: Some("default/none".into()), ..Config::default() };
    let e = gitops_examples::agent::sops_keys(&missing, &cluster).await.unwrap_err().to_string();
    assert!(e.contains("default/none") && e.contains("no such Secret"), "{e}");
}
