//! The BuildKit session of a build given `--secret` or `--ssh`: imggen opens it on its own
//! connection to the engine (`POST /session`, upgraded to h2c) before `POST /build` names it, and
//! serves the secrets, the SSH agent, registry credentials and gRPC health on it. bollard's own
//! session serves registry credentials only; the engine refuses a second session with an id it
//! already holds, so the build runs on this one. Secret values live in this process's memory
//! and reach only the `RUN --mount=type=secret` steps: never a build argument or a layer.

use anyhow::{anyhow, bail, Context, Result};
use bollard::health::health_check_response::ServingStatus;
use bollard::health::health_server::{Health, HealthServer};
use bollard::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard::moby::sshforward::v1::{BytesMessage, CheckAgentRequest, CheckAgentResponse};
use futures_util::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tonic::{Request, Response, Status, Streaming};

/// BuildKit refuses secrets larger than this (500 KiB), so imggen says so before the build.
const MAX_SECRET_BYTES: usize = 500 * 1024;

/// Where a `--secret` value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `src=PATH`: the file's bytes.
    File(PathBuf),
    /// `env=VAR`: the variable's value.
    Env(String),
}

/// One `--secret id=NAME,src=PATH` (or `env=VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// What `RUN --mount=type=secret,id=NAME` asks for.
    pub id: String,
    /// Where its value is read.
    pub source: SecretSource,
}

/// One `--ssh ID[=SOCKET]`: an SSH agent socket (`SSH_AUTH_SOCK` when none is named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    /// What `RUN --mount=type=ssh,id=ID` asks for (`default` when the mount names none).
    pub id: String,
    /// The agent's socket, if named.
    pub socket: Option<PathBuf>,
}

/// True when `id` may name a secret or an SSH agent: letters, digits, `-`, `_` and `.`.
pub fn valid_id(id: &str) -> bool {
    crate::validate::secret_id(id).is_ok()
}

/// Parses `id=NAME,src=PATH`, `id=NAME,env=VAR` (also `source=`, and `type=file|env`).
pub fn parse_secret(text: &str) -> Result<SecretSpec> {
    let mut id = None;
    let mut file = None;
    let mut env = None;
    let mut kind = None;
    for field in text.split(',') {
        let (key, value) = field.split_once('=').ok_or_else(|| {
            anyhow!("--secret {text}: `{field}` is not KEY=VALUE; write id=NAME,src=PATH or id=NAME,env=VAR")
        })?;
        match key.trim() {
            "id" => id = Some(value.to_string()),
            "src" | "source" => file = Some(PathBuf::from(value)),
            "env" => env = Some(value.to_string()),
            "type" if value == "file" || value == "env" => kind = Some(value.to_string()),
            _ => bail!("--secret {text}: unknown field `{field}`; write id=NAME,src=PATH or id=NAME,env=VAR"),
        }
    }
    let Some(id) = id.filter(|i| valid_id(i)) else {
        bail!("--secret {text}: give the secret an id of letters, digits, `-`, `_` or `.` (id=NAME,src=PATH)");
    };
    let source = match (file, env, kind.as_deref()) {
        (Some(path), None, None | Some("file")) => SecretSource::File(path),
        (None, Some(var), None | Some("env")) => SecretSource::Env(var),
        (None, None, Some("env")) => SecretSource::Env(id.clone()),
        _ => bail!("--secret {text}: name exactly one source, src=PATH or env=VAR"),
    };
    Ok(SecretSpec { id, source })
}

/// Parses `default`, `default=SOCKET` or `ID=SOCKET`.
pub fn parse_ssh(text: &str) -> Result<SshSpec> {
    let (id, socket) = match text.split_once('=') {
        Some((id, socket)) if !socket.is_empty() => (id, Some(PathBuf::from(socket))),
        Some(_) => bail!("--ssh {text}: name the agent socket after `=`, or write --ssh default for $SSH_AUTH_SOCK"),
        None => (text, None),
    };
    if !valid_id(id) {
        bail!("--ssh {text}: write --ssh default or --ssh default=/path/to/agent.sock");
    }
    Ok(SshSpec {
        id: id.to_string(),
        socket,
    })
}

/// What the session serves, read before the build starts so that a missing file or variable
/// is an error up front rather than a failed step minutes later.
#[derive(Default)]
pub struct Attachables {
    secrets: BTreeMap<String, Vec<u8>>,
    ssh: BTreeMap<String, PathBuf>,
}

impl fmt::Debug for Attachables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachables")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ssh", &self.ssh)
            .finish()
    }
}

impl Attachables {
    /// Reads every secret and finds every agent socket; `env` looks up environment variables.
    pub fn resolve(
        secrets: &[SecretSpec],
        ssh: &[SshSpec],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Attachables> {
        let mut out = Attachables::default();
        for s in secrets {
            let value = match &s.source {
                SecretSource::File(path) => std::fs::read(path).with_context(|| {
                    format!("--secret id={}: cannot read {}; pass an existing file as src=PATH", s.id, path.display())
                })?,
                SecretSource::Env(var) => env(var)
                    .ok_or_else(|| anyhow!("--secret id={},env={var}: {var} is not set; export it or pass src=PATH", s.id))?
                    .into_bytes(),
            };
            if value.len() > MAX_SECRET_BYTES {
                bail!("--secret id={}: {} bytes, over BuildKit's 500 KiB limit for a secret; pass a smaller file", s.id, value.len());
            }
            if out.secrets.insert(s.id.clone(), value).is_some() {
                bail!("--secret id={} is given twice; pass each id once", s.id);
            }
        }
        for s in ssh {
            let socket = match &s.socket {
                Some(p) => p.clone(),
                None => PathBuf::from(env("SSH_AUTH_SOCK").filter(|v| !v.is_empty()).ok_or_else(|| {
                    anyhow!("--ssh {}: SSH_AUTH_SOCK is not set; start an agent (`eval $(ssh-agent)` and `ssh-add`) or pass --ssh {}=/path/to/agent.sock", s.id, s.id)
                })?),
            };
            if !socket.exists() {
                bail!(
                    "--ssh {}: no agent socket at {}; start an agent or name its socket",
                    s.id,
                    socket.display()
                );
            }
            out.ssh.insert(s.id.clone(), socket);
        }
        Ok(out)
    }

    /// The secret ids given.
    pub fn secret_ids(&self) -> Vec<&str> {
        self.secrets.keys().map(String::as_str).collect()
    }

    /// The SSH agent ids given.
    pub fn ssh_ids(&self) -> Vec<&str> {
        self.ssh.keys().map(String::as_str).collect()
    }

    /// True when a secret or an agent is given (so the build needs imggen's own session).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.ssh.is_empty()
    }

    /// The gRPC methods the session offers, as BuildKit checks them.
    fn methods(&self) -> Vec<&'static str> {
        let mut m = vec![
            "/grpc.health.v1.Health/Check",
            "/moby.filesync.v1.Auth/Credentials",
            "/moby.buildkit.secrets.v1.Secrets/GetSecret",
        ];
        if !self.ssh.is_empty() {
            m.push("/moby.sshforward.v1.SSH/CheckAgent");
            m.push("/moby.sshforward.v1.SSH/ForwardAgent");
        }
        m
    }
}

/// The running session; the build must start after [`open`] returns and the session ends
/// when this is dropped.
pub struct Session {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens session `id` on the engine at `host` (`unix:///path` or `tcp://HOST:PORT`, not TLS),
/// serving `attachables` and the registry `credentials` (user, secret by config.json key).
pub async fn open(
    host: &str,
    id: &str,
    attachables: Arc<Attachables>,
    credentials: HashMap<String, (String, String)>,
) -> Result<Session> {
    if let Some(path) = host.strip_prefix("unix://") {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .with_context(|| {
                format!("cannot connect to the engine at {host} for the build session")
            })?;
        serve(stream, host, id, attachables, credentials).await
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| {
                format!("cannot connect to the engine at {host} for the build session")
            })?;
        serve(stream, host, id, attachables, credentials).await
    } else {
        bail!("--secret and --ssh need an engine on a Unix socket or plain tcp://, and the engine is at {host}; build on such an engine or drop --secret/--ssh")
    }
}

/// Upgrades `io` to a session and serves the attachables on it from a background task.
async fn serve<IO>(
    mut io: IO,
    host: &str,
    id: &str,
    attachables: Arc<Attachables>,
    credentials: HashMap<String, (String, String)>,
) -> Result<Session>
where
    IO: AsyncRead + AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    let mut request = format!(
        "POST /session HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\nX-Docker-Expose-Session-Uuid: {id}\r\nX-Docker-Expose-Session-Name: imggen\r\nX-Docker-Expose-Session-Sharedkey: {id}\r\n"
    );
    for m in attachables.methods() {
        request.push_str(&format!("X-Docker-Expose-Session-Grpc-Method: {m}\r\n"));
    }
    request.push_str("\r\n");
    io.write_all(request.as_bytes()).await?;
    // Byte by byte up to the blank line: what follows is the engine's HTTP/2 preface.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if io.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        let status = head.lines().next().unwrap_or("no answer");
        bail!("the engine at {host} refused the build session ({status}); the engine must support BuildKit sessions (Docker 18.09 or newer)");
    }
    let creds = AuthProvider { credentials };
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(HealthServer::new(Healthy))
            .add_service(AuthServer::new(creds))
            .add_service(SecretsServer::new(SecretProvider(attachables.clone())))
            .add_service(SshServer::new(SshProvider(attachables)))
            .serve_with_incoming(futures_util::stream::iter([Ok::<_, std::io::Error>(io)]))
            .await;
    });
    Ok(Session { task })
}

/// Answers BuildKit's health checks.
struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

/// Registry credentials for the engine's pulls.
struct AuthProvider {
    credentials: HashMap<String, (String, String)>,
}

#[tonic::async_trait]
impl Auth for AuthProvider {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = &request.get_ref().host;
        let found = self.credentials.get(host).or_else(|| {
            (host == "registry-1.docker.io")
                .then(|| self.credentials.get("https://index.docker.io/v1/"))
                .flatten()
        });
        let (username, secret) = found.cloned().unwrap_or_default();
        Ok(Response::new(CredentialsResponse { username, secret }))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("fetch_token"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}

/// The `--secret` values.
struct SecretProvider(Arc<Attachables>);

#[tonic::async_trait]
impl Secrets for SecretProvider {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.0.secrets.get(id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            None => Err(Status::not_found(format!(
                "secret {id} not found; pass --secret id={id},src=PATH to imggen build"
            ))),
        }
    }
}

/// Forwards `RUN --mount=type=ssh` to the `--ssh` agents.
struct SshProvider(Arc<Attachables>);

/// The agent id a request names (`default` when empty).
fn agent_id(id: &str) -> &str {
    if id.is_empty() {
        "default"
    } else {
        id
    }
}

#[tonic::async_trait]
impl Ssh for SshProvider {
    type ForwardAgentStream = Pin<Box<dyn Stream<Item = Result<BytesMessage, Status>> + Send>>;

    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        let id = agent_id(&request.get_ref().id);
        if self.0.ssh.contains_key(id) {
            Ok(Response::new(CheckAgentResponse {}))
        } else {
            Err(Status::not_found(format!(
                "no SSH agent {id}; pass --ssh {id} to imggen build"
            )))
        }
    }

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get("id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("default")
            .to_string();
        let socket = self
            .0
            .ssh
            .get(agent_id(&id))
            .ok_or_else(|| Status::not_found(format!("no SSH agent {id}")))?;
        let agent = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| Status::unavailable(format!("SSH agent at {}: {e}", socket.display())))?;
        let (read, mut write) = agent.into_split();
        let mut incoming = request.into_inner();
        tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                if write.write_all(&message.data).await.is_err() {
                    break;
                }
            }
        });
        let outgoing = futures_util::stream::unfold(read, |mut read| async move {
            let mut buf = vec![0u8; 16 * 1024];
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(BytesMessage { data: buf }), read))
                }
            }
        });
        Ok(Response::new(Box::pin(outgoing)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_from_files_and_variables() {
        assert_eq!(
            parse_secret("id=git-credentials,src=/tmp/c").unwrap(),
            SecretSpec {
                id: "git-credentials".into(),
                source: SecretSource::File("/tmp/c".into())
            }
        );
        assert_eq!(
            parse_secret("id=token,env=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
        assert_eq!(
            parse_secret("type=env,id=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
        for bad in [
            "src=/tmp/c",
            "id=a b,src=x",
            "id=a,src=x,env=Y",
            "id=a",
            "id=a,mode=1",
        ] {
            let err = parse_secret(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--secret {bad}:")), "{err}");
        }
    }

    #[test]
    fn ssh_parses_default_and_named_sockets() {
        assert_eq!(parse_ssh("default").unwrap().socket, None);
        assert_eq!(
            parse_ssh("default=/run/agent.sock").unwrap().socket,
            Some(PathBuf::from("/run/agent.sock"))
        );
        assert!(parse_ssh("default=").is_err());
        assert!(parse_ssh("a b").is_err());
    }

    #[test]
    fn resolving_reads_values_up_front_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret").unwrap();
        let specs = vec![
            parse_secret(&format!("id=a,src={}", file.display())).unwrap(),
            parse_secret("id=b,env=B").unwrap(),
        ];
        let env = |k: &str| (k == "B").then(|| "from-env".to_string());
        let a = Attachables::resolve(&specs, &[], &env).unwrap();
        assert_eq!(a.secrets["a"], b"s3cret");
        assert_eq!(a.secrets["b"], b"from-env");
        assert!(
            !format!("{a:?}").contains("s3cret"),
            "Debug never shows values"
        );
        let err = Attachables::resolve(&[parse_secret("id=c,env=C").unwrap()], &[], &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("C is not set"), "{err}");
        let err = Attachables::resolve(&[], &[parse_ssh("default").unwrap()], &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSH_AUTH_SOCK is not set"), "{err}");
    }
}
