//! Numbers and times written as Go's `strconv` and `time` write them, which is what SOPS
//! hashes into the MAC and prints.

use gitops_core::gofmt::{format_e, special};
pub use gitops_core::gofmt::{format_f, format_g, format_g_case};

/// A float as go-yaml v3 writes it.
pub fn yaml_float(f: f64) -> String {
    match format_g(f).as_str() {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        s => s.into(),
    }
}

/// A float as Go's `encoding/json` writes it.
pub fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_e(f, false);
        // Go cleans e-09 up to e-9.
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        if let Some(i) = s.find("e+0") {
            return format!("{}e+{}", &s[..i], &s[i + 3..]);
        }
        return s;
    }
    format_f(f)
}

/// A float as SOPS's flat stores write it (`stores.ValToString`): `'G'`, with at least one
/// decimal digit when it would read as an integer.
pub fn flat_float(f: f64) -> String {
    let s = format_g_case(f, true);
    if !s.contains('.') && !s.contains('E') && special(f).is_none() {
        return format!("{f:.1}");
    }
    s
}

/// An RFC 3339 time as Go's `time.Format(time.RFC3339)` writes it after `time.Parse`:
/// fractional seconds dropped, a zero offset written `Z`. `None` if it is not RFC 3339.
pub fn rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits_at = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits_at(0..4)
        && digits_at(5..7)
        && digits_at(8..10)
        && digits_at(11..13)
        && digits_at(14..16)
        && digits_at(17..19))
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let zone = match rest {
        "Z" | "z" | "+00:00" | "-00:00" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':'
            && z[1..3].bytes().chain(z[4..6].bytes()).all(|c| c.is_ascii_digit()) =>
        {
            z.to_string()
        }
        _ => return None,
    };
    Some(format!("{}T{}{}", &s[..10], &s[11..19], zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_writes_them() {
        assert_eq!(format_f(1.5e20), "150000000000000000000");
        assert_eq!(format_f(0.75), "0.75");
        assert_eq!(format_g(1.5e20), "1.5e+20");
        assert_eq!(format_g(1234567.0), "1.234567e+06");
        assert_eq!(format_g(123456.0), "123456");
        assert_eq!(format_g(1e-6), "1e-06");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(1.0), "1");
        assert_eq!(format_g(-42.5), "-42.5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(5.0), "5");
        assert_eq!(json_float(25.4), "25.4");
        assert_eq!(flat_float(25.4), "25.4");
        assert_eq!(flat_float(3.0), "3.0");
        assert_eq!(flat_float(1e21), "1E+21");
        assert_eq!(yaml_float(f64::NEG_INFINITY), "-.inf");
    }

    #[test]
    fn times_as_go_reformats_them() {
        assert_eq!(rfc3339("2026-12-02T06:07:17Z").unwrap(), "2026-12-02T06:07:17Z");
        assert_eq!(rfc3339("2016-08-04T09:33:27.123456Z").unwrap(), "2016-08-04T09:33:27Z");
        assert_eq!(rfc3339("2016-08-04T09:33:27+00:00").unwrap(), "2016-08-04T09:33:27Z");
        assert_eq!(rfc3339("2016-08-04T09:33:27+02:00").unwrap(), "2016-08-04T09:33:27+02:00");
        assert!(rfc3339("yesterday").is_none());
    }
}
