//! Interoperability: the generated vectors (byte-identical sealing with fixed randomness),
//! the upstream test certificate and label table, and a real kubeseal/controller pair.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gitops_core::value::Value;
use gitops_secrets::output::{to_go_json, to_go_yaml};
use gitops_secrets::{
    Certificate, DeterministicEntropy, Entropy, KeyRing, PrivateKey, Scope, SealOptions, UnsealOptions, crypto,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sealed").join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Hands out exactly the bytes it was given.
struct Fixed(Vec<u8>);

impl Entropy for Fixed {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), gitops_secrets::Error> {
        assert!(self.0.len() >= buf.len(), "more randomness consumed than the vector provides");
        let rest = self.0.split_off(buf.len());
        buf.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

fn ring_of(key_rel: &str) -> (KeyRing, Certificate) {
    let key_text = read(key_rel);
    let key = PrivateKey::from_pem(&key_text, key_rel).unwrap();
    let cert_rel = key_rel.replace("key-", "cert-");
    let cert = Certificate::from_pem(&read(&cert_rel), &cert_rel).unwrap();
    assert_eq!(cert.public_key(), key.public_key(), "{cert_rel} belongs to {key_rel}");
    let mut ring = KeyRing::new();
    ring.add(gitops_secrets::KeyPair { key, certificate: Some(cert.clone()), created: None, source: key_rel.into() });
    (ring, cert)
}

#[test]
fn generated_low_level_vectors_are_reproduced_byte_for_byte() {
    let doc: Value = serde_json::from_str(&read("generated/vectors.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 40);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let (ring, cert) = ring_of(&format!("generated/{}", c["key"].as_str().unwrap()));
        assert_eq!(cert.public_key().fingerprint(), c["key_fingerprint"].as_str().unwrap(), "{id}");
        let scope: Scope = c["scope"].as_str().unwrap().parse().unwrap();
        let label = scope.label(c["namespace"].as_str().unwrap(), c["name"].as_str().unwrap());
        assert_eq!(label, hex(c["label_hex"].as_str().unwrap()), "{id}: label");
        let plaintext = hex(c["plaintext_hex"].as_str().unwrap());
        let mut entropy =
            Fixed([hex(c["session_key_hex"].as_str().unwrap()), hex(c["oaep_seed_hex"].as_str().unwrap())].concat());
        let blob = crypto::encrypt(cert.public_key(), &label, &plaintext, &mut entropy).unwrap();
        let rsa = hex(c["rsa_ciphertext_hex"].as_str().unwrap());
        assert_eq!(&blob[2..2 + rsa.len()], &rsa[..], "{id}: RSA-OAEP part");
        assert_eq!(
            &blob[2 + rsa.len()..],
            &hex(c["aes_gcm_ciphertext_and_tag_hex"].as_str().unwrap())[..],
            "{id}: GCM part"
        );
        let b64 = base64_encode(&blob);
        assert_eq!(b64, c["sealed_base64"].as_str().unwrap(), "{id}: sealed value");
        assert_eq!(&crypto::decrypt(&ring, &label, &blob).unwrap()[..], &plaintext[..], "{id}: decrypts");
        let mut wrong = label.clone();
        wrong.push(b'x');
        assert_eq!(crypto::decrypt(&ring, &wrong, &blob).unwrap_err(), crypto::OpenError::NoKey, "{id}: other label");
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn generated_object_cases_match_kubeseal_output_and_unseal_to_the_expected_secret() {
    let doc: Value = serde_json::from_str(&read("generated/golden/cases.json")).unwrap();
    let key_rel = format!("generated/golden/{}", doc["key"].as_str().unwrap());
    let key_rel = key_rel.replace("golden/../", "");
    let (ring, cert) = ring_of(&key_rel);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let dir = format!("generated/golden/{id}");
        let input = gitops_secrets::read_objects(&read(&format!("{dir}/input.yaml")), "input.yaml").unwrap();
        assert_eq!(input.len(), 1, "{id}");
        let args = &c["seal_args"];
        let ns = args["namespace"].as_str().map(str::to_string);
        let options = SealOptions {
            scope: args["scope"].as_str().map(|s| s.parse().unwrap()),
            namespace: if args["namespace_explicit"].as_bool() == Some(true) { ns.clone() } else { None },
            default_namespace: ns.unwrap_or_else(|| "default".into()),
            name: args["name"].as_str().map(str::to_string),
            legacy_creation_timestamp: args["legacy_creation_timestamp"].as_bool() == Some(true),
            ..SealOptions::default()
        };
        let mut entropy = DeterministicEntropy::new(c["entropy_seed"].as_str().unwrap().as_bytes());
        let mut sealed = gitops_secrets::seal(&input[0], &cert, &options, &mut entropy).unwrap();
        if let Some(td) = c["template_data_added_after_sealing"].as_object() {
            sealed["spec"]["template"]["data"] = Value::Object(td.clone());
        }
        assert_eq!(to_go_json(&sealed), read(&format!("{dir}/sealed.json")), "{id}: sealed.json");
        assert_eq!(to_go_yaml(&sealed), read(&format!("{dir}/sealed.yaml")), "{id}: sealed.yaml");

        for file in ["sealed.json", "sealed.yaml"] {
            let parsed = gitops_secrets::read_objects(&read(&format!("{dir}/{file}")), file).unwrap();
            let secret = gitops_secrets::unseal(&parsed[0], &ring, &UnsealOptions::default()).unwrap();
            assert_eq!(to_go_json(&secret), read(&format!("{dir}/unsealed.json")), "{id}: unsealed.json from {file}");
            assert_eq!(to_go_yaml(&secret), read(&format!("{dir}/unsealed.yaml")), "{id}: unsealed.yaml from {file}");
        }
    }
}

#[test]
fn the_upstream_test_certificate_parses_to_its_modulus_and_expires_as_kubeseal_says() {
    let meta: Value = serde_json::from_str(&read("upstream-kubeseal-test-cert.json")).unwrap();
    let cert = Certificate::from_pem(&read("upstream-kubeseal-test-cert.pem"), "test cert").unwrap();
    let n = num_decimal(&cert.public_key().modulus());
    assert_eq!(n, meta["rsa_modulus_decimal"].as_str().unwrap());
    assert_eq!(cert.public_key().exponent(), vec![0x01, 0x00, 0x01]);
    assert_eq!(cert.public_key().bits(), 4096);
    assert_eq!(cert.public_key().fingerprint(), "SHA256:GGkvu+e9oSv0lC5zQgZeFDtW/h7L0lSIV4QFz6+0tcI");

    let secret = gitops_core::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"}, "stringData": {"a": "b"}});
    let after = UNIX_EPOCH + Duration::from_secs(cert.not_after() as u64 + 86_400);
    let options = SealOptions { now: Some(after), ..SealOptions::default() };
    let err =
        gitops_secrets::seal(&secret, &cert, &options, &mut gitops_secrets::SystemEntropy::default()).unwrap_err();
    assert_eq!(err.to_string(), "failed to encrypt using an expired certificate on June 18, 2027");
    let before = UNIX_EPOCH + Duration::from_secs(cert.not_after() as u64 - 86_400);
    let options = SealOptions { now: Some(before), ..SealOptions::default() };
    let sealed = gitops_secrets::seal(&secret, &cert, &options, &mut gitops_secrets::SystemEntropy::default()).unwrap();
    assert!(sealed["spec"]["encryptedData"]["a"].as_str().unwrap().starts_with("Ag"), "4096-bit values start with Ag");
    assert!(SystemTime::now() > UNIX_EPOCH);
}

fn num_decimal(be: &[u8]) -> String {
    // Repeated division by 10 over the big-endian bytes.
    let mut digits = Vec::new();
    let mut n: Vec<u32> = be.iter().map(|&b| b as u32).collect();
    while n.iter().any(|&d| d != 0) {
        let mut rem = 0u32;
        for d in n.iter_mut() {
            let cur = rem * 256 + *d;
            *d = cur / 10;
            rem = cur % 10;
        }
        digits.push(char::from(b'0' + rem as u8));
    }
    digits.iter().rev().collect()
}

#[test]
fn upstream_label_table() {
    let doc: Value = serde_json::from_str(&read("upstream-label-vectors.json")).unwrap();
    for c in doc["cases"].as_array().unwrap() {
        let scope = match c.get("scope").and_then(Value::as_str) {
            Some(s) => s.parse().unwrap(),
            None => Scope::from_annotations(c["annotations"].as_object()),
        };
        let label = scope.label(c["namespace"].as_str().unwrap(), c["name"].as_str().unwrap());
        assert_eq!(String::from_utf8(label).unwrap(), c["label"].as_str().unwrap(), "{c}");
    }
}

#[test]
fn a_real_kubeseal_sealed_secret_unseals_with_its_controller_key() {
    let mut ring = KeyRing::new();
    assert_eq!(ring.add_file_contents(&read("real-world/key-secret.yaml"), "key-secret.yaml").unwrap(), 1);
    let sealed = gitops_secrets::read_objects(&read("real-world/sealed.yaml"), "sealed.yaml").unwrap();
    let secret = gitops_secrets::unseal(&sealed[0], &ring, &UnsealOptions::default()).unwrap();
    let expected: Value = serde_json::from_str(&read("real-world/expected.json")).unwrap();
    for (k, v) in expected.as_object().unwrap() {
        use base64::Engine;
        let got = base64::engine::general_purpose::STANDARD.decode(secret["data"][k].as_str().unwrap()).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), v.as_str().unwrap(), "item {k}");
    }
    assert_eq!(secret["metadata"]["namespace"], "foo");
    assert_eq!(secret["metadata"]["ownerReferences"][0]["kind"], "SealedSecret");
}
