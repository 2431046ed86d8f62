//! Records the Git commit the binaries are built from, for `--version`, and links them with
//! packed relative relocations and the hot functions laid out together where the toolchain
//! can. Shared by `gitops-examples` and `gitops-render-cli`, whose `render` example is also
//! linked statically.

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
    link_statically();
}

/// Links the binaries with `-z pack-relative-relocs` (DT_RELR, GNU ld 2.38+ with glibc 2.36+)
/// when the toolchain accepts it: a position-independent binary then carries a few kB of
/// relocations instead of a megabyte, which the loader would read and apply at every start
/// (measured on `render` while it was dynamic: 1.2 MB less peak memory; it is now static, at
/// a fixed address, with none of them). Elsewhere nothing changes.
fn pack_relative_relocations() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // Run too: a C library older than 2.36 refuses to load such a binary.
    let flags = ["-Wl,-z,pack-relative-relocs".to_string()];
    if links("relr", &flags, true) {
        println!("cargo:rustc-link-arg-examples={}", flags[0]);
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
    let Ok(list) = list.canonicalize() else {
        return;
    };
    let flags = [format!("-Wl,--symbol-ordering-file={}", list.display()), "-Wl,--no-warn-symbol-ordering".to_string()];
    // GNU ld and gold do not know the option.
    if links("order", &flags, false) {
        for flag in &flags {
            println!("cargo:rustc-link-arg-examples={flag}");
        }
    }
}

/// Links `gitops-render-cli`'s example as a static executable against glibc's archives (see
/// that library's documentation for why that package only). Rustc's own switch,
/// `-C target-feature=+crt-static`, holds for a whole build, proc-macros included, which
/// cannot be static; so the link gets `-static`, and a directory searched before the system's
/// where each C library rustc names (`-lc`, `-lm`, `-lgcc_s` ...) is a linker script naming
/// the archive: the linker then finds no shared object to take.
///
/// `-static` rather than `-static-pie`: a position-independent binary relocates its 0.8 MB of
/// `.data.rel.ro` (vtables, tables of string slices) as it starts, which writes, and so keeps,
/// every page of it; at a fixed address the linker has resolved them and a run reads only
/// the pages it uses (on the 500-application fleet: 18.4 MB peak against 19.0). What that
/// gives up is address-space randomization for this one short-lived command, which `kubectl`
/// (a Go binary, also static at a fixed address) does not have either. A toolchain without
/// the archives, or whose probe program does not link and run, leaves the binary dynamic.
fn link_statically() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_PKG_NAME") != "gitops-render-cli"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return;
    }
    let Ok(out) = std::env::var("OUT_DIR") else { return };
    let dir = std::path::Path::new(&out).join("static-libs");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // Where the C compiler finds an archive: an absolute path, or the bare name when it has none.
    let archive = |name: &str| {
        let out = std::process::Command::new(&cc).arg(format!("-print-file-name={name}")).output().ok()?;
        let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (path.is_absolute() && path.is_file()).then_some(path)
    };
    let libs: [(&str, &[&str]); 7] = [
        ("c", &["libc.a"]),
        ("m", &["libm.a"]),
        ("pthread", &["libpthread.a"]),
        ("dl", &["libdl.a"]),
        ("rt", &["librt.a"]),
        ("util", &["libutil.a"]),
        // The unwinder, which the dynamic link takes from libgcc_s.so.
        ("gcc_s", &["libgcc_eh.a", "libgcc.a"]),
    ];
    for (name, archives) in libs {
        let Some(paths) = archives.iter().map(|a| archive(a)).collect::<Option<Vec<_>>>() else { return };
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        if std::fs::write(dir.join(format!("lib{name}.a")), format!("INPUT({})\n", list.join(" "))).is_err() {
            return;
        }
    }
    let flags = ["-static".to_string(), format!("-L{}", dir.display())];
    if links("static", &flags, true) {
        for flag in &flags {
            println!("cargo:rustc-link-arg-examples={flag}");
        }
    }
}

/// Whether the same rustc, target and flags link a one-line program with these link
/// arguments (and, with `run`, whether the program then runs).
fn links(name: &str, flags: &[String], run: bool) -> bool {
    let (Ok(out), Ok(rustc)) = (std::env::var("OUT_DIR"), std::env::var("RUSTC")) else {
        return false;
    };
    let dir = std::path::Path::new(&out);
    let src = dir.join(format!("{name}-probe.rs"));
    let bin = dir.join(format!("{name}-probe"));
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return false;
    }
    let mut probe = std::process::Command::new(rustc);
    probe.arg(&src).arg("-o").arg(&bin);
    if let Ok(target) = std::env::var("TARGET") {
        probe.args(["--target", &target]);
    }
    let encoded = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    probe.args(encoded.split('\x1f').filter(|f| !f.is_empty()));
    for flag in flags {
        probe.arg("-C").arg(format!("link-arg={flag}"));
    }
    let quiet = |c: &mut std::process::Command| {
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
    };
    // A program built for another machine is not run here: linking is the test.
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    quiet(&mut probe) && (!run || !native || quiet(&mut std::process::Command::new(&bin)))
}
