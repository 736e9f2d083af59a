//! `imggen build --engine oci`: no Docker daemon. Compiles the binary on this machine
//! ([`crate::compile`]) for each `--arch`, assembles the image from the plan ([`crate::oci`]),
//! and writes it as an OCI image layout directory and/or a tar `docker load` takes; `--push`
//! hands the layout to the registry client.

use super::retry::PushPolicy;
use super::{attach, creds, meta, pin, BuildOptions, Digest};
use crate::compile::{self, EpochSource};
use crate::oci::base::BaseImage;
pub use crate::oci::image::CpuArch;
use crate::oci::image::{self, Inputs};
use crate::oci::layout::Layout;
use crate::oci::registry::{Client, Options, PushReport};
use crate::pipeline::Loaded;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Where the host's CA bundle is read from for bases that copy one in (Debian's
/// ca-certificates, the same file the Docker path's builder copies).
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The static tini the Docker path's builder copies (Debian's tini package).
pub const HOST_TINI: &str = "/usr/bin/tini-static";

/// Where `--engine oci` writes the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `oci-layout:DIR`: an OCI image layout directory.
    Layout(PathBuf),
    /// `tar:FILE`: the layout as a tar with Docker's manifest.json, for `docker load`.
    Tar(PathBuf),
}

impl Output {
    /// Parses `--output oci-layout:DIR` or `--output tar:FILE`.
    pub fn parse(value: &str) -> Result<Output> {
        match value.split_once(':') {
            Some(("oci-layout", dir)) if !dir.is_empty() => Ok(Output::Layout(dir.into())),
            Some(("tar", file)) if !file.is_empty() => Ok(Output::Tar(file.into())),
            _ => bail!("--output {value} is not an output; write oci-layout:DIR or tar:FILE"),
        }
    }
}

/// Pushes the image layout at `layout` to the registry `reference` names, with the
/// credentials found for it, within `--push-timeout` (retries included), and returns the digest
/// the registry has (the manifest's, or the index's) with what the push sent: the one place
/// the oci engine pushes.
pub fn push_layout(
    layout: &Path,
    reference: &Reference,
    credentials: Option<&creds::Found>,
    policy: &PushPolicy,
) -> Result<(Digest, PushReport)> {
    let runtime = runtime()?;
    let _entered = runtime.enter();
    let client = Client::new(
        &reference.registry,
        attach::auth(credentials),
        Options {
            pauses: policy.pauses.clone(),
            ..Options::default()
        },
    )?;
    let pushed = runtime.block_on(tokio::time::timeout(
        policy.timeout,
        client.push_layout(layout, reference, &[]),
    ));
    match pushed {
        Ok(Ok(report)) => Ok((Digest(report.digest.clone()), report)),
        Ok(Err(e)) => Err(e.context(format!("pushing {reference} failed"))),
        Err(_) => bail!(
            "pushing {reference} did not finish within {} (--push-timeout); check that {} is reachable, or raise --push-timeout",
            super::retry::show_duration(policy.timeout),
            reference.registry
        ),
    }
}

/// The directory base images are pulled into: `$XDG_CACHE_HOME/imggen`, else
/// `$HOME/.cache/imggen` (blobs under `blobs/sha256/`, shared by every project).
pub fn cache_dir() -> Result<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = from("XDG_CACHE_HOME") {
        return Ok(xdg.join("imggen"));
    }
    match from("HOME") {
        Some(home) => Ok(home.join(".cache").join("imggen")),
        None => bail!("neither XDG_CACHE_HOME nor HOME is set, so there is no cache for base images; set XDG_CACHE_HOME"),
    }
}

/// Where a base is pulled from: `reference`, or with a mirror, the mirror's copy of a Docker
/// Hub image (the same repository, e.g. `library/debian`).
pub fn base_source(reference: &str, mirror: Option<&str>) -> Result<Reference> {
    let mut source = Reference::parse(reference)?;
    if let Some(mirror) = mirror {
        if source.registry == crate::reference::DOCKER_HUB {
            source.registry = mirror.to_string();
        }
    }
    Ok(source)
}

/// Pulls the base image `reference` for `arch` into the cache (blobs already there are not
/// fetched again) and reads it: the one place the oci engine pulls. `mirror` is
/// `[build] base_mirror`.
pub fn pull_base(reference: &str, arch: CpuArch, mirror: Option<&str>) -> Result<BaseImage> {
    let source = base_source(reference, mirror)?;
    let found = creds::lookup(
        &source,
        creds::env_pair(),
        creds::docker_config_dir().as_deref(),
    )?;
    let runtime = runtime()?;
    let _entered = runtime.enter();
    let client = Client::new(
        &source.registry,
        attach::auth(found.as_ref()),
        Options::default(),
    )?;
    let cache = cache_dir()?;
    let platform = format!("linux/{}", arch.name());
    let started = Instant::now();
    let pulled = runtime
        .block_on(client.pull(&source, &platform, &cache))
        .map_err(|e| {
            e.context(format!(
                "pulling the base {source} ({platform}) failed; check that {} is reachable, or set [build] base_mirror (IMGGEN_BASE_MIRROR) to a registry that has it",
                source.registry
            ))
        })?;
    let fetched = client
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .count();
    eprintln!(
        "pulled the base {source} ({platform}) in {:.1}s: {} ({} of {} blobs fetched, cache {})",
        started.elapsed().as_secs_f64(),
        pulled.manifest.digest,
        fetched,
        pulled.layers.len() + 1,
        cache.display()
    );
    BaseImage::from_blobs(&pulled.dir, reference, &pulled.manifest.digest)
}

/// A runtime for one registry exchange.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime the registry client needs")
}

/// The default layout directory: `<target dir>/imggen/oci/<name>`.
pub fn default_layout_dir(root: &Path, name: &str) -> PathBuf {
    compile::target_dir(root)
        .join("imggen")
        .join("oci")
        .join(name)
}

/// Runs `imggen build --engine oci`.
pub fn run(loaded: &Loaded, args: &BuildOptions) -> Result<ExitCode> {
    refuse_docker_only_flags(args)?;
    let plan = &loaded.plan.image;
    image::refuse_runtime_packages(plan)?;
    let root = loaded.root.as_path();
    let epoch = epoch(root)?;
    let git = meta::git_revision(root);
    let tags = meta::image_refs(
        &args.tags,
        loaded.config.image.as_ref(),
        &plan.name,
        git.as_ref(),
    )?;
    let labels = meta::labels(&plan.labels, git.as_ref(), &image::created(epoch)?);
    let credentials = push_credentials(args, &tags)?;
    let archs = archs(plan)?;
    let sbom = super::sbom_document(loaded, args)?;
    let started = Instant::now();
    let bases = bases(loaded, &archs)?;
    let shared = Inputs {
        plan,
        labels: &labels,
        epoch,
        arch: CpuArch::host(),
        binary: Vec::new(),
        ca_bundle: ca_bundle(plan)?,
        tini: None,
        app_files: app_files(root, plan)?,
        base: None,
    };
    let mut images = Vec::new();
    for (arch, base) in archs.iter().zip(&bases) {
        let inputs = Inputs {
            arch: *arch,
            binary: compile_for(loaded, *arch, epoch)?,
            tini: if plan.signal.init {
                Some(read_tini(*arch)?)
            } else {
                None
            },
            base: base.as_ref(),
            ..shared.clone()
        };
        images.push((image::build(&inputs)?, base.as_ref()));
    }
    let layout = Layout::new(&images, CpuArch::host())?;
    let layout_dir = write_outputs(loaded, args, &layout, &tags, epoch)?;
    let size: usize = images
        .iter()
        .flat_map(|(i, _)| &i.layers)
        .map(|l| l.blob.len())
        .sum();
    eprintln!(
        "built {} in {:.1}s: {} ({} of layers over {})",
        tags[0],
        started.elapsed().as_secs_f64(),
        layout.digest,
        super::progress::human_bytes(size as u64),
        plan.base.image
    );
    println!("{}", layout.digest);
    if args.push {
        let dir = layout_dir.context("a layout is written before a push")?;
        push_tags(loaded, args, &dir, &tags, &credentials, sbom.as_deref())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan's architectures (`--arch`, `[build] arch`), else this machine's.
fn archs(plan: &crate::plan::ImagePlan) -> Result<Vec<CpuArch>> {
    if plan.arch.is_empty() {
        return Ok(vec![CpuArch::host()]);
    }
    plan.arch.iter().map(|a| CpuArch::parse(a)).collect()
}

/// The base image for each architecture: none for `scratch`, else pulled (through
/// `[build] base_mirror` for Docker Hub bases).
fn bases(loaded: &Loaded, archs: &[CpuArch]) -> Result<Vec<Option<BaseImage>>> {
    let mirror = loaded
        .config
        .build
        .as_ref()
        .and_then(|b| b.base_mirror.as_deref());
    archs
        .iter()
        .map(|arch| match loaded.plan.image.base.image.as_str() {
            "scratch" => Ok(None),
            reference => pull_base(reference, *arch, mirror).map(Some),
        })
        .collect()
}

/// `SOURCE_DATE_EPOCH`, printed with where it came from.
fn epoch(root: &Path) -> Result<u64> {
    let (epoch, origin) =
        compile::source_date_epoch(root, std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())?;
    eprintln!(
        "SOURCE_DATE_EPOCH={epoch} ({}, {})",
        image::created(epoch)?,
        match origin {
            EpochSource::Env => "from the environment",
            EpochSource::GitCommit => "the last git commit",
            EpochSource::Zero => "no git commit: 0",
        }
    );
    Ok(epoch)
}

/// The host's CA bundle, when the base copies one in.
fn ca_bundle(plan: &crate::plan::ImagePlan) -> Result<Option<Vec<u8>>> {
    match plan.base.ca_certificates {
        crate::profiles::CaCerts::Copy => Ok(Some(std::fs::read(HOST_CA_BUNDLE).with_context(|| {
            format!("{HOST_CA_BUNDLE}: cannot read the CA bundle the {} base copies in; install ca-certificates (Debian) or use --engine docker", plan.base.name)
        })?)),
        crate::profiles::CaCerts::Builtin => Ok(None),
    }
}

/// Writes every `--output` (the default layout directory when none is given, or for a push
/// without one) and returns the layout directory written, if any.
fn write_outputs(
    loaded: &Loaded,
    args: &BuildOptions,
    layout: &Layout,
    tags: &[Reference],
    epoch: u64,
) -> Result<Option<PathBuf>> {
    let mut layout_dir = None;
    for output in &args.outputs {
        match output {
            Output::Layout(dir) => {
                layout.write_dir(dir)?;
                eprintln!("wrote the OCI image layout {}", dir.display());
                layout_dir = Some(dir.clone());
            }
            Output::Tar(file) => {
                let names: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
                crate::output::write_atomic(file, &layout.tar(&names, epoch)?)?;
                eprintln!(
                    "wrote {} (load it with `docker load -i {}`)",
                    file.display(),
                    file.display()
                );
            }
        }
    }
    if layout_dir.is_none() && (args.push || args.outputs.is_empty()) {
        let dir = default_layout_dir(&loaded.root, &loaded.plan.image.name);
        layout.write_dir(&dir)?;
        eprintln!("wrote the OCI image layout {}", dir.display());
        layout_dir = Some(dir);
    }
    Ok(layout_dir)
}

/// Pushes the layout under every tag, attaching `sbom` to each pushed image; with
/// `--write-digest`, pins the first digest.
fn push_tags(
    loaded: &Loaded,
    args: &BuildOptions,
    dir: &Path,
    tags: &[Reference],
    credentials: &[Option<creds::Found>],
    sbom: Option<&str>,
) -> Result<()> {
    let mut first = None;
    for (tag, found) in tags.iter().zip(credentials) {
        eprintln!("pushing {tag}");
        let started = Instant::now();
        let (digest, report) = push_layout(dir, tag, found.as_ref(), &args.push_policy)?;
        eprintln!(
            "pushed {tag} ({digest}) in {:.1}s: {} blob{} uploaded ({}), {} already there, {} mounted, {} manifest{} put",
            started.elapsed().as_secs_f64(),
            report.uploaded,
            if report.uploaded == 1 { "" } else { "s" },
            super::progress::human_bytes(report.bytes),
            report.skipped,
            report.mounted,
            report.manifests,
            if report.manifests == 1 { "" } else { "s" },
        );
        if let Some(document) = sbom {
            let artifact = runtime()?.block_on(attach::attach(
                tag,
                &digest,
                found.as_ref(),
                document,
                &args.push_policy,
            ))?;
            eprintln!(
                "attached the SBOM to {tag} ({artifact}, tag {})",
                crate::oci::registry::sbom_tag(&digest.0)?
            );
        }
        println!("{tag}@{digest}");
        first.get_or_insert(digest);
    }
    if let (true, Some(digest)) = (args.write_digest, first) {
        let changed = pin::write_digest(loaded, &digest)?;
        eprintln!("recorded {digest} as [image] digest in imggen.toml");
        for path in changed {
            eprintln!("  updated {path}");
        }
    }
    Ok(())
}

/// The credentials each tag's push needs, looked up before anything is compiled (as the Docker
/// path does), so a refused lookup stops the build at once.
fn push_credentials(args: &BuildOptions, tags: &[Reference]) -> Result<Vec<Option<creds::Found>>> {
    if !args.push {
        return Ok(Vec::new());
    }
    let config_dir = creds::docker_config_dir();
    tags.iter()
        .map(|r| creds::lookup(r, creds::env_pair(), config_dir.as_deref()))
        .collect()
}

/// The flags that steer the Docker build and mean nothing without it.
fn refuse_docker_only_flags(args: &BuildOptions) -> Result<()> {
    let used: Vec<&str> = [
        (!args.build_args.is_empty(), "--build-arg"),
        (args.target.is_some(), "--target"),
        (!args.cache_from.is_empty(), "--cache-from"),
        (args.cache_to.is_some(), "--cache-to"),
        (
            args.image_platform.is_some(),
            "--image-platform (use --arch)",
        ),
        (args.network != "default", "--network"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    if !used.is_empty() {
        bail!(
            "{} only apply to --engine docker; remove them or build with --engine docker",
            used.join(", ")
        );
    }
    Ok(())
}

/// Compiles the plan's binary for `arch` and reads it.
fn compile_for(loaded: &Loaded, arch: CpuArch, epoch: u64) -> Result<Vec<u8>> {
    let plan = &loaded.plan.image;
    let target = compile::target_for(&plan.cargo, arch.rust_arch(), CpuArch::host().rust_arch());
    let request = compile::Request {
        root: &loaded.root,
        package: &plan.package,
        bin: &plan.bin,
        cargo: &plan.cargo,
        target,
        epoch,
    };
    eprintln!(
        "compiling {} for linux/{}: cargo {}",
        plan.bin,
        arch.name(),
        compile::cargo_args(&request).join(" ")
    );
    let binary = compile::build(
        &request,
        &compile::cross_env(
            request.target.as_deref(),
            arch.rust_arch(),
            CpuArch::host().rust_arch(),
        ),
    )?;
    std::fs::read(&binary).with_context(|| format!("{}: cannot read the binary", binary.display()))
}

/// The static tini for `arch` (only the host's is on this machine).
fn read_tini(arch: CpuArch) -> Result<Vec<u8>> {
    if arch != CpuArch::host() {
        bail!("the plan runs the binary under tini, and only this machine's tini ({HOST_TINI}) is at hand, not one for linux/{}; drop --arch {} or use --engine docker", arch.name(), arch.name());
    }
    std::fs::read(HOST_TINI).with_context(|| {
        format!("{HOST_TINI}: cannot read the static tini the plan runs the binary under; install Debian's tini package or use --engine docker")
    })
}

/// The run-time files the plan copies into `/app`, without secret-looking files (as the Docker
/// path's builder deletes them): (path in the image, contents, mode).
fn app_files(root: &Path, plan: &crate::plan::ImagePlan) -> Result<Vec<(String, Vec<u8>, u32)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for dir in &plan.runtime_dirs {
        let from = root.join(&dir.from);
        for entry in walkdir::WalkDir::new(&from).sort_by_file_name() {
            let entry = entry
                .with_context(|| format!("{}: cannot list the run-time files", from.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = crate::paths::slash(entry.path().strip_prefix(&from).unwrap_or(entry.path()));
            let project_rel = format!("{}/{rel}", dir.from.trim_end_matches('/'));
            if crate::secrets::is_secret(&project_rel) {
                continue;
            }
            let contents = std::fs::read(entry.path())
                .with_context(|| format!("{}: cannot read", entry.path().display()))?;
            let executable = entry
                .metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            files.push((
                if rel.is_empty() {
                    dir.to.clone()
                } else {
                    format!("{}/{rel}", dir.to.trim_end_matches('/'))
                },
                contents,
                if executable { 0o755 } else { 0o644 },
            ));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_files_go_under_app_without_secret_looking_files() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zero2prod");
        for entry in walkdir::WalkDir::new(&fixture) {
            let entry = entry.unwrap();
            let to = dir
                .path()
                .join(entry.path().strip_prefix(&fixture).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(entry.path(), &to).unwrap();
            }
        }
        std::fs::write(dir.path().join("configuration/server.key"), "secret").unwrap();
        std::fs::write(dir.path().join("configuration/.env"), "A=1").unwrap();
        let loaded = crate::pipeline::load(dir.path(), &crate::config::Config::default()).unwrap();
        let files = app_files(dir.path(), &loaded.plan.image).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/app/configuration/base.yaml",
                "/app/migrations/20240101000000_init.sql"
            ]
        );
        assert!(files.iter().all(|(_, _, mode)| *mode == 0o644));
    }

    #[test]
    fn outputs_are_a_layout_directory_or_a_tar() {
        assert_eq!(
            Output::parse("oci-layout:out/img").unwrap(),
            Output::Layout("out/img".into())
        );
        assert_eq!(
            Output::parse("tar:img.tar").unwrap(),
            Output::Tar("img.tar".into())
        );
        for bad in ["oci-layout:", "tar:", "docker", "zip:x"] {
            let err = Output::parse(bad).unwrap_err().to_string();
            assert!(err.contains("oci-layout:DIR or tar:FILE"), "{err}");
        }
    }
}
