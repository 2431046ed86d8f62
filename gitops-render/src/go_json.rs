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

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A value to decode with Go's JSON rules: `T::deserialize(GoJson(value))`.
pub(crate) struct GoJson(pub Value);

type Error = serde_json::Error;

impl GoJson {
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
            Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            Value::Object(map) => visitor.visit_map(Fields { iter: map.into_iter(), value: None }),
        }
    }
}

/// The object's keys renamed to the struct's field names they match case-insensitively,
/// and every field it lacks added as `null` (Go's zero value).
fn go_fields(map: Map<String, Value>, fields: &'static [&'static str]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let name = if fields.contains(&key.as_str()) {
            key
        } else {
            match fields.iter().find(|f| f.to_lowercase() == key.to_lowercase()) {
                Some(f) => (*f).to_string(),
                None => key,
            }
        };
        out.insert(name, value);
    }
    for f in fields {
        out.entry(*f).or_insert(Value::Null);
    }
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

impl<'de> Deserializer<'de> for GoJson {
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
        deserialize_seq => visit_seq(Seq(Vec::new().into_iter())),
        deserialize_map => visit_map(Fields { iter: Map::new().into_iter(), value: None }),
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
            Value::Null => GoJson(Value::Object(go_fields(Map::new(), fields))).any(visitor),
            Value::Object(map) => GoJson(Value::Object(go_fields(map, fields))).any(visitor),
            other => GoJson(other).any(visitor),
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

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(GoJson(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let v = self.value.take().ok_or_else(|| de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(GoJson(v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

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
        Outer::deserialize(GoJson(v))
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
}
