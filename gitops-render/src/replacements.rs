//! `replacements`: copy a field of one object into fields of others.

use gitops_core::Object;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::kustomization::{ReplacementEntry, ReplacementOptions, Selector};
use gitops_core::selector::LabelSelector;

use crate::kustomization::gvk_selects;
use crate::kustomize::kerr;
use crate::nameref::{PrevId, ids};
use crate::tables::{self, effective_namespace};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Match(String, String),
    Index(usize),
    All,
}

fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut chars = path.chars().peekable();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                cur.push('.');
                chars.next();
            }
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    for p in parts {
        if p.is_empty() {
            return Err(format!("invalid field path {path:?}: empty segment"));
        }
        if let Some(inner) = p.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            let (k, v) = inner.split_once('=').ok_or_else(|| format!("invalid selector {p:?} in {path:?}"))?;
            out.push(Seg::Match(k.into(), v.into()));
        } else if p == "*" {
            out.push(Seg::All);
        } else if let Ok(i) = p.parse::<usize>() {
            out.push(Seg::Index(i));
        } else {
            out.push(Seg::Field(p));
        }
    }
    Ok(out)
}

fn get<'a>(v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let Some((first, rest)) = segs.split_first() else { return Some(v) };
    match (first, v) {
        (Seg::Field(f), Value::Object(m)) => get(m.get(f)?, rest),
        (Seg::Index(i), Value::Array(a)) => get(a.get(*i)?, rest),
        (Seg::Match(k, val), Value::Array(a)) => {
            get(a.iter().find(|i| i.get(k).map(scalar_text).as_deref() == Some(val.as_str()))?, rest)
        }
        _ => None,
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Visits every slot a path names; returns how many were found. With `create`, missing map
/// fields are created.
fn visit(v: &mut Value, segs: &[Seg], create: bool, f: &mut dyn FnMut(&mut Value)) -> usize {
    let Some((first, rest)) = segs.split_first() else {
        f(v);
        return 1;
    };
    match first {
        Seg::Field(name) => {
            if v.is_null() && create {
                *v = Value::Object(Map::new());
            }
            let Value::Object(m) = v else { return 0 };
            if !m.contains_key(name) {
                if !create {
                    return 0;
                }
                m.insert(name.clone(), Value::Null);
            }
            visit(m.get_mut(name).expect("present"), rest, create, f)
        }
        Seg::Index(i) => match v {
            Value::Array(a) => a.get_mut(*i).map(|x| visit(x, rest, create, f)).unwrap_or(0),
            _ => 0,
        },
        Seg::Match(k, val) => match v {
            Value::Array(a) => a
                .iter_mut()
                .filter(|i| i.get(k).map(scalar_text).as_deref() == Some(val.as_str()))
                .map(|i| visit(i, rest, create, f))
                .sum(),
            _ => 0,
        },
        Seg::All => match v {
            Value::Array(a) => a.iter_mut().map(|i| visit(i, rest, create, f)).sum(),
            Value::Object(m) => m.values_mut().map(|i| visit(i, rest, create, f)).sum(),
            _ => 0,
        },
    }
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

fn pick(value: &Value, opts: Option<&ReplacementOptions>) -> Value {
    match (opts.and_then(|o| o.delimiter.as_deref()), value) {
        (Some(d), Value::String(s)) if !d.is_empty() => {
            let parts: Vec<&str> = s.split(d).collect();
            let i = opts.map(|o| o.index).unwrap_or(0);
            let i = if i < 0 { 0 } else { (i as usize).min(parts.len().saturating_sub(1)) };
            Value::String(parts.get(i).copied().unwrap_or("").to_string())
        }
        _ => value.clone(),
    }
}

fn put(slot: &mut Value, value: &Value, opts: Option<&ReplacementOptions>) {
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
    let path = source.field_path.as_deref().unwrap_or("metadata.name");
    let segs = parse_path(path).map_err(|m| kerr(file, format!("{field}.source.fieldPath"), m))?;
    let value = get(objects[src].0.as_value(), &segs).ok_or_else(|| {
        kerr(file, format!("{field}.source.fieldPath"), format!("{path:?} not found in {}", objects[src].0.key()))
    })?;
    let value = pick(value, source.options.as_ref());
    for (ti, t) in r.targets.iter().enumerate() {
        let tf = format!("{field}.targets[{ti}]");
        let select = t.select.clone().unwrap_or_default();
        for (o, prev) in objects.iter_mut() {
            if !target_selected(o, prev, &select, &t.reject).map_err(|m| kerr(file, &tf, m))? {
                continue;
            }
            let create = t.options.as_ref().is_some_and(|o| o.create);
            for fp in &t.field_paths {
                let segs = parse_path(fp).map_err(|m| kerr(file, &tf, m))?;
                let key = o.key();
                let n = visit(o.as_value_mut(), &segs, create, &mut |slot| put(slot, &value, t.options.as_ref()));
                if n == 0 && !create {
                    return Err(kerr(file, &tf, format!("unable to find field {fp:?} in replacement target {key}")));
                }
            }
        }
    }
    Ok(())
}
