//! `analyze`: reads a project from disk into a `ProjectModel`.
//!
//! Offline and fast: manifests are parsed directly (no `cargo metadata`, no dependency
//! resolution), so it works without a Rust toolchain, without network, and stays well under
//! 100 ms for a 100-member workspace (see `benches/analyze.rs`).

mod cfg;
pub mod commands;
pub mod dockerfile;
mod framework;
mod frontend;
pub mod lockgraph;
mod manifest;
mod reach;
mod rust;
mod source;

use crate::model::{LockedPackage, Lockfile, ProjectFiles, ProjectModel};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use source::scan_config_port;

/// The project root for `path`, found as cargo finds it: the nearest directory with a
/// `Cargo.toml` at or above `path`, then the workspace above it when that manifest is one of its
/// members (`package.workspace`, or the first `[workspace]` manifest further up that lists it).
/// Returns `path` itself, unchanged, when it is the root.
pub fn find_root(path: &Path) -> Result<PathBuf> {
    if !path.exists() {
        bail!(
            "{}: no such directory; pass the path of a cargo project",
            path.display()
        );
    }
    let start = path
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve the path", path.display()))?;
    let Some(package) = start.ancestors().find(|d| d.join("Cargo.toml").is_file()) else {
        bail!(
            "{}: no Cargo.toml here or in any parent directory; run imggen in a cargo package or workspace",
            path.display()
        );
    };
    let root = manifest::workspace_root_of(package)?.unwrap_or_else(|| package.to_path_buf());
    if root == start {
        return Ok(path.to_path_buf());
    }
    Ok(root)
}

/// Directory, relative to `root`, of the package that holds `path` when that package lies below
/// the root (a member: `cargo run` there runs that package); `None` at the root itself.
pub fn invoked_package(path: &Path, root: &Path) -> Option<String> {
    let start = path.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let package = start
        .ancestors()
        .take_while(|d| *d != root)
        .find(|d| d.join("Cargo.toml").is_file())?;
    crate::paths::relative(&root, package)
}

/// Reads a text file imggen needs: `None` when it does not exist, an error naming the file when
/// it cannot be read or is not UTF-8 (never silently treated as absent).
pub fn read_text(path: &Path) -> Result<Option<String>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("{}: cannot read ({e}); fix its permissions", path.display()),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(_) => bail!("{}: not UTF-8; save it as UTF-8", path.display()),
    }
}

/// Reads the project at `root` into a `ProjectModel`.
pub fn analyze(root: &Path) -> Result<ProjectModel> {
    if !root.exists() {
        bail!(
            "{}: no such directory; pass the path of a cargo project",
            root.display()
        );
    }
    if !root.join("Cargo.toml").is_file() {
        bail!(
            "{}: no Cargo.toml here; run imggen in the root of a cargo package or workspace",
            root.display()
        );
    }
    let mut packages = manifest::read_packages(root)?;
    let lock = read_lockfile(root)?;
    let workspace = packages.len() > 1 || packages.iter().all(|p| !p.dir.is_empty());
    let members: Vec<(String, String)> = packages
        .iter()
        .map(|p| (p.name.clone(), p.dir.clone()))
        .collect();
    // The lock graph (which reads every local package's sources for feature gates) and the
    // source scans are independent: they run side by side.
    let (lock_graph, manifest_graph) = std::thread::scope(|s| {
        let graph = s.spawn(|| match &lock {
            Some(l) => lockgraph::read(root, &l.table, &members).map(|g| (Some(g), None)),
            None => lockgraph::read(root, &toml::Table::new(), &members).map(|g| (None, Some(g))),
        });
        scan_sources(root, &mut packages);
        cli_from_path_deps(root, &mut packages);
        graph
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let git_ssh_deps = lock.as_ref().is_some_and(|l| l.git_ssh);
    let lockfile = lock.map(|l| l.lockfile);
    let (toolchain_channel, toolchain) = read_toolchain(root)?;
    let cargo_config = source::scan_cargo_config(root);
    let top_dirs = top_dirs(root);
    let sqlx_offline_data = root.join(".sqlx").is_dir()
        || packages
            .iter()
            .any(|p| root.join(&p.dir).join(".sqlx").is_dir());
    let config_port = source::scan_config_port(root);
    let config_listen = source::scan_config_listen(root);
    let production_config = source::production_config(root);
    let linkers = source::scan_cargo_linkers(root);
    let existing_dockerfile = read_existing_dockerfile(root);
    let member_dirs: Vec<String> = packages.iter().map(|p| p.dir.clone()).collect();
    let context = reach::build_context(root, &member_dirs)?;
    let frontend = frontend::detect(root, &packages)?;
    let procfile = commands::read_procfile(root);
    Ok(ProjectModel {
        root_name: root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into()),
        workspace,
        packages,
        invoked: None,
        default_members: manifest::default_members(root)?,
        lockfile,
        lock_graph,
        manifest_graph,
        toolchain_channel,
        files: ProjectFiles {
            sqlx_offline_data,
            top_dirs,
            config_port,
            config_listen,
            production_config,
            linkers,
            existing_dockerfile,
            context,
            frontend,
            procfile,
            cargo_config,
            toolchain,
            git_ssh_deps,
        },
    })
}

/// Cargo.lock, read and parsed once for the lockfile facts and the lock graph.
struct ReadLock {
    lockfile: Lockfile,
    table: toml::Table,
    /// A git dependency is fetched over SSH (`git+ssh://`).
    git_ssh: bool,
}

/// Scans every package's sources and subcommands, on as many threads as the machine has cores
/// (each package is scanned on its own; the results do not depend on the order).
fn scan_sources(root: &Path, packages: &mut [crate::model::Package]) {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(packages.len())
        .max(1);
    let queue = std::sync::Mutex::new(packages.iter_mut());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(pkg) = queue.lock().ok().and_then(|mut q| q.next()) {
                    pkg.source = source::scan_package(root, pkg);
                    pkg.cli = commands::scan_cli(root, pkg);
                }
            });
        }
    });
}

/// A thin binary whose command line lives in a workspace library it calls
/// (`main() { server::init() }`): that library's clap declarations, when the binary and its
/// own package declare none.
fn cli_from_path_deps(root: &Path, packages: &mut [crate::model::Package]) {
    let libraries: Vec<(String, String)> = packages
        .iter()
        .filter(|p| p.has_lib)
        .map(|p| (p.name.clone(), p.dir.clone()))
        .collect();
    for pkg in packages.iter_mut() {
        for (name, bin) in &pkg.source.bins {
            if pkg.cli.contains_key(name) {
                continue;
            }
            let text: String = bin
                .files
                .iter()
                .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
                .collect();
            let called = pkg.path_deps.iter().filter_map(|dep| {
                let (_, dir) = libraries.iter().find(|(n, _)| n == dep)?;
                text.contains(&format!("{}::", dep.replace('-', "_")))
                    .then_some(dir)
            });
            if let Some(facts) = called
                .map(|dir| commands::scan_library_cli(root, dir))
                .find(|f| *f != crate::model::CliFacts::default())
            {
                pkg.cli.insert(name.clone(), facts);
            }
        }
    }
}

fn read_lockfile(root: &Path) -> Result<Option<ReadLock>> {
    let path = root.join("Cargo.lock");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!(
            "{}: cannot read ({e}); fix its permissions so the build can use it with --locked",
            path.display()
        ),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        bail!(
            "{}: not UTF-8, so neither cargo nor imggen can read it; regenerate it with `cargo generate-lockfile`",
            path.display()
        );
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: invalid lockfile ({}); regenerate it with `cargo generate-lockfile`",
            path.display(),
            e.message()
        )
    })?;
    let version = table
        .get("version")
        .and_then(|v| v.as_integer())
        .unwrap_or(1) as u32;
    let mut packages = BTreeMap::new();
    for pkg in table
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let Some(name) = pkg.get("name").and_then(|v| v.as_str()) else {
            continue;
        };
        let dependencies = pkg
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .map(|d| d.split(' ').next().unwrap_or(d).to_string())
            .collect();
        packages.entry(name.to_string()).or_insert(LockedPackage {
            version: pkg
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            dependencies,
        });
    }
    Ok(Some(ReadLock {
        lockfile: Lockfile { version, packages },
        git_ssh: text.contains("source = \"git+ssh://"),
        table,
    }))
}

/// The toolchain file's channel, and its components and targets.
fn read_toolchain(root: &Path) -> Result<(Option<String>, crate::model::ToolchainFacts)> {
    use crate::model::ToolchainFacts;
    for name in ["rust-toolchain.toml", "rust-toolchain"] {
        let path = root.join(name);
        let Some(text) = read_text(&path)? else {
            continue;
        };
        let trimmed = text.trim();
        let mut facts = ToolchainFacts {
            file: Some(name.to_string()),
            ..ToolchainFacts::default()
        };
        if name == "rust-toolchain" && !trimmed.contains('[') {
            return Ok((Some(trimmed.to_string()), facts));
        }
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: invalid TOML ({}); fix the file",
                path.display(),
                e.message()
            )
        })?;
        let toolchain = table.get("toolchain");
        let channel = toolchain
            .and_then(|t| t.get("channel"))
            .and_then(|c| c.as_str())
            .with_context(|| {
                format!(
                    "{}: no [toolchain] channel; add one, e.g. channel = \"1.95.0\"",
                    path.display()
                )
            })?;
        let list = |key: &str| -> Result<Vec<String>> {
            let Some(value) = toolchain.and_then(|t| t.get(key)) else {
                return Ok(Vec::new());
            };
            let names: Option<Vec<String>> = value.as_array().and_then(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .filter(|s| crate::validate::is_rustup_name(s))
                            .map(String::from)
                    })
                    .collect()
            });
            names.with_context(|| {
                format!(
                    "{}: [toolchain] {key} must be a list of names such as \"clippy\" or \"x86_64-unknown-linux-musl\"; fix the list",
                    path.display()
                )
            })
        };
        facts.components = list("components")?;
        facts.targets = list("targets")?;
        if !crate::validate::is_rustup_name(channel) {
            bail!(
                "{}: channel `{channel}` is not a toolchain name; write e.g. channel = \"1.95.0\", \"stable\" or \"nightly-2025-01-01\"",
                path.display()
            );
        }
        return Ok((Some(channel.to_string()), facts));
    }
    Ok((None, ToolchainFacts::default()))
}

fn top_dirs(root: &Path) -> Vec<String> {
    crate::paths::subdirs(root)
}

/// Where projects keep the Dockerfile they ship with, the root's first.
const DOCKERFILES: &[&str] = &[
    "Dockerfile",
    "docker/Dockerfile",
    "containers/Dockerfile",
    ".docker/Dockerfile",
    "deploy/Dockerfile",
];

/// The project's own Dockerfile as evidence when a person wrote it: the root's, else the first
/// in a directory projects keep one in (`docker/`, `containers/`, ...). imggen's own output (it
/// carries the marker) and unreadable or non-UTF-8 files say nothing.
fn read_existing_dockerfile(root: &Path) -> Option<crate::model::ExistingDockerfile> {
    DOCKERFILES.iter().find_map(|name| {
        let text = std::fs::read_to_string(root.join(name)).ok()?;
        (!crate::template::is_generated(&text)).then(|| dockerfile::parse(name, &text))
    })
}

#[cfg(test)]
mod tests {
    use super::read_existing_dockerfile;

    #[test]
    fn a_dockerfile_kept_under_docker_is_evidence_when_the_root_has_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docker")).unwrap();
        std::fs::write(
            dir.path().join("docker/Dockerfile"),
            "FROM debian:bookworm-slim\nEXPOSE 8536\nCMD [\"app\"]\n",
        )
        .unwrap();
        let found = read_existing_dockerfile(dir.path()).unwrap();
        assert_eq!(found.file, "docker/Dockerfile");
        assert_eq!(found.port_evidence().map(|p| p.port), Some(8536));

        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM debian:bookworm-slim\nEXPOSE 3000\n",
        )
        .unwrap();
        let root = read_existing_dockerfile(dir.path()).unwrap();
        assert_eq!(root.file, "Dockerfile");
    }
}
