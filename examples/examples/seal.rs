//! `seal`: kubeseal's offline modes, flag-compatible. Reads stdin (or `-f FILE`), writes
//! stdout (or `-w FILE`). See `--help`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};
use gitops_secrets::keys::DEFAULT_KEY_TTL;
use gitops_secrets::output::{self, Format};
use gitops_secrets::{Certificate, KeyPair, KeyRing, Scope, SealOptions, SystemEntropy, UnsealOptions};

/// Seals Kubernetes Secrets into SealedSecrets exactly as kubeseal does (same flags, same
/// defaults, same output), offline, with the controller's certificate.
#[derive(Parser, Debug, Default)]
#[command(
    name = "seal",
    version = gitops_examples::cli::VERSION,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  seal --cert cert.pem < secret.yaml > sealedsecret.json
  seal --cert cert.pem -o yaml -f secret.yaml -w sealed.yaml
  seal --cert cert.pem --raw --scope cluster-wide --from-file password.txt
  seal --recovery-unseal --recovery-private-key key.pem < sealed.yaml
  seal keygen --out-key key.pem --out-cert cert.pem

Exit codes: 0 done; 1 the input could not be sealed or unsealed; 2 a usage error.
`seal completion bash|zsh|fish` prints shell completions, `seal man` the man page."
)]
struct Opts {
    /// The controller's certificate, PEM: a file path or file:// URL.
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE")]
    cert: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "format", value_name = "json|yaml", value_parser = |s: &str| s.parse::<Format>().map_err(|e| e.to_string()))]
    format: Option<Format>,
    /// Write here instead of stdout (atomically; .yaml/.yml selects YAML).
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    out_file: Option<String>,
    /// Read here instead of stdin.
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    in_file: Option<String>,
    /// strict (default), namespace-wide or cluster-wide.
    #[arg(long, value_name = "SCOPE", value_parser = |s: &str| s.parse::<Scope>().map_err(|e| e.to_string()))]
    scope: Option<Scope>,
    /// Namespace of inputs without one (default: default).
    #[arg(short = 'n', long, value_name = "NAME")]
    namespace: Option<String>,
    /// Name of the sealed Secret.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Allow a Secret without data.
    #[arg(long = "allow-empty-data")]
    allow_empty: bool,
    /// Seal one value (stdin or --from-file), print its base64 only.
    #[arg(long)]
    raw: bool,
    /// The value for --raw, [KEY=]PATH.
    #[arg(long = "from-file", value_name = "[KEY=]PATH")]
    from_file: Vec<String>,
    /// Seal stdin into the existing SealedSecret FILE (rewritten in place).
    #[arg(long = "merge-into", value_name = "FILE")]
    merge_into: Option<String>,
    /// Unseal a SealedSecret with --recovery-private-key (disaster recovery).
    #[arg(long = "recovery-unseal")]
    recovery_unseal: bool,
    /// Private key(s): PEM (PKCS#1/PKCS#8) or key-Secret backup (Secret, several documents,
    /// v1 List); comma-separated, repeatable.
    #[arg(long = "recovery-private-key", value_name = "FILE", value_delimiter = ',')]
    recovery_keys: Vec<String>,
    /// Re-seal SealedSecrets with the newest key (offline: give --recovery-private-key, and
    /// --cert for the new key).
    #[arg(long = "re-encrypt", alias = "rotate")]
    re_encrypt: bool,
    /// Print the certificate given by --cert.
    #[arg(long = "fetch-cert")]
    fetch_cert: bool,
    #[command(subcommand)]
    command: Option<SealCommand>,
}

#[derive(Subcommand, Debug)]
enum SealCommand {
    /// The controller's key pair, for tests and bring-your-own keys.
    Keygen {
        /// Where the private key goes (PEM, PKCS#1).
        #[arg(long = "out-key", value_name = "FILE")]
        out_key: Option<String>,
        /// Where the certificate goes (PEM).
        #[arg(long = "out-cert", value_name = "FILE")]
        out_cert: Option<String>,
        /// The pair as the controller's kubernetes.io/tls key Secret (label active).
        #[arg(long = "out-secret", value_name = "FILE")]
        out_secret: Option<String>,
        /// RSA key size.
        #[arg(long, default_value_t = 4096)]
        bits: usize,
        /// The certificate's common name.
        #[arg(long, default_value = "")]
        cn: String,
        /// Namespace of the key Secret.
        #[arg(short = 'n', long, default_value = "kube-system")]
        namespace: String,
    },
}

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Opts>("seal") {
        return code;
    }
    let mut o = Opts::parse();
    let result = match o.command.take() {
        Some(SealCommand::Keygen { out_key, out_cert, out_secret, bits, cn, namespace }) => {
            keygen(out_key, out_cert, out_secret, bits, &cn, &namespace)
        }
        None => run(o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
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

fn keygen(
    out_key: Option<String>,
    out_cert: Option<String>,
    out_secret: Option<String>,
    bits: usize,
    cn: &str,
    namespace: &str,
) -> Result<(), String> {
    if out_key.is_none() && out_cert.is_none() && out_secret.is_none() {
        return Err("keygen needs --out-key and --out-cert (or --out-secret)".into());
    }
    let pair = KeyPair::generate(bits, cn, DEFAULT_KEY_TTL).map_err(|e| e.to_string())?;
    if let Some(p) = out_key {
        write_private(&p, pair.key.to_pkcs1_pem().as_bytes())?;
    }
    if let Some(p) = out_cert {
        std::fs::write(&p, pair.certificate.as_ref().map(Certificate::to_pem).unwrap_or_default())
            .map_err(|e| format!("{p}: {e}"))?;
    }
    if let Some(p) = out_secret {
        let secret = pair.to_secret(namespace, "sealed-secrets-key").map_err(|e| e.to_string())?;
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
