//! Which remote bases and remote files a build may fetch. A repository's author chooses the
//! URLs a kustomization names; a reconciler that fetches them runs with its own network
//! position and its own cache, so a URL could reach what the author could not
//! (`file:///` paths of the agent's machine, another team's cached repository, a service on
//! an internal address). [`RemotePolicy`] limits them by scheme and by an allow-list.

use std::net::IpAddr;

/// The rule for remote URLs.
///
/// With an empty `allow` (the default), a URL must be `https://`, `ssh://`, scp-like
/// `git@host:path` or the `github.com/...` shorthand, and its host must not be `localhost`
/// or a loopback, private, link-local or unspecified address written as an IP. With `allow`
/// set, a URL must start with one of its prefixes (and nothing else is checked).
///
/// ```
/// use gitops_render::RemotePolicy;
/// let default = RemotePolicy::default();
/// assert!(default.check("https://github.com/org/repo//base?ref=v1").is_ok());
/// assert!(default.check("file:///etc").is_err());
/// assert!(default.check("https://169.254.169.254/latest/meta-data").is_err());
/// let listed = RemotePolicy { allow: vec!["https://github.com/my-org/".into()] };
/// assert!(listed.check("https://github.com/my-org/bases//web").is_ok());
/// assert!(listed.check("https://github.com/other/bases").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemotePolicy {
    /// URL prefixes allowed; empty means the default rule.
    pub allow: Vec<String>,
}

impl RemotePolicy {
    /// Whether `url` may be fetched; the error says why not.
    pub fn check(&self, url: &str) -> Result<(), String> {
        if !self.allow.is_empty() {
            return if self.allow.iter().any(|p| url.starts_with(p.as_str())) {
                Ok(())
            } else {
                Err(format!("not in the allowed remote URL prefixes ({})", self.allow.join(", ")))
            };
        }
        let host = match url.split_once("://") {
            Some((scheme, rest)) => {
                if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "ssh") {
                    return Err(format!(
                        "the scheme {scheme:?} is not allowed (https, ssh; or list URL prefixes to allow)"
                    ));
                }
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_string()
            }
            None if url.starts_with("github.com/") => "github.com".to_string(),
            None => match url.split_once('@').and_then(|(_, rest)| rest.split_once(':')) {
                Some((host, _)) if !host.contains('/') => host.to_string(),
                _ => return Err("not a remote URL this policy knows (https://, ssh://, git@host:path)".into()),
            },
        };
        let bare = strip_port(&host);
        if bare.eq_ignore_ascii_case("localhost") || bare.to_ascii_lowercase().ends_with(".localhost") {
            return Err(format!("the host {bare:?} is this machine"));
        }
        if let Ok(ip) = bare.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && internal(&ip)
        {
            return Err(format!("the address {ip} is internal (loopback, private, link-local or unspecified)"));
        }
        Ok(())
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn internal(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v.to_ipv4_mapped().is_some_and(|m| internal(&IpAddr::V4(m)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rule() {
        let p = RemotePolicy::default();
        for ok in [
            "https://github.com/org/repo//base?ref=v1",
            "ssh://git@gitlab.example.com:2222/org/repo.git",
            "git@github.com:org/repo.git/base",
            "github.com/org/repo/base?ref=main",
            "https://8.8.8.8/x.yaml",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "file:///etc",
            "http://example.com/base",
            "git://example.com/repo",
            "https://localhost:8080/base",
            "https://127.0.0.1/x.yaml",
            "https://10.0.0.5/repo",
            "https://192.168.1.1/repo",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:443/repo",
            "https://[fd00::1]/repo",
            "https://[::ffff:10.1.2.3]/repo",
            "https://100.64.0.1/repo",
            "git@127.0.0.1:org/repo.git",
            "https://user@172.16.0.1/repo",
            "relative/path",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_allow_list_is_prefixes() {
        let p = RemotePolicy { allow: vec!["file:///srv/bases/".into(), "https://git.internal.example/".into()] };
        assert!(p.check("file:///srv/bases/web//base").is_ok());
        assert!(p.check("https://git.internal.example/team/repo").is_ok());
        assert!(p.check("file:///etc").unwrap_err().contains("allowed remote URL prefixes"));
        assert!(p.check("https://github.com/org/repo").is_err());
    }
}
