//! Kubernetes' name rules (apimachinery's `validation` package): DNS subdomains and labels,
//! qualified names (label and annotation keys), label values, with the messages the API server
//! gives. One place for them: label selectors and the test API server both use these.

/// The message for an invalid DNS subdomain (most object names).
pub const DNS_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
/// The message for an invalid DNS label (container names, ...).
pub const DNS_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
/// The message for an invalid name part of a qualified name.
pub const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// The message for a qualified name with more than one `/`.
pub const QUALIFIED_NAME_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
/// The message for an invalid label value.
pub const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn alphanumeric_edges(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// An RFC 1123 label: lower-case alphanumerics and `-`, at most 63.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && alphanumeric_edges(s)
}

/// An RFC 1123 subdomain: dot-separated labels, at most 253.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && alphanumeric_edges(l)
        })
}

/// The name part of a qualified name (and a non-empty label value): alphanumerics, `-`, `_`,
/// `.`, alphanumeric at both ends, at most 63.
pub fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && alphanumeric_edges(s)
}

/// What is wrong with a qualified name (a label or annotation key), as the API server says it;
/// empty when it is valid.
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return vec![QUALIFIED_NAME_MSG.to_string()],
    };
    let mut out = Vec::new();
    match prefix {
        Some("") => out.push("prefix part must be non-empty".to_string()),
        Some(p) if !is_dns_subdomain(p) => out.push(format!("prefix part {DNS_SUBDOMAIN_MSG}")),
        _ => {}
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 bytes".to_string());
    } else if !is_name_part(name) {
        out.push(NAME_PART_MSG.to_string());
    }
    out
}

/// What is wrong with a label value, as the API server says it; `None` when it is valid.
pub fn label_value_error(value: &str) -> Option<&'static str> {
    if value.len() > 63 {
        Some("must be no more than 63 bytes")
    } else if !value.is_empty() && !is_name_part(value) {
        Some(LABEL_VALUE_MSG)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(
            is_dns_label("web-1") && !is_dns_label("Web") && !is_dns_label("a.b") && !is_dns_label(&"a".repeat(64))
        );
        assert!(is_dns_subdomain("a.b-c") && !is_dns_subdomain("a..b") && !is_dns_subdomain("-a"));
        assert!(qualified_name_errors("example.com/My_Name").is_empty());
        assert_eq!(qualified_name_errors("a/b/c"), [QUALIFIED_NAME_MSG]);
        assert_eq!(qualified_name_errors("Example.COM/k")[0], format!("prefix part {DNS_SUBDOMAIN_MSG}"));
        assert_eq!(qualified_name_errors(&"k".repeat(64)), ["name part must be no more than 63 bytes"]);
        assert_eq!(label_value_error(""), None);
        assert_eq!(label_value_error(&"v".repeat(64)), Some("must be no more than 63 bytes"));
        assert_eq!(label_value_error("a b"), Some(LABEL_VALUE_MSG));
    }
}
