//! What each configuration value can legally be: pure grammar checks, run before any value
//! reaches a Dockerfile, a shell command or a deploy file.
//!
//! Each check returns `Err(rule)`, a phrase saying what the value must be; [`config`] turns it
//! into one error naming the key and the layer that set it (imggen.toml, `IMGGEN_*` or a flag).

use crate::config::Config;
use anyhow::{bail, Result};

/// A grammar check: `Err(rule)` says what the value must be.
type Checker = fn(&str) -> Result<(), &'static str>;

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
/// A build secret's id: what `--secret id=` and `RUN --mount=type=secret,id=` share.
pub fn secret_id(s: &str) -> Result<(), &'static str> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("an id of 1 to 64 letters, digits, `-`, `_` or `.`, e.g. \"git-credentials\"")
    }
}

/// A rustup toolchain, component or target name (`1.95.0`, `nightly-2025-01-01`, `clippy`,
/// `x86_64-unknown-linux-musl`): safe to write into a `RUN rustup` line.
pub fn is_rustup_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

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

/// A command-line argument of the image's CMD: any text on one line. Exec-form CMD, Cloud Run's
/// args and systemd's ExecStart quote it, but none can carry a line break or NUL.
pub fn argument(s: &str) -> Result<(), &'static str> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        Err("one-line arguments, without NUL or other control characters")
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

/// A DNS label: 1 to `max` lowercase letters, digits and inner `-`, starting with a letter
/// (Fly app names, Cloud Run service and job names).
pub fn dns_label(s: &str, max: usize) -> Result<(), &'static str> {
    if (1..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Ok(())
    } else if max == 63 {
        Err("a name of at most 63 lowercase letters, digits and `-`, starting with a letter, such as \"acme-api\"")
    } else {
        Err("a name of at most 49 lowercase letters, digits and `-`, starting with a letter, such as \"acme-api\"")
    }
}

/// A Fly.io region code: three lowercase letters, such as `iad` or `ams`.
pub fn fly_region(s: &str) -> Result<(), &'static str> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err("a Fly region code of three lowercase letters such as \"iad\" or \"ams\" (`fly platform regions` lists them)")
    }
}

/// Fly's idle-machine setting: `stop`, `suspend` or `off`.
pub fn fly_auto_stop(s: &str) -> Result<(), &'static str> {
    one_of(
        s,
        &["stop", "suspend", "off"],
        "a Fly idle-machine setting; use \"stop\", \"suspend\" or \"off\"",
    )
}

/// A Fly machine preset.
pub fn fly_size(s: &str) -> Result<(), &'static str> {
    one_of(
        s,
        &[
            "shared-cpu-1x",
            "shared-cpu-2x",
            "shared-cpu-4x",
            "shared-cpu-8x",
            "performance-1x",
            "performance-2x",
            "performance-4x",
            "performance-8x",
            "performance-16x",
        ],
        "a Fly machine preset: shared-cpu-1x, -2x, -4x, -8x or performance-1x, -2x, -4x, -8x, -16x",
    )
}

/// Fly machine memory: a whole number followed by `mb` or `gb` (`512mb`, `1gb`).
pub fn fly_memory(s: &str) -> Result<(), &'static str> {
    let lower = s.to_ascii_lowercase();
    let digits = lower
        .strip_suffix("mb")
        .or_else(|| lower.strip_suffix("gb"))
        .unwrap_or_default();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a memory size such as \"512mb\" or \"1gb\"")
    }
}

/// Fly's CPU kind: `shared` or `performance`.
pub fn fly_cpu_kind(s: &str) -> Result<(), &'static str> {
    one_of(
        s,
        &["shared", "performance"],
        "\"shared\" or \"performance\"",
    )
}

/// A command on one line (fly `release_command`): any text without line breaks, NUL or other
/// control characters, since fly.toml quotes it but Fly runs it as one command line.
pub fn command_line(s: &str) -> Result<(), &'static str> {
    if !s.trim().is_empty() && !s.chars().any(|c| c.is_control() && c != '\t') {
        Ok(())
    } else {
        Err("a command on one line, such as \"/usr/local/bin/migrate\", without control characters")
    }
}

/// A Cloud Run CPU limit: a whole or decimal number of vCPUs (`1`, `0.5`) or millicpus (`500m`).
pub fn cpu_quantity(s: &str) -> Result<(), &'static str> {
    let number = |n: &str| {
        let (whole, frac) = n.split_once('.').unwrap_or((n, "0"));
        !whole.is_empty()
            && !frac.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    let milli = s
        .strip_suffix('m')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if number(s) || milli {
        Ok(())
    } else {
        Err("a CPU count such as \"1\", \"0.5\" or \"500m\"")
    }
}

/// A Cloud Run memory limit: a whole number with an optional unit `k`, `Ki`, `M`, `Mi`, `G` or
/// `Gi` (Kubernetes quantity form: `512Mi`, `1Gi`).
pub fn memory_quantity(s: &str) -> Result<(), &'static str> {
    let digits = ["Ki", "Mi", "Gi", "k", "M", "G"]
        .iter()
        .find_map(|u| s.strip_suffix(u))
        .unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a memory size such as \"512Mi\" or \"1Gi\" (units k, Ki, M, Mi, G, Gi)")
    }
}

/// A Render service name: letters, digits, `-`, `_` and `.`, at most 100.
pub fn render_service(s: &str) -> Result<(), &'static str> {
    if (1..=100).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(())
    } else {
        Err("a service name of letters, digits, `-`, `_` and `.`, such as \"api\"")
    }
}

/// A Render instance type, as render.yaml names it.
pub fn render_plan(s: &str) -> Result<(), &'static str> {
    one_of(
        s,
        &[
            "free",
            "starter",
            "starter plus",
            "standard",
            "standard plus",
            "pro",
            "pro plus",
            "pro max",
            "pro ultra",
        ],
        "a Render plan: free, starter, starter plus, standard, standard plus, pro, pro plus, pro max or pro ultra",
    )
}

/// A Render region.
pub fn render_region(s: &str) -> Result<(), &'static str> {
    one_of(
        s,
        &["oregon", "ohio", "virginia", "frankfurt", "singapore"],
        "a Render region: oregon, ohio, virginia, frankfurt or singapore",
    )
}

/// A manifest digest, `sha256:` and 64 lowercase hex digits.
pub fn image_digest(s: &str) -> Result<(), &'static str> {
    match s.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(()),
        _ => Err("a manifest digest, `sha256:` and 64 lowercase hex digits, as `imggen build --push --write-digest` records it"),
    }
}

/// `s` is one of `allowed`; otherwise `rule`.
fn one_of(s: &str, allowed: &[&str], rule: &'static str) -> Result<(), &'static str> {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(rule)
    }
}

/// Checks every value of a (layered) configuration; the first bad one is the error.
pub fn config(c: &Config) -> Result<()> {
    build_settings(c)?;
    image_section(c)?;
    if let Some(v) = c.build.as_ref().and_then(|b| b.engine.as_ref()) {
        check(c, "build.engine", v, engine(v))?;
    }
    if let Some(v) = c.build.as_ref().and_then(|b| b.base_mirror.as_ref()) {
        check(c, "build.base_mirror", v, registry_host(v))?;
    }
    platform_sections(c)
}

/// `[build] base_mirror`: a registry host with an optional port, no scheme or path.
pub fn registry_host(s: &str) -> Result<(), &'static str> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let host_ok = !host.is_empty()
        && !host.starts_with(['.', '-'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err("a registry host with an optional port, e.g. mirror.example.com or 127.0.0.1:5000 (no scheme, no path)")
    }
}

/// `[build] engine`: an engine imggen builds with.
pub fn engine(s: &str) -> Result<(), &'static str> {
    match crate::config::Engine::parse(s) {
        Some(_) => Ok(()),
        None => Err("one of docker, oci, auto"),
    }
}

/// `rule`'s verdict on `key = value`, as an error naming the layer it came from.
fn check(c: &Config, key: &str, value: &str, rule: Result<(), &'static str>) -> Result<()> {
    match rule {
        Ok(()) => Ok(()),
        Err(rule) => bail!("{} must be {rule}", c.setting(key, value)),
    }
}

/// The top-level settings: binary, cargo, toolchain, port, routes, files, packages, env.
fn build_settings(c: &Config) -> Result<()> {
    if let Some(v) = &c.bin {
        check(c, "bin", v, cargo_name(v))?;
    }
    if let Some(v) = &c.profile {
        check(c, "profile", v, profile(v))?;
    }
    for v in c.features.iter().flatten() {
        check(c, "features", v, cargo_feature(v))?;
    }
    if let Some(v) = &c.rust_version {
        check(c, "rust_version", v, rust_version(v))?;
    }
    if let Some(v) = &c.builder_image {
        check(c, "builder_image", v, image_reference(v))?;
    }
    for v in c.secrets.iter().flatten() {
        check(c, "secrets", v, secret_id(v))?;
    }
    if let Some(p) = c.port {
        if let Err(rule) = port(p) {
            bail!("{} is {rule}", c.setting("port", &p.to_string()));
        }
    }
    if let Some(v) = &c.health_path {
        check(c, "health_path", v, url_path(v))?;
    }
    for v in c.include.iter().flatten() {
        check(c, "include", v, relative_dir(v))?;
    }
    for v in c.build_packages.iter().flatten() {
        check(c, "build_packages", v, debian_package(v))?;
    }
    for v in c.runtime_packages.iter().flatten() {
        check(c, "runtime_packages", v, debian_package(v))?;
    }
    for v in c.args.iter().flatten() {
        check(c, "args", v, argument(v))?;
    }
    for (k, v) in c.env.iter().flatten() {
        check(c, "env", k, env_name(k))?;
        check(c, &format!("env.{k}"), v, env_value(v))?;
    }
    Ok(())
}

/// `[image]`.
fn image_section(c: &Config) -> Result<()> {
    if let Some(image) = &c.image {
        if let Some(v) = &image.name {
            check(c, "image.name", v, image_reference(v))?;
        }
        for v in image.tags.iter().flatten() {
            check(c, "image.tags", v, image_tag(v))?;
        }
        if let Some(v) = &image.digest {
            check(c, "image.digest", v, image_digest(v))?;
        }
    }
    Ok(())
}

/// `[fly]`, `[cloud_run]`, `[render]` and `[vm]`, each against its platform's grammar.
fn platform_sections(c: &Config) -> Result<()> {
    if let Some(fly) = &c.fly {
        let checks: [(&str, &Option<String>, Checker); 7] = [
            ("fly.app", &fly.app, |v| dns_label(v, 63)),
            ("fly.primary_region", &fly.primary_region, fly_region),
            (
                "fly.auto_stop_machines",
                &fly.auto_stop_machines,
                fly_auto_stop,
            ),
            ("fly.size", &fly.size, fly_size),
            ("fly.memory", &fly.memory, fly_memory),
            ("fly.cpu_kind", &fly.cpu_kind, fly_cpu_kind),
            ("fly.release_command", &fly.release_command, command_line),
        ];
        for (key, value, rule) in checks {
            if let Some(v) = value {
                check(c, key, v, rule(v))?;
            }
        }
    }
    if let Some(cr) = &c.cloud_run {
        let checks: [(&str, &Option<String>, Checker); 4] = [
            ("cloud_run.service", &cr.service, |v| dns_label(v, 63)),
            ("cloud_run.image", &cr.image, image_reference),
            ("cloud_run.cpu", &cr.cpu, cpu_quantity),
            ("cloud_run.memory", &cr.memory, memory_quantity),
        ];
        for (key, value, rule) in checks {
            if let Some(v) = value {
                check(c, key, v, rule(v))?;
            }
        }
    }
    if let Some(r) = &c.render {
        let checks: [(&str, &Option<String>, Checker); 3] = [
            ("render.service", &r.service, render_service),
            ("render.plan", &r.plan, render_plan),
            ("render.region", &r.region, render_region),
        ];
        for (key, value, rule) in checks {
            if let Some(v) = value {
                check(c, key, v, rule(v))?;
            }
        }
    }
    if let Some(vm) = &c.vm {
        if let Some(v) = &vm.domain {
            check(c, "vm.domain", v, dns_name(v))?;
        }
        if let Some(v) = &vm.static_dir {
            check(c, "vm.static_dir", v, relative_dir(v))?;
        }
    }
    if let Some(ci) = &c.ci {
        let checks: [(&str, &Option<String>, Checker); 4] = [
            ("ci.imggen_version", &ci.imggen_version, semver_version),
            (
                "ci.gcp_workload_identity_provider",
                &ci.gcp_workload_identity_provider,
                gcp_wif_provider,
            ),
            (
                "ci.gcp_service_account",
                &ci.gcp_service_account,
                gcp_service_account,
            ),
            ("ci.gcp_region", &ci.gcp_region, gcp_region),
        ];
        for (key, value, rule) in checks {
            if let Some(v) = value {
                check(c, key, v, rule(v))?;
            }
        }
    }
    Ok(())
}

/// A release version cargo install can pin: `MAJOR.MINOR.PATCH` with an optional `-pre`.
pub fn semver_version(s: &str) -> Result<(), &'static str> {
    let (core, pre) = s.split_once('-').unwrap_or((s, "a"));
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && !pre.is_empty()
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("a version such as \"0.4.1\"")
    }
}

/// A Workload Identity Federation provider's resource name.
pub fn gcp_wif_provider(s: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = s.split('/').collect();
    let id = |p: &str| {
        (1..=63).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let ok = parts.len() == 8
        && parts[0] == "projects"
        && !parts[1].is_empty()
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && parts[2] == "locations"
        && parts[3] == "global"
        && parts[4] == "workloadIdentityPools"
        && id(parts[5])
        && parts[6] == "providers"
        && id(parts[7]);
    if ok {
        Ok(())
    } else {
        Err("a provider such as \"projects/123456/locations/global/workloadIdentityPools/ci/providers/github\"")
    }
}

/// A service account e-mail address.
pub fn gcp_service_account(s: &str) -> Result<(), &'static str> {
    let ok = s.split_once('@').is_some_and(|(user, domain)| {
        (6..=30).contains(&user.len())
            && user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && dns_name(domain).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("a service account such as \"deployer@acme-prod.iam.gserviceaccount.com\"")
    }
}

/// A Google Cloud region such as `europe-west1`.
pub fn gcp_region(s: &str) -> Result<(), &'static str> {
    let ok = (4..=30).contains(&s.len())
        && s.split('-').count() >= 2
        && s.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err("a region such as \"europe-west1\"")
    }
}

/// Words of an env var name (split on `_`) that mark a credential wherever they stand:
/// `JWT_SECRET`, `SECRET_KEY_BASE`, `GITHUB_TOKEN_V2`, `DB_PASSWORD`, `SENTRY_DSN`.
const SECRET_ENV_WORDS: &[&str] = &[
    "SECRET",
    "SECRETS",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "CREDENTIALS",
    "DSN",
];

/// Whole names that hold credentials although no word says so.
const SECRET_ENV_NAMES: &[&str] = &["DATABASE_URL", "REDIS_URL", "MONGODB_URI", "MONGO_URL"];

/// Suffixes of names that point at or describe a credential without holding one: public keys,
/// key names and ids, and paths (`TLS_KEY_FILE`, `SECRETS_DIR`, `PASSWORD_FILE`).
const NOT_SECRET_ENV: &[&str] = &["PUBLIC_KEY", "KEY_ID", "PRIMARY_KEY", "FILE", "PATH", "DIR"];

/// True when an env var named `name` holds a credential, the one rule for the whole product
/// (the source scan's reads, `[env]` refusals, platform secrets): a word such as `SECRET`,
/// `TOKEN`, `PASSWORD` or `DSN` anywhere in the name, `*_KEY` and `*PRIVATE_KEY*`, `DATABASE_URL`,
/// and any `*_URL`/`*_URI` naming a database; not names ending in `_PUBLIC_KEY`, `_KEY_ID`,
/// `_FILE`, `_PATH` or `_DIR`, which describe a credential without holding it.
pub fn is_secret_env(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    if NOT_SECRET_ENV
        .iter()
        .any(|n| name == *n || name.ends_with(&format!("_{n}")))
    {
        return false;
    }
    let words: Vec<&str> = name.split('_').collect();
    if SECRET_ENV_NAMES.contains(&name.as_str())
        || words.iter().any(|w| SECRET_ENV_WORDS.contains(w))
        || words.last() == Some(&"KEY")
        || name.contains("PRIVATE_KEY")
    {
        return true;
    }
    (name.ends_with("_URL") || name.ends_with("_URI"))
        && [
            "DATABASE", "DB", "POSTGRES", "PG", "MYSQL", "REDIS", "MONGO", "AMQP", "RABBITMQ",
        ]
        .iter()
        .any(|d| words.iter().any(|part| part == d || part.starts_with(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_env_names() {
        for n in [
            "JWT_SECRET",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "STRIPE_API_KEY",
            "DATABASE_URL",
            "SENTRY_DSN",
            "POSTGRES_URL",
            "APP_DB_URL",
            "SECRET_KEY",
            "SECRET_KEY_BASE",
            "API_TOKEN_V2",
            "SSH_PRIVATE_KEY_PEM",
        ] {
            assert!(is_secret_env(n), "{n}");
        }
        for n in [
            "PORT",
            "RUST_LOG",
            "APP_HOST",
            "JWT_PUBLIC_KEY",
            "AWS_ACCESS_KEY_ID",
            "TLS_KEY_FILE",
            "BASE_URL",
            "MONKEY",
            "KEYBOARD",
            "SECRETS_DIR",
            "DB_PASSWORD_FILE",
            "PASSENGER_COUNT",
        ] {
            assert!(!is_secret_env(n), "{n}");
        }
    }

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

    /// The error `validate` gives for imggen.toml text, which must name the key and the file.
    fn refused(toml_text: &str, key: &str) -> String {
        let c =
            Config::parse_file(&format!("version = 1\n{toml_text}"), "app/imggen.toml").unwrap();
        let err = config(&c).expect_err(toml_text).to_string();
        assert!(
            err.starts_with("app/imggen.toml: ") && err.contains(key),
            "{toml_text}: {err}"
        );
        err
    }

    fn accepted(toml_text: &str) {
        let c = Config::parse_file(&format!("version = 1\n{toml_text}"), "imggen.toml").unwrap();
        assert!(config(&c).is_ok(), "{toml_text}: {:?}", config(&c));
    }

    #[test]
    fn base_mirror_must_be_a_registry_host() {
        for bad in [
            "https://m.example",
            "m.example/library",
            "",
            "m.example:0",
            ":5000",
            "-m",
        ] {
            let err = refused(
                &format!("[build]\nbase_mirror = \"{bad}\"\n"),
                "[build] base_mirror",
            );
            assert!(err.contains("no scheme, no path"), "{err}");
        }
        for ok in ["mirror.gcr.io", "127.0.0.1:5000", "localhost:5000"] {
            accepted(&format!("[build]\nbase_mirror = \"{ok}\"\n"));
        }
    }

    #[test]
    fn build_engine_must_be_docker_oci_or_auto() {
        let err = refused(
            "[build]\nengine = \"podman\"\n",
            "[build] engine = \"podman\"",
        );
        assert!(err.contains("one of docker, oci, auto"), "{err}");
        for ok in ["docker", "oci", "auto"] {
            accepted(&format!("[build]\nengine = \"{ok}\"\n"));
        }
    }

    #[test]
    fn render_plan_with_a_line_break_is_refused() {
        let err = refused("[render]\nplan = \"\\n\"\n", "[render] plan = \"\\n\"");
        assert!(err.contains("must be a Render plan"), "{err}");
        refused("[render]\nplan = \"Starter\"\n", "[render] plan");
        for ok in ["free", "starter", "standard", "pro plus", "pro ultra"] {
            accepted(&format!("[render]\nplan = \"{ok}\"\n"));
        }
    }

    #[test]
    fn render_region_and_service_outside_their_grammar_are_refused() {
        refused("[render]\nregion = \"frankfurt\\n\"\n", "[render] region");
        refused("[render]\nregion = \"mars\"\n", "[render] region");
        refused("[render]\nservice = \"api: x\"\n", "[render] service");
        refused("[render]\nservice = \"\"\n", "[render] service");
        accepted("[render]\nservice = \"acme_api.v2\"\nregion = \"singapore\"\n");
    }

    #[test]
    fn image_digest_must_be_a_sha256_digest() {
        refused("[image]\ndigest = \"sha256:\\n\"\n", "[image] digest");
        refused("[image]\ndigest = \"sha256:ABC\"\n", "[image] digest");
        accepted(&format!(
            "[image]\ndigest = \"sha256:{}\"\n",
            "ab".repeat(32)
        ));
    }

    #[test]
    fn fly_release_command_must_be_one_line() {
        refused(
            "[fly]\nrelease_command = \"migrate\\nrm -rf /\"\n",
            "[fly] release_command",
        );
        refused("[fly]\nrelease_command = \" \"\n", "[fly] release_command");
        accepted("[fly]\nrelease_command = \"bin/migrate --url \\\"$DB\\\" 'a b' # x\"\n");
    }

    #[test]
    fn fly_values_are_refused_naming_the_key_and_the_file() {
        refused(
            "[fly]\nprimary_region = \"amsterdam\"\n",
            "[fly] primary_region",
        );
        refused("[fly]\napp = \"Acme_API\"\n", "[fly] app");
        refused(
            "[fly]\nauto_stop_machines = \"true\"\n",
            "[fly] auto_stop_machines",
        );
        refused("[fly]\nsize = \"huge\"\n", "[fly] size");
        refused("[fly]\nmemory = \"512mib\"\n", "[fly] memory");
        refused("[fly]\ncpu_kind = \"gpu\"\n", "[fly] cpu_kind");
        accepted("[fly]\napp = \"acme-api\"\nprimary_region = \"ams\"\nsize = \"performance-2x\"\nmemory = \"1GB\"\n");
    }

    #[test]
    fn cloud_run_values_are_refused_outside_their_grammar() {
        refused(
            "[cloud_run]\nimage = \"Acme/API:\\n\"\n",
            "[cloud_run] image",
        );
        refused("[cloud_run]\ncpu = \"1.2.3\"\n", "[cloud_run] cpu");
        refused("[cloud_run]\ncpu = \"one\"\n", "[cloud_run] cpu");
        refused("[cloud_run]\nmemory = \"512MiB\"\n", "[cloud_run] memory");
        refused("[cloud_run]\nmemory = \"lots\"\n", "[cloud_run] memory");
        refused("[cloud_run]\nservice = \"api_v2\"\n", "[cloud_run] service");
        for (cpu, memory) in [
            ("1", "512Mi"),
            ("0.5", "1Gi"),
            ("500m", "2G"),
            ("4", "4096M"),
        ] {
            accepted(&format!(
                "[cloud_run]\ncpu = \"{cpu}\"\nmemory = \"{memory}\"\n"
            ));
        }
    }
}
