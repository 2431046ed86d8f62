//! An in-process Kubernetes API server for tests, served over real HTTP to the real
//! kube-client (and kubectl).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gitops_testkit::TestCluster;
//! use kube::api::{Api, Patch, PatchParams};
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! let cluster = TestCluster::start().await?;
//! let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
//! let cm: ConfigMap = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"color": "blue"}
//! }))?;
//! let stored = cms.patch("settings", &PatchParams::apply("gitops"), &Patch::Apply(&cm)).await?;
//! assert_eq!(stored.metadata.managed_fields.unwrap()[0].manager.as_deref(), Some("gitops"));
//! # Ok(())
//! # }
//! ```
//!
//! # In a reconciler's tests
//!
//! [`TestCluster::client`] is a real kube-client over HTTP, so `gitops_sync::KubeCluster`
//! and any `Reconciler` run against it unchanged; [`TestCluster::state`] lets a test inject
//! faults, switch workload simulation and count requests; [`git`] starts real Git servers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admission;
pub mod api;
pub mod controllers;
pub mod defaults;
pub mod faults;
pub mod files;
pub mod git;
pub mod managed;
pub mod names;
pub mod registry;
pub mod server;
pub mod table;
pub mod validation;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use api::{ApiError, RequestCounts, State};
pub use controllers::Simulation;
pub use faults::{Fault, FaultAction};
pub use registry::{Registry, Resource};

/// Everything that can go wrong in gitops-testkit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not listen.
    #[error("cannot listen on 127.0.0.1: {reason}")]
    Bind {
        /// Why.
        reason: String,
    },
    /// The kube client could not be built.
    #[error("cannot build a kube client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
}

/// A running API server on 127.0.0.1; dropping it stops the server.
pub struct TestCluster {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestCluster {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self, Error> {
        Self::start_on(0).await
    }

    /// Starts a server on a given port of 127.0.0.1 (0 for a free one).
    pub async fn start_on(port: u16) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| Error::Bind { reason: e.to_string() })?;
        let addr = listener.local_addr().map_err(|e| Error::Bind { reason: e.to_string() })?;
        let state = Arc::new(Mutex::new(State::new()));
        let shared = state.clone();
        let app = axum::Router::new()
            .fallback(move |method, uri, headers, body| server::handle(shared.clone(), method, uri, headers, body));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestCluster { addr, state, shutdown: Some(tx) })
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube-client configuration for the server.
    pub fn config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("a valid URL"));
        config.default_namespace = "default".into();
        config
    }

    /// A kube client for the server.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("a plain HTTP client always builds")
    }

    /// The server's state, for tests that look behind the API.
    pub fn state(&self) -> Arc<Mutex<State>> {
        self.state.clone()
    }

    /// A kubeconfig file's text for kubectl.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkit\n  cluster:\n    server: {}\ncontexts:\n- name: testkit\n  context:\n    cluster: testkit\n    user: testkit\n    namespace: default\ncurrent-context: testkit\nusers:\n- name: testkit\n  user:\n    token: testkit\n",
            self.url()
        )
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
