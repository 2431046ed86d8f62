//! [`Map`]: a JSON object as one vector of entries sorted by key.
//!
//! Manifests are mostly small mappings (1 to 5 keys): a vector holds them in one allocation
//! the size of the entries, where a B-tree spends a 640-byte node on each. Keys are kept in
//! byte order and unique, so iteration, equality and serialization are those of
//! `serde_json::Map` without `preserve_order`.

use super::Value;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::{ops, slice, vec};

/// A JSON object: string keys in byte order, each once.
///
/// Its methods are those of `serde_json::Map<String, Value>`; the type parameters only keep
/// the spelling `Map<String, Value>` valid.
pub struct Map<K = String, V = Value> {
    entries: Vec<(K, V)>,
}

type Entries = Vec<(String, Value)>;

/// Up to this many entries, a key is looked up by a scan.
const SCAN: usize = 8;

/// Where `key` is among `entries` in any order: lengths and first bytes are compared before
/// whole keys.
#[inline]
fn scan(entries: &[(String, Value)], key: &str) -> Option<usize> {
    let kb = key.as_bytes();
    entries.iter().position(|(k, _)| {
        let k = k.as_bytes();
        k.len() == kb.len() && k.first() == kb.first() && k == kb
    })
}

impl Map<String, Value> {
    /// An empty map.
    #[inline]
    pub fn new() -> Self {
        Map { entries: Vec::new() }
    }

    /// An empty map with room for `capacity` entries.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Map { entries: Vec::with_capacity(capacity) }
    }

    /// A map of `entries` in any order; of a repeated key, the last entry is kept (as
    /// inserting them one by one would).
    pub fn from_entries(mut entries: Entries) -> Self {
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // A stable sort keeps repeated keys in their order; of a run, the kept (first)
            // entry takes the value of each later one as it goes, so the last value wins.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        Map { entries }
    }

    /// Where `key` is, or where it would go.
    #[inline]
    fn find(&self, key: &str) -> Result<usize, usize> {
        let entries = &self.entries;
        if entries.len() <= SCAN {
            return match self.position(key) {
                Some(i) => Ok(i),
                None => Err(entries.partition_point(|(k, _)| k.as_str() < key)),
            };
        }
        entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Where `key` is. Most maps hold a handful of keys: a scan that compares lengths and first
    /// bytes before whole keys does less than an ordered search's byte comparisons.
    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        let entries = &self.entries;
        if entries.len() > SCAN {
            return entries.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok();
        }
        scan(entries, key)
    }

    /// Removes every entry.
    #[inline]
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The value of `key`.
    #[inline]
    pub fn get<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<&Value> {
        self.position(key.as_ref()).map(|i| &self.entries[i].1)
    }

    /// Whether `key` is present.
    #[inline]
    pub fn contains_key<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> bool {
        self.position(key.as_ref()).is_some()
    }

    /// The value of `key`, mutable.
    #[inline]
    pub fn get_mut<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<&mut Value> {
        self.position(key.as_ref()).map(|i| &mut self.entries[i].1)
    }

    /// The stored key and value of `key`.
    #[inline]
    pub fn get_key_value<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<(&String, &Value)> {
        self.position(key.as_ref()).map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// Sets `k` to `v`, returning the value it replaces.
    #[inline]
    pub fn insert(&mut self, k: String, v: Value) -> Option<Value> {
        // Keys often come in order (a serialized map, a sorted build): append without a search.
        if self.entries.last().is_none_or(|(last, _)| *last < k) {
            self.entries.push((k, v));
            return None;
        }
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            Err(i) => {
                self.entries.insert(i, (k, v));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    #[inline]
    pub fn remove<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<Value> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning its key and value.
    pub fn remove_entry<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<(String, Value)> {
        self.position(key.as_ref()).map(|i| self.entries.remove(i))
    }

    /// Moves every entry of `other` into this map (its values win), leaving it empty.
    pub fn append(&mut self, other: &mut Self) {
        if self.entries.is_empty() {
            std::mem::swap(&mut self.entries, &mut other.entries);
            return;
        }
        for (k, v) in other.entries.drain(..) {
            self.insert(k, v);
        }
    }

    /// The entry of `key`, to read, insert or change in place.
    pub fn entry<S: Into<String>>(&mut self, key: S) -> Entry<'_> {
        let key = key.into();
        match self.find(&key) {
            Ok(index) => Entry::Occupied(OccupiedEntry { entries: &mut self.entries, index }),
            Err(index) => Entry::Vacant(VacantEntry { entries: &mut self.entries, index, key }),
        }
    }

    /// The number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in key order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The entries with mutable values, in key order.
    #[inline]
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.entries.iter_mut())
    }

    /// The keys, in order.
    #[inline]
    pub fn keys(&self) -> Keys<'_> {
        Keys(self.entries.iter())
    }

    /// The values, in key order.
    #[inline]
    pub fn values(&self) -> Values<'_> {
        Values(self.entries.iter())
    }

    /// The values, mutable, in key order.
    #[inline]
    pub fn values_mut(&mut self) -> ValuesMut<'_> {
        ValuesMut(self.entries.iter_mut())
    }

    /// The values, owned, in key order.
    pub fn into_values(self) -> IntoValues {
        IntoValues(self.entries.into_iter())
    }

    /// Keeps the entries for which `keep` returns true.
    pub fn retain<F: FnMut(&String, &mut Value) -> bool>(&mut self, mut keep: F) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The entries as a sorted slice.
    #[inline]
    pub fn as_slice(&self) -> &[(String, Value)] {
        &self.entries
    }

    /// Frees spare room of the entry vector.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl Default for Map<String, Value> {
    fn default() -> Self {
        Map::new()
    }
}

impl Clone for Map<String, Value> {
    fn clone(&self) -> Self {
        Map { entries: self.entries.clone() }
    }

    fn clone_from(&mut self, source: &Self) {
        self.entries.clone_from(&source.entries);
    }
}

impl PartialEq for Map<String, Value> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Map<String, Value> {}

impl Hash for Map<String, Value> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entries.hash(state);
    }
}

impl fmt::Debug for Map<String, Value> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<Q: ?Sized + AsRef<str>> ops::Index<&Q> for Map<String, Value> {
    type Output = Value;

    fn index(&self, key: &Q) -> &Value {
        self.get(key).expect("no entry found for key")
    }
}

impl<Q: ?Sized + AsRef<str>> ops::IndexMut<&Q> for Map<String, Value> {
    fn index_mut(&mut self, key: &Q) -> &mut Value {
        self.get_mut(key).expect("no entry found for key")
    }
}

impl Serialize for Map<String, Value> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Reads a JSON object's entries into a [`Map`] (shared by `Map` and `Value`).
pub(super) fn read_map<'de, A: MapAccess<'de>>(mut access: A) -> Result<Map<String, Value>, A::Error> {
    let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
    while let Some((k, v)) = access.next_entry::<String, Value>()? {
        entries.push((k, v));
    }
    Ok(Map::from_entries(entries))
}

impl<'de> de::Deserialize<'de> for Map<String, Value> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Map<String, Value>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Map::new())
            }

            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
                read_map(access)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

impl FromIterator<(String, Value)> for Map<String, Value> {
    fn from_iter<T: IntoIterator<Item = (String, Value)>>(iter: T) -> Self {
        Map::from_entries(iter.into_iter().collect())
    }
}

impl Extend<(String, Value)> for Map<String, Value> {
    fn extend<T: IntoIterator<Item = (String, Value)>>(&mut self, iter: T) {
        if self.entries.is_empty() {
            *self = iter.into_iter().collect();
            return;
        }
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Map<String, Value> {
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        // serde_json's map (without `preserve_order`) iterates in key order already.
        Map::from_entries(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
    }
}

impl From<Map<String, Value>> for serde_json::Map<String, serde_json::Value> {
    fn from(map: Map<String, Value>) -> Self {
        map.entries.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect()
    }
}

/// An entry of a [`Map`], from [`Map::entry`].
pub enum Entry<'a> {
    /// The key is absent.
    Vacant(VacantEntry<'a>),
    /// The key is present.
    Occupied(OccupiedEntry<'a>),
}

/// An absent key of a [`Map`].
pub struct VacantEntry<'a> {
    entries: &'a mut Entries,
    index: usize,
    key: String,
}

/// A present key of a [`Map`].
pub struct OccupiedEntry<'a> {
    entries: &'a mut Entries,
    index: usize,
}

impl<'a> Entry<'a> {
    /// The entry's key.
    pub fn key(&self) -> &String {
        match self {
            Entry::Vacant(e) => e.key(),
            Entry::Occupied(e) => e.key(),
        }
    }

    /// The value, inserting `default` when absent.
    pub fn or_insert(self, default: Value) -> &'a mut Value {
        self.or_insert_with(|| default)
    }

    /// The value, inserting `default()` when absent.
    pub fn or_insert_with<F: FnOnce() -> Value>(self, default: F) -> &'a mut Value {
        match self {
            Entry::Vacant(e) => e.insert(default()),
            Entry::Occupied(e) => e.into_mut(),
        }
    }

    /// The value, inserting `Null` when absent.
    pub fn or_default(self) -> &'a mut Value {
        self.or_insert(Value::Null)
    }

    /// Calls `f` on a present value.
    pub fn and_modify<F: FnOnce(&mut Value)>(self, f: F) -> Self {
        match self {
            Entry::Occupied(mut e) => {
                f(e.get_mut());
                Entry::Occupied(e)
            }
            vacant => vacant,
        }
    }
}

impl<'a> VacantEntry<'a> {
    /// The key.
    pub fn key(&self) -> &String {
        &self.key
    }

    /// Inserts `value` under the key.
    pub fn insert(self, value: Value) -> &'a mut Value {
        self.entries.insert(self.index, (self.key, value));
        &mut self.entries[self.index].1
    }
}

impl<'a> OccupiedEntry<'a> {
    /// The key.
    pub fn key(&self) -> &String {
        &self.entries[self.index].0
    }

    /// The value.
    pub fn get(&self) -> &Value {
        &self.entries[self.index].1
    }

    /// The value, mutable.
    pub fn get_mut(&mut self) -> &mut Value {
        &mut self.entries[self.index].1
    }

    /// The value, mutable for the map's borrow.
    pub fn into_mut(self) -> &'a mut Value {
        &mut self.entries[self.index].1
    }

    /// Replaces the value, returning the old one.
    pub fn insert(&mut self, value: Value) -> Value {
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry, returning its value.
    pub fn remove(self) -> Value {
        self.entries.remove(self.index).1
    }

    /// Removes the entry, returning its key and value.
    pub fn remove_entry(self) -> (String, Value) {
        self.entries.remove(self.index)
    }
}

macro_rules! iterator {
    ($(#[$doc:meta])* $name:ident<$($lt:lifetime)?>, $inner:ty, $item:ty, |$e:ident| $map:expr) => {
        $(#[$doc])*
        pub struct $name<$($lt)?>($inner);

        impl<$($lt)?> Iterator for $name<$($lt)?> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next().map(|$e| $map)
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }

        impl<$($lt)?> DoubleEndedIterator for $name<$($lt)?> {
            #[inline]
            fn next_back(&mut self) -> Option<Self::Item> {
                self.0.next_back().map(|$e| $map)
            }
        }

        impl<$($lt)?> ExactSizeIterator for $name<$($lt)?> {}
    };
}

iterator!(
    /// A [`Map`]'s entries, from [`Map::iter`].
    Iter<'a>, slice::Iter<'a, (String, Value)>, (&'a String, &'a Value), |e| (&e.0, &e.1)
);
iterator!(
    /// A [`Map`]'s entries with mutable values, from [`Map::iter_mut`].
    IterMut<'a>, slice::IterMut<'a, (String, Value)>, (&'a String, &'a mut Value), |e| (&e.0, &mut e.1)
);
iterator!(
    /// A [`Map`]'s owned entries.
    IntoIter<>, vec::IntoIter<(String, Value)>, (String, Value), |e| e
);
iterator!(
    /// A [`Map`]'s keys, from [`Map::keys`].
    Keys<'a>, slice::Iter<'a, (String, Value)>, &'a String, |e| &e.0
);
iterator!(
    /// A [`Map`]'s values, from [`Map::values`].
    Values<'a>, slice::Iter<'a, (String, Value)>, &'a Value, |e| &e.1
);
iterator!(
    /// A [`Map`]'s mutable values, from [`Map::values_mut`].
    ValuesMut<'a>, slice::IterMut<'a, (String, Value)>, &'a mut Value, |e| &mut e.1
);
iterator!(
    /// A [`Map`]'s owned values, from [`Map::into_values`].
    IntoValues<>, vec::IntoIter<(String, Value)>, Value, |e| e.1
);

impl<'a> IntoIterator for &'a Map<String, Value> {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map<String, Value> {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Map<String, Value> {
    type Item = (String, Value);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(self.entries.into_iter())
    }
}

impl Clone for Iter<'_> {
    fn clone(&self) -> Self {
        Iter(self.0.clone())
    }
}

impl Clone for Keys<'_> {
    fn clone(&self) -> Self {
        Keys(self.0.clone())
    }
}

impl Clone for Values<'_> {
    fn clone(&self) -> Self {
        Values(self.0.clone())
    }
}

/// Builds a [`Map`] from entries in any order: each key is inserted in constant time (a scan
/// while the map is small, a hash index past 16 entries) and the entries are
/// sorted once at the end, where inserting into the sorted map one by one moves half of it on
/// every key out of order (a reader of a 10,000-key mapping would move 2.8 GB).
#[derive(Default)]
pub struct MapBuilder {
    entries: Entries,
    index: Option<crate::hash::FxHashMap<String, usize>>,
}

/// Up to this many entries, a [`MapBuilder`] finds a key by a scan.
const BUILDER_SCAN: usize = 16;

impl MapBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => scan(&self.entries, key),
        }
    }

    /// Whether `key` was inserted.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `k` to `v`, returning the value it replaces.
    pub fn insert(&mut self, k: String, v: Value) -> Option<Value> {
        if let Some(i) = self.position(&k) {
            return Some(std::mem::replace(&mut self.entries[i].1, v));
        }
        if let Some(index) = &mut self.index {
            index.insert(k.clone(), self.entries.len());
        } else if self.entries.len() == BUILDER_SCAN {
            let mut index: crate::hash::FxHashMap<String, usize> = Default::default();
            index.extend(self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)));
            index.insert(k.clone(), self.entries.len());
            self.index = Some(index);
        }
        self.entries.push((k, v));
        None
    }

    /// The map, its entries sorted, with no spare room.
    pub fn finish(self) -> Map<String, Value> {
        let mut map = Map::from_entries(self.entries);
        map.shrink_to_fit();
        map
    }
}
