//! Renderers for the gitops toolkit: `kustomize build` semantics and plain directories of
//! YAML, over any [`gitops_core::FileTree`] (a Git commit, a directory, memory).
//!
//! ```
//! use gitops_core::{MemTree, Renderer};
//! use gitops_render::Kustomize;
//!
//! let tree = MemTree::new()
//!     .with_file("base/kustomization.yaml", "resources: [deploy.yaml]\n")
//!     .with_file("base/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: registry/app:1.0}]\n")
//!     .with_file("overlays/prod/kustomization.yaml",
//!         "resources: [../../base]\nnamespace: prod\nimages: [{name: registry/app, newTag: '1.1'}]\nreplicas: [{name: app, count: 3}]\n");
//! let objects = Kustomize::default().render(&tree, "overlays/prod").unwrap();
//! assert_eq!(objects[0].get("/spec/replicas").unwrap(), 3);
//! assert_eq!(objects[0].get("/spec/template/spec/containers/0/image").unwrap(), "registry/app:1.1");
//! ```
//!
//! # In a reconciler
//!
//! [`AutoRenderer`] implements [`gitops_core::Renderer`] for every Argo CD source type,
//! detected as Argo CD detects it: Helm charts (`helm template`, charts from the tree or from
//! a Helm repository through [`HelmRepositories`]), Kustomize with the Application's
//! options, and directories of YAML, JSON and Jsonnet (evaluated in process). Pass it to
//! `gitops_sync::Reconciler::new` with any `Source` (a Git revision's tree renders without a
//! checkout).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod appsource;
mod crds;
pub mod directory;
pub mod error;
mod fields;
mod go_json;
pub mod helm;
pub mod helm_repo;
pub mod helm_source;
mod jsonnet;
pub mod kustomization;
pub mod kustomize;
mod kustomize_edit;
mod nameref;
pub mod order;
mod remote_policy;
mod replacements;

pub mod setimage;
mod tables;
mod vars;

pub use appsource::AutoRenderer;
pub use directory::Directory;
pub use error::Error;
pub use helm::HelmOptions;
pub use helm_repo::{HelmCredentials, HelmRepositories};
pub use kustomization::Kustomization;
pub use kustomize::{Kustomize, LoadRestrictor, RemoteFileLoader, RemoteLoader};
pub use remote_policy::RemotePolicy;
pub use setimage::set_image;
