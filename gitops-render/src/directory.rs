//! Argo CD's "directory" source: every YAML and JSON file of a directory, optionally
//! recursive, filtered by include and exclude globs.

use gitops_core::tree::{EntryKind, FileTree, join, normalize};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Renderer};

use crate::error::Error;

/// The plain-directory renderer.
///
/// ```
/// use gitops_core::{MemTree, Renderer};
/// use gitops_render::Directory;
/// let tree = MemTree::new()
///     .with_file("app/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
///     .with_file("app/sub/b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
///     .with_file("app/README.md", "not yaml");
/// let flat = Directory::default().render(&tree, "app").unwrap();
/// assert_eq!(flat.len(), 1);
/// let deep = Directory { recurse: true, ..Default::default() }.render(&tree, "app").unwrap();
/// assert_eq!(deep.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// Descend into subdirectories.
    pub recurse: bool,
    /// Only files matching one of these globs (relative to the directory; `{a,b}` braces,
    /// `*`, `**` and `?` as Argo CD accepts them). Empty means all.
    pub include: Vec<String>,
    /// Files matching one of these globs are left out.
    pub exclude: Vec<String>,
}

impl Renderer for Directory {
    type Error = Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        let root = normalize(path)?;
        let mut files = Vec::new();
        self.collect(tree, &root, "", &mut files)?;
        let mut out = Vec::new();
        for (full, rel) in files {
            let included = self.include.is_empty() || self.include.iter().any(|g| glob_match(g, &rel));
            if !included || self.exclude.iter().any(|g| glob_match(g, &rel)) {
                continue;
            }
            let text = tree.read_to_string(&full)?;
            out.extend(yaml::parse_objects(&text, &full, &ParseOptions::default())?);
        }
        Ok(out)
    }
}

impl Directory {
    fn collect(&self, tree: &dyn FileTree, dir: &str, rel: &str, out: &mut Vec<(String, String)>) -> Result<(), Error> {
        for e in tree.list(dir)? {
            let full = join(dir, &e.name)?;
            let r = if rel.is_empty() { e.name.clone() } else { format!("{rel}/{}", e.name) };
            match e.kind {
                EntryKind::Dir if self.recurse && !e.name.starts_with('.') => self.collect(tree, &full, &r, out)?,
                EntryKind::File if [".yaml", ".yml", ".json"].iter().any(|x| e.name.ends_with(x)) => {
                    out.push((full, r))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Matches a path against a glob: `*` within a segment, `**` across segments, `?` one
/// character, `{a,b}` alternatives.
pub fn glob_match(glob: &str, path: &str) -> bool {
    if let (Some(open), Some(close)) = (glob.find('{'), glob.find('}'))
        && open < close
    {
        return glob[open + 1..close]
            .split(',')
            .any(|alt| glob_match(&format!("{}{}{}", &glob[..open], alt, &glob[close + 1..]), path));
    }
    let g: Vec<char> = glob.chars().collect();
    let p: Vec<char> = path.chars().collect();
    match_from(&g, &p)
}

fn match_from(g: &[char], p: &[char]) -> bool {
    match g.first() {
        None => p.is_empty(),
        Some('*') if g.get(1) == Some(&'*') => {
            let rest = if g.get(2) == Some(&'/') { &g[3..] } else { &g[2..] };
            (0..=p.len()).any(|i| match_from(rest, &p[i..]))
        }
        Some('*') => (0..=p.len()).take_while(|&i| i == 0 || p[i - 1] != '/').any(|i| match_from(&g[1..], &p[i..])),
        Some('?') => !p.is_empty() && p[0] != '/' && match_from(&g[1..], &p[1..]),
        Some(c) => p.first() == Some(c) && match_from(&g[1..], &p[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(!glob_match("*.yaml", "sub/a.yaml"));
        assert!(glob_match("**/*.yaml", "sub/deep/a.yaml"));
        assert!(glob_match("**/*.yaml", "a.yaml"));
        assert!(glob_match("{a,b}.yaml", "b.yaml"));
        assert!(glob_match("?.yaml", "c.yaml"));
        assert!(!glob_match("?.yaml", "cc.yaml"));
    }

    #[test]
    fn broken_yaml_names_the_file() {
        let tree = gitops_core::MemTree::new().with_file("d/bad.yaml", "apiVersion: v1\nkind: [\n");
        let err = Directory::default().render(&tree, "d").unwrap_err().to_string();
        assert!(err.contains("d/bad.yaml"), "{err}");
    }
}

/// Argo CD's source-type detection: Kustomize when the path holds a kustomization file, a
/// plain directory otherwise.
#[derive(Clone, Debug, Default)]
pub struct AutoRenderer {
    /// The Kustomize renderer used for kustomizations.
    pub kustomize: crate::Kustomize,
    /// The directory renderer used otherwise.
    pub directory: Directory,
}

impl AutoRenderer {
    /// Whether `dir` holds a kustomization file (Argo CD's test for the Kustomize source type).
    fn is_kustomization(tree: &dyn FileTree, dir: &str) -> Result<bool, Error> {
        for name in crate::kustomize::KUSTOMIZATION_FILE_NAMES {
            if tree.kind(&join(dir, name)?)? == Some(EntryKind::File) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Renderer for AutoRenderer {
    type Error = Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        if Self::is_kustomization(tree, &dir)? {
            self.kustomize.build(tree, &dir)
        } else {
            self.directory.render(tree, &dir)
        }
    }

    /// Kustomize's way for a kustomization (the kustomization edited, then built); for a
    /// plain directory, the rendered containers' images rewritten.
    fn render_with_images(&self, tree: &dyn FileTree, path: &str, images: &[String]) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        if Self::is_kustomization(tree, &dir)? {
            self.kustomize.render_with_images(tree, &dir, images)
        } else {
            self.directory.render_with_images(tree, &dir, images)
        }
    }
}
