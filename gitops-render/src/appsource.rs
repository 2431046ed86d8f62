//! Argo CD's source types under one [`Renderer`]: [`AutoRenderer`] detects what a path holds
//! as Argo CD's repo server does and renders it with the source's options.

use gitops_core::source::{AppSource, DirectorySource, KustomizeSource, RenderRequest, SourceType};
use gitops_core::tree::{EntryKind, FileTree, normalize};
use gitops_core::{Object, Renderer};

use crate::directory::Directory;
use crate::error::Error;
use crate::helm::HelmOptions;

/// Argo CD's source-type detection and rendering: an explicit `helm:`, `kustomize:`,
/// `directory:` block (or a `chart`) wins; otherwise the files of the path decide (a file
/// whose name ends in `Chart.yaml` means Helm, a kustomization file means Kustomize, the
/// one later in name order winning when both are there, as Argo CD's walk does); otherwise
/// a plain directory (with Jsonnet).
///
/// ```
/// use gitops_core::{MemTree, Renderer};
/// use gitops_core::source::{AppSource, RenderRequest};
/// use gitops_render::AutoRenderer;
/// let tree = MemTree::new()
///     .with_file("app/kustomization.yaml", "resources: [cm.yaml]\n")
///     .with_file("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n");
/// let source: AppSource = gitops_core::value::from_value(gitops_core::json!({
///     "repoURL": "https://example.com/config.git", "path": "app",
///     "kustomize": {"namePrefix": "web-", "commonLabels": {"app": "$ARGOCD_APP_NAME"}}
/// })).unwrap();
/// let objects = AutoRenderer::default().render_source(&tree, &RenderRequest::new(&source, "web", "prod", "c0ffee")).unwrap();
/// assert_eq!(objects[0].name(), "web-cm");
/// assert_eq!(objects[0].labels().unwrap()["app"], "web");
/// ```
#[derive(Clone, Debug, Default)]
pub struct AutoRenderer {
    /// The Kustomize renderer used for kustomizations.
    pub kustomize: crate::Kustomize,
    /// The directory renderer used otherwise (its include/exclude are replaced by a
    /// source's `directory` block).
    pub directory: Directory,
    /// How `helm` runs for Helm sources (the `helm` on `PATH` by default).
    pub helm: HelmOptions,
}

impl AutoRenderer {
    /// Whether `dir` holds a kustomization file (Argo CD's test for the Kustomize source type).
    fn is_kustomization(tree: &dyn FileTree, dir: &str) -> Result<bool, Error> {
        Ok(Self::detect(tree, dir)? == SourceType::Kustomize)
    }

    /// The type Argo CD's discovery gives the files of `dir` (no explicit type).
    pub fn detect(tree: &dyn FileTree, dir: &str) -> Result<SourceType, Error> {
        if tree.kind(dir)? != Some(EntryKind::Dir) {
            return Ok(SourceType::Directory);
        }
        let mut found = SourceType::Directory;
        // Entries come sorted by name, the order of Argo CD's filepath.Walk: a later match
        // overwrites an earlier one.
        for e in tree.list(dir)? {
            if e.kind != EntryKind::File {
                continue;
            }
            if e.name.ends_with("Chart.yaml") {
                found = SourceType::Helm;
            }
            if crate::kustomize::KUSTOMIZATION_FILE_NAMES.contains(&e.name.as_str()) {
                found = SourceType::Kustomize;
            }
        }
        Ok(found)
    }

    /// The type a source renders as: its explicit type, else what its files say.
    pub fn source_type(tree: &dyn FileTree, source: &AppSource) -> Result<SourceType, Error> {
        match source.explicit_type().map_err(Error::Source)? {
            Some(t) => Ok(t),
            None => Self::detect(tree, &normalize(&source.path)?),
        }
    }
}

impl Renderer for AutoRenderer {
    type Error = Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        match Self::detect(tree, &dir)? {
            SourceType::Kustomize => self.kustomize.build(tree, &dir),
            SourceType::Helm => {
                let source = AppSource { path: dir.clone(), ..Default::default() };
                crate::helm_source::render(&self.helm, tree, &dir, &RenderRequest::new(&source, "release", "", ""))
            }
            _ => self.directory.render(tree, &dir),
        }
    }

    /// Kustomize's way for a kustomization (the kustomization edited, then built); for a
    /// plain directory, the rendered containers' images rewritten.
    fn render_with_images(&self, tree: &dyn FileTree, path: &str, images: &[String]) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        if Self::is_kustomization(tree, &dir)? {
            self.kustomize.render_with_images(tree, &dir, images)
        } else {
            let mut objects = self.render(tree, &dir)?;
            gitops_core::object::override_object_images(&mut objects, images);
            Ok(objects)
        }
    }

    fn render_source(&self, tree: &dyn FileTree, request: &RenderRequest<'_>) -> Result<Vec<Object>, Error> {
        let source = request.source;
        let dir = normalize(&source.path)?;
        match Self::source_type(tree, source)? {
            SourceType::Helm => crate::helm_source::render(&self.helm, tree, &dir, request),
            SourceType::Kustomize => {
                let default = KustomizeSource::default();
                let options = source.kustomize.as_ref().unwrap_or(&default);
                self.kustomize.render_app_source(tree, &dir, options, request)
            }
            SourceType::Directory => {
                let default = DirectorySource::default();
                let d = source.directory.as_ref().unwrap_or(&default);
                let directory = Directory {
                    recurse: d.recurse || self.directory.recurse,
                    include: d.include.iter().filter(|g| !g.is_empty()).cloned().collect(),
                    exclude: d.exclude.iter().filter(|g| !g.is_empty()).cloned().collect(),
                };
                let mut objects = directory.render_files(tree, &dir, &d.jsonnet, request)?;
                // `kustomize.images` on a directory source: the images rewritten.
                if let Some(k) = &source.kustomize {
                    gitops_core::object::override_object_images(&mut objects, &k.images);
                }
                Ok(objects)
            }
            SourceType::Plugin => Err(Error::Source(
                "config management plugins are not supported: render the manifests into the repository, or use Helm, Kustomize or Jsonnet"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::MemTree;

    #[test]
    fn detection_follows_argo_cd() {
        let t = MemTree::new()
            .with_file("both/Chart.yaml", "name: x")
            .with_file("both/kustomization.yaml", "{}")
            .with_file("late/kustomization.yaml", "{}")
            .with_file("late/zChart.yaml", "name: x")
            .with_file("helm/Chart.yaml", "name: x")
            .with_file("plain/cm.yaml", "{}")
            .with_file("deep/sub/Chart.yaml", "name: x");
        assert_eq!(AutoRenderer::detect(&t, "both").unwrap(), SourceType::Kustomize);
        assert_eq!(AutoRenderer::detect(&t, "late").unwrap(), SourceType::Helm);
        assert_eq!(AutoRenderer::detect(&t, "helm").unwrap(), SourceType::Helm);
        assert_eq!(AutoRenderer::detect(&t, "plain").unwrap(), SourceType::Directory);
        assert_eq!(AutoRenderer::detect(&t, "deep").unwrap(), SourceType::Directory, "only the path itself counts");
        let explicit = AppSource { path: "helm".into(), directory: Some(Default::default()), ..Default::default() };
        assert_eq!(AutoRenderer::source_type(&t, &explicit).unwrap(), SourceType::Directory);
    }

    #[test]
    fn a_plugin_is_refused_with_a_reason() {
        let source = AppSource { plugin: Some(gitops_core::json!({"name": "x"})), ..Default::default() };
        let err = AutoRenderer::default()
            .render_source(&MemTree::new(), &RenderRequest::new(&source, "a", "b", "c"))
            .unwrap_err();
        assert!(err.to_string().contains("plugins are not supported"), "{err}");
    }
}
