//! The accumulator's resources: each object with the history Kustomize keeps of it (earlier
//! ids, name prefixes and suffixes, origin, vars bound to it), and the checks on their ids.

use crate::error::Error;
use crate::nameref::PrevId;
use crate::tables;
use gitops_core::Object;

use super::kerr;

/// One resource in the accumulator, with the history Kustomize keeps of it.
#[derive(Clone, Debug)]
pub(super) struct Res {
    pub(super) obj: Object,
    /// Earlier ids, oldest first, recorded where Kustomize records them (namespace, name
    /// prefix and suffix, JSON patches, patches allowed to rename, the hash suffix), whether
    /// or not the id changed.
    pub(super) history: Vec<PrevId>,
    /// Name prefixes and suffixes applied, innermost first (for telling name references apart).
    pub(super) prefixes: Vec<String>,
    pub(super) suffixes: Vec<String>,
    /// The vars bound to it where they were declared; their values are read from it at the end.
    pub(super) var_refs: Vec<String>,
    pub(super) needs_hash: bool,
    /// Where it came from, for `buildMetadata: [originAnnotations]`.
    pub(super) origin: Option<Origin>,
    /// The built-in transformers that ran over it (the kustomization file that configured
    /// each, and its kind), for `buildMetadata: [transformerAnnotations]`.
    pub(super) transformations: Vec<Transformation>,
    /// Its nulls written with no value (`strategy:`), which a strategic merge patch drops.
    pub(super) bare_nulls: Vec<String>,
    /// Its fields that are one YAML node in Kustomize (see [`alias`](super::alias)).
    pub(super) aliases: Vec<super::alias::Alias>,
}

/// A built-in transformer that ran over a resource: the kustomization that configured it, its
/// kind, and for one configured in `transformers:` its own `name` and `namespace` lines.
pub(super) type Transformation = (std::sync::Arc<str>, &'static str, Option<std::sync::Arc<str>>);

/// A resource's origin: the file it was read from, or the kustomization and generator that
/// made it (paths inside the tree).
#[derive(Clone, Debug)]
pub(super) enum Origin {
    File(String),
    /// `name`: a built-in plugin configuration's own name (`generators:` entries).
    Generator {
        kustomization: String,
        kind: &'static str,
        name: Option<String>,
    },
}

/// `to` relative to directory `from` (both inside the tree), as Kustomize prints origins.
pub(super) fn relative(from: &str, to: &str) -> String {
    let a: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let b: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", a.len() - common).collect();
    parts.extend(&b[common..]);
    parts.join("/")
}

impl Res {
    pub(super) fn new(obj: Object) -> Self {
        Res {
            obj,
            history: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            var_refs: Vec::new(),
            needs_hash: false,
            origin: None,
            transformations: Vec::new(),
            bare_nulls: Vec::new(),
            aliases: Vec::new(),
        }
    }

    /// After a write Kustomize makes in place: fields that share a node follow the one that
    /// changed.
    pub(super) fn sync_aliases(&mut self) {
        if !self.aliases.is_empty() {
            super::alias::sync_all(&mut self.aliases, self.obj.as_value_mut());
        }
    }

    pub(super) fn rename(&mut self, namespace: &str, name: &str) {
        self.obj.set_name(name);
        self.obj.set_namespace(namespace);
    }

    /// Records the current id as an earlier one (Kustomize's `StorePreviousId`).
    pub(super) fn store_previous_id(&mut self) {
        self.history.push(PrevId::new(self.obj.kind(), self.obj.namespace(), self.obj.name()));
    }

    /// The original id (kind, namespace, name): the first earlier one, else the current.
    pub(super) fn original(&self) -> (&str, &str, &str) {
        match self.history.first() {
            Some(p) => (p.kind(), p.namespace(), p.name()),
            None => (self.obj.kind(), self.obj.namespace(), self.obj.name()),
        }
    }

    /// Kustomize's effective namespace of one of this resource's ids.
    pub(super) fn effective_namespace<'a>(&self, kind: &str, namespace: &'a str) -> Option<&'a str> {
        tables::effective_namespace(tables::is_cluster_scoped(self.obj.api_version(), kind), namespace)
    }

    pub(super) fn has_name(&self, name: &str) -> bool {
        self.obj.name() == name || self.history.iter().any(|p| p.name() == name)
    }

    pub(super) fn id(&self) -> String {
        let o = &self.obj;
        id_text(o.api_version(), o.kind(), o.namespace(), o.name())
    }
}

/// Kustomize's text of a resource id: `kind.version.group/name.namespace`, `[noNs]` for none.
pub(super) fn id_text(api_version: &str, kind: &str, namespace: &str, name: &str) -> String {
    let (group, version) = gitops_core::object::split_api_version(api_version);
    let ns = if namespace.is_empty() { "[noNs]" } else { namespace };
    let group = if group.is_empty() { "[noGrp]" } else { group };
    let version = if version.is_empty() { "[noVer]" } else { version };
    format!("{kind}.{version}.{group}/{name}.{ns}")
}

pub(super) fn add_resource(acc: &mut Vec<Res>, r: Res, _file: &str) -> Result<(), Error> {
    acc.push(r);
    Ok(())
}

/// The first two resources (in order) with one id, as Kustomize's `ResId.Equals` compares
/// ids: group and version, kind, name and effective namespace ("default" for none, none at all
/// for a cluster-scoped kind).
pub(super) fn same_id(acc: &[Res]) -> Option<(&Res, &Res)> {
    // Each id is four map lookups: worked out on all CPUs for a long list (a fleet's root
    // holds thousands), then compared in order.
    // The map is over indexes so that the ids borrow from `acc` (a closure over `&Res` could
    // not return borrows of it).
    let indexes: Vec<usize> = (0..acc.len()).collect();
    let keys = gitops_core::par_map(&indexes, 512, |&i| {
        let (r, o) = (&acc[i], &acc[i].obj);
        (o.api_version(), o.kind(), r.effective_namespace(o.kind(), o.namespace()), o.name())
    });
    if keys.len() <= 16 {
        // A few resources (most kustomizations): compared pairwise, with no map.
        let first = |i: usize| keys[..i].iter().position(|earlier| *earlier == keys[i]);
        return (0..keys.len()).find_map(|i| first(i).map(|f| (&acc[f], &acc[i])));
    }
    let mut seen = gitops_core::hash::SeededHashMap::with_capacity_and_hasher(keys.len(), Default::default());
    for (i, key) in keys.iter().enumerate() {
        if let Some(f) = seen.insert(key, i) {
            return Some((&acc[f], &acc[i]));
        }
    }
    None
}

/// Fails on two resources with one id ([`same_id`]), in one pass over the accumulator.
pub(super) fn check_duplicates(acc: &[Res], file: &str, field: &str) -> Result<(), Error> {
    match same_id(acc) {
        Some((_, r)) => {
            Err(kerr(file, field, format!("may not add resource with an already registered id: {}", r.id())))
        }
        None => Ok(()),
    }
}

/// Kustomize's namespace transformer fails when it leaves two resources with one id:
/// "namespace transformation produces ID conflict". Checked once every namespace is set, which
/// finds every pair Kustomize's check after each resource finds (the last of a pair to change
/// sees the other as it ends).
pub(super) fn check_namespace_conflicts(acc: &[Res], file: &str, field: &str) -> Result<(), Error> {
    match same_id(acc) {
        Some((a, b)) => {
            Err(kerr(file, field, format!("namespace transformation produces ID conflict: {} and {}", a.id(), b.id())))
        }
        None => Ok(()),
    }
}

/// Binds each var of a kustomization to the one resource of its accumulator that its
/// `objref` names, by the resource's current or any earlier id (Kustomize's `MergeVars`):
/// the group, version, kind and name must equal the reference's, and the namespace too when
/// the reference gives one or names a cluster-scoped kind. Several matches are an error;
/// none leaves the var unbound, which is reported when values are read at the end.
pub(super) fn bind_vars(file: &str, vars: &[crate::kustomization::Var], acc: &mut [Res]) -> Result<(), Error> {
    for v in vars {
        let r = &v.objref;
        let (group, version) = match &r.api_version {
            Some(api) => {
                let (g, ver) = gitops_core::object::split_api_version(api);
                (g.to_string(), ver.to_string())
            }
            None => (r.group.clone().unwrap_or_default(), r.version.clone().unwrap_or_default()),
        };
        let kind = r.kind.as_deref().unwrap_or("");
        let api = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
        let cluster_scoped = tables::is_cluster_scoped(&api, kind);
        let ns = r.namespace.as_deref().unwrap_or("");
        let want_ns = (!ns.is_empty() || cluster_scoped).then(|| tables::effective_namespace(cluster_scoped, ns));
        let matched: Vec<usize> = acc
            .iter()
            .enumerate()
            .filter(|(_, res)| res.obj.group() == group && res.obj.version() == version)
            .filter(|(_, res)| {
                crate::nameref::ids(&res.obj, &res.history).any(|(k, n, name)| {
                    k == kind && name == r.name && want_ns.is_none_or(|w| w == res.effective_namespace(k, n))
                })
            })
            .map(|(i, _)| i)
            .collect();
        match matched.as_slice() {
            [i] => acc[*i].var_refs.push(v.name.clone()),
            [] => {}
            many => {
                return Err(kerr(
                    file,
                    "vars",
                    format!(
                        "found {} resId matches for var {} (unable to disambiguate)",
                        many.len(),
                        crate::vars::describe(v, true)
                    ),
                ));
            }
        }
    }
    Ok(())
}
