//! SealedSecret templates (Go text/template subset): any template text renders or is an
//! error that never carries an item's value.
#![no_main]
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "S3CR3T-VALUE-7f1c";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let items = [("user".to_string(), b"admin".to_vec()), ("password".to_string(), SECRET.as_bytes().to_vec())]
        .into_iter()
        .collect();
    if let Err(e) = gitops_secrets::render_template(text, &items) {
        assert!(!e.contains(SECRET) || text.contains(SECRET), "an error carried a value: {e}");
    }
});
