//! Jsonnet files of a directory source, evaluated in process with jrsonnet as Argo CD
//! evaluates them with go-jsonnet: imports relative to the importing file, then the library
//! directories (the application's directory first, then `jsonnet.libs`, searched last to
//! first as go-jsonnet does); `extVars` and `tlas` as strings or code, with `$ARGOCD_APP_*`
//! substituted; the result an object or an array of objects.
//!
//! Files are read from the [`FileTree`] (a Git revision needs no checkout): the evaluator runs
//! on its own thread and asks the caller's thread for each file it imports. Imports cannot
//! leave the tree.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;

use gitops_core::Object;
use gitops_core::source::{JsonnetSource, RenderRequest};
use gitops_core::tree::{EntryKind, FileTree, normalize};
use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{AsPathLike, IStr, ImportResolver, ResolvePathOwned, SourcePath, State, apply_tla};
use jrsonnet_gcmodule::Acyclic;
use jrsonnet_ir::{SourceFifo, SourceFile};

use crate::error::Error;

/// The evaluator thread's stack: deep but finite recursion ends in jrsonnet's own
/// "stack overflow" error, not in the process's.
const STACK_BYTES: usize = 64 << 20;

/// What the evaluator asks of the thread that holds the tree.
enum Request {
    /// Whether a file exists.
    Exists(String, mpsc::Sender<bool>),
    /// A file's bytes.
    Read(String, mpsc::Sender<Result<Vec<u8>, String>>),
}

/// jrsonnet's import resolver over the caller's tree, through a channel.
#[derive(Acyclic)]
struct TreeResolver {
    requests: mpsc::Sender<Request>,
    /// Library directories, searched last to first (go-jsonnet's order).
    jpaths: Vec<String>,
}

impl TreeResolver {
    fn exists(&self, path: &str) -> bool {
        let (tx, rx) = mpsc::channel();
        self.requests.send(Request::Exists(path.to_string(), tx)).is_ok() && rx.recv().unwrap_or(false)
    }
}

fn tree_path(p: &SourcePath) -> Option<String> {
    p.downcast_ref::<SourceFile>().map(|f| f.path().to_string_lossy().into_owned())
}

impl ImportResolver for TreeResolver {
    fn resolve_from(&self, from: &SourcePath, path: &dyn AsPathLike) -> jrsonnet_evaluator::Result<SourcePath> {
        let wanted = path.as_path();
        let wanted: &std::path::Path = wanted.as_ref();
        let wanted = wanted.to_string_lossy().into_owned();
        let dir = tree_path(from).map(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default());
        let mut candidates = Vec::new();
        if !wanted.starts_with('/') {
            if let Some(dir) = dir {
                candidates.push(format!("{dir}/{wanted}"));
            }
            candidates.extend(self.jpaths.iter().rev().map(|j| format!("{j}/{wanted}")));
        }
        for c in candidates {
            if let Ok(n) = normalize(&c)
                && self.exists(&n)
            {
                return Ok(SourcePath::new(SourceFile::new(PathBuf::from(n))));
            }
        }
        Err(ErrorKind::ImportFileNotFound(from.clone(), ResolvePathOwned::Str(wanted)).into())
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        // Inline code (`tlas`/`extVars` with `code: true`) comes as an in-memory file.
        if let Some(inline) = resolved.downcast_ref::<SourceFifo>() {
            return Ok(inline.1.to_vec());
        }
        let path = tree_path(resolved).ok_or_else(|| ErrorKind::ImportIo(format!("cannot load {resolved}")))?;
        let (tx, rx) = mpsc::channel();
        self.requests
            .send(Request::Read(path.clone(), tx))
            .map_err(|_| ErrorKind::ImportIo(format!("{path}: the tree is gone")))?;
        rx.recv()
            .map_err(|_| ErrorKind::ImportIo(format!("{path}: the tree is gone")))?
            .map_err(|e| ErrorKind::ImportIo(e).into())
    }
}

/// Evaluates `file` of `tree` (an application directory's Jsonnet file) into objects.
pub(crate) fn evaluate(
    tree: &dyn FileTree,
    file: &str,
    app_dir: &str,
    options: &JsonnetSource,
    request: &RenderRequest<'_>,
) -> Result<Vec<Object>, Error> {
    let fail = |message: String| Error::Jsonnet { file: file.to_string(), message };
    let mut jpaths = vec![app_dir.to_string()];
    for lib in &options.libs {
        let p = normalize(lib.trim_start_matches('/'))
            .map_err(|_| fail(format!("library path {lib:?} is outside the repository")))?;
        jpaths.push(p);
    }
    let ext: Vec<(String, String, bool)> =
        options.ext_vars.iter().map(|v| (v.name.clone(), request.envsubst(&v.value), v.code)).collect();
    let tlas: Vec<(String, String, bool)> =
        options.tlas.iter().map(|v| (v.name.clone(), request.envsubst(&v.value), v.code)).collect();
    let (tx, rx) = mpsc::channel::<Request>();
    let entry = file.to_string();
    let json = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("jsonnet".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, move || evaluate_on_this_thread(tx, jpaths, &entry, &ext, &tlas))
            .map_err(|e| format!("cannot start the evaluator: {e}"))?;
        // Serve the evaluator's reads until it is done (its resolver, and so the sender,
        // is dropped with its state).
        for r in rx {
            match r {
                Request::Exists(p, reply) => {
                    let _ = reply.send(matches!(tree.kind(&p), Ok(Some(EntryKind::File))));
                }
                Request::Read(p, reply) => {
                    let _ = reply.send(tree.read(&p).map_err(|e| e.to_string()));
                }
            }
        }
        worker.join().map_err(|_| "the evaluator failed".to_string())?
    })
    .map_err(&fail)?;
    let value: gitops_core::value::Value =
        serde_json::from_str(&json).map_err(|e| fail(format!("failed to unmarshal generated json: {e}")))?;
    let items = match value {
        gitops_core::value::Value::Array(items) => items,
        other @ gitops_core::value::Value::Object(_) => vec![other],
        other => return Err(fail(format!("the result is {other}, not an object or an array of objects"))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| Object::from_value(v).map_err(|e| fail(format!("item {i}: {e}"))))
        .collect()
}

fn evaluate_on_this_thread(
    requests: mpsc::Sender<Request>,
    jpaths: Vec<String>,
    file: &str,
    ext: &[(String, String, bool)],
    tlas: &[(String, String, bool)],
) -> Result<String, String> {
    let context = jrsonnet_stdlib::ContextInitializer::new(PathResolver::Absolute);
    for (name, value, code) in ext {
        if *code {
            context.add_ext_code(name, value).map_err(|e| format!("extVar {name}: {e}"))?;
        } else {
            context.add_ext_str(name.as_str().into(), value.as_str().into());
        }
    }
    let mut builder = State::builder();
    builder.import_resolver(TreeResolver { requests, jpaths }).context_initializer(context);
    let state = builder.build();
    let _entered = state.enter();
    let format = CompactFormat { resolver: PathResolver::Absolute, max_trace: 20, padding: 4 };
    let shown = |e: jrsonnet_evaluator::Error| format.format(&e).unwrap_or_else(|_| e.to_string());
    let value = state.import_resolved(SourcePath::new(SourceFile::new(PathBuf::from(file)))).map_err(shown)?;
    // jrsonnet's own key type (interned strings compare by content).
    #[allow(clippy::mutable_key_type)]
    let mut args: HashMap<IStr, TlaArg> = HashMap::new();
    for (name, value, code) in tlas {
        let arg = if *code { TlaArg::InlineCode(value.clone()) } else { TlaArg::String(value.as_str().into()) };
        args.insert(name.as_str().into(), arg);
    }
    let value = apply_tla(&args, value).map_err(shown)?;
    value.manifest(JsonFormat::cli(2)).map_err(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_core::MemTree;
    use gitops_core::source::{AppSource, JsonnetVar};

    fn var(name: &str, value: &str, code: bool) -> JsonnetVar {
        JsonnetVar { name: name.into(), value: value.into(), code }
    }

    #[test]
    fn imports_vars_and_tlas() {
        let tree = MemTree::new()
            .with_file(
                "app/main.jsonnet",
                "local k = import 'k.libsonnet'; local u = import 'util.libsonnet';\n\
                 function(replicas=1, tier='x') [k.cm(u.name(std.extVar('env')), { replicas: replicas, tier: tier, rev: std.extVar('rev') })]",
            )
            .with_file("app/util.libsonnet", "{ name(e):: 'web-' + e }")
            .with_file("lib/k.libsonnet", "{ cm(n, d):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: { [k]: std.toString(d[k]) for k in std.objectFields(d) } } }");
        let options = JsonnetSource {
            ext_vars: vec![var("env", "prod", false), var("rev", "$ARGOCD_APP_REVISION_SHORT", false)],
            tlas: vec![var("replicas", "1 + 2", true), var("tier", "front", false)],
            libs: vec!["lib".into()],
        };
        let source = AppSource::default();
        let request = RenderRequest::new(&source, "web", "prod", "abcdef0123");
        let objects = evaluate(&tree, "app/main.jsonnet", "app", &options, &request).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].name(), "web-prod");
        assert_eq!(objects[0].get("/data/replicas").unwrap(), "3");
        assert_eq!(objects[0].get("/data/tier").unwrap(), "front");
        assert_eq!(objects[0].get("/data/rev").unwrap(), "abcdef0");
    }

    #[test]
    fn errors_name_the_file_and_imports_stay_in_the_tree() {
        let source = AppSource::default();
        let request = RenderRequest::new(&source, "web", "prod", "abc");
        let tree = MemTree::new()
            .with_file("app/bad.jsonnet", "{ a: 1 +\n}")
            .with_file("app/esc.jsonnet", "import '../../etc/passwd'")
            .with_file("app/err.jsonnet", "error 'boom'")
            .with_file("app/num.jsonnet", "42");
        let e = evaluate(&tree, "app/bad.jsonnet", "app", &JsonnetSource::default(), &request).unwrap_err();
        assert!(e.to_string().starts_with("jsonnet app/bad.jsonnet:"), "{e}");
        let e = evaluate(&tree, "app/esc.jsonnet", "app", &JsonnetSource::default(), &request).unwrap_err();
        assert!(e.to_string().contains("passwd"), "{e}");
        let e = evaluate(&tree, "app/err.jsonnet", "app", &JsonnetSource::default(), &request).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        let e = evaluate(&tree, "app/num.jsonnet", "app", &JsonnetSource::default(), &request).unwrap_err();
        assert!(e.to_string().contains("not an object"), "{e}");
    }

    #[test]
    fn deep_recursion_is_an_error_not_a_crash() {
        let source = AppSource::default();
        let request = RenderRequest::new(&source, "web", "prod", "abc");
        let tree = MemTree::new()
            .with_file("a/r.jsonnet", "local f(n) = if n == 0 then 0 else 1 + f(n - 1); { v: f(1000000) }");
        let e = evaluate(&tree, "a/r.jsonnet", "a", &JsonnetSource::default(), &request).unwrap_err();
        assert!(e.to_string().to_lowercase().contains("stack"), "{e}");
    }
}
