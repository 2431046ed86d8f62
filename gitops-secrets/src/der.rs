//! The little DER (ASN.1) this crate needs: reading certificates and RSA keys, writing the
//! controller's self-signed certificate and PKCS#1/PKCS#8 key wrappers.

/// DER tags used here.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// Object identifiers, already DER-encoded (content bytes only).
pub(crate) mod oid {
    /// 1.2.840.113549.1.1.1
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// 1.2.840.113549.1.1.11
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    /// 2.5.4.3
    pub const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    /// 2.5.29.15
    pub const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    /// 2.5.29.19
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    /// 2.5.29.14
    pub const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
}

/// A cursor over DER bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next element's tag, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads one element: its tag and content.
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8]), String> {
        let d = self.data;
        if d.len() < 2 {
            return Err("truncated DER element".into());
        }
        let t = d[0];
        let (len, header) = match d[1] {
            n if n < 0x80 => (n as usize, 2),
            0x80 => return Err("indefinite length is not DER".into()),
            n => {
                let count = (n & 0x7f) as usize;
                if count > 4 || d.len() < 2 + count {
                    return Err("bad DER length".into());
                }
                let mut len = 0usize;
                for &b in &d[2..2 + count] {
                    len = (len << 8) | b as usize;
                }
                (len, 2 + count)
            }
        };
        let end = header.checked_add(len).filter(|&e| e <= d.len()).ok_or("DER element runs past its end")?;
        self.data = &d[end..];
        Ok((t, &d[header..end]))
    }

    /// Reads one element that must carry `expected` as its tag.
    pub fn read(&mut self, expected: u8, what: &str) -> Result<&'a [u8], String> {
        let (t, content) = self.read_any().map_err(|e| format!("{what}: {e}"))?;
        if t != expected {
            return Err(format!("{what}: expected DER tag 0x{expected:02x}, found 0x{t:02x}"));
        }
        Ok(content)
    }

    /// Reads a SEQUENCE and returns a reader over its content.
    pub fn sequence(&mut self, what: &str) -> Result<Reader<'a>, String> {
        self.read(tag::SEQUENCE, what).map(Reader::new)
    }

    /// Reads a non-negative INTEGER as big-endian bytes without leading zeros.
    pub fn unsigned(&mut self, what: &str) -> Result<&'a [u8], String> {
        let mut bytes = self.read(tag::INTEGER, what)?;
        if bytes.is_empty() {
            return Err(format!("{what}: empty INTEGER"));
        }
        if bytes[0] & 0x80 != 0 {
            return Err(format!("{what}: negative INTEGER"));
        }
        while bytes.len() > 1 && bytes[0] == 0 {
            bytes = &bytes[1..];
        }
        Ok(bytes)
    }
}

/// One element: tag, length, content.
pub(crate) fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(t);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded elements.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes.
pub(crate) fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|&&b| b == 0).count().min(bytes.len().saturating_sub(1));
    let bytes = &bytes[start..];
    if bytes.is_empty() {
        return tlv(tag::INTEGER, &[0]);
    }
    if bytes[0] & 0x80 != 0 {
        let mut c = Vec::with_capacity(bytes.len() + 1);
        c.push(0);
        c.extend_from_slice(bytes);
        tlv(tag::INTEGER, &c)
    } else {
        tlv(tag::INTEGER, bytes)
    }
}

/// A PKCS#8 `PrivateKeyInfo` around a PKCS#1 `RSAPrivateKey`.
pub(crate) fn rsa_pkcs8(pkcs1: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let version = tlv(tag::INTEGER, &[0]);
    let alg = algorithm(oid::RSA_ENCRYPTION);
    let octets = zeroize::Zeroizing::new(tlv(tag::OCTET_STRING, pkcs1));
    zeroize::Zeroizing::new(sequence(&[&version, &alg, &octets]))
}

/// `AlgorithmIdentifier` with NULL parameters.
pub(crate) fn algorithm(oid_bytes: &[u8]) -> Vec<u8> {
    sequence(&[&tlv(tag::OID, oid_bytes), &tlv(tag::NULL, &[])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_long_lengths() {
        let content = vec![7u8; 300];
        let enc = tlv(tag::OCTET_STRING, &content);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&enc);
        assert_eq!(r.read(tag::OCTET_STRING, "x").unwrap(), &content[..]);
        assert!(r.read_any().is_err());
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        assert_eq!(unsigned(&[0, 0, 0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned(&[0, 1]), vec![0x02, 0x01, 0x01]);
        assert_eq!(unsigned(&[]), vec![0x02, 0x01, 0x00]);
        let enc = unsigned(&[0xff, 0x01]);
        assert_eq!(Reader::new(&enc).unsigned("n").unwrap(), &[0xff, 0x01]);
    }

    #[test]
    fn broken_input_is_an_error() {
        for bad in [&[][..], &[0x30], &[0x30, 0x05, 0x01], &[0x30, 0x80, 0x00, 0x00], &[0x30, 0x85, 1, 1, 1, 1, 1]] {
            assert!(Reader::new(bad).read_any().is_err(), "{bad:?}");
        }
        assert!(Reader::new(&[0x02, 0x01, 0x01]).read(tag::SEQUENCE, "seq").unwrap_err().contains("seq"));
        assert!(Reader::new(&[0x02, 0x01, 0x80]).unsigned("n").unwrap_err().contains("negative"));
    }
}
