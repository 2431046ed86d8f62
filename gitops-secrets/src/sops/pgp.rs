//! The part of OpenPGP (RFC 4880) SOPS needs: armored transferable secret and public keys
//! (RSA, unprotected), and messages that carry a data key: public-key encrypted session key
//! packets (RSA, PKCS#1 v1.5) and symmetrically encrypted integrity-protected data (AES,
//! CFB, MDC), optionally compressed.
//!
//! Why not a crate: the maintained pure-Rust implementation (`pgp`) depends on the `rsa`
//! crate, which carries RUSTSEC-2023-0071 (Marvin timing attack, no patched release); the
//! project's audit gate refuses it. RSA decryption here goes through aws-lc-rs (constant
//! time, blinded), which accepts keys of 2048 to 8192 bits.

use std::io::Read;

use aes_gcm::aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::aes::{Aes128, Aes192, Aes256};
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use num_bigint::BigUint;
use zeroize::Zeroizing;

use crate::der;
use crate::keys::PublicKey as RsaPublic;

/// An OpenPGP key (primary or subkey) this module can use.
#[derive(Clone)]
pub struct Key {
    /// The v4 fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    /// The key ID (the fingerprint's last 8 bytes).
    pub key_id: [u8; 8],
    /// The fingerprint of the primary key it belongs to.
    pub primary: String,
    /// The user IDs of the primary key.
    pub user_ids: Vec<String>,
    material: Material,
    secret: Option<Zeroizing<Vec<u8>>>,
    /// Set for subkeys; a primary key of an encryption-capable algorithm is usable too.
    pub is_subkey: bool,
    fp_bytes: [u8; 20],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pgp::Key({}, secret: {})", self.fingerprint, self.secret.is_some())
    }
}

impl Key {
    /// Whether the secret half is present.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }
}

/// The public half of a key this module can encrypt to.
#[derive(Clone)]
enum Material {
    /// RSA; the secret half is a PKCS#8 document.
    Rsa(RsaPublic),
    /// ECDH over Curve25519 (RFC 6637 with the cv25519 curve, GnuPG's default since 2.3):
    /// the native public key and the KDF's hash and key-wrap algorithms; the secret half is
    /// the 32-byte native scalar.
    Cv25519 { public: [u8; 32], hash: u8, wrap: u8 },
}

/// The curve OID of Curve25519 for ECDH (1.3.6.1.4.1.3029.1.5.1).
const CV25519_OID: [u8; 10] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01];

/// Decodes ASCII armor (any `-----BEGIN PGP ...-----` block), ignoring headers and the
/// checksum line. Returns every block's bytes.
pub fn dearmor(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        if !(line.starts_with("-----BEGIN PGP ") && line.ends_with("-----")) {
            continue;
        }
        let mut body = String::new();
        let mut in_headers = true;
        for line in lines.by_ref() {
            let line = line.trim();
            if line.starts_with("-----END PGP ") {
                break;
            }
            if in_headers {
                if line.is_empty() {
                    in_headers = false;
                    continue;
                }
                if line.contains(": ") {
                    continue;
                }
                in_headers = false;
            }
            if line.starts_with('=') && line.len() == 5 {
                continue;
            }
            body.push_str(line);
        }
        out.push(STANDARD.decode(body.as_bytes()).map_err(|e| format!("the armored data is not base64: {e}"))?);
    }
    if out.is_empty() {
        return Err("no -----BEGIN PGP ...----- block".into());
    }
    Ok(out)
}

/// Armors `data` as a `PGP MESSAGE`.
pub fn armor_message(data: &[u8]) -> String {
    let b64 = STANDARD.encode(data);
    let mut out = String::from("-----BEGIN PGP MESSAGE-----\n\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    let crc = crc24(data);
    out.push('=');
    out.push_str(&STANDARD.encode([(crc >> 16) as u8, (crc >> 8) as u8, crc as u8]));
    out.push_str("\n-----END PGP MESSAGE-----");
    out
}

fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB704CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x1000000 != 0 {
                crc ^= 0x1864CFB;
            }
        }
    }
    crc & 0xFFFFFF
}

/// One packet: its tag and body.
struct Packet {
    tag: u8,
    body: Vec<u8>,
}

fn packets(mut data: &[u8]) -> Result<Vec<Packet>, String> {
    let mut out = Vec::new();
    let short = || "truncated OpenPGP packet".to_string();
    while !data.is_empty() {
        let h = data[0];
        if h & 0x80 == 0 {
            return Err("not an OpenPGP packet (bad header byte)".into());
        }
        data = &data[1..];
        let mut body = Vec::new();
        let tag;
        if h & 0x40 != 0 {
            tag = h & 0x3f;
            loop {
                let o1 = *data.first().ok_or_else(short)? as usize;
                let (len, used, partial) = match o1 {
                    0..=191 => (o1, 1, false),
                    192..=223 => (((o1 - 192) << 8) + *data.get(1).ok_or_else(short)? as usize + 192, 2, false),
                    255 => {
                        let b = data.get(1..5).ok_or_else(short)?;
                        (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5, false)
                    }
                    _ => (1usize << (o1 & 0x1f), 1, true),
                };
                data = &data[used..];
                body.extend_from_slice(data.get(..len).ok_or_else(short)?);
                data = &data[len..];
                if !partial {
                    break;
                }
            }
        } else {
            tag = (h >> 2) & 0x0f;
            let len = match h & 3 {
                0 => {
                    let l = *data.first().ok_or_else(short)? as usize;
                    data = &data[1..];
                    l
                }
                1 => {
                    let b = data.get(..2).ok_or_else(short)?;
                    data = &data[2..];
                    u16::from_be_bytes([b[0], b[1]]) as usize
                }
                2 => {
                    let b = data.get(..4).ok_or_else(short)?;
                    data = &data[4..];
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
                }
                _ => data.len(),
            };
            body.extend_from_slice(data.get(..len).ok_or_else(short)?);
            data = &data[len..];
        }
        out.push(Packet { tag, body });
    }
    Ok(out)
}

fn write_packet(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(0xC0 | tag);
    let len = body.len();
    if len < 192 {
        out.push(len as u8);
    } else if len < 8384 {
        let l = len - 192;
        out.push(((l >> 8) + 192) as u8);
        out.push(l as u8);
    } else {
        out.push(255);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(body);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated OpenPGP data".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn mpi(&mut self) -> Result<&'a [u8], String> {
        let b = self.take(2)?;
        let bits = u16::from_be_bytes([b[0], b[1]]) as usize;
        self.take(bits.div_ceil(8))
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Reads every RSA key (primary and subkeys, public or secret) from armored or binary
/// OpenPGP key data. Protected secret keys are refused with a clear error.
pub fn read_keys(data: &[u8], source: &str) -> Result<Vec<Key>, String> {
    let blocks = match std::str::from_utf8(data) {
        Ok(text) if text.contains("-----BEGIN PGP") => dearmor(text).map_err(|e| format!("{source}: {e}"))?,
        _ => vec![data.to_vec()],
    };
    let mut keys = Vec::new();
    for block in blocks {
        let mut primary = String::new();
        let mut primary_index = None;
        for p in packets(&block).map_err(|e| format!("{source}: {e}"))? {
            match p.tag {
                5 | 6 | 7 | 14 => {
                    let is_subkey = matches!(p.tag, 7 | 14);
                    let secret = matches!(p.tag, 5 | 7);
                    match parse_key(&p.body, secret, source)? {
                        Some(mut k) => {
                            if !is_subkey {
                                primary = k.fingerprint.clone();
                                primary_index = Some(keys.len());
                            }
                            k.primary = if is_subkey { primary.clone() } else { k.fingerprint.clone() };
                            k.is_subkey = is_subkey;
                            keys.push(k);
                        }
                        None => {
                            if !is_subkey {
                                // A primary key of another algorithm: its fingerprint still names
                                // the subkeys.
                                primary = fingerprint_of(&p.body)?;
                                primary_index = None;
                            }
                        }
                    }
                }
                13 => {
                    let uid = String::from_utf8_lossy(&p.body).into_owned();
                    if let Some(i) = primary_index {
                        keys[i].user_ids.push(uid);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(keys)
}

fn public_len(body: &[u8]) -> Result<usize, String> {
    let mut c = Cursor(body);
    let version = c.byte()?;
    if version != 4 {
        return Err(format!("OpenPGP key version {version} is not supported (only v4)"));
    }
    c.take(4)?;
    let algo = c.byte()?;
    let mpis = match algo {
        1..=3 => 2,
        16 => 3,
        17 => 4,
        18 | 19 | 22 => {
            // Curve OID, then one MPI (and for ECDH the KDF parameters).
            let l = c.byte()? as usize;
            c.take(l)?;
            c.mpi()?;
            if algo == 18 {
                let l = c.byte()? as usize;
                c.take(l)?;
            }
            0
        }
        _ => return Err(format!("unknown OpenPGP public-key algorithm {algo}")),
    };
    for _ in 0..mpis {
        c.mpi()?;
    }
    Ok(body.len() - c.0.len())
}

fn fingerprint_of(body: &[u8]) -> Result<String, String> {
    let n = public_len(body)?;
    let len = (n as u16).to_be_bytes();
    Ok(hex_upper(&sha1(&[&[0x99], &len, &body[..n]])))
}

fn parse_key(body: &[u8], secret: bool, source: &str) -> Result<Option<Key>, String> {
    let n = public_len(body).map_err(|e| format!("{source}: {e}"))?;
    let algorithm = body[5];
    let fp_bytes = sha1(&[&[0x99], &(n as u16).to_be_bytes(), &body[..n]]);
    let fingerprint = hex_upper(&fp_bytes);
    let mut c = Cursor(&body[6..n]);
    let material = match algorithm {
        1 | 2 => {
            let modulus = c.mpi()?;
            let exponent = c.mpi()?;
            Material::Rsa(RsaPublic::from_components(modulus, exponent))
        }
        18 => {
            let l = c.byte()? as usize;
            if c.take(l)? != CV25519_OID {
                return Ok(None);
            }
            let point = c.mpi()?;
            let kdf_len = c.byte()? as usize;
            let kdf = c.take(kdf_len)?;
            if point.len() != 33 || point[0] != 0x40 || kdf.len() != 3 || kdf[0] != 1 {
                return Err(format!("{source}: malformed Curve25519 key {fingerprint}"));
            }
            let mut public = [0u8; 32];
            public.copy_from_slice(&point[1..]);
            Material::Cv25519 { public, hash: kdf[1], wrap: kdf[2] }
        }
        _ => return Ok(None),
    };
    let secret = if secret {
        let mut c = Cursor(&body[n..]);
        let usage = c.byte()?;
        if usage != 0 {
            return Err(format!(
                "{source}: the secret key {fingerprint} is protected by a passphrase; export it without one (gpg --export-secret-keys after removing the passphrase) for this tool"
            ));
        }
        match &material {
            Material::Rsa(_) => {
                let mut pc = Cursor(&body[6..n]);
                let modulus = pc.mpi()?;
                let exponent = pc.mpi()?;
                let d = c.mpi()?;
                let p = c.mpi()?;
                let q = c.mpi()?;
                let _u = c.mpi()?;
                Some(pkcs8(modulus, exponent, d, p, q))
            }
            Material::Cv25519 { .. } => {
                // Stored big-endian: the native (little-endian) scalar reversed.
                let mpi = c.mpi()?;
                if mpi.len() > 32 {
                    return Err(format!("{source}: malformed Curve25519 secret key {fingerprint}"));
                }
                let mut native = Zeroizing::new(vec![0u8; 32]);
                for (i, b) in mpi.iter().rev().enumerate() {
                    native[i] = *b;
                }
                Some(native)
            }
        }
    } else {
        None
    };
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&fp_bytes[12..]);
    Ok(Some(Key {
        fingerprint,
        key_id,
        primary: String::new(),
        user_ids: Vec::new(),
        material,
        secret,
        is_subkey: false,
        fp_bytes,
    }))
}

/// The KDF parameters of RFC 6637 §8 for a Curve25519 recipient.
fn ecdh_param(hash: u8, wrap: u8, fingerprint: &[u8; 20]) -> Vec<u8> {
    let mut p = vec![CV25519_OID.len() as u8];
    p.extend_from_slice(&CV25519_OID);
    p.extend_from_slice(&[18, 3, 1, hash, wrap]);
    p.extend_from_slice(b"Anonymous Sender    ");
    p.extend_from_slice(fingerprint);
    p
}

fn ecdh_kek(shared: &[u8; 32], hash: u8, wrap: u8, fingerprint: &[u8; 20]) -> Result<Zeroizing<Vec<u8>>, String> {
    use sha2::Digest;
    let param = ecdh_param(hash, wrap, fingerprint);
    let digest: Vec<u8> = match hash {
        8 => {
            sha2::Sha256::new().chain_update([0, 0, 0, 1]).chain_update(shared).chain_update(&param).finalize().to_vec()
        }
        9 => {
            sha2::Sha384::new().chain_update([0, 0, 0, 1]).chain_update(shared).chain_update(&param).finalize().to_vec()
        }
        10 => {
            sha2::Sha512::new().chain_update([0, 0, 0, 1]).chain_update(shared).chain_update(&param).finalize().to_vec()
        }
        _ => return Err(format!("ECDH KDF hash algorithm {hash} is not supported")),
    };
    let len = match wrap {
        7 => 16,
        8 => 24,
        9 => 32,
        _ => return Err(format!("ECDH key-wrap algorithm {wrap} is not supported")),
    };
    Ok(Zeroizing::new(digest[..len].to_vec()))
}

fn aes_block(kek: &[u8], block: &mut [u8; 16], decrypt: bool) -> Result<(), String> {
    use aes_gcm::aes::cipher::BlockDecrypt;
    let b = GenericArray::from_mut_slice(block);
    macro_rules! run {
        ($t:ty) => {{
            let c = <$t>::new_from_slice(kek).map_err(|_| "bad key-wrap key")?;
            if decrypt { c.decrypt_block(b) } else { c.encrypt_block(b) }
        }};
    }
    match kek.len() {
        16 => run!(Aes128),
        24 => run!(Aes192),
        32 => run!(Aes256),
        _ => return Err("bad key-wrap key length".into()),
    }
    Ok(())
}

/// AES key unwrap (RFC 3394).
fn key_unwrap(kek: &[u8], c: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    if c.len() < 24 || !c.len().is_multiple_of(8) {
        return Err("malformed wrapped key".into());
    }
    let n = c.len() / 8 - 1;
    let mut a = [0u8; 8];
    a.copy_from_slice(&c[..8]);
    let mut r = Zeroizing::new(c[8..].to_vec());
    for j in (0..6).rev() {
        for i in (1..=n).rev() {
            let t = (n * j + i) as u64;
            let mut block = [0u8; 16];
            for (k, x) in a.iter().zip(t.to_be_bytes()).map(|(a, t)| a ^ t).enumerate() {
                block[k] = x;
            }
            block[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            aes_block(kek, &mut block, true)?;
            a.copy_from_slice(&block[..8]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&block[8..]);
        }
    }
    if a != [0xA6; 8] {
        return Err("the wrapped key does not verify".into());
    }
    Ok(r)
}

/// AES key wrap (RFC 3394).
fn key_wrap(kek: &[u8], p: &[u8]) -> Result<Vec<u8>, String> {
    let n = p.len() / 8;
    let mut a = [0xA6u8; 8];
    let mut r = p.to_vec();
    for j in 0..6 {
        for i in 1..=n {
            let mut block = [0u8; 16];
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            aes_block(kek, &mut block, false)?;
            let t = ((n * j + i) as u64).to_be_bytes();
            for k in 0..8 {
                a[k] = block[k] ^ t[k];
            }
            r[(i - 1) * 8..i * 8].copy_from_slice(&block[8..]);
        }
    }
    let mut out = a.to_vec();
    out.extend_from_slice(&r);
    Ok(out)
}

/// Decrypts a Curve25519 PKESK body (after the algorithm byte) with `k`.
fn ecdh_decrypt(k: &Key, c: &mut Cursor<'_>) -> Option<Zeroizing<Vec<u8>>> {
    let Material::Cv25519 { hash, wrap, .. } = k.material else { return None };
    let secret = k.secret.as_ref()?;
    let point = c.mpi().ok()?;
    let len = c.byte().ok()? as usize;
    let wrapped = c.take(len).ok()?;
    if point.len() != 33 || point[0] != 0x40 {
        return None;
    }
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(secret);
    let mut eph = [0u8; 32];
    eph.copy_from_slice(&point[1..]);
    let shared = x25519_dalek::x25519(*scalar, eph);
    let kek = ecdh_kek(&shared, hash, wrap, &k.fp_bytes).ok()?;
    let mut m = key_unwrap(&kek, wrapped).ok()?;
    // PKCS#5 padding to a multiple of 8.
    let pad = *m.last()? as usize;
    if pad == 0 || pad > 8 || pad > m.len() || m[m.len() - pad..].iter().any(|&b| b as usize != pad) {
        return None;
    }
    let keep = m.len() - pad;
    m.truncate(keep);
    Some(m)
}

/// A PKCS#8 `PrivateKeyInfo` from the RSA components OpenPGP stores.
pub(super) fn pkcs8(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Zeroizing<Vec<u8>> {
    let (bd, bp, bq) = (BigUint::from_bytes_be(d), BigUint::from_bytes_be(p), BigUint::from_bytes_be(q));
    let one = BigUint::from(1u8);
    let dp = &bd % (&bp - &one);
    let dq = &bd % (&bq - &one);
    // q^-1 mod p, by Fermat (p is prime).
    let qinv = bq.modpow(&(&bp - BigUint::from(2u8)), &bp);
    let ints: Vec<Zeroizing<Vec<u8>>> = [
        vec![0u8],
        n.to_vec(),
        e.to_vec(),
        d.to_vec(),
        p.to_vec(),
        q.to_vec(),
        dp.to_bytes_be(),
        dq.to_bytes_be(),
        qinv.to_bytes_be(),
    ]
    .into_iter()
    .map(|b| Zeroizing::new(der::unsigned(&b)))
    .collect();
    let refs: Vec<&[u8]> = ints.iter().map(|v| v.as_slice()).collect();
    let pkcs1 = Zeroizing::new(der::sequence(&refs));
    der::rsa_pkcs8(&pkcs1)
}

fn block_encrypt(algo: u8, key: &[u8], block: &mut [u8; 16]) -> Result<(), String> {
    let b = GenericArray::from_mut_slice(block);
    match algo {
        7 => Aes128::new_from_slice(key).map_err(|_| "bad AES-128 key")?.encrypt_block(b),
        8 => Aes192::new_from_slice(key).map_err(|_| "bad AES-192 key")?.encrypt_block(b),
        9 => Aes256::new_from_slice(key).map_err(|_| "bad AES-256 key")?.encrypt_block(b),
        _ => return Err(format!("symmetric algorithm {algo} is not supported (AES only)")),
    }
    Ok(())
}

/// CFB decryption (or encryption) in place from the register `iv`.
fn cfb(algo: u8, key: &[u8], iv: [u8; 16], data: &mut [u8], decrypt: bool) -> Result<(), String> {
    let mut register = iv;
    for chunk in data.chunks_mut(16) {
        let mut ks = register;
        block_encrypt(algo, key, &mut ks)?;
        for (i, b) in chunk.iter_mut().enumerate() {
            if decrypt {
                register[i] = *b;
                *b ^= ks[i];
            } else {
                *b ^= ks[i];
                register[i] = *b;
            }
        }
    }
    Ok(())
}

/// Decrypts an OpenPGP message (armored or binary) with the secret keys among `keys`;
/// returns the literal data.
pub fn decrypt(message: &[u8], keys: &[Key]) -> Result<Zeroizing<Vec<u8>>, String> {
    let data = match std::str::from_utf8(message) {
        Ok(text) if text.contains("-----BEGIN PGP") => dearmor(text)?.swap_remove(0),
        _ => message.to_vec(),
    };
    let packets = packets(&data)?;
    let mut session: Option<(u8, Zeroizing<Vec<u8>>)> = None;
    let mut wanted = Vec::new();
    for p in packets.iter().filter(|p| p.tag == 1) {
        let mut c = Cursor(&p.body);
        if c.byte()? != 3 {
            continue;
        }
        let id = c.take(8)?;
        let algo = c.byte()?;
        wanted.push(hex_upper(id));
        if !matches!(algo, 1 | 2 | 18) {
            continue;
        }
        let rest = c.0;
        let candidates = keys
            .iter()
            .filter(|k| {
                k.secret.is_some()
                    && matches!((&k.material, algo), (Material::Rsa(_), 1 | 2) | (Material::Cv25519 { .. }, 18))
            })
            .filter(|k| k.key_id == id || id == [0u8; 8]);
        for k in candidates {
            let opened = match &k.material {
                Material::Rsa(_) => Cursor(rest).mpi().ok().and_then(|m| rsa_decrypt(k, m)),
                Material::Cv25519 { .. } => ecdh_decrypt(k, &mut Cursor(rest)),
            };
            if let Some(sk) = opened {
                if sk.len() < 3 {
                    continue;
                }
                let sym = sk[0];
                let key = &sk[1..sk.len() - 2];
                let sum: u32 = key.iter().map(|&b| u32::from(b)).sum::<u32>() & 0xffff;
                if sum == u32::from(u16::from_be_bytes([sk[sk.len() - 2], sk[sk.len() - 1]])) {
                    session = Some((sym, Zeroizing::new(key.to_vec())));
                    break;
                }
            }
        }
        if session.is_some() {
            break;
        }
    }
    let (sym, key) =
        session.ok_or_else(|| format!("no secret key for the message (encrypted to key IDs {})", wanted.join(", ")))?;
    let bs = 16;
    for p in &packets {
        let plain = match p.tag {
            18 => {
                let mut body = p.body.clone();
                if body.first() != Some(&1) {
                    return Err("unsupported encrypted-data packet version".into());
                }
                body.remove(0);
                cfb(sym, &key, [0; 16], &mut body, true)?;
                if body.len() < bs + 2 + 22 || body[bs - 2..bs] != body[bs..bs + 2] {
                    return Err("wrong session key (the quick check failed)".into());
                }
                let (content, mdc) = body.split_at(body.len() - 22);
                if mdc[..2] != [0xD3, 0x14] || sha1(&[content, &mdc[..2]]) != mdc[2..] {
                    return Err("the message was modified (MDC mismatch)".into());
                }
                Zeroizing::new(content[bs + 2..].to_vec())
            }
            9 => {
                // Legacy CFB with resynchronisation, no integrity protection.
                let mut body = p.body.clone();
                if body.len() < bs + 2 {
                    return Err("truncated encrypted data".into());
                }
                let mut head = body[..bs + 2].to_vec();
                cfb(sym, &key, [0; 16], &mut head, true)?;
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&body[2..bs + 2]);
                let mut rest = body.split_off(bs + 2);
                cfb(sym, &key, iv, &mut rest, true)?;
                Zeroizing::new(rest)
            }
            _ => continue,
        };
        return literal(&plain, 0);
    }
    Err("the message holds no encrypted data".into())
}

fn rsa_decrypt(k: &Key, m: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let der = k.secret.as_ref()?;
    let key = PrivateDecryptingKey::from_pkcs8(der).ok()?;
    let key = Pkcs1PrivateDecryptingKey::new(key).ok()?;
    let size = key.key_size_bytes();
    let mut ct = vec![0u8; size.saturating_sub(m.len())];
    ct.extend_from_slice(m);
    let mut out = Zeroizing::new(vec![0u8; size]);
    let n = key.decrypt(&ct, &mut out).ok()?.len();
    out.truncate(n);
    Some(out)
}

fn literal(data: &[u8], depth: usize) -> Result<Zeroizing<Vec<u8>>, String> {
    if depth > 4 {
        return Err("too deeply nested OpenPGP message".into());
    }
    for p in packets(data)? {
        match p.tag {
            11 => {
                let mut c = Cursor(&p.body);
                c.byte()?;
                let l = c.byte()? as usize;
                c.take(l)?;
                c.take(4)?;
                return Ok(Zeroizing::new(c.0.to_vec()));
            }
            8 => {
                let (&algo, rest) = p.body.split_first().ok_or("empty compressed packet")?;
                let mut out = Zeroizing::new(Vec::new());
                let limit = 1 << 20;
                match algo {
                    0 => out.extend_from_slice(rest),
                    1 => {
                        flate2::read::DeflateDecoder::new(rest)
                            .take(limit)
                            .read_to_end(&mut out)
                            .map_err(|e| e.to_string())?;
                    }
                    2 => {
                        flate2::read::ZlibDecoder::new(rest)
                            .take(limit)
                            .read_to_end(&mut out)
                            .map_err(|e| e.to_string())?;
                    }
                    _ => return Err(format!("compression algorithm {algo} is not supported")),
                }
                return literal(&out, depth + 1);
            }
            _ => {}
        }
    }
    Err("the message holds no literal data".into())
}

/// The key among `keys` to encrypt to for the fingerprint `fp` (a primary key's, or a
/// subkey's): an encryption subkey of that primary key, else the key itself.
pub fn encryption_key<'a>(keys: &'a [Key], fp: &str) -> Option<&'a Key> {
    let fp = fp.replace(' ', "").to_uppercase();
    let named = |f: &str| !fp.is_empty() && (f == fp || f.ends_with(&fp));
    // A subkey of the named primary key (whose own algorithm may be sign-only, e.g. EdDSA).
    let subkey = keys.iter().rfind(|k| k.is_subkey && named(&k.primary));
    subkey.or_else(|| keys.iter().find(|k| named(&k.fingerprint)))
}

/// Encrypts `data` to `recipient` as an armored OpenPGP message (PKESK v3 with RSA
/// PKCS#1 v1.5, SEIPD v1 with AES-256 and MDC, an uncompressed literal data packet).
pub fn encrypt(data: &[u8], recipient: &Key) -> Result<String, String> {
    let mut session = Zeroizing::new(vec![0u8; 32]);
    super::random(&mut session);
    // PKESK
    let sum: u32 = session.iter().map(|&b| u32::from(b)).sum::<u32>() & 0xffff;
    let mut m = Zeroizing::new(vec![9u8]);
    m.extend_from_slice(&session);
    m.extend_from_slice(&(sum as u16).to_be_bytes());
    let mut pkesk = vec![3u8];
    pkesk.extend_from_slice(&recipient.key_id);
    match &recipient.material {
        Material::Rsa(public) => {
            let k = public.size();
            if m.len() + 11 > k {
                return Err("the RSA key is too small".into());
            }
            let mut em = Zeroizing::new(vec![0u8, 2]);
            let mut ps = vec![0u8; k - m.len() - 3];
            for b in ps.iter_mut() {
                while *b == 0 {
                    let mut r = [0u8; 1];
                    super::random(&mut r);
                    *b = r[0];
                }
            }
            em.extend_from_slice(&ps);
            em.push(0);
            em.extend_from_slice(&m);
            let c = public.raw_encrypt(&em);
            let c_trim: &[u8] = &c[c.iter().take_while(|&&b| b == 0).count()..];
            let bits =
                if c_trim.is_empty() { 0 } else { (c_trim.len() - 1) * 8 + (8 - c_trim[0].leading_zeros() as usize) };
            pkesk.push(1);
            pkesk.extend_from_slice(&(bits as u16).to_be_bytes());
            pkesk.extend_from_slice(c_trim);
        }
        Material::Cv25519 { public, hash, wrap } => {
            let mut esk = Zeroizing::new([0u8; 32]);
            super::random(esk.as_mut());
            let epk = x25519_dalek::x25519(*esk, x25519_dalek::X25519_BASEPOINT_BYTES);
            let shared = x25519_dalek::x25519(*esk, *public);
            let kek = ecdh_kek(&shared, *hash, *wrap, &recipient.fp_bytes)?;
            let pad = 8 - m.len() % 8;
            m.extend(std::iter::repeat_n(pad as u8, pad));
            let wrapped = key_wrap(&kek, &m)?;
            pkesk.push(18);
            pkesk.extend_from_slice(&263u16.to_be_bytes());
            pkesk.push(0x40);
            pkesk.extend_from_slice(&epk);
            pkesk.push(wrapped.len() as u8);
            pkesk.extend_from_slice(&wrapped);
        }
    }
    let mut out = Vec::new();
    write_packet(1, &pkesk, &mut out);
    // Literal data
    let mut lit_body = vec![b'b', 0];
    lit_body.extend_from_slice(&0u32.to_be_bytes());
    lit_body.extend_from_slice(data);
    let mut lit = Zeroizing::new(Vec::new());
    write_packet(11, &lit_body, &mut lit);
    // SEIPD
    let mut prefix = [0u8; 18];
    super::random(&mut prefix[..16]);
    prefix[16] = prefix[14];
    prefix[17] = prefix[15];
    let mut plain = Zeroizing::new(prefix.to_vec());
    plain.extend_from_slice(&lit);
    plain.extend_from_slice(&[0xD3, 0x14]);
    let mdc = sha1(&[&plain]);
    plain.extend_from_slice(&mdc);
    let mut body = plain.to_vec();
    cfb(9, &session, [0; 16], &mut body, false)?;
    let mut seipd = vec![1u8];
    seipd.extend_from_slice(&body);
    write_packet(18, &seipd, &mut out);
    Ok(armor_message(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_of_nothing() {
        assert_eq!(crc24(b""), 0xB704CE);
    }

    #[test]
    fn cfb_round_trips() {
        let key = [3u8; 32];
        let mut data: Vec<u8> = (0..50).collect();
        cfb(9, &key, [0; 16], &mut data, false).unwrap();
        assert_ne!(data[..5], [0, 1, 2, 3, 4]);
        cfb(9, &key, [0; 16], &mut data, true).unwrap();
        assert_eq!(data, (0..50).collect::<Vec<u8>>());
    }
}
