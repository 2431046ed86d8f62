//! The diff of two arbitrary objects (desired and live, separated by a NUL byte).
#![no_main]
use gitops_core::diff::{DiffOptions, diff};
use gitops_core::{Object, Schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else { return };
    let (Ok(a), Ok(b)) = (serde_json::from_slice(a), serde_json::from_slice(b)) else { return };
    let (Ok(desired), Ok(live)) = (Object::from_value(a), Object::from_value(b)) else { return };
    let d = diff(&desired, &live, &DiffOptions::default(), Schema::builtin());
    let same = diff(&desired, &desired, &DiffOptions::default(), Schema::builtin());
    assert!(same.is_empty(), "an object differs from itself");
    let _ = d;
});
