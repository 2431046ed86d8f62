//! What the API serves and the pages show: applications, their resource trees, diffs and
//! history. Everything here is safe to send to a browser: diffs are the masked diffs of the
//! sync engine, and live manifests have Secret values replaced.

use serde::{Deserialize, Serialize};

/// One application in the list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppSummary {
    /// The Application's name.
    pub name: String,
    /// The Application's own namespace (`argocd` for Argo CD's), empty for file applications.
    pub namespace: String,
    /// Its project.
    pub project: String,
    /// Where it deploys.
    pub destination: String,
    /// The repository.
    pub repo: String,
    /// The path in the repository.
    pub path: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Missing`, `Suspended` or `Unknown`.
    pub health: String,
    /// The commit synced.
    pub revision: Option<String>,
    /// The first line of its commit message.
    pub revision_message: Option<String>,
    /// The last error, if the last pass failed.
    pub message: Option<String>,
    /// The replica that reconciles it, when the work is shared.
    pub owner: Option<String>,
    /// Objects it manages.
    pub objects: usize,
    /// When the last pass that wrote something ended (RFC 3339), as far as the UI saw.
    pub last_sync: Option<String>,
}

/// A node of the resource tree: an object from Git, or one a controller made from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeNode {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Whether it comes from Git (`true`) or from a controller.
    pub from_git: bool,
    /// Its sync status (from Git objects only).
    pub sync: Option<String>,
    /// Its health.
    pub health: Option<String>,
    /// The last sync's action on it.
    pub action: Option<String>,
    /// The last sync's message about it (why a write failed, who shares it, a hook's end).
    pub message: String,
    /// Fields that differ from Git.
    pub drift: Vec<String>,
    /// The masked unified diff against Git (empty when equal).
    pub diff: String,
    /// Who made the drift the last sync found: the other field managers that owned a drifted
    /// field (`kubectl (Update scale, <time>)`), newest first.
    #[serde(default)]
    pub changed_by: Vec<String>,
    /// The live object as YAML, without server-written fields, Secret values masked.
    pub live: String,
    /// What controllers made from it (through ownerReferences).
    pub children: Vec<TreeNode>,
}

/// An application with its tree and history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// The resource tree.
    pub tree: Vec<TreeNode>,
    /// Revisions synced, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The application's Kubernetes Events, newest first.
    pub events: Vec<EventEntry>,
}

/// One entry of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Its position (the id a rollback takes).
    pub id: usize,
    /// The commit.
    pub revision: String,
    /// When it was synced (RFC 3339): the Application resource's `deployedAt`, or when this
    /// process saw it for applications from files.
    pub at: Option<String>,
    /// Who made it: `automated`, or who asked (the `initiatedBy.username` of the operation:
    /// the UI or API token's holder, or the user of a client such as `app sync`).
    pub by: String,
}

/// A Kubernetes Event of the application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEntry {
    /// When (RFC 3339).
    pub at: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    /// The reason (`Synced`, `SelfHealed`, `SyncFailed`, `WebSync`, ...).
    pub reason: String,
    /// The message.
    pub message: String,
}

/// The object diffs of an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDiff {
    /// `group/kind namespace/name`.
    pub object: String,
    /// The masked unified diff.
    pub diff: String,
}

/// A sync asked for from the UI or the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncAction {
    /// Prune (whatever the automated policy says), when given.
    #[serde(default)]
    pub prune: Option<bool>,
    /// Compute only.
    #[serde(default)]
    pub dry_run: bool,
    /// A selective sync: `GROUP:KIND[:NAMESPACE/]NAME` each.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// A rollback asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackAction {
    /// The history entry to go back to.
    pub id: usize,
}

/// Counts per status, for the list's header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All applications.
    pub total: usize,
    /// Synced.
    pub synced: usize,
    /// Out of sync.
    pub out_of_sync: usize,
    /// Healthy.
    pub healthy: usize,
    /// Degraded or missing.
    pub degraded: usize,
    /// Progressing.
    pub progressing: usize,
}

impl Counts {
    /// Counts of `apps`.
    pub fn of(apps: &[AppSummary]) -> Counts {
        let n = |f: &dyn Fn(&AppSummary) -> bool| apps.iter().filter(|a| f(a)).count();
        Counts {
            total: apps.len(),
            synced: n(&|a| a.sync == "Synced"),
            out_of_sync: n(&|a| a.sync == "OutOfSync"),
            healthy: n(&|a| a.health == "Healthy"),
            degraded: n(&|a| matches!(a.health.as_str(), "Degraded" | "Missing")),
            progressing: n(&|a| a.health == "Progressing"),
        }
    }
}

impl AppSummary {
    /// The revision's first 12 characters, or `-`.
    pub fn short_revision(&self) -> &str {
        self.revision.as_deref().map_or("-", |r| &r[..r.len().min(12)])
    }
}
