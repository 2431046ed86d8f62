//! The HTTP API and web UI of the gitops agent.
//!
//! - Pages (askama templates, assets compiled into the binary, no CDN): the applications
//!   with their sync and health status, counts and filters; an application with its resource
//!   tree (objects from Git and what controllers made from them, through ownerReferences),
//!   each node's masked diff against Git, its history and actions.
//! - `/api/v1`: `GET applications`, `GET applications/{name}`, `GET applications/{name}/diff`,
//!   `POST applications/{name}/sync|refresh|rollback`, and `GET stream` (server-sent events:
//!   the application list each time it changes).
//! - Safety: read-only unless a token is configured; actions need `Authorization: Bearer`,
//!   compared in constant time; a cross-origin request (an `Origin` that is not this server)
//!   and a body that is not JSON are refused, so a page elsewhere cannot act through a browser
//!   (CSRF); a strict Content-Security-Policy (no inline script or style) and escaping by the
//!   template engine; only masked diffs reach the browser; every action is logged with who
//!   asked for it.
//!
//! The data comes from a [`Backend`]; [`ManagerBackend`] serves a `gitops_sync::Manager`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
pub mod model;
pub mod tls;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub use backend::{ActionError, ActionRecorder, Backend, ManagerBackend, diffs};
use model::{AppDetail, AppSummary, Counts, RollbackAction, SyncAction, TreeNode};

/// How the web layer runs.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// The bearer tokens that allow actions, as [`token_holders`] reads them: one token (its
    /// holder is recorded as `token`), or lines `NAME:TOKEN`, one per person, so actions and
    /// history name who did them. `None`: read-only.
    pub token: Option<String>,
    /// How often the live stream looks for changes.
    pub poll: Duration,
    /// The Git webhooks' secrets (`POST /api/webhook`); none: webhooks are refused.
    pub webhooks: webhook::WebhookSecrets,
    /// The least time between two refreshes of one application asked by webhooks or
    /// `POST /refresh/{app}`.
    pub refresh_interval: Duration,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            token: None,
            poll: Duration::from_millis(200),
            webhooks: webhook::WebhookSecrets::default(),
            refresh_interval: Duration::from_secs(2),
        }
    }
}

struct Web {
    backend: Arc<dyn Backend>,
    options: WebOptions,
    rate: webhook::RateLimit,
    /// Who holds which token (from `options.token`); empty: read-only.
    holders: Vec<(String, String)>,
}

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Reads the action tokens: a text of one token (held by `token`), or of lines `NAME:TOKEN`
/// (blank lines and `#` comments skipped), each person with a token of their own. Names are
/// letters, digits and `.-_@`; each token has at least [`MIN_TOKEN_LEN`] characters; names and
/// tokens are unique. Errors name the line, never a token.
pub fn token_holders(text: &str) -> Result<Vec<(String, String)>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    fn named(l: &str) -> Option<(&str, &str)> {
        l.split_once(':').filter(|(n, _)| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        })
    }
    let holders: Vec<(usize, String, String)> = match lines[..] {
        [] => return Err("no token".into()),
        [(n, l)] if named(l).is_none() => vec![(n, "token".to_string(), l.to_string())],
        _ => lines
            .iter()
            .map(|&(n, l)| {
                named(l)
                    .map(|(who, t)| (n, who.to_string(), t.trim().to_string()))
                    .ok_or_else(|| format!("line {n}: expected NAME:TOKEN"))
            })
            .collect::<Result<_, _>>()?,
    };
    for (i, (n, who, token)) in holders.iter().enumerate() {
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(format!("line {n}: the token of {who} has fewer than {MIN_TOKEN_LEN} characters"));
        }
        if holders[..i].iter().any(|(_, w, t)| w == who || t == token) {
            return Err(format!("line {n}: {who} or its token is given twice"));
        }
    }
    Ok(holders.into_iter().map(|(_, who, token)| (who, token)).collect())
}

/// Who holds the bearer token of `headers`: every token is compared in constant time.
fn holder(w: &Web, headers: &HeaderMap) -> Option<String> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|a| a.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mut found = None;
    for (who, token) in &w.holders {
        if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), token.as_bytes()).is_ok() {
            found = Some(who.clone());
        }
    }
    found
}

type Shared = Arc<Web>;

/// The Content-Security-Policy of every response: scripts, styles and connections only from
/// this server, no inline code, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes of the UI and the API (mount them on the agent's listener).
pub fn router(backend: Arc<dyn Backend>, options: WebOptions) -> Router {
    let rate = webhook::RateLimit::new(options.refresh_interval);
    let holders = match options.token.as_deref().map(token_holders) {
        None => Vec::new(),
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            tracing::error!(error = %e, "the web tokens cannot be read: the UI is read-only");
            Vec::new()
        }
    };
    let state: Shared = Arc::new(Web { backend, options, rate, holders });
    Router::new()
        .route("/", get(list_page))
        .route("/applications/{name}", get(app_page))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/app.js")) }),
        )
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/app.css")) }))
        .route("/api/v1/applications", get(api_list))
        .route("/api/v1/applications/{name}", get(api_get))
        .route("/api/v1/applications/{name}/diff", get(api_diff))
        .route("/api/v1/applications/{name}/sync", post(api_sync))
        .route("/api/v1/applications/{name}/refresh", post(api_refresh))
        .route("/api/v1/applications/{name}/rollback", post(api_rollback))
        .route("/api/v1/stream", get(api_stream))
        .route("/api/webhook", post(api_webhook).layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY)))
        .route("/refresh/{name}", post(refresh_hook).layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY)))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    res
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}\n")).into_response(),
    }
}

fn not_found(name: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no application {name}\n")).into_response()
}

/// Filters of the list, from the query string.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filter {
    /// Part of the name.
    #[serde(default)]
    pub name: String,
    /// The project.
    #[serde(default)]
    pub project: String,
    /// The destination namespace.
    #[serde(default)]
    pub namespace: String,
    /// A sync or health status.
    #[serde(default)]
    pub status: String,
}

impl Filter {
    /// Whether `a` passes.
    pub fn keeps(&self, a: &AppSummary) -> bool {
        (self.name.is_empty() || a.name.to_lowercase().contains(&self.name.to_lowercase()))
            && (self.project.is_empty() || a.project == self.project)
            && (self.namespace.is_empty() || a.destination == self.namespace)
            && (self.status.is_empty() || a.sync == self.status || a.health == self.status)
    }
}

const STATUSES: [&str; 8] =
    ["Synced", "OutOfSync", "Unknown", "Healthy", "Progressing", "Degraded", "Missing", "Suspended"];

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage<'a> {
    read_only: bool,
    apps: &'a [AppSummary],
    counts: Counts,
    filter: Filter,
    statuses: Vec<(&'static str, bool)>,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage<'a> {
    read_only: bool,
    app: &'a AppDetail,
    nodes: Vec<(usize, &'a TreeNode)>,
}

fn flatten<'a>(nodes: &'a [TreeNode], depth: usize, out: &mut Vec<(usize, &'a TreeNode)>) {
    for n in nodes {
        out.push((depth, n));
        flatten(&n.children, depth + 1, out);
    }
}

async fn list_page(State(w): State<Shared>, Query(filter): Query<Filter>) -> Response {
    let apps = w.backend.applications().await;
    let counts = Counts::of(&apps);
    let statuses = STATUSES.iter().map(|s| (*s, filter.status == *s)).collect();
    render(&ListPage { read_only: w.holders.is_empty(), apps: &apps, counts, filter, statuses })
}

async fn app_page(State(w): State<Shared>, Path(name): Path<String>) -> Response {
    let Some(app) = w.backend.application(&name).await else { return not_found(&name) };
    let mut nodes = Vec::new();
    flatten(&app.tree, 0, &mut nodes);
    render(&AppPage { read_only: w.holders.is_empty(), app: &app, nodes })
}

async fn api_list(State(w): State<Shared>, Query(filter): Query<Filter>) -> Response {
    let apps: Vec<AppSummary> = w.backend.applications().await.into_iter().filter(|a| filter.keeps(a)).collect();
    axum::Json(serde_json::json!({ "items": apps, "counts": Counts::of(&apps) })).into_response()
}

async fn api_get(State(w): State<Shared>, Path(name): Path<String>) -> Response {
    match w.backend.application(&name).await {
        Some(app) => axum::Json(app).into_response(),
        None => not_found(&name),
    }
}

async fn api_diff(State(w): State<Shared>, Path(name): Path<String>) -> Response {
    match w.backend.application(&name).await {
        Some(app) => axum::Json(diffs(&app)).into_response(),
        None => not_found(&name),
    }
}

/// Checks an action's request: actions on, the bearer token, same origin, a JSON body.
/// Returns who asked (for the log).
fn authorize(w: &Web, headers: &HeaderMap) -> Result<String, (StatusCode, String)> {
    let refuse = |code: StatusCode, m: &str| Err((code, format!("{m}\n")));
    if w.holders.is_empty() {
        return refuse(
            StatusCode::FORBIDDEN,
            "actions are turned off: the UI is read-only (start the agent with a web token)",
        );
    };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
        if !same {
            return refuse(StatusCode::FORBIDDEN, "cross-origin request refused (CSRF protection)");
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "actions take a JSON body (Content-Type: application/json)");
    }
    holder(w, headers)
        .map_or_else(|| refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is needed for actions"), Ok)
}

fn outcome(action: &str, name: &str, who: &str, r: Result<String, ActionError>) -> Response {
    match r {
        Ok(m) => {
            tracing::info!(action, app = name, who, result = %m, "web action");
            (StatusCode::OK, format!("{m}\n")).into_response()
        }
        Err(e) => {
            tracing::warn!(action, app = name, who, error = ?e, "web action failed");
            match e {
                ActionError::NotFound(n) => not_found(&n),
                ActionError::BadRequest(m) => (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response(),
                ActionError::Failed(m) => (StatusCode::CONFLICT, format!("{m}\n")).into_response(),
            }
        }
    }
}

fn json_body<T: for<'de> Deserialize<'de> + Default>(body: &str) -> Result<T, (StatusCode, String)> {
    if body.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad request body: {e}\n")))
}

async fn api_sync(State(w): State<Shared>, Path(name): Path<String>, headers: HeaderMap, body: String) -> Response {
    let who = match authorize(&w, &headers) {
        Ok(who) => who,
        Err(r) => return r.into_response(),
    };
    let action: SyncAction = match json_body(&body) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    outcome("sync", &name, &who, w.backend.sync(&name, action, &who).await)
}

/// `?hard=true` for a hard refresh.
#[derive(Deserialize, Default)]
struct RefreshQuery {
    #[serde(default)]
    hard: bool,
}

async fn api_refresh(
    State(w): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<RefreshQuery>,
    headers: HeaderMap,
) -> Response {
    let who = match authorize(&w, &headers) {
        Ok(who) => who,
        Err(r) => return r.into_response(),
    };
    outcome(if q.hard { "hard-refresh" } else { "refresh" }, &name, &who, w.backend.refresh(&name, q.hard, &who).await)
}

impl Default for RollbackAction {
    fn default() -> Self {
        RollbackAction { id: usize::MAX }
    }
}

async fn api_rollback(State(w): State<Shared>, Path(name): Path<String>, headers: HeaderMap, body: String) -> Response {
    let who = match authorize(&w, &headers) {
        Ok(who) => who,
        Err(r) => return r.into_response(),
    };
    let action: RollbackAction = match json_body(&body) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    outcome("rollback", &name, &who, w.backend.rollback(&name, action.id, &who).await)
}

async fn api_stream(
    State(w): State<Shared>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    use tokio::sync::broadcast::error::RecvError;
    let poll = w.options.poll;
    let drift = w.backend.drift_seen();
    let event = |json: &str| Ok(Event::default().event("applications").data(json));
    let stream =
        futures::stream::unfold((w, String::new(), drift, false), move |(w, last, mut drift, announced)| async move {
            // After an announcement, the next look is at the poll's cadence: the drift stays on
            // screen until then even when the self-heal is done sooner.
            if announced {
                tokio::time::sleep(poll).await;
            }
            loop {
                let json = serde_json::to_string(&w.backend.applications().await).unwrap_or_default();
                if json != last {
                    return Some((event(&json), (w, json, drift, false)));
                }
                // The next poll, or sooner a sync's announcement that it found drift: that
                // application is sent OutOfSync at once, as it is until the sync (a self-heal
                // taking a fraction of a second) has reverted it; the next poll shows the outcome.
                let seen = match drift.as_mut() {
                    None => {
                        tokio::time::sleep(poll).await;
                        None
                    }
                    Some(rx) => tokio::select! {
                        r = rx.recv() => match r {
                            Ok(app) => Some(app),
                            Err(RecvError::Lagged(_)) => None,
                            Err(RecvError::Closed) => {
                                drift = None;
                                None
                            }
                        },
                        _ = tokio::time::sleep(poll) => None,
                    },
                };
                if let Some(app) = seen {
                    let mut apps = w.backend.applications().await;
                    for a in apps.iter_mut().filter(|a| a.name == app) {
                        a.sync = "OutOfSync".into();
                    }
                    let json = serde_json::to_string(&apps).unwrap_or_default();
                    if json != last {
                        return Some((event(&json), (w, json, drift, true)));
                    }
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn api_webhook(State(w): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if w.options.webhooks.is_empty() {
        return (StatusCode::FORBIDDEN, "webhooks are turned off: no webhook secret is configured\n").into_response();
    }
    let sender = match webhook::authenticate(&w.options.webhooks, &headers, &body) {
        Ok(s) => s,
        Err(m) => {
            tracing::warn!(reason = %m, "webhook refused");
            return (StatusCode::UNAUTHORIZED, format!("{m}\n")).into_response();
        }
    };
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("the payload is not JSON: {e}\n")).into_response(),
    };
    let repos: Vec<String> = webhook::repositories(sender, &payload).iter().map(|u| webhook::normalize(u)).collect();
    let mut refreshed = Vec::new();
    let mut limited = Vec::new();
    for app in w.backend.applications().await {
        if !repos.contains(&webhook::normalize(&app.repo)) {
            continue;
        }
        if !w.rate.allow(&app.name) {
            limited.push(app.name);
            continue;
        }
        let backend = w.backend.clone();
        let name = app.name.clone();
        let who = format!("{sender:?} webhook");
        tokio::spawn(async move {
            let r = backend.refresh(&name, false, &who).await;
            tracing::info!(app = %name, who, ok = r.is_ok(), "webhook refresh");
        });
        refreshed.push(app.name);
    }
    tracing::info!(sender = ?sender, repositories = ?repos, refreshed = ?refreshed, limited = ?limited, "webhook");
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "refreshed": refreshed, "rateLimited": limited })))
        .into_response()
}

/// `POST /refresh/{app}`: reconciles one application now. When a GitHub webhook secret is set,
/// it needs that signature (or the web token); else, when a web token is set, the token.
async fn refresh_hook(
    State(w): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let bearer_ok = holder(&w, &headers).is_some();
    let signed = w.options.webhooks.github.as_deref().is_some_and(|secret| {
        webhook::hmac_ok(secret, &body, headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()))
    });
    // A token configured but unreadable still guards the hook (nobody holds it).
    let guarded = w.options.webhooks.github.is_some() || w.options.token.is_some();
    if guarded && !bearer_ok && !signed {
        return (StatusCode::UNAUTHORIZED, "a signature (X-Hub-Signature-256) or the bearer token is needed\n")
            .into_response();
    }
    if !w.rate.allow(&name) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, w.options.refresh_interval.as_secs().max(1).to_string())],
            "refreshed moments ago\n",
        )
            .into_response();
    }
    match w.backend.refresh(&name, false, "refresh hook").await {
        Ok(_) => (StatusCode::OK, "reconciled\n").into_response(),
        Err(ActionError::NotFound(n)) => not_found(&n),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::token_holders;

    #[test]
    fn one_token_or_one_per_person() {
        assert_eq!(token_holders("abcdefghijklmnopqrst\n").unwrap(), [("token".into(), "abcdefghijklmnopqrst".into())]);
        let text = "# who may act\nalice:alice-token-0123456789\n\nbob@example.com: bob-token-0123456789\n";
        let holders = token_holders(text).unwrap();
        assert_eq!(
            holders,
            [
                ("alice".to_string(), "alice-token-0123456789".to_string()),
                ("bob@example.com".to_string(), "bob-token-0123456789".to_string())
            ]
        );
    }

    #[test]
    fn bad_token_texts_name_the_line_and_never_the_token() {
        for (text, expected) in [
            ("", "no token"),
            ("short", "line 1: the token of token has fewer than 16"),
            ("alice:alice-token-0123456789\nno-name-here-0123456789", "line 2: expected NAME:TOKEN"),
            ("alice:alice-token-0123456789\nbob:short", "line 2: the token of bob has fewer"),
            ("alice:alice-token-0123456789\nalice:other-token-0123456789", "line 2: alice or its token is given twice"),
            ("alice:same-token-0123456789\nbob:same-token-0123456789", "line 2: bob or its token is given twice"),
        ] {
            let e = token_holders(text).unwrap_err();
            assert!(e.starts_with(expected), "{text:?}: {e}");
            assert!(!e.contains("0123456789"), "a token leaked: {e}");
        }
    }
}
