//! Kustomize's `ValueAddTransformer` built-in plugin: writes a value into a field of the
//! resources each target selects, whole or as one part of a slash-separated path.

use super::plugins::PluginConfig;
use super::*;
use crate::kustomization::Target;

/// A ValueAddTransformer configuration, as Kustomize reads it (Go's JSON rules).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ValueAdd {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    targets: Option<Vec<ValueAddTarget>>,
    #[serde(default)]
    target_file_path: Option<String>,
}

/// The `targets` of a configuration's `targetFilePath` file.
#[derive(Debug, Default, serde::Deserialize)]
struct TargetFile {
    #[serde(default)]
    targets: Option<Vec<ValueAddTarget>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValueAddTarget {
    #[serde(default)]
    selector: Option<Target>,
    #[serde(default)]
    field_path: Option<String>,
    #[serde(default)]
    file_path_position: Option<i64>,
}

impl Build<'_> {
    /// Runs one ValueAddTransformer configuration over `acc`.
    pub(super) fn value_add(&self, dir: &str, file: &str, config: &PluginConfig, acc: &mut [Res]) -> Result<(), Error> {
        let field = config.field.as_str();
        let body = Value::Object(super::plugins::body_of(&config.value));
        let again = body.clone();
        let c: ValueAdd = crate::go_json::decode(body, || again)
            .map_err(|(path, msg)| kerr(file, format!("{field} (ValueAddTransformer).{path}"), msg))?;
        // An empty value is the name of the kustomization's directory.
        let value = match c.value.as_deref().map(str::trim).unwrap_or("") {
            "" => dir.trim_end_matches('/').rsplit('/').next().filter(|d| !d.is_empty()).unwrap_or(".").to_string(),
            v => v.to_string(),
        };
        let mut targets = c.targets.unwrap_or_default();
        if let Some(path) = c.target_file_path.as_deref().filter(|p| !p.is_empty()) {
            let (p, bytes) = self.read_file(dir, file, &format!("{field}.targetFilePath"), path)?;
            let text = String::from_utf8(bytes).map_err(|_| kerr(file, field, format!("{p}: not valid UTF-8")))?;
            let doc = yaml::parse_values(&text, &p, &ParseOptions::default())?
                .into_iter()
                .next()
                .map(|(_, _, v)| v)
                .unwrap_or(Value::Null);
            let again = doc.clone();
            let more: TargetFile = crate::go_json::decode(doc, || again).map_err(|(path, msg)| kerr(&p, path, msg))?;
            targets.extend(more.targets.unwrap_or_default());
        }
        if targets.is_empty() {
            return Err(kerr(file, field, "must specify at least one target"));
        }
        for (i, t) in targets.iter().enumerate() {
            if t.field_path.as_deref().unwrap_or("").is_empty() {
                return Err(kerr(file, format!("{field}.targets[{i}].fieldPath"), "fieldPath cannot be empty"));
            }
            if let Some(n) = t.file_path_position.filter(|n| *n < 0) {
                return Err(kerr(
                    file,
                    format!("{field}.targets[{i}].filePathPosition"),
                    format!("value of FilePathPosition ({n}) cannot be negative"),
                ));
            }
        }
        for t in &targets {
            let chosen: Vec<usize> = match &t.selector {
                None => (0..acc.len()).collect(),
                Some(s) => super::transform::select(acc, s).map_err(|e| kerr(file, field, e))?,
            };
            let path = t.field_path.as_deref().unwrap_or("");
            for i in chosen {
                let r = &mut acc[i];
                if path == "metadata/namespace" {
                    let ns = super::namespace::NamespaceTransformer {
                        namespace: &value,
                        specs: &[],
                        unset_only: false,
                        subjects: super::namespace::SubjectMode::DefaultOnly,
                    };
                    ns.run_one(r).map_err(|e| kerr(file, field, e))?;
                    continue;
                }
                let id = r.id();
                add_value(r.obj.as_value_mut(), path, &value, t.file_path_position.unwrap_or(0))
                    .map_err(|e| kerr(file, field, format!("{id}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Sets the field at `path` (`\/` is a slash inside a field name), created with its maps
/// when missing: to `value`, or with `position` > 0, to the field's path with `value` inserted
/// as part `position - 1`.
fn add_value(v: &mut Value, path: &str, value: &str, position: i64) -> Result<(), String> {
    let fields = crate::fields::split_escaped(path, '/');
    let mut node = v;
    for (i, f) in fields.iter().enumerate() {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(format!("{}: not a map", fields[..i].join("/")));
        };
        let last = i + 1 == fields.len();
        node = map.entry(f.clone()).or_insert_with(|| if last { Value::Null } else { Value::Object(Map::new()) });
    }
    let Some(current) = gitops_core::object::scalar_text(node).map(|t| t.into_owned()) else {
        return Err(format!("{path}: wrong node kind: expected ScalarNode but got {}", crate::fields::node_kind(node)));
    };
    *node =
        Value::String(if position > 0 { insert_path_part(&current, position - 1, value) } else { value.to_string() });
    Ok(())
}

/// Kustomize's `InsertPathPart`: `part` inserted at `pos` of the slash-separated `path` (an
/// absolute path keeps its leading slash; a position past the end appends).
fn insert_path_part(path: &str, pos: i64, part: &str) -> String {
    if part.is_empty() {
        return path.to_string();
    }
    let mut parts = path_split(path);
    let mut pos = (pos.max(0) as usize).min(parts.len());
    if parts.first().is_some_and(String::is_empty) && pos < parts.len() {
        pos += 1;
    }
    parts.insert(pos, part.to_string());
    match parts.split_first() {
        Some((first, rest)) if first.is_empty() => format!("/{}", go_join(rest)),
        _ => go_join(&parts),
    }
}

/// Go's `filesys.PathSplit`: an absolute path's first part is empty.
fn path_split(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    if dir == "/" {
        return if file.is_empty() { vec![String::new()] } else { vec![String::new(), file.to_string()] };
    }
    let dir = dir.strip_suffix('/').unwrap_or(dir);
    if dir.is_empty() {
        return vec![file.to_string()];
    }
    let mut out = path_split(dir);
    out.push(file.to_string());
    out
}

/// Go's `filepath.Join`: the non-empty parts joined with slashes and cleaned.
fn go_join(parts: &[String]) -> String {
    let joined: Vec<&str> = parts.iter().map(String::as_str).filter(|p| !p.is_empty()).collect();
    if joined.is_empty() {
        return String::new();
    }
    go_clean(&joined.join("/"))
}

/// Go's `path.Clean` for a relative or absolute path.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&l) if l != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_path_part_as_kustomize_documents_it() {
        // The table of Kustomize's `InsertPathPart` comment, with part PEACH.
        for (old, pos, new) in [
            ("", 0, "PEACH"),
            ("/", 0, "/PEACH"),
            ("pie", 0, "PEACH/pie"),
            ("/pie", -3, "/PEACH/pie"),
            ("raw", 1, "raw/PEACH"),
            ("/raw", 9, "/raw/PEACH"),
            ("a/nice/warm/pie", 3, "a/nice/warm/PEACH/pie"),
            ("/a/nice/warm/pie", 3, "/a/nice/warm/PEACH/pie"),
            ("projects/whatever", 1, "projects/PEACH/whatever"),
        ] {
            assert_eq!(insert_path_part(old, pos, "PEACH"), new, "{old} at {pos}");
        }
        assert_eq!(insert_path_part("a/b", 1, ""), "a/b");
    }

    #[test]
    fn escaped_slashes_name_one_field_and_maps_are_created() {
        let mut v = gitops_core::json!({"kind": "SomeKind"});
        add_value(&mut v, "spec/resourceRef\\/external", "valueAdded", 0).unwrap();
        assert_eq!(v["spec"]["resourceRef/external"], "valueAdded");
        let mut v = gitops_core::json!({"spec": {"ref": ["x"]}});
        let e = add_value(&mut v, "spec/ref", "v", 0).unwrap_err();
        assert!(e.contains("expected ScalarNode but got SequenceNode"), "{e}");
    }
}
