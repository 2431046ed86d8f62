//! Argo CD's `AppProject` policy: which repositories an application may read, where it may
//! deploy, and which kinds it may create. An application that breaks its project's rules is
//! not synced at all (nothing applied, nothing pruned), so a team cannot escape its project by
//! committing a ClusterRoleBinding.

use serde::{Deserialize, Serialize};

use gitops_core::Object;

use crate::Application;

/// An `AppProject` (`argoproj.io/v1alpha1`), the policy fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct AppProject {
    /// The project's name.
    #[serde(default)]
    pub name: String,
    /// The policy.
    #[serde(default)]
    pub spec: AppProjectSpec,
}

/// `spec` of an AppProject.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Repository URL globs applications may read.
    #[serde(default)]
    pub source_repos: Vec<String>,
    /// Destinations (server or cluster name, namespace; globs) applications may deploy to.
    #[serde(default)]
    pub destinations: Vec<ProjectDestination>,
    /// Cluster-scoped kinds allowed (none when empty, as in Argo CD).
    #[serde(default)]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    /// Cluster-scoped kinds refused.
    #[serde(default)]
    pub cluster_resource_blacklist: Vec<GroupKind>,
    /// Namespaced kinds allowed (all when empty).
    #[serde(default)]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    /// Namespaced kinds refused.
    #[serde(default)]
    pub namespace_resource_blacklist: Vec<GroupKind>,
}

/// One allowed destination.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ProjectDestination {
    /// API server URL glob.
    #[serde(default)]
    pub server: Option<String>,
    /// Cluster name glob.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace glob.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A group and kind, globs allowed (`*`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct GroupKind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// The API server of the cluster the agent runs in, as Argo CD names it.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Shell-style glob matching (`*` any run, `?` one character), as Argo CD matches project
/// fields.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn matches_group_kind(list: &[GroupKind], group: &str, kind: &str) -> bool {
    list.iter().any(|gk| glob(&gk.group, group) && glob(&gk.kind, kind))
}

impl AppProject {
    /// Reads an AppProject object.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        let name = value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let spec: AppProjectSpec = match value.get("spec") {
            Some(s) => serde_json::from_value(s.clone()).map_err(|e| format!("AppProject {name}: spec: {e}"))?,
            None => AppProjectSpec::default(),
        };
        Ok(Self { name, spec })
    }

    /// Whether the application's repository and destination are allowed.
    pub fn check_application(&self, app: &Application) -> Result<(), String> {
        for source in app.sources() {
            let repo = &source.repo_url;
            if !self.spec.source_repos.iter().any(|r| glob(r, repo)) {
                return Err(format!("application repo {repo} is not permitted in project '{}'", self.name));
            }
        }
        let server = app.spec.destination.server.as_deref().filter(|s| !s.is_empty()).unwrap_or(IN_CLUSTER);
        self.check_destination(server, app.namespace())
    }

    /// Whether the application's repository and resolved destination cluster (server URL and
    /// name) are allowed.
    pub fn check_application_at(&self, app: &Application, server: &str, cluster: &str) -> Result<(), String> {
        for source in app.sources() {
            let repo = &source.repo_url;
            if !self.spec.source_repos.iter().any(|r| glob(r, repo)) {
                return Err(format!("application repo {repo} is not permitted in project '{}'", self.name));
            }
        }
        self.check_destination_named(server, cluster, app.namespace())
    }

    /// Whether a destination (server and namespace) of the own cluster is allowed.
    pub fn check_destination(&self, server: &str, namespace: &str) -> Result<(), String> {
        let name = if server == IN_CLUSTER { crate::destinations::IN_CLUSTER_NAME } else { server };
        self.check_destination_named(server, name, namespace)
    }

    /// Whether a destination (server URL, cluster name, namespace) is allowed: a project's
    /// destination matches by `server` glob, or else by `name` glob.
    pub fn check_destination_named(&self, server: &str, cluster: &str, namespace: &str) -> Result<(), String> {
        let allowed = self.spec.destinations.iter().any(|d| {
            let server_ok = match (&d.server, &d.name) {
                (Some(s), _) if !s.is_empty() => glob(s, server),
                (_, Some(n)) if !n.is_empty() => glob(n, cluster),
                _ => false,
            };
            server_ok && glob(d.namespace.as_deref().unwrap_or(""), namespace)
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "application destination server '{server}' and namespace '{namespace}' do not match any of the allowed destinations in project '{}'",
                self.name
            ))
        }
    }

    /// Whether every rendered object's kind (and namespace) is allowed; `namespaced` tells a
    /// namespaced kind from a cluster-scoped one.
    pub fn check_objects(
        &self,
        objects: &[Object],
        namespaced: impl Fn(&Object) -> bool,
        server: &str,
        cluster: &str,
    ) -> Result<(), String> {
        for o in objects {
            let (group, kind) = (o.group(), o.kind());
            let refused = if namespaced(o) {
                (!self.spec.namespace_resource_whitelist.is_empty()
                    && !matches_group_kind(&self.spec.namespace_resource_whitelist, group, kind))
                    || matches_group_kind(&self.spec.namespace_resource_blacklist, group, kind)
            } else {
                !matches_group_kind(&self.spec.cluster_resource_whitelist, group, kind)
                    || matches_group_kind(&self.spec.cluster_resource_blacklist, group, kind)
            };
            if refused {
                let gk = if group.is_empty() { kind.to_string() } else { format!("{group}:{kind}") };
                return Err(format!("resource {gk} {} is not permitted in project {}", o.name(), self.name));
            }
            if namespaced(o) && !o.namespace().is_empty() {
                self.check_destination_named(server, cluster, o.namespace())
                    .map_err(|e| format!("{kind} {}/{}: {e}", o.namespace(), o.name()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*", "anything", true),
            ("https://github.com/team-a/*", "https://github.com/team-a/config.git", true),
            ("https://github.com/team-a/*", "https://github.com/team-b/config.git", false),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXXbYYc", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }
}
