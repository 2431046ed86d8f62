//! Key pairs, certificates and the key ring, stored as the Bitnami controller stores them.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use gitops_core::Object;
use gitops_core::{
    json,
    value::{Map, Value},
};
use num_bigint::BigUint;
use zeroize::Zeroizing;

use crate::der::{self, Reader, oid, tag};
use crate::{Error, Result};

/// The label that marks the controller's key Secrets.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// Ten years, the controller's default `--key-ttl` (87600h).
pub const DEFAULT_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(87_600 * 3600);

// ---------------------------------------------------------------- PEM

/// One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and decoded bytes.
pub(crate) struct PemBlock {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

/// Every PEM block of `text`, in order.
pub(crate) fn pem_blocks(text: &str, source: &str) -> Result<Vec<PemBlock>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                continue; // RFC 1421 headers (Proc-Type, DEK-Info) of old encrypted keys
            }
            body.push_str(l);
        }
        if !closed {
            return Err(Error::Pem { file: source.into(), message: format!("`{label}` block has no END line") });
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| Error::Pem { file: source.into(), message: format!("`{label}` block: {e}") })?;
        blocks.push(PemBlock { label: label.to_string(), der: Zeroizing::new(der) });
    }
    Ok(blocks)
}

/// PEM text for `der`, 64 columns per line as Go and OpenSSL write it.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------- public keys

/// An RSA public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    n: BigUint,
    e: BigUint,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} bits, {})", self.bits(), self.fingerprint())
    }
}

impl PublicKey {
    /// From the big-endian modulus and exponent.
    pub fn from_components(modulus: &[u8], exponent: &[u8]) -> Self {
        Self { n: BigUint::from_bytes_be(modulus), e: BigUint::from_bytes_be(exponent) }
    }

    /// From a PKCS#1 `RSAPublicKey`.
    fn from_pkcs1(der_bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut seq = Reader::new(der_bytes).sequence("RSAPublicKey")?;
        let n = seq.unsigned("modulus")?;
        let e = seq.unsigned("public exponent")?;
        Ok(Self::from_components(n, e))
    }

    /// From a `SubjectPublicKeyInfo`; only RSA keys are accepted.
    fn from_spki(spki: &[u8]) -> std::result::Result<Self, String> {
        let mut seq = Reader::new(spki).sequence("SubjectPublicKeyInfo")?;
        let mut alg = seq.sequence("algorithm")?;
        if alg.read(tag::OID, "algorithm")? != oid::RSA_ENCRYPTION {
            return Err("expected RSA public key but found another algorithm".into());
        }
        let bits = seq.read(tag::BIT_STRING, "subjectPublicKey")?;
        match bits.split_first() {
            Some((0, key)) => Self::from_pkcs1(key),
            _ => Err("subjectPublicKey: bad BIT STRING".into()),
        }
    }

    /// The modulus, big-endian.
    pub fn modulus(&self) -> Vec<u8> {
        self.n.to_bytes_be()
    }

    /// The public exponent, big-endian.
    pub fn exponent(&self) -> Vec<u8> {
        self.e.to_bytes_be()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.n.bits() as usize
    }

    /// The modulus size in bytes (the length of every RSA ciphertext).
    pub fn size(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// The public-key operation `m^e mod n`, as `size()` big-endian bytes.
    pub(crate) fn raw_encrypt(&self, message: &[u8]) -> Vec<u8> {
        let c = BigUint::from_bytes_be(message).modpow(&self.e, &self.n);
        let bytes = c.to_bytes_be();
        let mut out = vec![0u8; self.size() - bytes.len()];
        out.extend_from_slice(&bytes);
        out
    }

    /// The SSH-style SHA-256 fingerprint (`SHA256:` + unpadded base64), as `ssh-keygen -lf`
    /// prints it and as the controller indexes its keys.
    pub fn fingerprint(&self) -> String {
        fn put_string(out: &mut Vec<u8>, s: &[u8]) {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s);
        }
        fn mpint(n: &BigUint) -> Vec<u8> {
            let mut b = n.to_bytes_be();
            if b == [0] {
                return Vec::new();
            }
            if b[0] & 0x80 != 0 {
                b.insert(0, 0);
            }
            b
        }
        let mut wire = Vec::new();
        put_string(&mut wire, b"ssh-rsa");
        put_string(&mut wire, &mpint(&self.e));
        put_string(&mut wire, &mpint(&self.n));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &wire);
        format!("SHA256:{}", STANDARD_NO_PAD.encode(digest.as_ref()))
    }

    /// PKCS#1 `RSAPublicKey` DER.
    fn to_pkcs1(&self) -> Vec<u8> {
        der::sequence(&[&der::unsigned(&self.modulus()), &der::unsigned(&self.exponent())])
    }

    /// `SubjectPublicKeyInfo` DER.
    fn to_spki(&self) -> Vec<u8> {
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.to_pkcs1());
        der::sequence(&[&der::algorithm(oid::RSA_ENCRYPTION), &der::tlv(tag::BIT_STRING, &bits)])
    }
}

// ---------------------------------------------------------------- certificates

/// A sealing certificate: its DER, public key and validity. Extensions are never read: the
/// controller's certificates carry a KeyUsage that strict X.509 decoders reject.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    public_key: PublicKey,
    not_before: i64,
    not_after: i64,
}

impl Certificate {
    /// The first `CERTIFICATE` block of PEM text, as kubeseal reads `--cert`.
    pub fn from_pem(text: &str, source: &str) -> Result<Self> {
        let blocks = pem_blocks(text, source)?;
        let block = blocks.iter().find(|b| b.label == "CERTIFICATE").ok_or_else(|| Error::Certificate {
            file: source.into(),
            message: if blocks.iter().any(|b| b.label == "PUBLIC KEY") {
                "a bare PUBLIC KEY is not a certificate; give the controller's certificate (PEM CERTIFICATE)".into()
            } else {
                "no PEM CERTIFICATE block found".into()
            },
        })?;
        Self::from_der(&block.der, source)
    }

    /// A DER-encoded X.509 certificate.
    pub fn from_der(der_bytes: &[u8], source: &str) -> Result<Self> {
        let err = |message: String| Error::Certificate { file: source.into(), message };
        let mut cert = Reader::new(der_bytes).sequence("Certificate").map_err(err)?;
        let mut tbs = cert.sequence("tbsCertificate").map_err(err)?;
        if tbs.peek_tag() == Some(0xa0) {
            tbs.read_any().map_err(err)?;
        }
        tbs.read(tag::INTEGER, "serialNumber").map_err(err)?;
        tbs.sequence("signature").map_err(err)?;
        tbs.sequence("issuer").map_err(err)?;
        let mut validity = tbs.sequence("validity").map_err(err)?;
        let not_before = read_time(&mut validity, "notBefore").map_err(err)?;
        let not_after = read_time(&mut validity, "notAfter").map_err(err)?;
        tbs.sequence("subject").map_err(err)?;
        let (t, spki) = tbs.read_any().map_err(err)?;
        if t != tag::SEQUENCE {
            return Err(err("subjectPublicKeyInfo: not a SEQUENCE".into()));
        }
        let whole = der::tlv(tag::SEQUENCE, spki);
        let public_key = PublicKey::from_spki(&whole).map_err(err)?;
        Ok(Self { der: der_bytes.to_vec(), public_key, not_before, not_after })
    }

    /// The certificate as PEM.
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der).to_string()
    }

    /// The certificate's DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// `NotBefore`, seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// `NotAfter`, seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whether `NotAfter` is before `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.not_after < unix_seconds(now)
    }

    /// Refuses an expired certificate with kubeseal's words.
    pub fn check_usable(&self, now: SystemTime) -> Result<()> {
        if self.is_expired_at(now) {
            return Err(Error::ExpiredCertificate { date: go_long_date(self.not_after) });
        }
        Ok(())
    }
}

fn read_time(r: &mut Reader<'_>, what: &str) -> std::result::Result<i64, String> {
    let (t, content) = r.read_any()?;
    let s = std::str::from_utf8(content).map_err(|_| format!("{what}: not ASCII"))?;
    let digits = s.strip_suffix('Z').ok_or_else(|| format!("{what}: `{s}` is not UTC"))?;
    let (year, rest) = match t {
        tag::UTC_TIME if digits.len() == 12 => {
            let yy: i64 = digits[..2].parse().map_err(|_| format!("{what}: `{s}`"))?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        tag::GENERALIZED_TIME if digits.len() == 14 => {
            (digits[..4].parse().map_err(|_| format!("{what}: `{s}`"))?, &digits[4..])
        }
        _ => return Err(format!("{what}: unsupported time `{s}`")),
    };
    let field = |i: usize| -> std::result::Result<i64, String> {
        rest.get(i..i + 2).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{what}: `{s}`"))
    };
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err(format!("{what}: `{s}` is not a valid time"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

fn write_time(secs: i64) -> Vec<u8> {
    let (y, m, d, hh, mm, ss) = civil(secs);
    if (1950..2050).contains(&y) {
        der::tlv(tag::UTC_TIME, format!("{:02}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z", y % 100).as_bytes())
    } else {
        der::tlv(tag::GENERALIZED_TIME, format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z").as_bytes())
    }
}

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

use gitops_core::time::{civil, days_from_civil};

/// Go's `January 2, 2006` layout, as kubeseal prints expiry dates.
fn go_long_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m, d, ..) = civil(secs);
    format!("{} {d}, {y}", MONTHS[(m - 1) as usize])
}

// ---------------------------------------------------------------- private keys

/// An RSA private key for unsealing. Decryption goes through aws-lc's constant-time
/// RSA-OAEP; the key's DER is zeroized on drop.
pub struct PrivateKey {
    decrypting: OaepPrivateDecryptingKey,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({} bits, {})", self.public.bits(), self.public.fingerprint())
    }
}

impl Clone for PrivateKey {
    fn clone(&self) -> Self {
        Self::from_pkcs8(&self.pkcs8, "clone").expect("a key that loaded once loads again")
    }
}

impl PrivateKey {
    /// Generates a key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(Error::Key {
                    file: "keygen".into(),
                    message: format!("unsupported key size {other}: use 2048, 3072, 4096 or 8192"),
                });
            }
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| Error::Key { file: "keygen".into(), message: "key generation failed".into() })?;
        let der =
            key.as_der().map_err(|_| Error::Key { file: "keygen".into(), message: "cannot encode the key".into() })?;
        Self::from_pkcs8(der.as_ref(), "keygen")
    }

    /// From PEM text: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8). The first key
    /// block is used.
    pub fn from_pem(text: &str, source: &str) -> Result<Self> {
        let blocks = pem_blocks(text, source)?;
        for b in &blocks {
            match b.label.as_str() {
                "RSA PRIVATE KEY" => return Self::from_pkcs1(&b.der, source),
                "PRIVATE KEY" => return Self::from_pkcs8(&b.der, source),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::Key {
                        file: source.into(),
                        message: "encrypted private keys are not supported; decrypt it with openssl first".into(),
                    });
                }
                _ => {}
            }
        }
        Err(Error::Key { file: source.into(), message: "no PEM RSA PRIVATE KEY or PRIVATE KEY block found".into() })
    }

    /// From a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1(pkcs1: &[u8], source: &str) -> Result<Self> {
        Self::from_pkcs8(&der::rsa_pkcs8(pkcs1), source)
    }

    /// From a PKCS#8 `PrivateKeyInfo` holding an RSA key.
    pub fn from_pkcs8(pkcs8: &[u8], source: &str) -> Result<Self> {
        let err = |message: String| Error::Key { file: source.into(), message };
        let pkcs1 = pkcs1_of(pkcs8).map_err(err)?;
        let mut seq = Reader::new(pkcs1).sequence("RSAPrivateKey").map_err(err)?;
        seq.read(tag::INTEGER, "version").map_err(err)?;
        let n = seq.unsigned("modulus").map_err(err)?;
        let e = seq.unsigned("publicExponent").map_err(err)?;
        let public = PublicKey::from_components(n, e);
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|e| err(format!("not a usable RSA key: {e}")))?;
        let decrypting = OaepPrivateDecryptingKey::new(key).map_err(|_| err("not a usable RSA-OAEP key".into()))?;
        Ok(Self { decrypting, pkcs8: Zeroizing::new(pkcs8.to_vec()), public })
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key as PEM `RSA PRIVATE KEY` (PKCS#1), as the controller writes `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Zeroizing<String> {
        let pkcs1 = pkcs1_of(&self.pkcs8).expect("validated when loaded");
        pem_encode("RSA PRIVATE KEY", pkcs1)
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) decryption with `label`, constant-time in aws-lc.
    pub(crate) fn oaep_decrypt(&self, ciphertext: &[u8], label: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if ciphertext.len() != self.decrypting.key_size_bytes() {
            return None;
        }
        let mut out = Zeroizing::new(vec![0u8; self.decrypting.min_output_size()]);
        let len = self
            .decrypting
            .decrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, Some(label))
            .ok()?
            .len();
        out.truncate(len);
        Some(out)
    }

    /// A self-signed certificate for this key, shaped as the controller makes it: empty or
    /// `CN=<cn>` subject and issuer, random 128-bit serial, KeyUsage encipherOnly and
    /// BasicConstraints CA (both critical), a SubjectKeyIdentifier, sha256WithRSAEncryption.
    pub fn self_signed_certificate(
        &self,
        cn: &str,
        not_before: SystemTime,
        ttl: std::time::Duration,
    ) -> Result<Certificate> {
        let err = |m: &str| Error::Key { file: "certificate".into(), message: m.into() };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut serial = [0u8; 16];
        rng.fill(&mut serial).map_err(|_| err("no randomness"))?;
        let name = if cn.is_empty() {
            der::sequence(&[])
        } else {
            let atv =
                der::sequence(&[&der::tlv(tag::OID, oid::COMMON_NAME), &der::tlv(tag::UTF8_STRING, cn.as_bytes())]);
            der::sequence(&[&der::tlv(tag::SET, &atv)])
        };
        let start = unix_seconds(not_before);
        let validity = der::sequence(&[&write_time(start), &write_time(start + ttl.as_secs() as i64)]);
        let spki = self.public.to_spki();
        let critical = der::tlv(tag::BOOLEAN, &[0xff]);
        let key_usage = der::sequence(&[
            &der::tlv(tag::OID, oid::KEY_USAGE),
            &critical,
            &der::tlv(tag::OCTET_STRING, &der::tlv(tag::BIT_STRING, &[0x00, 0x01])),
        ]);
        let basic = der::sequence(&[
            &der::tlv(tag::OID, oid::BASIC_CONSTRAINTS),
            &critical,
            &der::tlv(tag::OCTET_STRING, &der::sequence(&[&der::tlv(tag::BOOLEAN, &[0xff])])),
        ]);
        let ski_digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.public.to_pkcs1());
        let ski = der::sequence(&[
            &der::tlv(tag::OID, oid::SUBJECT_KEY_ID),
            &der::tlv(tag::OCTET_STRING, &der::tlv(tag::OCTET_STRING, ski_digest.as_ref())),
        ]);
        let extensions = der::tlv(0xa3, &der::sequence(&[&key_usage, &basic, &ski]));
        let tbs = der::sequence(&[
            &der::tlv(0xa0, &der::tlv(tag::INTEGER, &[2])),
            &der::unsigned(&serial),
            &der::algorithm(oid::SHA256_WITH_RSA),
            &name,
            &validity,
            &name,
            &spki,
            &extensions,
        ]);
        let signer = aws_lc_rs::rsa::KeyPair::from_pkcs8(&self.pkcs8).map_err(|_| err("cannot sign with this key"))?;
        let mut signature = vec![0u8; signer.public_modulus_len()];
        signer
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, &tbs, &mut signature)
            .map_err(|_| err("signing failed"))?;
        let mut sig_bits = vec![0u8];
        sig_bits.extend_from_slice(&signature);
        let cert = der::sequence(&[&tbs, &der::algorithm(oid::SHA256_WITH_RSA), &der::tlv(tag::BIT_STRING, &sig_bits)]);
        Certificate::from_der(&cert, "generated certificate")
    }
}

/// The PKCS#1 key inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs1_of(pkcs8: &[u8]) -> std::result::Result<&[u8], String> {
    let mut seq = Reader::new(pkcs8).sequence("PrivateKeyInfo")?;
    seq.read(tag::INTEGER, "version")?;
    let mut alg = seq.sequence("privateKeyAlgorithm")?;
    if alg.read(tag::OID, "privateKeyAlgorithm")? != oid::RSA_ENCRYPTION {
        return Err("not an RSA key".into());
    }
    seq.read(tag::OCTET_STRING, "privateKey")
}

// ---------------------------------------------------------------- key pairs and the ring

/// A private key with its certificate, as one controller key Secret holds them.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The private key.
    pub key: PrivateKey,
    /// Its certificate (`tls.crt`), when known.
    pub certificate: Option<Certificate>,
    /// The key Secret's `creationTimestamp` (Unix seconds), when read from one.
    pub created: Option<i64>,
    /// Where it was read from (a file, `namespace/name` of a Secret).
    pub source: String,
}

impl KeyPair {
    /// Generates a key pair as the controller does (RSA of `bits`, self-signed certificate
    /// with `cn`, valid from now for `ttl`).
    pub fn generate(bits: usize, cn: &str, ttl: std::time::Duration) -> Result<Self> {
        let key = PrivateKey::generate(bits)?;
        let certificate = key.self_signed_certificate(cn, SystemTime::now(), ttl)?;
        Ok(Self {
            key,
            certificate: Some(certificate),
            created: Some(unix_seconds(SystemTime::now())),
            source: "generated".into(),
        })
    }

    /// The public key's fingerprint.
    pub fn fingerprint(&self) -> String {
        self.key.public_key().fingerprint()
    }

    /// The key as the controller stores it: a `kubernetes.io/tls` Secret labelled `active`
    /// (`tls.key` PKCS#1 PEM, `tls.crt` the certificate), named `name` in `namespace`.
    pub fn to_secret(&self, namespace: &str, name: &str) -> Result<Object> {
        let cert = self.certificate.as_ref().ok_or_else(|| Error::Key {
            file: self.source.clone(),
            message: "the key has no certificate to store beside it".into(),
        })?;
        let key_pem = self.key.to_pkcs1_pem();
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(name));
        metadata.insert("namespace".into(), json!(namespace));
        metadata.insert("labels".into(), json!({ KEY_LABEL: "active" }));
        let value = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": STANDARD.encode(cert.to_pem()),
                "tls.key": STANDARD.encode(key_pem.as_bytes()),
            }
        });
        Ok(Object::from_value_unchecked(value))
    }

    /// Reads one key Secret (`tls.key`, optional `tls.crt`).
    pub fn from_secret(secret: &Value, source: &str) -> Result<Self> {
        let name = secret.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let namespace = secret.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let source = if name.is_empty() { source.to_string() } else { format!("{source}: Secret {namespace}/{name}") };
        let item = |k: &str| -> Result<Option<Zeroizing<Vec<u8>>>> {
            match secret.pointer(&format!("/data/{}", k.replace('/', "~1"))) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => STANDARD
                    .decode(s.as_bytes())
                    .map(|b| Some(Zeroizing::new(b)))
                    .map_err(|e| Error::Key { file: source.clone(), message: format!("data.{k}: not base64: {e}") }),
                Some(_) => Err(Error::Key { file: source.clone(), message: format!("data.{k}: not a string") }),
            }
        };
        let key_bytes = item("tls.key")?
            .ok_or_else(|| Error::Key { file: source.clone(), message: "the Secret has no data.tls.key".into() })?;
        let key_text = std::str::from_utf8(&key_bytes)
            .map_err(|_| Error::Key { file: source.clone(), message: "data.tls.key is not PEM text".into() })?;
        let key = PrivateKey::from_pem(key_text, &format!("{source} data.tls.key"))?;
        let certificate = match item("tls.crt")? {
            Some(c) => {
                let text = String::from_utf8_lossy(&c).into_owned();
                Some(Certificate::from_pem(&text, &format!("{source} data.tls.crt"))?)
            }
            None => None,
        };
        if let Some(cert) = &certificate
            && cert.public_key() != key.public_key()
        {
            return Err(Error::Key {
                file: source,
                message: "data.tls.crt does not belong to data.tls.key (different public keys)".into(),
            });
        }
        let created = secret
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .and_then(gitops_core::time::parse_rfc3339);
        Ok(Self { key, certificate, created, source })
    }
}

/// Which key is "most recent", the controller's `--key-order-priority`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyOrder {
    /// Latest certificate `NotBefore` (the default).
    #[default]
    CertNotBefore,
    /// Latest key Secret `creationTimestamp`.
    SecretCreationTimestamp,
}

/// Every key a controller holds: unsealing tries them all; sealing and re-encryption use the
/// newest.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: Vec<KeyPair>,
    order: KeyOrder,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses how the newest key is found.
    pub fn with_order(mut self, order: KeyOrder) -> Self {
        self.order = order;
        self
    }

    /// Adds a key; a key already in the ring (same fingerprint) is not added twice.
    pub fn add(&mut self, pair: KeyPair) {
        let fp = pair.fingerprint();
        if !self.keys.iter().any(|k| k.fingerprint() == fp) {
            self.keys.push(pair);
        }
    }

    /// The keys, in the order they were added.
    pub fn keys(&self) -> &[KeyPair] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The most recent key (see [`KeyOrder`]); ties go to the key added last.
    pub fn newest(&self) -> Option<&KeyPair> {
        self.keys
            .iter()
            .enumerate()
            .max_by_key(|(i, k)| {
                let t = match self.order {
                    KeyOrder::CertNotBefore => k.certificate.as_ref().map(Certificate::not_before),
                    KeyOrder::SecretCreationTimestamp => k.created,
                };
                (t.unwrap_or(i64::MIN), *i)
            })
            .map(|(_, k)| k)
    }

    /// Adds the keys of a file as `kubeseal --recovery-private-key` reads it: PEM (PKCS#1 or
    /// PKCS#8), or YAML/JSON key Secrets (one Secret, several documents, or a `v1 List`).
    /// Returns how many keys it held.
    pub fn add_file_contents(&mut self, text: &str, source: &str) -> Result<usize> {
        if text.contains("-----BEGIN ") && !text.trim_start().starts_with('{') && !text.contains("kind:") {
            let key = PrivateKey::from_pem(text, source)?;
            let certificate = Certificate::from_pem(text, source).ok();
            self.add(KeyPair { key, certificate, created: None, source: source.into() });
            return Ok(1);
        }
        let docs = gitops_core::yaml::parse_values(text, source, &Default::default())?;
        let mut secrets = Vec::new();
        for (_, _, v) in docs {
            match v.get("kind").and_then(Value::as_str) {
                Some("List") | Some("SecretList") => {
                    if let Some(items) = v.get("items").and_then(Value::as_array) {
                        secrets.extend(items.iter().cloned());
                    }
                }
                _ => secrets.push(v),
            }
        }
        if secrets.is_empty() {
            return Err(Error::Key { file: source.into(), message: "no PEM key and no key Secret found".into() });
        }
        for s in &secrets {
            self.add(KeyPair::from_secret(s, source)?);
        }
        Ok(secrets.len())
    }

    /// Adds the controller's key Secrets among `secrets`: those labelled
    /// `sealedsecrets.bitnami.com/sealed-secrets-key: active` (others, such as `compromised`,
    /// are ignored as the controller ignores them), plus one named exactly `legacy_name`
    /// (the pre-v0.9 layout) when given. Returns how many keys were added.
    pub fn add_controller_secrets<'a>(
        &mut self,
        secrets: impl IntoIterator<Item = &'a Value>,
        legacy_name: Option<&str>,
    ) -> Result<usize> {
        let mut n = 0;
        for s in secrets {
            let active =
                s.pointer(&format!("/metadata/labels/{}", KEY_LABEL.replace('/', "~1"))).and_then(Value::as_str)
                    == Some("active");
            let legacy = legacy_name.is_some() && s.pointer("/metadata/name").and_then(Value::as_str) == legacy_name;
            if active || legacy {
                self.add(KeyPair::from_secret(s, "cluster")?);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = days_from_civil(2024, 2, 29) * 86_400 + 3661;
        assert_eq!(go_long_date(days_from_civil(2027, 6, 18) * 86_400), "June 18, 2027");
        assert_eq!(gitops_core::time::parse_rfc3339("2024-02-29T01:01:01Z"), Some(t));
        let enc = write_time(t);
        assert_eq!(read_time(&mut Reader::new(&enc), "t").unwrap(), t);
        let far = days_from_civil(2126, 1, 1) * 86_400;
        let enc = write_time(far);
        assert_eq!(enc[0], tag::GENERALIZED_TIME);
        assert_eq!(read_time(&mut Reader::new(&enc), "t").unwrap(), far);
    }

    #[test]
    fn broken_pem_is_an_error() {
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAAAA\n", "f").err().unwrap().to_string().contains("END"));
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "f").is_err());
        assert!(Certificate::from_pem("nothing here", "c.pem").unwrap_err().to_string().contains("c.pem"));
        let junk = pem_encode("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(Certificate::from_pem(&junk, "c.pem").is_err());
        assert!(PrivateKey::from_pem(&pem_encode("RSA PRIVATE KEY", &[0x30, 0x00]), "k.pem").is_err());
        assert!(PrivateKey::from_pem("", "k.pem").unwrap_err().to_string().contains("k.pem"));
    }
}
