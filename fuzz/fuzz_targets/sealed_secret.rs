//! SealedSecret objects and their ciphertexts, unsealed with a fixed key: never a panic, and
//! no decrypted value from anything not sealed with that key (a SealedSecret without
//! encrypted items unseals to a Secret holding only its template's plain data, as the
//! controller's does).
#![no_main]
use std::sync::OnceLock;

use gitops_secrets::{KeyPair, KeyRing, UnsealOptions};
use libfuzzer_sys::fuzz_target;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let pair = KeyPair::generate(2048, "fuzz", gitops_secrets::keys::DEFAULT_KEY_TTL).expect("key");
        let mut ring = KeyRing::default();
        ring.add(pair);
        ring
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(objects) = gitops_secrets::read_objects(text, "sealed.yaml") else { return };
    for o in objects {
        if let Ok(secret) = gitops_secrets::unseal(&o, ring(), &UnsealOptions::default()) {
            let plain = o.pointer("/spec/template/data").and_then(|d| d.as_object());
            for key in secret.get("data").and_then(|d| d.as_object()).into_iter().flatten().map(|(k, _)| k) {
                assert!(plain.is_some_and(|p| p.contains_key(key)), "a value decrypted without the key: {key}");
            }
        }
    }
});
