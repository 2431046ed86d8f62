//! Shared code of the example binaries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gitops_examples::quickstart::Error> {
//! let all_steps_ok = gitops_examples::quickstart::run().await?;
//! assert!(all_steps_ok);
//! # Ok(()) }
//! ```

pub mod agent;
pub mod args;
pub mod quickstart;
