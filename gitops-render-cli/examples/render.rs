//! `render DIR`: prints what `kubectl kustomize DIR` prints (see the `gitops_render_cli`
//! library for the flags and how this binary is linked).
//!
//! ```text
//! cargo run --release --example render -- [--load-restrictor none] DIR
//! ```

fn main() -> std::process::ExitCode {
    gitops_render_cli::main()
}

/// mimalloc (built without transparent huge pages, which would double the peak memory): on a
/// 500-application fleet the whole render takes about a quarter less time than with the system
/// allocator, for about 1 MB more peak memory (`cargo bench --bench render_vs_kubectl`). Its
/// version 2 (the workspace's `v2` feature): the Rust allocator asks for every block with its
/// alignment, and version 3 serves an 8-aligned block whose size is not a power of two (a
/// 56-byte map entry) from the next size class up, by a slow path, once its page is full.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
