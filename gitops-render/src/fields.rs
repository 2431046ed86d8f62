//! Field specs: the paths transformers write to, per kind, and a walker over them.

use std::borrow::Cow;

use gitops_core::value::{Map, Value};

use crate::kustomization::FieldSpec;

/// Calls `f` on every value at `path` (segments separated by `/`; lists on the way are
/// entered item by item). With `create`, missing maps are created, and `f` is called with
/// a `Null` slot for a missing last field.
pub(crate) fn walk<S: AsRef<str>>(value: &mut Value, path: &[S], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, false, f)
}

/// [`walk`], but a list at the end of the path is handed to `f` whole, as Kustomize's field
/// spec filter hands a setter whatever node the path ends on.
pub(crate) fn walk_to_end<S: AsRef<str>>(value: &mut Value, path: &[S], create: bool, f: &mut dyn FnMut(&mut Value)) {
    walk_in(value, path, create, true, f)
}

fn walk_in<S: AsRef<str>>(
    value: &mut Value,
    path: &[S],
    create: bool,
    whole_lists: bool,
    f: &mut dyn FnMut(&mut Value),
) {
    if whole_lists && path.is_empty() {
        f(value);
        return;
    }
    if let Value::Array(items) = value {
        for item in items {
            walk_in(item, path, create, whole_lists, f);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        f(value);
        return;
    };
    let first = first.as_ref();
    // `trim_end_matches("[]")`, without building a substring searcher on every step (a
    // fifth of this walk's cost).
    let mut seg = first;
    while let Some(s) = seg.strip_suffix("[]") {
        seg = s;
    }
    // `name[]` names a list: Kustomize enters it when it is there and never creates one.
    let create_here = create && seg.len() == first.len();
    let Value::Object(map) = value else { return };
    // One lookup when the field is there (nearly always), a second only to create it.
    let child = match map.get_mut(seg) {
        Some(child) => child,
        None if create_here => {
            map.entry(seg.to_string()).or_insert(if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) })
        }
        None => return,
    };
    if child.is_null() && seg.len() != first.len() {
        // Kustomize takes the `[]` as a hint: a null list becomes an empty one.
        *child = Value::Array(Vec::new());
    }
    if child.is_null() && !rest.is_empty() {
        if !create_here {
            return;
        }
        *child = Value::Object(Map::new());
    }
    walk_in(child, rest, create, whole_lists, f);
}

/// Sets string pairs into the map at each spec's path. `created` is set, for each pair, to the
/// specs (bit `i` for spec `i`, the first 128) at whose every field the pair's key was not
/// there before: Kustomize's setter makes one YAML node per pair and resource and puts it at
/// every field it creates (see `kustomize::alias`).
pub(crate) fn set_pairs(
    value: &mut Value,
    (group, version, kind): (&str, &str, &str),
    specs: &mut SplitSpecs<'_>,
    pairs: &[(String, String)],
    created: &mut Vec<u128>,
) {
    created.clear();
    created.resize(pairs.len(), 0);
    for i in 0..specs.len() {
        let s = specs.spec(i);
        if !s.matches(group, version, kind) {
            continue;
        }
        let create = s.create;
        // Per pair: whether the walk created the key somewhere, and found it somewhere.
        let (mut made, mut found) = (0u128, 0u128);
        walk(value, specs.path(i), create, &mut |slot| {
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                for (n, (k, v)) in pairs.iter().enumerate() {
                    let bit = 1u128.checked_shl(n as u32).unwrap_or(0);
                    match m.get_mut(k.as_str()) {
                        Some(old) => {
                            *old = Value::String(v.clone());
                            found |= bit;
                        }
                        None => {
                            m.insert(k.clone(), Value::String(v.clone()));
                            made |= bit;
                        }
                    }
                }
            }
        });
        if let Some(spec_bit) = 1u128.checked_shl(i as u32) {
            for (n, mask) in created.iter_mut().enumerate().take(128) {
                let bit = 1u128 << n;
                if made & bit != 0 && found & bit == 0 {
                    *mask |= spec_bit;
                }
            }
        }
    }
}

/// Field specs with their paths split, each when it is first needed: a transformer walks the
/// same specs over every resource, and splits each path once rather than once a resource.
pub(crate) struct SplitSpecs<'a> {
    specs: &'a [FieldSpec],
    paths: Vec<Option<SpecPath<'a>>>,
}

impl<'a> SplitSpecs<'a> {
    pub(crate) fn new(specs: &'a [FieldSpec]) -> Self {
        SplitSpecs { specs, paths: specs.iter().map(|_| None).collect() }
    }

    pub(crate) fn len(&self) -> usize {
        self.specs.len()
    }

    pub(crate) fn spec(&self, i: usize) -> &'a FieldSpec {
        &self.specs[i]
    }

    /// Spec `i`'s path, split.
    pub(crate) fn path(&mut self, i: usize) -> &SpecPath<'a> {
        let specs = self.specs;
        self.paths[i].get_or_insert_with(|| spec_path(&specs[i].path))
    }
}

/// A field spec's path as Kustomize's field spec filter splits it (kyaml's `PathSplitter` on
/// `/`): `\/` is a slash inside a field name (`metadata/annotations/a.io\/b`), and a leading `/`
/// is ignored. Borrowed from `path` when nothing is escaped, as on the hot paths, and held
/// without an allocation when it has few segments (transformers split a spec's path for every
/// object they visit).
pub(crate) fn spec_path(path: &str) -> SpecPath<'_> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (mut slashes, mut escaped) = (0, false);
    for b in path.bytes() {
        match b {
            b'/' => slashes += 1,
            b'\\' => escaped = true,
            _ => {}
        }
    }
    if escaped {
        return SpecPath::Spilled(split_escaped(path, '/').into_iter().map(Cow::Owned).collect());
    }
    if slashes >= INLINE_SEGMENTS {
        return SpecPath::Spilled(gitops_core::split_ascii(path, b'/').map(Cow::Borrowed).collect());
    }
    let mut segments: [Cow<'_, str>; INLINE_SEGMENTS] = Default::default();
    let mut len = 0;
    for (slot, segment) in segments.iter_mut().zip(gitops_core::split_ascii(path, b'/')) {
        *slot = Cow::Borrowed(segment);
        len += 1;
    }
    SpecPath::Inline(segments, len)
}

/// How many segments a [`SpecPath`] holds in place (Kustomize's built-in specs have at most 7).
const INLINE_SEGMENTS: usize = 8;

/// A split field spec path (see [`spec_path`]): a slice of segments.
#[derive(Debug)]
pub(crate) enum SpecPath<'a> {
    /// Up to [`INLINE_SEGMENTS`] segments, the first `.1` of them used.
    Inline([Cow<'a, str>; INLINE_SEGMENTS], usize),
    /// A longer path, or one with escaped slashes.
    Spilled(Vec<Cow<'a, str>>),
}

impl<'a> std::ops::Deref for SpecPath<'a> {
    type Target = [Cow<'a, str>];

    fn deref(&self) -> &Self::Target {
        match self {
            SpecPath::Inline(segments, len) => &segments[..*len],
            SpecPath::Spilled(segments) => segments,
        }
    }
}

/// `path` split on `delim`, where a part ending in a backslash joins the next one with the
/// delimiter in place of the backslash (`a\\.b.c` on `.` is `a.b`, `c`), as Kustomize splits
/// field paths.
pub(crate) fn split_escaped(path: &str, delim: char) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for p in path.split(delim) {
        match parts.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(delim);
                last.push_str(p);
            }
            _ => parts.push(p.to_string()),
        }
    }
    parts
}

/// The YAML node kind of a value, as Kustomize's errors name it.
pub(crate) fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_spec_paths_split_as_kyaml_splits_them() {
        let split = |p: &str| spec_path(p).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split("metadata/name"), ["metadata", "name"]);
        // A leading slash is ignored; an escaped one stays inside the field name.
        assert_eq!(split("/data/x.io\\/labels"), ["data", "x.io/labels"]);
        assert_eq!(split("/"), [""]);
        assert!(matches!(spec_path("spec/template")[0], Cow::Borrowed(_)));
        // Eight segments fit in place; nine spill to the heap; both split the same way.
        assert!(matches!(spec_path("a/b/c/d/e/f/g/h"), SpecPath::Inline(_, 8)));
        assert_eq!(split("a/b/c/d/e/f/g/h"), ["a", "b", "c", "d", "e", "f", "g", "h"]);
        assert!(matches!(spec_path("a/b/c/d/e/f/g/h/i"), SpecPath::Spilled(_)));
        assert_eq!(split("a/b/c/d/e/f/g/h/i"), ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
        // `split_escaped` keeps a leading empty part: ValueAddTransformer and replacements
        // split without dropping it.
        assert_eq!(split_escaped("/a\\/b/c", '/'), ["", "a/b", "c"]);
    }
}
