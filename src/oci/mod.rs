//! Daemonless, reproducible OCI images: imggen's oci engine. The binary compiled on this
//! machine ([`crate::compile`]), its CA bundle, passwd/group and run-time files become a few
//! deterministic layers ([`layer`]) over `scratch` or a base image read from a local OCI layout
//! ([`base`]); the config and manifest follow the same plan the Dockerfile prints ([`image`]);
//! the result is an OCI image layout directory or a tar `docker load` takes ([`layout`]).
//! The layout directory is what a registry push reads ([`registry`]: the distribution API
//! client for pushes, base pulls and SBOM artifacts).

pub mod base;
pub mod image;
pub mod layer;
pub mod layout;
pub mod registry;
