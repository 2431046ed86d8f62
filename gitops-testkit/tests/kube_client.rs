//! The real kube-client against the in-process server: verbs, server-side apply ownership and
//! conflicts, dry-run, finalizers, garbage collection, watch resume and 410.

use futures::StreamExt;
use gitops_core::json;
use gitops_testkit::TestCluster;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

fn cm(name: &str, data: gitops_core::value::Value) -> ConfigMap {
    gitops_core::value::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )
    .unwrap()
}

#[tokio::test]
async fn crud_and_list_with_selectors() {
    let c = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let mut a = cm("a", json!({"k": "1"}));
    a.metadata.labels = Some([("tier".to_string(), "web".to_string())].into());
    api.create(&PostParams::default(), &a).await.unwrap();
    api.create(&PostParams::default(), &cm("b", json!({}))).await.unwrap();
    let err = api.create(&PostParams::default(), &cm("b", json!({}))).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"), "{err}");
    let web = api.list(&ListParams::default().labels("tier=web")).await.unwrap();
    assert_eq!(web.items.len(), 1);
    let page = api.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.metadata.continue_.is_some());
    let got = api.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "1");
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let err = api.get("a").await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err}");
    let missing_ns: Api<ConfigMap> = Api::namespaced(c.client(), "nope");
    let err = missing_ns.create(&PostParams::default(), &cm("x", json!({}))).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err}");
}

#[tokio::test]
async fn server_side_apply_ownership_conflicts_and_dry_run() {
    let c = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    api.patch("s", &PatchParams::apply("gitops"), &Patch::Apply(&cm("s", json!({"a": "1", "b": "2"})))).await.unwrap();
    // Another manager changing a field gitops owns conflicts, unless forced.
    let err =
        api.patch("s", &PatchParams::apply("other"), &Patch::Apply(&cm("s", json!({"a": "9"})))).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.message.contains(".data.a")), "{err}");
    let forced =
        api.patch("s", &PatchParams::apply("other").force(), &Patch::Apply(&cm("s", json!({"a": "9"})))).await.unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");
    let managers: Vec<String> =
        forced.metadata.managed_fields.unwrap().iter().filter_map(|m| m.manager.clone()).collect();
    assert_eq!(managers, ["gitops", "other"]);
    // gitops drops b: removed, since nobody else owns it.
    let after = api.patch("s", &PatchParams::apply("gitops"), &Patch::Apply(&cm("s", json!({})))).await.unwrap();
    assert!(!after.data.unwrap_or_default().contains_key("b"));
    // Dry run changes nothing.
    let dry = api
        .patch("s", &PatchParams::apply("gitops").dry_run(), &Patch::Apply(&cm("s", json!({"z": "1"}))))
        .await
        .unwrap();
    assert_eq!(dry.data.unwrap()["z"], "1");
    assert!(!api.get("s").await.unwrap().data.unwrap().contains_key("z"));
}

#[tokio::test]
async fn finalizers_and_garbage_collection() {
    let c = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());

    let deploys: Api<Deployment> = Api::namespaced(c.client(), "default");
    let d: Deployment = gitops_core::value::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})).unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    let rs: Api<ReplicaSet> = Api::namespaced(c.client(), "default");
    assert_eq!(rs.list(&ListParams::default().labels("app=web")).await.unwrap().items.len(), 1);
    let status = deploys.get("web").await.unwrap().status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    deploys.delete("web", &DeleteParams::background()).await.unwrap();
    assert_eq!(rs.list(&ListParams::default().labels("app=web")).await.unwrap().items.len(), 0);
}

#[tokio::test]
async fn watch_streams_resumes_and_expires() {
    let c = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default().timeout(5), &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("w", json!({"a": "1"}))).await.unwrap();
    api.patch("w", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": "2"}}))).await.unwrap();
    let mut kinds = Vec::new();
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            WatchEvent::Added(o) => kinds.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => kinds.push(format!("MODIFIED {}", o.data.unwrap()["a"])),
            _ => {}
        }
        if kinds.len() == 2 {
            break;
        }
    }
    assert_eq!(kinds, ["ADDED w", "MODIFIED 2"]);
    // Resuming from the list's version replays both changes.
    let mut resumed = api.watch(&WatchParams::default().timeout(1), &rv).await.unwrap().boxed();
    let mut n = 0;
    while let Some(Ok(ev)) = resumed.next().await {
        if matches!(ev, WatchEvent::Added(_) | WatchEvent::Modified(_)) {
            n += 1;
        }
    }
    assert_eq!(n, 2);
    // A version older than the retained history is 410 Gone.
    let mut expired = api.watch(&WatchParams::default().timeout(1), "1").await.unwrap().boxed();
    match expired.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_replicas() {
    let c = TestCluster::start().await.unwrap();
    let api: Api<Deployment> = Api::namespaced(c.client(), "default");
    let d: Deployment = gitops_core::value::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=web"));
    let patched =
        api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}}))).await.unwrap();
    assert_eq!(patched.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(api.get("web").await.unwrap().spec.replicas, Some(5));
    let err =
        api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": "many"}}))).await;
    assert!(matches!(err, Err(kube::Error::Api(ref s)) if s.code == 400), "{err:?}");
    assert!(api.get_scale("missing").await.is_err());
}

/// A restart keeps the store: while stopped, requests fail and watches end; resumed, a
/// kube-runtime watcher reconnects on its own and sees what changed, and the objects are as
/// they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_its_store_and_watchers_resume() {
    use kube::runtime::watcher;
    let mut c = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    api.create(&PostParams::default(), &cm("before", json!({"k": "1"}))).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let watching = tokio::spawn(watcher(api.clone(), watcher::Config::default()).for_each(move |e| {
        if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = e {
            record.lock().unwrap().push(o.metadata.name.unwrap_or_default());
        }
        async {}
    }));
    let wait_for = |name: &'static str| {
        let seen = seen.clone();
        async move {
            for _ in 0..200 {
                if seen.lock().unwrap().iter().any(|n| n == name) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the watcher never saw {name}: {:?}", seen.lock().unwrap());
        }
    };
    wait_for("before").await;
    c.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(api.get("before").await.is_err(), "a stopped server answers nothing");
    c.resume().await.unwrap();
    assert_eq!(api.get("before").await.unwrap().data.unwrap()["k"], "1");
    api.create(&PostParams::default(), &cm("after", json!({}))).await.unwrap();
    wait_for("after").await;
    watching.abort();
}
