//! SOPS in a reconciler, as Flux's kustomize-controller does it: files encrypted with SOPS
//! are decrypted when the renderer reads them (manifests, and the env and data files of
//! Kustomize generators), so what is rendered and applied is plain, and nothing encrypted
//! ever reaches the cluster. A file that cannot be decrypted fails the render of its
//! application with an error naming the file and the keys it was encrypted for.

use std::sync::Arc;

use gitops_core::{DirEntry, EntryKind, FileTree, Object, Renderer};

use super::{DecryptOptions, Format, Keys};

/// A file tree whose SOPS-encrypted files read as their plaintext.
pub struct DecryptingTree<'a> {
    inner: &'a dyn FileTree,
    keys: &'a Keys,
}

impl<'a> DecryptingTree<'a> {
    /// Wraps `inner`, decrypting with `keys`.
    pub fn new(inner: &'a dyn FileTree, keys: &'a Keys) -> Self {
        Self { inner, keys }
    }
}

/// Whether `data` looks like a SOPS file of `format` (cheap check before parsing).
fn looks_encrypted(data: &[u8], format: Format) -> bool {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    match format {
        Format::Yaml => (data.starts_with(b"sops:") || has(b"\nsops:")) && has(b"ENC[AES256_GCM,data:"),
        Format::Json | Format::Binary => has(b"\"sops\"") && has(b"\"mac\""),
        Format::Dotenv => data.starts_with(b"sops_") || has(b"\nsops_"),
        Format::Ini => has(b"[sops]"),
    }
}

/// Decrypts `data` read from `path` if it is a SOPS file; otherwise returns it unchanged.
pub fn decrypt_file(path: &str, data: Vec<u8>, keys: &Keys) -> Result<Vec<u8>, super::Error> {
    let format = Format::from_path(path);
    if !looks_encrypted(&data, format) {
        return Ok(data);
    }
    match super::load_encrypted(&data, format, path) {
        Ok(_) => super::decrypt(&data, format, keys, &DecryptOptions::default(), path),
        // Not a SOPS file after all (e.g. a manifest that mentions "sops").
        Err(e) if e.kind == super::ErrorKind::Metadata && e.message.contains("not found") => Ok(data),
        Err(e) => Err(e),
    }
}

impl FileTree for DecryptingTree<'_> {
    fn read(&self, path: &str) -> gitops_core::Result<Vec<u8>> {
        let data = self.inner.read(path)?;
        decrypt_file(path, data, self.keys).map_err(|e| gitops_core::Error::FileTree {
            path: path.to_string(),
            reason: format!("SOPS: {}", e.message),
        })
    }
    fn list(&self, dir: &str) -> gitops_core::Result<Vec<DirEntry>> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> gitops_core::Result<Option<EntryKind>> {
        self.inner.kind(path)
    }
    fn real_path(&self, path: &str) -> gitops_core::Result<Option<String>> {
        self.inner.real_path(path)
    }
    fn tree_path_of(&self, path: &str) -> Option<String> {
        self.inner.tree_path_of(path)
    }
}

/// A [`Renderer`] that renders through `inner` with SOPS files decrypted on read. Without
/// keys it renders as `inner` does and an encrypted file fails with "no keys".
pub struct SopsRenderer<R> {
    inner: R,
    keys: Arc<Keys>,
}

impl<R> SopsRenderer<R> {
    /// Wraps `inner` with `keys`.
    pub fn new(inner: R, keys: Arc<Keys>) -> Self {
        Self { inner, keys }
    }

    /// The wrapped renderer.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: Renderer> Renderer for SopsRenderer<R> {
    type Error = R::Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Self::Error> {
        self.inner.render(&DecryptingTree::new(tree, &self.keys), path)
    }

    fn render_with_images(
        &self,
        tree: &dyn FileTree,
        path: &str,
        images: &[String],
    ) -> Result<Vec<Object>, Self::Error> {
        self.inner.render_with_images(&DecryptingTree::new(tree, &self.keys), path, images)
    }

    /// The source's own tree is decrypted as it is read (the trees of other sources, for
    /// `$ref` values files, are read as they are).
    fn render_source(
        &self,
        tree: &dyn FileTree,
        request: &gitops_core::source::RenderRequest<'_>,
    ) -> Result<Vec<Object>, Self::Error> {
        self.inner.render_source(&DecryptingTree::new(tree, &self.keys), request)
    }
}
