//! Whole sets: desired objects paired with live ones by identity, what to create, prune or
//! update, and a cache of in-sync pairs for repeated passes.

use super::*;

/// Desired set against live set.
#[derive(Clone, Debug, Default)]
pub struct SetDiff {
    /// Desired objects with no live twin.
    pub create: Vec<ObjectKey>,
    /// Objects that differ, with their diffs.
    pub update: Vec<ObjectDiff>,
    /// Live objects no longer desired (candidates: the caller decides what it owns).
    pub prune: Vec<ObjectKey>,
    /// Indices in the desired set of the objects in sync (the caller has the objects; no key
    /// is built for them).
    pub unchanged: Vec<usize>,
}

fn str_at(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

/// Diffs a desired set against a live set, matching objects by [`ObjectKey`].
pub fn diff_set(desired: &[Object], live: &[Object], options: &DiffOptions, schema: &Schema) -> SetDiff {
    let mut nodes = KindNodes::new(schema);
    pair_and_diff(desired, live, |d, id, l| diff_identified(d, id, l, options, nodes.node(id)))
}

/// Pairs desired with live objects by identity, diffs each pair with `verdict`, lists creates
/// and the live objects no desired object matched (prune candidates). When `live[i]` is the
/// twin of `desired[i]` (live read object by object for the desired set, the usual way to get
/// it), pairs are taken by position and no index is built; the index over all live objects is
/// built at the first object out of place.
fn pair_and_diff(
    desired: &[Object],
    live: &[Object],
    mut verdict: impl FnMut(&Object, &Identity<'_>, &Object) -> Option<ObjectDiff>,
) -> SetDiff {
    type Index<'a> = FxHashMap<(&'a str, &'a str, &'a str, &'a str), usize>;
    let mut index: Option<Index<'_>> = None;
    let mut matched = vec![false; live.len()];
    let mut out = SetDiff::default();
    for (i, d) in desired.iter().enumerate() {
        let id = Identity::of(d);
        let twin = match live.get(i) {
            Some(l) if Identity::of(l).same_pairing(&id) => Some(i),
            // The first of equal identities, as by position.
            _ => index
                .get_or_insert_with(|| {
                    live.iter().enumerate().rev().map(|(i, o)| (Identity::of(o).pairing(), i)).collect()
                })
                .get(&id.pairing())
                .copied(),
        };
        match twin {
            None => out.create.push(id.key()),
            Some(twin) => {
                matched[twin] = true;
                match verdict(d, &id, &live[twin]) {
                    Some(od) => out.update.push(od),
                    None => out.unchanged.push(i),
                }
            }
        }
    }
    out.prune = live.iter().zip(&matched).filter(|(_, m)| !**m).map(|(o, _)| o.key()).collect();
    out.prune.sort();
    out
}

/// Verdicts of earlier diffs, reused while neither side changed: an in-sync verdict is kept
/// under the hash of the desired object's content, the live object's `uid` and
/// `resourceVersion` (any change to the live object changes its resourceVersion) and the diff
/// options. A reconciler's steady passes re-diff the same pairs; with a cache they skip the
/// walk. Entries not used by the latest call are dropped, so the cache stays the size of the
/// set.
#[derive(Debug, Default)]
pub struct DiffCache {
    in_sync: FxHashSet<u64>,
}

impl DiffCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many in-sync verdicts it holds.
    pub fn len(&self) -> usize {
        self.in_sync.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.in_sync.is_empty()
    }
}

fn hash_value(v: &Value, h: &mut FxHasher) {
    use std::hash::Hasher;
    match v {
        Value::Null => h.add(1),
        Value::Bool(b) => h.add(2 + u64::from(*b)),
        Value::Number(n) => {
            h.add(4);
            match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => h.add(i as u64),
                (None, Some(u)) => h.add(u ^ 0x8000_0000_0000_0000),
                _ => h.add(n.as_f64().unwrap_or(0.0).to_bits() ^ 0x4000_0000_0000_0000),
            }
        }
        Value::String(s) => {
            h.add(5);
            h.write(s.as_bytes());
        }
        Value::Array(a) => {
            h.add(6 ^ (a.len() as u64) << 8);
            for x in a {
                hash_value(x, h);
            }
        }
        Value::Object(m) => {
            h.add(7 ^ (m.len() as u64) << 8);
            for (k, x) in m {
                h.write(k.as_bytes());
                hash_value(x, h);
            }
        }
    }
}

/// [`diff_set`] with a [`DiffCache`]: pairs whose desired content, live resourceVersion and
/// options match an earlier in-sync verdict are not walked again.
pub fn diff_set_cached(
    desired: &[Object],
    live: &[Object],
    options: &DiffOptions,
    schema: &Schema,
    cache: &mut DiffCache,
) -> SetDiff {
    use std::hash::Hasher;
    let mut nodes = KindNodes::new(schema);
    let mut salt = FxHasher::default();
    salt.write(options.field_manager.as_bytes());
    salt.add(u64::from(options.compare_status));
    for r in &options.ignore {
        salt.write(format!("{r:?}").as_bytes());
    }
    let mut used = FxHashSet::with_capacity_and_hasher(cache.in_sync.len(), Default::default());
    let out = pair_and_diff(desired, live, |d, id, l| {
        let meta = l.as_value().get("metadata");
        let (uid, rv) = (str_at(meta.and_then(|m| m.get("uid"))), str_at(meta.and_then(|m| m.get("resourceVersion"))));
        let key = (!rv.is_empty()).then(|| {
            let mut h = salt;
            hash_value(d.as_value(), &mut h);
            h.write(uid.as_bytes());
            h.write(rv.as_bytes());
            h.finish()
        });
        if let Some(k) = key
            && cache.in_sync.contains(&k)
        {
            used.insert(k);
            return None;
        }
        let od = diff_identified(d, id, l, options, nodes.node(id));
        if let (None, Some(k)) = (&od, key) {
            used.insert(k);
        }
        od
    });
    cache.in_sync = used;
    out
}
