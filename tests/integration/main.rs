//! The integration tests: one binary, modules per area, a fluent builder in `harness`.

mod ci;
mod cli;
mod docker;
mod dockerignore_engine;
mod engine;
mod engine_access;
mod existing;
mod fixture_images;
mod fuzz;
mod harness;
mod lockcheck;
mod platforms;
mod promises;
mod safety;
mod secrets;
mod snapshots;
