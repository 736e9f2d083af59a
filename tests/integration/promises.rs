//! One test per promise of README.md that no other test pinned: each runs the imggen binary on a
//! small project written by the test and asserts the documented effect on the plan or the files.

use crate::harness::Test;
use serde_json::Value;

/// A single-package project `app` whose `main.rs` is `main`, whose `Cargo.lock` lists `locked`
/// (`name` or `name>dep1,dep2` for a crate and its dependencies) as dependencies of `app`, and
/// whose manifest ends with `extra`.
fn project(main: &str, locked: &[&str], extra: &str) -> Test {
    let direct: Vec<String> = locked
        .iter()
        .map(|e| format!("\"{}\"", e.split_once('>').map_or(*e, |(n, _)| n)))
        .collect();
    let deps: String = if direct.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = direct.iter().map(|d| format!("{d} = \"1\"\n")).collect();
        format!("\n[dependencies]\n{}", lines.concat())
    };
    let mut lock = format!(
        "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [{}]\n",
        direct.join(", ")
    );
    for entry in locked {
        let (name, deps) = entry.split_once('>').unwrap_or((entry, ""));
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        ));
        if !deps.is_empty() {
            let list: Vec<String> = deps.split(',').map(|d| format!("\"{d}\"")).collect();
            lock.push_str(&format!("dependencies = [{}]\n", list.join(", ")));
        }
    }
    Test::empty()
        .write(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}{deps}"
            ),
        )
        .write("Cargo.lock", &lock)
        .write("src/main.rs", main)
}

const SERVER: &str =
    "fn main() { let l = std::net::TcpListener::bind(\"0.0.0.0:3000\").unwrap(); let _ok = b\"HTTP/1.1 200 OK\\r\\n\\r\\n\"; drop(l); }\n";

/// `imggen plan --format json` with `args`; the `plan` object.
fn plan(t: Test, args: &[&str]) -> Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let t = t.args(&all);
    let run = t.run();
    run.code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["plan"].clone()
}

/// The package names of `list` in `plan`, without `tini` (which the signal analysis adds).
fn names(plan: &Value, list: &str) -> Vec<String> {
    plan[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .filter(|n| n != "tini")
        .collect()
}

#[test]
fn native_dependencies_each_crate_and_each_vendored_exemption() {
    // (lockfile entries, builder packages, runtime packages)
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&[], &[], &[]),
        (
            &["openssl-sys"],
            &["libssl-dev", "pkg-config"],
            &["libssl3"],
        ),
        // A vendored source in the lock alone: a feature this binary leaves off may have put it
        // there, so the system library comes too (the vendoring tools beside it).
        (
            &["openssl-sys>openssl-src", "openssl-src"],
            &["libssl-dev", "make", "perl", "pkg-config"],
            &["libssl3"],
        ),
        (&["pq-sys"], &["libpq-dev", "pkg-config"], &["libpq5"]),
        (
            &["pq-sys>pq-src", "pq-src"],
            &["libpq-dev", "pkg-config"],
            &["libpq5"],
        ),
        (
            &["libsqlite3-sys"],
            &["libsqlite3-dev", "pkg-config"],
            &["libsqlite3-0"],
        ),
        (
            &["libsqlite3-sys>cc", "cc"],
            &["libsqlite3-dev", "pkg-config"],
            &["libsqlite3-0"],
        ),
        (
            &["mysqlclient-sys"],
            &["default-libmysqlclient-dev", "pkg-config"],
            &["libmariadb3"],
        ),
        (
            &["rdkafka-sys"],
            &[
                "cmake",
                "g++",
                "libsasl2-dev",
                "libssl-dev",
                "make",
                "pkg-config",
                "zlib1g-dev",
            ],
            &["libsasl2-2", "libssl3"],
        ),
        (&["aws-lc-sys"], &["cmake"], &[]),
        (&["aws-lc-fips-sys"], &["cmake", "golang"], &[]),
        (&["libz-sys"], &["pkg-config", "zlib1g-dev"], &[]),
        (
            &["prost-build"],
            &["libprotobuf-dev", "protobuf-compiler"],
            &[],
        ),
        (&["prost-build", "protoc-bin-vendored"], &[], &[]),
        (&["prost-build", "protobuf-src"], &[], &[]),
    ];
    for (locked, build, runtime) in cases {
        let p = plan(project(SERVER, locked, ""), &[]);
        let mut b = names(&p, "build_packages");
        let mut r = names(&p, "runtime_packages");
        b.sort();
        r.sort();
        assert_eq!(b, *build, "builder packages for {locked:?}");
        assert_eq!(r, *runtime, "runtime packages for {locked:?}");
    }
    // The package asks for the vendored build (a default feature naming it): only the
    // vendoring tools, no system library.
    let asks = [
        (
            &["openssl-sys>openssl-src", "openssl-src"][..],
            "[features]\ndefault = [\"openssl-sys/vendored\"]\n",
            &["make", "perl"][..],
        ),
        (
            &["pq-sys>pq-src", "pq-src"],
            "[features]\ndefault = [\"pq-sys/bundled\"]\n",
            &[],
        ),
        (
            &["libsqlite3-sys>cc", "cc"],
            "[features]\ndefault = [\"libsqlite3-sys/bundled\"]\n",
            &[],
        ),
    ];
    for (locked, extra, build) in asks {
        let p = plan(project(SERVER, locked, extra), &[]);
        let mut b = names(&p, "build_packages");
        b.sort();
        assert_eq!(b, build, "builder packages for {locked:?} with {extra}");
        assert!(
            names(&p, "runtime_packages").is_empty(),
            "runtime packages for {locked:?} with {extra}"
        );
    }
}

#[test]
fn native_dependencies_under_musl_are_refused_naming_the_fix() {
    let cases: &[(&str, &str)] = &[
        ("openssl-sys", "rustls"),
        ("openssl-sys", "`vendored`"),
        ("pq-sys", "`bundled`"),
        ("libsqlite3-sys", "`bundled`"),
        ("mysqlclient-sys", "pure-Rust MySQL driver"),
        ("rdkafka-sys", "libc = \"gnu\""),
    ];
    for (krate, fix) in cases {
        project(SERVER, &[krate], "")
            .args(&["plan", "--libc", "musl"])
            .run()
            .code(2)
            .one_error_line()
            .stderr_has(krate)
            .stderr_has(fix);
    }
    for vendored in [
        &["openssl-sys>openssl-src", "openssl-src"][..],
        &["pq-sys>pq-src", "pq-src"],
        &["libsqlite3-sys>cc", "cc"],
    ] {
        let p = plan(project(SERVER, vendored, ""), &["--libc", "musl"]);
        assert_eq!(
            p["cargo"]["target"], "x86_64-unknown-linux-musl",
            "{vendored:?}"
        );
    }
}

#[test]
fn toolchain_file_beats_rust_version_beats_default() {
    let manifest = "rust-version = \"1.82\"\n";
    let with_file = project(SERVER, &[], manifest)
        .write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.86.0\"\n");
    let p = plan(with_file, &[]);
    assert_eq!(p["rust_version"], "1.86.0");
    assert!(p["builder_image"]
        .as_str()
        .unwrap()
        .ends_with(":latest-rust-1.86.0-bookworm"));
    let legacy = project(SERVER, &[], manifest).write("rust-toolchain", "1.84.1\n");
    assert_eq!(plan(legacy, &[])["rust_version"], "1.84.1");
    let p = plan(project(SERVER, &[], manifest), &[]);
    assert_eq!(p["rust_version"], "1.82");
    assert!(p["builder_image"]
        .as_str()
        .unwrap()
        .ends_with(":latest-rust-1.82-bookworm"));
    assert_eq!(
        plan(project(SERVER, &[], ""), &[])["rust_version"],
        "1.95.0"
    );
}

#[test]
fn lockfile_format_4_with_rust_older_than_1_78_is_flagged() {
    let warned = |lock_version: u32, rust: &str| -> bool {
        let t = project(SERVER, &[], &format!("rust-version = \"{rust}\"\n"));
        let lock = t
            .read("Cargo.lock")
            .replace("version = 3", &format!("version = {lock_version}"));
        let t = t.write("Cargo.lock", &lock);
        plan(t, &[])["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| {
                w.as_str()
                    .unwrap()
                    .contains("Cargo.lock is format version 4")
            })
    };
    assert!(warned(4, "1.75"));
    assert!(!warned(4, "1.78"));
    assert!(!warned(3, "1.75"));
}

#[test]
fn autobins_false_leaves_only_declared_binaries() {
    let bins = "[[bin]]\nname = \"declared\"\npath = \"src/declared.rs\"\n";
    let t = |autobins: &str| {
        project(SERVER, &[], &format!("{autobins}\n{bins}"))
            .write("src/declared.rs", SERVER)
            .write("src/bin/extra.rs", SERVER)
    };
    t("").args(&["plan"]).run().code(2).stderr_has("extra");
    assert_eq!(plan(t("autobins = false"), &[])["bin"], "declared");
}

#[test]
fn a_binary_in_src_bin_dir_main_rs_is_found() {
    let t = Test::empty()
        .write(
            "Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .write(
            "Cargo.lock",
            "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
        )
        .write("src/bin/tool/main.rs", SERVER);
    assert_eq!(plan(t, &[])["bin"], "tool");
}

#[test]
fn workspace_exclude_drops_a_member() {
    let member = |name: &str| {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
    };
    let t = |exclude: &str| {
        Test::empty()
            .write(
                "Cargo.toml",
                &format!("[workspace]\nmembers = [\"crates/*\"]\n{exclude}resolver = \"2\"\n"),
            )
            .write(
                "Cargo.lock",
                "version = 3\n\n[[package]]\nname = \"api\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"old\"\nversion = \"0.1.0\"\n",
            )
            .write("crates/api/Cargo.toml", &member("api"))
            .write("crates/api/src/main.rs", SERVER)
            .write("crates/old/Cargo.toml", &member("old"))
            .write("crates/old/src/main.rs", SERVER)
    };
    t("").args(&["plan"]).run().code(2).stderr_has("old");
    assert_eq!(plan(t("exclude = [\"crates/old\"]\n"), &[])["bin"], "api");
}

const NO_ADDRESS: &str = "fn main() { let l = std::net::TcpListener::bind(addr()).unwrap(); drop(l); }\nfn addr() -> String { String::new() }\n";

#[test]
fn port_from_config_dir_and_rocket_toml() {
    assert_eq!(plan(project(NO_ADDRESS, &[], ""), &[])["port"], 8080);
    let t = project(NO_ADDRESS, &[], "").write("config/default.toml", "port = 4321\n");
    assert_eq!(plan(t, &[])["port"], 4321);
    let t = project(NO_ADDRESS, &[], "")
        .write("configuration/base.yaml", "application:\n  port: 4322\n");
    assert_eq!(plan(t, &[])["port"], 4322);
    let t = project(NO_ADDRESS, &[], "").write("Rocket.toml", "[default]\nport = 4323\n");
    assert_eq!(plan(t, &[])["port"], 4323);
}

#[test]
fn binding_loopback_is_flagged_and_any_address_is_not() {
    let loopback = |p: &Value| {
        p["warnings"].as_array().unwrap().iter().any(|w| {
            w.as_str()
                .unwrap()
                .contains("nothing outside the container can reach")
        })
    };
    let local = SERVER.replace("0.0.0.0", "127.0.0.1");
    assert!(loopback(&plan(project(&local, &[], ""), &[])));
    assert!(!loopback(&plan(project(SERVER, &[], ""), &[])));
}

#[test]
fn signal_analysis_per_handler() {
    // (source lines added to a server, stop signal, init)
    let cases: &[(&str, &str, bool)] = &[
        ("", "SIGTERM", true),
        (
            "fn h() { unsafe { libc::signal(libc::SIGTERM, 0) }; }",
            "SIGTERM",
            false,
        ),
        (
            "fn h() { nix::sys::signal::sigaction(Signal::SIGTERM, &a); }",
            "SIGTERM",
            false,
        ),
        (
            "fn h() { HttpServer::new(|| App::new()); }",
            "SIGTERM",
            false,
        ),
        (
            "#[launch]\nfn rocket() -> _ { rocket::build() }",
            "SIGTERM",
            false,
        ),
        (
            "fn h() { let s = signal_hook::iterator::Signals::new([SIGTERM]); }",
            "SIGTERM",
            false,
        ),
        (
            "fn h() { ctrlc::set_handler(|| ()).unwrap(); }",
            "SIGINT",
            true,
        ),
    ];
    for (code, signal, init) in cases {
        let p = plan(project(&format!("{SERVER}{code}\n"), &[], ""), &[]);
        assert_eq!(p["signal"]["stop_signal"], *signal, "{code}");
        assert_eq!(p["signal"]["init"], *init, "{code}");
    }
}

#[test]
fn each_documented_health_route_is_found() {
    assert_eq!(
        plan(project(SERVER, &[], ""), &[])["health_path"],
        Value::Null
    );
    for route in ["/healthz", "/health", "/health_check", "/livez"] {
        let src = format!("{SERVER}fn r() {{ route(\"{route}\", get(ok)); }}\n");
        assert_eq!(plan(project(&src, &[], ""), &[])["health_path"], route);
    }
}

/// A server with a `PORT` lookup, a health route, a SIGTERM handler, a feature `extra`, two
/// binaries (`app`, the
/// default run, and `other`) and a `data/` directory.
fn service() -> Test {
    let main = "fn main() { let port = std::env::var(\"PORT\").unwrap_or(\"3000\".into()); \
                let l = std::net::TcpListener::bind(format!(\"0.0.0.0:{port}\")).unwrap(); drop(l); }\n\
                fn r() { route(\"/healthz\", get(ok)); }\n\
                fn stop() { let _ = SignalKind::terminate(); }\n";
    project(
        main,
        &[],
        "default-run = \"app\"\n\n[features]\ndefault = []\nextra = []\n",
    )
    .write("src/bin/other.rs", SERVER)
    .write("data/seed.txt", "seed\n")
}

/// The generated files of `generate` with `config` as imggen.toml and `flags`, concatenated
/// with their names.
fn generated(config: &str, flags: &[&str]) -> String {
    generated_with_env(config, flags, None)
}

/// As [`generated`], with one `IMGGEN_*` variable set.
fn generated_with_env(config: &str, flags: &[&str], env: Option<(&str, &str)>) -> String {
    let mut t = service().write(
        "imggen.toml",
        &format!("version = 1\nplatforms = [\"fly\", \"cloud-run\", \"render\", \"vm\"]\n{config}"),
    );
    if let Some((k, v)) = env {
        t = t.env(k, v);
    }
    let mut args = vec!["generate"];
    args.extend_from_slice(flags);
    let t = t.args(&args);
    t.run().code(0);
    let mut all = String::new();
    for f in [
        "Dockerfile",
        "fly.toml",
        "deploy/cloud-run/service.yaml",
        "render.yaml",
        "deploy/vm/app.service",
    ] {
        if t.path().join(f).exists() {
            all.push_str(&format!("=== {f}\n{}", t.read(f)));
        }
    }
    all
}

#[test]
fn every_configuration_key_and_flag_changes_the_output_as_documented() {
    let baseline = generated("", &[]);
    // (imggen.toml lines, the same as flags (empty: no flag), texts the output gains)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "bin = \"other\"\n",
            &["--bin", "other"],
            &["--bin other", "/usr/local/bin/other\"]"],
        ),
        (
            "profile = \"dev\"\n",
            &["--profile", "dev"],
            &["--profile dev", "target/debug/app"],
        ),
        (
            "features = [\"extra\"]\n",
            &["--features", "extra"],
            &["--features extra"],
        ),
        (
            "no_default_features = true\n",
            &["--no-default-features"],
            &["--no-default-features"],
        ),
        (
            "libc = \"musl\"\n",
            &["--libc", "musl"],
            &[
                "--target x86_64-unknown-linux-musl",
                "FROM scratch AS runtime",
            ],
        ),
        (
            "base = \"distroless-cc\"\n",
            &["--base", "distroless-cc"],
            &["FROM gcr.io/distroless/cc-debian12"],
        ),
        (
            "rust_version = \"1.90\"\n",
            &["--rust-version", "1.90"],
            &["cargo-chef:latest-rust-1.90-bookworm"],
        ),
        (
            "port = 4000\n",
            &["--port", "4000"],
            &[
                "EXPOSE 4000",
                "ENV PORT=4000",
                "internal_port = 4000",
                "containerPort: 4000",
            ],
        ),
        (
            "cache_mounts = false\n",
            &["--no-cache-mounts"],
            &[
                "RUN cargo chef prepare",
                "RUN cargo chef cook",
                "RUN find . -path ./target -prune",
            ],
        ),
        (
            "builder_image = \"lukemathwalker/cargo-chef:0.1.73-rust-1.91.0-bookworm\"\n",
            &[],
            &["FROM lukemathwalker/cargo-chef:0.1.73-rust-1.91.0-bookworm"],
        ),
        (
            "health_path = \"/ready\"\n",
            &[],
            &["path: \"/ready\"", "healthCheckPath: \"/ready\""],
        ),
        (
            "stop_signal = \"SIGQUIT\"\n",
            &[],
            &[
                "STOPSIGNAL SIGQUIT",
                "kill_signal = \"SIGQUIT\"",
                "KillSignal=SIGQUIT",
            ],
        ),
        ("init = true\n", &[], &["tini"]),
        ("include = [\"data\"]\n", &[], &["/rootfs/app/data"]),
        (
            "build_packages = [\"protobuf-compiler\"]\n",
            &[],
            &["protobuf-compiler"],
        ),
        ("runtime_packages = [\"curl\"]\n", &[], &["curl"]),
        ("[env]\nGREETING = \"hi\"\n", &[], &["GREETING"]),
        (
            "libc = \"musl\"\n[build]\narch = [\"amd64\", \"arm64\"]\n",
            &["--libc", "musl", "--arch", "amd64,arm64"],
            &[
                "FROM --platform=$BUILDPLATFORM ",
                "ARG TARGETARCH",
                "aarch64-unknown-linux-musl",
                "--target \"$(cat /rust-target)\"",
            ],
        ),
    ];
    // The same settings as IMGGEN_* variables (the generated comments name the layer a value
    // came from, so only the other lines are compared).
    let env: &[(&str, &str, &str)] = &[
        ("bin = \"other\"\n", "IMGGEN_BIN", "other"),
        ("profile = \"dev\"\n", "IMGGEN_PROFILE", "dev"),
        ("features = [\"extra\"]\n", "IMGGEN_FEATURES", "extra"),
        (
            "no_default_features = true\n",
            "IMGGEN_NO_DEFAULT_FEATURES",
            "true",
        ),
        ("libc = \"musl\"\n", "IMGGEN_LIBC", "musl"),
        ("base = \"distroless-cc\"\n", "IMGGEN_BASE", "distroless-cc"),
        ("rust_version = \"1.90\"\n", "IMGGEN_RUST_VERSION", "1.90"),
        ("port = 4000\n", "IMGGEN_PORT", "4000"),
        ("cache_mounts = false\n", "IMGGEN_CACHE_MOUNTS", "false"),
        (
            "builder_image = \"lukemathwalker/cargo-chef:0.1.73-rust-1.91.0-bookworm\"\n",
            "IMGGEN_BUILDER_IMAGE",
            "lukemathwalker/cargo-chef:0.1.73-rust-1.91.0-bookworm",
        ),
        ("health_path = \"/ready\"\n", "IMGGEN_HEALTH_PATH", "/ready"),
        (
            "stop_signal = \"SIGQUIT\"\n",
            "IMGGEN_STOP_SIGNAL",
            "SIGQUIT",
        ),
        ("init = true\n", "IMGGEN_INIT", "true"),
    ];
    let no_comments = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (config, key, value) in env {
        assert_eq!(
            no_comments(&generated_with_env("", &[], Some((key, value)))),
            no_comments(&generated(config, &[])),
            "{key}={value} differs from {config:?}"
        );
    }
    // imggen.toml names all four platforms; the variable overrides it.
    let two = generated_with_env("", &[], Some(("IMGGEN_PLATFORMS", "fly,render")));
    assert!(
        two.contains("=== fly.toml") && two.contains("=== render.yaml"),
        "{two}"
    );
    assert!(
        !two.contains("=== deploy/cloud-run") && !two.contains("=== deploy/vm"),
        "{two}"
    );
    for (config, flags, gains) in cases {
        let by_config = generated(config, &[]);
        for text in *gains {
            assert!(
                !baseline.contains(text),
                "baseline already has {text:?}:\n{baseline}"
            );
            assert!(
                by_config.contains(text),
                "{config:?} lacks {text:?}:\n{by_config}"
            );
        }
        if !flags.is_empty() {
            assert_eq!(
                generated("", flags),
                by_config,
                "flags {flags:?} differ from {config:?}"
            );
        }
    }
}

#[test]
fn platform_flag_writes_each_platforms_files() {
    for (platform, file) in [
        ("fly", "fly.toml"),
        ("cloud-run", "deploy/cloud-run/service.yaml"),
        ("render", "render.yaml"),
        ("vm", "deploy/vm/app.service"),
    ] {
        let t = service().write("imggen.toml", "version = 1\n").args(&[
            "generate",
            "--platform",
            platform,
        ]);
        t.run().code(0);
        assert!(
            t.path().join(file).is_file(),
            "--platform {platform} wrote no {file}"
        );
    }
    let t = service().write("imggen.toml", "version = 1\n").args(&[
        "generate",
        "--platform",
        "fly",
        "--platform",
        "render",
    ]);
    t.run().code(0);
    assert!(t.path().join("fly.toml").is_file() && t.path().join("render.yaml").is_file());
}

#[test]
fn env_refuses_port_and_k_names() {
    for name in ["PORT", "K_SERVICE"] {
        service()
            .write(
                "imggen.toml",
                &format!("version = 1\n\n[env]\n{name} = \"1\"\n"),
            )
            .args(&["generate"])
            .run()
            .code(2)
            .one_error_line()
            .stderr_has(name);
    }
}

/// Every file under `root` (path relative to it, contents), sorted.
fn tree(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Asserts exit 2 and exactly one `error:` line (after any warnings), naming `what`.
fn one_error(run: &crate::harness::Run, what: &str) {
    run.code(2).stderr_has(what);
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(errors, 1, "{}", run.stderr);
}

#[test]
fn a_write_that_fails_midway_leaves_whole_files_and_no_temporary_file() {
    let config = "version = 1\nplatforms = [\"fly\", \"cloud-run\", \"render\"]\n";
    let t = service().write("imggen.toml", config).args(&["generate"]);
    t.run().code(0);
    // Every generated file changes with the port. The Cloud Run directory becomes a link to
    // nowhere: reading through it finds nothing (so the checks before writing pass), but the
    // directory cannot be made, so the write of that one file fails after others were written.
    std::fs::remove_dir_all(t.path().join("deploy/cloud-run")).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent-imggen-test/dir",
        t.path().join("deploy/cloud-run"),
    )
    .unwrap();
    let t = t.write("imggen.toml", &format!("{config}port = 4000\n"));
    let before = tree(t.path());

    one_error(&t.run(), "deploy/cloud-run");
    let after = tree(t.path());
    assert_eq!(
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        before.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "files appeared or vanished (temporary files left behind?)"
    );
    let clean = service()
        .write("imggen.toml", &format!("{config}port = 4000\n"))
        .args(&["generate"]);
    clean.run().code(0);
    let mut replaced = 0;
    for ((path, new), (_, old)) in after.iter().zip(&before) {
        if new != old {
            assert_eq!(
                String::from_utf8_lossy(new),
                clean.read(path),
                "{path} is neither the old file nor the complete new one"
            );
            replaced += 1;
        }
    }
    assert!(t.path().join("deploy/cloud-run").is_symlink());
    assert!(
        replaced > 0,
        "the failure came before any write: nothing was tested midway"
    );
}

#[test]
fn a_server_without_a_health_route_gets_a_tcp_startup_probe_and_no_http_checks() {
    let t = project(SERVER, &[], "")
        .write(
            "imggen.toml",
            "version = 1\nplatforms = [\"fly\", \"cloud-run\", \"render\"]\n",
        )
        .args(&["generate"]);
    t.run().code(0);
    let service: Value = serde_saphyr::from_str(&t.read("deploy/cloud-run/service.yaml")).unwrap();
    let container = &service["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["startupProbe"]["tcpSocket"]["port"], 3000,
        "{service}"
    );
    assert!(
        container["startupProbe"].get("httpGet").is_none(),
        "{service}"
    );
    assert!(container.get("livenessProbe").is_none(), "{service}");
    let fly: Value = toml::from_str(&t.read("fly.toml")).unwrap();
    assert_eq!(fly["http_service"]["internal_port"], 3000);
    assert!(fly["http_service"].get("checks").is_none(), "{fly}");
    assert!(!t.read("render.yaml").contains("healthCheckPath"));
}

#[test]
fn a_linker_named_in_cargo_config_is_installed_in_the_builder() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n",
            &["clang"],
        ),
        (
            "[build]\nrustflags = [\"-C\", \"linker=clang\", \"-C\", \"link-arg=-fuse-ld=lld\"]\n",
            &["clang", "lld"],
        ),
        (
            "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"link-arg=-fuse-ld=mold\"]\n",
            &["mold"],
        ),
    ];
    assert!(names(&plan(project(SERVER, &[], ""), &[]), "build_packages").is_empty());
    for (config, linkers) in cases {
        let t = project(SERVER, &[], "").write(".cargo/config.toml", config);
        let mut b = names(&plan(t, &[]), "build_packages");
        b.sort();
        assert_eq!(b, *linkers, "{config}");
    }
}

#[test]
fn sqlx_offline_data_sets_sqlx_offline_in_the_builder() {
    let t = project(SERVER, &[], "").write(".sqlx/query-1.json", "{}\n");
    let t = t.args(&["generate"]).write("imggen.toml", "version = 1\n");
    t.run().code(0);
    assert!(t.read("Dockerfile").contains("SQLX_OFFLINE=true"));
    let t = project(SERVER, &[], "")
        .write("imggen.toml", "version = 1\n")
        .args(&["generate"]);
    t.run().code(0);
    assert!(!t.read("Dockerfile").contains("SQLX_OFFLINE"));
}

#[test]
fn required_features_of_the_binary_are_always_enabled() {
    let t = project(
        SERVER,
        &[],
        "\n[features]\nextra = []\n\n[[bin]]\nname = \"app\"\npath = \"src/main.rs\"\nrequired-features = [\"extra\"]\n",
    );
    assert_eq!(
        plan(t, &[])["cargo"]["features"],
        serde_json::json!(["extra"])
    );
}

#[test]
fn workspace_package_rust_version_is_inherited() {
    let t = Test::empty()
        .write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"api\"]\nresolver = \"2\"\n\n[workspace.package]\nrust-version = \"1.83\"\n",
        )
        .write(
            "Cargo.lock",
            "version = 3\n\n[[package]]\nname = \"api\"\nversion = \"0.1.0\"\n",
        )
        .write(
            "api/Cargo.toml",
            "[package]\nname = \"api\"\nversion = \"0.1.0\"\nedition = \"2021\"\nrust-version.workspace = true\n",
        )
        .write("api/src/main.rs", SERVER);
    assert_eq!(plan(t, &[])["rust_version"], "1.83");
}

#[test]
fn directories_read_at_run_time_are_copied_and_embedded_ones_are_not() {
    let src = format!(
        "{SERVER}fn f() {{ let _ = std::fs::read_to_string(\"static/index.html\"); }}\n\
         const T: &str = include_str!(\"../templates/a.html\");\n\
         fn m() {{ sqlx::migrate!().run(); }}\n"
    );
    let t = project(&src, &[], "")
        .write("static/index.html", "<p>\n")
        .write("templates/a.html", "<p>\n")
        .write("migrations/1_init.sql", "select 1;\n");
    let p = plan(t, &[]);
    assert_eq!(
        p["runtime_dirs"],
        serde_json::json!([{"from": "static", "to": "/app/static"}])
    );
    assert_eq!(p["build_inputs"], serde_json::json!(["migrations"]));
}

#[test]
fn a_binary_without_a_listener_is_no_server() {
    let t = project("fn main() { println!(\"done\"); }\n", &[], "")
        .write("imggen.toml", "version = 1\n")
        .args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(
        !dockerfile.contains("EXPOSE") && !dockerfile.contains("ENV PORT"),
        "{dockerfile}"
    );
    let t = project(SERVER, &[], "")
        .write("imggen.toml", "version = 1\n")
        .args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(dockerfile.contains("EXPOSE 3000"), "{dockerfile}");
    assert!(
        !dockerfile.contains("ENV PORT"),
        "the app does not read PORT:\n{dockerfile}"
    );
}

#[test]
fn oci_labels_come_from_cargo_toml() {
    let t = project(
        SERVER,
        &[],
        "description = \"An app\"\nlicense = \"MIT\"\nrepository = \"https://example.com/app\"\n",
    )
    .write("imggen.toml", "version = 1\n")
    .args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    for label in [
        "org.opencontainers.image.title=\"app\"",
        "org.opencontainers.image.version=\"0.1.0\"",
        "org.opencontainers.image.description=\"An app\"",
        "org.opencontainers.image.licenses=\"MIT\"",
        "org.opencontainers.image.source=\"https://example.com/app\"",
    ] {
        assert!(dockerfile.contains(label), "{label}:\n{dockerfile}");
    }
}

#[test]
fn image_name_and_tags_name_the_built_image() {
    use crate::engine::{build, unique, Untag};
    if !crate::harness::engine() {
        return;
    }
    let tag = unique("tags");
    let name = "imggen-test/promises-tags";
    let _untag = Untag(vec![format!("{name}:{tag}"), format!("{name}:{tag}-b")]);
    let t = crate::engine::generated_with_config(
        "axum-single",
        &format!("version = 1\n\n[image]\nname = \"{name}\"\ntags = [\"{tag}\", \"{tag}-b\"]\n"),
    );
    let (_, run) = build(t, &[]);
    run.code(0)
        .stdout_has(&format!("{name}:{tag}\n"))
        .stdout_has(&format!("{name}:{tag}-b\n"));
    assert!(!run.stdout.contains(":latest"), "{}", run.stdout);
    for r in [format!("{name}:{tag}"), format!("{name}:{tag}-b")] {
        crate::docker::docker_ok(&["image", "inspect", &r]);
    }
}
