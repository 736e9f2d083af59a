//! Reads the Cargo.lock dependency graph and the local manifests' features (`model::LockGraph`)
//! once, so the plan can tell what `cargo build --locked` of one binary compiles (see
//! `lockcheck`): a stale lockfile, known breakages of locked versions, native libraries of that
//! binary only, and `compile_error!` feature gates.

use crate::model::{FeatureGate, LocalManifest, LockEntry, LockGraph, ManifestDep};
use anyhow::Result;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// Reads the lock graph from the parsed Cargo.lock, and the manifests of `members` ((name,
/// root-relative dir)) and of the path dependencies they reach.
pub fn read(root: &Path, lock: &toml::Table, members: &[(String, String)]) -> Result<LockGraph> {
    let mut graph = LockGraph {
        entries: lock_entries(lock),
        ..LockGraph::default()
    };
    let root_manifest = load(&root.join("Cargo.toml"))?;
    let ws = root_manifest.get("workspace").and_then(|w| w.as_table());
    let ws_package = ws.and_then(|w| w.get("package")).and_then(|p| p.as_table());
    let ws_deps = ws
        .and_then(|w| w.get("dependencies"))
        .and_then(|p| p.as_table());
    let mut queue: VecDeque<(PathBuf, bool)> = members
        .iter()
        .map(|(_, dir)| (root.join(dir), true))
        .collect();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    while let Some((dir, member)) = queue.pop_front() {
        let dir = normalize(&dir);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let path = dir.join("Cargo.toml");
        let Ok(manifest) = load(&path) else { continue };
        let Some(pkg) = manifest.get("package").and_then(|p| p.as_table()) else {
            continue;
        };
        let Some(name) = pkg.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let version = match pkg.get("version") {
            Some(toml::Value::String(v)) => v.clone(),
            Some(toml::Value::Table(t)) if t.get("workspace").is_some() => ws_package
                .and_then(|w| w.get("version"))
                .and_then(|v| v.as_str())
                .unwrap_or("0.0.0")
                .to_string(),
            _ => "0.0.0".to_string(),
        };
        let mut local = LocalManifest {
            name: name.to_string(),
            version,
            manifest: rel_display(root, &path),
            member,
            features: features_of(&manifest),
            deps: Vec::new(),
            gates: scan_gates(root, &dir),
        };
        for (table, dev) in dep_tables(&manifest) {
            for (key, spec) in table {
                let (dep, path) = manifest_dep((key, spec, dev), ws_deps, (root, &dir));
                if let Some(p) = path {
                    queue.push_back((p, false));
                }
                local.deps.push(dep);
            }
        }
        let is_member = members.iter().any(|(n, _)| n == name);
        local.member = local.member || is_member;
        graph.locals.entry(name.to_string()).or_insert(local);
    }
    Ok(graph)
}

/// The `[[package]]` entries of Cargo.lock, in file order.
fn lock_entries(table: &toml::Table) -> Vec<LockEntry> {
    let mut entries = Vec::new();
    for pkg in table
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let s = |k: &str| pkg.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(name) = s("name") else { continue };
        entries.push(LockEntry {
            name,
            version: s("version").unwrap_or_default(),
            source: s("source"),
            checksum: s("checksum"),
            deps: pkg
                .get("dependencies")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect(),
        });
    }
    entries
}

/// A manifest's `[features]`: each feature and what it enables.
fn features_of(manifest: &toml::Table) -> BTreeMap<String, Vec<String>> {
    manifest
        .get("features")
        .and_then(|f| f.as_table())
        .map(|t| {
            t.iter()
                .map(|(k, v)| {
                    let list = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    (k.clone(), list)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A manifest's dependency tables (target-specific ones too), each with whether it is a
/// dev-dependency table.
fn dep_tables(manifest: &toml::Table) -> Vec<(&toml::Table, bool)> {
    let mut tables: Vec<(&toml::Table, bool)> = Vec::new();
    for (key, dev) in [
        ("dependencies", false),
        ("build-dependencies", false),
        ("dev-dependencies", true),
        ("dev_dependencies", true),
        ("build_dependencies", false),
    ] {
        if let Some(t) = manifest.get(key).and_then(|d| d.as_table()) {
            tables.push((t, dev));
        }
    }
    for target in manifest
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
    {
        for (key, dev) in [
            ("dependencies", false),
            ("build-dependencies", false),
            ("dev-dependencies", true),
        ] {
            if let Some(t) = target.get(key).and_then(|d| d.as_table()) {
                tables.push((t, dev));
            }
        }
    }
    tables
}

/// One dependency entry, resolved against the workspace's `[workspace.dependencies]`; also
/// the directory of a (non-dev) path dependency, whose manifest is read too.
fn manifest_dep(
    (key, spec, dev): (&String, &toml::Value, bool),
    ws_deps: Option<&toml::Table>,
    (root, dir): (&Path, &Path),
) -> (ManifestDep, Option<PathBuf>) {
    let inherit = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true);
    let ws_spec = if inherit {
        ws_deps.and_then(|w| w.get(key))
    } else {
        None
    };
    let get = |k: &str| spec.get(k).or_else(|| ws_spec.and_then(|w| w.get(k)));
    let package = get("package")
        .and_then(|p| p.as_str())
        .unwrap_or(key)
        .to_string();
    let mut features: Vec<String> = Vec::new();
    for f in [
        spec.get("features"),
        ws_spec.and_then(|w| w.get("features")),
    ]
    .into_iter()
    .flatten()
    .filter_map(|f| f.as_array())
    .flatten()
    .filter_map(|f| f.as_str())
    {
        if !features.iter().any(|x| x == f) {
            features.push(f.to_string());
        }
    }
    let default_features = ["default-features", "default_features"]
        .iter()
        .find_map(|k| get(k).and_then(|v| v.as_bool()))
        .unwrap_or(true);
    let mut dep_path = None;
    if !dev {
        let path = if let Some(p) = spec.get("path").and_then(|p| p.as_str()) {
            Some(dir.join(p))
        } else {
            ws_spec
                .and_then(|w| w.get("path"))
                .and_then(|p| p.as_str())
                .map(|p| root.join(p))
        };
        dep_path = path;
    }
    let dep = ManifestDep {
        key: key.clone(),
        package,
        dev,
        optional: spec.get("optional").and_then(|o| o.as_bool()) == Some(true),
        default_features,
        features,
    };
    (dep, dep_path)
}

fn load(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)?;
    Ok(toml::from_str(&text)?)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `root` (normalized), as a slash path; `../` leads to a path dependency
/// outside the root.
fn rel_display(root: &Path, path: &Path) -> String {
    let root = normalize(root);
    if let Some(rel) = crate::paths::relative(&root, path) {
        return rel;
    }
    let (r, p): (Vec<Component>, Vec<Component>) =
        (root.components().collect(), path.components().collect());
    let common = r.iter().zip(&p).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return crate::paths::relative_or_whole(&root, path);
    }
    let mut parts: Vec<String> = vec!["..".to_string(); r.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

static GATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"#\s*\[\s*cfg\s*\(\s*not\s*\(\s*(any\s*\(([^()]*)\)|feature\s*=\s*"[^"]*")\s*\)\s*\)\s*\]\s*(?:::)?(?:core::|std::)?compile_error!"#,
    )
    .expect("gate pattern")
});
static FEATURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"feature\s*=\s*"([^"]*)""#).expect("feature pattern"));

/// Finds `compile_error!` gated on missing features in the `.rs` files under `dir/src` and in
/// `dir/build.rs`.
fn scan_gates(root: &Path, dir: &Path) -> Vec<FeatureGate> {
    let mut gates = Vec::new();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir.join("src"))
        .max_depth(8)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    // The build script compiles first: a gate there stops the build as surely.
    let build_script = dir.join("build.rs");
    if build_script.is_file() {
        files.push(build_script);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if !text.contains("compile_error!") {
            continue;
        }
        for m in GATE.captures_iter(&text) {
            let whole = m.get(1).map_or("", |g| g.as_str());
            // `any(...)` holding anything but features is not a plain feature gate.
            if let Some(inner) = m.get(2) {
                let rest = FEATURE.replace_all(inner.as_str(), "");
                if rest.chars().any(|c| c != ',' && !c.is_whitespace()) {
                    continue;
                }
            }
            let any_of: Vec<String> = FEATURE
                .captures_iter(whole)
                .map(|c| c[1].to_string())
                .collect();
            if any_of.is_empty() {
                continue;
            }
            let line = text[..m.get(0).map_or(0, |g| g.start())].lines().count() + 1;
            gates.push(FeatureGate {
                at: format!("{}:{line}", rel_display(root, &file)),
                any_of,
            });
        }
    }
    gates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_gates_are_found_in_both_forms_and_mixed_cfgs_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/db")).unwrap();
        std::fs::write(
            dir.path().join("src/lib.rs"),
            "//! x\n#[cfg(not(feature = \"tls\"))]\ncompile_error!(\"tls\");\n#[cfg(not(any(feature = \"a\", target_os = \"linux\")))]\ncompile_error!(\"mixed\");\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("src/db/mod.rs"),
            "#[cfg(not(any(feature = \"pg\", feature = \"lite\")))]\n\n::core::compile_error!(\"db\");\n",
        )
        .unwrap();
        let gates = scan_gates(dir.path(), dir.path());
        assert_eq!(
            gates,
            vec![
                FeatureGate {
                    at: "src/db/mod.rs:1".into(),
                    any_of: vec!["pg".into(), "lite".into()],
                },
                FeatureGate {
                    at: "src/lib.rs:2".into(),
                    any_of: vec!["tls".into()],
                },
            ]
        );
    }
}
