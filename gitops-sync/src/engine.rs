//! The sync engine: plan, apply with server-side apply, prune by ApplySet, report health.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use gitops_core::{
    ApplyOptions, Cluster, GroupVersionKind, Object, ObjectKey, Propagation, ResourceInfo, Schema, diff,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::health::{Health, health};

/// The ApplySet membership label (KEP-3659).
pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
/// The ApplySet id label on the parent.
pub const APPLYSET_ID: &str = "applyset.kubernetes.io/id";
/// The group-kinds annotation on the parent.
pub const CONTAINS_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
/// The tooling annotation on the parent.
pub const TOOLING: &str = "applyset.kubernetes.io/tooling";
/// Our record of the group-version-kinds ever applied, to list them for pruning.
pub const CONTAINS_GVKS: &str = "gitops.rs/contains-gvks";
/// Argo CD's sync-wave annotation.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Argo CD's per-object sync options annotation (`Prune=false`).
pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// What a sync does.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The application's name (names its ApplySet).
    pub app: String,
    /// The default namespace of namespaced objects without one, and the parent's namespace.
    pub namespace: String,
    /// The field manager.
    pub field_manager: String,
    /// Delete members that left Git.
    pub prune: bool,
    /// Create the destination namespace first (not tracked).
    pub create_namespace: bool,
    /// Allow an empty desired set to prune everything.
    pub allow_empty: bool,
    /// Compute, do not write.
    pub dry_run: bool,
    /// Fields not compared (Argo CD's `ignoreDifferences`).
    pub ignore: Vec<diff::IgnoreRule>,
    /// Prune after every wave rather than in each member's wave (`PruneLast=true`).
    pub prune_last: bool,
    /// Recreate objects whose immutable fields changed (`Replace=true`).
    pub replace: bool,
    /// Detect drift with a server-side dry-run apply instead of the offline diff: exact (the
    /// server's defaulting and webhooks), one request per object.
    pub server_side_diff: bool,
    /// Objects of one kind applied at once within a wave.
    pub concurrency: usize,
    /// How long a hook may run, and how long PostSync waits for health.
    pub hook_timeout: Duration,
    /// Fail the sync, applying nothing, when an object belongs to another application
    /// (`FailOnSharedResource=true`); otherwise such objects are left to their owner.
    pub fail_on_shared_resource: bool,
    /// The commit being synced: part of the name given to a hook that has only
    /// `metadata.generateName`, as Argo CD names it.
    pub revision: String,
    /// A selective sync: only these resources are applied (or pruned); the others are
    /// compared and left as they are, and no hook runs, as Argo CD does. `None`: all.
    pub only: Option<Vec<ResourceSelector>>,
    /// Told when the comparison finds live objects that differ from Git, before anything is
    /// written (see [`DriftHook`]).
    pub on_drift: Option<DriftHook>,
}

/// Called with the application's name when a sync's comparison finds live objects that
/// differ from Git, before it writes: what Argo CD's comparison records as OutOfSync before its
/// automated sync runs, so a watcher (the web UI) can show the drift a self-heal is about to
/// revert.
#[derive(Clone)]
pub struct DriftHook(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for DriftHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriftHook")
    }
}

impl SyncOptions {
    /// Defaults for an application: manager `gitops`, no pruning.
    pub fn new(app: &str, namespace: &str) -> Self {
        SyncOptions {
            app: app.into(),
            namespace: namespace.into(),
            field_manager: "gitops".into(),
            prune: false,
            create_namespace: false,
            allow_empty: false,
            dry_run: false,
            ignore: Vec::new(),
            prune_last: false,
            replace: false,
            server_side_diff: false,
            concurrency: 8,
            hook_timeout: Duration::from_secs(300),
            revision: String::new(),
            fail_on_shared_resource: false,
            only: None,
            on_drift: None,
        }
    }
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Created.
    Created,
    /// Changed (it had drifted or Git changed).
    Updated,
    /// Already equal to Git: nothing written.
    Unchanged,
    /// Deleted because it left Git.
    Pruned,
    /// Would be pruned, but pruning is off or the object opts out.
    PruneSkipped,
    /// The write failed.
    Failed,
    /// A hook ran (its health says how it ended).
    Hook,
    /// Another application's ApplySet holds the object: it was left to that application
    /// (Argo CD's SharedResourceWarning; the message names the owner).
    Shared,
    /// Left as it is by a selective sync that did not name it, though it differs from Git
    /// (or is missing): still out of sync.
    Skipped,
}

/// One resource a selective sync names (Argo CD's `.operation.sync.resources[]`): empty
/// fields match any value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSelector {
    /// The API group (`""` for the core group; matches any when `None`).
    pub group: Option<String>,
    /// The kind.
    pub kind: String,
    /// The namespace (any when empty).
    #[serde(default)]
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ResourceSelector {
    /// Whether it names `key`.
    pub fn matches(&self, key: &ObjectKey) -> bool {
        self.group.as_deref().is_none_or(|g| g == key.group)
            && self.kind == key.kind
            && self.name == key.name
            && (self.namespace.is_empty() || self.namespace == key.namespace)
    }
}

/// One object's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResourceResult {
    /// The object.
    pub key: ObjectKey,
    /// Its group, version and kind (the version it was applied or found in).
    pub gvk: GroupVersionKind,
    /// What was done.
    pub action: Action,
    /// Where it differed before the sync.
    pub drift: Vec<String>,
    /// Its health after the sync.
    pub health: Health,
    /// An error or note.
    pub message: String,
    /// The masked unified diff (live against what applying leaves) when it had drifted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// Who made the drift: the other field managers that owned a drifted field before the
    /// sync (`kubectl (Update scale, 2026-12-03T10:05:00Z)`), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_by: Vec<String>,
}

/// The outcome of a sync.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncResult {
    /// Per object, in apply order, then pruned ones.
    pub resources: Vec<ResourceResult>,
}

impl SyncResult {
    /// How many objects had an action.
    pub fn count(&self, action: Action) -> usize {
        self.resources.iter().filter(|r| r.action == action).count()
    }

    /// The worst health of the applied objects.
    pub fn health(&self) -> Health {
        self.resources.iter().filter(|r| r.action != Action::Pruned).fold(Health::Current, |h, r| h.worst(r.health))
    }

    /// Whether every write succeeded.
    pub fn succeeded(&self) -> bool {
        self.count(Action::Failed) == 0
    }
}

/// The ApplySet id of an application's parent ConfigMap (KEP-3659: base64url of the SHA-256
/// of `name.namespace.kind.group`).
pub fn applyset_id(app: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("applyset-{app}.{namespace}.ConfigMap.").as_bytes());
    format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// The application an ApplySet id belongs to, found through its parent ConfigMap
/// (`applyset-NAME`, labelled with the id); `None` when no such parent exists.
async fn applyset_owner<C: Cluster>(cluster: &C, id: &str) -> Result<Option<String>, C::Error> {
    let parents =
        cluster.list(&GroupVersionKind::new("", "v1", "ConfigMap"), None, &format!("{APPLYSET_ID}={id}")).await?;
    Ok(parents.first().and_then(|p| p.name().strip_prefix("applyset-").map(str::to_string)))
}

/// The order of kinds within a wave (Argo CD's, then custom resources last).
pub fn kind_rank(kind: &str, group: &str) -> usize {
    const ORDER: [&str; 24] = [
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "SecretList",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
    ];
    const LATER: [&str; 5] = ["HorizontalPodAutoscaler", "Job", "CronJob", "Ingress", "APIService"];
    if let Some(i) = ORDER.iter().position(|k| *k == kind) {
        return i;
    }
    if let Some(i) = LATER.iter().position(|k| *k == kind) {
        return ORDER.len() + i;
    }
    let builtin =
        group.is_empty() || group.ends_with(".k8s.io") || matches!(group, "apps" | "batch" | "policy" | "autoscaling");
    if builtin { ORDER.len() + LATER.len() } else { ORDER.len() + LATER.len() + 1 }
}

/// An object's sync wave: Argo CD's annotation, else a Helm hook's weight, else 0.
fn wave(o: &Object) -> i64 {
    [SYNC_WAVE, HELM_HOOK_WEIGHT].iter().find_map(|a| o.annotation(a).and_then(|w| w.trim().parse().ok())).unwrap_or(0)
}

/// Sorts objects into apply order: wave, kind, namespace, name.
pub fn plan(objects: &mut [Object]) {
    objects.sort_by(|a, b| {
        (wave(a), kind_rank(a.kind(), a.group()), a.namespace(), a.name()).cmp(&(
            wave(b),
            kind_rank(b.kind(), b.group()),
            b.namespace(),
            b.name(),
        ))
    });
}

/// Runs `f` again, with exponential backoff, while it fails with an error `transient` calls
/// transient (429, 5xx, 409 for the kube client), at most 5 times.
async fn with_retry<T, E, F, Fut>(transient: impl Fn(&E) -> bool, mut f: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                attempt += 1;
                if !transient(&e) || attempt >= 5 {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// `Kind.version.group`, how the parent records a kind it may contain.
fn gvk_text(g: &GroupVersionKind) -> String {
    format!("{}.{}.{}", g.kind, g.version, g.group)
}

fn parse_gvk_text(s: &str) -> Option<GroupVersionKind> {
    let mut p = s.splitn(3, '.');
    let (kind, version, group) = (p.next()?, p.next()?, p.next().unwrap_or(""));
    (!kind.is_empty() && !version.is_empty()).then(|| GroupVersionKind::new(group, version, kind))
}

/// Records the kinds on the parent: our versioned list and the KEP-3659 group-kinds.
fn record_kinds(parent: &mut Object, gvks: &BTreeSet<GroupVersionKind>) {
    let gks: BTreeSet<String> = gvks
        .iter()
        .map(|g| if g.group.is_empty() { g.kind.clone() } else { format!("{}.{}", g.kind, g.group) })
        .collect();
    parent.set_annotation(CONTAINS_GROUP_KINDS, &gks.into_iter().collect::<Vec<_>>().join(","));
    parent.set_annotation(CONTAINS_GVKS, &gvks.iter().map(gvk_text).collect::<Vec<_>>().join(","));
}

impl ResourceResult {
    fn new(key: ObjectKey, gvk: GroupVersionKind, action: Action, health: Health) -> Self {
        ResourceResult {
            key,
            gvk,
            action,
            drift: Vec::new(),
            health,
            message: String::new(),
            diff: String::new(),
            changed_by: Vec::new(),
        }
    }

    fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    fn drift(mut self, drift: Vec<String>) -> Self {
        self.drift = drift;
        self
    }
}

/// Waits until every applied object of a result is Current, one is Failed, or the timeout
/// passes; returns the last health seen.
pub async fn wait_healthy<C: Cluster>(cluster: &C, result: &SyncResult, timeout: Duration) -> Result<Health, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut worst = Health::Current;
        for r in result
            .resources
            .iter()
            .filter(|r| !matches!(r.action, Action::Pruned | Action::PruneSkipped | Action::Failed | Action::Hook))
        {
            let live =
                cluster.get(&r.gvk, &r.key.namespace, &r.key.name).await.map_err(|e| Error::Cluster(e.to_string()))?;
            worst = worst.worst(live.as_ref().map(health).unwrap_or(Health::Unknown));
        }
        if worst == Health::Current || worst == Health::Failed || tokio::time::Instant::now() >= deadline {
            return Ok(worst);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `live` already carries every label and annotation of `wanted` (so applying the
/// ApplySet parent again would change nothing and is skipped: a steady pass writes nothing).
fn same_metadata(live: Option<&Object>, wanted: &Object) -> bool {
    let Some(live) = live else { return false };
    let covered = |want: Option<&gitops_core::value::Map>, have: Option<&gitops_core::value::Map>| {
        want.is_none_or(|w| w.iter().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v)))
    };
    covered(wanted.labels(), live.labels()) && covered(wanted.annotations(), live.annotations())
}

/// Argo CD's hook annotation (`PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip`).
pub const HOOK: &str = "argocd.argoproj.io/hook";
/// Argo CD's hook delete policy annotation (`HookSucceeded`, `HookFailed`,
/// `BeforeHookCreation`, the default).
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";

fn has_sync_option(o: &Object, option: &str) -> bool {
    o.annotation(SYNC_OPTIONS).is_some_and(|s| s.split(',').any(|x| x.trim().eq_ignore_ascii_case(option)))
}

/// Helm's hook annotation (`pre-install`, `post-upgrade`, ...), read when Argo CD's is absent.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Helm's hook weight, the wave of an object without Argo CD's sync-wave annotation.
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's resource policy: `keep` means never pruned.
pub const HELM_RESOURCE_POLICY: &str = "helm.sh/resource-policy";
/// Helm's hook delete policy (`before-hook-creation`, `hook-succeeded`, `hook-failed`).
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

fn csv(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// Whether an object is a hook rather than a resource of the application, as Argo CD tells
/// them apart: any `argocd.argoproj.io/hook` annotation (a lone `Skip` included: such an
/// object is neither applied nor run), else any `helm.sh/hook` but Helm's `crd-install`. A
/// Helm hook of a type Argo CD does not map (`test`, `pre-delete`, ...) is a hook that never
/// runs.
fn is_hook(o: &Object) -> bool {
    o.annotation(HOOK).is_some() || o.annotation(HELM_HOOK).is_some_and(|h| h.trim() != "crd-install")
}

/// Which hook phases an object belongs to: Argo CD's annotation, or without it the Helm hook
/// types mapped as Argo CD maps them (`pre-install`/`pre-upgrade` to PreSync,
/// `post-install`/`post-upgrade` to PostSync).
fn hook_phases(o: &Object) -> Vec<String> {
    if let Some(h) = o.annotation(HOOK) {
        return csv(h).map(str::to_string).collect();
    }
    let Some(h) = o.annotation(HELM_HOOK) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for t in csv(h) {
        let phase = match t {
            "pre-install" | "pre-upgrade" => "PreSync",
            "post-install" | "post-upgrade" => "PostSync",
            _ => continue,
        };
        if !out.iter().any(|p| p == phase) {
            out.push(phase.to_string());
        }
    }
    out
}

/// A hook's delete policies: Argo CD's annotation, else Helm's mapped, else
/// `BeforeHookCreation`.
fn hook_delete_policies(o: &Object) -> Vec<String> {
    if let Some(p) = o.annotation(HOOK_DELETE_POLICY) {
        return csv(p).map(str::to_string).collect();
    }
    let helm: Vec<String> = o
        .annotation(HELM_HOOK_DELETE_POLICY)
        .map(|p| {
            csv(p)
                .filter_map(|x| match x {
                    "before-hook-creation" => Some("BeforeHookCreation".to_string()),
                    "hook-succeeded" => Some("HookSucceeded".to_string()),
                    "hook-failed" => Some("HookFailed".to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if helm.is_empty() { vec!["BeforeHookCreation".into()] } else { helm }
}

/// The name Argo CD gives a hook that has only `metadata.generateName`: the prefix, then the
/// revision's first seven characters, the phase and the operation's start (Unix seconds),
/// lower-cased. Deterministic within one operation, so the hook is waited on and its delete
/// policy applied by that name, and a new operation creates a new object.
pub fn hook_name(generate_name: &str, revision: &str, phase: &str, started_at_unix: u64) -> String {
    let rev: String = revision.chars().take(7).collect();
    format!("{generate_name}{}", format!("{rev}-{phase}-{started_at_unix}").to_lowercase())
}

/// An object ready to write: where it goes, what it looks like live, how it differs.
struct Planned {
    object: Object,
    gvk: GroupVersionKind,
    live: Option<Object>,
    drift: Vec<String>,
    diff: String,
    /// The other field managers owning a drifted field (see [`ResourceResult::changed_by`]).
    changed_by: Vec<String>,
    served: bool,
}

/// Paths where two JSON values differ (for the server-side dry-run diff).
fn json_diff_paths(a: &gitops_core::value::Value, b: &gitops_core::value::Value, path: &str, out: &mut Vec<String>) {
    use gitops_core::value::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}/{}", gitops_core::object::escape_pointer_token(k));
                match (x.get(k), y.get(k)) {
                    (Some(l), Some(r)) => json_diff_paths(l, r, &p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                json_diff_paths(l, r, &format!("{path}/{i}"), out);
            }
        }
        (l, r) if l != r => out.push(if path.is_empty() { "/".into() } else { path.to_string() }),
        _ => {}
    }
}

async fn wait_served<C: Cluster>(cluster: &C, gvk: &GroupVersionKind) -> Result<Option<ResourceInfo>, C::Error> {
    for _ in 0..50 {
        if let Some(info) = cluster.resource(gvk).await? {
            return Ok(Some(info));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

/// Runs the hooks of one phase to completion (Jobs complete, Pods succeed), honouring their
/// delete policies; `Err` carries the failing hook's result.
async fn run_hooks<C: Cluster>(
    cluster: &C,
    hooks: &[Object],
    phase: &str,
    opts: &SyncOptions,
    started_at: u64,
    result: &mut SyncResult,
) -> Result<bool, Error> {
    let apply_opts = ApplyOptions { field_manager: opts.field_manager.clone(), force: true, dry_run: false };
    let mut ordered: Vec<Object> =
        hooks.iter().filter(|h| hook_phases(h).iter().any(|p| p == phase)).cloned().collect();
    plan(&mut ordered);
    for mut hook in ordered {
        if hook.name().is_empty()
            && let Some(prefix) = hook.get("/metadata/generateName").and_then(|v| v.as_str()).map(str::to_string)
        {
            hook.set_name(&hook_name(&prefix, &opts.revision, phase, started_at));
        }
        let gvk = hook.gvk();
        let namespaced =
            cluster.resource(&gvk).await.map_err(|e| Error::Cluster(e.to_string()))?.is_none_or(|i| i.namespaced);
        if namespaced && hook.namespace().is_empty() {
            hook.set_namespace(&opts.namespace);
        }
        let policies = hook_delete_policies(&hook);
        if opts.dry_run {
            result.resources.push(
                ResourceResult::new(hook.key(), gvk, Action::Hook, Health::Unknown)
                    .message(format!("{phase} hook (dry run)")),
            );
            continue;
        }
        if policies.iter().any(|p| p == "BeforeHookCreation") {
            let deleted = cluster
                .delete(&gvk, hook.namespace(), hook.name(), Propagation::Foreground)
                .await
                .map_err(|e| Error::Cluster(e.to_string()))?;
            if deleted {
                for _ in 0..100 {
                    let gone = cluster
                        .get(&gvk, hook.namespace(), hook.name())
                        .await
                        .map_err(|e| Error::Cluster(e.to_string()))?;
                    if gone.is_none() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        let applied = cluster.apply(&hook, &apply_opts).await.map_err(|e| Error::Cluster(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + opts.hook_timeout;
        let mut h = health(&applied);
        while h != Health::Current && h != Health::Failed && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h = cluster
                .get(&gvk, hook.namespace(), hook.name())
                .await
                .map_err(|e| Error::Cluster(e.to_string()))?
                .as_ref()
                .map(health)
                .unwrap_or(Health::Unknown);
        }
        let ok = h == Health::Current;
        let message = match (ok, h) {
            (true, _) => format!("{phase} hook succeeded"),
            (false, Health::Failed) => format!("{phase} hook failed"),
            _ => format!("{phase} hook did not finish within {}s", opts.hook_timeout.as_secs()),
        };
        tracing::info!(object = %hook.key(), phase, ok, "hook");
        let delete = (ok && policies.iter().any(|p| p == "HookSucceeded"))
            || (!ok && policies.iter().any(|p| p == "HookFailed"));
        if delete {
            cluster
                .delete(&gvk, hook.namespace(), hook.name(), Propagation::Background)
                .await
                .map_err(|e| Error::Cluster(e.to_string()))?;
        }
        result.resources.push(
            ResourceResult::new(hook.key(), gvk, Action::Hook, if ok { Health::Current } else { Health::Failed })
                .message(message),
        );
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Makes the cluster equal to `desired` for one application.
///
/// 1. Every object is compared with its live twin (the offline diff, or a server-side dry run
///    with [`SyncOptions::server_side_diff`]); ApplySet members that left Git are found.
/// 2. Nothing differs: nothing is written, no hook runs.
/// 3. Otherwise: `PreSync` hooks, then each sync wave (kinds in Argo CD's order; objects of
///    one kind applied concurrently, `Sync` hooks in their wave; prunes in their wave unless
///    `PruneLast`), pruned members last with `PruneLast`, then `PostSync` hooks once everything
///    is healthy; `SyncFail` hooks when something failed.
pub async fn sync<C: Cluster>(cluster: &C, desired: Vec<Object>, opts: &SyncOptions) -> Result<SyncResult, Error> {
    let started_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (hooks, desired): (Vec<Object>, Vec<Object>) = desired.into_iter().partition(is_hook);
    let hooks: Vec<Object> = hooks.into_iter().filter(|h| !hook_phases(h).iter().any(|p| p == "Skip")).collect();
    if desired.is_empty() && opts.prune && !opts.allow_empty {
        return Err(Error::EmptyRender { app: opts.app.clone() });
    }
    let cerr = |e: C::Error| Error::Cluster(e.to_string());
    let transient = |e: &C::Error| cluster.is_transient(e);
    let apply_opts = ApplyOptions { field_manager: opts.field_manager.clone(), force: true, dry_run: opts.dry_run };
    let id = applyset_id(&opts.app, &opts.namespace);
    let mut result = SyncResult::default();
    let mut schema = Schema::builtin().clone();

    let mut objects = desired;
    plan(&mut objects);
    // Kinds this sync defines (CRDs), so their objects are planned before they are served.
    let mut defined: BTreeMap<GroupVersionKind, bool> = BTreeMap::new();
    for o in objects.iter().filter(|o| o.kind() == "CustomResourceDefinition") {
        if let Ok(kinds) = schema.add_crd(o) {
            for k in kinds {
                defined.insert(GroupVersionKind::new(&k.group, &k.version, &k.kind), k.namespaced);
            }
        }
    }

    // 1. Compare.
    let diff_options = diff::DiffOptions {
        field_manager: opts.field_manager.clone(),
        ignore: opts.ignore.clone(),
        ..Default::default()
    };
    let mut planned: Vec<Planned> = Vec::with_capacity(objects.len());
    let mut keys = BTreeSet::new();
    for mut o in objects {
        let gvk = o.gvk();
        let info = cluster.resource(&gvk).await.map_err(cerr)?;
        let (namespaced, served) = match (&info, defined.get(&gvk)) {
            (Some(i), _) => (i.namespaced, true),
            (None, Some(n)) => (*n, false),
            (None, None) => {
                let message = format!("the cluster does not serve {gvk}");
                result
                    .resources
                    .push(ResourceResult::new(o.key(), gvk, Action::Failed, Health::Unknown).message(message));
                continue;
            }
        };
        if namespaced {
            if o.namespace().is_empty() {
                o.set_namespace(&opts.namespace);
            }
        } else {
            o.set_namespace("");
        }
        o.set_label(PART_OF, &id);
        keys.insert(o.key());
        let live = if served { cluster.get(&gvk, o.namespace(), o.name()).await.map_err(cerr)? } else { None };
        // An object of another application's ApplySet (one whose parent exists) stays with
        // it; a label naming no live ApplySet is ours to correct.
        let other = live.as_ref().and_then(|l| l.label(PART_OF)).filter(|owner| *owner != id);
        let owner = match other {
            Some(other) => applyset_owner(cluster, other).await.map_err(cerr)?,
            None => None,
        };
        if let Some(owner) = owner {
            let message = format!("{}/{} is part of applications {owner} and {}", o.kind(), o.name(), opts.app);
            let h = live.as_ref().map(health).unwrap_or(Health::Unknown);
            result.resources.push(ResourceResult::new(o.key(), gvk, Action::Shared, h).message(message));
            keys.insert(o.key());
            continue;
        }
        let (mut drift, mut unified) = (Vec::new(), String::new());
        if let Some(l) = &live {
            if opts.server_side_diff {
                let dry = ApplyOptions { dry_run: true, ..apply_opts.clone() };
                match with_retry(transient, || cluster.apply(&o, &dry)).await {
                    Ok(after) => {
                        let (a, b) = (
                            diff::without_server_fields(l.as_value(), false),
                            diff::without_server_fields(after.as_value(), false),
                        );
                        json_diff_paths(&a, &b, "", &mut drift);
                        if !drift.is_empty() {
                            unified = diff::unified_diff(
                                &gitops_core::yaml::to_yaml(&a),
                                &gitops_core::yaml::to_yaml(&b),
                                &format!("live/{}", o.key()),
                                &format!("merged/{}", o.key()),
                            );
                        }
                    }
                    Err(e) => drift.push(format!("(server-side dry run failed: {e})")),
                }
            } else {
                let d = diff::diff(&o, l, &diff_options, &schema);
                if !d.changes.is_empty() {
                    unified = d.unified();
                }
                drift = d.changes.into_iter().map(|c| c.path).collect();
            }
        }
        let changed_by = match &live {
            Some(l) if !drift.is_empty() => {
                diff::field_owners(l.as_value(), &drift, &opts.field_manager).iter().map(ToString::to_string).collect()
            }
            _ => Vec::new(),
        };
        planned.push(Planned { object: o, gvk, live, drift, diff: unified, changed_by, served });
    }

    if opts.fail_on_shared_resource && result.resources.iter().any(|r| r.action == Action::Shared) {
        for r in result.resources.iter_mut().filter(|r| r.action == Action::Shared) {
            r.action = Action::Failed;
            r.message = format!("shared resource found (FailOnSharedResource=true): {}", r.message);
        }
        return Ok(result);
    }

    // A selective sync: what it does not name is reported and left alone, hooks do not run.
    let selected = |key: &ObjectKey| opts.only.as_ref().is_none_or(|only| only.iter().any(|s| s.matches(key)));
    let hooks = if opts.only.is_some() { Vec::new() } else { hooks };
    let (planned, left): (Vec<Planned>, Vec<Planned>) = planned.into_iter().partition(|p| selected(&p.object.key()));
    for p in &left {
        let h = p.live.as_ref().map(health).unwrap_or(Health::Unknown);
        let action = if p.live.is_none() || !p.drift.is_empty() { Action::Skipped } else { Action::Unchanged };
        let mut r = ResourceResult::new(p.object.key(), p.gvk.clone(), action, h);
        r.drift = p.drift.clone();
        r.diff = p.diff.clone();
        r.changed_by = p.changed_by.clone();
        result.resources.push(r);
    }

    // ApplySet parent and members that left Git.
    let parent_gvk = GroupVersionKind::new("", "v1", "ConfigMap");
    let parent_name = format!("applyset-{}", opts.app);
    let previous = cluster.get(&parent_gvk, &opts.namespace, &parent_name).await.map_err(cerr)?;
    let mut gvks: BTreeSet<GroupVersionKind> = previous
        .as_ref()
        .and_then(|p| p.annotation(CONTAINS_GVKS))
        .map(|s| s.split(',').filter_map(parse_gvk_text).collect())
        .unwrap_or_default();
    let desired_gvks: BTreeSet<GroupVersionKind> = planned.iter().chain(&left).map(|p| p.gvk.clone()).collect();
    gvks.extend(desired_gvks.iter().cloned());
    let mut orphans: Vec<(GroupVersionKind, Object)> = Vec::new();
    for gvk in &gvks {
        if cluster.resource(gvk).await.map_err(cerr)?.is_none() {
            continue;
        }
        for m in cluster.list(gvk, None, &format!("{PART_OF}={id}")).await.map_err(cerr)? {
            if !keys.contains(&m.key()) && m.label(PART_OF) == Some(id.as_str()) && selected(&m.key()) {
                orphans.push((gvk.clone(), m));
            }
        }
    }

    if let Some(hook) = opts.on_drift.as_ref().filter(|_| !opts.dry_run)
        && planned.iter().any(|p| p.live.is_some() && !p.drift.is_empty())
    {
        (hook.0)(&opts.app);
    }

    // 2. Nothing to do?
    let changes = planned.iter().any(|p| p.live.is_none() || !p.drift.is_empty());
    let ns_missing = opts.create_namespace
        && cluster
            .get(&GroupVersionKind::new("", "v1", "Namespace"), "", &opts.namespace)
            .await
            .map_err(cerr)?
            .is_none();
    if !changes && orphans.is_empty() && !ns_missing {
        for p in &planned {
            let h = p.live.as_ref().map(health).unwrap_or(Health::Unknown);
            result.resources.push(ResourceResult::new(p.object.key(), p.gvk.clone(), Action::Unchanged, h));
        }
        return Ok(result);
    }

    // 3. Write.
    if ns_missing {
        let ns = Object::new("v1", "Namespace", &opts.namespace);
        with_retry(transient, || cluster.apply(&ns, &apply_opts)).await.map_err(cerr)?;
    }
    let mut parent = Object::new("v1", "ConfigMap", &parent_name);
    parent.set_namespace(&opts.namespace);
    parent.set_label(APPLYSET_ID, &id);
    parent.set_annotation(TOOLING, "gitops-rs/v0.1");
    record_kinds(&mut parent, &gvks);
    // The parent first: it records every kind the set may contain, so an interrupted sync
    // still prunes what it applied.
    if !opts.dry_run && !same_metadata(previous.as_ref(), &parent) {
        with_retry(transient, || cluster.apply(&parent, &apply_opts)).await.map_err(cerr)?;
    }
    if !hooks.is_empty() && !run_hooks(cluster, &hooks, "PreSync", opts, started_at, &mut result).await? {
        run_hooks(cluster, &hooks, "SyncFail", opts, started_at, &mut result).await?;
        return Ok(result);
    }

    let prune_last = opts.prune_last;
    let mut kept = desired_gvks;
    let mut waves: BTreeSet<i64> = planned.iter().map(|p| wave(&p.object)).collect();
    waves.extend(orphans.iter().map(|(_, m)| wave(m)));
    waves.extend(hooks.iter().filter(|h| hook_phases(h).iter().any(|p| p == "Sync")).map(wave));
    let mut failed = false;
    for w in waves {
        // Prunes of this wave (unless PruneLast), then its objects kind by kind.
        if !prune_last {
            let these: Vec<_> = orphans
                .iter()
                .filter(|(_, m)| wave(m) == w && !has_sync_option(m, "PruneLast=true"))
                .cloned()
                .collect();
            prune(cluster, &these, opts, &mut kept, &mut result).await;
        }
        let in_wave: Vec<&Planned> = planned.iter().filter(|p| wave(&p.object) == w).collect();
        let mut ranks: Vec<usize> = in_wave.iter().map(|p| kind_rank(p.object.kind(), p.object.group())).collect();
        ranks.dedup();
        for rank in ranks {
            let group: Vec<&Planned> =
                in_wave.iter().copied().filter(|p| kind_rank(p.object.kind(), p.object.group()) == rank).collect();
            let mut outcomes = Vec::with_capacity(group.len());
            for chunk in group.chunks(opts.concurrency.max(1)) {
                let mut futs = Vec::with_capacity(chunk.len());
                for p in chunk {
                    futs.push(apply_one(cluster, p, opts, &apply_opts));
                }
                outcomes.extend(futures::future::join_all(futs).await);
            }
            for r in outcomes {
                failed |= r.action == Action::Failed;
                if r.action != Action::Failed
                    && r.gvk.kind == "CustomResourceDefinition"
                    && let Some(p) = planned.iter().find(|p| p.object.key() == r.key)
                {
                    schema.add_crd(&p.object).ok();
                }
                result.resources.push(r);
            }
        }
        let sync_hooks: Vec<Object> = hooks.iter().filter(|h| wave(h) == w).cloned().collect();
        if !sync_hooks.is_empty() && !run_hooks(cluster, &sync_hooks, "Sync", opts, started_at, &mut result).await? {
            failed = true;
        }
        if failed {
            break;
        }
    }
    if !failed {
        let last: Vec<_> =
            orphans.iter().filter(|(_, m)| prune_last || has_sync_option(m, "PruneLast=true")).cloned().collect();
        prune(cluster, &last, opts, &mut kept, &mut result).await;
    } else {
        // Members not reached stay recorded so the next sync prunes them.
        kept.extend(orphans.iter().map(|(g, _)| g.clone()));
    }

    // Health as the controllers left it after the writes.
    if !opts.dry_run {
        for r in result.resources.iter_mut().filter(|r| matches!(r.action, Action::Created | Action::Updated)) {
            if let Ok(Some(live)) = cluster.get(&r.gvk, &r.key.namespace, &r.key.name).await {
                r.health = health(&live);
            }
        }
    }
    // The parent forgets kinds that have no member left.
    if !opts.dry_run && kept != gvks {
        record_kinds(&mut parent, &kept);
        with_retry(transient, || cluster.apply(&parent, &apply_opts)).await.map_err(cerr)?;
    }
    if failed {
        if !hooks.is_empty() {
            run_hooks(cluster, &hooks, "SyncFail", opts, started_at, &mut result).await?;
        }
        return Ok(result);
    }
    if hooks.iter().any(|h| hook_phases(h).iter().any(|p| p == "PostSync")) && !opts.dry_run {
        let health = wait_healthy(cluster, &result, opts.hook_timeout).await?;
        if health != Health::Current {
            let mut r = ResourceResult::new(
                ObjectKey::new("", "Application", &opts.namespace, &opts.app),
                GroupVersionKind::new("argoproj.io", "v1alpha1", "Application"),
                Action::Failed,
                health,
            );
            r.message = format!("PostSync hooks not run: the application is {}", health.argo());
            result.resources.push(r);
            return Ok(result);
        }
        if !run_hooks(cluster, &hooks, "PostSync", opts, started_at, &mut result).await? {
            run_hooks(cluster, &hooks, "SyncFail", opts, started_at, &mut result).await?;
        }
    }
    Ok(result)
}

/// Applies one planned object (nothing when it has no drift), retrying transient errors;
/// an immutable-field error recreates the object only with `Replace=true` or `Force=true`.
async fn apply_one<C: Cluster>(
    cluster: &C,
    p: &Planned,
    opts: &SyncOptions,
    apply_opts: &ApplyOptions,
) -> ResourceResult {
    let o = &p.object;
    let gvk = p.gvk.clone();
    if let (Some(l), true) = (&p.live, p.drift.is_empty()) {
        return ResourceResult::new(o.key(), gvk, Action::Unchanged, health(l));
    }
    if opts.dry_run && p.live.is_none() {
        // Nothing to compare with, and its namespace may not exist yet either.
        return ResourceResult::new(o.key(), gvk, Action::Created, Health::Unknown).message("dry run");
    }
    if !p.served {
        match wait_served(cluster, &gvk).await {
            Ok(Some(_)) => {}
            _ => {
                return ResourceResult::new(o.key(), gvk.clone(), Action::Failed, Health::Unknown)
                    .message(format!("the cluster does not serve {gvk} (its CRD did not become established)"));
            }
        }
    }
    let transient = |e: &C::Error| cluster.is_transient(e);
    let outcome = with_retry(transient, || cluster.apply(o, apply_opts)).await;
    let outcome = match outcome {
        Err(e)
            if is_immutable(&e.to_string())
                && (opts.replace || has_sync_option(o, "Replace=true") || has_sync_option(o, "Force=true")) =>
        {
            tracing::info!(object = %o.key(), "immutable field changed: recreating (Replace=true)");
            match recreate(cluster, o, &gvk, apply_opts).await {
                Ok(applied) => Ok(applied),
                Err(e) => Err(e.to_string()),
            }
        }
        other => other.map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(applied) => {
            let action = if p.live.is_some() { Action::Updated } else { Action::Created };
            tracing::info!(object = %o.key(), ?action, "applied");
            let mut r = ResourceResult::new(o.key(), gvk, action, health(&applied)).drift(p.drift.clone());
            r.diff = p.diff.clone();
            r.changed_by = p.changed_by.clone();
            r
        }
        Err(text) => {
            let message = if is_immutable(&text) {
                format!("{text} (an immutable field changed; add the sync option Replace=true to recreate the object)")
            } else {
                text
            };
            let mut r = ResourceResult::new(o.key(), gvk, Action::Failed, Health::Unknown)
                .drift(p.drift.clone())
                .message(message);
            r.diff = p.diff.clone();
            r.changed_by = p.changed_by.clone();
            r
        }
    }
}

fn is_immutable(text: &str) -> bool {
    text.contains("field is immutable") || text.contains("Forbidden: updates to")
}

async fn recreate<C: Cluster>(
    cluster: &C,
    o: &Object,
    gvk: &GroupVersionKind,
    apply_opts: &ApplyOptions,
) -> Result<Object, C::Error> {
    cluster.delete(gvk, o.namespace(), o.name(), Propagation::Foreground).await?;
    for _ in 0..200 {
        if cluster.get(gvk, o.namespace(), o.name()).await?.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.apply(o, apply_opts).await
}

/// Deletes members that left Git (or records why not).
async fn prune<C: Cluster>(
    cluster: &C,
    members: &[(GroupVersionKind, Object)],
    opts: &SyncOptions,
    kept: &mut BTreeSet<GroupVersionKind>,
    result: &mut SyncResult,
) {
    for (gvk, m) in members {
        let opted_out = has_sync_option(m, "Prune=false");
        // Helm's "keep this when the release goes" policy, which Argo CD honours too.
        let helm_keep = m.annotation(HELM_RESOURCE_POLICY).is_some_and(|p| csv(p).any(|x| x == "keep"));
        let r = if !opts.prune || opted_out || helm_keep {
            kept.insert(gvk.clone());
            let why = if opted_out {
                "Prune=false"
            } else if helm_keep {
                "helm.sh/resource-policy: keep"
            } else {
                "pruning is off"
            };
            ResourceResult::new(m.key(), gvk.clone(), Action::PruneSkipped, health(m)).message(why)
        } else if opts.dry_run {
            ResourceResult::new(m.key(), gvk.clone(), Action::Pruned, Health::Terminating).message("dry run")
        } else {
            match cluster.delete(gvk, m.namespace(), m.name(), Propagation::Background).await {
                Ok(_) => {
                    tracing::info!(object = %m.key(), "pruned");
                    ResourceResult::new(m.key(), gvk.clone(), Action::Pruned, Health::Terminating)
                }
                Err(e) => {
                    kept.insert(gvk.clone());
                    ResourceResult::new(m.key(), gvk.clone(), Action::Failed, Health::Unknown).message(e.to_string())
                }
            }
        };
        result.resources.push(r);
    }
}
