//! Every fixture's generated Dockerfile built on the real engine and its container probed: a
//! server answers its health route on the declared port and stops on the signal; a one-shot
//! binary runs to completion; a monorepo example answers from its path dependency; a
//! single-page frontend serves its built files. (axum-single, workspace, musl-static and broken are built by the
//! tests in `docker` and `engine`.) Two builds run at a time; they share the chef base layers.

use crate::docker::{docker, docker_ok, free_port, http_get, stop_time, Container};
use crate::harness::Test;
use imggen::config::Config;
use imggen::plan::ImagePlan;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a server image is asked besides its health route.
#[derive(Clone, Copy)]
enum Probe {
    /// The health route only.
    Health,
    /// `GET /api/hello` answers `hello` (code from a path dependency outside the project).
    ApiHello,
    /// A built single-page frontend: `/` is the built index.html (it names a hashed asset under
    /// /assets/, which loads), a client route falls back to it, `/api/hello` reaches Rust.
    Spa,
    /// The working directory `/app` (and a served `/app/data`) takes new files from the image's
    /// user; the run-time directories the image ships there do not; `$HOME` is the user's own
    /// (an app that keeps settings under `~/.config` starts).
    WritableWorkdir,
    /// The fixture copy is made a git repository first; the built page's script names its
    /// commit, which the frontend's build read with `git rev-parse`.
    GitCommit,
}

/// (label, fixture or fixture/project-dir, extra imggen.toml lines, probe) of every image built
/// here.
const IMAGES: &[(&str, &str, &str, Probe)] = &[
    ("native-deps", "native-deps", "", Probe::Health),
    ("zero2prod", "zero2prod", "", Probe::WritableWorkdir),
    ("toolchain", "toolchain", "", Probe::Health),
    ("spa", "spa", "", Probe::Health),
    ("ctrl-c", "ctrl-c", "", Probe::Health),
    ("multi-bin", "multi-bin", "", Probe::Health),
    // A member without `version`: cargo-chef's recipe locks it at 0.0.1, so only a cook that
    // may adjust its copy of Cargo.lock builds.
    ("ws-unversioned", "ws-unversioned", "", Probe::Health),
    (
        "multi-bin-admin",
        "multi-bin",
        "bin = \"admin\"\n",
        Probe::Health,
    ),
    // The Procfile's `server --port $PORT` reaches the container as CMD.
    ("procfile", "procfile", "port = 18731\n", Probe::Health),
    (
        "clap-serve",
        "clap-serve",
        "args = [\"serve\", \"--port\", \"18732\"]\nport = 18732\n",
        Probe::Health,
    ),
    (
        "multi-bin-migrate",
        "multi-bin",
        "bin = \"migrate\"\nprofile = \"dev\"\n",
        Probe::Health,
    ),
];

/// The arguments imggen finds on the clap command line: each binary exits at once without them
/// (a required subcommand; a directory to serve that must exist, which the image creates).
const CLAP_IMAGES: &[(&str, &str, &str, Probe)] = &[
    (
        "scan-clap-parser-enum",
        "scan-clap-parser-enum",
        "",
        Probe::Health,
    ),
    ("scan-clap-nested", "scan-clap-nested", "", Probe::Health),
    // A framework-style `boot::<T: Parser>()`: args `serve`, port 8536 from smart-default.
    (
        "scan-framework-cli",
        "scan-framework-cli",
        "",
        Probe::Health,
    ),
    // The command line in the library the binary calls: args `serve`.
    ("scan-thin-bin", "scan-thin-bin", "", Probe::Health),
    // Its required `--region` comes from the environment.
    (
        "scan-clap-builder",
        "scan-clap-builder",
        "[env]\nBUILDER_REGION = \"eu\"\n",
        Probe::Health,
    ),
    (
        "scan-serve-dir",
        "scan-serve-dir",
        "",
        Probe::WritableWorkdir,
    ),
];

/// Images whose build context or frontend stage is under test, with their own probes.
const SERVING_IMAGES: &[(&str, &str, &str, Probe)] = &[
    ("monorepo", "monorepo/examples", "", Probe::ApiHello),
    ("spa-served", "spa-served", "", Probe::Spa),
    ("spa-embedded", "spa-embedded", "", Probe::Spa),
];

/// Local packages outside the workspace members (a `[patch]` fork, an excluded path
/// dependency), which cargo-chef's recipe leaves out: the cook must still compile them.
const LOCAL_CRATE_IMAGES: &[(&str, &str, &str, Probe)] =
    &[("patch-local", "patch-local", "", Probe::ApiHello)];

/// A port set in imggen.toml reaches an app that reads it only from its `--port` flag.
const PORT_FLAG_IMAGES: &[(&str, &str, &str, Probe)] = &[(
    "scan-port-flag",
    "scan-port-flag",
    "port = 18744\n",
    Probe::Health,
)];

/// A frontend whose build runs git: the context keeps .git for that build step only.
const GIT_FRONTEND_IMAGES: &[(&str, &str, &str, Probe)] =
    &[("spa-git", "spa-git", "", Probe::GitCommit)];

/// Writes the extra config into a fixture copy, generates its files and returns its plan and
/// the project directory (the fixture's root, or the directory after its name).
fn generate(fixture: &str, extra: &str, probe: Probe) -> (Test, std::path::PathBuf, ImagePlan) {
    let (name, sub) = fixture.split_once('/').unwrap_or((fixture, "."));
    let mut t = Test::fixture(name);
    if matches!(probe, Probe::GitCommit) {
        commit_all(t.path());
    }
    if !extra.is_empty() {
        let config = format!("{sub}/imggen.toml");
        let base = std::fs::read_to_string(t.path().join(&config))
            .unwrap_or_else(|_| "version = 1\n".into());
        t = t.write(&config, &format!("{base}{extra}"));
    }
    let t = t.args(&["generate", sub]);
    t.run().code(0);
    let project = t.path().join(sub);
    let model = imggen::analyze::analyze(&project).unwrap();
    let file = imggen::pipeline::read_config_file(&project).unwrap();
    let config = Config::resolve(file, Config::default(), Config::default());
    let plan = imggen::plan::image(&model, &config).unwrap().0;
    (t, project, plan)
}

/// Builds and probes one image, by hand as the Dockerfile's header says (`docker build -f
/// <Dockerfile> .` in the build context); an error names what failed.
fn build_and_probe(label: &str, fixture: &str, extra: &str, probe: Probe) -> Result<(), String> {
    let (_t, project, plan) = generate(fixture, extra, probe);
    let tag = format!("imggen-test/fixture-{label}:evidence");
    let context = project.join(&plan.context.from_root);
    let started = Instant::now();
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "host", "-t", &tag, "-f"])
        .arg(&plan.context.dockerfile)
        .arg(".")
        .current_dir(&context)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "docker build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("{label}: built in {:.1?}", started.elapsed());
    let mut result = if plan.server {
        probe_server(&tag, &plan, probe)
    } else {
        probe_one_shot(&tag)
    };
    if result.is_ok() && matches!(probe, Probe::WritableWorkdir) {
        result = probe_workdir(&tag, &plan);
    }
    if result.is_ok() && matches!(probe, Probe::GitCommit) {
        result = probe_commit(&tag, &plan, &head_commit(&project));
    }
    let _ = docker().args(["rmi", "-f", &tag]).output();
    result
}

/// As the image's user: a new directory in `/app` (and a file in the served directory) can be
/// created, a shipped run-time directory cannot be written.
fn probe_workdir(tag: &str, plan: &ImagePlan) -> Result<(), String> {
    let home = plan
        .user
        .home
        .as_deref()
        .ok_or("the plan gives its user no home")?;
    let mut script =
        format!("mkdir /app/upload && test \"$HOME\" = {home} && mkdir -p \"$HOME/.config/app\"");
    if let Some(dir) = &plan.served_dir {
        script.push_str(&format!(" && touch {dir}/new"));
    }
    for d in &plan.runtime_dirs {
        script.push_str(&format!(" && test ! -w {}", d.to));
    }
    let out = docker()
        .args([
            "run",
            "--rm",
            "--network",
            "host",
            "--entrypoint",
            "/bin/sh",
            tag,
            "-c",
        ])
        .arg(&script)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{script}` as the image's user failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Makes `dir` a git repository with everything in one commit.
fn commit_all(dir: &std::path::Path) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=imggen",
            "-c",
            "user.email=imggen@invalid",
            "commit",
            "-q",
            "-m",
            "fixture",
        ],
    ] {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?} in {}", dir.display());
    }
}

/// The short hash of HEAD in the repository at `dir`.
fn head_commit(dir: &std::path::Path) -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// GET `path` answers `status` with a body containing `has`; returns the body.
fn expect(port: u16, path: &str, status: u16, has: &str) -> Result<String, String> {
    match http_get(port, path, Duration::from_secs(10)) {
        Some((code, body)) if code == status && body.contains(has) => Ok(body),
        got => Err(format!(
            "GET {path}: want {status} with {has:?}, got {got:?}"
        )),
    }
}

/// The probes of [`Probe::Spa`] and [`Probe::ApiHello`].
fn probe_more(port: u16, probe: Probe) -> Result<(), String> {
    match probe {
        Probe::Health | Probe::WritableWorkdir | Probe::GitCommit => Ok(()),
        Probe::ApiHello => expect(port, "/api/hello", 200, "hello").map(|_| ()),
        Probe::Spa => {
            let index = expect(port, "/", 200, "/assets/")?;
            let asset = index
                .split('"')
                .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
                .ok_or_else(|| format!("GET /: no hashed /assets/*.js in {index:?}"))?;
            expect(port, asset, 200, "")?;
            let fallback = expect(port, "/some/client/route", 200, "")?;
            if fallback != index {
                return Err(format!(
                    "GET /some/client/route is not the index.html: {fallback:?}"
                ));
            }
            expect(port, "/api/hello", 200, "hello").map(|_| ())
        }
    }
}

/// The container answers its health route (or any HTTP on `/`) on the declared port and
/// `docker stop` returns within `crate::docker::STOP_WITHIN`.
fn probe_server(tag: &str, plan: &ImagePlan, probe: Probe) -> Result<(), String> {
    let mut args = vec!["run", "-d", "--network", "host"];
    let port = if plan.port_env {
        free_port()
    } else {
        plan.port
    };
    let env = format!("PORT={port}");
    if plan.port_env {
        args.extend(["-e", &env]);
    }
    args.push(tag);
    let c = Container(docker_ok(&args).trim().to_string());
    let path = plan.health_path.as_deref().unwrap_or("/");
    let got = http_get(port, path, Duration::from_secs(30));
    let ok = matches!(
        (&plan.health_path, &got),
        (Some(_), Some((200, _))) | (None, Some(_))
    );
    if !ok {
        let logs = docker()
            .args(["logs", &c.0])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
        return Err(format!(
            "GET {path} on port {port}: {got:?}; logs: {logs:?}"
        ));
    }
    probe_more(port, probe)?;
    let took = stop_time(&c.0, port, path, crate::docker::STOP_WITHIN);
    if took >= crate::docker::STOP_WITHIN {
        return Err(format!(
            "docker stop took {took:?} (stop signal {}, tini {})",
            plan.signal.stop_signal, plan.signal.init
        ));
    }
    Ok(())
}

/// The page's script, as the container serves it, names `commit`.
fn probe_commit(tag: &str, plan: &ImagePlan, commit: &str) -> Result<(), String> {
    let port = free_port();
    let env = format!("PORT={port}");
    let _c = Container(
        docker_ok(&["run", "-d", "--network", "host", "-e", &env, tag])
            .trim()
            .to_string(),
    );
    if !plan.port_env {
        return Err("the fixture reads PORT; the plan does not set it".into());
    }
    let index = expect(port, "/", 200, "/assets/")?;
    let asset = index
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .ok_or_else(|| format!("GET /: no hashed /assets/*.js in {index:?}"))?;
    expect(port, asset, 200, &format!("built from {commit}")).map(|_| ())
}

/// The container runs to completion with exit status 0.
fn probe_one_shot(tag: &str) -> Result<(), String> {
    let out = docker()
        .args(["run", "--rm", "--network", "host", tag])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "exited with {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Builds and probes `images`, two at a time; fails naming every image that failed.
fn build_all(images: &[(&'static str, &'static str, &'static str, Probe)]) {
    let queue = Mutex::new(images.to_vec());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((label, fixture, extra, probe)) = queue.lock().unwrap().pop() else {
                    break;
                };
                if let Err(e) = build_and_probe(label, fixture, extra, probe) {
                    failures.lock().unwrap().push(format!("{label}: {e}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_image_builds_and_runs() {
    if !crate::harness::engine() {
        return;
    }
    build_all(IMAGES);
}

#[test]
fn context_and_frontend_images_build_and_serve() {
    if !crate::harness::engine() {
        return;
    }
    build_all(SERVING_IMAGES);
}

#[test]
fn local_crate_images_build_and_serve() {
    if !crate::harness::engine() {
        return;
    }
    build_all(LOCAL_CRATE_IMAGES);
}

#[test]
fn a_configured_port_reaches_the_app_through_its_port_flag() {
    if !crate::harness::engine() {
        return;
    }
    build_all(PORT_FLAG_IMAGES);
}

#[test]
fn frontend_that_runs_git_builds_with_the_commit() {
    if !crate::harness::engine() {
        return;
    }
    build_all(GIT_FRONTEND_IMAGES);
}

#[test]
fn clap_fixture_images_run_with_the_arguments_imggen_found() {
    if !crate::harness::engine() {
        return;
    }
    build_all(CLAP_IMAGES);
}
