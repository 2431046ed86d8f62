//! Kustomize's legacy output order.

use std::cmp::Ordering;

use gitops_core::Object;

/// A kind's rank in Kustomize's order: `first` before all others (negative), `last` after.
pub(crate) fn rank(kind: &str, first: &[impl AsRef<str>], last: &[impl AsRef<str>]) -> i64 {
    if let Some(i) = first.iter().position(|k| k.as_ref() == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k.as_ref() == kind) {
        return i as i64 + 1;
    }
    0
}

/// Kustomize's sortable text of a group/version/kind: `~G`, `~V`, `~K` for empty parts.
pub(crate) fn gvk_text(group: &str, version: &str, kind: &str) -> String {
    let or = |s: &'_ str, none: &'static str| if s.is_empty() { none.to_string() } else { s.to_string() };
    format!("{}_{}_{}", or(group, "~G"), or(version, "~V"), or(kind, "~K"))
}

fn gvk_string(o: &Object) -> String {
    gvk_text(o.group(), o.version(), o.kind())
}

/// Sorts objects in Kustomize's legacy order: kind rank (`first` before all others,
/// `last` after), then GVK text, then namespace (objects without one last), then name.
pub fn sort_legacy(objects: &mut [Object], first: &[String], last: &[String]) {
    objects.sort_by(|a, b| compare(a, b, first, last));
}

fn compare(a: &Object, b: &Object, first: &[String], last: &[String]) -> Ordering {
    let (ra, rb) = (rank(a.kind(), first, last), rank(b.kind(), first, last));
    if ra != rb {
        return ra.cmp(&rb);
    }
    let (ga, gb) = (gvk_string(a), gvk_string(b));
    if ga != gb {
        if a.kind() == "Namespace" && b.kind() == "Namespace" && (a.group().is_empty() || b.group().is_empty()) {
            return gb.cmp(&ga);
        }
        return ga.cmp(&gb);
    }
    let ns = |o: &Object| if o.namespace().is_empty() { "~X".to_string() } else { o.namespace().to_string() };
    let nm = |o: &Object| if o.name().is_empty() { "~N".to_string() } else { o.name().to_string() };
    (ns(a), nm(a)).cmp(&(ns(b), nm(b)))
}
