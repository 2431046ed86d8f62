//! A kustomization's `resources` of every kind (directories, files with and without an
//! extension, directories named like files), built in list order whether they are looked up
//! and built on several threads or one, from a directory or from memory; errors reported for
//! the first failing entry in the list.

use gitops_core::{DirTree, FileTree, MemTree};
use gitops_render::Kustomize;

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

fn files() -> Vec<(String, String)> {
    let mut files = vec![(
        "root/kustomization.yaml".to_string(),
        "sortOptions:\n  order: fifo\nresources:\n- d0\n- conf.d\n- plain\n- d1\n- x.yaml\n- d2\n- ../outside\n"
            .to_string(),
    )];
    for d in ["d0", "conf.d", "d1", "d2"] {
        files.push((
            format!("root/{d}/kustomization.yaml"),
            format!("namePrefix: {}-\nresources:\n- cm.yaml\n", d.replace('.', "")),
        ));
        files.push((format!("root/{d}/cm.yaml"), cm(d.trim_end_matches(".d"))));
    }
    files.push(("root/plain".into(), cm("plain")));
    files.push(("root/x.yaml".into(), cm("x")));
    files.push(("outside/kustomization.yaml".into(), "resources:\n- cm.yaml\n".into()));
    files.push(("outside/cm.yaml".into(), cm("outside")));
    files
}

fn names(tree: &dyn FileTree, dir: &str) -> Result<Vec<String>, String> {
    let objects = Kustomize::default().build(tree, dir).map_err(|e| e.to_string())?;
    Ok(objects.iter().map(|o| o.name().to_string()).collect())
}

fn trees(files: &[(String, String)]) -> (MemTree, tempfile::TempDir) {
    let mut mem = MemTree::new();
    let dir = tempfile::tempdir().unwrap();
    for (p, text) in files {
        mem.insert(p, text.as_bytes()).unwrap();
        let full = dir.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    (mem, dir)
}

#[test]
fn entries_of_every_kind_are_built_in_list_order() {
    let (mem, dir) = trees(&files());
    let want = ["d0-d0", "confd-conf", "plain", "d1-d1", "x", "d2-d2", "outside"];
    assert_eq!(names(&mem, "root").unwrap(), want);
    let snapshot = DirTree::snapshot(dir.path()).unwrap();
    assert_eq!(names(&snapshot, "root").unwrap(), want);
    assert_eq!(names(&DirTree::new(dir.path()).unwrap(), "root").unwrap(), want);
}

#[test]
fn the_first_failing_entry_in_the_list_is_reported() {
    let mut files = files();
    // `d1` fails to build; `missing` (before it) and `gone.yaml` (after it) do not exist.
    files.push(("root/d1/kustomization.yaml".into(), "resources:\n- nothere.yaml\n".into()));
    let with = |list: &str| {
        let mut f = files.clone();
        f[0].1 = format!("resources:\n{list}");
        f
    };
    for (list, wanted) in [
        ("- d0\n- missing\n- d1\n- d2\n", "\"missing\""),
        ("- d0\n- d1\n- missing\n- d2\n", "nothere.yaml"),
        ("- d0\n- d1\n- gone.yaml\n", "nothere.yaml"),
        ("- d0\n- gone.yaml\n- d1\n", "\"gone.yaml\""),
    ] {
        let (mem, dir) = trees(&with(list));
        let snapshot = DirTree::snapshot(dir.path()).unwrap();
        for tree in [&mem as &dyn FileTree, &snapshot] {
            let err = names(tree, "root").unwrap_err();
            assert!(err.contains(wanted), "{list}: {err}");
        }
    }
}
