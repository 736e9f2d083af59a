//! A JavaScript frontend the Rust side serves from disk or embeds at compile time: the
//! `package.json` with a `build` script, its package manager (from the lockfile), its output
//! directory (from the bundler's config, read as text: no JavaScript runs), and the Rust line that
//! serves or embeds that output. Rust-native frontends (Trunk, cargo-leptos) and bun are refused
//! with what to do.

use crate::model::{Frontend, Package};
use anyhow::{bail, Result};
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

/// Rust code that serves a directory from disk.
static SERVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"ServeDir|ServeFile|\bFiles::new|FileServer|serve_dir|StaticFiles|static_files|StaticDir|\bfs::(dir|file)\(")
        .expect("serve pattern")
});
/// Rust code that embeds a directory at compile time.
static EMBED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#\[folder|include_dir!|RustEmbed|static_dir!|memory_serve|include_bytes!")
        .expect("embed pattern")
});
static STRING_LIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""([^"\\\n]*)""#).expect("literal pattern"));
static VITE_OUT_DIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"outDir\s*:\s*['"`]([^'"`]+)['"`]"#).expect("outDir pattern"));
static WEBPACK_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"path\s*:\s*(?:path\.(?:resolve|join)\(\s*__dirname\s*,\s*)?['"`]([^'"`]+)['"`]"#)
        .expect("webpack path pattern")
});
/// A command or library that reads the git repository, in a bundler config or a build script.
static RUNS_GIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bgit\s+(?:-C\s+\S+\s+)?(?:rev-parse|describe|log|rev-list|show|branch|symbolic-ref|tag|status|config)\b|['"](?:git-rev-sync|simple-git|git-describe|git-repo-info|git-last-commit)['"]"#)
        .expect("git pattern")
});
static SVELTE_PAGES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"pages\s*:\s*['"`]([^'"`]+)['"`]"#).expect("pages pattern"));

/// The Node.js frontend of the project, when its Rust code serves or embeds one's output.
pub fn detect(root: &Path, packages: &[Package]) -> Result<Option<Frontend>> {
    refuse_rust_native(root, packages)?;
    let mut dirs: Vec<String> = vec![String::new()];
    dirs.extend(
        crate::paths::subdirs(root)
            .into_iter()
            .filter(|d| !matches!(d.as_str(), "node_modules" | "target") && !d.starts_with('.')),
    );
    for pkg in packages.iter().filter(|p| !p.dir.is_empty()) {
        for sub in crate::paths::subdirs(&root.join(&pkg.dir)) {
            if !matches!(sub.as_str(), "node_modules" | "target" | "src") {
                dirs.push(format!("{}/{sub}", pkg.dir));
            }
        }
    }
    // Read only once some directory holds a frontend with a build script.
    let mut rust: Option<Vec<RustFile>> = None;
    for dir in dirs {
        let Some((output, output_at)) = build_output(root, &dir)? else {
            continue;
        };
        let out_path = normalize(&join(&dir, &output));
        let rust = rust.get_or_insert_with(|| rust_files(root, packages));
        let Some((pkg_dir, served_as, at, embedded)) = reference(rust, &out_path) else {
            continue;
        };
        let (manager, lockfile) = manager(root, &dir)?;
        refuse_missing_local_packages(root, &dir)?;
        let runs_git = runs_git(root, &dir);
        return Ok(Some(Frontend {
            runs_git,
            dir,
            manager,
            lockfile,
            output,
            output_at,
            embedded,
            served_as,
            at,
            package_dir: pkg_dir,
        }));
    }
    Ok(None)
}

/// Trunk (`Trunk.toml`) and a cargo-leptos workspace (`[[workspace.metadata.leptos]]`) build the
/// frontend with their own tool: refused, naming it. A package's `[package.metadata.leptos]` is
/// the Leptos framework's own refusal (`analyze::framework`), with its line.
fn refuse_rust_native(root: &Path, packages: &[Package]) -> Result<()> {
    let mut rust: Option<Vec<RustFile>> = None;
    for dir in std::iter::once("").chain(packages.iter().map(|p| p.dir.as_str())) {
        let base = root.join(dir);
        // A member's Trunk app that no Rust code serves or embeds (a benchmark dashboard)
        // is not part of this image.
        let mut used = || {
            dir.is_empty() || {
                let rust = rust.get_or_insert_with(|| rust_files(root, packages));
                reference(rust, &normalize(&join(dir, &trunk_dist(&base)))).is_some()
            }
        };
        if base.join("Trunk.toml").is_file() && used() {
            bail!(
                "{}: a Trunk frontend is built with `trunk build`, which imggen does not run; build it before the image and serve its dist/ from a directory the server reads, or write the Dockerfile by hand",
                base.join("Trunk.toml").display()
            );
        }
        let manifest = std::fs::read_to_string(base.join("Cargo.toml")).unwrap_or_default();
        if manifest.contains("[[workspace.metadata.leptos]]") {
            bail!(
                "{}: a cargo-leptos project is built with `cargo leptos build`, which imggen does not run; use the Dockerfile of the Leptos book's deployment chapter instead",
                base.join("Cargo.toml").display()
            );
        }
    }
    Ok(())
}

/// Where `trunk build` writes in `base`: `[build] dist` of its Trunk.toml, else `dist`.
fn trunk_dist(base: &Path) -> String {
    std::fs::read_to_string(base.join("Trunk.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| {
            t.get("build")?
                .get("dist")?
                .as_str()
                .map(|d| d.trim_start_matches("./").trim_end_matches('/').to_string())
        })
        .unwrap_or_else(|| "dist".into())
}

/// The output directory of the frontend in `dir` (relative to it) and where it is said, when
/// `dir/package.json` has a `build` script.
fn build_output(root: &Path, dir: &str) -> Result<Option<(String, String)>> {
    let base = root.join(dir);
    let Some(text) = super::read_text(&base.join("package.json"))? else {
        return Ok(None);
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        bail!(
            "{}: not valid JSON; fix it (npm cannot read it either)",
            base.join("package.json").display()
        );
    };
    if json
        .get("scripts")
        .and_then(|s| s.get("build"))
        .and_then(|b| b.as_str())
        .is_none()
    {
        return Ok(None);
    }
    let configs: [(&str, &LazyLock<Regex>); 9] = [
        ("svelte.config.js", &SVELTE_PAGES),
        ("vite.config.ts", &VITE_OUT_DIR),
        ("vite.config.js", &VITE_OUT_DIR),
        ("vite.config.mjs", &VITE_OUT_DIR),
        ("vite.config.mts", &VITE_OUT_DIR),
        ("webpack.config.js", &WEBPACK_PATH),
        ("webpack.config.ts", &WEBPACK_PATH),
        ("webpack.config.mjs", &WEBPACK_PATH),
        ("webpack.config.cjs", &WEBPACK_PATH),
    ];
    for (name, pattern) in configs {
        let Ok(config) = std::fs::read_to_string(base.join(name)) else {
            continue;
        };
        let file = join(dir, name);
        let svelte_static = name == "svelte.config.js" && config.contains("adapter-static");
        if name == "svelte.config.js" && !svelte_static {
            continue;
        }
        for (i, line) in config.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(c) = pattern.captures(line) {
                let out = c[1].trim_start_matches("./").trim_end_matches('/');
                // `../static` (a sibling the server reads) is fine; not above the project root.
                let in_root = normalize_within(&join(dir, out)).is_some();
                if !out.is_empty() && !out.starts_with('/') && in_root {
                    return Ok(Some((out.to_string(), format!("{file}:{}", i + 1))));
                }
            }
        }
        let default = if svelte_static { "build" } else { "dist" };
        let tool = if svelte_static {
            "SvelteKit adapter-static"
        } else if name.starts_with("vite") {
            "vite"
        } else {
            "webpack"
        };
        return Ok(Some((default.into(), format!("{tool}'s default ({file})"))));
    }
    Ok(Some(("dist".into(), "the bundlers' default".into())))
}

/// Where the build of the frontend in `dir` runs git, as `file:line`: its bundler and framework
/// configs, and the `package.json` scripts `build` runs (`prebuild`, `build`, `postbuild`).
fn runs_git(root: &Path, dir: &str) -> Option<String> {
    let base = root.join(dir);
    let mut names: Vec<String> = Vec::new();
    for tool in [
        "vite", "webpack", "svelte", "next", "nuxt", "astro", "rollup", "remix",
    ] {
        for ext in ["js", "ts", "mjs", "mts", "cjs", "cts"] {
            names.push(format!("{tool}.config.{ext}"));
        }
    }
    for name in &names {
        let Ok(text) = std::fs::read_to_string(base.join(name)) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if !line.trim_start().starts_with("//") && RUNS_GIT.is_match(line) {
                return Some(format!("{}:{}", join(dir, name), i + 1));
            }
        }
    }
    let text = std::fs::read_to_string(base.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    ["prebuild", "build", "postbuild"]
        .into_iter()
        .find_map(|script| {
            let command = json.get("scripts")?.get(script)?.as_str()?;
            RUNS_GIT
                .is_match(command)
                .then(|| format!("{} scripts.{script}", join(dir, "package.json")))
        })
}

/// The package manager of the frontend in `dir`, from its lockfile, and the lockfile's name.
fn manager(root: &Path, dir: &str) -> Result<(String, String)> {
    let base = root.join(dir);
    for (lock, manager) in [
        ("package-lock.json", "npm"),
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
    ] {
        if base.join(lock).is_file() {
            return Ok((manager.into(), lock.into()));
        }
    }
    for lock in ["bun.lockb", "bun.lock"] {
        if base.join(lock).is_file() {
            bail!(
                "{}: bun frontends are not built by imggen (its Node stage has npm, pnpm and yarn); run `npm install` to write a package-lock.json beside it, or write the Dockerfile by hand",
                base.join(lock).display()
            );
        }
    }
    bail!(
        "{}: the frontend has no lockfile, so its build is not reproducible; run `npm install` (or pnpm/yarn) there and commit the lockfile",
        base.join("package.json").display()
    )
}

/// A dependency on a local directory (`"file:./wasm/pkg"`) that the checkout lacks is the output
/// of another build (wasm-pack, a code generator) that imggen does not run: the frontend's
/// install would fail, so the plan stops and names it.
fn refuse_missing_local_packages(root: &Path, dir: &str) -> Result<()> {
    let manifest = root.join(dir).join("package.json");
    let Some(text) = super::read_text(&manifest)? else {
        return Ok(());
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    for section in ["dependencies", "devDependencies", "optionalDependencies"] {
        let Some(deps) = json.get(section).and_then(|d| d.as_object()) else {
            continue;
        };
        for (name, spec) in deps {
            let Some(path) = spec.as_str().and_then(|s| s.strip_prefix("file:")) else {
                continue;
            };
            if !root.join(dir).join(path).exists() {
                bail!(
                    "{}: the frontend depends on {name} from `file:{path}`, which is not in the checkout (another tool, such as wasm-pack, builds it) and imggen does not run that build; commit it, or build the frontend before the image and serve it from a directory the image copies",
                    manifest.display()
                );
            }
        }
    }
    Ok(())
}

/// One Rust file: the package it belongs to, its path and text.
struct RustFile {
    package_dir: String,
    path: String,
    text: String,
    build_script: bool,
}

/// Every `.rs` file under each package's `src/`, and each package's `build.rs`.
fn rust_files(root: &Path, packages: &[Package]) -> Vec<RustFile> {
    let mut files = Vec::new();
    for pkg in packages {
        let base = root.join(&pkg.dir);
        let mut paths: Vec<std::path::PathBuf> = walkdir::WalkDir::new(base.join("src"))
            .sort_by_file_name()
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
            .map(|e| e.into_path())
            .collect();
        paths.push(base.join("build.rs"));
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            files.push(RustFile {
                package_dir: pkg.dir.clone(),
                build_script: path.file_name().is_some_and(|n| n == "build.rs"),
                path: crate::paths::relative_or_whole(root, &path),
                text,
            });
        }
    }
    files
}

/// The first Rust line naming `out_path` (root-relative) where it is served or embedded:
/// (package dir, the path as the code names it, `file:line`, embedded).
fn reference(files: &[RustFile], out_path: &str) -> Option<(String, String, String, bool)> {
    for f in files {
        for (i, raw) in f.text.lines().enumerate() {
            let line = raw.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let embedded = f.build_script || EMBED.is_match(line);
            if !embedded && !SERVE.is_match(line) {
                continue;
            }
            for c in STRING_LIT.captures_iter(line) {
                let lit = c[1]
                    .trim_start_matches("$CARGO_MANIFEST_DIR/")
                    .trim_start_matches("./")
                    .trim_end_matches('/');
                // Served paths are relative to the process's directory (the project root, /app
                // in the image); embedded ones to the package's manifest.
                let from_pkg = normalize(&join(&f.package_dir, lit));
                let hit = if embedded {
                    from_pkg == out_path
                } else {
                    lit == out_path || from_pkg == out_path
                };
                if hit {
                    let at = format!("{}:{}", f.path, i + 1);
                    return Some((f.package_dir.clone(), lit.to_string(), at, embedded));
                }
            }
        }
    }
    None
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// A relative slash path with `.` and `..` resolved; `None` when it climbs above its start.
fn normalize_within(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// A slash path with `.` and `..` resolved.
fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn pkg(dir: &str) -> Package {
        Package {
            name: "app".into(),
            dir: dir.into(),
            ..Package::default()
        }
    }

    /// warp's `fs::dir` serves the root frontend's default output; a dependency on a local
    /// package the checkout lacks (wasm-pack's `pkg/`) stops the plan, naming it.
    #[test]
    fn a_warp_served_frontend_and_its_missing_local_package() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "package.json",
            r#"{"scripts":{"build":"vite build"},"dependencies":{"app-wasm":"file:./app-wasm/pkg","react":"^18"}}"#,
        );
        write(t.path(), "package-lock.json", "{}");
        write(
            t.path(),
            "server/src/lib.rs",
            "fn frontend() -> BoxedFilter<(impl Reply,)> {\n    warp::fs::dir(\"dist\").boxed()\n}\n",
        );
        let err = detect(t.path(), &[pkg("server")]).unwrap_err().to_string();
        assert!(
            err.contains("package.json: the frontend depends on app-wasm from `file:./app-wasm/pkg`, which is not in the checkout"),
            "{err}"
        );

        write(t.path(), "app-wasm/pkg/package.json", "{}");
        let f = detect(t.path(), &[pkg("server")]).unwrap().unwrap();
        assert_eq!((f.dir.as_str(), f.output.as_str()), ("", "dist"));
        assert_eq!(f.at, "server/src/lib.rs:2");
        assert!(!f.embedded);
    }

    #[test]
    fn served_and_embedded_frontends_with_their_manager_and_output() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "web/package.json",
            r#"{"scripts":{"build":"vite build"}}"#,
        );
        write(t.path(), "web/pnpm-lock.yaml", "");
        write(
            t.path(),
            "web/vite.config.js",
            "export default {\n  build: { outDir: 'out' },\n};\n",
        );
        write(
            t.path(),
            "src/main.rs",
            "fn main() {\n    let s = ServeDir::new(\"web/out\");\n}\n",
        );
        let f = detect(t.path(), &[pkg("")]).unwrap().unwrap();
        assert_eq!(
            (f.dir.as_str(), f.manager.as_str(), f.output.as_str()),
            ("web", "pnpm", "out")
        );
        assert_eq!(f.output_at, "web/vite.config.js:2");
        assert_eq!(f.at, "src/main.rs:2");
        assert!(!f.embedded);

        write(
            t.path(),
            "src/main.rs",
            "#[derive(RustEmbed)]\n#[folder = \"web/out/\"]\nstruct Assets;\n",
        );
        let f = detect(t.path(), &[pkg("")]).unwrap().unwrap();
        assert!(f.embedded);
        assert_eq!(f.served_as, "web/out");

        write(
            t.path(),
            "web/vite.config.js",
            "export default { build: { outDir: \"../static\" } };\n",
        );
        write(
            t.path(),
            "src/main.rs",
            "let s = ServeDir::new(\"./static\");\n",
        );
        let f = detect(t.path(), &[pkg("")]).unwrap().unwrap();
        assert_eq!(
            (f.output.as_str(), f.served_as.as_str()),
            ("../static", "static")
        );
    }

    #[test]
    fn a_build_that_runs_git_is_found_in_configs_and_build_scripts() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "web/package.json",
            r#"{"scripts":{"build":"vite build","lint":"git diff --exit-code"}}"#,
        );
        write(t.path(), "web/package-lock.json", "{}");
        write(
            t.path(),
            "src/main.rs",
            "let s = ServeDir::new(\"web/dist\");\n",
        );
        write(
            t.path(),
            "web/vite.config.ts",
            "// git describe in a comment\nexport default {};\n",
        );
        assert_eq!(
            detect(t.path(), &[pkg("")]).unwrap().unwrap().runs_git,
            None
        );
        write(
            t.path(),
            "web/vite.config.ts",
            "import { execSync } from 'node:child_process';\nconst v = execSync(\"git rev-parse --short HEAD\");\n",
        );
        let f = detect(t.path(), &[pkg("")]).unwrap().unwrap();
        assert_eq!(f.runs_git.as_deref(), Some("web/vite.config.ts:2"));
        write(t.path(), "web/vite.config.ts", "export default {};\n");
        write(
            t.path(),
            "web/package.json",
            r#"{"scripts":{"prebuild":"git describe --tags > public/version.txt","build":"vite build"}}"#,
        );
        let f = detect(t.path(), &[pkg("")]).unwrap().unwrap();
        assert_eq!(
            f.runs_git.as_deref(),
            Some("web/package.json scripts.prebuild")
        );
    }

    #[test]
    fn unreferenced_frontends_are_ignored_and_bun_trunk_are_refused() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "web/package.json",
            r#"{"scripts":{"build":"vite build"}}"#,
        );
        write(t.path(), "src/main.rs", "fn main() {}\n");
        assert_eq!(detect(t.path(), &[pkg("")]).unwrap(), None);
        write(
            t.path(),
            "src/main.rs",
            "let s = ServeDir::new(\"web/dist\");\n",
        );
        write(t.path(), "web/bun.lockb", "");
        let err = detect(t.path(), &[pkg("")]).unwrap_err().to_string();
        assert!(err.contains("bun"), "{err}");
        write(t.path(), "Trunk.toml", "");
        let err = detect(t.path(), &[pkg("")]).unwrap_err().to_string();
        assert!(err.contains("trunk build"), "{err}");
    }

    /// A member's Trunk app counts only when the server serves or embeds its `dist`.
    #[test]
    fn a_members_trunk_app_is_refused_only_when_the_server_serves_it() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "dashboard/Trunk.toml",
            "[build]\ndist = \"./out/\"\n",
        );
        write(t.path(), "dashboard/src/main.rs", "fn main() {}\n");
        write(t.path(), "server/src/main.rs", "fn main() {}\n");
        let members = [pkg("server"), pkg("dashboard")];
        assert_eq!(detect(t.path(), &members).unwrap(), None);
        write(
            t.path(),
            "server/src/main.rs",
            "fn main() { let s = ServeDir::new(\"dashboard/out\"); }\n",
        );
        let err = detect(t.path(), &members).unwrap_err().to_string();
        assert!(
            err.contains("dashboard/Trunk.toml: a Trunk frontend"),
            "{err}"
        );
    }
}
