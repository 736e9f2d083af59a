//! CI behaviour of `imggen build`. Under `CI` progress is plain lines. On GitHub Actions
//! (`GITHUB_ACTIONS=true`) a failed compile becomes `::error` annotations on the source lines,
//! the pushed digest goes to `$GITHUB_OUTPUT`, and a Markdown summary to `$GITHUB_STEP_SUMMARY`.

use super::progress::strip_sgr;
use super::Digest;
use crate::reference::Reference;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory the generated Dockerfile copies the project into (its WORKDIR).
pub const CONTAINER_WORKDIR: &str = "/app";

/// True when `CI` says the build runs in CI (set and not `false` or `0`).
pub fn in_ci(ci: Option<&str>) -> bool {
    ci.map(str::trim)
        .is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// What GitHub Actions gives a step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHub {
    /// `$GITHUB_OUTPUT`: step outputs, `name=value` lines.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`: Markdown shown on the run's page.
    pub summary: Option<PathBuf>,
    /// The project directory relative to the repository root (`$GITHUB_WORKSPACE`), `""` at the root.
    pub project_dir: String,
}

impl GitHub {
    /// GitHub Actions' settings when `GITHUB_ACTIONS=true`, for the project at `root`.
    pub fn from_process(root: &Path) -> Option<GitHub> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let workspace = path("GITHUB_WORKSPACE");
        Some(GitHub {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
            project_dir: project_dir(root, workspace.as_deref()),
        })
    }
}

/// `root` relative to `workspace` with `/` separators; `""` when it is the workspace or
/// outside it.
pub fn project_dir(root: &Path, workspace: Option<&Path>) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let Some(workspace) = workspace else {
        return String::new();
    };
    canon(root)
        .strip_prefix(canon(workspace))
        .map(|rel| {
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

/// One rustc diagnostic with a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub level: String,
    /// The code, e.g. `E0308`, if any.
    pub code: Option<String>,
    /// The headline, e.g. `mismatched types`.
    pub message: String,
    /// The file relative to the repository root.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// The rustc diagnostics in a build step's output whose primary location is a file of the
/// project; paths in the container (under [`CONTAINER_WORKDIR`], or relative to it) are
/// mapped back under `project_dir`.
pub fn diagnostics(lines: &[String], project_dir: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Option<String>, String)> = None;
    for raw in lines {
        let line = strip_sgr(raw);
        if let Some(head) = headline(&line) {
            pending = Some(head);
            continue;
        }
        let Some(location) = line.trim_start().strip_prefix("--> ") else {
            continue;
        };
        let Some((level, code, message)) = pending.take() else {
            continue;
        };
        let mut parts = location.trim().rsplitn(3, ':');
        let (Some(col), Some(row), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(col), Ok(row)) = (col.parse::<u32>(), row.parse::<u32>()) else {
            continue;
        };
        let Some(file) = repository_path(path, project_dir) else {
            continue;
        };
        out.push(Diagnostic {
            level,
            code,
            message,
            file,
            line: row,
            col,
        });
    }
    out
}

/// `error[E0308]: mismatched types` as (level, code, message).
fn headline(line: &str) -> Option<(String, Option<String>, String)> {
    let (level, rest) = ["error", "warning"]
        .iter()
        .find_map(|l| line.strip_prefix(l).map(|rest| (*l, rest)))?;
    let (code, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (code, after) = r.split_once(']')?;
            (Some(code.to_string()), after)
        }
        None => (None, rest),
    };
    let message = rest.strip_prefix(": ")?.trim();
    (!message.is_empty()).then(|| (level.to_string(), code, message.to_string()))
}

/// A path rustc printed in the container, relative to the repository root; `None` for files
/// outside the project (the cargo registry, the standard library).
fn repository_path(path: &str, project_dir: &str) -> Option<String> {
    let inside = match path.strip_prefix(CONTAINER_WORKDIR) {
        Some(rest) => rest.strip_prefix('/')?,
        None if path.starts_with('/') => return None,
        None => path,
    };
    if inside.is_empty() || inside.split('/').any(|c| c == "..") {
        return None;
    }
    Some(if project_dir.is_empty() {
        inside.to_string()
    } else {
        format!("{project_dir}/{inside}")
    })
}

/// Escapes a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The `::error file=...,line=...,col=...,title=...::message` command of a diagnostic.
pub fn annotation(d: &Diagnostic) -> String {
    let title = match &d.code {
        Some(code) => format!("{}[{code}]", d.level),
        None => d.level.clone(),
    };
    format!(
        "::{} file={},line={},col={},title={}::{}",
        d.level,
        escape_property(&d.file),
        d.line,
        d.col,
        escape_property(&title),
        escape_data(&d.message)
    )
}

/// The step outputs of a pushed image: `digest=sha256:...` and `image=NAME@sha256:...`.
pub fn outputs(reference: &Reference, digest: &Digest) -> String {
    format!(
        "digest={digest}\nimage={}\n",
        reference.with_digest(&digest.0)
    )
}

/// What the step summary reports.
#[derive(Debug, Clone)]
pub struct Summary<'a> {
    /// The references tagged.
    pub tags: &'a [Reference],
    /// The pushed digest, when pushed.
    pub digest: Option<&'a Digest>,
    /// The image id.
    pub id: &'a str,
    /// The image size in bytes, if the engine told it.
    pub size: Option<u64>,
    /// Build time, e.g. `41.2s`.
    pub build_time: &'a str,
}

/// The Markdown step summary of a built image.
pub fn summary(s: &Summary<'_>) -> String {
    let first = &s.tags[0];
    let image = match s.digest {
        Some(digest) => first.with_digest(&digest.0).to_string(),
        None => first.to_string(),
    };
    let tags: Vec<String> = s.tags.iter().map(|t| format!("`{t}`")).collect();
    let mut out = format!(
        "### imggen build: `{}`\n\n| | |\n|---|---|\n",
        first.familiar_name()
    );
    out.push_str(&format!("| Image | `{image}` |\n"));
    out.push_str(&format!("| Tags | {} |\n", tags.join(", ")));
    out.push_str(&format!(
        "| Digest | {} |\n",
        s.digest
            .map_or_else(|| "not pushed".to_string(), |d| format!("`{d}`"))
    ));
    out.push_str(&format!("| Image id | `{}` |\n", s.id));
    if let Some(size) = s.size {
        out.push_str(&format!(
            "| Size | {} |\n",
            super::progress::human_bytes(size)
        ));
    }
    out.push_str(&format!("| Build time | {} |\n\n", s.build_time));
    out
}

/// Appends `text` to the file GitHub named in `variable`.
pub fn append(path: &Path, variable: &str, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| {
            format!(
                "{}: cannot open ${variable} to append to it; check the path GitHub Actions set",
                path.display()
            )
        })?;
    file.write_all(text.as_bytes()).with_context(|| {
        format!(
            "{}: cannot write ${variable}; check the runner's disk",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn rustc_errors_become_annotations_on_repository_paths() {
        let log = lines(
            "   Compiling broken v0.1.0 (/app)\n\
             error[E0308]: mismatched types\n \
             --> src/main.rs:2:18\n  |\n\
             warning: unused variable: `x`\n \
             --> /app/crates/api/src/lib.rs:7:9\n\
             error: could not compile `broken` (bin \"broken\") due to 1 previous error\n\
             error[E0599]: no method\n \
             --> /usr/local/cargo/registry/src/x/lib.rs:1:1\n",
        );
        let found = diagnostics(&log, "services/api");
        assert_eq!(
            found
                .iter()
                .map(annotation)
                .collect::<Vec<_>>(),
            [
                "::error file=services/api/src/main.rs,line=2,col=18,title=error[E0308]::mismatched types",
                "::warning file=services/api/crates/api/src/lib.rs,line=7,col=9,title=warning::unused variable: `x`",
            ]
        );
        assert_eq!(diagnostics(&log, "")[0].file, "src/main.rs");
        assert_eq!(repository_path("/application/x.rs", ""), None);
        assert_eq!(repository_path("../x.rs", ""), None);
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn ci_detection_and_project_dir() {
        assert!(in_ci(Some("true")) && in_ci(Some("1")));
        assert!(!in_ci(None) && !in_ci(Some("")) && !in_ci(Some("false")) && !in_ci(Some("0")));
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("svc/api");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(project_dir(&sub, Some(dir.path())), "svc/api");
        assert_eq!(project_dir(dir.path(), Some(dir.path())), "");
        assert_eq!(project_dir(dir.path(), Some(&sub)), "");
        assert_eq!(project_dir(&sub, None), "");
    }

    #[test]
    fn outputs_and_summary() {
        let r = Reference::parse("127.0.0.1:5000/acme/api:1.2").unwrap();
        let latest = r.with_tag("latest");
        let d = Digest(format!("sha256:{}", "a".repeat(64)));
        assert_eq!(
            outputs(&r, &d),
            format!("digest={d}\nimage=127.0.0.1:5000/acme/api@{d}\n")
        );
        let text = summary(&Summary {
            tags: &[r.clone(), latest],
            digest: Some(&d),
            id: "sha256:b",
            size: Some(3 * 1024 * 1024),
            build_time: "41.2s",
        });
        assert_eq!(
            text,
            format!(
                "### imggen build: `127.0.0.1:5000/acme/api`\n\n| | |\n|---|---|\n\
                 | Image | `127.0.0.1:5000/acme/api@{d}` |\n\
                 | Tags | `127.0.0.1:5000/acme/api:1.2`, `127.0.0.1:5000/acme/api:latest` |\n\
                 | Digest | `{d}` |\n| Image id | `sha256:b` |\n| Size | 3.0 MiB |\n| Build time | 41.2s |\n\n"
            )
        );
    }
}
