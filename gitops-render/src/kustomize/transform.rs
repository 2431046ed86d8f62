//! The built-in transformers of a kustomization in Kustomize's fixed order, and patches
//! (strategic merge and JSON 6902, targeted or not).

use super::*;

impl Build<'_> {
    pub(super) fn transform(
        &self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        acc: &mut Vec<Res>,
        cfg: &TransformerConfig,
    ) -> Result<(), Error> {
        let smp_opts = SmpOptions { kustomize: true };
        let eff = cfg.effective().map_err(|e| kerr(file, "configurations", e))?;
        let ran = |acc: &mut Vec<Res>, kind: &'static str| self.note_transformer(acc, file, kind);
        // patchesStrategicMerge
        for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
            let field = format!("patchesStrategicMerge[{i}]");
            let (source, text) = self.patch_text(dir, file, &field, Some(entry), None)?;
            let docs = yaml::parse_values(&text, &source, &patch_parse_options(true))?;
            if docs.is_empty() {
                // Kustomize: "patch appears to be empty" (a file of nothing, or only comments).
                return Err(kerr(file, field, format!("patch appears to be empty: {source}")));
            }
            for (_, _, mut doc) in docs {
                as_copy_merged(&mut doc);
                self.untargeted_smp(file, &field, &doc, acc, &smp_opts, false)?;
            }
        }
        if !k.patches_strategic_merge.is_empty() {
            ran(acc, "PatchStrategicMergeTransformer");
        }
        // patches
        for (i, p) in k.patches.iter().enumerate() {
            let field = format!("patches[{i}]");
            self.apply_patch_entry(dir, file, &field, p, acc, &smp_opts, true)?;
            ran(acc, "PatchTransformer");
        }
        // namespace
        if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
            let t = namespace::NamespaceTransformer {
                namespace: ns,
                specs: &eff.namespace,
                unset_only: false,
                subjects: namespace::SubjectMode::DefaultOnly,
            };
            t.run(acc, file, "namespace")?;
            ran(acc, "NamespaceTransformer");
        }
        // namePrefix, nameSuffix
        for (affix, specs, is_prefix, kind) in [
            (k.name_prefix.as_deref().unwrap_or(""), &eff.name_prefix, true, "PrefixTransformer"),
            (k.name_suffix.as_deref().unwrap_or(""), &eff.name_suffix, false, "SuffixTransformer"),
        ] {
            if affix.is_empty() {
                continue;
            }
            add_affix(acc, affix, is_prefix, specs);
            ran(acc, kind);
        }
        // labels, then commonLabels: each `labels:` entry writes its own specs, the
        // configuration's `labels`, and the selector specs, the template specs, or only
        // `metadata/labels`, merged as Kustomize merges them.
        for (i, l) in k.labels.iter().enumerate() {
            let field = format!("labels[{i}]");
            let specs = config::label_specs(&l.fields, &eff, l.include_selectors, l.include_templates)
                .map_err(|e| kerr(file, &field, e))?;
            let pairs: Vec<(String, String)> = l.pairs.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            // Kustomize's label transformer does nothing without labels: no empty maps made.
            if !pairs.is_empty() {
                apply_pairs(acc, &specs, &pairs);
            }
            ran(acc, "LabelTransformer");
        }
        if !k.common_labels.is_empty() {
            let pairs: Vec<(String, String)> = k.common_labels.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            apply_pairs(acc, &eff.common_labels, &pairs);
        }
        // The commonLabels transformer is configured whenever there are labels of either kind.
        if !k.common_labels.is_empty() || !k.labels.is_empty() {
            ran(acc, "LabelTransformer");
        }
        if !k.common_annotations.is_empty() {
            let pairs: Vec<(String, String)> =
                k.common_annotations.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            apply_pairs(acc, &eff.common_annotations, &pairs);
            ran(acc, "AnnotationsTransformer");
        }
        // patchesJson6902
        for (i, p) in k.patches_json6902.iter().enumerate() {
            let field = format!("patchesJson6902[{i}]");
            if p.target.is_none() {
                return Err(kerr(file, &field, "a patchesJson6902 entry needs a target"));
            }
            self.apply_patch_entry(dir, file, &field, p, acc, &smp_opts, false)?;
            ran(acc, "PatchJson6902Transformer");
        }
        // replicas: the built-in specs and the configured ones, one list as in Kustomize.
        if !k.replicas.is_empty() {
            let specs = self.replica_specs.as_deref().unwrap_or(&eff.replicas);
            for (i, rep) in k.replicas.iter().enumerate() {
                let mut found = false;
                let mut split = fields::SplitSpecs::new(specs);
                for r in acc.iter_mut().filter(|r| r.has_name(&rep.name)) {
                    found |= on_fields(r, &mut split, true, &mut |slot| *slot = Value::from(rep.count));
                }
                if !found {
                    let gvks: Vec<String> = specs
                        .iter()
                        .map(|s| {
                            let group = s.group.as_deref().filter(|g| !g.is_empty()).unwrap_or("[noGrp]");
                            format!("{}.[noVer].{group}", s.kind.as_deref().unwrap_or(""))
                        })
                        .collect();
                    return Err(kerr(
                        file,
                        format!("replicas[{i}]"),
                        format!(
                            "resource with name {} does not match a config with the following GVK [{}]",
                            rep.name,
                            gvks.join(" ")
                        ),
                    ));
                }
                ran(acc, "ReplicaCountTransformer");
            }
        }
        // images
        let images: Vec<ImageOverride> = k
            .images
            .iter()
            .chain(k.image_tags.iter())
            .map(|e| ImageOverride {
                name: e.name.clone(),
                new_name: e.new_name.clone(),
                new_tag: e.new_tag.clone(),
                digest: e.digest.clone(),
            })
            .collect();
        // One transformer per entry, in order: an entry sees what the ones before it wrote
        // (`a` renamed to `b`, then `b` given a tag, tags the renamed image too).
        for image in &images {
            let one = std::slice::from_ref(image);
            for r in acc.iter_mut() {
                override_images(r.obj.as_value_mut(), one);
            }
            // Then the image field specs (the defaults and configured ones, or a
            // configuration's own), as Kustomize's ImageTagTransformer does after its walk
            // over every container: changed where they name a matching image, never created;
            // CustomResourceDefinitions are left alone.
            let mut specs = fields::SplitSpecs::new(self.image_specs.as_deref().unwrap_or(&eff.images));
            for r in acc.iter_mut().filter(|r| r.obj.kind() != "CustomResourceDefinition") {
                on_fields(r, &mut specs, false, &mut |slot| {
                    if let Value::String(current) = slot
                        && let Some(new) = image.rewrite(current)
                    {
                        *current = new;
                    }
                });
            }
            ran(acc, "ImageTagTransformer");
        }
        // replacements
        for (i, rep) in k.replacements.iter().enumerate() {
            let field = format!("replacements[{i}]");
            let reps: Vec<ReplacementEntry> = match &rep.path {
                Some(path) => {
                    let (p, bytes) = self.read_file(dir, file, &field, path)?;
                    let text =
                        String::from_utf8(bytes).map_err(|_| kerr(file, &field, format!("{p}: not valid UTF-8")))?;
                    let mut out = Vec::new();
                    for (_, _, v) in yaml::parse_values(&text, &p, &ParseOptions::default())? {
                        let items = match v {
                            Value::Array(items) => items,
                            other => vec![other],
                        };
                        for item in items {
                            out.push(
                                serde_path_to_error::deserialize(item)
                                    .map_err(|e| kerr(&p, e.path().to_string(), e.into_inner().to_string()))?,
                            );
                        }
                    }
                    out
                }
                None => vec![rep.clone()],
            };
            for r in &reps {
                crate::replacements::apply(r, acc_objects(acc), file, &field)?;
                // A replacement sets its targets in place: fields sharing a node follow.
                acc.iter_mut().for_each(Res::sync_aliases);
            }
        }
        if !k.replacements.is_empty() {
            ran(acc, "ReplacementTransformer");
        }
        Ok(())
    }

    pub(super) fn patch_text(
        &self,
        dir: &str,
        file: &str,
        field: &str,
        entry: Option<&str>,
        inline: Option<&str>,
    ) -> Result<(String, String), Error> {
        if let Some(text) = inline {
            return Ok((format!("{file} ({field})"), text.to_string()));
        }
        let entry = entry.ok_or_else(|| kerr(file, field, "a patch needs 'path' or 'patch'"))?;
        let looks_inline = entry.contains('\n') || entry.trim_start().starts_with('{');
        if !looks_inline && (entry.starts_with("http://") || entry.starts_with("https://")) {
            let (p, bytes) = self.read_file(dir, file, field, entry)?;
            let text = String::from_utf8(bytes).map_err(|_| kerr(file, field, format!("{p}: not valid UTF-8")))?;
            return Ok((p, text));
        }
        if !looks_inline {
            let p = self.entry_path(dir, file, field, entry).ok();
            if let Some(p) = p
                && (self.tree.kind(&p)? == Some(EntryKind::File) || !self.loadable(dir, &p))
            {
                let (p, bytes) = self.read_file(dir, file, field, entry)?;
                let text = String::from_utf8(bytes).map_err(|_| kerr(file, field, format!("{p}: not valid UTF-8")))?;
                return Ok((p, text));
            }
            if !entry.contains(':') {
                return Err(kerr(file, field, format!("{entry:?}: no such file")));
            }
        }
        Ok((format!("{file} ({field})"), entry.to_string()))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_patch_entry(
        &self,
        dir: &str,
        file: &str,
        field: &str,
        p: &PatchEntry,
        acc: &mut Vec<Res>,
        smp_opts: &SmpOptions,
        smp_allowed: bool,
    ) -> Result<(), Error> {
        if p.path.is_some() && p.patch.is_some() {
            return Err(kerr(file, field, "a patch takes 'path' or 'patch', not both"));
        }
        let (source, text) = self.patch_text(dir, file, field, p.path.as_deref(), p.patch.as_deref())?;
        let docs = yaml::parse_values(&text, &source, &patch_parse_options(p.target.is_some()))?;
        if docs.is_empty() {
            return Err(kerr(file, field, "the patch is empty"));
        }
        let allow_name_change = p.options.get("allowNameChange").copied().unwrap_or(false);
        let allow_kind_change = p.options.get("allowKindChange").copied().unwrap_or(false);
        let is_json6902 = matches!(docs[0].2, Value::Array(_));
        if is_json6902 || !smp_allowed {
            // Kustomize reads JSON 6902 operations written as YAML with `sigs.k8s.io/yaml`
            // (go-yaml v2's YAML 1.1: `value: yes` is a boolean), the first document only.
            let v2;
            let ops = if is_json6902 && !text.trim_start().starts_with('[') {
                let mut first = None;
                for d in yaml::split_documents(&text) {
                    first = yaml::parse_value_go_yaml_v2(d.text, &source)?;
                    if first.is_some() {
                        break;
                    }
                }
                v2 = first.unwrap_or(Value::Null);
                &v2
            } else {
                &docs[0].2
            };
            if !ops.is_array() {
                return Err(kerr(file, field, "a JSON 6902 patch must be a list of operations"));
            }
            let target = p.target.as_ref().ok_or_else(|| kerr(file, field, "a JSON 6902 patch needs a target"))?;
            let selected = select(acc, target).map_err(|m| kerr(file, format!("{field}.target"), m))?;
            for i in selected {
                let r = &mut acc[i];
                // A `patches` entry stores the resource's id first, so that references follow
                // a rename; `patchesJson6902` does not.
                if smp_allowed {
                    r.store_previous_id();
                }
                let mut v = r.obj.as_value().clone();
                // The operations see Kustomize's internal annotations (an id stored before, a
                // generator's, an origin): `metadata.annotations` is there for an `add` below it.
                let internal = !r.history.is_empty()
                    || matches!(r.origin, Some(Origin::Generator { .. }))
                    || (self.origins_annotated && r.origin.is_some());
                let added = internal && add_empty_annotations(&mut v);
                // Kustomize applies it with evanphx/json-patch, as the API server does.
                patch::json_patch_go(&mut v, ops).map_err(|e| kerr(file, field, format!("{}: {e}", r.id())))?;
                if added {
                    remove_empty_annotations(&mut v);
                }
                yaml::annotations_as_json_text(&mut v);
                r.obj = Object::from_value_without_api_version(v).map_err(|e| kerr(file, field, e.to_string()))?;
                // Kustomize patches the object's JSON form and reads it back: a null written
                // with no value comes back as an explicit `null`, and fields that shared a
                // node are apart.
                r.bare_nulls.clear();
                r.aliases.clear();
            }
            return Ok(());
        }
        // Kustomize reads a strategic merge patch as resources: mappings with a kind.
        for (i, _, d) in &docs {
            let why = match d {
                Value::Object(m) if m.get("kind").and_then(Value::as_str).is_some_and(|k| !k.is_empty()) => continue,
                Value::Object(_) => "has no kind",
                _ => "must be a mapping with a kind, or a list of JSON 6902 operations",
            };
            return Err(kerr(
                file,
                field,
                format!("unable to parse SM or JSON patch from {source}: document {i} {why}"),
            ));
        }
        for (_, _, mut doc) in docs {
            match &p.target {
                None => self.untargeted_smp(file, field, &doc, acc, smp_opts, allow_name_change)?,
                Some(target) => {
                    as_copy_merged(&mut doc);
                    let selected = select(acc, target).map_err(|m| kerr(file, format!("{field}.target"), m))?;
                    let delete_patch = patch::is_delete_patch(&doc);
                    let mut delete = Vec::new();
                    for i in selected {
                        if delete_patch {
                            delete.push(i);
                            continue;
                        }
                        smp_one(&mut acc[i], &doc, self.schema(), smp_opts, allow_name_change, allow_kind_change)
                            .map_err(|m| kerr(file, field, m))?;
                    }
                    for i in delete.into_iter().rev() {
                        acc.remove(i);
                    }
                    // Kustomize adds the patched resources back one by one, and refuses two
                    // with one id (a name or kind change may make them so).
                    if allow_name_change || allow_kind_change {
                        check_duplicates(acc, file, field)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Notes, for `transformerAnnotations`, that a built-in transformer of `kind` ran over
    /// every resource of `acc`, whether or not it changed it: configured in the running
    /// `transformers:` configuration's file (with its name and namespace), else in `file`.
    pub(super) fn note_transformer(&self, acc: &mut [Res], file: &str, kind: &'static str) {
        if !self.record_transformations {
            return;
        }
        let configured_in: std::sync::Arc<str> = self.configured_in.clone().unwrap_or_else(|| file.into());
        for r in acc.iter_mut() {
            r.transformations.push((configured_in.clone(), kind, self.configured_by.clone()));
        }
    }

    pub(super) fn untargeted_smp(
        &self,
        file: &str,
        field: &str,
        doc: &Value,
        acc: &mut Vec<Res>,
        opts: &SmpOptions,
        allow_name_change: bool,
    ) -> Result<(), Error> {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ns = doc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() || name.is_empty() {
            return Err(kerr(file, field, "a strategic merge patch without a target needs kind and metadata.name"));
        }
        let (group, version) = gitops_core::object::split_api_version(api);
        let matches: Vec<usize> = acc
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                // Kustomize's GetById: any of the resource's ids, current or earlier, equal to
                // the patch's (group, version, kind, name, and effective namespace).
                let want_ns = tables::effective_namespace(tables::is_cluster_scoped(api, kind), ns);
                r.obj.group() == group
                    && (version.is_empty() || r.obj.version() == version)
                    && crate::nameref::ids(&r.obj, &r.history)
                        .any(|(k, n, nm)| k == kind && nm == name && r.effective_namespace(k, n) == want_ns)
            })
            .map(|(i, _)| i)
            .collect();
        let shown = || super::id_text(api, kind, ns, name);
        match matches.as_slice() {
            [] => Err(kerr(file, field, format!("no resource matches the patch target {}", shown()))),
            [i] => {
                if patch::is_delete_patch(doc) {
                    acc.remove(*i);
                    return Ok(());
                }
                smp_one(&mut acc[*i], doc, self.schema(), opts, allow_name_change, false)
                    .map_err(|m| kerr(file, field, m))?;
                if allow_name_change {
                    check_duplicates(acc, file, field)?;
                }
                Ok(())
            }
            _ => Err(kerr(file, field, format!("the patch target {} matches {} resources", shown(), matches.len()))),
        }
    }
}

fn acc_objects(acc: &mut [Res]) -> Vec<(&mut Object, &[PrevId])> {
    acc.iter_mut().map(|r| (&mut r.obj, r.history.as_slice())).collect()
}

/// Calls `f` on every field of `r` the specs select (with `create`, and a spec that asks for
/// it, missing fields are created as `Null` first); whether any spec selected it.
pub(super) fn on_fields(
    r: &mut Res,
    specs: &mut fields::SplitSpecs<'_>,
    create: bool,
    f: &mut dyn FnMut(&mut Value),
) -> bool {
    // The object's group, version and kind looked up once, not once per spec.
    let (group, version, kind) = (r.obj.group(), r.obj.version(), r.obj.kind());
    let hits: Vec<usize> = (0..specs.len()).filter(|&i| specs.spec(i).matches(group, version, kind)).collect();
    for &i in &hits {
        let create = create && specs.spec(i).create;
        fields::walk(r.obj.as_value_mut(), specs.path(i), create, f);
    }
    !hits.is_empty()
}

/// Kustomize's PrefixTransformer or SuffixTransformer: for every resource but CRDs,
/// APIServices and Namespaces, and every spec its original kind selects, the field gets the
/// affix; a `metadata/name` spec also records the affix and the earlier id (for name
/// references).
pub(super) fn add_affix(acc: &mut [Res], affix: &str, is_prefix: bool, specs: &[FieldSpec]) {
    let mut specs = fields::SplitSpecs::new(specs);
    for r in acc.iter_mut() {
        let org_kind = r.original().0.to_string();
        let group = r.obj.group().to_string();
        if matches!(org_kind.as_str(), "CustomResourceDefinition" | "Namespace")
            || (org_kind == "APIService" && group == "apiregistration.k8s.io")
        {
            continue;
        }
        let version = r.obj.version().to_string();
        for i in 0..specs.len() {
            let spec = specs.spec(i);
            if !spec.matches(&group, &version, &org_kind) {
                continue;
            }
            if spec.path == "metadata/name" && !affix.is_empty() {
                // Most resources get one prefix or suffix: room for one at a time (a list
                // grown by doubling would hold four, kept to the build's end).
                let list = if is_prefix { &mut r.prefixes } else { &mut r.suffixes };
                list.reserve_exact(1);
                list.push(affix.to_string());
                r.store_previous_id();
            }
            fields::walk(r.obj.as_value_mut(), specs.path(i), spec.create, &mut |slot| {
                let current = slot.as_str().unwrap_or("");
                let text = if is_prefix { [affix, current].concat() } else { [current, affix].concat() };
                if slot.is_string() || slot.is_null() {
                    *slot = Value::String(text);
                }
            });
        }
    }
}

pub(super) fn apply_pairs(acc: &mut [Res], specs: &[FieldSpec], pairs: &[(String, String)]) {
    let mut split = fields::SplitSpecs::new(specs);
    let mut created = Vec::new();
    // The nodes made, per resource: (resource, pair, specs), shared once all are known.
    let mut made: Vec<(usize, usize, u128)> = Vec::new();
    for (i, r) in acc.iter_mut().enumerate() {
        let (g, v, k) = (r.obj.group().to_string(), r.obj.version().to_string(), r.obj.kind().to_string());
        fields::set_pairs(r.obj.as_value_mut(), (&g, &v, &k), &mut split, pairs, &mut created);
        // A field that was there is written in place: its node's other fields follow.
        r.sync_aliases();
        for (n, &mask) in created.iter().enumerate() {
            // A node at one field is no alias: one spec counts only when it goes through a
            // list (and so may reach several fields).
            let one_list = mask.count_ones() == 1 && specs[mask.trailing_zeros() as usize].path.contains("[]");
            if mask.count_ones() > 1 || one_list {
                made.push((i, n, mask));
            }
        }
    }
    alias::record(acc, specs, pairs, &made);
}

/// How a patch file is read: its annotation values are the text they were written as, as
/// Kustomize writes them back (`0x20` stays `"0x20"`), and its folded block scalars as
/// Kustomize writes them (see [`ParseOptions::folded_as_kustomize_writes`]). A key that reads as a number is taken
/// as its text: Kustomize merges it into the target's quoted key of that text (and fails only
/// where it adds it, which is not told apart here).
///
/// Kustomize merges a patch in one of two ways. A `patches` entry without a target is merged
/// as it is: an annotation written as a null stays one, and deletes the target's. A targeted
/// one, and a `patchesStrategicMerge` one, is merged through a copy whose labels and
/// annotations were rewritten as maps of strings (`CopyMergeMetaDataFieldsFrom`): each takes
/// the text it was written as, a null its `null`, `~` or nothing (see [`as_copy_merged`]).
fn patch_parse_options(copy_merged: bool) -> ParseOptions {
    ParseOptions {
        annotations_as_written: true,
        annotation_nulls: !copy_merged,
        labels_as_written: copy_merged,
        folded_as_kustomize_writes: true,
        ..ParseOptions::default()
    }
}

/// Gives an object without annotations (or with null ones) an empty map of them; whether it
/// did.
fn add_empty_annotations(v: &mut Value) -> bool {
    let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) else { return false };
    if meta.get("annotations").is_some_and(|a| !a.is_null()) {
        return false;
    }
    meta.insert("annotations".into(), Value::Object(Map::new()));
    true
}

/// Drops an empty map of annotations, as Kustomize drops it with its internal ones.
fn remove_empty_annotations(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
        && meta.get("annotations").and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        meta.remove("annotations");
    }
}

/// A strategic merge patch as Kustomize merges a targeted or `patchesStrategicMerge` one:
/// its labels and annotations read as maps of strings and written back (every value the
/// text it was written as, which `patch_parse_options(true)` kept; a list's or mapping's
/// nothing), and an empty or null map left out, so that it deletes nothing.
fn as_copy_merged(doc: &mut Value) {
    let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    for field in ["labels", "annotations"] {
        match meta.get_mut(field) {
            Some(Value::Object(m)) if !m.is_empty() => {
                for v in m.values_mut().filter(|v| matches!(v, Value::Null | Value::Array(_) | Value::Object(_))) {
                    *v = Value::String(String::new());
                }
            }
            Some(_) => {
                meta.remove(field);
            }
            None => {}
        }
    }
    // Numbers and booleans (written with a tag, so not kept as written) as the text they read as.
    yaml::stringify_metadata_scalars(doc, true);
}

fn smp_one(
    r: &mut Res,
    doc: &Value,
    schema: &Schema,
    opts: &SmpOptions,
    allow_name_change: bool,
    allow_kind_change: bool,
) -> Result<(), String> {
    if allow_name_change || allow_kind_change {
        r.store_previous_id();
    }
    let before = (
        r.obj.api_version().to_string(),
        r.obj.kind().to_string(),
        r.obj.namespace().to_string(),
        r.obj.name().to_string(),
    );
    if !doc.is_object() {
        return Err(format!(
            "{}: a strategic merge patch must be a mapping, not {}",
            r.id(),
            gitops_core::object::type_name(doc)
        ));
    }
    // Kustomize merges with the first schema it knows of the target's type, then of the
    // patch's kind under the target's apiVersion (a patch of kind Deployment merges its
    // containers by name into a custom kind it targets).
    let patch_kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let node = schema
        .node(r.obj.group(), r.obj.version(), r.obj.kind())
        .or_else(|| schema.node(r.obj.group(), r.obj.version(), patch_kind))
        .unwrap_or_else(|| schema.untyped());
    // Merged in place: a failed patch fails the build, so the resource is not needed whole
    // after one; its id for the error is the one it had before.
    let id = || super::id_text(&before.0, &before.1, &before.2, &before.3);
    let mut v = std::mem::take(r.obj.as_value_mut());
    patch::strategic_merge_kyaml(&mut v, doc, node, opts, &mut r.bare_nulls).map_err(|e| format!("{}: {e}", id()))?;
    if !v.is_object() {
        return Err(format!("{}: the strategic merge patch did not leave an object", id()));
    }
    if !allow_kind_change {
        // A resource without an apiVersion (Kustomize reads one) stays without it.
        if before.0.is_empty() {
            if let Some(m) = v.as_object_mut() {
                m.remove("apiVersion");
            }
        } else {
            v["apiVersion"] = Value::String(before.0.clone());
        }
        v["kind"] = Value::String(before.1.clone());
    }
    let new_name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let new_ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if !allow_name_change {
            meta.insert("name".into(), Value::String(before.3.clone()));
        }
        if before.2.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), Value::String(before.2.clone()));
        }
    }
    r.obj = Object::from_value_without_api_version(v).map_err(|e| e.to_string())?;
    if allow_name_change && new_name != before.3 {
        r.obj.set_name(&new_name);
    }
    let _ = new_ns;
    // The merge writes scalars in place, as Kustomize's does: fields sharing a node follow.
    r.sync_aliases();
    Ok(())
}

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

/// The indices of resources a patch target selects.
pub(super) fn select(acc: &[Res], t: &Target) -> Result<Vec<usize>, String> {
    // Each part set and not empty is an anchored regular expression, as Kustomize's
    // `SelectorRegex` reads a target (`kind: Deployment|StatefulSet`).
    let part = |p: &Option<String>| p.as_deref().filter(|p| !p.is_empty()).map(anchored).transpose();
    let (group, version, kind) = (part(&t.group)?, part(&t.version)?, part(&t.kind)?);
    let name = part(&t.name)?;
    let ns = part(&t.namespace)?;
    let labels = t.label_selector.as_deref().map(LabelSelector::parse).transpose()?;
    let annotations = t.annotation_selector.as_deref().map(LabelSelector::parse).transpose()?;
    Ok(acc
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let o = &r.obj;
            group.as_ref().is_none_or(|re| re.is_match(o.group()))
                && version.as_ref().is_none_or(|re| re.is_match(o.version()))
                && kind.as_ref().is_none_or(|re| re.is_match(o.kind()))
                && name.as_ref().is_none_or(|re| re.is_match(o.name()) || re.is_match(r.original().2))
                && ns.as_ref().is_none_or(|re| {
                    // Kustomize matches the original and the current effective namespace.
                    let (org_kind, org_ns, _) = r.original();
                    [r.effective_namespace(o.kind(), o.namespace()), r.effective_namespace(org_kind, org_ns)]
                        .iter()
                        .any(|n| re.is_match(n.unwrap_or("")))
                })
                && labels.as_ref().is_none_or(|s| s.matches(o.labels()))
                && annotations.as_ref().is_none_or(|s| s.matches(o.annotations()))
        })
        .map(|(i, _)| i)
        .collect())
}
