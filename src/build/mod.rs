//! `imggen build`: builds the image through the Docker Engine API (bollard), and pushes it with
//! `--push`. Async (tokio) lives in this module and in `oci` only; the rest of imggen is synchronous.
//!
//! Steps: refuse drifted generated files (unless `--allow-dirty`); name the image (tags) and
//! stamp it (labels); look up push credentials; pack the context (filtered by .dockerignore)
//! and print its size; connect to the engine (`DOCKER_HOST` or the docker context, TLS when
//! asked, API version negotiated); build with BuildKit where offered, else the classic
//! builder, importing `--cache-from` images and embedding an inline cache with `--cache-to`
//! (beside a cache image, the previous build's `target/`: [`previous`]);
//! tag; push each tag (retrying a busy registry, within `--push-timeout`) and print its
//! digest, attaching the binary's SBOM to it ([`attach`]); with `--write-digest`, record the
//! digest in imggen.toml. On GitHub Actions, compile
//! errors become annotations and the digest and a summary go to the step's files ([`ci`]).
//!
//! Exit codes: 0 built (and pushed); 1 the build failed (the failing step's output is shown);
//! 2 anything else: drifted files, engine not running, credentials refused, registry
//! unreachable, invalid tag.
//!
//! The engine sits behind two small traits, [`Builder`] and [`Publisher`], implemented over
//! bollard in [`docker`].

pub mod attach;
pub mod ci;
pub mod creds;
pub mod docker;
pub mod endpoint;
pub mod meta;
pub mod multiarch;
pub mod oci;
pub mod pin;
pub mod previous;
pub mod progress;
pub mod retry;
pub mod session;

use crate::config::Engine;
use crate::output;
use crate::pipeline::Loaded;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use progress::{clip, EventSink, Progress, ProgressFlag};
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The Dockerfile imggen generates and builds.
pub const DOCKERFILE: &str = "Dockerfile";
/// Lines of a failed step's output shown again after the live view.
const FAILED_TAIL: usize = 30;

/// What `imggen build` was asked to do, beyond the project (clap-free: the command line parses
/// the flags into it before the project is loaded).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Image references to tag; empty means the defaults.
    pub tags: Vec<String>,
    /// Push every tag and print the pushed digest.
    pub push: bool,
    /// Platform of the image, e.g. linux/amd64.
    pub image_platform: Option<String>,
    /// Build arguments, parsed by [`parse_build_args`].
    pub build_args: BTreeMap<String, String>,
    /// Build only up to this Dockerfile stage.
    pub target: Option<String>,
    /// Ignore the layer cache.
    pub no_cache: bool,
    /// How to show build progress.
    pub progress: ProgressFlag,
    /// Build even when the generated files on disk differ from what imggen would write.
    pub allow_dirty: bool,
    /// After a push, record the digest in imggen.toml and refresh the files that pin it.
    pub write_digest: bool,
    /// Images to take cached layers from, parsed by [`cache_refs`].
    pub cache_from: Vec<Reference>,
    /// `--cache-to`: `inline` or a reference.
    pub cache_to: Option<String>,
    /// How pushes are retried, and for how long.
    pub push_policy: retry::PushPolicy,
    /// Network for RUN steps: default, host or none.
    pub network: String,
    /// Attach an SBOM to each pushed image (`--no-sbom` and `[build] sbom = false` turn it off).
    pub sbom: bool,
    /// `--output`: where `--engine oci` writes the image.
    pub outputs: Vec<oci::Output>,
    /// `--secret id=NAME,src=PATH|env=VAR` values for `RUN --mount=type=secret`.
    pub secrets: Vec<session::SecretSpec>,
    /// `--ssh ID[=SOCKET]` agents for `RUN --mount=type=ssh`.
    pub ssh: Vec<session::SshSpec>,
}

/// What to build: everything the engine needs, already decided.
pub struct BuildRequest {
    /// The context tar (uncompressed), filtered by .dockerignore.
    pub context: Vec<u8>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// References to tag; the first is built, the rest are added to the same image.
    pub tags: Vec<Reference>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// Image labels (OCI annotations).
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--image-platform`.
    pub platform: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// Network mode of RUN steps.
    pub network: String,
    /// `--cache-from` images.
    pub cache_from: Vec<Reference>,
    /// Credentials for the registries of the `--cache-from` images.
    pub cache_credentials: Vec<(Reference, creds::Found)>,
    /// The `--secret` values and `--ssh` agents, served on imggen's own BuildKit session.
    pub attachables: Option<std::sync::Arc<session::Attachables>>,
}

impl fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildRequest")
            .field("context_bytes", &self.context.len())
            .field("dockerfile", &self.dockerfile)
            .field("tags", &self.tags)
            .field("build_args", &self.build_args.keys().collect::<Vec<_>>())
            .field("labels", &self.labels)
            .field("target", &self.target)
            .field("platform", &self.platform)
            .field("no_cache", &self.no_cache)
            .field("network", &self.network)
            .field("cache_from", &self.cache_from)
            .field(
                "cache_credentials",
                &self
                    .cache_credentials
                    .iter()
                    .map(|(r, _)| &r.registry)
                    .collect::<Vec<_>>(),
            )
            .field("attachables", &self.attachables)
            .finish()
    }
}

impl BuildRequest {
    /// The same build stopped at `stage` and tagged `tag` only.
    pub fn stage(&self, stage: &str, tag: &Reference) -> BuildRequest {
        BuildRequest {
            context: self.context.clone(),
            dockerfile: self.dockerfile.clone(),
            tags: vec![tag.clone()],
            build_args: self.build_args.clone(),
            labels: self.labels.clone(),
            target: Some(stage.to_string()),
            platform: self.platform.clone(),
            no_cache: self.no_cache,
            network: self.network.clone(),
            cache_from: self.cache_from.clone(),
            cache_credentials: self.cache_credentials.clone(),
            attachables: self.attachables.clone(),
        }
    }
}

/// An image the engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image id, `sha256:...`.
    pub id: String,
    /// The references it is tagged with.
    pub tags: Vec<Reference>,
}

/// A manifest digest in a registry, `sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest(pub String);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A build that the engine ran and that failed in a step (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailed {
    /// The engine's message.
    pub message: String,
}

impl fmt::Display for BuildFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the image build failed: {}", self.message)
    }
}

impl std::error::Error for BuildFailed {}

/// Builds an image from a request, reporting steps to `events`.
///
/// Used with concrete types on one runtime, so the future needs no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Builder {
    /// Builds and tags the image; a failed step is a [`BuildFailed`] error.
    async fn build(&self, request: &BuildRequest, events: &mut dyn EventSink)
        -> Result<BuiltImage>;
}

/// Pushes a built image's tag to the registry it names.
///
/// Used with concrete types on one runtime, so the future needs no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Publisher {
    /// Pushes `reference` (a tag of `image`) and returns the manifest digest.
    async fn push(
        &self,
        image: &BuiltImage,
        reference: &Reference,
        credentials: Option<&creds::Found>,
    ) -> Result<Digest>;
}

/// Parses `--build-arg KEY=VALUE` values.
pub fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            bail!("--build-arg {arg} has no value; write it as KEY=VALUE");
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("--build-arg {arg}: `{key}` is not a variable name; use letters, digits and _");
        }
        if crate::config::CREDENTIAL_VARS.contains(&key) {
            bail!("--build-arg {key} would put a registry secret into the image history; remove it (push credentials are read from the environment by imggen, not by the build)");
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// The build argument that makes BuildKit embed the cache metadata in the image.
pub const INLINE_CACHE_ARG: &str = "BUILDKIT_INLINE_CACHE";

/// The Dockerfile stage that compiles the dependencies and the service; `--cache-to REF`
/// pushes it as the cache image.
pub const CACHE_STAGE: &str = "builder";

/// Where `--cache-to` puts the layer cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheTo {
    /// No cache export.
    Nothing,
    /// Inline in the built image (the engine's BuildKit exports only the final stage's layers
    /// this way).
    Inline,
    /// Inline in the image too, and in a cache image of the [`CACHE_STAGE`] stage pushed to
    /// this reference, which holds the compiled dependencies.
    Image(Reference),
}

/// Reads `--cache-to`: `inline`, one of the image's own tags (inline), or another reference,
/// which names a cache image of the builder stage and so needs `--push`.
pub fn cache_to(cache_to: Option<&str>, tags: &[Reference], push: bool) -> Result<CacheTo> {
    let Some(to) = cache_to.map(str::trim) else {
        return Ok(CacheTo::Nothing);
    };
    if to == "inline" || to == "type=inline" {
        return Ok(CacheTo::Inline);
    }
    let named = Reference::parse(to).map_err(|e| {
        anyhow::anyhow!("--cache-to {to}: {e:#}; pass `inline` or an image reference")
    })?;
    if tags.contains(&named) {
        return Ok(CacheTo::Inline);
    }
    if named.digest.is_some() {
        bail!(
            "--cache-to {to} names a digest; name the cache image with a tag, e.g. --cache-to {}",
            named.with_tag("buildcache")
        );
    }
    if !push {
        bail!("--cache-to {to} pushes a cache image of the {CACHE_STAGE} stage, which needs --push; add --push, or pass --cache-to inline");
    }
    Ok(CacheTo::Image(named))
}

/// Parses `--cache-from` references.
pub fn cache_refs(cache_from: &[String]) -> Result<Vec<Reference>> {
    cache_from
        .iter()
        .map(|r| Reference::parse(r).map_err(|e| anyhow::anyhow!("--cache-from {r}: {e:#}")))
        .collect()
}

/// Everything about the image decided before the engine is reached: names, labels, build
/// arguments, the cache image and the credentials each push needs.
struct Job {
    tags: Vec<Reference>,
    labels: BTreeMap<String, String>,
    build_args: BTreeMap<String, String>,
    cache_image: Option<Reference>,
    /// Where the previous-build image goes beside the cache image ([`previous`]).
    target_image: Option<Reference>,
    /// One per tag when pushing.
    credentials: Vec<Option<creds::Found>>,
    cache_image_credentials: Option<creds::Found>,
    cache_credentials: Vec<(Reference, creds::Found)>,
    /// The SBOM to attach to each pushed image.
    sbom: Option<String>,
}

/// The build context tar of the plan's context directory (the project root inside it and the
/// Dockerfile's path in it), its size printed.
fn pack_context(
    root: &Path,
    (root_in_context, dockerfile): (&str, &str),
    ignore_file: &str,
) -> Result<Vec<u8>> {
    let context_dir = context_dir(root, root_in_context);
    let (context, summary) = crate::context::build_context(&context_dir, dockerfile)?;
    eprintln!(
        "context: {}{} files, {} (after {})",
        if root_in_context.is_empty() {
            String::new()
        } else {
            format!("{} (holds the path dependencies), ", context_dir.display())
        },
        summary.files,
        progress::human_bytes(summary.bytes),
        ignore_file
    );
    Ok(context)
}

/// The build context's directory: `root`, or the ancestor of it that holds `root_in_context`.
fn context_dir(root: &Path, root_in_context: &str) -> PathBuf {
    if root_in_context.is_empty() {
        return root.to_path_buf();
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let depth = root_in_context.split('/').count();
    root.ancestors()
        .nth(depth)
        .map(Path::to_path_buf)
        .unwrap_or(root)
}

/// Runs `imggen build` for a loaded project.
pub fn run(loaded: &Loaded, args: &BuildOptions) -> Result<ExitCode> {
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    check_drift(loaded, args.allow_dirty)?;
    if choose_engine(loaded, args)? == Engine::Oci {
        return oci::run(loaded, args);
    }
    let dockerfile_text = read_dockerfile(&loaded.root)?;
    let mounts = docker::Mounts::of(&dockerfile_text);
    let job = prepare(loaded, args, &dockerfile_text)?;
    let attachables =
        session::Attachables::resolve(&args.secrets, &args.ssh, &|k| std::env::var(k).ok())?;
    check_mounts(&dockerfile_text, &attachables)?;
    let endpoint = endpoint::resolve(&endpoint::EndpointEnv::from_process())?;
    let github = ci::GitHub::from_process(&loaded.root);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let engine = runtime.block_on(docker::connect(&endpoint))?;
    docker::refuse_cache_mounts_on_podman(&engine.info, &dockerfile_text)?;
    let kind = docker::choose_builder(
        &engine.info,
        std::env::var("DOCKER_BUILDKIT").ok().as_deref(),
        mounts,
    )?;
    let ctx = &loaded.plan.image.context;
    let context = pack_context(
        &loaded.root,
        (&ctx.root_in_context, &ctx.dockerfile),
        &ctx.ignore_file,
    )?;
    let build_args = runtime.block_on(with_previous_build(loaded, args, &job, &dockerfile_text));
    let request = BuildRequest {
        context,
        dockerfile: ctx.dockerfile.clone(),
        tags: job.tags.clone(),
        build_args,
        labels: job.labels.clone(),
        target: args.target.clone(),
        platform: args.image_platform.clone(),
        no_cache: args.no_cache,
        network: args.network.clone(),
        cache_from: args.cache_from.clone(),
        cache_credentials: job.cache_credentials.clone(),
        attachables: (!attachables.is_empty()).then(|| std::sync::Arc::new(attachables)),
    };
    let mut view = progress_view(args.progress, github.is_some());
    eprintln!("{}", building_line(&request, kind, &engine.info, &endpoint));
    let pushed = runtime.block_on(dispatch(
        (&engine, kind),
        &request,
        &job,
        args,
        (&loaded.plan.image.arch, github.as_ref()),
        &mut view,
    ));
    let digest = match pushed {
        Ok(digest) => digest,
        Err(e) => {
            if let Some(github) = &github {
                annotate(github, &e, &view);
            }
            return failed(e, &view);
        }
    };
    if let (true, Some(digest)) = (args.write_digest, digest) {
        let changed = pin::write_digest(loaded, &digest)?;
        eprintln!("recorded {digest} as [image] digest in imggen.toml");
        for path in changed {
            eprintln!("  updated {path}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The project's Dockerfile.
fn read_dockerfile(root: &Path) -> Result<String> {
    let path = root.join(DOCKERFILE);
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read; run `imggen generate` to write it",
            path.display()
        )
    })
}

/// The job's build arguments, with the previous build's image beside the `--cache-from` images
/// when the Dockerfile takes one, the registry holds it and `--build-arg` does not name it; a
/// failed or unanswered lookup only warns (the build is the same, slower).
async fn with_previous_build(
    loaded: &Loaded,
    args: &BuildOptions,
    job: &Job,
    dockerfile: &str,
) -> BTreeMap<String, String> {
    let mut build_args = job.build_args.clone();
    if args.cache_from.is_empty()
        || !loaded.plan.image.arch.is_empty()
        || !previous::declared(dockerfile)
        || build_args.contains_key(previous::PREVIOUS_ARG)
    {
        return build_args;
    }
    let lookup = previous::find(&args.cache_from, &job.cache_credentials);
    let found = tokio::time::timeout(std::time::Duration::from_secs(30), lookup)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in 30 s")));
    match found {
        Ok(Some(r)) => {
            eprintln!("previous build: {r} (fills the empty target/ before the dependencies)");
            build_args.insert(previous::PREVIOUS_ARG.into(), r.to_string());
        }
        Ok(None) => {
            eprintln!("no previous build at {} (`--cache-to REF` pushes one as REF-target): local crates compile in full", previous::target_ref(&args.cache_from[0]));
        }
        Err(e) => {
            eprintln!("warning: cannot look up the previous build beside the --cache-from images ({e:#}); local crates compile in full");
        }
    }
    build_args
}

/// The engine `[build] engine` (`IMGGEN_ENGINE`, `--engine`) names. `auto` is `oci` when the
/// image needs nothing only Docker can do (apt packages) and either `--output`/`--arch` asks
/// for it or no engine answers; else `docker`.
fn choose_engine(loaded: &Loaded, args: &BuildOptions) -> Result<Engine> {
    let named = loaded
        .config
        .build
        .as_ref()
        .and_then(|b| b.engine.as_deref());
    let engine = named.and_then(Engine::parse).unwrap_or_default();
    let chosen = match engine {
        Engine::Auto => {
            let oci_can = loaded.plan.image.runtime_packages.is_empty();
            let oci_only = !args.outputs.is_empty();
            if oci_can && oci_only {
                Engine::Oci
            } else if oci_can && !engine_answers() {
                eprintln!("no Docker engine answers: building with --engine oci (auto)");
                Engine::Oci
            } else {
                Engine::Docker
            }
        }
        other => other,
    };
    if chosen == Engine::Docker && !args.outputs.is_empty() {
        bail!("--output needs the oci engine; add --engine oci (or set [build] engine = \"oci\" in imggen.toml)");
    }
    Ok(chosen)
}

/// True when the Docker engine of `DOCKER_HOST` / the docker context answers a ping.
fn engine_answers() -> bool {
    let Ok(endpoint) = endpoint::resolve(&endpoint::EndpointEnv::from_process()) else {
        return false;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    runtime.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            docker::connect(&endpoint),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    })
}

/// Refuses a build whose Dockerfile mounts a secret or an SSH agent that the command line does
/// not give: the step would fail after minutes of build, or fetch without credentials.
fn check_mounts(dockerfile: &str, given: &session::Attachables) -> Result<()> {
    for (id, ssh) in mounted(dockerfile) {
        if ssh && !given.ssh_ids().contains(&id.as_str()) {
            bail!("the Dockerfile mounts the SSH agent `{id}` (RUN --mount=type=ssh); pass --ssh {id} (the agent in $SSH_AUTH_SOCK) or --ssh {id}=/path/to/agent.sock");
        }
        if !ssh && !given.secret_ids().contains(&id.as_str()) {
            bail!("the Dockerfile mounts the secret `{id}` (RUN --mount=type=secret,id={id}); pass --secret id={id},src=PATH or --secret id={id},env=VAR");
        }
    }
    Ok(())
}

/// The secret and SSH mounts of a Dockerfile's RUN steps: (id, is SSH).
fn mounted(dockerfile: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for word in dockerfile.split_whitespace() {
        let Some(spec) = word.strip_prefix("--mount=") else {
            continue;
        };
        let fields: Vec<(&str, &str)> = spec
            .split(',')
            .map(|f| f.split_once('=').unwrap_or((f, "")))
            .collect();
        let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let optional = get("required") != Some("true") && get("type") == Some("secret");
        match get("type") {
            Some("ssh") => found.push((get("id").unwrap_or("default").to_string(), true)),
            Some("secret") if !optional => {
                if let Some(id) = get("id") {
                    found.push((id.to_string(), false));
                }
            }
            _ => {}
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Refuses generated files on disk that differ from what imggen generates, unless
/// `allow_dirty`, which only warns.
fn check_drift(loaded: &Loaded, allow_dirty: bool) -> Result<()> {
    let drift = output::check(&loaded.root, &loaded.files);
    if drift.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = drift.iter().map(|d| d.path.as_str()).collect();
    if !allow_dirty {
        for d in &drift {
            print!("{}", d.diff);
        }
        bail!(
            "{} differ{} from what imggen generates (diff above); run `imggen generate` with the same flags (such as --arch) and commit the result, or pass --allow-dirty to build what is on disk",
            names.join(", "),
            if names.len() == 1 { "s" } else { "" }
        );
    }
    eprintln!(
        "warning: building with {} as on disk, which differ from what imggen generates (--allow-dirty)",
        names.join(", ")
    );
    Ok(())
}

/// Names and stamps the image, reads `--cache-to`, and looks up every credential a push or a
/// `--cache-from` pull needs.
fn prepare(loaded: &Loaded, args: &BuildOptions, dockerfile_text: &str) -> Result<Job> {
    let git = meta::git_revision(&loaded.root);
    let tags = meta::image_refs(
        &args.tags,
        loaded.config.image.as_ref(),
        &loaded.plan.image.name,
        git.as_ref(),
    )?;
    let created = meta::created(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        chrono::Utc::now(),
    )?;
    let labels = meta::labels(&loaded.plan.image.labels, git.as_ref(), &created);
    let cache_to = cache_to(args.cache_to.as_deref(), &tags, args.push)?;
    let mut build_args = args.build_args.clone();
    if cache_to != CacheTo::Nothing {
        build_args.insert(INLINE_CACHE_ARG.into(), "1".into());
    }
    let cache_image = match &cache_to {
        CacheTo::Image(r) if !has_stage(dockerfile_text, CACHE_STAGE) => bail!(
            "--cache-to {r} pushes the {CACHE_STAGE} stage, and {} has no `FROM ... AS {CACHE_STAGE}`; run `imggen generate`, or pass --cache-to inline",
            loaded.root.join(DOCKERFILE).display()
        ),
        CacheTo::Image(r) => Some(r.clone()),
        _ => None,
    };
    let target_image = cache_image
        .as_ref()
        .filter(|_| {
            loaded.plan.image.arch.is_empty() && has_stage(dockerfile_text, previous::TARGET_STAGE)
        })
        .map(previous::target_ref);
    let config_dir = creds::docker_config_dir();
    let lookup = |r: &Reference| creds::lookup(r, creds::env_pair(), config_dir.as_deref());
    let mut credentials = Vec::new();
    if args.push {
        for r in &tags {
            credentials.push(lookup(r)?);
        }
    }
    let cache_image_credentials = match &cache_image {
        Some(r) => lookup(r)?,
        None => None,
    };
    let mut cache_credentials = Vec::new();
    for r in &args.cache_from {
        if let Some(found) = lookup(r)? {
            cache_credentials.push((r.clone(), found));
        }
    }
    let sbom = sbom_document(loaded, args)?;
    Ok(Job {
        tags,
        labels,
        build_args,
        cache_image,
        target_image,
        credentials,
        cache_image_credentials,
        cache_credentials,
        sbom,
    })
}

/// The SBOM to attach to each pushed image: none without `--push`, with `--no-sbom` or
/// `[build] sbom = false`, or (with a warning) without a Cargo.lock.
fn sbom_document(loaded: &Loaded, args: &BuildOptions) -> Result<Option<String>> {
    let wanted = args.push
        && args.sbom
        && loaded
            .config
            .build
            .as_ref()
            .and_then(|b| b.sbom)
            .unwrap_or(true);
    match (wanted, &loaded.model.lock_graph) {
        (true, Some(_)) => Ok(Some(attach::document(loaded)?)),
        (true, None) => {
            eprintln!("warning: no Cargo.lock, so the pushed image gets no SBOM; run `cargo generate-lockfile` and commit Cargo.lock");
            Ok(None)
        }
        (false, _) => Ok(None),
    }
}

/// The progress view: live on a terminal, plain in CI; keeping whole logs on GitHub Actions
/// (for annotations).
fn progress_view(flag: ProgressFlag, github: bool) -> Progress {
    let terminal = std::io::stderr().is_terminal();
    let mode = progress::choose_mode(
        flag,
        terminal,
        std::env::var("TERM").ok().as_deref(),
        ci::in_ci(std::env::var("CI").ok().as_deref()) || github,
    );
    let view = Progress::stderr(mode, terminal);
    if github {
        view.keep_logs()
    } else {
        view
    }
}

/// `building REF with BuildKit on Docker 24.0 (API 1.43, context ci)`.
fn building_line(
    request: &BuildRequest,
    kind: docker::BuilderKind,
    info: &docker::EngineInfo,
    endpoint: &endpoint::Endpoint,
) -> String {
    format!(
        "building {} with {} on {} {} (API {}{})",
        request.tags[0],
        match kind {
            docker::BuilderKind::BuildKit => "BuildKit",
            docker::BuilderKind::Classic => "the classic builder",
        },
        if info.podman { "Podman" } else { "Docker" },
        info.version,
        info.api_version,
        match &endpoint.context {
            Some(name) => format!(", context {name}"),
            None if endpoint.host != docker::DEFAULT_HOST => format!(", {}", endpoint.host),
            None => String::new(),
        }
    )
}

/// One build for the engine's platform, or one per architecture of `[build] arch`.
async fn dispatch(
    (engine, kind): (&docker::Engine, docker::BuilderKind),
    request: &BuildRequest,
    job: &Job,
    args: &BuildOptions,
    (arches, github): (&[String], Option<&ci::GitHub>),
    view: &mut Progress,
) -> Result<Option<Digest>> {
    if arches.is_empty() {
        build_and_push(engine, kind, request, job, args, github, view).await
    } else {
        multiarch::build_and_push(engine, kind, request, job, args, (arches, github), view).await
    }
}

/// Builds (the cache image first, when asked), pushes each tag and reports to GitHub; returns
/// the first pushed digest.
async fn build_and_push(
    engine: &docker::Engine,
    kind: docker::BuilderKind,
    request: &BuildRequest,
    job: &Job,
    args: &BuildOptions,
    github: Option<&ci::GitHub>,
    view: &mut Progress,
) -> Result<Option<Digest>> {
    let started = std::time::Instant::now();
    push_cache_image(engine, kind, request, job, args, view).await?;
    let built = engine.builder(kind).build(request, view).await;
    view.finish();
    let image = built?;
    let build_time = progress::seconds(started.elapsed());
    eprintln!("built {} in {build_time}", short_id(&image.id));
    let mut first = None;
    if args.push {
        let publisher = engine.publisher();
        for (r, found) in image.tags.iter().zip(&job.credentials) {
            eprintln!("pushing {r}");
            let digest = retry::push(
                &publisher,
                &image,
                r,
                found.as_ref(),
                &args.push_policy,
                &mut retry_warning,
            )
            .await?;
            eprintln!("pushed {r} ({digest})");
            if let Some(document) = &job.sbom {
                let artifact =
                    attach::attach(r, &digest, found.as_ref(), document, &args.push_policy).await?;
                eprintln!(
                    "attached the SBOM to {r} ({artifact}, tag {})",
                    crate::oci::registry::sbom_tag(&digest.0)?
                );
            }
            println!("{r}@{digest}");
            first.get_or_insert(digest);
        }
    } else {
        for r in &image.tags {
            println!("{r}");
        }
    }
    if let Some(github) = github {
        let size = engine.image_size(&image.id).await;
        report_to_github(github, &image, first.as_ref(), size, &build_time)?;
    }
    Ok(first)
}

/// With `--cache-to REF`, builds the [`CACHE_STAGE`] stage and pushes it to REF, then the
/// previous-build image beside it ([`previous`]) when the Dockerfile has its stage.
async fn push_cache_image(
    engine: &docker::Engine,
    kind: docker::BuilderKind,
    request: &BuildRequest,
    job: &Job,
    args: &BuildOptions,
    view: &mut Progress,
) -> Result<()> {
    let Some(cache_ref) = &job.cache_image else {
        return Ok(());
    };
    let stages = [(CACHE_STAGE, cache_ref, "cache image")];
    let target = job
        .target_image
        .as_ref()
        .map(|r| (previous::TARGET_STAGE, r, "previous-build image"));
    for (stage, reference, what) in stages.into_iter().chain(target) {
        eprintln!("building the {what} {reference} (stage {stage})");
        let built = engine
            .builder(kind)
            .build(&request.stage(stage, reference), view)
            .await;
        view.finish();
        let built = built?;
        eprintln!("pushing {reference}");
        let digest = retry::push(
            &engine.publisher(),
            &built,
            reference,
            job.cache_image_credentials.as_ref(),
            &args.push_policy,
            &mut retry_warning,
        )
        .await?;
        eprintln!("pushed the {what} {reference} ({digest})");
    }
    Ok(())
}

/// Tells that a push is tried again.
fn retry_warning(e: &anyhow::Error, pause: std::time::Duration) {
    eprintln!(
        "warning: {e:#}; trying again in {}",
        retry::show_duration(pause)
    );
}

/// True when the Dockerfile has a stage named `stage` (`FROM image AS stage`).
pub fn has_stage(dockerfile: &str, stage: &str) -> bool {
    dockerfile.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.len() >= 4
            && words[0].eq_ignore_ascii_case("FROM")
            && words[words.len() - 2].eq_ignore_ascii_case("AS")
            && words[words.len() - 1].eq_ignore_ascii_case(stage)
    })
}

/// Writes the step outputs (digest and image, when pushed) and the step summary.
fn report_to_github(
    github: &ci::GitHub,
    image: &BuiltImage,
    digest: Option<&Digest>,
    size: Option<u64>,
    build_time: &str,
) -> Result<()> {
    if let (Some(path), Some(digest)) = (&github.output, digest) {
        ci::append(path, "GITHUB_OUTPUT", &ci::outputs(&image.tags[0], digest))?;
    }
    if let Some(path) = &github.summary {
        let summary = ci::Summary {
            tags: &image.tags,
            digest,
            id: &image.id,
            size,
            build_time,
        };
        ci::append(path, "GITHUB_STEP_SUMMARY", &ci::summary(&summary))?;
    }
    Ok(())
}

/// Prints a failed build's rustc diagnostics as GitHub annotations (on stdout, where the
/// runner reads workflow commands).
fn annotate(github: &ci::GitHub, e: &anyhow::Error, view: &Progress) {
    if e.downcast_ref::<BuildFailed>().is_none() {
        return;
    }
    let Some(log) = view.failed_log() else {
        return;
    };
    for d in ci::diagnostics(log, &github.project_dir) {
        println!("{}", ci::annotation(&d));
    }
}

/// A build failure exits 1 after the failed step's tail; anything else propagates (exit 2).
fn failed(e: anyhow::Error, view: &Progress) -> Result<ExitCode> {
    let Some(failure) = e.downcast_ref::<BuildFailed>() else {
        return Err(e);
    };
    let step = view.failed_tail(FAILED_TAIL);
    if view.is_live() {
        if let Some((name, tail)) = &step {
            eprintln!("-- last lines of {}:", clip(name, 100));
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
    eprintln!(
        "error: {}",
        failure_sentence(
            step.as_ref().map(|(name, _)| name.as_str()),
            &failure.message
        )
    );
    Ok(ExitCode::from(1))
}

/// One line for a failed build: the step (clipped) and the exit code or the engine's message.
pub fn failure_sentence(step: Option<&str>, message: &str) -> String {
    let code = ["exit code: ", "returned a non-zero code: "]
        .iter()
        .find_map(|m| message.rsplit_once(m))
        .map(|(_, code)| format!("exit code {}", code.trim()));
    let why = code.unwrap_or_else(|| clip(message.lines().next().unwrap_or(message).trim(), 200));
    match step {
        Some(step) => format!(
            "the image build failed at `{}` ({why}); fix the error shown above and run `imggen build` again",
            clip(step, 80)
        ),
        None => format!("the image build failed ({why}); fix it and run `imggen build` again"),
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_parse_and_refuse_secrets() {
        let args = parse_build_args(&["A=1".into(), "B_2=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(args["A"], "1");
        assert_eq!(args["B_2"], "x=y");
        assert_eq!(args["C"], "");
        assert!(parse_build_args(&["A".into()])
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
        assert!(parse_build_args(&["A B=1".into()]).is_err());
        let err = parse_build_args(&["IMGGEN_REGISTRY_PASSWORD=x".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret") && !err.contains("=x"), "{err}");
    }

    #[test]
    fn build_failures_exit_1_and_other_errors_propagate() {
        let view = Progress::plain_to(Box::new(std::io::sink()));
        let code = failed(
            BuildFailed {
                message: "exit code: 101".into(),
            }
            .into(),
            &view,
        )
        .unwrap();
        assert_eq!(code, ExitCode::from(1));
        assert!(failed(anyhow::anyhow!("no engine"), &view).is_err());
        let long = format!("[builder 5/5] RUN {}", "x".repeat(200));
        let line = failure_sentence(
            Some(&long),
            "executor failed running [/bin/sh -c x]: exit code: 101",
        );
        assert!(
            line.contains("(exit code 101)") && line.contains("…`") && line.len() < 250,
            "{line}"
        );
        let line = failure_sentence(
            Some("[3/9] RUN cargo build"),
            "The command '/bin/sh -c cargo build' returned a non-zero code: 101",
        );
        assert!(
            line.contains("`[3/9] RUN cargo build` (exit code 101)"),
            "{line}"
        );
        let line = failure_sentence(None, "failed to solve: dockerfile parse error line 3\nmore");
        assert_eq!(line, "the image build failed (failed to solve: dockerfile parse error line 3); fix it and run `imggen build` again");
    }

    #[test]
    fn cache_to_is_inline_a_tag_of_the_image_or_a_pushed_cache_image() {
        let tags = vec![
            Reference::parse("127.0.0.1:5000/app:1").unwrap(),
            Reference::parse("127.0.0.1:5000/app:latest").unwrap(),
        ];
        assert_eq!(cache_to(None, &tags, true).unwrap(), CacheTo::Nothing);
        assert_eq!(
            cache_to(Some("inline"), &tags, false).unwrap(),
            CacheTo::Inline
        );
        assert_eq!(
            cache_to(Some("127.0.0.1:5000/app:latest"), &tags, true).unwrap(),
            CacheTo::Inline
        );
        let cache = Reference::parse("127.0.0.1:5000/app:buildcache").unwrap();
        assert_eq!(
            cache_to(Some("127.0.0.1:5000/app:buildcache"), &tags, true).unwrap(),
            CacheTo::Image(cache)
        );
        let err = cache_to(Some("127.0.0.1:5000/app:buildcache"), &tags, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--cache-to 127.0.0.1:5000/app:buildcache pushes a cache image of the builder stage, which needs --push"),
            "{err}"
        );
        let err = cache_to(Some("type=registry,ref=x"), &tags, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pass `inline` or an image reference"), "{err}");
        assert_eq!(
            cache_refs(&["127.0.0.1:5000/app:latest".into()]).unwrap()[0].to_string(),
            "127.0.0.1:5000/app:latest"
        );
        assert!(cache_refs(&["Upper:1".into()])
            .unwrap_err()
            .to_string()
            .starts_with("--cache-from Upper:1:"));
        assert!(has_stage(
            "FROM rust:1 AS chef\nFROM chef as builder\n",
            "builder"
        ));
        assert!(!has_stage(
            "FROM rust:1 AS builder2\n# FROM x AS builder\n",
            "builder"
        ));
    }

    #[test]
    fn debug_of_a_request_hides_build_arg_values() {
        let request = BuildRequest {
            context: vec![0; 10],
            dockerfile: DOCKERFILE.into(),
            tags: vec![],
            build_args: BTreeMap::from([("TOKEN".to_string(), "s3cret".to_string())]),
            labels: BTreeMap::new(),
            target: None,
            platform: None,
            no_cache: false,
            network: "host".into(),
            cache_from: vec![],
            cache_credentials: vec![(
                Reference::parse("127.0.0.1:5001/x:1").unwrap(),
                creds::Found {
                    credentials: creds::Credentials::UserPassword {
                        username: "ci".into(),
                        password: "s3cret".into(),
                    },
                    source: creds::Source::Env,
                },
            )],
            attachables: None,
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains("TOKEN")
                && !shown.contains("s3cret")
                && shown.contains("127.0.0.1:5001"),
            "{shown}"
        );
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
