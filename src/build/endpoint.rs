//! Where the engine is, found the way the docker CLI finds it: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), else the docker context named by
//! `DOCKER_CONTEXT` or by `currentContext` in `$DOCKER_CONFIG/config.json`, else the default
//! socket.

use super::docker::DEFAULT_HOST;
use anyhow::{bail, Context, Result};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// The client certificate files of a TLS connection: `ca.pem`, `cert.pem`, `key.pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The directory holding them.
    pub dir: PathBuf,
}

impl TlsFiles {
    /// The certificate authority that signed the engine's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The client certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The client key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

/// The engine to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://HOST:PORT`.
    pub host: String,
    /// Client certificates when the connection uses TLS.
    pub tls: Option<TlsFiles>,
    /// The docker context it came from, when not the default.
    pub context: Option<String>,
}

/// The environment variables the endpoint depends on.
#[derive(Debug, Default, Clone)]
pub struct EndpointEnv {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_TLS_VERIFY` (any non-empty value turns TLS on, as for the docker CLI).
    pub tls_verify: Option<String>,
    /// `DOCKER_CERT_PATH`.
    pub cert_path: Option<PathBuf>,
    /// `DOCKER_CONTEXT`.
    pub context: Option<String>,
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl EndpointEnv {
    /// Reads the variables from the process environment.
    pub fn from_process() -> EndpointEnv {
        let get = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        EndpointEnv {
            docker_host: get("DOCKER_HOST"),
            tls_verify: get("DOCKER_TLS_VERIFY"),
            cert_path: get("DOCKER_CERT_PATH").map(PathBuf::from),
            context: get("DOCKER_CONTEXT"),
            config_dir: super::creds::docker_config_dir(),
        }
    }
}

/// The engine address from `DOCKER_HOST`: `unix://`, `tcp://`, `http(s)://`, or a bare socket path.
pub fn engine_host(docker_host: Option<&str>) -> String {
    match docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        None => DEFAULT_HOST.to_string(),
        Some(path) if path.starts_with('/') => format!("unix://{path}"),
        Some(host) => host.to_string(),
    }
}

/// The directory of a context's files: the hex SHA-256 of its name, as the docker CLI names it.
pub fn context_dir_name(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Finds the engine: `DOCKER_HOST` wins, then `DOCKER_CONTEXT`, then the config's
/// `currentContext`, then the default socket.
pub fn resolve(env: &EndpointEnv) -> Result<Endpoint> {
    if let Some(host) = &env.docker_host {
        let host = engine_host(Some(host));
        let tls = match &env.tls_verify {
            Some(_) => {
                let dir = env
                    .cert_path
                    .clone()
                    .or_else(|| env.config_dir.clone())
                    .context("DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is; set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem")?;
                Some(TlsFiles { dir })
            }
            None => None,
        };
        return checked(Endpoint {
            host,
            tls,
            context: None,
        });
    }
    let config_dir = env.config_dir.as_deref();
    let (name, from) = match &env.context {
        Some(name) => (Some(name.trim().to_string()), "DOCKER_CONTEXT"),
        None => (current_context(config_dir)?, "currentContext"),
    };
    let Some(name) = name.filter(|n| n != "default") else {
        return Ok(Endpoint {
            host: DEFAULT_HOST.to_string(),
            tls: None,
            context: None,
        });
    };
    let Some(config_dir) = config_dir else {
        bail!("{from} names the docker context {name} but neither DOCKER_CONFIG nor HOME is set; set DOCKER_CONFIG to the directory holding contexts/");
    };
    checked(context_endpoint(config_dir, &name, from)?)
}

/// `currentContext` in `config.json`, if the file names one.
fn current_context(config_dir: Option<&Path>) -> Result<Option<String>> {
    let Some(path) = config_dir.map(|d| d.join("config.json")) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("{}: cannot read it ({e}); fix its permissions or set DOCKER_CONFIG to another directory", path.display()),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not valid JSON ({e}); fix the file or set DOCKER_CONFIG to another directory",
            path.display()
        )
    })?;
    Ok(json
        .get("currentContext")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// The docker endpoint of context `name` from its `meta.json` and TLS directory.
fn context_endpoint(config_dir: &Path, name: &str, from: &str) -> Result<Endpoint> {
    let id = context_dir_name(name);
    let meta = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let text = match std::fs::read_to_string(&meta) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{from} names the docker context {name}, which does not exist ({} is missing); run `docker context ls` and pick one, or unset {from}",
            meta.display()
        ),
        Err(e) => bail!("{}: cannot read it ({e}); fix its permissions", meta.display()),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not valid JSON ({e}); recreate the context {name} with `docker context create`",
            meta.display()
        )
    })?;
    let docker = json.get("Endpoints").and_then(|e| e.get("docker"));
    let Some(host) = docker
        .and_then(|d| d.get("Host"))
        .and_then(|h| h.as_str())
        .filter(|h| !h.trim().is_empty())
    else {
        bail!(
            "{}: the context {name} has no docker endpoint Host; recreate it with `docker context create {name} --docker host=...`",
            meta.display()
        );
    };
    if docker
        .and_then(|d| d.get("SkipTLSVerify"))
        .and_then(|s| s.as_bool())
        == Some(true)
    {
        bail!("the docker context {name} skips TLS verification, which imggen does not do; give it the engine's CA with `docker context update {name} --docker ca=...`");
    }
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir
        .join("ca.pem")
        .exists()
        .then_some(TlsFiles { dir: tls_dir });
    Ok(Endpoint {
        host: engine_host(Some(host)),
        tls,
        context: Some(name.to_string()),
    })
}

/// Refuses schemes imggen cannot connect with, and TLS files that are missing.
fn checked(endpoint: Endpoint) -> Result<Endpoint> {
    let host = &endpoint.host;
    if host.starts_with("ssh://") {
        bail!("the engine address {host} uses ssh://, which imggen cannot connect to; forward the socket (`ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST`) and set DOCKER_HOST=unix:///tmp/docker.sock");
    }
    if let Some(tls) = &endpoint.tls {
        if !(host.starts_with("tcp://") || host.starts_with("https://")) {
            bail!("TLS is asked for the engine at {host}, which is not a tcp:// address; unset DOCKER_TLS_VERIFY or use tcp://HOST:PORT");
        }
        for file in [tls.ca(), tls.cert(), tls.key()] {
            if !file.is_file() {
                bail!(
                    "{} is missing, and TLS to the engine at {host} needs it; put ca.pem, cert.pem and key.pem in {} (DOCKER_CERT_PATH)",
                    file.display(),
                    tls.dir.display()
                );
            }
        }
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(config_dir: &Path) -> EndpointEnv {
        EndpointEnv {
            config_dir: Some(config_dir.to_path_buf()),
            ..EndpointEnv::default()
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn context(config: &Path, name: &str, host: &str, tls: bool) {
        let id = context_dir_name(name);
        write(
            &config.join(format!("contexts/meta/{id}/meta.json")),
            &format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        );
        if tls {
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                write(&config.join(format!("contexts/tls/{id}/docker/{f}")), "x");
            }
        }
    }

    #[test]
    fn hosts_default_and_accept_bare_paths() {
        assert_eq!(engine_host(None), DEFAULT_HOST);
        assert_eq!(engine_host(Some("")), DEFAULT_HOST);
        assert_eq!(
            engine_host(Some("/run/podman/podman.sock")),
            "unix:///run/podman/podman.sock"
        );
        assert_eq!(
            engine_host(Some("tcp://127.0.0.1:2375")),
            "tcp://127.0.0.1:2375"
        );
    }

    #[test]
    fn context_directories_are_the_sha256_of_the_name() {
        // `docker context create remote` writes contexts/meta/<this>/meta.json.
        assert_eq!(
            context_dir_name("remote"),
            "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
        );
        assert_eq!(
            context_dir_name("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }

    #[test]
    fn docker_host_wins_then_docker_context_then_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path();
        context(config, "tls", "tcp://10.0.0.1:2376", true);
        context(config, "plain", "unix:///run/other.sock", false);
        write(
            &config.join("config.json"),
            r#"{"currentContext": "plain"}"#,
        );
        let e = resolve(&env(config)).unwrap();
        assert_eq!(
            e,
            Endpoint {
                host: "unix:///run/other.sock".into(),
                tls: None,
                context: Some("plain".into())
            }
        );
        let e = resolve(&EndpointEnv {
            context: Some("tls".into()),
            ..env(config)
        })
        .unwrap();
        assert_eq!(e.host, "tcp://10.0.0.1:2376");
        assert_eq!(
            e.tls.unwrap().dir,
            config.join(format!("contexts/tls/{}/docker", context_dir_name("tls")))
        );
        let e = resolve(&EndpointEnv {
            context: Some("tls".into()),
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            ..env(config)
        })
        .unwrap();
        assert_eq!(
            (e.host.as_str(), e.tls, e.context),
            ("tcp://127.0.0.1:2375", None, None)
        );
        let e = resolve(&EndpointEnv {
            context: Some("default".into()),
            ..env(config)
        })
        .unwrap();
        assert_eq!(e.host, DEFAULT_HOST);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve(&env(empty.path())).unwrap().host, DEFAULT_HOST);
    }

    #[test]
    fn tls_from_the_environment_needs_its_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let base = EndpointEnv {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            tls_verify: Some("1".into()),
            cert_path: Some(dir.path().to_path_buf()),
            ..EndpointEnv::default()
        };
        let err = resolve(&base).unwrap_err().to_string();
        assert!(
            err.contains("ca.pem is missing") && err.contains("DOCKER_CERT_PATH"),
            "{err}"
        );
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            write(&dir.path().join(f), "x");
        }
        let e = resolve(&base).unwrap();
        assert_eq!(e.tls.unwrap().dir, dir.path());
        let err = resolve(&EndpointEnv {
            docker_host: Some("unix:///var/run/docker.sock".into()),
            ..base
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a tcp:// address"), "{err}");
    }

    #[test]
    fn refusals_are_one_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path();
        let err = resolve(&EndpointEnv {
            docker_host: Some("ssh://me@host".into()),
            ..env(config)
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ssh://") && err.contains("DOCKER_HOST=unix://"),
            "{err}"
        );
        let err = resolve(&EndpointEnv {
            context: Some("gone".into()),
            ..env(config)
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("DOCKER_CONTEXT names the docker context gone, which does not exist"),
            "{err}"
        );
        context(config, "ssh", "ssh://me@host", false);
        write(&config.join("config.json"), r#"{"currentContext": "ssh"}"#);
        assert!(resolve(&env(config))
            .unwrap_err()
            .to_string()
            .contains("ssh://"));
        write(&config.join("config.json"), "{");
        assert!(resolve(&env(config))
            .unwrap_err()
            .to_string()
            .contains("config.json: not valid JSON"));
        let id = context_dir_name("skip");
        write(
            &config.join(format!("contexts/meta/{id}/meta.json")),
            r#"{"Name":"skip","Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":true}}}"#,
        );
        let err = resolve(&EndpointEnv {
            context: Some("skip".into()),
            ..env(config)
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("skips TLS verification"), "{err}");
    }
}
