//! The command line: parses arguments, runs the pipeline, maps results to exit codes.
//!
//! Exit codes: 0 success, 1 drift found by `generate --check`, 2 any error.

use crate::config::{self, Config, Libc, Platform};
use crate::model::ProjectModel;
use crate::output::{self, WriteStatus};
use crate::plan::{self, ImagePlan};
use crate::render::{self, GeneratedFile};
use anyhow::{bail, Result};
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
    /// Build the image through the Docker Engine API, and push it with --push.
    Build(crate::engine::BuildArgs),
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
    /// Runtime base profile: bookworm-slim, scratch or distroless-cc.
    #[arg(long)]
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
    /// Use BuildKit cache mounts for the cargo registry and target/.
    #[arg(long)]
    pub cache_mounts: bool,
    /// Platform to write deploy files for (repeatable): fly, cloud-run, render, vm.
    #[arg(long = "platform", value_parser = ["fly", "cloud-run", "render", "vm"])]
    pub platforms: Vec<String>,
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
            cache_mounts: self.cache_mounts.then_some(true),
            platforms: if self.platforms.is_empty() {
                None
            } else {
                Some(
                    self.platforms
                        .iter()
                        .map(|p| Platform::parse(p))
                        .collect::<Result<_>>()?,
                )
            },
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

/// Output format of `imggen plan`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
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

/// Everything the pipeline produced for one project.
pub struct Loaded {
    pub root: PathBuf,
    pub model: ProjectModel,
    pub config: Config,
    pub plan: ImagePlan,
    pub files: Vec<GeneratedFile>,
}

/// Runs analyze -> config -> plan -> render for a project: finds its root (see
/// [`project_root`]), then loads it with its imggen.toml.
pub fn load(args: &ProjectArgs) -> Result<Loaded> {
    let root = project_root(&args.path)?;
    load_at(&root, args, true)
}

/// The project root for the given path, found as cargo finds it; says on stderr which root it
/// chose when that is not the given path.
pub fn project_root(path: &Path) -> Result<PathBuf> {
    let root = crate::analyze::find_root(path)?;
    if root != path {
        eprintln!("using project root {}", root.display());
    }
    Ok(root)
}

/// Loads the project at `root`; `with_config_file` false ignores imggen.toml (`init --force`
/// starts over from the analysis and the flags).
pub fn load_at(root: &Path, args: &ProjectArgs, with_config_file: bool) -> Result<Loaded> {
    let root = root.to_path_buf();
    let mut model = crate::analyze::analyze(&root)?;
    model.invoked = crate::analyze::invoked_package(&args.path, &root)
        .filter(|dir| model.packages.iter().any(|p| &p.dir == dir));
    let file_config = if with_config_file {
        read_config_file(&root)?
    } else {
        None
    };
    let env = imggen_env()?;
    let env = Config::from_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let config = Config::resolve(file_config, env, args.to_config()?);
    let plan = plan::plan(&model, &config)?;
    let mut plan = crate::secrets::check_tree(&root, &config, plan)?;
    let kept = kept_rules(&root, &model, &plan)?;
    plan.warnings.extend(kept.warnings.iter().cloned());
    let files = render::render_kept(&plan, &kept)?;
    Ok(Loaded {
        root,
        model,
        config,
        plan,
        files,
    })
}

/// The user's `.dockerignore` rules to keep (see [`crate::keep`]), filtered against imggen's own.
fn kept_rules(root: &Path, model: &ProjectModel, plan: &ImagePlan) -> Result<crate::keep::Kept> {
    let Some(text) = crate::keep::read(root) else {
        return Ok(crate::keep::Kept::default());
    };
    let ours = render::render(plan)?
        .into_iter()
        .find(|f| f.path == ".dockerignore")
        .map(|f| crate::dockerignore::read_patterns(&f.contents))
        .unwrap_or_default();
    Ok(crate::keep::filter(
        &crate::keep::user_rules(&text),
        &ours,
        model,
        plan,
    ))
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

/// The `IMGGEN_*` variables of the environment. Other variables are not imggen's and are not
/// read, whatever their encoding; an `IMGGEN_*` name or value that is not UTF-8 is an error.
fn imggen_env() -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else {
            let lossy = name.to_string_lossy();
            if lossy.starts_with("IMGGEN_") {
                bail!("environment variable {lossy} has a name that is not UTF-8; unset it");
            }
            continue;
        };
        if !name.starts_with("IMGGEN_") {
            continue;
        }
        let Some(value) = value.to_str() else {
            bail!("environment variable {name} is not valid UTF-8; set it to a UTF-8 value or unset it");
        };
        vars.push((name.to_string(), value.to_string()));
    }
    Ok(vars)
}

/// Reads `imggen.toml` at `root`, when there is one.
pub fn read_config_file(root: &Path) -> Result<Option<Config>> {
    let path = root.join(config::FILE_NAME);
    crate::analyze::read_text(&path)?
        .map(|text| Config::parse_file(&text, &path.display().to_string()))
        .transpose()
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
        Command::Build(args) => crate::engine::run(args),
    }
}

fn print_warnings(plan: &ImagePlan) {
    for w in &plan.warnings {
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
    let loaded = load_at(&root, &args.project, false)?;
    output::ensure_overwritable(&loaded.root, &guarded(&root, &loaded.files), args.force)?;
    let mut flags = args.project.to_config()?;
    if loaded.model.invoked.is_some() && flags.bin.is_none() {
        // Runs from the root later (`generate --check` in CI) keep the member given as PATH.
        flags.bin = Some(loaded.plan.bin.clone());
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
                .decisions
                .iter()
                .any(|d| d.topic == "port" && d.why == why)
        {
            flags.port = Some(ev.port);
        }
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
    print_warnings(&loaded.plan);
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
    let loaded = load_at(&root, &args.project, true)?;
    print_warnings(&loaded.plan);
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

fn print_plan(args: PlanArgs) -> Result<ExitCode> {
    let loaded = load(&args.project)?;
    let files: Vec<&str> = loaded.files.iter().map(|f| f.path.as_str()).collect();
    match args.format {
        Format::Json => {
            let out = serde_json::json!({
                "project": loaded.model,
                "plan": loaded.plan,
                "files": files,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => print!(
            "{}",
            crate::init::plan_text(
                &loaded.plan,
                loaded.model.files.existing_dockerfile.as_ref(),
                &files
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}
