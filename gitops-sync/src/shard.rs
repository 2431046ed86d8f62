//! Applications sharded across agent replicas, with Kubernetes itself as the coordinator.
//!
//! Each replica holds a `coordination.k8s.io/v1` Lease named after itself and labelled as a
//! member of its agent group ([`GROUP_LABEL`]); the members are the Leases seen renewed within
//! their duration. Each Application is owned by one member, chosen by rendezvous
//! (highest-random-weight) hashing of its `namespace/name` over the member names
//! ([`rendezvous_owner`]), so a change of membership moves only the applications of the
//! replica that came or went.
//!
//! # Handover without two writers
//!
//! - A replica stops working on an application as soon as its view of the members says another
//!   replica owns it. Views are refreshed (one list of the group's Leases) with every renewal.
//! - A replica that gains an application from a member that is gone (its Lease expired or was
//!   released) starts at once: a member stops writing before its Lease can have expired for the
//!   others (below). One that gains it from a member still alive (a replica joined, or came
//!   back) waits one Lease duration first: the old owner sees the new member at its next
//!   renewal (a fraction of a Lease duration) and finishes the pass it is in. This was chosen
//!   over a per-application hand-off record because it costs no write per application (moving
//!   a third of 2,000 applications would be 700 writes) and keeps the API server the only
//!   party; the price is one Lease duration of latency for the moved applications only when a
//!   replica joins.
//! - A replica fences itself: when no renewal (with the list that follows it) has succeeded
//!   for `renew_deadline` (shorter than the Lease duration), it owns nothing. The others
//!   count a Lease as expired one Lease duration after they last saw it change, measured on
//!   their own clocks (as client-go's leader election does, so clock skew does not matter), so
//!   the fenced replica stopped at least `lease_duration - renew_deadline` earlier.
//! - On shutdown ([`Membership::release`]) the replica stops, then deletes its Lease: the
//!   others take over at their next renewal without waiting for expiry.
//!
//! # Balance
//!
//! Rendezvous hashing alone gives each application to each of `M` members with probability
//! `1/M`, independently, so shares are binomial: with 300 applications over 3 replicas, 100
//! each give or take 8, and the largest share exceeds 1.3x the smallest for about one set of
//! names in six. Shares are therefore bounded ([`balanced_overrides`]): the applications are
//! taken in an order fixed by their hashes, and each goes to the first member in its
//! rendezvous order that holds fewer than `ceil(1.05 N / M)`. So the largest share is at most
//! 1.05 N/M and the smallest at least `N - (M-1)` times that (with 3 replicas, at most 1.17x
//! apart). Only the applications whose owner differs from their rendezvous owner (those that
//! overflowed, a few percent) depend on the others; a change of membership moves the
//! applications of the replica that came or went, plus those few.
//!
//! The assignment depends on the set of applications, which replicas see at slightly different
//! times through their own watches, so it is not computed by each replica for itself: every
//! member publishes the overrides it computes in its Lease ([`ASSIGNMENT_ANNOTATION`], with the
//! members it computed them for), and all follow those of the lowest-named live member.
//! Ownership is thus a function of the Leases, read with every renewal, and a change of the
//! overrides is handed over exactly as a change of membership is (above): a replica that gains
//! an application from a live member waits one Lease duration, while the old owner sees the
//! new overrides at its next renewal or fences itself. An application the published overrides
//! do not name yet is its rendezvous owner's. Until the lowest member has published overrides
//! for the members a replica sees (at most one renewal period after a change of membership),
//! the replica computes them itself from its own view of the applications: replicas with the
//! same view agree, so a member that leaves hands its applications straight to their final
//! owners, without a second move.
//!
//! [`StaticShards`] is the fixed alternative (`--shard N --shards M`, as Argo CD's
//! `ARGOCD_CONTROLLER_SHARD`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The label that makes a Lease a member of an agent group; its value is the group's name.
pub const GROUP_LABEL: &str = "gitops.dev/agent-group";

/// The Lease annotation in which a member publishes the overrides it computed
/// ([`balanced_overrides`]), as a JSON object from application key to member.
pub const ASSIGNMENT_ANNOTATION: &str = "gitops.dev/assignment";

/// Overrides of rendezvous ownership, from application key to member.
pub type Overrides = BTreeMap<String, String>;

/// Who may work on which application.
pub trait Ownership: Send + Sync {
    /// Whether this replica may work on the application `namespace/name` now.
    fn owns(&self, namespace: &str, name: &str) -> bool;
    /// Changes with every change of ownership (a new view of the members, a waiting period
    /// that ended, the replica fenced or back); receivers learn to look again.
    fn changed(&self) -> tokio::sync::watch::Receiver<u64>;
    /// The owner of an application as this replica sees it, for status pages.
    fn owner(&self, namespace: &str, name: &str) -> Option<String>;
    /// An application now exists (its [`app_key`]): an ownership that balances shares counts it.
    fn application_added(&self, _key: &str) {}
    /// An application no longer exists.
    fn application_removed(&self, _key: &str) {}
}

/// The rendezvous weight of `member` for `key`: the first 8 bytes of SHA-256 over both (stable
/// across versions and platforms, so the `app` client computes the same owners).
fn weight(member: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The member of highest weight for `key` (ties broken by name), `None` without members.
pub fn rendezvous_owner<'a, I>(key: &str, members: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    members.into_iter().map(|m| (weight(m, key), m)).max().map(|(_, m)| m)
}

/// Bounded loads over rendezvous hashing: each key, in the order of its own hash, goes to the
/// first member in its rendezvous order (highest weight first) that holds fewer than
/// `ceil(1.05 N / M)` keys. Returns the keys whose owner is not their rendezvous owner.
pub fn balanced_overrides<'a, K>(keys: K, members: &[String]) -> Overrides
where
    K: IntoIterator<Item = &'a str>,
{
    let mut out = Overrides::new();
    if members.len() < 2 {
        return out;
    }
    let mut order: Vec<(u64, &str)> = keys.into_iter().map(|k| (weight("", k), k)).collect();
    order.sort_unstable();
    order.dedup();
    let (n, m) = (order.len(), members.len());
    let cap = (n * 105).div_ceil(100 * m).max(1);
    let mut load = vec![0usize; m];
    for (_, key) in order {
        let mut ranked: Vec<(u64, usize)> = (0..m).map(|i| (weight(&members[i], key), i)).collect();
        // Highest weight first; ties by name, as `rendezvous_owner` breaks them.
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| members[b.1].cmp(&members[a.1])));
        let chosen = ranked.iter().map(|&(_, i)| i).find(|&i| load[i] < cap).unwrap_or(ranked[0].1);
        load[chosen] += 1;
        if chosen != ranked[0].1 {
            out.insert(key.to_string(), members[chosen].clone());
        }
    }
    out
}

/// The owner of `key` among `members` (sorted or not): its override when that names a member,
/// otherwise its rendezvous owner.
pub fn owner_with<'a>(key: &str, members: &'a [String], overrides: &Overrides) -> Option<&'a str> {
    if let Some(o) = overrides.get(key)
        && let Some(m) = members.iter().find(|m| *m == o)
    {
        return Some(m);
    }
    rendezvous_owner(key, members.iter().map(String::as_str))
}

/// What a member publishes in its Lease: the overrides it computed, and over which members.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The members (sorted) the overrides were computed for.
    pub members: Vec<String>,
    /// The overrides.
    pub overrides: Overrides,
}

/// What a Lease publishes (`None` when it has no readable annotation).
pub fn published(lease: &k8s_openapi::api::coordination::v1::Lease) -> Option<Published> {
    let text = lease.metadata.annotations.as_ref()?.get(ASSIGNMENT_ANNOTATION)?;
    serde_json::from_str(text).ok()
}

/// The overrides the group follows, when its lowest-named live member published them for
/// exactly these `members` (sorted); `None` otherwise (then compute them, as the replicas do
/// until it has).
pub fn group_overrides(leases: &[k8s_openapi::api::coordination::v1::Lease], members: &[String]) -> Option<Overrides> {
    let lowest = members.first()?;
    let p = leases.iter().find(|l| l.metadata.name.as_ref() == Some(lowest)).and_then(published)?;
    (p.members == members).then_some(p.overrides)
}

/// The key of an Application: its own namespace and name.
pub fn app_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The members of an agent group as one reading of its Leases shows them, for clients that
/// show owners (`app list -o wide`): Leases whose `renewTime` plus duration is after `now`.
/// (The replicas themselves judge expiry on their own clocks, see the module.)
pub fn members_at(leases: &[k8s_openapi::api::coordination::v1::Lease], now: std::time::SystemTime) -> Vec<String> {
    let now = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let mut members: Vec<String> = leases
        .iter()
        .filter(|l| {
            let Some(spec) = &l.spec else { return false };
            let renewed = spec.renew_time.as_ref().map(|t| t.0.as_second() as f64);
            let duration = spec.lease_duration_seconds.unwrap_or(15) as f64;
            renewed.is_some_and(|r| r + duration > now)
        })
        .filter_map(|l| l.metadata.name.clone())
        .collect();
    members.sort();
    members
}

/// Fixed shards: replica `shard` of `shards` owns the applications whose rendezvous winner
/// among `shard-0 .. shard-(M-1)` is its own.
pub struct StaticShards {
    shard: usize,
    names: Vec<String>,
    tx: tokio::sync::watch::Sender<u64>,
}

impl StaticShards {
    /// Replica `shard` (from 0) of `shards`; an error when `shard >= shards` or `shards` is 0.
    pub fn new(shard: usize, shards: usize) -> Result<Self, String> {
        if shards == 0 || shard >= shards {
            return Err(format!("shard {shard} is not one of 0..{shards}"));
        }
        Ok(Self {
            shard,
            names: (0..shards).map(|i| format!("shard-{i}")).collect(),
            tx: tokio::sync::watch::channel(0).0,
        })
    }
}

impl Ownership for StaticShards {
    fn owns(&self, namespace: &str, name: &str) -> bool {
        self.owner(namespace, name).as_deref() == Some(self.names[self.shard].as_str())
    }
    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }
    fn owner(&self, namespace: &str, name: &str) -> Option<String> {
        rendezvous_owner(&app_key(namespace, name), self.names.iter().map(String::as_str)).map(str::to_string)
    }
}

/// How a [`Membership`] paces itself (client-go's leader election defaults).
#[derive(Clone, Debug)]
pub struct MembershipOptions {
    /// The namespace of the Leases.
    pub namespace: String,
    /// The agent group (the [`GROUP_LABEL`] value): replicas of one group share the work.
    pub group: String,
    /// This replica's name (its Lease's name and holder identity), e.g. the pod name.
    pub identity: String,
    /// How long a Lease lives without renewal.
    pub lease_duration: Duration,
    /// A replica owns nothing when no renewal succeeded for this long (shorter than
    /// `lease_duration`).
    pub renew_deadline: Duration,
    /// Time between renewals (and views of the members).
    pub retry_period: Duration,
}

impl MembershipOptions {
    /// Options with the defaults: 15 s Leases, 10 s renew deadline, renewal every 2 s.
    pub fn new(namespace: &str, group: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.into(),
            group: group.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The same with shorter times (`lease`; deadline 2/3 and period 1/6 of it), for tests.
    pub fn with_lease_duration(mut self, lease: Duration) -> Self {
        self.lease_duration = lease;
        self.renew_deadline = lease * 2 / 3;
        self.retry_period = lease / 6;
        self
    }
}

/// Counters of a [`Membership`], for metrics.
#[derive(Clone, Debug, Default)]
pub struct MembershipStats {
    /// Renewals that succeeded.
    pub renewals: u64,
    /// Renewals that failed.
    pub renew_failures: u64,
    /// The last successful renewal's latency.
    pub last_renew_latency: Duration,
    /// The sum of successful renewals' latencies (with `renewals`, the mean).
    pub renew_latency_total: Duration,
    /// Times the view of the members changed.
    pub view_changes: u64,
    /// The members now seen (this replica included when it is not fenced).
    pub members: Vec<String>,
    /// Whether this replica is fenced (owns nothing).
    pub fenced: bool,
}

/// A change of view: until `ready_at`, applications that moved from a member still alive to
/// this replica wait.
struct ViewChange {
    ready_at: Instant,
    before: Vec<String>,
    before_overrides: Arc<Published>,
}

/// Another member's Lease as last seen.
struct Seen {
    resource_version: String,
    /// When this replica saw the Lease change last, on its own clock.
    at: Instant,
    duration: Duration,
    published: Option<Arc<Published>>,
}

struct View {
    /// Other members' Leases by name.
    seen: HashMap<String, Seen>,
    /// The members (sorted), this replica included while it is not fenced.
    members: Vec<String>,
    /// The overrides the group follows (the lowest-named member's), shared, not copied.
    overrides: Arc<Published>,
    /// What this replica computed and published last.
    own: Arc<Published>,
    /// Until when this replica may work (last complete renewal + renew deadline).
    valid_until: Option<Instant>,
    changes: Vec<ViewChange>,
    released: bool,
    stats: MembershipStats,
}

/// Dynamic membership through Leases (see the module's documentation).
pub struct Membership {
    options: MembershipOptions,
    leases: Api<k8s_openapi::api::coordination::v1::Lease>,
    view: Mutex<View>,
    /// The applications there are, as the manager reports them ([`Ownership::application_added`]).
    keys: Mutex<BTreeSet<String>>,
    tx: tokio::sync::watch::Sender<u64>,
    observer: Mutex<Option<RenewObserver>>,
}

/// Sees every renewal: its latency and whether it succeeded.
pub type RenewObserver = Arc<dyn Fn(Duration, bool) + Send + Sync>;

/// A Lease's `MicroTime`.
fn micro_time(t: std::time::SystemTime) -> String {
    gitops_core::time::rfc3339_micros(t)
}

impl Membership {
    /// A membership over `client` (nothing is written until [`Membership::renew`] or
    /// [`Membership::run`]).
    pub fn new(client: kube::Client, options: MembershipOptions) -> Arc<Self> {
        let leases = Api::namespaced(client, &options.namespace);
        Arc::new(Self {
            options,
            leases,
            view: Mutex::new(View {
                seen: HashMap::new(),
                members: Vec::new(),
                overrides: Default::default(),
                own: Default::default(),
                valid_until: None,
                changes: Vec::new(),
                released: false,
                stats: MembershipStats::default(),
            }),
            keys: Mutex::new(BTreeSet::new()),
            tx: tokio::sync::watch::channel(0).0,
            observer: Mutex::new(None),
        })
    }

    /// Calls `observer` after every renewal (for metrics).
    pub fn set_observer(&self, observer: RenewObserver) {
        *self.observer.lock().expect("observer lock") = Some(observer);
    }

    fn observed(&self, took: Duration, ok: bool) {
        let observer = self.observer.lock().expect("observer lock").clone();
        if let Some(o) = observer {
            o(took, ok);
        }
    }

    /// The options.
    pub fn options(&self) -> &MembershipOptions {
        &self.options
    }

    /// The counters.
    pub fn stats(&self) -> MembershipStats {
        self.view.lock().expect("view lock").stats.clone()
    }

    /// The members now seen.
    pub fn members(&self) -> Vec<String> {
        self.view.lock().expect("view lock").members.clone()
    }

    fn notify(&self) {
        self.tx.send_modify(|g| *g += 1);
    }

    /// [`balanced_overrides`] over the applications this replica knows.
    fn compute(&self, members: &[String]) -> Overrides {
        let keys = self.keys.lock().expect("keys lock");
        balanced_overrides(keys.iter().map(String::as_str), members)
    }

    /// Renews (or creates) this replica's Lease, then reads the group's Leases; both must
    /// succeed for the renewal to count.
    pub async fn renew(&self) -> Result<(), kube::Error> {
        if self.view.lock().expect("view lock").released {
            return Ok(());
        }
        let started = Instant::now();
        let now = micro_time(std::time::SystemTime::now());
        let o = &self.options;
        // The overrides over the members as last seen, this replica counted in.
        let own = {
            let mut members = self.view.lock().expect("view lock").members.clone();
            if !members.contains(&o.identity) {
                members.push(o.identity.clone());
                members.sort();
            }
            let overrides = self.compute(&members);
            Published { members, overrides }
        };
        let annotation = serde_json::to_string(&own).unwrap_or_else(|_| "{}".into());
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {
                "name": o.identity, "namespace": o.namespace,
                "labels": {GROUP_LABEL: o.group},
                "annotations": {ASSIGNMENT_ANNOTATION: annotation},
            },
            "spec": {
                "holderIdentity": o.identity,
                "leaseDurationSeconds": o.lease_duration.as_secs_f64().ceil() as i64,
                "renewTime": now,
            },
        });
        let params = PatchParams::apply("gitops-agent-membership").force();
        let result = async {
            self.leases.patch(&o.identity, &params, &Patch::Apply(&lease)).await?;
            self.leases.list(&ListParams::default().labels(&format!("{GROUP_LABEL}={}", o.group))).await
        }
        .await;
        let list = match result {
            Ok(list) => list,
            Err(e) => {
                self.view.lock().expect("view lock").stats.renew_failures += 1;
                self.observed(started.elapsed(), false);
                self.expire();
                return Err(e);
            }
        };
        let latency = started.elapsed();
        self.observed(latency, true);
        let mut view = self.view.lock().expect("view lock");
        if view.released {
            return Ok(());
        }
        view.stats.renewals += 1;
        view.stats.last_renew_latency = latency;
        view.stats.renew_latency_total += latency;
        view.valid_until = Some(started + o.renew_deadline);
        view.own = Arc::new(own);
        let observed = Instant::now();
        let mut present = BTreeSet::new();
        for l in list {
            let Some(name) = l.metadata.name.clone() else { continue };
            if name == o.identity {
                continue;
            }
            let rv = l.metadata.resource_version.clone().unwrap_or_default();
            let duration = l
                .spec
                .as_ref()
                .and_then(|s| s.lease_duration_seconds)
                .map_or(o.lease_duration, |s| Duration::from_secs(s.max(1) as u64));
            present.insert(name.clone());
            match view.seen.get_mut(&name) {
                Some(e) if e.resource_version == rv => e.duration = duration,
                _ => {
                    let published = published(&l).map(Arc::new);
                    view.seen.insert(name, Seen { resource_version: rv, at: observed, duration, published });
                }
            }
        }
        view.seen.retain(|n, _| present.contains(n));
        drop(view);
        self.expire();
        Ok(())
    }

    /// Recomputes the members (expiries, this replica's own validity) and records a change.
    fn expire(&self) {
        let now = Instant::now();
        let mut view = self.view.lock().expect("view lock");
        let mut members: Vec<String> =
            view.seen.iter().filter(|(_, e)| now.duration_since(e.at) < e.duration).map(|(n, _)| n.clone()).collect();
        let fenced = view.released || view.valid_until.is_none_or(|v| now >= v);
        if !fenced {
            members.push(self.options.identity.clone());
        }
        members.sort();
        let ended = view.changes.iter().any(|c| c.ready_at <= now);
        view.changes.retain(|c| c.ready_at > now);
        // The lowest-named member's overrides (this replica's own when it is that member), when
        // they were computed for these members; otherwise this replica's own computation.
        let published = match members.first() {
            Some(lowest) if *lowest == self.options.identity => Some(view.own.clone()),
            Some(lowest) => view.seen.get(lowest).and_then(|e| e.published.clone()),
            None => None,
        };
        let overrides = match published {
            Some(p) if p.members == members => p,
            _ => Arc::new(Published { overrides: self.compute(&members), members: members.clone() }),
        };
        let changed = members != view.members || fenced != view.stats.fenced || overrides != view.overrides;
        if changed {
            let mut before = std::mem::replace(&mut view.members, members.clone());
            let before_overrides = std::mem::replace(&mut view.overrides, overrides);
            // Joining (first view, or back from fenced): what this replica gains was the
            // others' until now, whether or not it saw them before.
            if !before.contains(&self.options.identity) {
                before = members.iter().filter(|m| **m != self.options.identity).cloned().collect();
            }
            view.changes.push(ViewChange { ready_at: now + self.options.lease_duration, before, before_overrides });
            view.stats.view_changes += 1;
            view.stats.members = members;
            if fenced != view.stats.fenced {
                if fenced {
                    tracing::warn!(identity = %self.options.identity, "Lease not renewed in time: this replica stops working until it is");
                } else {
                    tracing::info!(identity = %self.options.identity, "Lease held: this replica works on its share");
                }
            }
            view.stats.fenced = fenced;
            tracing::info!(identity = %self.options.identity, members = ?view.members, "members of the agent group changed");
        }
        drop(view);
        if changed || ended {
            self.notify();
        }
    }

    /// Renews every `retry_period` until `shutdown`, then releases.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.options.retry_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    // Bounded: a client that retries (503s, a partition) must not hold up
                    // the fencing, which is judged on every tick.
                    let limit = self.options.renew_deadline / 2;
                    match tokio::time::timeout(limit, self.renew()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(identity = %self.options.identity, error = %e, "could not renew the Lease")
                        }
                        Err(_) => {
                            self.view.lock().expect("view lock").stats.renew_failures += 1;
                            self.observed(limit, false);
                            tracing::warn!(identity = %self.options.identity, "renewing the Lease timed out");
                        }
                    }
                    self.expire();
                }
            }
        }
        self.release().await;
    }

    /// Stops working at once and deletes the Lease, so the others take over without waiting
    /// for it to expire.
    pub async fn release(&self) {
        {
            let mut view = self.view.lock().expect("view lock");
            view.released = true;
            view.valid_until = None;
        }
        self.expire();
        match self.leases.delete(&self.options.identity, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(identity = %self.options.identity, "Lease released"),
            Err(e) => tracing::warn!(identity = %self.options.identity, error = %e, "could not release the Lease"),
        }
    }

    /// Spawns [`Membership::run`] on the runtime; the task ends (releasing) when `shutdown`
    /// completes.
    pub fn spawn(
        self: &Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(me.run(shutdown))
    }
}

impl Ownership for Membership {
    fn owns(&self, namespace: &str, name: &str) -> bool {
        let now = Instant::now();
        let view = self.view.lock().expect("view lock");
        if view.stats.fenced || view.valid_until.is_none_or(|v| now >= v) {
            return false;
        }
        let key = app_key(namespace, name);
        let me = self.options.identity.as_str();
        if owner_with(&key, &view.members, &view.overrides.overrides) != Some(me) {
            return false;
        }
        // Moved here from a member still alive: wait until that member surely stopped.
        !view.changes.iter().filter(|c| c.ready_at > now).any(|c| {
            owner_with(&key, &c.before, &c.before_overrides.overrides)
                .is_some_and(|prev| prev != me && view.members.iter().any(|m| m == prev))
        })
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }

    fn owner(&self, namespace: &str, name: &str) -> Option<String> {
        let view = self.view.lock().expect("view lock");
        owner_with(&app_key(namespace, name), &view.members, &view.overrides.overrides).map(str::to_string)
    }

    fn application_added(&self, key: &str) {
        self.keys.lock().expect("keys lock").insert(key.to_string());
    }

    fn application_removed(&self, key: &str) {
        self.keys.lock().expect("keys lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_leaving_moves_only_its_applications() {
        let before = ["a", "b", "c"];
        let after = ["a", "c"];
        for i in 0..500 {
            let key = format!("argocd/app-{i}");
            let was = rendezvous_owner(&key, before).unwrap();
            let now = rendezvous_owner(&key, after).unwrap();
            if was != "b" {
                assert_eq!(was, now, "{key} moved though its owner stayed");
            }
        }
    }

    #[test]
    fn a_member_joining_takes_only_from_the_others() {
        let before = ["a", "b"];
        let after = ["a", "b", "c"];
        let mut moved = 0;
        for i in 0..600 {
            let key = format!("team-{}/svc-{i}", i % 7);
            let was = rendezvous_owner(&key, before).unwrap();
            let now = rendezvous_owner(&key, after).unwrap();
            if was != now {
                assert_eq!(now, "c");
                moved += 1;
            }
        }
        // About a third moves.
        assert!((150..250).contains(&moved), "{moved} of 600 moved");
    }

    /// The weights spread as uniformly random choices do: with 3 members and 300 keys, the
    /// largest share exceeds 1.3x the smallest for about 16% of random sets of names (a
    /// binomial fact, not a property of the hash); a biased hash would do much worse.
    #[test]
    fn the_spread_is_that_of_uniform_random_choice() {
        let mut over = 0;
        let sets = 400;
        for s in 0..sets {
            let members = [format!("agent-{s}-x"), format!("agent-{s}-y"), format!("agent-{s}-z")];
            let mut counts = HashMap::new();
            for i in 0..300 {
                let key = format!("ns-{s}/app-{i}");
                *counts.entry(rendezvous_owner(&key, members.iter().map(String::as_str)).unwrap()).or_insert(0) += 1;
            }
            let max = *counts.values().max().unwrap() as f64;
            let min = *counts.values().min().unwrap_or(&0) as f64;
            if counts.len() < 3 || max > 1.3 * min {
                over += 1;
            }
        }
        let share = over as f64 / sets as f64;
        assert!(share < 0.25, "{share} of the sets are unbalanced");
    }

    fn shares(keys: &[String], members: &[String], overrides: &Overrides) -> HashMap<String, usize> {
        let mut counts: HashMap<String, usize> = members.iter().map(|m| (m.clone(), 0)).collect();
        for k in keys {
            *counts.get_mut(owner_with(k, members, overrides).unwrap()).unwrap() += 1;
        }
        counts
    }

    /// With bounded loads, every set of 300 names over 3 members (and 2,000 over 4) is within
    /// 1.3x: the bound is a guarantee, not a likelihood. The overrides are few.
    #[test]
    fn bounded_loads_balance_every_set_of_names() {
        for (sets, n, m) in [(300, 300, 3), (10, 2000, 4), (100, 7, 3)] {
            let mut most_overridden = 0;
            for s in 0..sets {
                let members: Vec<String> = (0..m).map(|i| format!("agent-{s}-{i}")).collect();
                let keys: Vec<String> = (0..n).map(|i| format!("ns-{}/app-{s}-{i}", i % 5)).collect();
                let overrides = balanced_overrides(keys.iter().map(String::as_str), &members);
                let counts = shares(&keys, &members, &overrides);
                assert_eq!(counts.values().sum::<usize>(), n);
                let max = *counts.values().max().unwrap();
                let min = *counts.values().min().unwrap();
                let cap = (n * 105).div_ceil(100 * m);
                assert!(max <= cap, "set {s}: {counts:?} over the cap {cap}");
                if n >= 300 {
                    assert!(max as f64 <= 1.3 * min as f64, "set {s}: {counts:?}");
                }
                most_overridden = most_overridden.max(overrides.len());
            }
            // Overflow only: a small part of the keys (any part of 7 may be).
            eprintln!("{n} keys over {m}: at most {most_overridden} overridden");
            assert!(n < 300 || most_overridden * 10 <= n, "{most_overridden} of {n} overridden");
        }
    }

    /// A member leaving moves its applications and, of the others, only the few whose
    /// overrides change.
    #[test]
    fn bounded_loads_move_little_when_a_member_leaves() {
        let keys: Vec<String> = (0..300).map(|i| format!("argocd/app-{i}")).collect();
        let before: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let after: Vec<String> = ["a", "c"].map(String::from).to_vec();
        let ob = balanced_overrides(keys.iter().map(String::as_str), &before);
        let oa = balanced_overrides(keys.iter().map(String::as_str), &after);
        let mut others_moved = 0;
        for k in &keys {
            let was = owner_with(k, &before, &ob).unwrap();
            let now = owner_with(k, &after, &oa).unwrap();
            if was != "b" && was != now {
                others_moved += 1;
            }
        }
        assert!(others_moved <= 30, "{others_moved} of the staying members' applications moved");
        // Overrides that name a member who left are not followed.
        let gone = Overrides::from([("argocd/app-1".to_string(), "b".to_string())]);
        assert_eq!(owner_with("argocd/app-1", &after, &gone), rendezvous_owner("argocd/app-1", ["a", "c"]));
    }

    #[test]
    fn the_group_follows_its_lowest_member() {
        use k8s_openapi::api::coordination::v1::Lease;
        let lease = |name: &str, annotation: &str| -> Lease {
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": {ASSIGNMENT_ANNOTATION: annotation}},
            }))
            .unwrap()
        };
        let leases = [
            lease("b", r#"{"members": ["b", "c"], "overrides": {"x/1": "c"}}"#),
            lease("a", r#"{"members": ["a", "b", "c"], "overrides": {"x/2": "b"}}"#),
            lease("c", "not json"),
        ];
        let members = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(group_overrides(&leases, &members), Some(Overrides::from([("x/2".into(), "b".into())])));
        assert_eq!(group_overrides(&leases, &members[1..]), Some(Overrides::from([("x/1".into(), "c".into())])));
        assert_eq!(group_overrides(&leases, &members[2..]), None, "an unreadable annotation");
        // Published for other members than those seen now: not followed.
        assert_eq!(group_overrides(&leases, &["a".to_string(), "c".to_string()]), None);
    }

    #[test]
    fn static_shards_split_everything_once() {
        let shards: Vec<StaticShards> = (0..4).map(|i| StaticShards::new(i, 4).unwrap()).collect();
        for i in 0..200 {
            let owners = shards.iter().filter(|s| s.owns("argocd", &format!("app-{i}"))).count();
            assert_eq!(owners, 1);
        }
        assert!(StaticShards::new(4, 4).is_err());
        assert!(StaticShards::new(0, 0).is_err());
    }
}
