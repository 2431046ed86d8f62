//! GitSource against real servers started on 127.0.0.1: `git daemon`, `git http-backend`
//! (anonymous, basic auth, bearer token) and OpenSSH `sshd`. Each protocol: clone, fetch a
//! new commit, every revision kind (semver ranges included), an older commit past the shallow
//! boundary, reading a tree, pushing. Failures: unreachable host, wrong credentials, unknown
//! host key, unknown ref, malformed and option-injecting URLs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops_core::{FileTree, Source};
use gitops_git::write::{Signature, commit_files, push};
use gitops_git::{Credentials, Error, GitSource};
use gitops_testkit::git::{GitDaemon, GitHttp, HttpAuth, SshServer};

use gitops_testkit::git::run_git as git;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
    first: String,
}

/// `root/config.git` (bare) with history: 5 commits, tags v1.0.0 v1.2.3 v1.5.0-rc.1 v1.5.0
/// v2.0.0, a `release` branch; `work` is a clone to make new commits in.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    git(&root, &["init", "-q", "--bare", "-b", "main", "config.git"]);
    git(&root.join("config.git"), &["config", "http.receivepack", "true"]);
    git(&work, &["init", "-q", "-b", "main"]);
    let mut first = String::new();
    for (i, tag) in ["v1.0.0", "v1.2.3", "v1.5.0-rc.1", "v1.5.0", "v2.0.0"].iter().enumerate() {
        std::fs::create_dir_all(work.join("apps/web")).unwrap();
        std::fs::write(work.join("apps/web/version.txt"), format!("{tag}\n")).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &format!("release {tag}")]);
        git(&work, &["tag", tag]);
        if i == 0 {
            first = git(&work, &["rev-parse", "HEAD"]);
            git(&work, &["branch", "release"]);
        }
    }
    git(&work, &["remote", "add", "origin", root.join("config.git").to_str().unwrap()]);
    git(&work, &["push", "-q", "origin", "main", "release", "--tags"]);
    Fixture { _dir: dir, root, work, first }
}

/// `git http-backend` over the fixture three ways: anonymous HTTP, HTTPS with basic
/// authentication, HTTPS with a bearer token; with the credentials (and CA bundles) that
/// open the HTTPS ones.
struct HttpServers {
    anon: GitHttp,
    basic: GitHttp,
    bearer: GitHttp,
    basic_creds: Credentials,
    bearer_creds: Credentials,
    _tls: tempfile::TempDir,
}

async fn http_servers(fx: &Fixture) -> HttpServers {
    let tls = tempfile::tempdir().unwrap();
    let anon = GitHttp::start(&fx.root, HttpAuth::Anonymous).await.unwrap();
    let basic = GitHttp::start_tls(&fx.root, HttpAuth::Basic("ci".into(), "s3cret-pass".into()), &tls.path().join("a"))
        .await
        .unwrap();
    let bearer =
        GitHttp::start_tls(&fx.root, HttpAuth::Bearer("tok-123456".into()), &tls.path().join("b")).await.unwrap();
    let ca = |s: &GitHttp| Some(s.ca_file().unwrap().to_path_buf());
    let basic_creds = Credentials {
        username: Some("ci".into()),
        password: Some("s3cret-pass".into()),
        ca_file: ca(&basic),
        ..Default::default()
    };
    let bearer_creds =
        Credentials { bearer_token: Some("tok-123456".into()), ca_file: ca(&bearer), ..Default::default() };
    HttpServers { anon, basic, bearer, basic_creds, bearer_creds, _tls: tls }
}

fn source(cache: &Path) -> GitSource {
    GitSource::new(cache).unwrap().with_timeout(Duration::from_secs(20))
}

/// Clone, every revision kind, a tree, a new commit fetched, an old commit past the shallow
/// boundary, and a push through the same server.
async fn exercise(fx: &Fixture, src: GitSource, url: &str, push_url: &str, push_creds: &Credentials) {
    let head = src.resolve(url, "HEAD").await.unwrap();
    assert_eq!(head.commit, git(&fx.work, &["rev-parse", "HEAD"]));
    let tree = src.open(&head).await.unwrap();
    assert_eq!(tree.read_to_string("apps/web/version.txt").unwrap(), "v2.0.0\n");
    let cache_dir = src.cache_dir_of(url);
    let depth = git(&cache_dir, &["rev-list", "--count", "HEAD"]);
    assert!(cache_dir.join("shallow").exists(), "the first clone is shallow (HEAD has {depth} commits)");

    let branch = src.resolve(url, "release").await.unwrap();
    assert_eq!(branch.reference, "refs/heads/release");
    assert_eq!(branch.commit, fx.first);
    let tag = src.resolve(url, "v1.2.3").await.unwrap();
    assert_eq!(tag.reference, "refs/tags/v1.2.3");
    assert_eq!(src.open(&tag).await.unwrap().read_to_string("apps/web/version.txt").unwrap(), "v1.2.3\n");
    let full = src.resolve(url, "refs/tags/v1.0.0").await.unwrap();
    assert_eq!(full.commit, fx.first);
    for (range, want) in [
        (">=1.2.0 <2.0.0", "refs/tags/v1.5.0"),
        ("^1", "refs/tags/v1.5.0"),
        ("~1.2", "refs/tags/v1.2.3"),
        ("*", "refs/tags/v2.0.0"),
    ] {
        let r = src.resolve(url, range).await.unwrap();
        assert_eq!(r.reference, want, "{range}");
    }
    let err = src.resolve(url, ">=3.0.0").await.unwrap_err().to_string();
    assert!(err.contains("no tag matches"), "{err}");

    // An older commit than the shallow clone holds: deepened on demand, full and abbreviated.
    let v1_2 = git(&fx.work, &["rev-parse", "v1.2.3~1"]);
    let old = src.resolve(url, &v1_2).await.unwrap();
    assert_eq!(old.commit, v1_2);
    assert_eq!(src.open(&old).await.unwrap().read_to_string("apps/web/version.txt").unwrap(), "v1.0.0\n");
    assert_eq!(src.resolve(url, &fx.first[..10]).await.unwrap().commit, fx.first);

    let err = src.resolve(url, "no-such-branch").await.unwrap_err();
    assert!(matches!(err, Error::UnknownRevision { .. }), "{err}");

    // A new commit, pushed through the server under test, then fetched.
    let clone = fx.root.join(format!("clone-{}", std::process::id() ^ url.len() as u32));
    let _ = std::fs::remove_dir_all(&clone);
    git(&fx.root, &["clone", "-q", fx.root.join("config.git").to_str().unwrap(), clone.to_str().unwrap()]);
    let author = Signature::new("Image Bot", "bot@example.com");
    let committer = Signature::new("CI", "ci@example.com");
    let id =
        commit_files(&clone, Some("main"), &[("apps/web/version.txt", b"v2.1.0\n")], "web 2.1.0", &author, &committer)
            .unwrap()
            .expect("a change");
    assert!(
        commit_files(&clone, None, &[("apps/web/version.txt", b"v2.1.0\n")], "again", &author, &committer)
            .unwrap()
            .is_none()
    );
    push(&clone, push_url, "main", push_creds).unwrap();
    let log = git(&fx.root.join("config.git"), &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"]);
    assert_eq!(log, "Image Bot <bot@example.com>|CI <ci@example.com>|web 2.1.0");
    let new = src.resolve(url, "main").await.unwrap();
    assert_eq!(new.commit, id);
    assert!(src.changed(&head, &new, "apps/web").await.unwrap());
    assert_eq!(src.open(&new).await.unwrap().read_to_string("apps/web/version.txt").unwrap(), "v2.1.0\n");
    // Restore, so protocols share one history.
    git(&fx.root.join("config.git"), &["update-ref", "refs/heads/main", &head.commit]);
    let _ = std::fs::remove_dir_all(&clone);
}

#[tokio::test(flavor = "multi_thread")]
async fn git_daemon() {
    let fx = fixture();
    let daemon = GitDaemon::start(&fx.root).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    exercise(&fx, source(cache.path()), &url, &url, &Credentials::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_http_anonymous_and_https_with_basic_auth_bearer_and_a_ca_bundle() {
    let fx = fixture();
    let HttpServers { anon, basic, bearer, basic_creds, bearer_creds, _tls } = http_servers(&fx).await;

    // Reads anonymously over HTTP; pushes need credentials, so they go to the HTTPS server.
    let cache = tempfile::tempdir().unwrap();
    exercise(&fx, source(cache.path()), &anon.url("config.git"), &basic.url("config.git"), &basic_creds).await;

    let cache = tempfile::tempdir().unwrap();
    let url = basic.url("config.git");
    let src =
        source(cache.path()).with_credentials(&format!("{}/", url.rsplit_once('/').unwrap().0), basic_creds.clone());
    exercise(&fx, src, &url, &url, &basic_creds).await;

    let cache = tempfile::tempdir().unwrap();
    let url = bearer.url("config.git");
    let src = source(cache.path()).with_credentials(&url, bearer_creds.clone());
    exercise(&fx, src, &url, &url, &bearer_creds).await;

    // Without the CA bundle the server's certificate is not trusted.
    let cache = tempfile::tempdir().unwrap();
    let no_ca = Credentials { ca_file: None, ..basic_creds.clone() };
    let err = source(cache.path())
        .with_credentials("https://", no_ca)
        .resolve(&basic.url("config.git"), "HEAD")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");

    // Wrong credentials: a clear error, no secret in it.
    let cache = tempfile::tempdir().unwrap();
    let wrong = Credentials { password: Some("wrong-password".into()), ..basic_creds.clone() };
    let err = source(cache.path())
        .with_credentials("https://", wrong.clone())
        .resolve(&basic.url("config.git"), "HEAD")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Fetch { .. }) && !text.contains("wrong-password"), "{text}");
    let cache = tempfile::tempdir().unwrap();
    let bad_token = Credentials { bearer_token: Some("not-the-token".into()), ..bearer_creds.clone() };
    let text = source(cache.path())
        .with_credentials("https://", bad_token)
        .resolve(&bearer.url("config.git"), "HEAD")
        .await
        .unwrap_err()
        .to_string();
    assert!(!text.contains("not-the-token"), "{text}");
    let err = push(&fx.work, &basic.url("config.git"), "main", &wrong).unwrap_err();
    assert!(!err.to_string().contains("wrong-password"), "{err}");

    // A password is never sent over plain HTTP.
    let cache = tempfile::tempdir().unwrap();
    let plain = Credentials { username: Some("ci".into()), password: Some("s3cret-pass".into()), ..Default::default() };
    let plain_basic = GitHttp::start(&fx.root, HttpAuth::Basic("ci".into(), "s3cret-pass".into())).await.unwrap();
    let text = source(cache.path())
        .with_credentials("http://", plain)
        .resolve(&plain_basic.url("config.git"), "HEAD")
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("clear text"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_with_keys_and_known_hosts() {
    let fx = fixture();
    let keys = tempfile::tempdir().unwrap();
    let Some(server) = SshServer::start_or_skip(&fx.root, keys.path()) else { return };
    let creds =
        Credentials { ssh_key: Some(server.user_key()), known_hosts: Some(server.known_hosts()), ..Default::default() };
    let url = server.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    exercise(&fx, source(cache.path()).with_credentials("ssh://", creds.clone()), &url, &url, &creds).await;

    // The scp-like form of Argo CD manifests needs port 22; ssh's own config would be needed
    // for another port, so only its parsing is checked here.
    gitops_git::validate_url("git@gitlab.example.no:fintech/payments-config.git").unwrap();

    // Unknown host key: refused unless explicitly allowed.
    let empty = keys.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let strict = Credentials { known_hosts: Some(empty.clone()), ..creds.clone() };
    let cache = tempfile::tempdir().unwrap();
    let err = source(cache.path()).with_credentials("ssh://", strict).resolve(&url, "HEAD").await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    let lax = Credentials { known_hosts: Some(empty), insecure_accept_any_host_key: true, ..creds.clone() };
    let cache = tempfile::tempdir().unwrap();
    assert!(source(cache.path()).with_credentials("ssh://", lax).resolve(&url, "HEAD").await.is_ok());

    // A key with a passphrase: the right one opens it, a wrong one does not.
    let with_pass = Credentials {
        ssh_key: Some(server.passphrase_key()),
        ssh_passphrase: Some(SshServer::PASSPHRASE.into()),
        ..creds.clone()
    };
    let cache = tempfile::tempdir().unwrap();
    let rev = source(cache.path()).with_credentials("ssh://", with_pass).resolve(&url, "HEAD").await.unwrap();
    assert_eq!(rev.commit, git(&fx.work, &["rev-parse", "HEAD"]));
    let wrong =
        Credentials { ssh_key: Some(server.passphrase_key()), ssh_passphrase: Some("wrong".into()), ..creds.clone() };
    let cache = tempfile::tempdir().unwrap();
    let err = source(cache.path()).with_credentials("ssh://", wrong).resolve(&url, "HEAD").await.unwrap_err();
    assert!(!err.to_string().contains("correct horse"), "{err}");
    let none = Credentials { ssh_key: Some(server.passphrase_key()), ..creds.clone() };
    let cache = tempfile::tempdir().unwrap();
    assert!(
        source(cache.path()).with_credentials("ssh://", none).resolve(&url, "HEAD").await.is_err(),
        "no passphrase: refused, no prompt"
    );

    // A key the server does not know.
    let other = Credentials { ssh_key: Some(server.other_key()), ..creds.clone() };
    let cache = tempfile::tempdir().unwrap();
    assert!(source(cache.path()).with_credentials("ssh://", other).resolve(&url, "HEAD").await.is_err());
}

#[tokio::test]
async fn unreachable_hosts_fail_fast_and_bad_urls_are_refused() {
    let cache = tempfile::tempdir().unwrap();
    let src = source(cache.path()).with_timeout(Duration::from_secs(5));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for url in [format!("git://127.0.0.1:{port}/x.git"), format!("http://127.0.0.1:{port}/x.git")] {
        let t = Instant::now();
        let err = src.resolve(&url, "HEAD").await.unwrap_err();
        assert!(matches!(err, Error::Fetch { .. }), "{url}: {err}");
        assert!(t.elapsed() < Duration::from_secs(8), "{url}: took {:?}", t.elapsed());
    }
    for url in [
        "ssh://-oProxyCommand=touch${IFS}/tmp/pwned/x",
        "ssh://user@-oProxyCommand=id/repo.git",
        "-oProxyCommand=id",
        "ext::sh -c id",
        "fd::17/foo",
        "git://",
        "http://exa mple.com/repo.git",
        "",
    ] {
        let err = src.resolve(url, "HEAD").await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { .. } | Error::Fetch { .. }), "{url}: {err}");
        assert!(gitops_git::validate_url(url).is_err(), "{url} was accepted");
    }
    assert!(!Path::new("/tmp/pwned").exists());
    assert_eq!(gitops_git::redact("https://user:tok@host/r.git"), "https://***@host/r.git");
}

/// Plain remote files (Kustomize's `resources: [https://host/file.yaml]`): fetched with the
/// credentials for their URL over HTTPS, never over plain HTTP; HTTP errors worded as
/// Kustomize words them; no secret in any error.
#[tokio::test(flavor = "multi_thread")]
async fn remote_files_over_http_and_https() {
    let fx = fixture();
    let HttpServers { anon, basic, bearer, basic_creds, bearer_creds, _tls } = http_servers(&fx).await;
    let cache = tempfile::tempdir().unwrap();
    // git http-backend serves a repository's HEAD as a plain file.
    let fetch = |src: &GitSource, url: String| {
        let loader = src.remote_file_loader();
        std::thread::spawn(move || loader(&url)).join().unwrap()
    };
    let head = fetch(&source(cache.path()), anon.url("config.git/HEAD")).unwrap();
    assert_eq!(String::from_utf8(head).unwrap(), "ref: refs/heads/main\n");
    let err = fetch(&source(cache.path()), anon.url("config.git/no-such-file.yaml")).unwrap_err();
    assert!(err.contains("HTTP Error: status code 404"), "{err}");

    let src = source(cache.path()).with_credentials("https://", basic_creds.clone());
    assert_eq!(fetch(&src, basic.url("config.git/HEAD")).unwrap(), b"ref: refs/heads/main\n");
    let bearer_src = source(cache.path()).with_credentials("https://", bearer_creds);
    assert_eq!(fetch(&bearer_src, bearer.url("config.git/HEAD")).unwrap(), b"ref: refs/heads/main\n");
    // Wrong password: the server's status, and no secret.
    let wrong = Credentials { password: Some("wrong-password".into()), ..basic_creds.clone() };
    let err =
        fetch(&source(cache.path()).with_credentials("https://", wrong), basic.url("config.git/HEAD")).unwrap_err();
    assert!(err.contains("401") && !err.contains("wrong-password"), "{err}");
    // Without the CA bundle the certificate is not trusted.
    let no_ca = Credentials { ca_file: None, ..basic_creds.clone() };
    let err =
        fetch(&source(cache.path()).with_credentials("https://", no_ca), basic.url("config.git/HEAD")).unwrap_err();
    assert!(err.contains("GET https://") && !err.contains("s3cret-pass"), "{err}");
    // Credentials are not sent over plain HTTP: the server asks for them.
    let plain_basic = GitHttp::start(&fx.root, HttpAuth::Basic("ci".into(), "s3cret-pass".into())).await.unwrap();
    let plain = Credentials { username: Some("ci".into()), password: Some("s3cret-pass".into()), ..Default::default() };
    let err = fetch(&source(cache.path()).with_credentials("http://", plain), plain_basic.url("config.git/HEAD"))
        .unwrap_err();
    assert!(err.contains("401"), "{err}");
    // Nobody listening: an error within the timeout.
    let started = Instant::now();
    let quick = GitSource::new(cache.path()).unwrap().with_timeout(Duration::from_secs(2));
    let err = fetch(&quick, "http://127.0.0.1:1/app.yaml".into()).unwrap_err();
    assert!(err.contains("GET http://127.0.0.1:1/app.yaml") && started.elapsed() < Duration::from_secs(10), "{err}");
}
