//! The vocabulary of the gitops toolkit: every other crate speaks through this one.
//!
//! - [`Object`] and [`ObjectKey`]: a manifest as JSON data and its identity;
//! - [`value`]: that JSON data, `serde_json`'s value with objects as compact sorted vectors
//!   (converting to and from `serde_json::Value` where a library wants one);
//! - [`yaml`]: multi-document YAML in and out, with errors that name file, document, line;
//! - [`schema`]: the list-merge schema of built-in kinds (strategic merge patch keys and
//!   server-side apply list types), one table for the renderer, the API server and the diff;
//! - [`fieldset`]: `managedFields` field sets;
//! - [`tree`]: [`FileTree`] and its in-memory and on-disk implementations;
//! - [`stage`]: the traits of the pipeline, [`Source`], [`Renderer`], [`Decryptor`],
//!   [`Cluster`].
//!
//! ```
//! use gitops_core::{yaml, FileTree, MemTree, ObjectKey};
//!
//! let tree = MemTree::new().with_file(
//!     "app/deploy.yaml",
//!     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: prod}\nspec: {replicas: 2}\n",
//! );
//! let text = tree.read_to_string("app/deploy.yaml")?;
//! let objects = yaml::parse_objects(&text, "app/deploy.yaml", &Default::default())?;
//! assert_eq!(objects[0].key(), "apps/Deployment/prod/api".parse::<ObjectKey>()?);
//! print!("{}", yaml::to_yaml_stream(&objects));
//! # Ok::<(), gitops_core::Error>(())
//! ```
//!
//! A reconciler of your own composes the stages: resolve a [`Revision`] with a
//! [`Source`], open its [`FileTree`], render it with a [`Renderer`], decrypt with a
//! [`Decryptor`], and apply each object to a [`Cluster`] with server-side apply.
//!
//! # In a reconciler
//!
//! A reconciler is four stages joined by these traits: a [`Source`] resolves a [`Revision`]
//! and opens its [`FileTree`]; a [`Renderer`] turns a path of it into [`Object`]s; a
//! [`Decryptor`] unseals what is sealed; a [`Cluster`] receives server-side applies. Implement
//! any of them (a generator instead of Kustomize, an HSM-backed decryptor) and plug it into
//! `gitops_sync::Reconciler`, whose front page assembles a complete one in a few lines.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod diff;
pub mod error;
pub mod fieldset;
pub mod gofmt;
pub mod hash;
pub mod object;
pub mod patch;
pub mod schema;
pub mod selector;
pub mod source;
pub mod stage;
pub mod time;
pub mod tree;
pub mod validation;
pub mod value;
pub mod yaml;
mod yaml_emit;
mod yaml_fast;
mod yaml_load;

pub use error::{Error, Location, Result};
pub use fieldset::{FieldSet, PathElement};
pub use object::{GroupVersionKind, Object, ObjectKey};
pub use schema::{ListInfo, ListType, Schema};
pub use stage::{
    ApplyOptions, ChartRepository, Cluster, Decryptor, MemSource, NoDecryption, Propagation, Renderer, ResourceInfo,
    Revision, Source, WatchEvent, WatchStream,
};
pub use tree::{DirEntry, DirTree, EntryKind, FileTree, MemTree};

/// `text` split at every `delim` byte, as `text.split(char::from(delim))` splits it, for an
/// ASCII `delim`. A plain scan: the standard library's character searcher costs more to set
/// up than the short lines and path segments a build splits take to read.
///
/// ```
/// let parts: Vec<&str> = gitops_core::split_ascii("a/b//c/", b'/').collect();
/// assert_eq!(parts, "a/b//c/".split('/').collect::<Vec<_>>());
/// ```
pub fn split_ascii(text: &str, delim: u8) -> SplitAscii<'_> {
    debug_assert!(delim.is_ascii(), "split_ascii splits at an ASCII byte");
    SplitAscii { rest: Some(text), delim }
}

/// The iterator of [`split_ascii`].
#[derive(Clone, Debug)]
pub struct SplitAscii<'a> {
    rest: Option<&'a str>,
    delim: u8,
}

impl<'a> Iterator for SplitAscii<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == self.delim) {
            // An ASCII byte is a whole character: both sides are valid UTF-8.
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `f` of every item, in order, worked out on all CPUs in contiguous chunks once there are at
/// least `min` items per CPU (below that, on the calling thread).
pub fn par_map<T: Sync, R: Send>(items: &[T], min: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = cpus().min(items.len() / min.max(1)).max(1);
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let size = items.len().div_ceil(workers);
    let f = &f;
    let (first, rest) = items.split_at(size);
    std::thread::scope(|scope| {
        // The calling thread does the first chunk: one thread fewer to start.
        let handles: Vec<_> =
            rest.chunks(size).map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>())).collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        // A panic in `f` is the caller's panic, as on one thread.
        out.extend(handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        out
    })
}

/// A stable merge sort that cannot panic whatever `order` answers, for orders copied from Go
/// that are not total on every input (go-yaml's key order, Kustomize's legacy resource order):
/// the standard library's sorts may panic on such an order, where Go's sort only gives some
/// order. On a total order it gives what a stable sort gives.
pub fn stable_sort_by<T: Copy>(items: &mut [T], order: &dyn Fn(&T, &T) -> std::cmp::Ordering) {
    merge_sort(items, order, &mut Vec::with_capacity(items.len() / 2));
}

/// [`stable_sort_by`] with one buffer for every merge's copy of its left half.
fn merge_sort<T: Copy>(items: &mut [T], order: &dyn Fn(&T, &T) -> std::cmp::Ordering, left: &mut Vec<T>) {
    if items.len() < 2 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], order, left);
    merge_sort(&mut items[mid..], order, left);
    if order(&items[mid - 1], &items[mid]) != std::cmp::Ordering::Greater {
        return;
    }
    // Merged into place from a copy of the left half: the write position never passes the
    // right half's read position.
    left.clear();
    left.extend_from_slice(&items[..mid]);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < left.len() {
        if j < items.len() && order(&items[j], &left[i]) == std::cmp::Ordering::Less {
            items[k] = items[j];
            j += 1;
        } else {
            items[k] = left[i];
            i += 1;
        }
        k += 1;
    }
}

/// The CPUs this process may use, asked once: the standard library reads the cgroup files on
/// every call, which cost a tenth of a 500-application build when asked per directory.
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn par_map_keeps_order_on_any_number_of_threads() {
        let items: Vec<u64> = (0..1000).collect();
        let want: Vec<u64> = items.iter().map(|i| i * i).collect();
        for min in [1, 7, 128, 5000] {
            assert_eq!(super::par_map(&items, min, |i| i * i), want, "min {min}");
        }
        assert!(super::par_map(&[] as &[u64], 1, |i| *i).is_empty());
    }

    #[test]
    fn split_ascii_splits_as_str_split() {
        for text in ["", "/", "a", "a/", "/a", "a//b", "ä/ö//ü/", "line\nnext\n", "\n\n"] {
            for delim in [b'/', b'\n'] {
                let ours: Vec<&str> = super::split_ascii(text, delim).collect();
                assert_eq!(ours, text.split(char::from(delim)).collect::<Vec<_>>(), "{text:?} at {delim}");
            }
        }
    }
}
