//! Image references in Docker's grammar: `[host[:port]/]path[:tag][@digest]`.
//!
//! The rules follow the distribution project's reference grammar: the first path component is a
//! registry host when it holds a `.` or a `:` or is `localhost`; otherwise the registry is
//! Docker Hub (`docker.io`) and a single-component name gains `library/`. Path components are
//! lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`; a tag is up to 128 word
//! characters, dots and dashes, not starting with either; a digest is `algorithm:hex`.

use anyhow::{bail, Result};
use std::fmt;

/// Docker Hub's registry name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The address credential stores use for Docker Hub.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// The longest repository name (registry and path) a reference may have.
const MAX_NAME: usize = 255;
/// The longest tag.
const MAX_TAG: usize = 128;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host with an optional port, e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`.
    pub registry: String,
    /// Path within the registry, e.g. `library/debian`, `acme/api`.
    pub repository: String,
    /// The tag, if the reference names one.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if the reference names one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text`; errors are one sentence naming the reference and the rule it breaks.
    pub fn parse(text: &str) -> Result<Reference> {
        let fail = |why: &str| -> Result<Reference> {
            bail!("image reference `{text}` is invalid: {why}")
        };
        if text.is_empty() {
            return fail("it is empty; give a name such as `myapp:1.0`");
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if let Err(why) = check_digest(digest) {
                    return fail(&why);
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        // A tag follows the last colon that comes after the last slash (a colon before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if let Err(why) = check_tag(tag) {
                return fail(&why);
            }
        }
        if name.is_empty() {
            return fail("the repository name is missing");
        }
        if name.len() > MAX_NAME {
            return fail(&format!(
                "the repository name is longer than {MAX_NAME} characters"
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if let Err(why) = check_host(first) {
                    return fail(&why);
                }
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return fail("repository names must be lowercase");
        }
        for component in path.split('/') {
            if let Err(why) = check_path_component(component) {
                return fail(&why);
            }
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The repository as Docker prints it: `docker.io/` and `library/` dropped for Docker Hub.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to `digest`, without a tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The key credential stores file this registry under.
    pub fn auth_key(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_AUTH_KEY
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn check_tag(tag: &str) -> std::result::Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || tag.len() > MAX_TAG {
        return Err(format!(
            "the tag `{tag}` must start with a letter, digit or `_` and be at most {MAX_TAG} characters"
        ));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(format!(
            "the tag `{tag}` may only hold letters, digits, `_`, `.` and `-`"
        ));
    }
    Ok(())
}

fn check_digest(digest: &str) -> std::result::Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "the digest `{digest}` must look like `sha256:<64 hex digits>`"
        ));
    };
    let algorithm_ok = algorithm
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && algorithm.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let sha256_ok = algorithm != "sha256"
        || (hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    if !algorithm_ok || !hex_ok || !sha256_ok {
        return Err(format!(
            "the digest `{digest}` must look like `sha256:<64 hex digits>`"
        ));
    }
    Ok(())
}

fn check_host(host: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "the registry `{host}` is not a host name or address with an optional :port"
        ))
    };
    let (name, port) = if let Some(inner) = host.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:5000`.
        let Some((addr, after)) = inner.split_once(']') else {
            return bad();
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return bad();
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
            return bad();
        }
    }
    if host.starts_with('[') {
        return Ok(());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if !name.split('.').all(component_ok) {
        return bad();
    }
    Ok(())
}

fn check_path_component(component: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "the path component `{component}` must be lowercase letters and digits, joined by `.`, `_`, `__` or dashes"
        ))
    };
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or one or more `-`.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return bad(),
        }
        if i == start || i >= bytes.len() || !alnum(bytes[i]) {
            return bad();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(s).unwrap();
        (r.registry, r.repository, r.tag, r.digest)
    }

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn single_names_are_docker_hub_library_images() {
        assert_eq!(
            parts("debian"),
            ("docker.io".into(), "library/debian".into(), None, None)
        );
        assert_eq!(
            parts("debian:bookworm-slim").2.as_deref(),
            Some("bookworm-slim")
        );
        assert_eq!(parts("acme/api:1.0").1, "acme/api");
        assert_eq!(
            Reference::parse("debian:12").unwrap().to_string(),
            "debian:12"
        );
        assert_eq!(
            Reference::parse("debian").unwrap().auth_key(),
            DOCKER_HUB_AUTH_KEY
        );
    }

    #[test]
    fn registries_with_ports_and_dots_are_recognised() {
        assert_eq!(
            parts("127.0.0.1:5000/hello-axum:abc1234"),
            (
                "127.0.0.1:5000".into(),
                "hello-axum".into(),
                Some("abc1234".into()),
                None
            )
        );
        assert_eq!(parts("localhost/a/b").0, "localhost");
        assert_eq!(parts("ghcr.io/acme/team/api").1, "acme/team/api");
        assert_eq!(parts("[::1]:5000/x:y").0, "[::1]:5000");
        let r = Reference::parse("127.0.0.1:5001/x").unwrap();
        assert_eq!(r.auth_key(), "127.0.0.1:5001");
        assert_eq!(r.to_string(), "127.0.0.1:5001/x");
    }

    #[test]
    fn digests_parse_and_pin() {
        let (_, repo, tag, digest) = parts(&format!("ghcr.io/acme/api:1@{SHA}"));
        assert_eq!(
            (repo.as_str(), tag.as_deref(), digest.as_deref()),
            ("acme/api", Some("1"), Some(SHA))
        );
        let pinned = Reference::parse("ghcr.io/acme/api:1")
            .unwrap()
            .with_digest(SHA);
        assert_eq!(pinned.to_string(), format!("ghcr.io/acme/api@{SHA}"));
    }

    #[test]
    fn separators_follow_the_grammar() {
        for ok in ["a__b", "a.b", "a---b", "a_b", "a1/b2.c-d"] {
            Reference::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "a___b", "a..b", "-a", "a-", "a_.b", "a/", "/a", "a//b", "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn invalid_references_name_the_value_and_the_rule() {
        let err = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert!(err("Acme/API").contains("lowercase"), "{}", err("Acme/API"));
        assert!(err("api:-bad").contains("`-bad`"));
        assert!(err("api:a+b").contains("tag"));
        assert!(err(&format!("api:{}", "x".repeat(129))).contains("128"));
        assert!(err("api@sha256:abc").contains("digest"));
        assert!(err("").contains("empty"));
        assert!(err("host:99999999/api").contains("registry"));
        assert!(err("bad_host.io:5000/api").contains("registry"));
        assert!(err(":tag").contains("missing"));
        assert!(err("a b").starts_with("image reference `a b` is invalid"));
    }
}
