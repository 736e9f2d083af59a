//! A client for the distribution API (the registry protocol Docker Hub, GHCR, Artifact Registry
//! and `registry:2` speak): push an OCI image layout directory, pull an image into a
//! content-addressed cache, and attach and find an SBOM artifact.
//!
//! Push skips blobs the registry has (`HEAD`), mounts blobs from another repository of the same
//! registry when asked (`POST ...?mount=&from=`), uploads small blobs in one `PUT` and big ones
//! in `PATCH` chunks, and puts child manifests before the index that names them. Auth answers
//! the registry's challenge: Basic, or a Bearer token from the `realm` it names (with the user's
//! credentials, or anonymously). Registries on loopback are reached over plain HTTP, as Docker
//! does; everything else over HTTPS (rustls, the system's roots).

use super::layer::sha256;
use crate::reference::{Reference, DOCKER_HUB};
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest (schema 2), what `docker push` writes.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The empty config of an artifact, and its content `{}`.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// The artifact type and layer media type of an SPDX JSON document.
pub const SPDX_JSON: &str = "application/spdx+json";
/// Annotation naming a layer's file.
const TITLE: &str = "org.opencontainers.image.title";
/// Annotation naming the tag of a manifest in an image layout's index.json.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a manifest or an index says about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type of a manifest (in referrers lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor of `data` with `media_type`.
    pub fn of(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256(data),
            size: data.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8` for arm64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The parts of a manifest or index this client reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The hex part of a `sha256:` digest, checked.
fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(hex),
        _ => bail!("digest `{digest}` is not a sha256 digest; only sha256:<64 hex> is supported"),
    }
}

/// A blob's content: in memory, or in a layout directory (read only when it must be uploaded).
#[derive(Clone, Copy)]
enum Blob<'a> {
    Bytes(&'a [u8]),
    In(&'a Path),
}

/// What a cross-repository mount request gave.
enum Mount {
    /// The registry linked the blob: nothing to upload.
    Mounted,
    /// The registry declined and started an upload at this URL instead.
    Started(String),
    /// No repository to mount from.
    No,
}

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No credentials: pull public images, push to open registries.
    #[default]
    Anonymous,
    /// A user name and a password (or an access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth refresh token from `docker login` (exchanged at the token realm).
    IdentityToken(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Knobs of a client: retries and upload sizes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pauses between attempts of a request refused with 429/5xx or cut off.
    pub pauses: Vec<Duration>,
    /// Blobs up to this size go in one `PUT`; bigger ones in chunks.
    pub monolithic_max: u64,
    /// The size of one `PATCH` chunk.
    pub chunk_size: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            pauses: [1, 2, 4].map(Duration::from_secs).to_vec(),
            monolithic_max: 32 << 20,
            chunk_size: 16 << 20,
        }
    }
}

/// What a push did, blob by blob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The digest of the manifest or index the reference now names.
    pub digest: String,
    /// Blobs uploaded (in one PUT or in chunks).
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub skipped: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Manifests and indexes put.
    pub manifests: usize,
}

/// An image pulled into a local cache: its manifest, config and layers, each a blob under
/// `dir/blobs/sha256/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The cache directory (an OCI layout's blob store).
    pub dir: PathBuf,
    /// The platform manifest's descriptor.
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers' descriptors, bottom first.
    pub layers: Vec<Descriptor>,
}

impl Pulled {
    /// The path of a blob of this image in the cache.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        blob_path(&self.dir, digest)
    }
}

/// The path of a blob in an OCI layout or cache directory.
pub fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    Ok(dir.join("blobs/sha256").join(digest_hex(digest)?))
}

/// An SBOM found for an image, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSbom {
    /// The artifact manifest's digest.
    pub manifest: String,
    /// `referrers` (the registry's referrers API) or `tag` (the `sha256-<hex>.sbom` tag).
    pub via: &'static str,
    /// The SBOM document.
    pub document: Vec<u8>,
}

/// A client for one registry.
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port` or `https://host`.
    base: String,
    /// The registry as references name it.
    registry: String,
    auth: Auth,
    options: Options,
    /// Bearer tokens by scope set; the Basic header when the registry asked for Basic.
    tokens: Mutex<HashMap<String, String>>,
    basic: Mutex<bool>,
    /// Every request sent: `METHOD path`, for reports and tests.
    log: Mutex<Vec<String>>,
}

/// True for registries Docker reaches over plain HTTP: `localhost` and loopback addresses.
pub fn is_insecure(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host that serves a registry's API: Docker Hub's is `registry-1.docker.io`.
fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// One request: method, path (under the base) or absolute URL, headers, body, scopes.
struct Req<'a> {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Bytes>,
    scopes: &'a [String],
}

impl Client {
    /// A client for `registry` (as in a reference: `ghcr.io`, `127.0.0.1:5000`, `docker.io`).
    pub fn new(registry: &str, auth: Auth, options: Options) -> Result<Client> {
        let scheme = if is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        let mut builder = reqwest::Client::builder();
        if scheme == "http" {
            // As Go's (and so Docker's) proxy rules: loopback is never proxied.
            builder = builder.no_proxy();
        }
        let http = builder
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("imggen/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| anyhow!("cannot set up an HTTP client for {registry} ({e})"))?;
        Ok(Client {
            http,
            base: format!("{scheme}://{}", api_host(registry)),
            registry: registry.to_string(),
            auth,
            options,
            tokens: Mutex::new(HashMap::new()),
            basic: Mutex::new(false),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Every request sent so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a request, answering one auth challenge and retrying busy answers and broken
    /// connections per the options' pauses.
    async fn send(&self, req: Req<'_>) -> Result<reqwest::Response> {
        let mut pauses = self.options.pauses.iter();
        let mut challenged = false;
        loop {
            let mut builder = self
                .http
                .request(req.method.clone(), &req.url)
                .headers(req.headers.clone());
            if let Some(value) = self.auth_header(req.scopes)? {
                builder = builder.header(AUTHORIZATION, value);
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            if let Ok(mut log) = self.log.lock() {
                let path = req
                    .url
                    .split_once("://")
                    .map_or(req.url.as_str(), |(_, r)| {
                        r.find('/').map_or("/", |i| &r[i..])
                    });
                log.push(format!("{} {path}", req.method));
            }
            let answer = builder.send().await;
            let transient = match answer {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let header = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    self.answer_challenge(&header, req.scopes).await?;
                    continue;
                }
                Ok(resp)
                    if resp.status() == StatusCode::TOO_MANY_REQUESTS
                        || resp.status().is_server_error() =>
                {
                    format!(
                        "{} {} answered {}",
                        req.method,
                        self.registry,
                        resp.status()
                    )
                }
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_connect() && pauses.len() == self.options.pauses.len() => {
                    bail!(
                        "cannot reach the registry {} ({}); check the address and that it is running",
                        self.registry,
                        root_cause(&e)
                    )
                }
                Err(e) => format!(
                    "{} {} failed: {}",
                    req.method,
                    self.registry,
                    root_cause(&e)
                ),
            };
            match pauses.next() {
                Some(&pause) => tokio::time::sleep(pause).await,
                None => bail!(
                    "{transient} (gave up after {} attempts); try again when the registry is less busy",
                    self.options.pauses.len() + 1
                ),
            }
        }
    }

    /// The Authorization header for `scopes`: a cached Bearer token, or Basic once asked.
    fn auth_header(&self, scopes: &[String]) -> Result<Option<HeaderValue>> {
        let key = scopes.join(" ");
        let token = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let value = match token {
            Some(token) => format!("Bearer {token}"),
            None => match (&self.auth, self.basic.lock().map(|b| *b).unwrap_or(false)) {
                (Auth::Basic { username, password }, true) => {
                    format!("Basic {}", basic(username, password))
                }
                _ => return Ok(None),
            },
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            anyhow!(
                "the credentials for {} hold characters HTTP headers cannot carry; log in again",
                self.registry
            )
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Answers a 401: remembers to send Basic, or fetches a Bearer token from the realm.
    async fn answer_challenge(&self, header: &str, scopes: &[String]) -> Result<()> {
        let (scheme, params) = parse_challenge(header);
        match scheme.as_str() {
            "basic" => {
                if !matches!(self.auth, Auth::Basic { .. }) {
                    bail!(
                        "{} requires credentials; run `docker login {}` or set IMGGEN_REGISTRY_USERNAME and IMGGEN_REGISTRY_PASSWORD",
                        self.registry, self.registry
                    );
                }
                if let Ok(mut b) = self.basic.lock() {
                    *b = true;
                }
                Ok(())
            }
            "bearer" => {
                let token = self.fetch_token(&params, scopes).await?;
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(scopes.join(" "), token);
                }
                Ok(())
            }
            _ => bail!(
                "{} refused the request (401) without a Basic or Bearer challenge; check the registry address",
                self.registry
            ),
        }
    }

    /// A Bearer token from the challenge's realm for `scopes` (the challenge's own scope when
    /// none are given).
    async fn fetch_token(
        &self,
        params: &HashMap<String, String>,
        scopes: &[String],
    ) -> Result<String> {
        let realm = params.get("realm").ok_or_else(|| {
            anyhow!(
                "{} asked for a Bearer token without naming a realm; check the registry address",
                self.registry
            )
        })?;
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(("service", service.clone()));
        }
        if scopes.is_empty() {
            if let Some(scope) = params.get("scope") {
                query.push(("scope", scope.clone()));
            }
        }
        for s in scopes {
            query.push(("scope", s.clone()));
        }
        let request = match &self.auth {
            Auth::IdentityToken(refresh) => {
                let mut form = query.clone();
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", refresh.clone()));
                form.push(("client_id", "imggen".into()));
                self.http.post(realm).form(&form)
            }
            Auth::Basic { username, password } => self
                .http
                .get(realm)
                .query(&query)
                .basic_auth(username, Some(password)),
            Auth::Anonymous => self.http.get(realm).query(&query),
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("TOKEN {realm}"));
        }
        let resp = request.send().await.map_err(|e| {
            anyhow!(
                "cannot reach the token service {realm} of {} ({}); check the network",
                self.registry,
                root_cause(&e)
            )
        })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            bail!(
                "{} refused the credentials (token service answered {status}); run `docker login {}` again or check IMGGEN_REGISTRY_USERNAME/IMGGEN_REGISTRY_PASSWORD",
                self.registry, self.registry
            );
        }
        if !status.is_success() {
            bail!(
                "the token service {realm} of {} answered {status}; try again later",
                self.registry
            );
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = resp.bytes().await.unwrap_or_default();
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            anyhow!("the token service {realm} of {} answered something that is not a token ({e}); check the registry address", self.registry)
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("the token service {realm} of {} answered without a token; check the credentials", self.registry))
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: true when the registry has the blob.
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        let scopes = [pull_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::HEAD,
                url: self.url(&format!("/v2/{repo}/blobs/{digest}")),
                headers: HeaderMap::new(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.refused("checking blob", repo, digest, s)),
        }
    }

    fn refused(&self, what: &str, repo: &str, name: &str, status: StatusCode) -> anyhow::Error {
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                "; check the credentials for {} (`docker login {}`) and that they may push to {repo}",
                self.registry, self.registry
            ),
            _ => "; check the registry's logs".into(),
        };
        anyhow!(
            "{what} {name} in {}/{repo} failed: the registry answered {status}{hint}",
            self.registry
        )
    }

    /// Puts one blob (read by `read`) into `repo` unless it is there; mounts it from one of
    /// `mount_from` when the registry allows. Returns what it did.
    async fn push_blob(
        &self,
        repo: &str,
        desc: &Descriptor,
        data: Blob<'_>,
        mount_from: &[String],
        report: &mut PushReport,
    ) -> Result<()> {
        if self.blob_exists(repo, &desc.digest).await? {
            report.skipped += 1;
            return Ok(());
        }
        let location = match self.mount(repo, &desc.digest, mount_from).await? {
            Mount::Mounted => {
                report.mounted += 1;
                return Ok(());
            }
            Mount::Started(location) => Some(location),
            Mount::No => None,
        };
        let data = match data {
            Blob::Bytes(bytes) => std::borrow::Cow::Borrowed(bytes),
            Blob::In(layout) => std::borrow::Cow::Owned(read_blob(layout, desc)?),
        };
        self.upload(repo, desc, &data, location).await?;
        report.uploaded += 1;
        report.bytes += desc.size;
        Ok(())
    }

    /// Tries to mount `digest` from each of `mount_from` (other repositories of this registry).
    async fn mount(&self, repo: &str, digest: &str, mount_from: &[String]) -> Result<Mount> {
        for from in mount_from.iter().filter(|f| f.as_str() != repo) {
            let scopes = [push_scope(repo), pull_scope(from)];
            let resp = self
                .send(Req {
                    method: Method::POST,
                    url: self.url(&format!(
                        "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
                    )),
                    headers: HeaderMap::new(),
                    body: None,
                    scopes: &scopes,
                })
                .await?;
            match resp.status() {
                StatusCode::CREATED => return Ok(Mount::Mounted),
                StatusCode::ACCEPTED => return Ok(Mount::Started(self.location(&resp, repo)?)),
                _ => continue,
            }
        }
        Ok(Mount::No)
    }

    /// Uploads a blob: in one PUT up to the monolithic size, else PATCH chunks and a closing PUT.
    /// `location` is an upload already started (by a mount the registry declined).
    async fn upload(
        &self,
        repo: &str,
        desc: &Descriptor,
        data: &[u8],
        location: Option<String>,
    ) -> Result<()> {
        let scopes = [push_scope(repo)];
        let mut location = match location {
            Some(l) => l,
            None => {
                let resp = self
                    .send(Req {
                        method: Method::POST,
                        url: self.url(&format!("/v2/{repo}/blobs/uploads/")),
                        headers: HeaderMap::new(),
                        body: None,
                        scopes: &scopes,
                    })
                    .await?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.refused(
                        "starting the upload of",
                        repo,
                        &desc.digest,
                        resp.status(),
                    ));
                }
                self.location(&resp, repo)?
            }
        };
        let octet = || {
            let mut h = HeaderMap::new();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h
        };
        let last_body = if data.len() as u64 <= self.options.monolithic_max {
            Bytes::copy_from_slice(data)
        } else {
            let mut start = 0usize;
            for chunk in data.chunks(self.options.chunk_size.max(1)) {
                let mut headers = octet();
                let range = format!("{}-{}", start, start + chunk.len() - 1);
                headers.insert("content-range", HeaderValue::from_str(&range)?);
                let resp = self
                    .send(Req {
                        method: Method::PATCH,
                        url: location.clone(),
                        headers,
                        body: Some(Bytes::copy_from_slice(chunk)),
                        scopes: &scopes,
                    })
                    .await?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.refused(
                        "uploading a chunk of",
                        repo,
                        &desc.digest,
                        resp.status(),
                    ));
                }
                location = self.location(&resp, repo)?;
                start += chunk.len();
            }
            Bytes::new()
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .send(Req {
                method: Method::PUT,
                url: format!("{location}{sep}digest={}", desc.digest),
                headers: octet(),
                body: Some(last_body),
                scopes: &scopes,
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.refused("uploading blob", repo, &desc.digest, resp.status()));
        }
        Ok(())
    }

    /// The absolute upload URL of a 202 answer.
    fn location(&self, resp: &reqwest::Response, repo: &str) -> Result<String> {
        let l = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                anyhow!(
                    "{} started an upload to {repo} without a Location; the registry does not follow the distribution API",
                    self.registry
                )
            })?;
        Ok(self.url(l))
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with the manifest's media type.
    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        data: &[u8],
    ) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(media_type)?);
        let scopes = [push_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::PUT,
                url: self.url(&format!("/v2/{repo}/manifests/{reference}")),
                headers,
                body: Some(Bytes::copy_from_slice(data)),
                scopes: &scopes,
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(anyhow!(
                "putting the manifest {reference} in {}/{repo} failed: the registry answered {status} {}; check that it accepts {media_type}",
                self.registry,
                body.trim().chars().take(200).collect::<String>()
            ));
        }
        Ok(())
    }

    /// Pushes every manifest and index that `layout`'s index.json lists, with the blobs they
    /// name, to `reference`'s repository; the reference's tag is put on the entry whose
    /// `org.opencontainers.image.ref.name` is that tag, or on the only entry. Blobs are looked
    /// for in `mount_from` repositories of the same registry before they are uploaded.
    pub async fn push_layout(
        &self,
        layout: &Path,
        reference: &Reference,
        mount_from: &[String],
    ) -> Result<PushReport> {
        let index_path = layout.join("index.json");
        let text = std::fs::read(&index_path).with_context(|| {
            format!(
                "{}: cannot read; give an OCI image layout directory",
                index_path.display()
            )
        })?;
        let index: ManifestDoc = serde_json::from_slice(&text).map_err(|e| {
            anyhow!(
                "{}: not an OCI index ({e}); give an OCI image layout directory",
                index_path.display()
            )
        })?;
        if index.manifests.is_empty() {
            bail!(
                "{}: lists no manifest; build the image into the layout first",
                index_path.display()
            );
        }
        let repo = &reference.repository;
        let mut report = PushReport::default();
        for desc in &index.manifests {
            self.push_tree(layout, repo, desc, mount_from, &mut report)
                .await?;
        }
        let chosen = match &reference.tag {
            Some(tag) => {
                let named: Vec<&Descriptor> = index
                    .manifests
                    .iter()
                    .filter(|d| d.annotations.get(REF_NAME) == Some(tag))
                    .collect();
                let pick = match (named.as_slice(), index.manifests.as_slice()) {
                    ([one], _) => *one,
                    ([], [one]) => one,
                    _ => bail!(
                        "{}: lists {} manifests and none is named {tag}; name one with {REF_NAME} or push by digest",
                        index_path.display(),
                        index.manifests.len()
                    ),
                };
                let data = read_blob(layout, pick)?;
                self.put_manifest(repo, tag, &pick.media_type, &data)
                    .await?;
                report.manifests += 1;
                pick
            }
            None => &index.manifests[0],
        };
        report.digest = chosen.digest.clone();
        Ok(report)
    }

    /// Pushes a manifest (its config and layers first) or an index (its manifests first), by
    /// digest, skipping what the registry has.
    async fn push_tree(
        &self,
        layout: &Path,
        repo: &str,
        desc: &Descriptor,
        mount_from: &[String],
        report: &mut PushReport,
    ) -> Result<()> {
        let data = read_blob(layout, desc)?;
        let doc: ManifestDoc = serde_json::from_slice(&data).map_err(|e| {
            anyhow!(
                "{}: blob {} is not a manifest ({e}); rebuild the layout",
                layout.display(),
                desc.digest
            )
        })?;
        if desc.is_index() {
            for child in &doc.manifests {
                Box::pin(self.push_tree(layout, repo, child, mount_from, report)).await?;
            }
        } else {
            for blob in doc.config.iter().chain(&doc.layers) {
                self.push_blob(repo, blob, Blob::In(layout), mount_from, report)
                    .await?;
            }
        }
        if !self.manifest_exists(repo, &desc.digest).await? {
            self.put_manifest(repo, &desc.digest, &desc.media_type, &data)
                .await?;
            report.manifests += 1;
        }
        Ok(())
    }

    async fn manifest_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        self.has_manifest(repo, digest).await
    }

    /// True when the registry has a manifest by that tag or digest in `repo` (`HEAD`).
    pub async fn has_manifest(&self, repo: &str, reference: &str) -> Result<bool> {
        Ok(self.manifest_head(repo, reference).await?.is_some())
    }

    /// `HEAD` of a manifest: its descriptor, or None when the registry has none by that name.
    async fn manifest_head(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        let scopes = [pull_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::HEAD,
                url: self.url(&format!("/v2/{repo}/manifests/{reference}")),
                headers: accept_manifests(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let h = resp.headers();
                let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
                let digest = get("docker-content-digest").unwrap_or_else(|| reference.to_string());
                let size = get("content-length")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let media_type = get("content-type").unwrap_or_else(|| OCI_MANIFEST.into());
                Ok(Some(Descriptor {
                    media_type,
                    digest,
                    size,
                    artifact_type: None,
                    platform: None,
                    annotations: BTreeMap::new(),
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(self.refused("checking manifest", repo, reference, s)),
        }
    }

    /// The descriptor of the manifest `reference` (a tag or digest) names in `repo`, read from
    /// its bytes so the size and media type are exact.
    pub async fn manifest_descriptor(&self, repo: &str, reference: &str) -> Result<Descriptor> {
        let (desc, _) = self.get_manifest(repo, reference).await?;
        Ok(desc)
    }

    /// `GET` of a manifest or index: its descriptor and bytes (digest checked when asked by digest).
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Descriptor, Vec<u8>)> {
        let scopes = [pull_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::GET,
                url: self.url(&format!("/v2/{repo}/manifests/{reference}")),
                headers: accept_manifests(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!(
                "{}/{repo}:{reference} does not exist; check the image name and tag",
                self.registry
            );
        }
        if !resp.status().is_success() {
            return Err(self.refused("reading manifest", repo, reference, resp.status()));
        }
        let header_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let data = resp.bytes().await.map_err(|e| {
            anyhow!(
                "reading the manifest {reference} of {}/{repo} was cut off ({}); try again",
                self.registry,
                root_cause(&e)
            )
        })?;
        let doc: ManifestDoc = serde_json::from_slice(&data).map_err(|e| {
            anyhow!(
                "{}/{repo}:{reference} is not a manifest ({e}); check the reference",
                self.registry
            )
        })?;
        let media_type = doc
            .media_type
            .or(header_type)
            .unwrap_or_else(|| OCI_MANIFEST.into());
        let desc = Descriptor::of(&media_type, &data);
        if reference.starts_with("sha256:") && desc.digest != reference {
            bail!(
                "{}/{repo}@{reference}: the registry sent a manifest whose digest is {}; the registry or a proxy changed it",
                self.registry,
                desc.digest
            );
        }
        Ok((desc, data.to_vec()))
    }

    /// `GET` of a blob, its sha256 checked.
    pub async fn get_blob(&self, repo: &str, desc: &Descriptor) -> Result<Vec<u8>> {
        let scopes = [pull_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::GET,
                url: self.url(&format!("/v2/{repo}/blobs/{}", desc.digest)),
                headers: HeaderMap::new(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused("reading blob", repo, &desc.digest, resp.status()));
        }
        let data = resp.bytes().await.map_err(|e| {
            anyhow!(
                "reading blob {} of {}/{repo} was cut off ({}); try again",
                desc.digest,
                self.registry,
                root_cause(&e)
            )
        })?;
        let got = sha256(&data);
        if got != desc.digest {
            bail!(
                "blob {} of {}/{repo} arrived with digest {got}; the registry or a proxy changed it, try again",
                desc.digest,
                self.registry
            );
        }
        Ok(data.to_vec())
    }

    /// Pulls `reference` (an index is resolved to `platform`, e.g. `linux/amd64`) into `cache`,
    /// a content-addressed blob store; blobs already cached with the right digest are not
    /// fetched again.
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: &str,
        cache: &Path,
    ) -> Result<Pulled> {
        let repo = &reference.repository;
        let name = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let (mut desc, mut data) = self.get_manifest(repo, &name).await?;
        store(cache, &desc.digest, &data)?;
        if desc.is_index() {
            let doc: ManifestDoc = serde_json::from_slice(&data)?;
            let child = pick_platform(&doc.manifests, platform).ok_or_else(|| {
                let offered: Vec<String> = doc
                    .manifests
                    .iter()
                    .filter_map(|m| m.platform.as_ref())
                    .map(|p| format!("{}/{}", p.os, p.architecture))
                    .collect();
                anyhow!(
                    "{reference} has no {platform} image (it offers {}); pick one of those platforms",
                    offered.join(", ")
                )
            })?;
            (desc, data) = self.get_manifest(repo, &child.digest).await?;
            store(cache, &desc.digest, &data)?;
        }
        let doc: ManifestDoc = serde_json::from_slice(&data)?;
        let config = doc.config.ok_or_else(|| {
            anyhow!("{reference} names a manifest without a config; it is not an image")
        })?;
        for blob in std::iter::once(&config).chain(&doc.layers) {
            let path = blob_path(cache, &blob.digest)?;
            let cached = std::fs::read(&path).is_ok_and(|d| sha256(&d) == blob.digest);
            if !cached {
                let content = self.get_blob(repo, blob).await?;
                store(cache, &blob.digest, &content)?;
            }
        }
        Ok(Pulled {
            dir: cache.to_path_buf(),
            manifest: desc,
            config,
            layers: doc.layers,
        })
    }

    /// Pushes `document` as an SPDX JSON artifact whose subject is `subject` (an image manifest
    /// in `repo`), and tags it `sha256-<hex>.sbom` for registries without the referrers API.
    /// Returns the artifact manifest's digest.
    pub async fn attach_sbom(
        &self,
        repo: &str,
        subject: &Descriptor,
        document: &[u8],
    ) -> Result<String> {
        let manifest = sbom_manifest(subject, document)?;
        let mut report = PushReport::default();
        let config = Descriptor::of(EMPTY_CONFIG, b"{}");
        self.push_blob(repo, &config, Blob::Bytes(b"{}"), &[], &mut report)
            .await?;
        let layer = Descriptor::of(SPDX_JSON, document);
        self.push_blob(repo, &layer, Blob::Bytes(document), &[], &mut report)
            .await?;
        let digest = sha256(&manifest);
        self.put_manifest(repo, &digest, OCI_MANIFEST, &manifest)
            .await?;
        self.put_manifest(repo, &sbom_tag(&subject.digest)?, OCI_MANIFEST, &manifest)
            .await?;
        Ok(digest)
    }

    /// Finds the SBOM attached to `image_digest` in `repo`: the referrers API first, then the
    /// `sha256-<hex>.sbom` tag. None when neither names one.
    pub async fn find_sbom(&self, repo: &str, image_digest: &str) -> Result<Option<FoundSbom>> {
        let tag = sbom_tag(image_digest)?;
        let scopes = [pull_scope(repo)];
        let resp = self
            .send(Req {
                method: Method::GET,
                url: self.url(&format!(
                    "/v2/{repo}/referrers/{image_digest}?artifactType=application%2Fspdx%2Bjson"
                )),
                headers: HeaderMap::new(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        let mut candidate = None;
        let mut via = "tag";
        if resp.status().is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            if let Ok(list) = serde_json::from_slice::<ManifestDoc>(&body) {
                if let Some(d) = list
                    .manifests
                    .into_iter()
                    .find(|d| d.artifact_type.as_deref() == Some(SPDX_JSON))
                {
                    candidate = Some(d.digest);
                    via = "referrers";
                }
            }
        }
        let manifest_ref = match candidate {
            Some(d) => d,
            None => match self.manifest_head(repo, &tag).await? {
                Some(_) => tag,
                None => return Ok(None),
            },
        };
        let (desc, data) = self.get_manifest(repo, &manifest_ref).await?;
        let doc: ManifestDoc = serde_json::from_slice(&data)?;
        let Some(layer) = doc.layers.iter().find(|l| l.media_type == SPDX_JSON) else {
            return Ok(None);
        };
        let document = self.get_blob(repo, layer).await?;
        Ok(Some(FoundSbom {
            manifest: desc.digest,
            via,
            document,
        }))
    }
}

/// The artifact manifest of an SBOM: artifactType SPDX, the empty config, one layer, `subject`.
pub fn sbom_manifest(subject: &Descriptor, document: &[u8]) -> Result<Vec<u8>> {
    let mut layer = Descriptor::of(SPDX_JSON, document);
    layer
        .annotations
        .insert(TITLE.into(), "sbom.spdx.json".into());
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        artifact_type: None,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_JSON,
        "config": Descriptor::of(EMPTY_CONFIG, b"{}"),
        "layers": [layer],
        "subject": subject,
    });
    Ok(serde_json::to_vec(&manifest)?)
}

/// The fallback tag of an image's SBOM: `sha256-<hex>.sbom`.
pub fn sbom_tag(image_digest: &str) -> Result<String> {
    Ok(format!("sha256-{}.sbom", digest_hex(image_digest)?))
}

/// The index entry for `platform` (`os/arch[/variant]`).
fn pick_platform<'a>(manifests: &'a [Descriptor], platform: &str) -> Option<&'a Descriptor> {
    let mut parts = platform.split('/');
    let (os, arch, variant) = (parts.next()?, parts.next()?, parts.next());
    manifests.iter().find(|m| {
        m.platform.as_ref().is_some_and(|p| {
            p.os == os
                && p.architecture == arch
                && variant.is_none_or(|v| p.variant.as_deref() == Some(v))
        })
    })
}

/// Reads a blob of a layout, checking its digest.
fn read_blob(layout: &Path, desc: &Descriptor) -> Result<Vec<u8>> {
    let path = blob_path(layout, &desc.digest)?;
    let data = std::fs::read(&path).with_context(|| {
        format!(
            "{}: missing from the layout; rebuild the OCI layout",
            path.display()
        )
    })?;
    if sha256(&data) != desc.digest {
        bail!(
            "{}: content does not match its digest; the layout is damaged, rebuild it",
            path.display()
        );
    }
    Ok(data)
}

/// Writes a blob into a content-addressed store (atomically, via a temporary file).
fn store(dir: &Path, digest: &str, data: &[u8]) -> Result<()> {
    let path = blob_path(dir, digest)?;
    if std::fs::read(&path).is_ok_and(|d| d == data) {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).with_context(|| {
        format!(
            "{}: cannot create the cache directory; check its permissions",
            parent.display()
        )
    })?;
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        std::fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).with_context(|| {
            format!("{}: cannot write; check its permissions", layout.display())
        })?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(parent).with_context(|| {
        format!(
            "{}: cannot write to the cache; check its permissions",
            parent.display()
        )
    })?;
    std::io::Write::write_all(&mut tmp, data)?;
    tmp.persist(&path).map_err(|e| {
        anyhow!(
            "{}: cannot write ({e}); check its permissions",
            path.display()
        )
    })?;
    Ok(())
}

fn accept_manifests() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        ACCEPT,
        HeaderValue::from_static(
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json",
        ),
    );
    h
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn basic(username: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
}

/// The innermost cause of an HTTP error, which names what went wrong (refused, reset, ...).
fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Splits `Bearer realm="...",service="...",scope="..."` into the scheme (lowercase) and its
/// parameters.
pub fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    #[test]
    fn challenges_parse_as_registries_send_them() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#,
        );
        assert_eq!(scheme, "bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/debian:pull");
        let (scheme, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (scheme.as_str(), p["realm"].as_str()),
            ("basic", "Registry Realm")
        );
        let (scheme, p) = parse_challenge("Bearer realm=https://ghcr.io/token, service=ghcr.io");
        assert_eq!(scheme, "bearer");
        assert_eq!(
            (p["realm"].as_str(), p["service"].as_str()),
            ("https://ghcr.io/token", "ghcr.io")
        );
    }

    #[test]
    fn loopback_registries_are_plain_http() {
        for r in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
        ] {
            assert!(is_insecure(r), "{r}");
        }
        for r in [
            "ghcr.io",
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!is_insecure(r), "{r}");
        }
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(
            sbom_tag(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            format!("sha256-{}.sbom", "a".repeat(64))
        );
        assert!(sbom_tag("sha256:xyz").is_err());
    }

    #[test]
    fn index_entries_are_picked_by_platform() {
        let entry = |arch: &str, variant: Option<&str>| Descriptor {
            platform: Some(PlatformSpec {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(str::to_string),
            }),
            ..Descriptor::of(OCI_MANIFEST, arch.as_bytes())
        };
        let list = [entry("arm64", Some("v8")), entry("amd64", None)];
        assert_eq!(pick_platform(&list, "linux/amd64"), Some(&list[1]));
        assert_eq!(pick_platform(&list, "linux/arm64/v8"), Some(&list[0]));
        assert_eq!(pick_platform(&list, "linux/arm64"), Some(&list[0]));
        assert_eq!(pick_platform(&list, "linux/s390x"), None);
    }

    #[test]
    fn the_sbom_artifact_names_its_subject_and_an_empty_config() {
        let subject = Descriptor::of(DOCKER_MANIFEST, b"image");
        let m: serde_json::Value =
            serde_json::from_slice(&sbom_manifest(&subject, b"{\"spdxVersion\":1}").unwrap())
                .unwrap();
        assert_eq!(m["artifactType"], SPDX_JSON);
        assert_eq!(m["config"]["mediaType"], EMPTY_CONFIG);
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["layers"][0]["mediaType"], SPDX_JSON);
        assert_eq!(m["subject"]["digest"], subject.digest);
        assert_eq!(m["subject"]["mediaType"], DOCKER_MANIFEST);
    }

    /// An answer of a fake server: status line, extra header lines, body.
    type Answer = (&'static str, String, Vec<u8>);

    /// A fake HTTP server on loopback answering `connections` connections with `handler`
    /// (request path, Authorization header, this server's address); logs `REQUEST-LINE AUTH`,
    /// and the body of a request that has one.
    fn serve(
        connections: usize,
        handler: impl Fn(&str, &str, &str) -> Answer + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, me) = (seen.clone(), addr.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let (mut auth, mut length) = (String::new(), 0usize);
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.strip_prefix("authorization: ") {
                        auth = v.trim().to_string();
                    }
                    if let Some(v) = h.strip_prefix("content-length: ") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(format!("{} {auth}", line.trim()));
                if !body.is_empty() {
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let (status, extra, body) = handler(&path, &auth, &me);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        (addr, seen)
    }

    /// A registry on loopback that wants a Bearer token from its own token service, which
    /// gives one for user `ci`, password `pw`. Answers `connections` connections.
    fn token_registry(connections: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        serve(connections, |path, auth, addr| {
            if path.starts_with("/token") {
                let good = auth == format!("Basic {}", basic("ci", "pw"))
                    && path.contains("scope=repository%3Aapp%3Apull")
                    && path.contains("service=fake");
                if good {
                    ("200 OK", String::new(), br#"{"token":"t0k"}"#.to_vec())
                } else {
                    ("401 Unauthorized", String::new(), Vec::new())
                }
            } else if auth == "Bearer t0k" {
                ("200 OK", String::new(), Vec::new())
            } else {
                (
                    "401 Unauthorized",
                    format!("WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"fake\",scope=\"repository:app:pull\"\r\n"),
                    Vec::new(),
                )
            }
        })
    }

    #[tokio::test]
    async fn the_referrers_api_is_asked_before_the_tag() {
        let document = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
        let subject = Descriptor::of(OCI_MANIFEST, b"image");
        let artifact = sbom_manifest(&subject, &document).unwrap();
        let artifact_digest = sha256(&artifact);
        let mut listed = Descriptor::of(OCI_MANIFEST, &artifact);
        listed.artifact_type = Some(SPDX_JSON.into());
        let referrers = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [listed],
        }))
        .unwrap();
        let (layer, art) = (sha256(&document), artifact_digest.clone());
        let (addr, seen) = serve(3, move |path, _, _| {
            let json = |body: &[u8]| {
                (
                    "200 OK",
                    format!("Content-Type: {OCI_MANIFEST}\r\n"),
                    body.to_vec(),
                )
            };
            if path.starts_with("/v2/app/referrers/") {
                json(&referrers)
            } else if path == format!("/v2/app/manifests/{art}") {
                json(&artifact)
            } else if path == format!("/v2/app/blobs/{layer}") {
                ("200 OK", String::new(), document.clone())
            } else {
                ("404 Not Found", String::new(), Vec::new())
            }
        });
        let client = Client::new(&addr, Auth::Anonymous, Options::default()).unwrap();
        let found = client
            .find_sbom("app", &subject.digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.via, found.manifest.as_str()),
            ("referrers", artifact_digest.as_str())
        );
        assert_eq!(found.document, br#"{"spdxVersion":"SPDX-2.3"}"#);
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen[0].starts_with(&format!(
                "GET /v2/app/referrers/{}?artifactType=application%2Fspdx%2Bjson ",
                subject.digest
            )),
            "{seen:?}"
        );
        assert!(!seen.iter().any(|l| l.contains(".sbom")), "{seen:?}");
    }

    #[tokio::test]
    async fn a_bearer_challenge_is_answered_with_a_token_for_the_scope() {
        let (addr, seen) = token_registry(3);
        let client = Client::new(
            &addr,
            Auth::Basic {
                username: "ci".into(),
                password: "pw".into(),
            },
            Options::default(),
        )
        .unwrap();
        let digest = format!("sha256:{}", "0".repeat(64));
        assert!(client.blob_exists("app", &digest).await.unwrap());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen[0].starts_with(&format!("HEAD /v2/app/blobs/{digest} ")) && seen[0].ends_with(' '),
            "{seen:?}"
        );
        assert!(
            seen[1].starts_with("GET /token?") && seen[1].contains("Basic "),
            "{seen:?}"
        );
        assert!(seen[2].ends_with("Bearer t0k"), "{seen:?}");
    }

    #[tokio::test]
    async fn an_identity_token_is_exchanged_as_a_refresh_token() {
        let (addr, seen) = serve(3, |path, auth, addr| {
            if path == "/token" {
                (
                    "200 OK",
                    String::new(),
                    br#"{"access_token":"acc3ss"}"#.to_vec(),
                )
            } else if auth == "Bearer acc3ss" {
                ("200 OK", String::new(), Vec::new())
            } else {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"fake\"\r\n"
                );
                ("401 Unauthorized", challenge, Vec::new())
            }
        });
        let client = Client::new(
            &addr,
            Auth::IdentityToken("r3fresh".into()),
            Options::default(),
        )
        .unwrap();
        let digest = format!("sha256:{}", "1".repeat(64));
        assert!(client.blob_exists("team/app", &digest).await.unwrap());
        let seen = seen.lock().unwrap().clone();
        assert!(seen[1].starts_with("POST /token "), "{seen:?}");
        let form = &seen[2];
        for part in [
            "grant_type=refresh_token",
            "refresh_token=r3fresh",
            "service=fake",
            "scope=repository%3Ateam%2Fapp%3Apull",
        ] {
            assert!(form.contains(part), "{part} in {form}");
        }
        assert!(seen[3].ends_with("Bearer acc3ss"), "{seen:?}");
    }

    #[tokio::test]
    async fn refused_token_credentials_are_one_sentence() {
        let (addr, _) = token_registry(2);
        let client = Client::new(
            &addr,
            Auth::Basic {
                username: "ci".into(),
                password: "wrong".into(),
            },
            Options::default(),
        )
        .unwrap();
        let e = client
            .blob_exists("app", &format!("sha256:{}", "0".repeat(64)))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refused the credentials") && e.contains(&addr),
            "{e}"
        );
        assert!(!e.contains("wrong"), "{e}");
    }
}
