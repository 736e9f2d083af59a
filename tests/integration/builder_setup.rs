//! The builder follows the project's toolchain file and `.cargo/config.toml`, on the real
//! engine: components and targets the image lacks are installed, and dependencies compile once,
//! in `cargo chef cook`, with the flags and vendored sources of the final build.

use crate::engine::{build, generated, generated_with_own_mount, unique};

/// The lines of the plain build log printed by the step whose title contains `step`.
fn step_lines<'a>(log: &'a str, step: &str) -> Vec<&'a str> {
    let Some(id) = log
        .lines()
        .find(|l| l.contains(step))
        .and_then(|l| l.split_whitespace().next())
    else {
        return Vec::new();
    };
    let prefix = format!("{id} ");
    log.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn toolchain_components_and_targets_are_installed_in_the_builder() {
    let t = generated("toolchain-pinned");
    let dockerfile = t.read("Dockerfile");
    assert!(
        dockerfile.contains(
            "RUN rustup component add --toolchain 1.95.0 clippy \\\n    && rustup target add --toolchain 1.95.0 x86_64-unknown-linux-musl\n# The project's toolchain (rust-toolchain.toml), for every cargo step below.\nCOPY rust-toolchain.toml ./\n"
        ),
        "{dockerfile}"
    );
    let plain = generated("toolchain").read("Dockerfile");
    assert!(!plain.contains("rustup component add"), "{plain}");
    if !crate::harness::engine() {
        return;
    }
    let unique = format!("{}-{}", std::process::id(), line!());
    let tag = format!("imggen-test/toolchain-pinned:{unique}");
    let chef = format!("imggen-test/toolchain-pinned-chef:{unique}");
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    crate::docker::assert_serves_and_stops(&tag, "/health");
    let (_t, run) = build(t, &["--tag", &chef, "--target", "chef"]);
    run.code(0);
    let installed = crate::docker::docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "sh",
        &chef,
        "-c",
        "rustup component list --installed && rustup target list --installed",
    ]);
    assert!(
        installed.contains("clippy-x86_64-unknown-linux-gnu"),
        "{installed}"
    );
    assert!(
        installed.contains("x86_64-unknown-linux-musl"),
        "{installed}"
    );
    for image in [&tag, &chef] {
        let _ = crate::docker::docker().args(["rmi", image]).output();
    }
}

#[test]
fn cargo_config_is_present_when_dependencies_compile_and_they_compile_once() {
    let t = generated_with_own_mount("cargo-config", &unique("cargo-config"));
    let dockerfile = t.read("Dockerfile");
    for line in [
        "ENV RUSTC_WRAPPER=\"\" CARGO_NET_GIT_FETCH_WITH_CLI=true\n",
        "COPY .cargo/config.toml .cargo/config.toml\nCOPY vendor vendor\n",
        "    cargo chef cook --release --offline",
        "&& cargo build --release --locked --offline",
    ] {
        assert!(dockerfile.contains(line), "{line} in {dockerfile}");
    }
    let sent = imggen::context::list_context(t.path(), "Dockerfile").unwrap();
    assert!(
        sent.iter().any(|p| p == "vendor/itoa/.cargo-checksum.json"),
        "the vendored sources stay in the context: {sent:?}"
    );
    if !crate::harness::engine() {
        return;
    }
    let tag = format!(
        "imggen-test/cargo-config:{}-{}",
        std::process::id(),
        line!()
    );
    let (_t, run) = build(t, &["--tag", &tag, "--no-cache"]);
    run.code(0);
    let log = run.stderr.clone();
    let cook = step_lines(&log, "cargo chef cook --release");
    assert!(cook.iter().any(|l| l.contains("Compiling itoa")), "{log}");
    let final_build = step_lines(&log, "&& cargo build");
    assert!(
        final_build
            .iter()
            .any(|l| l.contains("Compiling cargo-config")),
        "{log}"
    );
    assert!(
        !final_build.iter().any(|l| l.contains("Compiling itoa")),
        "the final build recompiled a dependency: {final_build:#?}"
    );
    let out = crate::docker::docker_ok(&["run", "--rm", "--network", "host", &tag]);
    assert_eq!(out.trim(), "vendored 42");
    let _ = crate::docker::docker().args(["rmi", &tag]).output();
}

#[test]
fn registries_ssh_git_dependencies_and_declared_secrets_get_mounts_on_the_fetching_steps() {
    let t = crate::harness::Test::fixture("axum-single")
        .write(
            ".cargo/config.toml",
            "[registries.corp-crates]\nindex = \"sparse+https://crates.corp.example/index/\"\n",
        )
        .args(&["generate"]);
    t.run().code(0);
    let lock = t.read("Cargo.lock");
    std::fs::write(
        t.path().join("Cargo.lock"),
        format!("{lock}\n[[package]]\nname = \"internal\"\nversion = \"0.1.0\"\nsource = \"git+ssh://git@git.corp.example/internal.git#0123456789abcdef0123456789abcdef01234567\"\n"),
    )
    .unwrap();
    let mounts = "--mount=type=secret,id=npm-token,required=true \\\n    --mount=type=secret,id=cargo-registry-corp-crates,required=true \\\n    --mount=type=ssh,required=true \\\n    ";
    // Both Dockerfiles: the credentials follow the cache mounts (the default) or open the step.
    for cache_mounts in ["", "cache_mounts = false\n"] {
        std::fs::write(
            t.path().join("imggen.toml"),
            format!("version = 1\nsecrets = [\"npm-token\"]\n{cache_mounts}"),
        )
        .unwrap();
        t.run().code(0);
        let dockerfile = t.read("Dockerfile");
        for step in ["cargo chef prepare", "cargo chef cook", "find . -path"] {
            let line = dockerfile
                .split("\nRUN ")
                .find(|run| run.contains(step))
                .unwrap_or_default();
            let options = &line[..line.find(step).unwrap_or(0)];
            if cache_mounts.is_empty() {
                assert!(
                    options.starts_with("--mount=type=cache,id=imggen-cargo-home,")
                        && options.contains(&format!(" \\\n    {mounts}")),
                    "{step}: {dockerfile}"
                );
            } else {
                assert!(options.starts_with(mounts), "{step}: {dockerfile}");
            }
        }
    }
    let dockerfile = t.read("Dockerfile");
    assert!(
        dockerfile.contains("CARGO_REGISTRIES_CORP_CRATES_TOKEN=\"$(cat /run/secrets/cargo-registry-corp-crates)\" GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=accept-new' cargo chef cook"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("ENV CARGO_NET_GIT_FETCH_WITH_CLI=true\n"),
        "{dockerfile}"
    );

    let refused = crate::harness::Test::fixture("axum-single")
        .write("imggen.toml", "version = 1\nsecrets = [\"two words\"]\n")
        .args(&["generate"])
        .run();
    refused
        .code(2)
        .stderr_has("secrets")
        .stderr_has("two words");
}

#[test]
fn channels_the_image_tag_cannot_express_are_installed_with_rustup() {
    for (channel, tag) in [
        ("nightly-2025-01-01", "1.80"),
        ("stable", "1.80"),
        ("1.95", "1.95"),
    ] {
        let t = crate::harness::Test::fixture("toolchain-pinned")
            .write(
                "rust-toolchain.toml",
                &format!("[toolchain]\nchannel = \"{channel}\"\ncomponents = [\"clippy\"]\n"),
            )
            .args(&["generate"]);
        t.run().code(0);
        let dockerfile = t.read("Dockerfile");
        assert!(
            dockerfile.contains(&format!(
                "RUN rustup toolchain install {channel} --profile minimal --component clippy\n# The project's toolchain (rust-toolchain.toml), for every cargo step below.\nCOPY rust-toolchain.toml ./\n"
            )),
            "{channel}: {dockerfile}"
        );
        assert!(
            dockerfile.contains(&format!("cargo-chef:latest-rust-{tag}-bookworm")),
            "{channel}: {dockerfile}"
        );
    }
    let refused = crate::harness::Test::fixture("toolchain-pinned")
        .write(
            "rust-toolchain.toml",
            "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"x86_64; rm -rf /\"]\n",
        )
        .args(&["generate"])
        .run();
    refused
        .code(2)
        .stderr_has("rust-toolchain.toml")
        .stderr_has("targets");
}
