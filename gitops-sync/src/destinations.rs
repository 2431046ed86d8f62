//! Destination clusters: an Application's `spec.destination` (`server` or `name`) resolved to
//! the cluster its objects go to, as Argo CD resolves it.
//!
//! The reconciler's own cluster is `https://kubernetes.default.svc`, named `in-cluster`. Other
//! clusters are declared as Argo CD declares them: Secrets labelled
//! `argocd.argoproj.io/secret-type: cluster` with `name`, `server`, `config` (JSON:
//! `bearerToken`, `username`/`password`, `tlsClientConfig` with `insecure`, `caData`,
//! `certData`, `keyData`, `serverName`, and `execProviderConfig`), and optionally
//! `namespaces` (comma-separated: the only namespaces the application may write to) and
//! `clusterResources` (whether cluster-scoped objects are allowed when `namespaces` is set).
//! [`ClusterSecrets`] keeps them with kube-runtime reflectors and one [`KubeCluster`] (with
//! its own watch-fed cache) per server. Credentials are never logged nor put in an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::application::Destination;
use crate::cluster::KubeCluster;
use crate::project::IN_CLUSTER;

/// The label selector of cluster Secrets.
pub const CLUSTER_SECRET_SELECTOR: &str = "argocd.argoproj.io/secret-type=cluster";

/// The name of the reconciler's own cluster.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Where an application's objects go.
pub struct Target<C> {
    /// The cluster's API server URL (`https://kubernetes.default.svc` for the own cluster).
    pub server: String,
    /// The cluster's name (`in-cluster` for the own cluster, unless a Secret renames it).
    pub name: String,
    /// The only namespaces objects may be written to (empty: any).
    pub namespaces: Vec<String>,
    /// Whether cluster-scoped objects are allowed although `namespaces` is set.
    pub cluster_resources: bool,
    /// The cluster, `None` for the reconciler's own.
    pub cluster: Option<Arc<C>>,
}

impl<C> Target<C> {
    /// The reconciler's own cluster.
    pub fn local() -> Self {
        Target {
            server: IN_CLUSTER.into(),
            name: IN_CLUSTER_NAME.into(),
            namespaces: Vec::new(),
            cluster_resources: true,
            cluster: None,
        }
    }

    /// The cluster to write to: the target's, else `own`.
    pub fn cluster<'a>(&'a self, own: &'a C) -> &'a C {
        self.cluster.as_deref().unwrap_or(own)
    }

    /// Whether an object may be written there: its namespace among `namespaces` (when set),
    /// a cluster-scoped object only with `clusterResources`; a namespaced object without a
    /// namespace goes to `default_namespace` (the destination's). The error names the object.
    pub fn check_object(
        &self,
        object: &gitops_core::Object,
        namespaced: bool,
        default_namespace: &str,
    ) -> Result<(), String> {
        if self.namespaces.is_empty() {
            return Ok(());
        }
        if !namespaced {
            if self.cluster_resources {
                return Ok(());
            }
            return Err(format!(
                "{} {}: cluster-scoped resources are not managed in cluster '{}' ({}), which lists namespaces {} without clusterResources",
                object.kind(),
                object.name(),
                self.name,
                self.server,
                self.namespaces.join(",")
            ));
        }
        let namespace = if object.namespace().is_empty() { default_namespace } else { object.namespace() };
        if self.namespaces.iter().any(|n| n == namespace) {
            return Ok(());
        }
        Err(format!(
            "{} {namespace}/{}: namespace '{namespace}' is not managed in cluster '{}' ({}), which lists namespaces {}",
            object.kind(),
            object.name(),
            self.name,
            self.server,
            self.namespaces.join(",")
        ))
    }
}

/// Resolves destinations to clusters.
#[async_trait]
pub trait Destinations<C>: Send + Sync {
    /// The cluster a destination names; an error (Argo CD's wording) for a cluster that is not
    /// declared.
    async fn resolve(&self, destination: &Destination) -> Result<Target<C>, String>;
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The destination checks every resolver makes first: not both `name` and `server`.
fn check_shape(destination: &Destination) -> Result<(), String> {
    if let (Some(name), Some(server)) = (given(&destination.name), given(&destination.server)) {
        return Err(format!("application destination can't have both name and server defined: {name} {server}"));
    }
    Ok(())
}

/// Resolution with no declared cluster: only the reconciler's own (no destination, its URL,
/// or its name); anything else is not configured.
pub fn local_only<C>(destination: &Destination) -> Result<Target<C>, String> {
    check_shape(destination)?;
    match (given(&destination.server), given(&destination.name)) {
        (None, None) => Ok(Target::local()),
        (Some(s), _) if same_server(s, IN_CLUSTER) => Ok(Target::local()),
        (_, Some(IN_CLUSTER_NAME)) => Ok(Target::local()),
        (Some(s), _) => Err(not_configured(s)),
        (_, Some(n)) => Err(no_such_name(n)),
    }
}

fn not_configured(server: &str) -> String {
    format!("unable to find destination server: cluster '{server}' has not been configured")
}

fn no_such_name(name: &str) -> String {
    format!("unable to find destination server: there are no clusters with this name: {name}")
}

/// `config` of a cluster Secret.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfig {
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    tls_client_config: TlsClientConfig,
    #[serde(default)]
    exec_provider_config: Option<ExecProviderConfig>,
    #[serde(default)]
    aws_auth_config: Option<Value>,
    #[serde(default)]
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlsClientConfig {
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    ca_data: Option<String>,
    #[serde(default)]
    cert_data: Option<String>,
    #[serde(default)]
    key_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecProviderConfig {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: HashMap<String, String>,
    #[serde(default)]
    api_version: Option<String>,
}

/// A cluster declared by a Secret.
pub struct ClusterSecret {
    /// `namespace/name` of the Secret (for messages).
    pub secret: String,
    /// The Secret's resourceVersion (a new one rebuilds the client).
    pub version: String,
    /// The cluster's name (`name`, else the server URL, as Argo CD defaults it).
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// `namespaces`, split at commas.
    pub namespaces: Vec<String>,
    /// `clusterResources`.
    pub cluster_resources: bool,
    config: ClusterConfig,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds credentials: never printed.
        f.debug_struct("ClusterSecret").field("secret", &self.secret).field("server", &self.server).finish()
    }
}

impl ClusterSecret {
    /// Reads a cluster Secret; the error names the Secret and the field, never a value.
    pub fn from_secret(secret: &Secret) -> Result<Self, String> {
        let id = format!(
            "{}/{}",
            secret.metadata.namespace.as_deref().unwrap_or_default(),
            secret.metadata.name.as_deref().unwrap_or_default()
        );
        let field = |k: &str| -> Option<String> {
            let from_data =
                secret.data.as_ref().and_then(|d| d.get(k)).map(|b| String::from_utf8_lossy(&b.0).into_owned());
            from_data.or_else(|| secret.string_data.as_ref().and_then(|d| d.get(k)).cloned())
        };
        let server = field("server")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("cluster Secret {id}: data.server is missing"))?
            .trim()
            .to_string();
        let config = match field("config").filter(|c| !c.trim().is_empty()) {
            Some(text) => serde_json::from_str::<ClusterConfig>(&text).map_err(|e| {
                // serde's message names the field and the position, not the value.
                format!("cluster Secret {id}: data.config is not valid: {e}")
            })?,
            None => ClusterConfig::default(),
        };
        if config.aws_auth_config.is_some() {
            return Err(format!(
                "cluster Secret {id}: data.config.awsAuthConfig is not supported; use execProviderConfig (for example `aws eks get-token`)"
            ));
        }
        let namespaces = field("namespaces")
            .map(|n| n.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let cluster_resources = field("clusterResources").is_some_and(|v| v.trim() == "true");
        Ok(ClusterSecret {
            secret: id,
            version: secret.metadata.resource_version.clone().unwrap_or_default(),
            name: field("name").filter(|n| !n.trim().is_empty()).unwrap_or_else(|| server.clone()),
            server,
            namespaces,
            cluster_resources,
            config,
        })
    }

    /// A kubeconfig with this cluster as its only context.
    fn kubeconfig(&self) -> Value {
        let tls = &self.config.tls_client_config;
        let mut cluster = json!({"server": self.server});
        if tls.insecure {
            cluster["insecure-skip-tls-verify"] = json!(true);
        }
        if let Some(ca) = &tls.ca_data {
            cluster["certificate-authority-data"] = json!(ca);
        }
        if let Some(name) = &tls.server_name {
            cluster["tls-server-name"] = json!(name);
        }
        if let Some(proxy) = &self.config.proxy_url {
            cluster["proxy-url"] = json!(proxy);
        }
        let mut user = json!({});
        if let Some(t) = &self.config.bearer_token {
            user["token"] = json!(t);
        }
        if let Some(u) = &self.config.username {
            user["username"] = json!(u);
        }
        if let Some(p) = &self.config.password {
            user["password"] = json!(p);
        }
        if let Some(c) = &tls.cert_data {
            user["client-certificate-data"] = json!(c);
        }
        if let Some(k) = &tls.key_data {
            user["client-key-data"] = json!(k);
        }
        if let Some(exec) = &self.config.exec_provider_config {
            let env: Vec<Value> = exec.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
            user["exec"] = json!({
                "command": exec.command, "args": exec.args, "env": env,
                "apiVersion": exec.api_version.clone().unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".into()),
            });
        }
        json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        })
    }

    /// A client of the cluster.
    pub async fn client(&self) -> Result<kube::Client, String> {
        let id = &self.secret;
        let kubeconfig: kube::config::Kubeconfig =
            serde_json::from_value(self.kubeconfig()).map_err(|e| format!("cluster Secret {id}: data.config: {e}"))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("cluster Secret {id}: {}", e.to_string().chars().take(300).collect::<String>()))?;
        kube::Client::try_from(config).map_err(|e| format!("cluster Secret {id}: {e}"))
    }
}

/// Aborts the reflector tasks when the resolver goes.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Destinations declared by cluster Secrets in some namespaces (Argo CD's namespace, and any
/// other application namespace), kept current by a reflector per namespace. Each cluster gets
/// one [`KubeCluster`] with a watch-fed cache whose changes are reported in the own cluster's
/// stream, so self-heal covers every cluster.
pub struct ClusterSecrets {
    own: KubeCluster,
    stores: Vec<(String, Store<Secret>)>,
    clusters: Mutex<HashMap<String, (String, Arc<KubeCluster>)>>,
    _tasks: Tasks,
}

impl ClusterSecrets {
    /// Watches the cluster Secrets of `namespaces` with `client` (needs a Tokio runtime);
    /// `own` is the reconciler's cluster.
    pub fn new(client: kube::Client, namespaces: &[String], own: KubeCluster) -> Self {
        let mut stores = Vec::new();
        let mut tasks = Vec::new();
        for ns in namespaces {
            let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), ns);
            let (reader, writer) = reflector::store();
            let config = watcher::Config::default().labels(CLUSTER_SECRET_SELECTOR);
            let stream = reflector::reflector(writer, watcher(api, config)).default_backoff().touched_objects();
            let namespace = ns.clone();
            tasks.push(tokio::spawn(async move {
                futures::pin_mut!(stream);
                while let Some(item) = stream.next().await {
                    if let Err(e) = item {
                        tracing::warn!(namespace = %namespace, error = %e, "watching cluster Secrets");
                    }
                }
            }));
            stores.push((ns.clone(), reader));
        }
        ClusterSecrets { own, stores, clusters: Mutex::new(HashMap::new()), _tasks: Tasks(tasks) }
    }

    /// Every declared cluster, in namespace and name order; a Secret that cannot be read is
    /// an error naming it.
    pub async fn declared(&self) -> Vec<Result<ClusterSecret, String>> {
        let mut out = Vec::new();
        for (ns, store) in &self.stores {
            if tokio::time::timeout(std::time::Duration::from_secs(10), store.wait_until_ready()).await.is_err() {
                out.push(Err(format!("cluster Secrets of namespace {ns}: not listed within 10 s")));
                continue;
            }
            let mut secrets = store.state();
            secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            out.extend(secrets.iter().map(|s| ClusterSecret::from_secret(s)));
        }
        out
    }

    async fn cluster(&self, secret: &ClusterSecret) -> Result<Arc<KubeCluster>, String> {
        let key = secret.server.trim_end_matches('/').to_string();
        if let Some((version, c)) = self.clusters.lock().expect("clusters lock").get(&key)
            && *version == secret.version
        {
            return Ok(c.clone());
        }
        let client = secret.client().await?;
        tracing::info!(cluster = %secret.name, server = %secret.server, secret = %secret.secret, "destination cluster");
        let cluster = Arc::new(KubeCluster::with_cache_reporting_to(client, &self.own));
        self.clusters.lock().expect("clusters lock").insert(key, (secret.version.clone(), cluster.clone()));
        Ok(cluster)
    }
}

#[async_trait]
impl Destinations<KubeCluster> for ClusterSecrets {
    async fn resolve(&self, destination: &Destination) -> Result<Target<KubeCluster>, String> {
        check_shape(destination)?;
        let server = given(&destination.server);
        let name = given(&destination.name);
        if server.is_none() && name.is_none() {
            return Ok(Target::local());
        }
        let declared = self.declared().await;
        let matches: Vec<&Result<ClusterSecret, String>> = declared
            .iter()
            .filter(|d| match d {
                Ok(c) => match (server, name) {
                    (Some(s), _) => same_server(&c.server, s),
                    (_, Some(n)) => c.name == n,
                    _ => false,
                },
                Err(_) => false,
            })
            .collect();
        // A Secret that cannot be read may be the one asked for: say so rather than "not found".
        let unreadable = || declared.iter().filter_map(|d| d.as_ref().err()).cloned().collect::<Vec<_>>().join("; ");
        let found = match matches.as_slice() {
            [] => {
                let local = match (server, name) {
                    (Some(s), _) => same_server(s, IN_CLUSTER),
                    (_, Some(n)) => n == IN_CLUSTER_NAME,
                    _ => false,
                };
                if local {
                    return Ok(Target::local());
                }
                let base = match (server, name) {
                    (Some(s), _) => not_configured(s),
                    (_, Some(n)) => no_such_name(n),
                    _ => unreachable!("one of them is given"),
                };
                let bad = unreadable();
                return Err(if bad.is_empty() { base } else { format!("{base} (unreadable: {bad})") });
            }
            [one] => one.as_ref().map_err(Clone::clone)?,
            many => {
                let servers: Vec<&str> =
                    many.iter().filter_map(|m| m.as_ref().ok()).map(|c| c.server.as_str()).collect();
                if server.is_some() {
                    // Several Secrets for one server: the first (in name order) counts.
                    many[0].as_ref().map_err(Clone::clone)?
                } else {
                    return Err(format!(
                        "unable to find destination server: there are {} clusters with the same name: [{}]",
                        servers.len(),
                        servers.join(" ")
                    ));
                }
            }
        };
        let cluster = if same_server(&found.server, IN_CLUSTER) { None } else { Some(self.cluster(found).await?) };
        Ok(Target {
            server: found.server.clone(),
            name: found.name.clone(),
            namespaces: found.namespaces.clone(),
            cluster_resources: found.cluster_resources,
            cluster,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(server: Option<&str>, name: Option<&str>) -> Destination {
        Destination { server: server.map(String::from), name: name.map(String::from), namespace: Some("n".into()) }
    }

    fn secret(data: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("prod".into());
        s.metadata.namespace = Some("argocd".into());
        s.data =
            Some(data.iter().map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.as_bytes().to_vec()))).collect());
        s
    }

    #[test]
    fn only_the_own_cluster_without_secrets() {
        assert!(local_only::<()>(&dest(None, None)).is_ok());
        assert!(local_only::<()>(&dest(Some("https://kubernetes.default.svc/"), None)).is_ok());
        assert!(local_only::<()>(&dest(None, Some("in-cluster"))).is_ok());
        let e = local_only::<()>(&dest(Some("https://prod:6443"), None)).err().unwrap();
        assert_eq!(e, "unable to find destination server: cluster 'https://prod:6443' has not been configured");
        let e = local_only::<()>(&dest(None, Some("prod"))).err().unwrap();
        assert_eq!(e, "unable to find destination server: there are no clusters with this name: prod");
        let e = local_only::<()>(&dest(Some("https://kubernetes.default.svc"), Some("in-cluster"))).err().unwrap();
        assert!(e.contains("can't have both name and server defined"), "{e}");
    }

    #[test]
    fn a_cluster_secret_is_read_without_showing_its_credentials() {
        let s = ClusterSecret::from_secret(&secret(&[
            ("name", "prod"),
            ("server", "https://prod:6443"),
            ("namespaces", "a, b,"),
            ("config", r#"{"bearerToken": "s3cr3t-token", "tlsClientConfig": {"insecure": true}}"#),
        ]))
        .unwrap();
        assert_eq!((s.name.as_str(), s.server.as_str()), ("prod", "https://prod:6443"));
        assert_eq!(s.namespaces, ["a", "b"]);
        assert!(!s.cluster_resources);
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let kc = s.kubeconfig();
        assert_eq!(kc["users"][0]["user"]["token"], "s3cr3t-token");
        assert_eq!(kc["clusters"][0]["cluster"]["insecure-skip-tls-verify"], true);
        // A bad config names the Secret and the field, not the value.
        let e = ClusterSecret::from_secret(&secret(&[
            ("server", "https://x"),
            ("config", r#"{"bearerToken": 5, "tlsClientConfig": "s3cr3t"}"#),
        ]))
        .unwrap_err();
        assert!(e.contains("argocd/prod") && e.contains("data.config"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = ClusterSecret::from_secret(&secret(&[("name", "x")])).unwrap_err();
        assert_eq!(e, "cluster Secret argocd/prod: data.server is missing");
        // The name defaults to the server.
        let s = ClusterSecret::from_secret(&secret(&[("server", "https://y")])).unwrap();
        assert_eq!(s.name, "https://y");
    }

    #[test]
    fn namespaces_of_a_cluster_limit_its_objects() {
        let t: Target<()> = Target {
            server: "https://prod".into(),
            name: "prod".into(),
            namespaces: vec!["a".into()],
            cluster_resources: false,
            cluster: None,
        };
        let cm = |ns: &str| {
            gitops_core::Object::from_value(
                gitops_core::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}}),
            )
            .unwrap()
        };
        assert!(t.check_object(&cm("a"), true, "b").is_ok());
        assert!(t.check_object(&cm(""), true, "a").is_ok());
        let e = t.check_object(&cm("b"), true, "a").unwrap_err();
        assert!(e.contains("ConfigMap b/c") && e.contains("namespace 'b' is not managed in cluster 'prod'"), "{e}");
        let ns = gitops_core::Object::from_value(
            gitops_core::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
        )
        .unwrap();
        assert!(t.check_object(&ns, false, "a").unwrap_err().contains("cluster-scoped"));
    }
}
