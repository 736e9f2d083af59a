//! Paths as imggen prints and matches them: relative to the project root, `/`-separated; and
//! directory listings in a stable (sorted) order. A shared leaf.

use std::path::Path;

/// `rel` with `/` between its components, whatever the platform's separator.
pub fn slash(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` relative to `root` as a slash path; None when it is not under `root`.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root).ok().map(slash)
}

/// `path` relative to `root` as a slash path, or the whole path when it is not under `root`.
pub fn relative_or_whole(root: &Path, path: &Path) -> String {
    relative(root, path).unwrap_or_else(|| slash(path))
}

/// The names of the directories in `dir` (following symbolic links), sorted; none when it
/// cannot be read.
pub fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_slash_paths_and_sorted_subdirectories() {
        let root = Path::new("/p");
        assert_eq!(
            relative(root, Path::new("/p/a/b.rs")).as_deref(),
            Some("a/b.rs")
        );
        assert_eq!(relative(root, Path::new("/q/a")), None);
        assert_eq!(relative_or_whole(root, Path::new("x/y")), "x/y");
        let dir = tempfile::tempdir().unwrap();
        for d in ["b", "a"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert_eq!(subdirs(dir.path()), ["a", "b"]);
        assert!(subdirs(&dir.path().join("missing")).is_empty());
    }
}
