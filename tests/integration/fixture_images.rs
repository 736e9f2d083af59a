//! Every fixture's generated Dockerfile built on the real engine and its container probed: a
//! server answers its health route on the declared port and stops within 0.5 s; a one-shot
//! binary runs to completion. (axum-single, workspace, musl-static and broken are built by the
//! tests in `docker` and `engine`.) Two builds run at a time; they share the chef base layers.

use crate::docker::{docker, docker_ok, free_port, http_get, Container};
use crate::harness::Test;
use imggen::config::Config;
use imggen::plan::ImagePlan;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// (label, fixture, extra imggen.toml lines) of every image built here.
const IMAGES: &[(&str, &str, &str)] = &[
    ("native-deps", "native-deps", ""),
    ("zero2prod", "zero2prod", ""),
    ("toolchain", "toolchain", ""),
    ("spa", "spa", ""),
    ("ctrl-c", "ctrl-c", ""),
    ("multi-bin", "multi-bin", ""),
    ("multi-bin-admin", "multi-bin", "bin = \"admin\"\n"),
    // The Procfile's `server --port $PORT` reaches the container as CMD.
    ("procfile", "procfile", "port = 18731\n"),
    (
        "clap-serve",
        "clap-serve",
        "args = [\"serve\", \"--port\", \"18732\"]\nport = 18732\n",
    ),
    (
        "multi-bin-migrate",
        "multi-bin",
        "bin = \"migrate\"\nprofile = \"dev\"\n",
    ),
];

/// The stop time the README promises for a server (SIGTERM handled, or tini forwarding it).
const STOP_WITHIN: Duration = Duration::from_millis(500);

/// Writes the extra config into a fixture copy, generates its files and returns its plan.
fn generate(fixture: &str, extra: &str) -> (Test, ImagePlan) {
    let mut t = Test::fixture(fixture);
    if !extra.is_empty() {
        let base = std::fs::read_to_string(t.path().join("imggen.toml"))
            .unwrap_or_else(|_| "version = 1\n".into());
        t = t.write("imggen.toml", &format!("{base}{extra}"));
    }
    let t = t.args(&["generate"]);
    t.run().code(0);
    let model = imggen::analyze::analyze(t.path()).unwrap();
    let file = imggen::pipeline::read_config_file(t.path()).unwrap();
    let config = Config::resolve(file, Config::default(), Config::default());
    let plan = imggen::plan::image(&model, &config).unwrap().0;
    (t, plan)
}

/// Builds and probes one image; an error names what failed.
fn build_and_probe(label: &str, fixture: &str, extra: &str) -> Result<(), String> {
    let (t, plan) = generate(fixture, extra);
    let tag = format!("imggen-test/fixture-{label}:evidence");
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "host", "-t", &tag, "."])
        .current_dir(t.path())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "docker build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if plan.server {
        probe_server(&tag, &plan)
    } else {
        probe_one_shot(&tag)
    }
}

/// The container answers its health route (or any HTTP on `/`) on the declared port and
/// `docker stop` returns within `STOP_WITHIN`.
fn probe_server(tag: &str, plan: &ImagePlan) -> Result<(), String> {
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
    let start = Instant::now();
    docker_ok(&["stop", &c.0]);
    let took = start.elapsed();
    if took >= STOP_WITHIN {
        return Err(format!(
            "docker stop took {took:?} (stop signal {}, tini {})",
            plan.signal.stop_signal, plan.signal.init
        ));
    }
    Ok(())
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

#[test]
fn every_fixture_image_builds_and_runs() {
    if !crate::harness::engine() {
        return;
    }
    let queue = Mutex::new(IMAGES.to_vec());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((label, fixture, extra)) = queue.lock().unwrap().pop() else {
                    break;
                };
                if let Err(e) = build_and_probe(label, fixture, extra) {
                    failures.lock().unwrap().push(format!("{label}: {e}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
