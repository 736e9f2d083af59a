//! Build the Docker build context: a deterministic, uncompressed tar of a directory filtered by
//! its ignore file, with the same file selection Docker (BuildKit) would send.
//!
//! Selection rules: the ignore file is `<Dockerfile>.dockerignore` beside the Dockerfile when
//! there is one, else the root's `.dockerignore` (BuildKit's rule); a path is sent unless it
//! excludes it (see [`crate::dockerignore`]); the Dockerfile and the ignore file are always sent; an excluded
//! directory is not descended into unless an exception could re-include something below it, and
//! its own entry is only sent when something below it is (so the tar still carries its mode).
//!
//! Tar format: entries in walk order (names sorted bytewise within each directory), relative
//! slash paths, directories included, symlinks stored as symlinks, regular file modes kept,
//! mtimes kept to the second (as the Docker CLI does), uid/gid 0, GNU long-name headers as
//! needed. Sockets, FIFOs and devices are skipped; hard links are stored as regular files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};

use crate::dockerignore::DockerIgnore;

/// What a build context contains: counts for progress output and `imggen plan`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextSummary {
    /// Non-directory entries sent (regular files and symlinks).
    pub files: u64,
    /// Total size of the regular files' contents, in bytes (not the tar size).
    pub bytes: u64,
}

/// The kind of a context entry we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    File,
    Symlink,
}

/// One path selected for the context.
#[derive(Debug)]
struct Entry {
    /// Path relative to the root, as the OS gave it (used for the tar header).
    rel: PathBuf,
    /// The same path as a slash-separated string (used for matching and listing).
    rel_str: String,
    /// Absolute path on disk.
    abs: PathBuf,
    kind: EntryKind,
    /// `lstat` metadata (symlinks are not followed).
    meta: Metadata,
}

/// Normalize the Dockerfile name (relative to `root`, or absolute under it) to a context-relative
/// slash path; `None` when it lies outside the context.
fn forced_dockerfile(root: &Path, dockerfile_name: &str) -> Option<String> {
    let name = Path::new(dockerfile_name);
    let name = if name.is_absolute() {
        name.strip_prefix(root).ok()?
    } else {
        name
    };
    let mut parts: Vec<String> = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The ignore file BuildKit reads: `<Dockerfile>.dockerignore` beside the Dockerfile when it
/// exists, else the context root's `.dockerignore` (a context-relative slash path).
pub fn ignore_file(root: &Path, dockerfile_rel: Option<&str>) -> String {
    match dockerfile_rel {
        Some(d) if root.join(format!("{d}.dockerignore")).is_file() => format!("{d}.dockerignore"),
        _ => ".dockerignore".to_string(),
    }
}

/// Walk `root` and return, in tar order, every entry that belongs in the build context.
fn select(root: &Path, dockerfile_name: &str) -> Result<Vec<Entry>> {
    let dockerfile_rel = forced_dockerfile(root, dockerfile_name);
    let ignore_rel = ignore_file(root, dockerfile_rel.as_deref());
    let ignore_path = root.join(&ignore_rel);
    let ignore = match fs::read(&ignore_path) {
        Ok(bytes) => DockerIgnore::try_parse(&String::from_utf8_lossy(&bytes))
            .with_context(|| format!("parsing {}", ignore_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", ignore_path.display())),
    };
    let mut forced: BTreeSet<String> = BTreeSet::from([ignore_rel]);
    forced.extend(dockerfile_rel);

    let mut selected: Vec<Entry> = Vec::new();
    // Excluded directories we descended into; emitted only once something below them is.
    let mut deferred: BTreeMap<String, Entry> = BTreeMap::new();

    let mut walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(item) = walker.next() {
        let dent = item.with_context(|| format!("walking {}", root.display()))?;
        let abs = dent.path().to_path_buf();
        let rel = abs
            .strip_prefix(root)
            .with_context(|| format!("{} is outside {}", abs.display(), root.display()))?
            .to_path_buf();
        let rel_str = crate::paths::slash(&rel);
        let ft = dent.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            continue;
        };

        let is_forced = forced.contains(&rel_str);
        let excluded = !is_forced && ignore.is_excluded(&rel_str);
        if excluded && kind != EntryKind::Dir {
            continue;
        }
        if excluded {
            let dir_slash = format!("{rel_str}/");
            let forced_below = forced.iter().any(|f| f.starts_with(&dir_slash));
            if !forced_below && !ignore.may_contain_exceptions_under(&rel_str) {
                walker.skip_current_dir();
                continue;
            }
        }

        let meta = dent
            .metadata()
            .with_context(|| format!("reading metadata of {}", abs.display()))?;
        let entry = Entry {
            rel,
            rel_str,
            abs,
            kind,
            meta,
        };
        if excluded {
            deferred.insert(entry.rel_str.clone(), entry);
            continue;
        }
        // Emit any deferred ancestors first, outermost first.
        let mut idx = 0;
        while let Some(off) = entry.rel_str[idx..].find('/') {
            idx += off;
            if let Some(parent) = deferred.remove(&entry.rel_str[..idx]) {
                selected.push(parent);
            }
            idx += 1;
        }
        selected.push(entry);
    }
    Ok(selected)
}

/// Permission bits (including setuid/setgid/sticky) for the tar header.
#[cfg(unix)]
fn mode_of(meta: &Metadata, _kind: EntryKind) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// Permission bits for the tar header on platforms without Unix modes.
#[cfg(not(unix))]
fn mode_of(meta: &Metadata, kind: EntryKind) -> u32 {
    match kind {
        EntryKind::Dir => 0o755,
        _ if meta.permissions().readonly() => 0o444,
        _ => 0o644,
    }
}

/// Modification time in whole seconds since the epoch (pre-epoch times clamp to 0).
fn mtime_of(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Build the context tar for `root` (filtered by its ignore file, see [`ignore_file`]) and
/// summarize it.
pub fn build_context(root: &Path, dockerfile_name: &str) -> Result<(Vec<u8>, ContextSummary)> {
    let entries = select(root, dockerfile_name)?;
    let mut builder = tar::Builder::new(Vec::new());
    let mut summary = ContextSummary::default();
    for e in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode_of(&e.meta, e.kind));
        header.set_mtime(mtime_of(&e.meta));
        header.set_uid(0);
        header.set_gid(0);
        let what = || format!("adding {} to the build context", e.abs.display());
        match e.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &e.rel, std::io::empty())
                    .with_context(what)?;
            }
            EntryKind::File => {
                // Read fully so the header size always matches the data, even if the file changes.
                let data = fs::read(&e.abs).with_context(what)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, &e.rel, data.as_slice())
                    .with_context(what)?;
                summary.files += 1;
                summary.bytes += data.len() as u64;
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&e.abs).with_context(what)?;
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder
                    .append_link(&mut header, &e.rel, &target)
                    .with_context(what)?;
                summary.files += 1;
            }
        }
    }
    let tar = builder
        .into_inner()
        .context("finishing the build context tar")?;
    Ok((tar, summary))
}

/// The sorted context-relative paths of the files and symlinks `build_context` would send.
pub fn list_context(root: &Path, dockerfile_name: &str) -> Result<Vec<String>> {
    let mut files: Vec<String> = select(root, dockerfile_name)?
        .into_iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .map(|e| e.rel_str)
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;
    use std::time::{Duration, SystemTime};

    /// Create `rel` under `root` with `content`, making parent directories.
    fn write(root: &Path, rel: &str, content: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// A header-level view of one tar entry.
    #[derive(Debug)]
    struct TarItem {
        path: String,
        kind: tar::EntryType,
        mode: u32,
        mtime: u64,
        uid: u64,
        gid: u64,
        link: Option<String>,
        data: Vec<u8>,
    }

    /// Decode a tar produced by `build_context`.
    fn read_tar(bytes: &[u8]) -> Vec<TarItem> {
        let mut archive = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            let h = entry.header();
            out.push(TarItem {
                path: entry.path().unwrap().to_string_lossy().into_owned(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                mtime: h.mtime().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                link: entry
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            });
        }
        out
    }

    /// A small cargo-like project.
    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Cargo.toml", b"[package]\nname = \"x\"\n");
        write(r, "src/main.rs", b"fn main() {}\n");
        write(r, "Dockerfile", b"FROM scratch\n");
        write(r, ".env", b"SECRET=1\n");
        write(r, "target/debug/big.bin", &vec![0u8; 1 << 20]);
        write(r, "target/release/keep.txt", b"keep\n");
        dir
    }

    #[test]
    fn no_dockerignore_sends_everything() {
        let dir = project();
        let files = list_context(dir.path(), "Dockerfile").unwrap();
        assert_eq!(
            files,
            [
                ".env",
                "Cargo.toml",
                "Dockerfile",
                "src/main.rs",
                "target/debug/big.bin",
                "target/release/keep.txt"
            ]
        );
    }

    #[test]
    fn a_dockerfile_specific_ignore_file_wins_over_the_root_one() {
        let dir = project();
        write(dir.path(), ".dockerignore", b"src\n");
        write(dir.path(), "examples/Dockerfile", b"FROM scratch\n");
        write(
            dir.path(),
            "examples/Dockerfile.dockerignore",
            b"target/\n.env\n",
        );
        let files = list_context(dir.path(), "examples/Dockerfile").unwrap();
        assert_eq!(
            files,
            [
                ".dockerignore",
                "Cargo.toml",
                "Dockerfile",
                "examples/Dockerfile",
                "examples/Dockerfile.dockerignore",
                "src/main.rs"
            ]
        );
    }

    #[test]
    fn target_and_env_are_excluded() {
        let dir = project();
        write(dir.path(), ".dockerignore", b"target/\n.env\n");
        let files = list_context(dir.path(), "Dockerfile").unwrap();
        assert_eq!(
            files,
            [".dockerignore", "Cargo.toml", "Dockerfile", "src/main.rs"]
        );
        let (tar, summary) = build_context(dir.path(), "Dockerfile").unwrap();
        assert_eq!(summary.files, 4);
        assert!(summary.bytes < 1024, "{summary:?}");
        assert!(
            tar.len() < 64 * 1024,
            "big target file leaked: {}",
            tar.len()
        );
        assert!(read_tar(&tar).iter().all(|i| !i.path.starts_with("target")));
    }

    #[test]
    fn exception_reincludes_file_in_excluded_dir_with_its_parents() {
        let dir = project();
        write(
            dir.path(),
            ".dockerignore",
            b"target\n!target/release/keep.txt\n",
        );
        let files = list_context(dir.path(), "Dockerfile").unwrap();
        assert!(files.contains(&"target/release/keep.txt".to_string()));
        assert!(!files.contains(&"target/debug/big.bin".to_string()));

        let (tar, _) = build_context(dir.path(), "Dockerfile").unwrap();
        let paths: Vec<String> = read_tar(&tar).into_iter().map(|i| i.path).collect();
        let pos = |p: &str| {
            paths
                .iter()
                .position(|x| x == p)
                .unwrap_or_else(|| panic!("{p}"))
        };
        assert!(pos("target") < pos("target/release"));
        assert!(pos("target/release") < pos("target/release/keep.txt"));
        assert!(!paths.iter().any(|p| p.starts_with("target/debug")));
    }

    #[test]
    fn wildcard_exception_is_found_inside_excluded_dir() {
        let dir = project();
        write(dir.path(), ".dockerignore", b"target\n!**/keep.txt\n");
        let files = list_context(dir.path(), "Dockerfile").unwrap();
        assert!(files.contains(&"target/release/keep.txt".to_string()));
        assert!(!files.contains(&"target/debug/big.bin".to_string()));
    }

    #[test]
    fn dockerfile_and_dockerignore_are_always_sent() {
        let dir = project();
        write(dir.path(), ".dockerignore", b"*\n");
        write(dir.path(), "docker/app.Dockerfile", b"FROM scratch\n");
        assert_eq!(
            list_context(dir.path(), "Dockerfile").unwrap(),
            [".dockerignore", "Dockerfile"]
        );
        // A Dockerfile inside an excluded directory is still found and sent with its parent.
        assert_eq!(
            list_context(dir.path(), "./docker/app.Dockerfile").unwrap(),
            [".dockerignore", "docker/app.Dockerfile"]
        );
        let abs = dir.path().join("docker/app.Dockerfile");
        assert_eq!(
            list_context(dir.path(), abs.to_str().unwrap()).unwrap(),
            [".dockerignore", "docker/app.Dockerfile"]
        );
        let (tar, _) = build_context(dir.path(), "docker/app.Dockerfile").unwrap();
        let paths: Vec<String> = read_tar(&tar).into_iter().map(|i| i.path).collect();
        assert_eq!(paths, [".dockerignore", "docker", "docker/app.Dockerfile"]);
    }

    #[test]
    fn mtimes_modes_and_owners_are_preserved() {
        let dir = project();
        let r = dir.path();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        File::options()
            .write(true)
            .open(r.join("src/main.rs"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            write(r, "run.sh", b"#!/bin/sh\n");
            fs::set_permissions(r.join("run.sh"), fs::Permissions::from_mode(0o751)).unwrap();
        }
        let (tar, _) = build_context(r, "Dockerfile").unwrap();
        let items = read_tar(&tar);
        let main = items.iter().find(|i| i.path == "src/main.rs").unwrap();
        assert_eq!(main.mtime, 1_600_000_000);
        assert_eq!(main.data, b"fn main() {}\n");
        assert_eq!(main.kind, tar::EntryType::Regular);
        assert!(items.iter().all(|i| i.uid == 0 && i.gid == 0));
        let src = items.iter().find(|i| i.path == "src").unwrap();
        assert_eq!(src.kind, tar::EntryType::Directory);
        #[cfg(unix)]
        {
            let sh = items.iter().find(|i| i.path == "run.sh").unwrap();
            assert_eq!(sh.mode, 0o751);
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_stored_as_symlinks() {
        let dir = project();
        let r = dir.path();
        std::os::unix::fs::symlink("src/main.rs", r.join("link.rs")).unwrap();
        std::os::unix::fs::symlink("target", r.join("tlink")).unwrap();
        write(r, ".dockerignore", b"target\n");
        let (tar, summary) = build_context(r, "Dockerfile").unwrap();
        let items = read_tar(&tar);
        let link = items.iter().find(|i| i.path == "link.rs").unwrap();
        assert_eq!(link.kind, tar::EntryType::Symlink);
        assert_eq!(link.link.as_deref(), Some("src/main.rs"));
        // A symlink to an excluded dir is sent as a link, not followed.
        let tlink = items.iter().find(|i| i.path == "tlink").unwrap();
        assert_eq!(tlink.kind, tar::EntryType::Symlink);
        assert!(!items.iter().any(|i| i.path.starts_with("tlink/")));
        // .dockerignore .env Cargo.toml Dockerfile link.rs src/main.rs tlink
        assert_eq!(summary.files, 7);
    }

    #[test]
    fn output_is_deterministic_and_sorted() {
        let dir = project();
        write(dir.path(), "b/z.txt", b"z");
        write(dir.path(), "b/a.txt", b"a");
        write(dir.path(), "a.txt", b"a");
        let (one, _) = build_context(dir.path(), "Dockerfile").unwrap();
        let (two, _) = build_context(dir.path(), "Dockerfile").unwrap();
        assert_eq!(one, two);
        let paths: Vec<String> = read_tar(&one).into_iter().map(|i| i.path).collect();
        let pos = |p: &str| paths.iter().position(|x| x == p).unwrap();
        assert!(pos("a.txt") < pos("b"));
        assert!(pos("b/a.txt") < pos("b/z.txt"));
        assert!(paths
            .iter()
            .all(|p| !p.starts_with('/') && !p.starts_with("./")));
    }

    #[test]
    fn long_paths_round_trip() {
        let dir = project();
        let long = format!("{}/{}.txt", "d".repeat(80), "f".repeat(90));
        write(dir.path(), &long, b"long");
        let (tar, _) = build_context(dir.path(), "Dockerfile").unwrap();
        let items = read_tar(&tar);
        let item = items.iter().find(|i| i.path == long).unwrap();
        assert_eq!(item.data, b"long");
    }

    #[test]
    fn invalid_dockerignore_is_an_error() {
        let dir = project();
        write(dir.path(), ".dockerignore", b"ok\n[\n");
        let err = build_context(dir.path(), "Dockerfile").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn excluded_empty_dirs_are_not_sent() {
        let dir = project();
        fs::create_dir_all(dir.path().join("cache/empty")).unwrap();
        write(dir.path(), ".dockerignore", b"cache\n!src\n");
        let (tar, _) = build_context(dir.path(), "Dockerfile").unwrap();
        assert!(read_tar(&tar).iter().all(|i| !i.path.starts_with("cache")));
    }
}
