//! `imggen.toml`, `IMGGEN_*` variables and command-line flags, layered in one place.
//!
//! Precedence: defaults < imggen.toml < `IMGGEN_*` environment < flags. Every layer is the same
//! `Config` type, so a key means the same thing wherever it is set, and unknown keys are errors
//! that name the key. Defaults are not stored here: `plan` decides them from the analysis.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The config file's name at the project root.
pub const FILE_NAME: &str = "imggen.toml";
/// The only config format version this imggen reads.
pub const VERSION: u32 = 1;
/// `IMGGEN_*` variables that carry secrets rather than configuration.
pub const CREDENTIAL_VARS: &[&str] = &["IMGGEN_REGISTRY_USERNAME", "IMGGEN_REGISTRY_PASSWORD"];

/// The C library the binary links: glibc (Debian runtime) or musl (static, scratch runtime).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    #[default]
    Gnu,
    Musl,
}

impl Libc {
    /// The name imggen.toml and `--libc` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Libc::Gnu => "gnu",
            Libc::Musl => "musl",
        }
    }
}

/// A deploy target whose files imggen writes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Fly,
    CloudRun,
    Render,
    Vm,
    GithubActions,
    GitlabCi,
}

impl Platform {
    /// Every platform, in the order files are listed.
    pub const ALL: [Platform; 6] = [
        Platform::Fly,
        Platform::CloudRun,
        Platform::Render,
        Platform::Vm,
        Platform::GithubActions,
        Platform::GitlabCi,
    ];

    /// The name used in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Fly => "fly",
            Platform::CloudRun => "cloud-run",
            Platform::Render => "render",
            Platform::Vm => "vm",
            Platform::GithubActions => "github-actions",
            Platform::GitlabCi => "gitlab-ci",
        }
    }

    /// Parses a config or flag value.
    pub fn parse(s: &str) -> Result<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .with_context(|| {
                let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
                format!("unknown platform `{s}`; use one of {}", names.join(", "))
            })
    }
}

/// The web server in front of the app on a plain Linux server.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Proxy {
    #[default]
    Caddy,
    Nginx,
}

/// `[fly]`: Fly.io settings for fly.toml.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FlyConfig {
    pub app: Option<String>,
    pub primary_region: Option<String>,
    /// "stop", "suspend" or "off".
    pub auto_stop_machines: Option<String>,
    pub min_machines_running: Option<u32>,
    /// Machine preset, e.g. "shared-cpu-1x" (default) or "performance-2x".
    pub size: Option<String>,
    /// VM memory, e.g. "512mb" or "1gb".
    pub memory: Option<String>,
    pub cpus: Option<u32>,
    /// "shared" or "performance".
    pub cpu_kind: Option<String>,
    /// Command run once per deploy before new machines start (e.g. migrations).
    pub release_command: Option<String>,
}

/// `[cloud_run]`: Google Cloud Run settings for service.yaml / job.yaml.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CloudRunConfig {
    pub service: Option<String>,
    /// Full image reference Cloud Run pulls, e.g. "europe-west1-docker.pkg.dev/acme/apps/api:1.4.0"
    /// (default: `[image] name` when it is an Artifact Registry image, else a placeholder).
    pub image: Option<String>,
    /// Cost guard: the most instances Cloud Run may start.
    pub max_instances: Option<u32>,
    pub min_instances: Option<u32>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub concurrency: Option<u32>,
    /// Write a Cloud Run job instead of a service (default: when the binary serves nothing).
    pub job: Option<bool>,
}

/// `[render]`: Render settings for render.yaml.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RenderConfig {
    pub service: Option<String>,
    pub plan: Option<String>,
    pub region: Option<String>,
}

/// `[vm]`: a plain Linux server with systemd and a TLS-terminating proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    pub domain: Option<String>,
    pub proxy: Option<Proxy>,
    /// A built single-page frontend (index.html + assets) the proxy serves.
    pub static_dir: Option<String>,
}

/// `[ci]`: the CI pipelines imggen writes (GitHub Actions, GitLab CI).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CiConfig {
    /// The imggen version the pipeline installs (default: the version that generates it).
    pub imggen_version: Option<String>,
    /// Workload Identity Federation provider the Cloud Run job authenticates with, e.g.
    /// "projects/123/locations/global/workloadIdentityPools/ci/providers/github".
    pub gcp_workload_identity_provider: Option<String>,
    /// Service account the Cloud Run job deploys as.
    pub gcp_service_account: Option<String>,
    /// Cloud Run region, e.g. "europe-west1".
    pub gcp_region: Option<String>,
}

/// `[image]`: names the build and push use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Repository, e.g. "ghcr.io/acme/api" (default: the binary's name).
    pub name: Option<String>,
    /// Tags to build; default: the git short sha and "latest".
    pub tags: Option<Vec<String>>,
    /// Manifest digest of the last push (`sha256:...`), written by `imggen build --push
    /// --write-digest`. Deploy files pin the image as `name@digest` with it (see
    /// [`ImageConfig::pinned_ref`]).
    pub digest: Option<String>,
}

impl ImageConfig {
    /// `name@digest` when a digest is recorded: `name` is `[image] name`, else `default_name`.
    pub fn pinned_ref(&self, default_name: &str) -> Option<String> {
        let name = self.name.as_deref().unwrap_or(default_name);
        self.digest.as_ref().map(|d| format!("{name}@{d}"))
    }
}

/// `[build]`: how `imggen build` builds the image and what it does besides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// Attach an SPDX SBOM to every pushed image (default true; `--no-sbom` turns it off).
    pub sbom: Option<bool>,
    /// `docker` (the Docker Engine API, the default), `oci` (daemonless) or `auto`; checked
    /// by `validate` and read with [`Engine::parse`]. `IMGGEN_ENGINE`, `--engine`.
    pub engine: Option<String>,
    /// Architectures of a multi-architecture image (`amd64`, `arm64`), cross-compiled; unset
    /// builds this machine's architecture with the single-architecture Dockerfile.
    pub arch: Option<Vec<String>>,
    /// A registry host (`host[:port]`) that serves Docker Hub's images: `--engine oci` pulls
    /// Docker Hub bases from it, as Docker's `registry-mirrors` does. `IMGGEN_BASE_MIRROR`.
    pub base_mirror: Option<String>,
}

impl BuildConfig {
    /// `self`'s keys over `low`'s, key by key (`IMGGEN_ENGINE` or `--arch` must not drop a
    /// file's `[build] sbom`).
    fn over(self, low: BuildConfig) -> BuildConfig {
        BuildConfig {
            sbom: self.sbom.or(low.sbom),
            engine: self.engine.or(low.engine),
            arch: self.arch.or(low.arch),
            base_mirror: self.base_mirror.or(low.base_mirror),
        }
    }
}

/// What builds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The Docker Engine API, from the generated Dockerfile.
    #[default]
    Docker,
    /// imggen itself: cargo on this machine, layers and manifests written without a daemon.
    Oci,
    /// `docker` when an engine answers, else `oci` when the plan allows it.
    Auto,
}

impl Engine {
    /// Every engine's name, as imggen.toml and `--engine` take it.
    pub const NAMES: [&'static str; 3] = ["docker", "oci", "auto"];

    /// Parses a name of [`Engine::NAMES`].
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "docker" => Some(Engine::Docker),
            "oci" => Some(Engine::Oci),
            "auto" => Some(Engine::Auto),
            _ => None,
        }
    }
}

/// One configuration layer. Every field is optional: unset means "the layer below decides".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: Option<u32>,
    pub bin: Option<String>,
    pub profile: Option<String>,
    pub features: Option<Vec<String>>,
    pub no_default_features: Option<bool>,
    pub libc: Option<Libc>,
    pub base: Option<String>,
    pub rust_version: Option<String>,
    pub builder_image: Option<String>,
    pub port: Option<u16>,
    pub health_path: Option<String>,
    pub stop_signal: Option<String>,
    pub init: Option<bool>,
    /// Cache mounts for the cargo registry and `target/` (unset: true, needs BuildKit); false
    /// writes the layers-only Dockerfile the classic builder builds.
    pub cache_mounts: Option<bool>,
    /// Build secrets (ids) mounted on the steps that fetch dependencies (`--secret id=...`).
    pub secrets: Option<Vec<String>>,
    /// Mount the SSH agent (`--ssh default`) on the steps that fetch dependencies.
    pub ssh: Option<bool>,
    pub include: Option<Vec<String>>,
    pub build_packages: Option<Vec<String>>,
    pub runtime_packages: Option<Vec<String>>,
    /// Arguments the image runs the binary with (the Dockerfile's CMD).
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub platforms: Option<Vec<Platform>>,
    pub image: Option<ImageConfig>,
    pub build: Option<BuildConfig>,
    pub fly: Option<FlyConfig>,
    pub cloud_run: Option<CloudRunConfig>,
    pub render: Option<RenderConfig>,
    pub vm: Option<VmConfig>,
    pub ci: Option<CiConfig>,
    /// The layer each set key came from, for errors and `imggen plan`.
    #[serde(skip)]
    pub origins: Origins,
}

/// A configuration layer: imggen.toml (its path), the `IMGGEN_*` environment or a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    File(String),
    Env,
    Flag,
}

/// Top-level key -> the layer that set it. Provenance, not configuration: always equal.
#[derive(Debug, Clone, Default)]
pub struct Origins(pub BTreeMap<String, Layer>);

impl PartialEq for Origins {
    fn eq(&self, _: &Origins) -> bool {
        true
    }
}

macro_rules! overlay {
    ($low:expr, $high:expr, $($f:ident),*) => {{
        let mut origins = $low.origins.0;
        origins.extend($high.origins.0);
        Config { $($f: $high.$f.or($low.$f),)* origins: Origins(origins) }
    }};
}

impl Config {
    /// Parses imggen.toml text; `origin` names the file in errors.
    pub fn parse_file(text: &str, origin: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| file_error(text, origin, &e))?;
        match config.version {
            Some(VERSION) => Ok(config.with_origin(&Layer::File(origin.to_string()))),
            Some(v) => bail!(
                "{origin}: version = {v} is not supported; this imggen reads version = {VERSION}"
            ),
            None => bail!("{origin}: missing `version = {VERSION}` at the top; add it"),
        }
    }

    /// Records `layer` as the origin of every key this layer sets.
    fn with_origin(mut self, layer: &Layer) -> Config {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&self) {
            for (key, value) in map {
                if !value.is_null() {
                    self.origins.0.entry(key).or_insert_with(|| layer.clone());
                }
            }
        }
        self
    }

    /// Where `key` (`port`, or `vm.domain` in a section) was set, as `imggen plan` names it:
    /// imggen.toml `port`, `IMGGEN_PORT` or `--port`.
    pub fn source(&self, key: &str) -> String {
        match self.layer(key) {
            Layer::File(_) => format!("imggen.toml {}", toml_key(key)),
            Layer::Env => env_name(key),
            Layer::Flag => flag_name(key),
        }
    }

    /// `key` set to `value` in the words of its layer, for errors: `PATH: `port` = "0"`,
    /// `IMGGEN_PORT="0"` or `--port "0"` (values quoted, so a line break shows as `\n`).
    pub fn setting(&self, key: &str, value: &str) -> String {
        match self.layer(key) {
            Layer::File(path) => format!("{path}: {} = {value:?}", toml_key(key)),
            Layer::Env => format!("{}={value:?}", env_name(key)),
            Layer::Flag => format!("{} {value:?}", flag_name(key)),
        }
    }

    fn layer(&self, key: &str) -> Layer {
        let top = key.split('.').next().unwrap_or(key);
        self.origins
            .0
            .get(top)
            .cloned()
            .unwrap_or_else(|| Layer::File(FILE_NAME.into()))
    }

    /// Reads `IMGGEN_*` variables into a layer; any other `IMGGEN_*` name is an error.
    pub fn from_env<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Config> {
        let mut table = toml::Table::new();
        for (name, value) in vars {
            let Some(suffix) = name.strip_prefix("IMGGEN_") else {
                continue;
            };
            if CREDENTIAL_VARS.contains(&name) {
                continue;
            }
            let key = suffix.to_ascii_lowercase();
            if let Some((section, field)) = env_section_key(&key) {
                let mut one = toml::Table::new();
                one.insert(field.into(), toml::Value::String(value.to_string()));
                let mut outer = toml::Table::new();
                outer.insert(section.into(), toml::Value::Table(one.clone()));
                outer.deserialize_into_config(&format!("{name}={value}"))?;
                table.insert(section.into(), toml::Value::Table(one));
                continue;
            }
            let Some(kind) = ENV_KEYS.iter().find(|(k, _)| *k == key).map(|(_, t)| *t) else {
                bail!(
                    "environment variable {name} is not an imggen setting; unset it (settings: {})",
                    ENV_KEYS
                        .iter()
                        .map(|(k, _)| *k)
                        .chain(ENV_SECTION_KEYS.iter().map(|(k, _)| *k))
                        .map(|k| format!("IMGGEN_{}", k.to_ascii_uppercase()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let value_toml = env_value(name, value, kind)?;
            let mut one = toml::Table::new();
            one.insert(key.clone(), value_toml.clone());
            one.deserialize_into_config(&format!("{name}={value}"))?;
            table.insert(key, value_toml);
        }
        Ok(table
            .deserialize_into_config("the IMGGEN_* environment")?
            .with_origin(&Layer::Env))
    }

    /// Stacks `self` (higher precedence) over `low`; sections are replaced whole, except
    /// `[build]`, whose keys come from different layers (`IMGGEN_ENGINE`, `--arch` over a
    /// file's `sbom`).
    pub fn over(self, low: Config) -> Config {
        let build = match (self.build.clone(), low.build.clone()) {
            (Some(high), Some(low)) => Some(high.over(low)),
            (high, low) => high.or(low),
        };
        let mut config = overlay!(
            low,
            self,
            version,
            bin,
            profile,
            features,
            no_default_features,
            libc,
            base,
            rust_version,
            builder_image,
            port,
            health_path,
            stop_signal,
            init,
            cache_mounts,
            secrets,
            ssh,
            include,
            build_packages,
            runtime_packages,
            args,
            env,
            platforms,
            image,
            build,
            fly,
            cloud_run,
            render,
            vm,
            ci
        );
        config.build = build;
        config
    }

    /// Resolves all layers: defaults < file < environment < flags.
    pub fn resolve(file: Option<Config>, env: Config, flags: Config) -> Config {
        flags
            .with_origin(&Layer::Flag)
            .over(env.over(file.unwrap_or_default()))
    }
}

/// `port`, or `[vm] domain` for a key in a section.
fn toml_key(key: &str) -> String {
    match key.split_once('.') {
        Some((section, k)) => format!("[{section}] {k}"),
        None => format!("`{key}`"),
    }
}

/// Section keys settable from the environment: variable suffix -> (section, key).
const ENV_SECTION_KEYS: &[(&str, (&str, &str))] = &[
    ("engine", ("build", "engine")),
    ("base_mirror", ("build", "base_mirror")),
];

fn env_section_key(suffix: &str) -> Option<(&'static str, &'static str)> {
    ENV_SECTION_KEYS
        .iter()
        .find(|(k, _)| *k == suffix)
        .map(|(_, v)| *v)
}

/// The `IMGGEN_*` variable that sets `key` (`port` -> `IMGGEN_PORT`, `build.engine` ->
/// `IMGGEN_ENGINE`).
fn env_name(key: &str) -> String {
    let suffix = ENV_SECTION_KEYS
        .iter()
        .find(|(_, (section, k))| key == format!("{section}.{k}"))
        .map_or(key, |(suffix, _)| suffix);
    format!("IMGGEN_{}", suffix.to_ascii_uppercase())
}

/// The command-line flag that sets `key`.
fn flag_name(key: &str) -> String {
    match key {
        "platforms" => "--platform".into(),
        "build.engine" => "--engine".into(),
        "build.arch" => "--arch".into(),
        "args" => "--arg".into(),
        k if k == "env" || k.starts_with("env.") => "--env".into(),
        k => format!("--{}", k.replace('_', "-")),
    }
}

/// An imggen.toml error as one sentence: the file and line, the full dotted key
/// (`fly.regoin`, not `regoin`), what is wrong and the fix.
fn file_error(text: &str, origin: &str, e: &toml::de::Error) -> anyhow::Error {
    let span = e.span();
    let line = span.as_ref().map(|s| {
        text.as_bytes()[..s.start.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    });
    let key = span.and_then(|s| key_path_at(text, s.start));
    let message = e.message().trim().trim_end_matches('.');
    let (message, fix) = match (message.strip_prefix("unknown field `"), &key) {
        (Some(rest), Some(key)) => (
            format!(
                "unknown key `{key}`{}",
                rest.split_once('`').map(|(_, r)| r).unwrap_or_default()
            ),
            "fix or remove that key (every key is listed in the README)",
        ),
        (Some(_), None) => (
            message.to_string(),
            "fix or remove that key (every key is listed in the README)",
        ),
        (None, Some(key)) => (
            format!("`{key}`: {message}"),
            "fix the value (every key is described in the README)",
        ),
        (None, None) => (
            message.to_string(),
            "fix the file (every key is described in the README)",
        ),
    };
    anyhow::anyhow!(
        "{origin}{}: {message}; {fix}",
        line.map(|l| format!(":{l}")).unwrap_or_default()
    )
}

/// The dotted path of the key whose name or value covers byte `pos` of `text`.
fn key_path_at(text: &str, pos: usize) -> Option<String> {
    use toml_edit::{Item, Table, Value};
    type Span = Option<std::ops::Range<usize>>;
    fn hit(span: Span, pos: usize) -> bool {
        span.is_some_and(|r| r.contains(&pos))
    }
    fn in_value(v: &Value, pos: usize, path: &mut Vec<String>) -> bool {
        match v {
            Value::InlineTable(t) => t.iter().any(|(k, _)| {
                t.get_key_value(k)
                    .is_some_and(|(key, item)| in_entry(k, key.span(), item, pos, path))
            }),
            Value::Array(a) => a.iter().any(|v| in_value(v, pos, path)),
            _ => false,
        }
    }
    fn in_entry(name: &str, key: Span, item: &Item, pos: usize, path: &mut Vec<String>) -> bool {
        path.push(name.to_string());
        let found = match item {
            Item::Table(t) => in_table(t, pos, path) || hit(key, pos),
            Item::ArrayOfTables(a) => a.iter().any(|t| in_table(t, pos, path)) || hit(key, pos),
            Item::Value(v) => in_value(v, pos, path) || hit(key, pos) || hit(v.span(), pos),
            Item::None => false,
        };
        if !found {
            path.pop();
        }
        found
    }
    fn in_table(t: &Table, pos: usize, path: &mut Vec<String>) -> bool {
        t.iter().any(|(k, _)| {
            t.get_key_value(k)
                .is_some_and(|(key, item)| in_entry(k, key.span(), item, pos, path))
        })
    }
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    in_table(doc.as_table(), pos, &mut path).then(|| path.join("."))
}

#[derive(Clone, Copy)]
enum EnvKind {
    Str,
    Bool,
    Int,
    List,
    /// Whitespace-separated words (`IMGGEN_ARGS="serve --verbose"`).
    Words,
}

/// Keys settable from the environment, and how their value is read.
const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("bin", EnvKind::Str),
    ("profile", EnvKind::Str),
    ("features", EnvKind::List),
    ("no_default_features", EnvKind::Bool),
    ("libc", EnvKind::Str),
    ("base", EnvKind::Str),
    ("rust_version", EnvKind::Str),
    ("builder_image", EnvKind::Str),
    ("port", EnvKind::Int),
    ("health_path", EnvKind::Str),
    ("stop_signal", EnvKind::Str),
    ("init", EnvKind::Bool),
    ("cache_mounts", EnvKind::Bool),
    ("platforms", EnvKind::List),
    ("args", EnvKind::Words),
];

fn env_value(name: &str, value: &str, kind: EnvKind) -> Result<toml::Value> {
    Ok(match kind {
        EnvKind::Str => toml::Value::String(value.to_string()),
        EnvKind::Bool => match value {
            "1" | "true" | "yes" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "" => toml::Value::Boolean(false),
            _ => bail!("{name}={value} is not a boolean; use true or false"),
        },
        EnvKind::Int => toml::Value::Integer(
            value
                .parse()
                .with_context(|| format!("{name}={value} is not a number; set a whole number"))?,
        ),
        EnvKind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        EnvKind::Words => toml::Value::Array(
            value
                .split_whitespace()
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
    })
}

trait IntoConfig {
    fn deserialize_into_config(self, origin: &str) -> Result<Config>;
}

impl IntoConfig for toml::Table {
    fn deserialize_into_config(self, origin: &str) -> Result<Config> {
        toml::Value::Table(self)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!(
                    "{origin}: {}; set a valid value or unset it",
                    e.message().trim().trim_end_matches('.')
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_layers_from_file_env_and_flag_and_names_its_source() {
        let file = Config::parse_file(
            "version = 1\n[build]\nengine = \"oci\"\nsbom = false\n",
            "imggen.toml",
        )
        .unwrap();
        let env = Config::from_env([("IMGGEN_ENGINE", "auto")]).unwrap();
        let engine = |c: &Config| c.build.as_ref().and_then(|b| b.engine.clone());
        assert_eq!(
            engine(&Config::resolve(
                Some(file.clone()),
                Config::default(),
                Config::default()
            ))
            .as_deref(),
            Some("oci")
        );
        let resolved = Config::resolve(Some(file.clone()), env, Config::default());
        assert_eq!(engine(&resolved).as_deref(), Some("auto"));
        let sbom = resolved.build.as_ref().and_then(|b| b.sbom);
        assert_eq!(
            sbom,
            Some(false),
            "the file's sbom key survives IMGGEN_ENGINE"
        );
        assert_eq!(resolved.setting("build.engine", "x"), "IMGGEN_ENGINE=\"x\"");
        let flag = Config {
            build: Some(BuildConfig {
                engine: Some("docker".into()),
                ..BuildConfig::default()
            }),
            ..Config::default()
        };
        let resolved = Config::resolve(Some(file), Config::default(), flag);
        assert_eq!(engine(&resolved).as_deref(), Some("docker"));
        assert_eq!(resolved.setting("build.engine", "x"), "--engine \"x\"");
        assert_eq!(Engine::parse("oci"), Some(Engine::Oci));
        assert_eq!(Engine::parse("podman"), None);
    }

    #[test]
    fn arch_from_a_flag_keeps_the_file_s_build_sbom() {
        let file = Config::parse_file(
            "version = 1\n[build]\nsbom = false\narch = [\"amd64\"]\n",
            "imggen.toml",
        )
        .unwrap();
        let flags = Config {
            build: Some(BuildConfig {
                arch: Some(vec!["arm64".into()]),
                ..BuildConfig::default()
            }),
            ..Config::default()
        };
        let c = Config::resolve(Some(file), Config::default(), flags);
        let build = c.build.as_ref().unwrap();
        assert_eq!(build.sbom, Some(false));
        assert_eq!(build.arch.as_deref(), Some(&["arm64".to_string()][..]));
        assert_eq!(c.source("build.arch"), "--arch");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse_file("version = 1\nprot = 3000\n", "imggen.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("imggen.toml") && msg.contains("prot"), "{msg}");
    }

    #[test]
    fn unknown_key_in_section_is_named() {
        let err = Config::parse_file("version = 1\n[fly]\nregion = \"ams\"\n", "imggen.toml")
            .unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
    }

    #[test]
    fn version_is_required_and_checked() {
        assert!(Config::parse_file("port = 1\n", "imggen.toml")
            .unwrap_err()
            .to_string()
            .contains("version"));
        assert!(Config::parse_file("version = 2\n", "imggen.toml")
            .unwrap_err()
            .to_string()
            .contains("version = 2"));
    }

    #[test]
    fn layers_stack_in_order() {
        let file = Config::parse_file(
            "version = 1\nport = 1000\nbin = \"a\"\nlibc = \"musl\"\n",
            "f",
        )
        .unwrap();
        let env = Config::from_env([
            ("IMGGEN_PORT", "2000"),
            ("IMGGEN_BIN", "b"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        let flags = Config {
            port: Some(3000),
            ..Config::default()
        };
        let c = Config::resolve(Some(file), env, flags);
        assert_eq!(c.port, Some(3000));
        assert_eq!(c.bin.as_deref(), Some("b"));
        assert_eq!(c.libc, Some(Libc::Musl));
    }

    #[test]
    fn env_values_are_typed() {
        let c = Config::from_env([
            ("IMGGEN_CACHE_MOUNTS", "true"),
            ("IMGGEN_FEATURES", "a, b"),
            ("IMGGEN_PLATFORMS", "fly,cloud-run"),
            ("IMGGEN_REGISTRY_PASSWORD", "secret"),
        ])
        .unwrap();
        assert_eq!(c.cache_mounts, Some(true));
        assert_eq!(c.features, Some(vec!["a".into(), "b".into()]));
        assert_eq!(c.platforms, Some(vec![Platform::Fly, Platform::CloudRun]));
        let c = Config::from_env([("IMGGEN_ARGS", " serve  --port 8080 ")]).unwrap();
        assert_eq!(
            c.args,
            Some(vec!["serve".into(), "--port".into(), "8080".into()])
        );
    }

    #[test]
    fn unknown_env_var_is_named() {
        let err = Config::from_env([("IMGGEN_PROT", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("IMGGEN_PROT"), "{err}");
        let err = Config::from_env([("IMGGEN_PORT", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("IMGGEN_PORT=x"), "{err}");
        let err = Config::from_env([("IMGGEN_LIBC", "bionic")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bionic"), "{err}");
    }
}
