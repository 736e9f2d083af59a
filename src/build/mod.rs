//! `imggen build`: builds the image through the Docker Engine API (bollard), and pushes it with
//! `--push`. Async (tokio) lives in this module only; the rest of imggen is synchronous.
//!
//! Steps: refuse drifted generated files (unless `--allow-dirty`); name the image (tags) and
//! stamp it (labels); look up push credentials; pack the context (filtered by .dockerignore)
//! and print its size; connect to the engine (`DOCKER_HOST`, API version negotiated); build with
//! BuildKit where offered, else the classic builder; tag; push each tag and print its digest;
//! with `--write-digest`, record the digest in imggen.toml.
//!
//! Exit codes: 0 built (and pushed); 1 the build failed (the failing step's output is shown);
//! 2 anything else: drifted files, engine not running, credentials refused, registry
//! unreachable, invalid tag.
//!
//! The engine sits behind two small traits, [`Builder`] and [`Publisher`], implemented over
//! bollard in [`docker`].

pub mod creds;
pub mod docker;
pub mod meta;
pub mod pin;
pub mod progress;

use crate::output;
use crate::pipeline::Loaded;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use progress::{clip, EventSink, Progress, ProgressFlag};
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;

/// The Dockerfile imggen generates and builds.
pub const DOCKERFILE: &str = "Dockerfile";
/// Lines of a failed step's output shown again after the live view.
const FAILED_TAIL: usize = 30;

/// What `imggen build` was asked to do, beyond the project (clap-free: the command line fills
/// it in).
#[derive(Debug, Clone, Default)]
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
    /// Network for RUN steps: default, host or none.
    pub network: String,
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
            .finish()
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

/// Runs `imggen build` for a loaded project.
pub fn run(loaded: &Loaded, args: &BuildOptions) -> Result<ExitCode> {
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let drift = output::check(&loaded.root, &loaded.files);
    if !drift.is_empty() {
        let names: Vec<&str> = drift.iter().map(|d| d.path.as_str()).collect();
        if !args.allow_dirty {
            for d in &drift {
                print!("{}", d.diff);
            }
            bail!(
                "{} differ{} from what imggen generates (diff above); run `imggen generate` and commit the result, or pass --allow-dirty to build what is on disk",
                names.join(", "),
                if names.len() == 1 { "s" } else { "" }
            );
        }
        eprintln!(
            "warning: building with {} as on disk, which differ from what imggen generates (--allow-dirty)",
            names.join(", ")
        );
    }
    let dockerfile_text =
        std::fs::read_to_string(loaded.root.join(DOCKERFILE)).with_context(|| {
            format!(
                "{}: cannot read; run `imggen generate` to write it",
                loaded.root.join(DOCKERFILE).display()
            )
        })?;
    let needs_mounts = loaded.plan.image.cache_mounts || dockerfile_text.contains("--mount=");

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

    let mut credentials: Vec<Option<creds::Found>> = Vec::new();
    if args.push {
        let config_dir = creds::docker_config_dir();
        for r in &tags {
            credentials.push(creds::lookup(r, creds::env_pair(), config_dir.as_deref())?);
        }
    }

    let host = docker::engine_host(std::env::var("DOCKER_HOST").ok().as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let engine = runtime.block_on(docker::connect(&host))?;
    let kind = docker::choose_builder(
        &engine.info,
        std::env::var("DOCKER_BUILDKIT").ok().as_deref(),
        needs_mounts,
    )?;
    let (context, summary) = crate::context::build_context(&loaded.root, DOCKERFILE)?;
    eprintln!(
        "context: {} files, {} (after .dockerignore)",
        summary.files,
        progress::human_bytes(summary.bytes)
    );
    let request = BuildRequest {
        context,
        dockerfile: DOCKERFILE.into(),
        tags,
        build_args: args.build_args.clone(),
        labels,
        target: args.target.clone(),
        platform: args.image_platform.clone(),
        no_cache: args.no_cache,
        network: args.network.clone(),
    };
    let terminal = std::io::stderr().is_terminal();
    let mode = progress::choose_mode(
        args.progress,
        terminal,
        std::env::var("TERM").ok().as_deref(),
    );
    let mut view = Progress::stderr(mode, terminal);
    let pushed = runtime.block_on(async {
        eprintln!(
            "building {} with {} on {} {} (API {})",
            request.tags[0],
            match kind {
                docker::BuilderKind::BuildKit => "BuildKit",
                docker::BuilderKind::Classic => "the classic builder",
            },
            if engine.info.podman {
                "Podman"
            } else {
                "Docker"
            },
            engine.info.version,
            engine.info.api_version
        );
        let started = std::time::Instant::now();
        let built = engine.builder(kind).build(&request, &mut view).await;
        view.finish();
        let image = match built {
            Ok(image) => image,
            Err(e) => return Err(e),
        };
        eprintln!(
            "built {} in {}",
            short_id(&image.id),
            progress::seconds(started.elapsed())
        );
        if !args.push {
            for r in &image.tags {
                println!("{r}");
            }
            return Ok::<_, anyhow::Error>(None);
        }
        let publisher = engine.publisher();
        let mut first = None;
        for (r, found) in image.tags.iter().zip(&credentials) {
            eprintln!("pushing {r}");
            let digest = publisher.push(&image, r, found.as_ref()).await?;
            eprintln!("pushed {r} ({digest})");
            println!("{r}@{digest}");
            first.get_or_insert(digest);
        }
        Ok(first)
    });
    let digest = match pushed {
        Ok(digest) => digest,
        Err(e) => return failed(e, &view),
    };
    if args.write_digest {
        if let Some(digest) = digest {
            let changed = pin::write_digest(loaded, &digest)?;
            eprintln!("recorded {digest} as [image] digest in imggen.toml");
            for path in changed {
                eprintln!("  updated {path}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains("TOKEN") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
