//! Compiling the service on this machine with cargo, as the plan says (profile, features,
//! target, `--locked`), reproducibly: `SOURCE_DATE_EPOCH` is set for build scripts, and
//! `--remap-path-prefix` maps the project to `/app` and `CARGO_HOME` to `/usr/local/cargo` (the
//! paths of the Docker path's builder), so no local path reaches the binary. The oci engine
//! uses it; so can anything else that ships the host-built binary.

use crate::plan::CargoPlan;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the project is seen from inside the binary (the Docker path's build directory).
pub const REMAPPED_ROOT: &str = "/app";
/// Where `CARGO_HOME` is seen from inside the binary (the rust image's `CARGO_HOME`).
pub const REMAPPED_CARGO_HOME: &str = "/usr/local/cargo";

/// One compile of the plan's binary.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The project root (where Cargo.lock is).
    pub root: &'a Path,
    pub package: &'a str,
    pub bin: &'a str,
    pub cargo: &'a CargoPlan,
    /// The target triple, `None` for the host's (see [`target_for`]).
    pub target: Option<String>,
    /// `SOURCE_DATE_EPOCH` for build scripts.
    pub epoch: u64,
}

/// Where `SOURCE_DATE_EPOCH` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSource {
    /// The `SOURCE_DATE_EPOCH` variable.
    Env,
    /// The time of the project's last git commit.
    GitCommit,
    /// Neither: 0 (1970-01-01).
    Zero,
}

/// The epoch every timestamp of the image takes: `SOURCE_DATE_EPOCH` when set, else the time of
/// the last git commit when `root` is in a git work tree, else 0.
pub fn source_date_epoch(root: &Path, env: Option<&str>) -> Result<(u64, EpochSource)> {
    if let Some(value) = env.map(str::trim).filter(|v| !v.is_empty()) {
        let secs = value.parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={value} is not a number of seconds since 1970; set it to e.g. the output of `git log -1 --format=%ct`, or unset it")
        })?;
        return Ok((secs, EpochSource::Env));
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%ct"])
        .output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        if let (true, Ok(secs)) = (out.status.success(), text.trim().parse()) {
            return Ok((secs, EpochSource::GitCommit));
        }
    }
    Ok((0, EpochSource::Zero))
}

/// The target triple to build for `arch` (`x86_64`, `aarch64`): the plan's target with its
/// architecture replaced, or for a plan without one, none on the host's architecture and
/// `<arch>-unknown-linux-gnu` on another.
pub fn target_for(cargo: &CargoPlan, arch: &str, host_arch: &str) -> Option<String> {
    match &cargo.target {
        Some(t) => Some(match t.split_once('-') {
            Some((_, rest)) => format!("{arch}-{rest}"),
            None => t.clone(),
        }),
        None if arch == host_arch => None,
        None => Some(format!("{arch}-unknown-linux-gnu")),
    }
}

/// `CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The target directory cargo writes to: `CARGO_TARGET_DIR`, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The `--remap-path-prefix` flags: project, target directory (when outside it) and
/// `CARGO_HOME`.
pub fn remap_flags(root: &Path) -> Vec<String> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = canonical(root);
    let mut flags = Vec::new();
    if let Some(home) = cargo_home() {
        flags.push(format!(
            "--remap-path-prefix={}={REMAPPED_CARGO_HOME}",
            canonical(&home).display()
        ));
    }
    let target = canonical(&target_dir(&root));
    if !target.starts_with(&root) {
        flags.push(format!(
            "--remap-path-prefix={}={REMAPPED_ROOT}/target",
            target.display()
        ));
    }
    flags.push(format!(
        "--remap-path-prefix={}={REMAPPED_ROOT}",
        root.display()
    ));
    flags
}

/// The cargo command line (after `cargo`).
pub fn cargo_args(request: &Request) -> Vec<String> {
    let cargo = request.cargo;
    let mut args = vec!["build".to_string()];
    if cargo.profile == "release" {
        args.push("--release".into());
    } else {
        args.extend(["--profile".into(), cargo.profile.clone()]);
    }
    if cargo.locked {
        args.push("--locked".into());
    }
    if let Some(t) = &request.target {
        args.extend(["--target".into(), t.clone()]);
    }
    if cargo.no_default_features {
        args.push("--no-default-features".into());
    }
    if !cargo.features.is_empty() {
        args.extend(["--features".into(), cargo.features.join(",")]);
    }
    args.extend([
        "--package".into(),
        request.package.to_string(),
        "--bin".into(),
        request.bin.to_string(),
    ]);
    args
}

/// Where the binary lands.
pub fn binary_path(request: &Request) -> PathBuf {
    let mut path = target_dir(request.root);
    if let Some(t) = &request.target {
        path.push(t);
    }
    path.join(&request.cargo.profile_dir).join(request.bin)
}

/// True when a cargo config that applies to `root` (`.cargo/config.toml` or `.cargo/config`
/// in it or a parent, or in `CARGO_HOME`) sets `rustflags` for a target: cargo then ignores
/// `build.rustflags`.
pub fn sets_target_rustflags(root: &Path) -> bool {
    let mut dirs: Vec<PathBuf> = root.ancestors().map(|d| d.join(".cargo")).collect();
    dirs.extend(cargo_home());
    dirs.iter()
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|text| text.parse::<toml::Table>().ok())
        .any(|config| {
            config
                .get("target")
                .and_then(toml::Value::as_table)
                .is_some_and(|targets| {
                    targets
                        .values()
                        .any(|t| t.as_table().is_some_and(|t| t.contains_key("rustflags")))
                })
        })
}

/// The environment that adds `flags` to the rustflags cargo already takes: appended to
/// `CARGO_ENCODED_RUSTFLAGS` or `RUSTFLAGS` when set; else given on the command line as
/// `build.rustflags` (which cargo merges with the project's own `build.rustflags`), or, when a
/// config sets target rustflags (which win over `build.rustflags`), as
/// `target.'cfg(all())'.rustflags`, which cargo joins with them.
fn rustflags(flags: &[String], target_rustflags: bool) -> (Vec<(String, String)>, Vec<String>) {
    if let Ok(encoded) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        let mut all: Vec<String> = encoded
            .split('\x1f')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        all.extend(flags.iter().cloned());
        return (
            vec![("CARGO_ENCODED_RUSTFLAGS".into(), all.join("\x1f"))],
            Vec::new(),
        );
    }
    if let Ok(plain) = std::env::var("RUSTFLAGS") {
        let mut all = vec![plain];
        all.extend(flags.iter().cloned());
        return (vec![("RUSTFLAGS".into(), all.join(" "))], Vec::new());
    }
    let list = toml::Value::Array(flags.iter().cloned().map(toml::Value::String).collect());
    let key = if target_rustflags {
        "target.'cfg(all())'.rustflags"
    } else {
        "build.rustflags"
    };
    (Vec::new(), vec!["--config".into(), format!("{key}={list}")])
}

/// The linker settings a cross-compile to `target` needs, unless set already: rust-lld with
/// Rust's own musl C runtime for `*-linux-musl`, Debian's cross gcc (gcc-aarch64-linux-gnu) for
/// `aarch64-*-linux-gnu`. Nothing for the host's architecture.
pub fn cross_env(target: Option<&str>, arch: &str, host_arch: &str) -> Vec<(String, String)> {
    let Some(target) = target.filter(|_| arch != host_arch) else {
        return Vec::new();
    };
    let var = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_ascii_uppercase().replace('-', "_")
    );
    if std::env::var_os(&var).is_some() {
        return Vec::new();
    }
    if target.ends_with("-linux-musl") {
        vec![(var, "rust-lld".into())]
    } else {
        let gcc = format!("{arch}-linux-gnu-gcc");
        vec![
            (var, gcc.clone()),
            (format!("CC_{}", target.replace('-', "_")), gcc),
        ]
    }
}

/// Runs cargo (output shown as it comes) and returns the binary's path.
pub fn build(request: &Request, extra_env: &[(String, String)]) -> Result<PathBuf> {
    let (env, config) = rustflags(
        &remap_flags(request.root),
        sets_target_rustflags(request.root),
    );
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(request.root)
        .args(&config)
        .args(cargo_args(request))
        .env("SOURCE_DATE_EPOCH", request.epoch.to_string())
        .envs(env)
        .envs(extra_env.iter().cloned());
    let status = command.status().with_context(|| {
        format!(
            "cannot run cargo in {}; install Rust (https://rustup.rs) or use --engine docker",
            request.root.display()
        )
    })?;
    if !status.success() {
        bail!(
            "cargo {} failed in {} (output above); fix the build, or add the target with `rustup target add {}`",
            cargo_args(request).join(" "),
            request.root.display(),
            request.target.as_deref().unwrap_or("<host>")
        );
    }
    let binary = binary_path(request);
    if !binary.is_file() {
        bail!(
            "{}: cargo finished and the binary is not there; check `[profile]` and `CARGO_TARGET_DIR`",
            binary.display()
        );
    }
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cargo(target: Option<&str>) -> CargoPlan {
        CargoPlan {
            profile: "release".into(),
            profile_dir: "release".into(),
            features: vec!["a".into(), "b".into()],
            no_default_features: true,
            locked: true,
            target: target.map(String::from),
            common_args: String::new(),
            binary_path: String::new(),
        }
    }

    #[test]
    fn targets_follow_the_plan_and_swap_the_architecture() {
        let musl = cargo(Some("x86_64-unknown-linux-musl"));
        assert_eq!(
            target_for(&musl, "x86_64", "x86_64").as_deref(),
            Some("x86_64-unknown-linux-musl")
        );
        assert_eq!(
            target_for(&musl, "aarch64", "x86_64").as_deref(),
            Some("aarch64-unknown-linux-musl")
        );
        let gnu = cargo(None);
        assert_eq!(target_for(&gnu, "x86_64", "x86_64"), None);
        assert_eq!(
            target_for(&gnu, "aarch64", "x86_64").as_deref(),
            Some("aarch64-unknown-linux-gnu")
        );
    }

    #[test]
    fn cargo_gets_the_plans_profile_features_target_and_locked() {
        let plan = cargo(Some("x86_64-unknown-linux-musl"));
        let request = Request {
            root: Path::new("/p"),
            package: "pkg",
            bin: "app",
            cargo: &plan,
            target: plan.target.clone(),
            epoch: 0,
        };
        assert_eq!(
            cargo_args(&request).join(" "),
            "build --release --locked --target x86_64-unknown-linux-musl --no-default-features --features a,b --package pkg --bin app"
        );
    }

    #[test]
    fn target_rustflags_in_a_cargo_config_are_found_up_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("ws/app");
        std::fs::create_dir_all(dir.path().join("ws/.cargo")).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        // CARGO_HOME's config (and /tmp's parents) apply to both; compare against it.
        let elsewhere = sets_target_rustflags(dir.path());
        std::fs::write(
            dir.path().join("ws/.cargo/config.toml"),
            "[build]\nrustflags = [\"-Cdebuginfo=1\"]\n",
        )
        .unwrap();
        assert_eq!(sets_target_rustflags(&project), elsewhere);
        std::fs::write(
            dir.path().join("ws/.cargo/config.toml"),
            "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-Clinker=clang\"]\n",
        )
        .unwrap();
        assert!(sets_target_rustflags(&project));
        let (_, args) = rustflags(&["--remap-path-prefix=/p=/app".into()], true);
        assert_eq!(
            args,
            [
                "--config",
                "target.'cfg(all())'.rustflags=[\"--remap-path-prefix=/p=/app\"]"
            ]
        );
    }

    #[test]
    fn source_date_epoch_comes_from_the_variable_then_git_then_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            source_date_epoch(dir.path(), Some("42")).unwrap(),
            (42, EpochSource::Env)
        );
        assert!(source_date_epoch(dir.path(), Some("soon")).is_err());
        assert_eq!(
            source_date_epoch(dir.path(), None).unwrap(),
            (0, EpochSource::Zero)
        );
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        if repo.join(".git").exists() {
            assert_eq!(
                source_date_epoch(repo, None).unwrap().1,
                EpochSource::GitCommit
            );
        }
    }
}
