//! A static HTTP file server on 127.0.0.1 (a Helm chart repository is one: `index.yaml` and
//! `.tgz` archives), optionally behind basic authentication, counting what it serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;

use crate::git::{HttpAuth, ServerError};

/// Serves the files under a directory (`GET /path`), refusing paths with `..`.
pub struct FileServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    requests: Arc<AtomicUsize>,
    authorizations: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FileServer {
    /// Starts the server (inside a Tokio runtime).
    pub async fn start(root: &Path, auth: HttpAuth) -> Result<Self, ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError { server: "file server", reason: e.to_string() })?;
        let addr = listener.local_addr().map_err(|e| ServerError { server: "file server", reason: e.to_string() })?;
        let requests = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(std::sync::Mutex::new(Vec::new()));
        let root: PathBuf = root.to_path_buf();
        let (count, seen) = (requests.clone(), authorizations.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (root, auth, count, seen) = (root.clone(), auth.clone(), count.clone(), seen.clone());
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                seen.lock().expect("authorizations").push(given.clone());
                serve(&root, &auth, &given, uri.path()).await
            }
        });
        let tx = crate::git::serve_until_dropped(listener, app);
        Ok(Self { addr, shutdown: Some(tx), requests, authorizations })
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// How many requests the server answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// The `Authorization` header of each request, in order (empty when none was sent).
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().expect("authorizations").clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn status(code: StatusCode, text: &str) -> Response {
    let mut b = Response::builder().status(code);
    if code == StatusCode::UNAUTHORIZED {
        b = b.header(header::WWW_AUTHENTICATE, "Basic realm=\"files\"");
    }
    b.body(Body::from(format!("{text}\n"))).expect("response")
}

async fn serve(root: &Path, auth: &HttpAuth, given: &str, path: &str) -> Response {
    let allowed = match auth {
        HttpAuth::Anonymous => true,
        HttpAuth::Basic(u, p) => {
            given == format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        }
        HttpAuth::Bearer(t) => given == format!("Bearer {t}"),
    };
    if !allowed {
        return status(StatusCode::UNAUTHORIZED, "authentication required");
    }
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|s| s == ".." || s.is_empty()) {
        return status(StatusCode::BAD_REQUEST, "bad path");
    }
    match std::fs::read(root.join(rel)) {
        Ok(bytes) => Response::builder().status(StatusCode::OK).body(Body::from(bytes)).expect("response"),
        Err(_) => status(StatusCode::NOT_FOUND, "not found"),
    }
}
