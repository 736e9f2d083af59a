//! Lockfile checks: a stale Cargo.lock and a `compile_error!` feature gate stop imggen before
//! any file is written; known breakages warn; native packages follow the chosen binary only.

use crate::harness::{fixture_path, Test};

/// The fixture's Cargo.lock without the `[[package]]` entry named `name`.
fn lock_without(fixture: &str, name: &str) -> String {
    let lock = std::fs::read_to_string(fixture_path(fixture).join("Cargo.lock")).unwrap();
    let blocks: Vec<&str> = lock.split("\n[[package]]\n").collect();
    let kept: Vec<&str> = blocks
        .iter()
        .copied()
        .filter(|b| !b.starts_with(&format!("name = \"{name}\"\n")))
        .collect();
    assert_eq!(kept.len() + 1, blocks.len(), "one entry {name} in {lock}");
    kept.join("\n[[package]]\n")
}

#[test]
fn stale_version_of_the_root_package_is_an_error_before_any_file_is_written() {
    let t = Test::fixture("stale-lock").args(&["generate"]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("package stale-app at 0.1.0 but Cargo.toml says 0.2.0")
        .stderr_has("`cargo update -p stale-app`");
    assert!(!t.path().join("Dockerfile").exists(), "nothing is written");
    t.args(&["plan"]).run().code(2).one_error_line();
}

#[test]
fn path_dependency_missing_from_the_lock_is_an_error() {
    let fixed = std::fs::read_to_string(fixture_path("stale-lock").join("Cargo.lock"))
        .unwrap()
        .replace(
            "name = \"stale-app\"\nversion = \"0.1.0\"",
            "name = \"stale-app\"\nversion = \"0.2.0\"",
        );
    let t = Test::fixture("stale-lock")
        .write("Cargo.lock", &fixed)
        .args(&["plan"]);
    t.run().code(0);
    let t = t
        .write(
            "Cargo.lock",
            &lock_without("stale-lock", "helper")
                .replace("0.1.0\"\ndependencies", "0.2.0\"\ndependencies"),
        )
        .args(&["plan"]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("no entry for package helper (helper/Cargo.toml)")
        .stderr_has("`cargo generate-lockfile`");
}

#[test]
fn workspace_member_missing_or_at_another_inherited_version_is_an_error() {
    let t = Test::fixture("lock-closure")
        .write("Cargo.lock", &lock_without("lock-closure", "worker"))
        .args(&["generate"]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("no entry for package worker (worker/Cargo.toml)");
    assert!(!t.path().join("Dockerfile").exists(), "nothing is written");

    let manifest = std::fs::read_to_string(fixture_path("lock-closure").join("Cargo.toml"))
        .unwrap()
        .replace("version = \"0.2.0\"", "version = \"0.3.0\"");
    Test::fixture("lock-closure")
        .write("Cargo.toml", &manifest)
        .args(&["plan"])
        .run()
        .code(2)
        .one_error_line()
        .stderr_has("at 0.2.0 but api/Cargo.toml says 0.3.0")
        .stderr_has("`cargo update -p api`");
}

#[test]
fn native_packages_come_from_the_chosen_binary_only() {
    let api = Test::fixture("lock-closure").args(&["plan"]).run();
    api.code(0);
    for lib in ["libpq", "libsqlite3", "libssl", "pkg-config"] {
        assert!(
            !api.stdout.contains(lib),
            "api needs no {lib}: {}",
            api.stdout
        );
    }
    Test::fixture("lock-closure")
        .args(&["plan", "--features", "postgres"])
        .run()
        .code(0)
        .stdout_has("libpq-dev")
        .stdout_has("(pq-sys <- shared <- api)");
    let worker = Test::fixture("lock-closure")
        .args(&["plan", "--bin", "worker"])
        .run();
    worker
        .code(0)
        .stdout_has("libsqlite3-dev")
        .stdout_has("(libsqlite3-sys <- worker)")
        .stdout_has("(openssl-sys <- worker)");
    assert!(!worker.stdout.contains("libpq"), "{}", worker.stdout);
}

#[test]
fn old_time_warns_with_rust_1_80_and_newer_only() {
    Test::fixture("old-time")
        .args(&["plan"])
        .run()
        .code(0)
        .stdout_has("Cargo.lock locks time 0.3.30")
        .stdout_has("`cargo update -p time`")
        .stdout_has("pin rust_version below 1.80");
    let old = Test::fixture("old-time")
        .args(&["plan", "--rust-version", "1.79"])
        .run();
    old.code(0);
    assert!(!old.stdout.contains("time 0.3.30"), "{}", old.stdout);
}

#[test]
fn compile_error_feature_gate_needs_one_of_its_features() {
    let t = Test::fixture("feature-gate").args(&["generate"]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("src/main.rs:3: package gated refuses to compile")
        .stderr_has("`postgres`, `sqlite`")
        .stderr_has("`--features postgres`");
    assert!(!t.path().join("Dockerfile").exists(), "nothing is written");
    t.args(&["generate", "--features", "sqlite"]).run().code(0);
}

/// A gate in the build script (which cargo compiles before the package) counts as one in src/.
#[test]
fn compile_error_feature_gate_in_the_build_script_needs_one_of_its_features() {
    let gate = "fn main() {\n    #[cfg(not(any(feature = \"postgres\", feature = \"sqlite\")))]\n    compile_error!(\"enable one database backend\");\n}\n";
    let t = Test::fixture("feature-gate")
        .write("src/main.rs", "fn main() {}\n")
        .write("build.rs", gate)
        .args(&["generate"]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("build.rs:3: package gated refuses to compile")
        .stderr_has("`postgres`, `sqlite`");
    assert!(!t.path().join("Dockerfile").exists(), "nothing is written");
    t.args(&["generate", "--features", "postgres"])
        .run()
        .code(0);
}

/// The api image of `lock-closure` is built on the real engine: it holds none of the libraries
/// of the native crates only `worker` and the `db` feature use.
#[test]
fn image_of_a_binary_holds_no_library_of_another_binarys_native_crates() {
    use crate::docker::{docker, docker_ok};
    if !crate::harness::engine() {
        return;
    }
    let t = Test::fixture("lock-closure").args(&["generate"]);
    t.run().code(0);
    let tag = "imggen-test/lockcheck-closure-api:evidence";
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "host", "-t", tag, "."])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        tag,
        "-c",
        "ls /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu && echo ==ldd== && ldd /usr/local/bin/api",
    ]);
    assert!(
        listing.contains("libc.so.6"),
        "the probe lists libraries: {listing}"
    );
    for lib in ["libpq.so", "libsqlite3.so"] {
        assert!(!listing.contains(lib), "{lib} in the api image: {listing}");
    }
    let linked = listing.split("==ldd==").nth(1).unwrap_or_default();
    assert!(!linked.contains("libssl"), "api links no libssl: {listing}");
}

/// A path package outside the workspace is locked without its dev-dependencies and without the
/// optional ones no member turns on; turning one on makes the lock stale, as for cargo.
#[test]
fn path_package_outside_the_workspace_is_checked_as_cargo_locks_it() {
    Test::fixture("scan-path-dev-deps")
        .args(&["plan", "examples/hello"])
        .run()
        .code(0)
        .stdout_has("binary example-hello of package example-hello");
    let manifest = std::fs::read_to_string(
        fixture_path("scan-path-dev-deps").join("examples/hello/Cargo.toml"),
    )
    .unwrap()
    .replace(
        "path = \"../../helper\" }",
        "path = \"../../helper\", features = [\"fast\"] }",
    );
    assert!(manifest.contains("[\"fast\"]"), "{manifest}");
    Test::fixture("scan-path-dev-deps")
        .write("examples/hello/Cargo.toml", &manifest)
        .args(&["plan", "examples/hello"])
        .run()
        .code(2)
        .stderr_has(
            "error: ../helper/Cargo.toml depends on itoa, which Cargo.lock does not list for package helper",
        );
}
