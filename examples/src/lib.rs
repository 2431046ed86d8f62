//! Shared code of the example binaries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gitops_examples::quickstart::Error> {
//! let all_steps_ok = gitops_examples::quickstart::run().await?;
//! assert!(all_steps_ok);
//! # Ok(()) }
//! ```

pub mod agent;
pub mod cli;
pub mod metrics;
pub mod progress;
pub mod quickstart;

/// Whether to colour what goes to standard error: only on a terminal, and never with
/// `NO_COLOR` set (<https://no-color.org>), so logs written to a file or a pipe carry no
/// escape codes.
pub fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    colour_allowed(std::env::var_os("NO_COLOR").as_deref(), std::io::stderr().is_terminal())
}

/// The rule of [`colour_on_stderr`]: a terminal, and `NO_COLOR` unset or empty.
pub fn colour_allowed(no_color: Option<&std::ffi::OsStr>, terminal: bool) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod colour_tests {
    use super::colour_allowed;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(None, true));
        assert!(!colour_allowed(None, false));
        assert!(!colour_allowed(Some(std::ffi::OsStr::new("1")), true));
        assert!(colour_allowed(Some(std::ffi::OsStr::new("")), true));
    }
}
