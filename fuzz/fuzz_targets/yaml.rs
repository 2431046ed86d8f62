//! The YAML reader: any text is objects or an error naming the place; what it reads, it
//! writes back to YAML that reads as the same objects; and the fast line reader gives
//! yaml-rust2's events on every document it reads.
#![no_main]
use gitops_core::yaml::{self, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for doc in yaml::split_documents(text) {
        if let Err(e) = yaml::compare_fast_reader(doc.text) {
            panic!("{e}\n{:?}", doc.text);
        }
    }
    let _ = yaml::parse_value(text, "fuzz.yaml", 0, 1);
    if let Ok(objects) = yaml::parse_objects(text, "fuzz.yaml", &ParseOptions::default()) {
        let out = yaml::to_yaml_stream(&objects);
        let again = yaml::parse_objects(&out, "round-trip.yaml", &ParseOptions::default())
            .unwrap_or_else(|e| panic!("our own output does not read back: {e}\n{out}"));
        assert_eq!(again.len(), objects.len(), "{out}");
    }
});
