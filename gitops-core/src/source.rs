//! An Argo CD Application's source (`spec.source`, one entry of `spec.sources`) and what a
//! renderer is told about it: the options of each source type (Helm, Kustomize, directory
//! with Jsonnet), Argo CD's build environment (`ARGOCD_APP_NAME`, ...), and the trees of the
//! other sources that `$ref/...` paths read.
//!
//! ```
//! use gitops_core::source::{AppSource, RenderRequest};
//! let source: AppSource = gitops_core::value::from_value(gitops_core::json!({
//!     "repoURL": "https://example.com/charts.git", "path": "charts/web",
//!     "helm": {"valueFiles": ["values-prod.yaml"], "parameters": [{"name": "image.tag", "value": "$ARGOCD_APP_REVISION_SHORT"}]}
//! })).unwrap();
//! let request = RenderRequest::new(&source, "web", "prod", "0123456789abcdef");
//! assert_eq!(request.envsubst("tag-$ARGOCD_APP_REVISION_SHORT"), "tag-0123456");
//! ```

use std::collections::BTreeMap;

use crate::value::Value;
use serde::{Deserialize, Serialize};

use crate::tree::FileTree;

fn is_false(b: &bool) -> bool {
    !*b
}

/// `spec.source`: where an application's desired state comes from.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSource {
    /// The Git repository, or the Helm chart repository when `chart` is set.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag, commit or `HEAD` (Git); a version or a semver range (a Helm chart).
    #[serde(default = "head", skip_serializing_if = "String::is_empty")]
    pub target_revision: String,
    /// Directory in the repository.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The chart's name in a Helm repository (`repoURL` is then the repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// The name other sources use for this source's repository (`$name/values.yaml`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    /// A name for the source (Argo CD 2.14+), kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    /// Kustomize options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeSource>,
    /// Plain-directory options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySource>,
    /// A config management plugin (refused: this engine runs no plugins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
}

fn head() -> String {
    "HEAD".into()
}

/// The tool that renders a source, as Argo CD names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    /// `helm template`.
    Helm,
    /// `kustomize build`.
    Kustomize,
    /// YAML, JSON and Jsonnet files.
    Directory,
    /// A config management plugin.
    Plugin,
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceType::Helm => "Helm",
            SourceType::Kustomize => "Kustomize",
            SourceType::Directory => "Directory",
            SourceType::Plugin => "Plugin",
        })
    }
}

impl AppSource {
    /// The type the source names itself, as Argo CD's `ExplicitType`: a chart is Helm; one
    /// of `helm:`, `kustomize:`, `directory:`, `plugin:`; two or more are an error.
    pub fn explicit_type(&self) -> Result<Option<SourceType>, String> {
        let mut set = Vec::new();
        if self.helm.is_some() {
            set.push(SourceType::Helm);
        }
        if self.kustomize.is_some() {
            set.push(SourceType::Kustomize);
        }
        if self.directory.is_some() {
            set.push(SourceType::Directory);
        }
        if self.plugin.is_some() {
            set.push(SourceType::Plugin);
        }
        if set.len() > 1 {
            let names: Vec<String> = set.iter().map(ToString::to_string).collect();
            return Err(format!("multiple application sources defined: {}", names.join(",")));
        }
        if self.chart.as_deref().is_some_and(|c| !c.is_empty()) {
            return Ok(Some(SourceType::Helm));
        }
        Ok(set.first().copied())
    }

    /// Whether the source is a chart of a Helm repository (not a path of a Git repository).
    pub fn is_chart(&self) -> bool {
        self.chart.as_deref().is_some_and(|c| !c.is_empty())
    }

    /// Whether the source only lends its repository to others (`ref` set, no path, no chart):
    /// Argo CD renders nothing for it.
    pub fn is_ref_only(&self) -> bool {
        self.ref_name.is_some() && self.path.is_empty() && !self.is_chart()
    }
}

/// `spec.source.helm`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmSource {
    /// Values files, relative to the chart (`../x.yaml` within the repository), or
    /// `$ref/path` in another source's repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// `--set` / `--set-string` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// `--set-file` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<HelmFileParameter>,
    /// The release name (default: the application's name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_name: String,
    /// Values as a YAML string (the last values file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// Values as an object (wins over `values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_object: Option<Value>,
    /// Helm's major version (`v3`; kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Pass repository credentials to every domain (for charts whose dependencies live
    /// elsewhere).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pass_credentials: bool,
    /// Leave out values files that do not exist instead of failing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_missing_value_files: bool,
    /// Leave the chart's `crds/` out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_crds: bool,
    /// Leave the chart's tests out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_tests: bool,
    /// Skip the chart's values schema.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_schema_validation: bool,
    /// The namespace the chart is rendered for (default: the destination's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `--kube-version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// `--api-versions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

/// One `helm.parameters` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// The value's path (`image.tag`).
    #[serde(default)]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
    /// `--set-string` instead of `--set`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_string: bool,
}

/// One `helm.fileParameters` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct HelmFileParameter {
    /// The value's path.
    #[serde(default)]
    pub name: String,
    /// The file whose content is the value (relative to the chart, or `$ref/...`).
    #[serde(default)]
    pub path: String,
}

/// `spec.source.kustomize`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeSource {
    /// Image overrides, `name=image:tag` as `kustomize edit set image` takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// `kustomize edit set nameprefix`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_prefix: String,
    /// `kustomize edit set namesuffix`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_suffix: String,
    /// `kustomize edit set namespace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `kustomize edit add label` (values with `$ARGOCD_APP_*` substituted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// `kustomize edit add annotation`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Substitute `$ARGOCD_APP_*` in the annotations' values too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub common_annotations_envsubst: bool,
    /// Labels added without touching selectors (`--without-selector`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub label_without_selector: bool,
    /// With `labelWithoutSelector`, labels also go into templates (`--include-templates`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub label_include_templates: bool,
    /// Replace labels the kustomization already sets (`--force`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_common_labels: bool,
    /// Replace annotations the kustomization already sets (`--force`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_common_annotations: bool,
    /// `kustomize edit set replicas`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<KustomizeReplica>,
    /// Patches appended to the kustomization's `patches`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Value>,
    /// `kustomize edit add component`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Leave out components whose directory does not exist.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_missing_components: bool,
    /// The Kustomize binary's version (ignored: one built-in Kustomize renders every source).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `--helm-kube-version` for `helmCharts`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// `--helm-api-versions` for `helmCharts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

/// One `kustomize.replicas` entry (`count` a number or a string of one).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct KustomizeReplica {
    /// The workload's name.
    #[serde(default)]
    pub name: String,
    /// The replica count.
    #[serde(default)]
    pub count: Value,
}

impl KustomizeReplica {
    /// The count as a number (Argo CD's `GetIntCount`).
    pub fn int_count(&self) -> Result<i64, String> {
        match &self.count {
            Value::Number(n) => n.as_i64().ok_or_else(|| format!("replicas count {n} is not an integer")),
            Value::String(s) => {
                s.trim().parse().map_err(|_| format!("expected integer value for count. Received: {s}"))
            }
            other => Err(format!("expected integer value for count. Received: {other}")),
        }
    }
}

/// `spec.source.directory`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySource {
    /// Descend into subdirectories.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recurse: bool,
    /// Only files whose path (relative to the directory) matches this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Leave out files whose path matches this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// Jsonnet options.
    #[serde(default, skip_serializing_if = "JsonnetSource::is_empty")]
    pub jsonnet: JsonnetSource,
}

/// `spec.source.directory.jsonnet`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonnetSource {
    /// `--ext-str` / `--ext-code`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_vars: Vec<JsonnetVar>,
    /// `--tla-str` / `--tla-code`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlas: Vec<JsonnetVar>,
    /// Library directories (relative to the repository's root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

impl JsonnetSource {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.ext_vars.is_empty() && self.tlas.is_empty() && self.libs.is_empty()
    }
}

/// A Jsonnet external variable or top-level argument.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct JsonnetVar {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its value: a string, or Jsonnet code when `code` is set.
    #[serde(default)]
    pub value: String,
    /// The value is code.
    #[serde(default, skip_serializing_if = "is_false")]
    pub code: bool,
}

/// What a renderer is told about the source it renders: the source itself, the build
/// environment Argo CD gives its tools, the trees of the other sources (`$name/...`) and
/// the capabilities Helm is told about.
pub struct RenderRequest<'a> {
    /// The source.
    pub source: &'a AppSource,
    /// The application's name (Helm's default release name, `ARGOCD_APP_NAME`).
    pub app_name: String,
    /// The destination namespace (Helm's default namespace, `ARGOCD_APP_NAMESPACE`).
    pub namespace: String,
    /// The application's project (`ARGOCD_APP_PROJECT_NAME`).
    pub project: String,
    /// The resolved revision (`ARGOCD_APP_REVISION`).
    pub revision: String,
    /// The trees of the sources that have a `ref`, by that name.
    pub refs: Vec<(String, &'a dyn FileTree)>,
    /// The cluster's version for Helm (`--kube-version`), when known.
    pub kube_version: Option<String>,
    /// The cluster's API versions for Helm (`--api-versions`).
    pub api_versions: Vec<String>,
    /// Render again even where a cache holds the result (Argo CD's hard refresh).
    pub bypass_cache: bool,
}

impl<'a> RenderRequest<'a> {
    /// A request for `source` of application `app_name` deployed to `namespace`, at
    /// `revision`.
    pub fn new(source: &'a AppSource, app_name: &str, namespace: &str, revision: &str) -> Self {
        RenderRequest {
            source,
            app_name: app_name.into(),
            namespace: namespace.into(),
            project: String::new(),
            revision: revision.into(),
            refs: Vec::new(),
            kube_version: None,
            api_versions: Vec::new(),
            bypass_cache: false,
        }
    }

    /// Argo CD's build environment (its `newEnv`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let short = |n: usize| self.revision.chars().take(n).collect::<String>();
        vec![
            ("ARGOCD_APP_NAME", self.app_name.clone()),
            ("ARGOCD_APP_NAMESPACE", self.namespace.clone()),
            ("ARGOCD_APP_PROJECT_NAME", self.project.clone()),
            ("ARGOCD_APP_REVISION", self.revision.clone()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", self.source.repo_url.clone()),
            ("ARGOCD_APP_SOURCE_PATH", self.source.path.clone()),
            ("ARGOCD_APP_SOURCE_TARGET_REVISION", self.source.target_revision.clone()),
        ]
    }

    /// `$NAME` and `${NAME}` replaced by the build environment's values (unknown names by
    /// nothing, `$$` by `$`), as Go's `os.Expand` does for Argo CD.
    pub fn envsubst(&self, text: &str) -> String {
        let env = self.env();
        expand(text, |name| {
            if name == "$" {
                return "$".to_string();
            }
            env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap_or_default()
        })
    }

    /// The tree of the source named `name` (without its `$`).
    pub fn reference(&self, name: &str) -> Option<&'a dyn FileTree> {
        self.refs.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }
}

/// Go's `os.Expand`: `$name` (letters, digits, `_`) and `${name}`; a lone special
/// character after `$` (`$$`, `$*`, ...) is passed to `lookup` as it is.
fn expand(s: &str, lookup: impl Fn(&str) -> String) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&s[last..i]);
            let rest = &s[i + 1..];
            let (name, width) = if let Some(inner) = rest.strip_prefix('{') {
                match inner.find('}') {
                    Some(0) | None => ("", if inner.find('}') == Some(0) { 2 } else { 1 }),
                    Some(end) => (&inner[..end], end + 2),
                }
            } else if rest.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
                (&rest[..1], 1)
            } else {
                let n = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (&rest[..n], n)
            };
            if name.is_empty() && width == 0 {
                // `$` followed by something that is no name: Go leaves the `$` as it is.
                out.push('$');
                i += 1;
                last = i;
                continue;
            }
            out.push_str(&lookup(name));
            i += 1 + width;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_expand() {
        let look = |n: &str| match n {
            "A" => "x".to_string(),
            "$" => "$".to_string(),
            _ => String::new(),
        };
        assert_eq!(expand("a$A b${A}c", look), "ax bxc");
        assert_eq!(expand("$$A", look), "$A");
        assert_eq!(expand("cost: 5$", look), "cost: 5$");
        assert_eq!(expand("$B-", look), "-");
        assert_eq!(expand("${}", look), "");
        assert_eq!(expand("a$-b", look), "ab");
        assert_eq!(expand("a$ b", look), "a$ b");
    }

    #[test]
    fn explicit_types() {
        let mut s = AppSource { helm: Some(HelmSource::default()), ..Default::default() };
        assert_eq!(s.explicit_type(), Ok(Some(SourceType::Helm)));
        s.kustomize = Some(KustomizeSource::default());
        assert_eq!(s.explicit_type().unwrap_err(), "multiple application sources defined: Helm,Kustomize");
        let chart = AppSource { chart: Some("redis".into()), ..Default::default() };
        assert_eq!(chart.explicit_type(), Ok(Some(SourceType::Helm)));
        assert_eq!(AppSource::default().explicit_type(), Ok(None));
    }

    #[test]
    fn replica_counts() {
        let r = |v: Value| KustomizeReplica { name: "a".into(), count: v }.int_count();
        assert_eq!(r(crate::json!(3)), Ok(3));
        assert_eq!(r(crate::json!("4")), Ok(4));
        assert!(r(crate::json!("four")).is_err());
    }
}
