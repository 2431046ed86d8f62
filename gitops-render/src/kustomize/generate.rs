//! Generators: `configMapGenerator`, `secretGenerator` and the generator plugins, with their
//! options and the merge/replace behaviours.

use super::*;

impl Build<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn generate(
        &self,
        dir: &str,
        file: &str,
        field: &str,
        g: &GeneratorArgs,
        global: &GeneratorOptions,
        secret: bool,
        acc: &mut Vec<Res>,
    ) -> Result<(), Error> {
        let kind = if secret { "Secret" } else { "ConfigMap" };
        let name = g
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| kerr(file, format!("{field}.name"), "a generator needs a name"))?;
        let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, lit) in g.literals.iter().enumerate() {
            let (key, value) = lit
                .split_once('=')
                .ok_or_else(|| kerr(file, format!("{field}.literals[{i}]"), format!("{lit:?} is not KEY=VALUE")))?;
            pairs.push((key.to_string(), strip_quotes(value).as_bytes().to_vec()));
        }
        for (i, f) in g.files.iter().enumerate() {
            let ff = format!("{field}.files[{i}]");
            let (key, path) = match f.split_once('=') {
                Some((k, p)) => (k.to_string(), p),
                None => (f.rsplit('/').next().unwrap_or(f).to_string(), f.as_str()),
            };
            let (_, bytes) = self.read_file(dir, file, &ff, path)?;
            pairs.push((key, bytes));
        }
        let envs: Vec<(String, &String)> = g
            .envs
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("{field}.envs[{i}]"), e))
            .chain(g.env.iter().map(|e| (format!("{field}.env"), e)))
            .collect();
        for (ff, path) in envs {
            let (p, bytes) = self.read_file(dir, file, &ff, path)?;
            let text = String::from_utf8(bytes).map_err(|_| kerr(file, &ff, format!("{p}: not valid UTF-8")))?;
            for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
                let line = line.trim_start();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, value) = line.split_once('=').unwrap_or((line, ""));
                if key.is_empty() || key.contains(char::is_whitespace) {
                    return Err(kerr(
                        file,
                        &ff,
                        format!("{p}: line {}: {key:?} is not a valid environment variable name", n + 1),
                    ));
                }
                pairs.push((key.to_string(), value.as_bytes().to_vec()));
            }
        }
        let mut data = BTreeMap::new();
        for (key, value) in pairs {
            if data.insert(key.clone(), value).is_some() {
                return Err(kerr(file, field, format!("duplicate key {key:?} in {kind} {name:?}")));
            }
        }
        let local = g.options.clone().unwrap_or_default();
        let mut labels = global.labels.clone();
        labels.extend(local.labels);
        let mut annotations = global.annotations.clone();
        annotations.extend(local.annotations);
        let disable_hash =
            global.disable_name_suffix_hash.unwrap_or(false) || local.disable_name_suffix_hash.unwrap_or(false);
        let immutable = global.immutable.unwrap_or(false) || local.immutable.unwrap_or(false);

        let mut obj = Object::new("v1", kind, &name);
        if let Some(ns) = g.namespace.as_deref().filter(|n| !n.is_empty()) {
            obj.set_namespace(ns);
        }
        for (k, v) in &labels {
            obj.set_label(k, v);
        }
        for (k, v) in &annotations {
            obj.set_annotation(k, v);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut text_data = Map::new();
        let mut binary = Map::new();
        for (k, v) in data {
            if secret {
                text_data.insert(k, Value::String(wrap_base64(&b64.encode(&v))));
            } else {
                match String::from_utf8(v) {
                    Ok(s) => {
                        text_data.insert(k, Value::String(s));
                    }
                    Err(e) => {
                        binary.insert(k, Value::String(wrap_base64(&b64.encode(e.as_bytes()))));
                    }
                }
            }
        }
        let root = obj.as_value_mut().as_object_mut().expect("an object");
        // Kustomize gives a Secret its `data` map even when it is empty (`data: {}`, which its
        // hash then includes); a ConfigMap gets one only with an entry.
        if !text_data.is_empty() || secret {
            root.insert("data".into(), Value::Object(text_data));
        }
        if !binary.is_empty() {
            root.insert("binaryData".into(), Value::Object(binary));
        }
        if secret {
            root.insert("type".into(), Value::String(g.type_.clone().unwrap_or_else(|| "Opaque".into())));
        }
        if immutable {
            root.insert("immutable".into(), Value::Bool(true));
        }

        let behavior = g.behavior.as_deref().unwrap_or("create");
        match behavior {
            "merge" | "replace" => {
                let ns = obj.namespace().to_string();
                let existing = acc.iter_mut().find(|r| {
                    r.obj.kind() == kind
                        && r.obj.group().is_empty()
                        // Any of its ids, as Kustomize's AbsorbAll matches: the current name
                        // (a base's prefix included) or an earlier one.
                        && r.has_name(&name)
                        && (ns.is_empty() || r.obj.namespace() == ns)
                });
                let Some(existing) = existing else {
                    return Err(kerr(
                        file,
                        format!("{field}.behavior"),
                        format!("{kind} {name:?} to {behavior} was not found in the resources"),
                    ));
                };
                // As Kustomize's `appendReplaceOrMerge`: the generated object takes the place
                // of the resource, with the resource's name and namespace, its labels and
                // annotations under the generator's, and for `merge` its data and binaryData
                // under the generator's. Anything else of the resource (`type`, `immutable`,
                // `stringData`) is the generator's now.
                let mut merged = obj.as_value().clone();
                let old = existing.obj.as_value();
                let old_meta = old.get("metadata").and_then(Value::as_object);
                let meta = merged
                    .as_object_mut()
                    .expect("an object")
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("generated metadata is a map");
                for f in ["labels", "annotations"] {
                    let mut m = old_meta.and_then(|o| o.get(f)).and_then(Value::as_object).cloned().unwrap_or_default();
                    m.extend(meta.get(f).and_then(Value::as_object).cloned().unwrap_or_default());
                    set_or_remove(meta, f, m);
                }
                for f in ["name", "namespace"] {
                    match old_meta.and_then(|o| o.get(f)) {
                        Some(v) => meta.insert(f.into(), v.clone()),
                        None => meta.remove(f),
                    };
                }
                let root = merged.as_object_mut().expect("an object");
                if behavior == "merge" {
                    for f in ["data", "binaryData"] {
                        let mut m = old.get(f).and_then(Value::as_object).cloned().unwrap_or_default();
                        m.extend(root.get(f).and_then(Value::as_object).cloned().unwrap_or_default());
                        set_or_remove(root, f, m);
                    }
                }
                existing.obj = Object::from_value_unchecked(merged);
                if disable_hash {
                    existing.needs_hash = false;
                }
                if behavior == "replace" {
                    // The replacing generator is where the object comes from now.
                    let kind = if secret { "SecretGenerator" } else { "ConfigMapGenerator" };
                    existing.origin = Some(Origin::Generator { kustomization: file.to_string(), kind, name: None });
                }
                Ok(())
            }
            // Kustomize takes any other behavior (or none) for create.
            _ => {
                // Kustomize compares namespaces with "" meaning "default" here.
                let ns = tables::effective_namespace(false, obj.namespace());
                if acc.iter().any(|r| {
                    r.obj.kind() == kind
                        && r.obj.group().is_empty()
                        && r.obj.name() == name
                        && tables::effective_namespace(false, r.obj.namespace()) == ns
                }) {
                    return Err(kerr(
                        file,
                        format!("{field}.behavior"),
                        format!("{kind} {name:?} exists; behavior must be merge or replace"),
                    ));
                }
                let mut r = Res::new(obj);
                r.needs_hash = !disable_hash;
                let kind = if secret { "SecretGenerator" } else { "ConfigMapGenerator" };
                r.origin = Some(Origin::Generator { kustomization: file.to_string(), kind, name: None });
                add_resource(acc, r, file)
            }
        }
    }
}

/// `m` as field `f` of `map`, or no field `f` when `m` is empty (as Kustomize sets a map).
fn set_or_remove(map: &mut Map<String, Value>, f: &str, m: Map<String, Value>) {
    if m.is_empty() {
        map.remove(f);
    } else {
        map.insert(f.into(), Value::Object(m));
    }
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Kustomize wraps generated base64 at 70 characters, each line ending in a newline.
fn wrap_base64(s: &str) -> String {
    if s.len() < 70 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + s.len() / 70 + 1);
    for chunk in s.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}
