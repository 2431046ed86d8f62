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
    // Joined, not formatted: every resource's sort key has one, and `format!` costs several
    // times more.
    [or(group, "~G"), or(version, "~V"), or(kind, "~K")].join("_")
}

/// `s`, or Kustomize's placeholder for an empty part (which sorts after letters).
fn or<'a>(s: &'a str, none: &'a str) -> &'a str {
    if s.is_empty() { none } else { s }
}

/// Kustomize's `legacyResIDSortString` after its group/version/kind: `namespace|name`, with
/// `~X` and `~N` for an empty part.
fn namespace_name(namespace: &str, name: &str) -> String {
    let (ns, nm) = (or(namespace, "~X"), or(name, "~N"));
    let mut text = String::with_capacity(ns.len() + 1 + nm.len());
    text.push_str(ns);
    text.push('|');
    text.push_str(nm);
    text
}

fn gvk_string(o: &Object) -> String {
    gvk_text(o.group(), o.version(), o.kind())
}

/// Sorts objects in Kustomize's legacy order: kind rank (`first` before all others,
/// `last` after), then GVK text, then namespace (objects without one last), then name.
pub fn sort_legacy(objects: &mut Vec<Object>, first: &[String], last: &[String]) {
    // Each object's key is worked out once (its parts are map lookups and a formatted
    // string), on all CPUs for a long list, not in every comparison; the sort is stable.
    let keys = gitops_core::par_map(objects, 256, |o| SortKey::of(o, first, last));
    let mut keyed: Vec<(SortKey, Object)> = keys.into_iter().zip(std::mem::take(objects)).collect();
    keyed.sort_by(|a, b| a.0.compare(&b.0));
    objects.extend(keyed.into_iter().map(|(_, o)| o));
}

/// The parts of an object that Kustomize's legacy order compares.
struct SortKey {
    rank: i64,
    gvk: String,
    namespace_kind: bool,
    no_group: bool,
    /// Namespace and name as Kustomize compares them: one text, `namespace|name`, so that
    /// `kubeflow-system|a` sorts before `kubeflow|b` (`-` is before `|`).
    namespace_name: String,
}

impl SortKey {
    fn of(o: &Object, first: &[String], last: &[String]) -> Self {
        SortKey {
            rank: rank(o.kind(), first, last),
            gvk: gvk_string(o),
            namespace_kind: o.kind() == "Namespace",
            no_group: o.group().is_empty(),
            // Objects without a namespace (or name) sort after those with one.
            namespace_name: namespace_name(o.namespace(), o.name()),
        }
    }

    fn compare(&self, b: &SortKey) -> Ordering {
        if self.rank != b.rank {
            return self.rank.cmp(&b.rank);
        }
        if self.gvk != b.gvk {
            // Kustomize's gvk.IsLessThan: two Namespaces, one of the core group, compare
            // the other way round.
            if self.namespace_kind && b.namespace_kind && (self.no_group || b.no_group) {
                return b.gvk.cmp(&self.gvk);
            }
            return self.gvk.cmp(&b.gvk);
        }
        self.namespace_name.cmp(&b.namespace_name)
    }
}
