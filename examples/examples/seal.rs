//! `seal`: kubeseal's offline modes, flag-compatible. Reads stdin (or `-f FILE`), writes
//! stdout (or `-w FILE`). See `--help`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use gitops_examples::args::{Arg, Args};
use gitops_secrets::keys::DEFAULT_KEY_TTL;
use gitops_secrets::output::{self, Format};
use gitops_secrets::{Certificate, KeyPair, KeyRing, Scope, SealOptions, SystemEntropy, UnsealOptions};

const USAGE: &str = "usage: seal [flags] < secret.yaml > sealedsecret.json
       seal keygen --out-key FILE --out-cert FILE [--bits N] [--cn NAME] [--out-secret FILE [-n NAMESPACE]]

Seals Kubernetes Secrets into SealedSecrets exactly as kubeseal does (same flags, same
defaults, same output), offline, with the controller's certificate.

flags (kubeseal's):
  --cert FILE                    the controller's certificate, PEM (env SEALED_SECRETS_CERT);
                                 file path or file:// URL
  -o, --format json|yaml         output format (default json)
  -w, --sealed-secret-file FILE  write here instead of stdout (atomically; .yaml/.yml selects YAML)
  -f, --secret-file FILE         read here instead of stdin
      --scope SCOPE              strict (default), namespace-wide or cluster-wide
  -n, --namespace NAME           namespace of inputs without one (default: default)
      --name NAME                name of the sealed Secret
      --allow-empty-data         allow a Secret without data
      --raw                      seal one value (stdin or --from-file), print its base64 only
      --from-file [KEY=]PATH     the value for --raw
      --merge-into FILE          seal stdin into the existing SealedSecret FILE (rewritten in place)
      --recovery-unseal          unseal a SealedSecret with --recovery-private-key (disaster recovery)
      --recovery-private-key F   private key(s): PEM (PKCS#1/PKCS#8) or key-Secret backup
                                 (Secret, several documents, v1 List); comma-separated, repeatable
      --re-encrypt               re-seal SealedSecrets with the newest key (offline: give
                                 --recovery-private-key, and --cert for the new key)
      --fetch-cert               print the certificate given by --cert
  -h, --help                     this help

keygen (the controller's key pair, for tests and bring-your-own keys):
  --out-key FILE  --out-cert FILE  [--bits 4096] [--cn NAME]
  --out-secret FILE  the pair as the controller's kubernetes.io/tls key Secret (label active)
  -n NAMESPACE       namespace of that Secret (default kube-system)";

#[derive(Default)]
struct Opts {
    cert: Option<String>,
    format: Option<Format>,
    out_file: Option<String>,
    in_file: Option<String>,
    scope: Option<Scope>,
    namespace: Option<String>,
    name: Option<String>,
    allow_empty: bool,
    raw: bool,
    from_file: Vec<String>,
    merge_into: Option<String>,
    recovery_unseal: bool,
    recovery_keys: Vec<String>,
    re_encrypt: bool,
    fetch_cert: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = if argv.first().map(String::as_str) == Some("keygen") {
        keygen(Args::new(argv.into_iter().skip(1), &['n']))
    } else {
        parse(Args::new(argv, &['o', 'n', 'w', 'f'])).and_then(|o| match o {
            None => Ok(()),
            Some(o) => run(o),
        })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn parse(mut args: Args) -> Result<Option<Opts>, String> {
    let mut o = Opts::default();
    while let Some(a) = args.next_arg() {
        let (flag, inline) = match a {
            Arg::Flag(f, v) => (f, v),
            Arg::Word(w) => return Err(format!("unexpected argument `{w}`\n\n{USAGE}")),
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--cert" => o.cert = Some(args.value(&flag, inline)?),
            "-o" | "--format" => o.format = Some(args.value(&flag, inline)?.parse()?),
            "-w" | "--sealed-secret-file" => o.out_file = Some(args.value(&flag, inline)?),
            "-f" | "--secret-file" => o.in_file = Some(args.value(&flag, inline)?),
            "--scope" => o.scope = Some(args.value(&flag, inline)?.parse().map_err(|e| format!("{e}"))?),
            "-n" | "--namespace" => o.namespace = Some(args.value(&flag, inline)?),
            "--name" => o.name = Some(args.value(&flag, inline)?),
            "--allow-empty-data" => o.allow_empty = true,
            "--raw" => o.raw = true,
            "--from-file" => o.from_file.push(args.value(&flag, inline)?),
            "--merge-into" => o.merge_into = Some(args.value(&flag, inline)?),
            "--recovery-unseal" => o.recovery_unseal = true,
            "--recovery-private-key" => o
                .recovery_keys
                .extend(args.value(&flag, inline)?.split(',').filter(|s| !s.is_empty()).map(String::from)),
            "--re-encrypt" | "--rotate" => o.re_encrypt = true,
            "--fetch-cert" => o.fetch_cert = true,
            other => return Err(format!("unknown flag: {other}\n\n{USAGE}")),
        }
    }
    Ok(Some(o))
}

fn read_path(path: &str) -> Result<String, String> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    if path.starts_with("http://") || path.starts_with("https://") {
        return Err(format!("{path}: fetching certificates over HTTP is not supported here; download it first"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn certificate(o: &Opts) -> Result<Certificate, String> {
    let path = o.cert.clone().or_else(|| std::env::var("SEALED_SECRETS_CERT").ok().filter(|s| !s.is_empty()));
    let path = path.ok_or(
        "no certificate: give --cert FILE or set SEALED_SECRETS_CERT (this tool works offline and does not fetch it from a controller)",
    )?;
    Certificate::from_pem(&read_path(&path)?, &path).map_err(|e| e.to_string())
}

fn input(o: &Opts) -> Result<String, String> {
    match o.in_file.as_deref() {
        Some(f) if f != "-" => read_path(f),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| format!("stdin: {e}"))?;
            Ok(s)
        }
    }
}

fn format_for(o: &Opts, path: Option<&str>) -> Format {
    o.format.unwrap_or_else(|| match path {
        Some(p) if p.ends_with(".yaml") || p.ends_with(".yml") => Format::Yaml,
        _ => Format::Json,
    })
}

/// Writes `text` to `path` atomically (temporary file and rename), or to stdout.
fn emit(path: Option<&str>, text: &str) -> Result<(), String> {
    match path {
        None | Some("-") => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| format!("stdout: {e}"))
        }
        Some(p) => {
            let tmp = format!("{p}.tmp-seal");
            std::fs::write(&tmp, text).map_err(|e| format!("{tmp}: {e}"))?;
            std::fs::rename(&tmp, p).map_err(|e| format!("{p}: {e}"))
        }
    }
}

fn ring(o: &Opts) -> Result<KeyRing, String> {
    if o.recovery_keys.is_empty() {
        return Err("--recovery-private-key is required".into());
    }
    let mut ring = KeyRing::new();
    for f in &o.recovery_keys {
        ring.add_file_contents(&read_path(f)?, f).map_err(|e| e.to_string())?;
    }
    Ok(ring)
}

fn run(o: Opts) -> Result<(), String> {
    let err = |e: gitops_secrets::Error| e.to_string();
    if o.fetch_cert {
        return emit(None, &certificate(&o)?.to_pem());
    }
    if o.recovery_unseal {
        let ring = ring(&o)?;
        let objects = gitops_secrets::read_objects(&input(&o)?, "input").map_err(err)?;
        let first = objects.first().ok_or("no SealedSecret found in the input")?;
        let secret = gitops_secrets::unseal(first, &ring, &UnsealOptions::default()).map_err(err)?;
        return emit(o.out_file.as_deref(), &output::write(&secret, format_for(&o, o.out_file.as_deref())));
    }
    if o.re_encrypt {
        let ring = ring(&o)?;
        let cert = match o.cert.is_some() || std::env::var("SEALED_SECRETS_CERT").is_ok() {
            true => Some(certificate(&o)?),
            false => None,
        };
        let objects = gitops_secrets::read_objects(&input(&o)?, "input").map_err(err)?;
        let mut out = String::new();
        for obj in &objects {
            let re =
                gitops_secrets::re_encrypt(obj, &ring, cert.as_ref(), &mut SystemEntropy::default()).map_err(err)?;
            out.push_str(&output::write(&re, format_for(&o, o.out_file.as_deref().or(o.in_file.as_deref()))));
        }
        // With only -f, the input file is rewritten in place, as kubeseal does.
        let target = o.out_file.as_deref().or(o.in_file.as_deref());
        return emit(target, &out);
    }
    let cert = certificate(&o)?;
    if o.raw {
        let value = match o.from_file.as_slice() {
            [] => {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("stdin: {e}"))?;
                buf
            }
            [one] => {
                let path = one.split_once('=').map_or(one.as_str(), |(_, p)| p);
                std::fs::read(path).map_err(|e| format!("{path}: {e}"))?
            }
            _ => return Err("must provide exactly one --from-file with --raw".into()),
        };
        let namespace = o.namespace.clone().or_else(|| Some("default".into()));
        let sealed = gitops_secrets::seal_raw(
            &value,
            &cert,
            o.scope.unwrap_or_default(),
            namespace.as_deref(),
            o.name.as_deref(),
            SystemTime::now(),
            &mut SystemEntropy::default(),
        )
        .map_err(err)?;
        return emit(o.out_file.as_deref(), &sealed);
    }
    let options = SealOptions {
        scope: o.scope,
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        allow_empty_data: o.allow_empty,
        ..SealOptions::default()
    };
    let objects = gitops_secrets::read_objects(&input(&o)?, o.in_file.as_deref().unwrap_or("stdin")).map_err(err)?;
    if objects.is_empty() {
        return Err("no secrets found in the input".into());
    }
    if let Some(target) = &o.merge_into {
        let existing = gitops_secrets::read_objects(&read_path(target)?, target).map_err(err)?;
        let existing = existing.first().ok_or_else(|| format!("{target}: no SealedSecret found"))?;
        let mut merged = existing.clone();
        for secret in &objects {
            merged = gitops_secrets::merge_into(&merged, secret, &cert, &options, &mut SystemEntropy::default())
                .map_err(err)?;
        }
        return emit(Some(target), &output::write(&merged, format_for(&o, None)));
    }
    let mut out = String::new();
    let format = format_for(&o, o.out_file.as_deref());
    for secret in &objects {
        let sealed = gitops_secrets::seal(secret, &cert, &options, &mut SystemEntropy::default()).map_err(err)?;
        out.push_str(&output::write(&sealed, format));
    }
    emit(o.out_file.as_deref(), &out)
}

fn keygen(mut args: Args) -> Result<(), String> {
    let (mut out_key, mut out_cert, mut out_secret) = (None, None, None);
    let (mut bits, mut cn, mut namespace) = (4096usize, String::new(), "kube-system".to_string());
    while let Some(a) = args.next_arg() {
        let (flag, inline) = match a {
            Arg::Flag(f, v) => (f, v),
            Arg::Word(w) => return Err(format!("unexpected argument `{w}`\n\n{USAGE}")),
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--out-key" => out_key = Some(args.value(&flag, inline)?),
            "--out-cert" => out_cert = Some(args.value(&flag, inline)?),
            "--out-secret" => out_secret = Some(args.value(&flag, inline)?),
            "--bits" => {
                let v = args.value(&flag, inline)?;
                bits = v.parse().map_err(|_| format!("--bits: `{v}` is not a number"))?;
            }
            "--cn" => cn = args.value(&flag, inline)?,
            "-n" | "--namespace" => namespace = args.value(&flag, inline)?,
            other => return Err(format!("unknown flag: {other}\n\n{USAGE}")),
        }
    }
    if out_key.is_none() && out_cert.is_none() && out_secret.is_none() {
        return Err(format!("keygen needs --out-key and --out-cert (or --out-secret)\n\n{USAGE}"));
    }
    let pair = KeyPair::generate(bits, &cn, DEFAULT_KEY_TTL).map_err(|e| e.to_string())?;
    if let Some(p) = out_key {
        write_private(&p, pair.key.to_pkcs1_pem().as_bytes())?;
    }
    if let Some(p) = out_cert {
        std::fs::write(&p, pair.certificate.as_ref().map(Certificate::to_pem).unwrap_or_default())
            .map_err(|e| format!("{p}: {e}"))?;
    }
    if let Some(p) = out_secret {
        let secret = pair.to_secret(&namespace, "sealed-secrets-key").map_err(|e| e.to_string())?;
        write_private(&p, gitops_core::yaml::to_yaml(secret.as_value()).as_bytes())?;
    }
    eprintln!("generated RSA-{bits} key {}", pair.fingerprint());
    Ok(())
}

/// Writes key material readable by the owner only.
fn write_private(path: &str, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    f.write_all(bytes).map_err(|e| format!("{path}: {e}"))
}
