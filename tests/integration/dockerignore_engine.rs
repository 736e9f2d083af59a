//! The `.dockerignore` matcher (src/dockerignore.rs) against the engine itself: for each rule set,
//! BuildKit builds `FROM scratch` + `COPY . /` from a tree of sample files with local output,
//! and the files it copied must be exactly those the matcher keeps, except for the listed
//! differences of Docker Engine 20.10, whose matcher predates today's rules.

use crate::docker::docker;
use crate::harness::{Test, PLANNABLE};
use imggen::dockerignore::DockerIgnore;
use std::collections::BTreeSet;
use std::path::Path;

/// Sample files: every path the matcher's unit tests name (as far as one tree can hold them)
/// and a cargo project's usual files.
const TREE: &[&str] = &[
    "temporary.txt",
    "somedir/temporary.txt",
    "somedir/temp/inner.txt",
    "somedir/subdir/temporary.txt",
    "a/b/temp",
    "tempa",
    "tempb",
    "temp",
    "tempab",
    "dir/tempa",
    "main.go",
    "a/b/c.go",
    "a/b/c.rs",
    "a/b/c.gox",
    "fileutils.go",
    "CHANGELOG.md",
    "README.md",
    "README-secret.md",
    "README-public.md",
    "other.md",
    "docs/guide.md",
    "docs/README.md",
    "docs/other.md",
    "util/docker/web/foo",
    "util/docker/web/bar",
    "util/docker/other",
    "foo/bar/baz",
    "x/foo/bar",
    "target/debug/build/big.rlib",
    "crates/a/target/x",
    "crates/api/src/main.rs",
    "crates/api/Cargo.toml",
    "targets",
    "spaced",
    "# not a comment",
    "last",
    "ab",
    "a/x/b/file",
    "a/x/y/b/file",
    "a/x/bc",
    "abc/def",
    "abc/def2/ghi",
    "a/file.txt",
    "a/dir/file.txt",
    "a/dir/dir/file.txt",
    "file.txt",
    "dir/dir/file.txt",
    "dir/dir2/file",
    "dir/dir2/dir3/file",
    "profile",
    ".hidden",
    ".foo",
    "bar.foo",
    "ace",
    "aze",
    "ae",
    "aae",
    "!x",
    "ax",
    "bx",
    "x]",
    "x-",
    "b7",
    "üé",
    "a*b",
    "axb",
    "[x]",
    "#file",
    "abc.def",
    "abcZdef",
    "a(b)c/def",
    "a(b)c/xyz",
    "a.|)$(}+{bc",
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    "^a",
    "abcx",
    "x^abc",
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "rust-toolchain.toml",
    "src/main.rs",
    ".cargo/config.toml",
    ".sqlx/query-1.json",
    ".env",
    ".env.example",
    ".env.production",
    ".git/HEAD",
    "node_modules/x/y.js",
    "web/node_modules/a",
    "frontend/dist/index.html",
    "frontend/src/app.ts",
    "server.key",
    "imggen.toml",
    "migrations/1.sql",
    "configuration/base.yaml",
    "static/app.css",
];

/// The rule sets of the matcher's unit tests (the Docker documentation's and moby's cases).
const RULE_SETS: &[&str] = &[
    "# comment\n*/temp*\n",
    "*/*/temp*",
    "temp?",
    "**/*.go",
    "*.md\n!README.md\n",
    "*.md\n!README*.md\nREADME-secret.md\n",
    "*.md\nREADME-secret.md\n!README*.md\n",
    "!fileutils.go\n*.go\n",
    "docs\n!docs/README.md",
    "docs/\n!docs/README.md",
    "docs/*\n!docs/README.md",
    "**\n!util/docker/web\n",
    "**\n!util/docker/web\nutil/docker/web/foo\n",
    "/foo/bar",
    "./foo/bar",
    "foo/bar/",
    "foo//bar",
    "foo/x/../bar",
    "target",
    "\u{feff}# bom comment\r\n  spaced  \r\n\t\r\n  # not a comment\r\nlast",
    "**/dir",
    "**/foo/bar",
    "**/.foo",
    "**/*.txt",
    "**/**/*.txt",
    "**/file*.txt*",
    "a/**/b",
    "**/dir2/*",
    "a**/*.txt",
    "abc/**",
    "a/*.txt**",
    "**/dir2/**",
    "**file",
    "a**",
    "a/*.txt",
    "a*b",
    ".*",
    "*",
    "a[b-d]e",
    "a[^b-d]e",
    "[!a]x",
    "x[\\]]",
    "x[\\-a]",
    "[a-c][0-9]",
    "ü[ä-ö]",
    "a\\*b",
    "\\[x\\]",
    "\\#file",
    "abc.def",
    "abc?def",
    "a(b)c/def",
    "a.|)$(}+{bc",
    "dist/*.whl",
    "**\n!dist/*.whl",
    "^a",
    "^a*",
    "x^a*",
];

/// The files BuildKit copies from a context holding `TREE` and `rules` as `.dockerignore`.
fn engine_keeps(rules: &str) -> Result<BTreeSet<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    for path in TREE {
        let p = context.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, path).unwrap();
    }
    std::fs::write(context.join(".dockerignore"), rules).unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY . /\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--quiet", "-f"])
        .arg(&dockerfile)
        .arg("-o")
        .arg(format!("type=local,dest={}", out_dir.display()))
        .arg(&context)
        .output()
        .expect("docker runs");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string());
    }
    Ok(files_under(&out_dir))
}

/// Files (not directories) under `root`, as slash-separated relative paths.
fn files_under(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The `TREE` files the matcher keeps under `rules` (the `.dockerignore` itself included).
fn matcher_keeps(rules: &str) -> BTreeSet<String> {
    let ignore = DockerIgnore::try_parse(rules).unwrap();
    TREE.iter()
        .chain([&".dockerignore"])
        .filter(|p| !ignore.is_excluded(p))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn dockerignore_matcher_agrees_with_the_engine() {
    if !crate::harness::engine() {
        return;
    }
    let mut sets: Vec<(String, String)> = RULE_SETS
        .iter()
        .map(|r| (format!("{r:?}"), r.to_string()))
        .collect();
    for fixture in PLANNABLE {
        let t = Test::fixture(fixture).args(&["generate"]);
        t.run().code(0);
        let generated = t.read(".dockerignore");
        if !sets.iter().any(|(_, r)| *r == generated) {
            sets.push((format!("generated for {fixture}"), generated));
        }
    }
    let mut differences = Vec::new();
    for (label, rules) in &sets {
        let ours = matcher_keeps(rules);
        let engine = match engine_keeps(rules) {
            Ok(kept) => kept,
            Err(e) => {
                differences.push(format!("{label}: the engine refuses it: {e}"));
                continue;
            }
        };
        if engine != ours {
            differences.push(format!(
                "{label}: only the engine keeps {:?}; only imggen keeps {:?}",
                engine.difference(&ours).collect::<Vec<_>>(),
                ours.difference(&engine).collect::<Vec<_>>()
            ));
        }
    }
    let version = crate::docker::docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    let expected: &[&str] = if version.starts_with("20.10") {
        LEGACY_ENGINE_DIFFERENCES
    } else {
        &[]
    };
    assert_eq!(differences, expected, "engine {}", version.trim());
}

/// Where Docker Engine 20.10 (the CI engine; its BuildKit still matched with the regex-based
/// fileutils) differs from today's moby patternmatcher, which imggen follows: `**file` is a
/// suffix test, `(`, `)` and `^` are literal characters, and no valid Go pattern is refused.
const LEGACY_ENGINE_DIFFERENCES: &[&str] = &[
    "\"**file\": only the engine keeps [\"#file\", \"profile\"]; only imggen keeps []",
    "\"a(b)c/def\": only the engine keeps [\"a(b)c/def\"]; only imggen keeps [\"abc/def\"]",
    "\"a.|)$(}+{bc\": the engine refuses it: error from sender: failed to match excludepatterns: syntax error in pattern",
    "\"^a\": only the engine keeps [\"^a\"]; only imggen keeps [\"a/b/c.go\", \"a/b/c.gox\", \"a/b/c.rs\", \"a/b/temp\", \"a/dir/dir/file.txt\", \"a/dir/file.txt\", \"a/file.txt\", \"a/x/b/file\", \"a/x/bc\", \"a/x/y/b/file\"]",
];
