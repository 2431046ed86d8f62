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
//! let cm: ConfigMap = gitops_core::value::from_value(gitops_core::json!({
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
pub mod gc;
pub mod git;
pub mod managed;
pub mod names;
pub mod pods;
pub mod protobuf;
pub mod quota;
pub mod registry;
pub mod server;
pub mod sets;
pub mod strict;
pub mod support;
pub mod table;
pub mod validation;
pub mod workloads;

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
    serving: tokio::task::JoinHandle<()>,
}

/// Serves `state` on `listener` until the task is aborted; aborting it drops every open
/// connection, watches included, as a server's process exiting would.
fn spawn_server(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .fallback(move |method, uri, headers, body| server::handle(state.clone(), method, uri, headers, body));
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let service = hyper_util::service::TowerToHyperService::new(app.clone());
                    connections.spawn(async move {
                        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

impl TestCluster {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self, Error> {
        Self::start_on(0).await
    }

    /// Starts a server on a given port of 127.0.0.1 (0 for a free one).
    pub async fn start_on(port: u16) -> Result<Self, Error> {
        Self::serve(port, Arc::new(Mutex::new(State::new()))).await
    }

    async fn serve(port: u16, state: Arc<Mutex<State>>) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| Error::Bind { reason: e.to_string() })?;
        let addr = listener.local_addr().map_err(|e| Error::Bind { reason: e.to_string() })?;
        let serving = spawn_server(listener, state.clone());
        Ok(TestCluster { addr, state, serving })
    }

    /// Stops serving: every connection (watches included) is dropped and new ones are refused,
    /// as when a server's process exits. The store is kept for [`TestCluster::resume`].
    pub fn stop(&mut self) {
        self.serving.abort();
    }

    /// Serves the kept store again on the same address, after [`TestCluster::stop`] (a
    /// restart: clients reconnect and resume their watches from the resourceVersions they
    /// saw). Retries for a while if the port is still being released.
    pub async fn resume(&mut self) -> Result<(), Error> {
        self.serving.abort();
        let _ = (&mut self.serving).await;
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "the port is not free yet");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(Error::Bind { reason: e.to_string() }),
            }
        };
        self.serving = spawn_server(listener, self.state.clone());
        Ok(())
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
        self.serving.abort();
    }
}
