//! Registry credentials for `--push`: the environment first, then Docker's config.json.
//!
//! Order: `IMGGEN_REGISTRY_USERNAME` + `IMGGEN_REGISTRY_PASSWORD` (for CI) win; otherwise
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) through the `docker_credential`
//! crate, which reads `credHelpers` (a `docker-credential-*` helper per registry), `auths`
//! (base64 `user:password`, or an identity token) and `credsStore` (one helper for all), in that
//! order. No credentials at all means an anonymous push. Secrets never reach logs: `Debug`
//! redacts them and errors name only the registry and the source.

use crate::reference::Reference;
use anyhow::{bail, Result};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable holding the registry user name for CI.
pub const USERNAME_VAR: &str = "IMGGEN_REGISTRY_USERNAME";
/// The variable holding the registry password or token for CI.
pub const PASSWORD_VAR: &str = "IMGGEN_REGISTRY_PASSWORD";

/// A registry secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and a password (or access token used as one).
    UserPassword {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
    /// An identity token from `docker login` with an OAuth flow.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::UserPassword { username, .. } => f
                .debug_struct("UserPassword")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Where credentials came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `IMGGEN_REGISTRY_USERNAME` / `IMGGEN_REGISTRY_PASSWORD`.
    Env,
    /// A `docker-credential-<name>` helper named in config.json.
    Helper(String),
    /// An `auths` entry in config.json.
    ConfigFile(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env => write!(f, "{USERNAME_VAR}/{PASSWORD_VAR}"),
            Source::Helper(name) => write!(f, "docker-credential-{name}"),
            Source::ConfigFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Credentials found for one registry, and their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The secret.
    pub credentials: Credentials,
    /// Where it came from.
    pub source: Source,
}

/// Docker's config directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
}

/// Reads the two CI variables from the process environment.
pub fn env_pair() -> (Option<String>, Option<String>) {
    let get = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    (get(USERNAME_VAR), get(PASSWORD_VAR))
}

/// Finds credentials for `reference`'s registry; `Ok(None)` means push anonymously.
pub fn lookup(
    reference: &Reference,
    env: (Option<String>, Option<String>),
    config_dir: Option<&Path>,
) -> Result<Option<Found>> {
    match env {
        (Some(username), Some(password)) => {
            return Ok(Some(Found {
                credentials: Credentials::UserPassword { username, password },
                source: Source::Env,
            }))
        }
        (Some(_), None) => bail!("{USERNAME_VAR} is set but {PASSWORD_VAR} is not; set both, or neither to use Docker's config.json"),
        (None, Some(_)) => bail!("{PASSWORD_VAR} is set but {USERNAME_VAR} is not; set both, or neither to use Docker's config.json"),
        (None, None) => {}
    }
    match config_dir {
        Some(dir) => from_config_file(reference, dir.join("config.json")),
        None => Ok(None),
    }
}

/// Credentials for `reference`'s registry from Docker's config.json at `path` (its
/// credHelpers, auths or credsStore); `Ok(None)` when it has none.
fn from_config_file(reference: &Reference, path: PathBuf) -> Result<Option<Found>> {
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!(
            "{}: cannot read ({e}); fix its permissions or point DOCKER_CONFIG elsewhere",
            path.display()
        ),
    };
    let helpers: HelperNames = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not valid JSON ({e}); fix it or run `docker login` to rewrite it",
            path.display()
        )
    })?;
    let key = reference.auth_key();
    let registry = &reference.registry;
    let helper = helpers
        .cred_helpers
        .get(key)
        .filter(|h| !h.is_empty())
        .or(helpers.creds_store.as_ref().filter(|h| !h.is_empty()))
        .cloned();
    let helper_name = || format!("docker-credential-{}", helper.as_deref().unwrap_or("?"));
    let credentials = match docker_credential::get_credential_from_reader(&text[..], key) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Credentials::UserPassword { username, password }
        }
        Ok(DockerCredential::IdentityToken(token)) => Credentials::IdentityToken(token),
        Err(CredentialRetrievalError::NoCredentialConfigured) => return Ok(None),
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if stdout.contains("credentials not found") || stderr.contains("credentials not found") =>
        {
            return Ok(None)
        }
        Err(CredentialRetrievalError::HelperFailure { .. }) => bail!(
            "{} failed to give credentials for {registry}; run `docker login {registry}` or set {USERNAME_VAR} and {PASSWORD_VAR}",
            helper_name()
        ),
        Err(CredentialRetrievalError::HelperCommunicationError) => bail!(
            "{} (named in {}) could not be run for {registry}; install it or remove it from that file",
            helper_name(),
            path.display()
        ),
        Err(CredentialRetrievalError::MalformedHelperResponse) => bail!(
            "{} answered for {registry} with something that is not credentials; check the helper or run `docker login {registry}` again",
            helper_name()
        ),
        Err(CredentialRetrievalError::CredentialDecodingError)
        | Err(CredentialRetrievalError::CredentialMismatchError) => bail!(
            "{}: the auths entry for {registry} is not a base64 `user:password`; run `docker login {registry}` again",
            path.display()
        ),
        Err(CredentialRetrievalError::ConfigNotFound)
        | Err(CredentialRetrievalError::ConfigReadError) => bail!(
            "{}: not a Docker config file; fix it or run `docker login` to rewrite it",
            path.display()
        ),
    };
    let from_helper = helpers.cred_helpers.get(key).is_some_and(|h| !h.is_empty())
        || (!helpers.has_file_auth(key) && helper.is_some());
    Ok(Some(Found {
        credentials,
        source: match (from_helper, helper) {
            (true, Some(name)) => Source::Helper(name),
            _ => Source::ConfigFile(path),
        },
    }))
}

/// The parts of config.json that name helpers, for messages.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct HelperNames {
    creds_store: Option<String>,
    cred_helpers: HashMap<String, String>,
    auths: HashMap<String, serde_json::Value>,
}

impl HelperNames {
    fn has_file_auth(&self, key: &str) -> bool {
        self.auths.get(key).is_some_and(|v| {
            ["auth", "identitytoken", "password"].iter().any(|f| {
                v.get(f)
                    .and_then(|s| s.as_str())
                    .is_some_and(|s| !s.is_empty())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn write_config(dir: &Path, json: &str) {
        std::fs::write(dir.join("config.json"), json).unwrap();
    }

    fn auth(user_pass: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    }

    fn reg(r: &str) -> Reference {
        Reference::parse(r).unwrap()
    }

    fn user_pass(found: Option<Found>) -> (String, String, Source) {
        match found.unwrap() {
            Found {
                credentials: Credentials::UserPassword { username, password },
                source,
            } => (username, password, source),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auths_entry_is_decoded_for_its_registry_only() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}}}"#,
                auth("ci:s3cret")
            ),
        );
        let (u, p, source) = user_pass(
            lookup(&reg("127.0.0.1:5001/app:1"), (None, None), Some(dir.path())).unwrap(),
        );
        assert_eq!((u.as_str(), p.as_str()), ("ci", "s3cret"));
        assert_eq!(source, Source::ConfigFile(dir.path().join("config.json")));
        assert_eq!(
            lookup(&reg("127.0.0.1:5000/app:1"), (None, None), Some(dir.path())).unwrap(),
            None
        );
    }

    #[test]
    fn docker_hub_uses_the_index_key() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
                auth("hub:pw")
            ),
        );
        let (u, ..) =
            user_pass(lookup(&reg("acme/api:1"), (None, None), Some(dir.path())).unwrap());
        assert_eq!(u, "hub");
    }

    #[test]
    fn env_wins_over_config_and_must_be_complete() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}, "credHelpers": {{"127.0.0.1:5001": "nonexistent-helper"}}}}"#,
                auth("ci:file")
            ),
        );
        let r = reg("127.0.0.1:5001/app");
        let (u, p, source) = user_pass(
            lookup(
                &r,
                (Some("env".into()), Some("pw".into())),
                Some(dir.path()),
            )
            .unwrap(),
        );
        assert_eq!((u.as_str(), p.as_str(), source), ("env", "pw", Source::Env));
        let err = lookup(&r, (Some("env".into()), None), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(PASSWORD_VAR), "{err}");
        let err = lookup(&r, (None, Some("pw".into())), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(USERNAME_VAR), "{err}");
    }

    #[test]
    fn cred_helpers_come_before_auths_and_a_missing_helper_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}, "credHelpers": {{"127.0.0.1:5001": "imggen-no-such-helper"}}}}"#,
                auth("ci:file")
            ),
        );
        let err = lookup(&reg("127.0.0.1:5001/app"), (None, None), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-imggen-no-such-helper")
                && err.contains("127.0.0.1:5001"),
            "{err}"
        );
    }

    #[test]
    fn creds_store_applies_to_registries_without_file_auth() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"a.example": {{"auth": "{}"}}, "b.example": {{}}}}, "credsStore": "imggen-no-such-store"}}"#,
                auth("a:pw")
            ),
        );
        let (u, ..) =
            user_pass(lookup(&reg("a.example/app"), (None, None), Some(dir.path())).unwrap());
        assert_eq!(u, "a");
        let err = lookup(&reg("b.example/app"), (None, None), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-imggen-no-such-store"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_broken_config() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            lookup(&reg("x.io/a"), (None, None), Some(dir.path())).unwrap(),
            None
        );
        assert_eq!(lookup(&reg("x.io/a"), (None, None), None).unwrap(), None);
        write_config(dir.path(), "{not json");
        let err = lookup(&reg("x.io/a"), (None, None), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json") && err.contains("JSON"), "{err}");
        write_config(dir.path(), r#"{"auths": {"x.io": {"auth": "%%%"}}}"#);
        let err = lookup(&reg("x.io/a"), (None, None), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker login x.io"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::UserPassword {
            username: "ci".into(),
            password: "hunter2".into(),
        };
        let found = Found {
            credentials: c,
            source: Source::Env,
        };
        let shown = format!("{found:?} {:?}", Credentials::IdentityToken("tok3n".into()));
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(
            shown.contains("ci") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
