//! Absolute filesystem paths in a kustomization, as Kustomize treats them: a file (a resource,
//! a patch, a generator's file) may be named by its absolute path when it is in the tree and
//! the load restrictor allows it; a directory (a base, a component) may not ("new root ...
//! cannot be absolute"); a tree that is not on disk has no absolute paths. Where `kubectl` is
//! on PATH, the same directories are built by `kubectl kustomize` too, and the outputs (or
//! the refusals) must agree.

use std::path::Path;
use std::process::Command;

use gitops_core::{DirTree, MemTree};
use gitops_render::Kustomize;

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

/// A temporary directory by its canonical path (`/tmp` may be a symlink), as text.
fn temp() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().canonicalize().unwrap().to_str().unwrap().to_string();
    (dir, abs)
}

/// The build of `dir` (an absolute path) with the tree rooted at `/`, as the `render` command
/// builds it: the YAML stream, or the error's text.
fn ours(dir: &str) -> Result<String, String> {
    let tree = DirTree::snapshot("/").unwrap();
    Kustomize::default()
        .build(&tree, dir.trim_start_matches('/'))
        .map(|objects| gitops_core::yaml::to_yaml_stream_folded(&objects, 80))
        .map_err(|e| e.to_string())
}

/// `kubectl kustomize dir`'s output, or `None` when kubectl is not installed.
fn kubectl(dir: &str) -> Option<Result<String, String>> {
    let out = Command::new("kubectl").arg("kustomize").arg(dir).output().ok()?;
    Some(if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

/// Ours and kubectl's agree: the same bytes, or both refuse.
fn agrees_with_kubectl(dir: &str, ours: &Result<String, String>) {
    match (kubectl(dir), ours) {
        (None, _) => eprintln!("kubectl is not on PATH: {dir} is checked against the expectations only"),
        (Some(Ok(theirs)), Ok(mine)) => assert_eq!(mine, &theirs, "{dir}"),
        (Some(Err(_)), Err(_)) => {}
        (Some(theirs), mine) => panic!("{dir}: kubectl {theirs:?}, ours {mine:?}"),
    }
}

#[test]
fn files_named_by_absolute_paths_inside_the_root_are_loaded() {
    let (_keep, abs) = temp();
    let root = Path::new(&abs);
    write(root, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n");
    write(root, "app/patch.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  b: \"2\"\n");
    write(root, "app/motd.txt", "hello\n");
    write(
        root,
        "app/kustomization.yaml",
        &format!(
            "resources:\n- {abs}/app/cm.yaml\npatches:\n- path: {abs}/app/patch.yaml\n\
             configMapGenerator:\n- name: motd\n  files:\n  - {abs}/app/motd.txt\n"
        ),
    );
    let dir = format!("{abs}/app");
    let built = ours(&dir);
    let text = built.as_ref().unwrap();
    assert!(text.contains("  a: \"1\"\n  b: \"2\"\n"), "the patch by absolute path applies:\n{text}");
    assert!(text.contains("  motd.txt: |\n    hello\n"), "the generator reads its file by absolute path:\n{text}");
    agrees_with_kubectl(&dir, &built);

    // A tree rooted at the directory itself maps the same absolute paths.
    let tree = DirTree::new(root).unwrap();
    let objects = Kustomize::default().build(&tree, "app").unwrap();
    assert_eq!(gitops_core::yaml::to_yaml_stream_folded(&objects, 80), *text);
}

#[test]
fn absolute_paths_the_restrictor_or_the_tree_does_not_allow_are_refused() {
    let (_keep, abs) = temp();
    let root = Path::new(&abs);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
    write(root, "base/cm.yaml", cm);
    write(root, "base/kustomization.yaml", "resources:\n- cm.yaml\n");

    // A file outside the kustomization's directory, even with `..` in an absolute path.
    write(root, "overlay/kustomization.yaml", &format!("resources:\n- {abs}/overlay/../base/cm.yaml\n"));
    let dir = format!("{abs}/overlay");
    let built = ours(&dir);
    let err = built.as_ref().unwrap_err();
    assert!(err.contains("security; file") && err.contains("resources[0]"), "{err}");
    agrees_with_kubectl(&dir, &built);

    // A directory by its absolute path: Kustomize refuses the new root.
    write(root, "dirs/kustomization.yaml", &format!("resources:\n- {abs}/base\n"));
    let dir = format!("{abs}/dirs");
    let built = ours(&dir);
    let err = built.as_ref().unwrap_err();
    assert!(err.contains(&format!("new root \"{abs}/base\" cannot be absolute")), "{err}");
    agrees_with_kubectl(&dir, &built);

    // A component too.
    write(root, "comp/kustomization.yaml", &format!("components:\n- {abs}/base\n"));
    let err = ours(&format!("{abs}/comp")).unwrap_err();
    assert!(err.contains("components[0]") && err.contains("cannot be absolute"), "{err}");

    // A missing file by its absolute path is missing, named as written.
    write(root, "missing/kustomization.yaml", &format!("resources:\n- {abs}/missing/none.yaml\n"));
    let err = ours(&format!("{abs}/missing")).unwrap_err();
    assert!(err.contains(&format!("\"{abs}/missing/none.yaml\": no such file")), "{err}");

    // A tree rooted below the file: the path is outside it.
    write(root, "inner/kustomization.yaml", &format!("resources:\n- {abs}/base/cm.yaml\n"));
    let tree = DirTree::new(root.join("inner")).unwrap();
    let err = Kustomize::default().build(&tree, "").unwrap_err().to_string();
    assert!(err.contains("absolute path outside the tree"), "{err}");

    // A tree in memory has no place on disk.
    let mut mem = MemTree::new();
    mem.insert("k/kustomization.yaml", b"resources:\n- /k/cm.yaml\n").unwrap();
    mem.insert("k/cm.yaml", cm.as_bytes()).unwrap();
    let err = Kustomize::default().build(&mem, "k").unwrap_err().to_string();
    assert!(err.contains("resources[0]") && err.contains("absolute path"), "{err}");
}
