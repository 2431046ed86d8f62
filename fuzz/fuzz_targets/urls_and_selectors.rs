//! Repository URLs (validation and credential redaction) and label selectors.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = gitops_git::validate_url(text);
    let redacted = gitops_git::redact(text);
    if let Some((_, rest)) = text.split_once("://")
        && let Some((userinfo, _)) = rest.split('/').next().unwrap_or("").rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
        && password.len() > 3
    {
        let url_part = redacted.split_once("://").map_or("", |(_, r)| r);
        assert!(!url_part.contains(&format!(":{password}@")), "a password survived redaction: {redacted}");
    }
    let _ = gitops_core::selector::LabelSelector::parse(text);
});
