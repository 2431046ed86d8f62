//! The `kustomization.yaml` file, decoded as Kustomize decodes it (go-yaml v2's scalars, then
//! Go's JSON rules: a field name matches without case, `null` and a missing field are the
//! zero value): an unknown field or a wrong type is an error that names the file and the
//! field, as Kustomize's strict decoding does.

use std::collections::BTreeMap;

use gitops_core::value::Value;
use serde::{Deserialize, Serialize};

/// A kustomization (or a `kind: Component`) file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<LabelEntry>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    #[serde(default)]
    pub image_tags: Vec<ImageEntry>,
    #[serde(default)]
    pub replicas: Vec<ReplicaEntry>,
    #[serde(default)]
    pub patches: Vec<PatchEntry>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<PatchEntry>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub replacements: Vec<ReplacementEntry>,
    #[serde(default)]
    pub vars: Vec<Var>,
    pub sort_options: Option<SortOptions>,
    #[serde(default)]
    pub crds: Vec<String>,
    pub openapi: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
    #[serde(default)]
    pub helm_charts: Vec<Value>,
    pub helm_globals: Option<Value>,
    #[serde(default)]
    pub transformers: Vec<String>,
    #[serde(default)]
    pub generators: Vec<String>,
    #[serde(default)]
    pub validators: Vec<String>,
}

/// An entry of `labels`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct LabelEntry {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

/// A field spec: where a transformer writes, for which kinds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct FieldSpec {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    /// Whether the spec selects objects of this group, version and kind (unset or empty:
    /// any), as Kustomize matches a field spec to an object.
    pub(crate) fn matches(&self, group: &str, version: &str, kind: &str) -> bool {
        gvk_selects((self.group.as_deref(), self.version.as_deref(), self.kind.as_deref()), (group, version, kind))
    }
}

/// Kustomize's `Gvk.IsSelected`: each part of the selector that is set and not empty must
/// equal the object's.
pub(crate) fn gvk_selects(selector: (Option<&str>, Option<&str>, Option<&str>), (g, v, k): (&str, &str, &str)) -> bool {
    let part = |want: Option<&str>, have: &str| want.is_none_or(|w| w.is_empty() || w == have);
    part(selector.0, g) && part(selector.1, v) && part(selector.2, k)
}

/// An entry of `images`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ImageEntry {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

/// An entry of `replicas`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ReplicaEntry {
    pub name: String,
    pub count: i64,
}

/// A patch target: Kustomize's selector (name and namespace are regular expressions there).
pub type Target = Selector;

/// An entry of `patches` or `patchesJson6902`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PatchEntry {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Target>,
    #[serde(default)]
    pub options: BTreeMap<String, bool>,
}

/// A ConfigMap or Secret generator.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct GeneratorArgs {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    pub env: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub options: Option<GeneratorOptions>,
}

/// `generatorOptions`, or a generator's `options`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// An entry of `replacements`: inline, or a `path` to a file of them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ReplacementEntry {
    pub path: Option<String>,
    pub source: Option<ReplacementSource>,
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

/// Where a replacement reads its value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ReplacementSource {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub field_path: Option<String>,
    pub options: Option<ReplacementOptions>,
}

/// Where a replacement writes its value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ReplacementTarget {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<ReplacementOptions>,
}

/// A selector of objects: patch targets, replacement sources and targets.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// Replacement options.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ReplacementOptions {
    pub delimiter: Option<String>,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub create: bool,
}

/// A legacy `vars` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Var {
    pub name: String,
    pub objref: VarObjRef,
    pub fieldref: Option<VarFieldRef>,
}

/// The object a var reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct VarObjRef {
    pub api_version: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
}

/// The field a var reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct VarFieldRef {
    /// `fieldpath` (all lower case, as Kustomize spells it).
    #[serde(rename = "fieldpath", default)]
    pub fieldpath: String,
}

/// `sortOptions`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SortOptions {
    pub order: Option<String>,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}
