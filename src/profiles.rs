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
    pub package_manager: PackageManager,
    pub ca_certificates: CaCerts,
    pub ca_path: String,
    pub user: UserMethod,
    pub uid: u32,
    /// Debian runtime packages the base already contains.
    pub provides: Vec<String>,
    /// The libc this base is the default for, when it is one.
    #[serde(default, skip_serializing)]
    pub default_for: Option<Libc>,
}

/// How packages are installed in a base.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// Debian's apt-get.
    Apt,
    /// None: the base takes no packages.
    None,
}

impl BaseProfile {
    /// True when runtime packages can be installed with apt.
    pub fn has_apt(&self) -> bool {
        self.package_manager == PackageManager::Apt
    }
}

/// Every embedded profile, parsed: the gnu default, the musl default, then the rest by name.
pub fn all() -> Vec<BaseProfile> {
    let mut all: Vec<BaseProfile> = PROFILES
        .iter()
        .map(|(file, text)| {
            serde_saphyr::from_str(text)
                .unwrap_or_else(|e| panic!("images/{file}.yaml is invalid: {e}"))
        })
        .collect();
    all.sort_by_key(|p| {
        let rank = match p.default_for {
            Some(Libc::Gnu) => 0,
            Some(Libc::Musl) => 1,
            None => 2,
        };
        (rank, p.name.clone())
    });
    all
}

/// Every base name, for people: `a, b or c`.
pub fn names() -> String {
    let names: Vec<String> = all().into_iter().map(|p| p.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
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

/// The default base for a libc (the profile marked `default_for` it).
pub fn default_for(libc: Libc) -> String {
    all()
        .into_iter()
        .find(|p| p.default_for == Some(libc))
        .map(|p| p.name)
        .unwrap_or_else(|| panic!("no file in images/ is the default_for {libc:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses_and_names_match_files() {
        let all = all();
        assert_eq!(all.len(), PROFILES.len());
        for profile in &all {
            assert!(
                PROFILES.iter().any(|(file, _)| *file == profile.name),
                "images/{}.yaml",
                profile.name
            );
        }
        assert_eq!(by_name("scratch").unwrap().libc, Libc::Musl);
        for libc in [Libc::Gnu, Libc::Musl] {
            assert_eq!(by_name(&default_for(libc)).unwrap().libc, libc);
        }
        assert_eq!(names(), "bookworm-slim, scratch or distroless-cc");
        assert!(by_name("alpine")
            .unwrap_err()
            .to_string()
            .contains("bookworm-slim"));
    }
}
