//! Kustomize's transformer configuration: the field specs each built-in transformer writes,
//! its defaults (`fieldspecs.txt`) and the build's `configurations` and CRD markers, merged as
//! Kustomize merges them.
//!
//! Kustomize's merge keeps a spec out when one already in the list has the same path and is
//! selected by the new one's group/version/kind, and sorts each list (by kind order, then
//! group/version/kind with empty parts last). A build's configuration is merged into an
//! empty one after the defaults, so a specific spec a configuration adds (`metadata/labels`
//! of one kind, say) pushes out the default for every kind with that path. This is what
//! `kubectl kustomize` does, and what this module reproduces.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::kustomization::{FieldSpec, gvk_selects};

/// Kustomize's transformer configuration. In a build, the field specs a kustomization's
/// `configurations` files (and CRD markers) add; [`TransformerConfig::effective`] puts the
/// defaults under them. A kustomization's transformers use its own files' specs and those of
/// everything it accumulated (its resources' kustomizations and its components), as Kustomize
/// merges them; name and var references use the whole build's, at the end.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TransformerConfig {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    /// Specs every `labels:` entry writes besides its own.
    #[serde(default)]
    pub labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameReferenceSpec>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

impl TransformerConfig {
    /// The first spec without a path, as `(section, index)`: Kustomize accepts such a file
    /// but fails ("cannot set or create an empty field name") once the spec selects an
    /// object; refused when the file is read, where its name and the field can be given.
    pub(crate) fn pathless_spec(&self) -> Option<(String, usize)> {
        let lists = [
            ("namePrefix", &self.name_prefix),
            ("nameSuffix", &self.name_suffix),
            ("namespace", &self.namespace),
            ("commonLabels", &self.common_labels),
            ("labels", &self.labels),
            ("templateLabels", &self.template_labels),
            ("commonAnnotations", &self.common_annotations),
            ("varReference", &self.var_reference),
            ("images", &self.images),
            ("replicas", &self.replicas),
        ];
        for (name, list) in lists {
            if let Some(i) = list.iter().position(|s| s.path.is_empty()) {
                return Some((name.to_string(), i));
            }
        }
        for (n, nr) in self.name_reference.iter().enumerate() {
            if let Some(i) = nr.field_specs.iter().position(|s| s.path.is_empty()) {
                return Some((format!("nameReference[{n}].fieldSpecs"), i));
            }
        }
        None
    }

    /// Merges `other` in as Kustomize does ([`merge_one`]), each list then sorted; the same
    /// spec with a different `create` is Kustomize's "conflicting fieldspecs" error, named by
    /// the list it is in.
    pub(crate) fn merge(&mut self, other: TransformerConfig) -> Result<(), String> {
        for (name, into, from) in [
            ("NamePrefix", &mut self.name_prefix, other.name_prefix),
            ("NameSuffix", &mut self.name_suffix, other.name_suffix),
            ("NameSpace", &mut self.namespace, other.namespace),
            ("CommonLabels", &mut self.common_labels, other.common_labels),
            ("Labels", &mut self.labels, other.labels),
            ("TemplateLabels", &mut self.template_labels, other.template_labels),
            ("CommonAnnotations", &mut self.common_annotations, other.common_annotations),
            ("VarReference", &mut self.var_reference, other.var_reference),
            ("Images", &mut self.images, other.images),
            ("Replicas", &mut self.replicas, other.replicas),
        ] {
            merge_all(into, from).map_err(|e| format!("failed to merge {name} fieldSpec: {e}"))?;
            sort_specs(into);
        }
        for nr in other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|x| x.kind == nr.kind && x.group == nr.group && x.version == nr.version)
            {
                Some(x) => merge_all(&mut x.field_specs, nr.field_specs)
                    .map_err(|e| format!("failed to merge NameReference fieldSpec: {e}"))?,
                None => self.name_reference.push(nr),
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.name_prefix.is_empty()
            && self.name_suffix.is_empty()
            && self.namespace.is_empty()
            && self.common_labels.is_empty()
            && self.labels.is_empty()
            && self.template_labels.is_empty()
            && self.common_annotations.is_empty()
            && self.name_reference.is_empty()
            && self.var_reference.is_empty()
            && self.images.is_empty()
            && self.replicas.is_empty()
    }

    /// The configuration the transformers use: the defaults with this one merged in, then
    /// merged into an empty configuration (Kustomize's accumulator), where the sort order
    /// lets a specific spec push out a general one with the same path.
    pub(crate) fn effective(&self) -> Result<Cow<'static, TransformerConfig>, String> {
        if self.is_empty() {
            return Ok(Cow::Borrowed(default_effective()));
        }
        let mut merged = default_config().clone();
        merged.merge(self.clone())?;
        let mut out = TransformerConfig::default();
        out.merge(merged)?;
        Ok(Cow::Owned(out))
    }
}

/// Kustomize's `FsSlice.MergeOne`: `x` is left out when a spec with its path is already
/// there and selected by `x`'s group, version and kind (an error when `create` differs).
pub(crate) fn merge_one(into: &mut Vec<FieldSpec>, x: FieldSpec) -> Result<(), String> {
    let selected = |y: &FieldSpec| {
        gvk_selects(
            (x.group.as_deref(), x.version.as_deref(), x.kind.as_deref()),
            (y.group.as_deref().unwrap_or(""), y.version.as_deref().unwrap_or(""), y.kind.as_deref().unwrap_or("")),
        )
    };
    match into.iter().find(|y| y.path == x.path && selected(y)) {
        Some(y) if y.create != x.create => Err("conflicting fieldspecs".into()),
        Some(_) => Ok(()),
        None => {
            into.push(x);
            Ok(())
        }
    }
}

/// [`merge_one`] for each of `from`, in order.
pub(crate) fn merge_all(into: &mut Vec<FieldSpec>, from: Vec<FieldSpec>) -> Result<(), String> {
    from.into_iter().try_for_each(|x| merge_one(into, x))
}

/// Kustomize's order of field specs: kinds of its legacy resource order first, those of its
/// last group at the end; then `group_version_kind` with `~G`, `~V`, `~K` for empty parts.
fn sort_specs(specs: &mut [FieldSpec]) {
    let key = |f: &FieldSpec| {
        fn part(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        let (group, version, kind) = (part(&f.group), part(&f.version), part(&f.kind));
        let order = crate::order::rank(kind, &crate::tables::ORDER_FIRST, &crate::tables::ORDER_LAST);
        (order, crate::order::gvk_text(group, version, kind))
    };
    // A stable sort, as Go's sort.Sort is not: specs that compare equal keep their order.
    specs.sort_by_cached_key(key);
}

/// Kustomize's default configuration, read once from `fieldspecs.txt` (and the name
/// reference rules from `namerefs.txt`).
pub(crate) fn default_config() -> &'static TransformerConfig {
    static DEFAULT: OnceLock<TransformerConfig> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let mut c = TransformerConfig::default();
        for line in include_str!("../fieldspecs.txt").lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [list, gv, kind, path, rest @ ..] = words.as_slice() else {
                panic!("fieldspecs.txt: a line needs a list, group/version, kind and path: {line}")
            };
            let (group, version) = gv.rsplit_once('/').unwrap_or((gv, "-"));
            let opt = |s: &str| (s != "-").then(|| s.to_string());
            let spec = FieldSpec {
                group: opt(group),
                version: opt(version),
                kind: (*kind != "*").then(|| kind.to_string()),
                path: path.to_string(),
                create: rest.first() == Some(&"create"),
            };
            let into = match *list {
                "namePrefix" => &mut c.name_prefix,
                "nameSuffix" => &mut c.name_suffix,
                "namespace" => &mut c.namespace,
                "commonLabels" => &mut c.common_labels,
                "templateLabels" => &mut c.template_labels,
                "commonAnnotations" => &mut c.common_annotations,
                "varReference" => &mut c.var_reference,
                "images" => &mut c.images,
                "replicas" => &mut c.replicas,
                other => panic!("fieldspecs.txt: unknown list {other}"),
            };
            into.push(spec);
        }
        c.name_reference = crate::nameref::default_rules().to_vec();
        for list in [
            &mut c.name_prefix,
            &mut c.name_suffix,
            &mut c.namespace,
            &mut c.common_labels,
            &mut c.template_labels,
            &mut c.common_annotations,
            &mut c.var_reference,
            &mut c.images,
            &mut c.replicas,
        ] {
            sort_specs(list);
        }
        c
    })
}

/// Reads the default configuration (and the label specs of each pair of flags) ahead of
/// their first use.
pub(crate) fn warm() {
    for (selectors, templates) in [(false, false), (false, true), (true, false), (true, true)] {
        let _ = label_specs(&[], default_effective(), selectors, templates);
    }
}

/// The defaults merged into an empty configuration: what a build without `configurations`
/// uses.
fn default_effective() -> &'static TransformerConfig {
    static EFFECTIVE: OnceLock<TransformerConfig> = OnceLock::new();
    EFFECTIVE.get_or_init(|| {
        let mut out = TransformerConfig::default();
        out.merge(default_config().clone()).expect("the defaults merge");
        out
    })
}

/// The field specs a `labels:` entry writes to: its own `fields`, the configuration's
/// `labels`, then the selector specs (`includeSelectors`), or the template specs
/// (`includeTemplates`) and `metadata/labels`, merged as Kustomize merges them. The error is
/// Kustomize's message. An entry without `fields` under the default configuration (nearly
/// every one) takes them from a memo, one per combination of the two flags: the merge costs
/// thousands of instructions per entry.
pub(crate) fn label_specs<'a>(
    fields: &[FieldSpec],
    eff: &'a TransformerConfig,
    include_selectors: bool,
    include_templates: bool,
) -> Result<Cow<'a, [FieldSpec]>, String> {
    static DEFAULTS: [OnceLock<Vec<FieldSpec>>; 4] = [const { OnceLock::new() }; 4];
    let default = default_effective();
    if fields.is_empty() && std::ptr::eq(eff, default) {
        let memo = &DEFAULTS[usize::from(include_selectors) * 2 + usize::from(include_templates)];
        if let Some(specs) = memo.get() {
            return Ok(Cow::Borrowed(specs));
        }
        let specs = merge_label_specs(&[], default, include_selectors, include_templates)?;
        return Ok(Cow::Borrowed(memo.get_or_init(|| specs)));
    }
    merge_label_specs(fields, eff, include_selectors, include_templates).map(Cow::Owned)
}

fn merge_label_specs(
    fields: &[FieldSpec],
    eff: &TransformerConfig,
    include_selectors: bool,
    include_templates: bool,
) -> Result<Vec<FieldSpec>, String> {
    let mut specs = fields.to_vec();
    merge_all(&mut specs, eff.labels.clone()).map_err(|e| format!("failed to merge labels: {e}"))?;
    if include_selectors {
        merge_all(&mut specs, eff.common_labels.clone()).map_err(|e| format!("failed to merge labels: {e}"))?;
    } else {
        if include_templates {
            merge_all(&mut specs, eff.template_labels.clone())
                .map_err(|e| format!("failed to merge template fieldSpec: {e}"))?;
        }
        merge_one(&mut specs, FieldSpec { path: "metadata/labels".into(), create: true, ..FieldSpec::default() })
            .map_err(|e| format!("failed to merge labels: {e}"))?;
    }
    Ok(specs)
}

/// One `nameReference` entry: the referenced kind and the fields that name it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NameReferenceSpec {
    pub kind: String,
    /// The referenced kind's group; any group when unset.
    #[serde(default)]
    pub group: Option<String>,
    /// The referenced kind's version; any version when unset.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}
