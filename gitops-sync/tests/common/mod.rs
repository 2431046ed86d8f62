//! What several test files share.

use gitops_core::{FileTree, Object, Renderer};

/// Every YAML file directly under the path, in name order.
pub struct Yamls;

impl Renderer for Yamls {
    type Error = gitops_core::Error;
    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Self::Error> {
        let mut out = Vec::new();
        for e in tree.list(path)? {
            let file = format!("{path}/{}", e.name);
            let text = String::from_utf8_lossy(&tree.read(&file)?).into_owned();
            out.extend(gitops_core::yaml::parse_objects(&text, &file, &Default::default())?);
        }
        Ok(out)
    }
}
