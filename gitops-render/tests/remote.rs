//! Remote bases through a loader: the overlay's `resources` names a repository URL with a path
//! and a ref; the loader returns that revision's tree, which is built like a local base.

use std::sync::{Arc, Mutex};

use gitops_core::{FileTree, MemTree};
use gitops_render::{Kustomize, RemoteLoader};

fn base_tree(tag: &str) -> MemTree {
    MemTree::new().with_file("deploy/base/kustomization.yaml", "resources:\n- cm.yaml\n").with_file(
        "deploy/base/cm.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  tag: {tag}\n"),
    )
}

#[test]
fn a_remote_base_is_fetched_through_the_loader_and_built() {
    let asked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = asked.clone();
    let loader: RemoteLoader = Arc::new(move |url: &str, reference: &str| {
        log.lock().unwrap().push((url.to_string(), reference.to_string()));
        match (url, reference) {
            ("https://github.com/acme/platform", "v1.2.0") => {
                Ok(Arc::new(base_tree("v1.2.0")) as Arc<dyn FileTree + Send + Sync>)
            }
            _ => Err(format!("{url}: no such repository")),
        }
    });
    let overlay = MemTree::new().with_file(
        "overlays/prod/kustomization.yaml",
        "namePrefix: prod-\nresources:\n- https://github.com/acme/platform//deploy/base?ref=v1.2.0\n",
    );
    let k = Kustomize { remote: Some(loader.clone()), ..Default::default() };
    let objects = k.build(&overlay, "overlays/prod").unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].name(), "prod-settings");
    assert_eq!(objects[0].get("/data/tag").and_then(|v| v.as_str()), Some("v1.2.0"));
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        &[("https://github.com/acme/platform".to_string(), "v1.2.0".to_string())]
    );

    // Errors name the kustomization, the field and the entry.
    let bad = MemTree::new().with_file("k/kustomization.yaml", "resources:\n- https://github.com/acme/missing//base\n");
    let err = k.build(&bad, "k").unwrap_err().to_string();
    assert!(
        err.contains("k/kustomization.yaml") && err.contains("resources[0]") && err.contains("no such repository"),
        "{err}"
    );
    let no_dir = MemTree::new()
        .with_file("k/kustomization.yaml", "resources:\n- https://github.com/acme/platform//nowhere?ref=v1.2.0\n");
    let err = k.build(&no_dir, "k").unwrap_err().to_string();
    assert!(err.contains("no kustomization"), "{err}");
    // Without a loader: a clear error.
    let err = Kustomize::default().build(&overlay, "overlays/prod").unwrap_err().to_string();
    assert!(err.contains("need a loader"), "{err}");
}

#[test]
fn broken_configurations_name_the_file_and_field() {
    let with_conf = |conf: &str| {
        MemTree::new()
            .with_file("k/kustomization.yaml", "resources:\n- cm.yaml\nconfigurations:\n- conf.yaml\n")
            .with_file("k/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
            .with_file("k/conf.yaml", conf)
    };
    // An unknown section, as kubectl refuses it.
    let err = Kustomize::default().build(&with_conf("imagez:\n- path: spec/image\n"), "k").unwrap_err().to_string();
    assert!(err.contains("k/conf.yaml") && err.contains("imagez"), "{err}");
    // A section of the wrong type.
    let err = Kustomize::default().build(&with_conf("images: 3\n"), "k").unwrap_err().to_string();
    assert!(err.contains("k/conf.yaml") && err.contains("images"), "{err}");
    // Malformed YAML.
    let err = Kustomize::default().build(&with_conf("images: [\n"), "k").unwrap_err().to_string();
    assert!(err.contains("k/conf.yaml"), "{err}");
    // A spec without its path.
    let err = Kustomize::default().build(&with_conf("images:\n- kind: MyApp\n"), "k").unwrap_err().to_string();
    assert!(err.contains("k/conf.yaml") && err.contains("path"), "{err}");
    let missing = MemTree::new().with_file("k/kustomization.yaml", "configurations:\n- nope.yaml\n");
    let err = Kustomize::default().build(&missing, "k").unwrap_err().to_string();
    assert!(err.contains("configurations[0]") && err.contains("nope.yaml"), "{err}");
}

#[test]
fn broken_openapi_schemas_name_the_file_and_field() {
    let with_schema = |schema: &str| {
        MemTree::new()
            .with_file("k/kustomization.yaml", "openapi:\n  path: schema.json\nresources:\n- cm.yaml\n")
            .with_file("k/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
            .with_file("k/schema.json", schema)
    };
    // kubectl panics on these; the renderer names the kustomization, the field and the file.
    for (schema, needle) in [
        ("{\"definitions\": {", "EOF"),
        ("{\"definitions\": 5}", "definitions"),
        ("{\"swagger\": \"2.0\"}", "definitions"),
        ("definitions: [\n", "schema.json"),
    ] {
        let err = Kustomize::default().build(&with_schema(schema), "k").unwrap_err().to_string();
        assert!(
            err.contains("k/kustomization.yaml") && err.contains("openapi.path") && err.contains(needle),
            "{schema}: {err}"
        );
    }
    // A missing schema file.
    let missing = MemTree::new().with_file("k/kustomization.yaml", "openapi:\n  path: nope.json\n");
    let err = Kustomize::default().build(&missing, "k").unwrap_err().to_string();
    assert!(err.contains("openapi.path") && err.contains("nope.json"), "{err}");
}
