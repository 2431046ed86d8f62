//! JSON patch, JSON merge patch and strategic merge patch over arbitrary documents (the
//! API server's and the renderer's patch decoding): errors, never panics.
#![no_main]
use gitops_core::patch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else { return };
    let (Ok(target), Ok(p)) = (serde_json::from_slice::<gitops_core::value::Value>(a), serde_json::from_slice(b))
    else {
        return;
    };
    let mut t = target.clone();
    let _ = patch::json_patch(&mut t, &p);
    let mut t = target.clone();
    patch::merge_patch(&mut t, &p);
    // As the typed object it claims to be, else untyped.
    let schema = gitops_core::Schema::builtin();
    let node = gitops_core::Object::from_value(target.clone())
        .map(|o| schema.node_for(&o))
        .unwrap_or_else(|_| schema.untyped());
    let mut t = target;
    let _ = patch::strategic_merge(&mut t, &p, node, &Default::default());
});
