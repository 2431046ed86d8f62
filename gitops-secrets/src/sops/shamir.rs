//! Shamir's secret sharing over GF(2^8) (reduction polynomial 0x11B), in the layout SOPS
//! uses for key groups: each part is the secret's length of y-bytes followed by one x-byte.

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    for _ in 0..8 {
        // Branch-free: the mask is all ones when the low bit of b is set.
        p ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    p
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

fn div(a: u8, b: u8) -> u8 {
    mul(a, inverse(b))
}

/// Splits `secret` into `parts` parts of which any `threshold` recover it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>, String> {
    if parts < threshold {
        return Err("the threshold is larger than the number of key groups".into());
    }
    if parts > 255 {
        return Err("more than 255 key groups".into());
    }
    if threshold < 2 {
        return Err("the Shamir threshold must be at least 2".into());
    }
    // Distinct non-zero x coordinates, in random order.
    let mut xs: Vec<u8> = (1..=255).collect();
    for i in (1..xs.len()).rev() {
        let mut r = [0u8; 2];
        super::random(&mut r);
        let j = (u16::from_le_bytes(r) as usize) % (i + 1);
        xs.swap(i, j);
    }
    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut v = vec![0u8; secret.len() + 1];
            v[secret.len()] = xs[i];
            v
        })
        .collect();
    let mut coefficients = vec![0u8; threshold - 1];
    for (idx, &byte) in secret.iter().enumerate() {
        super::random(&mut coefficients);
        for part in out.iter_mut() {
            let x = part[secret.len()];
            // Horner: intercept + c1 x + c2 x^2 ...
            let mut y = 0u8;
            for &c in coefficients.iter().rev() {
                y = mul(y, x) ^ c;
            }
            y = mul(y, x) ^ byte;
            part[idx] = y;
        }
    }
    Ok(out)
}

/// Recovers the secret from at least a threshold of parts.
pub fn combine(parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if parts.len() < 2 {
        return Err("fewer than two parts to combine".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("the parts have different or too short lengths".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("two parts have the same x coordinate".into());
        }
    }
    let mut secret = vec![0u8; len - 1];
    for (idx, out) in secret.iter_mut().enumerate() {
        // Lagrange interpolation at x = 0.
        let mut acc = 0u8;
        for (i, part) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, div(xj, xj ^ xs[i]));
                }
            }
            acc ^= mul(part[idx], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn combines_the_vector_and_round_trips() {
        let parts = vec![
            unhex("407fa97aa738f1d66d49cd837d46bacf81cbfe6d622d38a723c9acd9bfec111e01"),
            unhex("2e7ae0e70fe7369e7fe108a4213e1781b1dd04274f88fb764a99b88c01fd370302"),
        ];
        assert_eq!(combine(&parts).unwrap(), unhex("937c67f8368445ee63d88e9e496e28f59130a8a2794e79e804f9a0ead5e3fa15"));
        let secret: Vec<u8> = (0..32).collect();
        let parts = split(&secret, 5, 3).unwrap();
        assert_eq!(combine(&parts[1..4]).unwrap(), secret);
        assert_eq!(combine(&[parts[4].clone(), parts[0].clone(), parts[2].clone()]).unwrap(), secret);
        assert_ne!(combine(&parts[..2]).unwrap(), secret);
    }
}
