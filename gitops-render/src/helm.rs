//! Helm chart inflation, as `kubectl kustomize --enable-helm` does it (Kustomize v5.5's
//! `HelmChartInflationGenerator`): each `helmCharts` entry is rendered by the `helm` binary
//! (`helm template`) and its objects join the kustomization's resources at the generator step.
//!
//! The chart is read from the kustomization's tree (`{helmGlobals.chartHome}/{name}`,
//! `charts/` by default), written to a private temporary directory with the values file, and
//! given to `helm`; a chart that is not there is pulled with `helm pull --repo` when the entry
//! names a repository. The values file is the chart's own `values.yaml` (or `valuesFile`),
//! with `valuesInline` over it (`valuesMerge: override`, the default), under it (`merge`), or
//! instead of it (`replace`).

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::Object;
use gitops_core::patch::merge_patch;
use gitops_core::tree::{EntryKind, FileTree, join};
use gitops_core::value::{Map, Value};
use gitops_core::yaml::{self, ParseOptions};

/// How charts are inflated: the `helm` binary (v3), and the capabilities `helm template`
/// is told about (`kubectl kustomize --helm-kube-version`, `--helm-api-versions`).
#[derive(Clone, Debug)]
pub struct HelmOptions {
    /// The `helm` command (`--helm-command`), a path or a name on `PATH`.
    pub command: PathBuf,
    /// `--kube-version` for every chart (over each chart's own `kubeVersion`).
    pub kube_version: Option<String>,
    /// `--api-versions` for every chart (over each chart's own `apiVersions`).
    pub api_versions: Vec<String>,
}

impl Default for HelmOptions {
    fn default() -> Self {
        Self { command: PathBuf::from("helm"), kube_version: None, api_versions: Vec::new() }
    }
}

/// `helmGlobals`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HelmGlobals {
    #[serde(default)]
    pub chart_home: Option<String>,
    #[serde(default)]
    pub config_home: Option<String>,
}

/// One `helmCharts` entry.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HelmChart {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub release_name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub additional_values_files: Vec<String>,
    #[serde(default)]
    pub values_file: String,
    #[serde(default)]
    pub values_inline: Map<String, Value>,
    #[serde(default)]
    pub values_merge: String,
    #[serde(default, rename = "includeCRDs")]
    pub include_crds: bool,
    #[serde(default)]
    pub skip_hooks: bool,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub kube_version: String,
    #[serde(default)]
    pub name_template: String,
    #[serde(default)]
    pub skip_tests: bool,
    #[serde(default)]
    pub debug: bool,
}

/// Why a chart could not be inflated (the caller names the kustomization and entry).
pub(crate) type HelmError = String;

/// Reads a file named relative to the kustomization, under the build's load restrictor:
/// its path and bytes.
pub(crate) type ReadFile<'a> = &'a dyn Fn(&str) -> Result<(String, Vec<u8>), HelmError>;

/// Copies a directory of the tree to disk; a file whose real location the load restrictor
/// does not allow (a symlink out of the kustomization's root) is refused.
pub(crate) fn copy_out(
    tree: &dyn FileTree,
    from: &str,
    to: &Path,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<(), HelmError> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in tree.list(from).map_err(|e| e.to_string())? {
        let src = join(from, &entry.name).map_err(|e| e.to_string())?;
        let dst = to.join(&entry.name);
        match entry.kind {
            EntryKind::Dir => copy_out(tree, &src, &dst, allowed)?,
            EntryKind::File => {
                if !allowed(&src) {
                    return Err(format!(
                        "security; file {src:?} of the chart is a symlink to a file outside the kustomization's root"
                    ));
                }
                let bytes = tree.read(&src).map_err(|e| e.to_string())?;
                std::fs::write(&dst, bytes).map_err(|e| format!("{}: {e}", dst.display()))?;
            }
        }
    }
    Ok(())
}

/// The values `helm template` gets for a chart, as YAML.
pub(crate) fn values(chart: &HelmChart, chart_values: Option<&str>, source: &str) -> Result<String, HelmError> {
    let read = |text: Option<&str>| -> Result<Map<String, Value>, HelmError> {
        let text = text.ok_or_else(|| format!("{source}: no such file"))?;
        match yaml::parse_value(text, source, 0, 1).map_err(|e| e.to_string())? {
            Some(Value::Object(m)) => Ok(m),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(format!("{source}: values must be a mapping")),
        }
    };
    if chart.values_inline.is_empty() {
        // The file as it is.
        return chart_values.map(String::from).ok_or_else(|| format!("{source}: no such file"));
    }
    let merged = match chart.values_merge.as_str() {
        // Kustomize merges with kyaml: maps key by key, a `null` removes the key, anything
        // else replaces, which is a JSON merge patch (RFC 7386).
        "" | "override" => {
            let mut out = Value::Object(read(chart_values)?);
            merge_patch(&mut out, &Value::Object(chart.values_inline.clone()));
            out
        }
        "merge" => {
            let mut out = Value::Object(chart.values_inline.clone());
            merge_patch(&mut out, &Value::Object(read(chart_values)?));
            out
        }
        "replace" => Value::Object(chart.values_inline.clone()),
        other => return Err(format!("valuesMerge must be one of [merge override replace], not {other:?}")),
    };
    Ok(yaml::to_yaml(&merged))
}

/// Runs `helm` with its config, cache and data homes under `home`.
pub(crate) fn run(opts: &HelmOptions, home: &Path, args: &[String]) -> Result<Vec<u8>, HelmError> {
    let env = [
        ("HELM_CONFIG_HOME", home.to_path_buf()),
        ("HELM_CACHE_HOME", home.join(".cache")),
        ("HELM_DATA_HOME", home.join(".data")),
    ];
    let shown = format!("{} {}", opts.command.display(), args.join(" "));
    let out = Command::new(&opts.command)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .output()
        .map_err(|e| format!("unable to run: '{shown}' (is '{}' installed?): {e}", opts.command.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{}: unable to run: '{shown}' (is '{}' installed?): {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            opts.command.display(),
            out.status
        ));
    }
    Ok(out.stdout)
}

/// Inflates one chart: its objects, in `helm template`'s order.
///
/// `dir` is the kustomization's directory in `tree`; `read` reads a file named relative to
/// it under the build's load restrictor.
pub(crate) fn inflate(
    opts: &HelmOptions,
    tree: &dyn FileTree,
    dir: &str,
    globals: &HelmGlobals,
    chart: &HelmChart,
    read: ReadFile<'_>,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<Vec<Object>, HelmError> {
    if chart.name.is_empty() {
        return Err("chart name cannot be empty".into());
    }
    // A private directory (mode 0700), removed when the chart is done.
    let tmp = tempfile::Builder::new()
        .prefix("gitops-helm-")
        .tempdir()
        .map_err(|e| format!("cannot create a directory for helm: {e}"))?;
    let tmp_dir = tmp.path();
    let home = match globals.config_home.as_deref() {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => tmp_dir.join("helm"),
    };
    // Kustomize v5.5 checks for helm 3 first.
    let version = run(opts, &home, &["version".into(), "-c".into(), "--short".into()])?;
    let text = String::from_utf8_lossy(&version);
    let v = text.trim().trim_start_matches('v');
    if !v.starts_with("3.") {
        return Err(format!("this plugin requires helm V3 but got v{v}"));
    }
    let chart_home = globals.chart_home.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "charts".into());
    // With a repo and a version, charts live in `{chartHome}/{name}-{version}`.
    let home_in_tree = if !chart.version.is_empty() && !chart.repo.is_empty() {
        format!("{chart_home}/{}-{}", chart.name, chart.version)
    } else {
        chart_home
    };
    let chart_in_tree = join(dir, &format!("{home_in_tree}/{}", chart.name)).map_err(|e| e.to_string())?;
    // The chart home is read like any file: under the kustomization's root unless the load
    // restrictor is lifted.
    if !allowed(&chart_in_tree) {
        return Err(format!(
            "security; chart {chart_in_tree:?} is not in or below {:?} (the load restrictor is RootOnly)",
            if dir.is_empty() { "." } else { dir }
        ));
    }
    let charts_on_disk = tmp_dir.join("charts");
    let chart_dir = charts_on_disk.join(&chart.name);
    if tree.kind(&chart_in_tree).map_err(|e| e.to_string())? == Some(EntryKind::Dir) {
        copy_out(tree, &chart_in_tree, &chart_dir, allowed)?;
    } else if chart.repo.is_empty() {
        return Err(format!("no repo specified for pull, no chart found at '{chart_in_tree}'"));
    } else if !["https://", "http://", "oci://"].iter().any(|s| chart.repo.starts_with(s)) {
        // A path or a file:// URL would have helm read the agent's own disk.
        return Err(format!(
            "repo {:?} is not a chart repository URL (https://, http:// or oci://); a chart of the repository goes in '{home_in_tree}'",
            chart.repo
        ));
    } else {
        let mut args: Vec<String> = vec!["pull".into(), "--untar".into(), "--untardir".into()];
        args.push(charts_on_disk.display().to_string());
        if chart.repo.starts_with("oci://") {
            args.push(format!("{}/{}", chart.repo.trim_end_matches('/'), chart.name));
        } else {
            args.extend(["--repo".into(), chart.repo.clone(), chart.name.clone()]);
        }
        if !chart.version.is_empty() {
            args.extend(["--version".into(), chart.version.clone()]);
        }
        run(opts, &home, &args)?;
    }
    // Values: the chart's own file (as pulled or copied), or `valuesFile` from the tree.
    let (source, chart_values) = if chart.values_file.is_empty() {
        let p = chart_dir.join("values.yaml");
        (p.display().to_string(), std::fs::read_to_string(&p).ok())
    } else {
        let (p, bytes) = read(&chart.values_file)?;
        (p, Some(String::from_utf8(bytes).map_err(|_| format!("{}: not valid UTF-8", chart.values_file))?))
    };
    let values_path = tmp_dir.join(format!("{}-kustomize-values.yaml", chart.name));
    std::fs::write(&values_path, values(chart, chart_values.as_deref(), &source)?)
        .map_err(|e| format!("failed to write values file: {e}"))?;
    let mut args: Vec<String> = vec!["template".into()];
    if chart.release_name.is_empty() {
        args.push("--generate-name".into());
    } else {
        args.push(chart.release_name.clone());
    }
    args.push(chart_dir.display().to_string());
    if !chart.namespace.is_empty() {
        args.extend(["--namespace".into(), chart.namespace.clone()]);
    }
    if !chart.name_template.is_empty() {
        args.extend(["--name-template".into(), chart.name_template.clone()]);
    }
    args.extend(["-f".into(), values_path.display().to_string()]);
    for (i, f) in chart.additional_values_files.iter().enumerate() {
        let (_, bytes) = read(f)?;
        let p = tmp_dir.join(format!("additional-{i}.yaml"));
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        args.extend(["-f".into(), p.display().to_string()]);
    }
    let api_versions = if opts.api_versions.is_empty() { &chart.api_versions } else { &opts.api_versions };
    for a in api_versions {
        args.extend(["--api-versions".into(), a.clone()]);
    }
    let kube_version = opts.kube_version.clone().unwrap_or_else(|| chart.kube_version.clone());
    if !kube_version.is_empty() {
        args.extend(["--kube-version".into(), kube_version]);
    }
    if chart.include_crds {
        args.push("--include-crds".into());
    }
    if chart.skip_tests {
        args.push("--skip-tests".into());
    }
    if chart.skip_hooks {
        args.push("--no-hooks".into());
    }
    if chart.debug {
        args.push("--debug".into());
    }
    let out = run(opts, &home, &args)?;
    let text = String::from_utf8(out).map_err(|_| "helm wrote output that is not UTF-8".to_string())?;
    yaml::parse_objects(&text, &format!("helm template {}", chart.name), &ParseOptions::default())
        .map_err(|e| format!("reading helm's output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::json;

    fn chart(inline: Value, merge: &str) -> HelmChart {
        HelmChart {
            name: "web".into(),
            values_inline: inline.as_object().cloned().unwrap_or_default(),
            values_merge: merge.into(),
            ..Default::default()
        }
    }

    #[test]
    fn values_merge_modes() {
        let file = "replicas: 1\nimage:\n  repo: nginx\n  tag: \"1.0\"\nextra: [a]\n";
        let inline = json!({"replicas": 3, "image": {"tag": "2.0"}, "extra": null});
        let parse = |s: String| yaml::parse_value(&s, "v", 0, 1).unwrap().unwrap();
        assert_eq!(
            parse(values(&chart(inline.clone(), ""), Some(file), "v").unwrap()),
            json!({"replicas": 3, "image": {"repo": "nginx", "tag": "2.0"}})
        );
        assert_eq!(
            parse(values(&chart(inline.clone(), "merge"), Some(file), "v").unwrap()),
            json!({"replicas": 1, "image": {"repo": "nginx", "tag": "1.0"}, "extra": ["a"]})
        );
        assert_eq!(parse(values(&chart(inline.clone(), "replace"), None, "v").unwrap()), inline);
        // No inline values: the file as it is; a missing file is an error.
        assert_eq!(values(&chart(json!({}), ""), Some(file), "v").unwrap(), file);
        assert!(values(&chart(json!({}), ""), None, "charts/web/values.yaml").unwrap_err().contains("no such file"));
        // Broken input.
        assert!(values(&chart(inline.clone(), "sideways"), Some(file), "v").unwrap_err().contains("valuesMerge"));
        assert!(values(&chart(inline.clone(), ""), Some("a: [\n"), "v").is_err());
        assert!(values(&chart(inline, ""), Some("- a\n"), "v").unwrap_err().contains("mapping"));
    }
}
