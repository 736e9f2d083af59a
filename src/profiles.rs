//! Runtime base image profiles, one YAML file per base in `images/`, embedded at compile time.
//!
//! A profile says what the base offers (libc, shell, package manager, CA certificates, how the
//! non-root user exists), so the plan and templates never hard-code a base. Adding a base means
//! adding a file to `images/`: the build lists the directory (see `build.rs`).

use crate::config::Libc;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The embedded profile files: (base name, YAML text).
use crate::template::IMAGES as PROFILES;
/// How CA certificates reach the runtime image.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CaCerts {
    /// Copy the builder's bundle to `ca_path`.
    Copy,
    /// The base already has them.
    Builtin,
}

/// How the non-root user exists in the runtime image.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UserMethod {
    /// `useradd` in the runtime stage (needs a shell).
    Useradd,
    /// passwd/group files written in the builder and copied in.
    PasswdFile,
    /// The base has a non-root user with `uid`.
    Builtin,
}

/// One runtime base.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaseProfile {
    pub name: String,
    pub description: String,
    pub image: String,
    pub libc: Libc,
    /// Debian release the builder must match (glibc version of the binary).
    pub debian_release: String,
    pub shell: bool,
    /// "apt" or "none".
    pub package_manager: String,
    pub ca_certificates: CaCerts,
    pub ca_path: String,
    pub user: UserMethod,
    pub uid: u32,
    /// Debian runtime packages the base already contains.
    pub provides: Vec<String>,
}

impl BaseProfile {
    /// True when runtime packages can be installed with apt.
    pub fn has_apt(&self) -> bool {
        self.package_manager == "apt"
    }
}

/// Every embedded profile, parsed.
pub fn all() -> Vec<BaseProfile> {
    PROFILES
        .iter()
        .map(|(file, text)| {
            serde_saphyr::from_str(text)
                .unwrap_or_else(|e| panic!("images/{file}.yaml is invalid: {e}"))
        })
        .collect()
}

/// The profile named `name`.
pub fn by_name(name: &str) -> Result<BaseProfile> {
    let all = all();
    match all.iter().find(|p| p.name == name) {
        Some(p) => Ok(p.clone()),
        None => bail!(
            "unknown base `{name}`; use one of: {}",
            all.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The default base for a libc.
pub fn default_for(libc: Libc) -> &'static str {
    match libc {
        Libc::Gnu => "bookworm-slim",
        Libc::Musl => "scratch",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses_and_names_match_files() {
        for ((file, _), profile) in PROFILES.iter().zip(all()) {
            assert_eq!(profile.name, *file);
        }
        assert_eq!(by_name("scratch").unwrap().libc, Libc::Musl);
        assert!(by_name("alpine")
            .unwrap_err()
            .to_string()
            .contains("bookworm-slim"));
    }
}
