//! Deterministic image layers: the same files give the same bytes, whatever the machine, the
//! directory or the time. Entries are sorted by path, owned by 0:0 with fixed modes and the
//! `SOURCE_DATE_EPOCH` mtime, every parent directory is listed, and the gzip header carries no
//! name and no time.

use anyhow::{bail, Context, Result};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write;

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with this mode (e.g. `0o755`, `0o1777` for /tmp), owned by root.
    Dir(u32),
    /// A directory with this mode owned by (uid, gid): the app's working directory.
    OwnedDir(u32, u32, u32),
    /// A regular file: its contents and mode.
    File(Vec<u8>, u32),
}

/// The files of one layer, keyed by their path in the image without the leading `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files(BTreeMap<String, Entry>);

impl Files {
    /// Adds a file at `path` (absolute in the image), with its parent directories (0755 unless
    /// already listed).
    pub fn file(&mut self, path: &str, contents: Vec<u8>, mode: u32) -> Result<()> {
        let rel = relative(path)?;
        self.parents(&rel);
        self.0.insert(rel, Entry::File(contents, mode));
        Ok(())
    }

    /// Adds a directory at `path` (absolute in the image) with `mode`, and its parents.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        let rel = relative(path)?;
        self.parents(&rel);
        self.0.insert(rel, Entry::Dir(mode));
        Ok(())
    }

    /// Adds a directory at `path` (absolute in the image) with `mode`, owned by `uid`:`gid`, and
    /// its parents (root's).
    pub fn owned_dir(&mut self, path: &str, mode: u32, (uid, gid): (u32, u32)) -> Result<()> {
        let rel = relative(path)?;
        self.parents(&rel);
        self.0.insert(rel, Entry::OwnedDir(mode, uid, gid));
        Ok(())
    }

    fn parents(&mut self, rel: &str) {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            let parent = &rel[..at + i];
            self.0
                .entry(parent.to_string())
                .or_insert(Entry::Dir(0o755));
            at += i + 1;
        }
    }

    /// Paths and entries in the order the layer lists them.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.0.iter()
    }

    /// True when the layer has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `/etc/passwd` -> `etc/passwd`; refuses empty, relative or `..` paths.
fn relative(path: &str) -> Result<String> {
    let rel = path.trim_start_matches('/').trim_end_matches('/');
    if !path.starts_with('/')
        || rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!("`{path}` is not an absolute path in the image; give it as /dir/file");
    }
    Ok(rel.to_string())
}

/// A compressed layer and what the image config and the manifest say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The gzip-compressed tar, the blob a registry stores.
    pub blob: Vec<u8>,
    /// `sha256:` of `blob` (the manifest's layer digest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the config's diff id).
    pub diff_id: String,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The uncompressed tar of `files`, every entry stamped with `mtime`.
pub fn tar(files: &Files, mtime: u64) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in files.entries() {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        let (name, data): (String, &[u8]) = match *entry {
            Entry::Dir(mode) | Entry::OwnedDir(mode, ..) => {
                if let Entry::OwnedDir(_, uid, gid) = *entry {
                    header.set_uid(u64::from(uid));
                    header.set_gid(u64::from(gid));
                }
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(mode);
                header.set_size(0);
                (format!("{path}/"), &[])
            }
            Entry::File(ref contents, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(contents.len() as u64);
                (path.clone(), contents)
            }
        };
        builder
            .append_data(&mut header, &name, data)
            .with_context(|| format!("cannot add {name} to an image layer"))?;
    }
    builder
        .into_inner()
        .context("cannot finish an image layer's tar")
}

/// Compresses `tar` with a fixed gzip header (no file name, mtime 0, OS "unknown").
pub fn gzip(tar: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(tar)
        .and_then(|()| encoder.finish())
        .context("cannot compress an image layer")
}

/// The layer of `files`: tar, digest of the tar (diff id), gzip, digest of the gzip.
pub fn layer(files: &Files, mtime: u64) -> Result<Layer> {
    let tar = tar(files, mtime)?;
    let blob = gzip(&tar)?;
    Ok(Layer {
        digest: sha256(&blob),
        diff_id: sha256(&tar),
        blob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Files {
        let mut files = Files::default();
        files
            .file("/usr/local/bin/app", b"\x7fELF".to_vec(), 0o755)
            .unwrap();
        files
            .file(
                "/etc/passwd",
                b"app:x:10001:10001::/:/sbin/nologin\n".to_vec(),
                0o644,
            )
            .unwrap();
        files.dir("/tmp", 0o1777).unwrap();
        files
    }

    #[test]
    fn entries_are_sorted_with_their_parents_and_fixed_owners_modes_and_times() {
        let tar_bytes = tar(&sample(), 1_700_000_000).unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            seen.push((
                entry.path().unwrap().display().to_string(),
                h.mode().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            [
                ("etc/".to_string(), 0o755),
                ("etc/passwd".into(), 0o644),
                ("tmp/".into(), 0o1777),
                ("usr/".into(), 0o755),
                ("usr/local/".into(), 0o755),
                ("usr/local/bin/".into(), 0o755),
                ("usr/local/bin/app".into(), 0o755),
            ]
        );
    }

    #[test]
    fn the_same_files_give_the_same_layer_and_gzip_has_no_name_or_time() {
        let a = layer(&sample(), 0).unwrap();
        let b = layer(&sample(), 0).unwrap();
        assert_eq!(a, b);
        // Header: magic, deflate, no flags, mtime 0, xfl, OS 255.
        assert_eq!(&a.blob[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a.blob[4..8], &[0, 0, 0, 0]);
        assert_eq!(a.blob[9], 255);
        assert_ne!(a.digest, a.diff_id);
        assert_ne!(layer(&sample(), 1).unwrap().digest, a.digest);
    }

    #[test]
    fn paths_must_be_absolute_and_plain() {
        let mut files = Files::default();
        for bad in ["etc/passwd", "/", "/a/../b", "/a//b"] {
            assert!(files.file(bad, Vec::new(), 0o644).is_err(), "{bad}");
        }
    }
}
