//! `sops`: decrypt, encrypt and re-key SOPS files, flag-compatible with the `sops` tool for
//! the common operations. Keys come from the environment as `sops` reads them. See `--help`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gitops_secrets::sops::{self, Config, DecryptOptions, EncryptOptions, Format, Keys, Recipient};

/// Encrypts and decrypts files with SOPS (YAML, JSON, dotenv, INI, binary) for age and
/// OpenPGP keys, compatible with the `sops` tool (3.x) in both directions.
#[derive(Parser, Debug)]
#[command(
    name = "sops",
    version = gitops_examples::cli::VERSION,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  sops -d secret.enc.yaml                       # print the plaintext
  sops -e --age age1... secret.yaml > secret.enc.yaml
  sops -e -i --encrypted-regex '^(data|stringData)$' secret.yaml
  sops -d --extract '[\"data\"][\"password\"]' secret.enc.yaml
  sops updatekeys secret.enc.yaml               # re-encrypt the data key for .sops.yaml's keys

Keys: SOPS_AGE_KEY_FILE (default ~/.config/sops/age/keys.txt), SOPS_AGE_KEY,
SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_PGP_KEY_FILE (armored OpenPGP keys, ':'-separated; no
GnuPG keyring is read). Recipients: --age/--pgp, SOPS_AGE_RECIPIENTS, SOPS_PGP_FP, or the
first matching creation rule of .sops.yaml.

Exit codes as sops: 0 done; 2 input or usage error; 23 encryption failed; 25 a value did not
decrypt; 51 MAC mismatch; 128 no key opens the data key.
`sops completion bash|zsh|fish` prints shell completions, `sops man` the man page."
)]
struct Opts {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Args, Debug, Clone, Default)]
struct Common {
    /// Decrypt FILE and print the plaintext.
    #[arg(short = 'd', long = "decrypt")]
    decrypt: bool,
    /// Encrypt FILE and print the encrypted file.
    #[arg(short = 'e', long = "encrypt")]
    encrypt: bool,
    /// Write the result back to FILE.
    #[arg(short = 'i', long = "in-place")]
    in_place: bool,
    /// Write the result to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The input format: yaml, json, dotenv, ini, binary (default: from the extension).
    #[arg(long = "input-type")]
    input_type: Option<String>,
    /// The output format (default: the input's).
    #[arg(long = "output-type")]
    output_type: Option<String>,
    /// age recipients, comma-separated (age1... or ssh-ed25519 ...).
    #[arg(short = 'a', long, env = "SOPS_AGE_RECIPIENTS")]
    age: Option<String>,
    /// OpenPGP fingerprints, comma-separated (the keys must be in SOPS_PGP_KEY_FILE).
    #[arg(short = 'p', long, env = "SOPS_PGP_FP")]
    pgp: Option<String>,
    /// Print only the value at this path, e.g. '["data"]["password"]'.
    #[arg(long)]
    extract: Option<String>,
    /// Encrypt only keys matching this regular expression.
    #[arg(long = "encrypted-regex")]
    encrypted_regex: Option<String>,
    /// Leave keys matching this regular expression in clear.
    #[arg(long = "unencrypted-regex")]
    unencrypted_regex: Option<String>,
    /// Encrypt only keys with this suffix.
    #[arg(long = "encrypted-suffix")]
    encrypted_suffix: Option<String>,
    /// Leave keys with this suffix in clear (default _unencrypted).
    #[arg(long = "unencrypted-suffix")]
    unencrypted_suffix: Option<String>,
    /// Encrypt only values under a comment matching this.
    #[arg(long = "encrypted-comment-regex")]
    encrypted_comment_regex: Option<String>,
    /// Leave values under a comment matching this in clear.
    #[arg(long = "unencrypted-comment-regex")]
    unencrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values.
    #[arg(long = "mac-only-encrypted")]
    mac_only_encrypted: bool,
    /// Groups needed to decrypt, with several key groups.
    #[arg(long = "shamir-secret-sharing-threshold", default_value_t = 0)]
    shamir_threshold: usize,
    /// Decrypt even if the MAC does not match.
    #[arg(long = "ignore-mac")]
    ignore_mac: bool,
    /// The .sops.yaml to use (default: found from the file's directory upwards).
    #[arg(long, env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// The file.
    file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Decrypt a file (as `-d`).
    Decrypt(Common),
    /// Encrypt a file (as `-e`).
    Encrypt(Common),
    /// Re-encrypt the data key for the keys .sops.yaml gives the file now.
    Updatekeys {
        /// Do not ask (accepted for compatibility; this tool never asks).
        #[arg(short = 'y', long)]
        yes: bool,
        /// The .sops.yaml to use.
        #[arg(long, env = "SOPS_CONFIG")]
        config: Option<PathBuf>,
        /// The input format (default: from the extension).
        #[arg(long = "input-type")]
        input_type: Option<String>,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

struct Failure {
    code: u8,
    message: String,
}

impl From<sops::Error> for Failure {
    fn from(e: sops::Error) -> Self {
        Failure { code: e.kind.exit_code() as u8, message: e.to_string() }
    }
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure { code, message: message.into() }
}

fn format_of(name: Option<&str>, path: &str) -> Result<Format, Failure> {
    match name {
        Some(n) => Format::from_name(n)
            .ok_or_else(|| fail(2, format!("unknown format {n:?} (yaml, json, dotenv, ini, binary)"))),
        None => Ok(Format::from_path(path)),
    }
}

fn read_input(file: &Option<PathBuf>) -> Result<(Vec<u8>, String), Failure> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let data = std::fs::read(p).map_err(|e| fail(2, format!("{}: {e}", p.display())))?;
            Ok((data, p.display().to_string()))
        }
        _ => {
            let mut data = Vec::new();
            std::io::stdin().read_to_end(&mut data).map_err(|e| fail(2, format!("stdin: {e}")))?;
            Ok((data, "stdin".into()))
        }
    }
}

fn write_output(c: &Common, data: &[u8]) -> Result<(), Failure> {
    let target = if c.in_place { c.file.clone() } else { c.output.clone() };
    match target {
        Some(p) => {
            let tmp = p.with_extension("sops-tmp");
            std::fs::write(&tmp, data)
                .and_then(|_| std::fs::rename(&tmp, &p))
                .map_err(|e| fail(3, format!("{}: {e}", p.display())))
        }
        None => std::io::stdout().write_all(data).map_err(|e| fail(3, format!("stdout: {e}"))),
    }
}

fn recipients(list: &Option<String>, make: fn(String) -> Recipient) -> Vec<Recipient> {
    list.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| make(s.to_string()))
        .collect()
}

fn config_for(explicit: &Option<PathBuf>, file: &Path) -> Result<Option<(Config, PathBuf)>, Failure> {
    let path = match explicit {
        Some(p) => Some(p.clone()),
        None => {
            let dir = file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            Config::find(&dir)
        }
    };
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(&path).map_err(|e| fail(5, format!("{}: {e}", path.display())))?;
    Ok(Some((Config::parse(&text, &path.display().to_string())?, path)))
}

/// The file's path as `.sops.yaml` rules see it: relative to the configuration's directory.
fn rule_path(file: &Path, config: &Path) -> String {
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = config.parent().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()));
    match dir.and_then(|d| abs.strip_prefix(d).ok().map(Path::to_path_buf)) {
        Some(rel) => rel.display().to_string(),
        None => file.display().to_string(),
    }
}

fn encrypt_options(c: &Common, file: &Path) -> Result<EncryptOptions, Failure> {
    let mut group = recipients(&c.age, Recipient::Age);
    group.extend(recipients(&c.pgp, Recipient::Pgp));
    let mut opts = if group.is_empty() {
        match config_for(&c.config, file)? {
            Some((config, path)) => match config.rule_for(&rule_path(file, &path)) {
                Some(rule) => rule.options.clone(),
                None => {
                    return Err(fail(61, format!("{}: no creation rule matches {}", path.display(), file.display())));
                }
            },
            None => return Err(fail(2, "no recipients: give --age or --pgp, or a .sops.yaml with a creation rule")),
        }
    } else {
        EncryptOptions { groups: vec![group], ..EncryptOptions::default() }
    };
    let over = |flag: &Option<String>, slot: &mut Option<String>| {
        if flag.is_some() {
            *slot = flag.clone();
        }
    };
    over(&c.encrypted_regex, &mut opts.rules.encrypted_regex);
    over(&c.unencrypted_regex, &mut opts.rules.unencrypted_regex);
    over(&c.encrypted_suffix, &mut opts.rules.encrypted_suffix);
    over(&c.unencrypted_suffix, &mut opts.rules.unencrypted_suffix);
    over(&c.encrypted_comment_regex, &mut opts.rules.encrypted_comment_regex);
    over(&c.unencrypted_comment_regex, &mut opts.rules.unencrypted_comment_regex);
    opts.rules.mac_only_encrypted |= c.mac_only_encrypted;
    if c.shamir_threshold > 0 {
        opts.shamir_threshold = c.shamir_threshold;
    }
    Ok(opts)
}

fn run(o: Opts) -> Result<(), Failure> {
    let (mode, c) = match o.command {
        Some(Cmd::Decrypt(c)) => ("d", c),
        Some(Cmd::Encrypt(c)) => ("e", c),
        Some(Cmd::Updatekeys { yes: _, config, input_type, files }) => {
            let keys = Keys::from_env()?;
            for file in files {
                let (data, name) = read_input(&Some(file.clone()))?;
                let format = format_of(input_type.as_deref(), &name)?;
                let (config, path) = config_for(&config, &file)?.ok_or_else(|| fail(61, "config file not found"))?;
                let rule = config
                    .rule_for(&rule_path(&file, &path))
                    .ok_or_else(|| fail(61, format!("{}: no creation rule matches {name}", path.display())))?;
                let before = sops::recipients_of(&data, format);
                let out = sops::update_keys(
                    &data,
                    format,
                    &keys,
                    &rule.options.groups,
                    rule.options.shamir_threshold,
                    &name,
                )?;
                let after = sops::recipients_of(&out, format);
                if before == after {
                    eprintln!("File {name} already up to date");
                    continue;
                }
                for k in after.iter().filter(|k| !before.contains(k)) {
                    eprintln!("{name}: +++ {k}");
                }
                for k in before.iter().filter(|k| !after.contains(k)) {
                    eprintln!("{name}: --- {k}");
                }
                std::fs::write(&file, out).map_err(|e| fail(3, format!("{name}: {e}")))?;
                eprintln!("File {name} synced with new keys");
            }
            return Ok(());
        }
        None if o.common.decrypt && o.common.encrypt => return Err(fail(8, "--decrypt and --encrypt conflict")),
        None if o.common.decrypt => ("d", o.common),
        None if o.common.encrypt => ("e", o.common),
        None => return Err(fail(2, "give -d/--decrypt, -e/--encrypt, or a subcommand (see --help)")),
    };
    if c.in_place && c.file.is_none() {
        return Err(fail(2, "--in-place needs a file"));
    }
    let (data, name) = read_input(&c.file)?;
    let in_format = format_of(c.input_type.as_deref(), &name)?;
    let out_format = match &c.output_type {
        Some(t) => format_of(Some(t), &name)?,
        None => in_format,
    };
    let out = if mode == "d" {
        let keys = Keys::from_env()?;
        let d = sops::decrypt_tree(&data, in_format, &keys, &DecryptOptions { ignore_mac: c.ignore_mac }, &name)?;
        for path in &d.kept_comments {
            eprintln!(
                "[SOPS] warning: a comment under {path} did not decrypt and is kept as it is (written by an older SOPS, or altered)"
            );
        }
        match &c.extract {
            Some(expr) => {
                let path = sops::parse_extract_path(expr).map_err(|m| fail(91, m))?;
                let first = d.branches.first().cloned().unwrap_or_default();
                let v = sops::extract(&first, &path).map_err(|m| fail(91, format!("{name}: {m}")))?;
                sops::emit_value(v, out_format, &name)?
            }
            None => sops::emit_plain(&d.branches, out_format, &name)?,
        }
    } else {
        let keys = Keys::from_env()?;
        let file = c.file.clone().unwrap_or_else(|| PathBuf::from(&name));
        let opts = encrypt_options(&c, &file)?;
        let enc = sops::encrypt(&data, in_format, &opts, &keys, &name)?;
        if out_format != in_format {
            let (branches, md) = sops::load_encrypted(&enc, in_format, &name)?;
            sops::emit_encrypted(branches, &md, out_format, &name)?
        } else {
            enc
        }
    };
    write_output(&c, &out)
}

fn main() -> ExitCode {
    if let Some(code) = gitops_examples::cli::meta::<Opts>("sops") {
        return code;
    }
    match run(Opts::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}
