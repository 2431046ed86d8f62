#[test]
fn maps_iterate_in_key_order() {
    // The diff reads fields in key order (merge-style cursors, early exits). serde_json's
    // `preserve_order` feature, if anything in the build turned it on, would break that:
    // this test says so first.
    let v: Value = serde_json::from_str(r#"{"spec": 1, "metadata": 2, "apiVersion": 3, "kind": 4}"#).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
    let o = Object::from_value(crate::json!({"metadata": {"uid": "u", "namespace": "n", "name": "a"},
        "kind": "ConfigMap", "apiVersion": "v1"}))
    .unwrap();
    let id = Identity::of(&o);
    assert_eq!((id.group, id.version, id.kind, id.namespace, id.name), ("", "v1", "ConfigMap", "n", "a"));
}

#[test]
fn the_cache_reuses_in_sync_verdicts_only_while_nothing_changed() {
    let schema = Schema::builtin();
    let opts = DiffOptions::default();
    let mk = |name: &str, color: &str, rv: &str| {
        Object::from_value(crate::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "n", "uid": format!("u-{name}"), "resourceVersion": rv},
            "data": {"color": color}}))
        .unwrap()
    };
    let desired = vec![mk("a", "blue", ""), mk("b", "red", "")];
    let mut live = vec![mk("a", "blue", "1"), mk("b", "red", "1")];
    let mut cache = DiffCache::new();
    let first = diff_set_cached(&desired, &live, &opts, schema, &mut cache);
    assert_eq!((first.unchanged.len(), cache.len()), (2, 2));
    let again = diff_set_cached(&desired, &live, &opts, schema, &mut cache);
    assert_eq!(again.unchanged.len(), 2);
    // Live changed (a new resourceVersion): walked again, drift found.
    live[0] = mk("a", "green", "2");
    let changed = diff_set_cached(&desired, &live, &opts, schema, &mut cache);
    assert_eq!(changed.update.len(), 1);
    assert_eq!(cache.len(), 1, "the stale verdict is gone");
    // Desired changed: walked again.
    let desired2 = vec![mk("a", "green", ""), mk("b", "pink", "")];
    let d2 = diff_set_cached(&desired2, &live, &opts, schema, &mut cache);
    assert_eq!((d2.unchanged.len(), d2.update.len()), (1, 1));
    assert_eq!(diff_set(&desired2, &live, &opts, schema).update.len(), 1);
}

#[test]
fn recycled_stacks_keep_their_memory() {
    let steps: Vec<Step<'static>> = Vec::with_capacity(32);
    let at = steps.as_ptr() as usize;
    let v = Value::Null;
    let mut mine: Vec<Step<'_>> = recycle(steps);
    assert_eq!((mine.capacity(), mine.as_ptr() as usize), (32, at), "no new allocation");
    mine.push(Step::SetItem(&v));
    let back: Vec<Step<'static>> = recycle(mine);
    assert!(back.is_empty() && back.capacity() == 32);
}

#[test]
fn metadata_keys_told_apart_by_length() {
    let schema = Schema::builtin();
    let meta = schema.node("apps", "v1", "Deployment").unwrap().field("metadata").unwrap();
    let crate::schema::Shape::Struct { fields, .. } = meta.shape() else { panic!("ObjectMeta is a struct") };
    assert!(fields.len() >= 15, "{:?}", fields.keys());
    for name in fields.keys() {
        let skipped = SERVER_METADATA.contains(&name.as_str()) || name == "name" || name == "namespace";
        assert_eq!(skipped_metadata_key(name), skipped, "{name}");
    }
}

#[test]
fn flat_field_set_keys() {
    let k = parse_flat_key(r#"{"containerPort":8080,"protocol":"TCP"}"#).unwrap();
    assert_eq!(&*k, &[("containerPort", Lit::Num("8080")), ("protocol", Lit::Str("TCP"))]);
    let items = crate::json!([{"containerPort": 80}, {"containerPort": 8080}]);
    assert_eq!(find_keyed_flat(Some(&items), &k), Some(&items[1]), "protocol defaults to TCP");
    assert!(parse_flat_key(r#"{"name":"a\"b"}"#).is_none(), "escapes go to the full parser");
    assert!(parse_flat_key(r#"{"a":{"b":1}}"#).is_none());
    assert_eq!(parse_flat_key("{}").map(|k| k.len()), Some(0));
    assert_eq!(
        &*parse_flat_key(r#"{"a":1,"b":"x","c":true,"d":null}"#).unwrap(),
        &[("a", Lit::Num("1")), ("b", Lit::Str("x")), ("c", Lit::Word("true")), ("d", Lit::Word("null"))]
    );
    assert!(parse_flat_key(r#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#).is_none(), "more than four: the full parser");
    assert!(parse_flat_key("not json").is_none());
}

use super::*;

/// The first way removals were found, kept as the oracle of the lazy one: walk the
/// manager's whole `fieldsV1` beside desired and report every owned field desired lacks
/// and live has, unless another manager owns it. Returns field-set paths.
fn full_walk_removals<'f>(
    owned: &'f Value,
    d: &Value,
    live_root: &Value,
    others: &[&Value],
    trail: &mut Vec<&'f str>,
    out: &mut Vec<Vec<PathElement>>,
) {
    let Some(om) = owned.as_object() else { return };
    for (k, child) in om {
        if let Some(f) = k.strip_prefix("f:") {
            if trail.is_empty() && (f == "status" || f == "apiVersion" || f == "kind") {
                continue;
            }
            if trail.len() == 1
                && trail[0] == "f:metadata"
                && (SERVER_METADATA.contains(&f) || f == "name" || f == "namespace")
            {
                continue;
            }
        } else if !k.starts_with("k:") && !k.starts_with("v:") {
            continue;
        }
        trail.push(k.as_str());
        match fields_v1_step(d, k) {
            None => unshared(child, live_root, others, trail, out),
            Some(dv) => full_walk_removals(child, dv, live_root, others, trail, out),
        }
        trail.pop();
    }
}

/// The oracle's removal of an owned field desired lacks: the field when live has it and no
/// other manager owns anything there, else the fields below it that only the manager owns.
fn unshared<'f>(
    owned: &'f Value,
    live_root: &Value,
    others: &[&Value],
    trail: &mut Vec<&'f str>,
    out: &mut Vec<Vec<PathElement>>,
) {
    if trail.iter().try_fold(live_root, |v, k| fields_v1_step(v, k)).is_none() {
        return;
    }
    if !others.iter().any(|o| trail.iter().try_fold(*o, |v, k| v.get(*k)).is_some()) {
        out.push(trail.iter().filter_map(|k| PathElement::parse(k).ok()).collect());
        return;
    }
    for (k, child) in owned.as_object().into_iter().flatten() {
        if k.starts_with("f:") || k.starts_with("k:") || k.starts_with("v:") {
            trail.push(k.as_str());
            unshared(child, live_root, others, trail, out);
            trail.pop();
        }
    }
}

fn removals_both_ways(desired: &Object, live: &Object, schema: &Schema) -> (Vec<String>, Vec<String>) {
    let show = |mut paths: Vec<Vec<PathElement>>| {
        paths.sort();
        paths.iter().map(|p| p.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(".")).collect::<Vec<_>>()
    };
    let id = Identity::of(desired);
    let node = schema.node(id.group, id.version, id.kind).unwrap_or_else(|| schema.untyped());
    let entries = live.get("/metadata/managedFields").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut w = Walk::new(false, Owners::new(live.as_value(), "gitops"));
    w.value(desired.as_value(), Some(live.as_value()), node, 0);
    let mut old = Vec::new();
    if let Some((i, mine)) = entries.iter().enumerate().find_map(|(i, e)| Some((i, managed_entry(e, "gitops")?))) {
        let others: Vec<&Value> =
            entries.iter().enumerate().filter(|(j, _)| *j != i).filter_map(|(_, e)| e.get("fieldsV1")).collect();
        full_walk_removals(mine, desired.as_value(), live.as_value(), &others, &mut Vec::new(), &mut old);
    }
    (show(w.removed), show(old))
}

/// Every leaf pointer of a value (map fields and list indices).
fn leaf_pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaf_pointers(x, &format!("{at}/{}", escape_pointer_token(k)), out)
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                leaf_pointers(x, &format!("{at}/{i}"), out)
            }
        }
        _ => out.push(at.to_string()),
    }
}

#[test]
fn removals_found_lazily_are_the_ones_the_full_fields_walk_finds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diff-corpus/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    let (mut compared, mut with_removals) = (0, 0);
    for case in &cases {
        let text = std::fs::read_to_string(case.join("desired.yaml")).unwrap();
        let desired =
            crate::yaml::parse_objects(&text, "desired", &crate::yaml::ParseOptions::default()).unwrap().remove(0);
        let live: Value = serde_json::from_str(&std::fs::read_to_string(case.join("live.json")).unwrap()).unwrap();
        let live = Object::from_value(live).unwrap();
        let mut schema = Schema::builtin().clone();
        if desired.kind() == "CustomResourceDefinition" {
            schema.add_crd(&desired).ok();
        }
        // The case as recorded, then desired with each of its fields dropped in turn (and
        // each field's parent, so whole maps and list items go too).
        let mut variants = vec![desired.clone()];
        let mut leaves = Vec::new();
        leaf_pointers(desired.as_value(), "", &mut leaves);
        let mut pointers: Vec<String> = leaves.clone();
        pointers.extend(leaves.iter().filter_map(|p| p.rsplit_once('/').map(|(a, _)| a.to_string())));
        pointers.sort();
        pointers.dedup();
        for p in pointers.iter().filter(|p| !p.is_empty() && !p.starts_with("/metadata/name")) {
            let mut v = desired.clone();
            v.remove(p);
            variants.push(v);
        }
        for v in &variants {
            let (lazy, full) = removals_both_ways(v, &live, &schema);
            assert_eq!(lazy, full, "{}", case.display());
            compared += 1;
            with_removals += usize::from(!full.is_empty());
        }
    }
    assert!(compared > 600 && with_removals > 250, "{compared} variants, {with_removals} with removals");
}

#[test]
fn a_field_applied_then_dropped_is_found_at_every_depth() {
    // For every map in each corpus case's desired object: gitops applied desired plus one
    // more field there (live and the field set have it, merged into the recorded live
    // object with its defaults and other managers), and Git dropped it again.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diff-corpus/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    let mut compared = 0;
    for case in &cases {
        let text = std::fs::read_to_string(case.join("desired.yaml")).unwrap();
        let desired =
            crate::yaml::parse_objects(&text, "desired", &crate::yaml::ParseOptions::default()).unwrap().remove(0);
        let recorded: Value = serde_json::from_str(&std::fs::read_to_string(case.join("live.json")).unwrap()).unwrap();
        let mut schema = Schema::builtin().clone();
        if desired.kind() == "CustomResourceDefinition" {
            schema.add_crd(&desired).ok();
        }
        let node = schema.node_for(&desired);
        let mut leaves = Vec::new();
        leaf_pointers(desired.as_value(), "", &mut leaves);
        let mut maps: Vec<String> =
            leaves.iter().filter_map(|p| p.rsplit_once('/').map(|(a, _)| a.to_string())).collect();
        maps.sort();
        maps.dedup();
        for at in maps.iter().filter(|p| !p.is_empty() && p.as_str() != "/metadata") {
            if !desired.get(at).is_some_and(Value::is_object) {
                continue;
            }
            let mut applied = desired.clone();
            applied.set(&format!("{at}/zz-dropped"), Value::from("x")).unwrap();
            let mut live = recorded.clone();
            merge_into(&mut live, applied.as_value(), node);
            let mut set = FieldSet::from_value(applied.as_value(), node);
            set.strip_bookkeeping();
            let Some(entries) = live.pointer_mut("/metadata/managedFields").and_then(Value::as_array_mut) else {
                continue;
            };
            let Some(mine) = entries.iter_mut().find(|e| managed_entry(e, "gitops").is_some()) else { continue };
            let fields = set.to_fields_v1();
            // Inside an atomic map the field set holds the map, not its fields: no removal.
            let owned = fields.to_string().contains("f:zz-dropped");
            mine["fieldsV1"] = fields;
            let live = Object::from_value(live).unwrap();
            let (lazy, full) = removals_both_ways(&desired, &live, &schema);
            assert_eq!(lazy, full, "{} at {at}", case.display());
            let found = full.iter().any(|p| p.ends_with("f:zz-dropped"));
            assert_eq!(found, owned, "{} at {at}: {full:?}", case.display());
            compared += usize::from(owned);
        }
    }
    assert!(compared >= 100, "{compared} places");
}

#[test]
fn quantities() {
    for (a, b) in [("1000m", "1"), ("1Gi", "1024Mi"), ("0.5", "500m"), ("1e9", "1G"), ("0.1", "100m")] {
        assert!(equivalent(Some(&Value::from(a)), Some(&Value::from(b))), "{a} {b}");
    }
    assert!(!equivalent(Some(&Value::from("1")), Some(&Value::from("2"))));
    assert!(equivalent(Some(&crate::json!(1)), Some(&Value::from("1"))));
    assert!(equivalent(Some(&crate::json!({})), None));
    assert!(parse_quantity("abc").is_none());
}
