//! `kustomize build` over any [`FileTree`].
//!
//! The pipeline follows Kustomize v5.5: resources (files and nested kustomizations),
//! generators, components, then the built-in transformers in their fixed order; at the
//! root, hash suffixes, name references, the local-config drop and the output order.

use std::collections::BTreeMap;

use base64::Engine;
use gitops_core::object::{ImageOverride, override_images};
use gitops_core::patch::{self, SmpOptions};
use gitops_core::schema::Schema;
use gitops_core::tree::{EntryKind, FileTree, join, normalize};
use gitops_core::value::{Map, Value};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Renderer};
use regex::Regex;

use crate::error::Error;
use crate::fields;

mod alias;
mod config;
mod finish;
mod generate;
mod json_trip;
mod namespace;
mod plugins;
mod res;
mod transform;
mod valueadd;

use crate::kustomization::{
    FieldSpec, GeneratorArgs, GeneratorOptions, Kustomization, PatchEntry, ReplacementEntry, Target,
};
use crate::nameref::PrevId;
use crate::tables;
pub(crate) use config::{NameReferenceSpec, TransformerConfig};
use finish::finish;
pub use finish::hash_suffix;
use gitops_core::selector::LabelSelector;
use res::id_text;
use res::{Origin, Res, add_resource, bind_vars, check_duplicates, check_namespace_conflicts};

/// The names a kustomization file may have, in the order Kustomize looks for them.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Which files a kustomization may read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadRestrictor {
    /// Only files in or below the kustomization's own directory (Kustomize's default);
    /// other kustomization directories may be anywhere in the tree.
    #[default]
    RootOnly,
    /// Any file of the tree.
    None,
}

/// The Kustomize renderer.
///
/// ```
/// use gitops_core::MemTree;
/// use gitops_render::Kustomize;
/// let tree = MemTree::new()
///     .with_file("base/kustomization.yaml", "resources: [cm.yaml]\n")
///     .with_file("base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n")
///     .with_file("prod/kustomization.yaml", "resources: [../base]\nnamespace: prod\nnamePrefix: prod-\n");
/// let objects = Kustomize::default().build(&tree, "prod").unwrap();
/// assert_eq!(objects[0].name(), "prod-cfg");
/// assert_eq!(objects[0].namespace(), "prod");
/// ```
#[derive(Clone, Default)]
pub struct Kustomize {
    /// Which files may be read.
    pub load_restrictor: LoadRestrictor,
    /// How remote resources (`https://github.com/org/repo//path?ref=v1`, `github.com/org/repo/path`,
    /// `git@host:org/repo.git/path`) are fetched; without it they are an error. See
    /// [`RemoteLoader`].
    pub remote: Option<RemoteLoader>,
    /// How files named by an `http://` or `https://` URL (a resource ending in `.yaml`,
    /// `.yml` or `.json`, a patch, a generator's file) are fetched; without it they are an
    /// error. See [`RemoteFileLoader`].
    pub remote_files: Option<RemoteFileLoader>,
    /// Which remote bases and files may be fetched (see [`crate::RemotePolicy`]); `None`:
    /// any URL the loaders accept, as `kubectl kustomize`.
    pub remote_policy: Option<crate::RemotePolicy>,
    /// Helm chart inflation (`kubectl kustomize --enable-helm`): without it, `helmCharts` is
    /// kubectl's "must specify --enable-helm" error.
    pub helm: Option<crate::helm::HelmOptions>,
}

impl std::fmt::Debug for Kustomize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kustomize")
            .field("load_restrictor", &self.load_restrictor)
            .field("remote", &self.remote.as_ref().map(|_| "loader"))
            .field("remote_files", &self.remote_files.as_ref().map(|_| "loader"))
            .field("remote_policy", &self.remote_policy)
            .field("helm", &self.helm)
            .finish()
    }
}

/// Fetches a remote base: given a repository URL and a reference (`""` for the default branch),
/// returns the tree of that revision. `gitops_git::GitSource::tree_blocking` fits.
pub type RemoteLoader =
    std::sync::Arc<dyn Fn(&str, &str) -> Result<std::sync::Arc<dyn FileTree + Send + Sync>, String> + Send + Sync>;

/// Fetches a file by its `http(s)://` URL: its bytes, or why not (an HTTP error status is an
/// error). `gitops_git::GitSource::remote_file_loader` fits.
pub type RemoteFileLoader = std::sync::Arc<dyn Fn(&str) -> Result<Vec<u8>, String> + Send + Sync>;

/// Whether an entry is a URL of a plain file, read through [`Kustomize::remote_files`]
/// rather than cloned as a repository.
fn is_remote_file(entry: &str) -> bool {
    let has_prefix = |p: &str| entry.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let path = entry.split(['?', '#']).next().unwrap_or("");
    let has_ext =
        |e: &str| path.len() >= e.len() && path.get(path.len() - e.len()..).is_some_and(|t| t.eq_ignore_ascii_case(e));
    (has_prefix("http://") || has_prefix("https://")) && [".yaml", ".yml", ".json"].into_iter().any(has_ext)
}

/// A remote resource: repository URL, path inside it, reference.
pub(crate) fn parse_remote(entry: &str) -> Option<(String, String, String)> {
    let (base, query) = entry.split_once('?').unwrap_or((entry, ""));
    let reference = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ref=").or_else(|| kv.strip_prefix("version=")))
        .unwrap_or("")
        .to_string();
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let (repo, path) = if let Some(i) = base[scheme_end..].find("//") {
        (base[..scheme_end + i].to_string(), base[scheme_end + i + 2..].to_string())
    } else if let Some(i) = base.find(".git/") {
        (base[..i + 4].to_string(), base[i + 5..].to_string())
    } else {
        let rest = &base[scheme_end..];
        let host_end = rest.find('/')?;
        let (host, after) = (&rest[..host_end], &rest[host_end + 1..]);
        if host == "github.com" || host == "gitlab.com" || host == "bitbucket.org" {
            let mut seg = after.splitn(3, '/');
            let (org, name) = (seg.next()?, seg.next()?);
            let path = seg.next().unwrap_or("").to_string();
            let prefix = if scheme_end == 0 { "https://".to_string() } else { base[..scheme_end].to_string() };
            (format!("{prefix}{host}/{org}/{name}"), path)
        } else {
            (base.to_string(), String::new())
        }
    };
    let repo = if repo.starts_with("github.com/") || repo.starts_with("gitlab.com/") {
        format!("https://{repo}")
    } else {
        repo
    };
    Some((repo, path.trim_matches('/').to_string(), reference))
}

impl Renderer for Kustomize {
    type Error = Error;

    fn render(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        self.build(tree, path)
    }

    /// As Argo CD does: `kustomize edit set image` for each argument, in order, on the
    /// kustomization of `path` (an entry of the same name is replaced), then the build. The
    /// edit is made in memory; the tree is not written.
    fn render_with_images(&self, tree: &dyn FileTree, path: &str, images: &[String]) -> Result<Vec<Object>, Error> {
        if images.is_empty() {
            return self.build(tree, path);
        }
        let dir = normalize(path)?;
        let file = kustomization_file(tree, &dir)?;
        let mut text = tree.read_to_string(&file)?;
        for (i, image) in images.iter().enumerate() {
            text = crate::setimage::set_image(&text, image).map_err(|e| Error::Kustomization {
                file: file.clone(),
                field: format!("images (set from the Application's spec.source.kustomize.images[{i}])"),
                message: e.reason,
            })?;
        }
        self.build(&EditedTree { inner: tree, path: file, bytes: text.into_bytes() }, &dir)
    }
}

impl Kustomize {
    /// Builds the kustomization at `path` with an Application's Kustomize options applied
    /// first, as Argo CD applies them with `kustomize edit` (see `kustomize_edit`); images
    /// and label values get `$ARGOCD_APP_*` substituted. The edit is made in memory.
    pub fn render_app_source(
        &self,
        tree: &dyn FileTree,
        path: &str,
        options: &gitops_core::source::KustomizeSource,
        request: &gitops_core::source::RenderRequest<'_>,
    ) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        if !options.version.is_empty() {
            tracing::debug!(version = %options.version, "spec.source.kustomize.version ignored: one built-in Kustomize (v5.5) renders every source");
        }
        let capabilities = !options.kube_version.is_empty()
            || !options.api_versions.is_empty()
            || self.helm.as_ref().is_some_and(|h| h.kube_version.is_none() && request.kube_version.is_some());
        if !crate::kustomize_edit::edits_beyond_images(options) && options.images.is_empty() && !capabilities {
            // Nothing to edit: the kustomization as it is.
            return self.build(tree, &dir);
        }
        let file = kustomization_file(tree, &dir)?;
        let mut text = tree.read_to_string(&file)?;
        if crate::kustomize_edit::edits_beyond_images(options) {
            text = crate::kustomize_edit::apply(&text, &file, tree, &dir, options, request).map_err(|message| {
                Error::Kustomization {
                    file: file.clone(),
                    field: "(edited with the Application's spec.source.kustomize)".into(),
                    message,
                }
            })?;
        }
        for (i, image) in options.images.iter().enumerate() {
            text = crate::setimage::set_image(&text, &request.envsubst(image)).map_err(|e| Error::Kustomization {
                file: file.clone(),
                field: format!("images (set from the Application's spec.source.kustomize.images[{i}])"),
                message: e.reason,
            })?;
        }
        let edited = EditedTree { inner: tree, path: file, bytes: text.into_bytes() };
        // `helmCharts` are told the Application's (else the cluster's) capabilities.
        if !capabilities {
            return self.build(&edited, &dir);
        }
        let mut k = self.clone();
        if let Some(helm) = k.helm.as_mut() {
            if !options.kube_version.is_empty() {
                helm.kube_version = Some(options.kube_version.clone());
            } else if helm.kube_version.is_none() {
                helm.kube_version = request.kube_version.clone();
            }
            if !options.api_versions.is_empty() {
                helm.api_versions = options.api_versions.clone();
            }
        }
        k.build(&edited, &dir)
    }
}

/// A file tree with one file's bytes replaced in memory.
struct EditedTree<'a> {
    inner: &'a dyn FileTree,
    /// The replaced file, normalized.
    path: String,
    bytes: Vec<u8>,
}

impl FileTree for EditedTree<'_> {
    fn read(&self, path: &str) -> gitops_core::Result<Vec<u8>> {
        if normalize(path).is_ok_and(|p| p == self.path) {
            return Ok(self.bytes.clone());
        }
        self.inner.read(path)
    }

    fn list(&self, dir: &str) -> gitops_core::Result<Vec<gitops_core::DirEntry>> {
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

/// A nested kustomization's resources and transformer configuration.
type Built = (Vec<Res>, TransformerConfig);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Kustomization,
    Component,
    /// The kustomization a build starts from: a Kustomization, or a Component built
    /// directly (Kustomize builds it as it builds a Kustomization, from an empty start).
    Root,
}

struct Build<'a> {
    tree: &'a dyn FileTree,
    restrictor: LoadRestrictor,
    stack: Vec<String>,
    vars: &'a std::sync::Mutex<Vec<crate::kustomization::Var>>,
    remote: Option<&'a RemoteLoader>,
    remote_files: Option<&'a RemoteFileLoader>,
    remote_policy: Option<&'a crate::RemotePolicy>,
    helm: Option<&'a crate::helm::HelmOptions>,
    /// Where this kustomization is in Kustomize's depth-first walk: the index of each entry
    /// (resources, then components) from the top.
    position: Vec<usize>,
    /// The `openapi` fields met, and the earliest point in the walk where a resource was read
    /// (first pass).
    openapi: &'a std::sync::RwLock<(Vec<OpenApiDecl>, Option<Vec<usize>>)>,
    /// The custom schema of the build, with the position of the kustomization that set it
    /// (second pass).
    custom: Option<&'a (Vec<usize>, Schema)>,
    /// Whether the top kustomization asks for `buildMetadata: [transformerAnnotations]`
    /// (Kustomize gives every kustomization of the build the top one's `buildMetadata`).
    record_transformations: bool,
    /// Whether the top kustomization has any `buildMetadata`: Kustomize then keeps every
    /// resource's origin in an annotation while it builds (and drops it at the end unless
    /// asked for), so a JSON patch finds `metadata.annotations` there.
    origins_annotated: bool,
    /// While a `transformers:` configuration runs: its `name`/`namespace` lines.
    configured_by: Option<std::sync::Arc<str>>,
    /// The file of the `transformers:` configuration running, for `transformerAnnotations`.
    configured_in: Option<std::sync::Arc<str>>,
    /// While a ReplicaCountTransformer configuration runs: its own field specs, which stand
    /// in for the built-in and configured ones.
    replica_specs: Option<Vec<crate::kustomization::FieldSpec>>,
    /// While an ImageTagTransformer configuration runs: its own field specs.
    image_specs: Option<Vec<crate::kustomization::FieldSpec>>,
}

/// A kustomization's `openapi` field: where it is in the walk, and what it asks for.
struct OpenApiDecl {
    position: Vec<usize>,
    file: String,
    version: Option<String>,
    /// The schema file's path and text.
    schema: Option<(String, String)>,
}

/// The one OpenAPI version Kustomize v5.5 has built in.
const BUILTIN_OPENAPI_VERSION: &str = "v1.21.2";

/// How deep kustomizations may nest (bases of bases ...) before a build stops.
pub const MAX_DEPTH: usize = 20_000;
/// Below this much stack left, a level of the build moves to a new segment ...
const STACK_RED_ZONE: usize = 256 << 10;
/// ... of this size, on the heap.
const STACK_SEGMENT: usize = 4 << 20;

/// An error in a kustomization file, naming the file and the field.
pub(crate) fn kerr(file: &str, field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Kustomization { file: file.into(), field: field.into(), message: message.into() }
}

impl Kustomize {
    /// Builds the kustomization in directory `path` of `tree`.
    ///
    /// An `openapi` field replaces the schema strategic merge patches use, for the whole
    /// build from the point Kustomize meets it on (the first one met wins, as in Kustomize,
    /// where it is process-wide state): a build that has one is run a second time with it.
    pub fn build(&self, tree: &dyn FileTree, path: &str) -> Result<Vec<Object>, Error> {
        let dir = normalize(path)?;
        let declared = std::sync::RwLock::new((Vec::new(), None));
        let first = std::thread::scope(|scope| {
            // The built-in schema and Kustomize's default configuration are read once per
            // process, when a build first needs them, and every worker waits for them then
            // (about a millisecond): started here, they are read while this thread reads the
            // root kustomization, which in a fleet lists hundreds of entries.
            static WARM: std::sync::Once = std::sync::Once::new();
            if !WARM.is_completed() && gitops_core::cpus() > 1 {
                scope.spawn(|| {
                    WARM.call_once(|| {
                        Schema::builtin();
                        config::warm();
                    })
                });
            }
            self.build_with(tree, &dir, &declared, None)
        })?;
        let (declared, first_read) = declared.into_inner().unwrap_or_default();
        let Some(decl) = declared.into_iter().min_by(|a, b| a.position.cmp(&b.position)) else {
            return Ok(first);
        };
        match (decl.version, decl.schema) {
            (Some(_), Some(_)) => {
                Err(kerr(&decl.file, "openapi", "builtin version and custom schema provided, cannot use both"))
            }
            (Some(v), None) if v != BUILTIN_OPENAPI_VERSION => Err(kerr(
                &decl.file,
                "openapi.version",
                format!("the specified OpenAPI version is not built in (only {BUILTIN_OPENAPI_VERSION} is)"),
            )),
            (_, None) => Ok(first),
            (None, Some((p, text))) => {
                let invalid = |e: String| kerr(&decl.file, "openapi.path", format!("invalid schema file {p:?}: {e}"));
                let doc = if text.trim_start().starts_with('{') {
                    serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?
                } else {
                    yaml::parse_value(&text, &p, 0, 1).map_err(|e| invalid(e.to_string()))?.unwrap_or(Value::Null)
                };
                let schema = Schema::from_openapi_v2(&doc).map_err(invalid)?;
                // Kustomize reads its built-in schema when it reads the first resource, and a
                // custom schema set later adds to it; set before any resource, it replaces it.
                let schema = match first_read {
                    Some(read) if read < decl.position => Schema::builtin().with_overrides(&schema),
                    _ => schema,
                };
                let custom = (decl.position, schema);
                self.build_with(tree, &dir, &std::sync::RwLock::new((Vec::new(), None)), Some(&custom))
            }
        }
    }

    fn build_with(
        &self,
        tree: &dyn FileTree,
        dir: &str,
        openapi: &std::sync::RwLock<(Vec<OpenApiDecl>, Option<Vec<usize>>)>,
        custom: Option<&(Vec<usize>, Schema)>,
    ) -> Result<Vec<Object>, Error> {
        let vars = std::sync::Mutex::new(Vec::new());
        let mut config = TransformerConfig::default();
        let mut b = Build {
            tree,
            restrictor: self.load_restrictor,
            stack: Vec::new(),
            vars: &vars,
            remote: self.remote.as_ref(),
            remote_files: self.remote_files.as_ref(),
            remote_policy: self.remote_policy.as_ref(),
            helm: self.helm.as_ref(),
            position: Vec::new(),
            openapi,
            custom,
            record_transformations: false,
            origins_annotated: false,
            configured_by: None,
            configured_in: None,
            replica_specs: None,
            image_specs: None,
        };
        let mut acc = Vec::new();
        let (file, k) = b.run(dir, &mut acc, Expect::Root, &mut config)?;
        let vars = vars.into_inner().unwrap_or_default();
        finish(&file, &k, acc, &vars, &config)
    }
}

/// Kustomize's error for a kustomization directory (a resource, component or transformer
/// entry) given as an absolute path: files may be, directories may not.
fn absolute_root(file: &str, field: &str, entry: &str) -> Error {
    kerr(file, field, format!("new root {entry:?} cannot be absolute"))
}

/// The path of a directory's kustomization file: Kustomize's errors when there is none or
/// more than one.
pub(crate) fn kustomization_file(tree: &dyn FileTree, dir: &str) -> Result<String, Error> {
    let mut found = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let p = join(dir, name)?;
        if tree.kind(&p)? == Some(EntryKind::File) {
            found.push(p);
        }
    }
    let shown = if dir.is_empty() { "." } else { dir };
    match found.len() {
        0 => Err(Error::NoKustomization { dir: shown.into() }),
        1 => Ok(found.remove(0)),
        _ => Err(kerr(shown, "", format!("found multiple kustomization files: {}", found.join(", ")))),
    }
}

/// Finds and decodes the kustomization file of a directory.
pub fn load_kustomization(tree: &dyn FileTree, dir: &str) -> Result<(String, Kustomization), Error> {
    let file = kustomization_file(tree, dir)?;
    let text = tree.read_to_string(&file)?;
    // Kustomize reads the file with go-yaml v2 (`yes` is a boolean, a date stays text, a
    // repeated key replaces the earlier one), then decodes it with Go's JSON rules.
    let Some(value) = yaml::parse_value_go_yaml_v2(&text, &file)? else {
        return Err(kerr(&file, "", "kustomization file is empty"));
    };
    // Every field but the type's is Go's zero value (absent, `null` or ""): Kustomize
    // refuses the file as empty. An empty list or map (`resources: []`) is not zero.
    let empty = value.as_object().is_some_and(|m| {
        m.iter().all(|(k, v)| {
            k.eq_ignore_ascii_case("apiVersion")
                || k.eq_ignore_ascii_case("kind")
                || v.is_null()
                || v.as_str() == Some("")
        })
    });
    let again = || yaml::parse_value_go_yaml_v2(&text, &file).ok().flatten().unwrap_or(Value::Null);
    let k: Kustomization = crate::go_json::decode(value, again)
        .map_err(|(field, msg)| kerr(&file, if field == "." { String::new() } else { field }, msg))?;
    if empty {
        let what =
            k.kind.as_deref().filter(|s| !s.is_empty()).map_or("kustomization".to_string(), |s| format!("kind {s}"));
        return Err(kerr(&file, "", format!("kustomization file is empty ({what} with no fields)")));
    }
    check_metadata_keys(&file, &k)?;
    Ok((file, k))
}

/// Kustomize writes the labels and annotations a kustomization adds through YAML, where a key
/// that reads as a number, boolean, null or date (`"1"`, `"true"`) comes back as one, and the
/// build fails; refused here with the field that holds it.
fn check_metadata_keys(file: &str, k: &Kustomization) -> Result<(), Error> {
    // The field is named only for an error: every kustomization is checked.
    let check = |field: &dyn Fn() -> String, map: &std::collections::BTreeMap<String, String>| match map
        .keys()
        .find(|key| !yaml::reads_as_string(key))
    {
        Some(key) => Err(kerr(
            file,
            field(),
            format!(
                "the key {key:?} reads as a number, boolean, null or date in YAML, not a string; Kustomize \
                 cannot add it as a label or annotation"
            ),
        )),
        None => Ok(()),
    };
    check(&|| "commonLabels".into(), &k.common_labels)?;
    check(&|| "commonAnnotations".into(), &k.common_annotations)?;
    for (i, l) in k.labels.iter().enumerate() {
        check(&|| format!("labels[{i}].pairs"), &l.pairs)?;
    }
    let options = |field: &dyn Fn() -> String, o: &Option<crate::kustomization::GeneratorOptions>| match o {
        Some(o) => {
            check(&|| format!("{}.labels", field()), &o.labels)?;
            check(&|| format!("{}.annotations", field()), &o.annotations)
        }
        None => Ok(()),
    };
    options(&|| "generatorOptions".into(), &k.generator_options)?;
    for (name, gens) in [("configMapGenerator", &k.config_map_generator), ("secretGenerator", &k.secret_generator)] {
        for (i, g) in gens.iter().enumerate() {
            options(&|| format!("{name}[{i}].options"), &g.options)?;
        }
    }
    Ok(())
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("git@") || entry.starts_with("github.com/")
}

/// Kustomize's refusal of a file outside the kustomization's root.
fn outside_root(file: &str, field: &str, path: &str, dir: &str) -> Error {
    let root = if dir.is_empty() { "." } else { dir };
    kerr(file, field, format!("security; file {path:?} is not in or below {root:?} (the load restrictor is RootOnly)"))
}

fn within(dir: &str, path: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<'a> Build<'a> {
    /// Whether `path` may be read from the kustomization in `dir`: always when the load
    /// restrictor is lifted; otherwise only when the file's real location (every symlink
    /// resolved) is in or below the kustomization's real directory, as Kustomize checks it.
    fn loadable(&self, dir: &str, path: &str) -> bool {
        if self.restrictor == LoadRestrictor::None {
            return true;
        }
        if !within(dir, path) {
            return false;
        }
        // A path that does not resolve is judged as written; reading it gives the error.
        let real = |p: &str| self.tree.real_path(p).ok().flatten().unwrap_or_else(|| p.to_string());
        let real_path = real(path);
        // No symlink on the file's path means none on the directory's, a prefix of it: the
        // lexical check stands, and the directory is not resolved (one lookup per file).
        real_path == path || within(&real(dir), &real_path)
    }

    /// Notes that resources were read at entry `index` of this kustomization (the entries
    /// past the resources: generators, then components).
    fn resources_read_at(&self, index: usize) {
        // Compared in place: a position is only copied when it is the earliest yet. Every
        // resource file read asks, on every worker: the question is asked under the shared
        // lock, and only an earlier position takes the lock alone (and asks again).
        let here = || self.position.iter().copied().chain([index]);
        let earlier = |seen: &(Vec<OpenApiDecl>, Option<Vec<usize>>)| {
            seen.1.as_ref().is_none_or(|p| here().lt(p.iter().copied()))
        };
        if !earlier(&self.openapi.read().expect("openapi lock")) {
            return;
        }
        let mut seen = self.openapi.write().expect("openapi lock");
        if earlier(&seen) {
            seen.1 = Some(here().collect());
        }
    }

    fn child_position(&self, index: usize) -> Vec<usize> {
        let mut p = self.position.clone();
        p.push(index);
        p
    }

    /// The schema strategic merge patches use here: the build's custom one, unless this
    /// kustomization was done before Kustomize met the kustomization that set it (it comes
    /// earlier in the walk and does not contain it).
    fn schema(&self) -> &Schema {
        match self.custom {
            Some((set_at, schema)) if self.position >= *set_at || set_at.starts_with(&self.position) => schema,
            _ => Schema::builtin(),
        }
    }

    /// Builds a remote base through the loader, in its own tree.
    fn build_remote(&self, file: &str, field: &str, entry: &str, index: usize) -> Result<Built, Error> {
        let Some(loader) = self.remote else {
            return Err(kerr(
                file,
                field,
                format!("remote resource {entry:?}: remote resources need a loader (Kustomize::remote)"),
            ));
        };
        if let Some(policy) = self.remote_policy {
            policy
                .check(entry)
                .map_err(|why| kerr(file, field, format!("remote resource {entry:?} is not allowed: {why}")))?;
        }
        let (repo, path, reference) = parse_remote(entry)
            .filter(|(r, _, _)| !r.starts_with("http") || !r.ends_with(".yaml") && !r.ends_with(".yml"))
            .ok_or_else(|| kerr(file, field, format!("remote resource {entry:?}: not a Git repository URL")))?;
        let tree =
            loader(&repo, &reference).map_err(|e| kerr(file, field, format!("remote resource {entry:?}: {e}")))?;
        let mut sub = self.nested(&*tree, Vec::new(), self.child_position(index));
        let mut out = Vec::new();
        let mut config = TransformerConfig::default();
        sub.run(&normalize(&path)?, &mut out, Expect::Kustomization, &mut config).map_err(|e| match e {
            Error::NoKustomization { dir } => {
                kerr(file, field, format!("remote resource {entry:?}: {dir:?} has no kustomization file"))
            }
            other => other,
        })?;
        Ok((out, config))
    }

    /// A build with this one's settings, over `tree`, from `stack` and `position` (a nested
    /// kustomization built apart: on another thread, or from a remote repository).
    fn nested<'t>(&self, tree: &'t dyn FileTree, stack: Vec<String>, position: Vec<usize>) -> Build<'t>
    where
        'a: 't,
    {
        Build {
            tree,
            restrictor: self.restrictor,
            stack,
            vars: self.vars,
            remote: self.remote,
            remote_files: self.remote_files,
            remote_policy: self.remote_policy,
            helm: self.helm,
            position,
            openapi: self.openapi,
            custom: self.custom,
            record_transformations: self.record_transformations,
            origins_annotated: self.origins_annotated,
            configured_by: None,
            configured_in: None,
            replica_specs: None,
            image_specs: None,
        }
    }

    /// Builds the kustomization in directory `p`, entry `index` of this one.
    fn build_entry(&mut self, p: &str, index: usize) -> Result<Built, Error> {
        let mut out = Vec::new();
        let mut config = TransformerConfig::default();
        self.position.push(index);
        let r = self.run(p, &mut out, Expect::Kustomization, &mut config).map(|_| (out, config));
        self.position.pop();
        r
    }

    /// Runs `work` for each of `items` (entry indexes) on all CPUs, each worker with its own
    /// build state (a copy of the cycle-detection stack and position). Each worker takes the
    /// next item when it is done with one, so that all end together whatever each costs.
    fn in_parallel<T: Send>(
        &self,
        items: &[usize],
        work: impl Fn(&mut Build<'a>, usize) -> T + Sync,
    ) -> Vec<(usize, T)> {
        let workers = gitops_core::cpus().min(items.len()).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (next, work) = (&next, &work);
        let run = move |mut sub: Build<'a>| {
            std::iter::from_fn(|| items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
                .map(|&i| (i, work(&mut sub, i)))
                .collect::<Vec<_>>()
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..workers)
                .map(|_| {
                    let sub = self.nested(self.tree, self.stack.clone(), self.position.clone());
                    scope.spawn(move || run(sub))
                })
                .collect();
            // The calling thread is a worker too: one thread fewer to start.
            let mut out = run(self.nested(self.tree, self.stack.clone(), self.position.clone()));
            // A panic in a worker is the build's panic, as on one thread.
            out.extend(handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
            out
        })
    }

    /// The tree path an entry of the kustomization in `dir` names: relative to `dir`, or an
    /// absolute filesystem path, which Kustomize loads (as a file: a directory given so is
    /// refused, see [`absolute_root`]) when it is in the tree.
    fn entry_path(&self, dir: &str, file: &str, field: &str, entry: &str) -> Result<String, Error> {
        if entry.starts_with('/') {
            return self.tree.tree_path_of(entry).ok_or_else(|| {
                kerr(
                    file,
                    field,
                    format!("{entry:?} is an absolute path outside the tree (or the tree is not on disk)"),
                )
            });
        }
        join(dir, entry).map_err(|_| kerr(file, field, format!("{entry:?} is outside the repository")))
    }

    fn read_file(&self, dir: &str, file: &str, field: &str, entry: &str) -> Result<(String, Vec<u8>), Error> {
        if entry.starts_with("http://") || entry.starts_with("https://") {
            let Some(fetch) = self.remote_files else {
                return Err(kerr(
                    file,
                    field,
                    format!("remote file {entry:?}: remote files need a loader (Kustomize::remote_files)"),
                ));
            };
            if let Some(policy) = self.remote_policy {
                policy
                    .check(entry)
                    .map_err(|why| kerr(file, field, format!("remote file {entry:?} is not allowed: {why}")))?;
            }
            let bytes = fetch(entry).map_err(|e| kerr(file, field, format!("remote file {entry:?}: {e}")))?;
            return Ok((entry.to_string(), bytes));
        }
        let p = self.entry_path(dir, file, field, entry)?;
        if !self.loadable(dir, &p) {
            return Err(outside_root(file, field, &p, dir));
        }
        match self.tree.read(&p) {
            Ok(b) => Ok((p, b)),
            Err(gitops_core::Error::NotFound { .. }) => Err(kerr(file, field, format!("{entry:?}: no such file"))),
            Err(e) => Err(kerr(file, field, e.to_string())),
        }
    }

    /// Builds the kustomization (or component) in `dir` into `acc`; `cfg` gathers the
    /// transformer configuration of everything built into `acc`.
    ///
    /// Bases nest as deep as a repository says (kubectl builds a chain of 10,000), so each
    /// level makes sure it has stack to run on: the stack grows on the heap as needed rather
    /// than overflowing on whatever thread renders, and past [`MAX_DEPTH`] levels the build
    /// stops with an error.
    fn run(
        &mut self,
        dir: &str,
        acc: &mut Vec<Res>,
        expect: Expect,
        cfg: &mut TransformerConfig,
    ) -> Result<(String, Kustomization), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::TooDeep { dir: if dir.is_empty() { ".".into() } else { dir.into() }, max: MAX_DEPTH });
        }
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.run_here(dir, acc, expect, cfg))
    }

    fn run_here(
        &mut self,
        dir: &str,
        acc: &mut Vec<Res>,
        expect: Expect,
        cfg: &mut TransformerConfig,
    ) -> Result<(String, Kustomization), Error> {
        // Kustomize knows a kustomization by its real directory, so a cycle through a
        // symlinked directory is a cycle too.
        let real_dir = self.tree.real_path(dir).ok().flatten().unwrap_or_else(|| dir.to_string());
        if self.stack.contains(&real_dir) {
            let mut chain = self.stack.clone();
            chain.push(real_dir);
            return Err(Error::Cycle { chain: chain.join(" -> ") });
        }
        self.stack.push(real_dir);
        let (file, k) = load_kustomization(self.tree, dir)?;
        // Kustomize reads the kustomization file through the load restrictor and takes a
        // refused one for a missing one.
        if !self.loadable(dir, &file) {
            return Err(Error::NoKustomization { dir: if dir.is_empty() { ".".into() } else { dir.into() } });
        }
        if self.position.is_empty() && self.stack.len() == 1 {
            self.record_transformations = k.build_metadata.iter().any(|b| b == "transformerAnnotations");
            self.origins_annotated = !k.build_metadata.is_empty();
        }
        let kind = k.kind.as_deref().unwrap_or("Kustomization");
        match (expect, kind) {
            (Expect::Kustomization | Expect::Root, "Kustomization")
            | (Expect::Component | Expect::Root, "Component") => {}
            (Expect::Kustomization | Expect::Root, other) => {
                return Err(kerr(
                    &file,
                    "kind",
                    format!(
                        "expected kind 'Kustomization' here, found {other:?} (a Component belongs under 'components')"
                    ),
                ));
            }
            (Expect::Component, other) => {
                return Err(kerr(&file, "kind", format!("expected kind 'Component' for a component, found {other:?}")));
            }
        }
        if let Some(api) = &k.api_version {
            let ok = match kind {
                "Component" => api == "kustomize.config.k8s.io/v1alpha1",
                _ => api == "kustomize.config.k8s.io/v1beta1",
            };
            if !ok {
                return Err(kerr(&file, "apiVersion", format!("unsupported apiVersion {api:?} for kind {kind}")));
            }
        }
        if !k.helm_charts.is_empty() && self.helm.is_none() {
            return Err(kerr(&file, "helmCharts", "must specify --enable-helm: helm chart inflation is not enabled"));
        }
        if !k.validators.is_empty() {
            return Err(kerr(&file, "validators", "validator plugins are not supported"));
        }
        if let Some(o) = &k.openapi {
            // Read now, as Kustomize loads it on entering the kustomization; used (or not)
            // after the first pass.
            let schema = match o.get("path") {
                Some(path) => {
                    let (p, bytes) = self.read_file(dir, &file, "openapi.path", path)?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| kerr(&file, "openapi.path", format!("{p}: not valid UTF-8")))?;
                    Some((p, text))
                }
                None => None,
            };
            self.openapi.write().expect("openapi lock").0.push(OpenApiDecl {
                position: self.position.clone(),
                file: file.clone(),
                version: o.get("version").cloned(),
                schema,
            });
        }

        // 1. Resources.
        let entries: Vec<(String, &String)> = k
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("resources[{i}]"), r))
            .chain(k.bases.iter().enumerate().map(|(i, r)| (format!("bases[{i}]"), r)))
            .collect();
        // Nested kustomizations are independent builds: with several, they run in parallel
        // (each with its own copy of the cycle-detection stack); results keep list order.
        let mut kinds = Vec::with_capacity(entries.len());
        let mut built: Vec<Option<Result<Built, Error>>> = (0..entries.len()).map(|_| None).collect();
        let mut remote = vec![false; entries.len()];
        let tree = self.tree;
        // Each local entry's tree path (or why it has none); `None` for a remote one.
        let mut local: Vec<Option<Result<String, Error>>> = entries
            .iter()
            .map(|(field, e)| (!is_remote_file(e) && !is_remote(e)).then(|| self.entry_path(dir, &file, field, e)))
            .collect();
        // Entries with no extension are most likely directories (a fleet's root lists hundreds):
        // with several, the workers look each one up and build it when it is one, so that the
        // lookups run on all CPUs too. Errors are still met in list order below.
        let mut looked: Vec<Option<Result<Option<EntryKind>, gitops_core::Error>>> =
            (0..entries.len()).map(|_| None).collect();
        // (An absolute entry is left to the loop below: as a directory, it is refused.)
        let likely_dirs: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                matches!(&local[i], Some(Ok(p)) if !entries[i].1.starts_with('/') && !gitops_core::tree::has_extension(p))
            })
            .collect();
        if gitops_core::cpus() > 1 && likely_dirs.len() > 1 {
            let local = &local;
            for (i, (kind, b)) in self.in_parallel(&likely_dirs, |sub, i| {
                let p = local[i].as_ref().and_then(|p| p.as_deref().ok()).unwrap_or_default();
                let kind = tree.kind(p);
                let b = matches!(kind, Ok(Some(EntryKind::Dir))).then(|| sub.build_entry(p, i));
                (kind, b)
            }) {
                looked[i] = Some(kind);
                built[i] = b;
            }
        }
        for (i, (field, entry)) in entries.iter().enumerate() {
            let p = match local[i].take() {
                Some(p) => p?,
                None if is_remote_file(entry) => {
                    kinds.push((entry.to_string(), Some(EntryKind::File)));
                    continue;
                }
                None => {
                    built[i] = Some(self.build_remote(&file, field, entry, i));
                    remote[i] = true;
                    kinds.push((entry.to_string(), Some(EntryKind::Dir)));
                    continue;
                }
            };
            let kind = looked[i].take().unwrap_or_else(|| tree.kind(&p))?;
            if kind == Some(EntryKind::Dir) && entry.starts_with('/') {
                return Err(absolute_root(&file, field, entry));
            }
            kinds.push((p, kind));
        }
        // Directories the workers did not build (none, or one named like a file).
        let dirs: Vec<usize> = (0..entries.len())
            .filter(|&i| kinds[i].1 == Some(EntryKind::Dir) && !remote[i] && built[i].is_none())
            .collect();
        if gitops_core::cpus() > 1 && dirs.len() > 1 {
            let kinds = &kinds;
            for (i, r) in self.in_parallel(&dirs, |sub, i| sub.build_entry(&kinds[i].0, i)) {
                built[i] = Some(r);
            }
        }
        // Room for the built directories' resources at once, not grown by doubling (a root of
        // 500 applications copied its list of 1,500 resources eleven times, 0.5 MB in all).
        acc.reserve(built.iter().flatten().filter_map(|b| b.as_ref().ok()).map(|(sub, _)| sub.len()).sum());
        for (i, (field, entry)) in entries.iter().enumerate() {
            let p = &kinds[i].0;
            match kinds[i].1 {
                Some(EntryKind::File) => {
                    let (p, bytes) = self.read_file(dir, &file, field, entry)?;
                    let text =
                        String::from_utf8(bytes).map_err(|_| kerr(&file, field, format!("{p}: not valid UTF-8")))?;
                    // Kustomize reads a resource without an apiVersion (the API server will not).
                    let opts = ParseOptions {
                        require_api_version: false,
                        stringify_labels: false,
                        annotations_as_written: true,
                        string_keys_only: true,
                        folded_as_kustomize_writes: true,
                        ..ParseOptions::default()
                    };
                    let objects = yaml::parse_objects_with_bare_nulls(&text, &p, &opts)?;
                    if !objects.is_empty() {
                        self.resources_read_at(i);
                    }
                    for (obj, bare_nulls) in objects {
                        if obj.kind() == "Kustomization" && obj.group() == "kustomize.config.k8s.io" {
                            return Err(kerr(&file, field, format!("{p} is a kustomization file, not a resource")));
                        }
                        // Kustomize reads a resource's annotations back through YAML, where a
                        // key like "1" or "true" is no longer a string: its build fails.
                        if let Some(Value::Object(notes)) = obj.get("/metadata/annotations")
                            && let Some(key) = notes.keys().find(|k| !yaml::reads_as_string(k))
                        {
                            return Err(kerr(
                                &p,
                                "metadata.annotations",
                                format!(
                                    "{} {:?}: the annotation key {key:?} reads as a number, boolean, null or date \
                                     in YAML, not a string; Kustomize cannot build with it",
                                    obj.kind(),
                                    obj.name()
                                ),
                            ));
                        }
                        let mut r = Res::new(obj);
                        r.bare_nulls = bare_nulls;
                        r.origin = Some(Origin::File(p.clone()));
                        add_resource(acc, r, &file)?;
                    }
                }
                Some(EntryKind::Dir) => {
                    let result = match built[i].take() {
                        Some(r) => r,
                        None => self.build_entry(p, i),
                    };
                    let (sub, sub_config) = result.map_err(|e| match e {
                        Error::NoKustomization { dir } => {
                            kerr(&file, field, format!("directory {dir:?} has no kustomization file"))
                        }
                        other => other,
                    })?;
                    for r in sub {
                        add_resource(acc, r, &file)?;
                    }
                    cfg.merge(sub_config).map_err(|e| kerr(&file, field, e))?;
                }
                None => return Err(kerr(&file, field, format!("{entry:?}: no such file or directory"))),
            }
        }

        // Transformer configuration: this kustomization's files, over its resources'.
        for (i, c) in k.configurations.iter().enumerate() {
            let field = format!("configurations[{i}]");
            let (p, bytes) = self.read_file(dir, &file, &field, c)?;
            let text = String::from_utf8(bytes).map_err(|_| kerr(&file, &field, format!("{p}: not valid UTF-8")))?;
            // Read as the kustomization is: go-yaml v2, then Go's JSON rules.
            let value = yaml::parse_value_go_yaml_v2(&text, &p)?.unwrap_or(Value::Null);
            let again = || yaml::parse_value_go_yaml_v2(&text, &p).ok().flatten().unwrap_or(Value::Null);
            let config: TransformerConfig =
                crate::go_json::decode(value, again).map_err(|(field, msg)| kerr(&p, field, msg))?;
            if let Some((section, i)) = config.pathless_spec() {
                return Err(kerr(&p, format!("{section}[{i}].path"), "a field spec needs a path"));
            }
            cfg.merge(config).map_err(|e| kerr(&file, &field, e))?;
        }
        // `crds`: OpenAPI definitions whose markers add field specs.
        for (i, c) in k.crds.iter().enumerate() {
            let field = format!("crds[{i}]");
            let (p, bytes) = self.read_file(dir, &file, &field, c)?;
            let text = String::from_utf8(bytes).map_err(|_| kerr(&file, &field, format!("{p}: not valid UTF-8")))?;
            let unparsable =
                |e: String| kerr(&file, &field, format!("unable to parse open API definition from {p:?}: {e}"));
            let value = if text.starts_with('{') {
                serde_json::from_str(&text).map_err(|e| unparsable(e.to_string()))?
            } else {
                yaml::parse_value(&text, &p, 0, 1).map_err(|e| unparsable(e.to_string()))?.unwrap_or(Value::Null)
            };
            let config = crate::crds::config_from_definitions(&value).map_err(unparsable)?;
            cfg.merge(config).map_err(|e| kerr(&file, &field, e))?;
        }

        check_duplicates(acc, &file, "resources")?;
        let checked = acc.len();

        // 2. Generators.
        if !k.config_map_generator.is_empty() || !k.secret_generator.is_empty() {
            self.resources_read_at(entries.len());
        }
        let global = k.generator_options.clone().unwrap_or_default();
        for (i, g) in k.config_map_generator.iter().enumerate() {
            self.generate(dir, &file, &format!("configMapGenerator[{i}]"), g, &global, false, acc)?;
        }
        for (i, g) in k.secret_generator.iter().enumerate() {
            self.generate(dir, &file, &format!("secretGenerator[{i}]"), g, &global, true, acc)?;
        }
        if let Some(helm) = self.helm.filter(|_| !k.helm_charts.is_empty()) {
            self.resources_read_at(entries.len());
            let globals: crate::helm::HelmGlobals = match &k.helm_globals {
                Some(v) => serde_path_to_error::deserialize(v.clone())
                    .map_err(|e| kerr(&file, format!("helmGlobals.{}", e.path()), e.into_inner().to_string()))?,
                None => Default::default(),
            };
            for (i, v) in k.helm_charts.iter().enumerate() {
                let field = format!("helmCharts[{i}]");
                let chart: crate::helm::HelmChart = serde_path_to_error::deserialize(v.clone())
                    .map_err(|e| kerr(&file, format!("{field}.{}", e.path()), e.into_inner().to_string()))?;
                let read = |entry: &str| self.read_file(dir, &file, &field, entry).map_err(|e| e.to_string());
                let allowed = |p: &str| self.loadable(dir, p);
                let objects = crate::helm::inflate(helm, self.tree, dir, &globals, &chart, &read, &allowed)
                    .map_err(|e| kerr(&file, &field, e))?;
                for obj in objects {
                    let mut r = Res::new(obj);
                    r.origin = Some(Origin::Generator {
                        kustomization: file.clone(),
                        kind: "HelmChartInflationGenerator",
                        name: None,
                    });
                    add_resource(acc, r, &file)?;
                }
            }
        }

        // Built-in generator configurations (`generators:`), after the fields' generators.
        if !k.generators.is_empty() {
            self.resources_read_at(entries.len());
            for config in self.plugin_configs(dir, &file, "generators", &k.generators)? {
                self.run_builtin_generator(dir, &file, &config, acc)?;
            }
        }

        // Generators only add: with nothing added, the check above still holds.
        if acc.len() != checked {
            check_duplicates(acc, &file, "resources")?;
        }

        // 3. Components, on this accumulator.
        for (i, c) in k.components.iter().enumerate() {
            let field = format!("components[{i}]");
            if c.starts_with('/') {
                return Err(absolute_root(&file, &field, c));
            }
            let p = join(dir, c).map_err(|_| kerr(&file, &field, format!("{c:?} is outside the repository")))?;
            if self.tree.kind(&p)? != Some(EntryKind::Dir) {
                return Err(kerr(&file, &field, format!("{c:?} is not a directory")));
            }
            self.position.push(entries.len() + 1 + i);
            let r = self.run(&p, acc, Expect::Component, cfg);
            self.position.pop();
            r?;
        }

        // 4. Transformers, in Kustomize's fixed order, then the built-in transformer
        // configurations of `transformers:` in list order.
        self.transform(dir, &file, &k, acc, cfg)?;
        if !k.transformers.is_empty() {
            for config in self.plugin_configs(dir, &file, "transformers", &k.transformers)? {
                self.run_builtin_transformer(dir, &file, &config, acc, cfg)?;
            }
        }
        self.stack.pop();
        if !k.vars.is_empty() {
            bind_vars(&file, &k.vars, acc)?;
            let mut all = self.vars.lock().expect("vars lock");
            for v in &k.vars {
                if all.iter().any(|x| x.name == v.name) {
                    let list: Vec<String> = k.vars.iter().map(|x| crate::vars::describe(x, false)).collect();
                    return Err(kerr(
                        &file,
                        "vars",
                        format!("merging vars [{}]: var '{}' already encountered", list.join(" "), v.name),
                    ));
                }
                all.push(v.clone());
            }
        }
        Ok((file, k))
    }
}

#[cfg(test)]
mod remote_tests {
    use super::{is_remote_file, parse_remote};

    #[test]
    fn remote_file_urls() {
        assert!(is_remote_file("https://example.com/app.yaml"));
        assert!(is_remote_file("HTTP://example.com/deploy/app.YML?token=x#frag"));
        assert!(is_remote_file("https://example.com/schema.json"));
        assert!(!is_remote_file("https://github.com/org/repo//base?ref=v1"), "a repository");
        assert!(!is_remote_file("base/app.yaml"), "a local file");
        assert!(!is_remote_file("https://example.com/yaml"));
        assert!(!is_remote_file("https://é.example/ç"));
    }

    #[test]
    fn remote_resource_urls() {
        let p = |s: &str| parse_remote(s).unwrap();
        assert_eq!(
            p("https://github.com/kubernetes-sigs/kustomize//examples/multibases?ref=v1.0.6"),
            ("https://github.com/kubernetes-sigs/kustomize".into(), "examples/multibases".into(), "v1.0.6".into())
        );
        assert_eq!(
            p("github.com/org/repo/base?ref=main"),
            ("https://github.com/org/repo".into(), "base".into(), "main".into())
        );
        assert_eq!(
            p("git@gitlab.example.no:fintech/payments.git/base?version=v2"),
            ("git@gitlab.example.no:fintech/payments.git".into(), "base".into(), "v2".into())
        );
        assert_eq!(
            p("ssh://git@host/org/repo.git//deploy/prod"),
            ("ssh://git@host/org/repo.git".into(), "deploy/prod".into(), "".into())
        );
        assert_eq!(
            p("file:///srv/git/config.git//base?ref=v1"),
            ("file:///srv/git/config.git".into(), "base".into(), "v1".into())
        );
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use gitops_core::{MemTree, Renderer};

    /// Found by the kustomize_build fuzz target: an inline patch that reads as a string (not
    /// a mapping) was merged into the object and then indexed as one.
    #[test]
    fn a_patch_that_is_not_a_mapping_is_an_error() {
        let tree = MemTree::new()
            .with_file(
                "kustomization.yaml",
                "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: just a string\n",
            )
            .with_file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
        let e = super::Kustomize::default().render(&tree, "").unwrap_err().to_string();
        assert!(e.contains("must be a mapping"), "{e}");
    }

    /// Label and annotation keys that YAML reads as another type are refused, the first in
    /// field order named: common labels and annotations, `labels`, then the generator options.
    #[test]
    fn metadata_keys_that_are_not_strings_name_their_field() {
        let cases = [
            ("commonLabels: {\"1\": a}\nlabels: [{pairs: {\"true\": b}}]\n", "commonLabels"),
            ("labels: [{pairs: {a: b}}, {pairs: {\"true\": b}}]\n", "labels[1].pairs"),
            ("generatorOptions: {annotations: {\"null\": x}}\n", "generatorOptions.annotations"),
            (
                "configMapGenerator:\n- {name: a, literals: [k=v]}\n- {name: b, literals: [k=v], options: {labels: {\"2024-01-01\": x}}}\n",
                "configMapGenerator[1].options.labels",
            ),
            (
                "secretGenerator:\n- {name: s, literals: [k=v], options: {annotations: {\"1.5\": x}}}\n",
                "secretGenerator[0].options.annotations",
            ),
        ];
        for (text, field) in cases {
            let tree = MemTree::new().with_file("kustomization.yaml", text);
            let e = super::Kustomize::default().render(&tree, "").unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("not a string"), "{field}: {e}");
        }
    }

    #[test]
    fn hash_suffixes_are_kubectls_with_go_escapes() {
        // `kubectl kustomize` v5.5 names these html-hk847bkc75 and s-g89k2h7h9h: Go's JSON
        // escapes <, >, & and U+2028 before the text is hashed.
        let cm = gitops_core::Object::from_value(gitops_core::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "html"},
            "data": {"A": "<a&b>", "B": "x\u{2028}y"},
        }))
        .unwrap();
        assert_eq!(super::hash_suffix(&cm), "hk847bkc75");
        let secret = gitops_core::Object::from_value(gitops_core::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "PGM+", "tls.key": "Jms="},
        }))
        .unwrap();
        assert_eq!(super::hash_suffix(&secret), "g89k2h7h9h");
    }
}

#[cfg(test)]
mod large_builds {
    use gitops_core::{MemTree, Renderer};

    /// A build large enough that resource ids are hashed on several threads for the duplicate
    /// check (from 1,024 resources): the first repeated id in resource order is reported, a
    /// namespace or kind apart is no repetition, and a clean build passes.
    #[test]
    fn duplicate_ids_in_a_large_build() {
        let cm =
            |name: &str, ns: &str| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}{ns}}}\n");
        let mut text = String::new();
        for i in 0..1200 {
            text.push_str(&cm(&format!("cm-{i}"), ""));
            // The same names again, in another namespace and as Secrets: different ids.
            text.push_str(&cm(&format!("cm-{i}"), ", namespace: other"));
            text.push_str(&format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: cm-{i}}}\n"));
        }
        let tree = |extra: &str| {
            MemTree::new()
                .with_file("all.yaml", format!("{text}{extra}"))
                .with_file("kustomization.yaml", "resources: [all.yaml]\n")
        };
        let objects = super::Kustomize::default().render(&tree(""), "").unwrap();
        assert_eq!(objects.len(), 3600);
        let twice = format!("{}{}{}", cm("cm-900", ", namespace: other"), cm("cm-5", ""), cm("cm-5", ""));
        let e = super::Kustomize::default().render(&tree(&twice), "").unwrap_err().to_string();
        assert!(e.contains("already registered id") && e.contains("cm-900"), "{e}");
    }

    /// A build large enough that name references are rewritten on several threads (the work is
    /// split in chunks from 512 resources): every chunk's references follow the renames, and of
    /// two ambiguous references the first in resource order is the one reported.
    #[test]
    fn name_references_in_a_large_build() {
        let n = 700;
        let mut cms = String::new();
        let mut deps = String::new();
        for i in 0..n {
            cms.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"));
            deps.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d-{i}}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        envFrom:\n        - configMapRef: {{name: cm-{i}}}\n"
            ));
        }
        let tree = MemTree::new()
            .with_file("app/kustomization.yaml", "namePrefix: p-\nresources: [cms.yaml, deps.yaml]\n")
            .with_file("app/cms.yaml", cms)
            .with_file("app/deps.yaml", deps)
            .with_file("kustomization.yaml", "resources: [app]\n");
        let objects = super::Kustomize::default().render(&tree, "").unwrap();
        let refs: Vec<&str> = objects
            .iter()
            .filter(|o| o.kind() == "Deployment")
            .map(|o| o.get("/spec/template/spec/containers/0/envFrom/0/configMapRef/name").unwrap().as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), n);
        for r in &refs {
            assert!(r.starts_with("p-cm-"), "{r}");
        }

        // Two namespaces with the same generated ConfigMaps (renamed by their hashes); two
        // ClusterRoles (cluster-scoped, so either namespace is reachable) name one of them:
        // both references are ambiguous.
        let role = |name: &str, cm: &str| {
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}}}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  resourceNames: [{cm}]\n  verbs: [get]\n"
            )
        };
        // Different data, so different hashes: the same new name in both would not be ambiguous.
        let generators = |team: &str| {
            let mut text = format!("namespace: team-{team}\nconfigMapGenerator:\n");
            for i in 0..300 {
                text.push_str(&format!("- name: cm-{i}\n  literals: [i={i}, team={team}]\n"));
            }
            text
        };
        let tree = MemTree::new()
            .with_file("a/kustomization.yaml", generators("a"))
            .with_file("b/kustomization.yaml", generators("b"))
            .with_file("early.yaml", role("early", "cm-7"))
            .with_file("late.yaml", role("late", "cm-290"))
            .with_file("kustomization.yaml", "resources: [early.yaml, a, b, late.yaml]\n");
        let e = match super::Kustomize::default().render(&tree, "") {
            Ok(objects) => panic!("an ambiguous reference was accepted ({} objects)", objects.len()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("ClusterRole.v1.rbac.authorization.k8s.io/early"), "{e}");
        assert!(e.contains("found multiple possible referrals: ConfigMap.v1.[noGrp]/cm-7-"), "{e}");
    }
}
