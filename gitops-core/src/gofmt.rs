//! Values written as Go writes them: `strconv.FormatFloat` (shortest digits) and `fmt`'s `%v`
//! of a decoded JSON value, which the API server quotes in its error messages and SOPS
//! hashes and prints.

use crate::value::Value;

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

/// Go's text for NaN and the infinities (`NaN`, `+Inf`, `-Inf`); `None` for a finite value.
pub fn special(f: f64) -> Option<&'static str> {
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
pub fn format_e(f: f64, upper: bool) -> String {
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

/// Go's `%q` of a string (`strconv.Quote`): `\a \b \f \n \r \t \v`, `\"` and `\\`
/// escaped, other ASCII control characters as `\xNN`, the rest as it is (the names, uids
/// and field paths the API server quotes are printable).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON text as Go's `encoding/json` writes it, from serde_json's: the escapes are the same
/// but for `<`, `>`, `&`, U+2028 and U+2029, which Go writes as `\u003c`, `\u003e`, `\u0026`,
/// `\u2028` and `\u2029`. Those characters occur in JSON only inside strings, so the text is
/// escaped as a whole; most texts have none of them and are returned as they are.
pub fn go_json_escapes(json: String) -> String {
    let special = |c: char| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
    if !json.contains(special) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string as Go's `encoding/json` writes it (see [`go_json_escapes`]).
pub fn go_json_string(s: &str) -> String {
    go_json_escapes(serde_json::to_string(s).expect("a string serializes"))
}

/// Go's `%v` of a JSON value as apimachinery decodes it (`map[k:v]` with sorted keys, `[a b]`,
/// `<nil>`): a number written as an integer that fits an int64 is an integer, every other
/// number a float64, written in `%g`'s shortest form (`1.5`, `1e+20`, `1e-05`, `1e+06`).
pub fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format_g(f),
            (None, None) => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_format).collect::<Vec<_>>().join(" ")),
        // serde_json's maps iterate in key order, as Go's fmt sorts map keys.
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_format(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn json_as_go_escapes_it() {
        assert_eq!(go_json_escapes("{\"a\":\"plain\"}".into()), "{\"a\":\"plain\"}");
        assert_eq!(go_json_escapes("\"<&>\u{2029}\"".into()), "\"\\u003c\\u0026\\u003e\\u2029\"");
        // serde_json's own escapes are Go's: short forms, other control characters as \u00xx.
        assert_eq!(
            go_json_string("<&> \"q\"\u{2028}\u{1}\u{8}\u{c}\\\n\u{7f}"),
            "\"\\u003c\\u0026\\u003e \\\"q\\\"\\u2028\\u0001\\b\\f\\\\\\n\u{7f}\""
        );
    }

    #[test]
    fn values_as_go_prints_them() {
        assert_eq!(go_format(&json!({"b": [1, 2.5, true, null], "a": "x"})), "map[a:x b:[1 2.5 true <nil>]]");
        assert_eq!(
            go_format(
                &json!({"a": [1, "x", null, true], "b": 1.5, "c": 1e22, "d": 0.00001, "e": 1e20, "f": 3.0, "g": 1e6})
            ),
            "map[a:[1 x <nil> true] b:1.5 c:1e+22 d:1e-05 e:1e+20 f:3 g:1e+06]"
        );
        assert_eq!(format_g(1234567.5), "1.2345675e+06");
        assert_eq!(format_g(123456.5), "123456.5");
        assert_eq!(go_quote("a\"b\\c\n\u{7}\u{1}é"), r#""a\"b\\c\n\a\x01é""#);
    }
}
