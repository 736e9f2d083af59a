//! The build context a project needs: the smallest directory holding the project root and every
//! local package the build reads (workspace members, path dependencies, `[patch]` paths,
//! transitively), bounded by the repository (the nearest directory above with `.git`).

use crate::model::{BuildContextFacts, LocalCrate};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

/// Finds the build context of the project at `root` with members in `member_dirs`
/// (root-relative). A path dependency outside the repository (or, with no repository, one that
/// only the filesystem root holds) is an error naming it.
pub fn build_context(root: &Path, member_dirs: &[String]) -> Result<BuildContextFacts> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let repo = root
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf);
    let mut queue: VecDeque<PathBuf> = std::iter::once(root.clone())
        .chain(member_dirs.iter().map(|d| root.join(d)))
        .collect();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut context = root.clone();
    let mut outside: Vec<String> = Vec::new();
    let members: BTreeSet<PathBuf> = std::iter::once(root.clone())
        .chain(member_dirs.iter().map(|d| normalize(&root.join(d))))
        .map(|d| d.canonicalize().unwrap_or(d))
        .collect();
    let excludes = super::manifest::workspace_excludes(&root);
    // Local packages under the root besides the members, and whether cargo makes them members
    // (a `[patch]` or `[replace]` path never is).
    let mut reached: BTreeMap<PathBuf, bool> = BTreeMap::new();
    while let Some(dir) = queue.pop_front() {
        let dir = dir.canonicalize().unwrap_or_else(|_| normalize(&dir));
        if !seen.insert(dir.clone()) {
            continue;
        }
        let manifest_path = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest_path) else {
            continue;
        };
        let Ok(manifest) = toml::from_str::<toml::Table>(&text) else {
            continue;
        };
        for (declared, dependency) in path_entries(&manifest) {
            let target = dir.join(&declared);
            let target = target.canonicalize().unwrap_or_else(|_| normalize(&target));
            if !target.join("Cargo.toml").is_file() {
                continue;
            }
            if target.starts_with(&root) && !members.contains(&target) {
                let auto = dependency && auto_member(&root, &target, excludes.as_deref());
                *reached.entry(target.clone()).or_default() |= auto;
            }
            if !target.starts_with(&root) {
                let allowed = match &repo {
                    Some(repo) => target.starts_with(repo),
                    None => common_ancestor(&root, &target).parent().is_some(),
                };
                if !allowed {
                    let bound = repo
                        .as_ref()
                        .map(|r| format!("the repository {}", r.display()))
                        .unwrap_or_else(|| "any directory but the filesystem root".into());
                    bail!(
                        "{}: path dependency `{declared}` ({}) lies outside {bound}, so no build context can hold it; move it into the repository or depend on it by version or git",
                        manifest_path.display(),
                        target.display()
                    );
                }
                context = common_ancestor(&context, &target);
                if !outside.iter().any(|o| Path::new(o) == target.as_path()) {
                    outside.push(target.display().to_string());
                }
            }
            queue.push_back(target);
        }
    }
    let root_in_context = crate::paths::relative(&context, &root).unwrap_or_default();
    let context_in_repo = repo
        .as_ref()
        .and_then(|r| crate::paths::relative(r, &context));
    let mut outside: Vec<String> = outside
        .iter()
        .filter_map(|o| crate::paths::relative(&context, Path::new(o)))
        .collect();
    outside.sort();
    Ok(BuildContextFacts {
        root_in_context,
        context_in_repo,
        outside,
        local_crates: local_crates(&root, reached.iter().filter(|(_, m)| !**m).map(|(d, _)| d)),
    })
}

/// Cargo makes a path dependency under the workspace root a member unless `exclude` names it
/// (`excludes` is None without a `[workspace]`: then none is).
fn auto_member(root: &Path, target: &Path, excludes: Option<&[String]>) -> bool {
    let rel = crate::paths::relative(root, target).unwrap_or_default();
    excludes.is_some_and(|excludes| !super::manifest::excluded(excludes, &rel))
}

/// The name and root-relative directory of each package directory, in directory order.
fn local_crates<'a>(root: &Path, dirs: impl Iterator<Item = &'a PathBuf>) -> Vec<LocalCrate> {
    let mut crates: Vec<LocalCrate> = dirs
        .filter_map(|dir| {
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
            let manifest = toml::from_str::<toml::Table>(&text).ok()?;
            let name = manifest.get("package")?.get("name")?.as_str()?.to_string();
            let dir = crate::paths::relative(root, dir)?;
            Some(LocalCrate { name, dir })
        })
        .collect();
    crates.sort_by(|a, b| a.dir.cmp(&b.dir));
    crates
}

/// Every `path = "..."` of a manifest's dependency tables (all kinds, target-specific ones,
/// `[workspace.dependencies]`) and of its `[patch.*]` and `[replace]` tables, each with whether
/// it is a dependency (not a patch or replacement).
fn path_entries(manifest: &toml::Table) -> Vec<(String, bool)> {
    let mut tables: Vec<&toml::Table> = Vec::new();
    const KINDS: [&str; 5] = [
        "dependencies",
        "dev-dependencies",
        "build-dependencies",
        "dev_dependencies",
        "build_dependencies",
    ];
    fn push_kinds<'a>(from: &'a toml::Table, tables: &mut Vec<&'a toml::Table>) {
        for key in KINDS {
            if let Some(t) = from.get(key).and_then(|d| d.as_table()) {
                tables.push(t);
            }
        }
    }
    push_kinds(manifest, &mut tables);
    for target in manifest
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(|t| t.as_table())
    {
        push_kinds(target, &mut tables);
    }
    if let Some(ws) = manifest.get("workspace").and_then(|w| w.as_table()) {
        push_kinds(ws, &mut tables);
    }
    let dependencies = tables.len();
    for source in manifest
        .get("patch")
        .and_then(|p| p.as_table())
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(|t| t.as_table())
    {
        tables.push(source);
    }
    if let Some(t) = manifest.get("replace").and_then(|r| r.as_table()) {
        tables.push(t);
    }
    tables
        .into_iter()
        .enumerate()
        .flat_map(|(i, t)| t.values().map(move |spec| (i < dependencies, spec)))
        .filter_map(|(dependency, spec)| {
            let path = spec.get("path").and_then(|p| p.as_str())?;
            Some((path.to_string(), dependency))
        })
        .collect()
}

/// The deepest directory holding both paths (both absolute and normalized).
fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for (x, y) in a.components().zip(b.components()) {
        if x != y {
            break;
        }
        out.push(x);
    }
    out
}

/// `p` with `.` and `..` resolved lexically (for paths that do not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn context_holds_path_dependencies_above_the_root() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "crates/core/Cargo.toml",
            "[package]\nname = \"core\"\n",
        );
        write(
            t.path(),
            "crates/util/Cargo.toml",
            "[package]\nname = \"util\"\n",
        );
        write(
            t.path(),
            "examples/api/Cargo.toml",
            "[package]\nname = \"api\"\n[dependencies]\ncore = { path = \"../../crates/core\" }\n",
        );
        write(
            t.path(),
            "examples/Cargo.toml",
            "[workspace]\nmembers = [\"api\"]\n[patch.crates-io]\nutil = { path = \"../crates/util\" }\n",
        );
        let facts = build_context(&t.path().join("examples"), &["api".into()]).unwrap();
        assert_eq!(facts.root_in_context, "examples");
        assert_eq!(facts.outside, ["crates/core", "crates/util"]);
        assert_eq!(facts.context_in_repo, None);
        let facts = build_context(&t.path().join("crates/core"), &[]).unwrap();
        assert_eq!(facts.root_in_context, "");
        assert!(facts.outside.is_empty());
    }

    #[test]
    fn local_crates_are_the_packages_cargo_does_not_make_members() {
        let t = tempfile::tempdir().unwrap();
        for (dir, name) in [
            ("vendor/fork", "fork"),
            ("libs/kept", "kept"),
            ("libs/out", "out"),
        ] {
            write(
                t.path(),
                &format!("{dir}/Cargo.toml"),
                &format!("[package]\nname = \"{name}\"\n"),
            );
        }
        write(
            t.path(),
            "Cargo.toml",
            "[package]\nname = \"app\"\n[dependencies]\nkept = { path = \"libs/kept\" }\nout = { path = \"libs/out\" }\n[patch.crates-io]\nfork = { path = \"vendor/fork\" }\n[workspace]\nexclude = [\"libs/out\"]\n",
        );
        let facts = build_context(t.path(), &[]).unwrap();
        let found: Vec<(&str, &str)> = facts
            .local_crates
            .iter()
            .map(|c| (c.name.as_str(), c.dir.as_str()))
            .collect();
        // `kept` lies under the workspace root: cargo makes it a member, and the recipe has it.
        assert_eq!(found, [("out", "libs/out"), ("fork", "vendor/fork")]);

        // Without a [workspace], no path dependency is a member.
        write(
            t.path(),
            "Cargo.toml",
            "[package]\nname = \"app\"\n[dependencies]\nkept = { path = \"libs/kept\" }\n",
        );
        let facts = build_context(t.path(), &[]).unwrap();
        assert_eq!(facts.local_crates.len(), 1);
        assert_eq!(facts.local_crates[0].dir, "libs/kept");
    }

    #[test]
    fn a_path_dependency_outside_the_repository_is_refused() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "shared/Cargo.toml",
            "[package]\nname = \"shared\"\n",
        );
        write(
            t.path(),
            "repo/app/Cargo.toml",
            "[package]\nname = \"app\"\n[dependencies]\nshared = { path = \"../../shared\" }\n",
        );
        std::fs::create_dir_all(t.path().join("repo/.git")).unwrap();
        let err = build_context(&t.path().join("repo/app"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("path dependency `../../shared`"), "{err}");
        assert!(err.contains("outside the repository"), "{err}");
    }
}
