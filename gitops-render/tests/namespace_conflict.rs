//! The `namespace:` field fails, as Kustomize's namespace transformer does, when it leaves two
//! resources with one id; objects of one name in different kinds or groups stay apart.

use gitops_core::MemTree;
use gitops_render::Kustomize;

fn cm(name: &str, ns: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n---\n")
}

#[test]
fn two_namespaces_folded_into_one_is_an_id_conflict() {
    let tree = MemTree::new()
        .with_file("k/kustomization.yaml", "namespace: one\nresources:\n- objects.yaml\n")
        .with_file("k/objects.yaml", cm("settings", "a") + &cm("settings", "b"));
    let err = Kustomize::default().build(&tree, "k").unwrap_err().to_string();
    assert!(err.contains("k/kustomization.yaml"), "{err}");
    assert!(err.contains("namespace transformation produces ID conflict"), "{err}");
    assert!(err.contains("ConfigMap.v1.[noGrp]/settings.one"), "{err}");
}

#[test]
fn one_name_in_other_kinds_or_with_a_new_namespace_is_no_conflict() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: settings\n  namespace: b\n---\n";
    let tree = MemTree::new()
        .with_file("k/kustomization.yaml", "namespace: one\nresources:\n- objects.yaml\n")
        .with_file("k/objects.yaml", cm("settings", "a") + secret + &cm("other", "b"));
    let objects = Kustomize::default().build(&tree, "k").unwrap();
    assert_eq!(objects.len(), 3);
    assert!(objects.iter().all(|o| o.namespace() == "one"));
}

#[test]
fn no_namespace_and_default_are_one_id() {
    // Kustomize compares effective namespaces: an object without one is in "default".
    let tree = MemTree::new().with_file("k/kustomization.yaml", "resources:\n- objects.yaml\n").with_file(
        "k/objects.yaml",
        cm("settings", "default") + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    );
    let err = Kustomize::default().build(&tree, "k").unwrap_err().to_string();
    assert!(err.contains("may not add resource with an already registered id"), "{err}");
    assert!(err.contains("ConfigMap.v1.[noGrp]/settings"), "{err}");
}
