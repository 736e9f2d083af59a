//! The Cargo.lock dependency graph and the local manifests' features, read once so the plan can
//! tell what `cargo build --locked` of one binary compiles: a stale lockfile, known breakages of
//! locked versions, native libraries of that binary only, and `compile_error!` feature gates.

use anyhow::{bail, Result};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// The known breakages, as data (see the file for its format).
const BREAKAGES: &str = include_str!("../../data/breakages.toml");

/// Every locked package and every local manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LockGraph {
    /// `[[package]]` entries of Cargo.lock, in file order.
    pub entries: Vec<LockEntry>,
    /// Local packages (workspace members and path dependencies), by package name.
    pub locals: BTreeMap<String, LocalManifest>,
}

/// One `[[package]]` entry of Cargo.lock.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LockEntry {
    pub name: String,
    pub version: String,
    /// None for local packages.
    pub source: Option<String>,
    /// Raw `dependencies` strings: `name`, `name version` or `name version (source)`.
    pub deps: Vec<String>,
}

/// What a local manifest says about its dependencies and features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalManifest {
    pub name: String,
    /// `package.version` (inherited versions resolved), "0.0.0" when absent as cargo does.
    pub version: String,
    /// Manifest path relative to the project root, for messages.
    pub manifest: String,
    /// A workspace member (its dev-dependencies are locked too).
    pub member: bool,
    pub features: BTreeMap<String, Vec<String>>,
    pub deps: Vec<ManifestDep>,
    /// `compile_error!` gates found in its sources.
    pub gates: Vec<FeatureGate>,
}

/// One dependency entry of a local manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ManifestDep {
    /// The key in the manifest (the name features use).
    pub key: String,
    /// The real package name (`package = ...` or the key).
    pub package: String,
    pub dev: bool,
    pub optional: bool,
    pub default_features: bool,
    pub features: Vec<String>,
}

/// `#[cfg(not(any(feature = "a", ...)))] compile_error!(...)` in a source file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureGate {
    /// `file:line`, relative to the project root.
    pub at: String,
    /// One of these features must be enabled.
    pub any_of: Vec<String>,
}

/// Reads the lock graph, and the manifests of `members` ((name, root-relative dir)) and of the
/// path dependencies they reach.
pub fn read(root: &Path, lock_text: &str, members: &[(String, String)]) -> Result<LockGraph> {
    let mut graph = LockGraph::default();
    if let Ok(table) = toml::from_str::<toml::Table>(lock_text) {
        for pkg in table
            .get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let s = |k: &str| pkg.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let Some(name) = s("name") else { continue };
            graph.entries.push(LockEntry {
                name,
                version: s("version").unwrap_or_default(),
                source: s("source"),
                deps: pkg
                    .get("dependencies")
                    .and_then(|d| d.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect(),
            });
        }
    }
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
            features: manifest
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
                .unwrap_or_default(),
            deps: Vec::new(),
            gates: scan_gates(root, &dir),
        };
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
        for (table, dev) in tables {
            for (key, spec) in table {
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
                if !dev {
                    let path = if let Some(p) = spec.get("path").and_then(|p| p.as_str()) {
                        Some(dir.join(p))
                    } else {
                        ws_spec
                            .and_then(|w| w.get("path"))
                            .and_then(|p| p.as_str())
                            .map(|p| root.join(p))
                    };
                    if let Some(p) = path {
                        queue.push_back((p, false));
                    }
                }
                local.deps.push(ManifestDep {
                    key: key.clone(),
                    package,
                    dev,
                    optional: spec.get("optional").and_then(|o| o.as_bool()) == Some(true),
                    default_features,
                    features,
                });
            }
        }
        let is_member = members.iter().any(|(n, _)| n == name);
        local.member = local.member || is_member;
        graph.locals.entry(name.to_string()).or_insert(local);
    }
    Ok(graph)
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

fn rel_display(root: &Path, path: &Path) -> String {
    let root = normalize(root);
    path.strip_prefix(&root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

static GATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"#\s*\[\s*cfg\s*\(\s*not\s*\(\s*(any\s*\(([^()]*)\)|feature\s*=\s*"[^"]*")\s*\)\s*\)\s*\]\s*(?:::)?(?:core::|std::)?compile_error!"#,
    )
    .expect("gate pattern")
});
static FEATURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"feature\s*=\s*"([^"]*)""#).expect("feature pattern"));

/// Finds `compile_error!` gated on missing features in the `.rs` files under `dir/src`.
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
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
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

/// Fails when `cargo build --locked` would refuse the lockfile: a local package, its version or
/// one of its dependencies is missing from Cargo.lock.
pub fn check_stale(graph: &LockGraph) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    for local in graph.locals.values() {
        let same: Vec<&LockEntry> = graph
            .entries
            .iter()
            .filter(|e| e.name == local.name && e.source.is_none())
            .collect();
        let Some(entry) = same.iter().find(|e| e.version == local.version) else {
            problems.push(match same.first() {
                Some(e) => format!(
                    "Cargo.lock locks package {} at {} but {} says {}; run `cargo update -p {}` and commit Cargo.lock",
                    local.name, e.version, local.manifest, local.version, local.name
                ),
                None => format!(
                    "Cargo.lock has no entry for package {} ({}), so `cargo build --locked` fails; run `cargo generate-lockfile` and commit Cargo.lock",
                    local.name, local.manifest
                ),
            });
            continue;
        };
        for dep in &local.deps {
            if dep.dev && !local.member {
                continue;
            }
            let locked = entry
                .deps
                .iter()
                .any(|d| d.split(' ').next() == Some(dep.package.as_str()));
            if !locked {
                problems.push(format!(
                    "{} depends on {}, which Cargo.lock does not list for package {}, so `cargo build --locked` fails; run `cargo generate-lockfile` and commit Cargo.lock",
                    local.manifest, dep.package, local.name
                ));
            }
        }
    }
    if let Some(first) = problems.first() {
        if problems.len() == 1 {
            bail!("{first}");
        }
        bail!(
            "{first} ({} more problems of the same kind)",
            problems.len() - 1
        );
    }
    Ok(())
}

/// What one build compiles: locked packages reachable from the chosen package, and the
/// features enabled on each local package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Closure {
    /// Index into `LockGraph::entries` -> index of the package that pulled it in.
    pub parent: BTreeMap<usize, Option<usize>>,
    /// Enabled features of each local package in the closure.
    pub features: BTreeMap<String, BTreeSet<String>>,
}

impl Closure {
    /// True when a package of that name is compiled.
    pub fn has(&self, graph: &LockGraph, name: &str) -> bool {
        self.index(graph, name).is_some()
    }

    fn index(&self, graph: &LockGraph, name: &str) -> Option<usize> {
        self.parent
            .keys()
            .copied()
            .find(|&i| graph.entries[i].name == name)
    }

    /// `name <- parent <- ... <- root`, the reason a package is compiled.
    pub fn chain(&self, graph: &LockGraph, name: &str) -> String {
        let mut out = Vec::new();
        let mut at = self.index(graph, name);
        while let Some(i) = at {
            out.push(graph.entries[i].name.clone());
            if out.len() > graph.entries.len() {
                break;
            }
            at = self.parent.get(&i).copied().flatten();
        }
        out.join(" <- ")
    }

    /// Locked (name, version) pairs in the closure, in lockfile order.
    pub fn locked(&self, graph: &LockGraph) -> Vec<(String, String)> {
        self.parent
            .keys()
            .map(|&i| {
                (
                    graph.entries[i].name.clone(),
                    graph.entries[i].version.clone(),
                )
            })
            .collect()
    }
}

/// Resolves the features of local packages and walks the lock graph from `root_pkg`.
pub fn closure(
    graph: &LockGraph,
    root_pkg: &str,
    features: &[String],
    no_default_features: bool,
) -> Closure {
    // Requests per local package: feature strings, and whether its dependency spec asked for
    // default features.
    let mut requests: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut root_req: BTreeSet<String> = features.iter().cloned().collect();
    if !no_default_features {
        root_req.insert("default".into());
    }
    requests.insert(root_pkg.to_string(), root_req);
    let mut enabled: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut deps_on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..64 {
        let before = (requests.clone(), enabled.clone(), deps_on.clone());
        let names: Vec<String> = requests.keys().cloned().collect();
        for name in names {
            let Some(local) = graph.locals.get(&name) else {
                continue;
            };
            let explicit_dep: BTreeSet<&str> = local
                .features
                .values()
                .flatten()
                .filter_map(|f| f.strip_prefix("dep:"))
                .collect();
            let mut todo: Vec<String> = requests[&name].iter().cloned().collect();
            let feats = enabled.entry(name.clone()).or_default();
            let on = deps_on.entry(name.clone()).or_default();
            for d in local.deps.iter().filter(|d| !d.optional && !d.dev) {
                on.insert(d.key.clone());
            }
            let mut weak: Vec<(String, String)> = Vec::new();
            let mut pushes: Vec<(String, String)> = Vec::new();
            while let Some(f) = todo.pop() {
                if let Some(dep) = f.strip_prefix("dep:") {
                    on.insert(dep.to_string());
                } else if let Some((dep, feat)) = f.split_once('/') {
                    if let Some(dep) = dep.strip_suffix('?') {
                        weak.push((dep.to_string(), feat.to_string()));
                    } else {
                        on.insert(dep.to_string());
                        pushes.push((dep.to_string(), feat.to_string()));
                        if !explicit_dep.contains(dep) && local.features.contains_key(dep) {
                            todo.push(dep.to_string());
                        }
                    }
                } else if let Some(list) = local.features.get(&f) {
                    if feats.insert(f.clone()) {
                        todo.extend(list.iter().cloned());
                    }
                } else if !explicit_dep.contains(f.as_str())
                    && local.deps.iter().any(|d| d.optional && d.key == f)
                {
                    feats.insert(f.clone());
                    on.insert(f.clone());
                }
            }
            for (dep, feat) in weak {
                if on.contains(&dep) {
                    pushes.push((dep, feat));
                }
            }
            let on = on.clone();
            for d in local.deps.iter().filter(|d| !d.dev && on.contains(&d.key)) {
                if !graph.locals.contains_key(&d.package) {
                    continue;
                }
                let req = requests.entry(d.package.clone()).or_default();
                if d.default_features {
                    req.insert("default".into());
                }
                req.extend(d.features.iter().cloned());
                for (k, feat) in &pushes {
                    if *k == d.key {
                        req.insert(feat.clone());
                    }
                }
            }
        }
        if before == (requests.clone(), enabled.clone(), deps_on.clone()) {
            break;
        }
    }

    let mut out = Closure {
        features: enabled,
        ..Default::default()
    };
    let Some(start) = graph
        .entries
        .iter()
        .position(|e| e.name == root_pkg && e.source.is_none())
    else {
        return out;
    };
    out.parent.insert(start, None);
    let mut queue = VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        let entry = &graph.entries[i];
        let allowed: Option<BTreeSet<&str>> = if entry.source.is_none() {
            graph.locals.get(&entry.name).map(|local| {
                let on = deps_on.get(&entry.name);
                local
                    .deps
                    .iter()
                    .filter(|d| !d.dev && on.is_some_and(|o| o.contains(&d.key)))
                    .map(|d| d.package.as_str())
                    .collect()
            })
        } else {
            None
        };
        for dep in &entry.deps {
            let mut parts = dep.splitn(3, ' ');
            let name = parts.next().unwrap_or_default();
            if allowed.as_ref().is_some_and(|a| !a.contains(name)) {
                continue;
            }
            let version = parts.next();
            let source = parts
                .next()
                .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
            let found = graph.entries.iter().position(|e| {
                e.name == name
                    && version.is_none_or(|v| e.version == v)
                    && source.is_none_or(|s| e.source.as_deref() == Some(s))
            });
            if let Some(j) = found {
                if let std::collections::btree_map::Entry::Vacant(v) = out.parent.entry(j) {
                    v.insert(Some(i));
                    queue.push_back(j);
                }
            }
        }
    }
    out
}

/// Fails when a local package in the closure refuses to compile without a feature that the
/// resolved features do not enable.
pub fn check_gates(graph: &LockGraph, closure: &Closure, root_pkg: &str) -> Result<()> {
    for (name, feats) in &closure.features {
        let Some(local) = graph.locals.get(name) else {
            continue;
        };
        for gate in &local.gates {
            if gate.any_of.iter().any(|f| feats.contains(f)) {
                continue;
            }
            let choices = gate
                .any_of
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let first = &gate.any_of[0];
            if name == root_pkg {
                bail!(
                    "{}: package {name} refuses to compile (compile_error!) unless one of the features {choices} is enabled; pass `--features {first}` or set features = [\"{first}\"] in imggen.toml",
                    gate.at
                );
            }
            bail!(
                "{}: package {name} refuses to compile (compile_error!) unless one of the features {choices} is enabled; enable one in the `features` of its dependency entry (e.g. features = [\"{first}\"])",
                gate.at
            );
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct BreakageFile {
    breakage: Vec<Breakage>,
}

/// A locked version range that fails to compile from a Rust release on.
#[derive(serde::Deserialize, Debug, Clone)]
pub struct Breakage {
    #[serde(rename = "crate")]
    pub krate: String,
    pub from: String,
    pub below: String,
    pub rust_from: String,
    pub error: String,
}

/// The breakages in `data/breakages.toml`.
pub fn breakages() -> Vec<Breakage> {
    toml::from_str::<BreakageFile>(BREAKAGES)
        .map(|f| f.breakage)
        .unwrap_or_default()
}

fn numbers(v: &str) -> Option<Vec<u64>> {
    let core = v.split(['-', '+']).next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

fn lt(a: &str, b: &str) -> Option<bool> {
    let (mut a, mut b) = (numbers(a)?, numbers(b)?);
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    Some(a < b)
}

/// Warnings for locked versions that the chosen Rust cannot compile.
pub fn breakage_warnings(locked: &[(String, String)], rust_version: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in breakages() {
        if lt(rust_version, &b.rust_from) != Some(false) {
            continue;
        }
        for (name, version) in locked {
            if *name == b.krate
                && lt(version, &b.from) == Some(false)
                && lt(version, &b.below) == Some(true)
            {
                let w = format!(
                    "Cargo.lock locks {name} {version}, which fails to compile with Rust {} and newer ({}); run `cargo update -p {name}` (to {} or newer) or pin rust_version below {}",
                    b.rust_from, b.error, b.below, b.rust_from
                );
                if !out.contains(&w) {
                    out.push(w);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakage_data_parses_and_every_range_is_ordered() {
        let all = breakages();
        assert!(all.iter().any(|b| b.krate == "time"), "{all:?}");
        for b in &all {
            assert_eq!(lt(&b.from, &b.below), Some(true), "{b:?}");
            assert!(numbers(&b.rust_from).is_some(), "{b:?}");
        }
    }

    #[test]
    fn time_breakage_depends_on_the_rust_version() {
        let locked = vec![("time".to_string(), "0.3.30".to_string())];
        let w = breakage_warnings(&locked, "1.80.0");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("cargo update -p time") && w[0].contains("below 1.80"));
        assert!(breakage_warnings(&locked, "1.79").is_empty());
        assert!(breakage_warnings(&locked, "stable").is_empty());
        let fixed = vec![("time".to_string(), "0.3.35".to_string())];
        assert!(breakage_warnings(&fixed, "1.95.0").is_empty());
    }

    fn dep(key: &str, optional: bool) -> ManifestDep {
        ManifestDep {
            key: key.into(),
            package: key.into(),
            optional,
            default_features: true,
            ..Default::default()
        }
    }

    fn entry(name: &str, source: Option<&str>, deps: &[&str]) -> LockEntry {
        LockEntry {
            name: name.into(),
            version: "1.0.0".into(),
            source: source.map(str::to_string),
            deps: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// app -> lib (local); lib has optional pq-sys behind `db` and `sqlite` as implicit feature.
    fn graph() -> LockGraph {
        let reg = Some("registry+https://github.com/rust-lang/crates.io-index");
        let mut locals = BTreeMap::new();
        locals.insert(
            "app".to_string(),
            LocalManifest {
                name: "app".into(),
                features: BTreeMap::from([
                    ("pg".to_string(), vec!["lib/db".to_string()]),
                    ("lite".to_string(), vec!["lib?/libsqlite3-sys".to_string()]),
                ]),
                deps: vec![dep("lib", false)],
                ..Default::default()
            },
        );
        locals.insert(
            "lib".to_string(),
            LocalManifest {
                name: "lib".into(),
                features: BTreeMap::from([("db".to_string(), vec!["dep:pq-sys".to_string()])]),
                deps: vec![dep("pq-sys", true), dep("libsqlite3-sys", true)],
                ..Default::default()
            },
        );
        for l in locals.values_mut() {
            l.version = "1.0.0".into();
        }
        LockGraph {
            entries: vec![
                entry("app", None, &["lib"]),
                entry("lib", None, &["libsqlite3-sys", "pq-sys"]),
                entry("pq-sys", reg, &[]),
                entry("libsqlite3-sys", reg, &[]),
            ],
            locals,
        }
    }

    #[test]
    fn optional_dependencies_follow_the_chosen_features() {
        let g = graph();
        let c = closure(&g, "app", &[], false);
        assert!(c.has(&g, "lib") && !c.has(&g, "pq-sys") && !c.has(&g, "libsqlite3-sys"));
        let c = closure(&g, "app", &["pg".into()], false);
        assert_eq!(c.chain(&g, "pq-sys"), "pq-sys <- lib <- app");
        assert!(!c.has(&g, "libsqlite3-sys"));
        let c = closure(&g, "app", &["lite".into()], false);
        assert!(c.has(&g, "libsqlite3-sys"), "weak x?/y on an enabled dep");
        let c = closure(&g, "app", &["lib/libsqlite3-sys".into()], false);
        assert!(
            c.has(&g, "libsqlite3-sys"),
            "implicit feature of an optional dep"
        );
    }

    #[test]
    fn stale_versions_and_missing_dependencies_are_errors() {
        let mut g = graph();
        check_stale(&g).unwrap();
        g.locals.get_mut("app").unwrap().version = "2.0.0".into();
        let e = check_stale(&g).unwrap_err().to_string();
        assert!(
            e.contains("cargo update -p app") && e.contains("1.0.0"),
            "{e}"
        );
        g.locals.get_mut("app").unwrap().version = "1.0.0".into();
        g.entries.remove(1);
        let e = check_stale(&g).unwrap_err().to_string();
        assert!(e.contains("no entry for package lib"), "{e}");
    }

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
