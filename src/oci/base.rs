//! A base image as the oci engine reads it: an OCI image layout directory (oci-layout,
//! index.json, blobs/sha256/...) holding one platform's manifest, config and layers, as the
//! registry pull leaves it in its cache. imggen's layers go on top; the base's blobs are copied
//! into the output as they are.

use super::image::CpuArch;
use super::layer::sha256;
use anyhow::{bail, Context, Result};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A base image in a local OCI layout.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The reference it was pulled as, e.g. `debian:bookworm-slim` (the base.name annotation).
    pub name: String,
    /// Its manifest digest, `sha256:...` (the base.digest annotation).
    pub digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The layout directory its blobs are in.
    pub dir: PathBuf,
}

/// `dir/blobs/sha256/<hex>` of a digest.
pub fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!(
            "{}: the digest `{digest}` is not sha256; only sha256 blobs are read",
            dir.display()
        );
    };
    Ok(dir.join("blobs").join("sha256").join(hex))
}

/// The bytes of a blob, checked against its digest.
pub fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let path = blob_path(dir, digest)?;
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: cannot read the blob; pull the base image again",
            path.display()
        )
    })?;
    if sha256(&bytes) != digest {
        bail!("{}: the blob does not match its digest {digest}; delete it and pull the base image again", path.display());
    }
    Ok(bytes)
}

impl BaseImage {
    /// Reads the base for `arch` from the layout at `dir`: index.json names a manifest, or an
    /// image index with one manifest per platform.
    pub fn from_layout(dir: &Path, name: &str, arch: CpuArch) -> Result<BaseImage> {
        let index_path = dir.join("index.json");
        let index = ImageIndex::from_file(&index_path).with_context(|| {
            format!(
                "{}: not an OCI image index; pull the base image again",
                index_path.display()
            )
        })?;
        let mut manifests = index.manifests().clone();
        // One level of nested index (a multi-platform base).
        if let Some(nested) = manifests.iter().find(|d| {
            *d.media_type() == MediaType::ImageIndex
                || d.media_type()
                    .to_string()
                    .ends_with("manifest.list.v2+json")
        }) {
            let bytes = read_blob(dir, nested.digest().as_ref())?;
            let inner = ImageIndex::from_reader(bytes.as_slice()).with_context(|| {
                format!(
                    "{}: the image index {} cannot be read",
                    dir.display(),
                    nested.digest()
                )
            })?;
            manifests = inner.manifests().clone();
        }
        let chosen = manifests
            .iter()
            .find(|d| {
                d.platform()
                    .as_ref()
                    .is_none_or(|p| p.architecture().to_string() == arch.name())
            })
            .with_context(|| {
                format!(
                    "{}: the base image {name} has no linux/{} manifest; pick a base built for it",
                    dir.display(),
                    arch.name()
                )
            })?;
        Self::from_blobs(dir, name, chosen.digest().as_ref())
    }

    /// Reads the base whose platform manifest is the blob `digest` in `dir` (a layout, or the
    /// registry pull's cache). A Docker schema 2 manifest's layer media types become their OCI
    /// equivalents (the bytes are the same gzip or plain tar), so imggen's manifest is all OCI.
    pub fn from_blobs(dir: &Path, name: &str, digest: &str) -> Result<BaseImage> {
        let manifest_bytes = read_blob(dir, digest)?;
        let mut manifest = ImageManifest::from_reader(manifest_bytes.as_slice())
            .with_context(|| format!("{}: the manifest {digest} cannot be read", dir.display()))?;
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if let Some(oci) = oci_layer_type(l.media_type().as_ref()) {
                    l.set_media_type(oci);
                }
                l
            })
            .collect();
        manifest.set_layers(layers);
        let config_bytes = read_blob(dir, manifest.config().digest().as_ref())?;
        let config = ImageConfiguration::from_reader(config_bytes.as_slice())
            .with_context(|| format!("{}: the config of {digest} cannot be read", dir.display()))?;
        if config.rootfs().diff_ids().len() != manifest.layers().len() {
            bail!(
                "{}: the base {name} lists {} layers and {} diff ids; pull it again",
                dir.display(),
                manifest.layers().len(),
                config.rootfs().diff_ids().len()
            );
        }
        Ok(BaseImage {
            name: name.to_string(),
            digest: digest.to_string(),
            manifest,
            config,
            dir: dir.to_path_buf(),
        })
    }

    /// The base's `/etc/passwd` and `/etc/group` (the last layer that has them wins; empty
    /// when none does). Layers are read from the last, and a layer's reading stops once both
    /// files are known, so a base's big layer is not decompressed whole on every build.
    pub fn passwd_and_group(&self) -> Result<(String, String)> {
        let mut passwd: Option<String> = None;
        let mut group: Option<String> = None;
        for layer in self.manifest.layers().iter().rev() {
            if passwd.is_some() && group.is_some() {
                break;
            }
            let blob = read_blob(&self.dir, layer.digest().as_ref())?;
            let reader: Box<dyn Read> = if blob.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::GzDecoder::new(blob.as_slice()))
            } else {
                Box::new(blob.as_slice())
            };
            let not_a_tar = || {
                format!(
                    "{}: the layer {} is not a tar",
                    self.dir.display(),
                    layer.digest()
                )
            };
            let mut archive = tar::Archive::new(reader);
            let (mut found_passwd, mut found_group) = (None, None);
            for entry in archive.entries().with_context(not_a_tar)? {
                let mut entry = entry.with_context(not_a_tar)?;
                let path = entry
                    .path()
                    .map(|p| p.to_string_lossy().trim_start_matches("./").to_string())
                    .unwrap_or_default();
                let slot = match path.as_str() {
                    "etc/passwd" if passwd.is_none() => &mut found_passwd,
                    "etc/group" if group.is_none() => &mut found_group,
                    _ => continue,
                };
                let mut text = String::new();
                entry.read_to_string(&mut text).with_context(|| {
                    format!("{}: cannot read /{path} of the base", self.dir.display())
                })?;
                *slot = Some(text);
                if (passwd.is_some() || found_passwd.is_some())
                    && (group.is_some() || found_group.is_some())
                {
                    break;
                }
            }
            passwd = passwd.or(found_passwd);
            group = group.or(found_group);
        }
        Ok((passwd.unwrap_or_default(), group.unwrap_or_default()))
    }
}

/// The OCI layer media type of a Docker schema 2 layer media type (same bytes).
fn oci_layer_type(docker: &str) -> Option<MediaType> {
    match docker {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(MediaType::ImageLayerGzip),
        "application/vnd.docker.image.rootfs.diff.tar" => Some(MediaType::ImageLayer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layer::{layer, Files};
    use oci_spec::image::{DescriptorBuilder, ImageConfigurationBuilder, ImageManifestBuilder};
    use std::str::FromStr as _;

    /// A base whose layers hold these (path, text) files, in order, in `dir`.
    fn base(dir: &Path, layers: &[&[(&str, &str)]]) -> BaseImage {
        let mut descriptors = Vec::new();
        for files in layers {
            let mut f = Files::default();
            for (path, text) in *files {
                f.file(path, text.as_bytes().to_vec(), 0o644).unwrap();
            }
            let l = layer(&f, 0).unwrap();
            let path = blob_path(dir, &l.digest).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &l.blob).unwrap();
            descriptors.push(
                DescriptorBuilder::default()
                    .media_type(MediaType::ImageLayerGzip)
                    .size(l.blob.len() as u64)
                    .digest(oci_spec::image::Digest::from_str(&l.digest).unwrap())
                    .build()
                    .unwrap(),
            );
        }
        let config = DescriptorBuilder::default()
            .media_type(MediaType::ImageConfig)
            .size(2u64)
            .digest(oci_spec::image::Digest::from_str(&sha256(b"{}")).unwrap())
            .build()
            .unwrap();
        BaseImage {
            name: "base".into(),
            digest: sha256(b"base"),
            manifest: ImageManifestBuilder::default()
                .schema_version(2u32)
                .config(config)
                .layers(descriptors)
                .build()
                .unwrap(),
            config: ImageConfigurationBuilder::default().build().unwrap(),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn passwd_and_group_come_from_the_last_layer_that_has_each() {
        let dir = tempfile::tempdir().unwrap();
        let b = base(
            dir.path(),
            &[
                &[("/etc/passwd", "old-passwd\n"), ("/etc/group", "group\n")],
                &[("/etc/passwd", "new-passwd\n"), ("/usr/bin/x", "x")],
                &[("/srv/file", "y")],
            ],
        );
        assert_eq!(
            b.passwd_and_group().unwrap(),
            ("new-passwd\n".to_string(), "group\n".to_string())
        );
        let none = base(dir.path(), &[&[("/srv/file", "y")]]);
        assert_eq!(
            none.passwd_and_group().unwrap(),
            (String::new(), String::new())
        );
    }
}
