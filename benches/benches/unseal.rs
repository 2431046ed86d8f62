//! Unsealing with an RSA-4096 key: one 32-byte item, and a whole 10-item SealedSecret into its
//! Secret; in the same run, the same operations through OpenSSL (Python's `cryptography`,
//! installed from PyPI if missing), so the ratio is measured on one machine at one time.
//!
//! ```text
//! cargo bench -p gitops-benches --bench unseal
//! ```
//! Ids: `unseal/gitops/item-32B`, `unseal/openssl/item-32B`, `unseal/gitops/secret-10-items`,
//! `unseal/openssl/secret-10-items` (OpenSSL: the ten items' RSA-OAEP and AES-GCM only).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::{json, value::Value};
use gitops_secrets::{Certificate, KeyPair, KeyRing, PrivateKey, Scope, SealOptions, SystemEntropy, UnsealOptions};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-secrets/tests/data/sealed/generated")
}

struct Reference {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _items: tempfile::NamedTempFile,
}

impl Reference {
    /// Starts the OpenSSL side over `items` (label, blob); `None` when python3 is missing.
    fn start(items: &[(Vec<u8>, Vec<u8>)]) -> Option<Self> {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut file = tempfile::NamedTempFile::new().ok()?;
        for (label, blob) in items {
            writeln!(file, "{} {}", if label.is_empty() { "".to_string() } else { hex(label) }, hex(blob)).ok()?;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/openssl_unseal.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(data_dir().join("key-4096.pem"))
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        stdout.read_line(&mut line).ok()?;
        (line.trim() == "ready").then_some(Self { child, stdin, stdout, _items: file })
    }

    fn time(&mut self, iters: u64) -> Duration {
        writeln!(self.stdin, "{iters}").expect("python is running");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("python answers");
        Duration::from_nanos(line.trim().parse().expect("nanoseconds"))
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(c: &mut Criterion) {
    let dir = data_dir();
    let key =
        PrivateKey::from_pem(&std::fs::read_to_string(dir.join("key-4096.pem")).unwrap(), "key-4096.pem").unwrap();
    let cert = Certificate::from_pem(&std::fs::read_to_string(dir.join("cert-4096.pem")).unwrap(), "cert").unwrap();
    let mut ring = KeyRing::new();
    ring.add(KeyPair { key, certificate: Some(cert.clone()), created: None, source: "bench".into() });

    let label = Scope::Strict.label("bench", "db");
    let item =
        gitops_secrets::crypto::encrypt(cert.public_key(), &label, &[7u8; 32], &mut SystemEntropy::default()).unwrap();
    let items: gitops_core::value::Map<String, Value> =
        (0..10).map(|i| (format!("item-{i}"), json!(format!("{:032}", i)))).collect();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "bench"},
                        "stringData": items});
    let sealed = gitops_secrets::seal(&secret, &cert, &SealOptions::default(), &mut SystemEntropy::default()).unwrap();
    let blobs: Vec<(Vec<u8>, Vec<u8>)> = sealed["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| {
            use base64::Engine;
            (label.clone(), base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap())
        })
        .collect();

    let mut group = c.benchmark_group("unseal");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.bench_function("gitops/item-32B", |b| {
        b.iter(|| gitops_secrets::crypto::decrypt(&ring, &label, &item).unwrap())
    });
    if let Some(mut reference) = Reference::start(&[(label.clone(), item.clone())]) {
        group.bench_function("openssl/item-32B", |b| b.iter_custom(|n| reference.time(n)));
    } else {
        eprintln!("python3 with `cryptography` is not available: OpenSSL side skipped");
    }
    group.bench_function("gitops/secret-10-items", |b| {
        b.iter(|| gitops_secrets::unseal(&sealed, &ring, &UnsealOptions::default()).unwrap())
    });
    if let Some(mut reference) = Reference::start(&blobs) {
        group.bench_function("openssl/secret-10-items", |b| b.iter_custom(|n| reference.time(n)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
