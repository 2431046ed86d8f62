//! `render/kustomize/50`: rendering the synthetic config repo of 50 applications (base plus
//! prod overlay each, one top-level kustomization) from a directory.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::DirTree;
use gitops_render::Kustomize;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    gitops_benches::write_config_repo(dir.path(), 50).unwrap();
    let tree = DirTree::new(dir.path()).unwrap();
    let objects = Kustomize::default().build(&tree, "").unwrap();
    assert_eq!(objects.len(), 150);
    c.bench_function("render/kustomize/50", |b| {
        b.iter(|| black_box(Kustomize::default().build(&tree, "").unwrap().len()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
