//! The command line: parses arguments, runs the pipeline, maps results to exit codes. The only
//! module that knows clap; nothing imports it.
//!
//! Exit codes: 0 success, 1 drift found by `generate --check`, 2 any error.

use crate::build::progress::ProgressFlag;
use crate::build::BuildOptions;
use crate::config::{self, Config, Libc, Platform};
use crate::output::{self, WriteStatus};
use crate::pipeline::{self, project_root};
use crate::template::GeneratedFile;
use anyhow::{bail, Result};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// imggen: container images and deploy files for Rust services, right the first time.
#[derive(Parser, Debug)]
#[command(name = "imggen", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze the project, write imggen.toml and generate every file.
    Init(InitArgs),
    /// Regenerate every file from imggen.toml and the project; --check compares instead.
    Generate(GenerateArgs),
    /// Print the analysis and the decisions, before any file is written.
    Plan(PlanArgs),
    /// Build the image through the Docker Engine API (or without a daemon with --engine oci),
    /// and push it with --push.
    Build(Box<BuildArgs>),
    /// Print the SBOM of the chosen binary: the packages Cargo.lock compiles into it.
    Sbom(SbomArgs),
    /// Compile on this machine and write the VM release bundle: a tar.gz of the binary, the
    /// systemd unit, the proxy config, run-time and frontend files, and its .sha256.
    Bundle(BundleArgs),
}

/// The project path and the flags that override configuration (highest precedence).
#[derive(Args, Debug, Default, Clone)]
pub struct ProjectArgs {
    /// Project root (the directory with Cargo.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Binary target to package.
    #[arg(long)]
    pub bin: Option<String>,
    /// C library: gnu (Debian runtime) or musl (static binary, scratch runtime).
    #[arg(long, value_parser = ["gnu", "musl"])]
    pub libc: Option<String>,
    /// Runtime base profile (a file of images/).
    #[arg(long, help = base_help())]
    pub base: Option<String>,
    /// Port the app listens on.
    #[arg(long)]
    pub port: Option<u16>,
    /// Cargo profile to build with.
    #[arg(long)]
    pub profile: Option<String>,
    /// Cargo features to enable (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Build without the package's default features.
    #[arg(long)]
    pub no_default_features: bool,
    /// Rust version of the builder image.
    #[arg(long)]
    pub rust_version: Option<String>,
    /// Use BuildKit cache mounts for the cargo registry and target/ (the default).
    #[arg(long, conflicts_with = "no_cache_mounts")]
    pub cache_mounts: bool,
    /// Layers only, no cache mounts: a Dockerfile the classic builder builds (cache_mounts = false).
    #[arg(long)]
    pub no_cache_mounts: bool,
    #[arg(
        long = "platform",
        help = platform_help(),
        value_parser = PossibleValuesParser::new(Platform::ALL.map(Platform::name)),
    )]
    pub platforms: Vec<String>,
    /// CI pipeline to write (repeatable): github (= --platform github-actions), gitlab
    /// (= --platform gitlab-ci).
    #[arg(long = "ci", value_parser = ["github", "gitlab"])]
    pub ci: Vec<String>,
    /// Architectures of a multi-architecture image, cross-compiled (comma-separated): amd64,
    /// arm64 (also `[build] arch`); needs libc musl on scratch.
    #[arg(long, value_delimiter = ',', value_parser = ["amd64", "arm64"])]
    pub arch: Vec<String>,
    /// Argument the image runs the binary with (repeatable, in order; the Dockerfile's CMD).
    #[arg(long = "arg", allow_hyphen_values = true, value_name = "ARG")]
    pub args: Vec<String>,
    /// Image environment variable NAME=VALUE (repeatable); replaces imggen.toml's [env] table.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
}

/// `--platform`'s help, naming every deploy target.
fn platform_help() -> String {
    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
    format!(
        "Platform to write deploy files for (repeatable): {}",
        names.join(", ")
    )
}

/// `--base`'s help, naming every profile of images/.
fn base_help() -> String {
    format!("Runtime base profile: {}", crate::profiles::names())
}

impl ProjectArgs {
    /// The flags as a configuration layer.
    pub fn to_config(&self) -> Result<Config> {
        Ok(Config {
            bin: self.bin.clone(),
            libc: match self.libc.as_deref() {
                Some("musl") => Some(Libc::Musl),
                Some(_) => Some(Libc::Gnu),
                None => None,
            },
            base: self.base.clone(),
            port: self.port,
            profile: self.profile.clone(),
            features: (!self.features.is_empty()).then(|| self.features.clone()),
            no_default_features: self.no_default_features.then_some(true),
            rust_version: self.rust_version.clone(),
            cache_mounts: if self.no_cache_mounts {
                Some(false)
            } else {
                self.cache_mounts.then_some(true)
            },
            args: (!self.args.is_empty()).then(|| self.args.clone()),
            env: if self.env.is_empty() {
                None
            } else {
                let mut env = std::collections::BTreeMap::new();
                for e in &self.env {
                    let Some((k, v)) = e.split_once('=') else {
                        bail!("--env {e:?} has no `=`; write --env NAME=VALUE");
                    };
                    env.insert(k.to_string(), v.to_string());
                }
                Some(env)
            },
            platforms: if self.platforms.is_empty() && self.ci.is_empty() {
                None
            } else {
                let ci = self.ci.iter().map(|c| match c.as_str() {
                    "github" => Ok(Platform::GithubActions),
                    _ => Ok(Platform::GitlabCi),
                });
                let mut platforms: Vec<Platform> = Vec::new();
                for p in self.platforms.iter().map(|p| Platform::parse(p)).chain(ci) {
                    let p = p?;
                    if !platforms.contains(&p) {
                        platforms.push(p);
                    }
                }
                Some(platforms)
            },
            build: (!self.arch.is_empty()).then(|| crate::config::BuildConfig {
                arch: Some(self.arch.clone()),
                ..Default::default()
            }),
            ..Config::default()
        })
    }
}

/// `imggen init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Overwrite imggen.toml and files imggen did not generate.
    #[arg(long)]
    pub force: bool,
}

/// `imggen generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Write nothing; print a diff of every drifted or missing file and exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// Overwrite files imggen did not generate.
    #[arg(long)]
    pub force: bool,
}

/// `imggen build`.
#[derive(Args, Debug)]
#[command(after_help = "\
Engine: DOCKER_HOST (unix:///path/to/docker.sock, tcp://HOST:PORT; Podman's socket works too; \
TLS with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), else the docker context (DOCKER_CONTEXT, \
else currentContext in $DOCKER_CONFIG/config.json), else /var/run/docker.sock. BuildKit is used \
when the engine offers it; DOCKER_BUILDKIT=0 forces the classic builder.
CI: plain progress when CI is set; on GitHub Actions, compile errors become annotations, and the \
digest goes to $GITHUB_OUTPUT and a summary to $GITHUB_STEP_SUMMARY.
Push credentials: IMGGEN_REGISTRY_USERNAME and IMGGEN_REGISTRY_PASSWORD, else Docker's \
config.json ($DOCKER_CONFIG or ~/.docker: credHelpers, auths, credsStore).
Exit codes: 0 built (and pushed); 1 the build failed (the failing step's output is shown); \
2 any other error (drifted generated files, engine not running, credentials refused, registry \
unreachable, invalid tag).")]
pub struct BuildArgs {
    /// The project path and the configuration flags shared with `generate`.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Image reference to tag (repeatable), e.g. ghcr.io/acme/api:1.2; replaces the defaults
    /// ([image] name and tags in imggen.toml, else <name>:<git short sha> and <name>:latest).
    #[arg(long = "tag", short = 't', value_name = "REF")]
    pub tags: Vec<String>,
    /// Push every tag to the registry it names, and print the pushed digest.
    #[arg(long)]
    pub push: bool,
    /// Platform of the image, e.g. linux/amd64 (--platform names deploy targets).
    #[arg(long, value_name = "OS/ARCH")]
    pub image_platform: Option<String>,
    /// Build argument passed to the Dockerfile (repeatable). Not for secrets: they stay in the image history.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Secret for `RUN --mount=type=secret` steps (repeatable): id=NAME,src=PATH or id=NAME,env=VAR. Never in a layer.
    #[arg(long = "secret", value_name = "id=NAME,src=PATH")]
    pub secrets: Vec<String>,
    /// SSH agent for `RUN --mount=type=ssh` steps (repeatable): default ($SSH_AUTH_SOCK) or default=SOCKET.
    #[arg(long = "ssh", value_name = "default[=SOCKET]")]
    pub ssh: Vec<String>,
    /// Build only up to this Dockerfile stage, e.g. builder.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Build every step anew, ignoring the layer cache.
    #[arg(long)]
    pub no_cache: bool,
    /// How to show build progress.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Build even when the generated files on disk differ from what imggen would write.
    #[arg(long)]
    pub allow_dirty: bool,
    /// After --push, record the digest as [image] digest in imggen.toml and refresh the deploy files that pin it.
    #[arg(long, requires = "push")]
    pub write_digest: bool,
    /// Image to take cached layers from (repeatable), e.g. ghcr.io/acme/api:buildcache; it
    /// must have been built with --cache-to.
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,
    /// Write the layer cache for a later --cache-from: `inline` (or one of the --tag
    /// references) embeds it in the image; any other reference also pushes a cache image of
    /// the builder stage (the compiled dependencies) there, and needs --push.
    #[arg(long = "cache-to", value_name = "inline|REF")]
    pub cache_to: Option<String>,
    /// The longest the push of one tag may take, retries included: seconds, or 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub push_timeout: String,
    /// Network for RUN steps: default (the engine's bridge), host (for engines without a bridge
    /// network, e.g. dockerd --bridge=none), or none.
    #[arg(long, default_value = "default", value_name = "MODE")]
    pub network: String,
    /// Do not attach an SBOM to the pushed image (also `[build] sbom = false`).
    #[arg(long)]
    pub no_sbom: bool,
    /// What builds the image: docker (the Docker Engine API, from the Dockerfile; the default),
    /// oci (no daemon: cargo on this machine, then reproducible layers), or auto (oci when
    /// --output asks for it or no engine answers, unless the image needs apt packages;
    /// else docker). Also [build] engine in imggen.toml, IMGGEN_ENGINE.
    #[arg(long, value_name = "docker|oci|auto")]
    pub engine: Option<String>,
    /// Where --engine oci writes the image (repeatable): oci-layout:DIR (an OCI image layout)
    /// or tar:FILE (for `docker load`). Default: oci-layout:target/imggen/oci/<name>.
    #[arg(long = "output", value_name = "oci-layout:DIR|tar:FILE")]
    pub outputs: Vec<String>,
}

/// `--progress`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressArg {
    /// A live view on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain line logs.
    Plain,
    /// The live view, even when stderr is not a terminal.
    Tty,
}

impl BuildArgs {
    /// The build's options, with `--build-arg`, `--push-timeout` and `--cache-from` parsed.
    fn options(&self) -> Result<BuildOptions> {
        let build_args = crate::build::parse_build_args(&self.build_args)?;
        let timeout = crate::build::retry::parse_duration(&self.push_timeout)?;
        Ok(BuildOptions {
            tags: self.tags.clone(),
            push: self.push,
            image_platform: self.image_platform.clone(),
            build_args,
            push_policy: crate::build::retry::PushPolicy::standard(timeout),
            cache_from: crate::build::cache_refs(&self.cache_from)?,
            cache_to: self.cache_to.clone(),
            target: self.target.clone(),
            no_cache: self.no_cache,
            progress: match self.progress {
                ProgressArg::Auto => ProgressFlag::Auto,
                ProgressArg::Plain => ProgressFlag::Plain,
                ProgressArg::Tty => ProgressFlag::Tty,
            },
            allow_dirty: self.allow_dirty,
            write_digest: self.write_digest,
            network: self.network.clone(),
            sbom: !self.no_sbom,
            outputs: self
                .outputs
                .iter()
                .map(|o| crate::build::oci::Output::parse(o))
                .collect::<Result<_>>()?,
            secrets: self
                .secrets
                .iter()
                .map(|s| crate::build::session::parse_secret(s))
                .collect::<Result<_>>()?,
            ssh: self
                .ssh
                .iter()
                .map(|s| crate::build::session::parse_ssh(s))
                .collect::<Result<_>>()?,
        })
    }
}

/// Output format of `imggen plan`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// `imggen sbom`.
#[derive(Args, Debug)]
pub struct SbomArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The document format.
    #[arg(long, value_enum, default_value_t = SbomFormat::SpdxJson)]
    pub format: SbomFormat,
}

/// `imggen bundle`.
#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Where to write the bundle (its checksum goes to FILE.sha256). Default:
    /// target/imggen/<name>-<version>-<target>.tar.gz.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output format of `imggen sbom`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    #[default]
    SpdxJson,
}

/// `imggen plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// text for people, json for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Files `init` and `generate` may replace only with `--force`: every file, except a UTF-8
/// `.dockerignore`, whose rules are carried over (and the file backed up).
fn guarded(root: &Path, files: &[GeneratedFile]) -> Vec<GeneratedFile> {
    let merged = crate::keep::read(root).is_some();
    files
        .iter()
        .filter(|f| !(merged && f.path == ".dockerignore"))
        .cloned()
        .collect()
}

/// Copies every hand-written file about to be replaced, and says so.
fn back_up(root: &Path, files: &[GeneratedFile]) -> Result<()> {
    for (file, backup) in output::back_up_foreign(root, files)? {
        eprintln!(
            "    saved {file} as {backup} (it was not generated by imggen) before replacing it"
        );
    }
    Ok(())
}

/// Parses arguments, runs the command, and returns the process exit code. A panic is a bug,
/// never an answer to input: it is reported as one `internal error` line and exit 2, not a
/// backtrace and exit 101.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    static PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{what}{place}"));
    }));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(_) => {
            let what = PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            if what.starts_with("failed printing to stdout") && what.contains("Broken pipe") {
                // The reader went away (`imggen plan | head`): nothing is wrong, stop quietly.
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "error: internal error ({what}); no file was half-written, please report this bug with the command you ran"
            );
            ExitCode::from(2)
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    if output::test_hook() == Some("panic") {
        panic!("test hook");
    }
    match cli.command {
        Command::Init(args) => init(args),
        Command::Generate(args) => generate(args),
        Command::Plan(args) => print_plan(args),
        Command::Build(args) => build(*args),
        Command::Sbom(args) => sbom(args),
        Command::Bundle(args) => bundle(args),
    }
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

fn report(written: &[(String, WriteStatus)]) {
    for (path, status) in written {
        let what = match status {
            WriteStatus::Created => "created",
            WriteStatus::Updated => "updated",
            WriteStatus::Unchanged => "unchanged",
        };
        eprintln!("{what:>9} {path}");
    }
}

/// Takes the project lock, removes temporary files of interrupted runs, and arranges for
/// SIGINT/SIGTERM to remove this run's own.
fn prepare_writes(root: &Path) -> Result<output::ProjectLock> {
    let lock = output::lock_project(root)?;
    output::remove_temp_files_on_signal();
    Ok(lock)
}

fn clean_stale(root: &Path, files: &[GeneratedFile], started: std::time::SystemTime) {
    let removed = output::remove_stale_temp_files(root, files, started);
    if removed > 0 {
        eprintln!(
            "  removed {removed} temporary file{} left by an interrupted run",
            if removed == 1 { "" } else { "s" }
        );
    }
}

/// `init` computes everything (analysis, every file, the new imggen.toml) before it removes or
/// replaces anything, so a failure at any step leaves the project as it was.
fn init(args: InitArgs) -> Result<ExitCode> {
    let root = project_root(&args.project.path)?;
    let _lock = prepare_writes(&root)?;
    let config_path = root.join(config::FILE_NAME);
    if config_path.exists() && !args.force {
        bail!(
            "{}: already exists; run `imggen generate` to regenerate, or `imggen init --force` to start over",
            config_path.display()
        );
    }
    let started = std::time::SystemTime::now();
    let loaded = pipeline::load_at(&root, &args.project.path, &args.project.to_config()?, false)?;
    output::ensure_overwritable(&loaded.root, &guarded(&root, &loaded.files), args.force)?;
    let mut flags = args.project.to_config()?;
    if loaded.model.invoked.is_some() && flags.bin.is_none() {
        // Runs from the root later (`generate --check` in CI) keep the member given as PATH.
        flags.bin = Some(loaded.plan.image.bin.clone());
    }
    // Once the hand-written Dockerfile is replaced its EXPOSE is gone: pin the port it gave.
    let dockerfile_port = loaded
        .model
        .files
        .existing_dockerfile
        .as_ref()
        .and_then(|d| d.port_evidence());
    if let Some(ev) = dockerfile_port {
        let why = format!("EXPOSE in the existing {}", ev.at);
        if flags.port.is_none()
            && loaded
                .plan
                .image
                .decisions
                .iter()
                .any(|d| d.topic == crate::plan::Topic::Port && d.why == why)
        {
            flags.port = Some(ev.port);
        }
    }
    // Likewise the command it runs, when the image's arguments come from it.
    let from_dockerfile = loaded.plan.image.decisions.iter().any(|d| {
        d.topic == crate::plan::Topic::Args && d.why.starts_with(crate::plan::DOCKERFILE_ARGS)
    });
    if from_dockerfile && flags.args.is_none() {
        flags.args = Some(loaded.plan.image.args.clone());
    }
    let toml = crate::init::config_file(&loaded.plan, &flags);
    clean_stale(&root, &loaded.files, started);
    let existed = config_path.exists();
    if existed {
        let backup = output::back_up(&config_path)?;
        eprintln!(
            "    saved {} as {} before replacing it",
            config::FILE_NAME,
            backup.strip_prefix(&root).unwrap_or(&backup).display()
        );
    }
    back_up(&loaded.root, &loaded.files)?;
    output::write_atomic(&config_path, toml.as_bytes())?;
    eprintln!(
        "{:>9} {}",
        if existed { "replaced" } else { "created" },
        config::FILE_NAME
    );
    report(&output::write_all(&loaded.root, &loaded.files)?);
    print_warnings(&loaded.warnings);
    eprintln!("next: review the files, commit them, and run `imggen generate --check` in CI");
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> Result<ExitCode> {
    let root = project_root(&args.project.path)?;
    let _lock = if args.check {
        output::lock_project(&root)?
    } else {
        prepare_writes(&root)?
    };
    let started = std::time::SystemTime::now();
    let loaded = pipeline::load_at(&root, &args.project.path, &args.project.to_config()?, true)?;
    print_warnings(&loaded.warnings);
    if args.check {
        let drift = output::check(&loaded.root, &loaded.files);
        for d in &drift {
            print!("{}", d.diff);
        }
        if drift.is_empty() {
            eprintln!("all {} generated files are up to date", loaded.files.len());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "{} of {} generated files drifted: {}; run `imggen generate` and commit the result",
            drift.len(),
            loaded.files.len(),
            drift
                .iter()
                .map(output::Drift::summary)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    output::ensure_overwritable(&loaded.root, &guarded(&root, &loaded.files), args.force)?;
    clean_stale(&root, &loaded.files, started);
    back_up(&loaded.root, &loaded.files)?;
    report(&output::write_all(&loaded.root, &loaded.files)?);
    Ok(ExitCode::SUCCESS)
}

fn build(args: BuildArgs) -> Result<ExitCode> {
    let options = args.options()?;
    let mut flags = args.project.to_config()?;
    if let Some(engine) = &args.engine {
        flags.build.get_or_insert_with(Default::default).engine = Some(engine.clone());
    }
    let loaded = pipeline::load(&args.project.path, &flags)?;
    crate::build::run(&loaded, &options)
}

fn sbom(args: SbomArgs) -> Result<ExitCode> {
    let loaded = pipeline::load(&args.project.path, &args.project.to_config()?)?;
    let SbomFormat::SpdxJson = args.format;
    print!("{}", crate::build::attach::document(&loaded)?);
    Ok(ExitCode::SUCCESS)
}

fn bundle(args: BundleArgs) -> Result<ExitCode> {
    let loaded = pipeline::load(&args.project.path, &args.project.to_config()?)?;
    print_warnings(&loaded.warnings);
    let written = crate::bundle::run(&loaded, args.output.as_deref())?;
    println!("{}", written.path.display());
    Ok(ExitCode::SUCCESS)
}

fn print_plan(args: PlanArgs) -> Result<ExitCode> {
    let loaded = pipeline::load(&args.project.path, &args.project.to_config()?)?;
    let files: Vec<&str> = loaded.files.iter().map(|f| f.path.as_str()).collect();
    match args.format {
        Format::Json => {
            let mut plan = serde_json::to_value(&loaded.plan)?;
            plan["warnings"] = serde_json::json!(loaded.warnings);
            let out = serde_json::json!({
                "project": loaded.model,
                "plan": plan,
                "files": files,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => print!(
            "{}",
            crate::init::plan_text(
                &loaded.plan,
                loaded.model.files.existing_dockerfile.as_ref(),
                &loaded.warnings,
                &files
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}
