//! The Helm repository client against chart repositories served on 127.0.0.1: credentials go
//! to the repository's host only unless the source passes them on (`passCredentials`), the
//! archive must match the index's digest, and an archive cannot write outside its chart.

use std::io::Write;

use gitops_core::{ChartRepository, FileTree};
use gitops_render::{HelmCredentials, HelmRepositories};
use gitops_testkit::files::FileServer;
use gitops_testkit::git::HttpAuth;
use sha2::{Digest, Sha256};

/// A `.tgz` holding `files` (path, content).
fn archive(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Written by hand so that a hostile path (`..`) is kept as it is.
        let name = header.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, content.as_bytes()).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn credentials_digests_and_archive_paths() {
    let index_dir = tempfile::tempdir().unwrap();
    let charts_dir = tempfile::tempdir().unwrap();
    let good =
        archive(&[("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"), ("web/values.yaml", "a: 1\n")]);
    let evil = archive(&[("web/Chart.yaml", "name: web\n"), ("web/../../escape.yaml", "x: 1\n")]);
    std::fs::write(charts_dir.path().join("web-1.0.0.tgz"), &good).unwrap();
    std::fs::write(charts_dir.path().join("web-1.1.0.tgz"), &good).unwrap();
    std::fs::write(charts_dir.path().join("web-1.2.0.tgz"), &evil).unwrap();
    let auth = HttpAuth::Basic("robot".into(), "chart-pass-1".into());
    // The archives on another host name than the index (localhost against 127.0.0.1).
    let archives = FileServer::start(charts_dir.path(), auth.clone()).await.unwrap();
    let index = FileServer::start(index_dir.path(), auth).await.unwrap();
    let elsewhere = archives.url("").replace("127.0.0.1", "localhost");
    let digest = hex(&Sha256::digest(&good));
    let evil_digest = hex(&Sha256::digest(&evil));
    std::fs::write(
        index_dir.path().join("index.yaml"),
        format!(
            "apiVersion: v1\nentries:\n  web:\n  - {{name: web, version: 1.0.0, digest: {digest}, urls: ['{elsewhere}web-1.0.0.tgz']}}\n  - {{name: web, version: 1.1.0, digest: '{}', urls: ['{elsewhere}web-1.1.0.tgz']}}\n  - {{name: web, version: 1.2.0-rc.1, digest: {evil_digest}, urls: ['{elsewhere}web-1.2.0.tgz']}}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let repo = index.url("");
    let client = HelmRepositories::new(vec![HelmCredentials {
        url_prefix: repo.clone(),
        username: "robot".into(),
        password: "chart-pass-1".into(),
    }]);

    // `~1.0` picks 1.0.0; the index was fetched with the credentials.
    let rev = client.resolve_chart(&repo, "web", "~1.0").await.unwrap();
    assert_eq!(rev.commit, "1.0.0");
    assert!(index.authorizations().iter().all(|a| a.starts_with("Basic ")));
    // The archive's host is another: no credentials go there, and it refuses.
    let e = client.open_chart(&rev).await.unwrap_err().to_string();
    assert!(e.contains("401"), "{e}");
    assert!(archives.authorizations().iter().all(String::is_empty), "{:?}", archives.authorizations());
    assert!(!e.contains("chart-pass-1"));
    // passCredentials: they go there too.
    let tree = client.open_chart_passing_credentials(&rev, true).await.unwrap();
    assert_eq!(tree.read_to_string("web/values.yaml").unwrap(), "a: 1\n");
    assert!(archives.authorizations().last().is_some_and(|a| a.starts_with("Basic ")));

    // An archive that does not match the index's digest is refused.
    let rev = client.resolve_chart(&repo, "web", "1.1.0").await.unwrap();
    let e = client.open_chart_passing_credentials(&rev, true).await.unwrap_err().to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    // A prerelease only when asked for; its archive writes outside the chart: refused.
    assert_eq!(client.resolve_chart(&repo, "web", "*").await.unwrap().commit, "1.1.0");
    let rev = client.resolve_chart(&repo, "web", ">=1.2.0-0").await.unwrap();
    assert_eq!(rev.commit, "1.2.0-rc.1");
    let e = client.open_chart_passing_credentials(&rev, true).await.unwrap_err().to_string();
    assert!(e.contains("leaves the chart"), "{e}");
    // No such chart, no such version.
    assert!(client.resolve_chart(&repo, "db", "1.0.0").await.unwrap_err().to_string().contains("not found"));
    assert!(client.resolve_chart(&repo, "web", "^2").await.unwrap_err().to_string().contains("satisfies"));
}
