//! Values encrypted as SOPS writes them:
//! `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]`, AES-256-GCM with a 32-byte
//! nonce and the value's path as additional data.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::tree::{Scalar, Value};

type Gcm = AesGcm<Aes256, U32>;

/// Why a value did not decrypt. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherError {
    /// Not `ENC[AES256_GCM,...]`.
    NotEncrypted,
    /// Bad base64, or an unknown type.
    Malformed(String),
    /// The tag did not verify: wrong key, wrong path, or altered data.
    Authentication,
}

impl std::fmt::Display for CipherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CipherError::NotEncrypted => write!(f, "the value does not match sops' data format (ENC[AES256_GCM,...])"),
            CipherError::Malformed(m) => write!(f, "malformed encrypted value: {m}"),
            CipherError::Authentication => {
                write!(f, "message authentication failed (wrong data key, wrong path, or altered ciphertext)")
            }
        }
    }
}

struct Parts<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    kind: &'a str,
}

fn parse(s: &str) -> Option<Parts<'_>> {
    let body = s.strip_prefix("ENC[AES256_GCM,data:")?.strip_suffix(']')?;
    let (data, rest) = body.split_once(",iv:")?;
    let (iv, rest) = rest.split_once(",tag:")?;
    let (tag, kind) = rest.split_once(",type:")?;
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return None;
    }
    Some(Parts { data, iv, tag, kind })
}

/// Whether `s` looks like an encrypted SOPS value.
#[cfg(test)]
pub fn is_encrypted(s: &str) -> bool {
    parse(s).is_some()
}

/// Decrypts `s` (an `ENC[...]` string) with `key` under the additional data `aad`. A stored
/// empty string is not encrypted and stays empty.
pub fn decrypt(s: &str, key: &[u8; 32], aad: &str) -> Result<Value, CipherError> {
    if s.is_empty() {
        return Ok(Value::str(""));
    }
    let p = parse(s).ok_or(CipherError::NotEncrypted)?;
    let b64 =
        |what: &str, v: &str| STANDARD.decode(v).map_err(|_| CipherError::Malformed(format!("{what} is not base64")));
    let mut data = b64("data", p.data)?;
    let iv = b64("iv", p.iv)?;
    let tag = b64("tag", p.tag)?;
    if iv.len() != 32 {
        return Err(CipherError::Malformed(format!("the iv has {} bytes, not 32", iv.len())));
    }
    if tag.len() != 16 {
        return Err(CipherError::Malformed(format!("the tag has {} bytes, not 16", tag.len())));
    }
    data.extend_from_slice(&tag);
    let gcm = Gcm::new_from_slice(key).map_err(|_| CipherError::Malformed("bad key length".into()))?;
    let plain = gcm
        .decrypt(aes_gcm::Nonce::<U32>::from_slice(&iv), Payload { msg: &data, aad: aad.as_bytes() })
        .map_err(|_| CipherError::Authentication)?;
    typed(plain, p.kind)
}

fn typed(plain: Vec<u8>, kind: &str) -> Result<Value, CipherError> {
    let text =
        || String::from_utf8(plain.clone()).map_err(|_| CipherError::Malformed(format!("a {kind} value is not UTF-8")));
    let bad = |what: &str| CipherError::Malformed(format!("the decrypted value is not a valid {what}"));
    Ok(match kind {
        // A binary file's content is a Go string of any bytes.
        "str" => match String::from_utf8(plain) {
            Ok(s) => Value::str(s),
            Err(e) => Value::Scalar(Scalar::Bytes(e.into_bytes())),
        },
        "int" => Value::Scalar(Scalar::Int(parse_go_int(&text()?).ok_or_else(|| bad("int"))?)),
        "float" => Value::Scalar(Scalar::Float(parse_go_float(&text()?).ok_or_else(|| bad("float"))?)),
        "bool" => Value::Scalar(Scalar::Bool(parse_go_bool(&text()?).ok_or_else(|| bad("bool"))?)),
        "bytes" => Value::Scalar(Scalar::Bytes(plain)),
        "time" => Value::Scalar(Scalar::Time(text()?)),
        "comment" => Value::Comment(text()?),
        other => return Err(CipherError::Malformed(format!("unknown datatype {other:?}"))),
    })
}

/// Go's `strconv.Atoi`.
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)`, for the forms SOPS writes and a few more.
fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" | "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Inf" | "-inf" | "-Infinity" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    let clean = s.replace('_', "");
    if clean.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        clean.parse().ok()
    } else {
        None
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What a value encrypts to: its bytes and its type name; `None` for values SOPS leaves
/// as they are (null, and the empty string).
pub fn plaintext_of(v: &Value) -> Option<(Vec<u8>, &'static str)> {
    Some(match v {
        Value::Scalar(Scalar::Null) => return None,
        Value::Scalar(Scalar::Str(s)) if s.is_empty() => return None,
        Value::Comment(s) if s.is_empty() => return None,
        Value::Scalar(Scalar::Str(s)) => (s.as_bytes().to_vec(), "str"),
        Value::Scalar(Scalar::Int(i)) => (i.to_string().into_bytes(), "int"),
        Value::Scalar(Scalar::Float(f)) => (super::goformat::format_f(*f).into_bytes(), "float"),
        Value::Scalar(Scalar::Bool(b)) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), "bool"),
        // SOPS reads a binary file as a string of bytes and encrypts it as `str`.
        Value::Scalar(Scalar::Bytes(b)) => (b.clone(), "str"),
        Value::Scalar(Scalar::Time(t)) => (t.as_bytes().to_vec(), "time"),
        Value::Comment(c) => (c.as_bytes().to_vec(), "comment"),
        Value::Map(_) | Value::Seq(_) => return None,
    })
}

/// Encrypts `plain` of type `kind` with `key`, a fresh 32-byte IV, under `aad`.
pub fn encrypt(plain: &[u8], kind: &str, key: &[u8; 32], aad: &str) -> String {
    let mut iv = [0u8; 32];
    super::random(&mut iv);
    encrypt_with_iv(plain, kind, key, aad, &iv)
}

/// [`encrypt`] with a given IV (tests and vectors).
pub fn encrypt_with_iv(plain: &[u8], kind: &str, key: &[u8; 32], aad: &str, iv: &[u8; 32]) -> String {
    let gcm = Gcm::new(key.into());
    let out = gcm
        .encrypt(aes_gcm::Nonce::<U32>::from_slice(iv), Payload { msg: plain, aad: aad.as_bytes() })
        .expect("AES-GCM encryption of an in-memory value cannot fail");
    let (data, tag) = out.split_at(out.len() - 16);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(data),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_vector() {
        let key = [0x66u8; 32];
        let enc = "ENC[AES256_GCM,data:oYyi,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:t5z2Z023Up0kxwCgw1gNxg==,type:str]";
        assert_eq!(decrypt(enc, &key, "bar:").unwrap(), Value::str("foo"));
        assert_eq!(decrypt(enc, &key, "").unwrap_err(), CipherError::Authentication);
        assert_eq!(decrypt("plain", &key, "").unwrap_err(), CipherError::NotEncrypted);
        let again = encrypt(b"42", "int", &key, "a:b:");
        assert_eq!(decrypt(&again, &key, "a:b:").unwrap(), Value::Scalar(Scalar::Int(42)));
    }
}
