//! `replacements`: copy a field of one object into fields of others.

use gitops_core::Object;
use gitops_core::value::{Map, Value};

use crate::error::Error;
use crate::kustomization::{ReplacementEntry, ReplacementOptions, Selector};
use gitops_core::selector::LabelSelector;

use crate::kustomization::gvk_selects;
use crate::kustomize::kerr;
use crate::nameref::{PrevId, ids};
use crate::tables::{self, effective_namespace};

/// Kustomize's `SmarterPathSplitter`: a field path split on dots (`\\.` is a dot in a
/// name); a bracketed part that holds dots is one part, a list matcher when it holds `=` and
/// else a field name without its brackets (`[a.b/c]` is the field `a.b/c`).
fn split_path(path: &str) -> Vec<String> {
    let parts = crate::fields::split_escaped(path.strip_prefix('.').unwrap_or(path), '.');
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let elem = &parts[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut group = vec![elem.clone()];
            while i < parts.len() - 1 {
                i += 1;
                group.push(parts[i].clone());
                if parts[i].ends_with(']') {
                    break;
                }
            }
            let joined = group.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    // kyaml drops blank parts.
    out.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn is_index(p: &str) -> Option<usize> {
    p.parse::<i64>().ok().filter(|i| *i >= 0).map(|i| i as usize)
}

fn is_list_match(p: &str) -> bool {
    p.starts_with('[') && p.ends_with(']')
}

/// `[name=value]` as (name, value); `[=value]` matches a scalar item.
fn split_match(p: &str) -> Result<(&str, &str), String> {
    let inner = p.strip_prefix('[').unwrap_or(p).strip_suffix(']').unwrap_or(p);
    inner
        .split_once('=')
        .ok_or_else(|| "list path element must contain fieldName=fieldValue for element to match".to_string())
}

/// The text kyaml compares and copies a scalar by ("" for a list or mapping).
fn scalar_text(v: &Value) -> String {
    gitops_core::object::scalar_text(v).unwrap_or_default().into_owned()
}

/// Kustomize's source lookup (kyaml's `PathGetter` without creating): fields, indices, `-`
/// for the last item, and `[name=value]` for the first item with exactly that value.
fn lookup<'a>(v: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, String> {
    let Some((part, rest)) = parts.split_first() else { return Ok(Some(v)) };
    let next = if let Ok(i) = part.parse::<i64>() {
        if i < 0 {
            return Err(format!("array index {i} cannot be negative"));
        }
        v.as_array().and_then(|a| a.get(i as usize))
    } else if part == "-" {
        v.as_array().and_then(|a| a.last())
    } else if part == "*" {
        return Err("wildcard is not supported in PathGetter".into());
    } else if is_list_match(part) {
        let (name, value) = split_match(part)?;
        v.as_array().and_then(|a| {
            a.iter().find(|item| {
                if name.is_empty() {
                    !item.is_object() && !item.is_array() && scalar_text(item) == value
                } else {
                    item.get(name).is_some_and(|f| !f.is_object() && !f.is_array() && scalar_text(f) == value)
                }
            })
        })
    } else {
        v.as_object().and_then(|m| m.get(part.as_str()))
    };
    match next {
        Some(n) => lookup(n, rest),
        None => Ok(None),
    }
}

/// What a created node is, from the part after it (kyaml's `getPathPartKind`).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Scalar,
    Map,
    List,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) => Kind::Map,
        Value::Array(_) => Kind::List,
        _ => Kind::Scalar,
    }
}

fn part_kind(next: Option<&String>, last: Kind) -> Value {
    let kind = match next {
        Some(n) if is_list_match(n) || is_index(n).is_some() => Kind::List,
        Some(_) => Kind::Map,
        None => last,
    };
    match kind {
        Kind::Scalar => Value::Null,
        Kind::Map => Value::Object(Map::new()),
        Kind::List => Value::Array(Vec::new()),
    }
}

/// Kustomize's target lookup (kyaml's `PathMatcher`): calls `f` on every field the path
/// names, creating what is missing when `create` gives the kind of the value to write.
/// List matchers are unanchored regular expressions, as there.
fn matcher(
    v: &mut Value,
    parts: &[String],
    create: Option<Kind>,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((part, rest)) = parts.split_first() else {
        f(v)?;
        return Ok(1);
    };
    let not_list =
        |v: &Value| format!("wrong node kind: expected SequenceNode but got {}", crate::fields::node_kind(v));
    if let Some(idx) = is_index(part) {
        let Value::Array(items) = v else { return Err(not_list(v)) };
        if items.len() == idx
            && let Some(kind) = create
        {
            items.push(part_kind(rest.first(), kind));
        }
        if items.len() < idx + 1 {
            return Err(format!("index {idx} specified but only {} elements found", items.len()));
        }
        return matcher(&mut items[idx], rest, create, f);
    }
    if is_list_match(part) {
        let (name, pattern) = split_match(part)?;
        let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        let Value::Array(items) = v else { return Err(not_list(v)) };
        let matches = |item: &Value| {
            if name.is_empty() {
                !item.is_object() && !item.is_array() && re.is_match(&scalar_text(item))
            } else {
                item.get(name).is_some_and(|f| !f.is_null() && re.is_match(&scalar_text(f)))
            }
        };
        if !items.iter().any(matches) {
            if create.is_none() {
                return Ok(0);
            }
            let value = gitops_core::yaml::resolve_plain(pattern);
            items.push(if name.is_empty() {
                value
            } else {
                let mut m = Map::new();
                m.insert(name.to_string(), value);
                Value::Object(m)
            });
        }
        let mut n = 0;
        for item in items.iter_mut().filter(|i| matches(i)) {
            n += matcher(item, rest, create, f)?;
        }
        return Ok(n);
    }
    if part == "*" {
        let Value::Array(items) = v else { return Err(not_list(v)) };
        let mut n = 0;
        for item in items.iter_mut() {
            n += matcher(item, rest, create, f)?;
        }
        return Ok(n);
    }
    if v.is_null() {
        if create.is_none() {
            return Ok(0);
        }
        *v = Value::Object(Map::new());
    }
    let Value::Object(m) = v else {
        return Err(format!("wrong node kind: expected MappingNode but got {}", crate::fields::node_kind(v)));
    };
    if !m.contains_key(part.as_str()) {
        let Some(kind) = create else { return Ok(0) };
        m.insert(part.clone(), part_kind(rest.first(), kind));
    }
    matcher(m.get_mut(part.as_str()).expect("present or created"), rest, create, f)
}

/// Kustomize's `ResId.IsSelectedBy` over any of the object's ids: group, version and kind,
/// name, and namespace (Kustomize's effective one), each when the selector sets it.
fn id_selected(o: &Object, prev: &[PrevId], s: &Selector) -> bool {
    let set = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(String::from);
    let want_ns = set(&s.namespace);
    ids(o, prev).any(|(kind, ns, name)| {
        gvk_selects((s.group.as_deref(), s.version.as_deref(), s.kind.as_deref()), (o.group(), o.version(), kind))
            && set(&s.name).is_none_or(|n| n == name)
            && want_ns.as_deref().is_none_or(|n| {
                let scoped = tables::is_cluster_scoped(o.api_version(), kind);
                effective_namespace(false, n) == effective_namespace(scoped, ns)
            })
    })
}

fn has_id_part(s: &Selector) -> bool {
    [&s.group, &s.version, &s.kind, &s.name, &s.namespace].iter().any(|v| v.as_deref().is_some_and(|x| !x.is_empty()))
}

fn labels_match(o: &Object, s: &Selector) -> Result<bool, String> {
    let labels = s.label_selector.as_deref().map(LabelSelector::parse).transpose()?;
    let annotations = s.annotation_selector.as_deref().map(LabelSelector::parse).transpose()?;
    Ok(labels.is_none_or(|l| l.matches(o.labels())) && annotations.is_none_or(|a| a.matches(o.annotations())))
}

/// Whether a replacement target selects the object, as Kustomize decides: the select's
/// labels and annotations match, no reject's labels or annotations match, one of its ids is
/// selected, and no reject's id part selects any of its ids.
fn target_selected(o: &Object, prev: &[PrevId], select: &Selector, reject: &[Selector]) -> Result<bool, String> {
    if !labels_match(o, select)? {
        return Ok(false);
    }
    for r in reject {
        if (r.label_selector.is_some() || r.annotation_selector.is_some()) && labels_match(o, r)? {
            return Ok(false);
        }
    }
    Ok(id_selected(o, prev, select) && !reject.iter().any(|r| has_id_part(r) && id_selected(o, prev, r)))
}

/// The source value, or with a delimiter, its `index`th part (Kustomize's
/// `getRefinedValue`: a scalar only, and an index inside it).
fn pick(value: &Value, opts: Option<&ReplacementOptions>) -> Result<Value, String> {
    match opts.and_then(|o| o.delimiter.as_deref()).filter(|d| !d.is_empty()) {
        None => Ok(value.clone()),
        Some(_) if value.is_object() || value.is_array() => {
            Err("delimiter option can only be used with scalar nodes".into())
        }
        Some(d) => {
            let text = scalar_text(value);
            let parts: Vec<&str> = text.split(d).collect();
            let i = opts.map(|o| o.index).unwrap_or(0);
            if i < 0 || i as usize >= parts.len() {
                return Err(format!("options.index {i} is out of bounds for value {text}"));
            }
            Ok(match value {
                Value::String(_) => Value::String(parts[i as usize].to_string()),
                _ => gitops_core::yaml::resolve_plain(parts[i as usize]),
            })
        }
    }
}

fn put(slot: &mut Value, value: &Value, opts: Option<&ReplacementOptions>) -> Result<(), String> {
    if opts.and_then(|o| o.delimiter.as_deref()).is_some_and(|d| !d.is_empty()) && (slot.is_object() || slot.is_array())
    {
        return Err("delimiter option can only be used with scalar nodes".into());
    }
    match (opts.and_then(|o| o.delimiter.as_deref()), &*slot, value) {
        (Some(d), Value::String(s), v) if !d.is_empty() => {
            let mut parts: Vec<String> = s.split(d).map(String::from).collect();
            let i = opts.map(|o| o.index).unwrap_or(0);
            let text = scalar_text(v);
            if i < 0 {
                parts.insert(0, text);
            } else if (i as usize) >= parts.len() {
                parts.push(text);
            } else {
                parts[i as usize] = text;
            }
            *slot = Value::String(parts.join(d));
        }
        // A scalar target keeps its type and takes the source's text (Kustomize copies only
        // the node's value, so `"3"` into `replicas: 1` is the number 3); a field created for
        // the replacement has no type yet, so the text is read as a plain YAML scalar.
        (_, Value::String(_), v) if is_scalar(v) => *slot = Value::String(scalar_text(v)),
        (_, Value::Number(_), v) if is_scalar(v) => {
            let text = scalar_text(v);
            *slot = match gitops_core::yaml::resolve_plain(&text) {
                n @ Value::Number(_) => n,
                _ => Value::String(text),
            }
        }
        (_, Value::Bool(_), v) if is_scalar(v) => {
            let text = scalar_text(v);
            *slot = match gitops_core::yaml::resolve_plain(&text) {
                b @ Value::Bool(_) => b,
                _ => Value::String(text),
            }
        }
        (_, Value::Null, v) if is_scalar(v) && !v.is_null() => {
            *slot = gitops_core::yaml::resolve_plain(&scalar_text(v))
        }
        _ => *slot = value.clone(),
    }
    Ok(())
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// Applies one replacement to the objects, each with its earlier ids.
pub(crate) fn apply(
    r: &ReplacementEntry,
    mut objects: Vec<(&mut Object, &[PrevId])>,
    file: &str,
    field: &str,
) -> Result<(), Error> {
    let source = r.source.as_ref().ok_or_else(|| kerr(file, field, "a replacement needs a source"))?;
    let sel = Selector {
        group: source.group.clone(),
        version: source.version.clone(),
        kind: source.kind.clone(),
        name: source.name.clone(),
        namespace: source.namespace.clone(),
        ..Default::default()
    };
    let found: Vec<usize> =
        objects.iter().enumerate().filter(|(_, (o, prev))| id_selected(o, prev, &sel)).map(|(i, _)| i).collect();
    let src = match found.as_slice() {
        [i] => *i,
        [] => return Err(kerr(file, format!("{field}.source"), "nothing selected by the replacement source")),
        _ => {
            return Err(kerr(
                file,
                format!("{field}.source"),
                format!("the replacement source selects {} objects; it must select one", found.len()),
            ));
        }
    };
    let path = source.field_path.as_deref().filter(|p| !p.is_empty()).unwrap_or("metadata.name");
    let sf = format!("{field}.source.fieldPath");
    let found = lookup(objects[src].0.as_value(), &split_path(path)).map_err(|m| kerr(file, &sf, m))?;
    // Kustomize: a missing, null or empty source is an error.
    let value = found
        .filter(|v| {
            !v.is_null() && !v.as_object().is_some_and(Map::is_empty) && !v.as_array().is_some_and(Vec::is_empty)
        })
        .ok_or_else(|| {
            kerr(file, &sf, format!("fieldPath `{path}` is missing for replacement source {}", objects[src].0.key()))
        })?;
    let value = pick(value, source.options.as_ref()).map_err(|m| kerr(file, format!("{field}.source"), m))?;
    let create = kind_of(&value);
    for (ti, t) in r.targets.iter().enumerate() {
        let tf = format!("{field}.targets[{ti}]");
        let select = t.select.clone().ok_or_else(|| kerr(file, &tf, "target must specify resources to select"))?;
        for (o, prev) in objects.iter_mut() {
            if !target_selected(o, prev, &select, &t.reject).map_err(|m| kerr(file, &tf, m))? {
                continue;
            }
            let create = t.options.as_ref().is_some_and(|o| o.create).then_some(create);
            let default = ["metadata.name".to_string()];
            let paths = if t.field_paths.is_empty() { &default[..] } else { &t.field_paths[..] };
            for fp in paths {
                let key = o.key();
                let missing = || {
                    let what = if create.is_some() { "find or create" } else { "find" };
                    format!("unable to {what} field {fp:?} in replacement target {key}")
                };
                let n = matcher(o.as_value_mut(), &split_path(fp), create, &mut |slot| {
                    put(slot, &value, t.options.as_ref())
                })
                .map_err(|m| kerr(file, &tf, format!("{}: {m}", missing())))?;
                if n == 0 {
                    return Err(kerr(file, &tf, missing()));
                }
            }
        }
    }
    Ok(())
}
