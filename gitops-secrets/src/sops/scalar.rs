//! How go-yaml v3 reads a plain scalar (`resolve`) and which strings it must quote when
//! writing them, so that they read back as strings.

use super::tree::Scalar;

/// A plain scalar's value, as go-yaml v3 decodes it into an `interface{}` (timestamps stay
/// strings there).
pub fn resolve_plain(s: &str) -> Scalar {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit()
        && let Some(t) = parse_timestamp(s)
    {
        return Scalar::Time(t);
    }
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let plain = s.replace('_', "");
        if let Some(i) = go_parse_int(&plain) {
            return Scalar::Int(i);
        }
        if gitops_core::yaml::is_yaml_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Scalar::Float(f);
        }
        if let Some(rest) = plain.strip_prefix("0b").or_else(|| plain.strip_prefix("-0b").map(|_| ""))
            && !rest.is_empty()
            && let Ok(i) = i64::from_str_radix(rest, 2)
        {
            return Scalar::Int(i);
        }
        if let Some(rest) = plain.strip_prefix("0o")
            && let Ok(i) = i64::from_str_radix(rest, 8)
        {
            return Scalar::Int(i);
        }
    }
    Scalar::Str(s.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    gitops_core::yaml::go_int(s).and_then(|v| i64::try_from(v).ok())
}

/// A timestamp in one of the layouts go-yaml v3 accepts, written as Go's
/// `time.MarshalText` writes it (RFC 3339 with nanoseconds, trailing zeros dropped).
pub fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        if *i - start < min { None } else { s[start..*i].parse().ok() }
    };
    let expect = |i: &mut usize, c: u8| -> Option<()> {
        if b.get(*i) == Some(&c) {
            *i += 1;
            Some(())
        } else {
            None
        }
    };
    let year = num(&mut i, 4, 4)?;
    expect(&mut i, b'-')?;
    let month = num(&mut i, 1, 2)?;
    expect(&mut i, b'-')?;
    let day = num(&mut i, 1, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    i += 1;
    let h = num(&mut i, 1, 2)?;
    expect(&mut i, b':')?;
    let m = num(&mut i, 1, 2)?;
    expect(&mut i, b':')?;
    let sec = num(&mut i, 1, 2)?;
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut frac = String::new();
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 9 {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = s[start..i].trim_end_matches('0').to_string();
    }
    let zone = match (sep, &s[i..]) {
        (b' ', "") => "Z".to_string(),
        (b' ', _) => return None,
        (_, "Z" | "+00:00" | "-00:00") => "Z".to_string(),
        (_, z) if z.len() == 6 && matches!(z.as_bytes()[0], b'+' | b'-') && z.as_bytes()[3] == b':' => z.to_string(),
        _ => return None,
    };
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    Some(format!("{date}T{h:02}:{m:02}:{sec:02}{frac}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_go_yaml_v3() {
        assert_eq!(resolve_plain("0x1F"), Scalar::Int(31));
        assert_eq!(resolve_plain("1_000"), Scalar::Int(1000));
        assert_eq!(resolve_plain("0777"), Scalar::Int(511));
        assert_eq!(resolve_plain("1e3"), Scalar::Float(1000.0));
        assert_eq!(resolve_plain("1.0"), Scalar::Float(1.0));
        assert_eq!(resolve_plain("yes"), Scalar::Str("yes".into()));
        assert_eq!(resolve_plain("2001-12-14"), Scalar::Time("2001-12-14T00:00:00Z".into()));
        assert_eq!(resolve_plain("2001-12-14 21:59:43.10"), Scalar::Time("2001-12-14T21:59:43.1Z".into()));
        let needs_quotes = gitops_core::yaml::resolves_to_non_string;
        assert!(needs_quotes("yes") && needs_quotes("12345") && needs_quotes("2001-12-14") && needs_quotes("1:20"));
        assert!(needs_quotes("1_000"));
        assert!(!needs_quotes("1.2.3") && !needs_quotes("hello"));
    }
}
