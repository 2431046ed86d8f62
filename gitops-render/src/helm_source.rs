//! Argo CD's Helm source type: a chart in a Git repository (a directory with `Chart.yaml`)
//! or from a Helm repository, rendered with `helm template` as Argo CD's repo server runs it.
//!
//! The chart directory (and the `file://` dependencies it names, within the repository) is
//! copied from the tree to a private temporary directory; values files are read from the
//! tree (relative to the chart, `/`-rooted at the repository, or `$ref/...` in another
//! source's repository) and handed to `helm` in order, then `values`/`valuesObject`, then
//! `--set`, `--set-string` and `--set-file` parameters with `$ARGOCD_APP_*` substituted.
//! A chart whose dependencies are missing from `charts/` gets `helm dependency build` and a
//! second try, as Argo CD does.

use std::path::Path;

use gitops_core::Object;
use gitops_core::source::{HelmSource, RenderRequest};
use gitops_core::tree::{EntryKind, FileTree, join, normalize};
use gitops_core::yaml::{self, ParseOptions};

use crate::error::Error;
use crate::helm::{HelmOptions, copy_out, run};

/// How a values file of the source is named and where it is read.
enum ValuesFile {
    /// A file of the chart's own tree, repository-relative.
    Tree(String),
    /// A file of another source's tree (`$name/path`).
    Ref(String, String),
    /// A URL `helm` fetches itself.
    Url(String),
}

/// Resolves a values file path as Argo CD does: `$ref/...` in the named source; a URL as it
/// is (http and https only); an absolute path from the repository's root; otherwise relative
/// to the chart. Paths that leave the repository are refused.
fn resolve_values_path(dir: &str, raw: &str, request: &RenderRequest<'_>) -> Result<ValuesFile, String> {
    if let Some(rest) = raw.strip_prefix('$') {
        let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
        if request.reference(name).is_some() {
            let path = normalize(&request.envsubst(path))
                .map_err(|_| format!("value file {raw:?} resolved to outside the repository of source ${name}"))?;
            return Ok(ValuesFile::Ref(name.to_string(), path));
        }
    }
    let raw = request.envsubst(raw);
    if let Some((scheme, _)) = raw.split_once("://") {
        return match scheme {
            "http" | "https" => Ok(ValuesFile::Url(raw)),
            other => Err(format!("the URL scheme {other:?} of value file {raw:?} is not allowed (http, https)")),
        };
    }
    let joined = if let Some(abs) = raw.strip_prefix('/') { abs.to_string() } else { format!("{dir}/{raw}") };
    normalize(&joined)
        .map(ValuesFile::Tree)
        .map_err(|_| format!("value file {raw:?} resolved to outside the repository root"))
}

/// Reads a resolved values file: its bytes, or `None` when it does not exist.
fn read_values(tree: &dyn FileTree, file: &ValuesFile, request: &RenderRequest<'_>) -> Result<Option<Vec<u8>>, String> {
    let (t, path) = match file {
        ValuesFile::Tree(p) => (tree, p.as_str()),
        ValuesFile::Ref(name, p) => {
            (request.reference(name).ok_or_else(|| format!("no source named ${name}"))?, p.as_str())
        }
        ValuesFile::Url(_) => return Ok(None),
    };
    match t.kind(path).map_err(|e| e.to_string())? {
        Some(EntryKind::File) => {
            if t.real_path(path).is_err() {
                return Err(format!("value file {path:?} is a symlink to outside the repository"));
            }
            t.read(path).map(Some).map_err(|e| e.to_string())
        }
        Some(EntryKind::Dir) => Err(format!("value file {path:?} is a directory")),
        None => Ok(None),
    }
}

/// The `file://` dependencies of a chart (`Chart.yaml`'s `dependencies[].repository`), as
/// repository-relative directories.
fn local_dependencies(tree: &dyn FileTree, chart_dir: &str) -> Result<Vec<String>, String> {
    let file = join(chart_dir, "Chart.yaml").map_err(|e| e.to_string())?;
    let text = tree.read_to_string(&file).map_err(|e| e.to_string())?;
    let chart = yaml::parse_value(&text, &file, 0, 1).map_err(|e| e.to_string())?.unwrap_or_default();
    let mut out = Vec::new();
    for dep in chart.get("dependencies").and_then(|d| d.as_array()).into_iter().flatten() {
        if let Some(rel) = dep.get("repository").and_then(|r| r.as_str()).and_then(|r| r.strip_prefix("file://")) {
            let p = normalize(&format!("{chart_dir}/{rel}"))
                .map_err(|_| format!("{file}: dependency {rel:?} is outside the repository"))?;
            out.push(p);
        }
    }
    Ok(out)
}

/// Copies the chart at `chart_dir` and its local dependencies (recursively) to `root`,
/// keeping their repository-relative places. A dependency that is not in the tree is left
/// to `helm` (a packaged chart carries its dependencies in `charts/`; a chart that lacks one
/// gets helm's own error).
fn materialize(tree: &dyn FileTree, chart_dir: &str, root: &Path, seen: &mut Vec<String>) -> Result<(), String> {
    if seen.iter().any(|s| s == chart_dir) {
        return Ok(());
    }
    seen.push(chart_dir.to_string());
    if tree.kind(chart_dir).map_err(|e| e.to_string())? != Some(EntryKind::Dir) {
        return Err(format!("chart directory {chart_dir:?} does not exist"));
    }
    let allowed = |p: &str| matches!(tree.real_path(p), Ok(Some(_)));
    copy_out(tree, chart_dir, &root.join(chart_dir), &allowed)?;
    if tree.kind(&join(chart_dir, "Chart.yaml").map_err(|e| e.to_string())?).map_err(|e| e.to_string())?
        == Some(EntryKind::File)
    {
        for dep in local_dependencies(tree, chart_dir)? {
            if tree.kind(&dep).map_err(|e| e.to_string())? == Some(EntryKind::Dir) {
                materialize(tree, &dep, root, seen)?;
            }
        }
    }
    Ok(())
}

/// Helm's `--set` value with commas escaped, as Argo CD's `cleanSetParameters` (a `{a,b}`
/// list is left as it is).
fn clean_set_parameter(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = '\0';
    for c in value.chars() {
        if c == ',' && prev != '\\' {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Renders the chart at `dir` of `tree` for an Application's Helm source.
pub fn render(
    opts: &HelmOptions,
    tree: &dyn FileTree,
    dir: &str,
    request: &RenderRequest<'_>,
) -> Result<Vec<Object>, Error> {
    let chart_name = if dir.is_empty() { ".".to_string() } else { dir.to_string() };
    let fail = |message: String| Error::Helm { chart: chart_name.clone(), message };
    let default = HelmSource::default();
    let helm = request.source.helm.as_ref().unwrap_or(&default);
    let tmp = tempfile::Builder::new()
        .prefix("gitops-helm-")
        .tempdir()
        .map_err(|e| fail(format!("cannot create a directory for helm: {e}")))?;
    let repo = tmp.path().join("repo");
    let home = tmp.path().join("helm");
    materialize(tree, dir, &repo, &mut Vec::new()).map_err(&fail)?;
    let chart_path = repo.join(dir);

    let release = if helm.release_name.is_empty() { request.app_name.as_str() } else { helm.release_name.as_str() };
    let namespace = if helm.namespace.is_empty() { request.namespace.as_str() } else { helm.namespace.as_str() };
    let mut args: Vec<String> = vec!["template".into(), chart_path.display().to_string()];
    args.extend(["--name-template".into(), release.to_string()]);
    if !namespace.is_empty() {
        args.extend(["--namespace".into(), namespace.to_string()]);
    }
    let kube_version =
        if helm.kube_version.is_empty() { request.kube_version.clone() } else { Some(helm.kube_version.clone()) };
    if let Some(v) = kube_version.filter(|v| !v.is_empty()) {
        args.extend(["--kube-version".into(), v]);
    }
    let values_dir = tmp.path().join("values");
    std::fs::create_dir_all(&values_dir).map_err(|e| fail(format!("{}: {e}", values_dir.display())))?;
    let write_temp = |name: String, bytes: &[u8]| -> Result<String, Error> {
        let p = values_dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| fail(format!("{}: {e}", p.display())))?;
        Ok(p.display().to_string())
    };
    for (name, value) in helm.parameters.iter().filter(|p| !p.force_string).map(|p| (&p.name, &p.value)) {
        args.extend(["--set".into(), format!("{name}={}", clean_set_parameter(&request.envsubst(value)))]);
    }
    for (name, value) in helm.parameters.iter().filter(|p| p.force_string).map(|p| (&p.name, &p.value)) {
        args.extend(["--set-string".into(), format!("{name}={}", clean_set_parameter(&request.envsubst(value)))]);
    }
    for (i, p) in helm.file_parameters.iter().enumerate() {
        let file = resolve_values_path(dir, &p.path, request).map_err(&fail)?;
        let on_disk = match &file {
            ValuesFile::Url(u) => u.clone(),
            _ => {
                let bytes = read_values(tree, &file, request)
                    .map_err(&fail)?
                    .ok_or_else(|| fail(format!("file parameter {:?}: {:?} does not exist", p.name, p.path)))?;
                write_temp(format!("set-file-{i}"), &bytes)?
            }
        };
        args.extend(["--set-file".into(), format!("{}={}", p.name, clean_set_parameter(&on_disk))]);
    }
    for (i, raw) in helm.value_files.iter().enumerate() {
        let file = resolve_values_path(dir, raw, request).map_err(&fail)?;
        match &file {
            ValuesFile::Url(u) => args.extend(["--values".into(), u.clone()]),
            _ => match read_values(tree, &file, request).map_err(&fail)? {
                Some(bytes) => {
                    let p = write_temp(format!("values-{i}.yaml"), &bytes)?;
                    args.extend(["--values".into(), p]);
                }
                None if helm.ignore_missing_value_files => {
                    tracing::debug!(file = %raw, "values file missing, ignored (ignoreMissingValueFiles)");
                }
                None => return Err(fail(format!("values file {raw:?} does not exist"))),
            },
        }
    }
    // `valuesObject` wins over `values`.
    let inline = match (&helm.values_object, &helm.values) {
        (Some(object), _) if !object.is_null() => Some(yaml::to_yaml(object)),
        (_, Some(text)) if !text.trim().is_empty() => Some(text.clone()),
        _ => None,
    };
    if let Some(text) = inline {
        let p = write_temp("inline-values.yaml".into(), text.as_bytes())?;
        args.extend(["--values".into(), p]);
    }
    let api_versions = if helm.api_versions.is_empty() { &request.api_versions } else { &helm.api_versions };
    for a in api_versions {
        args.extend(["--api-versions".into(), a.clone()]);
    }
    if !helm.skip_crds {
        args.push("--include-crds".into());
    }
    if helm.skip_schema_validation {
        args.push("--skip-schema-validation".into());
    }
    if helm.skip_tests {
        args.push("--skip-tests".into());
    }
    let out = match run(opts, &home, &args) {
        Ok(out) => out,
        Err(e) if is_missing_dependency(&e) => {
            run(opts, &home, &["dependency".into(), "build".into(), chart_path.display().to_string()])
                .map_err(|e| fail(clean(&e, tmp.path())))?;
            run(opts, &home, &args).map_err(|e| fail(clean(&e, tmp.path())))?
        }
        Err(e) => return Err(fail(clean(&e, tmp.path()))),
    };
    let text = String::from_utf8(out).map_err(|_| fail("helm wrote output that is not UTF-8".into()))?;
    yaml::parse_objects(&text, &format!("helm template {chart_name}"), &ParseOptions::default())
        .map_err(|e| fail(format!("reading helm's output: {e}")))
}

/// Whether `helm template` failed because `charts/` lacks the chart's dependencies.
fn is_missing_dependency(message: &str) -> bool {
    message.contains("found in Chart.yaml, but missing in charts/ directory")
        || message.contains("found in requirements.yaml, but missing in charts/ directory")
}

/// Helm's message without the temporary directory's name (the chart's path in the
/// repository is what a person can find).
fn clean(message: &str, tmp: &Path) -> String {
    let repo = format!("{}/", tmp.join("repo").display());
    message.replace(&repo, "").replace(&tmp.display().to_string(), "<tmp>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::MemTree;
    use gitops_core::source::AppSource;

    #[test]
    fn set_parameters_escape_commas() {
        assert_eq!(clean_set_parameter("a,b"), "a\\,b");
        assert_eq!(clean_set_parameter("a\\,b"), "a\\,b");
        assert_eq!(clean_set_parameter("{a,b}"), "{a,b}");
    }

    #[test]
    fn values_paths_resolve_as_argo_cd_resolves_them() {
        let source = AppSource::default();
        let other = MemTree::new().with_file("env/prod.yaml", "a: 1");
        let mut request = RenderRequest::new(&source, "app", "ns", "abc");
        request.refs.push(("values".into(), &other));
        let dir = "charts/web";
        let tree_path = |raw: &str| match resolve_values_path(dir, raw, &request) {
            Ok(ValuesFile::Tree(p)) => Ok(p),
            Ok(ValuesFile::Ref(n, p)) => Ok(format!("${n}:{p}")),
            Ok(ValuesFile::Url(u)) => Ok(format!("url:{u}")),
            Err(e) => Err(e),
        };
        assert_eq!(tree_path("values-prod.yaml").unwrap(), "charts/web/values-prod.yaml");
        assert_eq!(tree_path("../common/values.yaml").unwrap(), "charts/common/values.yaml");
        assert_eq!(tree_path("/env/prod.yaml").unwrap(), "env/prod.yaml");
        assert_eq!(tree_path("$values/env/prod.yaml").unwrap(), "$values:env/prod.yaml");
        assert_eq!(tree_path("https://example.com/v.yaml").unwrap(), "url:https://example.com/v.yaml");
        assert!(tree_path("../../../etc/passwd").unwrap_err().contains("outside the repository root"));
        assert!(tree_path("file:///etc/passwd").unwrap_err().contains("not allowed"));
        // An unknown `$name` is substituted from the build environment (to nothing), which
        // leaves a path from the repository's root, as Argo CD reads it.
        assert_eq!(tree_path("$nope/x.yaml").unwrap(), "x.yaml");
    }
}
