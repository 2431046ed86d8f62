//! The error type of gitops-core.

use std::fmt;

/// A position in a YAML source, counted from 1 as editors show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Everything that can go wrong in gitops-core.
///
/// Each variant names what it was working on: the source (a file path or a label the
/// caller gave), the document index inside a stream, the object or the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A YAML or JSON stream could not be read.
    #[error("{source_name}: document {document}{}: {message}", fmt_location(.location))]
    Yaml {
        /// The file path or label of the stream.
        source_name: String,
        /// Index of the document in the stream, from 0.
        document: usize,
        /// Where in the stream the problem is, when known.
        location: Option<Location>,
        /// What is wrong.
        message: String,
    },
    /// A document parsed but is not a valid Kubernetes object.
    #[error("{source_name}: document {document}{}: {message}", fmt_location(.location))]
    InvalidObject {
        /// The file path or label of the stream.
        source_name: String,
        /// Index of the document in the stream, from 0.
        document: usize,
        /// Where the document starts, when known.
        location: Option<Location>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A string that should be an [`ObjectKey`](crate::ObjectKey) is not one.
    #[error("invalid object key {input:?}: {reason}")]
    InvalidKey {
        /// The string given.
        input: String,
        /// Why it is not a key.
        reason: String,
    },
    /// A path inside an object could not be read or written.
    #[error("path {path:?}: {reason}")]
    Path {
        /// The path, as given.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A `managedFields` `fieldsV1` value could not be parsed.
    #[error("invalid fieldsV1 at {path:?}: {reason}")]
    FieldSet {
        /// Where in the field set the problem is.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file tree could not give a file or directory.
    #[error("{path}: {reason}")]
    FileTree {
        /// The path inside the tree.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A file or directory does not exist in a file tree.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path inside the tree.
        path: String,
    },
    /// A custom resource definition could not be turned into a schema.
    #[error("schema of {crd}: {reason}")]
    Schema {
        /// The CRD's name.
        crd: String,
        /// What is wrong.
        reason: String,
    },
}

fn fmt_location(location: &Option<Location>) -> String {
    match location {
        Some(l) => format!(", {l}"),
        None => String::new(),
    }
}

/// The result type of gitops-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
