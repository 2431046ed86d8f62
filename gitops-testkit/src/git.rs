//! Real Git servers on 127.0.0.1 for tests: `git daemon` (git://), `git http-backend` behind a
//! small HTTP server (anonymous, basic auth, or a bearer token), and OpenSSH's `sshd` with
//! generated host and user keys and a `known_hosts` file. Each serves the repositories under a
//! root directory and stops when dropped.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{server}: {reason}")]
pub struct ServerError {
    /// Which server.
    pub server: &'static str,
    /// Why.
    pub reason: String,
}

fn err(server: &'static str, reason: impl std::fmt::Display) -> ServerError {
    ServerError { server, reason: reason.to_string() }
}

/// Copies the directory `from` to `to`, recursively (a fixture's files into a repository
/// being made); panics on an I/O error.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.expect("a directory entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        }
    }
}

/// Runs `git` in `dir` with a fixed author and committer, for tests that make repositories:
/// panics with git's message when it fails, returns its output trimmed.
pub fn run_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> Result<u16, ServerError> {
    let l = StdListener::bind("127.0.0.1:0").map_err(|e| err("port", e))?;
    Ok(l.local_addr().map_err(|e| err("port", e))?.port())
}

fn wait_listening(server: &'static str, port: u16, child: &mut Child) -> Result<(), ServerError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(server, format!("exited early ({status})")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(err(server, "did not start listening within 10s"))
}

/// `git daemon` serving `root` (pushes allowed) on a free port.
pub struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    /// Starts the daemon.
    pub fn start(root: &Path) -> Result<Self, ServerError> {
        let port = free_port()?;
        let mut child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", root.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err("git daemon", format!("cannot run git: {e}")))?;
        wait_listening("git daemon", port, &mut child)?;
        Ok(Self { child, port })
    }

    /// `git://127.0.0.1:PORT/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the HTTP server checks clients.
#[derive(Clone, Debug, Default)]
pub enum HttpAuth {
    /// Anyone may read; pushes are refused.
    #[default]
    Anonymous,
    /// HTTP basic authentication with this user and password, for reads and pushes.
    Basic(String, String),
    /// `Authorization: Bearer <token>`, for reads and pushes.
    Bearer(String),
}

/// `git http-backend` (smart HTTP) behind a small HTTP or HTTPS server on a free port.
pub struct GitHttp {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tls: Option<PathBuf>,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), ServerError> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().map_err(|e| err("openssl", e))?;
    if out.status.success() { Ok(()) } else { Err(err("openssl", String::from_utf8_lossy(&out.stderr))) }
}

/// Makes a CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 signed by it
/// (`server.pem`, `server.key`) in `dir`, with the `openssl` command.
pub fn make_certificates(dir: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(dir).map_err(|e| err("tls", e))?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=gitops test CA",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    )?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .map_err(|e| err("tls", e))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    )
}

impl GitHttp {
    /// Starts the server (inside a Tokio runtime).
    pub async fn start(root: &Path, auth: HttpAuth) -> Result<Self, ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| err("git http", e))?;
        let addr = listener.local_addr().map_err(|e| err("git http", e))?;
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = router(root, auth, requests.clone());
        let tx = serve_until_dropped(listener, app);
        Ok(Self { addr, shutdown: Some(tx), requests, tls: None })
    }

    /// Starts an HTTPS server with a certificate for 127.0.0.1 from a CA made in `dir` (see
    /// [`GitHttp::ca_file`]).
    pub async fn start_tls(root: &Path, auth: HttpAuth, dir: &Path) -> Result<Self, ServerError> {
        use rustls_pki_types::pem::PemObject;
        make_certificates(dir)?;
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(dir.join("server.pem"))
            .map_err(|e| err("tls", e))?
            .collect::<Result<_, _>>()
            .map_err(|e| err("tls", e))?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).map_err(|e| err("tls", e))?;
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| err("tls", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err("tls", e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| err("git https", e))?;
        let addr = listener.local_addr().map_err(|e| err("git https", e))?;
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = router(root, auth, requests.clone());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = &mut rx => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, shutdown: Some(tx), requests, tls: Some(dir.join("ca.pem")) })
    }

    /// `http(s)://127.0.0.1:PORT/<name>`.
    pub fn url(&self, name: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/{name}", self.addr)
    }

    /// The CA bundle that verifies an HTTPS server.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_deref()
    }

    /// How many HTTP requests the server answered.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `app` on `listener` until the returned sender is sent to or dropped.
pub(crate) fn serve_until_dropped(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// The HTTP front of `git http-backend`, counting requests.
fn router(root: &Path, auth: HttpAuth, counter: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> axum::Router {
    let root = root.to_path_buf();
    axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (root, auth, counter) = (root.clone(), auth.clone(), counter.clone());
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            cgi(&root, &auth, method, uri, headers, body).await
        }
    })
}

fn unauthorized() -> Response {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
        .body(Body::from("authentication required\n"))
        .expect("response")
}

async fn cgi(root: &Path, auth: &HttpAuth, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let user = match auth {
        HttpAuth::Anonymous => None,
        HttpAuth::Basic(u, p) => {
            let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")));
            if given != want {
                return unauthorized();
            }
            Some(u.clone())
        }
        HttpAuth::Bearer(t) => {
            if given != format!("Bearer {t}") {
                return unauthorized();
            }
            Some("token".to_string())
        }
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(p) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(u) = &user {
        cmd.env("REMOTE_USER", u).env("REMOTE_ADDR", "127.0.0.1");
    }
    let run = async {
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(&body).await?;
        }
        child.wait_with_output().await
    };
    let out = match run.await {
        Ok(o) => o.stdout,
        Err(e) => {
            return Response::builder()
                .status(500)
                .body(Body::from(format!("git http-backend: {e}\n")))
                .expect("response");
        }
    };
    // CGI: headers, a blank line, the body.
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return Response::builder().status(502).body(Body::from("bad CGI output\n")).expect("response");
    };
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut builder = Response::builder();
    let mut status = 200;
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("status") {
                status = v.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            } else {
                builder = builder.header(k.trim(), v);
            }
        }
    }
    builder.status(status).body(Body::from(out[end + sep..].to_vec())).expect("response")
}

/// OpenSSH's `sshd` on a free port, letting in the current user with a generated key; the
/// repositories under `root` are reached as `ssh://USER@127.0.0.1:PORT/<root>/<name>`.
pub struct SshServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    root: PathBuf,
    user: String,
}

const PASSPHRASE: &str = "correct horse battery staple";

impl SshServer {
    /// The passphrase of [`SshServer::passphrase_key`].
    pub const PASSPHRASE: &'static str = PASSPHRASE;

    /// [`SshServer::start`] for a test: `None` (the test is skipped) when sshd is not
    /// installed and the run is not CI's, where a missing sshd is a failure.
    pub fn start_or_skip(root: &Path, dir: &Path) -> Option<Self> {
        match Self::start(root, dir) {
            Ok(s) => Some(s),
            Err(e) if std::env::var("CI").is_err() && e.to_string().contains("not installed") => {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts `sshd` with keys generated into `dir`.
    pub fn start(root: &Path, dir: &Path) -> Result<Self, ServerError> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| err("sshd", "not installed (Debian: apt-get install openssh-server)"))?;
        std::fs::create_dir_all(dir).map_err(|e| err("sshd", e))?;
        let keygen = |file: &str, passphrase: &str| -> Result<(), ServerError> {
            let path = dir.join(file);
            if path.exists() {
                return Ok(());
            }
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
                .arg(&path)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| err("ssh-keygen", e))?
                .success();
            if ok { Ok(()) } else { Err(err("ssh-keygen", format!("could not make {file}"))) }
        };
        keygen("host_key", "")?;
        keygen("user_key", "")?;
        keygen("other_key", "")?;
        keygen("passphrase_key", PASSPHRASE)?;
        let mut authorized = std::fs::read_to_string(dir.join("user_key.pub")).map_err(|e| err("sshd", e))?;
        authorized.push_str(&std::fs::read_to_string(dir.join("passphrase_key.pub")).map_err(|e| err("sshd", e))?);
        std::fs::write(dir.join("authorized_keys"), &authorized).map_err(|e| err("sshd", e))?;
        let port = free_port()?;
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).map_err(|e| err("sshd", e))?;
        let host_pub = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}\n"))
            .map_err(|e| err("sshd", e))?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowTcpForwarding no\nX11Forwarding no\nPrintMotd no\nAcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n",
            hk = dir.join("host_key").display(),
            ak = dir.join("authorized_keys").display(),
            pid = dir.join("sshd.pid").display(),
        );
        std::fs::write(dir.join("sshd_config"), config).map_err(|e| err("sshd", e))?;
        // sshd running as root wants its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err("sshd", e))?;
        wait_listening("sshd", port, &mut child)?;
        let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
            Command::new("id")
                .arg("-un")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        });
        Ok(Self { child, port, dir: dir.to_path_buf(), root: root.to_path_buf(), user })
    }

    /// `ssh://USER@127.0.0.1:PORT/<root>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}{}/{name}", self.user, self.port, self.root.display())
    }

    /// The private key the server accepts.
    pub fn user_key(&self) -> PathBuf {
        self.dir.join("user_key")
    }

    /// A private key the server accepts, protected by [`SshServer::PASSPHRASE`].
    pub fn passphrase_key(&self) -> PathBuf {
        self.dir.join("passphrase_key")
    }

    /// A private key the server does not accept.
    pub fn other_key(&self) -> PathBuf {
        self.dir.join("other_key")
    }

    /// A `known_hosts` file with the server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
