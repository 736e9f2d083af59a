//! imggen: analyze a cargo project, plan its container image and deploy targets, generate the
//! Dockerfile and deploy files, and build and publish the image.
//!
//! One-way pipeline (see ARCHITECTURE.md): `cli` -> `pipeline` -> `analyze` (IO) ->
//! `model::ProjectModel` -> `plan` (pure, the image) -> `deploy` (pure, the deploy targets;
//! `deploy::Plan` is the whole plan) -> `generate` (pure, files through `template`) -> `output`
//! (write or check); `cli` -> `build` (the Docker Engine API, or `compile` and `oci` for
//! daemonless images). Nothing imports `cli`.

pub mod analyze;
pub mod build;
pub mod bundle;
pub mod cli;
pub mod compile;
pub mod config;
pub mod context;
pub mod deploy;
pub mod dockerignore;
pub mod frameworks;
pub mod generate;
pub mod init;
pub mod keep;
pub mod lockcheck;
pub mod model;
pub mod oci;
pub mod output;
pub mod paths;
pub mod pipeline;
pub mod plan;
pub mod profiles;
pub mod reference;
pub mod sbom;
pub mod secrets;
pub mod template;
pub mod validate;
