//! Numbers and times written as Go's `strconv` and `time` write them, which is what SOPS
//! hashes into the MAC and prints.

/// The shortest decimal digits of `f` and its decimal exponent: `f = 0.d1d2... x 10^dp`.
fn digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0".to_string() } else { digits.to_string() };
    (digits, exp + 1)
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
pub fn format_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s.into();
    }
    // Rust's Display writes the shortest round-trip digits without an exponent, as Go's 'f'.
    format!("{f}")
}

/// `strconv.FormatFloat(f, 'e', -1, 64)`, with `e` or `E`.
fn format_e(f: f64, upper: bool) -> String {
    let (d, dp) = digits(f);
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    out.push_str(&d[..1]);
    if d.len() > 1 {
        out.push('.');
        out.push_str(&d[1..]);
    }
    let exp = if f == 0.0 { 0 } else { dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` (`'G'` with `upper`).
pub fn format_g_case(f: f64, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (_, dp) = digits(f);
    let exp = dp - 1;
    // Shortest formatting decides with precision 6 (Go's rule for `-1`).
    if !(-4..6).contains(&exp) {
        return format_e(f, upper);
    }
    format_f(f)
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_g(f: f64) -> String {
    format_g_case(f, false)
}

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
