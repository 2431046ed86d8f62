//! The kustomization reader (Go's JSON rules over YAML, every field).
#![no_main]
use gitops_core::MemTree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tree = MemTree::new().with_file("kustomization.yaml", data.to_vec());
    let _ = gitops_render::kustomize::load_kustomization(&tree, "");
});
