//! managedFields' fieldsV1: what reads, writes back to the same set.
#![no_main]
use gitops_core::FieldSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<gitops_core::value::Value>(data) else { return };
    if let Ok(set) = FieldSet::from_fields_v1(&value) {
        let again = FieldSet::from_fields_v1(&set.to_fields_v1()).expect("our own fieldsV1 reads back");
        assert!(again == set, "fieldsV1 round trip changed the set");
    }
});
