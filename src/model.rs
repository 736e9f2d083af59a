//! `ProjectModel`: everything `analyze` learned about a project, as plain data.
//!
//! The model holds facts only (what is in the manifests, the lockfile, the sources), never
//! decisions; `plan` turns it into an `ImagePlan`. Paths are relative to the project root and
//! slash-separated so the model is the same on every machine.

use serde::Serialize;
use std::collections::BTreeMap;

/// What the analysis found in one project (a single package or a workspace).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ProjectModel {
    /// Directory name of the project root, used as a fallback image name.
    pub root_name: String,
    /// True when the root manifest has a `[workspace]` table with members.
    pub workspace: bool,
    /// Every package: the root package (if any) and every workspace member.
    pub packages: Vec<Package>,
    /// Directory of the member package the given path is in, when that is not the root (the
    /// package `cargo run` would run there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked: Option<String>,
    /// Directories of `[workspace] default-members` ("" for the root package).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_members: Vec<String>,
    /// `Cargo.lock`, when the project has one.
    pub lockfile: Option<Lockfile>,
    /// The full lock graph and the local manifests' features (absent without Cargo.lock).
    #[serde(skip)]
    pub lock_graph: Option<crate::analyze::lockgraph::LockGraph>,
    /// `rust-toolchain.toml` / `rust-toolchain` channel, when present.
    pub toolchain_channel: Option<String>,
    /// Project-level files and directories that change how the image is built.
    pub files: ProjectFiles,
}

/// One cargo package and what its sources say about running it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
    /// `package.rust-version` (MSRV), possibly inherited from `[workspace.package]`.
    pub rust_version: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    /// Directory of the package relative to the project root ("" for the root package).
    pub dir: String,
    pub default_run: Option<String>,
    pub has_lib: bool,
    pub bins: Vec<BinTarget>,
    /// `[features]` names (the values are not needed by any decision).
    pub features: Vec<String>,
    /// Names of workspace members this package depends on by path (for source scanning).
    pub path_deps: Vec<String>,
    /// Facts read from this package's Rust sources: its library and each binary target.
    pub source: PackageSources,
}

/// Facts read from one package's Rust sources, kept apart per target so a binary is described
/// only by the code it compiles.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PackageSources {
    /// The library: its root file and the modules it declares. Binaries that use the library
    /// and packages that depend on this one by path run this code.
    pub lib: SourceFacts,
    /// Each binary target by name: its entry file and the modules it declares.
    pub bins: BTreeMap<String, BinSources>,
}

/// Facts read from one binary target's own sources.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct BinSources {
    /// Files compiled into the binary (entry file first, then modules), for evidence.
    pub files: Vec<String>,
    /// The binary names the package's library (`crate_name::`), so the library's facts apply.
    pub uses_lib: bool,
    pub facts: SourceFacts,
}

/// A binary target of a package.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct BinTarget {
    pub name: String,
    /// Source path relative to the project root.
    pub path: String,
    pub required_features: Vec<String>,
}

/// The parts of `Cargo.lock` that decisions need.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Lockfile {
    /// Lockfile format version (`version = 4` needs cargo 1.78 or newer).
    pub version: u32,
    /// Locked packages: name -> (version, names of its dependencies).
    pub packages: BTreeMap<String, LockedPackage>,
}

/// One locked package (the first version seen when several are locked).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct LockedPackage {
    pub version: String,
    pub dependencies: Vec<String>,
}

impl Lockfile {
    /// True when a package of that name is locked.
    pub fn has(&self, name: &str) -> bool {
        self.packages.contains_key(name)
    }

    /// True when `name` is locked and lists `dep` among its dependencies.
    pub fn depends_on(&self, name: &str, dep: &str) -> bool {
        self.packages
            .get(name)
            .is_some_and(|p| p.dependencies.iter().any(|d| d == dep))
    }
}

/// Project-level files that matter to the build.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ProjectFiles {
    /// `.sqlx/` exists (at the root or in a package): build with `SQLX_OFFLINE=true`.
    pub sqlx_offline_data: bool,
    /// Top-level directories of the project root (for `.dockerignore` and runtime files).
    pub top_dirs: Vec<String>,
    /// Listen port found in a config file (e.g. `configuration/base.yaml`), with where.
    pub config_port: Option<PortEvidence>,
    /// Linker tools `.cargo/config.toml` names (`clang`, `lld`, `mold`), in that order.
    pub linkers: Vec<String>,
    /// The final stage of a hand-written `Dockerfile` (one imggen did not generate), as evidence.
    pub existing_dockerfile: Option<crate::analyze::dockerfile::ExistingDockerfile>,
}

/// Facts read from Rust sources by the source scan.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SourceFacts {
    /// Listen ports found, in the order found.
    pub ports: Vec<PortEvidence>,
    /// The code reads the `PORT` environment variable.
    pub reads_port_env: bool,
    /// The code starts a network server (a listener or a web framework's server).
    pub server: bool,
    /// How the process reacts to SIGTERM / SIGINT.
    pub signals: SignalFacts,
    /// Health-check routes found (string literals such as "/healthz").
    pub health_paths: Vec<String>,
    /// Directories referenced by string literals that are read at run time.
    pub runtime_dirs: Vec<String>,
    /// Directories embedded at compile time (include_str!, sqlx::migrate!, ...).
    pub compile_time_dirs: Vec<String>,
}

/// Where a listen port was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortEvidence {
    pub port: u16,
    /// Host part when the evidence names one (e.g. "127.0.0.1").
    pub host: Option<String>,
    /// `file:line` of the evidence.
    pub at: String,
    pub kind: PortKind,
}

/// How a port was found, strongest first.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum PortKind {
    /// Default of a `PORT` environment lookup.
    EnvDefault,
    /// A literal socket address in the code.
    Literal,
    /// A `port` key in a configuration file.
    ConfigFile,
    /// `EXPOSE` in a hand-written Dockerfile: weaker than the sources, stronger than the default.
    Dockerfile,
}

/// Signal handling found in the sources.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct SignalFacts {
    /// SIGTERM is handled (tokio unix terminate, signal-hook, actix/rocket defaults, ...).
    pub sigterm: bool,
    /// Ctrl-C / SIGINT is handled.
    pub sigint: bool,
}

impl SourceFacts {
    /// Adds another package's facts (a path dependency whose code runs in the same binary).
    pub fn merge(&mut self, other: &SourceFacts) {
        self.ports.extend(other.ports.iter().cloned());
        self.reads_port_env |= other.reads_port_env;
        self.server |= other.server;
        self.signals.sigterm |= other.signals.sigterm;
        self.signals.sigint |= other.signals.sigint;
        for (into, from) in [
            (&mut self.health_paths, &other.health_paths),
            (&mut self.runtime_dirs, &other.runtime_dirs),
            (&mut self.compile_time_dirs, &other.compile_time_dirs),
        ] {
            for v in from {
                if !into.contains(v) {
                    into.push(v.clone());
                }
            }
        }
    }
}
