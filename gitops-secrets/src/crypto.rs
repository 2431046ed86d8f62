//! The sealed-value format: a fresh AES-256-GCM session key wrapped with RSA-OAEP
//! (SHA-256, MGF1-SHA-256, label by scope), laid out as
//! `u16 BE len(rsa) || rsa || aes-gcm ciphertext || tag`.

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::keys::{KeyRing, PublicKey};

const HASH_LEN: usize = 32;
const SESSION_KEY_LEN: usize = 32;

/// A source of random bytes for sealing. [`SystemEntropy`] is the one to use; a fixed source
/// exists so tests can reproduce sealed values byte for byte.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::Error>;
}

/// The operating system's randomness, through aws-lc's DRBG.
#[derive(Debug, Default)]
pub struct SystemEntropy(aws_lc_rs::rand::SystemRandom);

impl Entropy for SystemEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::Error> {
        self.0.fill(buf).map_err(|_| crate::Error::Crypto("the system random generator failed".into()))
    }
}

/// A deterministic stream: blocks of `SHA-256(seed || u64 BE counter)`. For tests and test
/// vectors only: sealing with it makes every value predictable.
#[derive(Debug, Clone)]
pub struct DeterministicEntropy {
    seed: Vec<u8>,
    counter: u64,
    buffer: Vec<u8>,
}

impl DeterministicEntropy {
    /// A stream from `seed`.
    pub fn new(seed: &[u8]) -> Self {
        Self { seed: seed.to_vec(), counter: 0, buffer: Vec::new() }
    }
}

impl Entropy for DeterministicEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::Error> {
        while self.buffer.len() < buf.len() {
            let mut input = self.seed.clone();
            input.extend_from_slice(&self.counter.to_be_bytes());
            self.counter += 1;
            self.buffer.extend_from_slice(digest(&SHA256, &input).as_ref());
        }
        let rest = self.buffer.split_off(buf.len());
        buf.copy_from_slice(&self.buffer);
        self.buffer = rest;
        Ok(())
    }
}

/// MGF1 with SHA-256, XORed into `out`.
fn mgf1_xor(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(HASH_LEN)) {
        let mut input = Zeroizing::new(seed.to_vec());
        input.extend_from_slice(&counter.to_be_bytes());
        let mask = digest(&SHA256, &input);
        for (o, m) in chunk.iter_mut().zip(mask.as_ref()) {
            *o ^= m;
        }
    }
}

/// RSAES-OAEP encryption (RFC 8017 §7.1.1) with SHA-256 and MGF1-SHA-256 and the given
/// 32-byte seed.
pub(crate) fn oaep_encrypt(
    key: &PublicKey,
    label: &[u8],
    message: &[u8],
    seed: &[u8; HASH_LEN],
) -> Result<Vec<u8>, crate::Error> {
    let k = key.size();
    if k < 2 * HASH_LEN + 2 || message.len() > k - 2 * HASH_LEN - 2 {
        return Err(crate::Error::Crypto(format!("a {}-bit RSA key is too small for OAEP-SHA256", key.bits())));
    }
    let mut em = Zeroizing::new(vec![0u8; k]);
    let (masked_seed, db) = em[1..].split_at_mut(HASH_LEN);
    db[..HASH_LEN].copy_from_slice(digest(&SHA256, label).as_ref());
    let one = db.len() - message.len() - 1;
    db[one] = 1;
    db[one + 1..].copy_from_slice(message);
    mgf1_xor(seed, db);
    masked_seed.copy_from_slice(seed);
    mgf1_xor(db, masked_seed);
    Ok(key.raw_encrypt(&em))
}

/// Seals `plaintext` for `key` under `label`.
pub fn encrypt(
    key: &PublicKey,
    label: &[u8],
    plaintext: &[u8],
    entropy: &mut dyn Entropy,
) -> Result<Vec<u8>, crate::Error> {
    let mut session = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    entropy.fill(&mut session[..])?;
    let mut seed = Zeroizing::new([0u8; HASH_LEN]);
    entropy.fill(&mut seed[..])?;
    let rsa = oaep_encrypt(key, label, &session[..], &seed)?;
    let aes = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &session[..]).map_err(|_| crate::Error::Crypto("AES key".into()))?,
    );
    let mut out = Vec::with_capacity(2 + rsa.len() + plaintext.len() + 16);
    out.extend_from_slice(&(rsa.len() as u16).to_be_bytes());
    out.extend_from_slice(&rsa);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let mut tail = out.split_off(start);
    // A zero nonce is safe: every session key encrypts exactly one message.
    aes.seal_in_place_append_tag(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut tail)
        .map_err(|_| crate::Error::Crypto("AES-GCM sealing failed".into()))?;
    out.extend_from_slice(&tail);
    Ok(out)
}

/// Why a sealed value could not be opened. Never carries plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than its own length prefix says.
    TooShort,
    /// No key of the ring opens it with this label.
    NoKey,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::TooShort => "SealedSecret data is too short",
            OpenError::NoKey => "no key could decrypt secret",
        })
    }
}

/// Opens a sealed value with every key of `ring` (the first that works wins).
pub fn decrypt(ring: &KeyRing, label: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if blob.len() < 2 {
        return Err(OpenError::TooShort);
    }
    let rsa_len = u16::from_be_bytes([blob[0], blob[1]]) as usize;
    if blob.len() < 2 + rsa_len {
        return Err(OpenError::TooShort);
    }
    let (rsa, sealed) = blob[2..].split_at(rsa_len);
    for pair in ring.keys() {
        let Some(session) = pair.key.oaep_decrypt(rsa, label) else { continue };
        let algorithm = match session.len() {
            16 => &AES_128_GCM,
            24 => &AES_192_GCM,
            32 => &AES_256_GCM,
            _ => continue,
        };
        let Ok(unbound) = UnboundKey::new(algorithm, &session) else { continue };
        let aes = LessSafeKey::new(unbound);
        let mut buf = Zeroizing::new(sealed.to_vec());
        if let Ok(plain) = aes.open_in_place(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut buf) {
            let n = plain.len();
            buf.truncate(n);
            return Ok(buf);
        }
    }
    Err(OpenError::NoKey)
}
