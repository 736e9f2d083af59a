//! `plan`: pure decisions from a `ProjectModel` and the resolved `Config` to an `ImagePlan`.
//!
//! No IO here. Every value that more than one generated file uses (port, health path, binary,
//! stop signal, user) is decided once in `ImagePlan`; templates only print it.

use crate::config::{Config, Libc, Platform};
use crate::lockcheck::Closure;
use crate::model::{
    BinTarget, EnvRead, FrameworkUse, LockGraph, Package, PortEvidence, PortKind, ProjectModel,
    SourceFacts,
};
use crate::profiles::{self, BaseProfile, UserMethod};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

mod environment;
mod listen_flag;
mod run;

pub use environment::{secret_name, EnvVar};
pub use run::{shown as shown_args, DOCKERFILE_ARGS, SERVER_SUBCOMMANDS};

/// Rust used when neither imggen.toml, rust-toolchain.toml nor `package.rust-version` says.
pub const DEFAULT_RUST_VERSION: &str = "1.95.0";
/// Port used when the analysis finds none.
pub const DEFAULT_PORT: u16 = 8080;
/// The static musl target.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";
/// Name, uid and gid of the non-root user the image creates.
pub const APP_USER: &str = "app";
/// Default uid/gid of that user (above the distribution's system range).
pub const APP_UID: u32 = 10001;
/// Working directory of the app in the image; run-time files are copied under it.
pub const APP_DIR: &str = "/app";
/// The app user's home directory.
pub const APP_HOME: &str = "/home/app";

/// The image works in [`APP_DIR`], owned by the app's user, so an app that creates files
/// relative to its working directory (a data directory, an upload folder, a SQLite file) can:
/// always where the runtime creates users or gets the tree in one copy anyway; on a base with a
/// user of its own (distroless), only when it ships run-time directories, a served frontend or
/// a served directory there, since /app would cost the whole-tree copy BuildKit is slow at.
/// The Dockerfile and the daemonless image both follow it.
pub fn works_in_app_dir(plan: &ImagePlan) -> bool {
    plan.user.method != crate::profiles::UserMethod::Builtin
        || plan.frontend.as_ref().is_some_and(|f| !f.embedded)
        || !plan.runtime_dirs.is_empty()
        || plan.served_dir.is_some()
}

/// Everything the generated files need, decided once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImagePlan {
    /// Image and app name (the binary's name).
    pub name: String,
    pub package: String,
    /// Package directory relative to the project root ("" for the root package).
    pub package_dir: String,
    pub bin: String,
    pub cargo: CargoPlan,
    pub rust_version: String,
    pub builder_image: String,
    /// What the builder gets beyond its image: toolchain, cargo configuration, credentials.
    pub builder: BuilderSetup,
    pub base: BaseProfile,
    pub build_packages: Vec<AptPackage>,
    pub runtime_packages: Vec<AptPackage>,
    pub port: u16,
    /// The app reads `PORT`, so the image sets it to `port`.
    pub port_env: bool,
    /// What the server speaks: the platform files route and check it accordingly.
    pub protocol: Protocol,
    /// Env vars the image sets so the app listens on all interfaces and on `port` (`ROCKET_ADDRESS`,
    /// `APP_HOST`, a port variable with no default); also in `env` for the platform files.
    pub listen_env: BTreeMap<String, String>,
    /// Every env var the app reads, with its default, whether it is required or secret, and where.
    pub env_reads: Vec<EnvRead>,
    pub health_path: Option<String>,
    pub signal: SignalPlan,
    pub user: UserPlan,
    /// Directories copied to `/app/<name>` in the image: (path in the project, name in /app).
    pub runtime_dirs: Vec<RuntimeDir>,
    pub sqlx_offline: bool,
    /// BuildKit cache mounts for the cargo registry and `target/` (the default). With the
    /// project root as context: planner, cook and build on the mounts, the cooked `target/` also
    /// kept in the cook layer for a registry cache. Above it: one build step on the mounts.
    /// False: layers only (planner, cook, build), for the classic builder and Podman.
    pub cache_mounts: bool,
    /// What the planner copies instead of the whole context, with cache mounts at the project
    /// root when every local package is a workspace member: None copies everything.
    #[serde(skip)]
    pub planner_inputs: Option<PlannerInputs>,
    /// The build context and the Dockerfile's place in it.
    pub context: ContextPlan,
    /// The Node.js stage that builds the frontend, when the Rust side serves or embeds one.
    pub frontend: Option<FrontendPlan>,
    /// The binary serves network traffic (false for batch programs).
    pub server: bool,
    /// Environment values for the platform files (never PORT: each platform sets that its own
    /// way; never a secret's value).
    pub env: BTreeMap<String, String>,
    /// `[env]` values the Dockerfile sets with `ENV`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub image_env: BTreeMap<String, String>,
    /// Every variable the app reads or `[env]` sets, by name, with default/required/secret.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<EnvVar>,
    /// Arguments after the binary: the Dockerfile's CMD, Cloud Run's args, the unit's ExecStart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// A directory the image creates because the arguments pass it (the directory to serve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_dir: Option<String>,
    /// Arguments of the release task run once per deploy (fly release_command, a Cloud Run job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_args: Option<Vec<String>>,
    /// OCI labels fixed by the project (revision and created are added at build time).
    pub labels: BTreeMap<String, String>,
    /// Directories the build reads at compile time (never excluded from the context).
    pub build_inputs: Vec<String>,
    pub platforms: Vec<Platform>,
    /// Architectures of a multi-architecture image (`amd64`, `arm64`), in that order; empty
    /// for the single-architecture Dockerfile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arch: Vec<String>,
    /// What was decided and why, for `imggen plan` (serialized by `deploy::Plan`, after the
    /// deploy decisions).
    #[serde(skip)]
    pub decisions: Vec<Decision>,
}

/// What the server speaks on its port.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// HTTP/1 or HTTP/2 (a web framework or hyper).
    Http,
    /// gRPC (HTTP/2, tonic).
    Grpc,
    /// Its own protocol over TCP (a bare listener, no HTTP).
    Tcp,
}

impl Protocol {
    /// The name `imggen plan` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        }
    }

    /// HTTP requests reach it (health checks, HTTP routing).
    pub fn is_http(self) -> bool {
        self != Protocol::Tcp
    }
}

/// Cargo invocation shared by `cargo chef cook` and `cargo build`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CargoPlan {
    pub profile: String,
    /// Folder under target/ (release -> release, dev -> debug).
    pub profile_dir: String,
    pub features: Vec<String>,
    pub no_default_features: bool,
    pub locked: bool,
    pub target: Option<String>,
    /// Flags both cook and build take: profile, target, features, --locked.
    pub common_args: String,
    /// Where the built binary lands, relative to the build directory.
    pub binary_path: String,
}

/// A Debian package installed in a stage, and which crate needs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AptPackage {
    pub name: String,
    pub why: String,
}

/// How the container stops.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignalPlan {
    /// STOPSIGNAL, fly kill_signal, systemd KillSignal.
    pub stop_signal: StopSignal,
    /// Run under tini as PID 1 (the app does not handle SIGTERM itself).
    pub init: bool,
    pub why: String,
}

/// The signals a container may be stopped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Sigterm,
    Sigint,
    Sigquit,
    Sigusr1,
    Sigusr2,
}

impl StopSignal {
    /// Every signal, in the order errors list them.
    pub const ALL: [StopSignal; 5] = [
        StopSignal::Sigterm,
        StopSignal::Sigint,
        StopSignal::Sigquit,
        StopSignal::Sigusr1,
        StopSignal::Sigusr2,
    ];

    /// The name Dockerfiles, fly.toml and systemd use, e.g. `SIGTERM`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Sigterm => "SIGTERM",
            StopSignal::Sigint => "SIGINT",
            StopSignal::Sigquit => "SIGQUIT",
            StopSignal::Sigusr1 => "SIGUSR1",
            StopSignal::Sigusr2 => "SIGUSR2",
        }
    }
}

impl Serialize for StopSignal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The non-root user the process runs as.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserPlan {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// How it exists in the image (see the base profile).
    pub method: UserMethod,
    /// Its home directory, created and owned by it (`HOME`): an app that keeps settings or a
    /// cache under `~` (the `dirs` crate's config directory) can start. None when the base's
    /// own user (and home) is used.
    pub home: Option<String>,
}

/// The directory the image is built from: the project root, or the directory above it that
/// also holds its path dependencies.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ContextPlan {
    /// The project root inside the context ("" when the context is the root).
    pub root_in_context: String,
    /// The context seen from the project root ("." or "..", "../..").
    pub from_root: String,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// The ignore file's name in the project root: `.dockerignore` when the context is the
    /// root, else `Dockerfile.dockerignore` beside the Dockerfile (BuildKit reads it for a
    /// Dockerfile given with `-f`; the context root's own `.dockerignore` is the repository's).
    pub ignore_file: String,
    /// The context's path inside the repository, when there is one ("" at its root).
    pub in_repo: Option<String>,
    /// The command that builds the image by hand, run in the context directory.
    pub by_hand: String,
}

/// The Node.js stage building a frontend, and where its output goes.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FrontendPlan {
    /// `node:<LTS>-<debian release>-slim`.
    pub node_image: String,
    /// The frontend's directory in the build context ("." at its root).
    pub src: String,
    pub manager: String,
    pub lockfile: String,
    /// The dependency install, cached by the lockfile's layer.
    pub install: String,
    pub build: String,
    /// The output in the frontend stage (absolute).
    pub output: String,
    /// Copied into the builder before `cargo build` (embedded) rather than into the runtime.
    pub embedded: bool,
    /// Where the output goes: in the builder (embedded) or the runtime (served, under /app).
    pub dest: String,
    /// The output's path in the project, for .dockerignore and the VM pack.
    pub project_output: String,
    /// Served from disk: the path the server reads, relative to /app.
    pub served_as: String,
    /// Where the build runs git, when the repository's `.git` is at the root of the build
    /// context: the stage installs git and its build step sees `.git` (a bind mount with
    /// BuildKit), which otherwise stays out of every stage.
    pub git: Option<String>,
}

/// The Node.js LTS major the frontend stage runs.
pub const NODE_LTS: u32 = 22;

/// A directory the binary reads at run time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuntimeDir {
    /// Path in the project (relative to the root).
    pub from: String,
    /// Path inside the image.
    pub to: String,
}

/// One line of `imggen plan`: what was decided and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decision {
    pub topic: Topic,
    pub value: String,
    pub why: String,
}

impl Decision {
    /// A decision about `topic`.
    pub fn new(topic: Topic, value: impl Into<String>, why: impl Into<String>) -> Decision {
        Decision {
            topic,
            value: value.into(),
            why: why.into(),
        }
    }
}

macro_rules! topics {
    ($($variant:ident => $text:literal,)*) => {
        /// What a [`Decision`] is about, as `imggen plan` prints it: the image's topics, then
        /// the deploy targets'.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Topic {
            $(#[doc = $text] $variant,)*
        }

        impl Topic {
            /// The topic as `imggen plan` prints it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Topic::$variant => $text,)*
                }
            }
        }
    };
}

topics! {
    Binary => "binary",
    RuntimeBase => "runtime base",
    Rust => "rust",
    BuilderImage => "builder image",
    Framework => "framework",
    Protocol => "protocol",
    Port => "port",
    ListenEnv => "listen env",
    ListenFlag => "listen flag",
    HealthRoute => "health route",
    Stop => "stop",
    BuilderPackage => "builder package",
    Toolchain => "toolchain",
    CargoConfig => "cargo config",
    Credentials => "credentials",
    RuntimePackage => "runtime package",
    RuntimeFiles => "run-time files",
    BuildInput => "build input",
    Sqlx => "sqlx",
    App => "app",
    PrimaryRegion => "primary region",
    HttpService => "http service",
    IdleMachines => "idle machines",
    HealthCheck => "health check",
    KillSignal => "kill signal",
    Machine => "machine",
    Image => "image",
    ReleaseCommand => "release command",
    Kind => "kind",
    Name => "name",
    Instances => "instances",
    Probes => "probes",
    Resources => "resources",
    ServiceType => "service type",
    PortEnv => "PORT",
    PlanAndRegion => "plan and region",
    Unit => "unit",
    WorkingDirectory => "working directory",
    Proxy => "proxy",
    Domain => "domain",
    StaticFiles => "static files",
    CiImggen => "imggen in CI",
    Registry => "registry",
    CiDeploy => "deploy job",
    Context => "build context",
    Frontend => "frontend",
    CacheMounts => "cache mounts",
    Args => "args",
    Release => "release",
    Env => "env",
}

impl Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Native crates and the Debian packages they need (`data/native.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeRule {
    name: String,
    /// When the lockfile shows one of these as a dependency of `name`, the library is vendored.
    #[serde(default)]
    vendored_if: Vec<String>,
    /// `vendored_if` counts anywhere in the lockfile, not only under `name`.
    #[serde(default)]
    vendored_anywhere: bool,
    #[serde(default)]
    build: Vec<String>,
    #[serde(default)]
    runtime: Vec<String>,
    /// Packages needed instead when vendored.
    #[serde(default)]
    vendored_build: Vec<String>,
    /// Why a static musl binary cannot link it, and what to do instead.
    musl: Option<String>,
}

/// The rules of `data/native.toml`, parsed once.
fn native_rules() -> &'static [NativeRule] {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "crate")]
        rules: Vec<NativeRule>,
    }
    static RULES: LazyLock<Vec<NativeRule>> = LazyLock::new(|| {
        let file: File = toml::from_str(include_str!("../data/native.toml"))
            .unwrap_or_else(|e| panic!("data/native.toml is invalid: {e}"));
        file.rules
    });
    &RULES
}

/// A step's value with what it decided and warned about, in order.
struct Planned<T> {
    value: T,
    notes: Notes,
}

/// Decisions and warnings, in the order they were made.
#[derive(Default)]
struct Notes {
    decisions: Vec<Decision>,
    warnings: Vec<String>,
}

impl Notes {
    fn decide(&mut self, topic: Topic, value: impl Into<String>, why: impl Into<String>) {
        self.decisions.push(Decision::new(topic, value, why));
    }

    fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Wraps `value` with these notes.
    fn with<T>(self, value: T) -> Planned<T> {
        Planned { value, notes: self }
    }

    /// Appends a step's notes to these and returns its value.
    fn take<T>(&mut self, step: Planned<T>) -> T {
        self.decisions.extend(step.notes.decisions);
        self.warnings.extend(step.notes.warnings);
        step.value
    }
}

/// Decides the image for `model` under `config`, one step after another; also returns the
/// warnings about it.
pub fn image(model: &ProjectModel, config: &Config) -> Result<(ImagePlan, Vec<String>)> {
    crate::validate::config(config)?;
    let mut notes = Notes::default();
    let (pkg, bin) = notes.take(binary(model, config)?);
    let mut facts = merged_facts(model, pkg, bin);
    notes.take(frameworks(&mut facts)?);
    let (libc, base) = notes.take(base(config)?);
    let (rust_version, builder_image) = notes.take(toolchain(model, pkg, config, &base));
    let builder = notes.take(builder_setup(model, config, &rust_version));
    let (cargo, closure) = notes.take(cargo(model, pkg, bin, config, (libc, &rust_version))?);
    let (context, cache_mounts) = notes.take(context(model, config)?);
    let frontend = notes.take(frontend(model, &context, &base));
    let (port, server) = notes.take(port(model, &facts, config));
    let protocol = notes.take(protocol(&facts, &own_frameworks(pkg, bin), server));
    let listen_env = notes.take(listen_env(model, &facts, config, (port, &bin.name)));
    let health_path = notes.take(health_route(&facts, config, server && protocol.is_http()));
    let signal = notes.take(stop(&facts, config)?);
    let (build_packages, runtime_packages) = notes.take(packages(
        model,
        config,
        (libc, &base),
        (&pkg.name, closure.as_ref()),
        signal.init,
    )?);
    let (mut runtime_dirs, build_inputs) = notes.take(files(model, pkg, &facts, config));
    // The frontend stage provides its output; the context does not hold it.
    if let Some(f) = &frontend {
        runtime_dirs.retain(|d| d.from != f.project_output && d.to != f.dest);
    }
    let arch = arch(config, &base)?;
    let cli = pkg.cli.get(&bin.name).cloned().unwrap_or_default();
    let run = notes.take(run_command(
        model,
        (&cli, &bin.name),
        &facts,
        config,
        (port, port_known(model, &facts, config)),
    )?);
    let (env, vars) = notes.take(with_listen_env(
        environment::environment(&facts, config)?,
        &listen_env,
    ));
    let plan = ImagePlan {
        name: image_name(config, bin),
        package: pkg.name.clone(),
        package_dir: pkg.dir.clone(),
        bin: bin.name.clone(),
        cargo,
        rust_version,
        builder_image,
        builder,
        user: user_plan(&base),
        base,
        build_packages,
        runtime_packages,
        port,
        port_env: facts.reads_port_env,
        protocol,
        env,
        listen_env,
        env_reads: facts.env.clone(),
        health_path,
        signal,
        runtime_dirs,
        sqlx_offline: model.files.sqlx_offline_data,
        planner_inputs: planner_inputs(model, cache_mounts && context.root_in_context.is_empty()),
        cache_mounts,
        context,
        frontend,
        server,
        image_env: config.env.clone().unwrap_or_default(),
        vars,
        args: run.args,
        served_dir: run.served_dir,
        release_args: run.release,
        labels: labels(pkg, bin),
        build_inputs,
        platforms: config.platforms.clone().unwrap_or_default(),
        arch,
        decisions: notes.decisions,
    };
    Ok((plan, notes.warnings))
}

/// The non-root user the image runs as, as the base can create it.
fn user_plan(base: &BaseProfile) -> UserPlan {
    UserPlan {
        name: APP_USER.into(),
        uid: base.uid,
        gid: base.uid,
        method: base.user,
        home: (base.user != UserMethod::Builtin).then(|| APP_HOME.to_string()),
    }
}

/// The run command, then the flags that move a loopback listen address.
fn run_command(
    model: &ProjectModel,
    (cli, bin): (&crate::model::CliFacts, &str),
    facts: &SourceFacts,
    config: &Config,
    (port, port_known): (u16, bool),
) -> Result<Planned<run::Run>> {
    let mut notes = Notes::default();
    let mut run = notes.take(run::command(
        model,
        cli,
        facts.command.as_ref(),
        config,
        (bin, port, port_known),
    )?);
    let flags = notes.take(listen_flag::flags(
        &facts.listen_flags,
        config,
        &run.args,
        port,
    ));
    run.args = listen_flag::with_listen_flags(run.args, flags, &mut notes.decisions);
    if let Some(found) = untold_port(facts, config, (port, port_known)) {
        let flag = notes.take(listen_flag::port_flag(
            cli,
            config,
            &run.args,
            (port, found),
        ));
        run.args = listen_flag::with_listen_flags(run.args, flag, &mut notes.decisions);
    }
    Ok(notes.with(run))
}

/// True when a source gave the port (the configuration, the code, a config file, an EXPOSE),
/// false when it is the fallback.
fn port_known(model: &ProjectModel, facts: &SourceFacts, config: &Config) -> bool {
    config.port.is_some()
        || facts.ports.iter().any(|p| p.port > 0)
        || model.files.config_port.is_some()
        || config_listen(model, facts).is_some()
        || model
            .files
            .existing_dockerfile
            .as_ref()
            .and_then(|d| d.port_evidence())
            .is_some()
}

/// The listen variables reach every platform file as well as the image, and count as set there.
fn with_listen_env(
    planned: Planned<(BTreeMap<String, String>, Vec<environment::EnvVar>)>,
    listen_env: &BTreeMap<String, String>,
) -> Planned<(BTreeMap<String, String>, Vec<environment::EnvVar>)> {
    let Planned {
        value: (mut env, mut vars),
        notes,
    } = planned;
    env.extend(listen_env.clone());
    for v in vars.iter_mut().filter(|v| !v.secret) {
        if let Some(value) = listen_env.get(&v.name) {
            v.value = Some(value.clone());
            v.required = false;
        }
    }
    notes.with((env, vars))
}

/// The build context: the project root, or the directory above it holding its path
/// dependencies; also returns `cache_mounts`, true unless `cache_mounts = false` (the layers-only
/// Dockerfile for the classic builder). cargo-chef cannot cook path dependencies outside the
/// workspace root, so such a context builds on cache mounts alone, without planner and cook.
fn context(model: &ProjectModel, config: &Config) -> Result<Planned<(ContextPlan, bool)>> {
    let mut notes = Notes::default();
    let facts = &model.files.context;
    let rel = facts.root_in_context.clone();
    let cache_mounts = config.cache_mounts.unwrap_or(true);
    let plan = if rel.is_empty() {
        ContextPlan {
            root_in_context: rel,
            from_root: ".".into(),
            dockerfile: "Dockerfile".into(),
            ignore_file: ".dockerignore".into(),
            in_repo: facts.context_in_repo.clone(),
            by_hand: "docker build .".into(),
        }
    } else {
        let from_root = vec![".."; rel.split('/').count()].join("/");
        if config.cache_mounts == Some(false) {
            bail!(
                "imggen.toml: cache_mounts = false, but path dependencies outside the project root ({}) need a build context above it, which cargo-chef cannot cook; remove cache_mounts = false",
                facts.outside.join(", ")
            );
        }
        notes.decide(
            Topic::Context,
            from_root.clone(),
            format!(
                "holds the path dependencies {} outside the project root; the Dockerfile is {rel}/Dockerfile in it",
                facts.outside.join(", ")
            ),
        );
        notes.decide(
            Topic::CacheMounts,
            "true",
            "cargo-chef cannot cook path dependencies outside the workspace root, so dependencies are cached in BuildKit cache mounts only (no planner or cook step)",
        );
        ContextPlan {
            dockerfile: format!("{rel}/Dockerfile"),
            by_hand: format!("docker build -f {rel}/Dockerfile ."),
            root_in_context: rel,
            from_root,
            ignore_file: "Dockerfile.dockerignore".into(),
            in_repo: facts.context_in_repo.clone(),
        }
    };
    Ok(notes.with((plan, cache_mounts)))
}

/// The Node.js stage for a frontend the Rust code serves or embeds: install cached by the
/// lockfile, then the build; its output copied where the code reads it.
fn frontend(
    model: &ProjectModel,
    context: &ContextPlan,
    base: &BaseProfile,
) -> Planned<Option<FrontendPlan>> {
    let mut notes = Notes::default();
    let Some(f) = &model.files.frontend else {
        return notes.with(None);
    };
    let in_context = |p: &str| match (context.root_in_context.as_str(), p) {
        ("", "") => ".".to_string(),
        ("", p) => p.to_string(),
        (r, "") => r.to_string(),
        (r, p) => format!("{r}/{p}"),
    };
    let (install, build) = match f.manager.as_str() {
        "pnpm" => (
            "corepack enable && pnpm install --frozen-lockfile",
            "pnpm run build",
        ),
        "yarn" => (
            "corepack enable && yarn install --frozen-lockfile",
            "yarn run build",
        ),
        _ => ("npm ci", "npm run build"),
    };
    let project_output = slash_normalize(&if f.dir.is_empty() {
        f.output.clone()
    } else {
        format!("{}/{}", f.dir, f.output)
    });
    let workdir = if context.root_in_context.is_empty() {
        "/app".to_string()
    } else {
        format!("/app/{}", context.root_in_context)
    };
    let dest = if f.embedded {
        format!("{workdir}/{project_output}")
    } else {
        format!("{APP_DIR}/{}", f.served_as)
    };
    notes.decide(
        Topic::Frontend,
        format!(
            "{} ({}, {}) built to {project_output}",
            if f.dir.is_empty() { "." } else { &f.dir },
            f.manager,
            f.lockfile
        ),
        format!(
            "{} at {}; output directory from {}; copied to {dest}",
            if f.embedded {
                "embedded at compile time"
            } else {
                "served from disk"
            },
            f.at,
            f.output_at
        ),
    );
    let git = frontend_git(model, f, &mut notes);
    notes.with(Some(FrontendPlan {
        git,
        node_image: format!("node:{NODE_LTS}-{}-slim", base.debian_release),
        src: in_context(&f.dir),
        manager: f.manager.clone(),
        lockfile: f.lockfile.clone(),
        install: install.into(),
        build: build.into(),
        output: format!("/{}", slash_normalize(&format!("frontend/{}", f.output))),
        embedded: f.embedded,
        dest,
        project_output,
        served_as: f.served_as.clone(),
    }))
}

/// Where the frontend's build runs git, when the repository's `.git` is at the root of the build
/// context (the frontend stage can see it); else a warning.
fn frontend_git(
    model: &ProjectModel,
    f: &crate::model::Frontend,
    notes: &mut Notes,
) -> Option<String> {
    let at = f.runs_git.as_ref()?;
    if model.files.context.context_in_repo.as_deref() == Some("") {
        notes.decide(
            Topic::Frontend,
            "git and the repository's .git in the frontend's build step",
            format!("{at} runs git; .git stays out of the Rust build and the image"),
        );
        Some(at.clone())
    } else {
        notes.warn(format!(
            "{at}: the frontend's build runs git, but the repository's .git is not at the root of the build context, so it fails in the image; read the version from an environment variable or a file instead"
        ));
        None
    }
}

/// A relative slash path with `.` and `..` resolved (a `..` above the start is dropped).
fn slash_normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The architectures of a multi-architecture image, in a fixed order. Only a static musl binary
/// on `scratch` qualifies: its runtime stage runs nothing, so no stage runs in the target
/// architecture and no base image of that architecture is needed.
fn arch(config: &Config, base: &BaseProfile) -> Result<Vec<String>> {
    let Some(given) = config.build.as_ref().and_then(|b| b.arch.as_ref()) else {
        return Ok(Vec::new());
    };
    let key = config.source("build.arch");
    let mut arch = Vec::new();
    for known in ARCHES {
        match given.iter().filter(|a| a.as_str() == known).count() {
            0 => {}
            1 => arch.push(known.to_string()),
            _ => bail!("{key} names {known} twice; name each architecture once"),
        }
    }
    if let Some(other) = given.iter().find(|a| !ARCHES.contains(&a.as_str())) {
        bail!("{key}: `{other}` is not an architecture imggen builds; use amd64 and/or arm64");
    }
    if arch.is_empty() {
        bail!("{key} names no architecture; list amd64 and/or arm64, or remove it");
    }
    if base.libc != Libc::Musl || base.name != "scratch" {
        bail!(
            "{key} needs libc = \"musl\" with base = \"scratch\", a runtime stage that needs no base image of the target architecture and runs nothing in it ({} does both); set libc = \"musl\", or remove {key}",
            base.name
        );
    }
    Ok(arch)
}

/// The architectures a multi-architecture image may hold, in index order.
pub const ARCHES: [&str; 2] = ["amd64", "arm64"];

/// The binary to package, with names cargo would refuse refused here.
fn binary<'a>(
    model: &'a ProjectModel,
    config: &Config,
) -> Result<Planned<(&'a Package, &'a BinTarget)>> {
    let (pkg, bin, bin_why) = choose_bin(model, config)?;
    for (what, name) in [("package", &pkg.name), ("binary target", &bin.name)] {
        if let Err(rule) = crate::validate::cargo_name(name) {
            let manifest = if pkg.dir.is_empty() {
                "Cargo.toml".to_string()
            } else {
                format!("{}/Cargo.toml", pkg.dir)
            };
            bail!("{manifest}: {what} name {name:?} is refused by cargo and would be pasted into the Dockerfile; it must be {rule}");
        }
    }
    let mut notes = Notes::default();
    notes.decide(
        Topic::Binary,
        format!("{} (package {})", bin.name, pkg.name),
        bin_why,
    );
    Ok(notes.with((pkg, bin)))
}

/// The C library and the runtime base, which must agree.
fn base(config: &Config) -> Result<Planned<(Libc, BaseProfile)>> {
    let libc = config.libc.unwrap_or_default();
    let base_name = config
        .base
        .clone()
        .unwrap_or_else(|| profiles::default_for(libc));
    let base = profiles::by_name(&base_name)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.source("base")))?;
    if base.libc != libc {
        bail!(
            "base `{}` runs {} binaries but libc = \"{}\"; set libc = \"{}\" or choose another base",
            base.name,
            base.libc.as_str(),
            libc.as_str(),
            base.libc.as_str()
        );
    }
    let mut notes = Notes::default();
    notes.decide(
        Topic::RuntimeBase,
        base.image.clone(),
        if config.base.is_some() {
            config.source("base")
        } else {
            format!("default for libc = \"{}\"", libc.as_str())
        },
    );
    Ok(notes.with((libc, base)))
}

/// The Rust version and the builder image.
fn toolchain(
    model: &ProjectModel,
    pkg: &Package,
    config: &Config,
    base: &BaseProfile,
) -> Planned<(String, String)> {
    let mut notes = Notes::default();
    let (rust_version, rust_why) = rust_version(model, pkg, config, &mut notes.warnings);
    let builder_image = config.builder_image.clone().unwrap_or_else(|| {
        format!(
            "lukemathwalker/cargo-chef:latest-rust-{rust_version}-{}",
            base.debian_release
        )
    });
    notes.decide(Topic::Rust, rust_version.clone(), rust_why);
    notes.decide(
        Topic::BuilderImage,
        builder_image.clone(),
        if config.builder_image.is_some() {
            config.source("builder_image")
        } else {
            format!(
                "cargo-chef on Debian {} to match the runtime's glibc",
                base.debian_release
            )
        },
    );
    if let Some(lock) = &model.lockfile {
        if lock.version >= 4 && version_lt(&rust_version, (1, 78)) {
            notes.warn(format!(
                "Cargo.lock is format version 4, which cargo {rust_version} cannot read; use Rust 1.78 or newer"
            ));
        }
    }
    notes.with((rust_version, builder_image))
}

/// What the builder gets beyond its image, so that dependencies compile as the project's own
/// toolchain and cargo configuration say, with the credentials their fetch needs.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct BuilderSetup {
    /// The toolchain file, copied before anything compiles.
    pub toolchain_file: Option<String>,
    /// The `rustup` command installing what the builder image's tag cannot express.
    pub rustup: Option<String>,
    /// Files and directories copied before `cargo chef cook` (`.cargo/config.toml`, vendored
    /// sources), so dependencies compile with the flags and sources of the final build.
    pub early_files: Vec<String>,
    /// Local packages outside the workspace members (root-relative directories), copied whole
    /// before the planner and `cargo chef cook`: cargo-chef's recipe leaves them out, so the
    /// cook compiles them like dependencies.
    pub local_crates: Vec<String>,
    /// `ENV` of the builder, name and value.
    pub env: Vec<(String, String)>,
    /// Secret ids mounted on the steps that fetch dependencies.
    pub secrets: Vec<String>,
    /// `NAME=value` assignments before cargo on those steps (values read from the mounts).
    pub cargo_env: Vec<String>,
    /// The SSH agent is mounted on those steps.
    pub ssh: bool,
}

/// The secret id of a `[registries]` entry's token.
pub fn registry_secret(name: &str) -> String {
    format!("cargo-registry-{name}")
}

/// Toolchain, cargo configuration and credentials of the builder.
fn builder_setup(
    model: &ProjectModel,
    config: &Config,
    rust_version: &str,
) -> Planned<BuilderSetup> {
    let mut notes = Notes::default();
    let mut setup = BuilderSetup::default();
    toolchain_setup(model, rust_version, &mut setup, &mut notes);
    cargo_config_setup(model, config, &mut setup, &mut notes);
    local_crates_setup(model, &mut setup, &mut notes);
    credentials_setup(model, config, &mut setup, &mut notes);
    notes.with(setup)
}

/// The toolchain file and the rustup steps for what the image's tag does not express.
fn toolchain_setup(
    model: &ProjectModel,
    rust_version: &str,
    setup: &mut BuilderSetup,
    notes: &mut Notes,
) {
    let tc = &model.files.toolchain;
    if let (Some(file), Some(channel)) = (&tc.file, &model.toolchain_channel) {
        setup.toolchain_file = Some(file.clone());
        let expressed = channel == rust_version && channel.split('.').count() == 3;
        let mut words: Vec<String> = Vec::new();
        if expressed {
            if !tc.components.is_empty() {
                words.push(format!(
                    "rustup component add --toolchain {channel} {}",
                    tc.components.join(" ")
                ));
            }
            if !tc.targets.is_empty() {
                words.push(format!(
                    "rustup target add --toolchain {channel} {}",
                    tc.targets.join(" ")
                ));
            }
        } else {
            let mut install = format!("rustup toolchain install {channel} --profile minimal");
            for c in &tc.components {
                install.push_str(&format!(" --component {c}"));
            }
            for t in &tc.targets {
                install.push_str(&format!(" --target {t}"));
            }
            words.push(install);
        }
        if !words.is_empty() {
            let command = words.join(" \\\n    && ");
            notes.decide(
                Topic::Toolchain,
                command.replace(" \\\n    ", " "),
                if expressed {
                    format!("{file} asks for components or targets the image's Rust {rust_version} lacks")
                } else {
                    format!("{file} pins `{channel}`, which the builder image's tag (Rust {rust_version}) does not express")
                },
            );
            setup.rustup = Some(command);
        }
    }
}

/// The local packages outside the workspace members that the Dockerfile can name bare, when the
/// build context is the project root (a context above it builds on cache mounts only).
fn local_crates_setup(model: &ProjectModel, setup: &mut BuilderSetup, notes: &mut Notes) {
    if !model.files.context.root_in_context.is_empty() {
        return;
    }
    for krate in &model.files.context.local_crates {
        if bare_path(&krate.dir) {
            setup.local_crates.push(krate.dir.clone());
            notes.decide(
                Topic::CargoConfig,
                krate.dir.clone(),
                format!(
                    "`{}` is a local package outside the workspace members, which cargo-chef's recipe leaves out: copied whole before the planner and the cook",
                    krate.name
                ),
            );
        }
    }
}

/// A path the Dockerfile can name bare: no space, quote, glob or `..`.
fn bare_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('-')
        && !p.split('/').any(|c| c == "..")
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@'))
}

/// `.cargo/config.toml` before the dependencies; vendored sources; a wrapper the image lacks.
fn cargo_config_setup(
    model: &ProjectModel,
    config: &Config,
    setup: &mut BuilderSetup,
    notes: &mut Notes,
) {
    let cc = &model.files.cargo_config;
    if let Some(file) = &cc.file {
        setup.early_files.push(file.clone());
        notes.decide(
            Topic::CargoConfig,
            file.clone(),
            "copied before `cargo chef cook`, so dependencies compile with the flags of the final build",
        );
    }
    if let Some(dir) = &cc.vendor_dir {
        setup.early_files.push(dir.clone());
    }
    if let Some(wrapper) = &cc.rustc_wrapper {
        if config.builder_image.is_none() {
            setup.env.push(("RUSTC_WRAPPER".into(), String::new()));
            notes.decide(
                Topic::CargoConfig,
                "RUSTC_WRAPPER=\"\"",
                format!(
                    "{} names the compiler wrapper `{wrapper}`, which the builder image lacks",
                    cc.file.as_deref().unwrap_or(".cargo/config.toml")
                ),
            );
        }
    }
}

/// Secrets and the SSH agent on the steps that fetch dependencies, and git's CLI for them.
fn credentials_setup(
    model: &ProjectModel,
    config: &Config,
    setup: &mut BuilderSetup,
    notes: &mut Notes,
) {
    let cc = &model.files.cargo_config;
    let mut secrets: Vec<String> = config.secrets.clone().unwrap_or_default();
    for name in &cc.registries {
        let id = registry_secret(name);
        if crate::validate::secret_id(&id).is_ok() && !secrets.contains(&id) {
            secrets.push(id);
        }
    }
    let mut git_cli = cc.git_fetch_with_cli;
    for id in &secrets {
        if id == "git-credentials" {
            git_cli = true;
            setup.cargo_env.push(format!(
                "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=credential.helper GIT_CONFIG_VALUE_0='store --file=/run/secrets/{id}'"
            ));
            notes.decide(Topic::Credentials, format!("secret {id}"), "a git-credentials file (`https://USER:TOKEN@HOST` lines) read by git's credential store in the steps that fetch dependencies: pass --secret id=git-credentials,src=PATH");
        } else if let Some(name) = cc.registries.iter().find(|n| registry_secret(n) == *id) {
            let var = format!(
                "CARGO_REGISTRIES_{}_TOKEN",
                name.to_ascii_uppercase().replace('-', "_")
            );
            setup
                .cargo_env
                .push(format!("{var}=\"$(cat /run/secrets/{id})\""));
            notes.decide(Topic::Credentials, format!("secret {id}"), format!("the token of registry `{name}` (.cargo/config.toml [registries]) as {var}: pass --secret id={id},src=PATH or env=VAR"));
        } else {
            notes.decide(Topic::Credentials, format!("secret {id}"), format!("{} (`secrets`): mounted at /run/secrets/{id} in the steps that fetch dependencies", config.source("secrets")));
        }
    }
    setup.secrets = secrets;
    setup.ssh = config.ssh.unwrap_or(model.files.git_ssh_deps);
    if setup.ssh {
        git_cli = true;
        setup
            .cargo_env
            .push("GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=accept-new'".into());
        notes.decide(
            Topic::Credentials,
            "ssh agent",
            if config.ssh.is_some() {
                format!("{}; pass --ssh default. The builder accepts the git host's key on first use", config.source("ssh"))
            } else {
                "Cargo.lock has a git dependency over ssh://; pass --ssh default. The builder accepts the git host's key on first use".to_string()
            },
        );
    }
    if git_cli {
        setup
            .env
            .push(("CARGO_NET_GIT_FETCH_WITH_CLI".into(), "true".into()));
        notes.decide(Topic::CargoConfig, "CARGO_NET_GIT_FETCH_WITH_CLI=true", "git dependencies are fetched with the builder's git, which uses the mounted credentials");
    }
}

/// The cargo invocation shared by `cargo chef cook` and `cargo build`, after the lockfile
/// checks of what it compiles (which it also returns, when there is a lockfile).
fn cargo(
    model: &ProjectModel,
    pkg: &Package,
    bin: &BinTarget,
    config: &Config,
    (libc, rust_version): (Libc, &str),
) -> Result<Planned<(CargoPlan, Option<Closure>)>> {
    let mut notes = Notes::default();
    let profile = config.profile.clone().unwrap_or_else(|| "release".into());
    let profile_dir = match profile.as_str() {
        "release" | "bench" => "release".to_string(),
        "dev" | "test" => "debug".to_string(),
        other => other.to_string(),
    };
    let features = features(model, pkg, bin, config)?;
    let no_default_features = config.no_default_features.unwrap_or(false);
    let closure = lock_checks(
        model,
        pkg,
        &features,
        no_default_features,
        rust_version,
        &mut notes.warnings,
    )?;
    let locked = model.lockfile.is_some();
    if !locked {
        notes.warn("no Cargo.lock: every build resolves dependencies anew; run `cargo generate-lockfile` and commit it");
    }
    let target = (libc == Libc::Musl).then(|| MUSL_TARGET.to_string());
    let mut common = vec![if profile == "release" {
        "--release".to_string()
    } else {
        format!("--profile {profile}")
    }];
    if let Some(t) = &target {
        common.push(format!("--target {t}"));
    }
    if no_default_features {
        common.push("--no-default-features".into());
    }
    if !features.is_empty() {
        common.push(format!("--features {}", features.join(",")));
    }
    if locked {
        common.push("--locked".into());
    }
    if let Some(dir) = &model.files.cargo_config.vendor_dir {
        common.push("--offline".into());
        notes.decide(
            Topic::CargoConfig,
            "--offline",
            format!("the sources are vendored in {dir}/ (.cargo/config.toml [source])"),
        );
    }
    let binary_path = match &target {
        Some(t) => format!("target/{t}/{profile_dir}/{}", bin.name),
        None => format!("target/{profile_dir}/{}", bin.name),
    };
    let cargo = CargoPlan {
        profile,
        profile_dir,
        features,
        no_default_features,
        locked,
        target,
        common_args: common.join(" "),
        binary_path,
    };
    Ok(notes.with((cargo, closure)))
}

/// The configured features plus the binary's required ones, each defined by the package (or,
/// for `dep/feature`, naming one of its dependencies).
fn features(
    model: &ProjectModel,
    pkg: &Package,
    bin: &BinTarget,
    config: &Config,
) -> Result<Vec<String>> {
    let mut features: Vec<String> = config.features.clone().unwrap_or_default();
    for f in &bin.required_features {
        if !features.contains(f) {
            features.push(f.clone());
        }
    }
    for f in &features {
        if let Some((dep, _)) = f.split_once('/') {
            let normal = |s: &str| s.replace('_', "-");
            let known = pkg.features.iter().any(|x| x == dep)
                || model.lockfile.as_ref().is_some_and(|l| {
                    l.packages.get(&pkg.name).is_some_and(|p| {
                        p.dependencies
                            .iter()
                            .any(|d| normal(d.split(' ').next().unwrap_or(d)) == normal(dep))
                    })
                });
            if !known {
                bail!(
                    "{} names `{dep}`, which is not a dependency of package {} in Cargo.lock; fix it or add the dependency",
                    config.setting("features", f),
                    pkg.name
                );
            }
        } else if !pkg.features.contains(f) {
            bail!(
                "feature `{f}` is not defined by package {}; fix {} (it has: {})",
                pkg.name,
                config.source("features"),
                if pkg.features.is_empty() {
                    "none".to_string()
                } else {
                    pkg.features.join(", ")
                }
            );
        }
    }
    Ok(features)
}

/// The port, and whether the binary serves at all; warns about unreachable binds and a
/// configured port the app does not listen on.
fn port(model: &ProjectModel, facts: &SourceFacts, config: &Config) -> Planned<(u16, bool)> {
    let mut notes = Notes::default();
    let (port, port_why) = choose_port(model, facts, config);
    let server = facts.server || !facts.ports.is_empty() || config.port.is_some();
    if server {
        notes.decide(Topic::Port, port.to_string(), port_why);
    } else {
        notes.decide(
            Topic::Port,
            "none",
            "no listener in the binary's code: nothing is exposed",
        );
    }
    notes.with((port, server))
}

/// When the run command must tell the app its port: the app does not read PORT, and the
/// configuration sets a port other than the default its sources show (`Some(Some(default))`,
/// `Some(None)` when they show none), or no source gives one (the plan's port is the fallback).
fn untold_port<'a>(
    facts: &'a SourceFacts,
    config: &Config,
    (port, port_known): (u16, bool),
) -> Option<Option<&'a PortEvidence>> {
    if facts.reads_port_env {
        return None;
    }
    let found = facts
        .ports
        .iter()
        .find(|p| p.port > 0 && p.kind != PortKind::Framework);
    let overridden = config.port.is_some() && found.is_none_or(|f| f.port != port);
    (overridden || !port_known).then_some(found)
}

/// The frameworks the binary uses: a framework a plain image cannot run is refused; their
/// built-in health routes join the sources'; a command they need is shown.
fn frameworks(facts: &mut SourceFacts) -> Result<Planned<()>> {
    let mut notes = Notes::default();
    for used in &facts.frameworks {
        let Some(fw) = crate::frameworks::by_name(&used.name) else {
            continue;
        };
        if !fw.refuse.is_empty() {
            bail!("{}: {}", used.at, fw.refuse);
        }
        notes.decide(
            Topic::Framework,
            fw.name.clone(),
            format!("used at {}", used.at),
        );
    }
    let builtin: Vec<String> = facts
        .frameworks
        .iter()
        .filter_map(|u| crate::frameworks::by_name(&u.name))
        .flat_map(|f| f.health.iter().cloned())
        .collect();
    for h in builtin {
        if !facts.health_paths.contains(&h) {
            facts.health_paths.push(h);
        }
    }
    if let Some(c) = &facts.command {
        notes.decide(
            Topic::Framework,
            format!("command `{}`", c.args.join(" ")),
            c.why.clone(),
        );
    }
    Ok(notes.with(()))
}

/// What the server speaks, from the frameworks of the binary's own code (its files and its
/// package's library) when it names any, else of all the code it compiles: HTTP with an HTTP
/// framework that is not only the server of a gRPC one (poem for poem-grpc), else gRPC with a
/// gRPC framework, raw TCP for a bare listener, HTTP when nothing says.
fn protocol(facts: &SourceFacts, own: &[FrameworkUse], server: bool) -> Planned<Protocol> {
    let mut notes = Notes::default();
    let uses = if own.is_empty() {
        &facts.frameworks[..]
    } else {
        own
    };
    let used: Vec<&crate::frameworks::Framework> = uses
        .iter()
        .filter_map(|u| crate::frameworks::by_name(&u.name))
        .collect();
    let carried =
        |f: &crate::frameworks::Framework| used.iter().any(|g| g.runs_on.contains(&f.name));
    let (protocol, why) = if let Some(f) = used.iter().find(|f| f.protocol == "http" && !carried(f))
    {
        (Protocol::Http, format!("{} serves HTTP", f.name))
    } else if let Some(f) = used.iter().find(|f| f.protocol == "grpc") {
        (Protocol::Grpc, format!("{} serves gRPC (HTTP/2)", f.name))
    } else if facts.listeners.iter().any(|l| l == "http") || !facts.health_paths.is_empty() {
        (
            Protocol::Http,
            "a plain listener answering HTTP (responses or routes in the code)".to_string(),
        )
    } else if !facts.listeners.is_empty() {
        (
            Protocol::Tcp,
            format!(
                "a plain {} listener and no HTTP framework: its own protocol",
                facts.listeners.join("/")
            ),
        )
    } else {
        (
            Protocol::Http,
            "no framework or listener says otherwise".to_string(),
        )
    };
    if server {
        notes.decide(Topic::Protocol, protocol.as_str(), why);
    }
    notes.with(protocol)
}

/// Hosts that only the container itself can reach.
fn loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// A variable that configures this server's own listener rather than a service it talks to.
fn listener_env(name: &str) -> bool {
    if name.split('_').any(crate::model::is_other_service_word) {
        return false;
    }
    [
        "HOST", "PORT", "BIND", "LISTEN", "ADDR", "ADDRESS", "SOCKET",
    ]
    .contains(&name)
        || [
            "SERVER_", "HTTP_", "APP_", "LISTEN_", "BIND_", "WEB_", "API_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
        || [
            "_BIND",
            "_LISTEN",
            "_LISTEN_ADDR",
            "_HTTP_ADDR",
            "_BIND_ADDR",
            "_SERVER_ADDR",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

/// The env vars the image sets so the app listens on all interfaces and on `port`: a framework's
/// address variable (`ROCKET_ADDRESS`), an address variable whose default is loopback, a listen
/// variable the app reads with no default; warns, once per place, about a loopback bind nothing
/// can move.
fn listen_env(
    model: &ProjectModel,
    facts: &SourceFacts,
    config: &Config,
    (port, bin): (u16, &str),
) -> Planned<BTreeMap<String, String>> {
    let mut notes = Notes::default();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let framework_moved = framework_listen_env(facts, port, &mut notes, &mut out);
    notes.take(dockerfile_listen_env(model, bin, config, &mut out));
    let has_port_source = facts.ports.iter().any(|p| p.port > 0)
        || model.files.config_port.is_some()
        || config_listen(model, facts).is_some()
        || config.port.is_some();
    config_file_listen_env(model, facts, config, port, &mut notes, &mut out);
    let mut moved: Vec<&str> = Vec::new();
    let mut moved_values: Vec<&str> = Vec::new();
    for e in &facts.env {
        let configured = config.env.as_ref().is_some_and(|c| c.contains_key(&e.name));
        if configured || out.contains_key(&e.name) || e.name == "PORT" {
            continue;
        }
        let production = model.files.production_config.as_deref();
        if let Some((v, why)) = env_listen_value(e, port, has_port_source, production) {
            notes.decide(
                Topic::ListenEnv,
                format!("{}={v}", e.name),
                format!("the app reads {} at {}; {why}", e.name, e.at),
            );
            out.insert(e.name.clone(), v);
            moved.push(&e.at);
            moved_values.extend(e.default.as_deref());
        }
    }
    let mut warned: Vec<&str> = Vec::new();
    for p in facts
        .ports
        .iter()
        .filter(|p| p.host.as_deref().is_some_and(loopback))
    {
        let host = p.host.as_deref().unwrap_or_default();
        let is_moved = moved.contains(&p.at.as_str())
            || facts.listen_flags.iter().any(|f| f.at == p.at)
            || moved_values.contains(&host)
            || moved_values.contains(&format!("{host}:{}", p.port).as_str())
            || (framework_moved && matches!(p.kind, PortKind::Framework | PortKind::ConfigFile));
        if is_moved || warned.contains(&p.at.as_str()) {
            continue;
        }
        warned.push(&p.at);
        let shown = if p.port > 0 {
            format!("{}:{}", p.host.as_deref().unwrap_or_default(), p.port)
        } else {
            p.host.clone().unwrap_or_default()
        };
        notes.warn(format!(
            "{}: the app binds {shown}, which nothing outside the container can reach, and no env var or flag moves it; bind 0.0.0.0",
            p.at
        ));
    }
    notes.with(out)
}

/// The all-interfaces addresses the project's own Dockerfile sets for this binary
/// (`ENV IGGY_TCP_ADDRESS=0.0.0.0:8090`): the image keeps them.
fn dockerfile_listen_env(
    model: &ProjectModel,
    bin: &str,
    config: &Config,
    out: &mut BTreeMap<String, String>,
) -> Planned<()> {
    let mut notes = Notes::default();
    let Some(d) = model.files.existing_dockerfile.as_ref() else {
        return notes.with(());
    };
    if d.program().is_none_or(|p| p.value != bin) {
        return notes.with(());
    }
    for e in &d.env {
        let (name, value) = &e.value;
        let configured = config.env.as_ref().is_some_and(|c| c.contains_key(name));
        let own = crate::model::is_addr_env(name)
            && !name.split('_').any(crate::model::is_other_service_word);
        let all_interfaces = crate::model::split_host(value)
            .is_some_and(|(h, _)| matches!(h.as_str(), "0.0.0.0" | "::"));
        if configured || out.contains_key(name) || !own || !all_interfaces {
            continue;
        }
        notes.decide(
            Topic::ListenEnv,
            format!("{name}={value}"),
            format!("the existing Dockerfile sets it ({}:{})", d.file, e.line),
        );
        out.insert(name.clone(), value.clone());
    }
    notes.with(())
}

/// The configuration file's listen address, when the app reads configuration through the
/// `config` crate (whose file sources it comes from).
fn config_listen<'a>(
    model: &'a ProjectModel,
    facts: &SourceFacts,
) -> Option<&'a crate::model::ConfigListen> {
    facts.config_env.as_ref()?;
    model.files.config_listen.as_ref()
}

/// A loopback address in the configuration file: moved to all interfaces by the env var the
/// `config` crate's environment source reads for that key (`SERVER__ADDRESS`), else a warning.
fn config_file_listen_env(
    model: &ProjectModel,
    facts: &SourceFacts,
    config: &Config,
    port: u16,
    notes: &mut Notes,
    out: &mut BTreeMap<String, String>,
) {
    let (Some(l), Some(env)) = (config_listen(model, facts), facts.config_env.as_ref()) else {
        return;
    };
    if !loopback(&l.host) {
        return;
    }
    let key = l.key.join(".");
    match env.var_for(&l.key) {
        Some(var) => {
            if config.env.as_ref().is_some_and(|c| c.contains_key(&var)) {
                return;
            }
            notes.decide(
                Topic::ListenEnv,
                format!("{var}=0.0.0.0:{port}"),
                format!(
                    "{} sets `{key}` to the loopback {}:{}; the config crate's environment source ({}) reads {var} over it",
                    l.at, l.host, l.port, env.at
                ),
            );
            out.insert(var, format!("0.0.0.0:{port}"));
        }
        None => notes.warn(format!(
            "{}: `{key}` binds {}:{}, which nothing outside the container can reach, and the config crate's environment source ({}) has no separator to reach a nested key; set it to 0.0.0.0:{} in the file",
            l.at, l.host, l.port, env.at, l.port
        )),
    }
}

/// The address and port variables of the frameworks used (`ROCKET_ADDRESS`, `ROCKET_PORT`);
/// true when a framework's own default address is moved (by a variable or its command).
fn framework_listen_env(
    facts: &SourceFacts,
    port: u16,
    notes: &mut Notes,
    out: &mut BTreeMap<String, String>,
) -> bool {
    let mut moved = false;
    for used in &facts.frameworks {
        let Some(fw) = crate::frameworks::by_name(&used.name) else {
            continue;
        };
        if !fw.host_env.is_empty() {
            out.insert(fw.host_env.clone(), "0.0.0.0".into());
            notes.decide(
                Topic::ListenEnv,
                format!("{}=0.0.0.0", fw.host_env),
                format!(
                    "{} listens on {} unless {} says otherwise ({})",
                    fw.name, fw.host, fw.host_env, used.at
                ),
            );
            moved = true;
        }
        if !fw.port_env.is_empty() {
            out.insert(fw.port_env.clone(), port.to_string());
            notes.decide(
                Topic::ListenEnv,
                format!("{}={port}", fw.port_env),
                format!("{} reads its port from {}", fw.name, fw.port_env),
            );
        }
        moved |= fw.command.iter().any(|a| a == "0.0.0.0") && facts.command.is_some();
    }
    moved
}

/// The value the image gives an env var the app reads, and why: an address variable whose
/// default is loopback, or a listen address or port variable read with no default.
fn env_listen_value(
    e: &EnvRead,
    port: u16,
    has_port_source: bool,
    production: Option<&str>,
) -> Option<(String, String)> {
    let default = e.default.as_deref();
    let selects_environment = ["ENV", "ENVIRONMENT", "RUN_MODE", "PROFILE"]
        .iter()
        .any(|s| e.name == *s || e.name.ends_with(&format!("_{s}")));
    if let (true, Some(file)) = (selects_environment, production) {
        if matches!(
            default.map(str::to_lowercase).as_deref(),
            Some("local" | "development" | "dev" | "debug")
        ) {
            return Some((
                "production".to_string(),
                format!(
                    "its default {:?} selects development settings; an image runs production ({file})",
                    default.unwrap_or_default()
                ),
            ));
        }
    }
    // `DB_HOST`, `SERVER_HTTPS_REDIRECT_HOST`: another service's address, or the one others
    // reach the app at, never where it listens.
    let others = e.name.split('_').any(crate::model::is_other_service_word);
    if crate::model::is_addr_env(&e.name) && !others {
        return match default.and_then(crate::model::split_host) {
            Some((h, Some(_))) if loopback(&h) => Some((
                format!("0.0.0.0:{port}"),
                format!("its default {} is loopback", default.unwrap_or_default()),
            )),
            Some((h, None)) if loopback(&h) => Some((
                "0.0.0.0".to_string(),
                format!("its default {h} is loopback"),
            )),
            None if default.is_none() && listener_env(&e.name) => {
                Some(if e.name == "HOST" || e.name.ends_with("_HOST") {
                    ("0.0.0.0".to_string(), "read with no default".to_string())
                } else {
                    (
                        format!("0.0.0.0:{port}"),
                        format!("read with no default: the image sets it to port {port}"),
                    )
                })
            }
            _ => None,
        };
    }
    if crate::model::is_port_env(&e.name) && default.is_none() && listener_env(&e.name) {
        return Some((
            port.to_string(),
            if has_port_source {
                "read with no default".to_string()
            } else {
                format!("read with no default: imggen chose {port}")
            },
        ));
    }
    None
}

/// The health route: configured, else the most conventional one the sources serve.
fn health_route(facts: &SourceFacts, config: &Config, server: bool) -> Planned<Option<String>> {
    let health_path = config.health_path.clone().or_else(|| {
        crate::model::HEALTH_PATHS
            .iter()
            .find(|h| facts.health_paths.iter().any(|f| f == *h))
            .map(|h| h.to_string())
            .or_else(|| facts.health_paths.first().cloned())
            .filter(|_| server)
    });
    let mut notes = Notes::default();
    notes.decide(
        Topic::HealthRoute,
        health_path.clone().unwrap_or_else(|| "none".into()),
        match (&config.health_path, &health_path) {
            (Some(_), _) => config.source("health_path"),
            (None, Some(_)) => "a route literal in the sources".into(),
            (None, None) if !server => "not a server: nothing to check".into(),
            (None, None) => "no health route found; platforms check the TCP port instead".into(),
        },
    );
    notes.with(health_path)
}

/// How the container stops.
fn stop(facts: &SourceFacts, config: &Config) -> Result<Planned<SignalPlan>> {
    let signal = signal_plan(facts, config)?;
    let mut notes = Notes::default();
    notes.decide(
        Topic::Stop,
        format!(
            "{}{}",
            signal.stop_signal,
            if signal.init { " via tini" } else { "" }
        ),
        signal.why.clone(),
    );
    Ok(notes.with(signal))
}

/// Adds a package to a list unless it is there.
fn add_package(list: &mut Vec<AptPackage>, name: &str, why: &str) {
    if !list.iter().any(|p| p.name == name) {
        list.push(AptPackage {
            name: name.into(),
            why: why.into(),
        });
    }
}

/// The Debian packages the native crates the binary compiles need (`data/native.toml`), each
/// with the chain of dependencies that pulls it in: (builder, runtime); a crate a static musl
/// binary cannot link is an error. Without Cargo.lock, the crates the local manifests `package`
/// reaches declare count (what cargo will resolve is not known before it runs).
fn native_packages(
    model: &ProjectModel,
    package: &str,
    (libc, base): (Libc, &BaseProfile),
    closure: Option<&Closure>,
) -> Result<(Vec<AptPackage>, Vec<AptPackage>)> {
    let declared = match (&model.lockfile, &model.manifest_graph) {
        (None, Some(g)) => declared_deps(g, package),
        _ => BTreeMap::new(),
    };
    let lock_has = |name: &str| match (closure, &model.lock_graph) {
        (Some(c), Some(g)) => c.has(g, name),
        _ => model.lockfile.as_ref().is_some_and(|l| l.has(name)) || declared.contains_key(name),
    };
    let chain = |name: &str| match (closure, &model.lock_graph) {
        (Some(c), Some(g)) => c.chain(g, name),
        _ => match declared.get(name) {
            Some(by) => format!("{name} <- {by}, no Cargo.lock"),
            None => name.to_string(),
        },
    };
    let lock_dep = |a: &str, b: &str| model.lockfile.as_ref().is_some_and(|l| l.depends_on(a, b));
    let (mut build, mut runtime) = (Vec::new(), Vec::new());
    for rule in native_rules() {
        if !lock_has(&rule.name) {
            continue;
        }
        // A vendoring crate the build compiles (`vendored_anywhere`) is this build's; an edge
        // under the native crate may come from a feature this build leaves off.
        let compiled = rule.vendored_anywhere && rule.vendored_if.iter().any(|v| lock_has(v));
        let vendored = compiled || rule.vendored_if.iter().any(|v| lock_dep(&rule.name, v));
        if vendored {
            for p in &rule.vendored_build {
                add_package(&mut build, p, &format!("{} (vendored)", rule.name));
            }
            // Cargo.lock is the union of every feature of the workspace: the edge to the
            // vendored source says some build may vendor it, not that this one does. Unless a
            // local package this build compiles asks for vendoring, a glibc image also gets the
            // system library (a static musl binary must vendor it).
            if compiled || libc == Libc::Musl || asks_for_vendoring(model, closure) {
                continue;
            }
        }
        if let (Libc::Musl, Some(hint)) = (libc, &rule.musl) {
            bail!(
                "{} links {} dynamically, which a static musl binary cannot do; {hint}, or set libc = \"gnu\"",
                rule.name,
                rule.runtime.first().map_or("a system library", String::as_str)
            );
        }
        let mut why = chain(&rule.name);
        if vendored {
            why.push_str(&format!(
                "; Cargo.lock also has {}, which vendors it only when a feature asks",
                rule.vendored_if.join(" or ")
            ));
        }
        for p in &rule.build {
            add_package(&mut build, p, &why);
        }
        for p in rule.runtime.iter().filter(|p| !base.provides.contains(p)) {
            add_package(&mut runtime, p, &why);
        }
    }
    Ok((build, runtime))
}

/// A local package the build compiles asks a dependency for a vendored or bundled build: a
/// dependency with such a feature (`openssl = { features = ["vendored"] }`, rusqlite's
/// `bundled`), or an enabled feature naming one (`tls = ["reqwest/native-tls-vendored"]`).
fn asks_for_vendoring(model: &ProjectModel, closure: Option<&Closure>) -> bool {
    let (Some(graph), Some(closure)) = (&model.lock_graph, closure) else {
        return false;
    };
    let vendoring = |f: &str| {
        let f = f.rsplit('/').next().unwrap_or(f);
        f.contains("vendored") || f.contains("bundled")
    };
    closure.features.iter().any(|(package, enabled)| {
        let Some(m) = graph.locals.get(package) else {
            return false;
        };
        let by_dep = m.deps.iter().any(|d| {
            !d.dev
                && (!d.optional || enabled.contains(&d.key))
                && d.features.iter().any(|f| vendoring(f))
        });
        let by_feature = enabled.iter().any(|f| {
            m.features
                .get(f)
                .is_some_and(|v| v.iter().any(|x| x.contains('/') && vendoring(x)))
        });
        by_dep || by_feature
    })
}

/// The crates the local manifests `package` reaches by path declare as normal or build
/// dependencies (not optional ones: no feature resolution without a lockfile), each with the
/// local package that declares it.
fn declared_deps(graph: &LockGraph, package: &str) -> BTreeMap<String, String> {
    let mut declared = BTreeMap::new();
    let mut queue = vec![package.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(local) = graph.locals.get(&name) else {
            continue;
        };
        for d in local.deps.iter().filter(|d| !d.dev && !d.optional) {
            if graph.locals.contains_key(&d.package) {
                queue.push(d.package.clone());
            } else {
                declared
                    .entry(d.package.clone())
                    .or_insert_with(|| name.clone());
            }
        }
    }
    declared
}

/// Every Debian package of the builder and the runtime: native crates, linkers, musl tools,
/// tini and the configured ones.
fn packages(
    model: &ProjectModel,
    config: &Config,
    (libc, base): (Libc, &BaseProfile),
    (package, closure): (&str, Option<&Closure>),
    init: bool,
) -> Result<Planned<(Vec<AptPackage>, Vec<AptPackage>)>> {
    let (mut build, mut runtime) = native_packages(model, package, (libc, base), closure)?;
    for tool in &model.files.linkers {
        add_package(&mut build, tool, "the linker .cargo/config.toml names");
    }
    if libc == Libc::Musl && model.lockfile.as_ref().is_some_and(|l| l.has("cc")) {
        add_package(
            &mut build,
            "musl-tools",
            "C code compiled for musl (cc in Cargo.lock)",
        );
    }
    if init {
        add_package(&mut build, "tini", "its static build runs as PID 1");
    }
    for p in config.build_packages.iter().flatten() {
        add_package(&mut build, p, "imggen.toml build_packages");
    }
    for p in config.runtime_packages.iter().flatten() {
        add_package(&mut runtime, p, "imggen.toml runtime_packages");
    }
    build.sort();
    runtime.sort();
    if !runtime.is_empty() && !base.has_apt() {
        bail!(
            "base `{}` has no package manager but the app needs {}; use base = \"{}\"",
            base.name,
            runtime
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            profiles::default_for(Libc::Gnu)
        );
    }
    let mut notes = Notes::default();
    for p in &build {
        notes.decide(Topic::BuilderPackage, p.name.clone(), p.why.clone());
    }
    for p in &runtime {
        notes.decide(Topic::RuntimePackage, p.name.clone(), p.why.clone());
    }
    Ok(notes.with((build, runtime)))
}

/// Directories copied into the image (read at run time) and those the build reads (compile
/// time): (run-time directories, sorted build inputs).
fn files(
    model: &ProjectModel,
    pkg: &Package,
    facts: &SourceFacts,
    config: &Config,
) -> Planned<(Vec<RuntimeDir>, Vec<String>)> {
    let mut notes = Notes::default();
    let mut runtime_dirs: Vec<RuntimeDir> = Vec::new();
    let mut names: Vec<String> = facts.runtime_dirs.clone();
    for extra in config.include.iter().flatten() {
        if !names.contains(extra) {
            names.push(extra.clone());
        }
    }
    for name in names {
        let from = if model.files.top_dirs.contains(&name) || pkg.dir.is_empty() {
            name.clone()
        } else {
            format!("{}/{name}", pkg.dir)
        };
        let to = format!("{APP_DIR}/{}", name.rsplit('/').next().unwrap_or(&name));
        notes.decide(
            Topic::RuntimeFiles,
            from.clone(),
            format!("read at run time; copied to {to}"),
        );
        runtime_dirs.push(RuntimeDir { from, to });
    }
    // The configuration file the listen address came from is read at run time too: without it
    // in the image the app starts on its built-in defaults or not at all.
    if let Some(l) = config_listen(model, facts) {
        let path = l.at.rsplit_once(':').map_or(l.at.as_str(), |(f, _)| f);
        // A file in `config/` brings its directory, as a run-time directory would.
        let file = path.split('/').next().unwrap_or(path);
        let covered = runtime_dirs.iter().any(|d| d.from == file);
        if !covered {
            let to = format!("{APP_DIR}/{file}");
            notes.decide(
                Topic::RuntimeFiles,
                file.to_string(),
                format!("the configuration file the listen address is read from, at run time; copied to {to}"),
            );
            runtime_dirs.push(RuntimeDir {
                from: file.to_string(),
                to,
            });
        }
    }
    for d in &facts.compile_time_dirs {
        notes.decide(
            Topic::BuildInput,
            d.clone(),
            "embedded at compile time; in the build context, not in the image",
        );
    }
    if model.files.sqlx_offline_data {
        notes.decide(
            Topic::Sqlx,
            "SQLX_OFFLINE=true",
            ".sqlx/ holds prepared query data",
        );
    }
    let mut build_inputs = facts.compile_time_dirs.clone();
    build_inputs.sort();
    notes.with((runtime_dirs, build_inputs))
}

/// The OCI labels the project fixes.
fn labels(pkg: &Package, bin: &BinTarget) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(
        "org.opencontainers.image.title".to_string(),
        bin.name.clone(),
    )]);
    for (key, value) in [
        ("description", &pkg.description),
        ("licenses", &pkg.license),
        ("source", &pkg.repository),
        ("version", &pkg.version),
    ] {
        if let Some(v) = value {
            labels.insert(format!("org.opencontainers.image.{key}"), v.clone());
        }
    }
    labels
}

/// The image name: the last path part of `[image] name` without its tag, else the binary's.
fn image_name(config: &Config, bin: &BinTarget) -> String {
    config
        .image
        .as_ref()
        .and_then(|i| i.name.as_ref())
        .map(|n| {
            n.rsplit('/')
                .next()
                .unwrap_or(n)
                .split(':')
                .next()
                .unwrap_or(n)
                .to_string()
        })
        .unwrap_or_else(|| bin.name.clone())
}

/// The binary to package, chosen as `cargo run` chooses, with the reason `imggen plan` shows:
/// `bin` from the configuration; the package at the path given; at the root, the packages cargo
/// selects there (`default-members`, else the root package, else every member) when they have one
/// `default-run` or one binary; the only binary that is not `xtask` (a build tool). When cargo's
/// rules leave several, the only one that listens (a server among its clients).
fn choose_bin<'a>(
    model: &'a ProjectModel,
    config: &Config,
) -> Result<(&'a Package, &'a BinTarget, String)> {
    let all: Vec<(&Package, &BinTarget)> = model
        .packages
        .iter()
        .flat_map(|p| p.bins.iter().map(move |b| (p, b)))
        .collect();
    let listing = || bin_listing(&all);
    if let Some(want) = &config.bin {
        return match all.iter().find(|(_, b)| &b.name == want) {
            Some((p, b)) => Ok((p, b, format!("chosen in {}", config.source("bin")))),
            None if all.is_empty() => {
                bail!("`bin = \"{want}\"` but the project has no binary targets")
            }
            None => bail!(
                "there is no binary named `{want}`; set `bin` to one of: {}",
                listing()
            ),
        };
    }
    if let Some(pkg) = model
        .invoked
        .as_ref()
        .and_then(|dir| model.packages.iter().find(|p| &p.dir == dir))
    {
        return invoked_bin(pkg, &all);
    }
    match all.as_slice() {
        [] => {
            let libs: Vec<&str> = model
                .packages
                .iter()
                .filter(|p| p.has_lib)
                .map(|p| p.name.as_str())
                .collect();
            bail!(
                "no binary target found{}; imggen packages a binary: add src/main.rs or a [[bin]] target",
                if libs.is_empty() { String::new() } else { format!(" ({} is a library)", libs.join(", ")) }
            )
        }
        [(p, b)] => Ok((p, b, "the only binary target".into())),
        _ => several_bins(model, &all),
    }
}

/// The binary of the package at the path given: its `default-run` or only binary, else the
/// only one that listens.
fn invoked_bin<'a>(
    pkg: &'a Package,
    all: &[(&'a Package, &'a BinTarget)],
) -> Result<(&'a Package, &'a BinTarget, String)> {
    let listing = || bin_listing(all);
    let at = format!("the package at {} (the path given)", pkg.dir);
    match run_target(pkg) {
        Some((b, "")) => Ok((pkg, b, at)),
        Some((b, how)) => Ok((pkg, b, format!("{how} of {at}"))),
        None if pkg.bins.is_empty() => bail!(
            "{}: package {} has no binary target; pass the directory of a package with one, or choose one with --bin NAME: {}",
            pkg.dir,
            pkg.name,
            if all.is_empty() { "there is none".into() } else { listing() }
        ),
        None => {
            let own: Vec<_> = pkg.bins.iter().map(|b| (pkg, b)).collect();
            let listening = listeners(&own);
            if let [(p, b)] = listening.as_slice() {
                return Ok((p, b, only_listener(&at, &own, b)));
            }
            let listed = if listening.is_empty() {
                format!(": {}", bin_listing(&own))
            } else {
                format!(
                    ", and {} of them listen: {}",
                    listening.len(),
                    listening
                        .iter()
                        .map(|(_, b)| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            bail!(
                "{}: package {} has {} binaries and no `default-run`{listed}; choose one with `bin = \"NAME\"` in imggen.toml or --bin NAME",
                pkg.dir,
                pkg.name,
                own.len(),
            )
        }
    }
}

/// The frameworks `bin`'s own files and its package's library (when it uses it) name.
fn own_frameworks(pkg: &Package, bin: &BinTarget) -> Vec<FrameworkUse> {
    let Some(own) = pkg.source.bins.get(&bin.name) else {
        return Vec::new();
    };
    let mut out = own.facts.frameworks.clone();
    if own.uses_lib {
        for u in &pkg.source.lib.frameworks {
            if !out.iter().any(|o| o.name == u.name) {
                out.push(u.clone());
            }
        }
    }
    out
}

/// The binaries among `bins` that open a listener (a socket or a server framework's) in their
/// own code or their package's library. Path dependencies do not count: a framework built in the
/// same repository would make every client a server.
fn listeners<'a>(bins: &[(&'a Package, &'a BinTarget)]) -> Vec<(&'a Package, &'a BinTarget)> {
    bins.iter()
        .filter(|(p, b)| {
            p.source
                .bins
                .get(&b.name)
                .is_some_and(|own| own.facts.server || (own.uses_lib && p.source.lib.server))
        })
        .copied()
        .collect()
}

/// Why `chosen`, the only one of `bins` (of `of`) that listens, is the service.
fn only_listener(of: &str, bins: &[(&Package, &BinTarget)], chosen: &BinTarget) -> String {
    let others: Vec<&str> = bins
        .iter()
        .filter(|(_, b)| b.name != chosen.name)
        .map(|(_, b)| b.name.as_str())
        .collect();
    format!(
        "the only binary of {of} that listens; {} {} no listener",
        others.join(", "),
        if others.len() == 1 { "opens" } else { "open" }
    )
}

/// The one of `bins` that the project's own Dockerfile runs, with why.
fn dockerfile_bin<'a>(
    model: &ProjectModel,
    bins: &[(&'a Package, &'a BinTarget)],
) -> Option<(&'a Package, &'a BinTarget, String)> {
    let d = model.files.existing_dockerfile.as_ref()?;
    let program = d.program()?;
    let named: Vec<_> = bins
        .iter()
        .filter(|(_, b)| b.name == program.value)
        .collect();
    let [(p, b)] = named.as_slice() else {
        return None;
    };
    Some((
        p,
        b,
        format!(
            "the binary the existing Dockerfile runs ({}:{})",
            d.file, program.line
        ),
    ))
}

/// The only one of several listening binaries that is not test support, with why.
fn only_served<'a>(
    listening: &[(&'a Package, &'a BinTarget)],
    by: &str,
) -> Option<(&'a Package, &'a BinTarget, String)> {
    let (support, served): (Vec<_>, Vec<_>) =
        listening.iter().partition(|(p, b)| is_test_support(p, b));
    let ([(p, b)], [_, ..]) = (served.as_slice(), support.as_slice()) else {
        return None;
    };
    let names: Vec<String> = support
        .iter()
        .map(|(p, b)| format!("{} ({})", b.name, p.dir))
        .collect();
    let why = format!(
        "the only binary of {by} that listens and is not test support ({} {} under a test directory or named for tests)",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    );
    Some((p, b, why))
}

/// A binary that serves tests, not users: its package under a `tests`, `test`, `conformance`,
/// `benches`, `bench`, `fuzz` or `e2e` directory, or the package or binary named for tests
/// (`test-server`, `mock-api`, `e2e`).
fn is_test_support(p: &Package, b: &BinTarget) -> bool {
    const DIRS: &[&str] = &[
        "tests",
        "test",
        "conformance",
        "benches",
        "bench",
        "fuzz",
        "e2e",
    ];
    let in_dir = p.dir.split('/').any(|d| DIRS.contains(&d));
    let named = [p.name.as_str(), b.name.as_str()].iter().any(|n| {
        n.split(['-', '_'])
            .any(|w| matches!(w, "test" | "tests" | "mock" | "e2e" | "conformance"))
    });
    in_dir || named
}

/// Among several binaries at the root: the one `cargo run` would run there, else the only one
/// that is not xtask, else the only one of the selected packages that listens.
fn several_bins<'a>(
    model: &'a ProjectModel,
    all: &[(&'a Package, &'a BinTarget)],
) -> Result<(&'a Package, &'a BinTarget, String)> {
    let (selected, by): (Vec<&Package>, String) = if !model.default_members.is_empty() {
        let defaults = model
            .packages
            .iter()
            .filter(|p| model.default_members.contains(&p.dir))
            .collect();
        (defaults, "the `default-members`".into())
    } else if let Some(root) = model.packages.iter().find(|p| p.dir.is_empty()) {
        (vec![root], format!("the root package {}", root.name))
    } else {
        (
            model.packages.iter().collect(),
            "the workspace members".into(),
        )
    };
    let runs: Vec<(&Package, &BinTarget)> = selected
        .iter()
        .filter_map(|p| {
            run_target(p)
                .filter(|(_, how)| !how.is_empty())
                .map(|(b, _)| (*p, b))
        })
        .collect();
    if let [(p, b)] = runs.as_slice() {
        let why = if p.dir.is_empty() {
            "`default-run` in Cargo.toml".into()
        } else {
            format!("`default-run` of package {}, the only one in {by}", p.name)
        };
        return Ok((p, b, why));
    }
    let bins: Vec<(&Package, &BinTarget)> = selected
        .iter()
        .flat_map(|p| p.bins.iter().map(move |b| (*p, b)))
        .collect();
    if let [(p, b)] = bins.as_slice() {
        let why = if model.default_members.is_empty() {
            format!("{by} of the workspace (cargo runs it at the root)")
        } else {
            format!("the only binary of {by} (package {})", p.name)
        };
        return Ok((p, b, why));
    }
    let not_xtask: Vec<_> = all
        .iter()
        .filter(|(p, b)| p.name != "xtask" && b.name != "xtask")
        .collect();
    if let [(p, b)] = not_xtask.as_slice() {
        return Ok((p, b, "the only binary besides xtask (a build tool)".into()));
    }
    let pool = if bins.is_empty() { all } else { &bins[..] };
    let candidates: Vec<(&Package, &BinTarget)> = pool
        .iter()
        .filter(|(p, b)| p.name != "xtask" && b.name != "xtask")
        .copied()
        .collect();
    if let Some(chosen) = dockerfile_bin(model, &candidates) {
        return Ok(chosen);
    }
    let listening = listeners(&candidates);
    if let [(p, b)] = listening.as_slice() {
        return Ok((p, b, only_listener(&by, &candidates, b)));
    }
    if let Some(chosen) = only_served(&listening, &by) {
        return Ok(chosen);
    }
    let found = if listening.is_empty() {
        format!("{} binaries found: {}", all.len(), bin_listing(all))
    } else {
        format!(
            "{} binaries found, and {} of them listen: {}",
            all.len(),
            listening.len(),
            bin_listing(&listening)
        )
    };
    bail!(
        "{found}; none is the `default-run` or only binary of {by}, so choose one with `bin = \"NAME\"` in imggen.toml or --bin NAME{}",
        if model.workspace { ", or pass the directory of the package to run" } else { "" }
    )
}

/// The binary `cargo run` runs in `pkg`, with how it was picked ("" for its only binary).
fn run_target(pkg: &Package) -> Option<(&BinTarget, &'static str)> {
    let named = pkg
        .default_run
        .as_ref()
        .and_then(|run| pkg.bins.iter().find(|b| &b.name == run));
    match (named, pkg.bins.as_slice()) {
        (Some(b), _) => Some((b, "`default-run`")),
        (None, [b]) => Some((b, "")),
        _ => None,
    }
}

/// "bin (package pkg), ..." for an error that lists binaries to choose from.
fn bin_listing(bins: &[(&Package, &BinTarget)]) -> String {
    bins.iter()
        .map(|(p, b)| {
            if p.name == b.name {
                b.name.clone()
            } else {
                format!("{} (package {})", b.name, p.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The facts of the code compiled into `bin`: its own files, the package's library when the
/// binary uses it, and the libraries of workspace members the package depends on by path.
fn merged_facts(model: &ProjectModel, pkg: &Package, bin: &BinTarget) -> SourceFacts {
    let mut facts = SourceFacts::default();
    if let Some(own) = pkg.source.bins.get(&bin.name) {
        facts.merge(&own.facts);
        if own.uses_lib {
            facts.merge(&pkg.source.lib);
        }
    }
    let mut seen = vec![pkg.name.clone()];
    let mut queue = pkg.path_deps.clone();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        if let Some(dep) = model.packages.iter().find(|p| p.name == name) {
            facts.merge(&dep.source.lib);
            queue.extend(dep.path_deps.iter().cloned());
        }
        seen.push(name);
    }
    facts
}

fn choose_port(model: &ProjectModel, facts: &SourceFacts, config: &Config) -> (u16, String) {
    if let Some(p) = config.port {
        return (p, config.source("port"));
    }
    let mut evidence: Vec<&PortEvidence> = facts.ports.iter().filter(|p| p.port > 0).collect();
    evidence.extend(model.files.config_port.iter());
    let listen_evidence = config_listen(model, facts).map(|l| PortEvidence {
        port: l.port,
        host: Some(l.host.clone()),
        at: format!("{} (`{}`)", l.at, l.key.join(".")),
        kind: PortKind::ConfigFile,
    });
    evidence.extend(listen_evidence.iter());
    let dockerfile_port = model
        .files
        .existing_dockerfile
        .as_ref()
        .and_then(|d| d.port_evidence());
    evidence.extend(dockerfile_port.iter());
    evidence.sort_by_key(|p| p.kind);
    match evidence.first() {
        Some(p) => (
            p.port,
            match p.kind {
                PortKind::EnvDefault => format!(
                    "default of the {} lookup at {}",
                    facts
                        .env
                        .iter()
                        .find(|e| e.at == p.at)
                        .map_or("PORT", |e| e.name.as_str()),
                    p.at
                ),
                PortKind::CodeDefault => format!("default in the code at {}", p.at),
                PortKind::Framework => format!("the framework's default, used at {}", p.at),
                PortKind::Literal => format!("address literal at {}", p.at),
                PortKind::ConfigFile => format!("`port` in {}", p.at),
                PortKind::Dockerfile => format!("EXPOSE in the existing {}", p.at),
            },
        ),
        None => (DEFAULT_PORT, format!("no listen address found in the sources; defaulted to {DEFAULT_PORT} (set `port` in imggen.toml)")),
    }
}

fn rust_version(
    model: &ProjectModel,
    pkg: &Package,
    config: &Config,
    warnings: &mut Vec<String>,
) -> (String, String) {
    if let Some(v) = &config.rust_version {
        return (v.clone(), config.source("rust_version"));
    }
    if let Some(ch) = &model.toolchain_channel {
        if is_version(ch) {
            return (ch.clone(), "channel in rust-toolchain.toml".into());
        }
        warnings.push(format!(
            "rust-toolchain channel `{ch}` is not a release number: rustup in the builder downloads `{ch}` at every cold build; pin a version such as channel = \"{DEFAULT_RUST_VERSION}\""
        ));
    }
    if let Some(v) = &pkg.rust_version {
        if is_version(v) {
            return (v.clone(), format!("package.rust-version of {}", pkg.name));
        }
    }
    (
        DEFAULT_RUST_VERSION.into(),
        "imggen's default; pin it with rust-toolchain.toml or `rust_version`".into(),
    )
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The lockfile checks of the chosen package: a stale lock and `compile_error!` feature gates
/// fail, known breakages of locked versions warn. Returns what the build compiles.
fn lock_checks(
    model: &ProjectModel,
    pkg: &Package,
    features: &[String],
    no_default_features: bool,
    rust_version: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Closure>> {
    use crate::lockcheck;
    let Some(graph) = &model.lock_graph else {
        return Ok(None);
    };
    lockcheck::check_stale(graph)?;
    let closure = lockcheck::closure(graph, &pkg.name, features, no_default_features);
    lockcheck::check_gates(graph, &closure, &pkg.name)?;
    warnings.extend(lockcheck::breakage_warnings(
        &closure.locked(graph),
        rust_version,
    ));
    Ok(Some(closure))
}

fn version_lt(v: &str, (major, minor): (u32, u32)) -> bool {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    let (a, b) = (it.next().unwrap_or(u32::MAX), it.next().unwrap_or(u32::MAX));
    (a, b) < (major, minor)
}

fn signal_plan(facts: &SourceFacts, config: &Config) -> Result<SignalPlan> {
    let (mut stop, mut init, mut why) = match (facts.signals.sigterm, facts.signals.sigint) {
        (true, _) => (StopSignal::Sigterm, false, "the app handles SIGTERM itself; it runs as PID 1".to_string()),
        (false, true) => (
            StopSignal::Sigint,
            true,
            "the app handles only Ctrl-C: stop with SIGINT, and tini as PID 1 so a platform's SIGTERM still ends it at once".to_string(),
        ),
        (false, false) => (
            StopSignal::Sigterm,
            true,
            "no signal handler found: tini as PID 1 forwards SIGTERM so the app stops at once instead of after the 10 s kill timeout".to_string(),
        ),
    };
    if let Some(s) = &config.stop_signal {
        let Some(chosen) = StopSignal::ALL.into_iter().find(|k| k.as_str() == s) else {
            bail!(
                "{} is not supported; use SIGTERM, SIGINT, SIGQUIT, SIGUSR1 or SIGUSR2",
                config.setting("stop_signal", s)
            );
        };
        stop = chosen;
        why = config.source("stop_signal");
    }
    if let Some(i) = config.init {
        init = i;
        why = format!("{why}; init set in {}", config.source("init"));
    }
    Ok(SignalPlan {
        stop_signal: stop,
        init,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LockedPackage, PortEvidence, SignalFacts};

    fn plan(model: &ProjectModel, config: &Config) -> Result<ImagePlan> {
        image(model, config).map(|(plan, _)| plan)
    }

    #[test]
    fn only_the_apps_own_loopback_address_is_moved_to_all_interfaces() {
        let read = |name: &str, default: &str| EnvRead {
            name: name.into(),
            default: Some(default.into()),
            required: false,
            secret: false,
            at: "src/cli.rs:1".into(),
        };
        let moved = |e: &EnvRead| env_listen_value(e, 8080, true, None).map(|(v, _)| v);
        assert_eq!(
            moved(&read("SERVER_HOST", "127.0.0.1")).as_deref(),
            Some("0.0.0.0")
        );
        for other in [
            "SERVER_HTTPS_REDIRECT_HOST",
            "DB_HOST",
            "PUBLIC_ADDR",
            "SERVER_UNIX_SOCKET",
        ] {
            assert_eq!(moved(&read(other, "localhost")), None, "{other}");
        }
    }

    #[test]
    fn native_rules_name_debian_packages() {
        let rules = native_rules();
        assert!(rules.iter().any(|r| r.name == "openssl-sys"));
        for rule in rules {
            for p in rule
                .build
                .iter()
                .chain(&rule.runtime)
                .chain(&rule.vendored_build)
            {
                assert!(
                    crate::validate::debian_package(p).is_ok(),
                    "{}: {p}",
                    rule.name
                );
            }
            assert!(
                rule.vendored_build.is_empty() || !rule.vendored_if.is_empty(),
                "{}",
                rule.name
            );
        }
    }

    #[test]
    fn the_planner_names_its_inputs_only_when_every_local_package_is_a_member() {
        let member = |name: &str, dir: &str, files: &[&str]| Package {
            name: name.into(),
            dir: dir.into(),
            target_files: files.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        };
        let local = |name: &str| crate::model::LockEntry {
            name: name.into(),
            version: "0.1.0".into(),
            ..Default::default()
        };
        let mut model = ProjectModel {
            packages: vec![
                member(
                    "api",
                    "crates/api",
                    &["crates/api/src/main.rs", "crates/api/build.rs"],
                ),
                member("core", "crates/core", &["crates/core/src/lib.rs"]),
            ],
            lock_graph: Some(crate::model::LockGraph {
                entries: vec![local("api"), local("core")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let inputs = planner_inputs(&model, true).expect("members only");
        assert_eq!(inputs.member_dirs, ["crates/api", "crates/core"]);
        assert_eq!(
            inputs.stand_in_dirs,
            ["crates/api", "crates/api/src", "crates/core/src"]
        );
        assert_eq!(
            inputs.stand_ins,
            [
                "crates/api/build.rs",
                "crates/api/src/main.rs",
                "crates/core/src/lib.rs"
            ]
        );
        assert_eq!(
            planner_inputs(&model, false),
            None,
            "not for this Dockerfile"
        );

        // A path dependency that is not a member: cargo loads its manifest, so the planner
        // copies the whole context.
        let graph = model.lock_graph.as_mut().unwrap();
        graph.entries.push(local("vendored-helper"));
        assert_eq!(planner_inputs(&model, true), None);
        // Unless it is a local crate the Dockerfile copies whole before the planner.
        model.files.context.local_crates = vec![crate::model::LocalCrate {
            name: "vendored-helper".into(),
            dir: "vendor/helper".into(),
        }];
        assert!(planner_inputs(&model, true).is_some());
        model.files.context.local_crates.clear();
        model.lock_graph.as_mut().unwrap().entries.pop();

        // A path the Dockerfile cannot name bare.
        model.packages[1].target_files = vec!["crates/core/src/my lib.rs".into()];
        assert_eq!(planner_inputs(&model, true), None);
    }

    fn model_with(bins: &[&str], facts: SourceFacts) -> ProjectModel {
        ProjectModel {
            root_name: "demo".into(),
            packages: vec![Package {
                name: "demo".into(),
                bins: bins
                    .iter()
                    .map(|b| BinTarget {
                        name: b.to_string(),
                        path: format!("src/bin/{b}.rs"),
                        required_features: vec![],
                    })
                    .collect(),
                source: crate::model::PackageSources {
                    bins: bins
                        .iter()
                        .map(|b| {
                            let own = crate::model::BinSources {
                                facts: facts.clone(),
                                ..Default::default()
                            };
                            (b.to_string(), own)
                        })
                        .collect(),
                    ..Default::default()
                },
                ..Package::default()
            }],
            lockfile: Some(Default::default()),
            ..ProjectModel::default()
        }
    }

    #[test]
    fn port_precedence_env_default_over_literal_and_default() {
        let facts = SourceFacts {
            ports: vec![
                PortEvidence {
                    port: 9000,
                    host: Some("0.0.0.0".into()),
                    at: "a:1".into(),
                    kind: PortKind::Literal,
                },
                PortEvidence {
                    port: 3000,
                    host: None,
                    at: "a:2".into(),
                    kind: PortKind::EnvDefault,
                },
            ],
            ..SourceFacts::default()
        };
        let p = plan(&model_with(&["demo"], facts), &Config::default()).unwrap();
        assert_eq!(p.port, 3000);
        let server = SourceFacts {
            server: true,
            ..SourceFacts::default()
        };
        let p = plan(&model_with(&["demo"], server), &Config::default()).unwrap();
        assert_eq!(p.port, DEFAULT_PORT);
        assert!(p
            .decisions
            .iter()
            .any(|d| d.topic == Topic::Port && d.why.contains("defaulted")));
    }

    #[test]
    fn ambiguous_bins_are_listed() {
        let err = plan(
            &model_with(&["a", "b"], SourceFacts::default()),
            &Config::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("a (package demo), b (package demo)"),
            "{err}"
        );
        let ok = plan(
            &model_with(&["a", "b"], SourceFacts::default()),
            &Config {
                bin: Some("b".into()),
                ..Config::default()
            },
        )
        .unwrap();
        assert_eq!(ok.bin, "b");
    }

    /// The project's own Dockerfile names the binary it ships, past an init.
    #[test]
    fn the_binary_the_existing_dockerfile_runs_is_chosen_among_several() {
        let mut model = model_with(&["cli", "server-bin"], SourceFacts::default());
        model.files.existing_dockerfile = Some(crate::analyze::dockerfile::parse(
            "docker/Dockerfile",
            "FROM debian:bookworm-slim\nENV APP_ADDR=0.0.0.0:9100 DB_HOST=0.0.0.0 DATA_DIR=/data\nENTRYPOINT [\"/usr/bin/tini\", \"--\"]\nCMD [\"/usr/local/bin/server-bin\", \"--verbose\"]\n",
        ));
        let p = plan(&model, &Config::default()).unwrap();
        assert_eq!(p.bin, "server-bin");
        // Its all-interfaces address stays; another service's host and a path do not.
        assert_eq!(
            p.listen_env,
            BTreeMap::from([("APP_ADDR".to_string(), "0.0.0.0:9100".to_string())])
        );
        assert!(
            p.decisions.iter().any(|d| d.topic == Topic::Binary
                && d.why == "the binary the existing Dockerfile runs (docker/Dockerfile:4)"),
            "{:?}",
            p.decisions
        );
    }

    #[test]
    fn signal_strategies() {
        let with = |sigterm, sigint| SourceFacts {
            signals: SignalFacts { sigterm, sigint },
            ..SourceFacts::default()
        };
        let p = plan(&model_with(&["demo"], with(true, true)), &Config::default()).unwrap();
        assert_eq!(
            (p.signal.stop_signal.as_str(), p.signal.init),
            ("SIGTERM", false)
        );
        let p = plan(
            &model_with(&["demo"], with(false, true)),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(
            (p.signal.stop_signal.as_str(), p.signal.init),
            ("SIGINT", true)
        );
        let p = plan(
            &model_with(&["demo"], with(false, false)),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(
            (p.signal.stop_signal.as_str(), p.signal.init),
            ("SIGTERM", true)
        );
        assert!(p.build_packages.iter().any(|b| b.name == "tini"));
    }

    #[test]
    fn musl_with_openssl_is_refused_with_rustls_hint() {
        let mut m = model_with(&["demo"], SourceFacts::default());
        m.lockfile
            .as_mut()
            .unwrap()
            .packages
            .insert("openssl-sys".into(), Default::default());
        let err = plan(
            &m,
            &Config {
                libc: Some(Libc::Musl),
                ..Config::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("rustls"), "{err}");
        let p = plan(&m, &Config::default()).unwrap();
        assert_eq!(p.runtime_packages[0].name, "libssl3");
        assert!(p.build_packages.iter().any(|b| b.name == "libssl-dev"));
    }

    #[test]
    fn a_vendored_source_in_the_lock_still_gets_the_system_library_on_glibc() {
        let mut m = model_with(&["demo"], SourceFacts::default());
        let lock = m.lockfile.as_mut().unwrap();
        lock.packages.insert(
            "openssl-sys".into(),
            LockedPackage {
                version: "0.9.100".into(),
                dependencies: vec!["openssl-src".into()],
            },
        );
        lock.packages
            .insert("openssl-src".into(), LockedPackage::default());
        let p = plan(&m, &Config::default()).unwrap();
        let names = |v: &[AptPackage]| v.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&p.runtime_packages), ["libssl3"]);
        for b in ["libssl-dev", "pkg-config", "make", "perl"] {
            assert!(names(&p.build_packages).iter().any(|n| n == b), "{b}");
        }
        assert!(
            p.runtime_packages[0].why.contains("openssl-src"),
            "{}",
            p.runtime_packages[0].why
        );
        // A static musl binary must vendor it, and may.
        let p = plan(
            &m,
            &Config {
                libc: Some(Libc::Musl),
                ..Config::default()
            },
        )
        .unwrap();
        assert!(p.runtime_packages.is_empty());
    }

    #[test]
    fn versions() {
        assert!(
            is_version("1.80")
                && is_version("1.95.0")
                && !is_version("stable")
                && !is_version("nightly-2024-01-01")
        );
        assert!(version_lt("1.75.0", (1, 78)) && !version_lt("1.78", (1, 78)));
    }
}

/// The recipe's inputs: the directories of the member manifests besides the root's, and the
/// targets' entry files the planner creates empty (cargo-chef reads their paths, not their
/// contents), so an edit to a source does not run the planner again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlannerInputs {
    pub member_dirs: Vec<String>,
    pub stand_in_dirs: Vec<String>,
    pub stand_ins: Vec<String>,
}

/// The planner's inputs when they can be named: a Cargo.lock whose every local package is a
/// workspace member or a local package copied whole before the planner (any other needs the
/// whole context), with paths the Dockerfile can name bare (no space, quote, glob or `..`);
/// only for the cache-mount Dockerfile at the project root (`applies`).
fn planner_inputs(model: &ProjectModel, applies: bool) -> Option<PlannerInputs> {
    if !applies {
        return None;
    }
    let graph = model.lock_graph.as_ref()?;
    let members: BTreeSet<&str> = model
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .chain(
            model
                .files
                .context
                .local_crates
                .iter()
                .filter(|c| bare_path(&c.dir))
                .map(|c| c.name.as_str()),
        )
        .collect();
    if graph
        .entries
        .iter()
        .any(|e| e.source.is_none() && !members.contains(e.name.as_str()))
    {
        return None;
    }
    let mut member_dirs: Vec<String> = model
        .packages
        .iter()
        .filter(|p| !p.dir.is_empty())
        .map(|p| p.dir.clone())
        .collect();
    member_dirs.sort();
    member_dirs.dedup();
    let mut stand_ins: Vec<String> = model
        .packages
        .iter()
        .flat_map(|p| p.target_files.iter().cloned())
        .collect();
    stand_ins.sort();
    stand_ins.dedup();
    if stand_ins.is_empty() || !member_dirs.iter().chain(&stand_ins).all(|p| bare_path(p)) {
        return None;
    }
    let mut stand_in_dirs: Vec<String> = stand_ins
        .iter()
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()))
        .collect();
    stand_in_dirs.sort();
    stand_in_dirs.dedup();
    Some(PlannerInputs {
        member_dirs,
        stand_in_dirs,
        stand_ins,
    })
}
