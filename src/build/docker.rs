//! The Docker Engine API through bollard: connecting, the builder and the publisher.
//!
//! Works with Docker Engine 20.10 (API 1.41) and newer, and with Podman's Docker-compatible
//! socket: the API version is negotiated, and BuildKit is used when the engine offers it.

use super::creds::{Credentials, Found};
use super::endpoint::Endpoint;
use super::progress::{ClassicParser, Event, EventSink};
use super::retry::{is_transient, Transient};
use super::{BuildFailed, BuildRequest, Builder, BuiltImage, Digest, Publisher};
use crate::reference::Reference;
use anyhow::{anyhow, bail, Result};
use bollard::auth::DockerCredentials;
use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{
    BuildImageOptions, BuildImageOptionsBuilder, BuilderVersion, PushImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The engine's address when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The first API version whose engines run BuildKit builds with a session (Docker 18.09).
const BUILDKIT_MIN_API: (u32, u32) = (1, 39);
/// How long the first contact with the engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one API call (a whole build included) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// What the engine said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// The address connected to.
    pub host: String,
    /// The engine's version, e.g. `20.10.24`.
    pub version: String,
    /// The API version both sides speak, e.g. `1.41`.
    pub api_version: String,
    /// The engine is Podman's Docker-compatible service.
    pub podman: bool,
    /// The engine runs Linux containers.
    pub linux: bool,
}

/// Which of the engine's builders a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderKind {
    /// BuildKit through a session (`version=2`).
    BuildKit,
    /// The classic builder (`version=1`); Podman's builder takes this path too.
    Classic,
}

/// A connected engine.
pub struct Engine {
    docker: Docker,
    /// Connected without TLS (a Unix socket or plain TCP), where imggen can open its own session.
    plain: bool,
    /// What the engine said about itself.
    pub info: EngineInfo,
}

/// The one sentence shown when the engine does not answer at `host`.
pub fn not_running(host: &str) -> anyhow::Error {
    anyhow!("no container engine is answering at {host}; start Docker (or Podman's API socket), or set DOCKER_HOST to the address of a running engine")
}

/// The innermost cause of an error (for a TLS failure, the alert or certificate problem).
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Connects to the engine at `endpoint` (over TLS when it has certificates) and negotiates the
/// API version.
pub async fn connect(endpoint: &Endpoint) -> Result<Engine> {
    let host = endpoint.host.as_str();
    let connected = match &endpoint.tls {
        None => Docker::connect_with_host(host),
        Some(tls) => Docker::connect_with_ssl(
            host,
            &tls.key(),
            &tls.cert(),
            &tls.ca(),
            CONNECT_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        ),
    };
    let docker = match connected {
        Ok(docker) => docker.with_timeout(REQUEST_TIMEOUT),
        Err(bollard::errors::Error::SocketNotFoundError(_)) => return Err(not_running(host)),
        Err(
            bollard::errors::Error::CertPathError { path }
            | bollard::errors::Error::CertParseError { path }
            | bollard::errors::Error::CertMultipleKeys { path, .. },
        ) => bail!(
            "{}: not a readable PEM certificate or key; put the engine's ca.pem and the client's cert.pem and key.pem there",
            path.display()
        ),
        Err(_) => bail!(
            "DOCKER_HOST={host} is not an engine address; use unix:///path/to/docker.sock or tcp://HOST:PORT"
        ),
    };
    let refused = |e: bollard::errors::Error| {
        match &endpoint.tls {
        Some(_) if innermost(&e).contains("Connection refused") => not_running(host),
        Some(tls) => anyhow!(
            "the engine at {host} refused the TLS connection with the certificates in {} ({}); check that ca.pem signed the engine's certificate for this address and that the engine trusts cert.pem",
            tls.dir.display(),
            innermost(&e)
        ),
        None => not_running(host),
    }
    };
    let docker = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| not_running(host))?
        .map_err(refused)?;
    let version = tokio::time::timeout(CONNECT_TIMEOUT, docker.version())
        .await
        .map_err(|_| not_running(host))?
        .map_err(refused)?;
    let podman = version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
    let info = EngineInfo {
        host: host.to_string(),
        version: version.version.unwrap_or_else(|| "unknown".into()),
        api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
        podman,
        linux: version
            .os
            .as_deref()
            .is_none_or(|os| os.eq_ignore_ascii_case("linux")),
    };
    Ok(Engine {
        docker,
        info,
        plain: endpoint.tls.is_none(),
    })
}

fn api_at_least(api: &str, min: (u32, u32)) -> bool {
    let mut parts = api.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= min,
        _ => false,
    }
}

/// What a Dockerfile's `RUN --mount` options are for: each makes BuildKit required on Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounts {
    None,
    /// Cache mounts only (imggen's default Dockerfile): `cache_mounts = false` drops them.
    Cache,
    /// Build secrets or the SSH agent (`secrets`, `ssh`), with or without cache mounts.
    Credentials,
}

impl Mounts {
    /// The mounts a Dockerfile's text uses.
    pub fn of(dockerfile: &str) -> Mounts {
        if dockerfile.contains("--mount=type=secret") || dockerfile.contains("--mount=type=ssh") {
            Mounts::Credentials
        } else if dockerfile.contains("--mount=") {
            Mounts::Cache
        } else {
            Mounts::None
        }
    }
}

/// Cache mounts are built with BuildKit only: Podman 4.3's builder hung on the default
/// Dockerfile's in imggen's tests, so a Podman engine gets a sentence naming the setting instead.
pub fn refuse_cache_mounts_on_podman(info: &EngineInfo, dockerfile: &str) -> Result<()> {
    if info.podman && dockerfile.contains("--mount=type=cache") {
        bail!("the Dockerfile uses cache mounts (RUN --mount=type=cache, imggen's default), which imggen builds with BuildKit only, and the engine at {} is Podman; set cache_mounts = false in imggen.toml and run `imggen generate`", info.host);
    }
    Ok(())
}

/// Picks the builder: `DOCKER_BUILDKIT=0|1` decides when set, else BuildKit where the engine
/// offers it. `RUN --mount` options make BuildKit required on Docker; Podman's builder handles
/// mounts on the classic path.
pub fn choose_builder(
    info: &EngineInfo,
    docker_buildkit: Option<&str>,
    mounts: Mounts,
) -> Result<BuilderKind> {
    let offered = !info.podman && info.linux && api_at_least(&info.api_version, BUILDKIT_MIN_API);
    let wanted = match docker_buildkit.map(str::trim) {
        Some("0" | "false") => Some(false),
        Some("1" | "true") => Some(true),
        Some("") | None => None,
        Some(other) => bail!("DOCKER_BUILDKIT={other} is not 0 or 1; set it to 1 (BuildKit), 0 (classic builder), or unset it"),
    };
    let kind = match wanted {
        Some(true) if !offered => bail!(
            "DOCKER_BUILDKIT=1 but the engine at {} ({} {}, API {}) offers no BuildKit builds; unset DOCKER_BUILDKIT or use Docker 18.09 or newer",
            info.host,
            if info.podman { "Podman" } else { "Docker" },
            info.version,
            info.api_version
        ),
        Some(true) => BuilderKind::BuildKit,
        Some(false) => BuilderKind::Classic,
        None if offered => BuilderKind::BuildKit,
        None => BuilderKind::Classic,
    };
    if mounts != Mounts::None && kind == BuilderKind::Classic && !info.podman {
        let engine = format!(
            "the engine at {} (Docker {}, API {}) {}",
            info.host,
            info.version,
            info.api_version,
            if wanted == Some(false) {
                "is told DOCKER_BUILDKIT=0 (unset it)"
            } else {
                "does not offer it"
            }
        );
        if mounts == Mounts::Cache {
            bail!("the Dockerfile uses BuildKit cache mounts (RUN --mount=type=cache, imggen's default) and {engine}; set cache_mounts = false in imggen.toml and run `imggen generate` for a Dockerfile the classic builder builds, or use Docker 18.09 or newer");
        }
        bail!("the Dockerfile mounts build secrets or the SSH agent (RUN --mount, from secrets or ssh in imggen.toml), which needs BuildKit, and {engine}; use Docker 18.09 or newer");
    }
    Ok(kind)
}

impl Engine {
    /// The builder for this engine.
    pub fn builder(&self, kind: BuilderKind) -> BollardBuilder<'_> {
        BollardBuilder { engine: self, kind }
    }

    /// The publisher for this engine.
    pub fn publisher(&self) -> BollardPublisher<'_> {
        BollardPublisher { engine: self }
    }

    /// The image as `docker save` writes it (a tar of its config, layers and manifest.json).
    pub async fn export_image(&self, image: &str) -> Result<Vec<u8>> {
        use futures_util::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = self
            .docker
            .export_image(image)
            .try_collect()
            .await
            .map_err(|e| anyhow!("exporting the image {image} from the engine failed ({e}); check that the engine is running"))?;
        Ok(chunks.concat())
    }

    /// The size in bytes of a local image, if the engine tells it.
    pub async fn image_size(&self, image: &str) -> Option<u64> {
        let inspect = self.docker.inspect_image(image).await.ok()?;
        inspect.size.and_then(|s| u64::try_from(s).ok())
    }
}

/// Builds through `POST /build`.
pub struct BollardBuilder<'a> {
    engine: &'a Engine,
    kind: BuilderKind,
}

/// A BuildKit session id unique to this process and moment.
fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("imggen-{}-{nanos:x}", std::process::id())
}

/// Maps BuildKit vertex updates onto step events.
#[derive(Default)]
struct VertexTracker {
    started: HashSet<String>,
    ended: HashSet<String>,
    failed: bool,
}

impl VertexTracker {
    fn update(
        &mut self,
        status: bollard::moby::buildkit::v1::StatusResponse,
        sink: &mut dyn EventSink,
    ) {
        for v in status.vertexes {
            let begun = v.started.is_some() || v.completed.is_some() || v.cached;
            if begun && self.started.insert(v.digest.clone()) {
                sink.event(Event::Started {
                    id: v.digest.clone(),
                    name: v.name.clone(),
                });
            }
            if self.ended.contains(&v.digest) {
                continue;
            }
            if !v.error.is_empty() {
                self.ended.insert(v.digest.clone());
                self.failed = true;
                sink.event(Event::Failed {
                    id: v.digest,
                    error: v.error,
                });
            } else if v.completed.is_some() {
                self.ended.insert(v.digest.clone());
                sink.event(Event::Finished {
                    id: v.digest,
                    cached: v.cached,
                });
            }
        }
        for log in status.logs {
            sink.event(Event::Output {
                id: log.vertex,
                text: String::from_utf8_lossy(&log.msg).into_owned(),
            });
        }
    }
}

impl Builder for BollardBuilder<'_> {
    async fn build(
        &self,
        request: &BuildRequest,
        events: &mut dyn EventSink,
    ) -> Result<BuiltImage> {
        let Some(first) = request.tags.first() else {
            bail!("no tag to build; pass --tag or set [image] name in imggen.toml");
        };
        let (first_name, session) = (first.to_string(), session_id());
        let _attached = self.attach(request, &session).await?;
        let options = build_options(request, self.kind, &first_name, &session);
        let body = bollard::body_full(bytes::Bytes::from(request.context.clone()));
        let mut stream =
            self.engine
                .docker
                .build_image(options, cache_credentials(request), Some(body));
        let mut classic = ClassicParser::default();
        let mut vertices = VertexTracker::default();
        let mut image_id: Option<String> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(BuildInfo {
                    aux: Some(BuildInfoAux::BuildKit(status)),
                    ..
                }) => vertices.update(status, events),
                Ok(BuildInfo {
                    aux: Some(BuildInfoAux::Default(id)),
                    ..
                }) => {
                    if let Some(id) = id.id {
                        image_id = Some(id);
                    }
                }
                Ok(BuildInfo {
                    stream: Some(text), ..
                }) => {
                    for e in classic.feed(&text) {
                        events.event(e);
                    }
                }
                Ok(_) => {}
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    if self.kind == BuilderKind::Classic {
                        for e in classic.fail(&error) {
                            events.event(e);
                        }
                    } else if !vertices.failed {
                        events.event(Event::Started {
                            id: "engine".into(),
                            name: "[engine] build".into(),
                        });
                        events.event(Event::Failed {
                            id: "engine".into(),
                            error: error.clone(),
                        });
                    }
                    return Err(BuildFailed {
                        message: error.trim().to_string(),
                    }
                    .into());
                }
                Err(e) => return Err(engine_error(&self.engine.info.host, "the build", e)),
            }
        }
        for e in classic.finish() {
            events.event(e);
        }
        let id = match image_id {
            Some(id) => id,
            None => self
                .engine
                .docker
                .inspect_image(&first_name)
                .await
                .map_err(|e| engine_error(&self.engine.info.host, "inspecting the built image", e))?
                .id
                .ok_or_else(|| anyhow!("the engine built {first_name} but reports no image id; run `docker image inspect {first_name}`"))?,
        };
        self.tag_others(&id, request).await?;
        Ok(BuiltImage {
            id,
            tags: request.tags.clone(),
        })
    }
}

/// The engine's build options for `request`, tagged `first_name`.
fn build_options(
    request: &BuildRequest,
    kind: BuilderKind,
    first_name: &str,
    session: &str,
) -> BuildImageOptions {
    let build_args: HashMap<String, String> = request.build_args.clone().into_iter().collect();
    let labels: HashMap<String, String> = request.labels.clone().into_iter().collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(&request.dockerfile)
        .t(first_name)
        .buildargs(&build_args)
        .labels(&labels)
        .networkmode(&request.network)
        .nocache(request.no_cache)
        .rm(true)
        .forcerm(true);
    if let Some(target) = &request.target {
        options = options.target(target);
    }
    if let Some(platform) = &request.platform {
        options = options.platform(platform);
    }
    let cache_from: Vec<String> = request.cache_from.iter().map(|r| r.to_string()).collect();
    if !cache_from.is_empty() {
        options = options.cachefrom(&cache_from);
    }
    options = match kind {
        BuilderKind::BuildKit => options
            .version(BuilderVersion::BuilderBuildKit)
            .session(session),
        BuilderKind::Classic => options.version(BuilderVersion::BuilderV1),
    };
    options.build()
}

impl BollardBuilder<'_> {
    /// Opens imggen's own session `session` when the request has secrets or SSH agents.
    async fn attach(
        &self,
        request: &BuildRequest,
        session: &str,
    ) -> Result<Option<super::session::Session>> {
        let Some(a) = request.attachables.as_ref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        if self.kind != BuilderKind::BuildKit || !self.engine.plain {
            bail!("--secret and --ssh need BuildKit on an engine reached over a Unix socket or plain tcp://, and {} is not; build there or drop --secret/--ssh", self.engine.info.host);
        }
        let credentials = cache_credentials(request)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, c)| {
                let pair = match c.identitytoken {
                    Some(token) => (String::new(), token),
                    None => (
                        c.username.unwrap_or_default(),
                        c.password.unwrap_or_default(),
                    ),
                };
                (key, pair)
            })
            .collect();
        let opened =
            super::session::open(&self.engine.info.host, session, a.clone(), credentials).await?;
        Ok(Some(opened))
    }

    /// Adds the request's other tags to the built image `id`.
    async fn tag_others(&self, id: &str, request: &BuildRequest) -> Result<()> {
        for r in &request.tags[1..] {
            let options = TagImageOptionsBuilder::default()
                .repo(&r.familiar_name())
                .tag(r.tag.as_deref().unwrap_or("latest"))
                .build();
            self.engine
                .docker
                .tag_image(id, Some(options))
                .await
                .map_err(|e| engine_error(&self.engine.info.host, &format!("tagging {r}"), e))?;
        }
        Ok(())
    }
}

/// Registry credentials for pulling the `--cache-from` images, keyed as Docker's config.json
/// keys them (what BuildKit's session and the classic builder's registry header look up).
fn cache_credentials(request: &BuildRequest) -> Option<HashMap<String, DockerCredentials>> {
    if request.cache_credentials.is_empty() {
        return None;
    }
    Some(
        request
            .cache_credentials
            .iter()
            .map(|(r, found)| (r.auth_key().to_string(), docker_credentials(r, found)))
            .collect(),
    )
}

/// Credentials in the form the engine API takes them.
fn docker_credentials(reference: &Reference, found: &Found) -> DockerCredentials {
    match &found.credentials {
        Credentials::UserPassword { username, password } => DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.clone()),
            serveraddress: Some(reference.auth_key().to_string()),
            ..DockerCredentials::default()
        },
        Credentials::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token.clone()),
            serveraddress: Some(reference.auth_key().to_string()),
            ..DockerCredentials::default()
        },
    }
}

/// An engine error outside a build step, as one sentence.
fn engine_error(host: &str, during: &str, e: bollard::errors::Error) -> anyhow::Error {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError { status_code, message } => {
            anyhow!("the engine at {host} refused {during} (HTTP {status_code}: {}); fix what it names and retry", message.trim())
        }
        E::RequestTimeoutError => anyhow!("the engine at {host} did not answer {during} in time; check it with `docker info` and retry"),
        _ => anyhow!("the connection to the engine at {host} broke during {during}; check that it is still running and retry"),
    }
}

/// Pushes through `POST /images/{name}/push`.
pub struct BollardPublisher<'a> {
    engine: &'a Engine,
}

/// The digest in a push status line such as `1a2b: digest: sha256:... size: 1234`.
pub fn digest_in_status(status: &str) -> Option<Digest> {
    let rest = status.split("digest: ").nth(1)?;
    let digest = rest.split_whitespace().next()?;
    digest
        .starts_with("sha256:")
        .then(|| Digest(digest.to_string()))
}

/// One sentence for a registry's refusal of a push of `reference`.
pub fn push_error(
    reference: &Reference,
    credentials: Option<&Found>,
    error: &str,
) -> anyhow::Error {
    let registry = &reference.registry;
    let lower = error.to_ascii_lowercase();
    let login = format!(
        "run `docker login {registry}` or set IMGGEN_REGISTRY_USERNAME and IMGGEN_REGISTRY_PASSWORD"
    );
    if [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "denied",
        "incorrect username or password",
        "401",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        return match credentials {
            None => anyhow!("{registry} requires credentials to push {reference} and none were found; {login}"),
            Some(found) => anyhow!(
                "{registry} refused the credentials from {} for pushing {reference}; check the user name and password, or {login}",
                found.source
            ),
        };
    }
    if [
        "connection refused",
        "no such host",
        "dial tcp",
        "i/o timeout",
        "server gave http response",
        "network is unreachable",
        "no route to host",
        "tls:",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        let first = error.lines().next().unwrap_or(error).trim();
        return anyhow!("the registry {registry} is unreachable for pushing {reference} ({first}); check the address in the tag and that the registry is running");
    }
    anyhow!(
        "pushing {reference} failed: {}; fix what the registry names and retry",
        error.trim()
    )
}

/// [`push_error`], marked [`Transient`] when the registry was busy or the connection broke.
fn registry_error(
    reference: &Reference,
    credentials: Option<&Found>,
    error: &str,
) -> anyhow::Error {
    let e = push_error(reference, credentials, error);
    if is_transient(error) {
        Transient(e).into()
    } else {
        e
    }
}

impl Publisher for BollardPublisher<'_> {
    async fn push(
        &self,
        image: &BuiltImage,
        reference: &Reference,
        credentials: Option<&Found>,
    ) -> Result<Digest> {
        if !image.tags.contains(reference) {
            bail!(
                "{reference} is not a tag of the built image {}; add it with --tag",
                image.id
            );
        }
        let options = PushImageOptionsBuilder::default()
            .tag(reference.tag.as_deref().unwrap_or("latest"))
            .build();
        let docker_credentials = credentials.map(|f| docker_credentials(reference, f));
        let mut stream = self.engine.docker.push_image(
            &reference.familiar_name(),
            Some(options),
            docker_credentials,
        );
        let mut digest = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(d) = info.status.as_deref().and_then(digest_in_status) {
                        digest = Some(d);
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(registry_error(reference, credentials, &error))
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(registry_error(reference, credentials, &message))
                }
                Err(e) => {
                    return Err(engine_error(
                        &self.engine.info.host,
                        &format!("the push of {reference}"),
                        e,
                    ))
                }
            }
        }
        digest.ok_or_else(|| anyhow!("the engine pushed {reference} but reported no digest; check the registry with `docker manifest inspect {reference}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::creds::Source;

    fn info(version: &str, api: &str, podman: bool) -> EngineInfo {
        EngineInfo {
            host: DEFAULT_HOST.into(),
            version: version.into(),
            api_version: api.into(),
            podman,
            linux: true,
        }
    }

    fn plain(host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            tls: None,
            context: None,
        }
    }

    #[tokio::test]
    async fn an_engine_that_is_not_running_is_one_sentence() {
        for host in ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"] {
            let err = connect(&plain(host)).await.err().expect("no engine there");
            let text = format!("{err:#}");
            assert_eq!(text, not_running(host).to_string());
            assert!(
                !text.contains('\n') && text.contains(host) && text.contains("DOCKER_HOST"),
                "{text}"
            );
        }
        let err = connect(&plain("ftp://x")).await.err().expect("bad scheme");
        assert!(err.to_string().contains("DOCKER_HOST=ftp://x"), "{err}");
    }

    #[test]
    fn mounts_of_a_dockerfile() {
        assert_eq!(Mounts::of("RUN cargo build\n"), Mounts::None);
        assert_eq!(
            Mounts::of("RUN --mount=type=cache,id=x,target=/t \\\n    cargo build\n"),
            Mounts::Cache
        );
        assert_eq!(
            Mounts::of("RUN --mount=type=cache,id=x,target=/t \\\n    --mount=type=secret,id=s,required=true \\\n    cargo build\n"),
            Mounts::Credentials
        );
        assert_eq!(
            Mounts::of("RUN --mount=type=ssh,required=true cargo build\n"),
            Mounts::Credentials
        );
    }

    #[test]
    fn builder_choice() {
        let docker20 = info("20.10.24", "1.41", false);
        assert_eq!(
            choose_builder(&docker20, None, Mounts::None).unwrap(),
            BuilderKind::BuildKit
        );
        assert_eq!(
            choose_builder(&docker20, Some("0"), Mounts::None).unwrap(),
            BuilderKind::Classic
        );
        let err = choose_builder(&docker20, Some("0"), Mounts::Cache)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BuildKit")
                && err.contains("DOCKER_BUILDKIT=0")
                && err.contains("cache_mounts = false"),
            "{err}"
        );
        let old = info("18.06", "1.38", false);
        assert_eq!(
            choose_builder(&old, None, Mounts::None).unwrap(),
            BuilderKind::Classic
        );
        let err = choose_builder(&old, None, Mounts::Cache)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("set cache_mounts = false in imggen.toml") && !err.contains('\n'),
            "{err}"
        );
        let err = choose_builder(&old, None, Mounts::Credentials)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secrets or ssh") && !err.contains("cache_mounts"),
            "{err}"
        );
        assert!(choose_builder(&old, Some("1"), Mounts::None).is_err());
        let podman = info("4.9.3", "1.41", true);
        assert_eq!(
            choose_builder(&podman, None, Mounts::Cache).unwrap(),
            BuilderKind::Classic
        );
        assert!(choose_builder(&docker20, Some("maybe"), Mounts::None)
            .unwrap_err()
            .to_string()
            .contains("DOCKER_BUILDKIT=maybe"));
        assert!(
            api_at_least("1.41", (1, 39))
                && !api_at_least("1.9", (1, 39))
                && !api_at_least("x", (1, 0))
        );
    }

    #[test]
    fn push_digest_and_errors() {
        assert_eq!(
            digest_in_status(&format!(
                "abc1234: digest: sha256:{} size: 1570",
                "a".repeat(64)
            )),
            Some(Digest(format!("sha256:{}", "a".repeat(64))))
        );
        assert_eq!(digest_in_status("Pushed"), None);
        let r = Reference::parse("127.0.0.1:5001/app:1").unwrap();
        let e = push_error(&r, None, "no basic auth credentials").to_string();
        assert!(
            e.contains("none were found") && e.contains("docker login 127.0.0.1:5001"),
            "{e}"
        );
        let found = Found {
            credentials: Credentials::UserPassword {
                username: "ci".into(),
                password: "wrong-pass".into(),
            },
            source: Source::Env,
        };
        let e = push_error(&r, Some(&found), "unauthorized: authentication required").to_string();
        assert!(
            e.contains("refused the credentials from IMGGEN_REGISTRY_USERNAME")
                && !e.contains("wrong-pass"),
            "{e}"
        );
        let e = push_error(&r, None, "Get \"http://127.0.0.1:5001/v2/\": dial tcp 127.0.0.1:5001: connect: connection refused").to_string();
        assert!(e.contains("unreachable"), "{e}");
        let busy = registry_error(
            &r,
            None,
            "received unexpected HTTP status: 503 Service Unavailable",
        );
        assert!(busy.downcast_ref::<Transient>().is_some(), "{busy}");
        let refused = registry_error(&r, None, "unauthorized: authentication required");
        assert!(refused.downcast_ref::<Transient>().is_none(), "{refused}");
    }
}
