//! The integration tests: one binary, modules per area, a fluent builder in `harness`.

// An acceptance test reads as one scenario from start to end, however long.
#![allow(clippy::too_many_lines)]

mod architecture;
mod build_secrets;
mod builder_setup;
mod bundle;
mod ci;
mod cli;
mod corpus;
mod docker;
mod dockerignore_engine;
mod engine;
mod engine_access;
mod existing;
mod fixture_images;
mod fuzz;
mod harness;
mod lockcheck;
mod multiarch;
mod oci;
mod platforms;
mod promises;
mod registry;
mod run_command;
mod safety;
mod sbom;
mod secrets;
mod snapshots;
