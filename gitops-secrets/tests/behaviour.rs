//! Sealing and unsealing behaviour: scopes, moved objects, rotation, tampering, broken input,
//! key storage, merge-into, raw mode, re-encryption, the Decryptor.

use std::path::Path;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gitops_core::{Decryptor, Object};
use gitops_core::{json, value::Value};
use gitops_secrets::keys::DEFAULT_KEY_TTL;
use gitops_secrets::{
    Certificate, KeyPair, KeyRing, PrivateKey, Scope, SealOptions, SealedSecretsDecryptor, SystemEntropy,
    UnsealOptions, crypto,
};

fn test_key() -> KeyPair {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sealed/generated");
    let key =
        PrivateKey::from_pem(&std::fs::read_to_string(dir.join("key-2048.pem")).unwrap(), "key-2048.pem").unwrap();
    let cert = Certificate::from_pem(&std::fs::read_to_string(dir.join("cert-2048.pem")).unwrap(), "cert").unwrap();
    KeyPair { key, certificate: Some(cert), created: None, source: "key-2048.pem".into() }
}

fn ring(keys: impl IntoIterator<Item = KeyPair>) -> KeyRing {
    let mut r = KeyRing::new();
    for k in keys {
        r.add(k);
    }
    r
}

fn secret(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
           "type": "Opaque", "data": {"password": STANDARD.encode("hunter2")}, "stringData": {"user": "admin"}})
}

fn seal(s: &Value, pair: &KeyPair, scope: Option<Scope>) -> Value {
    let options = SealOptions { scope, ..SealOptions::default() };
    gitops_secrets::seal(s, pair.certificate.as_ref().unwrap(), &options, &mut SystemEntropy::default()).unwrap()
}

fn item(secret: &Value, k: &str) -> String {
    String::from_utf8(STANDARD.decode(secret["data"][k].as_str().unwrap()).unwrap()).unwrap()
}

fn moved(sealed: &Value, ns: &str, name: &str) -> Value {
    let mut m = sealed.clone();
    m["metadata"]["namespace"] = json!(ns);
    m["metadata"]["name"] = json!(name);
    m
}

#[test]
fn round_trips_in_every_scope_and_moves_only_as_far_as_the_scope_allows() {
    let pair = test_key();
    let r = ring([pair.clone()]);
    let opts = UnsealOptions::default();
    for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
        let sealed = seal(&secret("team", "db"), &pair, Some(scope));
        assert_eq!(Scope::from_annotations(sealed["metadata"]["annotations"].as_object()), scope);
        let plain = gitops_secrets::unseal(&sealed, &r, &opts).unwrap();
        assert_eq!(item(&plain, "password"), "hunter2");
        assert_eq!(item(&plain, "user"), "admin");
        assert_eq!(plain["type"], "Opaque");
        let renamed = gitops_secrets::unseal(&moved(&sealed, "team", "other"), &r, &opts);
        let other_ns = gitops_secrets::unseal(&moved(&sealed, "elsewhere", "db"), &r, &opts);
        match scope {
            Scope::Strict => {
                let err = renamed.unwrap_err().to_string();
                assert!(
                    err.starts_with("SealedSecret team/other: no key could decrypt secret (password, user)"),
                    "{err}"
                );
                assert!(err.contains("strict scope binds them to team/other"), "{err}");
                assert!(err.contains("namePrefix"), "{err}");
                assert!(!err.contains("hunter2") && !err.contains("admin"), "{err}");
                assert!(other_ns.is_err());
            }
            Scope::NamespaceWide => {
                assert_eq!(item(&renamed.unwrap(), "password"), "hunter2");
                assert!(other_ns.is_err());
            }
            Scope::ClusterWide => {
                assert_eq!(item(&renamed.unwrap(), "password"), "hunter2");
                assert_eq!(item(&other_ns.unwrap(), "password"), "hunter2");
            }
        }
    }
}

#[test]
fn a_scope_annotation_changed_after_sealing_is_named_as_the_cause() {
    let pair = test_key();
    let mut sealed = seal(&secret("team", "db"), &pair, Some(Scope::NamespaceWide));
    sealed["metadata"].as_object_mut().unwrap().remove("annotations");
    let err = gitops_secrets::unseal(&sealed, &ring([pair]), &UnsealOptions::default()).unwrap_err().to_string();
    assert!(err.contains("sealed with scope namespace-wide but the SealedSecret's metadata says strict"), "{err}");
}

#[test]
fn a_key_the_ring_does_not_hold_is_reported_with_the_ring() {
    let pair = test_key();
    let other = KeyPair::generate(2048, "", DEFAULT_KEY_TTL).unwrap();
    let sealed = seal(&secret("team", "db"), &other, None);
    let err = gitops_secrets::unseal(&sealed, &ring([pair.clone()]), &UnsealOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("a key this ring does not hold"), "{text}");
    assert!(text.contains(&pair.fingerprint()), "{text}");
    let empty = gitops_secrets::unseal(&sealed, &KeyRing::new(), &UnsealOptions::default()).unwrap_err();
    assert!(empty.to_string().contains("the key ring is empty"), "{empty}");
}

#[test]
fn rotation_keeps_old_values_readable_and_seals_with_the_newest_key() {
    let old = test_key();
    let new = KeyPair::generate(2048, "", DEFAULT_KEY_TTL).unwrap();
    let r = ring([old.clone(), new.clone()]);
    assert_eq!(r.newest().unwrap().fingerprint(), new.fingerprint(), "newest by certificate NotBefore");
    for pair in [&old, &new] {
        let sealed = seal(&secret("ns", "s"), pair, None);
        assert_eq!(item(&gitops_secrets::unseal(&sealed, &r, &UnsealOptions::default()).unwrap(), "user"), "admin");
    }
    // Re-encryption moves an old value to the newest key, keeping the scope.
    let sealed = seal(&secret("ns", "s"), &old, Some(Scope::NamespaceWide));
    let re = gitops_secrets::re_encrypt(&sealed, &r, None, &mut SystemEntropy::default()).unwrap();
    assert_eq!(re["metadata"]["annotations"][gitops_secrets::NAMESPACE_WIDE], "true");
    let only_new = ring([new]);
    assert!(gitops_secrets::unseal(&sealed, &only_new, &UnsealOptions::default()).is_err());
    let plain = gitops_secrets::unseal(&re, &only_new, &UnsealOptions::default()).unwrap();
    assert_eq!(item(&plain, "password"), "hunter2");
}

#[test]
fn every_single_bit_flip_and_every_truncation_is_rejected() {
    let pair = test_key();
    let r = ring([pair.clone()]);
    let cert = pair.certificate.as_ref().unwrap();
    let label = Scope::Strict.label("ns", "name");
    let blob = crypto::encrypt(cert.public_key(), &label, b"0123456789abcdef", &mut SystemEntropy::default()).unwrap();
    assert_eq!(blob.len(), 2 + 256 + 16 + 16);
    assert_eq!(&crypto::decrypt(&r, &label, &blob).unwrap()[..], b"0123456789abcdef");
    for bit in 0..blob.len() * 8 {
        let mut bad = blob.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(crypto::decrypt(&r, &label, &bad).is_err(), "bit {bit} flipped was accepted");
    }
    for len in 0..blob.len() {
        assert!(crypto::decrypt(&r, &label, &blob[..len]).is_err(), "truncated to {len}");
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert!(crypto::decrypt(&r, &label, &longer).is_err());
    assert_eq!(crypto::decrypt(&r, &label, &[]).unwrap_err().to_string(), "SealedSecret data is too short");
}

#[test]
fn broken_sealed_secrets_fail_whole_with_the_item_named() {
    let pair = test_key();
    let r = ring([pair.clone()]);
    let good = seal(&secret("ns", "s"), &pair, None);
    let mut bad = good.clone();
    bad["spec"]["encryptedData"]["user"] = json!("not base64!");
    bad["spec"]["encryptedData"]["empty"] = json!("");
    bad["spec"]["encryptedData"]["number"] = json!(42);
    let err = gitops_secrets::unseal(&bad, &r, &UnsealOptions::default()).unwrap_err().to_string();
    assert!(err.contains("illegal base64 data") && err.contains("(user)"), "{err}");
    assert!(err.contains("SealedSecret data is too short (empty, number)"), "{err}");
    assert!(!err.contains("hunter2"));

    let mut tmpl = good.clone();
    tmpl["spec"]["template"]["data"] = json!({"dsn": "{{ .password | nosuch }}"});
    let err = gitops_secrets::unseal(&tmpl, &r, &UnsealOptions::default()).unwrap_err().to_string();
    assert!(err.contains("template: function \"nosuch\" not defined (dsn)"), "{err}");

    for (v, want) in [
        (json!({"apiVersion": "v1", "kind": "Secret"}), "expected apiVersion bitnami.com/v1alpha1 kind SealedSecret"),
        (
            json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "x"}}),
            "spec: missing",
        ),
        (json!("text"), "not a map"),
    ] {
        let err = gitops_secrets::unseal(&v, &r, &UnsealOptions::default()).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let mut both = good.clone();
    both["spec"]["data"] = json!("");
    let err = gitops_secrets::unseal(&both, &r, &UnsealOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cannot use the field 'encryptedData' and the deprecated field 'data'"), "{err}");
}

#[test]
fn the_legacy_whole_secret_format_is_read_when_accepted() {
    let pair = test_key();
    let r = ring([pair.clone()]);
    let inner = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "old", "labels": {"a": "b"}},
                       "data": {"k": STANDARD.encode("v")}});
    let blob = crypto::encrypt(
        pair.certificate.as_ref().unwrap().public_key(),
        &Scope::Strict.label("ns", "old"),
        inner.to_string().as_bytes(),
        &mut SystemEntropy::default(),
    )
    .unwrap();
    let sealed = json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                        "metadata": {"name": "old", "namespace": "ns", "uid": "u-1"}, "spec": {"data": STANDARD.encode(blob)}});
    let err = gitops_secrets::unseal(&sealed, &r, &UnsealOptions::default()).unwrap_err().to_string();
    assert!(err.contains("deprecated 'data' field"), "{err}");
    let plain =
        gitops_secrets::unseal(&sealed, &r, &UnsealOptions { accept_legacy_data: true, ..Default::default() }).unwrap();
    assert_eq!(item(&plain, "k"), "v");
    assert_eq!(plain["metadata"]["labels"]["a"], "b");
    assert_eq!(plain["metadata"]["namespace"], "ns");
    assert_eq!(plain["metadata"]["ownerReferences"][0]["uid"], "u-1");
}

#[test]
fn sealing_follows_kubeseal_rules_for_names_namespaces_and_empty_data() {
    let pair = test_key();
    let cert = pair.certificate.clone().unwrap();
    let e = &mut SystemEntropy::default();
    let mut no_ns = secret("", "s");
    no_ns["metadata"].as_object_mut().unwrap().remove("namespace");
    let sealed = gitops_secrets::seal(&no_ns, &cert, &SealOptions::default(), e).unwrap();
    assert_eq!(sealed["metadata"]["namespace"], "default");
    let opts = SealOptions { namespace: Some("team".into()), ..SealOptions::default() };
    assert_eq!(gitops_secrets::seal(&no_ns, &cert, &opts, e).unwrap()["metadata"]["namespace"], "team");
    let err = gitops_secrets::seal(&secret("a", "s"), &cert, &opts, e).unwrap_err().to_string();
    assert_eq!(err, "namespace mismatch: input secret is in namespace \"a\" but \"team\" was specified");
    let cw = SealOptions { scope: Some(Scope::ClusterWide), namespace: Some("team".into()), ..SealOptions::default() };
    let sealed = gitops_secrets::seal(&no_ns, &cert, &cw, e).unwrap();
    assert!(sealed["metadata"].get("namespace").is_none(), "cluster-wide ignores -n");

    let empty = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e", "namespace": "n"}});
    let err = gitops_secrets::seal(&empty, &cert, &SealOptions::default(), e).unwrap_err().to_string();
    assert!(err.contains("--allow-empty-data"), "{err}");
    let allow = SealOptions { allow_empty_data: true, ..SealOptions::default() };
    assert_eq!(gitops_secrets::seal(&empty, &cert, &allow, e).unwrap()["spec"]["encryptedData"], json!({}));

    let mut bad = secret("n", "s");
    bad["data"]["password"] = json!("%%%");
    let err = gitops_secrets::seal(&bad, &cert, &SealOptions::default(), e).unwrap_err().to_string();
    assert!(err.contains("Secret n/s: data.password: not base64"), "{err}");
    let nameless = json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "b"}});
    assert!(
        gitops_secrets::seal(&nameless, &cert, &SealOptions::default(), e).unwrap_err().to_string().contains("--name")
    );

    // Strict cannot downgrade an input annotated cluster-wide.
    let mut annotated = secret("n", "s");
    annotated["metadata"]["annotations"] = json!({gitops_secrets::CLUSTER_WIDE: "true",
        "kubectl.kubernetes.io/last-applied-configuration": "{\"leak\":1}"});
    let strict = SealOptions { scope: Some(Scope::Strict), ..SealOptions::default() };
    let sealed = gitops_secrets::seal(&annotated, &cert, &strict, e).unwrap();
    assert_eq!(sealed["metadata"]["annotations"][gitops_secrets::CLUSTER_WIDE], "true");
    assert!(!sealed.to_string().contains("leak"), "last-applied never copied");
}

#[test]
fn raw_mode_needs_the_flags_its_scope_needs() {
    let pair = test_key();
    let cert = pair.certificate.clone().unwrap();
    let now = SystemTime::now();
    let e = &mut SystemEntropy::default();
    let err = gitops_secrets::seal_raw(b"v", &cert, Scope::Strict, Some("n"), None, now, e).unwrap_err();
    assert_eq!(err.to_string(), "must provide the --name flag with --raw and --scope strict");
    let err = gitops_secrets::seal_raw(b"v", &cert, Scope::NamespaceWide, None, None, now, e).unwrap_err();
    assert_eq!(err.to_string(), "must provide the --namespace flag with --raw and --scope namespace-wide");
    let raw = gitops_secrets::seal_raw(b"v\n", &cert, Scope::Strict, Some("n"), Some("s"), now, e).unwrap();
    assert!(!raw.ends_with('\n'));
    let blob = STANDARD.decode(&raw).unwrap();
    let r = ring([pair]);
    assert_eq!(&crypto::decrypt(&r, b"n/s", &blob).unwrap()[..], b"v\n", "bytes kept verbatim");
    assert!(gitops_secrets::seal_raw(b"v", &cert, Scope::ClusterWide, None, None, now, e).is_ok());
}

#[test]
fn merge_into_adds_and_replaces_items_and_keeps_the_target_metadata() {
    let pair = test_key();
    let cert = pair.certificate.clone().unwrap();
    let e = &mut SystemEntropy::default();
    let mut target = seal(&secret("team", "db"), &pair, None);
    target["metadata"]["labels"] = json!({"keep": "me"});
    let addition = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ignored", "labels": {"new": "label"}},
                          "stringData": {"user": "root", "extra": "x"}});
    let merged = gitops_secrets::merge_into(&target, &addition, &cert, &SealOptions::default(), e).unwrap();
    assert_eq!(merged["metadata"], target["metadata"]);
    assert_eq!(merged["spec"]["template"]["metadata"]["labels"]["new"], "label");
    assert_eq!(merged["spec"]["encryptedData"]["password"], target["spec"]["encryptedData"]["password"]);
    let plain = gitops_secrets::unseal(&merged, &ring([pair]), &UnsealOptions::default()).unwrap();
    assert_eq!(item(&plain, "user"), "root");
    assert_eq!(item(&plain, "extra"), "x");
    assert_eq!(item(&plain, "password"), "hunter2");
    let err = gitops_secrets::merge_into(&secret("a", "b"), &addition, &cert, &SealOptions::default(), e).unwrap_err();
    assert!(err.to_string().contains("expected apiVersion bitnami.com/v1alpha1 kind SealedSecret"));
}

#[test]
fn keys_are_stored_and_read_back_as_the_controller_stores_them() {
    let pair = KeyPair::generate(2048, "sealed-secret", DEFAULT_KEY_TTL).unwrap();
    let cert = pair.certificate.clone().unwrap();
    let years = (cert.not_after() - cert.not_before()) as f64 / (365.25 * 86_400.0);
    assert!((years - 10.0).abs() < 0.01, "{years}");
    let stored = pair.to_secret("kube-system", "sealed-secrets-keyabcde").unwrap();
    assert_eq!(stored.as_value()["type"], "kubernetes.io/tls");
    assert_eq!(stored.label(gitops_secrets::keys::KEY_LABEL), Some("active"));
    let key_pem =
        String::from_utf8(STANDARD.decode(stored.as_value()["data"]["tls.key"].as_str().unwrap()).unwrap()).unwrap();
    assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));

    // One Secret, a v1 List, several documents; a compromised key is ignored by the controller loader.
    let one = gitops_core::yaml::to_yaml(stored.as_value());
    let mut r = KeyRing::new();
    assert_eq!(r.add_file_contents(&one, "one.yaml").unwrap(), 1);
    assert_eq!(r.keys()[0].fingerprint(), pair.fingerprint());
    let other = KeyPair::generate(2048, "", DEFAULT_KEY_TTL).unwrap();
    let mut retired = other.to_secret("kube-system", "old").unwrap();
    retired.set_label(gitops_secrets::keys::KEY_LABEL, "compromised");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [stored.as_value(), retired.as_value()]});
    let mut r = KeyRing::new();
    assert_eq!(r.add_file_contents(&serde_json::to_string(&list).unwrap(), "list.json").unwrap(), 2);
    let docs = format!("{one}---\n{}", gitops_core::yaml::to_yaml(retired.as_value()));
    let mut r = KeyRing::new();
    assert_eq!(r.add_file_contents(&docs, "docs.yaml").unwrap(), 2);
    let mut controller = KeyRing::new();
    assert_eq!(controller.add_controller_secrets([stored.as_value(), retired.as_value()], None).unwrap(), 1);

    // PEM, PKCS#1 and PKCS#8.
    let mut r = KeyRing::new();
    assert_eq!(r.add_file_contents(&key_pem, "key.pem").unwrap(), 1);
    let pkcs8 =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkcs8-2048.pem")).unwrap();
    let k8 = PrivateKey::from_pem(&pkcs8, "pkcs8-2048.pem").unwrap();
    assert_eq!(k8.public_key(), test_key().key.public_key(), "PKCS#8 form of the test key");

    // Broken backups name the file and the field.
    for (text, want) in [
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: k}\ndata: {}\n", "no data.tls.key"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: k}\ndata: {tls.key: '%%'}\n", "data.tls.key: not base64"),
        ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "broken.yaml"),
        ("apiVersion: v1\nkind: List\nitems: []\n", "no PEM key and no key Secret"),
    ] {
        let err = KeyRing::new().add_file_contents(text, "broken.yaml").unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("broken.yaml"), "{err}");
    }
    let mismatched = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"},
        "data": {"tls.key": STANDARD.encode(key_pem.as_bytes()), "tls.crt": STANDARD.encode(other.certificate.unwrap().to_pem())}});
    let err = KeyPair::from_secret(&mismatched, "f").unwrap_err().to_string();
    assert!(err.contains("does not belong"), "{err}");
}

#[test]
fn the_decryptor_turns_sealed_secrets_into_secrets_all_or_nothing() {
    let pair = test_key();
    let sealed = Object::from_value(seal(&secret("ns", "db"), &pair, None)).unwrap();
    let cm = Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})).unwrap();
    let d = SealedSecretsDecryptor::new(ring([pair.clone()]));
    let out = d.decrypt(vec![cm.clone(), sealed.clone()]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], cm);
    assert_eq!(out[1].kind(), "Secret");
    assert_eq!(item(out[1].as_value(), "password"), "hunter2");
    assert!(out[1].as_value()["metadata"].get("ownerReferences").is_none());

    let moved = Object::from_value(moved(sealed.as_value(), "ns", "renamed")).unwrap();
    let passthrough = SealedSecretsDecryptor::new(KeyRing::new()).decrypt(vec![sealed.clone()]).unwrap();
    assert_eq!(passthrough, vec![sealed.clone()], "without keys, for an in-cluster controller");
    let err = d.decrypt(vec![cm, sealed, moved]).unwrap_err().to_string();
    assert!(err.contains("SealedSecret ns/renamed") && err.contains("no key could decrypt secret"), "{err}");
}
