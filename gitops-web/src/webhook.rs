//! Git webhooks (Argo CD's `/api/webhook`): GitHub, GitLab and Bitbucket push events refresh
//! every application whose repository the push went to. A configured secret is checked in
//! constant time before the body is read as JSON (GitHub and Bitbucket: HMAC-SHA256 of the body
//! in `X-Hub-Signature-256`/`X-Hub-Signature`; GitLab: the `X-Gitlab-Token` header); without
//! the check passing nothing happens. Refreshes of one application are spaced by a minimum
//! interval, so a burst of pushes costs one pass.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

/// The shared secrets of the webhook senders; a sender without one is refused.
#[derive(Clone, Debug, Default)]
pub struct WebhookSecrets {
    /// GitHub's webhook secret (HMAC-SHA256, `X-Hub-Signature-256`).
    pub github: Option<String>,
    /// GitLab's secret token (`X-Gitlab-Token`).
    pub gitlab: Option<String>,
    /// Bitbucket's webhook secret (HMAC-SHA256, `X-Hub-Signature`).
    pub bitbucket: Option<String>,
}

impl WebhookSecrets {
    /// Whether no secret is set (webhooks are then refused).
    pub fn is_empty(&self) -> bool {
        self.github.is_none() && self.gitlab.is_none() && self.bitbucket.is_none()
    }
}

/// The largest body a webhook may send.
pub const MAX_BODY: usize = 1 << 20;

/// Who sent a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// GitHub (`X-GitHub-Event`).
    GitHub,
    /// GitLab (`X-Gitlab-Event`).
    GitLab,
    /// Bitbucket (`X-Event-Key`).
    Bitbucket,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Checks `sig` (`sha256=<hex>`) against the HMAC-SHA256 of `body` under `secret`.
pub fn hmac_ok(secret: &str, body: &[u8], sig: Option<&str>) -> bool {
    let Some(hex) = sig.and_then(|s| s.strip_prefix("sha256=")) else { return false };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::verify(&key, body, &tag).is_ok()
}

/// Identifies the sender and checks its secret; returns why not when it fails.
pub fn authenticate(secrets: &WebhookSecrets, headers: &HeaderMap, body: &[u8]) -> Result<Sender, String> {
    let (sender, ok) = if header(headers, "x-github-event").is_some() {
        let secret = secrets.github.as_deref().ok_or("no GitHub webhook secret is configured")?;
        (Sender::GitHub, hmac_ok(secret, body, header(headers, "x-hub-signature-256")))
    } else if header(headers, "x-gitlab-event").is_some() {
        let secret = secrets.gitlab.as_deref().ok_or("no GitLab webhook secret is configured")?;
        let given = header(headers, "x-gitlab-token").unwrap_or_default();
        (Sender::GitLab, aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), secret.as_bytes()).is_ok())
    } else if header(headers, "x-event-key").is_some() {
        let secret = secrets.bitbucket.as_deref().ok_or("no Bitbucket webhook secret is configured")?;
        (Sender::Bitbucket, hmac_ok(secret, body, header(headers, "x-hub-signature")))
    } else {
        return Err("not a GitHub, GitLab or Bitbucket webhook".into());
    };
    if ok { Ok(sender) } else { Err("the webhook's signature or token does not match".into()) }
}

/// The repository URLs a push event names.
pub fn repositories(sender: Sender, payload: &Value) -> Vec<String> {
    let at = |p: &str| payload.pointer(p).and_then(Value::as_str).map(String::from);
    let urls = match sender {
        Sender::GitHub => vec![
            at("/repository/html_url"),
            at("/repository/clone_url"),
            at("/repository/ssh_url"),
            at("/repository/git_url"),
        ],
        Sender::GitLab => vec![
            at("/project/web_url"),
            at("/project/git_http_url"),
            at("/project/git_ssh_url"),
            at("/repository/homepage"),
        ],
        Sender::Bitbucket => vec![
            at("/repository/links/html/href"),
            at("/repository/full_name").map(|n| format!("https://bitbucket.org/{n}")),
        ],
    };
    urls.into_iter().flatten().collect()
}

/// A repository URL reduced to `host/path` (scheme, user, `.git` and a trailing `/` dropped,
/// `git@host:path` read as `host/path`, lower case), so the forms of one repository compare
/// equal.
pub fn normalize(url: &str) -> String {
    let mut u = url.trim().to_string();
    if let Some((_, rest)) = u.split_once("://") {
        u = rest.to_string();
    } else if let Some((user_host, path)) = u.split_once(':')
        && !user_host.contains('/')
    {
        u = format!("{user_host}/{path}");
    }
    if let Some((userinfo, rest)) = u.split_once('@')
        && !userinfo.contains('/')
    {
        u = rest.to_string();
    }
    let u = u.trim_end_matches('/');
    let u = u.strip_suffix(".git").unwrap_or(u);
    u.to_lowercase()
}

/// Spaces refreshes of one application by `interval`.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl RateLimit {
    /// At most one refresh of an application per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: Mutex::new(HashMap::new()) }
    }

    /// Whether `app` may be refreshed now (and notes that it is).
    pub fn allow(&self, app: &str) -> bool {
        let mut last = self.last.lock().expect("rate limit lock");
        let now = Instant::now();
        match last.get(app) {
            Some(t) if now.duration_since(*t) < self.interval => false,
            _ => {
                last.insert(app.to_string(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_repository_compare_equal() {
        let forms = [
            "https://github.com/Example/Config.git",
            "https://user:pw@github.com/example/config/",
            "git@github.com:example/config.git",
            "ssh://git@github.com/example/config",
            "github.com/example/config",
        ];
        for f in forms {
            assert_eq!(normalize(f), "github.com/example/config", "{f}");
        }
        assert_ne!(normalize("https://github.com/example/other"), normalize(forms[0]));
    }

    #[test]
    fn github_signatures_as_github_documents_them() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(hmac_ok("It's a Secret to Everybody", b"Hello, World!", Some(sig)));
        assert!(!hmac_ok("It's a Secret to Everybody", b"Hello, World?", Some(sig)));
        assert!(!hmac_ok("another secret", b"Hello, World!", Some(sig)));
        assert!(!hmac_ok("It's a Secret to Everybody", b"Hello, World!", None));
    }

    #[test]
    fn the_rate_limit_spaces_refreshes() {
        let r = RateLimit::new(Duration::from_secs(60));
        assert!(r.allow("a"));
        assert!(!r.allow("a"));
        assert!(r.allow("b"));
    }
}
