//! `imggen bundle`: the VM release bundle, so a team deploying to a plain server ships exactly
//! what CI built. The binary compiled on this machine ([`crate::compile`]), the VM pack's
//! systemd unit and proxy config, the run-time files and the frontend become one tar.gz laid
//! out as the server's filesystem (the paths the unit names), deterministic as the oci engine's
//! layers ([`crate::oci::layer`]), with a `sha256sum` file beside it.

use crate::compile::{self, EpochSource};
use crate::deploy::vm::{self, VmPlan, VM_DIR};
use crate::oci::image::CpuArch;
use crate::oci::layer::{self, Files};
use crate::pipeline::Loaded;
use crate::plan::{ImagePlan, APP_DIR};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What `imggen bundle` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The tar.gz.
    pub path: PathBuf,
    /// Its `sha256sum` file (`<path>.sha256`).
    pub checksum: PathBuf,
    /// The hex sha256 of the tar.gz.
    pub sha256: String,
    /// The target triple the binary was built for.
    pub target: String,
}

/// Compiles the plan's binary and writes the bundle to `output` (default:
/// `<target dir>/imggen/<name>-<version>-<target>.tar.gz`) and its `.sha256`.
pub fn run(loaded: &Loaded, output: Option<&Path>) -> Result<Written> {
    let plan = &loaded.plan.image;
    let Some(vm) = loaded.plan.deploy.vm.as_ref() else {
        bail!("{}: the vm platform is not selected, so there is no systemd unit to bundle; add \"vm\" to platforms in imggen.toml or pass --platform vm", loaded.root.join(crate::config::FILE_NAME).display());
    };
    let epoch = epoch(&loaded.root)?;
    let (binary, triple) = compile_binary(loaded, epoch)?;
    let vm_files: Vec<(String, Vec<u8>)> = loaded
        .files
        .iter()
        .filter_map(|f| {
            let name = f.path.strip_prefix(VM_DIR)?.strip_prefix('/')?;
            Some((name.to_string(), f.contents.clone().into_bytes()))
        })
        .collect();
    let files = contents(&loaded.root, plan, vm, binary, &vm_files)?;
    let tar = layer::tar(&files, epoch)?;
    let gz = layer::gzip(&tar)?;
    let version = loaded
        .model
        .packages
        .iter()
        .find(|p| p.name == plan.package)
        .and_then(|p| p.version.clone())
        .unwrap_or_else(|| "0.0.0".into());
    let file_name = format!("{}-{version}-{triple}.tar.gz", plan.name);
    let path = match output {
        Some(path) => path.to_path_buf(),
        None => compile::target_dir(&loaded.root)
            .join("imggen")
            .join(&file_name),
    };
    let sha256 = layer::sha256(&gz).trim_start_matches("sha256:").to_string();
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("--output {}: give a file name", path.display()))?;
    let checksum = PathBuf::from(format!("{}.sha256", path.display()));
    crate::output::write_atomic(&path, &gz)?;
    crate::output::write_atomic(&checksum, format!("{sha256}  {base}\n").as_bytes())?;
    eprintln!(
        "wrote {} ({} entries, {} bytes; sha256 {sha256} in {})",
        path.display(),
        files.entries().count(),
        gz.len(),
        checksum.display()
    );
    if triple.ends_with("-gnu") {
        eprintln!(
            "the binary links glibc dynamically: the server needs glibc {} or newer (this machine's); build with --libc musl for a static binary",
            host_glibc().as_deref().unwrap_or("(unknown)")
        );
    }
    eprintln!(
        "install: tar -xzf {base} -C / --no-overwrite-dir && systemctl daemon-reload && systemctl enable --now {}",
        vm.unit
    );
    Ok(Written {
        path,
        checksum,
        sha256,
        target: triple,
    })
}

/// Compiles the plan's binary for the plan's target (the host's without one) and reads it;
/// also returns the target triple.
fn compile_binary(loaded: &Loaded, epoch: u64) -> Result<(Vec<u8>, String)> {
    let plan = &loaded.plan.image;
    let target = plan.cargo.target.clone();
    let triple = target
        .clone()
        .unwrap_or_else(|| format!("{}-unknown-linux-gnu", CpuArch::host().rust_arch()));
    let request = compile::Request {
        root: &loaded.root,
        package: &plan.package,
        bin: &plan.bin,
        cargo: &plan.cargo,
        target,
        epoch,
    };
    eprintln!(
        "compiling {} for {triple}: cargo {}",
        plan.bin,
        compile::cargo_args(&request).join(" ")
    );
    let path = compile::build(&request, &[])?;
    let binary = std::fs::read(&path)
        .with_context(|| format!("{}: cannot read the binary", path.display()))?;
    Ok((binary, triple))
}

/// The bundle's entries, at their paths on the server: the binary at the unit's `ExecStart`,
/// the unit and the proxy config where they are installed, the run-time files under the
/// unit's `WorkingDirectory`, the frontend where the proxy serves it. `vm_files` are the VM
/// pack's generated files by name.
pub fn contents(
    root: &Path,
    plan: &ImagePlan,
    vm: &VmPlan,
    binary: Vec<u8>,
    vm_files: &[(String, Vec<u8>)],
) -> Result<Files> {
    let mut files = Files::default();
    files.file(&vm::exec_path(&plan.bin), binary, 0o755)?;
    let unit_name = format!("{}.service", vm.unit);
    for (name, text) in vm_files {
        let at = match vm.proxy {
            _ if *name == unit_name => vm::unit_path(&vm.unit),
            // The commented example beside the file the unit reads: copy it there and fill it in.
            _ if *name == format!("{}.env.example", vm.unit) => {
                format!("{}.example", vm::env_file(&vm.unit))
            }
            Some(p) if name == vm::proxy_file(p) => vm::proxy_path(p, &vm.unit),
            _ => bail!("{VM_DIR}/{name}: the bundle has no place on the server for this file; this is a bug in imggen, please report it"),
        };
        files.file(&at, text.clone(), 0o644)?;
    }
    if let Some(work_dir) = &vm.work_dir {
        files.dir(work_dir, 0o755)?;
        for dir in &plan.runtime_dirs {
            let rel = dir.to.strip_prefix(APP_DIR).unwrap_or(&dir.to);
            let to = format!("{work_dir}/{}", rel.trim_matches('/'));
            tree(root, &dir.from, &to, &mut files)?;
        }
    }
    if let (Some(dir), Some(_)) = (&vm.static_dir, vm.proxy) {
        tree(root, dir, &vm.static_root, &mut files)?;
    }
    Ok(files)
}

/// Adds the files under `root/from` at `to`, without secret-looking files (as the image leaves
/// them out): 0755 when executable, else 0644.
fn tree(root: &Path, from: &str, to: &str, files: &mut Files) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(from);
    files.dir(to, 0o755)?;
    for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let entry =
            entry.with_context(|| format!("{}: cannot list the files to bundle", dir.display()))?;
        let rel = crate::paths::slash(entry.path().strip_prefix(&dir).unwrap_or(entry.path()));
        if rel.is_empty()
            || crate::secrets::is_secret(&format!("{}/{rel}", from.trim_end_matches('/')))
        {
            continue;
        }
        let at = format!("{}/{rel}", to.trim_end_matches('/'));
        if entry.file_type().is_dir() {
            files.dir(&at, 0o755)?;
        } else if entry.file_type().is_file() {
            let contents = std::fs::read(entry.path())
                .with_context(|| format!("{}: cannot read", entry.path().display()))?;
            let executable = entry
                .metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            files.file(&at, contents, if executable { 0o755 } else { 0o644 })?;
        }
    }
    Ok(())
}

/// `SOURCE_DATE_EPOCH` (the mtime of every entry), printed with where it came from.
fn epoch(root: &Path) -> Result<u64> {
    let (epoch, origin) =
        compile::source_date_epoch(root, std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())?;
    eprintln!(
        "SOURCE_DATE_EPOCH={epoch} ({})",
        match origin {
            EpochSource::Env => "from the environment",
            EpochSource::GitCommit => "the last git commit",
            EpochSource::Zero => "no git commit: 0",
        }
    );
    Ok(epoch)
}

/// This machine's glibc version (`getconf GNU_LIBC_VERSION`), the oldest a glibc binary built
/// here is sure to run on.
fn host_glibc() -> Option<String> {
    let out = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .strip_prefix("glibc ")
        .map(str::to_string)
        .filter(|_| out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Platform, Proxy, VmConfig};

    #[test]
    fn an_nginx_pack_lands_in_sites_enabled_and_a_stray_file_is_refused() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spa");
        let flags = Config {
            platforms: Some(vec![Platform::Vm]),
            vm: Some(VmConfig {
                proxy: Some(Proxy::Nginx),
                ..VmConfig::default()
            }),
            ..Config::default()
        };
        let loaded = crate::pipeline::load_at(&root, &root, &flags, false).unwrap();
        let vm = loaded.plan.deploy.vm.as_ref().unwrap();
        let pack = vec![
            ("spa-app.service".to_string(), b"[Unit]\n".to_vec()),
            ("nginx.conf".to_string(), b"server {}\n".to_vec()),
        ];
        let files = contents(&root, &loaded.plan.image, vm, b"bin".to_vec(), &pack).unwrap();
        let paths: Vec<&str> = files
            .entries()
            .filter(|(_, e)| matches!(e, layer::Entry::File(..)))
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "etc/nginx/sites-enabled/spa-app.conf",
                "etc/systemd/system/spa-app.service",
                "usr/local/bin/spa-app",
            ]
        );
        let stray = vec![("Caddyfile".to_string(), Vec::new())];
        let err = contents(&root, &loaded.plan.image, vm, Vec::new(), &stray).unwrap_err();
        assert!(err.to_string().contains("deploy/vm/Caddyfile"), "{err}");
    }
}
