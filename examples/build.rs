//! Records the Git commit the binaries are built from, for `--version`, and links them with
//! packed relative relocations and the hot functions laid out together where the toolchain
//! can.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GITOPS_COMMIT={commit}");
    // A new commit changes HEAD or the branch it points at.
    for path in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    pack_relative_relocations();
    order_symbols();
}

/// Links the binaries with `-z pack-relative-relocs` (DT_RELR, GNU ld 2.38+ with glibc 2.36+)
/// when the C toolchain accepts it: a position-independent binary then carries a few kB of
/// relocations instead of a megabyte, which the loader would read and apply at every start
/// (measured on `render`: 1.2 MB less peak memory). Elsewhere nothing changes.
fn pack_relative_relocations() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let Ok(out) = std::env::var("OUT_DIR") else { return };
    let dir = std::path::Path::new(&out);
    let src = dir.join("relr-probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let probe = std::process::Command::new(cc)
        .arg("-Wl,-z,pack-relative-relocs")
        .arg(&src)
        .arg("-o")
        .arg(dir.join("relr-probe"))
        .stderr(std::process::Stdio::null())
        .status();
    if probe.is_ok_and(|s| s.success()) {
        println!("cargo:rustc-link-arg-examples=-Wl,-z,pack-relative-relocs");
    }
}

/// Hands `symbol-order.txt` (the functions `render` runs, from
/// `benches/scripts/symbol-order.sh`) to the linker when it is LLD, as rustc's default linker
/// on x86_64 Linux is: those functions are then laid out together at the start of the code.
/// The kernel maps a program's code 16 pages around each page it runs, so code spread thin
/// costs memory; packed, `render` keeps about 2 MB less of its binary resident. Names the list
/// has and the binary lacks are skipped; with another linker nothing changes.
fn order_symbols() {
    let list = std::path::Path::new("symbol-order.txt");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let (Ok(list), Ok(out), Ok(rustc)) = (list.canonicalize(), std::env::var("OUT_DIR"), std::env::var("RUSTC")) else {
        return;
    };
    let flags = [format!("-Wl,--symbol-ordering-file={}", list.display()), "-Wl,--no-warn-symbol-ordering".to_string()];
    // The same rustc, target and flags link a one-line program with the option, or it is
    // not used: GNU ld and gold do not know it.
    let dir = std::path::Path::new(&out);
    let src = dir.join("order-probe.rs");
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return;
    }
    let mut probe = std::process::Command::new(rustc);
    probe.arg(&src).arg("-o").arg(dir.join("order-probe"));
    if let Ok(target) = std::env::var("TARGET") {
        probe.args(["--target", &target]);
    }
    let encoded = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    probe.args(encoded.split('\x1f').filter(|f| !f.is_empty()));
    for flag in &flags {
        probe.arg("-C").arg(format!("link-arg={flag}"));
    }
    let linked = probe.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
    if linked.is_ok_and(|s| s.success()) {
        for flag in &flags {
            println!("cargo:rustc-link-arg-examples={flag}");
        }
    }
}
