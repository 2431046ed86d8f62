//! The SOPS interoperability vectors (`tests/data/sops`, copied from the project's shared
//! vectors; written by the reference `sops` 3.11 and upstream's repository): every file
//! decrypts byte for byte to what `sops decrypt` printed, with each key that opens it alone;
//! every tampered file is refused with the class of error `sops` gives; lenient files
//! decrypt as `sops` does.

use std::path::{Path, PathBuf};

use gitops_core::value::Value;
use gitops_secrets::sops::{self, DecryptOptions, ErrorKind, Format, Keys};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sops")
}

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

fn keys_from(paths: &[&str]) -> Keys {
    let mut keys = Keys::new();
    for p in paths {
        let data = std::fs::read(dir().join(p)).unwrap();
        if p.ends_with(".asc") {
            keys.add_pgp(&data, p).unwrap();
        } else if p.ends_with("id_ed25519") {
            keys.add_ssh(&String::from_utf8_lossy(&data), p).unwrap();
        } else {
            keys.add_age(&String::from_utf8_lossy(&data), p).unwrap();
        }
    }
    keys
}

fn all_keys() -> Keys {
    keys_from(&[
        "keys/age/keys.txt",
        "keys/age/other.txt",
        "keys/age/id_ed25519",
        "keys/pgp/sops_functional_tests_key.asc",
    ])
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

fn decrypt(file: &str, keys: &Keys) -> Result<Vec<u8>, sops::Error> {
    let data = std::fs::read(dir().join(file)).unwrap();
    sops::decrypt(&data, Format::from_path(file), keys, &DecryptOptions::default(), file)
}

#[test]
fn every_file_decrypts_byte_for_byte_with_each_key_that_opens_it() {
    let m = manifest();
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 41);
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in files {
        let file = f["file"].as_str().unwrap();
        let expected = std::fs::read(dir().join(f["expected_plain"].as_str().unwrap())).unwrap();
        let with = strs(&f["decrypt_with"]);
        let sets: Vec<Vec<&str>> = if f["key_rule"].as_str().unwrap().starts_with("any one") {
            with.iter().map(|k| vec![*k]).collect()
        } else {
            vec![with.clone()]
        };
        for set in sets {
            checked += 1;
            match decrypt(file, &keys_from(&set)) {
                Ok(out) if out == expected => {}
                Ok(out) => failures.push(format!(
                    "{file} with {set:?}: output differs\n--- expected\n{}\n--- got\n{}",
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&out)
                )),
                Err(e) => failures.push(format!("{file} with {set:?}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} failed:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn every_bad_file_is_refused_with_the_right_kind_of_error() {
    let m = manifest();
    let keys = all_keys();
    let bad = m["bad"].as_array().unwrap();
    assert_eq!(bad.len(), 16);
    for b in bad {
        let file = b["file"].as_str().unwrap();
        let want = match b["oracle_error"].as_str().unwrap() {
            "value-decrypt-failed" => ErrorKind::Decrypt,
            "mac-failed" => ErrorKind::Mac,
            "no-data-key" => ErrorKind::NoDataKey,
            other => panic!("unknown class {other}"),
        };
        let e = decrypt(file, &keys).expect_err(file);
        assert_eq!(e.kind, want, "{file}: {e}");
        assert_eq!(e.kind.exit_code(), b["sops_exit_code"].as_i64().unwrap() as i32, "{file}");
        assert!(e.to_string().starts_with(file), "the error names the file: {e}");
        // The MAC check is what refuses the mac-failed files: with it off they decrypt, as
        // `sops --ignore-mac` does, and nothing else does.
        let data = std::fs::read(dir().join(file)).unwrap();
        let lenient = sops::decrypt(&data, Format::from_path(file), &keys, &DecryptOptions { ignore_mac: true }, file);
        assert_eq!(lenient.is_ok(), want == ErrorKind::Mac, "{file} with ignore_mac: {lenient:?}");
    }
}

#[test]
fn no_data_key_errors_name_the_recipients_and_no_value() {
    let m = manifest();
    for n in m["negative_keysets"].as_array().unwrap() {
        let file = n["file"].as_str().unwrap();
        let e = decrypt(file, &keys_from(&strs(&n["decrypt_with"]))).expect_err(file);
        assert_eq!(e.kind, ErrorKind::NoDataKey, "{file}: {e}");
        let text = e.to_string();
        assert!(
            text.contains("age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun")
                || text.contains("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            "{text}"
        );
    }
    let e = decrypt("files/age_types.yaml", &Keys::new()).unwrap_err();
    assert!(e.message.contains("no keys were given"), "{e}");
    // A value that does not decrypt is named by its path, never shown.
    let e = decrypt("bad/plaintext-injected.yaml", &all_keys()).unwrap_err();
    assert!(!e.to_string().contains("injected-plaintext"), "{e}");
    assert!(e.to_string().contains("secret:"), "{e}");
}

#[test]
fn lenient_files_decrypt_as_sops_does() {
    let m = manifest();
    for l in m["lenient"].as_array().unwrap() {
        let file = l["file"].as_str().unwrap();
        let expected = std::fs::read(dir().join(l["expected_plain"].as_str().unwrap())).unwrap();
        let out = decrypt(file, &keys_from(&strs(&l["decrypt_with"]))).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected), "{file}");
    }
}

#[test]
fn files_read_through_the_decrypting_tree_are_plain_and_others_untouched() {
    use gitops_core::{FileTree, MemTree};
    let mut keys = Keys::new();
    keys.add_age(&std::fs::read_to_string(dir().join("keys/age/keys.txt")).unwrap(), "keys.txt").unwrap();
    let read = |p: &str| std::fs::read(dir().join(p)).unwrap();
    let tree = MemTree::new()
        .with_file("app/secret.yaml", read("files/age_k8s_secret.yaml"))
        .with_file("app/cert.pem", read("files/age_random.bin"))
        .with_file("app/app.env", read("files/age_basic.env"))
        .with_file("app/plain.yaml", "kind: ConfigMap\nsops: not-metadata\n")
        .with_file("app/other.yaml", read("files/age_types.yaml"));
    let t = sops::DecryptingTree::new(&tree, &keys);
    assert_eq!(t.read("app/secret.yaml").unwrap(), read("expected/age_k8s_secret.yaml.plain"));
    assert_eq!(
        t.read("app/cert.pem").unwrap(),
        read("expected/age_random.bin.plain"),
        "a binary file (secretGenerator files:)"
    );
    assert_eq!(t.read("app/app.env").unwrap(), read("expected/age_basic.env.plain"));
    assert_eq!(t.read("app/plain.yaml").unwrap(), b"kind: ConfigMap\nsops: not-metadata\n");
    // A tampered file is an error naming it, never its content.
    let tampered = MemTree::new().with_file("x/db.yaml", read("bad/mac-wrong-value.yaml"));
    let e = sops::DecryptingTree::new(&tampered, &keys).read("x/db.yaml").unwrap_err().to_string();
    assert!(e.contains("x/db.yaml") && e.contains("MAC mismatch"), "{e}");
}
