//! The Argo CD `Application` subset the reconciler understands.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// An Argo CD `Application` (`argoproj.io/v1alpha1`), the fields this engine honours.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `argoproj.io/v1alpha1`.
    pub api_version: String,
    /// `Application`.
    pub kind: String,
    /// Name and namespace of the Application itself.
    pub metadata: AppMetadata,
    /// What to sync where, and how.
    pub spec: ApplicationSpec,
}

/// The Application's own metadata.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AppMetadata {
    /// The Application's name (names its ApplySet).
    pub name: String,
    /// Where the Application lives (`argocd` by convention).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Argo CD project (kept, not enforced).
    #[serde(default)]
    pub project: Option<String>,
    /// Where desired state comes from (one source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AppSource>,
    /// Several sources merged into one application (Argo CD's multi-source Applications);
    /// when set, `source` is ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<AppSource>,
    /// Where it goes.
    pub destination: Destination,
    /// Automation and options.
    #[serde(default)]
    pub sync_policy: SyncPolicy,
    /// Fields not to compare (Argo CD's `ignoreDifferences`).
    #[serde(default)]
    pub ignore_differences: Vec<Value>,
}

pub use gitops_core::source::{
    AppSource, DirectorySource, HelmFileParameter, HelmParameter, HelmSource, JsonnetSource, JsonnetVar,
    KustomizeReplica, KustomizeSource,
};

/// `spec.destination`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Destination {
    /// The API server URL (`https://kubernetes.default.svc` for the cluster itself).
    #[serde(default)]
    pub server: Option<String>,
    /// The cluster's name, instead of `server` (`in-cluster`, or a cluster Secret's `name`).
    #[serde(default)]
    pub name: Option<String>,
    /// The default namespace of namespaced objects without one.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Automated sync; absent means manual (report OutOfSync only).
    #[serde(default)]
    pub automated: Option<Automated>,
    /// `CreateNamespace=true`, `PruneLast=true`, ...
    #[serde(default)]
    pub sync_options: Vec<String>,
    /// Retry policy (kept).
    #[serde(default)]
    pub retry: Option<Value>,
}

/// `spec.syncPolicy.automated`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    /// Delete what left Git.
    #[serde(default)]
    pub prune: bool,
    /// Revert changes made in the cluster.
    #[serde(default)]
    pub self_heal: bool,
    /// Allow syncing an empty render (and so pruning everything).
    #[serde(default)]
    pub allow_empty: bool,
}

/// Argo CD's retry of failed syncs.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (negative: no limit).
    pub limit: i64,
    /// The first wait.
    pub duration: std::time::Duration,
    /// How much each wait grows.
    pub factor: f64,
    /// The longest wait.
    pub max_duration: std::time::Duration,
}

impl RetryPolicy {
    /// A policy as Argo CD writes it (`syncPolicy.retry`, `.operation.retry`): `limit`
    /// (default 2), `backoff.duration` (5s), `backoff.factor` (2), `backoff.maxDuration` (3m).
    pub fn from_value(r: &serde_json::Value) -> RetryPolicy {
        let b = r.get("backoff");
        let dur = |k: &str, d: std::time::Duration| {
            b.and_then(|b| b.get(k)).and_then(serde_json::Value::as_str).and_then(parse_go_duration).unwrap_or(d)
        };
        RetryPolicy {
            limit: r.get("limit").and_then(serde_json::Value::as_i64).unwrap_or(2),
            duration: dur("duration", std::time::Duration::from_secs(5)),
            factor: b.and_then(|b| b.get("factor")).and_then(serde_json::Value::as_f64).unwrap_or(2.0),
            max_duration: dur("maxDuration", std::time::Duration::from_secs(180)),
        }
    }

    /// The wait before retry number `n` (0-based).
    pub fn backoff(&self, n: u32) -> std::time::Duration {
        let grown = self.duration.as_secs_f64() * self.factor.max(1.0).powi(n.min(i32::MAX as u32) as i32);
        std::time::Duration::try_from_secs_f64(grown).map_or(self.max_duration, |d| d.min(self.max_duration))
    }
}

/// A Go duration (`5s`, `3m`, `1h30m`, `250ms`) as Argo CD reads it with `time.ParseDuration`;
/// a negative one waits nothing, and text Go rejects (or cannot hold) is `None`.
pub fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let nanos = gitops_core::time::parse_go_duration(s)?;
    Some(std::time::Duration::from_nanos(nanos.max(0) as u64))
}

impl Application {
    /// Parses an Application manifest; `source_name` is named in errors.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Self, Error> {
        let value = gitops_core::yaml::parse_value(text, source_name, 0, 1)?
            .ok_or_else(|| Error::Application { file: source_name.into(), reason: "the file is empty".into() })?;
        let app: Application = serde_path_to_error::deserialize(value).map_err(|e| Error::Application {
            file: source_name.into(),
            reason: format!("field {}: {}", e.path(), e.inner()),
        })?;
        if app.kind != "Application" || !app.api_version.starts_with("argoproj.io/") {
            return Err(Error::Application {
                file: source_name.into(),
                reason: format!("expected argoproj.io Application, found {} {}", app.api_version, app.kind),
            });
        }
        app.validate(source_name)?;
        Ok(app)
    }

    /// The checks an Application passes before it is reconciled (from a file or the cluster):
    /// a name, a repository, valid image overrides and ignore rules; `source_name` is named in
    /// the error.
    pub fn validate(&self, source_name: &str) -> Result<(), Error> {
        let invalid = |reason: String| Error::Application { file: source_name.into(), reason };
        if self.metadata.name.is_empty() {
            return Err(invalid("missing field \"metadata.name\"".into()));
        }
        if self.spec.source.is_none() && self.spec.sources.is_empty() {
            return Err(invalid("field spec.source: a source (or spec.sources) is required".into()));
        }
        let multi = !self.spec.sources.is_empty();
        let mut refs = std::collections::BTreeSet::new();
        for (n, source) in self.sources().iter().enumerate() {
            let field = if multi { format!("spec.sources[{n}]") } else { "spec.source".to_string() };
            if source.repo_url.is_empty() {
                return Err(invalid(format!("field {field}.repoURL: a repository is required")));
            }
            if let Err(reason) = source.explicit_type() {
                return Err(invalid(format!("field {field}: {reason}")));
            }
            if let Some(r) = &source.ref_name {
                if !multi {
                    return Err(invalid(format!("field {field}.ref: only spec.sources entries can be referenced")));
                }
                if r.is_empty() || !refs.insert(r.clone()) {
                    return Err(invalid(format!("field {field}.ref: {r:?} is empty or used twice")));
                }
                if source.is_chart() {
                    return Err(invalid(format!("field {field}.ref: a chart source cannot be a reference")));
                }
            }
            for (i, image) in source.kustomize.iter().flat_map(|k| k.images.iter()).enumerate() {
                gitops_core::object::ImageOverride::parse(image)
                    .map_err(|reason| invalid(format!("field {field}.kustomize.images[{i}]: {image:?}: {reason}")))?;
            }
        }
        self.ignore_rules().map(|_| ()).map_err(|e| match e {
            Error::Application { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// The sources: `spec.sources` when set, else `spec.source`.
    pub fn sources(&self) -> Vec<&AppSource> {
        if self.spec.sources.is_empty() {
            self.spec.source.iter().collect()
        } else {
            self.spec.sources.iter().collect()
        }
    }

    /// The first source (the one whose revision is the application's revision); an
    /// Application without any (refused by [`Application::validate`]) gets an empty one.
    pub fn source(&self) -> &AppSource {
        static EMPTY: std::sync::OnceLock<AppSource> = std::sync::OnceLock::new();
        self.sources().first().copied().unwrap_or_else(|| EMPTY.get_or_init(AppSource::default))
    }

    /// Whether the application has several sources (`spec.sources`).
    pub fn is_multi_source(&self) -> bool {
        !self.spec.sources.is_empty()
    }

    /// Whether a sync option is set (`CreateNamespace=true`).
    pub fn has_option(&self, option: &str) -> bool {
        self.spec.sync_policy.sync_options.iter().any(|o| o.eq_ignore_ascii_case(&format!("{option}=true")))
    }

    /// Whether syncs are automated.
    pub fn automated(&self) -> bool {
        self.spec.sync_policy.automated.is_some()
    }

    /// Whether pruning is on.
    pub fn prune(&self) -> bool {
        self.spec.sync_policy.automated.as_ref().is_some_and(|a| a.prune)
    }

    /// Whether self-heal is on.
    pub fn self_heal(&self) -> bool {
        self.spec.sync_policy.automated.as_ref().is_some_and(|a| a.self_heal)
    }

    /// `spec.syncPolicy.retry`: how failed syncs are retried (`None`: not at all).
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.spec.sync_policy.retry.as_ref().map(RetryPolicy::from_value)
    }

    /// `spec.ignoreDifferences` as diff ignore rules.
    pub fn ignore_rules(&self) -> Result<Vec<gitops_core::diff::IgnoreRule>, Error> {
        self.spec
            .ignore_differences
            .iter()
            .enumerate()
            .map(|(i, v)| {
                serde_path_to_error::deserialize(v.clone()).map_err(|e| Error::Application {
                    file: self.metadata.name.clone(),
                    reason: format!("field spec.ignoreDifferences[{i}].{}: {}", e.path(), e.inner()),
                })
            })
            .collect()
    }

    /// The destination namespace, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.spec.destination.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: nordic-payment-gateway, namespace: argocd}
spec:
  project: default
  source: {repoURL: 'git@gitlab.example.no:fintech/payments-config.git', targetRevision: HEAD, path: overlays/prod}
  destination: {server: 'https://kubernetes.default.svc', namespace: payments-prod}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
";

    #[test]
    fn a_malformed_kustomize_image_is_named() {
        let text = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source: {repoURL: r, path: p, kustomize: {images: ['app=']}}\n  destination: {namespace: n}\n";
        let err = Application::from_yaml(text, "a.yaml").unwrap_err().to_string();
        assert!(err.contains("a.yaml") && err.contains("spec.source.kustomize.images[0]"), "{err}");
    }

    #[test]
    fn retry_policy_and_go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Some(std::time::Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Some(std::time::Duration::from_millis(250)));
        assert_eq!(parse_go_duration("5x"), None);
        let text = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source: {repoURL: r, path: p}\n  destination: {namespace: n}\n  syncPolicy:\n    retry: {limit: 3, backoff: {duration: 1s, factor: 3, maxDuration: 5s}}\n";
        let p = Application::from_yaml(text, "a.yaml").unwrap().retry_policy().unwrap();
        assert_eq!(p.limit, 3);
        assert_eq!(p.backoff(0), std::time::Duration::from_secs(1));
        assert_eq!(p.backoff(1), std::time::Duration::from_secs(3));
        assert_eq!(p.backoff(2), std::time::Duration::from_secs(5), "capped by maxDuration");
    }

    #[test]
    fn out_of_range_retry_durations_fall_back_without_panicking() {
        // Found by the `application` fuzz target: a maxDuration past Go's range used to panic in
        // `Duration::from_secs_f64`. Go's ParseDuration rejects it, so the default applies.
        let huge = format!("3{}m", "9".repeat(120));
        let text = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: a}}\nspec:\n  source: {{repoURL: r, path: p}}\n  destination: {{namespace: n}}\n  syncPolicy:\n    retry: {{limit: 3, backoff: {{duration: 2562047h, factor: 1000, maxDuration: {huge}}}}}\n"
        );
        let p = Application::from_yaml(&text, "a.yaml").unwrap().retry_policy().unwrap();
        assert_eq!(p.max_duration, std::time::Duration::from_secs(180));
        assert_eq!(p.backoff(0), std::time::Duration::from_secs(180));
        assert_eq!(p.backoff(u32::MAX), std::time::Duration::from_secs(180));
        assert_eq!(parse_go_duration("-5s"), Some(std::time::Duration::ZERO));
    }

    #[test]
    fn ignore_differences_are_read_and_broken_ones_named() {
        let base = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source: {repoURL: r, path: p}\n  destination: {namespace: n}\n";
        let ok = format!(
            "{base}  ignoreDifferences:\n  - group: apps\n    kind: Deployment\n    jsonPointers: [/spec/replicas]\n"
        );
        let app = Application::from_yaml(&ok, "app.yaml").unwrap();
        assert_eq!(app.ignore_rules().unwrap()[0].json_pointers, vec!["/spec/replicas".to_string()]);
        let bad = format!("{base}  ignoreDifferences:\n  - kind: Deployment\n    jsonPointers: /spec/replicas\n");
        let err = Application::from_yaml(&bad, "app.yaml").unwrap_err().to_string();
        assert!(err.contains("app.yaml") && err.contains("spec.ignoreDifferences[0].jsonPointers"), "{err}");
    }

    #[test]
    fn parses_the_argo_cd_manifest_unchanged() {
        let app = Application::from_yaml(MANIFEST, "app.yaml").unwrap();
        assert_eq!(app.metadata.name, "nordic-payment-gateway");
        assert_eq!(app.source().repo_url, "git@gitlab.example.no:fintech/payments-config.git");
        assert_eq!(app.source().path, "overlays/prod");
        assert_eq!(app.namespace(), "payments-prod");
        assert!(app.prune() && app.self_heal() && app.has_option("CreateNamespace"));
        assert!(!app.has_option("PruneLast"));
    }

    #[test]
    fn broken_manifests_name_the_field() {
        let err = Application::from_yaml(&MANIFEST.replace("repoURL", "repoUrl"), "app.yaml").unwrap_err().to_string();
        assert!(err.contains("app.yaml") && err.contains("repoURL"), "{err}");
        let err =
            Application::from_yaml(&MANIFEST.replace("kind: Application", "kind: Deployment"), "a.yaml").unwrap_err();
        assert!(err.to_string().contains("expected argoproj.io Application"), "{err}");
        assert!(Application::from_yaml("", "empty.yaml").is_err());
        assert!(Application::from_yaml("a: [", "bad.yaml").is_err());
    }
}
