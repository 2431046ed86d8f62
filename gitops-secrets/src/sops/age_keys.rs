//! age identities and recipients for SOPS data keys: X25519 (`AGE-SECRET-KEY-1...`,
//! `age1...`) through the `age` crate, and SSH ed25519 keys (`ssh-ed25519 ...`, an OpenSSH
//! private key file) as the age specification defines them, implemented here on the `age`
//! crate's `Identity`/`Recipient` traits (its own `ssh` feature pulls the `rsa` crate, which
//! the audit gate refuses).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

const SSH_TAG: &str = "ssh-ed25519";
const SSH_LABEL: &[u8] = b"age-encryption.org/v1/ssh-ed25519";

fn ssh_tag(wire: &[u8]) -> String {
    STANDARD_NO_PAD.encode(&Sha256::digest(wire)[..4])
}

fn montgomery(ed_public: &[u8; 32]) -> Option<PublicKey> {
    let point = CompressedEdwardsY(*ed_public).decompress()?;
    Some(PublicKey::from(point.to_montgomery().to_bytes()))
}

fn ssh_wire(ed_public: &[u8; 32]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(51);
    wire.extend_from_slice(&(SSH_TAG.len() as u32).to_be_bytes());
    wire.extend_from_slice(SSH_TAG.as_bytes());
    wire.extend_from_slice(&32u32.to_be_bytes());
    wire.extend_from_slice(ed_public);
    wire
}

/// An SSH ed25519 key as an age recipient.
#[derive(Clone)]
pub struct SshEd25519Recipient {
    wire: Vec<u8>,
    x25519: PublicKey,
}

impl SshEd25519Recipient {
    /// From an `ssh-ed25519 AAAA... [comment]` line.
    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.split_whitespace();
        if parts.next()? != SSH_TAG {
            return None;
        }
        let wire = STANDARD.decode(parts.next()?).ok()?;
        if wire.len() != 51 || wire[..15] != ssh_wire(&[0; 32])[..15] {
            return None;
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&wire[19..]);
        Some(Self { x25519: montgomery(&pk)?, wire })
    }
}

impl age::Recipient for SshEd25519Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        super::random(seed.as_mut());
        let esk = StaticSecret::from(*seed);
        let epk = PublicKey::from(&esk);
        let tweak = StaticSecret::from(hkdf(&self.wire, SSH_LABEL, &[]));
        let shared = tweak.diffie_hellman(&PublicKey::from(esk.diffie_hellman(&self.x25519).to_bytes()));
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(epk.as_bytes());
        salt[32..].copy_from_slice(self.x25519.as_bytes());
        let key = hkdf(&salt, SSH_LABEL, shared.as_bytes());
        let body = aead_encrypt(&key, file_key.expose_secret());
        Ok((
            vec![Stanza {
                tag: SSH_TAG.into(),
                args: vec![ssh_tag(&self.wire), STANDARD_NO_PAD.encode(epk.as_bytes())],
                body,
            }],
            HashSet::new(),
        ))
    }
}

const SSH_RSA_TAG: &str = "ssh-rsa";
const SSH_RSA_LABEL: &[u8] = b"age-encryption.org/v1/ssh-rsa";

/// An SSH RSA key as an age recipient (RSA-OAEP with SHA-256, labelled).
#[derive(Clone)]
pub struct SshRsaRecipient {
    wire: Vec<u8>,
    public: crate::keys::PublicKey,
}

impl SshRsaRecipient {
    /// From an `ssh-rsa AAAA... [comment]` line.
    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.split_whitespace();
        if parts.next()? != SSH_RSA_TAG {
            return None;
        }
        let wire = STANDARD.decode(parts.next()?).ok()?;
        let mut r = SshReader(&wire);
        if r.string().ok()? != SSH_RSA_TAG.as_bytes() {
            return None;
        }
        let e = r.string().ok()?;
        let n = r.string().ok()?;
        Some(Self { public: crate::keys::PublicKey::from_components(n, e), wire })
    }
}

impl age::Recipient for SshRsaRecipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut seed = [0u8; 32];
        super::random(&mut seed);
        let body = crate::crypto::oaep_encrypt(&self.public, SSH_RSA_LABEL, file_key.expose_secret(), &seed)
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        Ok((vec![Stanza { tag: SSH_RSA_TAG.into(), args: vec![ssh_tag(&self.wire)], body }], HashSet::new()))
    }
}

/// An SSH private key (ed25519 or RSA) as an age identity.
pub struct SshEd25519Identity {
    wire: Vec<u8>,
    tag: String,
    kind: SshSecret,
}

enum SshSecret {
    Ed25519 { secret: StaticSecret, x25519: PublicKey },
    Rsa(crate::keys::PrivateKey),
}

impl SshEd25519Identity {
    /// From an unencrypted OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`)
    /// holding an ed25519 or RSA key.
    pub fn from_openssh(text: &str) -> Result<Self, String> {
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN OPENSSH PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END OPENSSH PRIVATE KEY-----")
            .collect();
        if body.is_empty() {
            return Err("not an OpenSSH private key (no BEGIN OPENSSH PRIVATE KEY block)".into());
        }
        let raw = Zeroizing::new(STANDARD.decode(body).map_err(|_| "the OpenSSH key is not base64")?);
        let mut r = SshReader(&raw);
        if r.take(15)? != b"openssh-key-v1\0" {
            return Err("not an openssh-key-v1 key".into());
        }
        let cipher = r.string()?;
        r.string()?;
        r.string()?;
        if cipher != b"none" {
            return Err(
                "the SSH key is protected by a passphrase, which is not supported; remove it with ssh-keygen -p".into(),
            );
        }
        if r.u32()? != 1 {
            return Err("the SSH key file holds more than one key".into());
        }
        r.string()?;
        let private = r.string()?;
        let mut p = SshReader(private);
        if p.u32()? != p.u32()? {
            return Err("the SSH key's check bytes differ (corrupt file)".into());
        }
        let kind = p.string()?;
        if kind == SSH_RSA_TAG.as_bytes() {
            let n = p.string()?;
            let e = p.string()?;
            let d = p.string()?;
            let _iqmp = p.string()?;
            let pp = p.string()?;
            let q = p.string()?;
            let der = super::pgp::pkcs8(n, e, d, pp, q);
            let key = crate::keys::PrivateKey::from_pkcs8(&der, "OpenSSH RSA key").map_err(|e| e.to_string())?;
            let mut wire = Vec::new();
            for part in [SSH_RSA_TAG.as_bytes(), e, n] {
                wire.extend_from_slice(&(part.len() as u32).to_be_bytes());
                wire.extend_from_slice(part);
            }
            return Ok(Self { tag: ssh_tag(&wire), wire, kind: SshSecret::Rsa(key) });
        }
        if kind != SSH_TAG.as_bytes() {
            return Err(format!(
                "SSH keys of type {} are not supported (ssh-ed25519 and ssh-rsa are)",
                String::from_utf8_lossy(kind)
            ));
        }
        let pk = p.string()?;
        let sk = p.string()?;
        if pk.len() != 32 || sk.len() != 64 {
            return Err("malformed ssh-ed25519 key".into());
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(pk);
        let mut hash = Sha512::digest(&sk[..32]);
        let mut scalar = Zeroizing::new([0u8; 32]);
        scalar.copy_from_slice(&hash[..32]);
        zeroize::Zeroize::zeroize(hash.as_mut_slice());
        let wire = ssh_wire(&public);
        Ok(Self {
            tag: ssh_tag(&wire),
            wire,
            kind: SshSecret::Ed25519 {
                secret: StaticSecret::from(*scalar),
                x25519: montgomery(&public).ok_or("the ssh-ed25519 public key is not a curve point")?,
            },
        })
    }

    /// The recipient line (`ssh-ed25519 AAAA...` or `ssh-rsa AAAA...`).
    pub fn recipient(&self) -> String {
        let kind = match self.kind {
            SshSecret::Ed25519 { .. } => SSH_TAG,
            SshSecret::Rsa(_) => SSH_RSA_TAG,
        };
        format!("{kind} {}", STANDARD.encode(&self.wire))
    }
}

struct SshReader<'a>(&'a [u8]);

impl<'a> SshReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated OpenSSH key".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

impl age::Identity for SshEd25519Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        let (secret, x25519) = match &self.kind {
            SshSecret::Rsa(key) => {
                if stanza.tag != SSH_RSA_TAG || stanza.args.len() != 1 || stanza.args[0] != self.tag {
                    return None;
                }
                let pt = key.oaep_decrypt(&stanza.body, SSH_RSA_LABEL).filter(|p| p.len() == 16);
                return Some(match pt {
                    Some(pt) => Ok(FileKey::init_with_mut(|k| k.copy_from_slice(&pt))),
                    None => Err(age::DecryptError::DecryptionFailed),
                });
            }
            SshSecret::Ed25519 { secret, x25519 } => (secret, x25519),
        };
        if stanza.tag != SSH_TAG || stanza.args.len() != 2 || stanza.args[0] != self.tag {
            return None;
        }
        let epk = STANDARD_NO_PAD.decode(&stanza.args[1]).ok().filter(|b| b.len() == 32);
        let Some(epk) = epk else { return Some(Err(age::DecryptError::InvalidHeader)) };
        if stanza.body.len() != 32 {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let mut epk_bytes = [0u8; 32];
        epk_bytes.copy_from_slice(&epk);
        let tweak = StaticSecret::from(hkdf(&self.wire, SSH_LABEL, &[]));
        let shared = secret.diffie_hellman(&PublicKey::from(epk_bytes));
        let tweaked = tweak.diffie_hellman(&PublicKey::from(shared.to_bytes()));
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&epk_bytes);
        salt[32..].copy_from_slice(x25519.as_bytes());
        let key = hkdf(&salt, SSH_LABEL, tweaked.as_bytes());
        aead_decrypt(&key, 16, &stanza.body).ok().map(|mut pt| {
            Ok(FileKey::init_with_mut(|k| {
                k.copy_from_slice(&pt);
                zeroize::Zeroize::zeroize(&mut pt);
            }))
        })
    }
}

/// An age recipient: X25519 or SSH ed25519.
pub enum Recipient {
    /// `age1...`.
    X25519(age::x25519::Recipient),
    /// `ssh-ed25519 ...`.
    Ssh(SshEd25519Recipient),
    /// `ssh-rsa ...`.
    SshRsa(SshRsaRecipient),
}

/// Parses a recipient as `sops --age` takes it.
pub fn parse_recipient(s: &str) -> Result<Recipient, String> {
    let s = s.trim();
    if s.starts_with("ssh-ed25519 ") {
        return SshEd25519Recipient::parse(s).map(Recipient::Ssh).ok_or_else(|| format!("invalid SSH recipient {s:?}"));
    }
    if s.starts_with("ssh-rsa ") {
        return SshRsaRecipient::parse(s).map(Recipient::SshRsa).ok_or_else(|| format!("invalid SSH recipient {s:?}"));
    }
    age::x25519::Recipient::from_str(s).map(Recipient::X25519).map_err(|e| format!("invalid age recipient {s:?}: {e}"))
}

/// Parses age identities: one `AGE-SECRET-KEY-1...` per line; `#` comments and blank lines
/// are skipped. Returns the identities and their recipients.
pub fn parse_identities(text: &str) -> Result<Vec<age::x25519::Identity>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            return Err(format!("line {}: age plugin identities are not supported", i + 1));
        }
        out.push(
            age::x25519::Identity::from_str(line)
                .map_err(|_| format!("line {}: not an age identity (AGE-SECRET-KEY-1...)", i + 1))?,
        );
    }
    Ok(out)
}

/// Encrypts the data key to `recipients` as an armored age file.
pub fn encrypt(data: &[u8], recipients: &[Recipient]) -> Result<String, String> {
    let dyns: Vec<&dyn age::Recipient> = recipients
        .iter()
        .map(|r| match r {
            Recipient::X25519(r) => r as &dyn age::Recipient,
            Recipient::Ssh(r) => r as &dyn age::Recipient,
            Recipient::SshRsa(r) => r as &dyn age::Recipient,
        })
        .collect();
    let encryptor = age::Encryptor::with_recipients(dyns.into_iter()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor =
        age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut w = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    w.write_all(data).map_err(|e| e.to_string())?;
    w.finish().and_then(|a| a.finish()).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Decrypts an armored age file with any of the identities.
pub fn decrypt(
    armored: &str,
    x25519: &[age::x25519::Identity],
    ssh: &[SshEd25519Identity],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(armored.trim().as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| e.to_string())?;
    let ids: Vec<&dyn age::Identity> =
        x25519.iter().map(|i| i as &dyn age::Identity).chain(ssh.iter().map(|i| i as &dyn age::Identity)).collect();
    let mut r = decryptor.decrypt(ids.into_iter()).map_err(|e| e.to_string())?;
    let mut out = Zeroizing::new(Vec::new());
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}
