//! Kustomize's strategic merge of keyed lists, as kyaml's walker does it (`merge2` with
//! `ListIncreaseDirection: prepend`), which differs from the API server's:
//!
//! - items are matched on every key of `x-kubernetes-list-map-keys` (a container port by
//!   `containerPort` and `protocol`), a missing key filled in from another item that agrees
//!   on the others;
//! - a patch item that matches no target item by all keys is added, and one whose keys match
//!   nothing at all removes every target item that has those keys;
//! - target items with the same keys collapse to the last of them;
//! - every keyed list of the target is put through this, also where the patch does not
//!   reach.
//!
//! The functions follow kyaml's `setAssociativeSequenceElements`, `appendListNode`,
//! `ElementSetter` and `ElementMatcher` step by step, so that the corner cases agree with
//! `kubectl kustomize`.

use std::borrow::Cow;

use crate::value::{Map, Value};

/// The text kyaml compares a key field by: a scalar's text, "" for a null or a collection.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    crate::object::scalar_text(v).unwrap_or_default()
}

/// kyaml's `ElementValuesList` for one item: each key's text, "" when missing or empty.
fn key_values(item: &Value, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| match item.get(k) {
            None | Some(Value::Null) => String::new(),
            Some(Value::Object(m)) if m.is_empty() => String::new(),
            Some(Value::Array(a)) if a.is_empty() => String::new(),
            Some(v) => text(v).into_owned(),
        })
        .collect()
}

/// The key value sets of both lists, the patch's first, without repeats (`elementValues`).
pub(super) fn values_list(patch: &[Value], target: &[Value], keys: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for item in patch.iter().chain(target) {
        let v = key_values(item, keys);
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// kyaml's `match`: two value sets agree when no position has two different non-empty
/// values and at least one position is equal; the result fills each blank from the other.
fn agree(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            out.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    common.then_some(out)
}

/// kyaml's `mergeValues` (for several keys), in its order.
pub(super) fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        for j in 0..list.len() {
            if let Some(v) = agree(&list[i], &list[j]) {
                list[i] = v.clone();
                list[j] = v;
            }
        }
    }
}

/// kyaml's `validateKeys`: the keys some value set gives a value, and `values` at them; all
/// of them when none has any.
pub(super) fn validate_keys(list: &[Vec<String>], values: &[String], keys: &[String]) -> (Vec<String>, Vec<String>) {
    let valid: Vec<bool> =
        (0..keys.len()).map(|i| list.iter().any(|vs| vs.get(i).is_some_and(|v| !v.is_empty()))).collect();
    if !valid.iter().any(|v| *v) {
        return (keys.to_vec(), values.to_vec());
    }
    let valid_keys = keys.iter().zip(&valid).filter(|(_, v)| **v).map(|(k, _)| k.clone()).collect();
    let valid_values =
        values.iter().enumerate().filter(|(i, v)| !v.is_empty() || valid[*i]).map(|(_, v)| v.clone()).collect();
    (valid_keys, valid_values)
}

/// kyaml's `ElementList` then `ElementMatcher`: the index of the first mapping item whose
/// every (valid) key field is present with exactly that text.
pub(super) fn find(list: &[Value], keys: &[String], values: &[String]) -> Option<usize> {
    let (keys, values) = validate_keys(&[values.to_vec()], values, keys);
    if keys.len() != values.len() {
        return None;
    }
    list.iter().position(|item| {
        let Some(m) = item.as_object() else { return false };
        keys.iter().zip(&values).all(|(k, v)| m.get(k).is_some_and(|f| text(f) == v.as_str()))
    })
}

/// kyaml's `FieldMatcher` with a string value: the field is present, and has this text
/// unless the text wanted is empty.
fn field_matches(m: &Map<String, Value>, key: &str, value: &str) -> bool {
    m.get(key).is_some_and(|f| value.is_empty() || text(f) == value)
}

/// kyaml's `ElementSetter`: null and empty-map items are dropped; items matching the keys
/// are replaced by `element` (or dropped without one); items that do not match are kept
/// only when values are given; `element` is appended when nothing matched. A matching item
/// equal to the element stays as it is; elsewhere the element is moved to its last place and
/// copied only to the places before (there is seldom more than one).
pub(super) fn set_element(list: &mut Vec<Value>, element: Option<Cow<'_, Value>>, keys: &[String], values: &[String]) {
    let mapping_setter = keys.first().is_some_and(|k| !k.is_empty());
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut found_any = false;
    // Where `element` goes in `out`: a null holds each place until the end.
    let mut places = Vec::new();
    for item in std::mem::take(list) {
        if item.is_null() || item.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        let Some(m) = item.as_object() else {
            if mapping_setter {
                out.push(item);
            }
            continue;
        };
        // Go keeps the last key's match when values run out before the keys do.
        let mut matched = false;
        for (j, key) in keys.iter().enumerate() {
            if let Some(v) = values.get(j) {
                matched = field_matches(m, key, v);
            }
            if !matched {
                break;
            }
        }
        if !matched {
            if !values.is_empty() {
                out.push(item);
            }
            continue;
        }
        found_any = true;
        match &element {
            Some(e) if item == **e => out.push(item),
            Some(_) => {
                places.push(out.len());
                out.push(Value::Null);
            }
            None => {}
        }
    }
    *list = out;
    match element {
        Some(e) if !e.is_null() && !found_any => list.push(e.into_owned()),
        Some(e) => {
            if let Some((&last, earlier)) = places.split_last() {
                for &i in earlier {
                    list[i] = e.as_ref().clone();
                }
                list[last] = e.into_owned();
            }
        }
        None => {}
    }
}

/// kyaml's `appendListNode(dst, src, keys)`: each item of `src` in turn replaces the items of
/// `dst` with its keys (with several keys, they are removed and it is appended).
pub(super) fn append_list(dst: &mut Vec<Value>, src: &[Value], keys: &[String]) {
    for item in src {
        let mut values = Vec::new();
        for key in keys {
            match item.get(key) {
                // Go appends the item for each key it lacks, and goes on to the next key.
                None => dst.push(item.clone()),
                Some(v) => values.push(text(v).into_owned()),
            }
        }
        if keys.len() > 1 {
            set_element(dst, None, keys, &values);
        }
        set_element(dst, Some(Cow::Borrowed(item)), keys, &values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn value_sets_agree_and_fill_blanks_as_kyaml_does() {
        let mut list = vec![s(&["443", ""]), s(&["53", "UDP"]), s(&["80", ""]), s(&["443", "TCP"]), s(&["53", "TCP"])];
        merge_values(&mut list);
        assert_eq!(list[0], s(&["443", "TCP"]));
        assert_eq!(list[1], s(&["53", "UDP"]));
        assert_eq!(list[2], s(&["80", ""]));
        assert_eq!(list[4], s(&["53", "TCP"]));
    }

    #[test]
    fn setter_replaces_matches_and_appends_otherwise() {
        let keys = s(&["name"]);
        let mut list = vec![json!({"name": "a", "x": 1}), json!({}), json!({"name": "b"})];
        set_element(&mut list, Some(Cow::Owned(json!({"name": "a", "x": 2}))), &keys, &s(&["a"]));
        assert_eq!(list, vec![json!({"name": "a", "x": 2}), json!({"name": "b"})]);
        set_element(&mut list, Some(Cow::Owned(json!({"name": "c"}))), &keys, &s(&["c"]));
        assert_eq!(list.len(), 3);
        // Every match takes the element, a borrowed one as an owned one; equal items stay.
        let mut twice = vec![json!({"name": "a"}), json!({"name": "b", "y": 1}), json!({"name": "a", "x": 2})];
        let element = json!({"name": "a", "x": 2});
        set_element(&mut twice, Some(Cow::Borrowed(&element)), &keys, &s(&["a"]));
        assert_eq!(twice, vec![element.clone(), json!({"name": "b", "y": 1}), element.clone()]);
        set_element(&mut twice, Some(Cow::Borrowed(&json!({"name": "d"}))), &keys, &s(&["d"]));
        assert_eq!(twice.len(), 4);
        assert_eq!(twice[3], json!({"name": "d"}));
        // No values: nothing matches and nothing is kept.
        set_element(&mut list, None, &keys, &[]);
        assert!(list.is_empty());
    }

    #[test]
    fn find_needs_every_valid_key() {
        let list = vec![json!({"containerPort": 443, "protocol": "TCP"}), json!({"containerPort": 80})];
        let keys = s(&["containerPort", "protocol"]);
        assert_eq!(find(&list, &keys, &s(&["443", "TCP"])), Some(0));
        assert_eq!(find(&list, &keys, &s(&["443", "UDP"])), None);
        // A blank value drops its key.
        assert_eq!(find(&list, &keys, &s(&["80", ""])), Some(1));
    }
}
