//! Multi-architecture images on the Docker engine: one single-architecture build per platform
//! (the builder stage runs on the engine's platform and cross-compiles), each image exported
//! from the engine and pushed by digest, then an OCI index naming them put under each tag with
//! the registry client (`crate::oci::registry`), since the engine cannot push an index itself.

use super::progress::Progress;
use super::{attach, retry, BuildOptions, BuildRequest, Builder as _, BuiltImage, Digest, Job};
use crate::oci::registry::{Client, Descriptor, Options, PlatformSpec, OCI_INDEX, OCI_MANIFEST};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Media type of an image config.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip layer. The engine exports layers as plain tars (their digests are the
/// config's diff ids, which compression leaves as they are); each is pushed gzip-compressed with
/// `oci::layer::gzip`'s fixed header, so the same export gives the same blob.
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One platform's image as an OCI manifest and the blobs it names.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The manifest's descriptor, with its platform.
    pub manifest: Descriptor,
    /// The manifest's bytes.
    pub manifest_bytes: Vec<u8>,
    /// Config and layers: descriptor and content.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// The platform of an index entry for `arch` (`arm64` is the `v8` variant, as Docker names it).
pub fn platform(arch: &str) -> PlatformSpec {
    PlatformSpec {
        architecture: arch.to_string(),
        os: "linux".into(),
        variant: (arch == "arm64").then(|| "v8".to_string()),
    }
}

/// Reads an image the engine exported (`docker save`'s tar: manifest.json, the config and the
/// layer tars) into an OCI manifest for `arch` with gzip layers; refuses an image of another
/// architecture.
pub fn from_saved(saved: &[u8], arch: &str) -> Result<PlatformImage> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(saved);
    for entry in archive
        .entries()
        .context("the engine's image export is not a tar")?
    {
        let mut entry = entry.context("the engine's image export is not a tar")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        files.insert(name, data);
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Saved {
        config: String,
        layers: Vec<String>,
    }
    let take = |name: &str| {
        files.get(name).ok_or_else(|| {
            anyhow!("the engine's image export has no {name}; the engine's export format is not supported")
        })
    };
    let saved: Vec<Saved> = serde_json::from_slice(take("manifest.json")?)
        .context("the engine's image export has an unreadable manifest.json")?;
    let [saved] = saved.as_slice() else {
        bail!(
            "the engine's image export holds {} images, not one",
            saved.len()
        );
    };
    let config = take(&saved.config)?.clone();
    let config_doc: serde_json::Value =
        serde_json::from_slice(&config).context("the exported image config is not JSON")?;
    let built_arch = config_doc["architecture"].as_str().unwrap_or_default();
    if built_arch != arch {
        bail!("the engine built a {built_arch} image when asked for linux/{arch}; use an engine with BuildKit, which honours the build's platform");
    }
    let mut blobs = vec![(Descriptor::of(OCI_CONFIG, &config), config)];
    for layer in &saved.layers {
        let data = take(layer)?;
        let data = if data.starts_with(&[0x1f, 0x8b]) {
            data.clone()
        } else {
            crate::oci::layer::gzip(data)?
        };
        blobs.push((Descriptor::of(OCI_LAYER_GZIP, &data), data));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blobs[0].0,
        "layers": blobs[1..].iter().map(|(d, _)| d).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let mut desc = Descriptor::of(OCI_MANIFEST, &manifest_bytes);
    desc.platform = Some(platform(arch));
    Ok(PlatformImage {
        manifest: desc,
        manifest_bytes,
        blobs,
    })
}

/// The OCI index of the platform images, in their order.
pub fn index(images: &[PlatformImage]) -> Result<Vec<u8>> {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": images.iter().map(|i| &i.manifest).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_vec(&index)?)
}

/// Writes an OCI image layout holding the index (its only entry) and everything it names.
pub fn write_layout(dir: &Path, images: &[PlatformImage], index: &[u8]) -> Result<Descriptor> {
    let write = |digest: &str, data: &[u8]| -> Result<()> {
        let path = crate::oci::registry::blob_path(dir, digest)?;
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        std::fs::write(&path, data).with_context(|| format!("{}: cannot write", path.display()))
    };
    for image in images {
        write(&image.manifest.digest, &image.manifest_bytes)?;
        for (desc, data) in &image.blobs {
            write(&desc.digest, data)?;
        }
    }
    let desc = Descriptor::of(OCI_INDEX, index);
    write(&desc.digest, index)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [&desc]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top)?)?;
    Ok(desc)
}

/// The local tag of one platform's image: the tag with `-<arch>` appended.
fn arch_tag(tag: &crate::reference::Reference, arch: &str) -> crate::reference::Reference {
    tag.with_tag(&format!(
        "{}-{arch}",
        tag.tag.as_deref().unwrap_or("latest")
    ))
}

/// Builds one image per architecture (tagged `<tag>-<arch>` in the engine) and, with `--push`,
/// pushes them and their index under every tag; returns the index digest.
pub(super) async fn build_and_push(
    engine: &super::docker::Engine,
    kind: super::docker::BuilderKind,
    request: &BuildRequest,
    job: &Job,
    args: &BuildOptions,
    (arches, github): (&[String], Option<&super::ci::GitHub>),
    view: &mut Progress,
) -> Result<Option<Digest>> {
    if kind != super::docker::BuilderKind::BuildKit {
        bail!("--arch (or [build] arch) needs BuildKit, which runs the builder stage on the build machine's platform; unset DOCKER_BUILDKIT=0 or use an engine that offers BuildKit");
    }
    if let Some(p) = &args.image_platform {
        bail!("--image-platform {p} and --arch both choose platforms; pass only --arch");
    }
    let started = std::time::Instant::now();
    // The builder stage runs on the build machine's platform: its cache image is that platform's.
    super::push_cache_image(engine, kind, request, job, args, view).await?;
    let mut built: Vec<(String, BuiltImage)> = Vec::new();
    for arch in arches {
        let mut one = request.stage("runtime", &arch_tag(&request.tags[0], arch));
        // `stage` names a stage; this build stops where the request does.
        one.target.clone_from(&request.target);
        one.tags = request.tags.iter().map(|t| arch_tag(t, arch)).collect();
        one.platform = Some(format!("linux/{arch}"));
        eprintln!("building linux/{arch}");
        let image = engine.builder(kind).build(&one, view).await;
        view.finish();
        built.push((arch.clone(), image?));
    }
    let build_time = super::progress::seconds(started.elapsed());
    eprintln!("built {} in {build_time}", arches.join(", "));
    let digest = if args.push {
        Some(push(engine, request, job, args, arches, &built).await?)
    } else {
        for (_, image) in &built {
            for r in &image.tags {
                println!("{r}");
            }
        }
        None
    };
    if let Some(github) = github {
        // The step summary shows the first platform's image; the digest is the index's.
        let first = BuiltImage {
            id: built[0].1.id.clone(),
            tags: request.tags.clone(),
        };
        let size = engine.image_size(&first.id).await;
        super::report_to_github(github, &first, digest.as_ref(), size, &build_time)?;
    }
    Ok(digest)
}

/// Exports each platform's image, pushes them and their index under every tag (attaching the
/// SBOM to the index); returns the index digest.
async fn push(
    engine: &super::docker::Engine,
    request: &BuildRequest,
    job: &Job,
    args: &BuildOptions,
    arches: &[String],
    built: &[(String, BuiltImage)],
) -> Result<Digest> {
    let mut images = Vec::new();
    for (arch, image) in built {
        let saved = engine.export_image(&image.id).await?;
        images.push(from_saved(&saved, arch)?);
    }
    let index = index(&images)?;
    let layout = tempfile::tempdir().context("cannot create a temporary directory")?;
    let index_desc = write_layout(layout.path(), &images, &index)?;
    let digest = Digest(index_desc.digest.clone());
    for (r, found) in request.tags.iter().zip(&job.credentials) {
        eprintln!("pushing {r} ({})", arches.join(", "));
        let client = Client::new(
            &r.registry,
            attach::auth(found.as_ref()),
            Options {
                pauses: args.push_policy.pauses.clone(),
                ..Options::default()
            },
        )?;
        let pushed = tokio::time::timeout(
            args.push_policy.timeout,
            client.push_layout(layout.path(), r, &[]),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "pushing {r} did not finish within {} (--push-timeout); check that {} is reachable",
                retry::show_duration(args.push_policy.timeout),
                r.registry
            )
        })?
        .map_err(|e| anyhow!("pushing {r} failed: {e:#}"))?;
        eprintln!(
            "pushed {r} ({}: {} blobs uploaded, {} already there)",
            pushed.digest, pushed.uploaded, pushed.skipped
        );
        if let Some(document) = &job.sbom {
            let artifact =
                attach::attach(r, &digest, found.as_ref(), document, &args.push_policy).await?;
            eprintln!("attached the SBOM to {r} ({artifact})");
        }
        println!("{r}@{digest}");
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `docker save` tar of one image with one layer.
    fn saved(arch: &str) -> Vec<u8> {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let files: [(&str, &[u8]); 3] = [
            (
                "manifest.json",
                br#"[{"Config":"c.json","RepoTags":null,"Layers":["l/layer.tar"]}]"#,
            ),
            ("c.json", config.as_bytes()),
            ("l/layer.tar", b"layer bytes"),
        ];
        let mut out = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append_data(&mut h, name, data).unwrap();
        }
        out.into_inner().unwrap()
    }

    #[test]
    fn an_exported_image_becomes_a_manifest_with_its_platform_and_the_index_lists_both() {
        let amd = from_saved(&saved("amd64"), "amd64").unwrap();
        let arm = from_saved(&saved("arm64"), "arm64").unwrap();
        assert_eq!(arm.blobs.len(), 2);
        let (layer, blob) = &arm.blobs[1];
        assert_eq!(layer.media_type, OCI_LAYER_GZIP);
        assert_eq!(layer.digest, crate::oci::layer::sha256(blob));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(blob.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(
            plain, b"layer bytes",
            "the blob is the exported tar, gzipped"
        );
        assert_eq!(
            from_saved(&saved("arm64"), "arm64")
                .unwrap()
                .manifest
                .digest,
            arm.manifest.digest,
            "the same export gives the same manifest"
        );
        assert_eq!(
            arm.manifest.platform.as_ref().unwrap().variant.as_deref(),
            Some("v8")
        );
        let index: serde_json::Value =
            serde_json::from_slice(&index(&[amd, arm]).unwrap()).unwrap();
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(index["mediaType"], OCI_INDEX);
    }

    #[test]
    fn an_image_of_another_architecture_is_refused() {
        let err = from_saved(&saved("amd64"), "arm64")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the engine built a amd64 image when asked for linux/arm64"),
            "{err}"
        );
    }
}
