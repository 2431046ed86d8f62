//! The live-state cache: kube-runtime watchers of the kinds an application uses, filtered by
//! label to the objects the sync engine manages (ApplySet members and parents; Namespaces
//! whole), so steady-state reconciles read memory instead of the API server, and a broadcast
//! of changes to managed objects, which feeds self-heal. Objects outside the filters (not yet
//! managed) are read from the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use gitops_core::selector::LabelSelector;
use gitops_core::{GroupVersionKind, Object, ObjectKey};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::{broadcast, watch};

use crate::engine::PART_OF;

/// A change to an object that carries an ApplySet membership label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object.
    pub key: ObjectKey,
    /// The ApplySet id it belongs to (`applyset.kubernetes.io/part-of`).
    pub applyset: String,
    /// Whether it was deleted.
    pub deleted: bool,
}

type Key = (String, String);

/// A kind's objects, indexed by ApplySet membership so pruning lists one set, not the kind.
#[derive(Default)]
struct Store {
    objects: HashMap<Key, Object>,
    by_set: HashMap<String, std::collections::BTreeSet<Key>>,
}

impl Store {
    fn get(&self, k: &Key) -> Option<&Object> {
        self.objects.get(k)
    }

    fn insert(&mut self, k: Key, o: Object) {
        self.remove(&k);
        if let Some(id) = o.label(PART_OF) {
            self.by_set.entry(id.to_string()).or_default().insert(k.clone());
        }
        self.objects.insert(k, o);
    }

    fn remove(&mut self, k: &Key) {
        if let Some(old) = self.objects.remove(k)
            && let Some(id) = old.label(PART_OF)
            && let Some(set) = self.by_set.get_mut(id)
        {
            set.remove(k);
            if set.is_empty() {
                self.by_set.remove(id);
            }
        }
    }
}

struct KindCache {
    objects: Arc<RwLock<Store>>,
    ready: watch::Receiver<bool>,
    /// Set when a first read gave up waiting (no list permission, say): later reads go to the
    /// server at once until the watch catches up.
    gave_up: std::sync::atomic::AtomicBool,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KindCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watch-fed objects of every kind asked for so far, filtered to what the sync engine manages:
/// members of an ApplySet (`applyset.kubernetes.io/part-of`), ApplySet parents
/// (`applyset.kubernetes.io/id`, ConfigMaps) and every Namespace. A read the filters do not
/// cover (an object we do not manage yet) goes to the server.
pub(crate) struct LiveCache {
    kinds: Mutex<HashMap<(GroupVersionKind, &'static str), Arc<KindCache>>>,
    changes: broadcast::Sender<Change>,
    /// How long a first read waits for a kind's initial list before asking the server.
    pub(crate) sync_timeout: Duration,
}

/// The label selectors a kind is watched with (`""` watches every object of the kind).
fn selectors(gvk: &GroupVersionKind) -> &'static [&'static str] {
    match (gvk.group.as_str(), gvk.kind.as_str()) {
        ("", "Namespace") => &[""],
        ("", "ConfigMap") => &[PART_OF, crate::engine::APPLYSET_ID],
        _ => &[PART_OF],
    }
}

/// Whether an object falls under a watch's selector (an existence selector, or none).
fn covered(selector: &str, o: &Object) -> bool {
    selector.is_empty() || o.label(selector).is_some()
}

fn key_of(o: &Object) -> (String, String) {
    (o.namespace().to_string(), o.name().to_string())
}

fn rv(o: &Object) -> Option<u64> {
    o.get("/metadata/resourceVersion").and_then(|v| v.as_str()).and_then(|s| s.parse().ok())
}

impl LiveCache {
    pub(crate) fn new(sync_timeout: Duration) -> Self {
        Self::reporting_to(sync_timeout, broadcast::channel(4096).0)
    }

    /// A cache whose changes go to `changes` (another cache's stream, so one listener hears
    /// every cluster).
    pub(crate) fn reporting_to(sync_timeout: Duration, changes: broadcast::Sender<Change>) -> Self {
        Self { kinds: Mutex::new(HashMap::new()), changes, sync_timeout }
    }

    pub(crate) fn sender(&self) -> broadcast::Sender<Change> {
        self.changes.clone()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// A kind's caches (one per selector), started on first use; `None` until their initial
    /// lists arrived (within the sync timeout), so callers fall back to the server.
    async fn kind(
        &self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
        ar: &ApiResource,
    ) -> Option<Vec<(&'static str, Arc<KindCache>)>> {
        let caches: Vec<(&'static str, Arc<KindCache>)> = {
            let mut kinds = self.kinds.lock().expect("cache lock");
            selectors(gvk)
                .iter()
                .map(|sel| {
                    let c = kinds
                        .entry((gvk.clone(), *sel))
                        .or_insert_with(|| Arc::new(start(client.clone(), ar.clone(), sel, self.changes.clone())))
                        .clone();
                    (*sel, c)
                })
                .collect()
        };
        for (_, cache) in &caches {
            let mut ready = cache.ready.clone();
            if *ready.borrow() {
                continue;
            }
            if cache.gave_up.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            match tokio::time::timeout(self.sync_timeout, ready.wait_for(|r| *r)).await {
                Ok(Ok(_)) => {}
                _ => {
                    cache.gave_up.store(true, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(kind = %gvk, "the watch has not listed this kind; reading it from the server");
                    return None;
                }
            }
        }
        Some(caches)
    }

    /// `Some(found)` when the caches can answer (found, or a watch that sees every object of
    /// the kind); `None` when the server must be asked.
    pub(crate) async fn get(
        &self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
        ar: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Object>> {
        let caches = self.kind(client, gvk, ar).await?;
        let key = (namespace.to_string(), name.to_string());
        for (_, cache) in &caches {
            if let Some(o) = cache.objects.read().expect("store lock").get(&key) {
                return Some(Some(o.clone()));
            }
        }
        caches.iter().any(|(sel, _)| sel.is_empty()).then_some(None)
    }

    /// Members of one ApplySet (`part-of=<id>`), or anything of a fully watched kind; `None`
    /// for selections the caches do not cover.
    pub(crate) async fn list(
        &self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
        ar: &ApiResource,
        namespace: Option<&str>,
        selector: &str,
    ) -> Option<Vec<Object>> {
        let parsed = LabelSelector::parse(selector).ok()?;
        let set = selector.strip_prefix(PART_OF).and_then(|r| r.strip_prefix('=')).filter(|v| !v.contains([',', '!']));
        let caches = self.kind(client, gvk, ar).await?;
        let in_ns = |o: &&Object| namespace.is_none_or(|ns| ns.is_empty() || o.namespace() == ns);
        let mut out: Vec<Object> = match (set, caches.iter().find(|(sel, _)| sel.is_empty())) {
            (_, Some((_, all))) => {
                let store = all.objects.read().expect("store lock");
                store.objects.values().filter(in_ns).filter(|o| parsed.matches(o.labels())).cloned().collect()
            }
            (Some(id), None) => {
                let (_, members) = caches.iter().find(|(sel, _)| *sel == PART_OF)?;
                let store = members.objects.read().expect("store lock");
                store
                    .by_set
                    .get(id)
                    .map(|keys| keys.iter().filter_map(|k| store.objects.get(k)).filter(in_ns).cloned().collect())
                    .unwrap_or_default()
            }
            (None, None) => return None,
        };
        out.sort_by_key(key_of);
        Some(out)
    }

    /// Records what a write returned, so the next read sees it before the watch does.
    pub(crate) fn written(&self, gvk: &GroupVersionKind, object: &Object) {
        let kinds = self.kinds.lock().expect("cache lock");
        for sel in selectors(gvk) {
            if let Some(cache) = kinds.get(&(gvk.clone(), *sel)) {
                let mut store = cache.objects.write().expect("store lock");
                if covered(sel, object) {
                    upsert(&mut store, object.clone());
                } else {
                    store.remove(&key_of(object));
                }
            }
        }
    }

    pub(crate) fn deleted(&self, gvk: &GroupVersionKind, namespace: &str, name: &str) {
        let kinds = self.kinds.lock().expect("cache lock");
        for sel in selectors(gvk) {
            if let Some(cache) = kinds.get(&(gvk.clone(), *sel)) {
                cache.objects.write().expect("store lock").remove(&(namespace.to_string(), name.to_string()));
            }
        }
    }
}

/// Inserts unless the store already holds a newer resourceVersion of the object.
fn upsert(store: &mut Store, object: Object) {
    let k = key_of(&object);
    if let (Some(old), Some(new)) = (store.get(&k).and_then(rv), rv(&object))
        && old > new
    {
        return;
    }
    store.insert(k, object);
}

fn start(client: kube::Client, ar: ApiResource, selector: &str, changes: broadcast::Sender<Change>) -> KindCache {
    let (ready_tx, ready) = watch::channel(false);
    let objects_holder: Arc<RwLock<Store>> = Arc::default();
    let store = objects_holder.clone();
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let config =
        if selector.is_empty() { watcher::Config::default() } else { watcher::Config::default().labels(selector) };
    let task = tokio::spawn(async move {
        let mut pending: Option<Store> = None;
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        let notify = |o: &Object, deleted: bool| {
            if let Some(id) = o.label(PART_OF) {
                let _ = changes.send(Change { key: o.key(), applyset: id.to_string(), deleted });
            }
        };
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => pending = Some(Store::default()),
                Ok(Event::InitApply(d)) => {
                    if let (Some(p), Some(o)) = (pending.as_mut(), crate::cluster::to_object(d, &ar).ok()) {
                        p.insert(key_of(&o), o);
                    }
                }
                Ok(Event::InitDone) => {
                    if let Some(p) = pending.take() {
                        *store.write().expect("store lock") = p;
                    }
                    let _ = ready_tx.send(true);
                }
                Ok(Event::Apply(d)) => {
                    if let Ok(o) = crate::cluster::to_object(d, &ar) {
                        // The echo of a write of ours (the cache took the written object in
                        // already, at this resourceVersion or a later one) is no change.
                        let known = {
                            let store = store.read().expect("store lock");
                            store.get(&key_of(&o)).and_then(rv).zip(rv(&o)).is_some_and(|(old, new)| old >= new)
                        };
                        if !known {
                            notify(&o, false);
                        }
                        upsert(&mut store.write().expect("store lock"), o);
                    }
                }
                Ok(Event::Delete(d)) => {
                    if let Ok(o) = crate::cluster::to_object(d, &ar) {
                        store.write().expect("store lock").remove(&key_of(&o));
                        notify(&o, true);
                    }
                }
                Err(e) => tracing::warn!(kind = %ar.kind, error = %e, "watch failed; retrying with backoff"),
            }
        }
    });
    KindCache { objects: objects_holder, ready, gave_up: Default::default(), task }
}
