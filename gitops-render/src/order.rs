//! Kustomize's legacy output order.

use std::cmp::Ordering;

use gitops_core::Object;

fn rank(kind: &str, first: &[String], last: &[String]) -> i64 {
    if let Some(i) = first.iter().position(|k| k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k == kind) {
        return i as i64 + 1;
    }
    0
}

fn gvk_string(o: &Object) -> String {
    let g = if o.group().is_empty() { "~G" } else { o.group() };
    let v = if o.version().is_empty() { "~V" } else { o.version() };
    let k = if o.kind().is_empty() { "~K" } else { o.kind() };
    format!("{g}_{v}_{k}")
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
