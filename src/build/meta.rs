//! What the build names and stamps: image references (tags) and OCI labels.
//!
//! Tags: `--tag` flags win; otherwise `[image] name` (default: the plan's name) with
//! `[image] tags` (default: the git short sha and `latest`, or `latest` alone outside git).
//! Labels: the plan's fixed labels plus `revision` (the git sha) and `created` (RFC 3339, from
//! `SOURCE_DATE_EPOCH` when set), passed to the engine as build labels so the Dockerfile does
//! not change from commit to commit.

use crate::config::ImageConfig;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The git commit the project is at, if it is in a git work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRevision {
    /// `git rev-parse --short HEAD`.
    pub short: String,
    /// `git rev-parse HEAD`.
    pub full: String,
}

/// Reads the commit of the work tree at `root`; `None` outside git or without git installed.
pub fn git_revision(root: &Path) -> Option<GitRevision> {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    Some(GitRevision {
        short: run(&["rev-parse", "--short", "HEAD"])?,
        full: run(&["rev-parse", "HEAD"])?,
    })
}

/// The references to tag the image with, in order (the first is the one built).
pub fn image_refs(
    flags: &[String],
    image: Option<&ImageConfig>,
    default_name: &str,
    git: Option<&GitRevision>,
) -> Result<Vec<Reference>> {
    let mut refs: Vec<Reference> = Vec::new();
    if !flags.is_empty() {
        for flag in flags {
            let r = Reference::parse(flag)?;
            if r.digest.is_some() {
                bail!("--tag {flag} names a digest, which a build cannot produce; give a tag such as `{}:1.0`", r.familiar_name());
            }
            let r = if r.tag.is_some() {
                r
            } else {
                r.with_tag("latest")
            };
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        return Ok(refs);
    }
    let name = image
        .and_then(|i| i.name.as_deref())
        .unwrap_or(default_name);
    let base = Reference::parse(name).with_context(|| "imggen.toml [image] name".to_string())?;
    if base.tag.is_some() || base.digest.is_some() {
        bail!("imggen.toml [image] name = \"{name}\" includes a tag or digest; set only the repository there and list tags in [image] tags");
    }
    let tags: Vec<String> = match image.and_then(|i| i.tags.clone()) {
        Some(tags) if !tags.is_empty() => tags,
        _ => git
            .map(|g| g.short.clone())
            .into_iter()
            .chain(["latest".to_string()])
            .collect(),
    };
    for tag in tags {
        let r = Reference::parse(&format!("{name}:{tag}"))
            .with_context(|| format!("imggen.toml [image] tags entry `{tag}`"))?;
        if !refs.contains(&r) {
            refs.push(r);
        }
    }
    Ok(refs)
}

/// The OCI `created` time: `SOURCE_DATE_EPOCH` (seconds since 1970) when given, else `now`.
pub fn created(
    source_date_epoch: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let time = match source_date_epoch.map(str::trim) {
        None | Some("") => now,
        Some(value) => {
            let secs: i64 = value.parse().ok().filter(|s| *s >= 0).with_context(|| {
                format!("SOURCE_DATE_EPOCH={value} is not a number of seconds since 1970; set it to e.g. the output of `git log -1 --format=%ct`, or unset it")
            })?;
            chrono::DateTime::from_timestamp(secs, 0).with_context(|| {
                format!(
                    "SOURCE_DATE_EPOCH={value} is out of range; set a time in seconds since 1970"
                )
            })?
        }
    };
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The build labels: the plan's, plus revision and created.
pub fn labels(
    plan_labels: &BTreeMap<String, String>,
    git: Option<&GitRevision>,
    created: &str,
) -> BTreeMap<String, String> {
    let mut labels = plan_labels.clone();
    if let Some(g) = git {
        labels.insert("org.opencontainers.image.revision".into(), g.full.clone());
    }
    labels.insert("org.opencontainers.image.created".into(), created.into());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git() -> GitRevision {
        GitRevision {
            short: "abc1234".into(),
            full: "abc1234def".into(),
        }
    }

    fn strings(refs: &[Reference]) -> Vec<String> {
        refs.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn default_tags_are_sha_and_latest_in_git_and_latest_outside() {
        let refs = image_refs(&[], None, "hello-axum", Some(&git())).unwrap();
        assert_eq!(strings(&refs), ["hello-axum:abc1234", "hello-axum:latest"]);
        let refs = image_refs(&[], None, "hello-axum", None).unwrap();
        assert_eq!(strings(&refs), ["hello-axum:latest"]);
    }

    #[test]
    fn config_name_and_tags_override_defaults() {
        let image = ImageConfig {
            name: Some("ghcr.io/acme/api".into()),
            tags: Some(vec!["v1".into(), "stable".into()]),
            ..ImageConfig::default()
        };
        let refs = image_refs(&[], Some(&image), "api", Some(&git())).unwrap();
        assert_eq!(
            strings(&refs),
            ["ghcr.io/acme/api:v1", "ghcr.io/acme/api:stable"]
        );
        let name_only = ImageConfig {
            name: Some("127.0.0.1:5000/api".into()),
            ..ImageConfig::default()
        };
        let refs = image_refs(&[], Some(&name_only), "api", Some(&git())).unwrap();
        assert_eq!(
            strings(&refs),
            ["127.0.0.1:5000/api:abc1234", "127.0.0.1:5000/api:latest"]
        );
    }

    #[test]
    fn flags_override_everything_and_default_to_latest() {
        let image = ImageConfig {
            name: Some("ghcr.io/acme/api".into()),
            ..ImageConfig::default()
        };
        let flags = vec![
            "x/y:1".to_string(),
            "127.0.0.1:5000/z".to_string(),
            "x/y:1".to_string(),
        ];
        let refs = image_refs(&flags, Some(&image), "api", Some(&git())).unwrap();
        assert_eq!(strings(&refs), ["x/y:1", "127.0.0.1:5000/z:latest"]);
    }

    #[test]
    fn bad_names_and_tags_are_named() {
        let err = image_refs(&["Bad:1".into()], None, "api", None).unwrap_err();
        assert!(format!("{err:#}").contains("`Bad:1`"), "{err:#}");
        let image = ImageConfig {
            tags: Some(vec!["-x".into()]),
            ..ImageConfig::default()
        };
        let err = format!(
            "{:#}",
            image_refs(&[], Some(&image), "api", None).unwrap_err()
        );
        assert!(err.contains("[image] tags entry `-x`"), "{err}");
        let image = ImageConfig {
            name: Some("api:1".into()),
            ..ImageConfig::default()
        };
        let err = image_refs(&[], Some(&image), "api", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[image] tags"), "{err}");
        let err = image_refs(
            &[format!("api@sha256:{}", "a".repeat(64))],
            None,
            "api",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("digest"), "{err}");
    }

    #[test]
    fn created_comes_from_source_date_epoch() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(created(Some("0"), now).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            created(Some("1715000000"), now).unwrap(),
            "2024-05-06T12:53:20Z"
        );
        assert_eq!(created(None, now).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(created(Some(""), now).unwrap(), "2023-11-14T22:13:20Z");
        let err = created(Some("yesterday"), now).unwrap_err().to_string();
        assert!(err.contains("SOURCE_DATE_EPOCH=yesterday"), "{err}");
    }

    #[test]
    fn labels_add_revision_and_created() {
        let plan = BTreeMap::from([(
            "org.opencontainers.image.version".to_string(),
            "0.1.0".to_string(),
        )]);
        let l = labels(&plan, Some(&git()), "1970-01-01T00:00:00Z");
        assert_eq!(l["org.opencontainers.image.revision"], "abc1234def");
        assert_eq!(
            l["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(l["org.opencontainers.image.version"], "0.1.0");
        assert!(!labels(&plan, None, "x").contains_key("org.opencontainers.image.revision"));
    }

    #[test]
    fn git_revision_reads_head_and_is_none_outside_git() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        git(&["init", "-q", "repo"]);
        git(&["-C", "repo", "commit", "-q", "--allow-empty", "-m", "x"]);
        let rev = git_revision(&repo).unwrap();
        assert!(
            rev.full.starts_with(&rev.short) && rev.full.len() == 40,
            "{rev:?}"
        );
        let outside_any_repo = !Command::new("git")
            .arg("-C")
            .arg(&plain)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .status
            .success();
        if outside_any_repo {
            assert_eq!(git_revision(&plain), None);
        }
    }
}
