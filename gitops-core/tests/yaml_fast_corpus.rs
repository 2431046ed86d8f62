//! The fast YAML reader against yaml-rust2 on every YAML file in the repository (Kustomize's
//! own test cases, our corpus, the example config repo, test data): each document it reads
//! must give yaml-rust2's events, and it must read most of them.

use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, out);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name == "Kustomization" {
            out.push(p);
        }
    }
}

#[test]
fn fast_reader_agrees_on_the_repository_yaml() {
    // GITOPS_YAML_CORPUS=DIR reads another tree instead (a checkout of public config repos).
    let other = std::env::var_os("GITOPS_YAML_CORPUS").map(PathBuf::from);
    let root = other.clone().unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf());
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(other.is_some() || files.len() > 500, "only {} YAML files found under {}", files.len(), root.display());
    let (mut docs, mut read) = (0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for doc in gitops_core::yaml::split_documents(&text) {
            docs += 1;
            match gitops_core::yaml::compare_fast_reader(doc.text) {
                Ok(true) => read += 1,
                Ok(false) => {}
                Err(e) => failures.push(format!("{} document {}: {e}", f.display(), doc.index)),
            }
        }
    }
    assert!(failures.is_empty(), "{} documents differ:\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("{read} of {docs} documents in {} files read by the fast reader", files.len());
    assert!(read * 10 > docs * 7, "the fast reader read only {read} of {docs} documents");
}
