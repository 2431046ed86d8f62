//! Writing objects as kubeseal prints them: Go's `json.MarshalIndent` (struct field order,
//! HTML-safe escapes) and go-yaml v2 (`---` before each document, keys sorted, long values
//! folded at 80 columns).

use gitops_core::value::{Map, Value};

/// Output format (kubeseal's `-o`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON, kubeseal's default.
    #[default]
    Json,
    /// YAML.
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            other => Err(format!("unsupported output format: {other}")),
        }
    }
}

/// Writes `value` in `format`, with a trailing newline.
pub fn write(value: &Value, format: Format) -> String {
    match format {
        Format::Json => to_go_json(value),
        Format::Yaml => to_go_yaml(value),
    }
}

/// A JSON string as Go's `encoding/json` writes it.
pub use gitops_core::gofmt::go_json_string;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Meta,
    SealedSpec,
    Template,
    OwnerRef,
    Sorted,
}

/// ObjectMeta's fields in Go struct order.
pub(crate) const META: &[&str] = gitops_core::object::OBJECT_META_FIELDS;

fn field_order(ctx: Ctx, map: &Map<String, Value>) -> &'static [&'static str] {
    match ctx {
        Ctx::Root => match map.get("kind").and_then(Value::as_str) {
            Some("Secret") => &["kind", "apiVersion", "metadata", "immutable", "data", "stringData", "type"],
            Some("SealedSecret") => &["kind", "apiVersion", "metadata", "spec", "status"],
            _ => &["kind", "apiVersion", "metadata", "items"],
        },
        Ctx::Meta => META,
        Ctx::SealedSpec => &["template", "data", "encryptedData"],
        Ctx::Template => &["metadata", "type", "immutable", "data"],
        Ctx::OwnerRef => &["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"],
        Ctx::Sorted => &[],
    }
}

fn child(ctx: Ctx, parent: &Map<String, Value>, key: &str) -> Ctx {
    match (ctx, key) {
        (Ctx::Root, "metadata") | (Ctx::Template, "metadata") => Ctx::Meta,
        (Ctx::Root, "spec") if parent.get("kind").and_then(Value::as_str) == Some("SealedSecret") => Ctx::SealedSpec,
        (Ctx::Root, "items") => Ctx::Root,
        (Ctx::SealedSpec, "template") => Ctx::Template,
        (Ctx::Meta, "ownerReferences") => Ctx::OwnerRef,
        _ => Ctx::Sorted,
    }
}

/// `json.MarshalIndent(v, "", "  ")` plus a newline, with Kubernetes struct field order for
/// Secrets, SealedSecrets and their metadata.
pub fn to_go_json(value: &Value) -> String {
    let mut out = String::new();
    json_value(value, Ctx::Root, 0, &mut out);
    out.push('\n');
    out
}

fn json_value(v: &Value, ctx: Ctx, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let order = field_order(ctx, m);
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(usize::MAX), k.as_str()));
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(&go_json_string(k));
                out.push_str(": ");
                json_value(&m[k.as_str()], child(ctx, m, k), indent + 2, out);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                out.push_str(&" ".repeat(indent + 2));
                json_value(item, ctx, indent + 2, out);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Value::String(s) => out.push_str(&go_json_string(s)),
        other => out.push_str(&other.to_string()),
    }
}

/// `---` and the document as go-yaml v2 writes it.
pub fn to_go_yaml(value: &Value) -> String {
    format!("---\n{}", gitops_core::yaml::to_yaml_folded(value, 80))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escapes() {
        assert_eq!(
            go_json_string("<&> \"q\"\u{2028}\u{1}\u{8}"),
            "\"\\u003c\\u0026\\u003e \\\"q\\\"\\u2028\\u0001\\b\""
        );
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert!("xml".parse::<Format>().unwrap_err().contains("xml"));
    }
}
