//! Name references: after the build, fields that name an object by an earlier name are
//! rewritten to its final name (prefix, suffix, namespace, hash, patch renames).
//!
//! This follows Kustomize's name reference transformer step by step, because which object a
//! name resolves to decides what reaches a cluster:
//! - the rules are its built-in `nameReference` configuration (`namerefs.txt`) merged with
//!   the build's `configurations` and CRD markers;
//! - a referrer is selected by its original kind; it may refer to cluster-scoped objects,
//!   objects of its own namespace and, for a RoleBinding, ServiceAccounts of its subjects'
//!   namespaces (a cluster-scoped referrer to anything);
//! - a candidate must once have had the name the field holds, under a kind the rule (and a
//!   `roleRef`'s `apiGroup`/`kind`) selects; among several, those in the referrer's
//!   namespace, then those with the referrer's name prefixes and suffixes, win; several
//!   different ones left are an error ("found multiple possible referrals");
//! - a field that is a map (`subjects`, a webhook's `clientConfig.service`) takes the name
//!   and the namespace, its candidates chosen by the map's `namespace` first.

use std::collections::HashMap;
use std::sync::OnceLock;

use gitops_core::Object;
use gitops_core::value::Value;

use crate::fields::{SpecPath, walk};
use crate::kustomization::{FieldSpec, gvk_selects};
use crate::kustomize::NameReferenceSpec;
use crate::tables;

/// An earlier id of a resource, as Kustomize's build annotations keep it: its kind,
/// namespace and name in one string (a build keeps a few for every resource until its end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrevId {
    id: Box<str>,
    kind_end: u32,
    namespace_end: u32,
}

impl PrevId {
    pub(crate) fn new(kind: &str, namespace: &str, name: &str) -> Self {
        let id = [kind, namespace, name].concat();
        // Parts past 4 GiB are cut short (no object of a build is near that).
        let end = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PrevId { id: id.into(), kind_end: end(kind.len()), namespace_end: end(kind.len() + namespace.len()) }
    }

    pub(crate) fn kind(&self) -> &str {
        self.id.get(..self.kind_end as usize).unwrap_or("")
    }

    pub(crate) fn namespace(&self) -> &str {
        self.id.get(self.kind_end as usize..self.namespace_end as usize).unwrap_or("")
    }

    pub(crate) fn name(&self) -> &str {
        self.id.get(self.namespace_end as usize..).unwrap_or("")
    }
}

/// Every id of an object, as Kustomize's `MakeResIds`: the current one, then the earlier ones,
/// as (kind, namespace, name); an earlier id has the current group and version.
pub(crate) fn ids<'a>(obj: &'a Object, prev: &'a [PrevId]) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> {
    std::iter::once((obj.kind(), obj.namespace(), obj.name()))
        .chain(prev.iter().map(|p| (p.kind(), p.namespace(), p.name())))
}

/// A view of one resource for the fix-up.
pub(crate) struct Entry<'a> {
    pub obj: &'a mut Object,
    /// Earlier ids, oldest first.
    pub history: &'a [PrevId],
    /// The name prefixes and suffixes applied to it, innermost first.
    pub prefixes: &'a [String],
    pub suffixes: &'a [String],
}

/// Kustomize's default name reference rules, read once from `namerefs.txt`.
pub(crate) fn default_rules() -> &'static [NameReferenceSpec] {
    static RULES: OnceLock<Vec<NameReferenceSpec>> = OnceLock::new();
    RULES.get_or_init(|| parse_rules(include_str!("namerefs.txt")))
}

fn parse_gv(text: &str) -> (Option<String>, Option<String>) {
    let (g, v) = text.rsplit_once('/').unwrap_or((text, "-"));
    let opt = |s: &str| (s != "-").then(|| s.to_string());
    (opt(g), opt(v))
}

fn parse_rules(text: &str) -> Vec<NameReferenceSpec> {
    let mut out: Vec<NameReferenceSpec> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (gv, kind) = (words.next().unwrap_or("-/-"), words.next().unwrap_or(""));
        let (group, version) = parse_gv(gv);
        if line.starts_with(' ') {
            let path = words.next().unwrap_or("").to_string();
            let rule = out.last_mut().expect("namerefs.txt: a referrer before any target");
            rule.field_specs.push(FieldSpec { group, version, kind: Some(kind.to_string()), path, create: false });
        } else {
            out.push(NameReferenceSpec { kind: kind.to_string(), group, version, field_specs: Vec::new() });
        }
    }
    out
}

/// A group/version/kind selector: an unset or empty part selects anything.
struct Selector<'a> {
    group: Option<&'a str>,
    version: Option<&'a str>,
    kind: Option<&'a str>,
}

impl Selector<'_> {
    fn selects(&self, group: &str, version: &str, kind: &str) -> bool {
        gvk_selects((self.group, self.version, self.kind), (group, version, kind))
    }
}

/// What the fix-up needs to know of a resource that may be referred to. Its id is copied
/// (the fix-up changes the objects) into one string: a root's fix-up holds one candidate per
/// resource of the build at once.
struct Candidate<'a> {
    /// The kind, name, namespace, group and version, one after another, each ending at
    /// `ends[i]`.
    id: Box<str>,
    ends: [u32; 5],
    cluster_scoped: bool,
    /// Earlier ids with Kustomize's effective namespace ("default" for none; `None` for a
    /// cluster-scoped kind).
    prev: Vec<(&'a str, Option<&'a str>, &'a str)>,
    prefixes: &'a [String],
    suffixes: &'a [String],
}

impl<'a> Candidate<'a> {
    /// `parts`: the kind, name, namespace, group and version.
    fn new(
        parts: [&str; 5],
        cluster_scoped: bool,
        prev: Vec<(&'a str, Option<&'a str>, &'a str)>,
        e: &Entry<'a>,
    ) -> Self {
        let mut id = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 5];
        for (end, part) in ends.iter_mut().zip(parts) {
            id.push_str(part);
            // An id longer than 4 GiB is cut short (no object of a build is near that).
            *end = u32::try_from(id.len()).unwrap_or(u32::MAX);
        }
        Candidate { id: id.into_boxed_str(), ends, cluster_scoped, prev, prefixes: e.prefixes, suffixes: e.suffixes }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.id.get(start..self.ends[i] as usize).unwrap_or("")
    }

    fn kind(&self) -> &str {
        self.part(0)
    }

    fn name(&self) -> &str {
        self.part(1)
    }

    fn namespace(&self) -> &str {
        self.part(2)
    }

    fn group(&self) -> &str {
        self.part(3)
    }

    fn version(&self) -> &str {
        self.part(4)
    }

    fn effective_namespace(&self) -> Option<&str> {
        effective(self.cluster_scoped, self.namespace())
    }

    /// The namespace of its original id.
    fn original_namespace(&self) -> Option<&str> {
        match self.prev.first() {
            Some(&(_, ns, _)) => ns,
            None => self.effective_namespace(),
        }
    }

    fn prev_selected_by(&self, s: &Selector<'_>) -> bool {
        self.prev.iter().any(|(kind, _, _)| s.selects(self.group(), self.version(), kind))
    }
}

use crate::tables::effective_namespace as effective;

/// Whether the shorter list is the end of the longer (both empty counts; one empty does not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn prefixes_suffixes_equal(c: &Candidate<'_>, prefixes: &[String], suffixes: &[String], allow_empty: bool) -> bool {
    let part = |x: &[String], y: &[String]| (allow_empty && (x.is_empty() || y.is_empty())) || same_ending(x, y);
    part(c.prefixes, prefixes) && part(c.suffixes, suffixes)
}

/// The referrer's side of one rule applied to one field.
struct Referrer<'a> {
    cluster_scoped: bool,
    namespace: &'a str,
    prefixes: &'a [String],
    suffixes: &'a [String],
    /// The `roleRef`'s group and kind, when the field is a `roleRef/name`.
    role_ref: Option<(String, String)>,
}

impl Referrer<'_> {
    /// Kustomize's `selectReferral`: `Ok(None)` when no candidate is left.
    fn select<'c, 'd>(
        &self,
        old: &str,
        pool: impl Iterator<Item = &'c Candidate<'d>>,
        target: &Selector<'_>,
        with_namespace: bool,
    ) -> Result<Option<&'c Candidate<'d>>, Vec<&'c Candidate<'d>>> {
        let own_ns = effective(self.cluster_scoped, self.namespace);
        let mut found: Vec<&Candidate<'d>> = pool
            .filter(|c| c.prev.iter().any(|&(_, _, n)| n == old))
            .filter(|c| c.prev_selected_by(target))
            .filter(|c| {
                self.role_ref
                    .as_ref()
                    .is_none_or(|(g, k)| c.prev_selected_by(&Selector { group: Some(g), version: None, kind: Some(k) }))
            })
            .filter(|c| {
                self.cluster_scoped
                    || c.cluster_scoped
                    || c.kind() == "ServiceAccount"
                    || c.effective_namespace() == own_ns
            })
            .collect();
        if found.len() > 1 {
            found.retain(|c| prefixes_suffixes_equal(c, self.prefixes, self.suffixes, true));
            if found.len() > 1 {
                found.retain(|c| prefixes_suffixes_equal(c, self.prefixes, self.suffixes, false));
            }
        }
        let Some(first) = found.first().copied() else { return Ok(None) };
        let identical =
            found.iter().all(|c| c.name() == first.name() && (!with_namespace || c.namespace() == first.namespace()));
        if identical { Ok(Some(first)) } else { Err(found) }
    }
}

fn id_text(c: &Candidate<'_>) -> String {
    let ns = if c.namespace().is_empty() { "[noNs]" } else { c.namespace() };
    let group = if c.group().is_empty() { "[noGrp]" } else { c.group() };
    format!("{}.{}.{}/{}.{}", c.kind(), c.version(), group, c.name(), ns)
}

/// Rewrites name references in every entry. The error names the referrer, the field and the
/// candidates when a name could mean several objects.
pub(crate) fn fix<'a>(entries: &mut [Entry<'a>], rules: &[NameReferenceSpec]) -> Result<(), String> {
    if entries.iter().all(|e| e.history.is_empty()) {
        return Ok(());
    }
    // Each entry's candidate is its own map lookups and copies: on all CPUs for a long list.
    // Earlier ids, prefixes and suffixes are borrowed (the fix-up changes only the objects).
    let candidates: Vec<Candidate<'a>> = gitops_core::par_map(entries, 256, |e| {
        let api = e.obj.api_version();
        let history: &'a [PrevId] = e.history;
        let cluster_scoped = tables::is_cluster_scoped(api, e.obj.kind());
        let prev = history
            .iter()
            .map(|p| {
                let scoped = tables::is_cluster_scoped(api, p.kind());
                (p.kind(), effective(scoped, p.namespace()), p.name())
            })
            .collect();
        let parts = [e.obj.kind(), e.obj.name(), e.obj.namespace(), e.obj.group(), e.obj.version()];
        Candidate::new(parts, cluster_scoped, prev, e)
    });
    // Candidates by an earlier name, in resource order: a field's value is looked up.
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        for &(_, _, n) in &c.prev {
            let list = by_name.entry(n).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    let specs: Vec<(usize, &FieldSpec, SpecPath<'_>)> = rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.field_specs.iter().map(move |f| (i, f)))
        .map(|(i, f)| (i, f, crate::fields::spec_path(&f.path)))
        .collect();
    // The specs by the kind they select (most name one), and those for any kind: an entry
    // checks only the specs its kind could match, not all of them (Kustomize's defaults
    // are over two hundred).
    let mut by_kind: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut any_kind = Vec::new();
    for (i, (_, f, _)) in specs.iter().enumerate() {
        match f.kind.as_deref().filter(|k| !k.is_empty()) {
            Some(kind) => by_kind.entry(kind).or_default().push(i),
            None => any_kind.push(i),
        }
    }
    let ctx = Context {
        candidates: &candidates,
        by_name: &by_name,
        specs: &specs,
        by_kind: &by_kind,
        any_kind: &any_kind,
        rules,
    };
    // Each entry's references are rewritten from the shared candidates alone, so entries are
    // done in parallel, in contiguous chunks; the first error in entry order is reported.
    let workers = gitops_core::cpus().min(entries.len() / 256).max(1);
    if workers == 1 {
        return entries.iter_mut().enumerate().try_for_each(|(i, e)| fix_entry(i, e, &ctx));
    }
    let size = entries.len().div_ceil(workers);
    let (first, rest) = entries.split_at_mut(size);
    std::thread::scope(|scope| {
        let ctx = &ctx;
        let handles: Vec<_> = rest
            .chunks_mut(size)
            .enumerate()
            .map(|(c, chunk)| {
                scope.spawn(move || {
                    chunk.iter_mut().enumerate().try_for_each(|(j, e)| fix_entry((c + 1) * size + j, e, ctx))
                })
            })
            .collect();
        // The calling thread does the first chunk; its error comes first in entry order.
        let mine = first.iter_mut().enumerate().try_for_each(|(i, e)| fix_entry(i, e, ctx));
        let theirs = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a name reference worker panicked".into())))
            .collect::<Vec<_>>();
        mine?;
        theirs.into_iter().collect()
    })
}

/// What every entry's rewrite reads: the candidates, indexed by earlier name, and the rules'
/// field specs with their paths split.
struct Context<'a> {
    candidates: &'a [Candidate<'a>],
    by_name: &'a HashMap<&'a str, Vec<usize>>,
    specs: &'a [(usize, &'a FieldSpec, SpecPath<'a>)],
    /// Indexes into `specs`, in order, of the specs that name each kind.
    by_kind: &'a HashMap<&'a str, Vec<usize>>,
    /// Indexes into `specs`, in order, of the specs for any kind.
    any_kind: &'a [usize],
    rules: &'a [NameReferenceSpec],
}

/// Rewrites the name references of entry `index`.
fn fix_entry(index: usize, e: &mut Entry<'_>, ctx: &Context<'_>) -> Result<(), String> {
    let Context { candidates, by_name, specs, by_kind, any_kind, rules } = *ctx;
    let me = &candidates[index];
    // Rules select a referrer by its original kind.
    let org_kind = e.history.first().map_or(me.kind(), |p| p.kind());
    // The specs of this kind and those of any kind, back in the specs' order.
    let mut maybe: Vec<usize> = by_kind.get(org_kind).map_or(&[][..], Vec::as_slice).to_vec();
    maybe.extend_from_slice(any_kind);
    maybe.sort_unstable();
    let applicable: Vec<&(usize, &FieldSpec, SpecPath<'_>)> = maybe
        .into_iter()
        .map(|i| &specs[i])
        .filter(|(_, f, _)| {
            Selector { group: f.group.as_deref(), version: f.version.as_deref(), kind: f.kind.as_deref() }.selects(
                me.group(),
                me.version(),
                org_kind,
            )
        })
        .collect();
    if applicable.is_empty() {
        return Ok(());
    }
    // The namespaces of a RoleBinding's ServiceAccount subjects, whose accounts it may name.
    let subject_namespaces: Vec<String> = if me.kind() == "RoleBinding" {
        e.obj
            .get("/subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
            .filter_map(|s| s.get("namespace").and_then(Value::as_str).map(String::from))
            .collect()
    } else {
        Vec::new()
    };
    let own_ns = me.effective_namespace();
    let reachable = |c: &Candidate<'_>| {
        me.cluster_scoped
            || c.cluster_scoped
            || c.effective_namespace() == own_ns
            || subject_namespaces.iter().any(|n| n == c.namespace())
    };
    let role_ref = e.obj.get("/roleRef").and_then(|r| {
        let g = r.get("apiGroup")?.as_str()?;
        let k = r.get("kind")?.as_str()?;
        Some((g.to_string(), k.to_string()))
    });
    let v = e.obj.as_value_mut();
    for (rule_index, spec, segs) in applicable {
        let rule = &rules[*rule_index];
        let target =
            Selector { group: rule.group.as_deref(), version: rule.version.as_deref(), kind: Some(&rule.kind) };
        let referrer = Referrer {
            cluster_scoped: me.cluster_scoped,
            namespace: me.namespace(),
            prefixes: me.prefixes,
            suffixes: me.suffixes,
            role_ref: if spec.path.ends_with("roleRef/name") { role_ref.clone() } else { None },
        };
        let mut failure: Option<String> = None;
        walk(v, segs, false, &mut |slot| {
            if failure.is_some() {
                return;
            }
            let pool =
                |name: &str| by_name.get(name).into_iter().flatten().map(|&i| &candidates[i]).filter(|c| reachable(c));
            let result = match slot {
                Value::String(old) => referrer.select(old, pool(old), &target, false).map(|found| {
                    if let Some(c) = found {
                        *old = c.name().to_string();
                    }
                }),
                Value::Object(map) => {
                    let Some(old) = map.get("name").and_then(Value::as_str).map(String::from) else {
                        failure = Some("path config error; no 'name' field in node".into());
                        return;
                    };
                    let ns = map.get("namespace").map(|n| n.as_str().unwrap_or("").to_string());
                    let in_ns: Vec<&Candidate<'_>> = match &ns {
                        None => pool(&old).collect(),
                        Some(ns) => {
                            let by_original: Vec<&Candidate<'_>> =
                                pool(&old).filter(|c| c.original_namespace() == Some(ns.as_str())).collect();
                            let any_original = candidates
                                .iter()
                                .filter(|c| reachable(c))
                                .any(|c| c.original_namespace() == Some(ns.as_str()));
                            if any_original {
                                by_original
                            } else {
                                pool(&old).filter(|c| c.effective_namespace() == Some(ns.as_str())).collect()
                            }
                        }
                    };
                    referrer.select(&old, in_ns.into_iter(), &target, true).map(|found| {
                        let Some(c) = found else { return };
                        if c.name() == old && c.namespace().is_empty() {
                            return;
                        }
                        map.insert("name".into(), Value::String(c.name().to_string()));
                        if !c.namespace().is_empty() {
                            map.insert("namespace".into(), Value::String(c.namespace().to_string()));
                        }
                    })
                }
                _ => Ok(()),
            };
            if let Err(found) = result {
                let ids: Vec<String> = found.iter().map(|c| id_text(c)).collect();
                failure = Some(format!("found multiple possible referrals: {}", ids.join(", ")));
            }
        });
        if let Some(message) = failure {
            return Err(format!("updating name reference in '{}' field of '{}': {message}", spec.path, id_text(me)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_parse() {
        let rules = default_rules();
        let cm = rules.iter().find(|r| r.kind == "ConfigMap").unwrap();
        assert_eq!(cm.version.as_deref(), Some("v1"));
        assert!(cm.field_specs.iter().any(|f| f.kind.as_deref() == Some("CronJob")
            && f.path == "spec/jobTemplate/spec/template/spec/volumes/configMap/name"));
        let ic = rules.iter().find(|r| r.kind == "IngressClass").unwrap();
        assert_eq!(ic.group.as_deref(), Some("networking.k8s.io/v1"));
        let sa = rules.iter().find(|r| r.kind == "ServiceAccount").unwrap();
        assert!(sa.field_specs.iter().any(|f| f.path == "subjects" && f.kind.as_deref() == Some("RoleBinding")));
        assert_eq!(
            *crate::fields::spec_path("metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
            ["metadata", "annotations", "nginx.ingress.kubernetes.io/auth-secret"]
        );
    }

    #[test]
    fn an_earlier_id_gives_back_its_parts() {
        for (kind, namespace, name) in [("Deployment", "prod", "web"), ("ClusterRole", "", "r"), ("", "", "")] {
            let p = PrevId::new(kind, namespace, name);
            assert_eq!((p.kind(), p.namespace(), p.name()), (kind, namespace, name));
        }
    }

    #[test]
    fn same_ending_lists() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&s(&["a", "b", "c"]), &s(&["b", "c"])));
        assert!(!same_ending(&s(&["a", "b", "c"]), &s(&["a", "b"])));
        assert!(!same_ending(&s(&[]), &s(&["a"])));
        assert!(same_ending(&s(&[]), &s(&[])));
    }
}
