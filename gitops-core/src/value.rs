//! [`Value`]: JSON data as the toolkit holds manifests, with objects as compact [`Map`]s.
//!
//! It has the variants and methods of `serde_json::Value` (so code reads the same), and
//! converts to and from it for libraries that speak `serde_json` (kube-rs, HTTP bodies). It
//! serializes and deserializes with serde like any value, so `serde_json::from_str`,
//! `to_string` and `to_vec` read and write it directly. What differs is the object: a sorted
//! vector of entries instead of a B-tree, a fraction of the memory for the 1 to 5 keys most
//! of a manifest's mappings hold, and cheaper to clone and drop.
//!
//! ```
//! use gitops_core::value::Value;
//!
//! let mut v: Value = serde_json::from_str(r#"{"spec": {"replicas": 2}, "kind": "Deployment"}"#)?;
//! assert_eq!(v["spec"]["replicas"], 2);
//! v["metadata"]["name"] = "api".into();
//! assert_eq!(v.pointer("/metadata/name").and_then(Value::as_str), Some("api"));
//! assert_eq!(v.to_string(), r#"{"kind":"Deployment","metadata":{"name":"api"},"spec":{"replicas":2}}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

mod deserializer;
mod map;

pub use map::{
    Entry, IntoIter, IntoValues, Iter, IterMut, Keys, Map, MapBuilder, OccupiedEntry, VacantEntry, Values, ValuesMut,
};
pub use serde_json::Number;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::ops;
use std::str::FromStr;

/// Any JSON value.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<Value>),
    /// A mapping.
    Object(Map<String, Value>),
}

static NULL: Value = Value::Null;

impl Value {
    /// The element `index` names: a key of an object, a position of an array.
    #[inline]
    pub fn get<I: Index>(&self, index: I) -> Option<&Value> {
        index.index_into(self)
    }

    /// As [`Value::get`], mutable.
    #[inline]
    pub fn get_mut<I: Index>(&mut self, index: I) -> Option<&mut Value> {
        index.index_into_mut(self)
    }

    /// Whether this is an object.
    #[inline]
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The object, if this is one.
    #[inline]
    pub fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The object, mutable, if this is one.
    #[inline]
    pub fn as_object_mut(&mut self) -> Option<&mut Map<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Whether this is an array.
    #[inline]
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// The array, if this is one.
    #[inline]
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The array, mutable, if this is one.
    #[inline]
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is a string.
    #[inline]
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// The string, if this is one.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a number.
    #[inline]
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// The number, if this is one.
    #[inline]
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Whether this is a number that fits an `i64`.
    pub fn is_i64(&self) -> bool {
        matches!(self, Value::Number(n) if n.is_i64())
    }

    /// Whether this is a number that fits a `u64`.
    pub fn is_u64(&self) -> bool {
        matches!(self, Value::Number(n) if n.is_u64())
    }

    /// Whether this is a floating-point number.
    pub fn is_f64(&self) -> bool {
        matches!(self, Value::Number(n) if n.is_f64())
    }

    /// The number as an `i64`, if it is an integer that fits.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    /// The number as a `u64`, if it is an integer that fits.
    #[inline]
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    /// The number as an `f64`.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    /// Whether this is a boolean.
    #[inline]
    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    /// The boolean, if this is one.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is `null`.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `Some(())` if this is `null`.
    pub fn as_null(&self) -> Option<()> {
        self.is_null().then_some(())
    }

    /// The value at a JSON pointer (RFC 6901), such as `/spec/template/0`; a token without
    /// escapes is looked up in place, with no allocation.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        pointer_tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(m) => m.get(&*token),
            Value::Array(a) => a.get(array_index(&token)?),
            _ => None,
        })
    }

    /// As [`Value::pointer`], mutable.
    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Value> {
        pointer_tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(m) => m.get_mut(&*token),
            Value::Array(a) => a.get_mut(array_index(&token)?),
            _ => None,
        })
    }

    /// The value, leaving `null` in its place.
    #[inline]
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }
}

/// The tokens of a JSON pointer with `~1` and `~0` decoded (borrowed when a token has no
/// escape); `None` when the pointer is neither empty nor starts with `/`.
pub(crate) fn pointer_tokens(pointer: &str) -> Option<impl Iterator<Item = Cow<'_, str>>> {
    let rest = if pointer.is_empty() { None } else { Some(pointer.strip_prefix('/')?) };
    Some(rest.into_iter().flat_map(|r| crate::split_ascii(r, b'/')).map(|token| {
        if token.contains('~') { Cow::Owned(token.replace("~1", "/").replace("~0", "~")) } else { Cow::Borrowed(token) }
    }))
}

/// An array position in a pointer: decimal digits, without a sign or leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// What indexes a [`Value`]: a string key of an object, a `usize` position of an array.
pub trait Index: private::Sealed {
    #[doc(hidden)]
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value>;
    #[doc(hidden)]
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value>;
    #[doc(hidden)]
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value;
}

mod private {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl<T: ?Sized + Sealed> Sealed for &T {}
}

impl Index for usize {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_array()?.get(*self)
    }

    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_array_mut()?.get_mut(*self)
    }

    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        match v {
            Value::Array(a) => {
                let len = a.len();
                a.get_mut(*self).unwrap_or_else(|| panic!("cannot access index {self} of JSON array of length {len}"))
            }
            other => panic!("cannot access index {self} of JSON {}", kind_name(other)),
        }
    }
}

impl Index for str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_object()?.get(self)
    }

    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_object_mut()?.get_mut(self)
    }

    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        if v.is_null() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m.entry(self).or_insert(Value::Null),
            other => panic!("cannot access key {self:?} in JSON {}", kind_name(other)),
        }
    }
}

impl Index for String {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }

    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        self.as_str().index_into_mut(v)
    }

    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        self.as_str().index_or_insert(v)
    }
}

impl<T: ?Sized + Index> Index for &T {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        (**self).index_into(v)
    }

    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        (**self).index_into_mut(v)
    }

    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        (**self).index_or_insert(v)
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<I: Index> ops::Index<I> for Value {
    type Output = Value;

    /// The element, or `null` when absent (as `serde_json::Value` indexes).
    fn index(&self, index: I) -> &Value {
        index.index_into(self).unwrap_or(&NULL)
    }
}

impl<I: Index> ops::IndexMut<I> for Value {
    /// The element; a missing key of an object (or of `null`, which becomes an object) is
    /// inserted as `null`. Panics on an array position out of range or a scalar.
    fn index_mut(&mut self, index: I) -> &mut Value {
        index.index_or_insert(self)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Number(n) => fmt::Debug::fmt(n, f),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::Array(a) => {
                f.write_str("Array ")?;
                f.debug_list().entries(a).finish()
            }
            Value::Object(m) => {
                f.write_str("Object ")?;
                fmt::Debug::fmt(m, f)
            }
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON; `{:#}` pretty-prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() { serde_json::to_string_pretty(self) } else { serde_json::to_string(self) };
        f.write_str(&text.map_err(|_| fmt::Error)?)
    }
}

impl FromStr for Value {
    type Err = serde_json::Error;

    fn from_str(s: &str) -> Result<Value, serde_json::Error> {
        serde_json::from_str(s)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(serializer),
        }
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any valid JSON value")
            }

            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }

            fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }

            fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }

            fn visit_i128<E: de::Error>(self, n: i128) -> Result<Value, E> {
                match i64::try_from(n) {
                    Ok(n) => Ok(Value::Number(n.into())),
                    Err(_) => {
                        u64::try_from(n).map(|n| Value::Number(n.into())).map_err(|_| E::custom("number out of range"))
                    }
                }
            }

            fn visit_u128<E: de::Error>(self, n: u128) -> Result<Value, E> {
                u64::try_from(n).map(|n| Value::Number(n.into())).map_err(|_| E::custom("number out of range"))
            }

            fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
                Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
            }

            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(s.to_owned()))
            }

            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(s))
            }

            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                de::Deserialize::deserialize(d)
            }

            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::Array(out))
            }

            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
                map::read_map(access).map(Value::Object)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// `serde_json`'s value of this one.
impl From<Value> for serde_json::Value {
    fn from(v: Value) -> serde_json::Value {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n),
            Value::String(s) => serde_json::Value::String(s),
            Value::Array(a) => serde_json::Value::Array(a.into_iter().map(Into::into).collect()),
            Value::Object(m) => serde_json::Value::Object(m.into()),
        }
    }
}

/// This toolkit's value of a `serde_json` one.
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Into::into).collect()),
            serde_json::Value::Object(m) => Value::Object(m.into()),
        }
    }
}

/// Any serializable value as a [`Value`], as `serde_json::to_value` makes one.
pub fn to_value<T: Serialize>(value: T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(value).map(Value::from)
}

/// A [`Value`] read as any deserializable type, as `serde_json::from_value` reads one.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(value)
}

macro_rules! from_number {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(n.into())
            }
        }
    )*};
}
from_number!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl From<f32> for Value {
    fn from(n: f32) -> Value {
        Number::from_f64(f64::from(n)).map_or(Value::Null, Value::Number)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::String(s.clone())
    }
}

impl From<Cow<'_, str>> for Value {
    fn from(s: Cow<'_, str>) -> Value {
        Value::String(s.into_owned())
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<Map<String, Value>> for Value {
    fn from(m: Map<String, Value>) -> Value {
        Value::Object(m)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>, const N: usize> From<[T; N]> for Value {
    fn from(v: [T; N]) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Clone + Into<Value>> From<&[T]> for Value {
    fn from(v: &[T]) -> Value {
        Value::Array(v.iter().cloned().map(Into::into).collect())
    }
}

impl From<()> for Value {
    fn from((): ()) -> Value {
        Value::Null
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Value {
        Value::Array(iter.into_iter().map(Into::into).collect())
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Value {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Value {
        Value::Object(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<Value> for str {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<Value> for &str {
    fn eq(&self, other: &Value) -> bool {
        other == *self
    }
}

impl PartialEq<Value> for String {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<Value> for bool {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<bool> for &Value {
    fn eq(&self, other: &bool) -> bool {
        **self == *other
    }
}

macro_rules! eq_number {
    ($as:ident $wide:ty: $($t:ty)*) => {$(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                self.$as().is_some_and(|n| n == (*other as $wide))
            }
        }

        impl PartialEq<Value> for $t {
            fn eq(&self, other: &Value) -> bool {
                other == self
            }
        }

        impl PartialEq<$t> for &Value {
            fn eq(&self, other: &$t) -> bool {
                **self == *other
            }
        }

        impl PartialEq<$t> for &mut Value {
            fn eq(&self, other: &$t) -> bool {
                **self == *other
            }
        }
    )*};
}
eq_number!(as_i64 i64: i8 i16 i32 i64 isize);
eq_number!(as_u64 u64: u8 u16 u32 u64 usize);
eq_number!(as_f64 f64: f32 f64);

/// Builds a [`Value`] from JSON-like syntax, as `serde_json::json!` does (interpolated
/// expressions are serialized).
///
/// ```
/// let name = "api";
/// let v = gitops_core::json!({"metadata": {"name": name}, "spec": {"replicas": 2}});
/// assert_eq!(v["metadata"]["name"], "api");
/// ```
#[macro_export]
macro_rules! json {
    ($($json:tt)+) => {
        $crate::value::Value::from(::serde_json::json!($($json)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn keys_sorted_and_unique_like_serde_json() {
        let text = r#"{"b": 1, "a": {"z": [1, {"y": null, "x": true}], "c": "s"}, "b": 2, "aa": 1.5}"#;
        let ours = parse(text);
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&theirs).unwrap());
        assert_eq!(ours["b"], 2, "the last of a repeated key wins");
        assert_eq!(Value::from(theirs.clone()), ours);
        assert_eq!(serde_json::Value::from(ours), theirs);
    }

    #[test]
    fn insert_remove_entry_keep_order() {
        let mut m = Map::new();
        for k in ["m", "c", "x", "a", "c", "q", "b", "z", "d"] {
            m.insert(k.to_string(), Value::from(k));
        }
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "m", "q", "x", "z"]);
        assert_eq!(m.remove("c"), Some(Value::from("c")));
        assert_eq!(m.remove("c"), None);
        *m.entry("c").or_insert(Value::Null) = 3.into();
        m.entry("a").and_modify(|v| *v = Value::Bool(true)).or_insert(Value::Null);
        assert_eq!(m["a"], true);
        assert_eq!(m["c"], 3);
        match m.entry("zz") {
            Entry::Vacant(e) => assert_eq!(e.key(), "zz"),
            Entry::Occupied(_) => panic!("zz is absent"),
        }
        m.retain(|k, _| k.as_str() > "m");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["q", "x", "z"]);
        let collected: Map =
            [("b", 1), ("a", 2), ("b", 3)].into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        assert_eq!(
            collected.iter().map(|(k, v)| (k.as_str(), v.as_i64().unwrap())).collect::<Vec<_>>(),
            [("a", 2), ("b", 3)]
        );
    }

    #[test]
    fn index_pointer_take_like_serde_json() {
        let mut v = Value::Null;
        v["a"]["b"] = json!([1, {"c/d": "e", "t~": 0}]);
        assert_eq!(v.pointer("/a/b/1/c~1d"), Some(&Value::from("e")));
        assert_eq!(v.pointer("/a/b/1/t~0"), Some(&Value::from(0)));
        assert_eq!(v.pointer("/a/b/01"), None);
        assert_eq!(v.pointer("a"), None);
        assert_eq!(v["missing"]["deeper"], Value::Null);
        assert_eq!(v["a"]["b"][0], 1);
        *v.pointer_mut("/a/b/0").unwrap() = "x".into();
        assert_eq!(v["a"]["b"][0].take(), "x");
        assert!(v["a"]["b"][0].is_null());
        assert_eq!(format!("{v}"), r#"{"a":{"b":[null,{"c/d":"e","t~":0}]}}"#);
        assert_eq!(format!("{:?}", Value::from("s")), r#"String("s")"#);
        assert_eq!(format!("{v:#}"), serde_json::to_string_pretty(&serde_json::Value::from(v.clone())).unwrap());
    }

    #[test]
    fn get_finds_what_serde_json_finds_in_small_and_large_mappings() {
        // Keys of equal length that differ in one byte, a prefix, the empty key, and more
        // fields than the scan takes (the ordered search then).
        let keys = ["kind", "kine", "kin", "", "name", "namespace", "metadata", "spec", "data", "a", "b", "c"];
        for n in 0..=keys.len() {
            let m: Map<String, Value> = keys[..n].iter().enumerate().map(|(i, k)| (k.to_string(), json!(i))).collect();
            let v = Value::Object(m.clone());
            let theirs = serde_json::Value::from(v.clone());
            for k in keys.iter().chain(&["kinds", "z", "Kind"]) {
                assert_eq!(v.get(k), m.get(*k), "{n} fields, key {k:?}");
                assert_eq!(
                    v.get(k).cloned().map(serde_json::Value::from).as_ref(),
                    theirs.get(k),
                    "{n} fields, key {k:?}"
                );
            }
        }
        assert_eq!(json!(["kind"]).get("kind"), None);
        assert_eq!(json!("kind").get("kind"), None);
    }

    #[test]
    fn pointer_finds_what_serde_json_finds() {
        let v = json!({
            "a": {"b/c": [1, {"~d": 2}], "": 3, "0": 4},
            "list": [[5], 6],
        });
        let theirs = serde_json::Value::from(v.clone());
        for p in [
            "",
            "/",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/~0d",
            "/a/",
            "/a/0",
            "/list/0/0",
            "/list/1",
            "/list/2",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/list/",
            "a",
            "/missing/x",
            "/a/b~1c/1/~0d/deeper",
            "/a/b~01c",
        ] {
            assert_eq!(v.pointer(p).cloned().map(serde_json::Value::from).as_ref(), theirs.pointer(p), "{p:?}");
            let mut m = v.clone();
            assert_eq!(m.pointer_mut(p).map(|x| x.clone()), v.pointer(p).cloned(), "{p:?}");
        }
    }

    #[test]
    fn numbers_and_conversions() {
        let v = parse(r#"[1, -2, 1.5, 18446744073709551615, 1e400]"#.replace("1e400", "0.1").as_str());
        assert_eq!(v[0], 1u8);
        assert_eq!(v[1], -2i32);
        assert_eq!(v[2], 1.5);
        assert_eq!(v[3].as_u64(), Some(u64::MAX));
        assert_eq!(Value::from(f64::NAN), Value::Null);
        let back: Vec<f64> = from_value(json!([1.0, 2.5])).unwrap();
        assert_eq!(back, [1.0, 2.5]);
        assert_eq!(to_value(&back).unwrap(), json!([1.0, 2.5]));
    }
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    #[test]
    fn map_builder_takes_keys_in_any_order_the_last_value_winning() {
        let mut b = MapBuilder::new();
        // Past the scan limit, so that the hash index answers too.
        for i in (0..100).rev() {
            assert_eq!(b.insert(format!("k{i:03}"), Value::from(i)), None);
        }
        assert!(b.contains_key("k050"));
        assert_eq!(b.insert("k050".into(), Value::from("again")), Some(Value::from(50)));
        assert_eq!(b.insert("k000".into(), Value::Null), Some(Value::from(0)));
        let m = b.finish();
        assert_eq!(m.len(), 100);
        let keys: Vec<&String> = m.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert_eq!(m["k050"], "again");
        assert!(m["k000"].is_null());
        assert_eq!(m["k099"], 99);
    }
}
