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
    pub lock_graph: Option<LockGraph>,
    /// Without Cargo.lock: the local manifests (members and the path dependencies they reach),
    /// so the native-library rules still see the dependencies they declare.
    #[serde(skip)]
    pub manifest_graph: Option<LockGraph>,
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
    /// Entry files of the targets cargo must find to load the manifest (library, binaries,
    /// build script, declared examples, tests and benches), relative to the project root.
    #[serde(skip)]
    pub target_files: Vec<String>,
    /// `[features]` names (the values are not needed by any decision).
    pub features: Vec<String>,
    /// Names of workspace members this package depends on by path (for source scanning).
    pub path_deps: Vec<String>,
    /// The clap command line of each binary target (subcommands and arguments), by binary
    /// name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cli: BTreeMap<String, CliFacts>,
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
    /// A listen address (`host:port`) in a root configuration file (`config.toml`,
    /// `config/*.toml`, JSON too), under an address-like key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_listen: Option<ConfigListen>,
    /// A production configuration file (`config/production.yaml`, ...), which an environment
    /// variable of the app selects.
    pub production_config: Option<String>,
    /// Linker tools `.cargo/config.toml` names (`clang`, `lld`, `mold`), in that order.
    pub linkers: Vec<String>,
    /// The final stage of a hand-written `Dockerfile` (one imggen did not generate), as evidence.
    pub existing_dockerfile: Option<ExistingDockerfile>,
    /// Where the build context lies: it must hold path dependencies outside the root.
    pub context: BuildContextFacts,
    /// A Node.js frontend whose build output the Rust code serves or embeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontend: Option<Frontend>,
    /// The `Procfile` at the root: the commands of its `web` and `release` processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procfile: Option<Procfile>,
    /// What `.cargo/config.toml` asks of the build beyond linkers.
    pub cargo_config: CargoConfigFacts,
    /// `components` and `targets` of `rust-toolchain.toml`, and the file's name.
    pub toolchain: ToolchainFacts,
    /// Cargo.lock has a git dependency fetched over SSH (`git+ssh://`): it needs an SSH agent.
    pub git_ssh_deps: bool,
}

/// A Node.js frontend (`package.json` with a `build` script) whose output the Rust side uses.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Frontend {
    /// Its directory, relative to the project root ("" at the root).
    pub dir: String,
    /// `npm`, `pnpm` or `yarn`, from the lockfile.
    pub manager: String,
    /// The lockfile's name in `dir`.
    pub lockfile: String,
    /// The build's output directory, relative to `dir`.
    pub output: String,
    /// Where the output directory is said (`file:line`, or the bundler's default).
    pub output_at: String,
    /// Embedded at compile time (rust-embed, include_dir!, build.rs) rather than served from disk.
    pub embedded: bool,
    /// The output's path as the Rust code names it: relative to the process's directory when
    /// served, to the package's manifest when embedded.
    pub served_as: String,
    /// `file:line` of the Rust code that serves or embeds it.
    pub at: String,
    /// Directory of the package whose code names it.
    pub package_dir: String,
    /// Where its build runs git (`vite.config.ts:6`): a bundler config or a build script that
    /// reads the repository (`git rev-parse`, `git describe`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_git: Option<String>,
}

/// The build context the project needs (see `analyze::reach`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct BuildContextFacts {
    /// The project root's directory inside the build context ("" when the context is the root).
    pub root_in_context: String,
    /// The context's directory inside the repository (the nearest `.git` above), when there is
    /// one ("" at the repository root).
    pub context_in_repo: Option<String>,
    /// Context-relative directories of the path dependencies outside the project root.
    pub outside: Vec<String>,
    /// Local packages under the root that the build reads but that are not workspace members
    /// (a `[patch]` path, an excluded or non-workspace path dependency): cargo-chef's recipe
    /// leaves them out.
    pub local_crates: Vec<LocalCrate>,
}

/// A local package outside the workspace members: its name and root-relative directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LocalCrate {
    pub name: String,
    pub dir: String,
}

/// A clap subcommand: the name typed on the command line and where its variant is declared.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Subcommand {
    /// The name clap matches (`#[command(name = ...)]`, else the variant in the enum's
    /// `rename_all` case, kebab-case by default; `Command::new(...)` in the builder form).
    pub name: String,
    /// The words that select it: its parents' names, then `name` (`["server", "start"]`).
    pub words: Vec<String>,
    /// `file:line` of the variant, relative to the project root.
    pub at: String,
}

/// What a binary's clap command line accepts, as far as starting it goes: read from the
/// derive form (`#[derive(Parser)]` structs and enums, `#[derive(Subcommand)]` enums, nested
/// through fields and variants) and the builder form (`Command::new(..).arg(..).subcommand(..)`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct CliFacts {
    /// Every subcommand, parents before children.
    pub subcommands: Vec<Subcommand>,
    /// The scopes (words typed so far; empty for the binary itself) after which clap requires
    /// a subcommand, with where that is declared.
    pub required_subcommand: Vec<(Vec<String>, String)>,
    /// The arguments of each scope.
    pub args: Vec<CliArg>,
}

/// One clap argument: a positional value or a flag.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CliArg {
    /// The subcommand words it belongs to (empty for the binary itself).
    pub scope: Vec<String>,
    /// As typed or shown in help: `--config-file` for a flag, the value name for a positional.
    pub name: String,
    pub positional: bool,
    /// Clap refuses to start without it: no `Option`, `Vec` or `bool`, no default, no `env`.
    pub required: bool,
    pub kind: CliArgKind,
    /// `file:line` of its declaration.
    pub at: String,
}

/// What an argument's value means, when its name, type or help says so.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CliArgKind {
    /// A path whose name or help says it is what the server serves (`path`, "directory to serve").
    ServeDir,
    /// A configuration file (`config`, `CONFIG`, `config-file`).
    ConfigFile,
    /// The port to listen on (`--port`, `--http-port`).
    Port,
    Other,
}

/// A `Procfile` (Heroku's format, read by Dokku, Render and others): `name: command` lines.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Procfile {
    /// Name of the file in the project ("Procfile").
    pub file: String,
    /// The `web` process: the command that serves, split into words as a shell would.
    pub web: Option<Located<Vec<String>>>,
    /// The `release` process: run once per deploy before the new version starts.
    pub release: Option<Located<Vec<String>>>,
}

/// What `.cargo/config.toml` asks of the build beyond linkers.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct CargoConfigFacts {
    /// The file relative to the root (`.cargo/config.toml` or `.cargo/config`), when present.
    pub file: Option<String>,
    /// `build.rustc-wrapper` or `[env] RUSTC_WRAPPER` (e.g. `sccache`).
    pub rustc_wrapper: Option<String>,
    /// `[registries]` names: registries whose token the build needs.
    pub registries: Vec<String>,
    /// The directory of a `[source]` replacement with vendored sources (e.g. `vendor`).
    pub vendor_dir: Option<String>,
    /// `[net] git-fetch-with-cli = true`.
    pub git_fetch_with_cli: bool,
}

/// The toolchain file beyond its channel.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ToolchainFacts {
    /// `rust-toolchain.toml` or `rust-toolchain`, when present.
    pub file: Option<String>,
    /// `[toolchain] components`.
    pub components: Vec<String>,
    /// `[toolchain] targets`.
    pub targets: Vec<String>,
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
    /// Environment variables the code reads at run time, in the order found.
    pub env: Vec<EnvRead>,
    /// Frameworks the code uses (`data/frameworks.toml` names), with where first seen.
    pub frameworks: Vec<FrameworkUse>,
    /// Plain socket listeners the code opens (`tcp`, `udp`; `http` when it writes HTTP
    /// responses by hand): with no HTTP framework, the service speaks its own protocol.
    pub listeners: Vec<String>,
    /// Arguments a framework needs its binary to run with to serve (Loco's `start`).
    pub command: Option<RequiredCommand>,
    /// Flags of the listen address whose default is loopback and that no env var sets: the
    /// image's command must pass them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen_flags: Vec<ListenFlag>,
    /// The `config` crate's `Environment` source, which turns env vars into config-file keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_env: Option<ConfigEnvSource>,
}

/// A command-line flag of the listen address (clap `#[arg(long, default_value = "::1")]`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListenFlag {
    /// The flag as typed: `--listen`.
    pub flag: String,
    /// Its loopback default (`::1`, `127.0.0.1:8080`).
    pub default: String,
    /// The field's type as written (`IpAddr`, `Ipv4Addr`, `String`): what values it takes.
    pub ty: String,
    /// `file:line` of the field.
    pub at: String,
}

/// `config::Environment::with_prefix("APP").separator("__")` and the like: `APP_SERVER__PORT`
/// overrides the key `server.port` of the configuration files.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct ConfigEnvSource {
    pub prefix: Option<String>,
    /// Between nested keys; without one, nested keys cannot be reached from the environment.
    pub separator: Option<String>,
    /// Between the prefix and the key: `prefix_separator`, else `separator`, else `_`.
    pub prefix_separator: Option<String>,
    /// `file:line` of the source.
    pub at: String,
}

impl ConfigEnvSource {
    /// The env var that overrides the key at `path` (`["server", "address"]`), when the source
    /// can reach it.
    pub fn var_for(&self, path: &[String]) -> Option<String> {
        let key = match (&self.separator, path.len()) {
            (_, 0) => return None,
            (None, 1) => path[0].clone(),
            (None, _) => return None,
            (Some(sep), _) => path.join(sep),
        };
        let key = key.to_uppercase();
        Some(match &self.prefix {
            Some(p) => {
                let sep = self
                    .prefix_separator
                    .as_deref()
                    .or(self.separator.as_deref())
                    .unwrap_or("_");
                format!("{}{sep}{key}", p.to_uppercase())
            }
            None => key,
        })
    }
}

/// A listen address (`host:port`) a configuration file gives under a key such as
/// `[server] address`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConfigListen {
    /// The key's path in the file (`["server", "address"]`).
    pub key: Vec<String>,
    pub host: String,
    pub port: u16,
    /// `file:line`, relative to the project root.
    pub at: String,
}

/// A framework the code uses.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FrameworkUse {
    /// Its name in `data/frameworks.toml`.
    pub name: String,
    /// `file:line` of the first use.
    pub at: String,
}

/// Arguments the binary needs to serve, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequiredCommand {
    pub args: Vec<String>,
    /// The framework that needs them and where it is used.
    pub why: String,
}

/// An environment variable the app reads at run time (`env::var`, clap `env = ...`, ...).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EnvRead {
    pub name: String,
    /// The value used when the variable is unset, when the code gives one.
    pub default: Option<String>,
    /// The app fails or exits without it (`expect`, `?`, `unwrap`, clap `required`).
    pub required: bool,
    /// The name looks like a credential (`*_SECRET`, `*_TOKEN`, `*_PASSWORD`, `DATABASE_URL`, ...):
    /// platform files declare it without ever writing a value.
    pub secret: bool,
    /// `file:line` of the read, relative to the project root.
    pub at: String,
}

/// Where a listen port was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortEvidence {
    /// 0 when the evidence names only the host (`format!("127.0.0.1:{port}")`).
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
    /// Default of a port environment lookup (`PORT`, `*_PORT`, clap `env`).
    EnvDefault,
    /// A default in code no env var moves: a flag's default, a const fallback, a config-crate
    /// `set_default`.
    CodeDefault,
    /// A literal socket address in the code.
    Literal,
    /// A `port` key in a configuration file.
    ConfigFile,
    /// The framework's own default (Rocket's 8000, Loco's 5150).
    Framework,
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
        for e in &other.env {
            if !self.env.iter().any(|x| x.name == e.name) {
                self.env.push(e.clone());
            }
        }
        for f in &other.frameworks {
            if !self.frameworks.iter().any(|x| x.name == f.name) {
                self.frameworks.push(f.clone());
            }
        }
        for l in &other.listeners {
            if !self.listeners.contains(l) {
                self.listeners.push(l.clone());
            }
        }
        if self.command.is_none() {
            self.command.clone_from(&other.command);
        }
        for f in &other.listen_flags {
            if !self.listen_flags.iter().any(|x| x.flag == f.flag) {
                self.listen_flags.push(f.clone());
            }
        }
        if self.config_env.is_none() {
            self.config_env.clone_from(&other.config_env);
        }
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

/// Health-route literals the analysis recognizes, most conventional first (the plan takes the
/// first found).
pub const HEALTH_PATHS: &[&str] = &[
    "/healthz",
    "/health",
    "/health_check",
    "/healthcheck",
    "/_health",
    "/livez",
    "/readyz",
    "/ping",
    "/_ping",
    "/alive",
    "/up",
    "/health/live",
    "/health/liveness",
    "/healthz/live",
    "/api/health",
    "/api/healthz",
    "/__lbheartbeat__",
    "/__heartbeat__",
];

/// A health route: one of [`HEALTH_PATHS`], or a health route under a tool's own reserved
/// prefix (`/__dufs__/health`, `/__miniserve_internal/healthcheck`).
pub fn is_health_path(s: &str) -> bool {
    HEALTH_PATHS.contains(&s)
        || s.strip_prefix("/__").is_some_and(|rest| {
            rest.split_once('/').is_some_and(|(prefix, last)| {
                !prefix.is_empty()
                    && prefix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    && matches!(last, "health" | "healthz" | "healthcheck")
            })
        })
}

/// Every locked package and every local manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LockGraph {
    /// `[[package]]` entries of Cargo.lock, in file order.
    pub entries: Vec<LockEntry>,
    /// Local packages (workspace members and path dependencies), by package name.
    pub locals: BTreeMap<String, LocalManifest>,
}

/// One `[[package]]` entry of Cargo.lock.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LockEntry {
    pub name: String,
    pub version: String,
    /// None for local packages.
    pub source: Option<String>,
    /// `checksum` (sha256 hex of the .crate file), for registry packages.
    pub checksum: Option<String>,
    /// Raw `dependencies` strings: `name`, `name version` or `name version (source)`.
    pub deps: Vec<String>,
}

/// What a local manifest says about its dependencies and features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalManifest {
    pub name: String,
    /// `package.version` (inherited versions resolved), "0.0.0" when absent as cargo does.
    pub version: String,
    /// Manifest path relative to the project root, for messages.
    pub manifest: String,
    /// A workspace member (its dev-dependencies are locked too).
    pub member: bool,
    pub features: BTreeMap<String, Vec<String>>,
    pub deps: Vec<ManifestDep>,
    /// `compile_error!` gates found in its sources.
    pub gates: Vec<FeatureGate>,
}

/// One dependency entry of a local manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ManifestDep {
    /// The key in the manifest (the name features use).
    pub key: String,
    /// The real package name (`package = ...` or the key).
    pub package: String,
    pub dev: bool,
    pub optional: bool,
    pub default_features: bool,
    pub features: Vec<String>,
}

/// `#[cfg(not(any(feature = "a", ...)))] compile_error!(...)` in a source file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureGate {
    /// `file:line`, relative to the project root.
    pub at: String,
    /// One of these features must be enabled.
    pub any_of: Vec<String>,
}

/// What the final stage of an existing Dockerfile says about running the app.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct ExistingDockerfile {
    /// Name of the file in the project ("Dockerfile").
    pub file: String,
    /// Ports of `EXPOSE` lines (protocol dropped, ARG/ENV substituted), with their line.
    pub ports: Vec<Located<u16>>,
    /// `ENV` variables in order, substituted, with their line; the value of one that looks like
    /// a credential is [`HIDDEN`], so imggen never prints it.
    pub env: Vec<Located<(String, String)>>,
    pub entrypoint: Option<Located<RunCommand>>,
    pub cmd: Option<Located<RunCommand>>,
    pub user: Option<Located<String>>,
}

/// What `plan` shows instead of an `ENV` value that looks like a credential.
pub const HIDDEN: &str = "<hidden>";

/// A value and the 1-based line of the instruction it comes from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
}

/// A `CMD` or `ENTRYPOINT`: exec form (a JSON array) or shell form (run by `/bin/sh -c`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunCommand {
    Exec(Vec<String>),
    Shell(String),
}

impl RunCommand {
    /// The command as a person would type it.
    fn display(&self) -> String {
        match self {
            RunCommand::Shell(s) => s.clone(),
            RunCommand::Exec(args) => args
                .iter()
                .map(|a| {
                    if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') {
                        serde_json::to_string(a).unwrap_or_default()
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl ExistingDockerfile {
    /// The file name of the program the container runs (`/iggy-server` gives `iggy-server`),
    /// past an init (`tini --`, `dumb-init`), with the instruction's line.
    pub fn program(&self) -> Option<Located<String>> {
        let runs = self.runs()?;
        let mut words = runs.value.split_whitespace().map(|w| w.trim_matches('"'));
        let mut first = words.next()?;
        while matches!(first.rsplit('/').next(), Some("tini" | "dumb-init" | "--")) {
            first = words.next()?;
        }
        Some(Located {
            value: first.rsplit('/').next()?.to_string(),
            line: runs.line,
        })
    }

    /// The command the container runs: ENTRYPOINT then CMD (CMD is ignored after a shell-form
    /// ENTRYPOINT, as Docker does), with the line of the instruction that ends it.
    pub fn runs(&self) -> Option<Located<String>> {
        match (&self.entrypoint, &self.cmd) {
            (Some(e), _) if matches!(e.value, RunCommand::Shell(_)) => Some(Located {
                value: e.value.display(),
                line: e.line,
            }),
            (Some(e), Some(c)) => Some(Located {
                value: format!("{} {}", e.value.display(), c.value.display()),
                line: e.line.max(c.line),
            }),
            (Some(e), None) => Some(Located {
                value: e.value.display(),
                line: e.line,
            }),
            (None, Some(c)) => Some(Located {
                value: c.value.display(),
                line: c.line,
            }),
            (None, None) => None,
        }
    }

    /// One line per finding for `imggen plan`, each ending with `(file:line)`; control
    /// characters are shown escaped, so a finding is always one line.
    pub fn findings(&self) -> Vec<String> {
        self.raw_findings()
            .into_iter()
            .map(|f| {
                f.chars()
                    .flat_map(|c| {
                        if c.is_control() {
                            c.escape_default().collect::<Vec<_>>()
                        } else {
                            vec![c]
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn raw_findings(&self) -> Vec<String> {
        let f = &self.file;
        let mut out = Vec::new();
        for p in &self.ports {
            out.push(format!("exposes port {} ({f}:{})", p.value, p.line));
        }
        for e in &self.env {
            let mut line = format!("sets {}={} ({f}:{})", e.value.0, e.value.1, e.line);
            if e.value.1 == HIDDEN {
                line.push_str(
                    "; a credential in ENV is readable in the image: pass it at run time instead",
                );
            }
            out.push(line);
        }
        if let Some(u) = &self.user {
            out.push(format!("runs as user {} ({f}:{})", u.value, u.line));
        }
        if let Some(r) = self.runs() {
            out.push(format!(
                "runs `{}` ({f}:{}); when that is the binary, its arguments become the image's (see `args` above)",
                r.value, r.line
            ));
        }
        out
    }

    /// The first exposed port as port evidence (weaker than the sources and config files).
    pub fn port_evidence(&self) -> Option<PortEvidence> {
        self.ports.first().map(|p| PortEvidence {
            port: p.value,
            host: None,
            at: format!("{}:{}", self.file, p.line),
            kind: PortKind::Dockerfile,
        })
    }
}

/// A name that holds a port (`PORT`, `HTTP_PORT`).
pub fn is_port_env(name: &str) -> bool {
    name == "PORT" || name.ends_with("_PORT")
}

/// A name that holds a listen address or host (`HOST`, `APP_HOST`, `BIND`, `SERVER_ADDR`).
pub fn is_addr_env(name: &str) -> bool {
    ["HOST", "ADDR", "ADDRESS", "BIND", "LISTEN", "SOCKET"]
        .iter()
        .any(|s| name == *s || name.ends_with(&format!("_{s}")))
}

/// The host and port of an address `host:port`, `[::1]:port`, `http://host:port` or a bare
/// host, when the host is a wildcard or loopback one; the port is `None` when not given (or a
/// format placeholder).
pub fn split_host(s: &str) -> Option<(String, Option<u16>)> {
    let s = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .unwrap_or(s);
    const HOSTS: &[&str] = &["0.0.0.0", "127.0.0.1", "localhost", "::", "::1"];
    if HOSTS.contains(&s) {
        return Some((s.to_string(), None));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:")?
    } else {
        s.rsplit_once(':')?
    };
    if !HOSTS.contains(&host) {
        return None;
    }
    if port.starts_with('{') && port.ends_with('}') {
        return Some((host.to_string(), None));
    }
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    Some((host.to_string(), Some(port)))
}

/// A name part that names another service or a bound, not this server's listener: `DB_PORT`,
/// `REDIS_HOST`, `MIN_PORT`, `METRICS_PORT` are not where the app serves.
pub fn is_other_service_word(part: &str) -> bool {
    const OTHER: &[&str] = &[
        "DB",
        "DATABASE",
        "REDIS",
        "SMTP",
        "MAIL",
        "POSTGRES",
        "PG",
        "MYSQL",
        "MONGO",
        "AMQP",
        "KAFKA",
        "NATS",
        "PROXY",
        "OTEL",
        "JAEGER",
        "REMOTE",
        "UPSTREAM",
        "CLIENT",
        "TARGET",
        "S3",
        "MINIO",
        "ELASTIC",
        "MEMCACHED",
        "LDAP",
        "LDAPS",
        "SQL",
        "MIN",
        "MAX",
        "METRICS",
        "PROMETHEUS",
        "RELOAD",
        "DEBUG",
        "ADMIN",
        "GRPC",
        "P2P",
        "CLUSTER",
        "STATSD",
        // A Unix socket path, or an address others reach the app at (links, redirects).
        "UNIX",
        "REDIRECT",
        "PUBLIC",
        "EXTERNAL",
        "CANONICAL",
        "ADVERTISE",
        "ADVERTISED",
    ];
    OTHER.contains(&part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_env_names_as_the_config_crate_reads_them() {
        let key = ["server".to_string(), "address".to_string()];
        let source = |prefix: Option<&str>, sep: Option<&str>, pre: Option<&str>| ConfigEnvSource {
            prefix: prefix.map(String::from),
            separator: sep.map(String::from),
            prefix_separator: pre.map(String::from),
            at: String::new(),
        };
        assert_eq!(
            source(None, Some("__"), None).var_for(&key).as_deref(),
            Some("SERVER__ADDRESS")
        );
        assert_eq!(
            source(Some("app"), Some("__"), None)
                .var_for(&key)
                .as_deref(),
            Some("APP__SERVER__ADDRESS")
        );
        assert_eq!(
            source(Some("APP"), Some("__"), Some("_"))
                .var_for(&key)
                .as_deref(),
            Some("APP_SERVER__ADDRESS")
        );
        assert_eq!(source(Some("APP"), None, None).var_for(&key), None);
        assert_eq!(
            source(Some("APP"), None, None)
                .var_for(&["bind".to_string()])
                .as_deref(),
            Some("APP_BIND")
        );
    }
}
