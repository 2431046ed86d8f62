//! The README's first command, as a test: the whole workflow (Git repo, embedded API server,
//! Application sync, self-heal, image update, prune) must succeed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_succeeds() {
    let ok = gitops_examples::quickstart::run().await.expect("the quickstart runs");
    assert!(ok, "a quickstart step failed (see the summary above)");
}

/// The binary in a pipe: no escape codes, and the summary's columns aligned whatever the
/// lengths of the cells.
#[test]
fn the_summary_reads_in_a_pipe() {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("examples/quickstart")).unwrap();
    if !bin.exists() {
        println!("quickstart not built: skipped");
        return;
    }
    let out = std::process::Command::new(&bin).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in a pipe:\n{text}");
    let summary: Vec<&str> = text.lines().skip_while(|l| *l != "summary").skip(1).take(7).collect();
    assert_eq!(summary.len(), 7, "{text}");
    let column = summary[0].find("result").unwrap();
    for line in &summary[1..] {
        assert!(line.ends_with(" ok"), "{line}");
        assert_eq!(line.len(), column + 2, "misaligned: {line}");
    }
}
