//! SOPS files of every format without the key: parsed, the metadata read, and refused.
#![no_main]
use gitops_secrets::sops::{self, Format, Keys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
        if sops::decrypt(data, format, &Keys::new(), &Default::default(), "fuzz").is_ok() {
            panic!("decrypted without a key");
        }
    }
});
