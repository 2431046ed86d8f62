//! The test API server through the real kube-client on loopback: server-side applies per
//! second (`api_server/apply`, one ConfigMap changed each time, so each apply is a real write
//! with managedFields), a no-op apply (`api_server/apply-unchanged`), and the latency of
//! listing a namespace of 10,000 ConfigMaps (`api_server/list/10000`) and of a label-selected
//! list of 100 among them (`api_server/list-selector/100-of-10000`).
//!
//! ```text
//! cargo bench -p gitops-benches --bench api_server
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gitops_core::json;
use gitops_testkit::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _guard = rt.enter();
    let testkit = rt.block_on(TestCluster::start()).unwrap();
    let client = testkit.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("bench").force();
    let n = AtomicU64::new(0);

    let mut group = c.benchmark_group("api_server");
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"i": i.to_string()}});
            rt.block_on(api.patch("applied", &pp, &Patch::Apply(&cm))).unwrap()
        })
    });
    let fixed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fixed"}, "data": {"k": "v"}});
    rt.block_on(api.patch("fixed", &pp, &Patch::Apply(&fixed))).unwrap();
    group.bench_function("apply-unchanged", |b| {
        b.iter(|| rt.block_on(api.patch("fixed", &pp, &Patch::Apply(&fixed))).unwrap())
    });

    // 10,000 objects in one namespace, stored directly (the list is what is measured).
    {
        let state = testkit.state();
        let mut st = state.lock().unwrap();
        let ns = st.registry.by_kind("", "v1", "Namespace").cloned().unwrap();
        st.controller_write(&ns, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}), "")
            .unwrap();
        let res = st.registry.by_kind("", "v1", "ConfigMap").cloned().unwrap();
        for i in 0..10_000 {
            let tier = if i % 100 == 0 { "gold" } else { "bronze" };
            let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:05}"), "namespace": "big", "labels": {"tier": tier}},
                "data": {"k": format!("value-{i}")}});
            st.controller_write(&res, obj, "").unwrap();
        }
    }
    let big: Api<ConfigMap> = Api::namespaced(client, "big");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("list/10000", |b| {
        b.iter(|| {
            let l = rt.block_on(big.list(&ListParams::default())).unwrap();
            // With the namespace's own kube-root-ca.crt, as a real server populates it.
            let ours = l.items.iter().filter(|c| c.metadata.name.as_deref().is_some_and(|n| n.starts_with("cm-")));
            assert_eq!(ours.count(), 10_000);
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("list-selector/100-of-10000", |b| {
        b.iter(|| {
            let l = rt.block_on(big.list(&ListParams::default().labels("tier=gold"))).unwrap();
            assert_eq!(l.items.len(), 100);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
