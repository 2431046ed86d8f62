//! How the test API server reads request bodies (gitops-testkit): the strict JSON decoder
//! (unknown and duplicate fields against a kind's schema, or free JSON) and the protocol-buffer
//! envelope kubectl sends; whatever decodes is encoded back as the server would answer it.
//! Errors, never a panic.
#![no_main]
use gitops_core::schema::Schema;
use gitops_testkit::{protobuf, strict};
use libfuzzer_sys::fuzz_target;

const KINDS: [(&str, &str, &str); 4] =
    [("", "v1", "ConfigMap"), ("apps", "v1", "Deployment"), ("", "v1", "Pod"), ("apps", "v1", "ControllerRevision")];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let (group, version, kind) = KINDS[selector as usize % KINDS.len()];
    let check = match (selector / 4) % 2 {
        0 => Schema::builtin().node(group, version, kind).map_or(strict::Check::Free, strict::Check::Typed),
        _ => strict::Check::Free,
    };
    if let Ok((mut value, _findings)) = strict::decode_json(body, check) {
        if let Some(node) = Schema::builtin().node(group, version, kind) {
            let _ = strict::unknown_fields(&mut value, node, true);
        }
        let _ = strict::go_format(&value);
        let _ = protobuf::encode(&value);
    }
    let mut framed = b"k8s\0".to_vec();
    framed.extend_from_slice(body);
    for input in [body, &framed[..]] {
        if let Ok(v) = protobuf::decode(input) {
            let _ = protobuf::encode(&v);
        }
    }
});
