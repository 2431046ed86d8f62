//! [`KubeCluster`]: the [`Cluster`] trait over kube-client, with cached discovery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use gitops_core::{
    ApplyOptions, Cluster, GroupVersionKind, Object, Propagation, ResourceInfo, WatchEvent, WatchStream,
};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, WatchParams};
use kube::core::{ApiResource, GroupVersion};
use kube::discovery::Scope;

use crate::cache::{Change, LiveCache};

/// An error from the cluster, keeping the server's code and reason.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server answered with an error Status.
    #[error("{gvk} {name}: {message} ({reason}, {code})")]
    Api {
        /// The kind.
        gvk: String,
        /// `namespace/name` or the collection.
        name: String,
        /// HTTP code.
        code: u16,
        /// Status reason.
        reason: String,
        /// Status message.
        message: String,
    },
    /// The cluster does not serve the kind.
    #[error("the cluster does not serve {0}")]
    UnknownKind(String),
    /// Transport or decoding failure.
    #[error("{0}")]
    Client(String),
}

impl ClusterError {
    /// The HTTP code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Served resources per (group, version), with whether each is namespaced.
type DiscoveryCache = HashMap<(String, String), Vec<(ApiResource, bool)>>;

/// [`Cluster`] over a kube client.
///
/// With [`KubeCluster::with_cache`], reads (`get`, `list`) are answered from a live-state cache
/// fed by one kube-runtime watcher per kind, started the first time a kind is read; writes go
/// to the server and are recorded in the cache at once. Without it, every read is a request.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    discovery: Arc<Mutex<DiscoveryCache>>,
    cache: Option<Arc<LiveCache>>,
}

impl KubeCluster {
    /// Wraps a client; every read goes to the server.
    pub fn new(client: kube::Client) -> Self {
        KubeCluster { client, discovery: Arc::default(), cache: None }
    }

    /// Wraps a client, with reads served from a watch-fed cache (needs a Tokio runtime).
    pub fn with_cache(client: kube::Client) -> Self {
        Self::with_cache_timeout(client, std::time::Duration::from_secs(10))
    }

    /// As [`KubeCluster::with_cache`], waiting at most `sync_timeout` for a kind's first list;
    /// a kind that cannot be listed in time (no permission, say) is read from the server.
    pub fn with_cache_timeout(client: kube::Client, sync_timeout: std::time::Duration) -> Self {
        KubeCluster { client, discovery: Arc::default(), cache: Some(Arc::new(LiveCache::new(sync_timeout))) }
    }

    /// A client of another cluster with its own watch-fed cache whose changes are reported
    /// in `with`'s [`KubeCluster::changes`] stream (without a cache there, in a stream of its
    /// own): self-heal then hears every destination cluster through one stream.
    pub fn with_cache_reporting_to(client: kube::Client, with: &KubeCluster) -> Self {
        let timeout = with.cache.as_ref().map_or(std::time::Duration::from_secs(10), |c| c.sync_timeout);
        let cache = match &with.cache {
            Some(c) => LiveCache::reporting_to(timeout, c.sender()),
            None => LiveCache::new(timeout),
        };
        KubeCluster { client, discovery: Arc::default(), cache: Some(Arc::new(cache)) }
    }

    /// Changes to objects that carry an ApplySet membership label, as the cache's watches see
    /// them (`None` without the cache). Self-heal listens to this.
    pub fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        self.cache.as_ref().map(|c| c.subscribe())
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Forgets cached discovery (after a CRD is installed).
    pub fn refresh(&self) {
        self.discovery.lock().expect("discovery lock").clear();
    }

    async fn api_resource(&self, gvk: &GroupVersionKind) -> Result<Option<(ApiResource, bool)>, ClusterError> {
        let key = (gvk.group.clone(), gvk.version.clone());
        let cached = self.discovery.lock().expect("discovery lock").get(&key).cloned();
        let resources = match cached {
            Some(r) if r.iter().any(|(ar, _)| ar.kind == gvk.kind) => r,
            _ => {
                let gv = GroupVersion { group: gvk.group.clone(), version: gvk.version.clone() };
                let group = match kube::discovery::pinned_group(&self.client, &gv).await {
                    Ok(g) => g,
                    Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
                    Err(e) => return Err(ClusterError::Client(e.to_string())),
                };
                let list: Vec<(ApiResource, bool)> = group
                    .versioned_resources(&gvk.version)
                    .into_iter()
                    .map(|(ar, caps)| (ar, caps.scope == Scope::Namespaced))
                    .collect();
                self.discovery.lock().expect("discovery lock").insert(key, list.clone());
                list
            }
        };
        Ok(resources.into_iter().find(|(ar, _)| ar.kind == gvk.kind))
    }

    async fn api(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
    ) -> Result<(Api<DynamicObject>, ApiResource, bool), ClusterError> {
        let (ar, namespaced) =
            self.api_resource(gvk).await?.ok_or_else(|| ClusterError::UnknownKind(gvk.to_string()))?;
        let api = match (namespaced, namespace) {
            (true, Some(ns)) if !ns.is_empty() => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        Ok((api, ar, namespaced))
    }
}

fn api_error(gvk: &GroupVersionKind, name: &str, e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(s) => ClusterError::Api {
            gvk: gvk.to_string(),
            name: name.into(),
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => ClusterError::Client(other.to_string()),
    }
}

/// A dynamic object as an [`Object`], with the `apiVersion` and `kind` a list item may lack.
pub(crate) fn to_object(d: DynamicObject, ar: &ApiResource) -> Result<Object, ClusterError> {
    // The body (spec, status, data ...) is already a JSON value: moved, not serialized again;
    // only the typed metadata is.
    let mut m = match d.data {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let metadata = serde_json::to_value(&d.metadata).map_err(|e| ClusterError::Client(e.to_string()))?;
    m.insert("metadata".into(), metadata);
    if let Some(t) = d.types {
        m.insert("apiVersion".into(), t.api_version.into());
        m.insert("kind".into(), t.kind.into());
    }
    m.entry("apiVersion").or_insert_with(|| ar.api_version.clone().into());
    m.entry("kind").or_insert_with(|| ar.kind.clone().into());
    Object::from_value(serde_json::Value::Object(m).into()).map_err(|e| ClusterError::Client(e.to_string()))
}

#[async_trait]
impl Cluster for KubeCluster {
    type Error = ClusterError;

    fn is_transient(&self, error: &ClusterError) -> bool {
        matches!(error.code(), Some(409 | 429 | 500 | 502 | 503 | 504))
    }

    async fn resource(&self, gvk: &GroupVersionKind) -> Result<Option<ResourceInfo>, ClusterError> {
        Ok(self.api_resource(gvk).await?.map(|(ar, namespaced)| ResourceInfo {
            gvk: gvk.clone(),
            plural: ar.plural,
            namespaced,
        }))
    }

    async fn get(&self, gvk: &GroupVersionKind, namespace: &str, name: &str) -> Result<Option<Object>, ClusterError> {
        let (api, ar, _) = self.api(gvk, Some(namespace)).await?;
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(&self.client, gvk, &ar, namespace, name).await
        {
            return Ok(hit);
        }
        match api.get_opt(name).await {
            Ok(Some(d)) => Ok(Some(to_object(d, &ar)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(api_error(gvk, name, e)),
        }
    }

    async fn list(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Object>, ClusterError> {
        let (api, ar, _) = self.api(gvk, namespace).await?;
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.list(&self.client, gvk, &ar, namespace, label_selector).await
        {
            return Ok(hit);
        }
        let lp = if label_selector.is_empty() {
            ListParams::default()
        } else {
            ListParams::default().labels(label_selector)
        };
        let list = api.list(&lp).await.map_err(|e| api_error(gvk, "(list)", e))?;
        list.items.into_iter().map(|d| to_object(d, &ar)).collect()
    }

    async fn apply(&self, object: &Object, options: &ApplyOptions) -> Result<Object, ClusterError> {
        let gvk = object.gvk();
        let (api, ar, _) = self.api(&gvk, Some(object.namespace())).await?;
        let mut pp = PatchParams::apply(&options.field_manager);
        if options.force {
            pp = pp.force();
        }
        if options.dry_run {
            pp = pp.dry_run();
        }
        let name = object.name().to_string();
        let d = api.patch(&name, &pp, &Patch::Apply(object.as_value())).await.map_err(|e| api_error(&gvk, &name, e))?;
        let applied = to_object(d, &ar)?;
        if let (Some(cache), false) = (&self.cache, options.dry_run) {
            cache.written(&gvk, &applied);
        }
        Ok(applied)
    }

    async fn delete(
        &self,
        gvk: &GroupVersionKind,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool, ClusterError> {
        let (api, _, _) = self.api(gvk, Some(namespace)).await?;
        let dp = match propagation {
            Propagation::Background => DeleteParams::background(),
            Propagation::Foreground => DeleteParams::foreground(),
            Propagation::Orphan => DeleteParams::orphan(),
        };
        match api.delete(name, &dp).await {
            Ok(either) => {
                // Deleted at once, or marked for deletion (finalizers): the cache follows the server.
                if let Some(cache) = &self.cache {
                    match either.left() {
                        Some(d) => {
                            if let Ok(o) = to_object(d, &self.api(gvk, Some(namespace)).await?.1) {
                                cache.written(gvk, &o);
                            }
                        }
                        None => cache.deleted(gvk, namespace, name),
                    }
                }
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(api_error(gvk, name, e)),
        }
    }

    async fn watch(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<WatchStream<ClusterError>, ClusterError> {
        let (api, ar, _) = self.api(gvk, namespace).await?;
        let wp = if label_selector.is_empty() {
            WatchParams::default()
        } else {
            WatchParams::default().labels(label_selector)
        };
        let gvk2 = gvk.clone();
        let stream = api.watch(&wp, "0").await.map_err(|e| api_error(gvk, "(watch)", e))?;
        let mapped = stream.filter_map(move |ev| {
            let ar = ar.clone();
            let gvk = gvk2.clone();
            async move {
                match ev {
                    Ok(kube::api::WatchEvent::Added(d)) | Ok(kube::api::WatchEvent::Modified(d)) => {
                        Some(to_object(d, &ar).map(WatchEvent::Applied))
                    }
                    Ok(kube::api::WatchEvent::Deleted(d)) => Some(to_object(d, &ar).map(WatchEvent::Deleted)),
                    Ok(kube::api::WatchEvent::Bookmark(_)) => None,
                    Ok(kube::api::WatchEvent::Error(e)) => Some(Err(ClusterError::Api {
                        gvk: gvk.to_string(),
                        name: "(watch)".into(),
                        code: e.code,
                        reason: e.reason,
                        message: e.message,
                    })),
                    Err(e) => Some(Err(ClusterError::Client(e.to_string()))),
                }
            }
        });
        Ok(Box::pin(mapped))
    }
}

/// What Argo CD tells Helm about a destination cluster (`--kube-version`, `--api-versions`):
/// the server's version (`v1.36.2`, a vendor suffix dropped) and every served
/// `group/version` and `group/version/Kind`. Discovery that fails leaves Helm's defaults
/// (`None`, empty).
pub async fn helm_capabilities(client: &kube::Client) -> (Option<String>, Vec<String>) {
    let version = client.apiserver_version().await.ok().map(|info| {
        let v = info.git_version;
        v.split(['-', '+']).next().unwrap_or(&v).to_string()
    });
    let mut apis = std::collections::BTreeSet::new();
    let mut group_versions = Vec::new();
    if let Ok(core) = client.list_core_api_versions().await {
        group_versions.extend(core.versions);
    }
    if let Ok(groups) = client.list_api_groups().await {
        for g in groups.groups {
            group_versions.extend(g.versions.into_iter().map(|v| v.group_version));
        }
    }
    let lists = futures::future::join_all(group_versions.iter().map(|gv| async move {
        if gv.contains('/') {
            client.list_api_group_resources(gv).await
        } else {
            client.list_core_api_resources(gv).await
        }
    }))
    .await;
    for (gv, list) in group_versions.iter().zip(lists) {
        apis.insert(gv.clone());
        for r in list.map(|l| l.resources).unwrap_or_default() {
            if !r.name.contains('/') {
                apis.insert(format!("{gv}/{}", r.kind));
            }
        }
    }
    (version, apis.into_iter().collect())
}
