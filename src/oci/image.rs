//! The image imggen's oci engine assembles: the run-time tree the Docker path's builder stage
//! puts in `/rootfs` (binary, CA bundle, passwd/group, /tmp, tini, run-time files), as layers
//! over the base, and the config the Dockerfile's runtime stage writes (user, env, ports,
//! entrypoint, stop signal, labels), from the same plan. JSON is written with sorted keys, so
//! the same inputs give the same digests.

use super::base::BaseImage;
use super::layer::{self, Files, Layer};
use crate::plan::ImagePlan;
use crate::profiles::{CaCerts, UserMethod};
use anyhow::{bail, Context, Result};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, PlatformBuilder,
    RootFsBuilder,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// The `PATH` Docker sets in images whose base sets none (scratch).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the Docker path installs the binary (`/usr/local/bin/<bin>`).
pub const BIN_DIR: &str = "/usr/local/bin";
/// The annotation naming the base image's manifest digest (as ko writes it).
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// The annotation naming the base image.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// A CPU architecture imggen builds images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuArch {
    Amd64,
    Arm64,
}

impl CpuArch {
    /// Parses `amd64` / `arm64` (also `x86_64` / `aarch64`).
    pub fn parse(s: &str) -> Result<CpuArch> {
        match s.trim() {
            "amd64" | "x86_64" | "linux/amd64" => Ok(CpuArch::Amd64),
            "arm64" | "aarch64" | "linux/arm64" => Ok(CpuArch::Arm64),
            other => {
                bail!("--arch {other} is not an architecture imggen builds; use amd64 or arm64")
            }
        }
    }

    /// The OCI name, `amd64` / `arm64`.
    pub fn name(self) -> &'static str {
        match self {
            CpuArch::Amd64 => "amd64",
            CpuArch::Arm64 => "arm64",
        }
    }

    /// The machine this imggen runs on.
    pub fn host() -> CpuArch {
        if cfg!(target_arch = "aarch64") {
            CpuArch::Arm64
        } else {
            CpuArch::Amd64
        }
    }

    /// The rust target triple's architecture part, `x86_64` / `aarch64`.
    pub fn rust_arch(self) -> &'static str {
        match self {
            CpuArch::Amd64 => "x86_64",
            CpuArch::Arm64 => "aarch64",
        }
    }

    fn oci(self) -> Arch {
        match self {
            CpuArch::Amd64 => Arch::Amd64,
            CpuArch::Arm64 => Arch::ARM64,
        }
    }
}

/// Everything the image holds besides the plan, read from the machine by the caller.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub plan: &'a ImagePlan,
    /// The labels the Docker path passes to the build (the plan's, revision, created).
    pub labels: &'a BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH`: the config's `created` and every file's mtime.
    pub epoch: u64,
    pub arch: CpuArch,
    /// The compiled binary.
    pub binary: Vec<u8>,
    /// The CA bundle, when the base profile copies one in.
    pub ca_bundle: Option<Vec<u8>>,
    /// tini, when the plan runs the binary under it.
    pub tini: Option<Vec<u8>>,
    /// Run-time files: path in the image, contents, mode.
    pub app_files: Vec<(String, Vec<u8>, u32)>,
    /// The base's manifest, config and layers; `None` for scratch.
    pub base: Option<&'a BaseImage>,
}

/// A JSON document and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn json(value: &impl Serialize) -> Result<Blob> {
        let bytes = canonical_json(value)?;
        Ok(Blob {
            digest: layer::sha256(&bytes),
            bytes,
        })
    }
}

/// A built single-platform image: its own layers (the base's stay in the base's layout).
#[derive(Debug, Clone)]
pub struct Image {
    pub arch: CpuArch,
    pub config: Blob,
    pub manifest: Blob,
    /// imggen's layers, in order after the base's.
    pub layers: Vec<Layer>,
}

/// JSON with every object's keys sorted and no whitespace: one byte sequence per value.
pub fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let value = sort(serde_json::to_value(value).context("cannot serialize an image document")?);
    serde_json::to_vec(&value).context("cannot serialize an image document")
}

/// The run-time tree, as the Docker path's builder stage assembles it in `/rootfs`: the system
/// layer (CA bundle, tini, passwd/group, /tmp) and the app layer (run-time files, binary).
pub fn rootfs(inputs: &Inputs) -> Result<(Files, Files)> {
    let plan = inputs.plan;
    let mut system = Files::default();
    match (plan.base.ca_certificates, &inputs.ca_bundle) {
        (CaCerts::Copy, Some(bundle)) => system.file(&plan.base.ca_path, bundle.clone(), 0o644)?,
        (CaCerts::Copy, None) => bail!("the {} base needs a CA bundle copied in and none was read; install ca-certificates on this machine", plan.base.name),
        (CaCerts::Builtin, _) => {}
    }
    if plan.signal.init {
        let Some(tini) = &inputs.tini else {
            bail!("the plan runs {} under tini and no tini binary was read; install tini (Debian: tini, which has /usr/bin/tini-static) or use --engine docker", plan.bin);
        };
        system.file("/usr/bin/tini", tini.clone(), 0o755)?;
    }
    let user = &plan.user;
    let home = user.home.as_deref().unwrap_or("/nonexistent");
    match plan.base.user {
        UserMethod::PasswdFile => {
            system.dir("/tmp", 0o1777)?;
            system.file(
                "/etc/passwd",
                format!(
                    "{0}:x:{1}:{2}:{0}:{3}:/sbin/nologin\n",
                    user.name, user.uid, user.gid, home
                )
                .into_bytes(),
                0o644,
            )?;
            system.file(
                "/etc/group",
                format!("{}:x:{}:\n", user.name, user.gid).into_bytes(),
                0o644,
            )?;
        }
        UserMethod::Useradd => {
            let Some(base) = inputs.base else {
                bail!("the {} base adds its user to the base's /etc/passwd, and no base image was given", plan.base.name);
            };
            let (passwd, group) = base.passwd_and_group()?;
            system.file(
                "/etc/passwd",
                append_line(
                    &passwd,
                    &format!(
                        "{}:x:{}:{}::{}:/usr/sbin/nologin",
                        user.name, user.uid, user.gid, home
                    ),
                ),
                0o644,
            )?;
            system.file(
                "/etc/group",
                append_line(&group, &format!("{}:x:{}:", user.name, user.gid)),
                0o644,
            )?;
        }
        UserMethod::Builtin => {}
    }
    let mut app = Files::default();
    // The working directory and a served directory belong to the app's user, as the
    // Dockerfile makes them: the app can create files there, not change the shipped ones.
    let owner = (plan.user.uid, plan.user.gid);
    if let Some(home) = &plan.user.home {
        app.owned_dir(home, 0o700, owner)?;
    }
    if crate::plan::works_in_app_dir(plan) {
        app.owned_dir(crate::plan::APP_DIR, 0o755, owner)?;
    }
    if let Some(d) = &plan.served_dir {
        app.owned_dir(d, 0o755, owner)?;
    }
    for (path, contents, mode) in &inputs.app_files {
        app.file(path, contents.clone(), *mode)?;
    }
    app.file(
        &format!("{BIN_DIR}/{}", plan.bin),
        inputs.binary.clone(),
        0o755,
    )?;
    Ok((system, app))
}

/// `text` with `line` added as its last line.
fn append_line(text: &str, line: &str) -> Vec<u8> {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out.into_bytes()
}

/// `created`: the epoch as RFC 3339 in UTC.
pub fn created(epoch: u64) -> Result<String> {
    let secs = i64::try_from(epoch)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
    let time = secs.with_context(|| {
        format!("SOURCE_DATE_EPOCH={epoch} is out of range; set a time in seconds since 1970")
    })?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The exec-form entrypoint of the Docker path: tini first when the plan asks for it.
pub fn entrypoint(plan: &ImagePlan) -> Vec<String> {
    let mut entry = Vec::new();
    if plan.signal.init {
        entry.extend(["/usr/bin/tini".to_string(), "--".to_string()]);
    }
    entry.push(format!("{BIN_DIR}/{}", plan.bin));
    entry
}

/// The image config: the base's, with the runtime stage's settings over it.
fn config(inputs: &Inputs, layers: &[Layer]) -> Result<ImageConfiguration> {
    let plan = inputs.plan;
    let base_config = inputs.base.and_then(|b| b.config.config().clone());
    let mut env: Vec<String> = base_config
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if let Some(home) = &plan.user.home {
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={home}"));
    }
    let mut ports: Vec<String> = base_config
        .as_ref()
        .and_then(|c| c.exposed_ports().clone())
        .unwrap_or_default();
    if plan.server {
        if plan.port_env {
            env.retain(|e| !e.starts_with("PORT="));
            env.push(format!("PORT={}", plan.port));
        }
        ports.push(format!("{}/tcp", plan.port));
        ports.sort();
        ports.dedup();
    }
    let mut labels: HashMap<String, String> = base_config
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default();
    labels.extend(inputs.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut run = ConfigBuilder::default()
        .user(format!("{}:{}", plan.user.uid, plan.user.gid))
        .env(env)
        .entrypoint(entrypoint(plan))
        .stop_signal(plan.signal.stop_signal.as_str())
        .labels(labels);
    if !ports.is_empty() {
        run = run.exposed_ports(ports);
    }
    // The Docker path's CMD: the binary's arguments.
    if !plan.args.is_empty() {
        run = run.cmd(plan.args.clone());
    }
    // The Docker path's WORKDIR: /app when the image works there, else the base's, else "/"
    // (what Docker records for an image that sets none).
    let working_dir = if !crate::plan::works_in_app_dir(plan) {
        base_config
            .as_ref()
            .and_then(|c| c.working_dir().clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".to_string())
    } else {
        crate::plan::APP_DIR.to_string()
    };
    run = run.working_dir(working_dir);
    let mut diff_ids: Vec<String> = inputs
        .base
        .map(|b| b.config.rootfs().diff_ids().clone())
        .unwrap_or_default();
    diff_ids.extend(layers.iter().map(|l| l.diff_id.clone()));
    Ok(ImageConfigurationBuilder::default()
        .created(created(inputs.epoch)?)
        .architecture(inputs.arch.oci())
        .os(Os::Linux)
        .config(run.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
                .build()?,
        )
        .build()?)
}

fn descriptor(media_type: MediaType, blob: &[u8], digest: &str) -> Result<Descriptor> {
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .size(blob.len() as u64)
        .digest(oci_spec::image::Digest::from_str(digest)?)
        .build()?)
}

/// Refuses a plan whose runtime stage installs Debian packages: only apt in an engine can.
pub fn refuse_runtime_packages(plan: &ImagePlan) -> Result<()> {
    if !plan.runtime_packages.is_empty() {
        let names: Vec<&str> = plan
            .runtime_packages
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        bail!("the image needs the Debian packages {} installed in the runtime stage, which only the Docker engine can run; use --engine docker", names.join(", "));
    }
    Ok(())
}

/// Assembles the image for one architecture: layers, config and manifest.
pub fn build(inputs: &Inputs) -> Result<Image> {
    refuse_runtime_packages(inputs.plan)?;
    let (system, app) = rootfs(inputs)?;
    let mut layers = Vec::new();
    for files in [system, app] {
        if !files.is_empty() {
            layers.push(layer::layer(&files, inputs.epoch)?);
        }
    }
    let config = Blob::json(&config(inputs, &layers)?)?;
    let mut layer_descriptors: Vec<Descriptor> = inputs
        .base
        .map(|b| b.manifest.layers().clone())
        .unwrap_or_default();
    for l in &layers {
        layer_descriptors.push(descriptor(MediaType::ImageLayerGzip, &l.blob, &l.digest)?);
    }
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config.bytes,
            &config.digest,
        )?)
        .layers(layer_descriptors);
    if let Some(base) = inputs.base {
        manifest = manifest.annotations(HashMap::from([
            (BASE_DIGEST.to_string(), base.digest.clone()),
            (BASE_NAME.to_string(), base.name.clone()),
        ]));
    }
    let manifest: ImageManifest = manifest.build()?;
    Ok(Image {
        arch: inputs.arch,
        config,
        manifest: Blob::json(&manifest)?,
        layers,
    })
}

/// The descriptor of `image`'s manifest, with its platform, for an index.
pub fn manifest_descriptor(image: &Image, ref_name: Option<&str>) -> Result<Descriptor> {
    let mut d = descriptor(
        MediaType::ImageManifest,
        &image.manifest.bytes,
        &image.manifest.digest,
    )?;
    d.set_platform(Some(
        PlatformBuilder::default()
            .architecture(image.arch.oci())
            .os(Os::Linux)
            .build()?,
    ));
    if let Some(name) = ref_name {
        d.set_annotations(Some(HashMap::from([(
            "org.opencontainers.image.ref.name".to_string(),
            name.to_string(),
        )])));
    }
    Ok(d)
}

/// An image index over several platform images (a multi-arch image).
pub fn index(images: &[Image]) -> Result<Blob> {
    let manifests = images
        .iter()
        .map(|i| manifest_descriptor(i, None))
        .collect::<Result<Vec<_>>>()?;
    let index = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()?;
    Blob::json(&index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layout::Layout;

    /// A one-layer base in an OCI layout at `dir` (a Debian-like /etc/passwd and /etc/group, and
    /// its own PATH), as the registry pull leaves it; returns its manifest digest.
    fn write_base(dir: &std::path::Path) -> String {
        let mut files = Files::default();
        files
            .file(
                "/etc/passwd",
                b"root:x:0:0:root:/root:/bin/bash\n".to_vec(),
                0o644,
            )
            .unwrap();
        files
            .file("/etc/group", b"root:x:0:\n".to_vec(), 0o644)
            .unwrap();
        let l = layer::layer(&files, 0).unwrap();
        let config = ImageConfigurationBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(
                ConfigBuilder::default()
                    .env(vec!["PATH=/base/bin".to_string()])
                    .build()
                    .unwrap(),
            )
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![l.diff_id.clone()])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let config = Blob::json(&config).unwrap();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(MediaType::ImageConfig, &config.bytes, &config.digest).unwrap())
            .layers(vec![descriptor(
                MediaType::ImageLayerGzip,
                &l.blob,
                &l.digest,
            )
            .unwrap()])
            .build()
            .unwrap();
        let manifest = Blob::json(&manifest).unwrap();
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for (digest, bytes) in [
            (&l.digest, &l.blob),
            (&config.digest, &config.bytes),
            (&manifest.digest, &manifest.bytes),
        ] {
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        }
        let index = oci_spec::image::ImageIndexBuilder::default()
            .schema_version(2u32)
            .manifests(vec![descriptor(
                MediaType::ImageManifest,
                &manifest.bytes,
                &manifest.digest,
            )
            .unwrap()])
            .build()
            .unwrap();
        std::fs::write(dir.join("index.json"), canonical_json(&index).unwrap()).unwrap();
        std::fs::write(dir.join("oci-layout"), super::super::layout::OCI_LAYOUT).unwrap();
        manifest.digest
    }

    /// The inputs of an amd64 image of `plan` over `base`: a stand-in binary and CA bundle.
    fn amd64_inputs<'a>(
        plan: &'a crate::plan::ImagePlan,
        labels: &'a BTreeMap<String, String>,
        base: &'a BaseImage,
        tini: Option<Vec<u8>>,
    ) -> Inputs<'a> {
        Inputs {
            plan,
            labels,
            epoch: 1_700_000_000,
            arch: CpuArch::Amd64,
            binary: b"\x7fELF".to_vec(),
            ca_bundle: Some(b"CA".to_vec()),
            tini,
            app_files: Vec::new(),
            base: Some(base),
        }
    }

    #[test]
    fn a_glibc_image_goes_over_the_base_layers_adds_its_user_and_names_the_base_digest() {
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axum-single");
        let loaded = crate::pipeline::load(&fixture, &crate::config::Config::default()).unwrap();
        let plan = &loaded.plan.image;
        assert_eq!(
            (plan.base.name.as_str(), plan.base.user),
            ("bookworm-slim", UserMethod::Useradd)
        );
        let dir = tempfile::tempdir().unwrap();
        let base_digest = write_base(dir.path());
        let base = BaseImage::from_layout(dir.path(), &plan.base.image, CpuArch::Amd64).unwrap();
        assert_eq!(base.digest, base_digest);
        let labels = BTreeMap::from([(
            "org.opencontainers.image.title".to_string(),
            "x".to_string(),
        )]);
        let inputs = amd64_inputs(plan, &labels, &base, None);
        let image = build(&inputs).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "the base layer, then imggen's two");
        assert_eq!(
            layers[0]["digest"],
            base.manifest.layers()[0].digest().to_string()
        );
        assert_eq!(manifest["annotations"][BASE_DIGEST], base_digest.as_str());
        assert_eq!(manifest["annotations"][BASE_NAME], "debian:bookworm-slim");
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            base.config.rootfs().diff_ids()[0].as_str()
        );
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["config"]["User"], format!("{0}:{0}", plan.user.uid));
        assert_eq!(
            config["config"]["Env"][0], "PATH=/base/bin",
            "the base's PATH is kept"
        );
        // /etc/passwd keeps the base's users and adds the plan's, as useradd does.
        let (system, _) = rootfs(&inputs).unwrap();
        let passwd = system
            .entries()
            .find(|(p, _)| *p == "etc/passwd")
            .map(|(_, e)| e.clone());
        let want = format!(
            "root:x:0:0:root:/root:/bin/bash\n{0}:x:{1}:{2}::/home/app:/usr/sbin/nologin\n",
            plan.user.name, plan.user.uid, plan.user.gid
        );
        assert_eq!(passwd, Some(layer::Entry::File(want.into_bytes(), 0o644)));
        // Its home is its own, as in the Dockerfile, and HOME names it.
        let (_, app) = rootfs(&inputs).unwrap();
        let owned = layer::Entry::OwnedDir(0o700, plan.user.uid, plan.user.gid);
        assert!(app.entries().any(|(p, e)| p == "home/app" && *e == owned));
        assert_eq!(config["config"]["Env"][1], "HOME=/home/app");
        // The layout carries the base's blob beside imggen's.
        let out = tempfile::tempdir().unwrap();
        let layout = Layout::new(&[(image.clone(), Some(&base))], CpuArch::Amd64).unwrap();
        layout.write_dir(&out.path().join("oci")).unwrap();
        let base_layer = base.manifest.layers()[0].digest().to_string();
        assert!(out
            .path()
            .join("oci/blobs/sha256")
            .join(base_layer.trim_start_matches("sha256:"))
            .is_file());
        assert_eq!(layout.digest, image.manifest.digest);
    }

    #[test]
    fn a_served_directory_is_created_and_the_arguments_are_the_cmd() {
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan-serve-dir");
        let loaded = crate::pipeline::load(&fixture, &crate::config::Config::default()).unwrap();
        let plan = &loaded.plan.image;
        assert_eq!(plan.served_dir.as_deref(), Some("/app/data"));
        let dir = tempfile::tempdir().unwrap();
        write_base(dir.path());
        let base = BaseImage::from_layout(dir.path(), &plan.base.image, CpuArch::Amd64).unwrap();
        let labels = BTreeMap::new();
        let inputs = amd64_inputs(plan, &labels, &base, Some(b"\x7fELF".to_vec()));
        let (_, app) = rootfs(&inputs).unwrap();
        assert!(
            app.entries().any(|(p, e)| p == "app/data"
                && *e == layer::Entry::OwnedDir(0o755, plan.user.uid, plan.user.gid)),
            "{:?}",
            app.entries().map(|(p, _)| p).collect::<Vec<_>>()
        );
        let owned = layer::Entry::OwnedDir(0o755, plan.user.uid, plan.user.gid);
        assert!(app.entries().any(|(p, e)| p == "app" && *e == owned));
        let image = build(&inputs).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(config["config"]["WorkingDir"], "/app");
        assert_eq!(config["config"]["Cmd"], serde_json::json!(["/app/data"]));
    }

    #[test]
    fn labels_and_ports_serialize_in_one_order() {
        let a = canonical_json(&HashMap::from([("b", 1), ("a", 2), ("c", 3)])).unwrap();
        assert_eq!(a, br#"{"a":2,"b":1,"c":3}"#);
    }
}
