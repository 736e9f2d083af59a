//! Cargo manifests read directly: packages, workspace members, inheritance, binary targets.

use crate::model::{BinTarget, Package};
use anyhow::{bail, Result};
use std::path::{Component, Path, PathBuf};

/// The workspace root above the package in `package_dir`, when it is a member of one: the
/// directory `package.workspace` names, else the first `[workspace]` manifest above that does
/// not exclude it, when its `members` list it. `None` when the package is its own root.
pub fn workspace_root_of(package_dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(manifest) = load(package_dir, "Cargo.toml") else {
        return Ok(None);
    };
    if manifest.contains_key("workspace") {
        return Ok(None);
    }
    if let Some(rel) = manifest
        .get("package")
        .and_then(|p| p.get("workspace"))
        .and_then(|w| w.as_str())
    {
        let root = package_dir.join(rel);
        return Ok(root.canonicalize().ok().or(Some(root)));
    }
    for dir in package_dir.ancestors().skip(1) {
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let Ok(candidate) = load(dir, "Cargo.toml") else {
            continue;
        };
        let Some(ws) = candidate.get("workspace").and_then(|w| w.as_table()) else {
            continue;
        };
        let Some(rel) = crate::paths::relative(dir, package_dir) else {
            return Ok(None);
        };
        if excluded(&str_list(ws.get("exclude")), &rel) {
            continue;
        }
        let member = str_list(ws.get("members"))
            .into_iter()
            .any(|pattern| expand_member(dir, pattern).contains(&rel));
        return Ok(member.then(|| dir.to_path_buf()));
    }
    Ok(None)
}

/// Reads the root manifest and every workspace member into packages (root package first).
pub fn read_packages(root: &Path) -> Result<Vec<Package>> {
    let root_manifest = load(root, "Cargo.toml")?;
    let ws = root_manifest.get("workspace").and_then(|w| w.as_table());
    let ws_package = ws.and_then(|w| w.get("package")).and_then(|p| p.as_table());
    let ws_deps = ws
        .and_then(|w| w.get("dependencies"))
        .and_then(|p| p.as_table());
    let mut packages = Vec::new();
    if root_manifest.contains_key("package") {
        packages.push(read_package(root, "", &root_manifest, ws_package, ws_deps)?);
    }
    if let Some(ws) = ws {
        let excludes: Vec<&str> = str_list(ws.get("exclude"));
        for pattern in str_list(ws.get("members")) {
            if Path::new(pattern)
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
            {
                bail!(
                    "{}: workspace member `{pattern}` lies outside the workspace root; cargo refuses it and the image is built from the root, so move the package under it",
                    root.join("Cargo.toml").display()
                );
            }
            for dir in expand_member(root, pattern) {
                if excluded(&excludes, &dir) || dir.is_empty() {
                    continue;
                }
                if packages.iter().any(|p: &Package| p.dir == dir) {
                    continue;
                }
                let rel = format!("{dir}/Cargo.toml");
                if !root.join(&rel).is_file() {
                    bail!("{}: workspace member `{dir}` has no Cargo.toml; fix `members` in Cargo.toml", root.join("Cargo.toml").display());
                }
                let manifest = load(root, &rel)?;
                packages.push(read_package(root, &dir, &manifest, ws_package, ws_deps)?);
            }
        }
    }
    if packages.is_empty() {
        bail!(
            "{}: neither [package] nor workspace members; imggen needs a package with a binary",
            root.join("Cargo.toml").display()
        );
    }
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    for pkg in &mut packages {
        pkg.path_deps.retain(|d| names.contains(d));
    }
    Ok(packages)
}

/// `[workspace] default-members` of the root manifest, as package directories ("" for the root).
pub fn default_members(root: &Path) -> Result<Vec<String>> {
    let manifest = load(root, "Cargo.toml")?;
    let ws = manifest.get("workspace");
    Ok(str_list(ws.and_then(|w| w.get("default-members")))
        .into_iter()
        .flat_map(|pattern| expand_member(root, pattern))
        .collect())
}

fn load(root: &Path, rel: &str) -> Result<toml::Table> {
    let path = root.join(rel);
    let Some(text) = super::read_text(&path)? else {
        bail!("{}: no such file", path.display());
    };
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        });
        anyhow::anyhow!(
            "{}{}: invalid TOML: {}; fix the manifest (cargo would reject it too)",
            path.display(),
            line.map(|l| format!(":{l}")).unwrap_or_default(),
            e.message().trim_end_matches('.')
        )
    })
}

/// True when a workspace `exclude` list names the root-relative directory `rel` or one above it.
pub fn excluded<S: AsRef<str>>(excludes: &[S], rel: &str) -> bool {
    excludes.iter().any(|e| {
        let e = e.as_ref();
        rel == e || rel.starts_with(&format!("{e}/"))
    })
}

/// The root manifest's `[workspace] exclude` list; None without a `[workspace]`.
pub fn workspace_excludes(root: &Path) -> Option<Vec<String>> {
    let manifest = load(root, "Cargo.toml").ok()?;
    let ws = manifest.get("workspace")?.as_table()?;
    Some(
        str_list(ws.get("exclude"))
            .into_iter()
            .map(str::to_string)
            .collect(),
    )
}

fn str_list(v: Option<&toml::Value>) -> Vec<&str> {
    v.and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect()
}

/// Expands a `members` entry; `*` and `?` match within one path component.
fn expand_member(root: &Path, pattern: &str) -> Vec<String> {
    let pattern = pattern.trim_end_matches('/');
    let mut found = vec![String::new()];
    for comp in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for base in &found {
            if comp.contains(['*', '?', '[']) {
                let names = crate::paths::subdirs(&root.join(base));
                next.extend(
                    names
                        .iter()
                        .filter(|n| glob_component(comp, n))
                        .map(|n| join(base, n)),
                );
            } else {
                next.push(join(base, comp));
            }
        }
        found = next;
    }
    found.retain(|d| root.join(d).join("Cargo.toml").is_file() || !pattern.contains('*'));
    found
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn glob_component(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    !name.starts_with('.') && go(pattern.as_bytes(), name.as_bytes())
}

/// A package field that may be `{ workspace = true }`.
fn inherited(
    pkg: &toml::Table,
    ws_package: Option<&toml::Table>,
    key: &str,
    manifest: &str,
) -> Result<Option<String>> {
    match pkg.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(toml::Value::Table(t))
            if t.get("workspace").and_then(|w| w.as_bool()) == Some(true) =>
        {
            match ws_package.and_then(|w| w.get(key)) {
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                _ => bail!("{manifest}: `{key}.workspace = true` but [workspace.package] has no `{key}`; add it to the workspace manifest"),
            }
        }
        Some(_) => Ok(None),
    }
}

fn read_package(
    root: &Path,
    dir: &str,
    manifest: &toml::Table,
    ws_package: Option<&toml::Table>,
    ws_deps: Option<&toml::Table>,
) -> Result<Package> {
    let manifest_path = root.join(dir).join("Cargo.toml").display().to_string();
    let Some(pkg) = manifest.get("package").and_then(|p| p.as_table()) else {
        bail!(
            "{manifest_path}: no [package] table; add one or remove this member from the workspace"
        );
    };
    let name = match pkg.get("name") {
        Some(toml::Value::String(n)) => n.clone(),
        Some(other) => bail!(
            "{manifest_path}: [package] `name` must be a string, not {} `{other}`; quote it",
            other.type_str()
        ),
        None => bail!("{manifest_path}: [package] has no `name`; add one"),
    };
    let field = |key: &str| inherited(pkg, ws_package, key, &manifest_path);
    let exists = |p: &str| root.join(dir).join(p).is_file();
    let mut bins = declared_bins(root, dir, manifest, &name);
    if pkg
        .get("autobins")
        .and_then(|a| a.as_bool())
        .unwrap_or(true)
    {
        for (bname, path) in auto_bins(root, dir, &name) {
            let full = join(dir, &path);
            if !bins.iter().any(|b| b.name == bname || b.path == full) {
                bins.push(BinTarget {
                    name: bname,
                    path: full,
                    required_features: vec![],
                });
            }
        }
    }
    let default_run = pkg
        .get("default-run")
        .and_then(|d| d.as_str())
        .map(String::from);
    if let Some(run) = &default_run {
        if !bins.iter().any(|b| &b.name == run) {
            let names: Vec<&str> = bins.iter().map(|b| b.name.as_str()).collect();
            bail!(
                "{manifest_path}: default-run = \"{run}\" names no binary of package {name}; set it to one of: {} (cargo rejects it too)",
                if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
            );
        }
    }
    let path_deps = path_deps(manifest, ws_deps);
    let has_lib = manifest.contains_key("lib") || exists("src/lib.rs");
    let target_files = target_files(root, dir, manifest, pkg, has_lib, &bins);

    Ok(Package {
        version: field("version")?,
        rust_version: field("rust-version")?,
        description: field("description")?,
        license: field("license")?,
        repository: field("repository")?,
        dir: dir.to_string(),
        default_run,
        has_lib,
        bins,
        target_files,
        features: manifest
            .get("features")
            .and_then(|f| f.as_table())
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default(),
        path_deps,
        cli: Default::default(),
        source: Default::default(),
        name,
    })
}

/// The entry files cargo needs to load a manifest: the library's, every binary's, the build
/// script (`build`, else `build.rs` when present) and those of the declared `[[example]]`,
/// `[[test]]` and `[[bench]]` targets (their `path`, else cargo's `<dir>/<name>.rs` or
/// `<dir>/<name>/main.rs` that exists), joined to the package's directory.
fn target_files(
    root: &Path,
    dir: &str,
    manifest: &toml::Table,
    pkg: &toml::Table,
    has_lib: bool,
    bins: &[BinTarget],
) -> Vec<String> {
    let exists = |p: &str| root.join(dir).join(p).is_file();
    let mut files = Vec::new();
    if has_lib {
        let declared = manifest
            .get("lib")
            .and_then(|l| l.get("path"))
            .and_then(|p| p.as_str());
        files.push(declared.unwrap_or("src/lib.rs").to_string());
    }
    match pkg.get("build") {
        Some(toml::Value::String(b)) => files.push(b.clone()),
        Some(_) => {}
        None if exists("build.rs") => files.push("build.rs".into()),
        None => {}
    }
    for (key, folder) in [
        ("example", "examples"),
        ("test", "tests"),
        ("bench", "benches"),
    ] {
        for target in manifest
            .get(key)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(path) = target.get("path").and_then(|p| p.as_str()) {
                files.push(path.to_string());
            } else if let Some(name) = target.get("name").and_then(|n| n.as_str()) {
                let single = format!("{folder}/{name}.rs");
                let nested = format!("{folder}/{name}/main.rs");
                if exists(&single) {
                    files.push(single);
                } else if exists(&nested) {
                    files.push(nested);
                }
            }
        }
    }
    let mut files: Vec<String> = files.iter().map(|f| join(dir, f)).collect();
    files.extend(bins.iter().map(|b| b.path.clone()));
    files.sort();
    files.dedup();
    files
}

/// The `[[bin]]` targets of a manifest, with cargo's default paths.
fn declared_bins(root: &Path, dir: &str, manifest: &toml::Table, name: &str) -> Vec<BinTarget> {
    let exists = |p: &str| root.join(dir).join(p).is_file();
    let mut bins = Vec::new();
    for bin in manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
    {
        let bname = bin
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(name)
            .to_string();
        let path = match bin.get("path").and_then(|p| p.as_str()) {
            Some(p) => p.to_string(),
            None if bname == name && exists("src/main.rs") => "src/main.rs".into(),
            None if exists(&format!("src/bin/{bname}/main.rs")) => {
                format!("src/bin/{bname}/main.rs")
            }
            None => format!("src/bin/{bname}.rs"),
        };
        let required_features = str_list(bin.get("required-features"))
            .into_iter()
            .map(String::from)
            .collect();
        bins.push(BinTarget {
            name: bname,
            path: join(dir, &path),
            required_features,
        });
    }
    bins
}

/// The binaries cargo finds by itself: src/main.rs, src/bin/*.rs and src/bin/*/main.rs, as
/// (name, path in the package).
fn auto_bins(root: &Path, dir: &str, name: &str) -> Vec<(String, String)> {
    let mut auto = Vec::new();
    if root.join(dir).join("src/main.rs").is_file() {
        auto.push((name.to_string(), "src/main.rs".to_string()));
    }
    let bin_dir = root.join(dir).join("src/bin");
    let mut entries: Vec<_> = std::fs::read_dir(&bin_dir)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let fname = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_file() && fname.ends_with(".rs") {
            auto.push((
                fname.trim_end_matches(".rs").to_string(),
                format!("src/bin/{fname}"),
            ));
        } else if path.join("main.rs").is_file() {
            auto.push((fname.clone(), format!("src/bin/{fname}/main.rs")));
        }
    }
    auto
}

/// The packages a manifest depends on by path (directly or through the workspace's
/// dependencies), under their package names.
fn path_deps(manifest: &toml::Table, ws_deps: Option<&toml::Table>) -> Vec<String> {
    let mut path_deps = Vec::new();
    let mut dep_tables: Vec<&toml::Table> = Vec::new();
    for key in ["dependencies", "build-dependencies"] {
        if let Some(t) = manifest.get(key).and_then(|d| d.as_table()) {
            dep_tables.push(t);
        }
    }
    for target in manifest
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
    {
        if let Some(t) = target.get("dependencies").and_then(|d| d.as_table()) {
            dep_tables.push(t);
        }
    }
    for table in dep_tables {
        for (dname, spec) in table {
            let is_path = spec.get("path").is_some()
                || (spec.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                    && ws_deps
                        .and_then(|w| w.get(dname))
                        .and_then(|d| d.get("path"))
                        .is_some());
            if is_path {
                let real = spec
                    .get("package")
                    .and_then(|p| p.as_str())
                    .unwrap_or(dname);
                path_deps.push(real.to_string());
            }
        }
    }
    path_deps
}

#[cfg(test)]
mod tests {
    use super::{glob_component, read_packages};

    #[test]
    fn target_files_are_every_entry_file_cargo_must_find() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, text: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[package]\nname = \"svc\"\nversion = \"0.1.0\"\n\n[lib]\npath = \"lib/mod.rs\"\n\n[[example]]\nname = \"demo\"\n\n[[bench]]\nname = \"speed\"\npath = \"perf/speed.rs\"\n",
        );
        for f in [
            "lib/mod.rs",
            "src/main.rs",
            "src/bin/tool/main.rs",
            "build.rs",
        ] {
            write(f, "");
        }
        write("examples/demo/main.rs", "");
        write("tests/auto.rs", "");
        let packages = read_packages(root).unwrap();
        assert_eq!(
            packages[0].target_files,
            [
                "build.rs",
                "examples/demo/main.rs",
                "lib/mod.rs",
                "perf/speed.rs",
                "src/bin/tool/main.rs",
                "src/main.rs"
            ]
        );
    }

    #[test]
    fn member_globs() {
        assert!(glob_component("*", "api"));
        assert!(glob_component("svc-*", "svc-a"));
        assert!(!glob_component("svc-*", "lib-a"));
        assert!(glob_component("a?c", "abc"));
        assert!(!glob_component("*", ".hidden"));
    }
}
