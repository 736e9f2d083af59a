//! The oci engine's outputs: an OCI image layout directory (oci-layout, index.json,
//! blobs/sha256/...), which the registry push reads, and the same layout as a tar that also
//! carries Docker's `manifest.json`, so `docker load` takes it (Docker before 25 reads only
//! `manifest.json`; later versions read the OCI index).

use super::base::{blob_path, BaseImage};
use super::image::{self, Blob, CpuArch, Image};
use super::layer::Files;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `oci-layout` file's contents.
pub const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
enum Source {
    Bytes(Vec<u8>),
    /// A file of the base's layout.
    File(PathBuf),
}

/// An image (or a multi-platform index of images) ready to be written.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Every blob by digest: configs, manifests, layers (the base's too), the index.
    blobs: BTreeMap<String, Source>,
    /// `index.json`.
    index_json: Vec<u8>,
    /// The digest a registry would report for the pushed image: the manifest's, or the
    /// image index's for several platforms.
    pub digest: String,
    /// The image `docker load` takes from the tar: config digest and layer digests.
    docker: (String, Vec<String>),
}

impl Layout {
    /// The layout of `images` (one per platform, each with its base): one manifest, or an image
    /// index over them. `load_arch` picks the image Docker's `manifest.json` names.
    pub fn new(images: &[(Image, Option<&BaseImage>)], load_arch: CpuArch) -> Result<Layout> {
        let mut blobs = BTreeMap::new();
        for (img, base) in images {
            if let Some(base) = base {
                for l in base.manifest.layers() {
                    let digest = l.digest().to_string();
                    blobs.insert(digest.clone(), Source::File(blob_path(&base.dir, &digest)?));
                }
            }
            for l in &img.layers {
                blobs.insert(l.digest.clone(), Source::Bytes(l.blob.clone()));
            }
            for b in [&img.config, &img.manifest] {
                blobs.insert(b.digest.clone(), Source::Bytes(b.bytes.clone()));
            }
        }
        let (top, digest) = match images {
            [] => bail!("no image was built"),
            [(one, _)] => (
                image::manifest_descriptor(one, None)?,
                one.manifest.digest.clone(),
            ),
            many => {
                let list: Vec<Image> = many.iter().map(|(i, _)| i.clone()).collect();
                let index: Blob = image::index(&list)?;
                let mut d = oci_spec::image::DescriptorBuilder::default()
                    .media_type(oci_spec::image::MediaType::ImageIndex)
                    .size(index.bytes.len() as u64)
                    .digest(index.digest.parse::<oci_spec::image::Digest>()?)
                    .build()?;
                d.set_platform(None);
                let digest = index.digest.clone();
                blobs.insert(index.digest.clone(), Source::Bytes(index.bytes));
                (d, digest)
            }
        };
        let index_json = image::canonical_json(
            &oci_spec::image::ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(oci_spec::image::MediaType::ImageIndex)
                .manifests(vec![top])
                .build()?,
        )?;
        let (load, load_base) = images
            .iter()
            .find(|(i, _)| i.arch == load_arch)
            .unwrap_or(&images[0]);
        let mut layers: Vec<String> = load_base
            .map(|b| {
                b.manifest
                    .layers()
                    .iter()
                    .map(|l| l.digest().to_string())
                    .collect()
            })
            .unwrap_or_default();
        layers.extend(load.layers.iter().map(|l| l.digest.clone()));
        Ok(Layout {
            blobs,
            index_json,
            digest,
            docker: (load.config.digest.clone(), layers),
        })
    }

    fn bytes(source: &Source) -> Result<Vec<u8>> {
        match source {
            Source::Bytes(b) => Ok(b.clone()),
            Source::File(path) => std::fs::read(path).with_context(|| {
                format!(
                    "{}: cannot read the base image's blob; pull it again",
                    path.display()
                )
            }),
        }
    }

    /// Writes the layout to `dir`, replacing an earlier layout there; a directory that holds
    /// anything else is refused. Written beside and renamed, so it is never half-written.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        if dir.exists() && !is_layout_or_empty(dir) {
            bail!("{}: exists and is not an OCI image layout; pick another --output oci-layout:DIR or remove it", dir.display());
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("{}: cannot create the directory", parent.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".imggen-oci-")
            .tempdir_in(&parent)
            .with_context(|| format!("{}: cannot create a directory in it", parent.display()))?;
        let blobs = tmp.path().join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs)
            .with_context(|| format!("{}: cannot create the directory", blobs.display()))?;
        let write = |path: PathBuf, bytes: &[u8]| {
            std::fs::write(&path, bytes)
                .with_context(|| format!("{}: cannot write", path.display()))
        };
        write(tmp.path().join("oci-layout"), OCI_LAYOUT.as_bytes())?;
        write(tmp.path().join("index.json"), &self.index_json)?;
        for (digest, source) in &self.blobs {
            let path = blob_path(tmp.path(), digest)?;
            match source {
                Source::Bytes(bytes) => write(path, bytes)?,
                // A base's blob (tens of MB) is copied file to file (in the kernel where it
                // can), not through memory; the new file gets the usual mode, not the cache's.
                Source::File(from) => {
                    let copied = std::fs::File::open(from).and_then(|mut src| {
                        std::io::copy(&mut src, &mut std::fs::File::create(&path)?)
                    });
                    copied.with_context(|| {
                        format!(
                            "{}: cannot copy the base image's blob to {}; pull it again",
                            from.display(),
                            path.display()
                        )
                    })?;
                }
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("{}: cannot replace the earlier layout", dir.display()))?;
        }
        let kept = tmp.keep();
        std::fs::rename(&kept, dir)
            .with_context(|| format!("{}: cannot move the layout into place", dir.display()))
    }

    /// The tar `docker load` takes: the OCI layout plus Docker's `manifest.json` naming `tags`.
    /// Entries are sorted and stamped with `epoch`, so the tar is reproducible too.
    pub fn tar(&self, tags: &[String], epoch: u64) -> Result<Vec<u8>> {
        let (config, layers) = &self.docker;
        let path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        let manifest = serde_json::json!([{
            "Config": path(config),
            "RepoTags": tags,
            "Layers": layers.iter().map(|l| path(l)).collect::<Vec<_>>(),
        }]);
        let mut files = Files::default();
        files.file("/oci-layout", OCI_LAYOUT.as_bytes().to_vec(), 0o644)?;
        files.file("/index.json", self.index_json.clone(), 0o644)?;
        files.file("/manifest.json", image::canonical_json(&manifest)?, 0o644)?;
        for (digest, source) in &self.blobs {
            files.file(&format!("/{}", path(digest)), Self::bytes(source)?, 0o644)?;
        }
        super::layer::tar(&files, epoch)
    }
}

/// True for a directory imggen may replace: empty, or an OCI layout (it has `oci-layout`).
fn is_layout_or_empty(dir: &Path) -> bool {
    dir.join("oci-layout").is_file()
        || std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}
