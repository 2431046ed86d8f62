//! The load restrictor judges where a file really is: a symlink inside a kustomization's root
//! that points at a file outside it is refused, as `kubectl kustomize` refuses it ("security;
//! file ... is not in or below ..."), for every field that reads a file. A link that stays
//! inside the root is followed. Checked over a `DirTree` rooted at `/` (what `render DIR`
//! uses), a `DirTree` rooted at the repository, and live against `kubectl kustomize`.

use std::path::Path;
use std::process::Command;

use gitops_core::{DirTree, Renderer};
use gitops_render::Kustomize;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaked\ndata:\n  token: s3cr3t-from-outside\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";

/// One entry point: the kustomization (its entries name `leak`, the link), and what the
/// link's target holds so that the file would be accepted if it were inside the root.
struct Case {
    name: &'static str,
    kustomization: &'static str,
    target: &'static str,
}

fn cases() -> Vec<Case> {
    let patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\n";
    vec![
        Case { name: "resources", kustomization: "resources:\n- leak\n", target: CM },
        Case {
            name: "patches.path",
            kustomization: "resources:\n- deploy.yaml\npatches:\n- path: leak\n",
            target: patch,
        },
        Case {
            name: "patchesStrategicMerge",
            kustomization: "resources:\n- deploy.yaml\npatchesStrategicMerge:\n- leak\n",
            target: patch,
        },
        Case {
            name: "configMapGenerator.files",
            kustomization: "configMapGenerator:\n- name: token\n  files:\n  - token=leak\n",
            target: "s3cr3t-from-outside\n",
        },
        Case {
            name: "configMapGenerator.envs",
            kustomization: "configMapGenerator:\n- name: token\n  envs:\n  - leak\n",
            target: "TOKEN=s3cr3t-from-outside\n",
        },
        Case {
            name: "secretGenerator.files",
            kustomization: "secretGenerator:\n- name: token\n  files:\n  - leak\n",
            target: "s3cr3t-from-outside\n",
        },
        Case {
            name: "configurations",
            kustomization: "resources:\n- deploy.yaml\nconfigurations:\n- leak\n",
            target: "namePrefix:\n- path: metadata/name\n",
        },
        Case {
            name: "openapi",
            kustomization: "resources:\n- deploy.yaml\nopenapi:\n  path: leak\n",
            target: "{\"definitions\": {}}\n",
        },
        Case {
            name: "replacements.path",
            kustomization: "resources:\n- deploy.yaml\nreplacements:\n- path: leak\n",
            target: "- source:\n    kind: Deployment\n    fieldPath: metadata.name\n  targets:\n  - select:\n      kind: Deployment\n    fieldPaths:\n    - metadata.annotations.x\n    options:\n      create: true\n",
        },
    ]
}

/// `root/outside/leak-target` and `root/repo/other/leak-target` (outside the kustomization's
/// root, inside the repository), `root/repo/app/` with the kustomization and `leak` pointing
/// at `target`.
fn lay_out(root: &Path, case: &Case, target: &Path) {
    let app = root.join("repo/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    std::fs::create_dir_all(root.join("repo/other")).unwrap();
    std::fs::write(root.join("outside/leak-target"), case.target).unwrap();
    std::fs::write(root.join("repo/other/leak-target"), case.target).unwrap();
    std::fs::write(app.join("kustomization.yaml"), case.kustomization).unwrap();
    std::fs::write(app.join("deploy.yaml"), DEPLOY).unwrap();
    std::os::unix::fs::symlink(target, app.join("leak")).unwrap();
}

fn kubectl(dir: &Path) -> Option<(bool, String)> {
    let out = Command::new("kubectl").arg("kustomize").arg(dir).output().ok()?;
    Some((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[test]
fn a_symlink_out_of_the_root_is_refused_for_every_field() {
    let k = Kustomize::default();
    for case in cases() {
        for (how, target) in [("absolute link out of the repository", None), ("link to a sibling directory", Some(()))]
        {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().canonicalize().unwrap();
            let target_path = match target {
                None => root.join("outside/leak-target"),
                Some(()) => Path::new("../other/leak-target").to_path_buf(),
            };
            lay_out(&root, &case, &target_path);
            let app = root.join("repo/app");
            // As `render DIR` reads it: a tree over `/`, the kustomization by its path.
            let tree = DirTree::new("/").unwrap();
            let path = app.to_str().unwrap().trim_start_matches('/');
            let err = k.render(&tree, path).expect_err(&format!("{}, {how}: must be refused", case.name)).to_string();
            assert!(
                err.contains("security; file") && err.contains("is not in or below"),
                "{}, {how}: {err}",
                case.name
            );
            assert!(!err.contains("s3cr3t"), "{}: the file's content is not in the error: {err}", case.name);
            // A tree over the repository: a link within it, but outside the kustomization.
            if target.is_some() {
                let tree = DirTree::new(root.join("repo")).unwrap();
                let err = k.render(&tree, "app").expect_err(case.name).to_string();
                assert!(err.contains("security; file"), "{}, repo tree: {err}", case.name);
            }
            if let Some((ok, stderr)) = kubectl(&app) {
                assert!(!ok && stderr.contains("security; file"), "kubectl, {}, {how}: {stderr}", case.name);
            }
            // Lifted restrictor: the same build reads the file.
            let lifted = Kustomize { load_restrictor: gitops_render::LoadRestrictor::None, ..Kustomize::default() };
            let tree = DirTree::new("/").unwrap();
            lifted.render(&tree, path).unwrap_or_else(|e| panic!("{}, {how}, restrictor lifted: {e}", case.name));
        }
    }
}

#[test]
fn links_inside_the_root_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("files")).unwrap();
    std::fs::write(app.join("files/real.yaml"), CM).unwrap();
    std::os::unix::fs::symlink("files/real.yaml", app.join("alias.yaml")).unwrap();
    std::fs::write(app.join("kustomization.yaml"), "resources:\n- alias.yaml\n").unwrap();
    let tree = DirTree::new("/").unwrap();
    let objects = Kustomize::default().render(&tree, app.to_str().unwrap().trim_start_matches('/')).unwrap();
    assert_eq!(objects[0].name(), "leaked");
    if let Some((ok, stderr)) = kubectl(&app) {
        assert!(ok, "{stderr}");
    }
}

#[test]
fn the_kustomization_file_itself_and_a_component_are_restricted() {
    // A kustomization file that is a link out of its directory.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    std::fs::write(root.join("elsewhere/k.yaml"), "resources: []\n").unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere/k.yaml"), root.join("app/kustomization.yaml")).unwrap();
    let tree = DirTree::new(&root).unwrap();
    // Kustomize takes a refused kustomization file for a missing one.
    let err = Kustomize::default().render(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("unable to find one of 'kustomization.yaml'"), "{err}");
    if let Some((ok, stderr)) = kubectl(&root.join("app")) {
        assert!(!ok && stderr.contains("unable to find one of 'kustomization.yaml'"), "{stderr}");
    }

    // A component's files are judged against the component's own root.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::create_dir_all(root.join("comp")).unwrap();
    std::fs::write(root.join("app/kustomization.yaml"), "resources:\n- deploy.yaml\ncomponents:\n- ../comp\n").unwrap();
    std::fs::write(root.join("app/deploy.yaml"), DEPLOY).unwrap();
    std::fs::write(root.join("app/token"), "s3cr3t\n").unwrap();
    std::fs::write(
        root.join("comp/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: t\n  files:\n  - token\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../app/token", root.join("comp/token")).unwrap();
    let tree = DirTree::new(&root).unwrap();
    let err = Kustomize::default().render(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("security; file"), "{err}");
    if let Some((ok, stderr)) = kubectl(&root.join("app")) {
        assert!(!ok && stderr.contains("security"), "{stderr}");
    }
}

#[test]
fn a_cycle_through_a_symlinked_directory_is_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/kustomization.yaml"), "resources:\n- loop\n").unwrap();
    std::os::unix::fs::symlink(".", root.join("app/loop")).unwrap();
    let tree = DirTree::new(&root).unwrap();
    let err = Kustomize::default().render(&tree, "app").unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
    if let Some((ok, _)) = kubectl(&root.join("app")) {
        assert!(!ok);
    }
}
