//! Decoding a JSON value into a typed struct with the rules of Go's `encoding/json`, which
//! Kustomize uses for its kustomization and `configurations` files (after `sigs.k8s.io/yaml`
//! turned the YAML into JSON):
//!
//! - a `null` leaves the field at its zero value: an empty string, `false`, `0`, an empty
//!   list or map, an absent optional field, a struct of zero values;
//! - a field missing from an object is its zero value too (nothing is required);
//! - a field name matches case-insensitively when no field has exactly that name
//!   (`nameprefix` is `namePrefix`); of several keys for one field, the last in key order
//!   (Go writes an object's keys sorted) wins.
//!
//! Type mismatches stay errors (a number where a string is expected), as in Go.

use gitops_core::value::{Map, Value};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// A value to decode with Go's JSON rules: `T::deserialize(GoJson(value))`.
///
/// With `FILL` (the default), every field a struct's object lacks is decoded from `null`, its
/// Go zero value. Without it, a missing field is left to serde: `None`, the field's
/// `#[serde(default)]`, or an error for a field that has neither. [`decode`] tries that first
/// (a kustomization names a few of its forty fields), and decodes again with `FILL` when it
/// fails; it gives the same value where it succeeds, because every default of the structs
/// decoded so is the zero value.
pub(crate) struct GoJson<const FILL: bool = true>(pub Value);

type Error = serde_json::Error;

/// Decodes `value` with Go's rules: first leaving the fields the objects lack to serde, then,
/// when that fails, with every missing field filled with `null` (see [`GoJson`]). The path of
/// the field at fault is only tracked when that fails too. `again` gives the same value afresh
/// for the further tries. The error is the field's path (`.` for the top) and the message.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    again: impl FnOnce() -> Value,
) -> Result<T, (String, String)> {
    if let Ok(t) = T::deserialize(GoJson::<false>(value)) {
        return Ok(t);
    }
    let value = again();
    match T::deserialize(GoJson::<true>(value.clone())) {
        Ok(t) => Ok(t),
        Err(_) => serde_path_to_error::deserialize(GoJson::<true>(value))
            .map_err(|e| (e.path().to_string(), e.into_inner().to_string())),
    }
}

impl<const FILL: bool> GoJson<FILL> {
    fn any<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => visitor.visit_seq(Seq::<FILL>(items.into_iter())),
            Value::Object(map) => visitor.visit_map(Fields::<OwnedKeys, FILL>::owned(map)),
        }
    }

    fn structure<'de, V: Visitor<'de>>(
        map: Map<String, Value>,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields::<_, FILL> { iter: go_fields(map, fields, FILL).into_iter(), value: None })
    }
}

/// A key of an object being decoded: the file's own text, or a struct field's name.
enum Key {
    Owned(String),
    Field(&'static str),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Owned(s) => s,
            Key::Field(f) => f,
        }
    }
}

/// The struct field a key names: the field of exactly that name, or else the first whose
/// name matches without regard to case (Go's rule).
fn field_of(key: &str, fields: &'static [&'static str]) -> Option<usize> {
    fields.iter().position(|f| *f == key).or_else(|| {
        if key.is_ascii() {
            fields.iter().position(|f| f.eq_ignore_ascii_case(key))
        } else {
            // Non-ASCII letters can lower-case to ASCII ones (the Kelvin sign is `k`).
            let key = key.to_lowercase();
            fields.iter().position(|f| f.to_lowercase() == key)
        }
    })
}

/// The object's keys renamed to the struct's field names they match case-insensitively,
/// and with `fill` every field it lacks added as `null` (Go's zero value); in key order, as a
/// map of them would be. Of several keys for one field the last (in the object's key order)
/// wins.
fn go_fields(map: Map<String, Value>, fields: &'static [&'static str], fill: bool) -> Vec<(Key, Value)> {
    let mut out: Vec<(Key, Value)> = Vec::with_capacity(map.len() + if fill { fields.len() } else { 0 });
    let mut at: Vec<Option<usize>> = vec![None; fields.len()];
    for (key, value) in map {
        match field_of(&key, fields) {
            Some(f) => match at[f] {
                Some(i) => out[i].1 = value,
                None => {
                    at[f] = Some(out.len());
                    out.push((Key::Field(fields[f]), value));
                }
            },
            None => out.push((Key::Owned(key), value)),
        }
    }
    for (f, seen) in fields.iter().zip(&at) {
        if fill && seen.is_none() {
            out.push((Key::Field(f), Value::Null));
        }
    }
    // Keys are distinct: an unknown key matches no field name, not even by case.
    out.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    out
}

macro_rules! zero_on_null {
    ($($method:ident => $visit:ident($zero:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                Value::Null => visitor.$visit($zero),
                _ => self.any(visitor),
            }
        })*
    };
}

impl<'de, const FILL: bool> Deserializer<'de> for GoJson<FILL> {
    type Error = Error;

    zero_on_null! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_seq => visit_seq(Seq::<FILL>(Vec::new().into_iter())),
        deserialize_map => visit_map(Fields::<_, FILL> { iter: Vec::new().into_iter(), value: None }),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => GoJson::<FILL>::structure(Map::new(), fields, visitor),
            Value::Object(map) => GoJson::<FILL>::structure(map, fields, visitor),
            other => GoJson::<FILL>(other).any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

struct Seq<const FILL: bool>(std::vec::IntoIter<Value>);

impl<'de, const FILL: bool> SeqAccess<'de> for Seq<FILL> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(GoJson::<FILL>(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<I, const FILL: bool> {
    iter: I,
    value: Option<Value>,
}

type OwnedKeys = std::iter::Map<gitops_core::value::IntoIter, fn((String, Value)) -> (Key, Value)>;

impl<const FILL: bool> Fields<OwnedKeys, FILL> {
    fn owned(map: Map<String, Value>) -> Self {
        let owned: fn((String, Value)) -> (Key, Value) = |(k, v)| (Key::Owned(k), v);
        Fields { iter: map.into_iter().map(owned), value: None }
    }
}

impl<'de, I: Iterator<Item = (Key, Value)>, const FILL: bool> MapAccess<'de> for Fields<I, FILL> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                match k {
                    Key::Owned(k) => seed.deserialize(k.into_deserializer()).map(Some),
                    Key::Field(f) => seed.deserialize(f.into_deserializer()).map(Some),
                }
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let v = self.value.take().ok_or_else(|| de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(GoJson::<FILL>(v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use gitops_core::json;
    use serde::Deserialize;

    use super::decode as decode_value;
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        name: String,
        count: i64,
        on: bool,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Outer {
        name_prefix: Option<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        items: Vec<Inner>,
        inner: Option<Inner>,
        #[serde(default)]
        names: Vec<String>,
        extra: Option<Value>,
    }

    fn decode(v: Value) -> Result<Outer, Error> {
        Outer::deserialize(GoJson::<true>(v))
    }

    #[test]
    fn null_is_the_zero_value() {
        let o = decode(json!({
            "namePrefix": null,
            "labels": {"a": null},
            "items": [null, {"name": null, "count": null, "on": null}],
            "names": [null, "x"],
            "extra": {"k": null},
        }))
        .unwrap();
        assert_eq!(o.name_prefix, None);
        assert_eq!(o.labels["a"], "");
        assert_eq!(o.items, [Inner::default(), Inner::default()]);
        assert_eq!(o.names, ["", "x"]);
        assert_eq!(o.extra, Some(json!({"k": null})));
        assert_eq!(decode(json!({"labels": null, "items": null})).unwrap(), Outer::default());
    }

    #[test]
    fn missing_fields_are_zero_and_names_match_without_case() {
        let o = decode(json!({"NAMEPREFIX": "p-", "items": [{"Count": 2}], "Inner": {"NAME": "n"}})).unwrap();
        assert_eq!(o.name_prefix.as_deref(), Some("p-"));
        assert_eq!(o.items, [Inner { name: String::new(), count: 2, on: false }]);
        assert_eq!(o.inner.unwrap().name, "n");
        // Two spellings of one field: the last in key order wins, as Go reads sorted keys.
        assert_eq!(decode(json!({"namePrefix": "a-", "NamePrefix": "b-"})).unwrap().name_prefix.as_deref(), Some("a-"));
    }

    #[test]
    fn wrong_types_and_unknown_fields_stay_errors() {
        assert!(decode(json!({"namePrefix": 1})).is_err());
        assert!(decode(json!({"labels": {"a": true}})).is_err());
        assert!(decode(json!({"items": [{"count": "2"}]})).is_err());
        let e = decode(json!({"nope": 1})).unwrap_err().to_string();
        assert!(e.contains("unknown field `nope`"), "{e}");
    }

    #[test]
    fn without_filling_missing_fields_decoding_agrees_or_fails() {
        // Every default of these structs is the zero value: where the decoding that leaves
        // missing fields to serde succeeds, it gives what filling them with nulls gives.
        let cases = [
            json!({}),
            json!({"namePrefix": "p-", "labels": {"a": "b"}}),
            json!({"NAMEPREFIX": "p-", "items": [{"name": "n", "count": 1, "on": true}]}),
            json!({"inner": {"name": "n", "count": 2, "on": false}, "extra": null, "names": ["x"]}),
            json!({"items": null, "inner": null}),
        ];
        for v in cases {
            let sparse = Outer::deserialize(GoJson::<false>(v.clone())).unwrap();
            assert_eq!(sparse, decode(v.clone()).unwrap(), "{v}");
            assert_eq!(decode_value::<Outer>(v.clone(), || unreachable!("decoded once")).unwrap(), sparse);
        }
        // A struct field with no default that the object lacks fails without filling; decode
        // then fills it, once more from the text.
        let v = json!({"items": [{"Count": 2}], "Inner": {"NAME": "n"}});
        assert!(Outer::deserialize(GoJson::<false>(v.clone())).is_err());
        let mut again = 0;
        let o: Outer = decode_value(v.clone(), || {
            again += 1;
            v.clone()
        })
        .unwrap();
        assert_eq!((o.items[0].count, o.inner.unwrap().name.as_str(), again), (2, "n", 1));
    }

    #[test]
    fn decode_names_the_field_only_when_it_fails() {
        let ok: Outer = decode_value(json!({"nameprefix": "p-"}), || unreachable!("decoded once")).unwrap();
        assert_eq!(ok.name_prefix.as_deref(), Some("p-"));
        let bad = || json!({"items": [{"name": "a"}, {"count": "2"}]});
        let (path, msg) = decode_value::<Outer>(bad(), bad).unwrap_err();
        assert_eq!(path, "items[1].count");
        assert!(msg.contains("invalid type"), "{msg}");
    }
}
