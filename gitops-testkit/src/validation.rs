//! Validation of custom resources against their CRD version's `openAPIV3Schema`, with the
//! reasons, field paths and messages of the real apiextensions server: types, required
//! fields, enums, patterns, numeric bounds and `multipleOf`, string lengths, item counts.

use gitops_core::value::Value;

use crate::admission::Cause;

/// The JSON type name the server reports for a value.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn type_ok(expected: &str, v: &Value) -> bool {
    match expected {
        "integer" => v.as_i64().is_some() || v.as_u64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

/// The causes of `v` against `schema` at `path` (`spec.port`, `spec.hosts[0]`).
pub fn validate(v: &Value, schema: &Value, path: &str, out: &mut Vec<Cause>) {
    let invalid = |msg: String| ("FieldValueInvalid".to_string(), path.to_string(), msg);
    if v.is_null() {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !int_or_string
        && !type_ok(t, v)
    {
        let actual = type_name(v);
        out.push((
            "FieldValueTypeInvalid".into(),
            path.into(),
            format!("Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""),
        ));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        let list: Vec<String> = values.iter().map(shown).collect();
        out.push((
            "FieldValueNotSupported".into(),
            path.into(),
            format!("Unsupported value: {}: supported values: {}", shown(v), list.join(", ")),
        ));
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, child) in m {
                let sub = props
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    validate(child, sub, &format!("{path}.{k}"), out);
                }
            }
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if m.get(r).is_none_or(Value::is_null) {
                    out.push(("FieldValueRequired".into(), format!("{path}.{r}"), "Required value".into()));
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                out.push((
                    "FieldValueTooMany".into(),
                    path.into(),
                    format!("Too many: {}: must have at most {max} items", items.len()),
                ));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                out.push(invalid(format!(
                    "Invalid value: {}: {path} in body should have at least {min} items",
                    items.len()
                )));
            }
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item, sub, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                out.push((
                    "FieldValueTooLong".into(),
                    path.into(),
                    format!("Too long: may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                out.push(invalid(format!(
                    "Invalid value: {}: {path} in body should be at least {min} chars long",
                    shown(v)
                )));
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && regex::Regex::new(p).is_ok_and(|re| !re.is_match(s))
            {
                out.push(invalid(format!("Invalid value: {}: {path} in body should match '{p}'", shown(v))));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let exclusive = |k: &str| schema.get(k) == Some(&Value::Bool(true));
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                if exclusive("exclusiveMinimum") && x <= min {
                    out.push(invalid(format!(
                        "Invalid value: {n}: {path} in body should be greater than {}",
                        number(min)
                    )));
                } else if x < min {
                    out.push(invalid(format!(
                        "Invalid value: {n}: {path} in body should be greater than or equal to {}",
                        number(min)
                    )));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                if exclusive("exclusiveMaximum") && x >= max {
                    out.push(invalid(format!(
                        "Invalid value: {n}: {path} in body should be less than {}",
                        number(max)
                    )));
                } else if x > max {
                    out.push(invalid(format!(
                        "Invalid value: {n}: {path} in body should be less than or equal to {}",
                        number(max)
                    )));
                }
            }
            if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64).filter(|m| *m > 0.0) {
                let q = x / m;
                if (q - q.round()).abs() > 1e-9 {
                    out.push(invalid(format!(
                        "Invalid value: {n}: {path} in body should be a multiple of {}",
                        number(m)
                    )));
                }
            }
        }
        _ => {}
    }
}

/// A bound as Go prints it (`1`, `0.5`).
fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    #[test]
    fn causes() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "integer", "minimum": 1}, "b": {"type": "string", "enum": ["x"]}}});
        let mut out = Vec::new();
        validate(&json!({"a": 0, "b": "y"}), &schema, "spec", &mut out);
        let fields: Vec<&str> = out.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(fields, ["spec.a", "spec.b"]);
        let mut out = Vec::new();
        validate(&json!({"b": 3}), &schema, "spec", &mut out);
        assert_eq!(out[0].0, "FieldValueTypeInvalid");
        assert_eq!(out[1], ("FieldValueRequired".into(), "spec.a".into(), "Required value".into()));
    }
}
