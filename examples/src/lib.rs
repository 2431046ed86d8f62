//! Shared code of the example binaries.

pub mod quickstart;
