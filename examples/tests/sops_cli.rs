//! The `sops` example binary as people use it: `-d` prints exactly what the reference
//! `sops decrypt` printed for every vector (keys from the environment, as `sops` reads them),
//! tampered files exit with sops's codes and print nothing, `--extract` prints one value,
//! `-e`/`-i` and `.sops.yaml` creation rules encrypt, and `updatekeys` re-keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples/sops")
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-secrets/tests/data/sops")
}

fn sops(args: &[&str], env: &[(&str, PathBuf)], dir: &Path) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).args(args);
    for v in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "SOPS_PGP_KEY_FILE",
        "SOPS_AGE_RECIPIENTS",
        "SOPS_PGP_FP",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn all_keys(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let ages = dir.join("ages.txt");
    let text = ["keys/age/keys.txt", "keys/age/other.txt"]
        .iter()
        .map(|p| std::fs::read_to_string(vectors().join(p)).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&ages, text).unwrap();
    vec![
        ("SOPS_AGE_KEY_FILE", ages),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", vectors().join("keys/age/id_ed25519")),
        ("SOPS_PGP_KEY_FILE", vectors().join("keys/pgp/sops_functional_tests_key.asc")),
    ]
}

#[test]
fn decrypt_prints_what_sops_printed_and_refuses_tampered_files() {
    let dir = tempfile::tempdir().unwrap();
    let env = all_keys(dir.path());
    let manifest: gitops_core::value::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("manifest.json")).unwrap()).unwrap();
    for f in manifest["files"].as_array().unwrap().iter().chain(manifest["lenient"].as_array().unwrap()) {
        let file = vectors().join(f["file"].as_str().unwrap());
        let out = sops(&["-d", file.to_str().unwrap()], &env, dir.path());
        assert!(out.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
        let expected = std::fs::read(vectors().join(f["expected_plain"].as_str().unwrap())).unwrap();
        assert!(out.stdout == expected, "{}", file.display());
    }
    for b in manifest["bad"].as_array().unwrap() {
        let file = vectors().join(b["file"].as_str().unwrap());
        let out = sops(&["decrypt", file.to_str().unwrap()], &env, dir.path());
        assert_eq!(out.status.code(), b["sops_exit_code"].as_i64().map(|c| c as i32), "{}", file.display());
        assert!(out.stdout.is_empty(), "{}: nothing printed", file.display());
        assert!(String::from_utf8_lossy(&out.stderr).contains(b["file"].as_str().unwrap()), "the error names the file");
    }
    // No keys at all: exit 128 and a message that says where keys are read from.
    let file = vectors().join("files/age_types.yaml");
    let out = sops(&["-d", file.to_str().unwrap()], &[], dir.path());
    assert_eq!(out.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOPS_AGE_KEY_FILE"));
}

#[test]
fn extract_encrypt_in_place_creation_rules_and_updatekeys() {
    let dir = tempfile::tempdir().unwrap();
    let env = all_keys(dir.path());
    let file = vectors().join("files/age_types.yaml");
    let out =
        sops(&["-d", "--extract", r#"["service"]["database"]["password"]"#, file.to_str().unwrap()], &env, dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s3cr3t-Pässwörd-✓");
    let out = sops(&["-d", "--extract", r#"["service"]["replicas"]"#, file.to_str().unwrap()], &env, dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3\n");
    let out = sops(&["-d", "--extract", r#"["nope"]"#, file.to_str().unwrap()], &env, dir.path());
    assert_eq!(out.status.code(), Some(91));
    let out = sops(&["-d", "--output-type", "json", file.to_str().unwrap()], &env, dir.path());
    let json: gitops_core::value::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["service"]["replicas"], 3);

    // .sops.yaml chooses keys and options by path; -e -i encrypts in place.
    let age = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {age}\n    encrypted_regex: ^(data|stringData)$\n"),
    )
    .unwrap();
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2-cli\n";
    let path = dir.path().join("secrets/db.yaml");
    std::fs::write(&path, plain).unwrap();
    let out = sops(&["-e", "-i", "secrets/db.yaml"], &env, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let enc = std::fs::read_to_string(&path).unwrap();
    assert!(enc.contains("name: db") && !enc.contains("hunter2-cli") && enc.contains("encrypted_regex"), "{enc}");
    let out = sops(&["decrypt", "secrets/db.yaml"], &env, dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), plain);
    // A file no rule matches, without --age: an error naming the config.
    std::fs::write(dir.path().join("other.yaml"), "a: b\n").unwrap();
    let out = sops(&["-e", "other.yaml"], &env, dir.path());
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(".sops.yaml"));

    // updatekeys: the rule now names the OpenPGP key too; the file opens with it alone.
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {age}\n    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n"),
    )
    .unwrap();
    let out = sops(&["updatekeys", "-y", "secrets/db.yaml"], &env, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("+++ pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"));
    let pgp_only = [("SOPS_PGP_KEY_FILE", vectors().join("keys/pgp/sops_functional_tests_key.asc"))];
    let out = sops(&["-d", "secrets/db.yaml"], &pgp_only, dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), plain, "{}", String::from_utf8_lossy(&out.stderr));
}
