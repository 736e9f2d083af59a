//! imggen: analyze a cargo project, plan its container image, render the Dockerfile and deploy
//! files, and build and publish the image.
//!
//! The pipeline, one module a stage: `analyze` (IO) -> `model::ProjectModel` -> `plan` (pure)
//! -> `plan::ImagePlan` -> `render` (pure) -> files -> `output` (write or check) -> `engine`.

pub mod analyze;
pub mod cli;
pub mod config;
pub mod context;
pub mod dockerignore;
pub mod engine;
pub mod init;
pub mod keep;
pub mod model;
pub mod output;
pub mod plan;
pub mod platforms;
pub mod profiles;
pub mod render;
pub mod secrets;
pub mod validate;
