//! `plan`: pure decisions from a `ProjectModel` and the resolved `Config` to an `ImagePlan`.
//!
//! No IO here. Every value that more than one generated file uses (port, health path, binary,
//! stop signal, user) is decided once in `ImagePlan`; templates only print it.

use crate::config::{Config, Libc, Platform};
use crate::lockcheck::Closure;
use crate::model::{
    BinTarget, EnvRead, Package, PortEvidence, PortKind, ProjectModel, SourceFacts,
};
use crate::profiles::{self, BaseProfile, UserMethod};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

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
    pub cache_mounts: bool,
    /// The binary serves network traffic (false for batch programs).
    pub server: bool,
    /// Environment for the platform files (never PORT: each platform sets that its own way).
    pub env: BTreeMap<String, String>,
    /// OCI labels fixed by the project (revision and created are added at build time).
    pub labels: BTreeMap<String, String>,
    /// Directories the build reads at compile time (never excluded from the context).
    pub build_inputs: Vec<String>,
    pub platforms: Vec<Platform>,
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
}

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
    HealthRoute => "health route",
    Stop => "stop",
    BuilderPackage => "builder package",
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
    let (cargo, closure) = notes.take(cargo(model, pkg, bin, config, (libc, &rust_version))?);
    let (port, server) = notes.take(port(model, &facts, config));
    let protocol = notes.take(protocol(&facts, server));
    let listen_env = notes.take(listen_env(model, &facts, config, port));
    let health_path = notes.take(health_route(&facts, config, server && protocol.is_http()));
    let signal = notes.take(stop(&facts, config)?);
    let (build_packages, runtime_packages) = notes.take(packages(
        model,
        config,
        (libc, &base),
        closure.as_ref(),
        signal.init,
    )?);
    let (runtime_dirs, build_inputs) = notes.take(files(model, pkg, &facts, config));
    let user = UserPlan {
        name: APP_USER.into(),
        uid: base.uid,
        gid: base.uid,
        method: base.user,
    };
    let plan = ImagePlan {
        name: image_name(config, bin),
        package: pkg.name.clone(),
        package_dir: pkg.dir.clone(),
        bin: bin.name.clone(),
        cargo,
        rust_version,
        builder_image,
        base,
        build_packages,
        runtime_packages,
        port,
        port_env: facts.reads_port_env,
        protocol,
        env: env(config, &listen_env)?,
        listen_env,
        env_reads: facts.env.clone(),
        health_path,
        signal,
        user,
        runtime_dirs,
        sqlx_offline: model.files.sqlx_offline_data,
        cache_mounts: config.cache_mounts.unwrap_or(false),
        server,
        labels: labels(pkg, bin),
        build_inputs,
        platforms: config.platforms.clone().unwrap_or_default(),
        decisions: notes.decisions,
    };
    Ok((plan, notes.warnings))
}

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
    if config.port.is_some() && !facts.reads_port_env {
        if let Some(found) = facts
            .ports
            .iter()
            .find(|p| p.port > 0 && p.kind != PortKind::Framework)
            .filter(|p| p.port != port)
        {
            notes.warn(format!(
                "{} = {port} but the app listens on {} ({}) and does not read PORT; make them agree",
                config.source("port"), found.port, found.at
            ));
        }
    }
    notes.with((port, server))
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

/// What the server speaks: gRPC when its only frameworks are gRPC ones, HTTP with any HTTP
/// framework or hyper, raw TCP for a bare listener, HTTP when nothing says.
fn protocol(facts: &SourceFacts, server: bool) -> Planned<Protocol> {
    let mut notes = Notes::default();
    let used: Vec<&crate::frameworks::Framework> = facts
        .frameworks
        .iter()
        .filter_map(|u| crate::frameworks::by_name(&u.name))
        .collect();
    let (protocol, why) = if used.iter().any(|f| f.protocol == "http") {
        (
            Protocol::Http,
            format!(
                "{} serves HTTP",
                used.iter()
                    .find(|f| f.protocol == "http")
                    .map_or("", |f| f.name.as_str())
            ),
        )
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
    port: u16,
) -> Planned<BTreeMap<String, String>> {
    let mut notes = Notes::default();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let framework_moved = framework_listen_env(facts, port, &mut notes, &mut out);
    let has_port_source = facts.ports.iter().any(|p| p.port > 0)
        || model.files.config_port.is_some()
        || config.port.is_some();
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
    if crate::model::is_addr_env(&e.name) {
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
            .find(|h| server && facts.health_paths.iter().any(|f| f == *h))
            .map(|h| h.to_string())
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
/// binary cannot link is an error.
fn native_packages(
    model: &ProjectModel,
    libc: Libc,
    base: &BaseProfile,
    closure: Option<&Closure>,
) -> Result<(Vec<AptPackage>, Vec<AptPackage>)> {
    let lock_has = |name: &str| match (closure, &model.lock_graph) {
        (Some(c), Some(g)) => c.has(g, name),
        _ => model.lockfile.as_ref().is_some_and(|l| l.has(name)),
    };
    let chain = |name: &str| match (closure, &model.lock_graph) {
        (Some(c), Some(g)) => c.chain(g, name),
        _ => name.to_string(),
    };
    let lock_dep = |a: &str, b: &str| model.lockfile.as_ref().is_some_and(|l| l.depends_on(a, b));
    let (mut build, mut runtime) = (Vec::new(), Vec::new());
    for rule in native_rules() {
        if !lock_has(&rule.name) {
            continue;
        }
        let vendored = rule
            .vendored_if
            .iter()
            .any(|v| lock_dep(&rule.name, v) || (rule.vendored_anywhere && lock_has(v)));
        if vendored {
            for p in &rule.vendored_build {
                add_package(&mut build, p, &format!("{} (vendored)", rule.name));
            }
            continue;
        }
        if let (Libc::Musl, Some(hint)) = (libc, &rule.musl) {
            bail!(
                "{} links {} dynamically, which a static musl binary cannot do; {hint}, or set libc = \"gnu\"",
                rule.name,
                rule.runtime.first().map_or("a system library", String::as_str)
            );
        }
        let why = chain(&rule.name);
        for p in &rule.build {
            add_package(&mut build, p, &why);
        }
        for p in rule.runtime.iter().filter(|p| !base.provides.contains(p)) {
            add_package(&mut runtime, p, &why);
        }
    }
    Ok((build, runtime))
}

/// Every Debian package of the builder and the runtime: native crates, linkers, musl tools,
/// tini and the configured ones.
fn packages(
    model: &ProjectModel,
    config: &Config,
    (libc, base): (Libc, &BaseProfile),
    closure: Option<&Closure>,
    init: bool,
) -> Result<Planned<(Vec<AptPackage>, Vec<AptPackage>)>> {
    let (mut build, mut runtime) = native_packages(model, libc, base, closure)?;
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

/// The environment for the deploy files: `RUST_LOG`, the listen env and `[env]`, never PORT or K_*.
fn env(config: &Config, listen: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::from([("RUST_LOG".to_string(), "info".to_string())]);
    env.extend(listen.clone());
    for (k, v) in config.env.iter().flatten() {
        if k == "PORT" || k.starts_with("K_") {
            bail!("imggen.toml [env] sets {k}; the port is `port`, and platforms reserve PORT and K_* — remove it");
        }
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
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
/// `default-run` or one binary; the only binary that is not `xtask` (a build tool).
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

/// The binary of the package at the path given: its `default-run` or only binary.
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
            bail!(
                "{}: package {} has {} binaries and no `default-run`: {}; choose one with `bin = \"NAME\"` in imggen.toml or --bin NAME",
                pkg.dir,
                pkg.name,
                own.len(),
                bin_listing(&own)
            )
        }
    }
}

/// Among several binaries at the root: the one `cargo run` would run there, else the only one
/// that is not xtask.
fn several_bins<'a>(
    model: &'a ProjectModel,
    all: &[(&'a Package, &'a BinTarget)],
) -> Result<(&'a Package, &'a BinTarget, String)> {
    let listing = || bin_listing(all);
    let root = model.packages.iter().find(|p| p.dir.is_empty());
    let (selected, by): (Vec<&Package>, String) = if !model.default_members.is_empty() {
        let defaults = model
            .packages
            .iter()
            .filter(|p| model.default_members.contains(&p.dir))
            .collect();
        (defaults, "the `default-members`".into())
    } else if let Some(root) = root {
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
    bail!(
        "{} binaries found: {}; none is the `default-run` or only binary of {by}, so choose one with `bin = \"NAME\"` in imggen.toml or --bin NAME{}",
        all.len(),
        listing(),
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
    use crate::model::{PortEvidence, SignalFacts};

    fn plan(model: &ProjectModel, config: &Config) -> Result<ImagePlan> {
        image(model, config).map(|(plan, _)| plan)
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
