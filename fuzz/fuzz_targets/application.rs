//! Argo CD Application and AppProject manifests.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(app) = gitops_sync::Application::from_yaml(text, "app.yaml") {
        let _ = app.ignore_rules();
        let _ = app.retry_policy();
        for s in app.sources() {
            let _ = s.explicit_type();
        }
    }
    if let Ok(Some(value)) = gitops_core::yaml::parse_value(text, "project.yaml", 0, 1) {
        let _ = gitops_sync::project::AppProject::from_value(&serde_json::Value::from(value));
    }
});
