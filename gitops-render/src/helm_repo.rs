//! Charts from Helm repositories (`spec.source.chart` with `repoURL` an HTTP(S) chart
//! repository), as Argo CD's repo server gets them: the repository's `index.yaml`, the
//! newest version satisfying `targetRevision` (an exact version or a range, read as Helm's
//! Masterminds semver reads it), the chart archive downloaded, checked against the index's
//! SHA-256 digest and kept in memory by that digest.
//!
//! Credentials are given per URL prefix (basic auth); they are sent to the repository's
//! host only, as Helm does without `--pass-credentials`. Archives and indexes are bounded in
//! size, archive paths cannot leave the chart.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gitops_core::{ChartRepository, MemTree, Revision};
use sha2::{Digest, Sha256};

/// Basic-auth credentials for the repositories whose URL starts with `url_prefix`.
#[derive(Clone)]
pub struct HelmCredentials {
    /// The URL prefix (`https://charts.example.com/`).
    pub url_prefix: String,
    /// The user name.
    pub username: String,
    /// The password (never logged, never in an error).
    pub password: String,
}

impl std::fmt::Debug for HelmCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelmCredentials")
            .field("url_prefix", &self.url_prefix)
            .field("username", &self.username)
            .finish()
    }
}

/// One chart version of an index.
#[derive(Clone, Debug)]
struct ChartVersion {
    version: semver::Version,
    /// As the index spells it (returned as the revision).
    raw: String,
    urls: Vec<String>,
    digest: Option<String>,
}

/// A repository's chart versions by chart name, newest first.
type Index = HashMap<String, Vec<ChartVersion>>;
/// Fetched indexes by repository URL, with when they were fetched.
type Indexes = HashMap<String, (Instant, Arc<Index>)>;
/// (repository, chart, version) -> (archive URL, digest).
type Resolved = HashMap<(String, String, String), (String, Option<String>)>;

/// An HTTP(S) Helm chart repository client with caches; implements [`ChartRepository`].
#[derive(Clone)]
pub struct HelmRepositories {
    client: reqwest::Client,
    credentials: Arc<Vec<HelmCredentials>>,
    /// How long a fetched `index.yaml` is used before it is fetched again.
    pub index_ttl: Duration,
    /// The largest `index.yaml` and chart archive accepted, and the largest unpacked chart.
    pub max_bytes: usize,
    indexes: Arc<Mutex<Indexes>>,
    /// Chart trees by archive digest.
    charts: Arc<Mutex<HashMap<String, MemTree>>>,
    /// The resolved versions: (repo, chart, version) -> (url, digest).
    resolved: Arc<Mutex<Resolved>>,
}

impl std::fmt::Debug for HelmRepositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelmRepositories").field("credentials", &self.credentials).finish_non_exhaustive()
    }
}

impl Default for HelmRepositories {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

fn err(message: String) -> gitops_core::Error {
    gitops_core::Error::FileTree { path: "helm repository".into(), reason: message }
}

impl HelmRepositories {
    /// A client with these credentials.
    pub fn new(credentials: Vec<HelmCredentials>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap_or_default();
        HelmRepositories {
            client,
            credentials: Arc::new(credentials),
            index_ttl: Duration::from_secs(60),
            max_bytes: 64 << 20,
            indexes: Arc::default(),
            charts: Arc::default(),
            resolved: Arc::default(),
        }
    }

    fn credentials_for(&self, url: &str) -> Option<&HelmCredentials> {
        self.credentials.iter().filter(|c| url.starts_with(&c.url_prefix)).max_by_key(|c| c.url_prefix.len())
    }

    async fn get(&self, url: &str, repo_url: &str) -> gitops_core::Result<Vec<u8>> {
        self.get_with(url, repo_url, false).await
    }

    async fn get_with(&self, url: &str, repo_url: &str, pass_credentials: bool) -> gitops_core::Result<Vec<u8>> {
        let mut request = self.client.get(url);
        // Credentials go to the repository's host only, unless the source passes them on
        // (Helm's passCredentials).
        if (pass_credentials || host_of(url) == host_of(repo_url))
            && let Some(c) = self.credentials_for(repo_url)
        {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let mut response =
            request.send().await.map_err(|e| err(format!("{}: {}", strip_query(url), e.without_url())))?;
        if !response.status().is_success() {
            return Err(err(format!("{}: {}", strip_query(url), response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| err(format!("{}: {}", strip_query(url), e.without_url())))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(err(format!("{}: larger than {} bytes", strip_query(url), self.max_bytes)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn index(&self, repo_url: &str) -> gitops_core::Result<Arc<Index>> {
        if let Some((at, index)) = self.indexes.lock().expect("index cache").get(repo_url)
            && at.elapsed() < self.index_ttl
        {
            return Ok(index.clone());
        }
        let url = format!("{}/index.yaml", repo_url.trim_end_matches('/'));
        let bytes = self.get(&url, repo_url).await?;
        let text = String::from_utf8(bytes).map_err(|_| err(format!("{url}: not UTF-8")))?;
        let index = Arc::new(parse_index(&text, &url)?);
        self.indexes.lock().expect("index cache").insert(repo_url.to_string(), (Instant::now(), index.clone()));
        Ok(index)
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The chart versions of an `index.yaml`, newest first.
fn parse_index(text: &str, source: &str) -> gitops_core::Result<Index> {
    let value = gitops_core::yaml::parse_value(text, source, 0, 1)?.unwrap_or_default();
    let mut out = HashMap::new();
    let Some(entries) = value.get("entries").and_then(|e| e.as_object()) else {
        return Err(err(format!("{source}: no entries (not a Helm repository index)")));
    };
    for (name, versions) in entries {
        let mut list = Vec::new();
        for v in versions.as_array().into_iter().flatten() {
            let Some(raw) = v.get("version").and_then(|x| x.as_str()) else { continue };
            let Ok(version) = parse_version(raw) else { continue };
            let urls = v
                .get("urls")
                .and_then(|u| u.as_array())
                .map(|u| u.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let digest = v.get("digest").and_then(|d| d.as_str()).map(String::from);
            list.push(ChartVersion { version, raw: raw.to_string(), urls, digest });
        }
        list.sort_by(|a, b| b.version.cmp(&a.version));
        out.insert(name.clone(), list);
    }
    Ok(out)
}

/// A version as Masterminds semver reads it: a `v` prefix allowed, missing minor and patch
/// taken as 0.
fn parse_version(raw: &str) -> Result<semver::Version, String> {
    let s = raw.trim().trim_start_matches(['v', 'V']);
    let (core, rest) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid semantic version {raw:?}"));
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    semver::Version::parse(&format!("{}{rest}", parts.join(".")))
        .map_err(|e| format!("invalid semantic version {raw:?}: {e}"))
}

/// A Helm (Masterminds) version constraint: `||` alternatives of comma- or space-separated
/// comparators (`=`, `!=`, `>`, `>=`, `<`, `<=`, `~`, `~>`, `^`, `1.2.x` wildcards, `1.2 -
/// 1.4` ranges); a bare version is exact.
pub struct Constraint {
    alternatives: Vec<(semver::VersionReq, Vec<semver::Version>)>,
    /// Whether the constraint names a prerelease (only then do prereleases match).
    prerelease: bool,
}

impl Constraint {
    /// Parses a constraint; an empty one or `*` matches every release.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let mut alternatives = Vec::new();
        let mut prerelease = false;
        for alt in text.split("||") {
            let tokens: Vec<&str> = alt.split([' ', ',', '\t']).filter(|t| !t.is_empty()).collect();
            let mut comparators: Vec<String> = Vec::new();
            let mut excluded = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                let mut t = tokens[i].to_string();
                // An operator written apart from its version (`>= 1.2`).
                if t.chars().all(|c| "<>=!~^".contains(c)) && i + 1 < tokens.len() {
                    t.push_str(tokens[i + 1]);
                    i += 1;
                }
                // A hyphen range `a - b`.
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    comparators.push(format!(">={}", norm(&t)));
                    comparators.push(format!("<={}", norm(tokens[i + 2])));
                    i += 3;
                    continue;
                }
                if let Some(v) = t.strip_prefix("!=") {
                    excluded.push(parse_version(v)?);
                } else if let Some(v) = t.strip_prefix("~>") {
                    comparators.push(format!("~{}", norm(v)));
                } else if let Some(op) = ["<=", ">=", "<", ">", "=", "~", "^"].iter().find(|op| t.starts_with(**op)) {
                    let v = &t[op.len()..];
                    comparators.push(format!("{op}{}", norm(v)));
                } else if t == "*" || t == "x" || t == "X" {
                    comparators.push("*".into());
                } else {
                    comparators.push(format!("={}", norm(&t)));
                }
                i += 1;
            }
            prerelease |= comparators.iter().any(|c| c.contains('-'));
            let joined = if comparators.is_empty() { "*".to_string() } else { comparators.join(", ") };
            let req =
                semver::VersionReq::parse(&joined).map_err(|e| format!("invalid version constraint {text:?}: {e}"))?;
            alternatives.push((req, excluded));
        }
        Ok(Constraint { alternatives, prerelease })
    }

    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &semver::Version) -> bool {
        if !v.pre.is_empty() && !self.prerelease {
            return false;
        }
        let mut release = v.clone();
        if self.prerelease {
            // semver's own rule admits prereleases of the named version only; Masterminds
            // admits any when asked for one.
            release.pre = semver::Prerelease::EMPTY;
        }
        self.alternatives
            .iter()
            .any(|(req, excluded)| (req.matches(v) || req.matches(&release)) && !excluded.contains(v))
    }
}

/// A constraint's version with a `v` dropped and `X`/`x` wildcards as semver spells them.
fn norm(v: &str) -> String {
    let v = v.trim_start_matches(['v', 'V']);
    match v.split_once(['-', '+']) {
        // Wildcards are in the version's core only.
        Some((core, _)) => format!("{}{}", core.replace(['x', 'X'], "*"), &v[core.len()..]),
        None => v.replace(['x', 'X'], "*"),
    }
}

impl HelmRepositories {
    /// The newest version of `chart` satisfying `constraint`.
    async fn pick(&self, repo_url: &str, chart: &str, constraint: &str) -> gitops_core::Result<ChartVersion> {
        let index = self.index(repo_url).await?;
        let versions = index
            .get(chart)
            .ok_or_else(|| err(format!("chart {chart:?} not found in repository {}", strip_query(repo_url))))?;
        let wanted = constraint.trim();
        // An exact version as the index spells it.
        if let Some(v) = versions.iter().find(|v| v.raw == wanted) {
            return Ok(v.clone());
        }
        let c = Constraint::parse(if wanted == "HEAD" { "" } else { wanted }).map_err(err)?;
        versions.iter().find(|v| c.matches(&v.version)).cloned().ok_or_else(|| {
            err(format!("no version of chart {chart:?} in {} satisfies {wanted:?}", strip_query(repo_url)))
        })
    }
}

#[async_trait]
impl ChartRepository for HelmRepositories {
    async fn resolve_chart(&self, repo_url: &str, chart: &str, version: &str) -> gitops_core::Result<Revision> {
        let picked = self.pick(repo_url, chart, version).await?;
        let url =
            picked.urls.first().ok_or_else(|| err(format!("chart {chart:?} {} has no download URL", picked.raw)))?;
        let absolute =
            if url.contains("://") { url.clone() } else { format!("{}/{url}", repo_url.trim_end_matches('/')) };
        self.resolved
            .lock()
            .expect("resolved")
            .insert((repo_url.into(), chart.into(), picked.raw.clone()), (absolute, picked.digest.clone()));
        Ok(Revision { repo_url: repo_url.into(), commit: picked.raw, reference: chart.into() })
    }

    async fn open_chart(&self, revision: &Revision) -> gitops_core::Result<MemTree> {
        self.open_chart_passing_credentials(revision, false).await
    }

    async fn open_chart_passing_credentials(
        &self,
        revision: &Revision,
        pass_credentials: bool,
    ) -> gitops_core::Result<MemTree> {
        let key = (revision.repo_url.clone(), revision.reference.clone(), revision.commit.clone());
        let known = self.resolved.lock().expect("resolved").get(&key).cloned();
        let (url, digest) = match known {
            Some(k) => k,
            None => {
                self.resolve_chart(&revision.repo_url, &revision.reference, &revision.commit).await?;
                self.resolved
                    .lock()
                    .expect("resolved")
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| err("chart vanished".into()))?
            }
        };
        if let Some(d) = &digest
            && let Some(tree) = self.charts.lock().expect("charts").get(d)
        {
            return Ok(tree.clone());
        }
        let bytes = self.get_with(&url, &revision.repo_url, pass_credentials).await?;
        let actual = hex(&Sha256::digest(&bytes));
        if let Some(d) = &digest
            && !d.eq_ignore_ascii_case(&actual)
        {
            return Err(err(format!(
                "chart {} {}: digest mismatch (index {d}, downloaded {actual})",
                revision.reference, revision.commit
            )));
        }
        let tree = unpack(&bytes, &revision.reference, self.max_bytes)?;
        let mut charts = self.charts.lock().expect("charts");
        if charts.len() > 256 {
            charts.clear();
        }
        charts.insert(digest.unwrap_or(actual), tree.clone());
        Ok(tree)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A chart archive (`.tgz`) as a tree: every file under `{chart}/`, whatever the archive's
/// top directory is called; links, devices and paths with `..` refused.
pub fn unpack(archive: &[u8], chart: &str, max_bytes: usize) -> gitops_core::Result<MemTree> {
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz.take(max_bytes as u64 + 1));
    let mut tree = MemTree::new();
    let mut total = 0usize;
    for entry in tar.entries().map_err(|e| err(format!("chart {chart}: {e}")))? {
        let mut entry = entry.map_err(|e| err(format!("chart {chart}: {e}")))?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(|e| err(format!("chart {chart}: {e}")))?.to_string_lossy().into_owned();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !kind.is_file() {
            return Err(err(format!("chart {chart}: {path} is not a regular file")));
        }
        let inner = path.split_once('/').map_or("", |(_, rest)| rest);
        let normalized =
            gitops_core::tree::normalize(inner).map_err(|_| err(format!("chart {chart}: {path} leaves the chart")))?;
        if normalized.is_empty() || path.starts_with('/') {
            return Err(err(format!("chart {chart}: bad path {path}")));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| err(format!("chart {chart}: {path}: {e}")))?;
        total += bytes.len();
        if total > max_bytes {
            return Err(err(format!("chart {chart}: larger than {max_bytes} bytes unpacked")));
        }
        tree.insert(&format!("{chart}/{normalized}"), bytes)?;
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn constraints_as_helm_reads_them() {
        let m = |c: &str, ver: &str| Constraint::parse(c).unwrap().matches(&v(ver));
        assert!(m("1.2.3", "1.2.3"));
        assert!(!m("1.2.3", "1.2.4"), "a bare version is exact");
        assert!(m("^1.2", "1.9.0"));
        assert!(!m("^1.2", "2.0.0"));
        assert!(m("~1.2.0", "1.2.9"));
        assert!(!m("~1.2.0", "1.3.0"));
        assert!(m(">= 1.0, < 2.0", "1.5.0"));
        assert!(m(">=1.0 <2.0", "1.5.0"));
        assert!(!m(">=1.0 <2.0", "2.0.0"));
        assert!(m("1.2.x", "1.2.7"));
        assert!(m("1.0 - 1.4", "1.3.0"));
        assert!(!m("1.0 - 1.4", "1.5.0"));
        assert!(m("<1.0 || >=3", "3.1.0"));
        assert!(m("!=1.2.3, >=1.0", "1.2.4"));
        assert!(!m("!=1.2.3, >=1.0", "1.2.3"));
        assert!(m("", "4.0.0"));
        assert!(m("*", "4.0.0"));
        assert!(!m("*", "4.0.0-rc.1"), "no prereleases unless asked");
        assert!(m(">=1.0.0-0", "1.1.0-rc.1"));
        assert!(m("v1.2.3", "1.2.3"));
        assert!(Constraint::parse(">=banana").is_err());
    }

    #[test]
    fn index_order_and_hosts() {
        let text = "apiVersion: v1\nentries:\n  web:\n  - {version: 1.0.0, urls: [web-1.0.0.tgz]}\n  - {version: 1.10.0, urls: [web-1.10.0.tgz]}\n  - {version: 1.9.0, urls: [web-1.9.0.tgz]}\n  - {version: not-semver}\n";
        let index = parse_index(text, "index.yaml").unwrap();
        let versions: Vec<&str> = index["web"].iter().map(|v| v.raw.as_str()).collect();
        assert_eq!(versions, ["1.10.0", "1.9.0", "1.0.0"]);
        assert!(parse_index("foo: bar\n", "index.yaml").is_err());
        assert_eq!(host_of("https://user@charts.example.com:8443/x"), "charts.example.com:8443");
    }
}
