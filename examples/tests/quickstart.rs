//! The README's first command, as a test: the whole workflow (Git repo, embedded API server,
//! Application sync, self-heal, image update, prune) must succeed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_succeeds() {
    let ok = gitops_examples::quickstart::run().await.expect("the quickstart runs");
    assert!(ok, "a quickstart step failed (see the summary above)");
}
