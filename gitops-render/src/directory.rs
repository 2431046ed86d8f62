//! Argo CD's "directory" source: the YAML, JSON and Jsonnet files of a directory,
//! optionally recursive, filtered by include and exclude globs, as Argo CD's repo server
//! reads them: files that are not manifests (a values file, a CI config) are left out unless
//! they look like one (`apiVersion:`, `kind:` and `metadata:` all present), and a file
//! holding `+argocd:skip-file-rendering` is skipped.

use gitops_core::source::{JsonnetSource, RenderRequest};
use gitops_core::tree::{EntryKind, FileTree, join, normalize};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Renderer};

use crate::error::Error;

/// Argo CD's marker for files a directory source leaves out.
pub const SKIP_FILE_RENDERING: &str = "+argocd:skip-file-rendering";

/// The plain-directory renderer.
///
/// ```
/// use gitops_core::{MemTree, Renderer};
/// use gitops_render::Directory;
/// let tree = MemTree::new()
///     .with_file("app/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
///     .with_file("app/sub/b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
///     .with_file("app/values.yaml", "replicas: 3\n")
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
    /// Only files whose path (relative to the directory) matches one of these globs. Globs
    /// are read as Argo CD reads them (gobwas/glob without separators: `*` and `**` match
    /// any characters, `/` included; `?`, `[a-z]`, `[!a]`, `{a,b}`). Empty means all.
    pub include: Vec<String>,
    /// Files whose path matches one of these globs are left out.
    pub exclude: Vec<String>,
}

impl Renderer for Directory {
    type Error = Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        let source = gitops_core::source::AppSource::default();
        self.render_files(tree, path, &JsonnetSource::default(), &RenderRequest::new(&source, "", "", ""))
    }
}

impl Directory {
    /// Renders the directory with Jsonnet options and Argo CD's build environment (for
    /// `.jsonnet` files).
    pub fn render_files(
        &self,
        tree: &dyn FileTree,
        path: &str,
        jsonnet: &JsonnetSource,
        request: &RenderRequest<'_>,
    ) -> Result<Vec<Object>, Error> {
        let root = normalize(path)?;
        let mut files = Vec::new();
        self.collect(tree, &root, "", &mut files)?;
        let mut out = Vec::new();
        for (full, rel) in files {
            if self.exclude.iter().any(|g| glob_match(g, &rel)) {
                continue;
            }
            if !self.include.is_empty() && !self.include.iter().any(|g| glob_match(g, &rel)) {
                continue;
            }
            // A link leaving the tree is refused by the tree itself (Argo CD: "illegal
            // filepath in symlink").
            tree.real_path(&full)?;
            let bytes = tree.read(&full)?;
            if memchr(SKIP_FILE_RENDERING.as_bytes(), &bytes) {
                continue;
            }
            if full.ends_with(".jsonnet") {
                out.extend(crate::jsonnet::evaluate(tree, &full, &root, jsonnet, request)?);
                continue;
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| gitops_core::Error::FileTree { path: full.clone(), reason: "not valid UTF-8".into() })?;
            match yaml::parse_objects(&text, &full, &ParseOptions::default()) {
                Ok(objects) => out.extend(objects),
                // Not a manifest (a values file, a CI config): left out, as Argo CD leaves it.
                Err(_) if !looks_like_a_manifest(&text) => {
                    tracing::debug!(file = %full, "not a manifest: left out");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    fn collect(&self, tree: &dyn FileTree, dir: &str, rel: &str, out: &mut Vec<(String, String)>) -> Result<(), Error> {
        for e in tree.list(dir)? {
            let full = join(dir, &e.name)?;
            let r = if rel.is_empty() { e.name.clone() } else { format!("{rel}/{}", e.name) };
            match e.kind {
                EntryKind::Dir if self.recurse => self.collect(tree, &full, &r, out)?,
                EntryKind::File if [".yaml", ".yml", ".json", ".jsonnet"].iter().any(|x| e.name.ends_with(x)) => {
                    out.push((full, r))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Argo CD's test for a file that failed to parse: does it look like a Kubernetes manifest?
fn looks_like_a_manifest(text: &str) -> bool {
    text.contains("apiVersion:") && text.contains("kind:") && text.contains("metadata:")
}

fn memchr(needle: &[u8], haystack: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Matches a path against a glob as Argo CD's `glob.Match` (gobwas/glob, no separators):
/// `*` and `**` any run of characters (`/` too), `?` one character, `[abc]`, `[a-z]`,
/// `[!abc]`, `{a,b}` alternatives (nesting allowed), `\` escaping the next character.
pub fn glob_match(glob: &str, path: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let p: Vec<char> = path.chars().collect();
    match_from(&g, &p)
}

/// The end of the `{...}` group opening at `open` and the positions of its top-level commas.
fn brace_group(g: &[char], open: usize) -> Option<(usize, Vec<usize>)> {
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut i = open;
    while i < g.len() {
        match g[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((i, commas));
                }
            }
            ',' if depth == 1 => commas.push(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn match_from(g: &[char], p: &[char]) -> bool {
    match g.first() {
        None => p.is_empty(),
        Some('*') => {
            let rest = &g[g.iter().take_while(|c| **c == '*').count()..];
            (0..=p.len()).any(|i| match_from(rest, &p[i..]))
        }
        Some('?') => !p.is_empty() && match_from(&g[1..], &p[1..]),
        Some('\\') if g.len() > 1 => p.first() == Some(&g[1]) && match_from(&g[2..], &p[1..]),
        Some('[') => {
            let Some(close) = g.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                return p.first() == Some(&'[') && match_from(&g[1..], &p[1..]);
            };
            let Some(&c) = p.first() else { return false };
            let (negate, set) = if g[1] == '!' { (true, &g[2..close]) } else { (false, &g[1..close]) };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && match_from(&g[close + 1..], &p[1..])
        }
        Some('{') => match brace_group(g, 0) {
            Some((close, commas)) => {
                let mut starts = vec![1];
                starts.extend(commas.iter().map(|c| c + 1));
                let mut ends = commas.clone();
                ends.push(close);
                starts.iter().zip(&ends).any(|(&s, &e)| {
                    let mut alt: Vec<char> = g[s..e].to_vec();
                    alt.extend_from_slice(&g[close + 1..]);
                    match_from(&alt, p)
                })
            }
            None => p.first() == Some(&'{') && match_from(&g[1..], &p[1..]),
        },
        Some(c) => p.first() == Some(c) && match_from(&g[1..], &p[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_gobwas_reads_them() {
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(glob_match("*.yaml", "sub/a.yaml"), "no separators: * crosses /");
        assert!(glob_match("**/*.yaml", "sub/deep/a.yaml"));
        assert!(!glob_match("**/*.yaml", "a.yaml"), "gobwas: **/ needs a slash");
        assert!(glob_match("{a,b}.yaml", "b.yaml"));
        assert!(glob_match("{config/*,*.json}", "config/x.yaml"));
        assert!(glob_match("{config/*,*.json}", "y.json"));
        assert!(!glob_match("{config/*,*.json}", "y.yaml"));
        assert!(glob_match("?.yaml", "c.yaml"));
        assert!(!glob_match("?.yaml", "cc.yaml"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(glob_match("{a,{b,c}}z", "cz"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
    }

    #[test]
    fn broken_yaml_names_the_file() {
        let tree = gitops_core::MemTree::new()
            .with_file("d/bad.yaml", "apiVersion: v1\nkind: [\nmetadata: {}\n")
            .with_file("d/values.yaml", "a: [\n");
        let err = Directory::default().render(&tree, "d").unwrap_err().to_string();
        assert!(err.contains("d/bad.yaml"), "{err}");
        let only_values = gitops_core::MemTree::new().with_file("d/values.yaml", "replicas: 3\n");
        assert!(Directory::default().render(&only_values, "d").unwrap().is_empty());
    }

    #[test]
    fn the_skip_marker_leaves_a_file_out() {
        let tree = gitops_core::MemTree::new()
            .with_file(
                "d/a.yaml",
                "# +argocd:skip-file-rendering\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            )
            .with_file("d/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
        let objects = Directory::default().render(&tree, "d").unwrap();
        assert_eq!(objects.iter().map(|o| o.name()).collect::<Vec<_>>(), ["b"]);
    }
}
