//! The module dependency rule (ARCHITECTURE.md): every `crate::` path in `src/` must point along
//! the pipeline, `main -> cli -> pipeline -> analyze -> model -> plan -> deploy -> generate ->
//! output` and `cli -> build`, or at a shared leaf. Only the binary's `main` imports `cli`.
//!
//! `ARCHITECTURE_SRC` points the check at another `src/` (e.g. an older checkout).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules it may import. Stages first, then the shared
/// leaves. A module missing from this table is itself a failure: add it where it belongs.
const ALLOWED: &[(&str, &[&str])] = &[
    ("main", &["cli"]),
    (
        "cli",
        &[
            "pipeline", "build", "bundle", "init", "output", "config", "template", "profiles",
            "keep", "plan",
        ],
    ),
    // The VM release bundle: the host-built binary and the VM pack as one deterministic tar.gz.
    (
        "bundle",
        &[
            "pipeline", "compile", "oci", "deploy", "plan", "output", "paths", "secrets", "config",
        ],
    ),
    (
        "build",
        &[
            "pipeline",
            "output",
            "template",
            "config",
            "context",
            "dockerignore",
            "reference",
            "validate",
            "secrets",
            "oci",
            "sbom",
            "paths",
            "compile",
            "plan",
            "profiles",
        ],
    ),
    // Daemonless images: layers, config, manifest, layout from the plan; reached from build (and
    // bundle, for its deterministic tar).
    ("oci", &["plan", "profiles", "reference"]),
    // cargo on this machine, reproducibly (the oci engine; any host-built artifact).
    ("compile", &["plan"]),
    (
        "pipeline",
        &[
            "analyze",
            "model",
            "plan",
            "deploy",
            "generate",
            "output",
            "template",
            "config",
            "secrets",
            "keep",
            "dockerignore",
        ],
    ),
    ("init", &["plan", "deploy", "config", "profiles", "model"]),
    (
        "analyze",
        &[
            "model",
            "config",
            "validate",
            "paths",
            "template",
            "secrets",
            "frameworks",
        ],
    ),
    ("model", &[]),
    (
        "plan",
        &[
            "model",
            "config",
            "validate",
            "profiles",
            "lockcheck",
            "frameworks",
        ],
    ),
    ("lockcheck", &["model"]),
    // The SBOM of the chosen binary: pure, from the lock graph's closure.
    ("sbom", &["model", "lockcheck"]),
    (
        "deploy",
        &["plan", "model", "template", "config", "validate"],
    ),
    (
        "generate",
        &[
            "deploy", "plan", "template", "config", "secrets", "profiles", "keep",
        ],
    ),
    ("output", &["template"]),
    // The user's own .dockerignore rules, read and filtered against imggen's.
    (
        "keep",
        &["model", "plan", "output", "dockerignore", "secrets"],
    ),
    // Shared leaves.
    ("config", &[]),
    ("validate", &["config", "reference"]),
    ("reference", &[]),
    ("secrets", &["config", "dockerignore", "paths"]),
    ("dockerignore", &[]),
    ("context", &["dockerignore", "paths"]),
    ("paths", &[]),
    ("profiles", &["config", "template"]),
    ("template", &[]),
    ("frameworks", &[]),
];

fn src_dir() -> PathBuf {
    match std::env::var_os("ARCHITECTURE_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: cannot list ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/plan.rs` and `src/deploy/fly.rs` -> `plan`,
/// `deploy`; `lib.rs` declares the modules and is not one.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The first identifier of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules one line of code names: `crate::a::..`, `crate::{a, b::c}`, and for
/// `main.rs`, `imggen::a`.
fn imports_of_line(line: &str, root: &str) -> Vec<String> {
    let mut found = Vec::new();
    let needle = format!("{root}::");
    let mut rest = line;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().last();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        found.push(ident(&group[i..]).to_string());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest).to_string());
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// Every (importing module, imported module, file:line) edge in `src`.
fn edges(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    assert!(!files.is_empty(), "{}: no Rust files", src.display());
    let mut out = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let root = if module == "main" { "imggen" } else { "crate" };
        for (n, line) in text.lines().enumerate() {
            // Unit tests (at the end of a file) may reach further, e.g. to analyze a fixture.
            if line == "#[cfg(test)]" {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            for target in imports_of_line(code, root) {
                if target != module {
                    let at = format!("{}:{}", file.strip_prefix(src).unwrap().display(), n + 1);
                    out.push((module.clone(), target, at));
                }
            }
        }
    }
    out
}

/// Every import against the table, one line each.
fn violations(src: &Path) -> Vec<String> {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut out = BTreeSet::new();
    for (from, to, at) in edges(src) {
        let rule = match allowed.get(from.as_str()) {
            _ if to == "cli" && from != "main" => Some(format!(
                "`{from}` imports `cli`, which only the binary's `main` may import"
            )),
            None => Some(format!("module `{from}` is not in the table")),
            Some(deps) if !deps.contains(to.as_str()) => {
                Some(format!("`{from}` may not import `{to}`"))
            }
            Some(_) => None,
        };
        if let Some(rule) = rule {
            out.insert(format!("{at}: {rule}"));
        }
    }
    out.into_iter().collect()
}

#[test]
fn every_import_points_along_the_pipeline() {
    let src = src_dir();
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "{} import(s) against the dependency table in tests/integration/architecture.rs (see ARCHITECTURE.md):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_table_is_one_way() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    fn reaches(
        allowed: &BTreeMap<&str, &[&str]>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        allowed
            .get(from)
            .into_iter()
            .flat_map(|d| d.iter())
            .any(|d| *d == to || (seen.insert(d.to_string()) && reaches(allowed, d, to, seen)))
    }
    for (module, deps) in ALLOWED {
        assert!(
            *module == "main" || !deps.contains(&"cli"),
            "{module} may import cli"
        );
        for dep in *deps {
            assert!(
                allowed.contains_key(dep),
                "{module} names unknown module {dep}"
            );
        }
        assert!(
            !reaches(&allowed, module, module, &mut BTreeSet::new()),
            "the table lets {module} import itself through a cycle"
        );
    }
}

#[test]
fn the_parser_sees_every_form_of_path() {
    assert_eq!(
        imports_of_line("use crate::plan::{A, B};", "crate"),
        ["plan"]
    );
    assert_eq!(
        imports_of_line(
            "use crate::{config::{self, C}, deploy, template::T};",
            "crate"
        ),
        ["config", "deploy", "template"]
    );
    assert_eq!(
        imports_of_line("let x = crate::cli::load(&a) + mycrate::x::y;", "crate"),
        ["cli"]
    );
    assert_eq!(
        imports_of_line("    imggen::cli::main()", "imggen"),
        ["cli"]
    );
}
