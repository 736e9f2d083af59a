//! The integration tests: one binary, modules per area, a fluent builder in `harness`.

mod ci;
mod cli;
mod docker;
mod engine;
mod harness;
mod platforms;
mod safety;
mod snapshots;
