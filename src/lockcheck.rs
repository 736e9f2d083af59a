//! The lockfile checks of the chosen binary, pure functions of `model::LockGraph`: what
//! `cargo build --locked` of one package with its features compiles (its dependency closure),
//! a stale lockfile, `compile_error!` feature gates, and known breakages of locked versions
//! (`data/breakages.toml`).

use crate::model::{LockEntry, LockGraph};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The known breakages, as data (see the file for its format).
const BREAKAGES: &str = include_str!("../data/breakages.toml");

/// Fails when `cargo build --locked` would refuse the lockfile: a local package, its version or
/// one of its dependencies is missing from Cargo.lock. Cargo locks every dependency of a
/// workspace member (all features, dev-dependencies too), but of a path package outside the
/// workspace only its normal and build dependencies, and its optional ones only when a feature
/// some member can enable turns them on.
pub fn check_stale(graph: &LockGraph) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    let mut turned_on: Option<Sets> = None;
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
            if dep.optional && !local.member {
                let on = turned_on.get_or_insert_with(|| members_turn_on(graph));
                if !on.get(&local.name).is_some_and(|s| s.contains(&dep.key)) {
                    continue;
                }
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

/// The dependencies each local package turns on when every workspace member is built with all
/// its features, as cargo resolves the lockfile.
fn members_turn_on(graph: &LockGraph) -> Sets {
    let mut out = Sets::new();
    for member in graph.locals.values().filter(|l| l.member) {
        let mut all: Vec<String> = member.features.keys().cloned().collect();
        all.extend(
            member
                .deps
                .iter()
                .filter(|d| d.optional)
                .map(|d| d.key.clone()),
        );
        let (_, deps_on) = resolve_features(graph, &member.name, &all, false);
        for (name, keys) in deps_on {
            out.entry(name).or_default().extend(keys);
        }
    }
    out
}

/// What one build compiles: locked packages reachable from the chosen package, and the
/// features enabled on each local package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Closure {
    /// Index into `LockGraph::entries` -> index of the package that pulled it in.
    pub parent: BTreeMap<usize, Option<usize>>,
    /// Enabled features of each local package in the closure.
    pub features: BTreeMap<String, BTreeSet<String>>,
    /// Every dependency edge the build follows: (dependent, dependency), entry indexes.
    pub edges: BTreeSet<(usize, usize)>,
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
    let (enabled, deps_on) = resolve_features(graph, root_pkg, features, no_default_features);
    let mut out = Closure {
        features: enabled,
        ..Default::default()
    };
    walk(graph, root_pkg, &deps_on, &mut out);
    out
}

/// A set of names per local package.
type Sets = BTreeMap<String, BTreeSet<String>>;

/// Features enabled and dependencies turned on, per local package: (features, dependency keys).
type Resolved = (Sets, Sets);

/// Resolves what each local package reached from `root_pkg` enables, to a fixed point.
fn resolve_features(
    graph: &LockGraph,
    root_pkg: &str,
    features: &[String],
    no_default_features: bool,
) -> Resolved {
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
            resolve_package(graph, &name, &mut requests, (&mut enabled, &mut deps_on));
        }
        if before == (requests.clone(), enabled.clone(), deps_on.clone()) {
            break;
        }
    }

    (enabled, deps_on)
}

/// One round for local package `name`: expands its requested features, turns on the
/// dependencies they name, and passes feature requests on to local dependencies.
fn resolve_package(
    graph: &LockGraph,
    name: &str,
    requests: &mut Sets,
    (enabled, deps_on): (&mut Sets, &mut Sets),
) {
    let Some(local) = graph.locals.get(name) else {
        return;
    };
    let explicit_dep: BTreeSet<&str> = local
        .features
        .values()
        .flatten()
        .filter_map(|f| f.strip_prefix("dep:"))
        .collect();
    let mut todo: Vec<String> = requests[name].iter().cloned().collect();
    let feats = enabled.entry(name.to_string()).or_default();
    let on = deps_on.entry(name.to_string()).or_default();
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

/// Walks the lock graph from `root_pkg`, following only the dependencies local packages turn
/// on, and records each reached entry's parent in `out`.
fn walk(
    graph: &LockGraph,
    root_pkg: &str,
    deps_on: &BTreeMap<String, BTreeSet<String>>,
    out: &mut Closure,
) {
    let Some(start) = graph
        .entries
        .iter()
        .position(|e| e.name == root_pkg && e.source.is_none())
    else {
        return;
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
                out.edges.insert((i, j));
                if let std::collections::btree_map::Entry::Vacant(v) = out.parent.entry(j) {
                    v.insert(Some(i));
                    queue.push_back(j);
                }
            }
        }
    }
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
    use crate::model::{LocalManifest, ManifestDep};

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
            checksum: None,
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

    /// Cargo locks a path package outside the workspace without its dev-dependencies and
    /// without the optional ones no member's feature turns on.
    #[test]
    fn a_path_package_outside_the_workspace_needs_only_what_members_turn_on() {
        let mut g = graph();
        g.locals.get_mut("app").unwrap().member = true;
        g.locals.get_mut("app").unwrap().features.remove("pg");
        let lib = g.locals.get_mut("lib").unwrap();
        lib.deps.push(ManifestDep {
            dev: true,
            ..dep("criterion", false)
        });
        g.entries[1].deps = vec!["libsqlite3-sys".into()];
        check_stale(&g).unwrap();
        g.entries[1].deps.clear();
        let e = check_stale(&g).unwrap_err().to_string();
        assert!(
            e.contains("depends on libsqlite3-sys") && !e.contains("more problems"),
            "a member's `lib?/libsqlite3-sys` turns it on: {e}"
        );
        g.locals.get_mut("lib").unwrap().member = true;
        let e = check_stale(&g).unwrap_err().to_string();
        assert!(
            e.contains("(2 more problems"),
            "a member locks everything: {e}"
        );
    }
}
