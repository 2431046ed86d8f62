//! Many applications at once: a [`Manager`] reconciles them concurrently (bounded), polls
//! their sources on an interval, and self-heals an application within a moment of a change to
//! one of its objects, backing off when another controller keeps fighting back.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gitops_core::{Cluster, Decryptor, Renderer, Source};
use tokio::sync::{Mutex, broadcast};

use crate::cache::Change;
use crate::engine::{Action, SyncResult, applyset_id};
use crate::shard::Ownership;
use crate::{AppState, Application, Error, Reconciler};

/// How the manager paces itself.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Applications reconciled at once.
    pub concurrency: usize,
    /// How long changes are collected before healing (debounce).
    pub debounce: Duration,
    /// Heals that wrote something, within `fight_window`, before self-heal backs off.
    pub fight_limit: usize,
    /// The window of `fight_limit`.
    pub fight_window: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            debounce: Duration::from_millis(50),
            fight_limit: 5,
            fight_window: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct Fight {
    writes: VecDeque<Instant>,
    paused_until: Option<Instant>,
    strikes: u32,
}

/// One pass's outcome for one application.
#[derive(Debug)]
pub struct PassResult {
    /// The application's name.
    pub app: String,
    /// Its sync result, or the error that stopped it.
    pub result: Result<SyncResult, Error>,
    /// When it started (with its application's lock held).
    pub started: Instant,
    /// How long it took.
    pub duration: Duration,
}

/// Reconciles many applications with one [`Reconciler`]. The set can change while it runs
/// ([`Manager::upsert`], [`Manager::remove`]), as a controller of Application resources needs.
pub struct Manager<S, R, D, C> {
    reconciler: Arc<Reconciler<S, R, D, C>>,
    apps: std::sync::RwLock<Apps>,
    fights: std::sync::Mutex<HashMap<String, Fight>>,
    options: ManagerOptions,
    /// Which applications this replica may work on (all without one).
    ownership: std::sync::RwLock<Option<Arc<dyn Ownership>>>,
    /// The ApplySet ids owned, and those known, at the last [`Manager::claim`].
    owned: std::sync::Mutex<Option<(HashSet<String>, HashSet<String>)>>,
    handovers: AtomicU64,
    handed_away: AtomicU64,
}

/// The applications, by ApplySet id, in the order they were added.
#[derive(Default)]
struct Apps {
    order: Vec<String>,
    by_id: HashMap<String, Arc<Mutex<AppState>>>,
    /// The Application's own namespace and name, by ApplySet id (the key of ownership).
    keys: HashMap<String, (String, String)>,
}

impl<S, R, D, C> Manager<S, R, D, C>
where
    S: Source + 'static,
    R: Renderer + 'static,
    D: Decryptor + 'static,
    C: Cluster + 'static,
{
    /// A manager of `apps`.
    pub fn new(reconciler: Reconciler<S, R, D, C>, apps: Vec<Application>, options: ManagerOptions) -> Self {
        let manager = Self {
            reconciler: Arc::new(reconciler),
            apps: Default::default(),
            fights: Default::default(),
            options,
            ownership: Default::default(),
            owned: Default::default(),
            handovers: AtomicU64::new(0),
            handed_away: AtomicU64::new(0),
        };
        for app in apps {
            manager.insert(app);
        }
        manager
    }

    /// The applications' states, in the order they were added.
    pub fn states(&self) -> Vec<Arc<Mutex<AppState>>> {
        let apps = self.apps.read().expect("apps lock");
        apps.order.iter().filter_map(|id| apps.by_id.get(id).cloned()).collect()
    }

    /// One application's state.
    pub fn state(&self, namespace: &str, name: &str) -> Option<Arc<Mutex<AppState>>> {
        self.apps.read().expect("apps lock").by_id.get(&applyset_id(name, namespace)).cloned()
    }

    fn insert(&self, app: Application) -> Arc<Mutex<AppState>> {
        let id = applyset_id(&app.metadata.name, app.namespace());
        let mut apps = self.apps.write().expect("apps lock");
        let key = (app.metadata.namespace.clone().unwrap_or_default(), app.metadata.name.clone());
        let state = Arc::new(Mutex::new(AppState::new(app)));
        let app_key = crate::shard::app_key(&key.0, &key.1);
        apps.keys.insert(id.clone(), key);
        if apps.by_id.insert(id.clone(), state.clone()).is_none() {
            apps.order.push(id);
        }
        drop(apps);
        if let Some(o) = self.ownership.read().expect("ownership lock").as_ref() {
            o.application_added(&app_key);
        }
        state
    }

    /// Adds an application, or gives an existing one (same namespace and name) its new
    /// definition (waiting for a pass that holds it); returns its state and whether the
    /// definition is new or changed. A changed definition is rendered again on the next pass.
    pub async fn upsert(&self, app: Application) -> (Arc<Mutex<AppState>>, bool) {
        let existing = self.state(app.namespace(), &app.metadata.name);
        match existing {
            Some(state) => {
                let changed = state.lock().await.redefine(app);
                (state, changed)
            }
            None => (self.insert(app), true),
        }
    }

    /// Removes an application (its objects stay); returns its state.
    pub fn remove(&self, namespace: &str, name: &str) -> Option<Arc<Mutex<AppState>>> {
        let id = applyset_id(name, namespace);
        let mut apps = self.apps.write().expect("apps lock");
        apps.order.retain(|x| *x != id);
        let key = apps.keys.remove(&id);
        let state = apps.by_id.remove(&id);
        drop(apps);
        self.fights.lock().expect("fights lock").remove(&id);
        // Never under the apps lock: `set_ownership` takes the two the other way round.
        if let Some((ns, name)) = key
            && let Some(o) = self.ownership.read().expect("ownership lock").as_ref()
        {
            o.application_removed(&crate::shard::app_key(&ns, &name));
        }
        state
    }

    /// Shares the work with other replicas: from now on only the applications `ownership`
    /// gives this replica are reconciled, healed or operated on.
    pub fn set_ownership(&self, ownership: Arc<dyn Ownership>) {
        // Under the ownership lock, so that an application added meanwhile is reported to
        // the new ownership by `insert`, after this.
        let mut slot = self.ownership.write().expect("ownership lock");
        for (ns, name) in self.apps.read().expect("apps lock").keys.values() {
            ownership.application_added(&crate::shard::app_key(ns, name));
        }
        *slot = Some(ownership);
    }

    /// The ownership set with [`Manager::set_ownership`].
    pub fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        self.ownership.read().expect("ownership lock").clone()
    }

    /// Whether this replica may work on the Application `namespace/name` (its own namespace,
    /// empty for one from a file without one) now.
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        self.ownership.read().expect("ownership lock").as_ref().is_none_or(|o| o.owns(namespace, name))
    }

    fn owns_id(&self, id: &str) -> bool {
        let key = self.apps.read().expect("apps lock").keys.get(id).cloned();
        key.is_some_and(|(ns, name)| self.owns(&ns, &name))
    }

    /// The applications (ApplySet ids) this replica owns now that it did not own at the last
    /// call (every owned one on the first call): reconcile them, they were just handed over.
    /// Those known at the last call count as handovers; new applications do not. Those owned
    /// at the last call, still known and no longer owned count as handed away
    /// ([`Manager::handed_away`]).
    pub fn claim(&self) -> BTreeSet<String> {
        let ids: Vec<String> = self.apps.read().expect("apps lock").order.clone();
        let now: HashSet<String> = ids.iter().filter(|id| self.owns_id(id)).cloned().collect();
        let known: HashSet<String> = ids.into_iter().collect();
        let mut owned = self.owned.lock().expect("owned lock");
        let gained: BTreeSet<String> = match owned.as_ref() {
            Some((before, known_before)) => {
                let g: BTreeSet<String> = now.difference(before).cloned().collect();
                let handed = g.iter().filter(|id| known_before.contains(*id)).count();
                self.handovers.fetch_add(handed as u64, Ordering::Relaxed);
                let away = before.iter().filter(|id| known.contains(*id) && !now.contains(*id)).count();
                self.handed_away.fetch_add(away as u64, Ordering::Relaxed);
                g
            }
            None => now.iter().cloned().collect(),
        };
        *owned = Some((now, known));
        gained
    }

    /// The Application's own namespace and name of an ApplySet id.
    pub fn key_of(&self, applyset: &str) -> Option<(String, String)> {
        self.apps.read().expect("apps lock").keys.get(applyset).cloned()
    }

    /// How many applications this replica owns now.
    pub fn owned_count(&self) -> usize {
        let ids: Vec<String> = self.apps.read().expect("apps lock").order.clone();
        ids.iter().filter(|id| self.owns_id(id)).count()
    }

    /// Applications handed over to this replica since it started (see [`Manager::claim`]).
    pub fn handovers(&self) -> u64 {
        self.handovers.load(Ordering::Relaxed)
    }

    /// Applications this replica owned and handed to another since it started (see
    /// [`Manager::claim`]); with [`Manager::handovers`] it accounts for what it owns now: after
    /// the first claim, owned = first share + handovers - handed away (for a set that does not
    /// change).
    pub fn handed_away(&self) -> u64 {
        self.handed_away.load(Ordering::Relaxed)
    }

    /// A receiver that changes with ownership (never without an ownership).
    pub fn ownership_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.ownership().map(|o| o.changed())
    }

    /// The reconciler.
    pub fn reconciler(&self) -> &Reconciler<S, R, D, C> {
        &self.reconciler
    }

    /// Reconciles every application once (fetch, render when inputs changed, sync),
    /// `concurrency` at a time.
    pub async fn reconcile_all(&self) -> Vec<PassResult> {
        self.reconcile_states(self.states()).await
    }

    /// Reconciles the applications of these ApplySet ids, `concurrency` at a time.
    pub async fn reconcile_some(&self, applysets: &BTreeSet<String>) -> Vec<PassResult> {
        let states: Vec<_> = {
            let apps = self.apps.read().expect("apps lock");
            applysets.iter().filter_map(|id| apps.by_id.get(id).cloned()).collect()
        };
        self.reconcile_states(states).await
    }

    /// [`Manager::reconcile_all`], calling `on_done` as each application's pass ends (for a
    /// progress bar).
    pub async fn reconcile_all_with(&self, on_done: &(dyn Fn(&PassResult) + Sync)) -> Vec<PassResult> {
        self.reconcile_states_with(self.states(), on_done).await
    }

    async fn reconcile_states(&self, states: Vec<Arc<Mutex<AppState>>>) -> Vec<PassResult> {
        self.reconcile_states_with(states, &|_| {}).await
    }

    async fn reconcile_states_with(
        &self,
        states: Vec<Arc<Mutex<AppState>>>,
        on_done: &(dyn Fn(&PassResult) + Sync),
    ) -> Vec<PassResult> {
        // One snapshot of each repository per pass: a fetch made for one application after
        // the pass began serves the others of the same repository.
        let pass = futures::stream::iter(states.into_iter().map(|state| {
            let reconciler = self.reconciler.clone();
            async move {
                let mut st = state.lock().await;
                if !self.owns_state(&st) {
                    return None;
                }
                let started = Instant::now();
                let app = st.app.metadata.name.clone();
                let result = reconciler.reconcile(&mut st).await;
                let pass = PassResult { app, result, started, duration: started.elapsed() };
                on_done(&pass);
                Some(pass)
            }
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect();
        gitops_core::stage::fresh_since(Instant::now(), pass).await
    }

    /// Whether this replica may work on the application of `st` now.
    pub fn owns_state(&self, st: &AppState) -> bool {
        self.owns(st.app.metadata.namespace.as_deref().unwrap_or(""), &st.app.metadata.name)
    }

    /// Reconciles one application now, by name (for a Git webhook or a user's "refresh");
    /// `None` when no application has that name.
    pub async fn reconcile_app(&self, name: &str) -> Option<PassResult> {
        for state in self.states() {
            let mut st = state.lock().await;
            if st.app.metadata.name == name && self.owns_state(&st) {
                let started = Instant::now();
                let result = self.reconciler.reconcile(&mut st).await;
                return Some(PassResult { app: name.to_string(), result, started, duration: started.elapsed() });
            }
        }
        None
    }

    /// Self-heals the given applications (those with `selfHeal`), skipping any whose
    /// self-heal is paused after a fight.
    pub async fn heal(&self, applysets: BTreeSet<String>) -> Vec<PassResult> {
        let now = Instant::now();
        let runnable: Vec<(String, Arc<Mutex<AppState>>)> = {
            let fights = self.fights.lock().expect("fights lock");
            let apps = self.apps.read().expect("apps lock");
            applysets
                .into_iter()
                .filter(|i| fights.get(i).and_then(|f| f.paused_until).is_none_or(|t| t <= now))
                .filter_map(|i| apps.by_id.get(&i).cloned().map(|s| (i, s)))
                .collect()
        };
        let results = futures::stream::iter(runnable.into_iter().map(|(i, state)| {
            let reconciler = self.reconciler.clone();
            async move {
                let mut st = state.lock().await;
                if !self.owns_state(&st) {
                    return None;
                }
                let started = Instant::now();
                let app = st.app.metadata.name.clone();
                let result = reconciler.self_heal(&mut st).await;
                let r = match result {
                    Ok(Some(r)) => Ok(r),
                    Ok(None) => Ok(SyncResult::default()),
                    Err(e) => Err(e),
                };
                Some((i, PassResult { app, result: r, started, duration: started.elapsed() }))
            }
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect::<Vec<_>>()
        .await;
        let mut out = Vec::with_capacity(results.len());
        for (i, pass) in results {
            if let Ok(r) = &pass.result
                && r.resources.iter().any(|x| matches!(x.action, Action::Created | Action::Updated))
            {
                self.record_write(&i, &pass.app, r).await;
            }
            out.push(pass);
        }
        out
    }

    async fn record_write(&self, id: &str, app: &str, r: &SyncResult) {
        let now = Instant::now();
        let note = {
            let mut fights = self.fights.lock().expect("fights lock");
            let f = fights.entry(id.to_string()).or_default();
            f.writes.push_back(now);
            while f.writes.front().is_some_and(|t| now.duration_since(*t) > self.options.fight_window) {
                f.writes.pop_front();
            }
            if f.writes.len() < self.options.fight_limit {
                return;
            }
            f.strikes += 1;
            let pause = Duration::from_secs(10u64.saturating_mul(1 << f.strikes.min(5)));
            f.paused_until = Some(now + pause);
            f.writes.clear();
            let objects: Vec<String> = r
                .resources
                .iter()
                .filter(|x| matches!(x.action, Action::Created | Action::Updated))
                .map(|x| format!("{} ({})", x.key, x.drift.join(", ")))
                .collect();
            format!(
                "self-heal paused for {}s: {} reverted {} times within {}s; another controller keeps changing {}",
                pause.as_secs(),
                app,
                self.options.fight_limit,
                self.options.fight_window.as_secs(),
                objects.join("; ")
            )
        };
        tracing::warn!(app, "{note}");
        let state = self.apps.read().expect("apps lock").by_id.get(id).cloned();
        if let Some(state) = state {
            state.lock().await.status.error = Some(note);
        }
    }

    /// Runs until `shutdown` completes: a full pass every `interval`, and self-heal of an
    /// application shortly after `changes` reports one of its objects changed or deleted.
    /// `on_pass` sees every pass's results (for logs and metrics).
    pub async fn run(
        &self,
        interval: Duration,
        mut changes: Option<broadcast::Receiver<Change>>,
        shutdown: impl std::future::Future<Output = ()>,
        mut on_pass: impl FnMut(&str, &[PassResult]),
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut owners = self.ownership_changes();
        self.claim();
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                Some(()) = ownership_changed(&mut owners) => {
                    let gained = self.claim();
                    if !gained.is_empty() {
                        let results = self.reconcile_some(&gained).await;
                        on_pass("handover", &results);
                    }
                }
                _ = tick.tick() => {
                    let results = self.reconcile_all().await;
                    on_pass("reconcile", &results);
                }
                change = recv(&mut changes) => {
                    let mut dirty = BTreeSet::new();
                    if let Some(c) = change {
                        dirty.insert(c.applyset);
                    }
                    // Debounce: collect what else changes in the next moment.
                    let until = tokio::time::Instant::now() + self.options.debounce;
                    while let Ok(Some(c)) = tokio::time::timeout_at(until, recv(&mut changes)).await {
                        dirty.insert(c.applyset);
                    }
                    if !dirty.is_empty() {
                        let results = self.heal(dirty).await;
                        on_pass("self-heal", &results);
                    }
                }
            }
        }
    }
}

/// Completes when ownership changed; pending forever without an ownership (or once its sender
/// is gone).
pub(crate) async fn ownership_changed(rx: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Option<()> {
    match rx {
        Some(r) => match r.changed().await {
            Ok(()) => Some(()),
            Err(_) => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// The next change, or pending forever without a change stream; a lagging receiver skips
/// what it missed (the next full pass covers it).
pub(crate) async fn recv(changes: &mut Option<broadcast::Receiver<Change>>) -> Option<Change> {
    match changes {
        None => std::future::pending().await,
        Some(rx) => loop {
            match rx.recv().await {
                Ok(c) => return Some(c),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    *changes = None;
                    return std::future::pending().await;
                }
            }
        },
    }
}
