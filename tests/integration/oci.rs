//! `imggen build --engine oci`: daemonless images. Two copies of the musl-static fixture in two
//! temporary directories, built seconds apart, give the same manifest digest and the same tar;
//! the real engine loads that tar and runs it (HTTP, uid 10001, a fast stop); `--arch
//! amd64,arm64` makes one index whose arm64 binary is an aarch64 ELF, which skopeo reads and
//! copies; the image has the Docker path's config and files; a push reaches the local registry
//! without a daemon (again: no blob uploaded), with its SBOM, and the engine pulls and runs it;
//! a glibc image goes over a base pulled through `[build] base_mirror`. Needs the
//! x86_64-unknown-linux-musl and aarch64-unknown-linux-musl targets (`.ci/run` adds them).

use crate::docker::{assert_serves_and_stops, docker_ok};
use crate::engine::{generated, unique};
use crate::harness::{self, Test};
use std::io::Read;
use std::path::Path;

/// A Docker host nothing listens on: the oci engine must not need one.
const NO_ENGINE: &str = "unix:///nonexistent/imggen-no-engine.sock";

/// `imggen build --engine ENGINE ARGS` in `t` with no Docker engine reachable; returns the
/// run's stderr and the digest it prints.
fn build_with(engine: &str, t: Test, args: &[&str]) -> (Test, String, String) {
    let mut all = vec!["build", "--engine", engine];
    all.extend_from_slice(args);
    let t = t.args(&all).env("DOCKER_HOST", NO_ENGINE);
    let run = t.run();
    run.code(0);
    let digest = run.stdout.trim().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{}",
        run.stdout
    );
    (t, run.stderr.clone(), digest)
}

/// `imggen build --engine oci ARGS` in `t`; returns the digest it prints.
fn build_oci(t: Test, args: &[&str]) -> (Test, String) {
    let (t, _, digest) = build_with("oci", t, args);
    (t, digest)
}

/// A JSON blob of an OCI layout.
fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    let path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The ELF machine (`e_machine`) of `path` inside the gzip layer `digest` of `layout`.
fn elf_machine_in_layer(layout: &Path, digest: &str, path: &str) -> u16 {
    let blob = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == path {
            let mut header = [0u8; 20];
            entry.read_exact(&mut header).unwrap();
            assert_eq!(&header[..4], b"\x7fELF", "{path} is not an ELF file");
            assert_eq!(header[4], 2, "{path} is not a 64-bit ELF");
            return u16::from_le_bytes([header[18], header[19]]);
        }
    }
    panic!("{path} is not in the layer {digest}");
}

/// Image tags removed from the engine on drop, so a failed assertion leaves none behind.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = crate::docker::docker().args(["rmi", "-f", tag]).output();
        }
    }
}

/// ELF `e_machine` values.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

#[test]
fn oci_engine_gives_the_same_digest_from_two_directories_and_the_engine_runs_it() {
    let tag = format!("imggen-test/oci:{}", unique("repro"));
    let (a, digest_a) = {
        let t = generated("musl-static");
        let tar = t.path().join("image.tar");
        build_oci(
            t,
            &["--tag", &tag, "--output", &format!("tar:{}", tar.display())],
        )
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (b, digest_b) = {
        let t = generated("musl-static");
        let tar = t.path().join("image.tar");
        build_oci(
            t,
            &["--tag", &tag, "--output", &format!("tar:{}", tar.display())],
        )
    };
    assert_ne!(a.path(), b.path());
    assert_eq!(
        digest_a, digest_b,
        "two copies built apart give different images"
    );
    let tar_a = std::fs::read(a.path().join("image.tar")).unwrap();
    assert!(
        tar_a == std::fs::read(b.path().join("image.tar")).unwrap(),
        "the two tars differ"
    );
    // No local path leaks into the binary (--remap-path-prefix).
    let binary = std::fs::read(
        a.path()
            .join("target/x86_64-unknown-linux-musl/release/tiny-static"),
    )
    .unwrap();
    let home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    for leak in [a.path().to_string_lossy().to_string(), home] {
        assert!(
            !binary.windows(leak.len()).any(|w| w == leak.as_bytes()),
            "the binary holds {leak}"
        );
    }

    if !harness::engine() {
        return;
    }
    let _images = Images(vec![tag.clone()]);
    let loaded = docker_ok(&["load", "-i", &a.path().join("image.tar").to_string_lossy()]);
    assert!(loaded.contains(&tag), "{loaded}");
    let user = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.User}} {{.Config.StopSignal}} {{json .Config.Entrypoint}}",
        &tag,
    ]);
    assert_eq!(
        user.trim(),
        "10001:10001 SIGTERM [\"/usr/local/bin/tiny-static\"]"
    );
    assert_serves_and_stops(&tag, "/healthz");
}

#[test]
fn oci_engine_builds_one_index_for_amd64_and_arm64_by_cross_compiling() {
    let t = generated("musl-static");
    // No engine answers and no --output or --arch: auto builds with oci into the default layout.
    let (t, stderr, amd64_alone) = build_with("auto", t, &[]);
    assert!(
        stderr.contains("no Docker engine answers: building with --engine oci (auto)"),
        "{stderr}"
    );
    let default_layout = t.path().join("target/imggen/oci/tiny-static");
    assert!(default_layout.join("oci-layout").is_file(), "{stderr}");
    let layout = t.path().join("layout");
    // `--arch` changes the generated Dockerfile too, so the files are regenerated with it first.
    let t = t.args(&["generate", "--arch", "arm64,amd64"]);
    t.run().code(0);
    let (_t, digest) = build_oci(
        t,
        &[
            "--arch",
            "arm64,amd64",
            "--output",
            &format!("oci-layout:{}", layout.display()),
        ],
    );
    let top = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(layout.join("index.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(top["manifests"][0]["digest"], digest.as_str());
    assert_eq!(
        top["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index = blob_json(&layout, &digest);
    let manifests = index["manifests"].as_array().unwrap();
    let archs: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    assert_eq!(
        manifests[0]["digest"],
        amd64_alone.as_str(),
        "the index's amd64 image is the single-arch build's"
    );
    for m in manifests {
        let manifest = blob_json(&layout, m["digest"].as_str().unwrap());
        let config = blob_json(&layout, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], m["platform"]["architecture"]);
        let app_layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let machine = elf_machine_in_layer(&layout, &app_layer, "usr/local/bin/tiny-static");
        let want = if m["platform"]["architecture"] == "arm64" {
            EM_AARCH64
        } else {
            EM_X86_64
        };
        assert_eq!(machine, want, "{}", m["platform"]);
    }

    // skopeo reads the layout as a registry client would: one image per platform, every blob
    // matching its digest (a copy checks them).
    if !harness::tools(&["skopeo"]) {
        return;
    }
    let oci_ref = format!("oci:{}", layout.display());
    for arch in ["amd64", "arm64"] {
        let out = std::process::Command::new(harness::locate("skopeo"))
            .args(["inspect", "--override-arch", arch, &oci_ref])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["Architecture"], arch);
        assert_eq!(seen["Digest"], digest.as_str());
        assert_eq!(
            seen["Labels"]["org.opencontainers.image.title"],
            "tiny-static"
        );
    }
    let copy = layout.with_file_name("copy");
    let out = std::process::Command::new(harness::locate("skopeo"))
        .args([
            "copy",
            "--all",
            &oci_ref,
            &format!("oci:{}", copy.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn engine_flags_are_checked_before_anything_is_built() {
    let t = generated("musl-static");
    let t = t.args(&["build", "--engine", "docker", "--output", "tar:x.tar"]);
    t.run().code(2).one_error_line().stderr_has("--engine oci");
    let t = t.args(&["build", "--engine", "oci", "--build-arg", "A=1"]);
    t.run().code(2).one_error_line().stderr_has("--build-arg");
    let t = t
        .args(&["build", "--output", "zip:x"])
        .env("IMGGEN_ENGINE", "oci");
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("oci-layout:DIR or tar:FILE");
    let t = t
        .clear_env()
        .args(&["build"])
        .env("IMGGEN_ENGINE", "podman");
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("IMGGEN_ENGINE=\"podman\" must be one of docker, oci, auto");
    let t = t.clear_env().write(
        "imggen.toml",
        "version = 1\nlibc = \"musl\"\n[build]\nengine = \"kaniko\"\n",
    );
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("[build] engine = \"kaniko\"");
    assert!(
        !t.path().join("target").exists(),
        "nothing is compiled for a refused flag"
    );
}

/// Every path of a container of `image` (what the engine injects left out): kind, mode, owner,
/// and for files not in `skip` a digest of the contents.
fn exported(image: &str, skip: &[&str]) -> std::collections::BTreeMap<String, String> {
    let id = docker_ok(&["create", image]);
    let c = crate::docker::Container(id.trim().to_string());
    let out = crate::docker::docker()
        .args(["export", &c.0])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker export: {out:?}");
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut seen = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let injected = [
            ".dockerenv",
            "dev",
            "proc",
            "sys",
            "etc/hostname",
            "etc/hosts",
            "etc/mtab",
            "etc/resolv.conf",
        ];
        if injected
            .iter()
            .any(|i| path == *i || path.starts_with(&format!("{i}/")))
        {
            continue;
        }
        let h = entry.header().clone();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        let what = if h.entry_type().is_dir() {
            "dir".to_string()
        } else if skip.contains(&path.as_str()) {
            "file".to_string()
        } else {
            format!(
                "file {:x}",
                contents
                    .iter()
                    .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)))
            )
        };
        seen.insert(
            path,
            format!(
                "{what} {:o} {}:{}",
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap()
            ),
        );
    }
    seen
}

#[test]
fn the_oci_image_has_the_docker_paths_config_and_files() {
    if !harness::engine() {
        return;
    }
    let docker_tag = format!("imggen-test/oci-parity:{}", unique("docker"));
    let oci_tag = format!("imggen-test/oci-parity:{}", unique("oci"));
    let _images = Images(vec![docker_tag.clone(), oci_tag.clone()]);
    let t = generated("musl-static").env("SOURCE_DATE_EPOCH", "1700000000");
    let (t, run) = crate::engine::build(t, &["--tag", &docker_tag]);
    run.code(0);
    let tar = t.path().join("image.tar");
    let (_t, _) = build_oci(
        t,
        &[
            "--tag",
            &oci_tag,
            "--output",
            &format!("tar:{}", tar.display()),
        ],
    );
    docker_ok(&["load", "-i", &tar.to_string_lossy()]);
    let config = "{{json .Config.User}} {{json .Config.Env}} {{json .Config.ExposedPorts}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.WorkingDir}} {{json .Config.StopSignal}} {{json .Config.Labels}} {{.Os}}/{{.Architecture}}";
    let of_docker = docker_ok(&["image", "inspect", "-f", config, &docker_tag]);
    let of_oci = docker_ok(&["image", "inspect", "-f", config, &oci_tag]);
    assert_eq!(of_oci, of_docker, "the two engines' image configs differ");
    // The binaries come from two compilers' environments, the CA bundles from two machines'
    // ca-certificates: same paths, modes and owners, contents free to differ.
    let free = &[
        "usr/local/bin/tiny-static",
        "etc/ssl/certs/ca-certificates.crt",
    ];
    assert_eq!(
        exported(&oci_tag, free),
        exported(&docker_tag, free),
        "the two engines' files differ"
    );
}

#[test]
fn a_projects_own_target_rustflags_keep_local_paths_out_of_the_binary() {
    // Target rustflags win over build.rustflags in cargo, so the remap must join them.
    let t = generated("musl-static").write(
        ".cargo/config.toml",
        "[target.x86_64-unknown-linux-musl]\nrustflags = [\"-C\", \"target-cpu=x86-64\"]\n",
    );
    // The Dockerfile copies the new cargo configuration before the dependencies: regenerate.
    let t = t.args(&["generate"]);
    t.run().code(0);
    let (t, _) = build_oci(t, &["--output", "tar:image.tar"]);
    let binary = std::fs::read(
        t.path()
            .join("target/x86_64-unknown-linux-musl/release/tiny-static"),
    )
    .unwrap();
    // Dependencies' panic locations name their sources under CARGO_HOME unless remapped.
    let home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    for leak in [t.path().to_string_lossy().to_string(), home] {
        assert!(
            !binary.windows(leak.len()).any(|w| w == leak.as_bytes()),
            "the binary holds {leak}"
        );
    }
    assert!(
        binary.windows(17).any(|w| w == b"/usr/local/cargo/"),
        "the binary names no remapped dependency source"
    );
}

/// `imggen build --engine oci --push ARGS` in `t` with no Docker engine reachable.
fn push_oci(t: Test, args: &[&str]) -> (Test, crate::harness::Run) {
    let mut all = vec!["build", "--engine", "oci", "--push"];
    all.extend_from_slice(args);
    let t = t.args(&all).env("DOCKER_HOST", NO_ENGINE);
    let run = t.run();
    (t, run)
}

#[test]
fn oci_engine_pushes_without_a_daemon_and_a_second_push_uploads_no_blob() {
    if !harness::engine() {
        return;
    }
    let repo = format!("imggen-test/ociwire-{}", unique("musl"));
    let tag = format!("127.0.0.1:5000/{repo}:t");
    let _images = Images(vec![tag.clone()]);
    let (t, first) = push_oci(generated("musl-static"), &["--tag", &tag]);
    first
        .code(0)
        .stderr_has("blobs uploaded")
        .stderr_has("attached the SBOM to");
    let digest = crate::engine::printed_digest(&first, &tag);
    let (t, second) = push_oci(t, &["--tag", &tag, "--write-digest"]);
    second
        .code(0)
        .stderr_has(" 0 blobs uploaded (0 B), 3 already there");
    assert_eq!(crate::engine::printed_digest(&second, &tag), digest);
    assert!(
        t.read("imggen.toml")
            .contains(&format!("digest = \"{digest}\"")),
        "{}",
        t.read("imggen.toml")
    );

    let client = imggen::oci::registry::Client::new(
        "127.0.0.1:5000",
        imggen::oci::registry::Auth::Anonymous,
        imggen::oci::registry::Options::default(),
    )
    .unwrap();
    let found = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.find_sbom(&repo, &digest))
        .unwrap()
        .expect("an SBOM for the pushed digest");
    let doc: serde_json::Value = serde_json::from_slice(&found.document).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");

    docker_ok(&["pull", "-q", &tag]);
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", &tag]);
    assert_eq!(user.trim(), "10001:10001");
    assert_serves_and_stops(&tag, "/healthz");
}

#[test]
fn oci_engine_builds_a_glibc_image_over_a_base_pulled_from_a_mirror() {
    if !harness::engine() || !harness::tools(&["skopeo"]) {
        return;
    }
    // The engine's seeded base, put where a Docker Hub mirror would serve it.
    let copied = std::process::Command::new(harness::locate("skopeo"))
        .args([
            "copy",
            "--quiet",
            "docker-daemon:debian:bookworm-slim",
            "docker://127.0.0.1:5000/library/debian:bookworm-slim",
            "--dest-tls-verify=false",
        ])
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let base_digest =
        crate::engine::registry_digest("127.0.0.1:5000", "library/debian", "bookworm-slim", None);
    let repo = format!("imggen-test/ociwire-{}", unique("glibc"));
    let tag = format!("127.0.0.1:5000/{repo}:t");
    let _images = Images(vec![tag.clone()]);
    let cache = tempfile::tempdir().unwrap();
    let t = generated("axum-single")
        .env("IMGGEN_BASE_MIRROR", "127.0.0.1:5000")
        .env_os("XDG_CACHE_HOME", cache.path());
    let (_t, run) = push_oci(t, &["--tag", &tag, "--no-sbom"]);
    run.code(0)
        .stderr_has("pulled the base 127.0.0.1:5000/library/debian:bookworm-slim (linux/amd64)");
    assert!(
        cache
            .path()
            .join("imggen/blobs/sha256")
            .join(base_digest.trim_start_matches("sha256:"))
            .is_file(),
        "the base manifest is not in the cache"
    );
    let raw = std::process::Command::new(harness::locate("skopeo"))
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{tag}"))
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
    docker_ok(&["pull", "-q", &tag]);
    assert_serves_and_stops(&tag, "/health");
}

#[test]
fn oci_engine_refuses_runtime_packages_before_pulling_or_compiling() {
    let t = Test::fixture("axum-single").write(
        "imggen.toml",
        "version = 1\nruntime_packages = [\"libpq5\"]\n",
    );
    let t = t.args(&["generate"]);
    t.run().code(0);
    let t = t
        .args(&["build", "--engine", "oci"])
        .env("DOCKER_HOST", NO_ENGINE)
        .env("IMGGEN_BASE_MIRROR", "127.0.0.1:9");
    let run = t.run();
    run.code(2)
        .one_error_line()
        .stderr_has("the Debian packages libpq5 installed in the runtime stage, which only the Docker engine can run; use --engine docker");
    assert!(!run.stderr.contains("compiling"), "{}", run.stderr);
}
