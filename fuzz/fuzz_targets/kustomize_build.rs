//! A whole `kustomize build` over an in-memory tree: the input is several files, each
//! introduced by a line `#> path`; the build of the root must end in objects or an error.
#![no_main]
use gitops_core::{MemTree, Renderer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut tree = MemTree::new();
    let mut name = String::from("kustomization.yaml");
    let mut body = String::new();
    let mut files = 0;
    for line in text.split_inclusive('\n') {
        if let Some(next) = line.strip_prefix("#> ") {
            let _ = tree.insert(&name, std::mem::take(&mut body));
            name = next.trim().to_string();
            files += 1;
            if files > 32 {
                return;
            }
        } else {
            body.push_str(line);
        }
    }
    let _ = tree.insert(&name, body);
    let _ = gitops_render::Kustomize::default().render(&tree, "");
});
