//! Legacy `vars`: `$(NAME)` references replaced, after every other step, by a field of another
//! object (default `metadata.name`, so prefixes, suffixes and hashes are seen), in Kustomize's
//! default set of fields (`fieldspecs.txt`) and those the build's configurations add.

use gitops_core::value::Value;

use crate::Error;
use crate::kustomization::Var;

/// How Kustomize prints a var in its errors: `{NAME Kind.version.group {fieldpath}}`.
pub(crate) fn describe(v: &Var, resolved: bool) -> String {
    let (mut group, mut version) =
        (v.objref.group.clone().unwrap_or_default(), v.objref.version.clone().unwrap_or_default());
    if resolved && let Some(api) = &v.objref.api_version {
        let (g, ver) = gitops_core::object::split_api_version(api);
        group = g.to_string();
        version = ver.to_string();
    }
    let or = |s: &str, none: &str| if s.is_empty() { none.to_string() } else { s.to_string() };
    let field = match (&v.fieldref, resolved) {
        (Some(f), _) => f.fieldpath.clone(),
        (None, true) => "metadata.name".into(),
        (None, false) => String::new(),
    };
    format!(
        "{{{} {}.{}.{} {{{field}}}}}",
        v.name,
        v.objref.kind.as_deref().unwrap_or(""),
        or(&version, "[noVer]"),
        or(&group, "[noGrp]")
    )
}

/// A field path of a var (`spec.ports[0].port`) read from an object.
fn read_field<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = obj;
    for part in path.split('.') {
        let (name, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let n: usize = idx.strip_suffix(']')?.parse().ok()?;
            cur = cur.get(n)?;
        }
    }
    Some(cur)
}

/// Expands `$(NAME)` as Kubernetes does for container fields: `$$` is a literal `$`, unknown
/// names stay as they are. A string that is exactly one reference takes the value's own type.
fn expand(s: &str, values: &[(String, Value)]) -> Value {
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && let Some((_, v)) = values.iter().find(|(n, _)| n == name)
    {
        return v.clone();
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = s[i + 2..].find(')')
            {
                let name = &s[i + 2..i + 2 + end];
                match values.iter().find(|(n, _)| n == name) {
                    Some((_, v)) => out.push_str(&text(v)),
                    None => out.push_str(&s[i..i + 3 + end]),
                }
                i += 3 + end;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    Value::String(out)
}

fn substitute<S: AsRef<str>>(v: &mut Value, path: &[S], values: &[(String, Value)]) {
    match v {
        Value::Array(items) => {
            for item in items {
                substitute(item, path, values);
            }
        }
        Value::Object(m) => match path.split_first() {
            Some((first, rest)) => {
                if let Some(child) = m.get_mut(first.as_ref()) {
                    substitute(child, rest, values);
                }
            }
            None => {
                for child in m.values_mut() {
                    if let Value::String(s) = child {
                        *child = expand(s, values);
                    }
                }
            }
        },
        Value::String(s) if path.is_empty() => *v = expand(s, values),
        _ => {}
    }
}

/// Resolves every var against `objects`, then replaces references in them.
pub(crate) fn apply(
    file: &str,
    vars: &[Var],
    objects: &mut [gitops_core::Object],
    bound: &[Vec<String>],
    fields: &[crate::kustomization::FieldSpec],
) -> Result<(), Error> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(vars.len());
    for v in vars {
        // The var's value comes from the resource it was bound to where it was declared.
        let Some(obj) = objects.iter().zip(bound).find(|(_, names)| names.contains(&v.name)).map(|(o, _)| o) else {
            return Err(crate::kustomize::kerr(
                file,
                "vars",
                format!("var '{}' cannot be mapped to a field in the set of known resources", describe(v, true)),
            ));
        };
        let path =
            v.fieldref.as_ref().map(|f| f.fieldpath.as_str()).filter(|p| !p.is_empty()).unwrap_or("metadata.name");
        let value = read_field(obj.as_value(), path).cloned().ok_or_else(|| {
            crate::kustomize::kerr(
                file,
                "vars",
                format!("field specified in var '{}' not found in corresponding resource", describe(v, true)),
            )
        })?;
        values.push((v.name.clone(), value));
    }
    for o in objects.iter_mut() {
        let (group, version, kind) = (o.group().to_string(), o.version().to_string(), o.kind().to_string());
        for spec in fields.iter().filter(|f| f.matches(&group, &version, &kind)) {
            substitute(o.as_value_mut(), &crate::fields::spec_path(&spec.path), &values);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    #[test]
    fn expansion_follows_kubernetes() {
        let values = vec![("A".to_string(), json!("x")), ("P".to_string(), json!(8080))];
        assert_eq!(expand("$(A)-$(P)", &values), json!("x-8080"));
        assert_eq!(expand("$(P)", &values), json!(8080));
        assert_eq!(expand("$$(A) $(B) $ $(", &values), json!("$(A) $(B) $ $("));
        assert_eq!(read_field(&json!({"spec": {"ports": [{"port": 80}]}}), "spec.ports[0].port"), Some(&json!(80)));
        assert_eq!(read_field(&json!({}), "spec.ports[0].port"), None);
    }
}
