//! Walking a tree to encrypt or decrypt its values and compute its MAC, with the rules that
//! choose which values are encrypted (`sops.Tree.Encrypt`/`Decrypt`, `shouldBeEncrypted`).

use regex::Regex;
use sha2::{Digest, Sha256, Sha512};

use super::cipher::{self, CipherError};
use super::tree::{Branch, Item, Scalar, Value, mac_bytes};

/// Which values a file encrypts: at most one of the six options (none means
/// `unencrypted_suffix: _unencrypted`), and whether the MAC covers only encrypted values.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Keys with this suffix, and everything below them, stay in clear.
    pub unencrypted_suffix: Option<String>,
    /// Only keys with this suffix, and everything below them, are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this stay in clear.
    pub unencrypted_regex: Option<Regex>,
    /// Only keys matching this are encrypted.
    pub encrypted_regex: Option<Regex>,
    /// Values under a comment matching this stay in clear.
    pub unencrypted_comment_regex: Option<Regex>,
    /// Only values under a comment matching this are encrypted.
    pub encrypted_comment_regex: Option<Regex>,
    /// The MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

impl Rules {
    fn should_encrypt(&self, path: &[String], stack: &[Vec<String>], is_comment: bool) -> bool {
        let mut encrypted = true;
        if let Some(s) = self.unencrypted_suffix.as_deref().filter(|s| !s.is_empty())
            && path.iter().any(|p| p.ends_with(s))
        {
            encrypted = false;
        }
        if let Some(s) = self.encrypted_suffix.as_deref().filter(|s| !s.is_empty()) {
            encrypted = path.iter().any(|p| p.ends_with(s));
        }
        if let Some(r) = &self.unencrypted_regex
            && path.iter().any(|p| r.is_match(p))
        {
            encrypted = false;
        }
        if let Some(r) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| r.is_match(p));
        }
        if let Some(r) = &self.unencrypted_comment_regex
            && stack.iter().flatten().any(|c| r.is_match(c))
        {
            encrypted = false;
        }
        if let Some(r) = &self.encrypted_comment_regex {
            let last = stack.len().saturating_sub(1);
            let last_len = stack.last().map_or(0, Vec::len);
            encrypted = stack.iter().enumerate().any(|(i, cs)| {
                cs.iter().enumerate().any(|(j, c)| {
                    // The comment that matches is itself left in clear.
                    !(is_comment && i == last && j + 1 == last_len) && r.is_match(c)
                })
            });
        }
        encrypted
    }
}

/// `sha256("sops")`, what the MAC starts with when it covers only encrypted values.
fn mac_only_prefix() -> [u8; 32] {
    Sha256::digest(b"sops").into()
}

/// A failure while walking: the path of the value (`a:b:`) and why.
#[derive(Debug, Clone)]
pub struct WalkError {
    /// The value's path, as its additional data (`a:b:`).
    pub path: String,
    /// What went wrong.
    pub error: CipherError,
}

enum Mode<'k> {
    Decrypt(&'k [u8; 32]),
    Encrypt(&'k [u8; 32]),
}

struct Walker<'a> {
    rules: &'a Rules,
    mode: Mode<'a>,
    hash: Sha512,
    /// Comments that did not decrypt: kept as they are, reported by path.
    kept_comments: Vec<String>,
}

impl Walker<'_> {
    fn new<'a>(rules: &'a Rules, mode: Mode<'a>) -> Walker<'a> {
        let mut hash = Sha512::new();
        if rules.mac_only_encrypted {
            hash.update(mac_only_prefix());
        }
        Walker { rules, mode, hash, kept_comments: Vec::new() }
    }

    fn branch(
        &mut self,
        branch: &mut Branch,
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<(), WalkError> {
        stack.push(Vec::new());
        for item in branch.iter_mut() {
            match item {
                Item::Comment(c) => {
                    stack.last_mut().expect("pushed").push(c.clone());
                    let mut v = Value::Comment(std::mem::take(c));
                    self.leaf(&mut v, path, stack)?;
                    *c = match v {
                        Value::Comment(s) => s,
                        Value::Scalar(Scalar::Str(s)) => s,
                        _ => String::new(),
                    };
                }
                Item::Pair(k, v) => {
                    path.push(k.clone());
                    let r = self.value(v, path, stack);
                    path.pop();
                    r?;
                    stack.last_mut().expect("pushed").clear();
                }
            }
        }
        stack.pop();
        Ok(())
    }

    fn seq(
        &mut self,
        items: &mut [Value],
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<(), WalkError> {
        stack.push(Vec::new());
        for v in items.iter_mut() {
            let is_comment = matches!(v, Value::Comment(_));
            if let Value::Comment(c) = v {
                stack.last_mut().expect("pushed").push(c.clone());
            }
            self.value(v, path, stack)?;
            if !is_comment {
                stack.last_mut().expect("pushed").clear();
            }
        }
        stack.pop();
        Ok(())
    }

    fn value(&mut self, v: &mut Value, path: &mut Vec<String>, stack: &mut Vec<Vec<String>>) -> Result<(), WalkError> {
        match v {
            Value::Map(b) => self.branch(b, path, stack),
            Value::Seq(items) => self.seq(items, path, stack),
            Value::Scalar(Scalar::Null) => Ok(()),
            _ => self.leaf(v, path, stack),
        }
    }

    fn leaf(&mut self, v: &mut Value, path: &[String], stack: &[Vec<String>]) -> Result<(), WalkError> {
        let is_comment = matches!(v, Value::Comment(_));
        let encrypted = self.rules.should_encrypt(path, stack, is_comment);
        let aad = aad(path);
        match self.mode {
            Mode::Decrypt(key) if encrypted => match v {
                Value::Comment(c) => match cipher::decrypt(c, key, &aad) {
                    Ok(Value::Comment(plain)) | Ok(Value::Scalar(Scalar::Str(plain))) => *v = Value::Comment(plain),
                    _ => self.kept_comments.push(aad.clone()),
                },
                Value::Scalar(Scalar::Str(s)) => {
                    *v = cipher::decrypt(s, key, &aad).map_err(|error| WalkError { path: aad.clone(), error })?;
                }
                _ => return Err(WalkError { path: aad, error: CipherError::NotEncrypted }),
            },
            _ => {}
        }
        if (!self.rules.mac_only_encrypted || encrypted)
            && let Value::Scalar(s) = v
            && let Some(bytes) = mac_bytes(s)
        {
            self.hash.update(&bytes);
        }
        if let Mode::Encrypt(key) = self.mode
            && encrypted
            && let Some((plain, kind)) = cipher::plaintext_of(v)
        {
            let enc = cipher::encrypt(&plain, kind, key, &aad);
            if is_comment
                && let Some(r) = &self.rules.unencrypted_comment_regex
                && r.is_match(&enc)
            {
                return Err(WalkError {
                    path: aad,
                    error: CipherError::Malformed("an encrypted comment matches unencrypted_comment_regex".into()),
                });
            }
            *v = Value::str(enc);
        }
        Ok(())
    }

    fn finish(self) -> (String, Vec<String>) {
        (hex_upper(&self.hash.finalize()), self.kept_comments)
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The additional data of a value at `path`: the keys joined by `:`, with a trailing `:`.
pub fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn walk(branches: &mut [Branch], rules: &Rules, mode: Mode<'_>) -> Result<(String, Vec<String>), WalkError> {
    let mut w = Walker::new(rules, mode);
    for b in branches.iter_mut() {
        w.branch(b, &mut Vec::new(), &mut Vec::new())?;
    }
    Ok(w.finish())
}

/// Decrypts every value the rules say is encrypted; returns the MAC of the decrypted tree
/// and the paths of comments that did not decrypt (kept verbatim, as SOPS does).
pub fn decrypt(branches: &mut [Branch], rules: &Rules, key: &[u8; 32]) -> Result<(String, Vec<String>), WalkError> {
    walk(branches, rules, Mode::Decrypt(key))
}

/// Encrypts every value the rules say should be; returns the MAC of the plaintext tree.
pub fn encrypt(branches: &mut [Branch], rules: &Rules, key: &[u8; 32]) -> Result<String, WalkError> {
    walk(branches, rules, Mode::Encrypt(key)).map(|(mac, _)| mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_only_prefix_is_the_vector() {
        let hex: String = mac_only_prefix().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69");
    }

    #[test]
    fn round_trip_with_rules() {
        let key = [7u8; 32];
        let rules = Rules { unencrypted_suffix: Some("_unencrypted".into()), ..Rules::default() };
        let plain: Branch = vec![
            Item::Comment(" top".into()),
            Item::Pair("a".into(), Value::str("x")),
            Item::Pair("n_unencrypted".into(), Value::Scalar(Scalar::Int(3))),
            Item::Pair("l".into(), Value::Seq(vec![Value::Comment(" c".into()), Value::Scalar(Scalar::Float(1.5))])),
        ];
        let mut tree = vec![plain.clone()];
        let mac = encrypt(&mut tree, &rules, &key).unwrap();
        assert!(matches!(&tree[0][1], Item::Pair(_, v) if cipher::is_encrypted(v.as_str().unwrap())));
        assert_eq!(tree[0][2], plain[2]);
        let (mac2, kept) = decrypt(&mut tree, &rules, &key).unwrap();
        assert_eq!(mac, mac2);
        assert!(kept.is_empty());
        assert_eq!(tree[0], plain);
    }
}
