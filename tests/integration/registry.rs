//! The registry client (`imggen::oci::registry`) against a real distribution registry: an OCI
//! layout made by skopeo from the axum-single image is pushed (chunked and monolithic), pulled
//! back by the real engine and run, inspected by skopeo; a second push uploads no blob (the
//! registry's own access log says so), a push to another repository mounts every blob, a pull
//! fills a verified cache, Basic auth works against 127.0.0.1:5001, and `imggen build --push`
//! attaches an SBOM that is found from the image digest.
//!
//! Each test starts its own registry (Debian's `docker-registry`) on a free loopback port, with
//! its access log in a temporary directory, so request counts are this test's alone.

use crate::docker::{assert_serves_and_stops, docker, docker_ok, free_port};
use crate::engine::{build, generated, printed_digest, unique};
use imggen::oci::registry::{Auth, Client, Options, PushReport};
use imggen::reference::Reference;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry of our own, stopped on drop.
struct Registry {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(crate::harness::locate("docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("docker-registry starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry on {addr} did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    /// The access log's request lines (`"METHOD /path HTTP/1.1" status`).
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let start = l.find("\"GET ").or_else(|| l.find("\"HEAD ")).or_else(|| {
                    ["\"PUT ", "\"PATCH ", "\"POST ", "\"DELETE "]
                        .iter()
                        .find_map(|m| l.find(m))
                })?;
                Some(l[start + 1..].to_string())
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

/// The blobs (configs and layers) the layout's manifests name.
fn layout_blobs(layout: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        let hex = m["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap())
                .unwrap();
        out.push(manifest["config"]["digest"].as_str().unwrap().to_string());
        for l in manifest["layers"].as_array().unwrap() {
            out.push(l["digest"].as_str().unwrap().to_string());
        }
    }
    out
}

/// The axum-single image built with its generated Dockerfile, copied into an OCI layout by
/// skopeo; returns (layout dir holder, layout path, engine tag).
fn axum_layout() -> (tempfile::TempDir, PathBuf, String) {
    let t = generated("axum-single");
    let tag = format!("imggen-test/registry-axum:{}", unique("l"));
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "host", "-q", "-t", &tag, "."])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            &format!("docker-daemon:{tag}"),
            &format!("oci:{}:app", layout.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker_ok(&["rmi", &tag]);
    (dir, layout, tag)
}

fn push(client: &Client, layout: &Path, to: &str, mount_from: &[&str]) -> (PushReport, Duration) {
    let from: Vec<String> = mount_from.iter().map(|s| s.to_string()).collect();
    let start = Instant::now();
    let report = runtime()
        .block_on(client.push_layout(layout, &reference(to), &from))
        .unwrap_or_else(|e| panic!("push to {to}: {e:#}"));
    (report, start.elapsed())
}

fn blob_writes(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| (l.starts_with("PUT ") || l.starts_with("PATCH ")) && l.contains("/blobs/"))
        .collect()
}

#[test]
fn a_layout_pushes_pulls_runs_and_pushes_again_without_uploading() {
    if !crate::harness::engine() || !crate::harness::tools(&["skopeo", "docker-registry"]) {
        return;
    }
    let (_dir, layout, _) = axum_layout();
    let blobs = layout_blobs(&layout);
    let registry = Registry::start();
    let addr = registry.addr.clone();
    // 1 MiB chunks: the layers above it (the Debian base, the binary) go up in PATCH chunks.
    let small = Options {
        monolithic_max: 1 << 20,
        chunk_size: 1 << 20,
        ..Options::default()
    };
    let client = Client::new(&addr, Auth::Anonymous, small.clone()).unwrap();
    let (first, took) = push(&client, &layout, &format!("{addr}/axum:1"), &[]);
    eprintln!(
        "first push of the layout ({} blobs, {} bytes): {took:?}",
        blobs.len(),
        first.bytes
    );
    assert_eq!(
        (first.uploaded, first.skipped, first.mounted),
        (blobs.len(), 0, 0),
        "{first:?}"
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        first.digest,
        index["manifests"][0]["digest"].as_str().unwrap()
    );
    let log = registry.requests();
    assert!(
        log.iter().any(|l| l.starts_with("PATCH ")),
        "no chunked upload: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PUT /v2/axum/manifests/1 ")),
        "{log:#?}"
    );

    // The real engine pulls it and runs it; skopeo sees the same digest.
    let pulled = format!("{addr}/axum:1");
    docker_ok(&["pull", "-q", &pulled]);
    assert_serves_and_stops(&pulled, "/health");
    docker_ok(&["rmi", &pulled]);
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{pulled}"),
        ])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let inspect: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["Digest"], first.digest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), blobs.len() - 1);

    // Again: every blob exists, nothing is uploaded (the registry's log is the witness).
    let before = registry.requests().len();
    let again = Client::new(&addr, Auth::Anonymous, small.clone()).unwrap();
    let (second, took) = push(&again, &layout, &format!("{addr}/axum:1"), &[]);
    let log = registry.requests()[before..].to_vec();
    eprintln!("second push: {took:?}, {} requests: {log:#?}", log.len());
    assert_eq!(
        (second.uploaded, second.skipped),
        (0, blobs.len()),
        "{second:?}"
    );
    assert!(blob_writes(&log).is_empty(), "{log:#?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("HEAD ") && l.contains("/blobs/"))
            .count(),
        blobs.len(),
        "{log:#?}"
    );
    assert!(!again
        .requests()
        .iter()
        .any(|r| r.starts_with("PUT") && r.contains("/blobs/")));

    // Another repository of the same registry: every blob is mounted, none uploaded.
    let before = registry.requests().len();
    let (third, _) = push(&client, &layout, &format!("{addr}/mounted:1"), &["axum"]);
    let log = registry.requests()[before..].to_vec();
    assert_eq!(
        (third.mounted, third.uploaded),
        (blobs.len(), 0),
        "{third:?}"
    );
    assert!(blob_writes(&log).is_empty(), "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("mount=") && l.contains("from=axum")),
        "{log:#?}"
    );

    // Pull into a cache: every blob verified on disk; a second pull fetches no blob.
    let cache = tempfile::tempdir().unwrap();
    let image = runtime()
        .block_on(client.pull(&reference(&pulled), "linux/amd64", cache.path()))
        .unwrap();
    assert_eq!(image.manifest.digest, first.digest);
    assert_eq!(image.layers.len(), blobs.len() - 1);
    for d in std::iter::once(&image.config).chain(&image.layers) {
        let data = std::fs::read(image.blob_path(&d.digest).unwrap()).unwrap();
        assert_eq!(imggen::oci::layer::sha256(&data), d.digest);
    }
    let puller = Client::new(&addr, Auth::Anonymous, Options::default()).unwrap();
    runtime()
        .block_on(puller.pull(&reference(&pulled), "linux/amd64", cache.path()))
        .unwrap();
    assert!(
        !puller
            .requests()
            .iter()
            .any(|r| r.starts_with("GET") && r.contains("/blobs/")),
        "{:?}",
        puller.requests()
    );

    // An index over the same manifest: children go first, the index is tagged, and a pull
    // resolves the platform asked for.
    let multi = tempfile::tempdir().unwrap();
    crate::harness::copy_tree(&layout, multi.path());
    let manifest = &index["manifests"][0];
    let image_index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": manifest["mediaType"], "digest": manifest["digest"], "size": manifest["size"],
            "platform": {"os": "linux", "architecture": "amd64"},
        }],
    }))
    .unwrap();
    let index_digest = imggen::oci::layer::sha256(&image_index);
    std::fs::write(
        multi
            .path()
            .join("blobs/sha256")
            .join(&index_digest["sha256:".len()..]),
        &image_index,
    )
    .unwrap();
    std::fs::write(
        multi.path().join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index_digest, "size": image_index.len(),
            }],
        }))
        .unwrap(),
    )
    .unwrap();
    let before = registry.requests().len();
    let (pushed, _) = push(&client, multi.path(), &format!("{addr}/multi:1"), &["axum"]);
    assert_eq!(
        (pushed.digest.as_str(), pushed.mounted),
        (index_digest.as_str(), blobs.len())
    );
    let log = registry.requests()[before..].to_vec();
    let put = |what: &str| {
        log.iter()
            .position(|l| l.starts_with(&format!("PUT /v2/multi/manifests/{what} ")))
            .unwrap_or_else(|| panic!("{what}: {log:#?}"))
    };
    assert!(
        put(&first.digest) < put(&index_digest) && put(&index_digest) < put("1"),
        "{log:#?}"
    );
    let multi_ref = reference(&format!("{addr}/multi:1"));
    let resolved = runtime()
        .block_on(client.pull(&multi_ref, "linux/amd64", cache.path()))
        .unwrap();
    assert_eq!(resolved.manifest.digest, first.digest);
    let e = runtime()
        .block_on(client.pull(&multi_ref, "linux/arm64", cache.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("has no linux/arm64 image (it offers linux/amd64)"),
        "{e}"
    );

    // Basic auth against the shared registry on 127.0.0.1:5001.
    let password = std::env::var("TEST_REGISTRY_PASSWORD").ok();
    if crate::harness::available(
        password
            .is_none()
            .then(|| "TEST_REGISTRY_PASSWORD is unset".to_string()),
        "export it from /var/tmp/docker-up/registry-password (`.ci/run` does)",
    ) {
        let target = format!("127.0.0.1:5001/imggen-test/layout:{}", unique("basic"));
        let anonymous = Client::new("127.0.0.1:5001", Auth::Anonymous, Options::default()).unwrap();
        let e = runtime()
            .block_on(anonymous.push_layout(&layout, &reference(&target), &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("127.0.0.1:5001 requires credentials"), "{e}");
        let auth = Auth::Basic {
            username: "ci".into(),
            password: password.unwrap(),
        };
        let basic = Client::new("127.0.0.1:5001", auth, Options::default()).unwrap();
        let (report, _) = push(&basic, &layout, &target, &[]);
        assert_eq!(report.digest, first.digest);
        let (repo, tag) = target["127.0.0.1:5001/".len()..].split_once(':').unwrap();
        let (stored, _) = runtime().block_on(basic.get_manifest(repo, tag)).unwrap();
        assert_eq!(stored.digest, first.digest);
    }
}

#[test]
fn build_push_attaches_an_sbom_found_from_the_image_digest() {
    if !crate::harness::engine() || !crate::harness::tools(&["skopeo", "docker-registry"]) {
        return;
    }
    let registry = Registry::start();
    let addr = registry.addr.clone();
    let image = format!("{addr}/sbom-axum:1");
    let (t, run) = build(generated("axum-single"), &["--tag", &image, "--push"]);
    run.code(0).stderr_has("attached the SBOM to");
    let digest = printed_digest(&run, &image);
    let client = Client::new(&addr, Auth::Anonymous, Options::default()).unwrap();
    let found = runtime()
        .block_on(client.find_sbom("sbom-axum", &digest))
        .unwrap()
        .expect("an SBOM for the pushed digest");
    // distribution 2.8 has no referrers API: the tag fallback finds it.
    assert_eq!(found.via, "tag");
    let doc: Value = serde_json::from_slice(&found.document).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"hello-axum") && names.contains(&"axum"),
        "{names:?}"
    );
    let printed = t.args(&["sbom", "."]).run();
    assert_eq!(
        serde_json::from_str::<Value>(&printed.stdout).unwrap()["packages"],
        doc["packages"]
    );
    // The artifact's subject is the image manifest, with the engine's media type and size.
    let tag = imggen::oci::registry::sbom_tag(&digest).unwrap();
    let (_, manifest) = runtime()
        .block_on(client.get_manifest("sbom-axum", &tag))
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let subject = runtime()
        .block_on(client.manifest_descriptor("sbom-axum", &digest))
        .unwrap();
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    assert_eq!(manifest["subject"]["size"], subject.size);
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    let skopeo = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{addr}/sbom-axum:{tag}"),
        ])
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );

    // --no-sbom: pushed, nothing attached.
    let other = format!("{addr}/plain-axum:1");
    let (_, run) = build(
        generated("axum-single"),
        &["--tag", &other, "--push", "--no-sbom"],
    );
    run.code(0);
    assert!(!run.stderr.contains("SBOM"), "{}", run.stderr);
    let digest = printed_digest(&run, &other);
    assert!(runtime()
        .block_on(client.find_sbom("plain-axum", &digest))
        .unwrap()
        .is_none());
    docker_ok(&["rmi", &image, &other]);
}
