//! OCI images without a daemon: the registry protocol (push, pull, SBOM artifacts).

pub mod registry;
