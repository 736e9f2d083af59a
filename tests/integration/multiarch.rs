//! `imggen build --push --arch amd64,arm64` on the real engine and the registry on
//! 127.0.0.1:5000: skopeo sees an index with both platforms, the engine pulls and runs the
//! amd64 image, the layers are gzip (the same layers give the same blobs when pushed again),
//! and the arm64 binary fetched through the registry is an aarch64 ELF.

use crate::docker::{assert_serves_and_stops, docker_ok};
use crate::engine::{build, printed_digest, unique};
use crate::harness::Test;
use imggen::oci::registry::{Auth, Client, Descriptor, Options};
use std::io::Read;
use std::process::Command;

const REGISTRY: &str = "127.0.0.1:5000";
/// `e_machine` of x86-64 and AArch64 ELF files.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// `e_machine` of a 64-bit little-endian ELF file; None when `data` is not one.
fn elf_machine(data: &[u8]) -> Option<u16> {
    let is_elf64_le = data.len() >= 20 && data[..4] == *b"\x7fELF" && data[4] == 2 && data[5] == 1;
    is_elf64_le.then(|| u16::from_le_bytes([data[18], data[19]]))
}

/// The manifest or index `repo:reference` as the registry serves it, parsed.
async fn manifest_json(client: &Client, repo: &str, reference: &str) -> serde_json::Value {
    let (_, body) = client.get_manifest(repo, reference).await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The layer digests of every platform manifest the index `repo:tag` names, in order.
async fn layer_digests(client: &Client, repo: &str, tag: &str) -> Vec<String> {
    let index = manifest_json(client, repo, tag).await;
    let mut digests = Vec::new();
    for child in index["manifests"].as_array().unwrap() {
        let manifest = manifest_json(client, repo, child["digest"].as_str().unwrap()).await;
        for layer in manifest["layers"].as_array().unwrap() {
            digests.push(layer["digest"].as_str().unwrap().to_string());
        }
    }
    assert!(!digests.is_empty(), "no layers in {index}");
    digests
}

/// The platform manifest for `arch` named by the index `repo:tag`, fetched through the
/// registry; returns the file at `path` in its layers.
async fn file_in_image(client: &Client, repo: &str, tag: &str, arch: &str, path: &str) -> Vec<u8> {
    let index = manifest_json(client, repo, tag).await;
    let child = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap_or_else(|| panic!("no {arch} in {index}"));
    let manifest = manifest_json(client, repo, child["digest"].as_str().unwrap()).await;
    for layer in manifest["layers"].as_array().unwrap() {
        let desc: Descriptor = serde_json::from_value(layer.clone()).unwrap();
        assert_eq!(
            desc.media_type, "application/vnd.oci.image.layer.v1.tar+gzip",
            "the {arch} image's layers are pushed gzip-compressed"
        );
        let blob = client.get_blob(repo, &desc).await.unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                == path
            {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                return data;
            }
        }
    }
    panic!("{path} is in no layer of the {arch} image");
}

#[test]
fn arch_is_refused_for_a_debian_runtime_and_for_a_repeated_or_empty_list() {
    let run = Test::fixture("axum-single")
        .args(&["generate", "--arch", "amd64,arm64"])
        .run();
    run.code(2).one_error_line().stderr_has(
        "--arch needs libc = \"musl\" with base = \"scratch\", a runtime stage that needs no base image of the target architecture and runs nothing in it (bookworm-slim does both)",
    );
    Test::fixture("musl-static")
        .args(&["generate", "--arch", "arm64,arm64"])
        .run()
        .code(2)
        .stderr_has("--arch names arm64 twice");
    Test::fixture("musl-static")
        .write(
            "imggen.toml",
            "version = 1\nlibc = \"musl\"\n[build]\narch = []\n",
        )
        .args(&["generate"])
        .run()
        .code(2)
        .stderr_has("imggen.toml [build] arch names no architecture");
    let t = Test::fixture("musl-static").args(&["generate", "--arch", "arm64"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(
        dockerfile.contains("FROM --platform=$BUILDPLATFORM ")
            && dockerfile.contains("ARG TARGETARCH"),
        "{dockerfile}"
    );
}

#[test]
fn init_with_arch_pins_it_so_generate_check_stays_quiet() {
    let t = Test::fixture("musl-static")
        .write("imggen.toml", "")
        .args(&["init", "--force", "--libc", "musl", "--arch", "arm64,amd64"]);
    t.run().code(0);
    assert!(
        t.read("imggen.toml")
            .ends_with("[build]\narch = [\"amd64\", \"arm64\"]\n"),
        "{}",
        t.read("imggen.toml")
    );
    t.args(&["generate", "--check"]).run().code(0);
}

#[test]
fn elf_machine_reads_the_header_and_refuses_other_files() {
    let mut header = b"\x7fELF\x02\x01\x01".to_vec();
    header.resize(18, 0);
    header.extend_from_slice(&EM_AARCH64.to_le_bytes());
    assert_eq!(elf_machine(&header), Some(EM_AARCH64));
    assert_eq!(elf_machine(b"#!/bin/sh\nexit 0\n"), None);
    assert_eq!(elf_machine(&header[..10]), None);
}

#[test]
fn musl_static_for_amd64_and_arm64_is_one_index_whose_amd64_image_serves_and_whose_arm64_binary_is_aarch64(
) {
    if !crate::harness::engine() || !crate::harness::tools(&["skopeo"]) {
        return;
    }
    let repo = format!("imggen-test/{}", unique("multiarch"));
    let reference = format!("{REGISTRY}/{repo}:1");
    let t = Test::fixture("musl-static").write(
        "imggen.toml",
        "version = 1\nlibc = \"musl\"\n\n[build]\narch = [\"amd64\", \"arm64\"]\n",
    );
    let t = t.args(&["generate"]);
    t.run().code(0);
    let (t, run) = build(t, &["--push", "--no-sbom", "--tag", &reference]);
    run.code(0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(REGISTRY, Auth::Anonymous, Options::default()).unwrap();
    let first_layers = runtime.block_on(layer_digests(&client, &repo, "1"));
    // The same layers exported again compress to the same blobs (the config differs: its
    // `created` label is the build's time).
    let (_, again) = build(t, &["--push", "--no-sbom", "--tag", &reference]);
    again.code(0);
    assert_eq!(
        runtime.block_on(layer_digests(&client, &repo, "1")),
        first_layers
    );
    let digest = printed_digest(&again, &reference);

    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {out:?}");
    assert_eq!(imggen::oci::layer::sha256(&out.stdout), digest);
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(index["mediaType"], imggen::oci::registry::OCI_INDEX);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    docker_ok(&["pull", &reference]);
    let arch = docker_ok(&["image", "inspect", "-f", "{{.Architecture}}", &reference]);
    assert_eq!(arch.trim(), "amd64");
    assert_serves_and_stops(&reference, "/healthz");
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", &reference]);
    assert_eq!(user.trim(), "10001:10001");

    let bin = "usr/local/bin/tiny-static";
    let arm = runtime.block_on(file_in_image(&client, &repo, "1", "arm64", bin));
    assert_eq!(
        elf_machine(&arm),
        Some(EM_AARCH64),
        "the arm64 image's binary"
    );
    let amd = runtime.block_on(file_in_image(&client, &repo, "1", "amd64", bin));
    assert_eq!(
        elf_machine(&amd),
        Some(EM_X86_64),
        "the amd64 image's binary"
    );
    let _ = Command::new("/usr/bin/docker")
        .args([
            "rmi",
            &reference,
            &format!("{reference}-amd64"),
            &format!("{reference}-arm64"),
        ])
        .output();
}
