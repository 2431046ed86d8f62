//! The sync engine: plan, apply with server-side apply, prune by ApplySet, report health.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use gitops_core::{ApplyOptions, Cluster, GroupVersionKind, Object, ObjectKey, Propagation, Schema, diff};
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

fn wave(o: &Object) -> i64 {
    o.annotation(SYNC_WAVE).and_then(|w| w.trim().parse().ok()).unwrap_or(0)
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
        ResourceResult { key, gvk, action, drift: Vec::new(), health, message: String::new(), diff: String::new() }
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
            .filter(|r| !matches!(r.action, Action::Pruned | Action::PruneSkipped | Action::Failed))
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
    let covered = |want: Option<&serde_json::Map<String, serde_json::Value>>,
                   have: Option<&serde_json::Map<String, serde_json::Value>>| {
        want.is_none_or(|w| w.iter().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v)))
    };
    covered(wanted.labels(), live.labels()) && covered(wanted.annotations(), live.annotations())
}

/// Makes the cluster equal to `desired` for one application.
pub async fn sync<C: Cluster>(cluster: &C, desired: Vec<Object>, opts: &SyncOptions) -> Result<SyncResult, Error> {
    if desired.is_empty() && opts.prune && !opts.allow_empty {
        return Err(Error::EmptyRender { app: opts.app.clone() });
    }
    let cerr = |e: C::Error| Error::Cluster(e.to_string());
    let transient = |e: &C::Error| cluster.is_transient(e);
    let apply_opts = ApplyOptions { field_manager: opts.field_manager.clone(), force: true, dry_run: opts.dry_run };
    let id = applyset_id(&opts.app, &opts.namespace);
    let mut result = SyncResult::default();
    let mut schema = Schema::builtin().clone();

    if opts.create_namespace {
        let ns_gvk = GroupVersionKind::new("", "v1", "Namespace");
        if cluster.get(&ns_gvk, "", &opts.namespace).await.map_err(cerr)?.is_none() {
            let ns = Object::new("v1", "Namespace", &opts.namespace);
            with_retry(transient, || cluster.apply(&ns, &apply_opts)).await.map_err(cerr)?;
        }
    }

    let mut objects = desired;
    plan(&mut objects);
    for o in objects.iter().filter(|o| o.kind() == "CustomResourceDefinition") {
        schema.add_crd(o).ok();
    }
    // The parent first: it records every kind the set may contain, so an interrupted sync
    // still prunes what it applied.
    let parent_gvk = GroupVersionKind::new("", "v1", "ConfigMap");
    let parent_name = format!("applyset-{}", opts.app);
    let previous = cluster.get(&parent_gvk, &opts.namespace, &parent_name).await.map_err(cerr)?;
    let mut gvks: BTreeSet<GroupVersionKind> = previous
        .as_ref()
        .and_then(|p| p.annotation(CONTAINS_GVKS))
        .map(|s| s.split(',').filter_map(parse_gvk_text).collect())
        .unwrap_or_default();
    let desired_gvks: BTreeSet<GroupVersionKind> = objects.iter().map(Object::gvk).collect();
    gvks.extend(desired_gvks.iter().cloned());
    let mut parent = Object::new("v1", "ConfigMap", &parent_name);
    parent.set_namespace(&opts.namespace);
    parent.set_label(APPLYSET_ID, &id);
    parent.set_annotation(TOOLING, "gitops-rs/v0.1");
    record_kinds(&mut parent, &gvks);
    if !opts.dry_run && !same_metadata(previous.as_ref(), &parent) {
        with_retry(transient, || cluster.apply(&parent, &apply_opts)).await.map_err(cerr)?;
    }

    let diff_options = diff::DiffOptions {
        field_manager: opts.field_manager.clone(),
        ignore: opts.ignore.clone(),
        ..Default::default()
    };
    let mut keys = BTreeSet::new();
    for mut o in objects {
        let gvk = o.gvk();
        let mut info = cluster.resource(&gvk).await.map_err(cerr)?;
        if info.is_none() {
            // A custom resource whose CRD was applied in this sync: wait until it is served.
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                info = cluster.resource(&gvk).await.map_err(cerr)?;
                if info.is_some() {
                    break;
                }
            }
        }
        let Some(info) = info else {
            let message = format!("the cluster does not serve {gvk}");
            result.resources.push(ResourceResult::new(o.key(), gvk, Action::Failed, Health::Unknown).message(message));
            continue;
        };
        if info.namespaced {
            if o.namespace().is_empty() {
                o.set_namespace(&opts.namespace);
            }
        } else {
            o.set_namespace("");
        }
        o.set_label(PART_OF, &id);
        keys.insert(o.key());
        let live = cluster.get(&gvk, o.namespace(), o.name()).await.map_err(cerr)?;
        let (drift, unified) = match &live {
            Some(l) => {
                let d = diff::diff(&o, l, &diff_options, &schema);
                let unified = if d.changes.is_empty() { String::new() } else { d.unified() };
                (d.changes.into_iter().map(|c| c.path).collect::<Vec<_>>(), unified)
            }
            None => (vec![], String::new()),
        };
        if let (Some(l), true) = (&live, drift.is_empty()) {
            result.resources.push(ResourceResult::new(o.key(), gvk, Action::Unchanged, health(l)));
            continue;
        }
        if opts.dry_run && live.is_none() {
            // Nothing to compare with, and its namespace may not exist yet either.
            result
                .resources
                .push(ResourceResult::new(o.key(), gvk, Action::Created, Health::Unknown).message("dry run"));
            continue;
        }
        match with_retry(transient, || cluster.apply(&o, &apply_opts)).await {
            Ok(applied) => {
                let action = if live.is_some() { Action::Updated } else { Action::Created };
                tracing::info!(object = %o.key(), ?action, "applied");
                if o.kind() == "CustomResourceDefinition" {
                    schema.add_crd(&o).ok();
                }
                let mut r = ResourceResult::new(o.key(), gvk, action, health(&applied)).drift(drift);
                r.diff = unified;
                result.resources.push(r);
            }
            Err(e) => {
                let text = e.to_string();
                let message = if text.contains("field is immutable") || text.contains("Forbidden") {
                    format!("{text} (an immutable field changed; set Replace=true to recreate the object)")
                } else {
                    text
                };
                let mut r =
                    ResourceResult::new(o.key(), gvk, Action::Failed, Health::Unknown).drift(drift).message(message);
                r.diff = unified;
                result.resources.push(r);
            }
        }
    }

    // Health as the controllers left it after the writes.
    if !opts.dry_run {
        for r in result.resources.iter_mut().filter(|r| matches!(r.action, Action::Created | Action::Updated)) {
            if let Ok(Some(live)) = cluster.get(&r.gvk, &r.key.namespace, &r.key.name).await {
                r.health = health(&live);
            }
        }
    }

    // Prune: members of this ApplySet that are not desired. Kinds that keep a member (pruning
    // off, `Prune=false`, a failed delete) stay recorded on the parent.
    let mut kept = desired_gvks;
    for gvk in &gvks {
        if cluster.resource(gvk).await.map_err(cerr)?.is_none() {
            continue;
        }
        let members = cluster.list(gvk, None, &format!("{PART_OF}={id}")).await.map_err(cerr)?;
        for m in members {
            if keys.contains(&m.key()) || m.label(PART_OF) != Some(id.as_str()) {
                continue;
            }
            let opted_out = m.annotation(SYNC_OPTIONS).is_some_and(|s| s.split(',').any(|x| x.trim() == "Prune=false"));
            let r = if !opts.prune || opted_out {
                kept.insert(gvk.clone());
                let why = if opted_out { "Prune=false" } else { "pruning is off" };
                ResourceResult::new(m.key(), gvk.clone(), Action::PruneSkipped, health(&m)).message(why)
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
                        ResourceResult::new(m.key(), gvk.clone(), Action::Failed, Health::Unknown)
                            .message(e.to_string())
                    }
                }
            };
            result.resources.push(r);
        }
    }
    // The parent forgets kinds that have no member left.
    if !opts.dry_run && kept != gvks {
        record_kinds(&mut parent, &kept);
        with_retry(transient, || cluster.apply(&parent, &apply_opts)).await.map_err(cerr)?;
    }
    Ok(result)
}
