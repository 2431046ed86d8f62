//! The error type of gitops-render.

/// Everything that can go wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kustomization file is wrong; names the file and the field.
    #[error("{file}: {}{message}", if .field.is_empty() { String::new() } else { format!("{}: ", .field) })]
    Kustomization {
        /// The kustomization file (or directory).
        file: String,
        /// The field, such as `patches[2].target`, empty for the whole file.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A directory is used as a kustomization but has none.
    #[error("unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'")]
    NoKustomization {
        /// The directory.
        dir: String,
    },
    /// Kustomizations nest deeper than the renderer builds.
    #[error("kustomization nesting deeper than {max} levels, at {dir}")]
    TooDeep {
        /// The directory past the limit.
        dir: String,
        /// The limit.
        max: usize,
    },
    /// Kustomizations include each other in a cycle.
    #[error("cycle detected: {chain}")]
    Cycle {
        /// The chain of directories, ending where it started.
        chain: String,
    },
    /// A Helm source could not be rendered (`helm template` failed, a values file is
    /// missing, ...); names the chart's path and the file.
    #[error("helm chart {chart}: {message}")]
    Helm {
        /// The chart's directory in the tree (or `repo/chart@version`).
        chart: String,
        /// What went wrong.
        message: String,
    },
    /// A Jsonnet file failed to evaluate; names the file.
    #[error("jsonnet {file}: {message}")]
    Jsonnet {
        /// The file.
        file: String,
        /// The evaluation error, with its place.
        message: String,
    },
    /// An Application source this renderer cannot render (a plugin, two source types).
    #[error("{0}")]
    Source(String),
    /// A file, YAML or object error.
    #[error(transparent)]
    Core(#[from] gitops_core::Error),
}
