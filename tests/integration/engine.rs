//! `imggen build` against the real engine and registries: builds through the API with BuildKit
//! and the classic builder, runs what it built, pushes with each kind of credentials, and
//! reports build failures, a stopped engine and drifted files.
//!
//! The engine (`DOCKER_HOST` or the default socket), the registries on 127.0.0.1:5000 (open) and
//! 127.0.0.1:5001 (user `ci`, password in `TEST_REGISTRY_PASSWORD`) and the seeded base
//! images come from `.ci/run`; without them these tests fail with a message saying so.

use crate::docker::{assert_serves_and_stops, docker, docker_ok, free_port, Container};
use crate::harness::{Run, Test};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// The password of the `ci` user of the registry on 127.0.0.1:5001; None (the test is skipped,
/// or fails in CI) when TEST_REGISTRY_PASSWORD is unset.
fn registry_password() -> Option<String> {
    let password = std::env::var("TEST_REGISTRY_PASSWORD").ok();
    crate::harness::available(
        password
            .is_none()
            .then(|| "TEST_REGISTRY_PASSWORD is unset".to_string()),
        "export it from /var/tmp/docker-up/registry-password (`.ci/run` does)",
    )
    .then_some(password)
    .flatten()
}

/// A tag unique to this test run, so registries never hold a stale one.
pub fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{}-{nanos:x}", std::process::id())
}

/// `imggen generate` in a copy of `fixture` whose image is named `name` (`[image] name`, which
/// names the default Dockerfile's target cache mount): a build that must compile its
/// dependencies gets an empty mount no earlier run filled (`--no-cache` empties no cache mount).
pub fn generated_with_own_mount(fixture: &str, name: &str) -> Test {
    let config = std::fs::read_to_string(crate::harness::fixture_path(fixture).join("imggen.toml"))
        .unwrap_or_else(|_| "version = 1\n".into());
    assert!(
        !config.contains("[image]"),
        "{fixture}: imggen.toml has [image]"
    );
    let t = generated_with_config(fixture, &format!("{config}\n[image]\nname = \"{name}\"\n"));
    assert!(
        t.read("Dockerfile")
            .contains(&format!("id=imggen-target-{name}-")),
        "{fixture}: the target mount is not named {name}"
    );
    t
}

/// `imggen generate` in a copy of `fixture` with `cache_mounts = false`: the layers-only
/// Dockerfile the classic builder builds.
pub fn generated_classic(fixture: &str) -> Test {
    regenerated_classic(Test::fixture(fixture))
}

/// The project with `cache_mounts = false` put first in its imggen.toml, generated again.
pub fn regenerated_classic(t: Test) -> Test {
    let config = std::fs::read_to_string(t.path().join("imggen.toml"))
        .unwrap_or_else(|_| "version = 1\n".into());
    let t = t
        .write("imggen.toml", &format!("cache_mounts = false\n{config}"))
        .args(&["generate"]);
    t.run().code(0);
    t
}

/// `imggen generate` in a copy of `fixture`.
pub fn generated(fixture: &str) -> Test {
    let t = Test::fixture(fixture).args(&["generate"]);
    t.run().code(0);
    t
}

/// `imggen generate` in a copy of `fixture` after writing its imggen.toml: settings the
/// Dockerfile depends on (the image name names the target cache mount) are in place first.
pub fn generated_with_config(fixture: &str, config: &str) -> Test {
    let t = Test::fixture(fixture)
        .write("imggen.toml", config)
        .args(&["generate"]);
    t.run().code(0);
    t
}

/// Runs `imggen build ARGS --progress plain` in the project, on the host network (the test
/// engine runs without a bridge).
pub fn build(t: Test, args: &[&str]) -> (Test, Run) {
    let mut all = vec!["build", "--progress", "plain", "--network", "host"];
    all.extend_from_slice(args);
    let t = t.args(&all);
    let run = t.run();
    (t, run)
}

/// The registry's manifest digest for `repo:tag` (its Docker-Content-Digest header), asked
/// with a plain HTTP HEAD request; `user` is `name:password` for basic auth.
pub fn registry_digest(registry: &str, repo: &str, tag: &str, user: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).unwrap_or_else(|e| {
        panic!("registry {registry} is not reachable ({e}); `.ci/run` starts it")
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = user
        .map(|u| format!("Authorization: Basic {}\r\n", base64_encode(u)))
        .unwrap_or_default();
    let request = format!(
        "HEAD /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\n{auth}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = String::new();
    let _ = stream.read_to_string(&mut head);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "HEAD {registry}/v2/{repo}/manifests/{tag}: {head}"
    );
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Docker-Content-Digest in {head}"))
}

/// The `REF@sha256:...` line imggen printed for `reference`, as its digest.
pub fn printed_digest(run: &Run, reference: &str) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{reference}@")))
        .unwrap_or_else(|| panic!("no digest for {reference} on stdout: {}", run.stdout))
        .to_string()
}

/// The size in bytes of the `context: N files, SIZE` line.
fn context_bytes(run: &Run) -> f64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("context: "))
        .unwrap_or_else(|| panic!("no context line: {}", run.stderr));
    let size = line.split(", ").nth(1).unwrap();
    let mut parts = size.split_whitespace();
    let value: f64 = parts.next().unwrap().parse().unwrap();
    let unit = match parts.next().unwrap() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        other => panic!("unit {other} in {line}"),
    };
    value * unit
}

#[test]
fn axum_builds_with_buildkit_through_the_api_then_serves_as_non_root() {
    if !crate::harness::engine() {
        return;
    }
    let t = generated_with_config(
        "axum-single",
        "version = 1\n\n[image]\nname = \"imggen-test/engine-axum\"\n",
    )
    .write("target/release/big.bin", &"x".repeat(8 * 1024 * 1024))
    .env("SOURCE_DATE_EPOCH", "1700000000");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(t.path())
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fixture"]);
    let sha = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(t.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let short = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(t.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    let (t, run) = build(t, &["--image-platform", "linux/amd64"]);
    run.code(0)
        .stderr_has("with BuildKit")
        .stdout_has(&format!("imggen-test/engine-axum:{short}\n"))
        .stdout_has("imggen-test/engine-axum:latest\n");
    // .dockerignore kept target/ (8 MiB) and .env out of what was sent.
    assert!(context_bytes(&run) < 100.0 * 1024.0, "{}", run.stderr);
    let sent = imggen::context::list_context(t.path(), "Dockerfile").unwrap();
    assert!(sent.contains(&"src/main.rs".to_string()), "{sent:?}");
    assert!(
        !sent
            .iter()
            .any(|p| p.starts_with("target/") || p == ".env" || p.starts_with(".git/")),
        "{sent:?}"
    );

    let image = format!("imggen-test/engine-axum:{short}");
    let label = |key: &str| {
        docker_ok(&[
            "image",
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
            &image,
        ])
        .trim()
        .to_string()
    };
    assert_eq!(label("org.opencontainers.image.revision"), sha);
    assert_eq!(
        label("org.opencontainers.image.created"),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(label("org.opencontainers.image.version"), "0.1.0");
    assert!(
        !t.read("Dockerfile").contains(&sha),
        "the Dockerfile stays byte-stable"
    );
    assert_serves_and_stops(&image, "/health");
    let uid = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "id",
        &image,
        "-u",
    ]);
    assert_ne!(uid.trim(), "0", "id -u in the container");

    // A drifted generated file stops the build with the diff, unless --allow-dirty.
    let dockerfile = t.read("Dockerfile");
    let t = t.write("Dockerfile", &format!("{dockerfile}# local edit\n"));
    let (t, run) = build(t, &["--tag", "imggen-test/engine-axum:dirty"]);
    run.code(2)
        .stdout_has("-# local edit")
        .one_error_line()
        .stderr_has("--allow-dirty");
    let (_, run) = build(
        t,
        &["--tag", "imggen-test/engine-axum:dirty", "--allow-dirty"],
    );
    run.code(0).stderr_has("warning: building with Dockerfile");
}

#[test]
fn musl_scratch_image_holds_only_the_binary_certificates_and_user_files() {
    if !crate::harness::engine() {
        return;
    }
    let (_, run) = build(
        generated("musl-static"),
        &["--tag", "imggen-test/engine-musl:1"],
    );
    run.code(0);
    assert_serves_and_stops("imggen-test/engine-musl:1", "/healthz");
    let id = docker_ok(&["create", "imggen-test/engine-musl:1"]);
    let c = Container(id.trim().to_string());
    let out = docker().args(["export", &c.0]).output().unwrap();
    assert!(out.status.success(), "docker export: {out:?}");
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        if entry.header().entry_type().is_dir() {
            dirs.insert(path);
        } else {
            files.insert(path);
        }
    }
    // What the engine adds to every container's filesystem, whatever the image.
    for injected in [
        ".dockerenv",
        "dev/console",
        "etc/hostname",
        "etc/hosts",
        "etc/mtab",
        "etc/resolv.conf",
    ] {
        files.remove(injected);
    }
    let want: BTreeSet<String> = [
        "etc/group",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
        "usr/local/bin/tiny-static",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(files, want);
    assert!(dirs.contains("tmp"), "{dirs:?}");
}

#[test]
fn workspace_builds_with_the_classic_builder_and_runs_the_chosen_binary() {
    if !crate::harness::engine() {
        return;
    }
    let t = generated_classic("workspace").env("DOCKER_BUILDKIT", "0");
    let (t, run) = build(t, &["--tag", "imggen-test/engine-workspace:classic"]);
    run.code(0).stderr_has("with the classic builder");
    let top = assert_serves_and_stops("imggen-test/engine-workspace:classic", "/healthz");
    assert!(top.contains("/usr/local/bin/api"), "{top}");
    assert!(!top.contains("worker") && !top.contains("reindex"), "{top}");
    // The live view, forced onto a pipe: ANSI redraws, a check mark per finished step.
    let t = t.args(&[
        "build",
        "--network",
        "host",
        "--progress",
        "tty",
        "--tag",
        "imggen-test/engine-workspace:classic",
    ]);
    let run = t.run();
    run.code(0)
        .stderr_has("\u{1b}[")
        .stderr_has("✓")
        .stderr_has("#1 [1/");
}

#[test]
fn the_default_dockerfile_needs_buildkit_and_builds_with_it() {
    if !crate::harness::engine() {
        return;
    }
    let t = Test::fixture("workspace").write("imggen.toml", "version = 1\nbin = \"api\"\n");
    let t = t.args(&["generate"]);
    t.run().code(0);
    assert!(t.read("Dockerfile").contains("RUN --mount=type=cache"));
    let (t, run) = build(
        t.env("DOCKER_BUILDKIT", "0"),
        &["--tag", "imggen-test/engine-workspace:mounts"],
    );
    run.code(2)
        .one_error_line()
        .stderr_has("BuildKit cache mounts")
        .stderr_has("set cache_mounts = false in imggen.toml");
    let (_, run) = build(
        t.env("DOCKER_BUILDKIT", "1"),
        &["--tag", "imggen-test/engine-workspace:mounts"],
    );
    run.code(0).stderr_has("with BuildKit");
    assert_serves_and_stops("imggen-test/engine-workspace:mounts", "/healthz");
}

/// The `#N` id of the step whose title contains `step` in a plain-progress build log.
fn step_id<'a>(run: &'a Run, step: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.starts_with('#') && l.contains(step))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step `{step}` in:\n{}", run.stderr))
}

/// The crates a plain-progress build log says were compiled in the step whose title contains
/// `step`, by name.
pub fn compiled_in_step(run: &Run, step: &str) -> Vec<String> {
    let prefix = format!("{} ", step_id(run, step));
    run.stderr
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split_once("Compiling ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next().map(String::from))
        .collect()
}

/// The body `image`, run on a free loopback port, answers on `path` (within 30 s).
fn body_of(image: &str, path: &str) -> Option<String> {
    let port = free_port();
    let _c = crate::docker::run_container(image, port);
    crate::docker::http_get(port, path, Duration::from_secs(30)).map(|g| g.1)
}

/// Dates every file of a checkout now, as a fresh clone on a CI runner does.
pub fn fresh_checkout(dir: &std::path::Path) {
    date_files(dir, std::time::SystemTime::now());
}

/// Dates every file of the project (outside `target/`) `time`.
pub fn date_files(dir: &std::path::Path, time: std::time::SystemTime) {
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != "target")
    {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap();
            file.set_modified(time).unwrap();
        }
    }
}

/// True when the plain-progress build log says the step whose title contains `step` was cached.
fn step_cached(run: &Run, step: &str) -> bool {
    let cached = format!("{} CACHED", step_id(run, step));
    run.stderr.lines().any(|l| l == cached)
}

#[test]
fn the_default_dockerfile_keeps_compiled_dependencies_across_an_edit_and_a_new_dependency() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_kept();
    let id = unique("warm");
    let tag = format!("imggen-test/engine-warm:{id}");
    let t = generated_with_own_mount("axum-single", &id);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert!(
        compiled_in_step(&run, "cargo chef cook").contains(&"tokio".to_string()),
        "{}",
        run.stderr
    );

    // A one-line edit: the dependency layer is reused and only the service compiles, from its
    // edited source (no stale binary).
    let source = t.read("src/main.rs").replacen("\"ok\"", "\"ok-edited\"", 1);
    let t = t.write("src/main.rs", &source);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["hello-axum"],
        "{}",
        run.stderr
    );
    // The planner reads the manifests and the entry files' paths only: an edit runs neither it
    // nor the cook.
    assert!(step_cached(&run, "cargo chef prepare"), "{}", run.stderr);
    assert!(step_cached(&run, "cargo chef cook"), "{}", run.stderr);
    assert_eq!(body_of(&tag, "/health").as_deref(), Some("ok-edited"));

    // A dependency added: the recipe changed, so the cook runs again, in the warm target mount:
    // it compiles the new crate (and cargo-chef's stub of the service), no other dependency.
    let added = Command::new("cargo")
        .args(["add", "hex@0.4"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let (_t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    let mut cooked = compiled_in_step(&run, "cargo chef cook");
    cooked.sort();
    assert_eq!(cooked, ["hello-axum", "hex"], "{}", run.stderr);
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["hello-axum"],
        "{}",
        run.stderr
    );
    let _ = docker().args(["rmi", &tag]).output();
}

/// A fresh checkout with one crate changed, then a dependency added to one crate of a workspace:
/// the cook compiles it (and cargo-chef's stubs) in its own mount, and the build recompiles only
/// that crate, not the library it uses, whose real build stays in the build's mount; the image
/// serves the library's real code.
#[test]
fn a_dependency_added_to_one_workspace_crate_rebuilds_only_that_crate() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_kept();
    let id = unique("wsdep");
    let tag = format!("imggen-test/engine-wsdep:{id}");
    let t = generated_with_own_mount("workspace", &id);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    let mut built = compiled_in_step(&run, "find . -path ./target");
    built.sort();
    assert_eq!(built, ["api", "shared"], "{}", run.stderr);

    // A fresh checkout (as in CI) dates every file now; only the crate whose source changed
    // compiles, not the library whose content is the last build's.
    fresh_checkout(t.path());
    let source = t.read("crates/api/src/main.rs") + "\n// a change to the service only\n";
    let t = t.write("crates/api/src/main.rs", &source);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["api"],
        "{}",
        run.stderr
    );

    let added = Command::new("cargo")
        .args(["add", "hex@0.4", "--package", "api"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let (_t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert!(
        compiled_in_step(&run, "cargo chef cook").contains(&"hex".to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["api"],
        "{}",
        run.stderr
    );
    assert_eq!(body_of(&tag, "/api/hello").as_deref(), Some("hello"));
    let _ = docker().args(["rmi", &tag]).output();
}

#[test]
fn an_edit_leaves_the_times_of_an_older_unchanged_checkout_alone() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_kept();
    let id = unique("wsold");
    let tag = format!("imggen-test/engine-wsold:{id}");
    let t = generated_with_own_mount("workspace", &id);
    // A developer's checkout: every file older than the first build in the mount.
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
    date_files(t.path(), old);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);

    let source = t.read("crates/api/src/main.rs") + "\n// a change to the service only\n";
    let t = t.write("crates/api/src/main.rs", &source);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["api"],
        "{}",
        run.stderr
    );
    // The build step's layer (the builder stage, built by hand on the same mounts): the
    // unchanged library keeps its own time, so no step copied it into its layer.
    let builder = format!("{tag}-builder");
    let out = docker()
        .args([
            "build",
            "--network",
            "host",
            "--target",
            "builder",
            "-t",
            &builder,
            ".",
        ])
        .env("DOCKER_BUILDKIT", "1")
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let time = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "stat",
        &builder,
        "-c",
        "%Y",
        "crates/shared/src/lib.rs",
    ]);
    assert_eq!(time.trim(), "1577836800");
    let _ = docker().args(["rmi", &tag, &builder]).output();
}

/// A target mount whose compiles are dated an hour ahead (a previous build from a machine whose
/// clock runs ahead of this one): an edit still compiles, and the image serves the edited code.
#[test]
fn an_edit_compiles_over_a_previous_build_dated_ahead_of_this_clock() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_kept();
    let id = unique("ahead");
    let tag = format!("imggen-test/engine-ahead:{id}");
    let t = generated_with_own_mount("axum-single", &id);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0);

    // Every fingerprint in the build's target mount moved an hour ahead, by a build on the same
    // mount.
    let dockerfile = t.read("Dockerfile");
    let mount = dockerfile
        .split("id=")
        .map(|s| s.split(',').next().unwrap())
        .find(|s| s.starts_with(&format!("imggen-target-{id}-")))
        .expect("the build's target mount");
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let shift = tempfile::tempdir().unwrap();
    std::fs::write(
        shift.path().join("Dockerfile"),
        format!(
            "FROM debian:bookworm-slim\nRUN --mount=type=cache,id={mount},target=/t,sharing=locked \
             find /t -path '*/.fingerprint/*' -name 'dep-*' -exec touch -d @{ahead} {{}} +\n"
        ),
    )
    .unwrap();
    let out = docker()
        .args(["build", "--network", "host", "-q", "."])
        .env("DOCKER_BUILDKIT", "1")
        .current_dir(shift.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let source = t.read("src/main.rs").replacen("\"ok\"", "\"ok-ahead\"", 1);
    let t = t.write("src/main.rs", &source);
    let (_t, run) = build(t, &["--tag", &tag]);
    run.code(0);
    assert_eq!(
        compiled_in_step(&run, "find . -path ./target"),
        ["hello-axum"],
        "{}",
        run.stderr
    );
    assert_eq!(body_of(&tag, "/health").as_deref(), Some("ok-ahead"));
    let _ = docker().args(["rmi", &tag]).output();
}

#[test]
fn push_prints_the_registry_digest_with_each_kind_of_credentials() {
    if !crate::harness::engine() {
        return;
    }
    let Some(password) = registry_password() else {
        return;
    };
    let tag = unique("push");
    let open = format!("127.0.0.1:5000/imggen-test/engine-push:{tag}");
    let _untag = Untag(
        ["127.0.0.1:5000", "127.0.0.1:5001"]
            .iter()
            .flat_map(|r| {
                ["", "-helper", "-store", "-anon", "-wrong"]
                    .map(|s| format!("{r}/imggen-test/engine-push:{tag}{s}"))
            })
            .collect(),
    );
    let (t, run) = build(generated("axum-single"), &["--tag", &open, "--push"]);
    run.code(0);
    assert_eq!(
        printed_digest(&run, &open),
        registry_digest("127.0.0.1:5000", "imggen-test/engine-push", &tag, None)
    );

    // auths (base64 user:password) in $DOCKER_CONFIG/config.json; --write-digest records it.
    let auth = format!("127.0.0.1:5001/imggen-test/engine-push:{tag}");
    let config = tempfile::tempdir().unwrap();
    let encoded = base64_encode(&format!("ci:{password}"));
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{encoded}"}}}}}}"#),
    )
    .unwrap();
    let kept = "# kept\nversion = 1\nplatforms = [\"fly\"]\n\n[image]\nname = \"127.0.0.1:5001/imggen-test/engine-push\"\n";
    let t = t
        .write("imggen.toml", kept)
        .env("DOCKER_CONFIG", config.path().to_str().unwrap())
        .args(&["generate"]);
    t.run().code(0);
    let (t, run) = build(t, &["--tag", &auth, "--push", "--write-digest"]);
    run.code(0)
        .stderr_has("recorded sha256:")
        .stderr_has("updated fly.toml");
    let digest = printed_digest(&run, &auth);
    assert_eq!(
        digest,
        registry_digest(
            "127.0.0.1:5001",
            "imggen-test/engine-push",
            &tag,
            Some(&format!("ci:{password}"))
        )
    );
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password));
    let image =
        docker_ok(&["image", "inspect", &auth]) + &docker_ok(&["history", "--no-trunc", &auth]);
    assert!(
        !image.contains(&password),
        "the registry password is in the image"
    );
    let recorded = t.read("imggen.toml");
    assert!(recorded.starts_with(kept), "{recorded}");
    assert!(
        recorded.ends_with(&format!("digest = \"{digest}\"\n")),
        "{recorded}"
    );
    // The deploy files were refreshed: fly deploys the pushed digest and nothing drifted, so
    // the builds below need no --allow-dirty.
    assert!(
        t.read("fly.toml").contains(&format!(
            "image = \"127.0.0.1:5001/imggen-test/engine-push@{digest}\""
        )),
        "{}",
        t.read("fly.toml")
    );
    let t = t.args(&["generate", "--check"]);
    t.run().code(0);

    // A docker-credential-* helper named in credHelpers.
    let helper_dir = tempfile::tempdir().unwrap();
    let helper = helper_dir.path().join("docker-credential-imggentest");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = 127.0.0.1:5001 ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"{password}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let helper_config = tempfile::tempdir().unwrap();
    std::fs::write(
        helper_config.path().join("config.json"),
        r#"{"credHelpers": {"127.0.0.1:5001": "imggentest"}}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helper_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let helped = format!("127.0.0.1:5001/imggen-test/engine-push:{tag}-helper");
    let t = t
        .env("DOCKER_CONFIG", helper_config.path().to_str().unwrap())
        .env("PATH", &path);
    let (t, run) = build(t, &["--tag", &helped, "--push"]);
    run.code(0);
    assert_eq!(
        printed_digest(&run, &helped),
        registry_digest(
            "127.0.0.1:5001",
            "imggen-test/engine-push",
            &format!("{tag}-helper"),
            Some(&format!("ci:{password}"))
        )
    );

    // The same helper as the default store (`credsStore`), for every registry.
    let store_config = tempfile::tempdir().unwrap();
    std::fs::write(
        store_config.path().join("config.json"),
        r#"{"credsStore": "imggentest"}"#,
    )
    .unwrap();
    let stored = format!("127.0.0.1:5001/imggen-test/engine-push:{tag}-store");
    let t = t.env("DOCKER_CONFIG", store_config.path().to_str().unwrap());
    let (t, run) = build(t, &["--tag", &stored, "--push"]);
    run.code(0);
    assert_eq!(
        printed_digest(&run, &stored),
        registry_digest(
            "127.0.0.1:5001",
            "imggen-test/engine-push",
            &format!("{tag}-store"),
            Some(&format!("ci:{password}"))
        )
    );

    // No credentials for the registry that needs them: one error sentence, exit 2.
    let empty = tempfile::tempdir().unwrap();
    let t = t.env("DOCKER_CONFIG", empty.path().to_str().unwrap());
    let (t, run) = build(t, &["--tag", &format!("{auth}-anon"), "--push"]);
    run.code(2)
        .stderr_has("requires credentials")
        .stderr_has("docker login 127.0.0.1:5001");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Caused by"), "{}", run.stderr);

    // Wrong password from the environment, an unreachable registry, an invalid tag.
    let (t, run) = build(
        t.env("IMGGEN_REGISTRY_USERNAME", "ci")
            .env("IMGGEN_REGISTRY_PASSWORD", "wrong-password"),
        &["--tag", &format!("{auth}-wrong"), "--push"],
    );
    run.code(2)
        .stderr_has("refused the credentials from IMGGEN_REGISTRY_USERNAME");
    assert!(!run.stderr.contains("wrong-password"), "{}", run.stderr);
    let port = free_port();
    let (t, run) = build(
        t,
        &["--tag", &format!("127.0.0.1:{port}/x:{tag}"), "--push"],
    );
    run.code(2)
        .stderr_has(&format!("the registry 127.0.0.1:{port} is unreachable"));
    let (_, run) = build(t, &["--tag", "127.0.0.1:5000/Upper:1", "--push"]);
    run.code(2).one_error_line().stderr_has("must be lowercase");
}

#[test]
fn a_compile_error_exits_1_and_shows_rustc_output() {
    if !crate::harness::engine() {
        return;
    }
    let (_, run) = build(
        generated("broken"),
        &["--tag", "imggen-test/engine-broken:1"],
    );
    run.code(1).stderr_has("error[E0308]: mismatched types");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the image build failed at `") && last.contains("exit code 101"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_engine_that_is_not_running_is_one_error_line_and_exit_2() {
    let t = generated("axum-single").env("DOCKER_HOST", "unix:///nonexistent.sock");
    let (_, run) = build(t, &[]);
    run.code(2)
        .one_error_line()
        .stderr_has("no container engine is answering at unix:///nonexistent.sock");
}

/// Removes the local tags of a run's unique references when the test ends.
pub struct Untag(pub Vec<String>);

impl Drop for Untag {
    fn drop(&mut self) {
        for r in &self.0 {
            let _ = docker().args(["rmi", r]).output();
        }
    }
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The `run:` script of the build job's `build` step in a generated workflow.
fn build_step_script(workflow: &str) -> String {
    let doc: serde_json::Value = serde_saphyr::from_str(workflow).unwrap();
    doc["jobs"]["build"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "build")
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("no build step in\n{workflow}"))
        .to_string()
}

#[test]
fn the_github_build_job_builds_pushes_and_exports_the_digest() {
    if !crate::harness::engine() {
        return;
    }
    let t = Test::fixture("multi-bin")
        .write(
            "imggen.toml",
            "version = 1\nplatforms = [\"github-actions\"]\n",
        )
        .args(&["generate"]);
    t.run().code(0);
    let script = build_step_script(&t.read(".github/workflows/imggen.yml"));
    // This machine's substitutions: the loopback registry, and the host network (the test
    // engine runs without a bridge).
    let repo = format!("127.0.0.1:5000/imggen-test/{}", unique("ci-build"));
    let image_line = script
        .lines()
        .find(|l| l.starts_with("image="))
        .unwrap_or_else(|| panic!("no image= line in\n{script}"));
    let script = script
        .replace(image_line, &format!("image=\"{repo}\""))
        .replace("imggen build ", "imggen build --network host ");
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_imggen"), bin.path().join("imggen")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = t.path().join("github-output");
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(t.path())
        .env("PATH", path)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF_NAME", "main")
        .env("DEFAULT_BRANCH", "main")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    let digest = outputs
        .lines()
        .find_map(|l| l.strip_prefix("digest="))
        .unwrap_or_else(|| panic!("no digest= in {outputs:?}"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let tag = "0123456789abcdef0123456789abcdef01234567";
    assert!(
        outputs.contains(&format!("image={repo}@{digest}\n")),
        "{outputs}"
    );
    let (host, name) = repo.split_once('/').unwrap();
    assert_eq!(registry_digest(host, name, tag, None), digest);
    // The default branch refreshed the cache image.
    assert!(
        stderr.contains(&format!("pushed the cache image {repo}:buildcache")),
        "{stderr}"
    );
}

#[test]
fn imggen_build_sends_the_context_above_a_monorepo_example() {
    if !crate::harness::engine() {
        return;
    }
    let t = Test::fixture("monorepo").args(&["generate", "examples"]);
    t.run().code(0);
    let tag = "imggen-test/engine-monorepo:context";
    let (_, run) = build(t, &["--tag", tag, "examples"]);
    run.code(0)
        .stderr_has("(holds the path dependencies)")
        .stderr_has("after Dockerfile.dockerignore");
    assert_serves_and_stops(tag, "/health");
    let _ = docker().args(["rmi", "-f", tag]).output();
}
