//! Argo CD's `spec.source.kustomize.images`: `kustomize edit set image` on the kustomization,
//! in order, then the build. Compared with `kubectl kustomize` on the edited kustomization.

use std::process::Command;

use gitops_core::{DirTree, Renderer, yaml};
use gitops_render::{AutoRenderer, Kustomize, set_image};

const OVERLAY: &str = "resources:\n- ../base\nimages:\n- name: app\n  newName: registry/app\n  newTag: v1\n";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(dir.path().join("overlay")).unwrap();
    std::fs::create_dir_all(dir.path().join("plain")).unwrap();
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: busybox:1.36\n      containers:\n      - name: web\n        image: app:v0\n";
    std::fs::write(base.join("deployment.yaml"), deployment).unwrap();
    std::fs::write(base.join("kustomization.yaml"), "resources:\n- deployment.yaml\n").unwrap();
    std::fs::write(dir.path().join("overlay/kustomization.yaml"), OVERLAY).unwrap();
    std::fs::write(dir.path().join("plain/deployment.yaml"), deployment).unwrap();
    dir
}

fn image(objects: &[gitops_core::Object]) -> String {
    objects[0].get("/spec/template/spec/containers/0/image").unwrap().as_str().unwrap().to_string()
}

#[test]
fn application_images_edit_the_kustomization_then_build() {
    let dir = repo();
    let tree = DirTree::new(dir.path()).unwrap();
    let k = Kustomize::default();
    // The Application's entry for `app` replaces the kustomization's (which renamed it): the
    // rendered image is the Application's, not a rewrite of the kustomization's result.
    let args = vec!["app=registry/app:v2".to_string()];
    assert_eq!(image(&k.render_with_images(&tree, "overlay", &args).unwrap()), "registry/app:v2");
    // Entries run in list order, each seeing the images the ones before it wrote.
    let args = vec!["app=registry/app:v2".to_string(), "registry/app=mirror/app".to_string()];
    let ours = k.render_with_images(&tree, "overlay", &args).unwrap();
    assert_eq!(image(&ours), "mirror/app:v2");
    // The same as kubectl builds the kustomization edited by `kustomize edit set image`.
    let mut edited = OVERLAY.to_string();
    for a in &args {
        edited = set_image(&edited, a).unwrap();
    }
    let copy = dir.path().join("edited");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(copy.join("kustomization.yaml"), &edited).unwrap();
    match Command::new("kubectl").arg("kustomize").arg(&copy).output() {
        Ok(out) if out.status.success() => {
            assert_eq!(yaml::to_yaml_stream(&ours), String::from_utf8(out.stdout).unwrap());
        }
        Ok(out) => panic!("kubectl kustomize failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => println!("no kubectl: the live comparison is skipped"),
    }
    // The tree itself is not written.
    assert_eq!(std::fs::read_to_string(dir.path().join("overlay/kustomization.yaml")).unwrap(), OVERLAY);
    // The same through Argo CD's source-type detection.
    let auto = AutoRenderer::default();
    assert_eq!(auto.render_with_images(&tree, "overlay", &args).unwrap(), ours);
}

#[test]
fn a_plain_directory_gets_the_images_rewritten() {
    let dir = repo();
    let tree = DirTree::new(dir.path()).unwrap();
    let args = vec!["app=registry/app:v2".to_string(), "busybox:1.37".to_string()];
    let objects = AutoRenderer::default().render_with_images(&tree, "plain", &args).unwrap();
    assert_eq!(image(&objects), "registry/app:v2");
    assert_eq!(objects[0].get("/spec/template/spec/initContainers/0/image").unwrap(), "busybox:1.37");
}

#[test]
fn an_inline_images_list_is_refused_with_the_file_and_field() {
    let dir = repo();
    std::fs::write(
        dir.path().join("overlay/kustomization.yaml"),
        "resources:\n- ../base\nimages: [{name: app, newTag: v1}]\n",
    )
    .unwrap();
    let tree = DirTree::new(dir.path()).unwrap();
    let err =
        Kustomize::default().render_with_images(&tree, "overlay", &["app:v2".to_string()]).unwrap_err().to_string();
    assert!(err.contains("overlay/kustomization.yaml") && err.contains("spec.source.kustomize.images[0]"), "{err}");
    let none = Kustomize::default().render_with_images(&tree, "plain", &["app:v2".to_string()]).unwrap_err();
    assert!(none.to_string().contains("unable to find one of 'kustomization.yaml'"), "{none}");
}
