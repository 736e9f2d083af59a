//! Files that hold credentials: one list that writes the `.dockerignore` lines, the builder's
//! clean-up of run-time directories and the warnings of `imggen plan`.
//!
//! A rule without `/` matches a file or directory name at any depth; a rule with `/` matches that
//! path ending at any depth. A matching directory is kept out whole. [`KEEP`] are documentation
//! files (`.env.example`, ...) that hold no secret and stay in the context.

/// Credential files and directories, never sent to the engine nor copied into an image.
pub const RULES: &[&str] = &[
    // Environment files.
    ".env",
    ".env.*",
    // Private keys, certificates with keys, key stores.
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    // Tool credentials.
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".htpasswd",
    ".vault-token",
    ".docker/config.json",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    "credentials.json",
    "service-account*.json",
    // Credential directories.
    ".aws",
    ".ssh",
    ".gnupg",
    ".kube",
    "secrets",
    // Terraform state and variables (they hold the secrets of everything they created).
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
];

/// Names kept although a rule matches them: templates that document variables, and Rust
/// sources of a module named like a rule (`src/secrets/mod.rs` builds the binary).
pub const KEEP: &[&str] = &[".env.example", ".env.sample", ".env.template", "*.rs"];

/// The `.dockerignore` lines: every rule at any depth, then the exceptions.
pub fn dockerignore_lines() -> Vec<String> {
    RULES
        .iter()
        .map(|r| format!("**/{r}"))
        .chain(KEEP.iter().map(|k| match *k {
            "*.rs" => "!**/secrets/**/*.rs".to_string(),
            k => format!("!**/{k}"),
        }))
        .collect()
}

/// A shell command that deletes, under `dir`, everything a rule matches (whole directories),
/// except the documentation files of [`KEEP`]; `find` with the same rules as `.dockerignore`.
pub fn find_delete(dir: &str) -> String {
    let tests: Vec<String> = RULES
        .iter()
        .map(|r| {
            if r.contains('/') {
                format!("-path '*/{r}'")
            } else {
                format!("-name '{r}'")
            }
        })
        .collect();
    let keep: Vec<String> = KEEP
        .iter()
        .filter(|k| !k.starts_with('*'))
        .map(|k| format!("! -name '{k}'"))
        .collect();
    // Six tests a line, so the Dockerfile stays readable.
    let lines: Vec<String> = tests.chunks(6).map(|c| c.join(" -o ")).collect();
    format!(
        "find {dir} \\( {} \\) \\\n        {} -prune -exec rm -rf {{}} +",
        lines.join(" \\\n        -o "),
        keep.join(" ")
    )
}

/// True when the slash-separated relative `path` is a credential file or lies in a credential
/// directory (the rules of [`dockerignore_lines`]).
pub fn is_secret(path: &str) -> bool {
    MATCHER.is_excluded(path)
}

static MATCHER: std::sync::LazyLock<crate::dockerignore::DockerIgnore> =
    std::sync::LazyLock::new(|| {
        crate::dockerignore::DockerIgnore::from_patterns(dockerignore_lines())
            .expect("the secret rules are valid .dockerignore patterns")
    });

/// Secret-looking files under the run-time directories `dirs` of the project at `root`
/// (relative slash paths, sorted). The image never holds them: the builder deletes them.
pub fn scan(root: &std::path::Path, dirs: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(root.join(dir))
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            let Some(rel) = crate::paths::relative(root, entry.path()) else {
                continue;
            };
            if entry.file_type().is_file() && is_secret(&rel) {
                found.push(rel);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The checks that read the project tree at `root`: `include` and `[vm] static_dir` name
/// directories inside the project, and each secret-looking file in a directory copied into the
/// image (`copied`, paths from the root) is returned as a warning (the builder deletes it; the
/// user should move it out).
pub fn check_tree(
    root: &std::path::Path,
    config: &crate::config::Config,
    copied: &[String],
) -> anyhow::Result<Vec<String>> {
    let top = root
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: cannot read the project ({e})", root.display()))?;
    let static_dir = config.vm.as_ref().and_then(|v| v.static_dir.clone());
    let mut dirs: Vec<(&str, String)> = config
        .include
        .iter()
        .flatten()
        .map(|d| ("include", d.clone()))
        .collect();
    dirs.extend(static_dir.map(|d| ("vm.static_dir", d)));
    for (key, dir) in dirs {
        let inside = root
            .join(&dir)
            .canonicalize()
            .is_ok_and(|p| p.is_dir() && p.starts_with(&top));
        if !inside {
            anyhow::bail!(
                "{} is not a directory inside the project; create it or remove the entry",
                config.setting(key, &dir)
            );
        }
    }
    Ok(scan(root, copied)
        .into_iter()
        .map(|path| format!(
            "{path} looks like a secret in a directory copied into the image: it is excluded from the build context and deleted before the copy; move it out of the project"
        ))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_cover_depths_and_keep_documentation() {
        for p in [
            ".env",
            "config/.env",
            "a/b/c/.env.production",
            "config/credentials.json",
            "config/app.pem",
            "secrets/db.txt",
            "src/secrets/db.json",
            "deploy/.ssh/id_rsa",
        ] {
            assert!(is_secret(p), "{p}");
        }
        for p in [
            ".env.example",
            "config/.env.sample",
            "src/secrets/mod.rs",
            "src/secrets.rs",
            "config/base.yaml",
            ".cargo/config.toml",
        ] {
            assert!(!is_secret(p), "{p}");
        }
    }

    #[test]
    fn find_delete_names_every_rule() {
        let cmd = find_delete("/rootfs/app");
        for r in RULES {
            assert!(
                cmd.contains(&format!("'{r}'")) || cmd.contains(&format!("'*/{r}'")),
                "{r}"
            );
        }
        assert!(cmd.contains("! -name '.env.example'"), "{cmd}");
    }
}
